"""Each Deep Learning parameter changes something observable end to end (issue 5).

Parameters already shown elsewhere are not repeated here: l1/max_w2 (test_deeplearning), weights_column,
offset_column, balance_classes (default factors), nfolds/fold_* (test_cross_validation), checkpoint
(test_persistence), fast_mode and the optimiser formulas at kernel level (test_dl_kernels), the effective
parameter rules (test_dl_params).  Here every parameter goes through ``DeepLearningEstimator.train`` and we
look at the stored model: its weights against the initial ones, its input layout, its scoring history,
its metrics, its stop reason, or its log.

Small data, small networks, few epochs; ``reproducible=True`` wherever two runs are compared weight for
weight (it also scores every iteration, which the scoring tests avoid on purpose).

Not here: elastic_averaging and its two settings (refused: see tests/test_dl_params.py).
"""
import logging
import os
import time

import numpy as np
import pandas as pd
import pytest

import cluster
import frame
from algos import DeepLearningEstimator
from algos.deeplearning.network import init_state
from cloudkit import SMALL, Launcher
from frame import Frame
from scoring import distributions

BOSTON_X = ["crim", "zn", "indus", "chas", "nox", "rm", "age", "dis", "rad", "tax", "ptratio", "b", "lstat"]
PROSTATE_X = ["AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"]


@pytest.fixture(scope="module")
def boston(cloud):
    return frame.import_file(str(SMALL / "BostonHousing.csv"))


@pytest.fixture(scope="module")
def prostate(cloud):
    fr = frame.import_file(str(SMALL / "prostate.csv"))
    fr["CAPSULE"] = fr["CAPSULE"].asfactor()
    fr["RACE"] = fr["RACE"].asfactor()
    return fr


@pytest.fixture(scope="module")
def iris(cloud):
    return frame.import_file(str(SMALL / "iris_wheader.csv"))         # class: an enum column already


@pytest.fixture(scope="module")
def synth(cloud):
    """3000 rows, y = x1 - 2 x2 + noise, plus a noise column."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 3))
    y = x[:, 0] - 2 * x[:, 1] + 0.3 * rng.normal(size=3000)
    return Frame.from_numpy(np.column_stack([x, y]), names=["x1", "x2", "x3", "y"])


def fit(fr: Frame, y, x=None, **kw):
    return DeepLearningEstimator(**kw).train(x=x, y=y, training_frame=fr)


def initial(model):
    """The network the run started from (H2O's initialisation is a function of the seed)."""
    p = model.params
    return init_state(model.spec, p["initial_weight_distribution"], float(p["initial_weight_scale"]),
                      seed=int(p["seed"]))


def moved(model, layer: int) -> float:
    """How far training moved a layer's weights from their initial values (Frobenius norm)."""
    w = model.state.layer_weights(layer).astype(np.float64)
    return float(np.linalg.norm(w - initial(model).layer_weights(layer)))


def same_weights(a, b) -> bool:
    return np.array_equal(a.model.state.w, b.model.state.w) and np.array_equal(a.model.state.b, b.model.state.b)


# ------------------------------------------------------------------------------------------- optimiser
MANUAL = dict(hidden=[8], epochs=1, seed=3, reproducible=True, adaptive_rate=False)


def test_adaptive_rate_off_follows_rate_and_on_ignores_it(cloud, boston):
    frozen = fit(boston, "medv", BOSTON_X, rate=0.0, **MANUAL)
    assert np.array_equal(frozen.model.state.w, initial(frozen.model).w)          # rate 0: nothing moves
    assert np.array_equal(frozen.model.state.b, initial(frozen.model).b)
    assert moved(fit(boston, "medv", BOSTON_X, rate=1e-3, **MANUAL).model, 0) > 0
    ada = fit(boston, "medv", BOSTON_X, **{**MANUAL, "adaptive_rate": True, "rate": 0.0})
    assert moved(ada.model, 0) > 0 and ada.params["rho"] == 0.99                   # ADADELTA has no rate
    assert frozen.params["rho"] == 0.0 and frozen.params["epsilon"] == 0.0


def test_rate_annealing_shrinks_the_steps(cloud, boston):
    plain = fit(boston, "medv", BOSTON_X, rate=5e-3, rate_annealing=0.0, **MANUAL)
    annealed = fit(boston, "medv", BOSTON_X, rate=5e-3, rate_annealing=1.0, **MANUAL)   # rate/(1 + n)
    assert moved(annealed.model, 0) < 0.3 * moved(plain.model, 0)
    assert moved(annealed.model, 1) < 0.3 * moved(plain.model, 1)


def test_rate_decay_slows_the_deeper_layers(cloud, boston):
    kw = dict(MANUAL, hidden=[8, 8], rate=5e-3, rate_annealing=0.0)
    plain = fit(boston, "medv", BOSTON_X, **kw)
    decayed = fit(boston, "medv", BOSTON_X, rate_decay=0.05, **kw)     # layer l: rate * 0.05^l
    ratio = [moved(decayed.model, l) / moved(plain.model, l) for l in range(3)]
    assert ratio[2] < 0.1 * ratio[0] and ratio[1] < 0.5 * ratio[0]


def test_momentum_start_ramp_stable_and_nesterov(cloud, boston):
    kw = dict(MANUAL, rate=1e-3, rate_annealing=0.0)
    none = fit(boston, "medv", BOSTON_X, **kw)

    def apart(est):
        return float(np.linalg.norm(est.model.state.w - none.model.state.w))

    steady = fit(boston, "medv", BOSTON_X, momentum_start=0.9, momentum_stable=0.9, **kw)
    assert apart(steady) > 1e-2
    # the ramp from momentum_start to momentum_stable: one longer than the run keeps the momentum near 0
    # (the model of no momentum, up to float rounding), a short one reaches 0.9
    slow = fit(boston, "medv", BOSTON_X, momentum_start=0.0, momentum_stable=0.9, momentum_ramp=1e9, **kw)
    fast = fit(boston, "medv", BOSTON_X, momentum_start=0.0, momentum_stable=0.9, momentum_ramp=50, **kw)
    assert apart(fast) > 1e-2 and apart(slow) < 1e-3 * apart(fast)
    classic = fit(boston, "medv", BOSTON_X, momentum_start=0.9, momentum_stable=0.9,
                  nesterov_accelerated_gradient=False, **kw)
    assert float(np.linalg.norm(classic.model.state.w - steady.model.state.w)) > 1e-2


def test_rho_and_epsilon_shape_adadelta_steps(cloud, boston):
    kw = dict(hidden=[8], epochs=1, seed=3, reproducible=True)
    base = fit(boston, "medv", BOSTON_X, **kw)
    # the first ADADELTA steps are about sqrt(epsilon)/sqrt(E[g^2] + epsilon): a larger epsilon, larger steps
    big_eps = fit(boston, "medv", BOSTON_X, epsilon=1e-4, **kw)
    tiny_eps = fit(boston, "medv", BOSTON_X, epsilon=1e-10, **kw)
    assert moved(tiny_eps.model, 0) < moved(base.model, 0) < moved(big_eps.model, 0)
    assert not same_weights(base, fit(boston, "medv", BOSTON_X, rho=0.5, **kw))


def test_initial_weight_distribution_and_scale(cloud, boston):
    kw = dict(MANUAL, hidden=[50], rate=0.0)            # rate 0: the stored model is the initial one
    uni = fit(boston, "medv", BOSTON_X, initial_weight_distribution="Uniform", initial_weight_scale=0.3, **kw)
    w = uni.model.state.layer_weights(0)
    assert 0.28 < np.abs(w).max() <= 0.3
    normal = fit(boston, "medv", BOSTON_X, initial_weight_distribution="Normal", initial_weight_scale=0.3, **kw)
    w = normal.model.state.layer_weights(0)
    assert w.std() == pytest.approx(0.3, rel=0.1) and np.abs(w).max() > 0.6
    adaptive = fit(boston, "medv", BOSTON_X, initial_weight_scale=0.3, **kw)     # scale unused: Glorot bound
    bound = np.sqrt(6 / (13 + 50))
    assert 0.9 * bound < np.abs(adaptive.model.state.layer_weights(0)).max() <= bound


def test_input_and_hidden_dropout(cloud, boston):
    kw = dict(hidden=[8], epochs=2, seed=3, reproducible=True, activation="RectifierWithDropout",
              export_weights_and_biases=True)
    plain = fit(boston, "medv", BOSTON_X, hidden_dropout_ratios=[0.0], **kw)
    inp = fit(boston, "medv", BOSTON_X, hidden_dropout_ratios=[0.0], input_dropout_ratio=0.3, **kw)
    hid = fit(boston, "medv", BOSTON_X, hidden_dropout_ratios=[0.4], **kw)
    assert not same_weights(plain, inp) and not same_weights(plain, hid)
    assert "30.00 %" in str(inp) and "40.00 %" in str(hid)
    # at scoring time a hidden layer trained with dropout ratio r is scaled by 1 - r
    m = hid.model
    X = (boston[BOSTON_X].as_numpy() - np.asarray(m.normsub())) * np.asarray(m.normmul())
    W, b = m.weights(0).as_numpy(), m.biases(0).as_numpy()[:, 0]
    want = np.maximum(X @ W.T + b, 0) * (1 - 0.4)
    np.testing.assert_allclose(hid.deepfeatures(boston, 0).as_numpy(), want, rtol=1e-4, atol=1e-5)


def test_fast_mode_and_shuffle_change_the_model(cloud, prostate):
    # two ordered passes per iteration: shuffling is not forced (it is for one-epoch iterations, below)
    kw = dict(hidden=[6], epochs=2, seed=5, reproducible=True, l2=1e-2, train_samples_per_iteration=2 * prostate.nrows)
    base = fit(prostate, "CAPSULE", PROSTATE_X, **kw)
    assert base.params["shuffle_training_data"] is False
    assert not same_weights(base, fit(prostate, "CAPSULE", PROSTATE_X, fast_mode=False, **kw))
    assert not same_weights(base, fit(prostate, "CAPSULE", PROSTATE_X, shuffle_training_data=True, **kw))
    assert same_weights(base, fit(prostate, "CAPSULE", PROSTATE_X, **kw))                  # the control


def test_one_epoch_iterations_are_shuffled(cloud, prostate):
    """H2O's rule: iterations of one epoch over one sequence of rows (reproducible: tspi -1) shuffle the rows, or
    every epoch would visit them in the same order."""
    kw = dict(hidden=[6], epochs=2, seed=5, reproducible=True)
    forced = fit(prostate, "CAPSULE", PROSTATE_X, **kw)
    assert forced.params["shuffle_training_data"] is True
    assert any(n.startswith("shuffle_training_data: False -> True") for n in forced.model.meta.notes)
    assert same_weights(forced, fit(prostate, "CAPSULE", PROSTATE_X, shuffle_training_data=True, **kw))


# ------------------------------------------------------------------------------------------- loss / distribution
@pytest.fixture(scope="module")
def gaussian_boston(boston):
    return fit(boston, "medv", BOSTON_X, hidden=[10], epochs=30, seed=2, reproducible=True).predict(boston) \
        .as_numpy()[:, 0]


@pytest.mark.parametrize("kw,dist", [
    (dict(loss="Absolute"), "laplace"), (dict(loss="Huber"), "huber"), (dict(loss="Quantile"), "quantile"),
    (dict(distribution="laplace"), "laplace"), (dict(distribution="quantile", quantile_alpha=0.8), "quantile"),
    (dict(distribution="huber", huber_alpha=0.5), "huber"), (dict(distribution="poisson"), "poisson"),
    (dict(distribution="gamma"), "gamma"), (dict(distribution="tweedie", tweedie_power=1.3), "tweedie"),
])
def test_loss_and_distribution_set_the_model_and_its_deviance(cloud, boston, gaussian_boston, kw, dist):
    dl = fit(boston, "medv", BOSTON_X, hidden=[10], epochs=30, seed=2, reproducible=True, **kw)
    p = dl.params
    assert p["distribution"] == dist
    pred = dl.predict(boston).as_numpy()[:, 0]
    y = boston["medv"].as_numpy().ravel().astype(np.float64)
    if distributions.link_name(dist) == "log":
        assert np.all(pred > 0)
    perf = dl.model_performance(test_data=boston)
    want = distributions.deviance(dist, y, pred, tweedie_power=p["tweedie_power"], quantile_alpha=p["quantile_alpha"],
                                  huber_delta=dl.model.meta.huber_delta).mean()
    assert perf.mean_residual_deviance() == pytest.approx(want, rel=1e-6)
    assert perf.r2() > 0.3                                                    # it learnt the problem
    assert not np.allclose(pred, gaussian_boston, rtol=1e-3)                  # and not the gaussian model


def test_quantile_alpha_moves_the_predictions(cloud, boston):
    kw = dict(hidden=[10], epochs=20, seed=2, reproducible=True, distribution="quantile")
    y = boston["medv"].as_numpy().ravel()
    below = {a: np.mean(y <= fit(boston, "medv", BOSTON_X, quantile_alpha=a, **kw).predict(boston).as_numpy()[:, 0])
             for a in (0.1, 0.9)}
    assert below[0.1] < 0.3 and below[0.9] > 0.7


def test_huber_alpha_sets_the_delta_and_tweedie_power_the_gradient(cloud, boston):
    kw = dict(hidden=[10], epochs=10, seed=2, reproducible=True, score_training_samples=0,
              overwrite_with_best_model=False)
    y = boston["medv"].as_numpy().ravel()
    deltas = {}
    for alpha in (0.3, 0.9):
        dl = fit(boston, "medv", BOSTON_X, distribution="huber", huber_alpha=alpha, **kw)
        # delta: the huber_alpha quantile of the absolute residuals at the last scoring (model units)
        resid = np.abs(y - dl.predict(boston).as_numpy()[:, 0])
        deltas[alpha] = dl.model.meta.huber_delta
        assert deltas[alpha] == pytest.approx(np.quantile(resid, alpha) * dl.model.respmul(), rel=1e-4)
    assert deltas[0.3] < 0.7 * deltas[0.9]
    t13 = fit(boston, "medv", BOSTON_X, distribution="tweedie", tweedie_power=1.3, **kw)
    t17 = fit(boston, "medv", BOSTON_X, distribution="tweedie", tweedie_power=1.7, **kw)
    assert not same_weights(t13, t17)


# ------------------------------------------------------------------------------------------- scoring
def test_score_training_and_validation_samples_bound_the_rows_scored(cloud, synth):
    valid = Frame.from_numpy(synth.as_numpy()[:2000], names=synth.names)
    kw = dict(hidden=[4], epochs=1, seed=1)
    some = DeepLearningEstimator(score_training_samples=500, score_validation_samples=300, **kw).train(
        y="y", training_frame=synth, validation_frame=valid)
    assert 400 <= some.model_performance(train=True).nobs() <= 600
    assert 220 <= some.model_performance(valid=True).nobs() <= 380
    every = DeepLearningEstimator(score_training_samples=0, score_validation_samples=0, **kw).train(
        y="y", training_frame=synth, validation_frame=valid)
    assert every.model_performance(train=True).nobs() == 3000
    assert every.model_performance(valid=True).nobs() == 2000


def test_stratified_validation_sampling_keeps_class_proportions(cloud):
    """score_validation_sampling=Stratified: each chunk gives round(fraction * n_c) rows of each class c, so
    the sampled class counts are the frame's proportions whatever the seed; Uniform's counts vary."""
    rng = np.random.default_rng(0)
    n = 4000
    y = (rng.random(n) < 0.1).astype(float)
    fr = Frame.from_numpy(np.column_stack([rng.normal(size=(n, 2)), y]), names=["a", "b", "y"], nchunks=4)
    fr["y"] = fr["y"].asfactor()
    want = sum(round(0.1 * y[lo:lo + n // 4].sum()) for lo in range(0, n, n // 4))     # fraction 400/4000
    seen = {}
    for mode in ("Stratified", "Uniform"):
        for seed in range(4):
            m = DeepLearningEstimator(hidden=[3], epochs=0.1, seed=seed, score_validation_samples=400,
                                      score_validation_sampling=mode).train(x=["a", "b"], y="y", training_frame=fr,
                                                                            validation_frame=fr)
            cm = m.model_performance(valid=True).confusion_matrix()
            seen.setdefault(mode, set()).add(int(cm.iloc[1, 0] + cm.iloc[1, 1]))        # actual 1s sampled
    assert seen["Stratified"] == {want}
    assert len(seen["Uniform"]) > 1


def test_force_load_balance_spreads_one_chunk_over_the_threads(cloud):
    """A one-chunk frame: with force_load_balance the node's two threads each train half of its rows (two
    replicas averaged) instead of one thread training all; per-sample training, where every sample is
    shared by a kernel team anyway, is the same model either way."""
    if min(cloud.node.config.compute_threads, os.cpu_count() or 1) < 2:
        pytest.skip("needs two compute threads on two cores")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2000, 3))
    fr = Frame.from_numpy(np.column_stack([x, x @ [1.0, -2.0, 0.5]]), names=["a", "b", "c", "y"], nchunks=1)
    kw = dict(hidden=[5], epochs=2, seed=3, train_samples_per_iteration=0, stopping_rounds=0)

    def weights(**more):
        return DeepLearningEstimator(**kw, **more).train(y="y", training_frame=fr).model.state.w

    mb_on, mb_off = weights(mini_batch_size=8), weights(mini_batch_size=8, force_load_balance=False)
    assert not np.array_equal(mb_on, mb_off)
    assert np.array_equal(mb_off, weights(mini_batch_size=8, force_load_balance=False))    # deterministic
    assert np.array_equal(weights(), weights(force_load_balance=False))


def test_score_interval_and_duty_cycle_decide_how_often_to_score(cloud, synth):
    kw = dict(hidden=[4], epochs=1, seed=1, train_samples_per_iteration=200, stopping_rounds=0)
    each = fit(synth, "y", score_interval=0, score_duty_cycle=1.0, **kw)
    n_iter = each.model.meta.iterations
    assert n_iter >= 10 and len(each.scoring_history()) == n_iter + 1     # and H2O's untrained row
    for rare in (dict(score_interval=3600, score_duty_cycle=1.0), dict(score_interval=0, score_duty_cycle=0.0)):
        m = fit(synth, "y", **rare, **kw)
        assert m.model.meta.iterations >= 10 and len(m.scoring_history()) == 3      # untrained, first, last


# ------------------------------------------------------------------------------------------- stopping
LONG = dict(hidden=[6], epochs=50, seed=1, train_samples_per_iteration=100, score_interval=0,
            score_duty_cycle=1.0)


def test_classification_stop(cloud, prostate):
    # 0.65: above the error of predicting the majority class (0.6), so the first scoring stops the run
    stopped = fit(prostate, "CAPSULE", PROSTATE_X, classification_stop=0.65, stopping_rounds=0, **LONG)
    assert len(stopped.scoring_history()) == 2 and stopped.model.meta.epochs < 1     # epoch 0 and one
    assert "classification_stop" in stopped.model.meta.stop_reason
    full = fit(prostate, "CAPSULE", PROSTATE_X, classification_stop=-1, stopping_rounds=0,
               **{**LONG, "epochs": 2})
    assert full.model.meta.epochs == pytest.approx(2, abs=0.05) and full.model.meta.stop_reason == ""


def test_regression_stop(cloud, boston):
    stopped = fit(boston, "medv", BOSTON_X, regression_stop=1e4, stopping_rounds=0, **LONG)     # MSE <= 1e4
    assert len(stopped.scoring_history()) == 2 and stopped.model.meta.epochs < 1
    assert "regression_stop" in stopped.model.meta.stop_reason
    full = fit(boston, "medv", BOSTON_X, regression_stop=-1, stopping_rounds=0, **{**LONG, "epochs": 2})
    assert full.model.meta.epochs == pytest.approx(2, abs=0.05)


def test_stopping_rounds_metric_and_tolerance(cloud, boston):
    # asking for 50 % better moving averages: no model improves that fast, it stops at the first chance
    # (2 * rounds scoring events: H2O's 2 * rounds after the model before training, which it also lists)
    early = fit(boston, "medv", BOSTON_X, stopping_rounds=2, stopping_tolerance=0.5, **LONG)
    assert len(early.scoring_history()) == 1 + 4 and early.model.meta.epochs < 4
    assert "training_deviance" in early.model.meta.stop_reason
    by_mae = fit(boston, "medv", BOSTON_X, stopping_rounds=2, stopping_tolerance=0.5, stopping_metric="MAE", **LONG)
    assert "training_mae" in by_mae.model.meta.stop_reason and len(by_mae.scoring_history()) == 1 + 4
    patient = fit(boston, "medv", BOSTON_X, stopping_rounds=2, stopping_tolerance=0.0, **LONG)
    assert len(patient.scoring_history()) > 1 + 4
    never = fit(boston, "medv", BOSTON_X, stopping_rounds=0, **{**LONG, "epochs": 3})
    assert never.model.meta.epochs == pytest.approx(3, abs=0.05) and never.model.meta.stop_reason == ""


@pytest.mark.parametrize("metric", ["mean_per_class_error", "RMSLE"])
def test_stopping_on_metrics_without_a_history_column(cloud, prostate, boston, metric):
    """Stopping watches the metric itself (not a stand-in column such as classification error or RMSE)."""
    fr, y, x = (prostate, "CAPSULE", PROSTATE_X) if metric == "mean_per_class_error" else (boston, "medv", BOSTON_X)
    m = fit(fr, y, x, stopping_rounds=2, stopping_tolerance=0.5, stopping_metric=metric, **LONG)
    assert f"training_{metric.lower()}" in m.model.meta.stop_reason and len(m.scoring_history()) == 1 + 4
    rows = m.model.meta.history[1:]                                   # after the untrained model's row
    assert all(r["_stop_metric"] == metric for r in rows)
    assert rows[-1]["_stop_train"] == pytest.approx(m.model_performance(train=True).metric(metric))
    assert not any(c.startswith("_") for c in m.scoring_history().columns)


def test_max_runtime_secs_stops_a_long_run(cloud, synth):
    for how in ("param", "train"):
        t0 = time.monotonic()
        est = DeepLearningEstimator(hidden=[32], epochs=1e4, seed=1, stopping_rounds=0,
                                    **({"max_runtime_secs": 1.0} if how == "param" else {}))
        est.train(y="y", training_frame=synth, **({"max_runtime_secs": 1.0} if how == "train" else {}))
        assert time.monotonic() - t0 < 15
        assert est.model.meta.epochs < 1e4 and est.model.meta.stop_reason == "max_runtime_secs reached"
        assert est.model.meta.run_time_s == pytest.approx(1.0, abs=3.0)


# ------------------------------------------------------------------------------------------- metrics
def test_max_confusion_matrix_size_and_max_hit_ratio_k(cloud, iris):
    kw = dict(hidden=[5], epochs=5, seed=1)
    small = fit(iris, "class", max_confusion_matrix_size=2, max_hit_ratio_k=2, **kw)
    perf = small.model_performance(train=True)
    assert perf.confusion_matrix() is None                          # 3 classes > 2: not built, as H2O
    assert "max_confusion_matrix_size" in str(perf)
    assert list(perf.hit_ratio_table()["k"]) == [1, 2]
    default = fit(iris, "class", **kw).model_performance(train=True)
    assert default.confusion_matrix().shape[0] >= 3                 # one row per class (+ totals)
    hr = default.hit_ratio_table()
    assert list(hr["k"]) == [1, 2, 3] and hr["hit_ratio"].iloc[-1] == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------- class balance
def test_class_sampling_factors_and_max_after_balance_size(cloud, prostate):
    y = prostate["CAPSULE"].as_numpy().ravel()
    counts = np.bincount(y.astype(int), minlength=2).astype(float)       # 227, 153
    kw = dict(hidden=[4], epochs=1, seed=1, balance_classes=True, train_samples_per_iteration=0)
    factored = fit(prostate, "CAPSULE", PROSTATE_X, class_sampling_factors=[1.0, 3.0], **kw).model
    target = counts * [1.0, 3.0]
    np.testing.assert_allclose(factored.meta.priors[1], target / target.sum())
    assert factored.meta.samples == pytest.approx(target.sum(), rel=0.1)
    capped = fit(prostate, "CAPSULE", PROSTATE_X, max_after_balance_size=0.5, **kw).model
    np.testing.assert_allclose(capped.meta.priors[1], [0.5, 0.5])         # still balanced ...
    assert capped.meta.samples == pytest.approx(0.5 * counts.sum(), rel=0.15)   # ... at half the rows


# ------------------------------------------------------------------------------------------- input layer
def test_missing_values_handling_skip_drops_incomplete_rows(cloud):
    rng = np.random.default_rng(2)
    df = pd.DataFrame(rng.normal(size=(400, 3)), columns=["a", "b", "y"])
    df.loc[rng.random(400) < 0.25, "a"] = np.nan
    df["c"] = pd.Categorical(rng.choice(["u", "v"], 400))
    df.loc[rng.random(400) < 0.1, "c"] = np.nan
    complete = int(df[["a", "c"]].notna().all(axis=1).sum())
    fr = Frame.from_pandas(df)
    kw = dict(hidden=[4], epochs=1, seed=1, score_training_samples=0)
    skip = fit(fr, "y", missing_values_handling="Skip", **kw)
    impute = fit(fr, "y", **kw)
    assert skip.model.info.missing_values_handling == "Skip"
    assert complete < 400
    # trained on the complete rows only, but scored on every row as H2O (an NA predictor read as its mean): the
    # metrics cover the rows predict does
    assert skip.model_performance(train=True).nobs() == 400 == impute.model_performance(train=True).nobs()
    assert skip.model_performance(test_data=fr).nobs() == 400
    assert np.isfinite(skip.predict(fr).as_numpy()).all()


def test_skip_with_no_complete_row_fails_clearly(cloud):
    df = pd.DataFrame({"a": [1.0, np.nan] * 20, "b": [np.nan, 2.0] * 20, "y": np.arange(40.0)})
    with pytest.raises(ValueError, match="missing_values_handling"):
        fit(Frame.from_pandas(df), "y", hidden=[3], epochs=1, seed=1, missing_values_handling="Skip",
            ignore_const_cols=False)


def test_ignore_const_cols(cloud):
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"a": rng.normal(size=200), "const": 7.0, "y": rng.normal(size=200)})
    fr = Frame.from_pandas(df)
    dropped = fit(fr, "y", hidden=[3], epochs=1, seed=1).model
    kept = fit(fr, "y", hidden=[3], epochs=1, seed=1, ignore_const_cols=False).model
    assert dropped.info.coef_names == ["a"] and "const" in dropped.info.ignored
    assert kept.info.coef_names == ["a", "const"] and kept.spec.units[0] == 2
    assert kept.normmul()[1] == 1.0                                  # zero spread: multiplier 1


def test_use_all_factor_levels(cloud, prostate):
    kw = dict(hidden=[3], epochs=1, seed=1)
    all_levels = fit(prostate, "CAPSULE", PROSTATE_X, **kw).model
    dropped = fit(prostate, "CAPSULE", PROSTATE_X, use_all_factor_levels=False, **kw).model
    levels = prostate.domains["RACE"]
    assert [c for c in all_levels.info.coef_names if c.startswith("RACE.")] == \
        [f"RACE.{lv}" for lv in levels] + ["RACE.missing(NA)"]
    assert [c for c in dropped.info.coef_names if c.startswith("RACE.")] == \
        [f"RACE.{lv}" for lv in levels[1:]] + ["RACE.missing(NA)"]
    assert dropped.spec.units[0] == all_levels.spec.units[0] - 1


def test_max_categorical_features_hashes_the_one_hot_slots(cloud):
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"city": pd.Categorical([f"c{i}" for i in rng.integers(0, 60, 1000)]),
                       "x": rng.normal(size=1000)})
    df["y"] = rng.normal(size=1000)
    fr = Frame.from_pandas(df)
    full = fit(fr, "y", hidden=[3], epochs=1, seed=1).model
    hashed = fit(fr, "y", hidden=[3], epochs=1, seed=1, max_categorical_features=8).model
    assert full.spec.units[0] == 60 + 1 + 1 and not full.info.hashed
    assert hashed.info.hashed and hashed.spec.units[0] == 8 + 1
    assert hashed.info.coef_names == [f"hash.{i}" for i in range(8)] + ["x"]
    assert hashed.predict(fr).nrows == 1000


def test_standardize_and_sparse_set_the_input_transform(cloud, boston):
    kw = dict(hidden=[3], epochs=1, seed=1)
    df = boston.as_pandas()
    sd = df[BOSTON_X].std().to_numpy()
    std = fit(boston, "medv", BOSTON_X, **kw).model
    np.testing.assert_allclose(std.normmul(), 1 / sd, rtol=1e-9)
    np.testing.assert_allclose(std.normsub(), df[BOSTON_X].mean().to_numpy(), rtol=1e-9)
    assert std.respmul() == pytest.approx(1 / df["medv"].std())
    raw = fit(boston, "medv", BOSTON_X, standardize=False, **kw).model
    assert raw.normmul() == [1.0] * 13 and raw.normsub() == [0.0] * 13 and raw.respmul() == 1.0
    sparse = fit(boston, "medv", BOSTON_X, sparse=True, **kw).model           # scaled, not centred
    np.testing.assert_allclose(sparse.normmul(), 1 / sd, rtol=1e-9)
    assert sparse.normsub() == [0.0] * 13
    ae_raw = DeepLearningEstimator(autoencoder=True, standardize=False, **kw).train(x=BOSTON_X,
                                                                                    training_frame=boston).model
    assert ae_raw.normmul() == [1.0] * 13 and ae_raw.normsub() == [0.0] * 13     # H2O: NONE for autoencoders too


# ------------------------------------------------------------------------------------------- the training loop
def test_overwrite_with_best_model_keeps_the_best_scored(cloud):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1060, 5))
    df = pd.DataFrame(x, columns=list("abcde"))
    df["y"] = x[:, 0] + rng.normal(size=1060)
    train, valid = Frame.from_pandas(df.iloc[:60]), Frame.from_pandas(df.iloc[60:])     # 60 rows: it overfits
    kw = dict(hidden=[64, 64], epochs=60, seed=1, reproducible=True, stopping_rounds=0)
    best = DeepLearningEstimator(**kw).train(y="y", training_frame=train, validation_frame=valid)
    last = DeepLearningEstimator(overwrite_with_best_model=False, **kw).train(y="y", training_frame=train,
                                                                               validation_frame=valid)
    h = best.scoring_history()
    assert h["validation_deviance"].equals(last.scoring_history()["validation_deviance"])   # the same run
    assert h["validation_deviance"].min() < 0.8 * h["validation_deviance"].iloc[-1]            # it overfit
    assert best.model_performance(test_data=valid).mean_residual_deviance() == \
        pytest.approx(h["validation_deviance"].min(), rel=1e-6)
    assert last.model_performance(test_data=valid).mean_residual_deviance() == \
        pytest.approx(h["validation_deviance"].iloc[-1], rel=1e-6)


def test_train_samples_per_iteration_sets_the_iterations(cloud, boston):
    kw = dict(hidden=[4], epochs=3, seed=1, score_each_iteration=True, stopping_rounds=0)
    per_epoch = fit(boston, "medv", BOSTON_X, train_samples_per_iteration=0, **kw).model
    assert per_epoch.meta.iterations == 3 and len(per_epoch.meta.history) == 4
    assert [h["epochs"] for h in per_epoch.meta.history] == pytest.approx([0, 1, 2, 3], abs=0.1)
    small = fit(boston, "medv", BOSTON_X, train_samples_per_iteration=100, **kw).model
    assert 12 <= small.meta.iterations <= 20                       # about 3 * 506 / 100
    assert np.diff([h["samples"] for h in small.meta.history]).mean() == pytest.approx(100, rel=0.2)


def test_mini_batch_size_trains_with_batches(cloud, boston):
    kw = dict(hidden=[16], epochs=30, seed=1, reproducible=True)
    one = fit(boston, "medv", BOSTON_X, **kw)
    batched = fit(boston, "medv", BOSTON_X, mini_batch_size=8, **kw)
    assert not same_weights(one, batched)
    assert batched.params["mini_batch_size"] == 8 and "mini-batch size 8" in str(batched)
    assert batched.model_performance(train=True).r2() > 0.6


def test_quiet_mode_silences_the_scoring_log(cloud, boston, caplog):
    kw = dict(hidden=[3], epochs=2, seed=1, train_samples_per_iteration=0, score_each_iteration=True)

    def scoring_lines(**extra):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="aquifer.deeplearning"):
            est = fit(boston, "medv", BOSTON_X, **kw, **extra)
        return [r for r in caplog.records if r.name == "aquifer.deeplearning" and
                r.getMessage().startswith(est.model.model_id)]

    assert len(scoring_lines()) == 2
    assert scoring_lines(quiet_mode=True) == []


# ------------------------------------------------------------------------------------------- a real cloud
def test_replicate_training_data_and_single_node_mode_on_three_nodes(tmp_path):
    kit = Launcher(tmp_path)
    try:
        nodes = kit.cloud(3, extra=["--nthreads", "1"])
        client = cluster.connect(nodes[0].address, timeout=10, progress=False)
        try:
            rng = np.random.default_rng(5)
            x = rng.normal(size=(600, 3))
            fr = Frame.from_numpy(np.column_stack([x, x[:, 0] + 0.1 * rng.normal(size=600)]), nchunks=6,
                                  cloud=client)
            assert len(set(fr.homes)) == 3
            kw = dict(hidden=[4], epochs=3, seed=1, train_samples_per_iteration=-1, stopping_rounds=0)
            # -1: every trainer goes through all the rows it holds once per iteration
            rep = fit(fr, "C4", **kw).model                                    # each node: all 600 rows
            assert rep.params["replicate_training_data"] is True and rep.meta.iterations == 1
            assert rep.meta.samples == pytest.approx(1800, rel=0.05)
            local = fit(fr, "C4", replicate_training_data=False, **kw).model   # each node: its own rows
            assert local.meta.iterations == 3
            single = fit(fr, "C4", single_node_mode=True, **kw).model          # one node: all 600 rows
            assert single.params["single_node_mode"] is True and single.meta.iterations == 3
            # missing_values_handling='Skip' on every node: rows with an NA predictor are not trained on, but
            # scored (H2O scores every row)
            df = fr.as_pandas()
            df.loc[::4, "C2"] = np.nan
            holes = Frame.from_pandas(df, nchunks=6, cloud=client)
            skip = fit(holes, "C4", hidden=[2], epochs=1, seed=1, missing_values_handling="Skip",
                       score_training_samples=0)
            assert skip.model_performance(train=True).nobs() == 600
        finally:
            client.shutdown()
    finally:
        kit.cleanup()
