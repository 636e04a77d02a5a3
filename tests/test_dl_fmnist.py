"""The booklet's trial run on a Fashion-MNIST subset: 1 embedded node, and a 3-node cloud from a client.

Threshold: H2O-3 reaches 25.5 % validation error after 0.17 epochs of the full 60k set (about 10k samples,
docs reference). Six epochs of a 10k subset (60k samples) must do better than 25 %: a model that learnt
nothing sits at 90 %, one trained wrongly (bad encoding, broken averaging) well above 25 %. Measured: 1 node
17.5 %, 3 nodes 18.1 % (20.3-20.9 % before block momentum: plain averaging of 3 nodes learns ~3x slower per
epoch), so the 1.5-point agreement bound is a real check of multi-node training.
"""

import pytest

import cluster
import frame
from algos import DeepLearningEstimator
from cloudkit import Launcher, fmnist_csvs, free_port_pair

pytestmark = pytest.mark.slow
THRESHOLD = 0.25
TRIAL = dict(activation="RectifierWithDropout", hidden=[200, 200, 200], input_dropout_ratio=0.2, l1=1e-5,
             epochs=6, seed=1234)


@pytest.fixture(scope="module")
def csvs(tmp_path_factory):
    return fmnist_csvs(tmp_path_factory.mktemp("fmnist"))


def trial(cloud, csvs):
    train = frame.import_file(csvs[0], cloud=cloud)
    test = frame.import_file(csvs[1], cloud=cloud)
    train["C785"] = train["C785"].asfactor()
    test["C785"] = test["C785"].asfactor()
    dl = DeepLearningEstimator(**TRIAL)
    dl.train(x=train.names[:-1], y="C785", training_frame=train, validation_frame=test)
    err = dl.model_performance(valid=True).classification_error()
    preds = dl.predict(test)
    assert preds.shape == (10_000, 11)
    for fr in (train, test, preds):
        fr.remove()
    return dl, err


def test_trial_run_one_node_and_three_nodes_agree(csvs, tmp_path):
    cluster.shutdown()
    one = cluster.init(port=free_port_pair())
    try:
        dl1, err1 = trial(one, csvs)
    finally:
        one.shutdown()
    assert err1 < THRESHOLD, err1
    hist = dl1.scoring_history()
    assert hist["epochs"].iloc[-1] == pytest.approx(TRIAL["epochs"], abs=0.05)
    kit = Launcher(tmp_path)
    try:
        nodes = kit.cloud(3, extra=["--nthreads", "1"])    # 3 nodes share this 2-core machine
        client = cluster.connect(nodes[0].address, timeout=10)
        try:
            dl3, err3 = trial(client, csvs)
        finally:
            client.shutdown()
    finally:
        kit.cleanup()
    print("errors: 1 node", err1, "3 nodes", err3)
    assert err3 < THRESHOLD, (err1, err3)
    assert abs(err3 - err1) <= 0.015, (err1, err3)


def test_a_last_iteration_of_a_few_rows_does_not_undo_mini_batch_training(csvs):
    """2.0004 epochs of 10k rows in iterations of 10k: the last iteration trains a few rows. It used to take a
    whole ADADELTA step per tiny batch and a whole carried block-momentum step (two replicas on this node):
    the training logloss jumped from ~0.37 to 0.5-1.9 in it. Now it may move only a little."""
    cluster.shutdown()
    one = cluster.init(port=free_port_pair(), nthreads=2)
    try:
        train = frame.import_file(csvs[0], cloud=one)
        train["C785"] = train["C785"].asfactor()
        for seed in (1, 3, 4):
            dl = DeepLearningEstimator(activation="Rectifier", hidden=[100, 100], mini_batch_size=64, epochs=2.0004,
                                       train_samples_per_iteration=10_000, score_each_iteration=True, seed=seed,
                                       score_training_samples=0, overwrite_with_best_model=False)
            dl.train(x=train.names[:-1], y="C785", training_frame=train)
            hist = dl.scoring_history()
            # the last full iteration's entry (20,000 samples); then one or more tiny ones (each replica samples
            # its rows at random, so the tiny iterations' row counts vary)
            last_full = hist[hist["samples"] <= 20_000]["training_logloss"].iloc[-1]
            assert hist["samples"][hist["samples"] <= 20_000].iloc[-1] == 20_000
            assert hist["epochs"].iloc[-1] >= 2.0
            # measured over 11 runs of seed 4 (not reproducible: two replicas): the last logloss is 0.96-1.12x
            # the last full iteration's (the few rows train one replica from the average of two); the bug
            # made it 1.35-5x
            assert hist["training_logloss"].iloc[-1] <= 1.25 * last_full, (seed, hist["training_logloss"].tolist())
        train.remove()
    finally:
        one.shutdown()


def test_the_trial_network_trains_in_mini_batches_with_adadelta_s_mini_batch_setting(csvs):
    """Issue 13: the booklet's network in batches of 128 under-fitted with H2O's per-sample rho/epsilon (few,
    tiny ADADELTA steps). 6 epochs of the 10k subset, seeds 1-3, validation error: 17.3 / 17.1 / 17.8 % with the
    mini-batch setting the defaults resolve to, 20.4 / 19.7 / 21.2 % with H2O's 0.99 / 1e-8."""
    cluster.shutdown()
    one = cluster.init(port=free_port_pair())
    try:
        train = frame.import_file(csvs[0], cloud=one)
        test = frame.import_file(csvs[1], cloud=one)
        train["C785"] = train["C785"].asfactor()
        test["C785"] = test["C785"].asfactor()
        errors = []
        for seed in (1, 2, 3):
            dl = DeepLearningEstimator(**dict(TRIAL, seed=seed), mini_batch_size=128)
            dl.train(x=train.names[:-1], y="C785", training_frame=train, validation_frame=test)
            assert (dl.params["rho"], dl.params["epsilon"]) == (0.95, 1e-6)
            errors.append(dl.model_performance(valid=True).classification_error())
        assert sum(errors) / 3 <= 0.185, errors
    finally:
        one.shutdown()
