"""The booklet's MNIST trial run, on Fashion-MNIST, in an embedded single-node cloud.

Converts the Debian ``dataset-fashion-mnist`` IDX files to CSV (once, into ``data/``; ``--limit N`` writes its own
``fmnist_train_N.csv`` and leaves the full files alone), starts a node inside
this process, imports both CSVs, turns the label into a factor and trains H2O's trial-run network
(``RectifierWithDropout``, hidden 200,200,200, input dropout 0.2, l1 1e-5) validated on the 10k test set,
then prints the model (layers, metrics, scoring history) and a one-line summary.

    python -m tools.trial_run                          # the booklet's trial run, 10 epochs
    python -m tools.trial_run --epochs 1 --limit 10000 # a quick look
    python -m tools.trial_run --activation Rectifier --hidden 200 200 --epochs 2 --mini-batch-size 128 --json

Every Deep Learning parameter not set here keeps H2O's default. ``--json`` prints one JSON object instead
(what ``tools/bench/deeplearning.py`` reads).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time

__all__ = ["run", "main"]

TRIAL = dict(activation="RectifierWithDropout", hidden=[200, 200, 200], input_dropout_ratio=0.2, l1=1e-5,
             epochs=10.0)


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024      # Linux reports KiB


def run(src: str, out: str, limit: int | None, params: dict, nthreads: int | None = None,
        progress: bool = True, log=print, verbose: bool = True) -> dict:
    """Convert, import, train and score; returns the figures (and leaves the model printed by ``log``)."""
    import cluster
    import frame
    from algos import DeepLearningEstimator, remove_model
    from tools import fmnist_to_csv

    t0 = time.perf_counter()
    files = fmnist_to_csv.convert(src, out, limit=limit)
    t_convert = time.perf_counter() - t0
    cloud = cluster.init(progress=progress, verbose=verbose, **({"nthreads": nthreads} if nthreads else {}))
    try:
        t0 = time.perf_counter()
        train = frame.import_file(str(files["train"][0]), destination_frame="fmnist_train.hex")
        test = frame.import_file(str(files["test"][0]), destination_frame="fmnist_test.hex")
        y = train.names[-1]
        train[y] = train[y].asfactor()
        test[y] = test[y].asfactor()
        t_import = time.perf_counter() - t0
        log(f"imported {train.nrows:,} x {train.ncols} training and {test.nrows:,} x {test.ncols} test rows "
            f"in {t_import:.2f} s ({(train.byte_size + test.byte_size) / 1e6:.1f} MB in the DKV)")
        dl = DeepLearningEstimator(model_id="fmnist_trial", **params)
        t0 = time.perf_counter()
        dl.train(x=train.names[:-1], y=y, training_frame=train, validation_frame=test)
        t_train = time.perf_counter() - t0
        log(str(dl.model))
        valid = dl.model_performance(valid=True)
        hist = dl.scoring_history()
        samples = int(dl.model.meta.samples)
        result = {
            "params": {k: params[k] for k in sorted(params)},
            "train_rows": train.nrows, "test_rows": test.nrows,
            "epochs": float(hist["epochs"].iloc[-1]), "samples": samples,
            "train_wall_s": round(t_train, 3), "samples_per_s": round(samples / t_train, 1),
            "test_error": float(valid.classification_error()), "test_logloss": float(valid.logloss()),
            "import_s": round(t_import, 3), "convert_s": round(t_convert, 3),
            "peak_rss_bytes": _peak_rss_bytes(), "nthreads": cloud.node.config.compute_threads,
            "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}",
        }
        remove_model(dl.model.model_id, cloud)
        train.remove()
        test.remove()
        return result
    finally:
        cloud.shutdown()


def parse(argv: list[str] | None = None) -> tuple[argparse.Namespace, dict]:
    """The command line and the Deep Learning parameters it asks for (also what ``tools.bench.deeplearning``
    gives H2O-3, so both train the same network).

    >>> parse(["--activation", "Rectifier", "--hidden", "200", "200"])[1]["input_dropout_ratio"]
    0.0
    """
    from tools.fmnist_to_csv import DEFAULT_OUT, DEFAULT_SRC
    ap = argparse.ArgumentParser(prog="python -m tools.trial_run", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--epochs", type=float, default=TRIAL["epochs"], help="epochs (default: %(default)s)")
    ap.add_argument("--activation", default=TRIAL["activation"], help="default: %(default)s")
    ap.add_argument("--hidden", type=int, nargs="+", default=TRIAL["hidden"], help="default: 200 200 200")
    ap.add_argument("--input-dropout-ratio", type=float, default=None,
                    help="default: 0.2 with a ...WithDropout activation, else 0")
    ap.add_argument("--l1", type=float, default=TRIAL["l1"], help="default: %(default)s")
    ap.add_argument("--mini-batch-size", type=int, default=1, help="default: %(default)s (H2O's per-sample SGD)")
    ap.add_argument("--train-samples-per-iteration", type=int, default=-2,
                    help="0: one epoch, -1: all rows per node, -2: auto-tuned (default), N: N samples")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    ap.add_argument("--reproducible", action="store_true", help="bit-identical run for a seed (one thread)")
    ap.add_argument("--limit", type=int, default=None, metavar="N",
                    help="only the first N rows of each split (written as data/fmnist_<split>_<N>.csv; the full "
                         "files are left alone)")
    ap.add_argument("--nthreads", type=int, default=None, help="compute threads of the node (default: cores)")
    ap.add_argument("--src", default=DEFAULT_SRC, help="IDX directory (default: %(default)s)")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="CSV directory (default: %(default)s)")
    ap.add_argument("--json", action="store_true", help="print one JSON object with the figures, nothing else")
    args = ap.parse_args(argv)

    dropout = args.input_dropout_ratio
    if dropout is None:
        dropout = TRIAL["input_dropout_ratio"] if args.activation.endswith("WithDropout") else 0.0
    params = dict(activation=args.activation, hidden=args.hidden, input_dropout_ratio=dropout, l1=args.l1,
                  epochs=args.epochs, mini_batch_size=args.mini_batch_size,
                  train_samples_per_iteration=args.train_samples_per_iteration, reproducible=args.reproducible)
    if args.seed is not None:
        params["seed"] = args.seed
    return args, params


def main(argv: list[str] | None = None) -> int:
    args, params = parse(argv)
    quiet = args.json
    try:
        res = run(args.src, args.out, args.limit, params, args.nthreads, progress=not quiet and sys.stderr.isatty(),
                  log=(lambda *a: None) if quiet else print, verbose=not quiet)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if quiet:
        print(json.dumps(res))
    else:
        print(f"\ntrial run: {res['epochs']:.2f} epochs, {res['samples']:,} samples in {res['train_wall_s']:.1f} s "
              f"= {res['samples_per_s']:,.0f} samples/s (scoring included); test error "
              f"{100 * res['test_error']:.2f} %, logloss {res['test_logloss']:.4f}; peak RSS "
              f"{res['peak_rss_bytes'] / 2**20:.0f} MiB ({res['machine']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
