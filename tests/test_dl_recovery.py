"""What a Deep Learning run leaves when it does not finish: a cancelled job keeps the model of its last completed
iteration (H2O's behaviour), marked in the job and the model; ``export_checkpoints_dir`` writes the model at every
scoring event, so a run killed with its whole cloud resumes from the file with ``checkpoint=``."""
import signal
import threading
import time

import numpy as np
import pytest

import algos
import cluster
from algos import DeepLearningEstimator
from cloudkit import Launcher, wait_until
from frame import Frame

X = ["a", "b", "c"]


def regression(cloud, n=4000, seed=0) -> Frame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    return Frame.from_numpy(np.column_stack([x, x @ [1.0, -1.0, 0.5]]), names=X + ["y"], cloud=cloud)


def train_in_thread(dl, fr):
    errors = []

    def run():
        try:
            dl.train(x=X, y="y", training_frame=fr)
        except BaseException as exc:         # noqa: BLE001 - the test inspects it
            errors.append(exc)
    th = threading.Thread(target=run)
    th.start()
    return th, errors


def job_of(cloud, model_id):
    return next((j for j in cluster.Job.list(cloud) if j["dest"] == model_id), None)


def test_a_cancelled_job_keeps_the_model_of_its_last_completed_iteration(one, tmp_path):
    fr = regression(one)
    dl = DeepLearningEstimator(hidden=[16], epochs=100_000, train_samples_per_iteration=1000, seed=3,
                               model_id="cancelled_model")
    th, errors = train_in_thread(dl, fr)
    wait_until(lambda: (job_of(one, "cancelled_model") or {}).get("progress", 0) > 0, 60, "training to start")
    time.sleep(0.5)
    cluster.Job.get(job_of(one, "cancelled_model")["key"], one).cancel()
    th.join(30)
    assert not th.is_alive() and errors and isinstance(errors[0], cluster.JobCancelledError)
    job = job_of(one, "cancelled_model")
    assert job["status"] == "CANCELLED" and "partial model cancelled_model" in job["kept"]
    model = algos.get_model("cancelled_model", cloud=one)
    assert model.meta.partial.startswith("cancelled: the model of iteration") and model.meta.iterations >= 1
    assert 0 < model.meta.epochs < 100_000 and model.predict(fr).nrows == fr.nrows
    model_file = algos.save_model(model, tmp_path)
    assert algos.load_model(model_file, cloud=one).meta.partial == model.meta.partial


def test_a_run_killed_with_its_cloud_resumes_from_its_checkpoint_file(tmp_path):
    checkpoints = tmp_path / "checkpoints"
    kit = Launcher(tmp_path)
    try:
        (node,) = kit.cloud(1, extra=["--nthreads", "1"])
        client = cluster.connect(node.address, timeout=10)
        try:
            fr = regression(client)
            dl = DeepLearningEstimator(hidden=[16], epochs=100_000, train_samples_per_iteration=1000, seed=5,
                                       score_each_iteration=True, model_id="long_run",
                                       export_checkpoints_dir=str(checkpoints))
            th, errors = train_in_thread(dl, fr)
            path = checkpoints / "long_run"
            wait_until(lambda: path.exists() and algos.persistence.read_model_file(path)[1].meta["iterations"] >= 3,
                       60, "a few checkpoints")
            node.kill(signal.SIGKILL)                         # the whole cloud is gone
            th.join(30)
            assert not th.is_alive() and errors and isinstance(errors[0], cluster.AquiferError)
        finally:
            client.shutdown()
        (node2,) = kit.cloud(1, extra=["--nthreads", "1"])
        client = cluster.connect(node2.address, timeout=10)
        try:
            saved = algos.load_model(str(checkpoints / "long_run"), cloud=client)
            assert "written while training" in saved.meta.partial and saved.meta.iterations >= 3
            fr = regression(client)
            epochs = saved.meta.epochs + 2
            resumed = DeepLearningEstimator(hidden=[16], epochs=epochs, train_samples_per_iteration=1000, seed=5,
                                            checkpoint="long_run").train(x=X, y="y", training_frame=fr)
            m = resumed.model
            assert m.meta.epochs == pytest.approx(epochs, abs=0.3) and m.meta.partial == ""
            assert m.meta.iterations > saved.meta.iterations
            assert m.meta.history[0] == saved.meta.history[0]            # the resumed run's history goes on
        finally:
            client.shutdown()
    finally:
        kit.cleanup()
