"""Real node processes on loopback: formation, failure detection, refusal, RPC errors, CLI."""
import concurrent.futures
import json
import signal
import time

import numpy as np
import pytest

import cluster
from cluster.config import NodeConfig
from cloudkit import admin, free_port_pair, wait_until


def status_of(node, security=None) -> dict:
    keys = ["--security-dir", str(security)] if security else []
    res = admin(*keys, "--cluster", node.address, "--timeout", "5", "cloud", "--json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_three_nodes_form_from_one_flatfile_and_admin_shows_them(launcher, security):
    launcher.security_dir = security
    t0 = time.monotonic()
    nodes = launcher.cloud(3, timeout=10)
    assert time.monotonic() - t0 < 10
    st = status_of(nodes[1], security)
    assert st["name"] == "testcloud" and st["size"] == 3 and st["healthy"] and not st["locked"]
    assert {m["node"] for m in st["members"]} == {n.address for n in nodes}
    for m in st["members"]:
        assert m["state"] == "healthy" and m["cores"] >= 1 and m["free_mem_bytes"] > 0 and m["pid"] > 0
        assert set(m) == {"node", "state", "last_heartbeat_age_s", "cores", "free_mem_bytes", "keys", "pid",
                          "removed", "copying", "web_url"}
        assert m["web_url"] == f"http://{m['node']}/"          # each node serves the web UI on its port
        assert m["last_heartbeat_age_s"] < 3 and not m["removed"]
    assert set(st) == {"name", "size", "cloud_size", "formed", "formation", "locked", "healthy", "members", "epoch",
                       "quorum", "replication", "census"}
    assert st["replication"]["factor"] == 1 and st["quorum"] and st["census"]["keys"] == 0
    assert st["formed"] and st["cloud_size"] == 3 and st["formation"] == []
    # the human table names every member
    res = admin(*(["--security-dir", str(security)] if security else []), "--cluster", nodes[0].address, "cloud")
    assert res.returncode == 0 and all(n.address in res.stdout for n in nodes) and "healthy" in res.stdout


def test_admin_exits_nonzero_with_one_line_when_unreachable():
    port = free_port_pair()
    t0 = time.monotonic()
    res = admin("--cluster", f"127.0.0.1:{port}", "--timeout", "1", "cloud", "--json")
    assert res.returncode != 0 and res.stdout == ""
    assert len(res.stderr.strip().splitlines()) == 1 and "no aquifer node answered" in res.stderr
    assert time.monotonic() - t0 < 15


def test_sigkill_member_is_declared_dead_and_calls_to_it_fail(launcher):
    nodes = launcher.cloud(3, extra=["--cloud-size", "4"], wait=False)
    ff = launcher.tmp / f"flat-{nodes[0].port}.txt"
    cloud = cluster.init(flatfile=str(ff), port=free_port_pair(), name="testcloud", cloud_size=4, timeout=20)
    try:
        victim = nodes[2]
        cloud.call("cloud.lock", {"reason": "test: as the first data write would"})
        wait_until(lambda: all(status_of(n)["locked"] for n in nodes), 10, "lock to spread")
        # a call in flight when the node dies fails with NodeLostError within the detection window
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(1) as ex:
            inflight = ex.submit(cloud.call, "test.sleep", {"seconds": 60}, node=victim.address, timeout=120)
            time.sleep(0.5)
            victim.kill(signal.SIGKILL)
            with pytest.raises(cluster.NodeLostError) as info:
                inflight.result(timeout=20)
        elapsed = time.monotonic() - t0
        assert victim.address in str(info.value) and elapsed < 6.0 + 3.0
        st = cloud.status()
        states = {m["node"]: m["state"] for m in st["members"]}
        assert states[victim.address] == "dead" and st["size"] in (3, 4)
        # a majority agrees: the cloud goes on without it (its row stays, marked removed)
        st = wait_until(lambda: (lambda s: s if s["size"] == 3 else None)(cloud.status()), 10, "the removal")
        assert st["healthy"] and st["quorum"] and st["epoch"] == 1
        assert [m["removed"] for m in st["members"] if m["node"] == victim.address] == [True]
        # a new call to the dead node fails at once
        t1 = time.monotonic()
        with pytest.raises(cluster.NodeLostError):
            cloud.call("echo", {"x": 1}, node=victim.address, timeout=30)
        assert time.monotonic() - t1 < 1.0
        # the survivors keep serving and saw the death too
        for n in nodes[:2]:
            assert cloud.call("echo", {"x": n.port}, node=n.address, timeout=10) == n.port
            wait_until(lambda: {m["node"]: m["state"] for m in status_of(n)["members"]}.get(victim.address) == "dead",
                       10, f"{n.address} to mark the victim dead")
    finally:
        cluster.shutdown()


def test_late_joiner_after_lock_is_refused_and_exits_nonzero(launcher):
    nodes = launcher.cloud(2)
    client = cluster.connect(nodes[0].address, timeout=10)
    try:
        client.call("cloud.lock", {"reason": "test lock"})
        wait_until(lambda: status_of(nodes[1])["locked"], 10, "lock to spread")
    finally:
        client.shutdown()
    ff = launcher.flatfile([n.address for n in nodes], "late.txt")
    late = launcher.start(free_port_pair(), ff)
    code = late.wait_exit(timeout=20)
    assert code != 0 and "cloud is locked" in late.log()
    assert status_of(nodes[0])["size"] == 2
    assert "refused node" in nodes[0].log() or "refused node" in nodes[1].log()


def test_node_of_another_name_never_joins(launcher):
    ports = [free_port_pair() for _ in range(3)]
    ff = launcher.flatfile([f"127.0.0.1:{p}" for p in ports])
    a = [launcher.start(p, ff, name="alpha", extra=["--cloud-size", "2"]) for p in ports[:2]]
    b = launcher.start(ports[2], ff, name="beta")
    for n in a:
        n.wait_log("cloud formed: name=alpha size=2")
    b.wait_log("cloud formed: name=beta size=1")
    time.sleep(2.5)      # several heartbeats later, still apart
    assert status_of(a[0])["size"] == 2 and status_of(b)["size"] == 1
    assert "cloud name mismatch" in a[0].log() and "cloud name mismatch" in b.log()
    assert b.proc.poll() is None          # refused, not killed: it keeps its own cloud


def test_remote_exception_arrives_as_remote_error_with_traceback(launcher):
    (node,) = launcher.cloud(1)
    client = cluster.connect(node.address, timeout=10)
    try:
        with pytest.raises(cluster.RemoteError) as info:
            client.call("test.fail", {"message": "boom 42"})
        err = info.value
        assert err.node == node.address and err.type == "RuntimeError" and err.message == "boom 42"
        assert "Traceback" in err.remote_traceback and "raise RuntimeError(message)" in err.remote_traceback
        # a deadline shorter than the work: RpcTimeoutError, and the node still serves
        with pytest.raises(cluster.RpcTimeoutError):
            client.call("test.sleep", {"seconds": 5}, timeout=0.5)
        assert client.call("echo", {"x": "still here"}) == "still here"
    finally:
        client.shutdown()


def test_messages_over_the_limit_fail_fast_on_the_sending_side(launcher):
    """The receiver would drop an oversized message; the sender says so at once instead of letting the
    caller wait out its deadline."""
    (node,) = launcher.cloud(1)
    client = cluster.connect(node.address, timeout=10)
    try:
        limit = NodeConfig().max_message_bytes
        assert isinstance(client.call("test.big", {"nbytes": 1 << 20}), np.ndarray)
        t0 = time.monotonic()
        with pytest.raises(cluster.RemoteError, match="over the cloud's message limit"):
            client.call("test.big", {"nbytes": limit + 1}, timeout=120)
        with pytest.raises(ValueError, match="over the cloud's message limit"):
            client.call("echo", {"x": np.zeros(limit + 1, dtype=np.uint8)}, timeout=120)
        assert time.monotonic() - t0 < 30
        assert client.call("echo", {"x": "still here"}) == "still here"
    finally:
        client.shutdown()


def test_sigterm_shuts_down_cleanly_with_exit_0(launcher):
    nodes = launcher.cloud(2)
    nodes[0].kill(signal.SIGTERM)
    assert nodes[0].wait_exit(10) == 0
    assert "stopped" in nodes[0].log()
    # the other node hears the goodbye at once (no need to wait for the detector)
    nodes[1].wait_log("left the proposed cloud", timeout=3)


def test_connect_never_starts_a_local_cloud():
    port = free_port_pair()
    with pytest.raises(cluster.CloudUnreachableError) as info:
        cluster.connect(f"127.0.0.1:{port}", timeout=1)
    assert "no aquifer node answered" in str(info.value)
    with pytest.raises(RuntimeError):
        cluster.status()


def test_a_node_that_does_not_stop_in_time_is_stopped_anyway_and_the_warning_names_what_kept_it(caplog):
    """shutdown() raised a bare TimeoutError (once, in a full suite run) and left the loop running; now it stops
    the loop after ``shutdown_timeout`` and warns naming the task that kept it."""
    import asyncio
    cluster.shutdown()
    c = cluster.init(port=free_port_pair(), web=False, verbose=False)

    async def deaf():
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            await asyncio.sleep(60)          # ignores its cancellation for a while

    async def add():
        c.node._tasks.append(asyncio.get_running_loop().create_task(deaf()))

    asyncio.run_coroutine_threadsafe(add(), c.loop).result(5)
    object.__setattr__(c.config, "shutdown_timeout", 2.0)
    t0 = time.monotonic()
    c.shutdown()
    assert time.monotonic() - t0 < 10 and not c.thread.is_alive()
    assert "did not stop within 2 s" in caplog.text and "deaf at deaf" in caplog.text, caplog.text
