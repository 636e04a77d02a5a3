"""Benchmark of the REST API and web UI on a node that holds ``--keys`` DKV keys while Deep Learning trains on it.

Two measurements, on one real ``python -m cluster.node`` process (REST port = its ``--port``):

1. **latency and throughput** of ``GET /3/Cloud`` and ``GET /3/Frames`` (first page, 50 frames with their
   sizes) while a Deep Learning job trains on the node: ``--clients`` threads, each with one keep-alive HTTP
   connection, send requests back to back for ``--seconds``; requests/s, p50 and p99 latency;
2. **training throughput with and without the UI polling**: the same training run (``--rows`` x 50 numeric
   columns, hidden 64,64, ``--epochs``, half an epoch per iteration, scored at the first and last iteration
   only) with nobody watching, then with a browser's polling every second (the
   jobs page and the job page: ``/3/Jobs``, ``/3/Jobs/{id}``, plus ``/3/Cloud``), alternating ``--runs``
   times; samples/s = rows x epochs / the job's own duration; the median slowdown must stay under 2 %. On a
   machine shared with other work the run-to-run noise of that comparison can exceed 2 %, so the node's own CPU
   time spent on the polling is measured too (idle node, ``/proc/<pid>/stat``, against an idle baseline):
   training is CPU-bound, so the polling cannot take more than that share of it; and each training run's
   samples per node CPU-second (the node's CPU time, which other processes' load does not inflate).

The keys are 40 frames of 1,000 rows x 10 columns in 4 chunks (1,640 keys), the training frame, and small
filler values up to ``--keys``. The load generator runs on the same machine as the node (it takes CPU from it:
figures are a lower bound on a dedicated node).

Example::

    python -m tools.bench.web                    # the defaults (~4 minutes on 2 cores)
    python -m tools.bench.web --keys 2000 --seconds 3 --runs 1 --epochs 2 --json
"""
from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

import cluster
from cluster.dkv import Value
from frame import Frame
from tests.cloudkit import Launcher
from tools.bench.cloud import machine_info


class Client:
    """One keep-alive HTTP connection; ``get`` returns (status, parsed JSON, seconds)."""

    def __init__(self, address: str):
        host, port = address.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60)

    def request(self, method: str, path: str, body=None):
        t0 = time.perf_counter()
        data = None if body is None else json.dumps(body).encode()
        self.conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
        resp = self.conn.getresponse()
        payload = json.loads(resp.read())
        return resp.status, payload, time.perf_counter() - t0


def make_keys(cloud, total: int, rows: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    for i in range(40):
        Frame.from_numpy(rng.random((1000, 10)), destination_frame=f"bench_{i:02d}", nchunks=4, cloud=cloud)
    x = rng.normal(size=(rows, 50))
    y = x[:, :5].sum(axis=1) + 0.1 * rng.normal(size=rows)
    Frame.from_numpy(np.column_stack([x, y]), names=[f"x{j}" for j in range(50)] + ["y"],
                     destination_frame="bench_train", cloud=cloud)
    have = len(cloud.dkv.keys(""))
    filler = [(f"bench/filler/{i}", Value("bench", {"i": i})) for i in range(max(0, total - have))]
    for start in range(0, len(filler), 2000):
        cloud.dkv.put_many(filler[start:start + 2000])


def start_training(client: Client, epochs: float, rows: int, seed: int = 1) -> str:
    # fixed iterations (half an epoch) and scoring only at the first and last one: the auto-tuned iteration size
    # and the scoring duty cycle would make run-to-run noise larger than what is measured
    status, r, _ = client.request("POST", "/3/ModelBuilders/deeplearning", {
        "training_frame": "bench_train", "response_column": "y", "hidden": [64, 64], "epochs": epochs,
        "seed": seed, "variable_importances": False, "train_samples_per_iteration": rows // 2,
        "score_interval": 1e6})
    if status != 200:
        raise RuntimeError(f"training did not start: {r}")
    return r["job"]["job_id"]


def wait_job(client: Client, job_id: str, timeout: float = 900.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, job, _ = client.request("GET", f"/3/Jobs/{job_id}")
        if job["status"] not in ("CREATED", "RUNNING"):
            return job
        time.sleep(2.0)           # the same light wait with and without the UI polling
    raise TimeoutError(f"job {job_id} still running after {timeout:g} s")


def poll_like_the_ui(address: str, job_id: str, stop: threading.Event) -> int:
    client, n = Client(address), 0
    while not stop.wait(1.0):
        for path in ("/3/Cloud", "/3/Jobs?offset=0&limit=50", f"/3/Jobs/{job_id}"):
            client.request("GET", path)
            n += 1
    return n


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    import os
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ui_cpu_cost(address: str, pid: int, job_id: str, seconds: float) -> dict:
    """Node CPU used per second of the UI's polling, over an idle baseline of the same length (heartbeats)."""
    c0 = cpu_seconds(pid)
    time.sleep(seconds)
    idle = (cpu_seconds(pid) - c0) / seconds
    stop = threading.Event()
    timer = threading.Timer(seconds, stop.set)
    timer.start()
    c0 = cpu_seconds(pid)
    n = poll_like_the_ui(address, job_id, stop)
    polled = (cpu_seconds(pid) - c0) / seconds
    return {"idle_cpu_per_s": idle, "polling_cpu_per_s": polled, "ui_requests": n,
            "ui_share_of_one_core_percent": 100 * max(0.0, polled - idle)}


def training_rate(address: str, pid: int, rows: int, epochs: float, poll: bool) -> dict:
    client = Client(address)
    c0 = cpu_seconds(pid)
    job_id = start_training(client, epochs, rows)
    stop, polled = threading.Event(), []
    poller = threading.Thread(target=lambda: polled.append(poll_like_the_ui(address, job_id, stop))) if poll else None
    if poller:
        poller.start()
    try:
        job = wait_job(client, job_id)
    finally:
        stop.set()
        if poller:
            poller.join()
    cpu = cpu_seconds(pid) - c0
    if job["status"] != "DONE":
        raise RuntimeError(f"training ended {job['status']}: {job['error']}")
    seconds = job["end"] - job["start"]
    return {"poll": poll, "seconds": seconds, "samples_per_s": rows * epochs / seconds, "node_cpu_s": cpu,
            "samples_per_cpu_s": rows * epochs / cpu, "ui_requests": polled[0] if polled else 0}


def load(address: str, path: str, clients: int, seconds: float) -> dict:
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker():
        client, mine = Client(address), []
        while time.monotonic() < deadline:
            status, body, dt = client.request("GET", path)
            if status != 200:
                errors.append(f"{status} {body}")
                break
            mine.append(dt)
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{path}: {errors[0]}")
    q = np.quantile(np.array(lat) * 1000, [0.5, 0.99])
    return {"path": path, "requests": len(lat), "requests_per_s": len(lat) / wall, "p50_ms": float(q[0]),
            "p99_ms": float(q[1])}


def run(args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        kit = Launcher(Path(tmp))
        try:
            node = kit.cloud(1)[0]
            cloud = cluster.connect(node.address, progress=False)
            try:
                make_keys(cloud, args.keys, args.rows)
                keys = len(cloud.dkv.keys(""))
            finally:
                cloud.shutdown()
            client = Client(node.address)
            job_id = start_training(client, 1e6, args.rows)   # trains for the whole load test
            loads = [load(node.address, path, args.clients, args.seconds) for path in ("/3/Cloud", "/3/Frames")]
            client.request("POST", f"/3/Jobs/{job_id}/cancel", {})
            wait_job(client, job_id)
            cost = ui_cpu_cost(node.address, node.proc.pid, job_id, args.seconds)
            runs = [training_rate(node.address, node.proc.pid, args.rows, args.epochs, poll)
                    for _ in range(args.runs) for poll in (False, True)]
        finally:
            kit.cleanup()
    med = {f"{what}_{k}": statistics.median(r[k] for r in runs if r["poll"] == (what == "ui_polling"))
           for what in ("quiet", "ui_polling") for k in ("samples_per_s", "samples_per_cpu_s")}
    return {"machine": machine_info(), "keys": keys, "clients": args.clients, "load": loads, "ui_cost": cost,
            "training": runs, "median": med,
            "slowdown_percent": 100 * (1 - med["ui_polling_samples_per_s"] / med["quiet_samples_per_s"]),
            "cpu_slowdown_percent": 100 * (1 - med["ui_polling_samples_per_cpu_s"] / med["quiet_samples_per_cpu_s"])}


def report(r: dict) -> str:
    m = r["machine"]
    lines = [f"machine:  {m['platform']}; CPU {m['cpu']}; {m['cores']} cores; Python {m['python']}",
             f"node:     1 process, {r['keys']:,} keys in its DKV, a Deep Learning job training during the load test",
             f"load:     {r['clients']} keep-alive clients on the same machine", ""]
    for x in r["load"]:
        lines.append(f"GET {x['path']:<12} {x['requests_per_s']:8.1f} req/s   p50 {x['p50_ms']:7.1f} ms   "
                     f"p99 {x['p99_ms']:7.1f} ms   ({x['requests']} requests)")
    c = r["ui_cost"]
    lines += ["", f"UI polling (3 requests/s: /3/Cloud, /3/Jobs, /3/Jobs/{{id}}): node CPU {1000 * c['polling_cpu_per_s']:.1f} "
              f"ms/s vs {1000 * c['idle_cpu_per_s']:.1f} ms/s idle: {c['ui_share_of_one_core_percent']:.2f} % of one core", ""]
    for t in r["training"]:
        lines.append(f"training {'with UI polling' if t['poll'] else 'quiet         '}  {t['samples_per_s']:9,.0f} "
                     f"samples/s  {t['samples_per_cpu_s']:9,.0f} samples per node CPU-s  ({t['seconds']:.1f} s"
                     f"{', %d UI requests' % t['ui_requests'] if t['poll'] else ''})")
    m = r["median"]
    lines.append(f"median samples/s: quiet {m['quiet_samples_per_s']:,.0f}, with UI polling "
                 f"{m['ui_polling_samples_per_s']:,.0f}: slowdown {r['slowdown_percent']:+.2f} % (wall clock)")
    lines.append(f"median samples per node CPU-second: quiet {m['quiet_samples_per_cpu_s']:,.0f}, with UI polling "
                 f"{m['ui_polling_samples_per_cpu_s']:,.0f}: slowdown {r['cpu_slowdown_percent']:+.2f} % (CPU)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from tools.bench import HelpFormatter
    p = argparse.ArgumentParser(prog="python -m tools.bench.web", description=__doc__.split("\n\n")[0],
                                formatter_class=HelpFormatter)
    p.add_argument("--keys", type=int, default=10_000, help="DKV keys on the node (default 10,000)")
    p.add_argument("--seconds", type=float, default=10.0, help="load per endpoint (default 10 s)")
    p.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients (default 4)")
    p.add_argument("--rows", type=int, default=20_000, help="training rows (default 20,000)")
    p.add_argument("--epochs", type=float, default=10.0, help="epochs of each training run (default 10)")
    p.add_argument("--runs", type=int, default=5, help="training runs per setting, alternating (default 5)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    args = p.parse_args(argv)
    r = run(args)
    print(json.dumps(r, indent=2) if args.json else report(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
