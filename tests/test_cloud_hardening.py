"""Hostile input, leaks, and a cloud across network namespaces."""
import gc
import os
import threading

import msgpack
import numpy as np
import pytest
import zmq

import cluster
from cluster import protocol
from cloudkit import Launcher, free_port_pair, wait_until


def raw_dealer(ctx, node):
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(f"tcp://127.0.0.1:{node.port + 1}")
    return sock


def test_fuzzed_messages_are_dropped_counted_and_the_node_keeps_serving(launcher):
    (node,) = launcher.cloud(1)
    rng = np.random.default_rng(7)
    ctx = zmq.Context()
    sock = raw_dealer(ctx, node)
    valid = protocol.encode("req", src="fuzzer", cloud="testcloud", msg_id=1,
                            body={"op": "echo", "args": {"x": 1}, "timeout": 5.0})
    header = msgpack.unpackb(valid[0])
    try:
        sent = []
        for _ in range(20):                                    # random bytes, 1..4 frames
            sock.send_multipart([rng.bytes(int(rng.integers(0, 200))) for _ in range(int(rng.integers(1, 5)))])
        sent += ["random"] * 20
        sock.send_multipart([valid[0][: len(valid[0]) // 2], valid[1]])      # truncated msgpack header
        sock.send_multipart([valid[0], valid[1][:-3]])                        # truncated body
        sock.send_multipart([msgpack.packb({**header, "v": 99}), valid[1]])  # wrong version
        sock.send_multipart([msgpack.packb({**header, "t": "steal"}), valid[1]])    # unknown type
        sock.send_multipart([valid[0], msgpack.packb({"op": "rm -rf", "args": {}, "timeout": 1.0})])  # unknown op
        sock.send_multipart([valid[0], msgpack.packb({"op": "echo", "args": {"x": 1, "y": 2}, "timeout": 1.0})])
        sock.send_multipart([msgpack.packb({**header, "bufs": [["nd", "|O", [1]]]}), valid[1], b"x"])  # object dtype
        sock.send_multipart([valid[0], msgpack.packb({"op": "echo", "args": {"x": msgpack.ExtType(42, b"evil")},
                                                      "timeout": 1.0})])                           # unknown ext
        big = np.zeros(100 * 2**20, dtype=np.uint8)                                          # a 100 MB frame
        sock.send_multipart([valid[0], valid[1], big], copy=False)
        client = cluster.connect(node.address, timeout=10)
        try:
            assert client.call("echo", {"x": "alive"}, timeout=20) == "alive"
            stats = wait_until(lambda: (lambda s: s if sum(s["dropped"].values()) >= 29 else None)(
                client.call("node.stats")), 20, "drops to be counted")
        finally:
            client.shutdown()
        dropped = stats["dropped"]
        for kind in ("malformed", "version", "unknown_type", "unknown_op", "oversized"):
            assert dropped.get(kind, 0) >= 1, (kind, dropped)
        assert sum(dropped.values()) >= 29
        assert node.proc.poll() is None
        assert "dropped a message (oversized)" in node.log()
    finally:
        sock.close(0)
        ctx.term()


def test_a_node_of_another_protocol_version_is_refused_with_a_reason(launcher):
    """The refusal answers the heartbeat on the connection it came in on (the sender opened it, so the answer
    reaches the real sender, whatever address the heartbeat claims)."""
    (node,) = launcher.cloud(1)
    ctx = zmq.Context()
    me = free_port_pair()
    sock = raw_dealer(ctx, node)            # play a node of the next protocol version that heartbeats to it
    try:
        hb = protocol.encode("hb", src=f"127.0.0.1:{me}", cloud="testcloud", body={
            "boot": 1, "pid": 1, "cores": 1, "free_mem": 1, "keys": 0, "pkg": "9", "members": [], "hash": "",
            "locked": False, "formed": False, "client": False})
        head = msgpack.unpackb(hb[0])
        sock.send_multipart([msgpack.packb({**head, "v": protocol.PROTOCOL_VERSION + 1}), hb[1]])
        assert sock.poll(10_000), "no refusal came back"
        msg = protocol.decode(sock.recv_multipart(), max_bytes=1 << 20)
        assert msg.type == "refuse" and "version mismatch" in msg.body["reason"] and not msg.body["fatal"]
    finally:
        sock.close(0)
        ctx.term()


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_embedded_init_shutdown_twenty_times_leaks_nothing():
    cluster.shutdown()
    port = free_port_pair()
    c = cluster.init(port=port)           # warm up imports and lazily created globals
    c.shutdown()
    gc.collect()
    threads0, fds0 = threading.active_count(), _fds()
    for _ in range(20):
        c = cluster.init(port=port)
        assert c.status()["size"] == 1 and c.call("echo", {"x": 3}) == 3
        cluster.shutdown()
    gc.collect()
    assert threading.active_count() == threads0, threading.enumerate()
    assert _fds() <= fds0, (fds0, _fds())


def test_init_picks_a_free_port_when_the_default_is_taken():
    c1 = cluster.init()
    try:
        import socket
        port = int(c1.node_id.rsplit(":", 1)[1])
        with socket.socket() as s:        # hold a port pair busy
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            cluster.shutdown()
            s.bind(("127.0.0.1", port + 1))
            c2 = cluster.init(port=None)
            try:
                assert int(c2.node_id.rsplit(":", 1)[1]) != port
            finally:
                cluster.shutdown()
    finally:
        cluster.shutdown()


# ------------------------------------------------------------------ network namespaces (netkit)
@pytest.mark.netns
def test_cloud_across_three_network_namespaces(netns_hosts, tmp_path):
    kit = Launcher(tmp_path)
    try:
        port = 54321            # each namespace has its own port space: the H2O default is fine here
        ff = kit.flatfile([f"{addr}:{port}" for _, addr in netns_hosts])
        nodes = [kit.start(port, ff, ip=addr, netns=ns, extra=["--cloud-size", "3"]) for ns, addr in netns_hosts]
        for n in nodes:
            line = n.wait_log("cloud formed: name=testcloud size=3", timeout=30)
            assert all(addr in line for _, addr in netns_hosts)
        assert "127.0.0.1" not in "".join(n.log() for n in nodes)
    finally:
        kit.cleanup()


def test_big_bytes_travel_out_of_band_wherever_they_sit_and_plain_lists_pass_untouched():
    big, small = bytes(range(256)) * 512, b"tiny"
    plain = [f"key{i}" for i in range(10_000)] + [1, 2.5, None, True]
    body = {"ok": True, "result": {"plain": plain, "mixed": ["a", big, [small, big]], "nested": {"b": big}}}
    frames = protocol.encode("rep", src="a", cloud="c", msg_id=3, body=body)
    assert len(frames) == 2 + 3                        # header, body, then one frame per big bytes object
    assert all(bytes(f) == big for f in frames[2:])
    msg = protocol.decode(frames, max_bytes=1 << 26)
    result = msg.body["result"]
    assert result["plain"] == plain and result["mixed"][0] == "a" and result["mixed"][2][0] == small
    assert bytes(result["mixed"][1]) == bytes(result["mixed"][2][1]) == bytes(result["nested"]["b"]) == big
    assert protocol._outline(plain) is plain            # a list of plain values is not walked in Python
    again = protocol.encode("rep", src="a", cloud="c", msg_id=4, body={"ok": True, "result": result["nested"]})
    assert len(again) == 3 and bytes(again[2]) == big  # a received buffer (a memoryview) is passed on out of band


@pytest.mark.parametrize("args, words", [
    (["--plugin", "no_such_module_xyz"], "--plugin no_such_module_xyz: no module named"),
    (["--identity", "bob"], "--identity names a key pair of --security-dir"),
    (["--nthreads", "0"], "--nthreads must be >= 1, got 0"),
    (["--nthreads", "-3"], "--nthreads must be >= 1, got -3"),
    (["--max-mem-size", "inf"], "--max-mem-size"),
    (["--ip", "foo"], "--ip must be an IP address"),
    (["--heartbeat-interval", "0.00001"], "--heartbeat-interval must be >= 0.05 s"),
    (["--dead-after", "1"], "need --heartbeat-interval < --suspect-after < --dead-after, got --heartbeat-interval 1, "
                            "--suspect-after 0.5 (not given: half of --dead-after), --dead-after 1"),
])
def test_node_options_that_cannot_be_obeyed_are_refused_before_it_starts(args, words):
    """Each was accepted and ignored (a missing plugin, --identity alone, --nthreads 0 meaning all cores), or
    ended in a traceback, or (a 10 us heartbeat) made an idle node spin a core."""
    import subprocess
    import sys
    res = subprocess.run([sys.executable, "-m", "cluster.node", "--port", str(free_port_pair()), *args], capture_output=True,
                         text=True, timeout=60, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert res.returncode == 2 and words in res.stderr, (res.returncode, res.stderr[-500:])
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("args, words", [
    (["--timeout", "nan", "cloud"], "argument --timeout: expected seconds"),
    (["--timeout", "-1", "cloud"], "argument --timeout: expected seconds"),
    (["--timeout", "inf", "cloud"], "argument --timeout: expected seconds"),
    (["--identity", "x", "cloud"], "--identity names a key pair of --security-dir"),
    (["--cluster", "127.0.0.1:99999", "cloud"], "a port in 1..65534, got '127.0.0.1:99999'"),
])
def test_admin_options_that_cannot_be_obeyed_are_usage_errors(args, words):
    """They were taken and then failed as "no aquifer node answered" (or, --identity alone, ignored)."""
    from cloudkit import admin
    res = admin(*args)
    assert res.returncode == 2 and words in res.stderr, (res.returncode, res.stderr[-300:])
