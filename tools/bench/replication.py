"""Replication figures (``python -m tools.bench.cloud --parts replication``): what R=2 costs and how fast it heals.

For R = 1 and R = 2, in alternating rounds, a fresh cloud of 3 node processes (``--nthreads 1``: three processes
share this machine) imports the Fashion-MNIST train CSV (``tools/fmnist_to_csv.py``; ``--fmnist-rows`` rows) from
a client: the import's wall time and the DKV bytes held over all nodes (``node.stats``; copies included). With
R = 2 a member other than the client's gateway is then SIGKILLed, and two times are taken from the kill:

* *serving*: until a read of every chunk key of the frame (``dkv.get_many``, no decoding) returns them all: the
  failure detector's window plus the read from the surviving copies;
* *restored*: until ``dkv.census()`` counts every key at 2 copies on its holders again (the member was removed and
  the survivors copied what it held), and how many bytes that took.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path

import cluster
import frame
from tests.cloudkit import FMNIST, Launcher, free_port_pair

GET_BATCH = 2000


def _cloud(launcher: Launcher, r: int, name: str, timeout: float):
    ports = [free_port_pair() for _ in range(3)]
    ff = launcher.flatfile([f"127.0.0.1:{p}" for p in ports], f"flat-{name}.txt")
    nodes = [launcher.start(p, ff, name=name, extra=["--cloud-size", "3", "--nthreads", "1", "--replication",
                                                     str(r)]) for p in ports]
    for n in nodes:
        n.wait_log(f"cloud formed: name={name} size=3", timeout)
    return nodes


def _stored_bytes(client) -> int:
    members = [m["node"] for m in client.status()["members"] if not m["removed"]]
    return sum(client.call("node.stats", node=m)["dkv"]["stored_bytes"] for m in members)


def _read_all(client, keys: list[str]) -> bool:
    got = 0
    for i in range(0, len(keys), GET_BATCH):
        got += sum(v is not None for v in client.dkv.get_many(keys[i:i + GET_BATCH]))
    return got == len(keys)


def one_round(r: int, csv: str, tmp: Path, timeout: float, poll: float) -> dict:
    launcher = Launcher(tmp)
    name = f"bench-repl-{r}-{time.monotonic_ns() % 10**9}"
    try:
        nodes = _cloud(launcher, r, name, timeout)
        client = cluster.connect(",".join(n.address for n in nodes), timeout=10, progress=False)
        try:
            t0 = time.perf_counter()
            fr = frame.import_file(csv, cloud=client)
            out = {"replication": r, "import_s": time.perf_counter() - t0, "rows": fr.nrows, "chunks": fr.nchunks,
                   "keys": client.dkv.census()["keys"], "dkv_bytes": _stored_bytes(client)}
            if r < 2:
                return out
            keys = [k for j in range(fr.ncols) for k in fr.chunk_keys(j)]
            victim = next(n for n in nodes if n.address != client.gateway)
            victim.kill()
            t_kill = time.monotonic()
            while not _read_all(client, keys):
                time.sleep(poll)
            out["serving_s"] = time.monotonic() - t_kill
            deadline = t_kill + timeout
            while True:
                census = client.dkv.census()
                if census["under"] == 0 and census["stray"] == 0 and client.status()["size"] == 2:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"replication not restored within {timeout:g} s: {census}")
                time.sleep(poll)
            out["restored_s"] = time.monotonic() - t_kill
            out["dkv_bytes_after"] = _stored_bytes(client)
            return out
        finally:
            client.shutdown()
    finally:
        launcher.cleanup()


def bench_replication(rounds: int, rows: int | None, timeout: float, tmp: Path) -> dict:
    if not FMNIST.exists():
        raise FileNotFoundError(f"{FMNIST} not found: install the Debian package dataset-fashion-mnist "
                                f"(tools/setup.sh)")
    from tools import fmnist_to_csv
    csv = str(fmnist_to_csv.convert(FMNIST, tmp / "fmnist", limit=rows)["train"][0])
    runs = [one_round(r, csv, tmp, timeout, 0.05) for _ in range(rounds) for r in (1, 2)]
    by_r = {r: [x for x in runs if x["replication"] == r] for r in (1, 2)}

    def med(r, k):
        return statistics.median(x[k] for x in by_r[r])
    return {"rounds": runs, "rows": runs[0]["rows"], "chunks": runs[0]["chunks"],
            "summary": {str(r): {k: med(r, k) for k in by_r[r][0] if k not in ("replication", "rows", "chunks")}
                        for r in (1, 2)}}


def render(rep: dict) -> list[str]:
    s1, s2 = rep["summary"]["1"], rep["summary"]["2"]
    n = len(rep["rounds"]) // 2
    lines = [f"6. replication: Fashion-MNIST train frame ({rep['rows']:,} rows, {rep['chunks']} chunks), 3 node "
             f"processes --nthreads 1, imported from a client (median of {n} rounds each)",
             "                     R=1          R=2",
             f"   import            {s1['import_s']:6.2f} s     {s2['import_s']:6.2f} s",
             f"   DKV bytes         {s1['dkv_bytes'] / 2**20:6.1f} MiB   {s2['dkv_bytes'] / 2**20:6.1f} MiB   "
             f"({s1['keys']:,} keys)",
             f"   R=2, SIGKILL of a member: every key served again after {s2['serving_s']:.2f} s, 2 copies "
             f"restored after {s2['restored_s']:.2f} s (rounds: "
             + ", ".join(f"{x['serving_s']:.1f}/{x['restored_s']:.1f}" for x in rep["rounds"] if x["replication"] == 2)
             + f"); DKV bytes after {s2['dkv_bytes_after'] / 2**20:.1f} MiB on 2 members"]
    return lines
