"""Cross-validation: fold assignment (Random, Modulo, Stratified, fold_column, weights), fold models that never
train on their holdout, CV metrics from the holdout predictions, the epochs rule, kept/removed artefacts."""

import numpy as np
import pandas as pd
import pytest

from algos import DeepLearningEstimator, remove_model
from algos.cross_validation import CV_FOLD, CV_WEIGHTS, assign_folds
from cloudkit import SMALL
from frame import Frame

X = ["AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"]


@pytest.fixture(scope="module")
def prostate(cloud):
    df = pd.read_csv(SMALL / "prostate.csv")
    df["CAPSULE"] = df["CAPSULE"].astype("category")
    return Frame.from_pandas(df, nchunks=5)


@pytest.fixture(scope="module")
def boston(cloud):
    return Frame.from_pandas(pd.read_csv(SMALL / "BostonHousing.csv"), nchunks=4)


def column(fr: Frame, name: str) -> np.ndarray:
    return fr[name].as_numpy().ravel()


def vec_ids(cloud) -> set[str]:
    return {k.split("$vec/")[1][:32] for k in (r["key"] for r in cloud.dkv.keys("")) if "$vec/" in k}


def test_nfolds_3_fold_models_holdout_predictions_and_xval_metrics(cloud, prostate):
    dl = DeepLearningEstimator(hidden=[5], epochs=2, seed=7, nfolds=3, keep_cross_validation_predictions=True,
                               keep_cross_validation_fold_assignment=True)
    dl.train(x=X, y="CAPSULE", training_frame=prostate)
    m = dl.model
    n = prostate.nrows
    fold_models = m.cross_validation_models()
    assert [f.model_id for f in fold_models] == [f"{m.model_id}_cv_{i}" for i in (1, 2, 3)]
    folds = m.cross_validation_fold_assignment().as_numpy().ravel()
    assert sorted(set(folds.tolist())) == [0, 1, 2]
    for i, fm in enumerate(fold_models):
        # trained (and scored for training) on the other folds only; validated on its own fold
        assert fm.model_performance(train=True).nobs() == int((folds != i).sum())
        assert fm.model_performance(valid=True).nobs() == int((folds == i).sum())
        assert "AGE" in fm.meta.x and CV_WEIGHTS not in fm.meta.x
    per_fold = [p.as_pandas() for p in m.cross_validation_predictions()]
    covered = np.stack([p["p1"].notna().to_numpy() for p in per_fold])
    assert (covered.sum(axis=0) == 1).all()                     # every row predicted exactly once ...
    assert (covered.argmax(axis=0) == folds).all()              # ... by the model of its own fold
    hold = m.cross_validation_holdout_predictions().as_pandas()
    assert list(hold.columns) == ["predict", "p0", "p1"]                 # H2O's names for integer levels
    assert all(list(p.columns) == list(hold.columns) for p in per_fold)
    assert len(hold) == n and hold["p1"].notna().all()
    for i, p in enumerate(per_fold):
        np.testing.assert_allclose(hold["p1"].to_numpy()[folds == i], p["p1"].to_numpy()[folds == i])
    # the CV metrics are the metrics of the concatenated holdout predictions
    y = prostate.as_pandas()["CAPSULE"].cat.codes.to_numpy()
    p1 = hold["p1"].to_numpy()
    logloss = -np.mean(np.log(np.clip(np.where(y == 1, p1, 1 - p1), 1e-15, None)))
    xval = m.model_performance(xval=True)
    assert xval.nobs() == n
    assert xval.logloss() == pytest.approx(logloss, rel=1e-5)
    assert xval.logloss() != pytest.approx(m.model_performance(train=True).logloss(), rel=1e-6)
    summary = m.cross_validation_metrics_summary()
    assert list(summary.columns) == ["mean", "sd", "cv_1_valid", "cv_2_valid", "cv_3_valid"]
    per = summary.loc["logloss", ["cv_1_valid", "cv_2_valid", "cv_3_valid"]].to_numpy(dtype=float)
    assert summary.loc["logloss", "mean"] == pytest.approx(per.mean())
    assert summary.loc["logloss", "sd"] == pytest.approx(per.std(ddof=1))
    assert per[0] == pytest.approx(fold_models[0].model_performance(valid=True).logloss(), rel=1e-9)
    # H2O's rows (less lift_top_group, aic, loglikelihood); label metrics at the fold's max-F1 threshold
    assert list(summary.index) == ["accuracy", "auc", "err", "err_count", "f0point5", "f1", "f2", "logloss",
                                   "max_per_class_error", "mcc", "mean_per_class_accuracy", "mean_per_class_error",
                                   "mse", "pr_auc", "precision", "r2", "recall", "rmse", "specificity"]
    fold1 = fold_models[0].model_performance(valid=True)
    (tn, fp), (fn, tp) = fold1.label_confusion()
    got = summary["cv_1_valid"]
    assert got["err_count"] == fp + fn and got["accuracy"] == pytest.approx((tn + tp) / (tn + fp + fn + tp))
    assert got["precision"] == pytest.approx(tp / (tp + fp)) and got["recall"] == pytest.approx(tp / (tp + fn))
    assert got["specificity"] == pytest.approx(tn / (tn + fp)) and got["f1"] == pytest.approx(fold1.F1())
    assert got["max_per_class_error"] == pytest.approx(max(fp / (tn + fp), fn / (fn + tp)))
    assert got["mean_per_class_accuracy"] == pytest.approx(1 - fold1.mean_per_class_error())
    # default stopping_rounds=5 is active: main epochs = mean of the folds', no stopping; trained on all rows
    assert m.params["epochs"] == pytest.approx(np.mean([f.meta.epochs for f in fold_models]))
    assert m.params["stopping_rounds"] == 0 and m.params["overwrite_with_best_model"] is False
    assert m.model_performance(train=True).nobs() == n
    owned = [f.model_id for f in fold_models] + m.meta.owned_frames
    assert len(m.meta.owned_frames) == 5                       # 3 per-fold, combined, fold assignment
    remove_model(m.model_id, cloud)
    left = {r["key"] for r in cloud.dkv.keys("")}
    assert not (set(owned) | {m.model_id}) & left


def test_modulo_stratified_random_assignment_and_weight_columns(cloud, prostate):
    n = prostate.nrows
    f = assign_folds(prostate, nfolds=4, method="Modulo")
    try:
        fold = column(f.fold_view(), CV_FOLD)
        assert (fold == np.arange(n) % 4).all()                 # global row index, across 5 chunks
        assert f.counts.tolist() == np.bincount(fold).tolist()
    finally:
        f.delete()
    y = prostate.as_pandas()["CAPSULE"].cat.codes.to_numpy()
    f = assign_folds(prostate, nfolds=3, method="Stratified", seed=11, y="CAPSULE")
    try:
        fold = column(f.fold_view(), CV_FOLD)
        for c in (0, 1):
            per_fold = np.bincount(fold[y == c], minlength=3)
            assert per_fold.max() - per_fold.min() <= 1, (c, per_fold)
        assert not (fold == np.arange(n) % 3).all()
    finally:
        f.delete()
    a, b, other = (assign_folds(prostate, nfolds=3, seed=s) for s in (5, 5, 6))
    try:
        fa, fb, fo = (column(x.fold_view(), CV_FOLD) for x in (a, b, other))
        assert (fa == fb).all() and not (fa == fo).all()
        assert np.bincount(fa, minlength=3).min() > n / 3 * 0.7
    finally:
        for x in (a, b, other):
            x.delete()
    w = np.random.default_rng(0).uniform(0, 2, n)
    wf = Frame.from_numpy(np.column_stack([y, w]), names=["y", "w"], nchunks=3)
    f = assign_folds(wf, nfolds=3, method="Modulo", weights_column="w")
    try:
        fold = np.arange(n) % 3
        for i in range(3):
            np.testing.assert_allclose(column(f.train_view(i), CV_WEIGHTS), np.where(fold != i, w, 0.0))
            np.testing.assert_allclose(column(f.holdout_view(i), CV_WEIGHTS), np.where(fold == i, w, 0.0))
    finally:
        f.delete()
        wf.remove()


def test_fold_column_is_honoured_and_not_a_predictor(cloud, prostate):
    n = prostate.nrows
    values = np.array([3, 7, 11])[np.random.default_rng(1).integers(0, 3, n)]
    df = prostate.as_pandas()
    df["fold"] = values
    fr = Frame.from_pandas(df, nchunks=3)
    dl = DeepLearningEstimator(hidden=[4], epochs=1, seed=3, keep_cross_validation_fold_assignment=True,
                               keep_cross_validation_predictions=True, keep_cross_validation_models=False)
    before = vec_ids(cloud)
    dl.train(x=X + ["fold"], y="CAPSULE", training_frame=fr, fold_column="fold")
    m = dl.model
    assigned = m.cross_validation_fold_assignment().as_numpy().ravel()
    assert (assigned == np.searchsorted([3, 7, 11], values)).all()
    covered = np.stack([p.as_pandas()["p1"].notna().to_numpy() for p in m.cross_validation_predictions()])
    assert (covered.argmax(axis=0) == assigned).all() and (covered.sum(axis=0) == 1).all()
    assert "fold" not in m.meta.x
    assert m.meta.cv.nfolds == 3 and m.model_performance(xval=True).nobs() == n
    # fold models were not kept; only the kept frames' vecs remain (fold weights were deleted)
    with pytest.raises(ValueError, match="keep_cross_validation_models=False"):
        m.cross_validation_models()
    keys = {r["key"] for r in cloud.dkv.keys("")}
    assert not any(k.startswith(f"{m.model_id}_cv_") for k in keys)
    kept = {v[len("$vec/"):] for key in m.meta.owned_frames for v in cloud.dkv.get(key).meta["vecs"]}
    assert vec_ids(cloud) - before <= kept
    remove_model(m.model_id, cloud)
    fr.remove()


def test_regression_xval_metrics_in_response_units_and_no_epochs_rule(cloud, boston):
    dl = DeepLearningEstimator(hidden=[6], epochs=20, seed=5, nfolds=3, fold_assignment="Modulo",
                               stopping_rounds=0, keep_cross_validation_predictions=True)
    dl.train(y="medv", training_frame=boston)
    m = dl.model
    hold = m.cross_validation_holdout_predictions().as_numpy().ravel()
    medv = column(boston, "medv")
    xval = m.model_performance(xval=True)
    assert xval.rmse() == pytest.approx(np.sqrt(np.mean((hold - medv) ** 2)), rel=1e-5)
    assert xval.mae() == pytest.approx(np.mean(np.abs(hold - medv)), rel=1e-5)
    assert xval.rmse() < 0.8 * np.std(medv)            # the fold models learnt something
    assert m.params["epochs"] == 20.0                  # neither early stopping nor max_runtime: as given
    assert m.meta.cv.fold_assignment == "Modulo"
    summary = m.cross_validation_metrics_summary()
    assert list(summary.index) == ["mae", "mean_residual_deviance", "mse", "r2", "residual_deviance", "rmse", "rmsle"]
    assert summary.loc["residual_deviance"].equals(summary.loc["mean_residual_deviance"])     # as H2O-3 fills it
    remove_model(m.model_id, cloud)


def test_bad_cross_validation_input_is_refused(cloud, prostate, boston):
    df = prostate.as_pandas()
    df["fold"] = np.where(np.arange(len(df)) % 5 == 0, np.nan, np.arange(len(df)) % 2)
    df["one"] = 1
    fr = Frame.from_pandas(df, nchunks=2)
    df[CV_WEIGHTS] = 1.0
    clash = Frame.from_pandas(df, nchunks=2)
    try:
        with pytest.raises(ValueError, match="fold_column 'fold' has .* missing"):
            DeepLearningEstimator(hidden=[3], epochs=1).train(x=X, y="CAPSULE", training_frame=fr, fold_column="fold")
        with pytest.raises(ValueError, match="1 distinct value"):
            DeepLearningEstimator(hidden=[3], epochs=1).train(x=X, y="CAPSULE", training_frame=fr, fold_column="one")
        with pytest.raises(ValueError, match="__cv_weights"):
            DeepLearningEstimator(hidden=[3], epochs=1, nfolds=2).train(x=X, y="CAPSULE", training_frame=clash)
        with pytest.raises(ValueError, match="Stratified"):
            DeepLearningEstimator(nfolds=3, fold_assignment="Stratified").train(y="medv", training_frame=boston)
        with pytest.raises(ValueError, match="more than the"):
            assign_folds(fr[["AGE"]], nfolds=fr.nrows + 1)
    finally:
        fr.remove()
        clash.remove()
