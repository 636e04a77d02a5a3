"""Benchmark of the Deep Learning kernels on Fashion-MNIST (not a test).

Trains H2O's MNIST-style network 784-200-200-200-10 RectifierWithDropout (input dropout 0.2,
hidden dropout 0.5, l1 1e-5, ADADELTA, fast_mode) for one epoch per-sample (``train_rows``) and
one epoch of mini-batches (``train_minibatch``), and prints samples/s, test error and the machine.

    python -m tools.bench.dl_kernels [--epochs 1] [--batch 128] [--rows 60000] [--threads 1]
                                     [--repeat 1] [--mode both|per-sample|mini-batch] [--exact]

``--repeat N`` trains N fresh models per mode and prints each run plus the best (the machine is
shared: report best-of-N with the load average).  ``--exact`` turns fast_mode off (every neuron
and weight gets its ADADELTA/l1 step each row, like H2O with fast_mode=false).

``--threads 2`` runs per-sample Hogwild! (threads on one shared state, disjoint row slices);
``--team 2`` a kernel team (both threads on every sample, each owning half of every layer's neurons).
BLAS threads: OPENBLAS_NUM_THREADS defaults to 1 here (set it to 2 to let the mini-batch matmuls
use both cores); on a machine shared with other work, OpenBLAS's spinning threads cost more than
they give.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # must precede the numpy import to take effect

import argparse  # noqa: E402
import gzip  # noqa: E402
import platform  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from algos.deeplearning.hyper import kernel_arrays_for  # noqa: E402
from algos.deeplearning.kernels import KernelTeam, forward, train_minibatch, train_rows  # noqa: E402
from algos.deeplearning.network import NetSpec, init_state  # noqa: E402

DATA = Path("/usr/share/datasets/fashion-mnist")


def load_idx(path: Path) -> np.ndarray:
    """Read an IDX file (gzip): magic (2 zero bytes, dtype code 0x08 = uint8, ndim), big-endian dims."""
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fashion_mnist() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Standardised float32 pixels (train column mean/sigma; sigma 0 -> multiplier 1, as H2O)."""
    Xtr = load_idx(DATA / "train-images-idx3-ubyte.gz").reshape(60000, -1).astype(np.float64)
    ytr = load_idx(DATA / "train-labels-idx1-ubyte.gz").astype(np.float64)
    Xte = load_idx(DATA / "t10k-images-idx3-ubyte.gz").reshape(10000, -1).astype(np.float64)
    yte = load_idx(DATA / "t10k-labels-idx1-ubyte.gz").astype(np.float64)
    mean, sd = Xtr.mean(axis=0), Xtr.std(axis=0)
    mul = np.where(sd > 0, 1.0 / np.where(sd > 0, sd, 1.0), 1.0)
    std = lambda X: np.ascontiguousarray(((X - mean) * mul).astype(np.float32))  # noqa: E731
    return std(Xtr), ytr, std(Xte), yte


def error_rate(state, X, y, hyper, flags) -> float:
    p = np.empty((X.shape[0], 10))
    forward(state, X, p, hyper, flags)
    return float((p.argmax(axis=1) != y).mean())


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{cpu}, {os.cpu_count()} cpus, load average {load:.2f}, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}")


def main(argv: list[str] | None = None) -> None:
    from tools.bench import HelpFormatter
    ap = argparse.ArgumentParser(prog="python -m tools.bench.dl_kernels", description=__doc__.split("\n\n")[0],
                                 formatter_class=HelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--epochs", type=int, default=1, help="epochs per training run")
    ap.add_argument("--batch", type=int, default=128, help="mini-batch size of the mini-batch run")
    ap.add_argument("--rows", type=int, default=60000, help="training rows used per epoch")
    ap.add_argument("--threads", type=int, default=1, help="Hogwild! threads for the per-sample run")
    ap.add_argument("--team", type=int, default=1,
                    help="kernel team size for the per-sample run (threads sharing every sample's neurons)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the initial weights, dropout and row order")
    ap.add_argument("--repeat", type=int, default=1, help="fresh training runs per mode (best is reported)")
    ap.add_argument("--mode", choices=("both", "per-sample", "mini-batch"), default="both",
                    help="which runs: per-sample (train_rows), mini-batch (train_minibatch) or both")
    ap.add_argument("--exact", action="store_true",
                    help="fast_mode=False: every neuron and weight gets its update each row, as H2O's "
                         "fast_mode=false")
    args = ap.parse_args(argv)
    if args.team > 1 and args.threads > 1:
        ap.error("--team and --threads (Hogwild!) are two ways to use the threads: pick one")

    Xtr, ytr, Xte, yte = load_fashion_mnist()
    n = min(args.rows, Xtr.shape[0])
    spec = NetSpec((784, 200, 200, 200, 10), "RectifierWithDropout", "softmax")
    hyper, flags = kernel_arrays_for(spec, input_dropout_ratio=0.2, l1=1e-5, fast_mode=not args.exact)
    ones, zeros = np.ones(Xtr.shape[0]), np.zeros(Xtr.shape[0])
    print(f"machine: {machine()}")
    print(f"network: {spec.units} {spec.activation}, input dropout 0.2, l1 1e-5, ADADELTA, fast_mode={not args.exact}; "
          f"{init_state(spec).n_params} parameters; {n} training rows/epoch")

    # Warm-up on a few rows so that Numba's (cached) compilation is not timed.
    warm = init_state(spec, seed=0)
    train_rows(warm, Xtr, ytr, ones, zeros, np.arange(16, dtype=np.int64), hyper, flags, 0, 0)
    train_minibatch(warm, Xtr, ytr, ones, zeros, np.arange(2 * args.batch, dtype=np.int64), hyper, flags, 0, 0,
                    args.batch)

    modes = [m for m in ("per-sample", f"mini-batch {args.batch}") if args.mode in ("both", m.split()[0])]
    for mode in modes:
        best = 0.0
        for _ in range(args.repeat):
            best = max(best, run_mode(args, mode, spec, hyper, flags, Xtr, ytr, Xte, yte, n))
        if args.repeat > 1:
            print(f"{mode:>16}: best of {args.repeat}: {best:9.0f} samples/s wall "
                  f"(load average now {os.getloadavg()[0]:.2f})")


def run_mode(args: argparse.Namespace, mode: str, spec: NetSpec, hyper: np.ndarray, flags: np.ndarray,
             Xtr: np.ndarray, ytr: np.ndarray, Xte: np.ndarray, yte: np.ndarray, n: int) -> float:
    """Train one fresh model for ``args.epochs`` epochs in ``mode``; print and return samples/s (wall)."""
    ones, zeros = np.ones(Xtr.shape[0]), np.zeros(Xtr.shape[0])
    rng = np.random.default_rng(args.seed)
    st = init_state(spec, seed=args.seed)
    seen, t_train, cpu_train = 0, 0.0, 0.0
    team = KernelTeam(args.team) if args.team > 1 else None
    for epoch in range(args.epochs):
        order = rng.permutation(Xtr.shape[0])[:n].astype(np.int64)
        t0, c0 = time.perf_counter(), time.process_time()
        if mode == "per-sample" and args.team > 1:
            train_rows(st, Xtr, ytr, ones, zeros, order, hyper, flags, args.seed, seen, team=team)
        elif mode == "per-sample":
            parts = np.array_split(order, args.threads)
            bases = np.cumsum([0] + [p.size for p in parts[:-1]])
            threads = [threading.Thread(target=train_rows, args=(st, Xtr, ytr, ones, zeros, p, hyper, flags,
                                                                 args.seed, seen + int(b)))
                       for p, b in zip(parts, bases)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        else:
            train_minibatch(st, Xtr, ytr, ones, zeros, order, hyper, flags, args.seed, seen, args.batch)
        t_train += time.perf_counter() - t0
        cpu_train += time.process_time() - c0
        seen += n
    if team is not None:
        team.close()
    err = error_rate(st, Xte, yte, hyper, flags)
    extra = f", {args.threads} Hogwild! threads" if mode == "per-sample" and args.threads > 1 else ""
    extra += f", kernel team of {args.team}" if mode == "per-sample" and args.team > 1 else ""
    # CPU seconds too: on a shared machine wall time also counts other people's processes.
    print(f"{mode:>16}: {seen / t_train:9.0f} samples/s wall, {seen / cpu_train:9.0f} samples per CPU-second, "
          f"over {args.epochs} epoch(s){extra}; test error {100 * err:.2f}%")
    return seen / t_train


if __name__ == "__main__":
    main()
