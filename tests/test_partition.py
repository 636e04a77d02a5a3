"""Cut links between the three hosts of a cloud, in network namespaces (root only): no split brain.

First the link between two members is cut for 5 s while both still reach the third: nobody is removed (a
majority never agrees on it), writes go on, and afterwards every key has one value on all its holders. Then one
member is cut off from the other two for 5 s: the two remove it and go on, every write made through the cut-off
member during the cut is refused, and once the links heal it learns it was removed and exits with its own status.
The nodes run a faster failure detector (dead after 3 s) so that a 5 s cut is a loss, not a hiccup.
"""
import threading
import time

import pytest

import cluster
import netkit
from cluster.dkv import Value
from cluster.node import EXIT_REMOVED
from cloudkit import Launcher, wait_until

pytestmark = pytest.mark.netns
TIMING = dict(heartbeat_interval=0.5, dead_after=3.0)
FLAGS = ["--heartbeat-interval", "0.5", "--dead-after", "3", "--suspect-after", "1.5"]


def writer(client, prefix: str, stop: threading.Event, log: list) -> threading.Thread:
    """Put prefix/k0..k19 in turn until stopped; log (key, value, error or None, time)."""
    def run():
        i = 0
        while not stop.is_set():
            key, t = f"{prefix}/k{i % 20}", time.monotonic()
            try:
                client.dkv.put(key, Value("t", {"i": i}, immutable=False))
                log.append((key, i, None, t))
            except cluster.AquiferError as exc:
                log.append((key, i, exc, t))
            i += 1
            time.sleep(0.05)
    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th


def copies(client, nodes, prefix: str) -> dict[str, set]:
    """key -> the distinct (meta, version) of its copies on each node given."""
    keys = [r["key"] for r in client.dkv.keys(prefix)]
    seen: dict[str, set] = {k: set() for k in keys}
    for n in nodes:
        for k, got in zip(keys, client.call("dkv.local_get_many", {"keys": keys}, node=n.address)):
            if got is not None:
                seen[k].add((got[0]["meta"]["i"], got[1]))
    return seen


def test_a_cut_link_splits_nothing_and_a_cut_off_member_is_removed(netns_hosts, tmp_path):
    kit = Launcher(tmp_path)
    clients = []
    try:
        port = 54321
        ff = kit.flatfile([f"{addr}:{port}" for _, addr in netns_hosts])
        nodes = [kit.start(port, ff, ip=addr, netns=ns, extra=["--cloud-size", "3", "--replication", "2",
                                                                "--nthreads", "1", *FLAGS])
                 for ns, addr in netns_hosts]
        for n in nodes:
            n.wait_log("cloud formed: name=testcloud size=3", timeout=30)
        a, b, c = netns_hosts
        clients = [cluster.connect(n.address, timeout=10, **TIMING) for n in nodes]
        ca, cb, cc = clients
        ca.dkv.put("start", Value("t", {"i": -1}))          # lock the cloud
        # 1. the link a-b is cut for 5 s; both still reach c, which carries on writing
        stop, log = threading.Event(), []
        th = writer(cc, "pair", stop, log)
        time.sleep(0.5)
        netkit.cut(a, b)
        time.sleep(5)
        netkit.heal(a, b)
        time.sleep(1)
        stop.set()
        th.join(30)
        assert sum(1 for *_, err, _ in log if err is None) > 20
        st = wait_until(lambda: (lambda s: s if s["healthy"] else None)(cc.status()), 20, "a healed cloud")
        assert st["size"] == 3 and st["epoch"] == 0 and st["quorum"]         # nobody was removed
        wait_until(lambda: all(len(v) == 1 for v in copies(cc, nodes, "pair/").values()), 30,
                   "every key to have one value on all its holders")
        last = {}
        for key, i, err, _ in log:
            if err is None:
                last[key] = i
        assert {k: cc.dkv.get(k).meta["i"] for k in last} == last
        # 2. c is cut off from a and b for 5 s: a and b remove it; writes through c are refused
        stop, log_a, log_c = threading.Event(), [], []
        ths = [writer(ca, "majority", stop, log_a), writer(cc, "minority", stop, log_c)]
        time.sleep(0.5)
        netkit.cut(c, a)
        netkit.cut(c, b)
        # c is cut off once both links are cut: each cut runs two `ip` processes, so between the two cuts (tens
        # of ms on a busy machine) a write through c to b could still succeed; the cut's time is after both
        t_cut = time.monotonic()
        wait_until(lambda: ca.status()["size"] == 2, 15, "a and b to remove c")
        time.sleep(max(0.0, t_cut + 5 - time.monotonic()))
        netkit.heal(c, a)
        netkit.heal(c, b)
        assert nodes[2].wait_exit(30) == EXIT_REMOVED
        assert "removed from cloud 'testcloud'" in nodes[2].log()
        stop.set()
        for th in ths:
            th.join(60)
        during = [(k, i, err) for k, i, err, t in log_c if t > t_cut + 0.1]
        assert during and all(err is not None for *_, err in during), during
        assert any(isinstance(err, (cluster.NoQuorumError, cluster.NodeLostError)) for *_, err in during)
        assert sum(1 for *_, err, t in log_a if err is None and t > t_cut) > 10      # the majority wrote on
        # no value the cut-off member was asked to write during the cut is in the cloud; every key has one value
        for key, i, _ in during:
            value = ca.dkv.get(key)
            assert value is None or value.meta["i"] != i, (key, i)
        wait_until(lambda: all(len(v) == 1 for v in copies(ca, nodes[:2], "majority/").values()), 30,
                   "every key of the majority to have one value")
        st = ca.status()
        assert st["size"] == 2 and st["quorum"] and st["epoch"] == 1
    finally:
        for cl in clients:
            cl.shutdown()
        kit.cleanup()
