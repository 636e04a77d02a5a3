"""Replication 2 on a 3-node cloud with Fashion-MNIST (its first 6,000 rows): a SIGKILLed
member loses nothing, a Deep Learning job running through the kill finishes as well as an unbroken one, and the
copies are restored."""
import json
import threading

import numpy as np
import pytest

import cluster
import frame
from algos import DeepLearningEstimator
from cloudkit import SMALL, admin, fmnist_csvs, wait_until
from mr_tasks import ColSum

pytestmark = pytest.mark.slow
DL = dict(activation="Rectifier", hidden=[64], epochs=2, seed=7)


@pytest.fixture(scope="module")
def csvs(tmp_path_factory):
    return fmnist_csvs(tmp_path_factory.mktemp("fmnist"), rows=6000)


def test_a_killed_member_loses_nothing_and_training_goes_on(launcher, csvs):
    nodes = launcher.cloud(3, extra=["--replication", "2", "--nthreads", "1"])
    client = cluster.connect(",".join(n.address for n in nodes), timeout=10)
    try:
        train = frame.import_file(csvs[0], cloud=client)
        test = frame.import_file(csvs[1], cloud=client)
        train["C785"] = train["C785"].asfactor()
        test["C785"] = test["C785"].asfactor()
        rows, sums = test.as_numpy(), ColSum().do_all(test, cloud=client).sums
        unbroken = DeepLearningEstimator(**DL).train(x=train.names[:-1], y="C785", training_frame=train,
                                                      validation_frame=test)
        err0 = unbroken.model_performance(valid=True).classification_error()
        # the same run again, and a member (not the client's gateway) is SIGKILLed in the middle of it
        dl, failed = DeepLearningEstimator(**DL, model_id="through_the_kill"), []

        def run():
            try:
                dl.train(x=train.names[:-1], y="C785", training_frame=train, validation_frame=test)
            except BaseException as exc:     # noqa: BLE001 - the test reports it
                failed.append(exc)

        trainer = threading.Thread(target=run)
        trainer.start()
        wait_until(lambda: any(j["dest"] == "through_the_kill" and j["progress"] >= 0.3
                               for j in cluster.Job.list(client)), 60, "the run to be a third through")
        victim = next(n for n in nodes if n.address != client.gateway)
        victim.kill()
        trainer.join(120)
        assert not trainer.is_alive() and not failed, failed
        err1 = dl.model_performance(valid=True).classification_error()
        print("errors", err0, err1)
        assert abs(err1 - err0) <= 0.02, (err0, err1)
        assert dl.model.meta.partial == "" and dl.model.meta.epochs == pytest.approx(DL["epochs"], abs=0.05)
        # every row reads back equal, a task gives the same sums, new imports and jobs work
        np.testing.assert_array_equal(test.as_numpy(), rows)
        np.testing.assert_array_equal(ColSum().do_all(test, cloud=client).sums, sums)
        iris = frame.import_file(str(SMALL / "iris_wheader.csv"), cloud=client)
        small = DeepLearningEstimator(hidden=[4], epochs=1, seed=1).train(x=iris.names[:4], y="class",
                                                                           training_frame=iris)
        assert small.predict(iris).nrows == 150
        # and the cloud copies what the lost member held until every key has 2 copies again
        def restored():
            res = admin("--cluster", client.gateway, "--timeout", "10", "cloud", "--json")
            st = json.loads(res.stdout) if res.returncode == 0 else None
            return st if st and st["census"]["under"] == 0 and st["census"]["stray"] == 0 else None

        st = wait_until(restored, 120, "admin cloud to show every key at 2 copies", interval=1.0)
        assert st["size"] == 2 and st["census"]["target"] == 2 and st["census"]["keys"] > 2 * 785 * train.nchunks
        text = admin("--cluster", client.gateway, "cloud").stdout
        assert "every one at 2 copies" in text and "removed" in text
    finally:
        client.shutdown()
