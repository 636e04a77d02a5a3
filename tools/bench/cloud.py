"""Benchmark of the cloud runtime on this machine, all on loopback: formation, failure detection, RPC.

The measurements, each on real ``python -m cluster.node`` processes started from one flatfile:

1. formation: launch K node processes, time until the last one logs ``cloud formed: ... size=K``
   (taken from the nodes' own log timestamps), median over ``--rounds``;
2. failure detection: 3 node processes plus an embedded member (``cluster.init``), cloud locked,
   one process SIGKILLed; time until the embedded node's ``cloud.status()`` calls it ``suspect``
   and ``dead`` (polled every few milliseconds);
3. RPC: ``echo`` of a small payload from an embedded node to a node process, sequential latency
   p50/p99 (from the caller's thread and on the event loop), and throughput with many calls in flight;
4. a 10 MiB numpy array echoed the same way: round-trip time and MiB/s;
5. with ``--security``: CURVE against plain TCP, interleaved so that the machine's load weighs on both
   alike: two one-node clouds, one with ``--security-dir`` (keys made by ``cluster.security.make_security_dir``),
   one client each (``cluster.connect``); sequential echoes in alternating blocks of 50, throughput rounds
   and 10 MiB array echoes alternating call by call;
6. with ``--parts replication`` (not in the default parts: it needs Fashion-MNIST): import time and DKV bytes
   with R=1 and R=2, and after a SIGKILL the time until every key is served again and until R is restored
   (:mod:`tools.bench.replication`).

Every process started is killed (process group, SIGKILL) on the way out, whatever happens, and every
wait has a deadline.

Example::

    python -m tools.bench.cloud                        # everything, human-readable
    python -m tools.bench.cloud --sizes 2,4 --rounds 1 --parts formation --json
    python -m tools.bench.cloud --parts rpc --security --calls 500   # CURVE against plain, interleaved
    python -m tools.bench.cloud --parts replication --rounds 3        # R=1 against R=2, a SIGKILL healed
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import os
import platform
import random
import shlex
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

import cluster
from tests.cloudkit import Launcher, NodeProc, free_port_pair
from tools.bench import replication

PARTS = ("formation", "detection", "rpc", "array")
EXTRA_PARTS = ("replication",)                # measured only when asked for
LOG_TIME_FORMAT = "%Y-%m-%d %H:%M:%S,%f"      # logging's default asctime, as cluster.node writes it
SMALL_PAYLOAD = b"\x5a" * 64                  # inline in the msgpack body (below the 64 KiB out-of-band limit)


# ------------------------------------------------------------------------------------------ machine
def machine_info() -> dict[str, Any]:
    """What the figures were measured on.

    >>> sorted(machine_info())  # doctest: +SKIP
    ['cores', 'cpu', 'libzmq', 'loadavg_1_5_15', 'numpy', 'platform', 'python', 'pyzmq']
    """
    import zmq
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"platform": platform.platform(), "cpu": cpu, "cores": os.cpu_count() or 1,
            "python": platform.python_version(), "numpy": np.__version__, "pyzmq": zmq.__version__,
            "libzmq": zmq.zmq_version(), "loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()]}


# ------------------------------------------------------------------------------------------ helpers
def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float) -> Any:
    """Poll ``predicate`` until it returns something truthy; TimeoutError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def log_line_time(node: NodeProc, text: str) -> float | None:
    """Wall-clock time (epoch seconds) of the first log line of ``node`` containing ``text``, or None."""
    for line in node.log().splitlines():
        if text in line:
            return dt.datetime.strptime(line[:23], LOG_TIME_FORMAT).timestamp()
    return None


def log_tail(node: NodeProc, lines: int = 8) -> str:
    return "\n".join(f"    {line}" for line in node.log().splitlines()[-lines:])


def summary(values: list[float]) -> dict[str, float]:
    """Median, min and max; NaN for all three when there are no values.

    >>> summary([3.0, 1.0, 2.0])
    {'median': 2.0, 'min': 1.0, 'max': 3.0}
    """
    if not values:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan")}
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def percentiles_us(seconds: list[float]) -> dict[str, float]:
    p50, p99 = np.percentile(np.asarray(seconds) * 1e6, [50, 99])
    return {"p50_us": round(float(p50), 1), "p99_us": round(float(p99), 1), "n": len(seconds)}


def start_cloud(launcher: Launcher, n: int, name: str, cloud_size: int,
                security_dir: Path | None = None) -> tuple[list[NodeProc], Path, float]:
    """Start ``n`` node processes from one flatfile (on CURVE with ``security_dir``); returns them, the flatfile
    and the launch wall time."""
    ports = [free_port_pair() for _ in range(n)]
    flatfile = launcher.flatfile([f"127.0.0.1:{p}" for p in ports], f"flat-{name}.txt")
    keys = ["--security-dir", str(security_dir)] if security_dir else []
    t_launch = time.time()
    nodes = [launcher.start(p, flatfile, name=name, extra=["--cloud-size", str(cloud_size), *keys]) for p in ports]
    return nodes, flatfile, t_launch


def stop_all(launcher: Launcher) -> None:
    launcher.cleanup()
    launcher.procs.clear()


# ------------------------------------------------------------------------------------------ 1. formation
def formation_round(launcher: Launcher, k: int, name: str, timeout: float) -> dict[str, float]:
    """Launch ``k`` nodes, wait for all to log the formed cloud of size ``k``, return times from launch."""
    nodes, _, t_launch = start_cloud(launcher, k, name, k)
    # the trailing space keeps "size=1" from matching "size=16"
    formed_text = f"cloud formed: name={name} size={k} "

    def all_formed() -> bool:
        for node in nodes:
            if node.proc.poll() is not None:
                raise RuntimeError(f"node {node.address} exited with {node.proc.returncode} before the cloud "
                                   f"formed; its log ends:\n{log_tail(node)}")
        return all(formed_text in node.log() for node in nodes)

    try:
        wait_for(all_formed, timeout, f"a cloud of {k} to form", interval=0.05)
    except TimeoutError as exc:
        missing = [n for n in nodes if formed_text not in n.log()]
        raise TimeoutError(f"{exc}: {len(missing)} of {k} nodes never logged {formed_text.strip()!r}; "
                           f"log of {missing[0].address} ends:\n{log_tail(missing[0])}") from None
    started = [log_line_time(n, " started (cloud ") for n in nodes]
    formed = [log_line_time(n, formed_text) for n in nodes]
    return {"all_started_s": max(started) - t_launch, "first_formed_s": min(formed) - t_launch,
            "all_formed_s": max(formed) - t_launch}


def bench_formation(sizes: list[int], rounds: int, timeout: float, tmp: Path) -> list[dict]:
    results = []
    for k in sizes:
        per_round = []
        for r in range(rounds):
            launcher = Launcher(tmp)
            try:
                per_round.append(formation_round(launcher, k, f"bench-{os.getpid()}-form{k}-{r}", timeout))
            finally:
                stop_all(launcher)
        results.append({"size": k, "rounds": per_round,
                        "all_formed_s": summary([x["all_formed_s"] for x in per_round]),
                        "all_started_s": summary([x["all_started_s"] for x in per_round])})
    return results


# ------------------------------------------------------------------------------------------ 2. failure detection
def embedded_member(flatfile: Path, name: str, cloud_size: int, timeout: float) -> cluster.Cloud:
    return cluster.init(ip="127.0.0.1", port=free_port_pair(), name=name, flatfile=str(flatfile),
                        cloud_size=cloud_size, progress=False, timeout=timeout, verbose=False)


def detection_round(launcher: Launcher, name: str, timeout: float, poll: float) -> dict[str, float]:
    """3 processes + embedded member, locked; SIGKILL one; seconds until the embedded node says suspect/dead."""
    nodes, flatfile, _ = start_cloud(launcher, 3, name, 4)
    cloud = embedded_member(flatfile, name, 4, timeout)
    try:
        cloud.call("cloud.lock", {"reason": "bench"}, timeout=10)
        # the lock spreads with the heartbeats; wait for it so the victim dies in a locked cloud everywhere
        wait_for(lambda: all(cloud.call("cloud.status", node=n.address, timeout=5)["locked"] for n in nodes),
                 15, "the lock to reach every node", interval=0.1)
        victim = nodes[-1]
        cfg = cloud.node.config
        # The lock reaches the nodes with the embedded node's heartbeat, right after its failure-detector
        # tick; killing at once would always land at the same tick phase (the worst case). Spread it.
        phase = random.uniform(0.0, cfg.heartbeat_interval)
        time.sleep(phase)
        t_kill = time.perf_counter()
        os.killpg(victim.proc.pid, signal.SIGKILL)
        seen: dict[str, float] = {}

        def victim_dead() -> bool:
            state = next(m["state"] for m in cloud.status()["members"] if m["node"] == victim.address)
            if state != "healthy":
                seen.setdefault(state, time.perf_counter() - t_kill)
            return state == "dead"

        wait_for(victim_dead, cfg.dead_after + 2 * cfg.heartbeat_interval + 10,
                 f"the embedded node to declare {victim.address} dead", interval=poll)
        # a verdict straight from healthy to dead (no tick saw it suspect) leaves suspect_s None
        return {"kill_phase_s": phase, "suspect_s": seen.get("suspect"), "dead_s": seen["dead"]}
    finally:
        cloud.shutdown()


def bench_detection(rounds: int, timeout: float, poll: float, tmp: Path) -> dict:
    per_round = []
    for r in range(rounds):
        launcher = Launcher(tmp)
        try:
            per_round.append(detection_round(launcher, f"bench-{os.getpid()}-detect-{r}", timeout, poll))
        finally:
            stop_all(launcher)
    from cluster.config import NodeConfig
    d = NodeConfig()
    return {"config": {"heartbeat_interval_s": d.heartbeat_interval, "suspect_after_s": d.suspect_after,
                       "dead_after_s": d.dead_after, "poll_interval_s": poll},
            "rounds": per_round, "dead_s": summary([x["dead_s"] for x in per_round]),
            "suspect_s": summary([x["suspect_s"] for x in per_round if x["suspect_s"] is not None])}


# ------------------------------------------------------------------------------------------ 3./4. RPC
async def echo_sequential(node, target: str, payload: Any, n: int) -> list[float]:
    """``n`` echo calls one after the other, timed on the event loop (no thread hop)."""
    out = []
    for _ in range(n):
        t = time.perf_counter()
        await node.call(target, "echo", {"x": payload}, timeout=10)
        out.append(time.perf_counter() - t)
    return out


async def echo_concurrent(node, target: str, payload: Any, total: int, in_flight: int) -> tuple[float, list[float]]:
    """``total`` echo calls with ``in_flight`` of them outstanding at any time; (elapsed s, latencies)."""
    remaining = total
    latencies: list[float] = []

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1     # single-threaded loop: no race between the test and the decrement
            t = time.perf_counter()
            await node.call(target, "echo", {"x": payload}, timeout=30)
            latencies.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return time.perf_counter() - t0, latencies


def bench_rpc(cloud: cluster.Cloud, target: str, calls: int, in_flight: int, rounds: int) -> dict:
    node = cloud.node
    if cloud.call("echo", {"x": SMALL_PAYLOAD}, node=target, timeout=10) != SMALL_PAYLOAD:
        raise RuntimeError(f"echo on {target} did not return its {len(SMALL_PAYLOAD)}-byte payload intact")
    cloud.run(echo_sequential(node, target, SMALL_PAYLOAD, 200), timeout=60)          # warm-up
    thread_lat = []
    for _ in range(calls):
        t = time.perf_counter()
        cloud.call("echo", {"x": SMALL_PAYLOAD}, node=target, timeout=10)
        thread_lat.append(time.perf_counter() - t)
    loop_lat = cloud.run(echo_sequential(node, target, SMALL_PAYLOAD, calls), timeout=30 + calls * 0.05)
    total = max(calls, 10 * in_flight)
    tput = []
    for _ in range(rounds):
        elapsed, lat = cloud.run(echo_concurrent(node, target, SMALL_PAYLOAD, total, in_flight),
                                 timeout=30 + total * 0.05)
        tput.append({"calls_per_s": total / elapsed, **percentiles_us(lat)})
    return {"payload_bytes": len(SMALL_PAYLOAD), "sequential_from_thread": percentiles_us(thread_lat),
            "sequential_on_loop": percentiles_us(loop_lat), "in_flight": in_flight, "calls_per_round": total,
            "throughput_rounds": tput, "calls_per_s": summary([x["calls_per_s"] for x in tput])}


def bench_array(cloud: cluster.Cloud, target: str, mib: float, calls: int) -> dict:
    n = int(mib * (1 << 20)) // 8
    arr = np.random.default_rng(0).random(n)
    back = cloud.call("echo", {"x": arr}, node=target, timeout=60)       # warm-up, and check it is intact
    if not (isinstance(back, np.ndarray) and back.dtype == arr.dtype and np.array_equal(back, arr)):
        raise RuntimeError(f"echo of a {arr.nbytes}-byte float64 array came back altered: {type(back)!r}")
    del back
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        cloud.call("echo", {"x": arr}, node=target, timeout=60)
        times.append(time.perf_counter() - t)
    rtt = summary(times)
    size_mib = arr.nbytes / (1 << 20)
    return {"array_bytes": arr.nbytes, "calls": calls, "round_trip_s": rtt,
            "mib_per_s_one_way": size_mib / rtt["median"], "mib_per_s_both_ways": 2 * size_mib / rtt["median"]}


def bench_rpc_and_array(parts: set[str], args: argparse.Namespace, tmp: Path) -> dict:
    """One node process plus an embedded member; the embedded node calls the process."""
    launcher = Launcher(tmp)
    out: dict = {}
    try:
        name = f"bench-{os.getpid()}-rpc"
        (proc,), flatfile, _ = start_cloud(launcher, 1, name, 2)
        cloud = embedded_member(flatfile, name, 2, args.form_timeout)
        try:
            if "rpc" in parts:
                out["rpc"] = bench_rpc(cloud, proc.address, args.calls, args.in_flight, args.rounds)
            if "array" in parts:
                out["array"] = bench_array(cloud, proc.address, args.array_mib, args.array_calls)
        finally:
            cloud.shutdown()
    finally:
        stop_all(launcher)
    return out


# ------------------------------------------------------------------------------------------ report
def render(report: dict) -> str:
    m = report["machine"]
    lines = [f"command:  {report['command']}",
             f"machine:  {m['platform']}; CPU {m['cpu']}; {m['cores']} cores; Python {m['python']}; "
             f"numpy {m['numpy']}; pyzmq {m['pyzmq']} (libzmq {m['libzmq']}); load avg at start "
             f"{' '.join(map(str, m['loadavg_1_5_15']))}"]
    if "formation" in report:
        lines += ["", f"1. cloud formation, seconds from launching the processes (median [min-max] of "
                      f"{report['config']['rounds']} rounds)",
                  "   nodes   all processes started   last node logged 'cloud formed'"]
        for row in report["formation"]:
            s, f = row["all_started_s"], row["all_formed_s"]
            lines.append(f"   {row['size']:>5}   {s['median']:6.2f} [{s['min']:.2f}-{s['max']:.2f}]"
                         f"        {f['median']:6.2f} [{f['min']:.2f}-{f['max']:.2f}]")
    if "detection" in report:
        d = report["detection"]
        c = d["config"]
        lines += ["", f"2. failure detection after SIGKILL (3 processes + embedded member, locked; heartbeat "
                      f"{c['heartbeat_interval_s']:g} s, suspect after {c['suspect_after_s']:g} s, dead after "
                      f"{c['dead_after_s']:g} s; polled every {c['poll_interval_s'] * 1000:g} ms)",
                  f"   suspect: median {d['suspect_s']['median']:.2f} s [{d['suspect_s']['min']:.2f}-"
                  f"{d['suspect_s']['max']:.2f}]",
                  f"   dead:    median {d['dead_s']['median']:.2f} s [{d['dead_s']['min']:.2f}-"
                  f"{d['dead_s']['max']:.2f}]  (rounds: "
                  f"{', '.join(format(x['dead_s'], '.2f') for x in d['rounds'])})"]
    if "rpc" in report:
        r = report["rpc"]
        ft, lp = r["sequential_from_thread"], r["sequential_on_loop"]
        t = r["calls_per_s"]
        lines += ["", f"3. echo RPC, {r['payload_bytes']}-byte payload, embedded node -> node process",
                  f"   sequential, Cloud.call from the main thread: p50 {ft['p50_us']:.0f} us  p99 "
                  f"{ft['p99_us']:.0f} us  ({ft['n']} calls)",
                  f"   sequential, await node.call on the loop:     p50 {lp['p50_us']:.0f} us  p99 "
                  f"{lp['p99_us']:.0f} us  ({lp['n']} calls)",
                  f"   {r['in_flight']} in flight: median {t['median']:.0f} calls/s [{t['min']:.0f}-{t['max']:.0f}] "
                  f"over {len(r['throughput_rounds'])} rounds of {r['calls_per_round']} calls; per-call p50 "
                  f"{statistics.median(x['p50_us'] for x in r['throughput_rounds']):.0f} us, p99 "
                  f"{statistics.median(x['p99_us'] for x in r['throughput_rounds']):.0f} us"]
    if "array" in report:
        a = report["array"]
        rt = a["round_trip_s"]
        lines += ["", f"4. echo of a {a['array_bytes'] / (1 << 20):g} MiB float64 array ({a['calls']} calls)",
                  f"   round trip: median {rt['median'] * 1000:.1f} ms [{rt['min'] * 1000:.1f}-"
                  f"{rt['max'] * 1000:.1f}]; {a['mib_per_s_one_way']:.0f} MiB/s of payload "
                  f"({a['mib_per_s_both_ways']:.0f} MiB/s counting both directions)"]
    if "security" in report:
        sec = report["security"]
        lines += ["", f"5. CURVE (--security-dir) against plain TCP, interleaved: client -> one-node cloud "
                      f"({sec['calls']} sequential echoes, {sec['rounds']} throughput rounds, {sec['array_calls']} "
                      f"array echoes each)"]
        lines += _render_security(sec)
    if "replication" in report:
        lines += [""] + replication.render(report["replication"])
    lines += ["", f"load avg at end: {' '.join(map(str, report['loadavg_end']))}"]
    return "\n".join(lines)


def _render_security(sec: dict) -> list[str]:
    plain, curve = sec["plain"], sec["curve"]
    rows = [("echo p50 on the loop (us)", plain["echo_p50_us"], curve["echo_p50_us"]),
            ("echo p99 on the loop (us)", plain["echo_p99_us"], curve["echo_p99_us"]),
            (f"echo calls/s, {sec['in_flight']} in flight", plain["calls_per_s"], curve["calls_per_s"]),
            (f"{sec['array_mib']:g} MiB array echo, median (ms)", plain["array_ms"], curve["array_ms"]),
            (f"{sec['array_mib']:g} MiB array echo, best (ms)", plain["array_best_ms"], curve["array_best_ms"])]
    out = [f"   {'':34} {'plain':>10} {'CURVE':>10} {'change':>8}"]
    for label, a, b in rows:
        out.append(f"   {label:34} {a:10.1f} {b:10.1f} {100 * (b - a) / a:+7.1f}%")
    return out


def bench_security(args: argparse.Namespace, tmp: Path) -> dict:
    """CURVE against plain TCP, interleaved: two one-node clouds (one with a security dir), a client of each."""
    from cluster.security import make_security_dir
    keys = Path(make_security_dir(str(tmp / "keys")))
    launcher = Launcher(tmp)
    clients: dict = {}
    try:
        for kind, sec_dir in (("plain", None), ("curve", keys)):
            (proc,), _, _ = start_cloud(launcher, 1, f"bench-{os.getpid()}-{kind}", 1, sec_dir)
            wait_for(lambda: "cloud formed" in proc.log(), args.form_timeout, f"the {kind} node", interval=0.05)
            clients[kind] = cluster.connect(proc.address, security_dir=str(sec_dir) if sec_dir else None,
                                            timeout=10, progress=False)
        lat: dict = {k: [] for k in clients}
        for cl in clients.values():                                         # warm-up
            cl.run(echo_sequential(cl.node, cl.gateway, SMALL_PAYLOAD, 100), timeout=60)
        for _ in range(max(1, args.calls // 50)):
            for kind, cl in clients.items():
                lat[kind] += cl.run(echo_sequential(cl.node, cl.gateway, SMALL_PAYLOAD, 50), timeout=60)
        total = max(args.calls, 10 * args.in_flight)
        tput: dict = {k: [] for k in clients}
        for _ in range(args.rounds):
            for kind, cl in clients.items():
                elapsed, _ = cl.run(echo_concurrent(cl.node, cl.gateway, SMALL_PAYLOAD, total, args.in_flight),
                                    timeout=30 + total * 0.05)
                tput[kind].append(total / elapsed)
        arr = np.random.default_rng(0).random(int(args.array_mib * (1 << 20)) // 8)
        rtt: dict = {k: [] for k in clients}
        for kind, cl in clients.items():                                    # warm-up, and check it is intact
            if not np.array_equal(cl.call("echo", {"x": arr}, timeout=60), arr):
                raise RuntimeError(f"the {kind} echo altered the array")
        for _ in range(args.array_calls):
            for kind, cl in clients.items():
                t = time.perf_counter()
                cl.call("echo", {"x": arr}, timeout=60)
                rtt[kind].append(time.perf_counter() - t)
        out = {"calls": len(lat["plain"]), "rounds": args.rounds, "in_flight": args.in_flight,
               "array_calls": args.array_calls, "array_mib": args.array_mib}
        for kind in clients:
            pct = percentiles_us(lat[kind])
            out[kind] = {"echo_p50_us": pct["p50_us"], "echo_p99_us": pct["p99_us"],
                         "calls_per_s": statistics.median(tput[kind]),
                         "array_ms": statistics.median(rtt[kind]) * 1000, "array_best_ms": min(rtt[kind]) * 1000}
        return out
    finally:
        for cl in clients.values():
            cl.shutdown()
        stop_all(launcher)


# ------------------------------------------------------------------------------------------ command line
def positive_ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected integers >= 1, got {text!r}")
    return values


def parse_parts(text: str) -> list[str]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS) - set(EXTRA_PARTS))
    if not parts or unknown:
        raise argparse.ArgumentTypeError(f"unknown part(s) {unknown or text!r}; choose from "
                                         f"{','.join(PARTS + EXTRA_PARTS)}")
    return parts


def build_parser() -> argparse.ArgumentParser:
    from tools.bench import HelpFormatter
    ap = argparse.ArgumentParser(prog="python -m tools.bench.cloud", description=__doc__.splitlines()[0],
                                 formatter_class=HelpFormatter)
    ap.add_argument("--sizes", type=positive_ints, default=[2, 4, 8, 16],
                    help="cloud sizes to form (default 2,4,8,16)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds per cloud size, of failure detection and of the throughput run (default 3)")
    ap.add_argument("--parts", type=parse_parts, default=list(PARTS),
                    help=f"what to measure, comma-separated (default {','.join(PARTS)}; also: "
                         f"{','.join(EXTRA_PARTS)})")
    ap.add_argument("--fmnist-rows", type=int, default=None,
                    help="replication: rows of the Fashion-MNIST train CSV to import (default all 60,000)")
    ap.add_argument("--calls", type=int, default=2000, help="sequential echo calls per latency series (default 2000)")
    ap.add_argument("--in-flight", type=int, default=32, help="concurrent echo calls for throughput (default 32)")
    ap.add_argument("--array-mib", type=float, default=10.0, help="size of the echoed array in MiB (default 10)")
    ap.add_argument("--array-calls", type=int, default=10, help="timed echoes of the array (default 10)")
    ap.add_argument("--poll-ms", type=float, default=5.0,
                    help="status poll interval while waiting for the dead verdict (default 5 ms)")
    ap.add_argument("--form-timeout", type=float, default=120.0,
                    help="deadline for one cloud to form, seconds (default 120)")
    ap.add_argument("--security", action="store_true",
                    help="also compare CURVE with plain TCP (echo latency, throughput, array echo), interleaved")
    ap.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    return ap


def validate(ap: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    for flag, value, low in (("--rounds", args.rounds, 1), ("--calls", args.calls, 1),
                             ("--in-flight", args.in_flight, 1), ("--array-calls", args.array_calls, 1)):
        if value < low:
            ap.error(f"{flag} must be >= {low}, got {value}")
    for flag, value in (("--array-mib", args.array_mib), ("--poll-ms", args.poll_ms),
                        ("--form-timeout", args.form_timeout)):
        if not value > 0:
            ap.error(f"{flag} must be > 0, got {value}")
    if args.array_mib > 60:
        ap.error(f"--array-mib {args.array_mib:g} exceeds the 64 MiB message cap of the runtime")


def _terminate(signum, frame):
    # turn SIGTERM into an exception so that every finally block kills its node processes
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = build_parser()
    args = ap.parse_args(argv)
    validate(ap, args)
    signal.signal(signal.SIGTERM, _terminate)
    # the embedded nodes' warnings (a member turning suspect, then dead) are part of the story: keep them
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    os.environ.setdefault("AQUIFER_NO_PROGRESS", "1")
    parts = set(args.parts)
    report: dict = {"command": shlex.join(["python", "-m", "tools.bench.cloud", *argv]),
                    "machine": machine_info(),
                    "config": {"rounds": args.rounds, "parts": args.parts}}
    with tempfile.TemporaryDirectory(prefix="aquifer-bench-cloud-") as tmp_dir:
        tmp = Path(tmp_dir)
        if "formation" in parts:
            report["formation"] = bench_formation(args.sizes, args.rounds, args.form_timeout, tmp)
        if "detection" in parts:
            report["detection"] = bench_detection(args.rounds, args.form_timeout, args.poll_ms / 1000, tmp)
        if parts & {"rpc", "array"}:
            report.update(bench_rpc_and_array(parts, args, tmp))
        if args.security:
            report["security"] = bench_security(args, tmp)
        if "replication" in parts:
            report["replication"] = replication.bench_replication(args.rounds, args.fmnist_rows,
                                                                  args.form_timeout, tmp)
    report["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
