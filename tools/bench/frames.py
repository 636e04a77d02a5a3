"""Benchmark of CSV import: the Fashion-MNIST train CSV parsed on one embedded node.

What it measures, in one process that starts an embedded node (``cluster.init``) and imports the file
``1 + --repeat`` times (removing the frame between runs):

* wall time of ``frame.import_file``: the first run (it includes loading the Numba kernels from their
  on-disk cache, or compiling them when the cache is cold) and the best and median of the repeats;
* ``Frame.byte_size`` (compressed bytes in the DKV) and the count and bytes of chunks per codec;
* memory: the resident set before each import and its peak during the import. The kernel's high-water
  mark (``VmHWM``, which is also what ``ru_maxrss`` reports) is reset before every run by writing ``5`` to
  ``/proc/self/clear_refs``, and freed heap is handed back (``malloc_trim``) before it, so each run's
  peak is its own; the parse's *extra* peak (peak minus the resident set just before) is set against the
  CSV size. The first run's extra includes the Numba kernels' code (loaded once per process), so the goal
  is judged on the repeats.

MB is 10**6 bytes throughout, as H2O's ``byte_size`` figure (41,841,016 B = 41.8 MB).

Example::

    python -m tools.bench.frames                       # data/fmnist_train.csv, (re)made if missing or cut
    python -m tools.bench.frames --csv data/fmnist_test.csv --repeat 5 --json
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CSV = REPO / "data" / "fmnist_train.csv"
MB = 1e6

# H2O-3 3.46 measured on this machine (docs/benchmarks.md, "import") and the project's goals
H2O_SECONDS, H2O_MB = 3.8, 41.841016
GOAL_SECONDS, GOAL_MB, GOAL_RSS_RATIO = 2.0, 30.0, 2.0


# ------------------------------------------------------------------------------------------ machine
def machine_info() -> dict[str, Any]:
    """What the figures were measured on (the load average tells how busy the shared machine was).

    >>> sorted(machine_info())
    ['cores', 'cpu', 'loadavg_1_5_15', 'numba', 'numpy', 'platform', 'python']
    """
    import numba
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"platform": platform.platform(), "cpu": cpu, "cores": os.cpu_count() or 1,
            "python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
            "loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()]}


def format_machine(m: dict[str, Any]) -> str:
    """One line for a report.

    >>> format_machine({"platform": "Linux", "cpu": "X", "cores": 2, "python": "3.11", "numpy": "2.4",
    ...                 "numba": "0.68", "loadavg_1_5_15": [1.5, 2.0, 3.25]})
    'machine: Linux | X | 2 cores | Python 3.11 | numpy 2.4 | numba 0.68 | load 1.5 2 3.25'
    """
    load = " ".join(f"{x:g}" for x in m["loadavg_1_5_15"])
    return (f"machine: {m['platform']} | {m['cpu']} | {m['cores']} cores | Python {m['python']} | "
            f"numpy {m['numpy']} | numba {m['numba']} | load {load}")


# ------------------------------------------------------------------------------------------ memory
def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not found in /proc/self/status")


def rss_mb() -> float:
    """Resident set of this process now, MB."""
    return _status_kb("VmRSS") * 1024 / MB


def peak_rss_mb() -> float:
    """High-water mark of the resident set since start or the last :func:`reset_peak_rss`, MB."""
    return _status_kb("VmHWM") * 1024 / MB


def trim_heap() -> bool:
    """Give freed heap pages back to the kernel (glibc ``malloc_trim``), so the resident set before a run
    counts live memory only, not the previous run's freed buffers that the next run would reuse. False
    when the C library has no ``malloc_trim``."""
    try:
        libc = ctypes.CDLL(None)
        return bool(libc.malloc_trim(0)) or True
    except (OSError, AttributeError):
        return False


def reset_peak_rss() -> bool:
    """Reset the high-water mark to the current resident set (Linux >= 4.0). False when not allowed, in
    which case peaks after the first run include the earlier runs."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


# ------------------------------------------------------------------------------------------ data
def ensure_csv(path: Path | None) -> Path:
    """The CSV to import: ``path`` if given (it must exist), else the full Fashion-MNIST train CSV, (re)written by
    :func:`tools.fmnist_to_csv.convert` when missing, older than the IDX files or not all 60,000 rows (a file
    cut short by an older ``--limit`` run is not benchmarked as the data set)."""
    if path is not None:
        if not path.is_file():
            raise FileNotFoundError(f"--csv {path}: no such file")
        return path
    from tools import fmnist_to_csv
    if DEFAULT_CSV.is_file() and not Path(fmnist_to_csv.DEFAULT_SRC).is_dir():
        return DEFAULT_CSV                  # no IDX files to check it against
    if not DEFAULT_CSV.is_file():
        print(f"{DEFAULT_CSV} missing: converting Fashion-MNIST (python -m tools.fmnist_to_csv)", file=sys.stderr)
    written = fmnist_to_csv.convert(fmnist_to_csv.DEFAULT_SRC, DEFAULT_CSV.parent)["train"]
    if written[1]:
        print(f"{written[0]} written from {fmnist_to_csv.DEFAULT_SRC}", file=sys.stderr)
    return written[0]


def numba_cache_files() -> int:
    """Numba cache index files of the frame package: 0 means the first import compiles its kernels."""
    return sum(1 for _ in (REPO / "frame").glob("__pycache__/*.nbi"))


def codec_breakdown(fr, cloud) -> dict[str, dict[str, int]]:
    """{codec: {"chunks": n, "bytes": payload bytes}} over every column chunk of ``fr`` (embedded node:
    every chunk is in this process's DKV shard)."""
    counts: Counter = Counter()
    nbytes: Counter = Counter()
    store = cloud.node.dkv.store
    for col in range(fr.ncols):
        for key in fr.chunk_keys(col):
            value = store.get(key)
            if value is None:
                raise KeyError(f"chunk {key} of frame {fr.key} is not in the embedded node's DKV")
            codec = value.meta["codec"]
            counts[codec] += 1
            nbytes[codec] += value.nbytes
    return {c: {"chunks": counts[c], "bytes": nbytes[c]} for c in sorted(counts, key=lambda c: -counts[c])}


# ------------------------------------------------------------------------------------------ the benchmark
def import_once(path: Path, cloud) -> tuple[Any, dict[str, float]]:
    """Import ``path`` once; the frame and {seconds, rss_before_mb, peak_rss_mb, extra_peak_mb}."""
    import frame
    trim_heap()
    rss_before = rss_mb()
    reset = reset_peak_rss()
    t0 = time.perf_counter()
    fr = frame.import_file(str(path), header=False, cloud=cloud)
    seconds = time.perf_counter() - t0
    peak = peak_rss_mb()
    return fr, {"seconds": seconds, "rss_before_mb": rss_before, "peak_rss_mb": peak,
                "extra_peak_mb": peak - rss_before, "peak_reset": reset}


def run(path: Path, repeat: int) -> dict[str, Any]:
    """Start an embedded node, import ``path`` 1 + ``repeat`` times, shut the node down; the figures."""
    if repeat < 1:
        raise ValueError(f"--repeat must be at least 1, got {repeat}")
    csv_mb = path.stat().st_size / MB
    cache_files = numba_cache_files()
    rss_start = rss_mb()
    t0 = time.perf_counter()
    import cluster
    import frame  # noqa: F401  (module import time is reported apart from the parse)
    modules_s = time.perf_counter() - t0
    cloud = cluster.init(port=None, progress=False, verbose=False)
    try:
        rss_node = rss_mb()
        runs, fr = [], None
        for i in range(1 + repeat):
            if fr is not None:
                fr.remove()
            fr, figures = import_once(path, cloud)
            runs.append(figures)
        codecs = codec_breakdown(fr, cloud)
        byte_size = fr.byte_size
        shape, nchunks = fr.shape, fr.nchunks
        fr.remove()
    finally:
        cloud.shutdown()
    warm = [r["seconds"] for r in runs[1:]]
    first = runs[0]
    return {
        "machine": machine_info(), "csv": str(path), "csv_mb": csv_mb, "repeat": repeat,
        "numba_cache_files_before": cache_files, "module_import_s": modules_s,
        "rss_at_start_mb": rss_start, "rss_after_node_start_mb": rss_node,
        "rows": shape[0], "cols": shape[1], "chunks": nchunks, "byte_size": byte_size,
        "byte_size_mb": byte_size / MB, "codecs": codecs,
        "first_s": first["seconds"], "best_s": min(warm), "median_s": statistics.median(warm),
        "first_rss_before_mb": first["rss_before_mb"], "first_peak_rss_mb": first["peak_rss_mb"],
        "first_extra_peak_mb": first["extra_peak_mb"],
        "first_extra_peak_over_csv": first["extra_peak_mb"] / csv_mb,
        "warm_max_extra_peak_mb": max(r["extra_peak_mb"] for r in runs[1:]),
        "warm_max_extra_peak_over_csv": max(r["extra_peak_mb"] for r in runs[1:]) / csv_mb,
        "runs": runs,
        "targets": {"h2o_seconds": H2O_SECONDS, "h2o_mb": H2O_MB, "goal_seconds": GOAL_SECONDS,
                    "goal_mb": GOAL_MB, "goal_rss_over_csv": GOAL_RSS_RATIO},
    }


def _verdict(ok: bool) -> str:
    return "meets goal" if ok else "MISSES goal"


def format_report(r: dict[str, Any]) -> str:
    """The human-readable report of :func:`run`'s figures."""
    warm, first = r["warm_max_extra_peak_over_csv"], r["first_extra_peak_over_csv"]
    lines = [
        format_machine(r["machine"]),
        f"csv: {r['csv']} ({r['csv_mb']:.1f} MB); Numba cache files before the run: {r['numba_cache_files_before']}"
        f"{'' if r['numba_cache_files_before'] else ' (cold: the first import compiles)'}",
        f"frame: {r['rows']:,} rows x {r['cols']} cols in {r['chunks']} chunks per column",
        f"module import (cluster, frame): {r['module_import_s']:.2f} s (not in the times below)",
        "",
        f"import wall, first run (Numba cache load):  {r['first_s']:6.2f} s",
        f"import wall, best of {r['repeat']} repeats:           {r['best_s']:6.2f} s  (median "
        f"{r['median_s']:.2f} s)   H2O-3 3.46: {H2O_SECONDS} s, goal <= {GOAL_SECONDS:g} s: "
        f"{_verdict(r['best_s'] <= GOAL_SECONDS)}",
        f"byte_size:                                  {r['byte_size_mb']:6.1f} MB  ({r['byte_size']:,} B)   "
        f"H2O-3 3.46: {H2O_MB:.1f} MB, goal <= {GOAL_MB:g} MB: {_verdict(r['byte_size_mb'] <= GOAL_MB)}",
        "",
        f"RSS at process start {r['rss_at_start_mb']:.0f} MB, after node start {r['rss_after_node_start_mb']:.0f} MB",
        f"first run:  RSS before {r['first_rss_before_mb']:6.0f} MB, peak {r['first_peak_rss_mb']:6.0f} MB, "
        f"extra {r['first_extra_peak_mb']:6.0f} MB = {r['first_extra_peak_over_csv']:.2f} x CSV "
        f"(includes the Numba kernels' code)",
    ]
    for i, run_ in enumerate(r["runs"][1:], 1):
        lines.append(f"repeat {i}:   RSS before {run_['rss_before_mb']:6.0f} MB, peak {run_['peak_rss_mb']:6.0f} MB, "
                     f"extra {run_['extra_peak_mb']:6.0f} MB = {run_['extra_peak_mb'] / r['csv_mb']:.2f} x CSV"
                     f"{'' if run_['peak_reset'] else ' (peak not resettable: includes earlier runs)'}")
    numba_mb = r["first_extra_peak_mb"] - statistics.median(x["extra_peak_mb"] for x in r["runs"][1:])
    lines.append(f"  (first extra - median repeat extra = {numba_mb:.0f} MB: one-off costs of a process's first "
                 f"parse: the Numba kernels, LLVM, the compute threads' malloc arenas)")
    lines.append(f"parse's own extra peak, worst repeat: {warm:.2f} x CSV; goal <= {GOAL_RSS_RATIO:g} x: "
                 f"{_verdict(warm <= GOAL_RSS_RATIO)}  (first run incl. Numba: {first:.2f} x, absolute peak "
                 f"{r['first_peak_rss_mb'] / r['csv_mb']:.2f} x CSV)")
    lines.append("")
    lines.append("chunks per codec (all columns):")
    total = sum(c["bytes"] for c in r["codecs"].values()) or 1
    for codec, c in r["codecs"].items():
        lines.append(f"  {codec:10s} {c['chunks']:6d} chunks  {c['bytes'] / MB:7.2f} MB  "
                     f"({100 * c['bytes'] / total:4.1f}% of bytes)")
    return "\n".join(lines)


def parse_cpu(path: Path, repeat: int, ranges: int = 32) -> dict[str, Any]:
    """The parse alone, one thread, no cloud: boundary maps + ``parse_range`` over ``ranges`` ranges of the file
    in memory; best process CPU seconds of ``repeat`` runs (the figure a busy machine disturbs least)."""
    from frame.csv_parser import parse_range
    from frame.csv_records import boundary_map, data_start, record_starts_from_maps
    from frame.parse_setup import guess_setup
    data = path.read_bytes()
    setup = guess_setup(data[:4 << 20])
    begin = data_start(data, setup)
    bounds = np.linspace(begin, len(data), ranges + 1).round().astype(np.int64).tolist()
    best, rows = float("inf"), 0
    for _ in range(repeat + 1):          # the first run loads the Numba kernels
        t = time.process_time()
        firsts = record_starts_from_maps([(*boundary_map(data, a, b, setup), b) for a, b in zip(bounds, bounds[1:])])
        rows = sum(parse_range(data, a, b, setup, first=f).nrows for a, b, f in zip(bounds, bounds[1:], firsts))
        best = min(best, time.process_time() - t) if _ else best
    return {"machine": machine_info(), "csv": str(path), "rows": rows, "ranges": ranges, "parse_cpu_best_s": best,
            "mb_per_cpu_s": len(data) / 1e6 / best}


def main(argv: list[str] | None = None) -> int:
    from tools.bench import HelpFormatter
    ap = argparse.ArgumentParser(prog="python -m tools.bench.frames", description=__doc__.split("\n\n")[0],
                                 formatter_class=HelpFormatter)
    ap.add_argument("--csv", type=Path, default=None,
                    help="CSV to import (default: data/fmnist_train.csv, written if missing, out of date or cut short)")
    ap.add_argument("--repeat", type=int, default=3, help="warm imports after the first (default: %(default)s)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--parse-cpu", action="store_true",
                    help="measure only the parse: one thread, the file in memory, best CPU seconds (no cloud)")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error(f"--repeat must be at least 1, got {args.repeat}")
    try:
        path = ensure_csv(args.csv)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.parse_cpu:
        r = parse_cpu(path, args.repeat)
        print(json.dumps(r, indent=2) if args.json else
              f"{format_machine(r['machine'])}\nparse, one thread: {r['rows']:,} rows in {r['ranges']} ranges, best "
              f"{r['parse_cpu_best_s']:.3f} CPU s ({r['mb_per_cpu_s']:.0f} MB per CPU s)")
        return 0
    os.environ.setdefault("AQUIFER_NO_PROGRESS", "1")
    result = run(path, args.repeat)
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
