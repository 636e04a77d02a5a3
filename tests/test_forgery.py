"""A stranger on the network (pyzmq and msgpack, no keys) against a cloud WITHOUT security: the attacks of
issue 14, each as a test. The cloud cannot stop a stranger from using it (that takes --security-dir, see
test_security.py), but forged membership messages must not confuse it: the node keeps running, the cloud gains
no member, the failure detector still declares a SIGKILLed node dead within its window, no job hangs past it,
and every request gets an answer at once."""
import json
import os
import signal
import time

import numpy as np
import pytest
import zmq

import cluster
import frame
from cluster import protocol
from cluster.config import NodeConfig
from cluster.dkv import homed_key
from cloudkit import admin, free_port_pair, wait_until

DEAD_AFTER = NodeConfig().dead_after


class Stranger:
    """A raw DEALER connected to a node's cluster port, sending whatever it likes."""

    def __init__(self, node):
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(f"tcp://127.0.0.1:{node.port + 1}")

    def send(self, mtype, *, src, cloud="testcloud", body=None, msg_id=0):
        self.sock.send_multipart(protocol.encode(mtype, src=src, cloud=cloud, msg_id=msg_id, body=body))

    def request(self, op, args, msg_id=1, timeout=5.0):
        self.send("req", src="stranger", body={"op": op, "args": args, "timeout": timeout}, msg_id=msg_id)

    def receive(self, timeout_ms=5000):
        """The next message that comes back, decoded, or None."""
        if not self.sock.poll(timeout_ms):
            return None
        return protocol.decode(self.sock.recv_multipart(), max_bytes=1 << 26)

    def close(self):
        self.sock.close(0)
        self.ctx.term()


def heartbeat(boot, *, members=(), locked=False, pid=4242):
    from cluster.membership import member_hash
    return {"boot": boot, "pid": pid, "cores": 1, "free_mem": 1, "keys": 0, "pkg": cluster.config.PACKAGE_VERSION,
            "members": list(members), "hash": member_hash(members), "locked": locked, "formed": True,
            "client": False}


def boot_of(node) -> int:
    """A node's boot, as it answers any heartbeat (what an attacker can learn too)."""
    s = Stranger(node)
    try:
        s.send("hb", src=f"127.0.0.1:{free_port_pair()}", body=heartbeat(1))
        msg = s.receive()
        assert msg is not None and msg.type == "hb"
        return msg.body["boot"]
    finally:
        s.close()


def status(node) -> dict:
    res = admin("--cluster", node.address, "--timeout", "5", "cloud", "--json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def states(node) -> dict:
    return {m["node"]: m["state"] for m in status(node)["members"]}


def test_a_forged_refusal_does_not_stop_a_node(launcher):
    nodes = launcher.cloud(2)
    s = Stranger(nodes[0])
    try:
        for fatal in (True, False):
            s.send("refuse", src=nodes[1].address, body={"reason": "cloud is locked: go away", "fatal": fatal})
        time.sleep(1.5)
        assert nodes[0].proc.poll() is None and status(nodes[0])["size"] == 2
        assert "refused by" not in nodes[0].log()
    finally:
        s.close()


def test_forged_heartbeats_add_no_member_and_the_lock_keeps_the_cloud_healthy(launcher):
    nodes = launcher.cloud(2)
    fakes = [f"127.0.0.1:{free_port_pair()}" for _ in range(3)]
    strangers = [Stranger(n) for n in nodes]
    try:
        for _ in range(8):                       # forged heartbeats from fake members, for 2 s
            for s in strangers:
                for f in fakes:
                    s.send("hb", src=f, body=heartbeat(7, members=[*fakes, *(n.address for n in nodes)]))
            time.sleep(0.25)
        assert status(nodes[0])["size"] == 2 and status(nodes[1])["size"] == 2
        # the first import locks the cloud: with the real members only
        client = cluster.connect(nodes[0].address, timeout=10)
        try:
            fr = frame.Frame.from_numpy(np.arange(2000.0).reshape(-1, 2), cloud=client)
            st = client.status()
            assert st["locked"] and st["size"] == 2 and st["healthy"]
            time.sleep(DEAD_AFTER + 1.0)          # the fakes never answered: nothing to declare dead
            assert client.status()["healthy"]
            assert fr.as_numpy().shape == (1000, 2)
        finally:
            client.shutdown()
    finally:
        for s in strangers:
            s.close()


def test_a_forged_restart_is_a_conflict_and_a_killed_member_still_dies_on_time(launcher):
    nodes = launcher.cloud(3)
    a, b, c = nodes
    client = cluster.connect(a.address, timeout=10)
    try:
        b_boot = boot_of(b)             # learnt before the lock: after it, a stranger's heartbeat is refused
        client.call("cloud.lock", {"reason": "test: as the first import would"})
        wait_until(lambda: all(status(n)["locked"] for n in nodes), 10, "the lock to spread")
        strangers = [Stranger(a), Stranger(c)]
        for s in strangers:                            # "B restarted": a new boot in B's name
            s.send("hb", src=b.address, body=heartbeat(b_boot + 1, members=[b.address]))
        time.sleep(2.0)
        for n in (a, c):
            assert set(states(n).values()) == {"healthy"}, states(n)
            assert "refused node" not in n.log() and "conflicts with the node answering" in n.log()
        assert b.proc.poll() is None and "refused by" not in b.log()
        # B is SIGKILLed; a stranger keeps heartbeating in its name, with its real boot: B still dies on time
        b.kill(signal.SIGKILL)
        t0 = time.monotonic()

        client_c = cluster.connect(c.address, timeout=10)
        seen = {}

        def b_dead():
            for s in strangers:
                s.send("hb", src=b.address, body=heartbeat(b_boot, members=[n.address for n in nodes]))
            for name, cl in (("a", client), ("c", client_c)):
                if next(m["state"] for m in cl.status()["members"] if m["node"] == b.address) == "dead":
                    seen.setdefault(name, time.monotonic() - t0)
            return len(seen) == 2

        try:
            wait_until(b_dead, DEAD_AFTER + 6, "the SIGKILLed node to be declared dead", interval=0.1)
        finally:
            client_c.shutdown()
        assert max(seen.values()) < DEAD_AFTER + 2, seen     # the detector's window, heartbeats in its name or not
        # and a new job touching B fails at once instead of hanging
        t1 = time.monotonic()
        with pytest.raises(cluster.NodeLostError):
            client.dkv.get(homed_key(b.address, "anything"))        # its home is B
        assert time.monotonic() - t1 < 2.0
        for s in strangers:
            s.close()
    finally:
        client.shutdown()


def test_a_forged_goodbye_does_not_kill_a_member(launcher):
    nodes = launcher.cloud(2)
    s = Stranger(nodes[0])
    try:
        s.send("bye", src=nodes[1].address, body={"boot": boot_of(nodes[1])})
        time.sleep(2.5)
        assert states(nodes[0]) == {n.address: "healthy" for n in nodes}
        assert "still answers after a goodbye" in nodes[0].log()
    finally:
        s.close()


def test_unknown_op_bad_arguments_and_malformed_requests_are_answered_within_100_ms(launcher):
    (node,) = launcher.cloud(1)
    s = Stranger(node)
    try:
        s.request("echo", {"x": 1}, msg_id=1)
        assert s.receive().body == {"ok": True, "result": 1}          # warm: the connection is up
        cases = [("no.such.op", {}, "unknown op"), ("dkv.get", {"key": 7}, "expected str"),
                 ("dkv.get", {"key": "k", "evil": 1}, "unknown field"), ("cloud.lock", {}, "missing field")]
        for i, (op, args, why) in enumerate(cases, start=2):
            t0 = time.perf_counter()
            s.request(op, args, msg_id=i)
            msg = s.receive(timeout_ms=100)
            assert msg is not None, f"no answer to {op} {args} within 100 ms"
            assert time.perf_counter() - t0 < 0.1
            assert msg.id == i and not msg.body["ok"] and why in msg.body["error"]["message"]
            assert msg.body["error"]["type"] == "RequestRefusedError"
        s.send("req", src="stranger", body={"op": "echo", "args": {}, "timeout": float("nan")}, msg_id=9)
        assert "timeout" in s.receive(timeout_ms=100).body["error"]["message"]
        # a request whose body does not even decode is answered too, from its header
        frames = protocol.encode("req", src="stranger", cloud="testcloud", msg_id=10,
                                 body={"op": "echo", "args": {}, "timeout": 1.0})
        s.sock.send_multipart([frames[0], frames[1][:-2]])
        msg = s.receive(timeout_ms=100)
        assert msg.id == 10 and "malformed body" in msg.body["error"]["message"]
        # through the API the refusal keeps its type
        client = cluster.connect(node.address, timeout=10)
        try:
            with pytest.raises(cluster.RequestRefusedError, match="unknown field"):
                client.run(client.node.rpc.call(node.address, "dkv.get", {"key": "k", "evil": 1}))
        finally:
            client.shutdown()
    finally:
        s.close()


def test_a_request_under_a_member_set_the_node_never_hears_of_is_refused_within_three_heartbeats(launcher):
    (node,) = launcher.cloud(1)
    interval = NodeConfig().heartbeat_interval
    s = Stranger(node)
    try:
        epoch = status(node)["epoch"]
        s.send("req", src="stranger", body={"op": "echo", "args": {"x": 1}, "timeout": 30.0, "epoch": epoch},
               msg_id=1)
        assert s.receive().body == {"ok": True, "result": 1}         # the node's own epoch: served at once
        t0 = time.monotonic()
        s.send("req", src="stranger", body={"op": "echo", "args": {"x": 2}, "timeout": 30.0, "epoch": epoch + 10**9},
               msg_id=2)
        s.request("echo", {"x": 3}, msg_id=3)                        # meanwhile others are served
        assert s.receive().body == {"ok": True, "result": 3}
        msg = s.receive(timeout_ms=int(5000 * interval))
        assert msg.id == 2 and not msg.body["ok"] and msg.body["error"]["kind"] == "behind"
        assert f"epoch {epoch + 10**9}" in msg.body["error"]["message"]
        assert 3 * interval <= time.monotonic() - t0 < 5 * interval
        assert status(node)["epoch"] == epoch and status(node)["size"] == 1
    finally:
        s.close()


def test_twenty_thousand_garbage_messages_write_a_few_log_lines(launcher):
    (node,) = launcher.cloud(1)
    s = Stranger(node)
    rng = np.random.default_rng(3)
    try:
        before = node.log().count("\n")
        for i in range(20_000):
            s.sock.send_multipart([rng.bytes(12), rng.bytes(int(rng.integers(0, 40)))])
        client = cluster.connect(node.address, timeout=10)
        try:
            stats = wait_until(lambda: (lambda st: st if sum(st["dropped"].values()) >= 20_000 else None)(
                client.call("node.stats")), 60, "the garbage to be counted")
            assert client.call("echo", {"x": "alive"}) == "alive"
        finally:
            client.shutdown()
        assert stats["dropped"]["malformed"] >= 20_000
        lines = node.log().count("\n") - before
        assert lines < 50, lines
        assert "dropped a message (malformed)" in node.log()
    finally:
        s.close()


def test_a_stranger_cannot_fill_a_node_with_candidates(launcher):
    (node,) = launcher.cloud(1)
    s = Stranger(node)
    try:
        for i in range(500):
            s.send("hb", src=f"127.0.{i // 200}.{i % 200 + 1}:{20000 + i}", body=heartbeat(1))
        client = cluster.connect(node.address, timeout=10)
        try:
            wait_until(lambda: client.call("node.stats")["dropped"].get("membership_candidates", 0) > 0, 10,
                       "candidates over the limit to be ignored")
            assert client.status()["size"] == 1
            fds = len(os.listdir(f"/proc/{node.proc.pid}/fd"))
            assert fds < 300, fds                  # at most max_candidates connections were opened
        finally:
            client.shutdown()
    finally:
        s.close()
