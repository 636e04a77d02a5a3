"""Train Deep Learning models on H2O-3 for the accuracy benchmark: a stand-alone script for H2O's own Python.

It imports only the standard library and ``h2o``, so it runs in a separate environment (the project never
imports h2o into its own)::

    python3 -m venv ~/h2o-venv && ~/h2o-venv/bin/pip install h2o      # the wheel ships the jar
    echo '{"runs": [...]}' | ~/h2o-venv/bin/python tools/bench/h2o_worker.py

Input (stdin, JSON): ``{"runs": [run, ...], "nthreads": -1, "max_mem": "2G"}``; a run is ``{"train": csv,
"test": csv or null, "header": 1 or -1 (no header), "validation": bool (the test frame validates), "y": column
or null (autoencoder), "factor_y": bool, "ignore": [columns], "params": {H2O parameter: value},
"initial_weights": [csv per layer] or null, "initial_biases": [...] or null, "weights": bool}``.
Output (stdout, one JSON line): ``{"runs": [{"test": {metric: value}, "train": {...}, "history": [row, ...],
"summary": [row, ...], "epochs": float, "samples": float, "wall_s": float, "weights": [[[...]]],
"biases": [[...]]}, ...], "version": str}``.
A weight CSV has one row per neuron of the layer and one column per input (no header), as H2O's frames.

The server is started on a free port with a name of its own, so it never attaches to another H2O on the
machine, and is shut down at the end.
"""
from __future__ import annotations

import json
import math
import os
import signal
import socket
import sys
import time


def _free_port() -> int:
    """A port p with p and p + 1 free (H2O uses both)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            p = s.getsockname()[1]
        if p >= 65535:
            continue
        try:
            with socket.socket() as s2:
                s2.bind(("127.0.0.1", p + 1))
            return p
        except OSError:
            continue
    raise RuntimeError("no free pair of ports")


def _num(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _metrics(perf, kind: str) -> dict:
    out = {"mse": _num(perf.mse()), "rmse": _num(perf.rmse())}
    if kind == "regression":
        out.update(r2=_num(perf.r2()), mae=_num(perf.mae()), deviance=_num(perf.mean_residual_deviance()))
    elif kind in ("binomial", "multinomial"):
        out["logloss"] = _num(perf.logloss())
        if kind == "binomial":
            out["auc"] = _num(perf.auc())
        # error at H2O's default label (max-F1 threshold for binomial, argmax for multinomial): the
        # confusion matrix's totals row, column "Error"
        cm = perf.confusion_matrix()
        out["error"] = _num(getattr(cm, "table", cm).cell_values[-1][-2])   # binomial wraps the table
    return out


def _table_rows(tab) -> list:
    if tab is None:
        return []
    cols = list(tab.col_header)
    return [{c: (v if isinstance(v, (int, float, str)) or v is None else str(v)) for c, v in zip(cols, row)}
            for row in tab.cell_values]


def _parser():
    import argparse
    return argparse.ArgumentParser(
        prog="python -m tools.bench.h2o_worker",
        usage="echo '{\"runs\": [...]}' | PYTHON tools/bench/h2o_worker.py\n"
              "       (PYTHON: an interpreter with h2o; python -m tools.bench.h2o_worker in the checkout works too)",
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1])


def read_job(argv: list[str] | None = None, stdin=None) -> dict:
    """The job from standard input, after the command line (only ``--help``); a terminal or text that is not a
    JSON object with ``runs`` is a usage error (exit 2), not a traceback."""
    ap = _parser()
    ap.parse_args(argv)
    stdin = sys.stdin if stdin is None else stdin
    if stdin.isatty():
        ap.error("the job is read as JSON on standard input (see --help), and standard input is a terminal")
    text = stdin.read()
    if not text.strip():
        ap.error("standard input is empty: the job is read as JSON from it (see --help)")
    try:
        job = json.loads(text)
    except ValueError as exc:
        ap.error(f"standard input is not a JSON job: {exc}")
    if not isinstance(job, dict) or not isinstance(job.get("runs"), list):
        ap.error('the job must be a JSON object {"runs": [run, ...], ...} (see --help)')
    return job


def main(argv: list[str] | None = None) -> int:
    job = read_job(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))    # so `finally` shuts the server down
    import h2o
    from h2o.estimators import H2ODeepLearningEstimator

    os.environ.setdefault("DO_NOT_TRACK", "1")
    port = _free_port()
    h2o.init(ip="127.0.0.1", port=port, name=f"aquifer-bench-{os.getpid()}", nthreads=int(job.get("nthreads", -1)),
             max_mem_size=job.get("max_mem", "2G"), verbose=False, strict_version_check=False)
    h2o.no_progress()
    frames: dict[str, object] = {}

    def frame(path, header=1):
        key = (path, header)
        if key not in frames:
            frames[key] = h2o.import_file(path, header=header)
        return frames[key]

    results = []
    try:
        for run in job["runs"]:
            try:
                results.append(_train(run, frame, H2ODeepLearningEstimator))
            except Exception as exc:           # one failed run is reported, the others still run
                results.append({"error": f"{type(exc).__name__}: {exc}"[:2000]})
    finally:
        version = h2o.cluster().version
        h2o.cluster().shutdown()
    json.dump({"runs": results, "version": version}, sys.stdout)
    sys.stdout.write("\n")
    return 0


def _train(run: dict, frame, H2ODeepLearningEstimator) -> dict:
    """One model: train, score, describe (see the module docstring for the fields)."""
    import h2o
    header = int(run.get("header", 1))
    train = frame(run["train"], header)
    test = frame(run["test"], header) if run.get("test") else None
    y = run.get("y")
    if y and run.get("factor_y"):
        train[y] = train[y].asfactor()
        if test is not None:
            test[y] = test[y].asfactor()
    params = dict(run.get("params", {}))
    if run.get("initial_weights"):
        params["initial_weights"] = [frame(p, header=-1) for p in run["initial_weights"]]
        params["initial_biases"] = [frame(p, header=-1) for p in run["initial_biases"]]
    if run.get("weights"):
        params["export_weights_and_biases"] = True
    x = [c for c in train.columns if c != y and c not in (run.get("ignore") or [])]
    dl = H2ODeepLearningEstimator(**params)
    t0 = time.perf_counter()
    dl.train(x=x, y=y, training_frame=train, validation_frame=test if run.get("validation") else None)
    wall = time.perf_counter() - t0
    if params.get("autoencoder"):
        kind = "autoencoder"
    elif y and train[y].isfactor()[0]:
        kind = "binomial" if len(train[y].levels()[0]) == 2 else "multinomial"
    else:
        kind = "regression"
    res = {"kind": kind, "wall_s": wall, "train": _metrics(dl.model_performance(train=True), kind),
           "history": _table_rows(dl._model_json["output"]["scoring_history"]),
           "summary": _table_rows(dl._model_json["output"]["model_summary"])}
    if test is not None:
        res["test"] = _metrics(dl.model_performance(test), kind)
        if kind == "autoencoder":          # mean per-row reconstruction MSE (model_performance's is NaN here)
            mse = dl.anomaly(test).as_data_frame(use_pandas=False, header=False)
            res["test"]["reconstruction_mse"] = sum(float(r[0]) for r in mse) / len(mse)
    hist = res["history"]
    res["epochs"] = float(hist[-1]["epochs"]) if hist else None
    res["samples"] = float(hist[-1]["samples"]) if hist else None
    if run.get("weights"):
        n = len(params.get("hidden", [200, 200])) + 1
        res["weights"] = [[[float(v) for v in row] for row in dl.weights(i).as_data_frame(
            use_pandas=False, header=False)] for i in range(n)]
        res["biases"] = [[float(r[0]) for r in dl.biases(i).as_data_frame(use_pandas=False, header=False)]
                         for i in range(n)]
    h2o.remove(dl.model_id)
    return res


if __name__ == "__main__":
    sys.exit(main())
