"""Grid search on a 3-node cloud from a client: Cartesian and RandomDiscrete grids, sorting, up-front checks,
failed models recorded, cancel, appending to an existing grid; plus the walkers and H2O's grid stopping rule on
their own."""
import re
import threading
import time

import numpy as np
import pandas as pd
import pytest

import cluster
from algos import DeepLearningEstimator, get_model, remove_model
from algos.grid import GridSearch, cartesian, get_grid, grid_should_stop, random_discrete, remove_grid
from cloudkit import SMALL, Launcher
from cluster.dkv import Value
from frame import Frame

X = ["AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    cluster.shutdown()
    kit = Launcher(tmp_path_factory.mktemp("gridcloud"))
    try:
        nodes = kit.cloud(3, extra=["--nthreads", "1"])      # 3 nodes share this 2-core machine
        c = cluster.connect(nodes[0].address, timeout=10)
        try:
            yield c
        finally:
            c.shutdown()
    finally:
        kit.cleanup()


@pytest.fixture(scope="module")
def prostate(client):
    df = pd.read_csv(SMALL / "prostate.csv")
    df["CAPSULE"] = df["CAPSULE"].astype("category")
    fr = Frame.from_pandas(df, nchunks=6, cloud=client)
    assert len(set(fr.homes)) == 3                            # the rows live on every node
    return fr


def jobs(client) -> list[dict]:
    return cluster.Job.list(client)


def test_cartesian_2x2_trains_every_combination_and_sorts(client, prostate):
    grid = GridSearch(DeepLearningEstimator(epochs=2, seed=3), grid_id="cart_grid",
                      hyper_params={"hidden": [[3], [6]], "activation": ["Tanh", "rectifier"]})
    grid.train(x=X, y="CAPSULE", training_frame=prostate, validation_frame=prostate, l2=1e-4)
    assert grid.model_ids == [f"cart_grid_model_{i}" for i in range(1, 5)]
    combos = [(h["hidden"], h["activation"]) for h in grid.model_hypers]
    assert combos == [([3], "Tanh"), ([3], "Rectifier"), ([6], "Tanh"), ([6], "Rectifier")]
    for m, (hidden, act) in zip(grid.models, combos):
        assert m.params["hidden"] == hidden and m.params["activation"] == act and m.params["l2"] == 1e-4
    assert grid.get_grid(sort_by="logloss") is grid          # h2o-py: the grid, its models sorted
    table = grid.sorted_metric_table()
    assert list(table.columns) == ["hidden", "activation", "model_ids", "logloss"]
    assert list(table["logloss"]) == sorted(table["logloss"])
    assert list(table["model_ids"]) == grid.model_ids          # the models follow the table's order
    for m, v in zip(grid.models, table["logloss"]):
        assert v == pytest.approx(m.logloss(valid=True))        # validation metrics when there are some
    auc = grid.get_grid(sort_by="auc").sorted_metric_table()
    assert list(auc["auc"]) == sorted(auc["auc"], reverse=True)     # auc: decreasing by default
    assert grid.models[0].auc(valid=True) == max(auc["auc"])      # get_grid(...).models[0]: the best
    up = grid.get_grid(sort_by="auc", decreasing=False).sorted_metric_table()
    assert list(up["auc"]) == sorted(up["auc"])
    assert str(grid).splitlines()[1].split() == ["hidden", "activation", "model_ids", "auc"]    # print(grid)
    assert grid.get_hyperparams_dict(grid.model_ids[0]) == grid.model_hypers[0]
    with pytest.raises(ValueError, match="sort_by"):
        grid.get_grid(sort_by="accuracy_of_the_moon")
    rows = {r["key"]: r["type"] for r in client.dkv.keys("")}
    assert rows["cart_grid"] == "grid"
    again = get_grid("cart_grid", client)
    assert again.model_ids == grid.model_ids and again.status == "DONE"
    job = next(j for j in jobs(client) if j["dest"] == "cart_grid")
    assert job["status"] == "DONE" and job["progress"] == 1.0
    remove_grid("cart_grid", client)
    left = {r["key"] for r in client.dkv.keys("")}
    assert "cart_grid" not in left and not any(k.startswith("cart_grid_model_") for k in left)


def test_random_discrete_three_models_with_cross_validation(client, prostate):
    hyper = {"l1": [0.0, 1e-4, 1e-3], "activation": ["Tanh", "Rectifier"]}
    grid = GridSearch(DeepLearningEstimator(hidden=[4], epochs=2), hyper_params=hyper, grid_id="rand_grid",
                      search_criteria={"strategy": "RandomDiscrete", "max_models": 3, "seed": 42})
    grid.train(x=X, y="CAPSULE", training_frame=prostate, nfolds=2)
    expected = [combo for combo, _ in zip(random_discrete(grid.hyper_params, 42), range(3))]
    got = [(hyper["l1"].index(h["l1"]), hyper["activation"].index(h["activation"])) for h in grid.model_hypers]
    assert got == expected and len(set(got)) == 3              # sampled without replacement, from the seed
    assert [m.params["seed"] for m in grid.models] == [42, 43, 44]  # H2O: search seed + model number
    table = grid.get_grid("logloss").sorted_metric_table()
    assert list(table["logloss"]) == sorted(table["logloss"])
    for m, v in zip(grid.models, table["logloss"]):
        assert m.meta.cv.nfolds == 2
        assert v == pytest.approx(m.logloss(xval=True))         # cross-validated models sort on xval
    remove_grid("rand_grid", client)


def test_random_grid_stops_when_the_best_models_converge_and_budgets_bound_models(client, prostate):
    hyper = {"l1": [0.0, 1e-5, 1e-4, 1e-3], "hidden": [[3], [4]]}
    # any tolerance >= 1 means "no improvement is enough": the walk stops at the first 2k+1 = 3 models
    grid = GridSearch(DeepLearningEstimator(epochs=1), hyper_params=hyper, grid_id="conv_grid",
                      search_criteria={"strategy": "RandomDiscrete", "seed": 1, "stopping_rounds": 1,
                                       "stopping_tolerance": 1.0, "stopping_metric": "logloss",
                                       "max_runtime_secs": 60})
    grid.train(x=X, y="CAPSULE", training_frame=prostate)
    assert len(grid.models) == 3
    assert all(0 < m.params["max_runtime_secs"] <= 60 for m in grid.models)   # capped by the grid's budget
    capped = GridSearch(DeepLearningEstimator(epochs=1), hyper_params=hyper, grid_id="max_grid",
                        search_criteria={"max_models": 2})
    capped.train(x=X, y="CAPSULE", training_frame=prostate)
    assert [(h["l1"], h["hidden"]) for h in capped.model_hypers] == [(0.0, [3]), (0.0, [4])]
    for gid in ("conv_grid", "max_grid"):
        remove_grid(gid, client)


def test_bad_hyper_parameters_are_refused_before_anything_trains(client, prostate):
    n = len(jobs(client))
    with pytest.raises(ValueError, match="hiden.*hidden"):
        GridSearch(DeepLearningEstimator, {"hiden": [[5]]})
    with pytest.raises(ValueError, match=r"hyper_params\['activation'\] value 'Sigmoid'"):
        GridSearch(DeepLearningEstimator, {"activation": ["Tanh", "Sigmoid"]})
    with pytest.raises(ValueError, match="non-empty list"):
        GridSearch(DeepLearningEstimator, {"l1": 0.1})
    with pytest.raises(ValueError, match="cannot be searched"):
        GridSearch(DeepLearningEstimator, {"training_frame": [prostate]})
    with pytest.raises(ValueError, match="RandomDiscrete strategy only"):
        GridSearch(DeepLearningEstimator, {"l1": [0.0]}, search_criteria={"seed": 1})
    with pytest.raises(ValueError, match="unknown key"):
        GridSearch(DeepLearningEstimator, {"l1": [0.0]}, search_criteria={"max_model": 1})
    with pytest.raises(ValueError, match="set both"):
        GridSearch(DeepLearningEstimator(l1=0.1), {"l1": [0.0, 0.2]}).train(y="CAPSULE", training_frame=prostate)
    with pytest.raises(ValueError, match="set both"):
        GridSearch(DeepLearningEstimator, {"l1": [0.0]}).train(y="CAPSULE", training_frame=prostate, l1=0.3)
    with pytest.raises(ValueError, match="epochs"):
        GridSearch(DeepLearningEstimator, {"l1": [0.0]}).train(y="CAPSULE", training_frame=prostate, epochs=-1)
    assert len(jobs(client)) == n


def test_a_failing_combination_is_recorded_and_the_grid_goes_on(client, prostate):
    grid = GridSearch(DeepLearningEstimator(hidden=[4], epochs=1, seed=1), grid_id="fail_grid",
                      hyper_params={"activation": ["Tanh", "TanhWithDropout"], "hidden_dropout_ratios": [[0.3]]})
    grid.train(x=X, y="CAPSULE", training_frame=prostate)
    assert grid.model_ids == ["fail_grid_model_2"]
    assert grid.failed_params == [{"activation": "Tanh", "hidden_dropout_ratios": [0.3]}]
    assert "hidden_dropout_ratios" in grid.failure_details[0] and "dropout activation" in grid.failure_details[0]
    failures = grid.sorted_metric_table().attrs["failures"]
    assert failures[0]["activation"] == "Tanh" and "ValueError" in failures[0]["error"]
    stored = client.dkv.get("fail_grid").meta
    assert stored["failed_params"] == [["Tanh", [0.3]]] and stored["model_ids"] == ["fail_grid_model_2"]
    remove_grid("fail_grid", client)


def test_cancelling_the_grid_stops_the_running_model(client):
    big = Frame.from_numpy(np.random.default_rng(1).normal(size=(20_000, 10)), nchunks=6, cloud=client)
    grid = GridSearch(DeepLearningEstimator(hidden=[64], epochs=1000, score_interval=1,
                                            train_samples_per_iteration=2000),
                      hyper_params={"l1": [0.0, 1e-4, 1e-3]}, grid_id="cancel_grid")
    errors = []

    def run():
        try:
            grid.train(y="C1", training_frame=big)
        except BaseException as exc:     # noqa: BLE001 - the test inspects it
            errors.append(exc)

    th = threading.Thread(target=run)
    th.start()
    job = None
    deadline = time.time() + 30
    while time.time() < deadline and job is None:
        job = next((j for j in jobs(client) if j["dest"] == "cancel_grid" and j["status"] == "RUNNING"
                    and j["progress"] > 0), None)
        time.sleep(0.1)
    assert job is not None, "the grid's first model never reported progress"
    assert job["progress"] < 1 / 3                              # inside model 1 of 3
    t0 = time.time()
    cluster.Job.get(job["key"], client).cancel()
    th.join(30)
    assert not th.is_alive() and time.time() - t0 < 10
    assert errors and isinstance(errors[0], cluster.JobCancelledError)
    assert cluster.Job.get(job["key"], client).status == "CANCELLED"
    assert client.dkv.get("cancel_grid").meta["status"] == "CANCELLED" and grid.model_ids == []
    assert client.dkv.get("cancel_grid_model_1") is None
    remove_grid("cancel_grid", client)
    big.remove()


def test_training_again_under_a_grid_id_adds_to_the_grid_and_keeps_its_models(client, prostate):
    """H2O appends to an existing grid: the earlier models and failures stay, new models are numbered after them,
    a combination the grid has a model for is not trained again, and no key is replaced."""
    def search(activations, **crit):
        return GridSearch(DeepLearningEstimator(hidden=[3], epochs=1, seed=5), grid_id="app_grid",
                          hyper_params={"activation": activations, "hidden_dropout_ratios": [[0.3]]},
                          search_criteria=crit or None)

    first = search(["Tanh", "TanhWithDropout"]).train(x=X, y="CAPSULE", training_frame=prostate)
    assert first.model_ids == ["app_grid_model_2"] and len(first.failed_params) == 1     # Tanh: no dropout
    w2 = get_model("app_grid_model_2").state.w.copy()
    n = len(jobs(client))
    again = search(["TanhWithDropout", "RectifierWithDropout"]).train(x=X, y="CAPSULE", training_frame=prostate)
    # TanhWithDropout was built (model 2): skipped, taking number 3 as in H2O; RectifierWithDropout is model 4
    assert again.model_ids == ["app_grid_model_2", "app_grid_model_4"]
    assert [h["activation"] for h in again.model_hypers] == ["TanhWithDropout", "RectifierWithDropout"]
    assert again.failed_params == first.failed_params                    # the earlier failure is kept
    assert client.dkv.get("app_grid_model_3") is None
    m2 = get_model("app_grid_model_2")
    assert m2.params["activation"] == "TanhWithDropout" and np.array_equal(m2.state.w, w2)   # not retrained
    assert get_model("app_grid_model_4").params["activation"] == "RectifierWithDropout"
    job = jobs(client)[0]
    assert len(jobs(client)) == n + 1 and job["status"] == "DONE" and "1 already in the grid" in job["msg"]
    stored = get_grid("app_grid", client)
    assert stored.model_ids == ["app_grid_model_2", "app_grid_model_4"] and len(stored.failed_params) == 1
    assert stored.hyper_params["activation"] == ["Tanh", "TanhWithDropout", "RectifierWithDropout"]  # all searched
    # the next number is 5, but that key holds someone else's model: it is passed over, never replaced
    DeepLearningEstimator(hidden=[2], epochs=1, seed=1).train(x=X, y="CAPSULE", training_frame=prostate,
                                                              model_id="app_grid_model_5")
    third = search(["MaxoutWithDropout", "RectifierWithDropout"]).train(x=X, y="CAPSULE", training_frame=prostate)
    assert third.model_ids == ["app_grid_model_2", "app_grid_model_4", "app_grid_model_6"]   # Rectifier: 7, skipped
    assert get_model("app_grid_model_5").params["hidden"] == [2]
    # the same object trained again: every combination has its model, nothing is trained (numbers 8 and 9 walked)
    n = len(jobs(client))
    third.train(x=X, y="CAPSULE", training_frame=prostate)
    assert third.model_ids == ["app_grid_model_2", "app_grid_model_4", "app_grid_model_6"]
    assert "2 already in the grid" in jobs(client)[0]["msg"] and len(jobs(client)) == n + 1
    # a removed model leaves the grid and its combination is trained again, under a new number
    remove_model("app_grid_model_4", client)
    fourth = search(["RectifierWithDropout"]).train(x=X, y="CAPSULE", training_frame=prostate)
    assert fourth.model_ids == ["app_grid_model_2", "app_grid_model_6", "app_grid_model_10"]
    assert get_grid("app_grid", client).model_ids == fourth.model_ids
    remove_grid("app_grid", client)
    remove_model("app_grid_model_5", client)


def test_appending_to_an_incompatible_grid_or_to_another_value_is_refused_before_any_job(client, prostate):
    base = GridSearch(DeepLearningEstimator(hidden=[2], epochs=1, seed=5), grid_id="base_grid",
                      hyper_params={"l1": [0.0]})
    base.train(x=X, y="CAPSULE", training_frame=prostate)
    before = client.dkv.get("base_grid").meta
    n = len(jobs(client))

    def refused(match, grid_id="base_grid", hyper=None, y="CAPSULE", fr=prostate):
        with pytest.raises(ValueError, match=match):
            GridSearch(DeepLearningEstimator(hidden=[2], epochs=1, seed=5), grid_id=grid_id,
                       hyper_params=hyper or {"l1": [1e-4]}).train(x=X, y=y, training_frame=fr)

    refused(r"response is 'CAPSULE', this one 'GLEASON'", y="GLEASON")
    refused(r"hyper parameters are \['l1'\], this search's \['l2'\]", hyper={"l2": [0.0]})
    refused(r"hyper parameters are \['l1'\], this search's \['l1', 'l2'\]", hyper={"l1": [0.0], "l2": [0.0]})
    refused(r"training frame is '.*', this one '.*\[9 cols\]'", fr=prostate[X + ["CAPSULE", "ID"]])
    assert len(jobs(client)) == n
    # the same key holding other data
    df = pd.read_csv(SMALL / "prostate.csv")
    df["CAPSULE"] = df["CAPSULE"].astype("category")
    own = Frame.from_pandas(df, destination_frame="app_prostate", cloud=client)
    GridSearch(DeepLearningEstimator(hidden=[2], epochs=1, seed=5), grid_id="frame_grid",
               hyper_params={"l1": [0.0]}).train(x=X, y="CAPSULE", training_frame=own)
    n = len(jobs(client))
    own = Frame.from_pandas(df, destination_frame="app_prostate", cloud=client)     # re-made under its key
    refused("'app_prostate' holds other data now", grid_id="frame_grid", fr=own)
    # another algorithm's grid (a stored record as another algorithm would leave it)
    client.dkv.put("other_algo_grid", Value("grid", {**before, "grid_id": "other_algo_grid", "algo": "glm"},
                                            immutable=False))
    refused("its algorithm is 'glm', this search's 'deeplearning'", grid_id="other_algo_grid")
    # a key holding something else than a grid: H2O's name conflict, and the value stays
    refused(f"grid_id '{re.escape(prostate.key)}' is the key of a frame, not a grid", grid_id=prostate.key)
    refused("'base_grid_model_1' is the key of a model, not a grid", grid_id="base_grid_model_1")
    assert client.dkv.type_of(prostate.key) == "frame" and client.dkv.type_of("base_grid_model_1") == "model"
    assert len(jobs(client)) == n
    # a grid a running job builds
    job = cluster.Job.start("someone's grid", cloud=client, dest="base_grid")
    try:
        refused(f"being built by job {re.escape(job.key)}")
    finally:
        job.end_with(None)
    assert client.dkv.get("base_grid").meta == before                      # nothing was changed
    client.dkv.delete("other_algo_grid")
    remove_grid("base_grid", client)
    remove_grid("frame_grid", client)
    own.remove()


def test_walkers_and_the_grid_stopping_rule():
    hyper = {"a": [1, 2, 3], "b": ["x", "y"]}
    assert cartesian(hyper) == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]
    first = list(random_discrete(hyper, seed=9))
    assert sorted(first) == cartesian(hyper)                    # the whole space, each combination once
    assert first == list(random_discrete(hyper, seed=9))        # reproducible from the seed
    assert any(list(random_discrete(hyper, seed=s)) != first for s in range(10, 15))
    # the best 2 models improve on the 2 before them by less than 5 %: converged
    assert grid_should_stop([0.50, 0.40, 0.41, 0.40, 0.40], 2, 0.05, more_is_better=False)
    assert not grid_should_stop([0.50, 0.40, 0.41, 0.40, 0.40], 2, 0.001, more_is_better=False)
    assert not grid_should_stop([0.5, 0.4, 0.3], 2, 0.05, more_is_better=False)     # needs 2k+1 models
    assert grid_should_stop([0.80, 0.70, 0.81, 0.80, 0.81], 2, 0.05, more_is_better=True)


def test_a_stored_grid_whose_model_was_removed_still_loads(client, prostate):
    """get_grid(id) raised KeyError once one of the grid's models had been removed; the model leaves the grid,
    as when the grid is trained again."""
    grid = GridSearch(DeepLearningEstimator(epochs=0.5, seed=1), grid_id="gone_grid",
                      hyper_params={"hidden": [[3], [4]]})
    grid.train(x=X, y="CAPSULE", training_frame=prostate)
    remove_model("gone_grid_model_1", cloud=client)
    assert get_grid("gone_grid", client).model_ids == ["gone_grid_model_2"]
    remove_grid("gone_grid", client)
