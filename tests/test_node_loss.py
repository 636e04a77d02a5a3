"""Losing a member of a locked 3-node cloud, on real processes: SIGKILL, SIGSTOP, a killed gateway, a restart.

With replication 1 exactly the operations that need the lost member's keys fail (fast, naming the keys) and the
cloud stays usable; with replication 2 nothing is lost, a task re-runs the lost member's share on the holders of
its copies, and the copies are restored. A paused member that was removed exits with its own status instead of
running on alone; a client whose gateway dies fails its call in flight within the detection window and goes on
through another member; a restarted member rejoins empty and receives copies.
"""
import concurrent.futures
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import algos
import cluster
import frame
from algos import DeepLearningEstimator
from cluster.config import NodeConfig
from cluster.node import EXIT_REMOVED
from cloudkit import REPO, SMALL, admin, wait_until
from mr_tasks import ColSum, SlowMap

DEAD_AFTER = NodeConfig().dead_after
WINDOW = DEAD_AFTER + 4.0            # the detection window, with margin for a loaded machine
X = ["a", "b", "c", "d"]


def data(n=6000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    return np.column_stack([x, x @ [1.0, -2.0, 0.5, 0.0] + 0.1 * rng.normal(size=n)])


def connect_all(nodes, **kw):
    return cluster.connect(",".join(n.address for n in nodes), timeout=10, **kw)


def wait_census(client, timeout=60.0):
    try:
        return wait_until(lambda: (lambda c: c if c["under"] == 0 and c["stray"] == 0 else None)(client.dkv.census()),
                          timeout, "every key to be at its copies again")
    except TimeoutError as exc:      # say where it stands: the census and each member's re-replication passes
        raise TimeoutError(f"{exc}: census {client.dkv.census()}, cloud {client.status()}") from None


def test_replication_1_fails_exactly_what_needs_the_lost_keys_and_the_cloud_goes_on(launcher):
    nodes = launcher.cloud(3, extra=["--nthreads", "1"])
    client = connect_all(nodes)
    try:
        members = sorted(n.address for n in nodes)
        arr = data()
        fr = frame.Frame.from_numpy(arr, names=X + ["y"], nchunks=6, cloud=client)      # chunks on every member
        # a frame with nothing on the victim: one chunk and its header on the first member
        key = next(k for k in (f"indep{i}" for i in range(200)) if client.dkv.home(k) == members[0])
        indep = frame.Frame.from_numpy(arr[:100], nchunks=1, destination_frame=key, cloud=client)
        assert indep.homes == [members[0]]
        victim = next(n for n in nodes if n.address not in (members[0], client.gateway))
        # a model trains while the member dies: it stops, and keeps its last completed iteration
        # (each member trains its own rows: replicated training data would leave every chunk cached everywhere)
        dl = DeepLearningEstimator(hidden=[8], epochs=100_000, score_each_iteration=True, seed=1,
                                   train_samples_per_iteration=2000, model_id="r1_model",
                                   replicate_training_data=False)
        failed = []
        trainer = threading.Thread(target=lambda: _catch(failed, dl.train, x=X, y="y", training_frame=fr))
        trainer.start()
        wait_until(lambda: any(j["dest"] == "r1_model" and j["progress"] > 0 for j in cluster.Job.list(client)),
                   60, "the model to train")
        t0 = time.monotonic()
        victim.kill()
        with pytest.raises(cluster.NodeLostError) as info:
            fr.as_numpy()
        assert time.monotonic() - t0 < WINDOW
        lost = info.value.keys
        assert lost and all(k.startswith(f"@{victim.address}@") for k in lost) and info.value.node == victim.address
        assert victim.address in str(info.value) and "lost keys" in str(info.value)
        with pytest.raises(cluster.NodeLostError) as info:          # a task over it names the lost chunks too
            ColSum().do_all(fr, cloud=client)
        assert all(k.startswith(f"@{victim.address}@") for k in info.value.keys)
        trainer.join(WINDOW + 30)
        assert not trainer.is_alive() and failed and isinstance(failed[0], cluster.NodeLostError)
        model = algos.get_model("r1_model", cloud=client)
        assert f"member {victim.address} was lost" in model.meta.partial and model.meta.iterations >= 1
        job = next(j for j in cluster.Job.list(client) if j["dest"] == "r1_model")
        assert job["status"] == "FAILED" and "r1_model" in job["kept"]
        # everything else keeps working: the independent frame, a new import, a new model
        np.testing.assert_array_equal(indep.as_numpy(), arr[:100])
        st = wait_until(lambda: (lambda s: s if s["size"] == 2 else None)(client.status()), WINDOW, "removal")
        assert st["healthy"] and st["quorum"]
        # a listing cannot name what only the lost member held: it says it may be incomplete, by whom
        assert client.lost_members() == [victim.address]
        with pytest.warns(UserWarning, match=rf"member\(s\) {victim.address} were lost with models they alone held"):
            assert "r1_model" in [r["model_id"] for r in algos.list_models(client)]
        for what in ("frames", "models", "keys"):            # the admin's listings say so too
            res = admin("--cluster", members[0], what)
            assert res.returncode == 0, res.stderr
            assert f"(incomplete: member(s) {victim.address} were lost)" in res.stdout.splitlines()[0], res.stdout
            assert f"note: member(s) {victim.address} were lost" in res.stderr
        iris = frame.import_file(str(SMALL / "iris_wheader.csv"), cloud=client)
        m = DeepLearningEstimator(hidden=[4], epochs=1, seed=2).train(x=iris.names[:4], y="class",
                                                                       training_frame=iris)
        assert m.predict(iris).nrows == 150
    finally:
        client.shutdown()


def _catch(errors, fn, **kw):
    try:
        fn(**kw)
    except BaseException as exc:         # noqa: BLE001 - the test inspects it
        errors.append(exc)


def test_replication_2_a_paused_member_is_removed_and_exits_and_nothing_is_lost(launcher):
    nodes = launcher.cloud(3, extra=["--nthreads", "1", "--replication", "2"])
    client = connect_all(nodes[:2])
    try:
        arr = data()
        fr = frame.Frame.from_numpy(arr, names=X + ["y"], nchunks=6, cloud=client)
        sums = ColSum().do_all(fr, cloud=client).sums
        victim = nodes[2]
        victim.kill(signal.SIGSTOP)
        time.sleep(10)
        # the other two removed it and go on: writes succeed on the majority side
        st = client.status()
        assert st["size"] == 2 and st["quorum"] and st["epoch"] >= 1
        client.dkv.put("during_the_pause", cluster.dkv.Value("t", {"x": 1}, immutable=False))
        victim.kill(signal.SIGCONT)
        assert victim.wait_exit(20) == EXIT_REMOVED
        assert "removed from cloud 'testcloud'" in victim.log()
        np.testing.assert_array_equal(fr.as_numpy(), arr)
        np.testing.assert_allclose(ColSum().do_all(fr, cloud=client).sums, sums)
        census = wait_census(client)
        assert census["target"] == 2 and census["keys"] > 12
        assert client.status()["size"] == 2 and client.dkv.get("during_the_pause").meta == {"x": 1}
        assert client.lost_members() == []          # the copies cover the loss: listings are complete
    finally:
        client.shutdown()


def test_a_killed_gateway_fails_the_call_in_flight_then_a_task_reruns_a_lost_share_and_the_member_rejoins(launcher):
    nodes = launcher.cloud(3, extra=["--nthreads", "1", "--replication", "2"])
    client = connect_all(nodes)
    try:
        arr = data()
        fr = frame.Frame.from_numpy(arr, names=X + ["y"], nchunks=6, cloud=client)
        gateway = next(n for n in nodes if n.address == client.gateway)
        with concurrent.futures.ThreadPoolExecutor(1) as ex:
            inflight = ex.submit(client.call, "test.sleep", {"seconds": 120}, timeout=300)
            time.sleep(0.5)
            t0 = time.monotonic()
            gateway.kill()
            with pytest.raises(cluster.NodeLostError) as info:
                inflight.result(timeout=WINDOW + 10)
        assert time.monotonic() - t0 < WINDOW and gateway.address in str(info.value)
        assert client.call("echo", {"x": 7}) == 7 and client.gateway != gateway.address
        np.testing.assert_array_equal(fr.as_numpy(), arr)
        # the killed gateway comes back (same address, a new process): it rejoins empty and receives copies
        wait_until(lambda: client.status()["size"] == 2, WINDOW, "the removal")
        launcher.start(gateway.port, launcher.tmp / f"flat-{nodes[0].port}.txt",
                       extra=["--cloud-size", "3", "--nthreads", "1", "--replication", "2"])
        wait_until(lambda: client.status()["size"] == 3, 30, "the restarted member to rejoin")
        assert wait_census(client)["target"] == 2
        st = wait_until(lambda: (lambda s: s if all(m["keys"] > 0 for m in s["members"] if not m["removed"])
                                 else None)(client.status()), 10, "the rejoined member to hold copies")
        assert st["healthy"] and st["epoch"] == 2
        # a task loses a member mid-way: its share runs again on the holders of the copies
        victim = next(n for n in nodes if n is not gateway and n.address != client.gateway)
        with concurrent.futures.ThreadPoolExecutor(1) as ex:
            slow = ex.submit(lambda: SlowMap(seconds=0.5).do_all(fr, cloud=client))
            time.sleep(0.7)
            victim.kill()
            task = slow.result(timeout=60)
        assert task.chunks_done == 6
        np.testing.assert_array_equal(fr.as_numpy(), arr)
        assert wait_census(client)["target"] == 2
    finally:
        client.shutdown()


def test_a_restarted_member_works_under_the_member_set_that_readmitted_it(launcher):
    """A member re-admitted learns the new member set from its own heartbeat's answer; a task that reaches it
    first (here its heartbeats are 5 s apart, so it would read under its old view for seconds and find no chunk)
    waits until it has asked the sender for the set."""
    extra = ["--nthreads", "1", "--replication", "2"]
    nodes = launcher.cloud(3, extra=extra)
    client = connect_all(nodes)
    try:
        arr = data()
        fr = frame.Frame.from_numpy(arr, names=X + ["y"], nchunks=6, cloud=client)
        sums = ColSum().do_all(fr, cloud=client).sums
        victim = next(n for n in nodes if n.address != client.gateway)
        victim.kill()
        wait_until(lambda: client.status()["size"] == 2, WINDOW, "the removal")
        epoch = client.status()["epoch"]
        launcher.start(victim.port, launcher.tmp / f"flat-{nodes[0].port}.txt",
                       extra=["--cloud-size", "3", "--heartbeat-interval", "5", "--suspect-after", "8",
                              "--dead-after", "12", *extra])
        wait_until(lambda: client.status()["size"] == 3, 30, "the restarted member to rejoin")
        # at once, while the restarted member may not have heard the new set: tasks over an old and a new frame
        np.testing.assert_allclose(ColSum().do_all(fr, cloud=client).sums, sums)
        fresh = frame.Frame.from_numpy(arr, names=X + ["y"], nchunks=6, cloud=client)
        np.testing.assert_allclose(ColSum().do_all(fresh, cloud=client).sums, sums)
        assert client.status()["epoch"] == epoch + 1
    finally:
        client.shutdown()


def test_a_job_whose_driver_is_killed_ends_failed_and_frees_its_frames(launcher, tmp_path):
    """A training's driver is the process that called train(). Killed (OOM killer, a closed laptop), its job
    stayed RUNNING for ever and read-locked its frame: it could be neither removed nor imported again. The driver
    now touches its job (lease: NodeConfig.job_lease, 2 s here); a listing ends a job silent for longer FAILED
    ("driver lost") and its locks go with it, while a live driver keeps its job however long it runs."""
    node, = launcher.cloud(1, extra=["--nthreads", "1"])
    client = launcher.connect(node, timeout=10, progress=False)
    driver = None
    try:
        frame.import_file(str(SMALL / "prostate.csv"), destination_frame="orphan.hex", cloud=client)
        script = tmp_path / "driver.py"
        script.write_text(textwrap.dedent(f"""
            import cluster, frame
            from algos import DeepLearningEstimator
            cloud = cluster.connect("{node.address}", timeout=10, progress=False)
            cloud.config.job_lease = 2.0
            DeepLearningEstimator(hidden=[8], epochs=1e7, model_id="orphan_dl").train(
                y="CAPSULE", training_frame=frame.get_frame("orphan.hex"))
            """))
        driver = subprocess.Popen([sys.executable, str(script)], cwd=str(REPO), start_new_session=True,
                                  env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        job = wait_until(lambda: next((j for j in cluster.Job.list(client) if j["dest"] == "orphan_dl"
                                       and j["progress"] > 0), None), 60, "the driver's training to run")
        time.sleep(3)                      # longer than the lease: the driver's touches keep its job
        listed = {j["key"]: j for j in cluster.Job.list(client)}[job["key"]]
        assert listed["status"] == "RUNNING", listed
        with pytest.raises(ValueError, match="cannot remove frame 'orphan.hex': the running job"):
            frame.remove("orphan.hex", cloud=client)
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(10)
        ended = wait_until(lambda: next((j for j in cluster.Job.list(client) if j["key"] == job["key"]
                                         and j["status"] == "FAILED"), None), 30, "the orphan job to end")
        assert ended["error"].startswith("driver lost: the process running this job gave no sign of life")
        frame.remove("orphan.hex", cloud=client)          # its lock went with it
        assert client.dkv.type_of("orphan.hex") is None
    finally:
        if driver is not None and driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait(10)
        client.shutdown()
