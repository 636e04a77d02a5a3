"""Tests of scoring.metrics and scoring.distributions against independent, written-out computations."""

from __future__ import annotations

import math

import msgpack
import numpy as np
import pytest

from scoring.distributions import DISTRIBUTIONS, deviance, link, link_inv, link_name, resolve_distribution
from scoring.metrics import (
    CRITERIA,
    MORE_IS_BETTER,
    ModelMetricsAutoEncoder,
    ModelMetricsBinomial,
    ModelMetricsMultinomial,
    ModelMetricsRegression,
    default_stopping_metric,
    make_metrics,
    metrics_from_dict,
)

# ------------------------------------------------------------------------------ independent references


def mann_whitney_auc(p: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> float:
    """P(score of a positive > score of a negative) + 1/2 P(tie), weighted, by brute force over pairs."""
    w = np.ones_like(p) if w is None else w
    pos, neg = y == 1, y == 0
    pp, pn = p[pos][:, None], p[neg][None, :]
    wins = (pp > pn) + 0.5 * (pp == pn)
    pair_w = w[pos][:, None] * w[neg][None, :]
    return float((wins * pair_w).sum() / pair_w.sum())


def rank_auc(p: np.ndarray, y: np.ndarray) -> float:
    """Mann-Whitney U from average ranks (ties share their mean rank); O(n log n) for large n."""
    order = np.argsort(p, kind="stable")
    sp = p[order]
    ranks = np.empty(p.size)
    start = 0
    for end in np.append(np.flatnonzero(np.diff(sp) != 0) + 1, p.size):
        ranks[order[start:end]] = (start + end + 1) / 2.0  # mean of ranks start+1..end
        start = end
    npos = int((y == 1).sum())
    nneg = p.size - npos
    return float((ranks[y == 1].sum() - npos * (npos + 1) / 2.0) / (npos * nneg))


def counts_at(p1: np.ndarray, y: np.ndarray, t: float, w: np.ndarray | None = None) -> tuple[float, ...]:
    """(tn, fp, fn, tp) when rows with p1 >= t are predicted positive."""
    w = np.ones_like(p1) if w is None else w
    pred = p1 >= t
    return (float(w[~pred & (y == 0)].sum()), float(w[pred & (y == 0)].sum()),
            float(w[~pred & (y == 1)].sum()), float(w[pred & (y == 1)].sum()))


def prob_pair(p1: np.ndarray) -> np.ndarray:
    return np.column_stack([1.0 - p1, p1])


def random_binomial(rng: np.random.Generator, n: int, decimals: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    p1 = rng.random(n)
    if decimals is not None:
        p1 = np.round(p1, decimals)
    y = (rng.random(n) < 0.3 + 0.4 * p1).astype(np.int64)
    return y, p1


def roundtrip(m):
    return metrics_from_dict(msgpack.unpackb(msgpack.packb(m.to_dict())))


# ------------------------------------------------------------------------------------------ binomial


def test_auc_equals_mann_whitney_with_ties_and_weights():
    rng = np.random.default_rng(1)
    y, p1 = random_binomial(rng, 300, decimals=2)  # heavy ties, <= 101 distinct values: exact table
    w = rng.uniform(0.2, 3.0, y.size)
    m = ModelMetricsBinomial(y, prob_pair(p1))
    assert m.auc() == pytest.approx(mann_whitney_auc(p1, y), abs=1e-12)
    assert m.gini() == pytest.approx(2 * m.auc() - 1)
    mw = ModelMetricsBinomial(y, prob_pair(p1), weights=w)
    assert mw.auc() == pytest.approx(mann_whitney_auc(p1, y, w), abs=1e-12)
    assert mw.to_dict()["auc_method"] == "exact"


def test_auc_exact_when_distinct_values_exceed_bins_but_rows_are_few():
    rng = np.random.default_rng(2)
    y, p1 = random_binomial(rng, 2000)
    m = ModelMetricsBinomial(y, prob_pair(p1))
    assert len(m.thresholds_and_metric_scores()) <= 400
    assert m.to_dict()["auc_method"] == "exact"
    assert m.auc() == pytest.approx(mann_whitney_auc(p1, y), abs=1e-12)


def test_binned_auc_close_to_exact_for_large_n():
    rng = np.random.default_rng(3)
    y, p1 = random_binomial(rng, 60_000)
    exact = rank_auc(p1, y)
    m = ModelMetricsBinomial(y, prob_pair(p1))
    d = m.to_dict()
    assert d["auc_method"] == "binned"
    assert len(d["thresholds"]) == 400
    assert abs(m.auc() - exact) < 1e-3
    assert np.all(np.diff(d["thresholds"]) < 0)  # descending, distinct bin centers
    assert d["tps"][-1] + d["fps"][-1] == pytest.approx(y.size)  # merging loses no weight
    full = ModelMetricsBinomial(y, prob_pair(p1), exact_auc_max_rows=10**6)
    assert full.auc() == pytest.approx(exact, abs=1e-10)
    assert abs(full.aucpr() - m.aucpr()) < 1e-3


def bins_as_row_runs(m: ModelMetricsBinomial, p1: np.ndarray) -> list[np.ndarray]:
    """With unit weights, bin b holds the rows ranked cum[b-1]..cum[b] by descending prediction."""
    d = m.to_dict()
    cum = np.rint(np.array(d["tps"]) + np.array(d["fps"])).astype(int)
    ordered = np.sort(p1)[::-1]
    return [ordered[a:b] for a, b in zip(np.concatenate(([0], cum[:-1])), cum)]


def test_bins_are_contiguous_runs_with_mean_centers():
    rng = np.random.default_rng(15)
    y, p1 = random_binomial(rng, 20_000)
    m = ModelMetricsBinomial(y, prob_pair(p1))
    runs = bins_as_row_runs(m, p1)
    np.testing.assert_allclose(m.to_dict()["thresholds"], [r.mean() for r in runs], rtol=1e-12)


def test_float32_equal_predictions_merge_first():
    rng = np.random.default_rng(16)
    base = np.sort(rng.uniform(0.1, 0.9, 300))
    p1 = np.concatenate([base, base + 1e-12])  # 600 distinct doubles, 300 distinct floats
    y = rng.integers(0, 2, p1.size)
    m = ModelMetricsBinomial(y, prob_pair(p1))
    runs = bins_as_row_runs(m, p1)
    assert len(runs) == 400
    assert all(np.unique(r.astype(np.float32)).size == 1 for r in runs)  # no bin mixes two float32 values


def aucpr_by_integration(ctp: np.ndarray, cfp: np.ndarray, steps: int = 2000) -> float:
    """Integrate precision d(recall) along straight lines between successive (tp, fp) points."""
    total, prev = 0.0, (0.0, 0.0)
    for tp, fp in zip(ctp, cfp):
        if tp > prev[0]:
            s = (np.arange(steps) + 0.5) / steps  # midpoint rule
            tps = prev[0] + s * (tp - prev[0])
            fps = prev[1] + s * (fp - prev[1])
            total += float(np.mean(tps / (tps + fps))) * (tp - prev[0]) / ctp[-1]
        prev = (tp, fp)
    return total


def test_aucpr_matches_numeric_integration_and_perfect_separation():
    rng = np.random.default_rng(4)
    y, p1 = random_binomial(rng, 200, decimals=2)
    m = ModelMetricsBinomial(y, prob_pair(p1))
    d = m.to_dict()
    ref = aucpr_by_integration(np.array(d["tps"]), np.array(d["fps"]))
    assert m.aucpr() == pytest.approx(ref, abs=1e-5)
    assert m.pr_auc() == m.aucpr()
    sep = ModelMetricsBinomial([0, 0, 1, 1], prob_pair(np.array([0.1, 0.2, 0.8, 0.9])))
    assert sep.auc() == 1.0 and sep.aucpr() == pytest.approx(1.0)


def test_logloss_mse_r2_by_hand():
    y = np.array([0, 1, 1, 0, 1])
    p1 = np.array([0.2, 0.9, 0.0, 0.4, 0.6])
    w = np.array([1.0, 2.0, 0.5, 1.0, 3.0])
    m = ModelMetricsBinomial(y, prob_pair(p1), weights=w)
    p_act = [0.8, 0.9, 0.0, 0.6, 0.6]
    ll = sum(wi * -math.log(max(pa, 1e-15)) for wi, pa in zip(w, p_act)) / w.sum()
    mse = sum(wi * (1 - pa) ** 2 for wi, pa in zip(w, p_act)) / w.sum()
    ybar = float((w * y).sum() / w.sum())
    var = float((w * (y - ybar) ** 2).sum() / w.sum())
    assert m.logloss() == pytest.approx(ll)
    assert m.logloss() > 34.5 * 0.5 / w.sum()  # the p=0 row is capped at -log(1e-15), not inf
    assert m.mse() == pytest.approx(mse)
    assert m.rmse() == pytest.approx(math.sqrt(mse))
    assert m.r2() == pytest.approx(1 - mse / var)


def test_confusion_matrix_at_max_f1_threshold_by_brute_force():
    rng = np.random.default_rng(5)
    y, p1 = random_binomial(rng, 150, decimals=2)
    m = ModelMetricsBinomial(y, prob_pair(p1), domain=["neg", "pos"])
    best_t, best_f1 = None, -1.0
    for t in np.sort(np.unique(p1))[::-1]:
        tn, fp, fn, tp = counts_at(p1, y, t)
        f1 = 2 * tp / (2 * tp + fp + fn)
        if f1 > best_f1:
            best_t, best_f1 = t, f1
    tn, fp, fn, tp = counts_at(p1, y, best_t)
    assert m.find_threshold_by_max_metric("f1") == pytest.approx(best_t)
    assert m.F1() == pytest.approx(best_f1)
    cm = m.confusion_matrix()
    assert list(cm.index) == ["neg", "pos", "Total"]
    assert list(cm.columns) == ["neg", "pos", "Error", "Rate"]
    assert cm.loc["neg", "neg"] == tn and cm.loc["neg", "pos"] == fp
    assert cm.loc["pos", "neg"] == fn and cm.loc["pos", "pos"] == tp
    assert cm.loc["Total", "neg"] == tn + fn and cm.loc["Total", "pos"] == fp + tp
    assert cm.loc["pos", "Error"] == pytest.approx(fn / (fn + tp))
    assert cm.loc["Total", "Rate"] == f"{int(fp + fn):,} / {y.size:,}"
    assert m.classification_error() == pytest.approx((fp + fn) / y.size)
    assert m.mean_per_class_error() == pytest.approx(0.5 * (fp / (tn + fp) + fn / (fn + tp)))
    assert "max f1" in cm.attrs["header"]
    # a user threshold snaps to the nearest table threshold, like h2o-py's find_idx_by_threshold
    cm_t = m.confusion_matrix(thresholds=best_t + 1e-4)
    assert cm_t.loc["pos", "pos"] == tp


def test_threshold_table_matches_brute_force_criteria():
    rng = np.random.default_rng(6)
    y, p1 = random_binomial(rng, 120, decimals=2)
    m = ModelMetricsBinomial(y, prob_pair(p1))
    table = m.thresholds_and_metric_scores()
    assert list(table.columns) == ["threshold", *CRITERIA, "idx"]
    for _, row in table.iterrows():
        tn, fp, fn, tp = counts_at(p1, y, row["threshold"])
        prec, rec, spec = tp / (tp + fp), tp / (tp + fn), tn / (tn + fp)
        denom = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        mcc = abs(tp * tn - fp * fn) / denom if tp * tn != fp * fn else 0.0
        expect = {"tns": tn, "fps": fp, "fns": fn, "tps": tp, "precision": prec, "recall": rec,
                  "specificity": spec, "accuracy": (tp + tn) / y.size, "absolute_mcc": mcc,
                  "f2": 5 * prec * rec / (4 * prec + rec), "min_per_class_accuracy": min(rec, spec),
                  "fpr": fp / (fp + tn), "fnr": fn / (fn + tp)}
        for name, value in expect.items():
            assert row[name] == pytest.approx(value), name
    best = m.max_criteria_and_metric_scores().set_index("metric")
    for c in CRITERIA:
        assert best.loc[f"max {c}", "value"] == pytest.approx(table[c].max())
    assert m.metric("tpr", thresholds=[0.5])[0][0] == 0.5


def test_single_class_follows_h2o_conventions():
    m = ModelMetricsBinomial([1, 1, 1], prob_pair(np.array([0.2, 0.5, 0.9])))
    assert m.auc() == 1.0  # H2O: no negatives -> AUC 1
    m0 = ModelMetricsBinomial([0, 0], prob_pair(np.array([0.2, 0.5])))
    assert m0.auc() == 0.0
    assert math.isnan(m0.classification_error()) and m0.confusion_matrix() is None


# --------------------------------------------------------------------------------------- multinomial


def random_probs(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    z = rng.normal(size=(n, k)) * 2
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_multinomial_metrics_by_hand():
    rng = np.random.default_rng(7)
    n, k = 400, 5
    probs = random_probs(rng, n, k)
    y = rng.integers(0, k, n)
    w = rng.uniform(0.5, 2.0, n)
    m = ModelMetricsMultinomial(y, probs, weights=w, domain=list("abcde"))
    cm = np.zeros((k, k))
    for i in range(n):
        cm[y[i], int(np.argmax(probs[i]))] += w[i]
    ll = sum(w[i] * -math.log(probs[i, y[i]]) for i in range(n)) / w.sum()
    mse = sum(w[i] * (1 - probs[i, y[i]]) ** 2 for i in range(n)) / w.sum()
    assert m.logloss() == pytest.approx(ll)
    assert m.mse() == pytest.approx(mse)
    assert m.classification_error() == pytest.approx(1 - np.trace(cm) / w.sum())
    class_err = [(cm[c].sum() - cm[c, c]) / cm[c].sum() for c in range(k)]
    assert m.mean_per_class_error() == pytest.approx(np.mean(class_err))
    table = m.confusion_matrix()
    assert list(table.index) == [*"abcde", "Total"]
    assert np.allclose(table.loc[list("abcde"), list("abcde")].to_numpy(dtype=float), cm)


def test_hit_ratios_are_top_k_accuracy_and_monotone():
    rng = np.random.default_rng(8)
    n, k = 500, 12
    probs = random_probs(rng, n, k)
    y = rng.integers(0, k, n)
    m = ModelMetricsMultinomial(y, probs, max_hit_ratio_k=10)
    hr = m.hit_ratio_table()
    assert hr["k"].tolist() == list(range(1, 11))
    topk = np.argsort(-probs, axis=1)
    for kk, ratio in zip(hr["k"], hr["hit_ratio"]):
        assert ratio == pytest.approx(np.mean([y[i] in topk[i, :kk] for i in range(n)]))
    assert np.all(np.diff(hr["hit_ratio"]) >= 0)
    assert hr["hit_ratio"].iloc[0] == pytest.approx(1 - m.classification_error())
    full = ModelMetricsMultinomial(y, probs, max_hit_ratio_k=50)
    assert len(full.hit_ratio_table()) == k and full.hit_ratio_table()["hit_ratio"].iloc[-1] == pytest.approx(1.0)


def test_multinomial_ties_go_to_first_class_and_large_k_hides_cm():
    probs = np.array([[0.4, 0.4, 0.2], [0.2, 0.4, 0.4]])
    m = ModelMetricsMultinomial([1, 2], probs)
    assert m.classification_error() == 1.0  # argmax picks class 0 and class 1
    assert m.hit_ratio_table()["hit_ratio"].tolist() == [0.0, 1.0, 1.0]
    rng = np.random.default_rng(9)
    big = ModelMetricsMultinomial(rng.integers(0, 25, 60), random_probs(rng, 60, 25))
    assert big.confusion_matrix() is None
    assert "not shown" in str(big) and "25 classes" in str(big)
    assert not math.isnan(big.mean_per_class_error())


# ---------------------------------------------------------------------------------------- regression


def test_regression_metrics_by_hand():
    y = np.array([1.0, 2.0, 0.5, 4.0, np.nan])  # the NaN actual is skipped, as in H2O
    f = np.array([1.5, 1.0, 0.5, 3.0, 7.0])
    w = np.array([1.0, 2.0, 1.0, 0.5, 1.0])
    m = ModelMetricsRegression(y, f, weights=w)
    yy, ff, ww = y[:4], f[:4], w[:4]
    mse = float((ww * (yy - ff) ** 2).sum() / ww.sum())
    ybar = float((ww * yy).sum() / ww.sum())
    var = float((ww * (yy - ybar) ** 2).sum() / ww.sum())
    assert m.nobs() == 4
    assert m.mse() == pytest.approx(mse)
    assert m.mae() == pytest.approx(float((ww * abs(yy - ff)).sum() / ww.sum()))
    assert m.rmsle() == pytest.approx(math.sqrt(float((ww * (np.log1p(ff) - np.log1p(yy)) ** 2).sum() / ww.sum())))
    assert m.r2() == pytest.approx(1 - mse / var)
    assert m.mean_residual_deviance() == pytest.approx(mse)  # gaussian deviance == MSE
    assert math.isnan(ModelMetricsRegression([-2.0, 1.0], [0.0, 1.0]).rmsle())


def test_regression_deviance_uses_distribution():
    y = np.array([0.0, 1.0, 3.0])
    f = np.array([0.5, 2.0, 2.5])
    m = ModelMetricsRegression(y, f, distribution="poisson")
    assert m.mean_residual_deviance() == pytest.approx(float(np.mean(deviance("poisson", y, f))))
    q = ModelMetricsRegression(y, f, distribution="quantile", quantile_alpha=0.9)
    assert q.mean_residual_deviance() == pytest.approx((0.1 * 0.5 + 0.1 * 1.0 + 0.9 * 0.5) / 3)


def test_autoencoder_mse():
    e = np.array([0.1, 0.4, 0.25])
    w = np.array([1.0, 0.0, 3.0])
    m = ModelMetricsAutoEncoder(e, weights=w)
    assert m.nobs() == 2
    assert m.mse() == pytest.approx((0.1 + 0.75) / 4)
    assert m.rmse() == pytest.approx(math.sqrt((0.1 + 0.75) / 4))


# ------------------------------------------------------------------------------- weights, round trips


def _same_metrics(a, b):
    da, db = a.to_dict(), b.to_dict()
    assert da.keys() == db.keys()
    for key in da:
        if key == "nobs":
            continue
        va, vb = da[key], db[key]
        if isinstance(va, (float, list)):
            np.testing.assert_allclose(np.asarray(va, dtype=float), np.asarray(vb, dtype=float), rtol=1e-10, atol=1e-12)
        else:
            assert va == vb, key


@pytest.mark.parametrize("n", [300, 30_000])
def test_weight_two_equals_duplicated_rows_binomial(n):
    rng = np.random.default_rng(10)
    y, p1 = random_binomial(rng, n)
    w = rng.integers(1, 3, n).astype(float)
    dup = np.repeat(np.arange(n), w.astype(int))
    _same_metrics(ModelMetricsBinomial(y, prob_pair(p1), weights=w, exact_auc_max_rows=0),
                  ModelMetricsBinomial(y[dup], prob_pair(p1[dup]), exact_auc_max_rows=0))


def test_weight_two_equals_duplicated_rows_other_kinds():
    rng = np.random.default_rng(11)
    n = 200
    w = rng.integers(1, 3, n).astype(float)
    dup = np.repeat(np.arange(n), w.astype(int))
    probs, yc = random_probs(rng, n, 4), rng.integers(0, 4, n)
    _same_metrics(ModelMetricsMultinomial(yc, probs, weights=w), ModelMetricsMultinomial(yc[dup], probs[dup]))
    y, f = rng.gamma(2.0, size=n), rng.gamma(2.0, size=n)
    for dist in ("gaussian", "poisson", "gamma", "tweedie", "huber"):
        _same_metrics(ModelMetricsRegression(y, f, weights=w, distribution=dist),
                      ModelMetricsRegression(y[dup], f[dup], distribution=dist))
    e = rng.random(n)
    _same_metrics(ModelMetricsAutoEncoder(e, weights=w), ModelMetricsAutoEncoder(e[dup]))


def test_to_dict_round_trip_through_msgpack():
    rng = np.random.default_rng(12)
    y, p1 = random_binomial(rng, 3000)
    objs = [
        ModelMetricsBinomial(y, prob_pair(p1), domain=["N", "Y"]),
        ModelMetricsMultinomial(rng.integers(0, 3, 50), random_probs(rng, 50, 3)),
        ModelMetricsRegression(rng.random(50), rng.random(50), distribution="tweedie", tweedie_power=1.3),
        ModelMetricsAutoEncoder(rng.random(50)),
    ]
    for m in objs:
        back = roundtrip(m)
        assert type(back) is type(m)
        assert back.to_dict() == m.to_dict()
        assert str(back) == str(m) and back.nobs() == m.nobs()
    b = roundtrip(objs[0])
    assert b.auc() == objs[0].auc() and b.F1() == objs[0].F1()
    assert b.confusion_matrix().equals(objs[0].confusion_matrix())


# ------------------------------------------------------------------------------------ metric() names


def test_metric_names_and_stopping_defaults():
    rng = np.random.default_rng(13)
    y, p1 = random_binomial(rng, 100)
    b = ModelMetricsBinomial(y, prob_pair(p1))
    assert b.metric("AUC") == b.auc() and b.metric("aucpr") == b.aucpr()
    assert b.metric("misclassification") == b.classification_error()
    assert b.metric("AUTO") == b.logloss() and b.metric("f1") == b.F1()
    r = ModelMetricsRegression([1.0, 2.0, 3.0], [1.0, 2.0, 2.0])
    assert r.metric("deviance") == r.mean_residual_deviance() and r.metric("RMSLE") == r.rmsle()
    assert MORE_IS_BETTER == {"AUC", "AUCPR", "lift_top_group"}
    assert [default_stopping_metric(k) for k in ("binomial", "multinomial", "regression", "autoencoder")] == \
        ["logloss", "logloss", "deviance", "MSE"]
    with pytest.raises(ValueError, match="AUC"):
        r.metric("AUC")
    with pytest.raises(ValueError, match="bogus"):
        b.metric("bogus")
    with pytest.raises(ValueError, match="lift_top_group"):
        b.metric("lift_top_group")
    assert isinstance(make_metrics("autoencoder", [1.0]), ModelMetricsAutoEncoder)
    assert "AUC" in repr(b) and "Maximum Metrics" in str(b)


# ------------------------------------------------------------------------------------ distributions


def test_each_distribution_deviance_by_hand():
    y = [0.0, 1.0, 2.5, 4.0]
    f = [0.5, 1.2, 2.0, 1.0]
    w = [1.0, 2.0, 0.5, 1.0]
    p, a, delta = 1.3, 0.8, 1.5

    def hand(dist, yi, fi):
        if dist == "gaussian":
            return (yi - fi) ** 2
        if dist == "laplace":
            return abs(yi - fi)
        if dist == "quantile":
            return a * (yi - fi) if yi > fi else (1 - a) * (fi - yi)
        if dist == "huber":
            r = abs(yi - fi)
            return r * r if r <= delta else 2 * delta * (r - delta)
        if dist == "poisson":
            return 2 * ((yi * math.log(yi / fi) if yi > 0 else 0.0) - yi + fi)
        if dist == "tweedie":
            return 2 * (yi ** (2 - p) / ((1 - p) * (2 - p)) - yi * fi ** (1 - p) / (1 - p) + fi ** (2 - p) / (2 - p))
        raise AssertionError(dist)

    for dist in ("gaussian", "laplace", "quantile", "huber", "poisson", "tweedie"):
        got = deviance(dist, y, f, w, tweedie_power=p, quantile_alpha=a, huber_delta=delta)
        want = [wi * hand(dist, yi, fi) for yi, fi, wi in zip(y, f, w)]
        np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=dist)
    yg, fg = np.array([0.5, 2.0, 3.0]), np.array([1.0, 2.0, 1.5])
    np.testing.assert_allclose(deviance("gamma", yg, fg), 2 * (np.log(fg / yg) + yg / fg - 1))
    assert deviance("gamma", [2.0], [2.0])[0] == 0.0 and deviance("poisson", [3.0], [3.0])[0] == 0.0
    # H2O-3's literal formulas differ from the unit deviance by a term in y only
    np.testing.assert_allclose(deviance("poisson", y, f, saturated=False),
                               [-2 * (yi * math.log(fi) - fi) for yi, fi in zip(y, f)])
    np.testing.assert_allclose(deviance("gamma", yg, fg, saturated=False), 2 * (yg / fg + np.log(fg)))
    yb, pb = np.array([0.0, 1.0, 1.0]), np.array([0.3, 0.8, 0.0])
    np.testing.assert_allclose(deviance("bernoulli", yb, pb), [-2 * math.log(0.7), -2 * math.log(0.8), 38.0])


def test_gaussian_deviance_mean_is_mse_and_links_invert():
    rng = np.random.default_rng(14)
    y, f = rng.normal(size=100), rng.normal(size=100)
    assert np.mean(deviance("gaussian", y, f)) == pytest.approx(np.mean((y - f) ** 2))
    mu = rng.uniform(0.05, 0.95, 20)
    for dist in DISTRIBUTIONS:
        np.testing.assert_allclose(link_inv(dist, link(dist, mu)), mu, rtol=1e-12)
    assert (link_name("bernoulli"), link_name("tweedie"), link_name("huber")) == ("logit", "log", "identity")
    assert resolve_distribution("AUTO", 1) == "gaussian" and resolve_distribution("AUTO", 5) == "multinomial"


# --------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: ModelMetricsBinomial([0, 1], [[0.5, 0.5]]), "shape"),
        (lambda: ModelMetricsBinomial([0, 1], [[0.5, 0.6], [0.5, 0.5]]), "sum to"),
        (lambda: ModelMetricsBinomial([0, 1], [[np.nan, 1.0], [0.5, 0.5]]), "NaN"),
        (lambda: ModelMetricsBinomial([0, 2], [[0.5, 0.5], [0.5, 0.5]]), "class code 2"),
        (lambda: ModelMetricsBinomial([0, 1], [[0.5, 0.5], [0.5, 0.5]], weights=[1.0, -1.0]), "non-negative"),
        (lambda: ModelMetricsBinomial([0, 1], [[0.5, 0.5], [0.5, 0.5]], domain=["a"]), "domain"),
        (lambda: ModelMetricsBinomial([0.5, 1], [[0.5, 0.5], [0.5, 0.5]]), "integer"),
        (lambda: ModelMetricsMultinomial([0, 1], [[0.5, 0.5], [0.5, 0.5]], weights=[0.0, 0.0]), "no rows"),
        (lambda: ModelMetricsRegression([1.0, 2.0], [1.0]), "rows"),
        (lambda: ModelMetricsRegression([1.0], [np.nan]), "NaN"),
        (lambda: ModelMetricsRegression([1.0], [1.0], distribution="poison"), "poison"),
        (lambda: ModelMetricsRegression([-1.0], [1.0], distribution="poisson"), "y >= 0"),
        (lambda: ModelMetricsRegression([1.0], [1.0], distribution="bernoulli"), "classification"),
        (lambda: ModelMetricsAutoEncoder([-0.1]), "non-negative"),
        (lambda: deviance("tweedie", [1.0], [1.0], tweedie_power=2.5), "tweedie_power"),
        (lambda: deviance("multinomial", [1.0], [1.0]), "multinomial"),
        (lambda: make_metrics("clustering"), "clustering"),
        (lambda: metrics_from_dict({"kind": "regression", "version": 1}), "missing keys"),
        (lambda: ModelMetricsBinomial.from_dict(ModelMetricsAutoEncoder([1.0]).to_dict()), "kind"),
    ],
)
def test_bad_input_raises_clear_errors(build, match):
    with pytest.raises(ValueError, match=match):
        build()
