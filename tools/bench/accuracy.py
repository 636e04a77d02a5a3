"""Accuracy at equal epochs and equal parameters: aquifer against H2O-3 on the same rows, over several seeds.

Each case trains on a fixed training split and scores a fixed test split (``tests/data``: H2O's smalldata), with
``reproducible=True`` and seeds 1-5, on aquifer (an embedded node in this process) and on H2O-3 in the same run,
and prints each side's test metric as mean ± standard deviation, the ratio, and whether the issue's goal holds:
aquifer's mean at least H2O's mean minus one H2O standard deviation (r2, AUC) or at most its mean plus one
(logloss, error, MSE); a case where H2O itself diverges (a seed with r2 < 0) counts as met when ours does not.

H2O-3 never enters this process: it runs ``tools/bench/h2o_worker.py`` under the Python that has ``h2o``
(this one when ``h2o`` is importable, else ``--h2o-python``)::

    python3 -m venv ~/h2o-venv && ~/h2o-venv/bin/pip install h2o     # the wheel ships the jar; needs Java
    python -m tools.bench.accuracy --h2o-python ~/h2o-venv/bin/python
    python -m tools.bench.accuracy --cases auto_mpg prostate --seeds 1 2 3 --no-h2o
    python -m tools.bench.accuracy --set 'h2o_quirks=["bias_adadelta"]'   # one of our parameters changed
    python -m tools.bench.accuracy --cases quirks --set 'h2o_quirks=["momentum_ramp"]'   # the quirk cases
    python -m tools.bench.accuracy --cases fmnist_10ep --seeds 1 --h2o-python ...   # F-MNIST (data/, slow)

``--h2o-cache FILE`` keeps H2O's results by case, seed and parameters, so runs that only change our side
reuse them. ``--json`` prints one JSON document instead of the table.
"""
from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
WORKER = Path(__file__).resolve().with_name("h2o_worker.py")
LESS_IS_BETTER = {"logloss", "error", "mse", "rmse", "mae", "deviance", "reconstruction_mse"}


@dataclass(frozen=True)
class Case:
    """One row of the table: data, response, H2O parameters (both sides get the same), the metric judged."""
    data: str                    # "accuracy/<name>" (its _train/_test CSVs), "iris", "ecg" or "fmnist"
    y: str | None
    metric: str
    params: dict = field(default_factory=dict)
    factor: bool = False         # the response is categorical (asfactor on both sides)
    ignore: tuple = ()
    shown: tuple = ()            # further test metrics printed
    group: str = "main"          # main: the default run; quirks: where h2o_quirks matter; fmnist: minutes a seed
    reproducible: bool = True


R32 = dict(hidden=[32, 32], epochs=50)
CASES: dict[str, Case] = {
    "auto_mpg": Case("accuracy/auto_mpg", "mpg", "r2", dict(R32, distribution="gaussian"), shown=("rmse",)),
    "prostate": Case("accuracy/prostate", "CAPSULE", "logloss", {}, factor=True, ignore=("ID",),
                     shown=("auc", "error")),
    "prostate_32": Case("accuracy/prostate", "CAPSULE", "logloss", dict(R32), factor=True, ignore=("ID",),
                        shown=("auc", "error")),
    "boston": Case("accuracy/bostonhousing", "medv", "r2", dict(R32, distribution="gaussian"), shown=("rmse",)),
    "boston_poisson": Case("accuracy/bostonhousing", "medv", "r2", dict(R32, distribution="poisson"),
                           shown=("rmse",)),
    "abalone": Case("accuracy/abalone", "rings", "r2", dict(R32, distribution="gaussian"), shown=("rmse",)),
    "abalone_poisson": Case("accuracy/abalone", "rings", "r2", dict(R32, distribution="poisson"), shown=("rmse",)),
    "iris": Case("iris", "class", "logloss", {}, factor=True, shown=("error",)),
    "ecg": Case("ecg", None, "reconstruction_mse",
                dict(activation="Tanh", autoencoder=True, hidden=[50, 20, 50], l1=1e-4, epochs=100)),
    # the booklet's trial run (tools.trial_run's network), validated on the test set as there; not reproducible
    # (H2O's reproducible mode is one thread: ~50 s an epoch here)
    "fmnist_1ep": Case("fmnist", "C785", "error", dict(activation="RectifierWithDropout", hidden=[200, 200, 200],
                                                        input_dropout_ratio=0.2, l1=1e-5, epochs=1),
                       factor=True, shown=("logloss",), group="fmnist", reproducible=False),
    "fmnist_10ep": Case("fmnist", "C785", "error", dict(activation="RectifierWithDropout", hidden=[200, 200, 200],
                                                         input_dropout_ratio=0.2, l1=1e-5, epochs=10),
                        factor=True, shown=("logloss",), group="fmnist", reproducible=False),
    # where an h2o_quirk changes training (bias_adadelta: every ADADELTA case above)
    "boston_momentum": Case("accuracy/bostonhousing", "medv", "r2",
                            dict(R32, adaptive_rate=False, momentum_start=0.5, momentum_ramp=1e4,
                                 momentum_stable=0.9), shown=("rmse",), group="quirks"),
    "boston_huber": Case("accuracy/bostonhousing", "medv", "r2", dict(R32, distribution="huber"), shown=("rmse",),
                         group="quirks"),
    "boston_tanh_dropout": Case("accuracy/bostonhousing", "medv", "r2", dict(R32, activation="TanhWithDropout"),
                                shown=("rmse",), group="quirks"),
    "boston_rect_dropout": Case("accuracy/bostonhousing", "medv", "r2", dict(R32, activation="RectifierWithDropout"),
                                shown=("rmse",), group="quirks"),
    "boston_exprect": Case("accuracy/bostonhousing", "medv", "r2", dict(R32, activation="ExpRectifier"),
                           shown=("rmse",), group="quirks"),
    "boston_exprect_dropout": Case("accuracy/bostonhousing", "medv", "r2",
                                   dict(R32, activation="ExpRectifierWithDropout"), shown=("rmse",), group="quirks"),
}
GROUPS = ("main", "quirks", "fmnist")


def files(case: Case, tmp: Path) -> tuple[str, str]:
    """(train CSV, test CSV) of a case; iris has no fixed split in H2O's smalldata, so rows 3, 6 and 9 of every
    ten (15 of each class, the file is sorted by class) are its test rows."""
    if case.data.startswith("accuracy/"):
        return str(DATA / f"{case.data}_train.csv"), str(DATA / f"{case.data}_test.csv")
    if case.data == "ecg":
        return str(DATA / "ecg" / "ecg_discord_train.csv"), str(DATA / "ecg" / "ecg_discord_test.csv")
    if case.data == "iris":
        with open(DATA / "h2o-smalldata" / "iris_wheader.csv", newline="") as fh:
            rows = list(csv.reader(fh))
        parts = {"train": [rows[0]], "test": [rows[0]]}
        for i, row in enumerate(rows[1:]):
            parts["test" if i % 10 in (3, 6, 9) else "train"].append(row)
        out = []
        for name in ("train", "test"):
            path = tmp / f"iris_{name}.csv"
            with open(path, "w", newline="") as fh:
                csv.writer(fh).writerows(parts[name])
            out.append(str(path))
        return out[0], out[1]
    if case.data == "fmnist":
        from tools import fmnist_to_csv
        got = fmnist_to_csv.convert(fmnist_to_csv.DEFAULT_SRC, fmnist_to_csv.DEFAULT_OUT)
        return str(got["train"][0]), str(got["test"][0])
    raise ValueError(f"unknown data {case.data!r}")


def _header(case: Case) -> int:
    return -1 if case.data in ("ecg", "fmnist") else 1


def params_of(case: Case, seed: int, extra: dict | None = None) -> dict:
    return {**case.params, "seed": seed, "reproducible": case.reproducible, **(extra or {})}


# ------------------------------------------------------------------------------------------------ aquifer
def run_ours(names: list[str], seeds: list[int], extra: dict, tmp: Path, log) -> dict:
    """{case: {seed: {"test": {metric: value}, "epochs": float, "wall_s": float}}} on an embedded node."""
    import numpy as np

    import cluster
    import frame
    from algos import DeepLearningEstimator, remove_model

    cloud = cluster.init(progress=False)
    out: dict = {}
    try:
        for name in names:
            case = CASES[name]
            tr_csv, te_csv = files(case, tmp)
            header = _header(case)
            tr = frame.import_file(tr_csv, header=header)
            te = frame.import_file(te_csv, header=header)
            y = case.y
            if case.factor:
                tr[y] = tr[y].asfactor()
                te[y] = te[y].asfactor()
            x = [c for c in tr.names if c != y and c not in case.ignore]
            valid = te if case.data == "fmnist" else None
            out[name] = {}
            for seed in seeds:
                t0 = time.perf_counter()
                dl = DeepLearningEstimator(**params_of(case, seed, extra))
                dl.train(x=x, y=y, training_frame=tr, validation_frame=valid)
                wall = time.perf_counter() - t0
                m = dl.model
                perf = m.model_performance(te)
                hist = m.scoring_history()
                test = _our_metrics(perf, m.kind)
                if m.kind == "autoencoder":        # mean per-row reconstruction MSE, as H2O's anomaly()
                    test["reconstruction_mse"] = float(np.mean(m.anomaly(te).as_numpy()[:, 0]))
                res = {"test": test, "epochs": float(hist["epochs"].iloc[-1]),
                       "samples": float(m.meta.samples), "wall_s": wall}
                out[name][seed] = res
                log(f"  aquifer {name} seed {seed}: {case.metric} {res['test'].get(case.metric):.4g} "
                    f"({res['epochs']:.1f} epochs, {wall:.1f} s)")
                remove_model(m.model_id, cloud)
            tr.remove()
            te.remove()
    finally:
        cloud.shutdown()
    return out


def _our_metrics(perf, kind: str) -> dict:
    out = {"mse": perf.mse(), "rmse": perf.rmse()}
    if kind == "regression":
        out.update(r2=perf.r2(), mae=perf.mae(), deviance=perf.mean_residual_deviance())
    elif kind in ("binomial", "multinomial"):
        out.update(logloss=perf.logloss(), error=perf.classification_error())
        if kind == "binomial":
            out["auc"] = perf.auc()
    return {k: float(v) for k, v in out.items()}


# ------------------------------------------------------------------------------------------------ H2O-3
def h2o_python(arg: str | None) -> str | None:
    """The Python that runs the worker: ``--h2o-python``, else this one if it has ``h2o``, else None."""
    if arg:
        return arg
    return sys.executable if importlib.util.find_spec("h2o") is not None else None


def run_h2o(python: str, names: list[str], seeds: list[int], extra: dict, tmp: Path, cache_path: str | None,
            log) -> tuple[dict, str]:
    """The same runs on H2O-3 through the worker (one server for all of them); results cached by key."""
    cache = {}
    if cache_path and Path(cache_path).exists():
        cache = json.loads(Path(cache_path).read_text())
    todo, keys, out = [], [], {n: {} for n in names}
    for name in names:
        case = CASES[name]
        tr_csv, te_csv = files(case, tmp)
        for seed in seeds:
            prm = params_of(case, seed, extra)
            key = json.dumps([name, prm], sort_keys=True)
            if key in cache:
                out[name][seed] = cache[key]
                continue
            todo.append({"train": tr_csv, "test": te_csv, "y": case.y, "factor_y": case.factor,
                         "ignore": list(case.ignore), "params": prm, "header": _header(case),
                         "validation": case.data == "fmnist"})
            keys.append((name, seed, key))
    version = cache.get("_version", "")
    if todo:
        log(f"  H2O-3: {len(todo)} runs ...")
        proc = subprocess.run([python, str(WORKER)], input=json.dumps({"runs": todo}), capture_output=True,
                              text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"the H2O worker failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        got = json.loads(proc.stdout.strip().splitlines()[-1])
        version = got["version"]
        for (name, seed, key), res in zip(keys, got["runs"]):
            if "error" in res:                # said even with --json: a missing column has a reason
                print(f"H2O-3 {name} seed {seed} failed: {res['error']}", file=sys.stderr)
                continue
            res = {k: res[k] for k in ("test", "epochs", "wall_s", "samples") if k in res}
            out[name][seed] = cache[key] = res
        if cache_path:
            cache["_version"] = version
            Path(cache_path).write_text(json.dumps(cache, indent=0, sort_keys=True))
    return out, version


# ------------------------------------------------------------------------------------------------ table
def _stats(values: list[float]) -> tuple[float, float]:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return math.nan, math.nan
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


def summarise(names: list[str], ours: dict, h2o: dict | None) -> list[dict]:
    """One row per case and metric shown: both sides' mean and sd, the ratio and the goal."""
    rows = []
    for name in names:
        case = CASES[name]
        for metric in (case.metric, *case.shown):
            o = [r["test"].get(metric) for r in ours.get(name, {}).values()]
            om, osd = _stats(o)
            row = {"case": name, "metric": metric, "judged": metric == case.metric, "ours": o, "ours_mean": om,
                   "ours_sd": osd}
            if h2o is not None and h2o.get(name):
                h = [r["test"].get(metric) for r in h2o[name].values()]
                hm, hsd = _stats(h)
                row.update(h2o=h, h2o_mean=hm, h2o_sd=hsd, ratio=om / hm if hm else math.nan)
                if metric == case.metric:
                    row["goal"] = _goal(metric, om, hm, hsd, o, h)
            rows.append(row)
    return rows


def _goal(metric: str, om: float, hm: float, hsd: float, ours: list, h2o: list) -> str:
    """The issue's goal; where H2O diverges (a seed with r2 < 0), met when ours never does."""
    if metric == "r2" and any(v is not None and v < 0 for v in h2o):
        if all(v is not None and v >= 0 for v in ours):
            return "met (H2O diverges, ours not)"
        return "NOT met (both diverge)"
    ok = om <= hm + hsd if metric in LESS_IS_BETTER else om >= hm - hsd
    return "met" if ok else "NOT met"


def print_table(rows: list[dict], seeds: list[int], machine: dict, version: str | None, extra: dict,
                elapsed: float) -> None:
    print(f"accuracy: test metrics over seeds {seeds}, reproducible=True (F-MNIST: not), same splits both sides")
    if extra:
        print(f"aquifer parameters changed: {extra}")
    print(f"{'case':16s} {'metric':8s} {'aquifer':>17s} {'H2O-3':>17s} {'ratio':>6s}  goal")
    for r in rows:
        ours = f"{r['ours_mean']:.4f} ± {r['ours_sd']:.4f}"
        theirs = f"{r['h2o_mean']:.4f} ± {r['h2o_sd']:.4f}" if "h2o_mean" in r else "-"
        ratio = f"{r['ratio']:.3f}" if "ratio" in r else "-"
        print(f"{r['case']:16s} {r['metric']:8s} {ours:>17s} {theirs:>17s} {ratio:>6s}  {r.get('goal', '')}")
    print(f"H2O-3 {version or '(not run)'}; {elapsed:.0f} s; machine: {machine['cpu']}, {machine['cores']} cores "
          f"(shared), load {machine['loadavg_1_5_15']}, python {machine['python']}")


def main(argv: list[str] | None = None) -> int:
    from tools.bench import HelpFormatter
    ap = argparse.ArgumentParser(prog="python -m tools.bench.accuracy", description=__doc__.split("\n\n")[0],
                                 formatter_class=HelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--cases", nargs="+", choices=sorted(CASES) + list(GROUPS), metavar="CASE",
                    help=f"cases or groups ({', '.join(GROUPS)}) to run (default: main): {', '.join(CASES)}")
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4, 5], help="seeds per case (default: 1 2 3 4 5)")
    ap.add_argument("--set", nargs="+", default=[], metavar="NAME=VALUE",
                    help="change an aquifer parameter (VALUE as JSON, else a string) to measure its effect (default: "
                         "none)")
    ap.add_argument("--h2o-python", help="a Python with h2o installed (default: this one if it has h2o)")
    ap.add_argument("--no-h2o", action="store_true", help="aquifer only")
    ap.add_argument("--h2o-cache",
                    help="JSON file keeping H2O-3's results between runs (default: none, H2O runs every time)")
    ap.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    args = ap.parse_args(argv)
    names = []
    for item in args.cases or ["main"]:
        for n in ([n for n, c in CASES.items() if c.group == item] if item in GROUPS else [item]):
            if n not in names:
                names.append(n)
    extra = {}
    for item in args.set:
        k, sep, v = item.partition("=")
        if not sep:
            ap.error(f"--set wants NAME=VALUE, got {item!r}")
        try:
            extra[k] = json.loads(v)
        except json.JSONDecodeError:
            extra[k] = v
    log = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr, flush=True))
    from tools.bench.frames import machine_info
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="aquifer-accuracy-") as tmpdir:
        tmp = Path(tmpdir)
        h2o, version = None, None
        python = None if args.no_h2o else h2o_python(args.h2o_python)
        if python is None and not args.no_h2o:
            log("h2o is not importable here and no --h2o-python was given: aquifer only")
        if python is not None:
            h2o, version = run_h2o(python, names, args.seeds, {}, tmp, args.h2o_cache, log)
        ours = run_ours(names, args.seeds, extra, tmp, log)
    rows = summarise(names, ours, h2o)
    elapsed = time.perf_counter() - t0
    machine = machine_info()
    if args.json:
        print(json.dumps({"rows": rows, "seeds": args.seeds, "set": extra, "h2o_version": version,
                          "machine": machine, "elapsed_s": elapsed, "ours": ours, "h2o": h2o}))
    else:
        print_table(rows, args.seeds, machine, version, extra, elapsed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
