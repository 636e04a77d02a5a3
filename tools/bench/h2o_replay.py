"""Replay H2O-3's training step for step with aquifer's kernels: same rows, same order, same initial weights.

H2O-3 with ``reproducible=True`` trains one chunk on one thread, one epoch per iteration, visiting the rows in
the order of FrameTask's shuffle (its PCG random generator seeded from the model seed, the samples trained so
far and the iteration). This module computes that order, encodes the data with our ``DataInfo`` (H2O's
standardisation), trains with ``algos.deeplearning.kernels.train_rows`` and scores the training rows after every epoch.
Given the same initial weights (H2O's ``initial_weights``/``initial_biases``), the per-epoch training curve
must be H2O's: any gap is a difference in the per-sample maths. Measured (seed 1, 10 epochs): auto_mpg [32,32]
training RMSE within 0.019, prostate [32,32] training logloss within 0.010, abalone poisson [32,32] training RMSE
within 0.067 (0.020 with H2O's bias rule: poisson's large early gradients make it matter more); what is left is
our bias ADADELTA
(``h2o_quirks=("bias_adadelta",)`` reproduces H2O's) and H2O's approximate square root in ADADELTA
(``MathUtils.approxSqrt``, a bit trick within -1 %/+6 %), which moves the curve by as much again; with both
as H2O the curves agree to 3 decimals.

    python -m tools.bench.h2o_replay --h2o-python ~/h2o-venv/bin/python     # H2O's curve vs ours

The H2O random generator here is for this comparison only: aquifer's own training uses numpy's generators.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

M64 = (1 << 64) - 1


def _s64(x: int) -> int:
    x &= M64
    return x - (1 << 64) if x >> 63 else x


class PCG:
    """H2O's ``water.util.RandomUtils.PCGRNG`` (its default generator): ``next_int`` as an unsigned 32-bit value.

    >>> PCG(42).next_int() == PCG(42).next_int()
    True
    """

    def __init__(self, seed: int, seq: int = 1):
        self.state, self.inc = 0, ((seq << 1) | 1) & M64
        self.next_int()
        self.state = (self.state + seed) & M64
        self.next_int()

    def next_int(self) -> int:
        old = self.state
        self.state = (old * 6364136223846793005 + self.inc) & M64
        xs = (((old >> 18) ^ old) >> 27) & 0xFFFFFFFF
        rot = old >> 59
        return ((xs >> rot) | (xs << ((-rot) & 31))) & 0xFFFFFFFF

    def next_bounded(self, bound: int) -> int:
        return self.next_int() % bound      # H2O's threshold (-bound % bound) is 0 in Java's arithmetic


def frame_task_order(n: int, seed: int, processed: int, iteration: int, chunk_start: int = 0) -> np.ndarray:
    """The rows of a one-chunk frame in the order H2O's FrameTask visits them when it shuffles: ``seed`` the
    model's, ``processed`` the samples trained before this iteration, ``iteration`` from 1.

    >>> sorted(frame_task_order(5, 1, 0, 1).tolist())
    [0, 1, 2, 3, 4]
    """
    task_seed = _s64(seed + processed)
    chunk_seed = _s64((0x8734093502429734 + task_seed + chunk_start) * (iteration + _s64(0x9823423497823423)))
    rng = PCG(chunk_seed & M64)
    idx = list(range(n))
    for i in range(n):
        j = i + rng.next_bounded(n - i)
        idx[i], idx[j] = idx[j], idx[i]
    return np.array(idx, dtype=np.int64)


def encode(df, y: str, ignore=(), classification: bool = False, standardize_response: bool = True):
    """(X float32, target float64, DataInfo) of a pandas frame, encoded as our Trainer does (H2O's rules; the
    response is standardised for identity-link regression only)."""
    from algos.datainfo import ColumnInfo, DataInfo
    xs = [c for c in df.columns if c != y and c not in ignore]
    import pandas as pd
    domains = {c: sorted(df[c].dropna().unique()) for c in xs if not pd.api.types.is_numeric_dtype(df[c])}
    df = df.assign(**{c: df[c].map({v: i for i, v in enumerate(d)}) for c, d in domains.items()})
    cols = [ColumnInfo.from_values(c, df[c].to_numpy(np.float64), domain=domains.get(c)) for c in xs]
    resp = ColumnInfo.from_values(y, df[y].to_numpy(np.float64))
    info = DataInfo.build(cols, resp, transform="STANDARDIZE",
                          response_transform=standardize_response and not classification)
    X, _ = info.transform({c: df[c].to_numpy(np.float64) for c in xs})
    t = df[y].to_numpy(np.float64)
    return np.ascontiguousarray(X, dtype=np.float32), (t if classification else info.transform_response(t)), info


def replay(X, target, info, spec, state, hyper, flags, epochs: int, seed: int, classification: bool,
           link_inverse=None) -> list[float]:
    """Per-epoch training RMSE (regression, response units) or logloss (classification), H2O's row order."""
    from algos.deeplearning.kernels import forward, train_rows
    n = X.shape[0]
    curve = []
    for k in range(1, epochs + 1):
        order = frame_task_order(n, seed, (k - 1) * n, k)
        train_rows(state, X, target, np.ones(n), np.zeros(n), order, hyper, flags, seed, (k - 1) * n)
        out = np.empty((n, spec.units[-1]))
        forward(state, X, out, hyper, flags)
        if classification:
            curve.append(float(-np.mean(np.log(np.maximum(out[np.arange(n), target.astype(int)], 1e-15)))))
        else:
            pred = info.inverse_response(out[:, 0]) if link_inverse is None else link_inverse(out[:, 0])
            curve.append(float(np.sqrt(np.mean((pred - info.inverse_response(target)) ** 2))))
    return curve


CASES = {    # name: (csv under tests/data, response, ignored, classification, hidden, distribution)
    "auto_mpg": ("accuracy/auto_mpg_train.csv", "mpg", (), False, [32, 32], "gaussian"),
    "prostate": ("accuracy/prostate_train.csv", "CAPSULE", ("ID",), True, [32, 32], "bernoulli"),
    "abalone_poisson": ("accuracy/abalone_train.csv", "rings", (), False, [32, 32], "poisson"),
}


def run(name: str, epochs: int, seed: int, h2o_python: str | None, quirks: tuple = ()) -> dict:
    import pandas as pd

    from algos.deeplearning.hyper import kernel_arrays_for
    from algos.deeplearning.network import NetSpec, init_state
    csv, y, ignore, classification, hidden, dist = CASES[name]
    path = Path(__file__).resolve().parents[2] / "tests" / "data" / csv
    df = pd.read_csv(path)
    identity = dist in ("gaussian", "bernoulli")
    X, target, info = encode(df, y, ignore, classification, standardize_response=identity)
    n_out = int(df[y].nunique()) if classification else 1
    spec = NetSpec((X.shape[1], *hidden, n_out), "Rectifier", "softmax" if classification else "linear")
    st0 = init_state(spec, seed=seed)
    hyper, flags = kernel_arrays_for(spec, h2o_quirks=list(quirks), distribution="AUTO" if classification else dist)
    ours = replay(X, target, info, spec, st0.copy(), hyper, flags, epochs, seed, classification,
                  None if identity else np.exp)
    res = {"case": name, "epochs": epochs, "seed": seed, "quirks": list(quirks), "ours": ours}
    if h2o_python:
        res["h2o"] = _h2o_curve(h2o_python, path, y, ignore, classification, hidden, spec, st0, epochs, seed,
                                None if classification else dist)
    return res


def _h2o_curve(python, path, y, ignore, classification, hidden, spec, st0, epochs, seed, dist) -> list[float]:
    worker = Path(__file__).resolve().with_name("h2o_worker.py")
    with tempfile.TemporaryDirectory(prefix="aquifer-replay-") as tmp:
        wp, bp = [], []
        for l in range(spec.n_layers):
            wp.append(f"{tmp}/w{l}.csv")
            np.savetxt(wp[-1], st0.layer_weights(l), delimiter=",", fmt="%.9g")
            bp.append(f"{tmp}/b{l}.csv")
            np.savetxt(bp[-1], st0.layer_biases(l)[:, None], delimiter=",", fmt="%.17g")
        prm = dict(hidden=hidden, epochs=epochs, reproducible=True, seed=seed, stopping_rounds=0,
                   overwrite_with_best_model=False, **({"distribution": dist} if dist else {}))
        run_ = dict(train=str(path), y=y, factor_y=classification, ignore=list(ignore), params=prm,
                    initial_weights=wp, initial_biases=bp)
        proc = subprocess.run([python, str(worker)], input=json.dumps({"runs": [run_], "nthreads": 1}),
                              capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    got = json.loads(proc.stdout.strip().splitlines()[-1])["runs"][0]
    if "error" in got:
        raise RuntimeError(got["error"])
    key = "training_logloss" if classification else "training_rmse"
    return [float(r[key]) for r in got["history"] if r["epochs"] > 0][:epochs]


def main(argv: list[str] | None = None) -> int:
    from tools.bench import HelpFormatter
    ap = argparse.ArgumentParser(prog="python -m tools.bench.h2o_replay", description=__doc__.split("\n\n")[0],
                                 formatter_class=HelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--cases", nargs="+", choices=sorted(CASES), default=sorted(CASES), metavar="CASE",
                    help=f"cases to replay, of: {', '.join(sorted(CASES))}")
    ap.add_argument("--epochs", type=int, default=10, help="epochs to train (one point of the curve each)")
    ap.add_argument("--seed", type=int, default=1, help="model seed: initial weights and H2O's row order")
    ap.add_argument("--quirks", nargs="*", default=[],
                    help="h2o_quirks for our side, e.g. bias_adadelta (default: none)")
    ap.add_argument("--h2o-python", help="a Python with h2o installed; without it only our curve is printed")
    args = ap.parse_args(argv)
    for name in args.cases:
        r = run(name, args.epochs, args.seed, args.h2o_python, tuple(args.quirks))
        what = "training logloss" if CASES[name][3] else "training RMSE"
        print(f"{name} ({what}, seed {args.seed}, quirks {args.quirks or 'none'})")
        print("  aquifer " + " ".join(f"{v:.5f}" for v in r["ours"]))
        if "h2o" in r:
            print("  H2O-3   " + " ".join(f"{v:.5f}" for v in r["h2o"]))
            gap = max(abs(a - b) for a, b in zip(r["ours"], r["h2o"]))
            print(f"  largest gap {gap:.5f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
