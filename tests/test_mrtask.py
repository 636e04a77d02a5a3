"""MRTask on 1 embedded node and on a 3-node cloud driven from a client: results equal numpy."""
import concurrent.futures
import re
import threading
import time

import numpy as np
import pandas as pd
import pytest

import cluster
import frame
from cloudkit import Launcher, wait_until
from cluster.placement import unhomed
from frame import Frame
from mr_tasks import (CatCount, ColSum, Empty, FailOnNode, Histogram, MeanVar, OutputsThenFail, SlowMap, SlowOutputs,
                      XTimes2PlusY)


def _three(tmp_path_factory, security_dir):
    kit = Launcher(tmp_path_factory.mktemp("three"), security_dir=security_dir)
    try:
        nodes = kit.cloud(3)
        client = kit.connect(nodes[0], timeout=10)
        yield client, nodes
        client.shutdown()
    finally:
        kit.cleanup()


@pytest.fixture(scope="module")
def three_plain(tmp_path_factory):
    yield from _three(tmp_path_factory, None)


@pytest.fixture(scope="module")
def three_curve(tmp_path_factory, keys_dir):
    yield from _three(tmp_path_factory, keys_dir)


@pytest.fixture(scope="module", params=["plain", "curve"])
def three(request):
    """A 3-node cloud of processes and a client, without security and with CURVE."""
    return request.getfixturevalue(f"three_{request.param}")


@pytest.fixture(params=["one", "three_plain", "three_curve"])
def cloud(request):
    if request.param == "one":
        return request.getfixturevalue("one")
    return request.getfixturevalue(request.param)[0]


def data_with_nas(rows=50_000, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(3, 2, size=(rows, 3))
    a[rng.random(rows) < 0.05, 0] = np.nan
    a[rng.random(rows) < 0.01, 2] = np.nan
    return a


def test_sum_meanvar_histogram_catcount_equal_numpy(cloud):
    a = data_with_nas()
    fr = Frame.from_numpy(a, names=["x", "y", "z"], cloud=cloud)
    assert fr.nchunks >= 4
    t = ColSum().do_all(fr, cloud=cloud)
    np.testing.assert_allclose(t.sums, np.nansum(a, axis=0), rtol=1e-12)
    assert t.n == a.shape[0]
    mv = MeanVar().do_all(fr, columns=["x"], cloud=cloud)
    x = a[:, 0][~np.isnan(a[:, 0])]
    assert mv.n == x.size
    np.testing.assert_allclose([mv.mean, mv.m2 / (mv.n - 1)], [x.mean(), x.var(ddof=1)], rtol=1e-10)
    h = Histogram(lo=-5.0, hi=11.0, bins=16).do_all(fr, columns=[2], cloud=cloud)
    np.testing.assert_array_equal(h.counts, np.histogram(a[:, 2][~np.isnan(a[:, 2])], bins=16, range=(-5, 11))[0])
    df = pd.DataFrame({"c": pd.Categorical(np.random.default_rng(1).choice(["b", "a", "d", None], 20_000))})
    cf = Frame.from_pandas(df, cloud=cloud)
    cc = CatCount(nlevels=3).do_all(cf, cloud=cloud)
    expected = df["c"].value_counts().reindex(["a", "b", "d"]).to_numpy()
    np.testing.assert_array_equal(cc.counts, expected)
    assert cc.nas == df["c"].isna().sum()
    fr.remove()
    cf.remove()


def test_chunks_live_on_every_node_and_output_frame_is_placed_next_to_input(three):
    client, nodes = three
    a = np.random.default_rng(2).normal(size=(20_000, 2))
    fr = Frame.from_numpy(a, names=["x", "y"], cloud=client)
    assert set(fr.homes) == {n.address for n in nodes}
    t = XTimes2PlusY().do_all(fr, outputs=["numeric"], cloud=client)
    out = frame.from_task_outputs(t, ["z"], cloud=client)
    np.testing.assert_array_equal(out.as_numpy()[:, 0], a[:, 0] * 2 + a[:, 1])
    assert out.homes == fr.homes and out.espc == fr.espc
    assert dict(map(tuple, t.homes)) == dict(enumerate(fr.homes))     # each map ran on its chunk's home
    rows = client.dkv.keys(out.vecs[0])
    assert sorted(r["home"] for r in rows) == sorted(fr.homes)
    out.remove()
    fr.remove()
    assert client.dkv.keys(fr.vecs[0]) == []


def test_exception_in_map_on_one_node_arrives_as_remote_error(three):
    client, nodes = three
    fr = Frame.from_numpy(np.arange(30_000.0).reshape(-1, 3), cloud=client)
    victim = nodes[2].address
    with pytest.raises(cluster.RemoteError) as info:
        FailOnNode(victim=victim).do_all(fr, cloud=client)
    err = info.value
    assert err.node == victim and err.type == "ValueError" and "failed on purpose" in err.message
    assert "Traceback" in err.remote_traceback and "raise ValueError" in err.remote_traceback
    assert Empty().do_all(fr, cloud=client) is not None          # the cloud still works
    fr.remove()


def vecs_in_cloud(cloud) -> set:
    """The vecs that have chunks (or rollups) in the DKV."""
    return {re.match(r"\$vec/[0-9a-f]+", unhomed(r["key"])).group(0) for r in cloud.dkv.keys("$vec/")}


def test_a_task_that_fails_or_is_cancelled_leaves_none_of_its_output_chunks(three):
    """A task with outputs that failed kept the output chunks its maps had written (a predict that failed half-way:
    a vec per output column that nothing names, for the life of the cloud). The root now deletes them on every
    node before the error reaches the caller."""
    client, nodes = three
    fr = Frame.from_numpy(np.arange(36_000.0).reshape(-1, 3), nchunks=6, cloud=client)
    before = vecs_in_cloud(client)
    assert set(fr.vecs) <= before
    with pytest.raises(cluster.RemoteError, match="failed on purpose"):       # the other chunks wrote theirs
        OutputsThenFail(fail_at=fr.nchunks - 1, seconds=1.0).do_all(fr, outputs=["numeric", "numeric"], cloud=client)
    assert vecs_in_cloud(client) == before
    many = Frame.from_numpy(np.arange(48_000.0).reshape(-1, 2), nchunks=24, cloud=client)
    before = vecs_in_cloud(client)
    job = cluster.Job.start("slow outputs", cloud=client)
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        fut = ex.submit(lambda: SlowOutputs(seconds=0.5).do_all(many, outputs=["numeric"], job=job, cloud=client))
        time.sleep(1.2)                     # the first chunks of every node have written their outputs
        job.cancel()
        with pytest.raises(cluster.JobCancelledError):
            fut.result(timeout=20)
    job.finish("CANCELLED", "cancelled by test")
    wait_until(lambda: vecs_in_cloud(client) == before, 10, "the cancelled task's outputs to be deleted")
    time.sleep(1.0)                          # and no map still running brings one back
    assert vecs_in_cloud(client) == before
    # a task that succeeds keeps its outputs
    t = XTimes2PlusY().do_all(fr, outputs=["numeric"], cloud=client)
    assert len(vecs_in_cloud(client) - before) == 1
    frame.from_task_outputs(t, ["z"], cloud=client).remove()
    many.remove()
    fr.remove()


def test_cancel_ends_a_long_task_cancelled_within_two_seconds(cloud):
    fr = Frame.from_numpy(np.zeros((40_000, 1)), nchunks=24, cloud=cloud)
    job = cluster.Job.start("slow map", cloud=cloud)
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        fut = ex.submit(lambda: SlowMap(seconds=1.0).do_all(fr, job=job, cloud=cloud))
        time.sleep(1.5)
        t0 = time.monotonic()
        job.cancel()
        with pytest.raises(cluster.JobCancelledError):
            fut.result(timeout=10)
        assert time.monotonic() - t0 < 2.0
    job.finish("CANCELLED", "cancelled by test")
    assert job.info()["status"] == "CANCELLED"
    fr.remove()


def test_empty_task_latency_is_small(cloud):
    fr = Frame.from_numpy(np.zeros((1000, 1)), cloud=cloud)
    Empty().do_all(fr, cloud=cloud)
    t0 = time.perf_counter()
    for _ in range(10):
        Empty().do_all(fr, cloud=cloud)
    assert (time.perf_counter() - t0) / 10 < 1.0       # generous bound: the benchmark measures it properly
    fr.remove()


@pytest.mark.slow
def test_heartbeats_flow_during_six_seconds_of_cpu_bound_maps_and_sigkill_raises_node_lost(tmp_path):
    kit = Launcher(tmp_path)
    try:
        # the failure detector at half its default times (0.5 s heartbeats, dead after 3 s), so the maps need
        # last only half as long to outlast it twice
        nodes = kit.cloud(3, extra=["--heartbeat-interval", "0.5", "--dead-after", "3"])
        client = cluster.connect(nodes[0].address, timeout=10)
        try:
            fr = Frame.from_numpy(np.zeros((12_000, 1)), nchunks=12, cloud=client)
            n_chunks = fr.nchunks
            per_chunk = 6.0 * 2 / max(1, n_chunks / 3)      # ~6 s of maps on each node (2 threads each): twice
                                                             # the 3 s after which a silent peer is dead
            suspects = []
            stop = threading.Event()

            def watch():
                while not stop.is_set():
                    for n in nodes:
                        st = client.call("cloud.status", node=None) if n is nodes[0] else None
                        if st:
                            suspects.extend(m for m in st["members"] if m["state"] != "healthy")
                    time.sleep(0.5)

            w = threading.Thread(target=watch)
            w.start()
            t0 = time.monotonic()
            t = SlowMap(seconds=per_chunk).do_all(fr, cloud=client)
            stop.set()
            w.join()
            assert time.monotonic() - t0 >= 4.5
            assert t.chunks_done == n_chunks
            for n in nodes:
                assert "suspect" not in n.log(), n.log()[-2000:]
            assert not suspects
            # now SIGKILL a node in the middle of a task: NodeLostError naming it, no hang
            with concurrent.futures.ThreadPoolExecutor(1) as ex:
                fut = ex.submit(lambda: SlowMap(seconds=3.0).do_all(fr, cloud=client))
                time.sleep(1)
                nodes[2].kill()
                with pytest.raises(cluster.NodeLostError) as info:
                    fut.result(timeout=30)
            assert nodes[2].address in str(info.value)
        finally:
            client.shutdown()
    finally:
        kit.cleanup()


def test_a_job_ends_as_the_exception_that_ended_its_work(one):
    """One rule for every algorithm's job: DONE, CANCELLED for a cancel or Ctrl-C, FAILED with the error."""
    ends = [(None, "DONE", ""), (cluster.JobCancelledError("job j was cancelled"), "CANCELLED", "job j was cancelled"),
            (KeyboardInterrupt(), "CANCELLED", "interrupted (KeyboardInterrupt)"),
            (ValueError("bad rows"), "FAILED", "ValueError: bad rows")]
    for exc, status, error in ends:
        job = cluster.Job.start("ends", cloud=one)
        assert job.end_with(exc) == status
        info = job.info()
        assert (info["status"], info["error"]) == (status, error)


def test_a_layout_names_vecs_not_chunk_keys_and_a_malformed_one_is_refused(three):
    client, nodes = three
    fr = Frame.from_numpy(np.arange(30_000.0).reshape(-1, 3), cloud=client)
    layout = fr.mr_layout(["C2"])
    assert layout["vecs"] == fr.vecs[1:2] and all(set(c) == {"cidx", "home", "start", "nrows"} for c in layout["chunks"])
    task = ColSum()
    client.run(task.do_all_async(client.node, layout, []))
    assert task.sums[0] == np.arange(30_000.0).reshape(-1, 3)[:, 1].sum()
    first = layout["chunks"][0]
    for bad, what in (({**layout, "vecs": [7]}, "layout.vecs"), ({"chunks": layout["chunks"]}, "layout.vecs"),
                      ({**layout, "chunks": [{**first, "data": [first["home"]]}]}, "malformed chunk")):
        with pytest.raises(cluster.RemoteError, match=what):
            client.run(ColSum().do_all_async(client.node, bad, []))
    assert Empty().do_all(fr, cloud=client) is not None          # the cloud still serves
    fr.remove()
