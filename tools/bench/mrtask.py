"""Benchmark of MRTask: the fixed cost of one ``do_all`` and the speed of a column sum.

For each cloud size in ``--nodes``:

* **1**: an embedded node in this process (``cluster.init``); tasks are called from this process.
* **3**: three ``python -m cluster.node`` processes on loopback, driven from a *client* in this process
  (``cluster.connect`` to the first node, which is the root of every task). The node processes import
  this module as a plugin (``--plugin tools.bench.mrtask``) so that they know its task classes, and may read
  the CSV's directory (``--data-dir``).

Two measurements on each:

1. latency of an empty task (``map`` does nothing) over a one-column frame of 1,000 rows per chunk with
   two chunks per node, so every node takes part: p50/p99/mean over ``--calls`` sequential calls after
   a warm-up. Goal: < 5 ms per call on loopback.
2. a column sum over the Fashion-MNIST train frame, imported with ``frame.import_file``, written two ways:
   ``ColumnSum`` (``cs[i].sum()`` of every column of every chunk, the issue's example) and
   ``MatrixColumnSum`` (``cs.matrix().sum(axis=0)``); throughput in GB/s of decoded float64
   (rows * cols * 8 bytes / wall time), best of ``--repeat``, against ``a.sum(axis=0)`` of the same
   data as one C-ordered float64 numpy array in this process. Goal: within 2x of numpy.

``--breakdown`` adds, on the embedded node, the decode path timed piece by piece outside MRTask (per
codec; the fixed cost of a decode call; a decode call per column against ChunkSet's read-ahead against
a whole chunk in one call; read-ahead on one and two threads), to show where a column sum's time goes.

Every node process is killed (process group, SIGKILL) on the way out whatever happens; every wait has a
deadline.

Example::

    python -m tools.bench.mrtask                      # 1 and 3 nodes, human-readable
    python -m tools.bench.mrtask --nodes 3 --calls 500 --json
    python -m tools.bench.mrtask --nodes 1 --breakdown
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import cluster
from cluster import MRTask

GB = 1e9
GOAL_OVERHEAD_MS = 5.0
GOAL_SUM_SLOWDOWN = 2.0
PLUGIN = "tools.bench.mrtask"
SUM_TASKS = {"ColumnSum": "cs[i].sum() per column", "MatrixColumnSum": "cs.matrix().sum(axis=0)"}


# ------------------------------------------------------------------------------------------ tasks
class EmptyTask(MRTask):
    """Does nothing per chunk: what is left is the fixed cost of a task."""

    def map(self, cs) -> None:
        pass


class ColumnSum(MRTask):
    """Per-column sums of every selected column (NaN propagates, like numpy's ``sum``).

    >>> t = ColumnSum()
    >>> t.sums, t.rows
    (None, 0)
    """
    sums: np.ndarray = None
    rows: int = 0

    def map(self, cs) -> None:
        self.sums = np.array([cs[i].sum() for i in range(len(cs))])
        self.rows = cs.nrows

    def reduce(self, other: "ColumnSum") -> None:
        if other.sums is not None:
            self.sums = other.sums if self.sums is None else self.sums + other.sums
        self.rows += other.rows


class MatrixColumnSum(ColumnSum):
    """The same sums from ``cs.matrix()``: every column of a chunk decoded in one call, summed in one."""

    def map(self, cs) -> None:
        self.sums = cs.matrix().sum(axis=0)
        self.rows = cs.nrows


def task_classes() -> tuple[type[EmptyTask], type[ColumnSum], type[MatrixColumnSum]]:
    """The task classes as registered under this module's import name.

    Run as ``python -m tools.bench.mrtask`` this file is ``__main__``, and a class's registry name is
    ``module.qualname``: the node processes know ``tools.bench.mrtask.ColumnSum``, not
    ``__main__.ColumnSum``, so the driver must use the classes of the imported module.
    """
    module = importlib.import_module(PLUGIN)
    return module.EmptyTask, module.ColumnSum, module.MatrixColumnSum


# ------------------------------------------------------------------------------------------ clouds
def start_node_processes(launcher, n: int, timeout: float, data_dir: Path) -> list:
    """Start ``n`` node processes that load this module as a plugin and may read ``data_dir``; wait
    (``timeout``) for the cloud.

    They are started here rather than by ``Launcher.start``, which adds the test suite's plugin and path;
    they join ``launcher.procs`` so that ``launcher.cleanup()`` kills them.
    """
    from tests.cloudkit import REPO, NodeProc, free_port_pair
    ports = [free_port_pair() for _ in range(n)]
    name = f"mrbench{ports[0]}"
    flatfile = launcher.flatfile([f"127.0.0.1:{p}" for p in ports], f"flat-{name}.txt")
    # only this plugin (the frame layer is a default plugin of every node), and no tests/ on the path
    env = dict(os.environ, PYTHONPATH=str(REPO), AQUIFER_NO_PROGRESS="1")
    nodes = []
    for port in ports:
        log_path = launcher.tmp / f"node-{port}.log"
        cmd = [sys.executable, "-m", "cluster.node", "--port", str(port), "--ip", "127.0.0.1", "--name", name,
               "--log-level", "INFO", "--flatfile", str(flatfile), "--cloud-size", str(n), "--plugin", PLUGIN,
               "--data-dir", str(data_dir)]
        with open(log_path, "wb") as fh:
            proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                    cwd=str(REPO), start_new_session=True)
        node = NodeProc(port, "127.0.0.1", proc, log_path)
        launcher.procs.append(node)
        nodes.append(node)
    formed = f"cloud formed: name={name} size={n} "
    deadline = time.monotonic() + timeout
    while not all(formed in node.log() for node in nodes):
        for node in nodes:
            if node.proc.poll() is not None:
                raise RuntimeError(f"node {node.address} exited with {node.proc.returncode}; log ends:\n"
                                   + "\n".join(node.log().splitlines()[-10:]))
        if time.monotonic() > deadline:
            raise TimeoutError(f"a cloud of {n} node processes did not form within {timeout:g} s")
        time.sleep(0.05)
    return nodes


# ------------------------------------------------------------------------------------------ measurements
def percentiles_ms(seconds: list[float]) -> dict[str, float]:
    """p50/p99/mean/min in milliseconds.

    >>> percentiles_ms([0.001, 0.002, 0.003])["p50_ms"]
    2.0
    """
    p50, p99 = np.percentile(np.asarray(seconds) * 1e3, [50, 99])
    return {"p50_ms": round(float(p50), 3), "p99_ms": round(float(p99), 3),
            "mean_ms": round(statistics.fmean(seconds) * 1e3, 3), "min_ms": round(min(seconds) * 1e3, 3),
            "calls": len(seconds)}


def empty_latency(cloud, n_nodes: int, calls: int, warmup: int = 20) -> dict[str, Any]:
    """Sequential empty ``do_all`` calls over a small frame with two chunks on every node."""
    from frame import Frame
    empty_cls = task_classes()[0]
    nchunks = 2 * n_nodes
    fr = Frame.from_numpy(np.zeros((1000 * nchunks, 1)), nchunks=nchunks, cloud=cloud)
    try:
        homes = sorted(set(fr.homes))
        if len(homes) != n_nodes:
            raise RuntimeError(f"the latency frame's chunks sit on {len(homes)} nodes, expected {n_nodes}")
        for _ in range(warmup):
            empty_cls().do_all(fr, cloud=cloud)
        times = []
        for _ in range(calls):
            t0 = time.perf_counter()
            empty_cls().do_all(fr, cloud=cloud)
            times.append(time.perf_counter() - t0)
    finally:
        fr.remove()
    return {**percentiles_ms(times), "chunks": nchunks, "nodes_with_chunks": len(homes)}


def column_sum(cloud, csv: Path, repeat: int) -> dict[str, Any]:
    """Import ``csv``; sum its columns with each sum task ``repeat`` times and with numpy; figures and checks."""
    import frame
    t0 = time.perf_counter()
    fr = frame.import_file(str(csv), header=False, cloud=cloud)
    import_s = time.perf_counter() - t0
    tasks = {}
    try:
        rows, cols = fr.shape
        decoded = rows * cols * 8
        for cls in task_classes()[1:]:
            cls().do_all(fr, cloud=cloud)             # warm-up: first map on each node
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                task = cls().do_all(fr, cloud=cloud)
                times.append(time.perf_counter() - t0)
            if task.rows != rows:
                raise RuntimeError(f"{cls.__name__} saw {task.rows} rows, the frame has {rows}")
            tasks[cls.__name__] = (times, task.sums)
        a = np.ascontiguousarray(fr.as_numpy(), dtype=np.float64)
        nchunks, homes = fr.nchunks, sorted(set(fr.homes))
    finally:
        fr.remove()
    np_times = []
    for _ in range(max(repeat, 5)):
        t0 = time.perf_counter()
        expected = a.sum(axis=0)
        np_times.append(time.perf_counter() - t0)
    np_best = min(np_times)
    out = {"rows": rows, "cols": cols, "chunks": nchunks, "nodes_with_chunks": len(homes),
           "import_s": round(import_s, 3), "decoded_gb": decoded / GB, "numpy_best_s": np_best,
           "numpy_gb_s": a.nbytes / np_best / GB, "repeat": repeat, "tasks": {}}
    for name, (times, sums) in tasks.items():
        best = min(times)
        # integer pixels: every partial sum is exact in float64, so the sums must agree to the bit
        out["tasks"][name] = {"best_s": best, "median_s": statistics.median(times), "gb_s": decoded / best / GB,
                              "slowdown_vs_numpy": best / np_best, "sums_equal_numpy": bool(np.array_equal(sums, expected))}
    return out


def _thread_cpu_and_faults() -> tuple[float, int]:
    r = resource.getrusage(resource.RUSAGE_THREAD)
    return r.ru_utime + r.ru_stime, r.ru_minflt


def _timed(fn, repeat: int) -> dict[str, float]:
    """Best of ``repeat`` runs of ``fn()`` in this thread: wall ms, this thread's CPU ms, minor page faults."""
    fn()
    best = None
    for _ in range(repeat):
        cpu0, flt0 = _thread_cpu_and_faults()
        t0 = time.perf_counter()
        fn()
        wall = time.perf_counter() - t0
        cpu1, flt1 = _thread_cpu_and_faults()
        if best is None or wall < best["wall_ms"] / 1e3:
            best = {"wall_ms": wall * 1e3, "cpu_ms": (cpu1 - cpu0) * 1e3, "minor_faults": flt1 - flt0}
    return {k: round(v, 1) for k, v in best.items()}


def decode_breakdown(cloud, csv: Path, repeat: int) -> dict[str, Any]:
    """Where a column sum's time goes on an embedded node, measured outside MRTask on the same chunk values.

    * per codec: decode time per row (``frame.chunks.decode_float64``, one chunk at a time, this thread);
    * the fixed cost of one decode call (an 8-row chunk);
    * one thread over all chunks, two ways: every column of a chunk decoded and kept until the map ends
      (what a ChunkSet that caches its decoded columns holds during ``ColumnSum.map``), against decode,
      sum and drop column by column;
    * the column-by-column loop on a pool of 1 and of 2 threads (wall): does a second thread help?
    """
    from concurrent.futures import ThreadPoolExecutor

    import frame
    from cluster.mrtask import ChunkSet
    from frame.chunks import ColumnBlock, chunk_rows, decode_float64, encode_chunk
    fr = frame.import_file(str(csv), header=False, cloud=cloud)
    try:
        store = cloud.node.dkv.store
        chunks = [[store[fr.chunk_keys(col)[i]] for col in range(fr.ncols)] for i in range(fr.nchunks)]
    finally:
        fr.remove()          # the values stay alive in ``chunks``

    per_codec: dict[str, list[float]] = {}
    for values in chunks:
        for v in values:
            decode_float64(v)                               # warm: first call loads the Numba kernel
            t0 = time.perf_counter()
            decode_float64(v)
            dt = time.perf_counter() - t0
            acc = per_codec.setdefault(v.meta["codec"], [0, 0, 0.0])
            acc[0] += 1
            acc[1] += int(v.meta["nrows"])
            acc[2] += dt
    codecs = {c: {"chunks": n, "rows": rows, "total_ms": round(s * 1e3, 1), "ns_per_row": round(s / rows * 1e9, 2),
                  "us_per_chunk": round(s / n * 1e6, 1), "float64_gb_s": round(rows * 8 / s / GB, 2)}
              for c, (n, rows, s) in sorted(per_codec.items(), key=lambda kv: -kv[1][2])}
    tiny = encode_chunk(np.arange(8.0), "numeric")
    fixed = _timed(lambda: [decode_float64(tiny) for _ in range(10_000)], repeat)

    def one_by_one(vals):            # the old path: one decode call per column
        return np.array([decode_float64(v).sum() for v in vals])

    def read_ahead(vals):            # what ColumnSum's map does: cs[i] decoded in runs
        cs = ChunkSet(0, 0, chunk_rows(vals[0]), vals, 0, decode=decode_float64, block=ColumnBlock)
        return np.array([cs[i].sum() for i in range(len(cs))])

    def whole_block(vals):           # every column of the chunk in one kernel call, not summed
        ColumnBlock(vals).decode(0, len(vals))

    pools = {}
    for threads in (1, 2):
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(read_ahead, chunks))
            walls = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                list(pool.map(read_ahead, chunks))
                walls.append(time.perf_counter() - t0)
            pools[f"{threads}_threads_wall_ms"] = round(min(walls) * 1e3, 1)
    return {
        "column_chunks": sum(len(v) for v in chunks), "rows_per_chunk": int(chunks[0][0].meta["nrows"]),
        "codecs": codecs, "fixed_us_per_decode_call": round(fixed["cpu_ms"] / 10_000 * 1e3, 2),
        "one_thread_one_by_one": _timed(lambda: [one_by_one(v) for v in chunks], repeat),
        "one_thread_read_ahead": _timed(lambda: [read_ahead(v) for v in chunks], repeat),
        "one_thread_whole_block": _timed(lambda: [whole_block(v) for v in chunks], repeat),
        "pool_read_ahead": pools,
    }


def bench_one(cloud, n_nodes: int, calls: int, csv: Path, repeat: int, driver: str) -> dict[str, Any]:
    return {"nodes": n_nodes, "driver": driver, "empty": empty_latency(cloud, n_nodes, calls),
            "column_sum": column_sum(cloud, csv, repeat)}


def run(node_counts: list[int], calls: int, csv: Path, repeat: int, timeout: float,
        breakdown: bool = False) -> dict[str, Any]:
    """Every requested cloud size in turn; each cloud is shut down (its processes killed) before the next.
    ``breakdown`` adds :func:`decode_breakdown` on an embedded node."""
    from tests.cloudkit import Launcher
    from tools.bench.frames import machine_info
    results, extra = [], None
    if breakdown and 1 not in node_counts:
        raise ValueError("--breakdown measures on the embedded node: include 1 in --nodes")
    for n in node_counts:
        if n == 1:
            cloud = cluster.init(port=None, progress=False, verbose=False)
            try:
                results.append(bench_one(cloud, 1, calls, csv, repeat, "embedded node (cluster.init), same process"))
                if breakdown:
                    extra = decode_breakdown(cloud, csv, repeat)
            finally:
                cloud.shutdown()
            continue
        with tempfile.TemporaryDirectory(prefix="mrbench-") as tmp:
            launcher = Launcher(Path(tmp))
            try:
                nodes = start_node_processes(launcher, n, timeout, csv.resolve().parent)
                client = cluster.connect(nodes[0].address, timeout=10, progress=False)
                try:
                    results.append(bench_one(client, n, calls, csv, repeat,
                                             f"client (cluster.connect) of {n} node processes"))
                finally:
                    client.shutdown()
            finally:
                launcher.cleanup()
    return {"machine": machine_info(), "csv": str(csv), "results": results, "breakdown": extra,
            "goals": {"overhead_ms": GOAL_OVERHEAD_MS, "sum_slowdown_vs_numpy": GOAL_SUM_SLOWDOWN}}


def _verdict(ok: bool) -> str:
    return "meets goal" if ok else "MISSES goal"


def format_report(r: dict[str, Any]) -> str:
    """The human-readable report of :func:`run`'s figures."""
    from tools.bench.frames import format_machine
    lines = [format_machine(r["machine"])]
    for res in r["results"]:
        e, s = res["empty"], res["column_sum"]
        lines += [
            "",
            f"== {res['nodes']} node(s); tasks called from: {res['driver']}",
            f"empty do_all ({e['chunks']} chunks on {e['nodes_with_chunks']} nodes, {e['calls']} calls): "
            f"p50 {e['p50_ms']:.2f} ms, p99 {e['p99_ms']:.2f} ms, mean {e['mean_ms']:.2f} ms; goal < "
            f"{GOAL_OVERHEAD_MS:g} ms: {_verdict(e['p50_ms'] < GOAL_OVERHEAD_MS)}",
            f"column sum of {s['rows']:,} x {s['cols']} ({s['decoded_gb']:.3f} GB as float64, {s['chunks']} chunks "
            f"on {s['nodes_with_chunks']} nodes; import {s['import_s']:.2f} s):",
            f"  numpy   best {s['numpy_best_s'] * 1e3:7.1f} ms = {s['numpy_gb_s']:5.2f} GB/s  (a.sum(axis=0), "
            f"one C-ordered float64 array)",
        ]
        for name, t in s["tasks"].items():
            how = SUM_TASKS[name]
            lines += [
                f"  {name:15s} best {t['best_s'] * 1e3:7.1f} ms (median {t['median_s'] * 1e3:.1f}) = "
                f"{t['gb_s']:5.2f} GB/s; {t['slowdown_vs_numpy']:.1f}x numpy (goal <= {GOAL_SUM_SLOWDOWN:g}x: "
                f"{_verdict(t['slowdown_vs_numpy'] <= GOAL_SUM_SLOWDOWN)}); sums equal numpy: "
                f"{t['sums_equal_numpy']}  [{how}]",
            ]
    b = r.get("breakdown")
    if b:
        lines += ["", f"== breakdown on the embedded node, one thread unless said ({b['column_chunks']} column chunks "
                      f"of {b['rows_per_chunk']} rows; best of --repeat)"]
        for codec, c in b["codecs"].items():
            lines.append(f"  decode {codec:10s} {c['chunks']:6d} chunks {c['total_ms']:7.1f} ms  {c['us_per_chunk']:6.1f} "
                         f"us/chunk  {c['ns_per_row']:5.2f} ns/row  {c['float64_gb_s']:5.2f} GB/s of float64")
        lines.append(f"  fixed cost of one decode call (8-row chunk): {b['fixed_us_per_decode_call']:.2f} us")
        for key, label in (("one_thread_one_by_one", "decode + sum, one decode call per column"),
                           ("one_thread_read_ahead", "decode + sum through ChunkSet read-ahead"),
                           ("one_thread_whole_block", "decode only, a whole chunk per call")):
            x = b[key]
            lines.append(f"  {label:46s} wall {x['wall_ms']:6.1f} ms  cpu {x['cpu_ms']:6.1f} ms  "
                         f"minor faults {x['minor_faults']:.0f}")
        p = b["pool_read_ahead"]
        lines.append(f"  read-ahead decode + sum on a thread pool: 1 thread {p['1_threads_wall_ms']:.1f} ms, "
                     f"2 threads {p['2_threads_wall_ms']:.1f} ms (wall)")
    return "\n".join(lines)


def parse_nodes(text: str) -> list[int]:
    """``"1,3"`` -> [1, 3]; sizes must be positive integers.

    >>> parse_nodes("1,3")
    [1, 3]
    """
    try:
        sizes = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"--nodes takes comma-separated cloud sizes such as 1,3, got {text!r}") from None
    if not sizes or any(n < 1 for n in sizes):
        raise ValueError(f"--nodes takes positive cloud sizes such as 1,3, got {text!r}")
    return sizes


def main(argv: list[str] | None = None) -> int:
    from tools.bench.frames import ensure_csv
    from tools.bench import HelpFormatter
    ap = argparse.ArgumentParser(prog="python -m tools.bench.mrtask", description=__doc__.split("\n\n")[0],
                                 formatter_class=HelpFormatter)
    ap.add_argument("--nodes", default="1,3", help="cloud sizes to measure (default: %(default)s)")
    ap.add_argument("--calls", type=int, default=200, help="empty do_all calls per cloud (default: %(default)s)")
    ap.add_argument("--repeat", type=int, default=5, help="column-sum runs per cloud (default: %(default)s)")
    ap.add_argument("--csv", type=Path, default=None,
                    help="CSV for the column sum (default: data/fmnist_train.csv, written if missing, out of date "
                         "or cut short)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds for a cloud to form (default: %(default)s)")
    ap.add_argument("--breakdown", action="store_true",
                    help="also time the decode path piece by piece on the embedded node (needs 1 in --nodes)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args(argv)
    try:
        sizes = parse_nodes(args.nodes)
        if args.breakdown and 1 not in sizes:
            raise ValueError("--breakdown measures on the embedded node: include 1 in --nodes")
        if args.calls < 1 or args.repeat < 1:
            raise ValueError(f"--calls and --repeat must be at least 1, got {args.calls} and {args.repeat}")
        csv = ensure_csv(args.csv)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    os.environ.setdefault("AQUIFER_NO_PROGRESS", "1")
    result = run(sizes, args.calls, csv, args.repeat, args.timeout, args.breakdown)
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
