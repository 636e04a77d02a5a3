"""Security dirs and bounds on real node processes: CURVE admits only authorized keys, tasks read only under
--data-dir, the DKV refuses writes past --max-mem-size, nodes refuse to run open when asked to."""
import json
import os
import shutil
import time

import numpy as np
import pytest
import zmq
import zmq.auth

import cluster
import frame
from cluster import protocol
from cluster.dkv import Value
from cluster.security import add_identity, make_security_dir
from cloudkit import admin, free_port_pair


def raw_request(node, op="dkv.keys", args=None, *, curve=None, wait_ms=3000):
    """Send one request from a bare DEALER (optionally CURVE with (public, secret, server_public)); the
    decoded answer, or None when nothing came back."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    if curve:
        sock.curve_publickey, sock.curve_secretkey, sock.curve_serverkey = curve
    # a refused CURVE handshake is a protocol error: libzmq drops the connection's pipe, and a blocking send
    # on a DEALER with no pipe waits forever, so the send is bounded like the answer
    sock.setsockopt(zmq.SNDTIMEO, wait_ms)
    sock.connect(f"tcp://127.0.0.1:{node.port + 1}")
    try:
        try:
            sock.send_multipart(protocol.encode("req", src="stranger", cloud="", msg_id=1,
                                                body={"op": op, "args": args or {"prefix": ""}, "timeout": 5.0}))
        except zmq.Again:
            return None
        if not sock.poll(wait_ms):
            return None
        return protocol.decode(sock.recv_multipart(), max_bytes=1 << 26)
    finally:
        sock.close(0)
        ctx.term()


def keys_of(directory, name):
    return zmq.auth.load_certificate(os.path.join(directory, "private", f"{name}.key_secret"))


def test_curve_cloud_answers_only_authorized_keys_and_logs_the_refusals(launcher, tmp_path):
    sec = make_security_dir(str(tmp_path / "sec"))
    alice_secret = add_identity(sec, "alice")
    launcher.security_dir = sec
    (node,) = launcher.cloud(1)
    server_public = zmq.auth.load_certificate(os.path.join(sec, "cloud.key"))[0]
    # with the cloud's key pair: served
    public, secret = keys_of(sec, "cloud")
    msg = raw_request(node, curve=(public, secret, server_public))
    assert msg is not None and msg.body["ok"]
    # no keys at all; another cloud's keys; a key pair that is not authorized: no answer to anything
    other = make_security_dir(str(tmp_path / "other"))
    o_public, o_secret = keys_of(other, "cloud")
    o_server = zmq.auth.load_certificate(os.path.join(other, "cloud.key"))[0]
    stranger_public, stranger_secret = zmq.curve_keypair()
    for curve in (None, (o_public, o_secret, o_server), (stranger_public, stranger_secret, server_public)):
        for op, args in (("dkv.keys", {"prefix": ""}), ("cloud.status", {}), ("echo", {"x": 1})):
            assert raw_request(node, op, args, curve=curve, wait_ms=1500) is None, (curve is None, op)
    log = node.wait_log("is not authorized")
    assert "CURVE handshake failed" in log
    # alice's key works until it is revoked (deleted from authorized/): no restart needed
    user_dir = tmp_path / "alice"
    (user_dir / "private").mkdir(parents=True)
    shutil.copy(os.path.join(sec, "cloud.key"), user_dir / "cloud.key")
    shutil.copy(alice_secret, user_dir / "private" / "alice.key_secret")
    os.chmod(user_dir / "private" / "alice.key_secret", 0o600)
    client = cluster.connect(node.address, security_dir=str(user_dir), timeout=10)
    try:
        assert client.status()["size"] == 1
    finally:
        client.shutdown()
    os.remove(os.path.join(sec, "authorized", "alice.key"))
    with pytest.raises(cluster.CloudUnreachableError, match="security-dir"):
        cluster.connect(node.address, security_dir=str(user_dir), timeout=2)
    # the admin CLI with and without the keys
    res = admin("--security-dir", sec, "--cluster", node.address, "cloud", "--json")
    assert res.returncode == 0 and json.loads(res.stdout)["size"] == 1
    res = admin("--cluster", node.address, "--timeout", "1", "cloud", "--json")
    assert res.returncode == 1 and res.stdout == ""


def test_a_member_with_the_keys_joins_and_one_without_does_not(launcher, tmp_path):
    sec = make_security_dir(str(tmp_path / "sec"))
    other = make_security_dir(str(tmp_path / "other"))
    ports = [free_port_pair() for _ in range(3)]
    ff = launcher.flatfile([f"127.0.0.1:{p}" for p in ports])
    good = [launcher.start(p, ff, extra=["--security-dir", sec, "--cloud-size", "2"]) for p in ports[:2]]
    bad = launcher.start(ports[2], ff, extra=["--security-dir", other])
    for n in good:
        n.wait_log("cloud formed: name=testcloud size=2")
    time.sleep(3)                               # several heartbeats: the keyless node is never heard of
    client = cluster.connect(good[0].address, security_dir=sec, timeout=10)
    try:
        st = client.status()
        assert st["size"] == 2 and {m["node"] for m in st["members"]} == {n.address for n in good}
    finally:
        client.shutdown()
    assert "cloud formed: name=testcloud size=1" in bad.log() and "size=2" not in bad.log()


def test_require_security_refuses_to_start_without_a_security_dir(launcher):
    node = launcher.start(free_port_pair(), None, extra=["--require-security"])
    assert node.wait_exit(20) == 2
    assert "--require-security" in node.log() and "keygen" in node.log()


def test_a_node_on_a_non_loopback_address_without_security_warns(launcher):
    node = launcher.start(free_port_pair(), None, ip="0.0.0.0")
    log = node.wait_log("SECURITY:")
    assert "WITHOUT a security dir" in log and "--require-security" in log


def test_security_dir_errors_name_the_missing_file(tmp_path):
    from cluster.security import load_keys
    with pytest.raises(ValueError, match="does not exist"):
        load_keys(str(tmp_path / "nothing"), server=True)
    sec = make_security_dir(str(tmp_path / "sec"))
    with pytest.raises(ValueError, match="already is a security dir"):
        make_security_dir(sec)
    with pytest.raises(ValueError, match="no key pair 'bob'"):
        load_keys(sec, "bob", server=False)
    os.chmod(os.path.join(sec, "private", "cloud.key_secret"), 0o644)
    with pytest.raises(ValueError, match="readable by others"):
        load_keys(sec, server=True)
    res = admin("keygen", str(tmp_path / "k2"))
    assert res.returncode == 0 and "made security dir" in res.stdout
    res = admin("--security-dir", str(tmp_path / "k2"), "token", "--json")
    assert res.returncode == 0 and len(json.loads(res.stdout)["token"]) >= 40
    assert oct(os.stat(tmp_path / "k2" / "token").st_mode & 0o777) == "0o600"
    # a user's key folder (cloud.key + private/, as docs/security.md lays it out) is not where identities are made:
    # keygen --name there failed with a raw Errno 2 and left a half-made key pair that blocked a retry
    user = tmp_path / "user"
    (user / "private").mkdir(parents=True)
    shutil.copy(os.path.join(sec, "cloud.key"), user / "cloud.key")
    res = admin("keygen", str(user), "--name", "bob")
    assert res.returncode == 2 and "no authorized/ folder: it is a user's key folder" in res.stderr
    assert not os.listdir(user / "private")
    # and a configuration error of the client's own is exit 2, not "unreachable" (1)
    res = admin("--security-dir", str(tmp_path / "nothing"), "--timeout", "1", "cloud")
    assert res.returncode == 2 and "does not exist" in res.stderr


# ------------------------------------------------------------------------------------------- --data-dir
def test_tasks_read_files_only_under_the_data_dirs(launcher, tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "ok.csv").write_text("a,b\n1,2\n3,4\n")
    secret = tmp_path / "secret.csv"
    secret.write_text("user,hash\nroot,$6$abcdef\n")
    os.chmod(secret, 0o600)
    (allowed / "link.csv").symlink_to(secret)                # a link inside cannot lead outside
    launcher.data_dirs = [allowed]
    (node,) = launcher.cloud(1)
    client = cluster.connect(node.address, timeout=10)
    try:
        fr = frame.import_file(str(allowed / "ok.csv"), cloud=client)
        assert fr.as_numpy().tolist() == [[1.0, 2.0], [3.0, 4.0]]
        for path in (secret, allowed / "link.csv", allowed / ".." / "secret.csv"):
            with pytest.raises(cluster.RemoteError, match="does not let tasks read") as info:
                frame.import_file(str(path), cloud=client)
            assert info.value.type == "PermissionError" and "--data-dir" in info.value.message
        assert [r["key"] for r in client.dkv.keys("") if r["type"] == "frame"] == ["ok.hex"]   # nothing else
    finally:
        client.shutdown()


def test_an_embedded_node_reads_its_own_files_but_not_for_others(tmp_path):
    """This process's own imports read what it can; a client's tasks on the embedded node only its data dirs."""
    path = tmp_path / "mine.csv"
    path.write_text("x\n1\n2\n")
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    cluster.shutdown()
    cloud = cluster.init(port=free_port_pair(), data_dirs=[str(allowed)])
    try:
        assert frame.import_file(str(path), cloud=cloud).nrows == 2
        client = cluster.connect(cloud.node_id, timeout=10)
        try:
            with pytest.raises(cluster.RemoteError, match="does not let tasks read"):
                frame.import_file(str(path), cloud=client, destination_frame="again")
        finally:
            client.shutdown()
    finally:
        cluster.shutdown()


# ------------------------------------------------------------------------------------------- DKV quota
def test_puts_past_max_mem_size_are_refused_with_a_clear_error(launcher):
    (node,) = launcher.cloud(1, extra=["--max-mem-size", "150m"])
    client = cluster.connect(node.address, timeout=10)
    try:
        big = np.zeros(60 << 20, dtype=np.uint8)
        client.dkv.put("v0", Value("blob", {}, (big,)))
        client.dkv.put("v1", Value("blob", {}, (big,)))
        t0 = time.monotonic()
        with pytest.raises(cluster.QuotaExceededError, match="max_mem_size") as info:
            client.dkv.put("v2", Value("blob", {}, (big,)))
        assert "--max-mem-size" in str(info.value) and time.monotonic() - t0 < 5
        with pytest.raises(cluster.QuotaExceededError):     # a batch is refused whole
            client.dkv.put_many([("v3", Value("blob", {}, (big[:1 << 20],))), ("v4", Value("blob", {}, (big,)))])
        assert sorted(r["key"] for r in client.dkv.keys("v")) == ["v0", "v1"]
        held = client.call("node.stats")["dkv"]
        assert held["stored_bytes"] <= 150 << 20 and held["max_mem_size"] == 150 << 20
        client.dkv.put("v1", Value("blob", {}, (big[:10],)))            # replacing frees
        client.dkv.put("v2", Value("blob", {}, (big,)))
        client.dkv.delete("v0", "v1", "v2")
        assert client.call("node.stats")["dkv"]["stored_bytes"] == 0
        assert client.call("echo", {"x": "alive"}) == "alive"
    finally:
        client.shutdown()


def test_one_connection_cannot_hold_more_than_its_inbound_budget():
    """Requests from one connection being served at once are bounded in bytes; the rest are refused at once."""
    import asyncio
    cluster.shutdown()
    one = cluster.init(port=free_port_pair(), plugins=["aquifer_test_plugin"])
    try:
        one.node.rpc.peer_inbound_bytes = 3 << 20 | 4096        # room for three 1 MiB requests, for the test
        client = cluster.connect(one.node_id, timeout=10)
        try:
            pad = np.zeros(1 << 20, dtype=np.uint8)

            async def burst():
                calls = [client.node.call(one.node_id, "test.sleep", {"seconds": 1.0, "pad": pad}) for _ in range(5)]
                return await asyncio.gather(*calls, return_exceptions=True)

            t0 = time.monotonic()
            results = client.run(burst())
            refused = [r for r in results if isinstance(r, cluster.RequestRefusedError)]
            assert len(refused) == 2, results
            assert results.count(1.0) == 3 and "bytes of requests from this connection" in str(refused[0])
            assert time.monotonic() - t0 < 5
            assert client.call("echo", {"x": "again"}) == "again"       # the budget frees as requests finish
        finally:
            client.shutdown()
    finally:
        cluster.shutdown()
