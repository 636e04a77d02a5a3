"""Benchmark of scoring outside and inside the cloud: the booklet's trial-run network on Fashion-MNIST.

Trains the trial-run network (``RectifierWithDropout`` 200,200,200, input dropout 0.2, l1 1e-5; ``--epochs`` on
the 60k training rows: scoring speed does not depend on how long it trained) in an embedded node, exports it, and
measures rows/s on the 10,000 test rows:

* the portable scorer (``scoring.load_scorer``): one row at a time (a dict per call), and a 10,000-row batch (a 2-D
  numpy array, and a pandas DataFrame); the command line ``python -m scoring.score`` on the 10k-row CSV (wall
  time, process start included);
* the POJO, compiled with ``javac``: ``score0`` per row and ``score(String[])`` per row (raw strings parsed),
  after a JIT warm-up of 5 passes, and ``java <Class> in.csv out.csv`` on the CSV (wall, JVM start included);
* the cloud's batch ``predict`` of the 10k-row frame, and of a 1-row frame (the cloud's "single row");
* with ``--compare-h2o`` (``pip install h2o``; needs Java), H2O-3's batch ``predict`` of the same network shape
  (trained there with the same parameters) on the same 10k rows, and of a 1-row frame.

    python -m tools.bench.scoring                       # about 2 minutes on 2 cores
    python -m tools.bench.scoring --compare-h2o --json
"""
from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tools.bench.frames import format_machine, machine_info

REPO = Path(__file__).resolve().parents[2]
TRIAL = dict(activation="RectifierWithDropout", hidden=[200, 200, 200], input_dropout_ratio=0.2, l1=1e-5)

_HARNESS = r"""
import java.io.*;
import java.nio.file.*;
import java.util.*;

public class BenchPojo {
  public static void main(String[] args) throws Exception {
    List<String> lines = Files.readAllLines(Paths.get(args[0]));
    String[] header = lines.get(0).split(",");
    int n = lines.size() - 1;
    String[][] raw = new String[n][];
    MODEL m = new MODEL();
    int[] pos = new int[MODEL.NAMES.length];
    for (int i = 0; i < pos.length; i++) pos[i] = Arrays.asList(header).indexOf(MODEL.NAMES[i]);
    for (int r = 0; r < n; r++) {
      String[] cells = lines.get(r + 1).split(",", -1);
      raw[r] = new String[pos.length];
      for (int i = 0; i < pos.length; i++) raw[r][i] = cells[pos[i]];
    }
    double[][] rows = new double[n][];
    for (int r = 0; r < n; r++) rows[r] = m.rowFromStrings(raw[r]);
    double[] preds = new double[m.getPredsSize()];
    double sink = 0;
    for (int rep = 0; rep < 5; rep++) for (int r = 0; r < n; r++) sink += m.score0(rows[r], preds)[1];
    long t0 = System.nanoTime();
    int reps = Integer.parseInt(args[1]);
    for (int rep = 0; rep < reps; rep++) for (int r = 0; r < n; r++) sink += m.score0(rows[r], preds)[1];
    double score0 = (System.nanoTime() - t0) / 1e9;
    t0 = System.nanoTime();
    for (int rep = 0; rep < reps; rep++) for (int r = 0; r < n; r++) sink += m.score(raw[r])[1];
    double strings = (System.nanoTime() - t0) / 1e9;
    System.out.println("{\"rows\": " + (long) n * reps + ", \"score0_s\": " + score0 + ", \"strings_s\": " + strings
        + ", \"sink\": " + (sink != 0 ? 1 : 0) + "}");
  }
}
"""


def _median_time(fn, reps: int = 3) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _rate(rows: int, seconds: float) -> float:
    return round(rows / seconds, 1) if seconds > 0 else float("inf")


def bench_ours(src: str, epochs: float, single_rows: int, work: Path) -> tuple[dict, Path, Path]:
    import pandas as pd

    import cluster
    import frame
    from algos import DeepLearningEstimator
    from scoring import load_scorer
    from tools import fmnist_to_csv

    files = fmnist_to_csv.convert(src, REPO / "data")
    test_raw = pd.read_csv(files["test"][0], header=None, names=[f"C{i + 1}" for i in range(785)])
    csv = work / "test.csv"
    test_raw.to_csv(csv, index=False)
    out: dict = {}
    cloud = cluster.init(progress=False)
    try:
        train = frame.import_file(str(files["train"][0]))
        test = frame.import_file(str(csv))
        train["C785"] = train["C785"].asfactor()
        dl = DeepLearningEstimator(epochs=epochs, seed=1234, **TRIAL)
        dl.train(x=train.names[:-1], y="C785", training_frame=train)
        model = dl.model
        n = test.nrows
        model.predict(test).remove()                                    # warm: compiled, chunks cached
        t = _median_time(lambda: model.predict(test).remove())
        out["cloud_batch"] = {"rows": n, "seconds": round(t, 4), "rows_per_s": _rate(n, t)}
        one = frame.Frame.from_pandas(test_raw.iloc[:1, :784])
        t = _median_time(lambda: model.predict(one).remove(), reps=10)
        out["cloud_single"] = {"rows": 1, "seconds": round(t, 4), "rows_per_s": _rate(1, t)}
        mojo = model.download_mojo(work / "trial.zip")
        java_file = Path(model.download_pojo(work / "pojo"))
    finally:
        cloud.shutdown()
    scorer = load_scorer(mojo)
    X = test_raw.iloc[:, :784].to_numpy(dtype=np.float64)
    df = test_raw.iloc[:, :784]
    scorer.predict(X[:100])
    t = _median_time(lambda: scorer.predict(X))
    out["scorer_batch_numpy"] = {"rows": len(X), "seconds": round(t, 4), "rows_per_s": _rate(len(X), t)}
    t = _median_time(lambda: scorer.predict(df))
    out["scorer_batch_pandas"] = {"rows": len(X), "seconds": round(t, 4), "rows_per_s": _rate(len(X), t)}
    dicts = df.iloc[:single_rows].to_dict("records")
    t0 = time.perf_counter()
    for row in dicts:
        scorer.predict(row)
    t = time.perf_counter() - t0
    out["scorer_single_dict"] = {"rows": len(dicts), "seconds": round(t, 4), "rows_per_s": _rate(len(dicts), t)}
    t = _median_time(lambda: subprocess.run([sys.executable, "-m", "scoring.score", str(mojo), str(csv),
                                             str(work / "cli.csv")], check=True, cwd=REPO), reps=1)
    out["scorer_cli_csv"] = {"rows": len(X), "seconds": round(t, 4), "rows_per_s": _rate(len(X), t)}
    out["model_file_bytes"] = Path(mojo).stat().st_size
    out["pojo_source_bytes"] = java_file.stat().st_size
    return out, java_file, csv


def bench_pojo(java_file: Path, csv: Path, reps: int) -> dict:
    javac, java = shutil.which("javac"), shutil.which("java")
    if not (javac and java):
        return {"skipped": "no javac/java on PATH (apt-get install default-jdk-headless)"}
    classes = java_file.parent / "classes"
    classes.mkdir(exist_ok=True)
    harness = java_file.parent / "BenchPojo.java"
    harness.write_text(_HARNESS.replace("MODEL", java_file.stem))
    t0 = time.perf_counter()
    subprocess.run([javac, "-d", str(classes), str(java_file), str(harness)], check=True)
    out = {"javac_seconds": round(time.perf_counter() - t0, 2)}
    res = subprocess.run([java, "-cp", str(classes), "BenchPojo", str(csv), str(reps)], check=True,
                         capture_output=True, text=True)
    r = json.loads(res.stdout.strip().splitlines()[-1])
    out["score0_per_row"] = {"rows": r["rows"], "seconds": round(r["score0_s"], 4),
                             "rows_per_s": _rate(r["rows"], r["score0_s"])}
    out["score_strings_per_row"] = {"rows": r["rows"], "seconds": round(r["strings_s"], 4),
                                    "rows_per_s": _rate(r["rows"], r["strings_s"])}
    t = _median_time(lambda: subprocess.run([java, "-cp", str(classes), java_file.stem, str(csv),
                                             str(csv.parent / "java.csv")], check=True), reps=1)
    rows = sum(1 for _ in open(csv)) - 1
    out["java_csv"] = {"rows": rows, "seconds": round(t, 4), "rows_per_s": _rate(rows, t)}
    return out


def bench_h2o(src_train: Path, csv: Path, epochs: float) -> dict:
    import h2o
    from h2o.estimators import H2ODeepLearningEstimator
    h2o.init(nthreads=-1)
    h2o.no_progress()
    try:
        train = h2o.import_file(str(src_train), header=-1)
        test = h2o.import_file(str(csv), header=1)
        y = train.columns[-1]
        train[y] = train[y].asfactor()
        dl = H2ODeepLearningEstimator(epochs=epochs, seed=1234, **TRIAL)
        dl.train(x=train.columns[:-1], y="C785", training_frame=train)
        dl.predict(test)
        n = test.nrow
        t = _median_time(lambda: dl.predict(test))
        one = test[0, :784]
        t1 = _median_time(lambda: dl.predict(one), reps=10)
        return {"version": h2o.__version__, "batch": {"rows": n, "seconds": round(t, 4), "rows_per_s": _rate(n, t)},
                "single": {"rows": 1, "seconds": round(t1, 4), "rows_per_s": _rate(1, t1)}}
    finally:
        h2o.remove_all()
        h2o.cluster().shutdown()


def main(argv: list[str] | None = None) -> int:
    from tools.bench import HelpFormatter
    ap = argparse.ArgumentParser(prog="python -m tools.bench.scoring", description=__doc__.split("\n\n")[0],
                                 formatter_class=HelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--src", default="/usr/share/datasets/fashion-mnist", help="Fashion-MNIST IDX files")
    ap.add_argument("--epochs", type=float, default=1.0, help="training epochs (default %(default)s)")
    ap.add_argument("--single-rows", type=int, default=2000, help="rows scored one by one (default %(default)s)")
    ap.add_argument("--pojo-reps", type=int, default=3, help="timed passes over the 10k rows in Java (default 3)")
    ap.add_argument("--compare-h2o", action="store_true", help="also H2O-3's predict (pip install h2o; needs Java)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    report = {"machine": machine_info(), "network": {**TRIAL, "epochs": args.epochs}}
    with tempfile.TemporaryDirectory(prefix="aquifer-bench-scoring-") as tmp:
        work = Path(tmp)
        ours, java_file, csv = bench_ours(args.src, args.epochs, args.single_rows, work)
        report["aquifer"] = ours
        report["pojo"] = bench_pojo(java_file, csv, args.pojo_reps)
        if args.compare_h2o:
            try:
                with contextlib.redirect_stdout(sys.stderr):           # h2o.init prints its banner
                    report["h2o"] = bench_h2o(REPO / "data" / "fmnist_train.csv", csv, args.epochs)
            except ImportError:
                report["h2o"] = "not installed (pip install h2o; it needs Java)"
    if args.json:
        print(json.dumps(report))
        return 0
    rows = [("portable scorer, 1 row per call (dict)", ours["scorer_single_dict"]),
            ("portable scorer, 10k-row batch (numpy)", ours["scorer_batch_numpy"]),
            ("portable scorer, 10k-row batch (pandas)", ours["scorer_batch_pandas"]),
            ("python -m scoring.score, 10k-row CSV (process)", ours["scorer_cli_csv"])]
    pj = report["pojo"]
    if "skipped" not in pj:
        rows += [("POJO score0, 1 row per call (JIT warm)", pj["score0_per_row"]),
                 ("POJO score(String[]), 1 row per call (JIT warm)", pj["score_strings_per_row"]),
                 ("java <POJO> in.csv out.csv, 10k rows (process)", pj["java_csv"])]
    rows += [("cloud predict, 10k-row frame", ours["cloud_batch"]), ("cloud predict, 1-row frame", ours["cloud_single"])]
    if isinstance(report.get("h2o"), dict):
        h = report["h2o"]
        rows += [(f"H2O-3 {h['version']} predict, 10k-row frame", h["batch"]),
                 (f"H2O-3 {h['version']} predict, 1-row frame", h["single"])]
    for name, r in rows:
        print(f"{name:52s} {r['rows_per_s']:>12,.0f} rows/s   ({r['rows']:,} rows in {r['seconds']:.3f} s)")
    print(f"model file {ours['model_file_bytes'] / 1e6:.2f} MB, POJO source {ours['pojo_source_bytes'] / 1e6:.2f} MB")
    if isinstance(report.get("h2o"), str):
        print("H2O-3:", report["h2o"])
    print(format_machine(report["machine"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
