"""What the cloud says about its keys once members are lost, on real processes killed with SIGKILL.

A name that was never written, or was deleted, is simply not there (KeyError, 404) whatever members were lost: a
key is reported lost (NodeLostError, 503) only when every holder it had was lost before the copies were restored
and no member left holds a copy. The status and the census say which members were lost with keys the copies did
not cover (replication 1). Re-replication that a full ``--max-mem-size`` blocks says it is stuck, where, and backs
off instead of warning every two seconds. A task with outputs that fails because a member died leaves none of its
output chunks behind.
"""
import concurrent.futures
import re
import time

import numpy as np
import pytest

import algos
import cluster
import frame
from cluster.config import NodeConfig
from cluster.placement import unhomed
from cloudkit import admin, wait_until
from mr_tasks import SlowOutputs
from webkit import http

DEAD_AFTER = NodeConfig().dead_after
WINDOW = DEAD_AFTER + 4.0            # the detection window, with margin for a loaded machine
NAMES = [f"never_written_{i}" for i in range(40)]
# the failure detector at half its default times, where a test waits through losses of idle members
FAST_DETECTOR = ["--heartbeat-interval", "0.5", "--dead-after", "3"]


def connect_all(nodes, **kw):
    return cluster.connect(",".join(n.address for n in nodes), timeout=10, **kw)


def data(n=6000, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 5))


def vecs_in_cloud(cloud) -> set:
    """The vecs that have chunks (or rollups) in the DKV."""
    return {re.match(r"\$vec/[0-9a-f]+", unhomed(r["key"])).group(0) for r in cloud.dkv.keys("$vec/")}


def wait_size(client, size):
    return wait_until(lambda: (lambda s: s if s["size"] == size else None)(client.status()), WINDOW + 10,
                      f"the cloud to remove its lost member ({size} members left)")


def wait_key_counts(client):
    """Until every member's heartbeat counts the keys it holds (what a lost member is reported with)."""
    wait_until(lambda: all(m["keys"] > 0 for m in client.status()["members"]), 10, "heartbeats to count the keys")


def assert_not_found(client, *names):
    """Names that no frame or model ever had (or deleted ones) are not found, from Python and over REST."""
    base = f"http://{client.gateway}"
    for name in (*NAMES, *names):
        with pytest.raises(KeyError, match="no frame"):
            frame.get_frame(name, cloud=client)
    for name in NAMES[:8]:
        with pytest.raises(KeyError, match="no model"):
            algos.get_model(f"{name}_model", cloud=client)
        status, body, _ = http(base, f"/3/Frames/{name}", timeout=30)
        assert status == 404, body


def test_replication_2_names_never_written_or_deleted_stay_not_found_after_two_losses(launcher):
    """With replication 2 about two names in three were blamed on a lost member ("member X, which was lost, may
    have held it": 503), for the life of the cloud. Each loss here is covered by the copies: the first one, and a
    second once every member reported the copies of the first restored."""
    nodes = launcher.cloud(4, extra=["--nthreads", "1", "--replication", "2", *FAST_DETECTOR])
    client = connect_all(nodes)
    try:
        arr = data()
        fr = frame.Frame.from_numpy(arr, nchunks=8, destination_frame="kept.hex", cloud=client)
        frame.Frame.from_numpy(arr[:100], destination_frame="deleted.hex", cloud=client)
        frame.remove("deleted.hex", cloud=client)
        first, second = [n for n in nodes if n.address != client.gateway][:2]
        wait_key_counts(client)
        first.kill()
        wait_size(client, 3)
        assert_not_found(client, "deleted.hex")
        np.testing.assert_array_equal(frame.get_frame("kept.hex", cloud=client).as_numpy(), arr)
        assert client.lost_members() == []
        # the copies are restored, every member says so, and the gateway settles the loss
        lost = wait_until(lambda: (lambda x: x if x and x[0]["settled"] else None)(
            client.status()["replication"]["lost"]), 60, "the first loss to settle")
        assert [(x["node"], x["covered"]) for x in lost] == [(first.address, True)] and lost[0]["keys"] > 0
        census = client.dkv.census()
        assert census["under"] == 0 and census["lost_keys"] == 0 and census["stuck"] is None
        second.kill()
        wait_size(client, 2)
        assert_not_found(client, "deleted.hex")
        np.testing.assert_array_equal(fr.as_numpy(), arr)
        lost = client.status()["replication"]["lost"]
        assert [(x["node"], x["covered"]) for x in lost] == [(first.address, True), (second.address, True)]
        assert client.lost_members() == []
        text = admin("--cluster", client.gateway, "cloud").stdout
        assert "healthy" in text and "DATA" not in text and "every one at 2 copies" in text, text
    finally:
        client.shutdown()


def test_replication_1_a_lost_member_is_reported_with_its_keys_and_a_failed_task_leaves_no_outputs(launcher):
    nodes = launcher.cloud(3, extra=["--nthreads", "2"])
    client = connect_all(nodes)
    try:
        victim = next(n for n in nodes if n.address != client.gateway)
        on_victim = [k for k in (f"frame_{i}" for i in range(200)) if client.dkv.home(k) == victim.address][:2]
        arr = data()
        frame.Frame.from_numpy(arr[:100], destination_frame=on_victim[0], cloud=client)
        frame.Frame.from_numpy(arr[:100], destination_frame=on_victim[1], cloud=client)
        frame.remove(on_victim[1], cloud=client)        # deleted before the loss: not found, not lost
        big = frame.Frame.from_numpy(arr, nchunks=12, cloud=client)
        before = vecs_in_cloud(client)
        wait_key_counts(client)
        # a task writing outputs (a predict) loses a member half-way: it fails, and deletes what it wrote
        with concurrent.futures.ThreadPoolExecutor(1) as ex:
            task = ex.submit(lambda: SlowOutputs(seconds=1.0).do_all(big, outputs=["numeric"], cloud=client))
            wait_until(lambda: vecs_in_cloud(client) - before, 30, "the task to write outputs", interval=0.2)
            victim.kill()
            with pytest.raises(cluster.NodeLostError):
                task.result(timeout=WINDOW + 30)
        lost_vecs = set(big.vecs)             # their chunks on the victim are gone, the rest stays
        wait_until(lambda: vecs_in_cloud(client) - before == set(), 10, "the failed task's outputs to be deleted")
        time.sleep(1.0)
        assert vecs_in_cloud(client) - before == set() and lost_vecs <= vecs_in_cloud(client)
        wait_size(client, 2)
        # lost keys are still named fast; a deleted frame and names never written are not found
        with pytest.raises(cluster.NodeLostError) as info:
            frame.get_frame(on_victim[0], cloud=client)
        assert info.value.keys == [on_victim[0]] and victim.address in str(info.value)
        with pytest.raises(KeyError, match="no frame"):
            frame.get_frame(on_victim[1], cloud=client)
        # the status and the census say the member was lost with the keys it held
        lost = client.status()["replication"]["lost"]
        assert [(x["node"], x["covered"]) for x in lost] == [(victim.address, False)] and lost[0]["keys"] > 0
        census = client.dkv.census()
        assert census["lost_keys"] == lost[0]["keys"] and census["lost"][0]["node"] == victim.address
        assert client.lost_members() == [victim.address]
        text = admin("--cluster", client.gateway, "cloud").stdout
        assert f"DATA LOST: member {victim.address} was lost with replication 1 (" in text, text
        assert f"): the {lost[0]['keys']:,} key(s) it held are gone" in text, text
        status, st, _ = http(f"http://{client.gateway}", "/3/Cloud", timeout=30)
        assert status == 200 and st["replication"]["lost"][0]["node"] == victim.address
    finally:
        client.shutdown()


def test_re_replication_blocked_by_the_quota_says_it_is_stuck_and_backs_off(launcher):
    """Data that fits at 3 members with 2 copies does not fit at 2: the re-replication said "in progress" for
    ever, passed every 2 s and warned each time. Now the status and the census say it is stuck (where, and how
    many keys sit at 1 copy), passes back off, one warning is logged, and it goes on once there is room."""
    # heartbeats (and so the back-off's first step) every 0.5 s: the back-off is watched for 8 s, not 16
    nodes = launcher.cloud(3, extra=["--nthreads", "1", "--replication", "2", "--max-mem-size", "6m",
                                     *FAST_DETECTOR])
    client = connect_all(nodes)
    try:
        fr = frame.Frame.from_numpy(np.random.default_rng(0).normal(size=(110_000, 8)), nchunks=24, cloud=client)
        victim = next(n for n in nodes if n.address != client.gateway)
        survivors = [n for n in nodes if n is not victim]
        victim.kill()
        wait_size(client, 2)
        pattern = r"quota on node 127\.0\.0\.1:\d+: [\d,]+ key\(s\) at 1 copy"
        st = wait_until(lambda: (lambda s: s if re.search(pattern, s["replication"]["stuck"] or "") else None)(
            client.status()), 30, "the status to say the re-replication is stuck")
        census = client.dkv.census()
        assert census["under"] > 0 and re.search(pattern, census["stuck"] or ""), census
        for node in survivors:                # /3/Cloud of every member says so
            status, body, _ = http(f"http://{node.address}", "/3/Cloud", timeout=30)
            assert status == 200 and re.search(pattern, body["replication"]["stuck"] or ""), body["replication"]
        text = admin("--cluster", client.gateway, "cloud").stdout
        assert re.search(r"below 2 copies, \d+ stray \(re-replication STUCK: " + pattern, text), text
        passes = st["replication"]["passes"]
        time.sleep(8)
        # backing off (0.5, 1, 2, 4 s...): no more than 5 passes in 8 s (it passed every heartbeat)
        assert client.status()["replication"]["passes"] - passes <= 5
        for node in survivors:                # one warning, not one per pass
            warnings = [line for line in node.log().splitlines() if "re-replication pass" in line]
            assert len(warnings) <= 1, warnings
            assert "is stuck: quota on node" in "".join(warnings)
        # room again: the re-replication goes on (within its longest back-off) and is no longer stuck
        fr.remove()
        wait_until(lambda: (lambda c: c["under"] == 0 and c["stuck"] is None)(client.dkv.census()), 45,
                   "the re-replication to go on once there is room")
        assert client.status()["replication"]["stuck"] is None
    finally:
        client.shutdown()
