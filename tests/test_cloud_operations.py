"""An operator's mistakes and what the cloud says about them, on real node processes (operator sweep,
/work/notes/sweep-ops.md sections 2, 5, 8, 9, 11): a node restarted with its settings fixed is judged afresh, a
cloud that has not formed says why (status, admin, a log line every 10 s, the error a write gets), two nodes
that each list only a third find each other, shutdown names the members it cannot reach, and nodes with other
failure-detector settings are warned about."""
import json
import signal
import time

import pytest

import cluster
from cluster.dkv import Value
from cluster.node import EXIT_REMOVED
from cloudkit import admin, free_port_pair, wait_until
from webkit import http


def status_of(node) -> dict:
    res = admin("--cluster", node.address, "--timeout", "5", "cloud", "--json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def formed(node, name, size, timeout):
    return node.wait_log(f"cloud formed: name={name} size={size}", timeout)


def test_a_node_restarted_with_its_cloud_name_fixed_joins_the_cloud(launcher):
    """Started once without --name (so in another cloud), killed and started again right at the same address: it
    was refused for ever with the first process's reason, and the cloud never formed."""
    ports = [free_port_pair() for _ in range(3)]
    ff = launcher.flatfile([f"127.0.0.1:{p}" for p in ports])
    good = [launcher.start(p, ff, extra=["--cloud-size", "3"]) for p in ports[:2]]
    wrong = launcher.start(ports[2], ff, name="root", extra=["--cloud-size", "3"])
    for n in good:
        n.wait_log("cloud name mismatch", 20)
    wrong.wait_log("cloud name mismatch", 20)
    time.sleep(1.5)                    # a few heartbeats: every refusal is in place on both good nodes
    wrong.kill()
    wrong.wait_exit(10)
    fixed = launcher.start(ports[2], ff, extra=["--cloud-size", "3"])
    for n in (*good, fixed):
        formed(n, "testcloud", 3, 30)
    assert "it refused this node" not in fixed.log()        # no stale refusal reached the new process
    assert "no longer holds" in good[0].log() + good[1].log()


def test_a_removed_member_restarted_with_its_replication_fixed_rejoins(launcher):
    """An R=2 member restarted by mistake with R=1 is refused and removed (right); restarted again with R=2 it was
    still refused, with the R=1 process's reason, and never rejoined."""
    nodes = launcher.cloud(3, extra=["--nthreads", "1", "--replication", "2"])
    client = cluster.connect(",".join(n.address for n in nodes[:2]), timeout=10)
    try:
        client.dkv.put("lock_it", Value("t", {"x": 1}, immutable=False))          # the first write locks
        victim = nodes[2]
        victim.kill()
        victim.wait_exit(10)
        wrong = launcher.start(victim.port, launcher.tmp / f"flat-{nodes[0].port}.txt",
                               extra=["--cloud-size", "3", "--nthreads", "1", "--replication", "1"])
        nodes[0].wait_log("replication mismatch", 20)
        wait_until(lambda: client.status()["size"] == 2, 30, "the R=1 process to be removed")
        wrong.kill()
        wrong.wait_exit(10)
        fixed = launcher.start(victim.port, launcher.tmp / f"flat-{nodes[0].port}.txt",
                               extra=["--cloud-size", "3", "--nthreads", "1", "--replication", "2"])
        wait_until(lambda: client.status()["size"] == 3, 30, "the fixed process to rejoin")
        wait_until(lambda: status_of(fixed)["locked"] and status_of(fixed)["size"] == 3, 20,
                   "the rejoined member to take the locked set")
        assert "replication mismatch" not in fixed.log()
        assert client.dkv.get("lock_it").meta == {"x": 1}
    finally:
        client.shutdown()


def test_a_cloud_that_has_not_formed_says_why_and_a_write_fails_naming_it(launcher):
    """--cloud-size 3 with the third flatfile node never started: the status said '2 member(s), UNHEALTHY' as for a
    sick formed cloud, the log said nothing, and a write failed after 30 s as 'dkv.put exceeded its deadline of
    60 s' (the not-formed error was a TimeoutError, taken for the request's own deadline)."""
    ports = [free_port_pair() for _ in range(3)]
    ff = launcher.flatfile([f"127.0.0.1:{p}" for p in ports])
    nodes = [launcher.start(p, ff, extra=["--cloud-size", "3", "--lock-timeout", "4"]) for p in ports[:2]]
    missing = f"127.0.0.1:{ports[2]}"
    wait_until(lambda: status_of(nodes[0])["size"] == 2, 20, "the two nodes to see each other")
    st = status_of(nodes[0])
    assert st["formed"] is False and st["cloud_size"] == 3 and not st["healthy"] and not st["locked"]
    assert any(missing in note and "no answer" in note for note in st["formation"]), st["formation"]
    status, body, _ = http(f"http://{nodes[0].address}", "/3/Cloud")          # REST says why too
    assert status == 200 and body["formed"] is False and body["formation"] == st["formation"], body
    res = admin("--cluster", nodes[0].address, "--timeout", "5", "cloud")
    assert res.returncode == 0 and "not formed: 2 of 3 members" in res.stdout, res.stdout
    assert f"waiting: no answer from flatfile entry {missing}" in res.stdout
    assert "UNHEALTHY" not in res.stdout.splitlines()[0]
    line = nodes[0].wait_log("has not formed after", 25)          # every 10 s while not formed
    progress = [x for x in line.splitlines() if "has not formed after" in x][0]
    assert "2 of 3 members" in progress and missing in progress
    client = cluster.connect(nodes[1].address, timeout=10)
    try:
        t0 = time.monotonic()
        with pytest.raises(cluster.CloudNotFormedError) as err:
            client.dkv.put("k", Value("t", {"x": 1}, immutable=False))
        took = time.monotonic() - t0
    finally:
        client.shutdown()
    text = str(err.value)
    assert text.startswith("cloud 'testcloud' did not form within 4 s: members agreeing so far [")
    assert "expected at least 3" in text and missing in text and "deadline" not in text
    assert 3 < took < 25, took                       # --lock-timeout 4 (default 30 s)
    nodes[1].wait_log("the first data write was refused: cloud 'testcloud' did not form", 10)


def test_two_nodes_that_each_list_only_a_third_find_each_other(launcher):
    """B and C list only A; A lists itself. A's answers name all three: B and C ping each other and the cloud of
    three forms (it never did: only directly confirmed peers were proposed)."""
    a_port, b_port, c_port = (free_port_pair() for _ in range(3))
    only_a = launcher.flatfile([f"127.0.0.1:{a_port}"], "only-a.txt")
    nodes = [launcher.start(p, only_a, extra=["--cloud-size", "3"]) for p in (a_port, b_port, c_port)]
    for n in nodes:
        formed(n, "testcloud", 3, 30)


def test_shutdown_names_a_paused_member_that_was_removed(launcher):
    """A member paused past --dead-after is removed; 'admin shutdown' then stopped the two others and said
    nothing about it, so on SIGCONT it ran on alone."""
    nodes = launcher.cloud(3, extra=["--nthreads", "1"])
    client = cluster.connect(nodes[0].address, timeout=10)
    try:
        client.dkv.put("lock_it", Value("t", {"x": 1}, immutable=False))
        victim = nodes[2]
        victim.kill(signal.SIGSTOP)
        wait_until(lambda: client.status()["size"] == 2, 30, "the paused member to be removed")
    finally:
        client.shutdown()
    res = admin("--cluster", nodes[0].address, "--timeout", "10", "shutdown")
    assert res.returncode == 0, res.stderr
    assert f"not reached (stop them by hand): {victim.address}" in res.stdout, res.stdout
    for n in nodes[:2]:
        assert n.wait_exit(20) == 0
    assert f"{victim.address} (removed from the cloud)" in nodes[0].log()
    victim.kill(signal.SIGCONT)
    assert victim.proc.poll() in (None, EXIT_REMOVED)


def test_a_node_with_other_failure_detector_settings_is_warned_about_once(launcher):
    """One node with --suspect-after 5 --dead-after 10 among 3/6 s nodes: removing a lost member waits for a
    majority's detectors, so failover waited for the slow one, and nothing said so."""
    ports = [free_port_pair() for _ in range(3)]
    ff = launcher.flatfile([f"127.0.0.1:{p}" for p in ports])
    nodes = [launcher.start(p, ff, extra=["--cloud-size", "3"]) for p in ports[:2]]
    slow = launcher.start(ports[2], ff, extra=["--cloud-size", "3", "--suspect-after", "5", "--dead-after", "10"])
    for n in (*nodes, slow):
        formed(n, "testcloud", 3, 30)
    text = nodes[0].wait_log(f"node {slow.address} detects failures with other settings", 10)
    assert "(--heartbeat-interval 1, --suspect-after 5, --dead-after 10) than this node " \
           "(--heartbeat-interval 1, --suspect-after 3, --dead-after 6)" in text
    for n in nodes:
        slow.wait_log(f"node {n.address} detects failures with other settings", 10)
    time.sleep(3)                     # more heartbeats: still one line per peer
    assert nodes[0].log().count("detects failures with other settings") == 1
    assert nodes[1].log().count("detects failures with other settings") == 1
    assert slow.log().count("detects failures with other settings") == 2
