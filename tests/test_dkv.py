"""The DKV on a real 3-node cloud, used from an embedded member and from a client."""
import numpy as np
import pytest

import cluster
from cluster.dkv import Value, home_of, homed_key
from cloudkit import free_port_pair, wait_until


def test_rendezvous_homes_are_stable_and_spread():
    members = tuple(f"10.0.0.{i}:54321" for i in range(1, 4))
    homes = [home_of(f"key{i}", members) for i in range(3000)]
    counts = {m: homes.count(m) for m in members}
    assert all(800 < c < 1200 for c in counts.values()), counts
    # removing a node moves only the keys it homed (the point of rendezvous hashing)
    fewer = members[:2]
    moved = sum(1 for i, h in enumerate(homes) if h in fewer and home_of(f"key{i}", fewer) != h)
    assert moved == 0
    assert home_of(homed_key(members[2], "frame/c1/k0"), members) == members[2]


@pytest.fixture
def cloud4(launcher):
    nodes = launcher.cloud(3, extra=["--cloud-size", "4"], wait=False)
    ff = launcher.tmp / f"flat-{nodes[0].port}.txt"
    cloud = cluster.init(flatfile=str(ff), port=free_port_pair(), name="testcloud", cloud_size=4, timeout=30)
    try:
        yield cloud, nodes
    finally:
        cluster.shutdown()


def test_put_get_delete_keys_across_nodes_member_and_client(cloud4):
    cloud, nodes = cloud4
    dkv = cloud.dkv
    arrays = {f"k{i}": np.arange(i * 1000, dtype=np.float64) for i in range(40)}
    for k, a in arrays.items():
        dkv.put(k, Value("arr", {"i": k}, (a, b"x" * 5000, b"y" * 70_000)))     # the last travels out of band
    assert cloud.status()["locked"]          # the first write locked the cloud
    rows = dkv.keys("k")
    assert len(rows) == 40 and {r["home"] for r in rows} == set(cloud.node.members)
    for r in rows:
        assert r["home"] == dkv.home(r["key"]) and r["type"] == "arr" and r["bytes"] > 5000
    client = cluster.connect(nodes[1].address, timeout=10)
    try:
        for k, a in arrays.items():
            v = client.dkv.get(k)
            np.testing.assert_array_equal(v.buffers[0], a)
            assert bytes(v.buffers[1]) == b"x" * 5000 and v.meta == {"i": k}
            assert type(v.buffers[2]) is bytes and v.buffers[2] == b"y" * 70_000
        many = client.dkv.get_many(["k3", "nope", "k7"])
        assert many[1] is None and many[0].meta["i"] == "k3"
        # writes from the client land on the home and are seen by the member
        client.dkv.put_many([(f"c{i}", Value("t", {"i": i})) for i in range(10)])
        assert [dkv.get(f"c{i}").meta["i"] for i in range(10)] == list(range(10))
        # atomic updates run on the home, one at a time
        for _ in range(5):
            client.dkv.atomic("counter", "test.counter", {"by": 2})
            dkv.atomic("counter", "test.counter", {"by": 1})
        assert dkv.get("counter").meta["n"] == 15
        with pytest.raises(cluster.RemoteError, match="no atomic update function"):
            dkv.atomic("counter", "os.system", {"by": 1})
        # delete frees the keys on every node and in every cache
        assert client.dkv.delete_prefix("k") == 40
        assert dkv.keys("k") == [] and client.dkv.get("k5") is None and dkv.get("k5") is None
        # heartbeats carry each node's key count (so it is at most a heartbeat old)
        wait_until(lambda: sum(m["keys"] for m in client.status()["members"]) == len(dkv.keys("")), 5,
                   "key counts in the status to catch up")
    finally:
        client.shutdown()


def test_get_from_a_dead_home_raises_node_lost(cloud4):
    cloud, nodes = cloud4
    dkv = cloud.dkv
    victim = nodes[0]
    key = homed_key(victim.address, "doomed")
    dkv.put(key, Value("t", {"x": 1}))
    victim.kill()
    with pytest.raises(cluster.NodeLostError):
        for _ in range(200):            # within the detection window, never hangs
            cloud.node.dkv.drop_cache()
            dkv.get(key)
            import time
            time.sleep(0.1)
