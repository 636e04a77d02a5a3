"""A Deep Learning network too large for the cloud is refused before anything of it is allocated: on the driver
(its peak memory stays small) and on the nodes (nothing is shipped)."""
import json
import os
import subprocess
import sys
import textwrap
import time

from cloudkit import REPO

DRIVER = textwrap.dedent("""
    import json, resource, sys, time
    import numpy as np
    import cluster
    from frame import Frame
    from algos.deeplearning import DeepLearningEstimator
    address, hidden = sys.argv[1], json.loads(sys.argv[2])
    cloud = cluster.init(port=int(sys.argv[3]), progress=False) if address == "embedded" else \\
        cluster.connect(address, progress=False)
    rng = np.random.default_rng(0)
    fr = Frame.from_numpy(np.c_[rng.normal(size=(500, 784)), rng.integers(0, 10, 500)], cloud=cloud)
    fr["C785"] = fr["C785"].asfactor()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t0 = time.monotonic()
    try:
        DeepLearningEstimator(hidden=hidden, epochs=1).train(y="C785", training_frame=fr)
        error = ""
    except ValueError as exc:
        error = str(exc)
    print(json.dumps({"error": error, "seconds": time.monotonic() - t0, "peak_before": before,
                      "peak_after": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
    cloud.shutdown()
""")


def run_driver(address: str, hidden: list, port: int = 0) -> dict:
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{REPO / 'tests'}", AQUIFER_NO_PROGRESS="1")
    res = subprocess.run([sys.executable, "-c", DRIVER, address, json.dumps(hidden), str(port)], capture_output=True,
                         text=True, timeout=300, cwd=str(REPO), env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_a_network_larger_than_memory_is_refused_before_the_driver_allocates_it():
    from cloudkit import free_port_pair
    out = run_driver("embedded", [100000, 100000], free_port_pair())   # 10 G weights: 161 GB of state
    assert "weights" in out["error"] and "free there" in out["error"] and "hidden layers" in out["error"]
    assert out["seconds"] < 10
    assert out["peak_after"] - out["peak_before"] < 200 << 20, out          # nothing of the network was allocated


def test_a_network_over_the_message_limit_is_refused_before_anything_travels(launcher):
    nodes = launcher.cloud(2)
    t0 = time.monotonic()
    out = run_driver(nodes[0].address, [20000, 20000])      # 416 M weights: 6.7 GB per model state
    assert "cannot travel between the cloud's processes" in out["error"] and "max_message_bytes" in out["error"]
    assert out["seconds"] < 10 and time.monotonic() - t0 < 120
    assert out["peak_after"] - out["peak_before"] < 200 << 20, out
    for n in nodes:
        assert n.proc.poll() is None
