"""Deep Learning end to end: validation, the problems H2O's DL solves, parameters' effects, reproducibility."""

import numpy as np
import pandas as pd
import pytest

import algos
import cluster
import frame
from algos import DeepLearningEstimator
from cloudkit import DATA, SMALL
from frame import Frame



@pytest.fixture(scope="module")
def prostate(cloud):
    fr = frame.import_file(str(SMALL / "prostate.csv"))
    fr["CAPSULE"] = fr["CAPSULE"].asfactor()
    return fr


@pytest.fixture(scope="module")
def boston(cloud):
    return frame.import_file(str(SMALL / "BostonHousing.csv"))


def jobs_now(cloud):
    return len(cluster.Job.list(cloud))


def test_bad_parameters_fail_before_any_job_starts(cloud, boston, prostate):
    n = jobs_now(cloud)
    with pytest.raises(ValueError, match="hiden.*hidden"):
        DeepLearningEstimator(hiden=[10])
    with pytest.raises(ValueError, match="activation"):
        DeepLearningEstimator(activation="Sigmoid")
    with pytest.raises(ValueError, match="epochs"):
        DeepLearningEstimator(epochs=-1)
    with pytest.raises(ValueError, match="CrossEntropy"):
        DeepLearningEstimator(loss="CrossEntropy").train(y="medv", training_frame=boston)
    with pytest.raises(ValueError, match="not in the training frame"):
        DeepLearningEstimator().train(y="nope", training_frame=boston)
    with pytest.raises(ValueError, match="asfactor"):
        DeepLearningEstimator(distribution="bernoulli").train(y="medv", training_frame=boston)
    assert jobs_now(cloud) == n


def test_binomial_prostate_metrics_predict_and_performance(cloud, prostate):
    dl = DeepLearningEstimator(hidden=[20, 20], epochs=30, seed=42, variable_importances=True)
    dl.train(x=["AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"], y="CAPSULE", training_frame=prostate)
    perf = dl.model_performance(train=True)
    assert perf.auc() > 0.8 and 0 < perf.logloss() < 0.6
    cm = perf.confusion_matrix()
    assert cm is not None
    preds = dl.predict(prostate)
    assert preds.names == ["predict", "p0", "p1"] and preds.nrows == prostate.nrows       # H2O's names
    assert preds.types["predict"] == "enum" and preds.domains["predict"] == ["0", "1"]
    p = preds.as_numpy()
    np.testing.assert_allclose(p[:, 1] + p[:, 2], 1.0, atol=1e-6)
    again = dl.model_performance(test_data=prostate)
    assert again.auc() == pytest.approx(perf.auc(), abs=1e-9)
    hist = dl.scoring_history()
    for col in ("timestamp", "duration", "training_speed", "epochs", "iterations", "samples", "training_rmse",
                "training_logloss", "training_auc", "training_pr_auc", "training_classification_error"):
        assert col in hist.columns
    # H2O's first row is the model before training: epoch 0, no speed, no metrics
    first = hist.iloc[0]
    assert (first["epochs"], first["iterations"], first["samples"], first["duration"].strip()) == (0, 0, 0, "0.000 sec")
    assert pd.isna(first["training_speed"]) and np.isnan(first["training_logloss"]) and hist["epochs"].iloc[1] > 0
    vi = dl.varimp(use_pandas=True)
    assert list(vi.columns) == ["variable", "relative_importance", "scaled_importance", "percentage"]
    assert vi["scaled_importance"].max() == pytest.approx(1.0)
    # H2O's Deep Learning scales relative_importance itself (top 1.0): both columns are equal, as h2o-py shows
    assert vi["relative_importance"].iloc[0] == 1.0 and vi["relative_importance"].equals(vi["scaled_importance"])
    assert vi["percentage"].sum() == pytest.approx(1.0)
    assert "Status of Neuron Layers" in str(dl)


def test_regression_boston_and_offset_shifts_predictions(cloud, boston):
    dl = DeepLearningEstimator(hidden=[32], epochs=60, seed=1, score_interval=0)
    dl.train(y="medv", training_frame=boston)
    m = dl.model_performance(train=True)
    assert m.r2() > 0.75 and m.rmse() < 5 and m.mae() > 0
    assert "training_deviance" in dl.scoring_history().columns
    # offset_column: the same model predicts exactly `offset` more when the offset grows by it (gaussian)
    df = boston.as_pandas()
    df["off"] = 0.0
    fr0 = Frame.from_pandas(df)
    dlo = DeepLearningEstimator(hidden=[8], epochs=5, seed=3, offset_column="off", reproducible=True)
    dlo.train(x=[c for c in boston.names if c != "medv"], y="medv", training_frame=fr0)
    df2 = df.copy()
    df2["off"] = 2.5
    p0 = dlo.predict(fr0).as_numpy()[:, 0]
    p2 = dlo.predict(Frame.from_pandas(df2)).as_numpy()[:, 0]
    resp_mul = dlo.model.respmul()
    np.testing.assert_allclose(p2 - p0, 2.5 / resp_mul, rtol=1e-5)


def test_reproducible_runs_are_bit_identical(cloud, prostate):
    kw = dict(hidden=[16, 16], epochs=3, seed=7, reproducible=True, activation="RectifierWithDropout",
              input_dropout_ratio=0.1)
    a = DeepLearningEstimator(**kw).train(y="CAPSULE", training_frame=prostate)
    b = DeepLearningEstimator(**kw).train(y="CAPSULE", training_frame=prostate)
    sa, sb = a.model.state, b.model.state
    assert np.array_equal(sa.w, sb.w) and np.array_equal(sa.b, sb.b)
    ha, hb = a.scoring_history(), b.scoring_history()
    cols = [c for c in ha.columns if c not in ("timestamp", "duration", "training_speed")]
    pd.testing.assert_frame_equal(ha[cols], hb[cols])


def test_l1_sparsifies_and_max_w2_bounds_incoming_weights(cloud, boston):
    base = dict(hidden=[32], epochs=20, seed=5, reproducible=True)
    plain = DeepLearningEstimator(**base).train(y="medv", training_frame=boston).model.state
    sparse = DeepLearningEstimator(l1=1e-2, **base).train(y="medv", training_frame=boston).model.state
    small = lambda s: np.mean(np.abs(s.layer_weights(0)) < 1e-3)  # noqa: E731
    assert small(sparse) > small(plain) + 0.2
    capped = DeepLearningEstimator(max_w2=0.5, **base).train(y="medv", training_frame=boston).model.state
    for l in range(capped.spec.n_layers):
        assert (capped.layer_weights(l).astype(np.float64) ** 2).sum(axis=1).max() <= 0.5 * (1 + 1e-5)


def test_weights_of_two_behave_like_duplicated_rows(cloud, boston):
    df = boston.as_pandas()
    df["w"] = 2.0
    weighted = Frame.from_pandas(df)
    dup = Frame.from_pandas(pd.concat([df, df], ignore_index=True))
    kw = dict(hidden=[16], epochs=30, seed=11)
    mw = DeepLearningEstimator(weights_column="w", **kw).train(y="medv", training_frame=weighted)
    md = DeepLearningEstimator(**kw).train(x=[c for c in boston.names if c != "medv"], y="medv", training_frame=dup)
    rw = mw.model_performance(test_data=boston).rmse()
    rd = md.model_performance(test_data=boston).rmse()
    assert abs(rw - rd) < 0.35 * max(rw, rd)
    assert mw.model.info.num_means == pytest.approx(md.model.info.num_means)


def test_balance_classes_changes_class_counts_seen(cloud):
    rng = np.random.default_rng(0)
    n = 3000
    x = rng.normal(size=(n, 3))
    y = np.where(rng.random(n) < 0.1, "rare", "common")
    df = pd.DataFrame(x, columns=["a", "b", "c"])
    df["y"] = pd.Categorical(y)
    fr = Frame.from_pandas(df)
    from algos.deeplearning.parameters import validate
    from algos.deeplearning.trainer import Trainer
    t = Trainer(validate({"balance_classes": True, "epochs": 1}), None, "y", fr, None)
    resp, cols = t._resp(fr, t._data_info())
    factors, rows, priors = t._balance(resp, cols, n)
    counts = np.bincount((y == "rare").astype(int), minlength=2)   # domain order: common, rare
    np.testing.assert_allclose(counts * factors, [counts.max(), counts.max()])
    assert rows == 2 * counts.max() and priors[0][1] == pytest.approx(counts[1] / n)
    m = DeepLearningEstimator(balance_classes=True, epochs=2, hidden=[8], seed=2).train(y="y", training_frame=fr)
    plain = DeepLearningEstimator(epochs=2, hidden=[8], seed=2).train(y="y", training_frame=fr)
    assert m.model.meta.samples > 1.5 * plain.model.meta.samples


def test_training_job_is_recorded_and_can_be_cancelled(cloud, boston):
    import threading
    import time
    big = Frame.from_numpy(np.random.default_rng(1).normal(size=(20_000, 20)), nchunks=8)
    dl = DeepLearningEstimator(hidden=[256, 256], epochs=1000, seed=1, score_interval=1,
                               train_samples_per_iteration=2000)
    errors = []
    th = threading.Thread(target=lambda: _catch(errors, lambda: dl.train(y="C1", training_frame=big)))
    th.start()
    deadline = time.time() + 30
    job = None
    while time.time() < deadline and job is None:
        running = [j for j in cluster.Job.list(cloud) if j["status"] == "RUNNING" and "DeepLearning" in
                   j["description"]]
        job = running[0] if running else None
        time.sleep(0.1)
    assert job is not None
    time.sleep(1.0)
    t0 = time.time()
    cluster.Job.get(job["key"], cloud).cancel()
    th.join(30)
    assert not th.is_alive() and time.time() - t0 < 5
    assert errors and isinstance(errors[0], cluster.JobCancelledError)
    assert cluster.Job.get(job["key"], cloud).status == "CANCELLED"


def _catch(errors, fn):
    try:
        fn()
    except BaseException as exc:     # noqa: BLE001 - the test inspects it
        errors.append(exc)


def test_autoencoder_ecg_anomalies_rank_highest(cloud):
    train = frame.import_file(str(DATA / "ecg" / "ecg_discord_train.csv"), header=-1)
    test = frame.import_file(str(DATA / "ecg" / "ecg_discord_test.csv"), header=-1)
    ae = DeepLearningEstimator(activation="Tanh", autoencoder=True, hidden=[50, 20, 50], l1=1e-4, epochs=100,
                               seed=1)
    ae.train(x=train.names, training_frame=train)
    err = ae.anomaly(test).as_numpy()[:, 0]
    assert err.shape == (23,)
    assert set(np.argsort(err)[-3:]) == {20, 21, 22}
    rec = ae.predict(test)
    assert rec.ncols == 210 and rec.names[0].startswith("reconstr_")
    feats = ae.deepfeatures(test, 1)
    assert feats.shape == (23, 20) and feats.names[0] == "DF.L2.C1"


def test_two_trainings_at_once_on_one_node(cloud, boston):
    """Two runs overlapping on one node (two users, two threads) both finish their epochs and learn: each
    iteration brings its own kernel team, so no run can close the threads another is using."""
    from concurrent.futures import ThreadPoolExecutor
    x = [c for c in boston.names if c != "medv"]

    def fit(seed, epochs):
        est = DeepLearningEstimator(hidden=[16, 16], epochs=epochs, seed=seed, reproducible=False,
                                    train_samples_per_iteration=200, score_interval=0)
        return est.train(x=x, y="medv", training_frame=boston).model

    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(fit, 1, 8), pool.submit(fit, 2, 4)]
        models = [f.result(timeout=300) for f in futures]
    for m, epochs in zip(models, (8, 4)):
        assert m.meta.epochs == pytest.approx(epochs, abs=0.05)
        assert m.model_performance(train=True).r2() > 0.5


def test_no_environment_variable_changes_training(cloud, monkeypatch):
    """The former switches AQUIFER_DL_THREAD_MODE / AQUIFER_DL_BLOCK_MOMENTUM are parameters now: set in the
    environment they change nothing; the plan a model was trained with is in its parameters."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 4))
    fr = Frame.from_numpy(np.column_stack([X, X @ [1.0, -2.0, 0.5, 0.0]]), nchunks=2)

    def fit(**kw):
        return DeepLearningEstimator(hidden=[6], epochs=2, seed=9, **kw).train(y="C5", training_frame=fr).model

    plain = fit()
    monkeypatch.setenv("AQUIFER_DL_THREAD_MODE", "hogwild")
    monkeypatch.setenv("AQUIFER_DL_BLOCK_MOMENTUM", "0")
    again = fit()
    assert plain.params["thread_mode"] == again.params["thread_mode"] == "team"
    assert plain.params["block_momentum"] is again.params["block_momentum"] is True
    assert np.array_equal(plain.state.w, again.state.w)         # a kernel team is deterministic
    hog = fit(thread_mode="hogwild", block_momentum=False)
    assert (hog.params["thread_mode"], hog.params["block_momentum"]) == ("hogwild", False)


# ------------------------------------------------------------------------------- frames to score and validate
PROSTATE_X = ["AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"]


def _frame(df: pd.DataFrame, enums=("CAPSULE",)) -> Frame:
    fr = Frame.from_pandas(df)
    for c in enums:
        fr[c] = fr[c].asfactor()
    return fr


def _small(prostate, **kw):
    return DeepLearningEstimator(hidden=[3], epochs=1, seed=1, reproducible=True, **kw)


def test_validation_frame_is_adapted_and_checked_as_model_performance_scores_it(cloud, prostate):
    """One rule for a frame to score (H2O's adaptTestForTrain): a type mismatch is refused before any job, naming
    the column; a classifier's response given as numbers or strings is made categorical; a missing predictor is
    read as NA, so the validation metrics equal model_performance on the same frame."""
    df = prostate.as_pandas()
    n = jobs_now(cloud)
    for bad, pattern in ((_frame(df.astype({"PSA": str})), "column 'PSA' is numeric in the model but string"),
                         (_frame(df.astype({"PSA": str}), ("CAPSULE", "PSA")), "'PSA' is numeric in the model but enum"),
                         (_frame(df.drop(columns=["CAPSULE"]), ()), "no response column 'CAPSULE'")):
        with pytest.raises(ValueError, match=pattern):
            _small(prostate).train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate, validation_frame=bad)
    assert jobs_now(cloud) == n
    expected = _small(prostate).train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate, validation_frame=prostate)
    auc = expected.model_performance(valid=True).auc()
    for as_given in (_frame(df.astype({"CAPSULE": int}), ()), _frame(df.astype({"CAPSULE": str}), ())):
        dl = _small(prostate).train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate, validation_frame=as_given)
        assert dl.model_performance(valid=True).auc() == pytest.approx(auc)
        assert dl.model_performance(as_given).auc() == pytest.approx(auc)
    no_psa = _frame(df.drop(columns=["PSA"]))
    with pytest.warns(UserWarning, match=r"lacks the model's predictor\(s\) \['PSA'\]: read as NA"):
        dl = _small(prostate).train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate, validation_frame=no_psa)
    na_psa = _frame(df.assign(PSA=np.nan))
    assert dl.model_performance(valid=True).auc() == pytest.approx(dl.model_performance(na_psa).auc())
    with pytest.warns(UserWarning, match=r"lacks the model's predictor\(s\) \['PSA'\]: read as NA") as caught:
        lacking = dl.predict(no_psa)
    assert len([w for w in caught if "lacks the model's predictor" in str(w.message)]) == 1    # once, not twice
    assert np.array_equal(lacking.as_numpy(), dl.predict(na_psa).as_numpy())
    with pytest.raises(ValueError, match="no columns in common with the training set"):
        dl.predict(_frame(df[["ID"]], ()))


def test_a_mismatched_response_is_refused_not_misread(cloud, prostate):
    """A regression model scored on levels, or a classifier on a level it never saw, is refused naming the column
    (and the level and its rows), in model_performance and as a validation frame alike."""
    df = prostate.as_pandas()
    reg = _small(prostate).train(x=["AGE", "PSA"], y="VOL", training_frame=prostate)
    with pytest.raises(ValueError, match="response column 'VOL' is numeric in the model .* but enum"):
        reg.model_performance(_frame(df, ("CAPSULE", "VOL")))
    unseen = _frame(df.assign(CAPSULE=np.where(df.CAPSULE.astype(str) == "1", "2", "0")))
    dl = _small(prostate).train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)
    count = int((df.CAPSULE.astype(str) == "1").sum())
    with pytest.raises(ValueError, match=rf"'CAPSULE' .* levels unseen in training: '2' \({count} rows\)"):
        dl.model_performance(unseen)
    jobs = len(cluster.Job.list(cloud))
    with pytest.raises(ValueError, match=rf"levels unseen in training: '2' \({count} rows\)"):
        _small(prostate).train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate, validation_frame=unseen)
    assert len(cluster.Job.list(cloud)) == jobs          # a bad validation frame fails before a job starts
    with pytest.raises(ValueError, match="response column 'VOL' is numeric in the model"):
        _small(prostate).train(x=["AGE", "PSA"], y="VOL", training_frame=prostate,
                               validation_frame=_frame(df, ("CAPSULE", "VOL")))


def test_binomial_trains_when_validation_or_a_holdout_has_no_positive_rows(cloud, prostate):
    """F1 is 0/0 at every threshold on one class: the model keeps H2O's default threshold 0.5 (AUC2's
    defaultThreshold) instead of failing at the end of training."""
    df = prostate.as_pandas()
    negatives = _frame(df[df.CAPSULE.astype(str) == "0"].reset_index(drop=True))
    dl = _small(prostate).train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate, validation_frame=negatives)
    assert dl.model.meta.threshold == 0.5
    assert dl.model_performance(valid=True).default_threshold() == 0.5
    folds = _frame(df.assign(fold=np.where(df.CAPSULE.astype(str) == "1", 0, np.arange(len(df)) % 3)))
    cv = _small(prostate, fold_column="fold").train(x=PROSTATE_X, y="CAPSULE", training_frame=folds)
    assert cv.model.meta.cv.nfolds == 3


def test_weights_and_offset_columns_are_checked_before_any_job(cloud, prostate):
    """H2O: "weights must be numeric", "offset must be numeric", "Response column must be different from
    offset_column" -- with y given to train(), not only as response_column."""
    df = prostate.as_pandas()
    fr = _frame(df.assign(wl=np.where(df.AGE > 65, "5", "7"), neg=df.AGE - 70.0), ("CAPSULE", "wl"))
    n = jobs_now(cloud)
    for params, pattern in (({"weights_column": "wl"}, "weights must be numeric"),
                            ({"weights_column": "neg"}, "weights must be non-negative"),
                            ({"offset_column": "wl"}, "offset must be numeric"),
                            ({"offset_column": "VOL"}, "Response column must be different from offset_column")):
        with pytest.raises(ValueError, match=pattern):
            _small(prostate, **params).train(x=["AGE", "PSA"], y="VOL", training_frame=fr)
    assert jobs_now(cloud) == n


def test_probability_columns_are_named_as_h2o_names_them(cloud, prostate):
    """H2O's makeScoringNames: a class label Java reads as an Integer (sign, digits, int32) names its probability
    column "p" + label, any other label names it as it is; the label column keeps the raw levels. Where names
    clash (levels "1" and "p1", a level "predict") H2O keeps duplicate names; the later column is renamed here
    as a frame renames a column selected twice (p1 -> p10). Cross-validation holdout frames are named alike."""
    df = prostate.as_pandas()
    x = ["AGE", "PSA", "VOL", "GLEASON"]
    dpros = _frame(df, ("CAPSULE", "DPROS"))                                # levels 1..4: a multinomial
    dl = _small(prostate).train(x=x, y="DPROS", training_frame=dpros)
    preds = dl.predict(dpros)
    assert dl.model.response_domain == ["1", "2", "3", "4"]
    assert preds.names == ["predict", "p1", "p2", "p3", "p4"]
    assert preds.domains["predict"] == ["1", "2", "3", "4"]               # the labels stay the raw levels
    odd = {1: "-3", 2: "1.5", 3: "2147483648", 4: "+7"}                     # int32, not an int, beyond int32, +sign
    fr = _frame(df.assign(y=df.DPROS.map(odd)), ("CAPSULE", "y"))
    dl = _small(prostate).train(x=x, y="y", training_frame=fr)
    name_of = {"-3": "p-3", "1.5": "1.5", "2147483648": "2147483648", "+7": "p+7"}
    assert dl.predict(fr).names == ["predict"] + [name_of[lv] for lv in dl.model.response_domain]
    # clashes: the probability of level "1" is column p1, that of level "p1" column p10; a level named predict
    clash = _frame(df.assign(y=np.where(df.CAPSULE.astype(str) == "1", "1", "p1")), ("CAPSULE", "y"))
    dl = _small(prostate).train(x=x, y="y", training_frame=clash)
    assert dl.model.response_domain == ["1", "p1"]
    p = dl.predict(clash)
    assert p.names == ["predict", "p1", "p10"] and p.domains["predict"] == ["1", "p1"]
    got = p.as_pandas()
    threshold = dl.model.meta.threshold
    assert ((got["p10"] >= threshold) == (got["predict"].astype(str) == "p1")).all()
    named = _frame(df.assign(y=np.where(df.CAPSULE.astype(str) == "1", "predict", "other")), ("CAPSULE", "y"))
    dl = _small(prostate).train(x=x, y="y", training_frame=named)
    assert dl.predict(named).names == ["predict", "other", "predict0"]
    # cross-validation holdout predictions (per fold and combined) carry the same names
    cv = _small(prostate, nfolds=2, keep_cross_validation_predictions=True).train(x=x, y="CAPSULE",
                                                                                  training_frame=prostate)
    assert cv.model.cross_validation_holdout_predictions().names == ["predict", "p0", "p1"]
    assert [f.names for f in cv.model.cross_validation_predictions()] == [["predict", "p0", "p1"]] * 2


def test_metric_getters_take_h2o_pys_flags(cloud, prostate, boston):
    """model.logloss(train=True, valid=True) gave the validation number alone (train= was ignored); model.r2()
    raised 'unknown metric'; several of h2o-py's getters were missing on the model. Now one flag gives its set's
    value, several a dict by set, as h2o-py."""
    train, valid = prostate.split_frame(ratios=[0.7], seed=1)
    dl = _small(prostate).train(x=PROSTATE_X, y="CAPSULE", training_frame=train, validation_frame=valid)
    tr, va = dl.model_performance(train=True), dl.model_performance(valid=True)
    assert dl.logloss() == dl.logloss(train=True) == tr.logloss() != va.logloss() == dl.logloss(valid=True)
    assert dl.logloss(train=True, valid=True) == {"train": tr.logloss(), "valid": va.logloss()}
    assert dl.auc(train=True, valid=True, xval=True) == {"train": tr.auc(), "valid": va.auc(), "xval": None}
    for name in ("aucpr", "gini", "mean_per_class_error", "classification_error", "mse", "rmse"):
        assert getattr(dl, name)(valid=True) == getattr(va, name)(), name
    assert dl.confusion_matrix(valid=True).equals(va.confusion_matrix())
    assert dl.confusion_matrix(thresholds=0.5, train=True).equals(tr.confusion_matrix(thresholds=0.5))
    assert va.nobs() == valid.nrows
    reg = _small(boston).train(y="medv", training_frame=boston)
    assert reg.r2() == reg.model_performance(train=True).r2() and 0 < reg.r2() < 1
    assert reg.mean_residual_deviance() == reg.model_performance(train=True).mean_residual_deviance()
    with pytest.raises(ValueError, match="auc is not available for regression metrics"):
        reg.auc()


def test_estimator_parameters_are_attributes_and_its_frames_are_used(cloud, prostate):
    """h2o-py habits that were accepted and ignored: ``est.hidden = [3]`` (the default network trained),
    ``DeepLearningEstimator(validation_frame=v, x=[...])`` (no validation, every column), frames given by key
    (refused). Each now does what h2o-py does; a misspelt attribute is refused naming the parameter meant."""
    train, valid = prostate.split_frame(ratios=[0.7], seed=1)
    est = DeepLearningEstimator(seed=1)
    est.hidden, est.epochs = [3], 0.5
    assert (est.hidden, est.epochs, DeepLearningEstimator(hidden=[7]).hidden) == ([3], 0.5, [7])
    est.train(y="CAPSULE", training_frame=train)
    assert (est.params["hidden"], est.params["epochs"]) == ([3], 0.5) and est.model_id == est.model.model_id
    with pytest.raises(AttributeError, match="unknown Deep Learning parameter 'hiden'; did you mean 'hidden'"):
        est.hiden = [3]
    with pytest.raises(ValueError, match="parameter 'hidden' expects a list of ints"):
        est.hidden = "x"
    given = DeepLearningEstimator(validation_frame=valid, x=["AGE", "PSA"], hidden=[3], epochs=0.5, seed=1)
    given.train(y="CAPSULE", training_frame=train)
    assert given.params["validation_frame"] == valid.key and given.model.meta.x == ["AGE", "PSA"]
    assert given.logloss(valid=True) > 0
    by_key = DeepLearningEstimator(training_frame=train.key, validation_frame=valid.key, hidden=[3], epochs=0.5)
    assert by_key.train(y="CAPSULE").params["training_frame"] == train.key
    selection = DeepLearningEstimator(training_frame=prostate[1:], hidden=[3], epochs=0.5).train(y="CAPSULE")
    assert "ID" not in selection.model.meta.x
    with pytest.raises(ValueError, match="training_frame 'nope': no such frame in the cloud"):
        DeepLearningEstimator(training_frame="nope").train(y="CAPSULE")
    with pytest.raises(ValueError, match=r"no usable predictor columns \(x is empty; None means every other"):
        DeepLearningEstimator().train(x=[], y="CAPSULE", training_frame=prostate)
    with pytest.raises(ValueError, match=r"no usable predictor columns \(x names only the response"):
        DeepLearningEstimator().train(x=["CAPSULE"], y="CAPSULE", training_frame=prostate)


def test_a_removed_model_no_longer_scores_through_old_handles(cloud, prostate):
    """After algos.remove_model the estimator and model handles went on predicting with their cached weights
    (h2o-py: H2OKeyNotFound); get_model refused. Now every scoring of a frame refuses a removed model."""
    dl = _small(prostate).train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)
    handle = algos.get_model(dl.model_id)
    assert handle.predict(prostate).nrows == prostate.nrows
    algos.remove_model(dl.model_id)
    for score in (lambda: dl.predict(prostate), lambda: handle.model_performance(prostate)):
        with pytest.raises(KeyError, match="is no longer in the cloud"):
            score()
    assert dl.logloss() > 0            # the metrics it was trained with stay readable on the handle
