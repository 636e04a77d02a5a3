"""Accuracy parity with H2O-3 (issue 13): fast pins of what ``tools/bench/accuracy.py`` measures in full.

H2O-3 is never run here: its figures are recorded below (H2O-3 3.46.0.12 on this machine, the commands in
docs/benchmarks.md). Data: ``tests/data`` (H2O's smalldata splits, see SOURCES.md).
"""
from pathlib import Path

import numpy as np
import pytest

import frame
from algos.deeplearning import DeepLearningEstimator

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def auto_mpg(cloud):
    return frame.import_file(str(DATA / "accuracy" / "auto_mpg_train.csv"))


@pytest.fixture(scope="module")
def prostate(cloud):
    fr = frame.import_file(str(DATA / "accuracy" / "prostate_train.csv"))
    fr["CAPSULE"] = fr["CAPSULE"].asfactor()
    return fr


# ------------------------------------------------------------------------------------------- model summary
H2O_SUMMARY_COLUMNS = ["layer", "units", "type", "dropout", "l1", "l2", "mean_rate", "rate_rms", "momentum",
                       "mean_weight", "weight_rms", "mean_bias", "bias_rms"]


def test_summary_has_h2o_columns_and_meanings(prostate):
    x = [c for c in prostate.names if c not in ("ID", "CAPSULE")]
    m = DeepLearningEstimator(hidden=[6], epochs=2, seed=1, reproducible=True).train(
        x=x, y="CAPSULE", training_frame=prostate).model
    s = m.summary()
    assert list(s.columns) == H2O_SUMMARY_COLUMNS
    st, eps = m.state, m.params["epsilon"]
    for l in range(2):
        row = s.iloc[l + 1]
        w, b = st.layer_weights(l).astype(np.float64), st.layer_biases(l)
        # H2O's "RMS" columns are standard deviations about the mean (one layer of biases all 0.5 gives 0)
        assert row["weight_rms"] == pytest.approx(w.std()) and row["bias_rms"] == pytest.approx(b.std())
        lo, hi = st.w_off[l], st.w_off[l + 1]
        rate = np.sqrt((st.w_dx2[lo:hi] + eps) / (st.w_g2[lo:hi] + eps))
        assert row["mean_rate"] == pytest.approx(rate.mean(), rel=1e-5) and row["mean_rate"] > 0
        assert row["rate_rms"] == pytest.approx(rate.std(), rel=1e-4) and row["momentum"] == 0.0

    manual = DeepLearningEstimator(hidden=[6], epochs=1, seed=1, reproducible=True, adaptive_rate=False, rate=0.01,
                                   rate_annealing=1e-3, rate_decay=0.5, momentum_start=0.2, momentum_stable=0.8,
                                   momentum_ramp=1e9).train(x=x, y="CAPSULE", training_frame=prostate).model
    n = manual.meta.samples
    s = manual.summary()
    assert s["mean_rate"].iloc[1:].tolist() == pytest.approx([0.01 / (1 + 1e-3 * n), 0.005 / (1 + 1e-3 * n)])
    assert s["rate_rms"].iloc[1:].tolist() == [0.0, 0.0]
    assert s["momentum"].iloc[1] == pytest.approx(0.2 + 0.6 * n / 1e9)


# ------------------------------------------------------------------------------ H2O-3's curve, step for step
# H2O-3 3.46.0.12 given our initial weights for seed 1 (initial_weights/initial_biases), reproducible=True,
# stopping_rounds=0, overwrite_with_best_model=False: its training metric after epochs 1..10
# (python -m tools.bench.h2o_replay --h2o-python ...).
H2O_REPLAY = {
    "auto_mpg": [3.36343, 3.01776, 2.82157, 2.76323, 2.70717, 2.67923, 2.75875, 2.89935, 2.88350, 2.57840],
    "prostate": [0.63176, 0.55686, 0.55427, 0.53154, 0.52572, 0.52352, 0.54825, 0.51168, 0.49842, 0.56162],
}


@pytest.mark.parametrize("case", sorted(H2O_REPLAY))
def test_replay_follows_h2o_curve(case):
    """Our kernel and DataInfo, trained in H2O's row order from the same weights, give H2O's per-epoch training
    curve within 0.025 (measured 0.019 RMSE and 0.010 logloss): what is left is our bias ADADELTA (deliberate)
    and H2O's approximate square root. (Visiting the rows in file order every epoch, as we did, gave an RMSE of
    4.05 after epoch 1 and 3.11 after epoch 10.)"""
    from tools.bench.h2o_replay import run
    got = run(case, 10, 1, None)["ours"]
    assert got == pytest.approx(H2O_REPLAY[case], abs=0.025)


# ------------------------------------------------------------------------- the training curve, end to end
# H2O-3, auto_mpg [32,32], reproducible=True, stopping_rounds=0, seeds 1-20: training RMSE after epochs
# 1, 2, 3, 5, 10, mean and standard deviation over the seeds (ours over seeds 1-20: 3.43, 3.11, 2.97, 2.82,
# 2.69). Before rows were shuffled each epoch ours was 4.05, 3.62, 3.40, 3.25, 3.11 (seed 1).
CURVE_EPOCHS = (1, 2, 3, 5, 10)
H2O_CURVE_MEAN = (3.439, 3.154, 2.992, 2.858, 2.639)
H2O_CURVE_SD = (0.360, 0.199, 0.165, 0.137, 0.073)


def test_training_curve_follows_h2o(auto_mpg):
    """Through the whole Trainer (DataInfo, row order, iterations, scoring): the mean of seeds 1-3 stays within
    two of H2O's standard deviations of its mean at every epoch checked."""
    curves = []
    for seed in (1, 2, 3):
        m = DeepLearningEstimator(hidden=[32, 32], epochs=10, reproducible=True, seed=seed, stopping_rounds=0).train(
            y="mpg", training_frame=auto_mpg).model
        h = m.scoring_history()
        by_epoch = dict(zip(h["epochs"].round(6), h["training_rmse"]))
        curves.append([by_epoch[float(e)] for e in CURVE_EPOCHS])
    ours = np.mean(curves, axis=0)
    for e, got, mean, sd in zip(CURVE_EPOCHS, ours, H2O_CURVE_MEAN, H2O_CURVE_SD):
        assert abs(got - mean) <= 2 * sd, f"epoch {e}: ours {got:.3f}, H2O {mean:.3f} ± {sd:.3f}"


# ------------------------------------------------------------------------------------- per-case floors
# The cases of tools/bench/accuracy.py (same data, parameters and test splits), seeds 1-3, each bounded well
# inside the goal but beyond what the cases measured before the fixes. H2O-3 mean ± sd over seeds 1-5
# in the comments (docs/benchmarks.md has both sides over 5 and 20 seeds).
def _case_metric(name: str, tmp: Path, seeds=(1, 2, 3)) -> list[float]:
    """The case's judged test metric for each seed, trained as tools.bench.accuracy trains it."""
    from tools.bench.accuracy import CASES, files, params_of
    case = CASES[name]
    tr_csv, te_csv = files(case, tmp)
    header = -1 if case.data == "ecg" else 1
    tr, te = frame.import_file(tr_csv, header=header), frame.import_file(te_csv, header=header)
    if case.factor:
        tr[case.y] = tr[case.y].asfactor()
        te[case.y] = te[case.y].asfactor()
    x = [c for c in tr.names if c != case.y and c not in case.ignore]
    out = []
    for seed in seeds:
        m = DeepLearningEstimator(**params_of(case, seed)).train(x=x, y=case.y, training_frame=tr).model
        if case.metric == "reconstruction_mse":
            out.append(float(np.mean(m.anomaly(te).as_numpy()[:, 0])))
        else:
            out.append(float(getattr(m.model_performance(te), case.metric)()))
    tr.remove()
    te.remove()
    return out


@pytest.mark.parametrize("name,bound,more_is_better", [
    ("auto_mpg", 0.850, True),          # r2; H2O 0.873 ± 0.005; ours seeds 1-3 0.876 0.855 0.858; before 0.836
    ("prostate", 0.560, False),         # logloss; H2O 0.479 ± 0.065; ours 0.546 0.499 0.529; before 0.602
    ("prostate_32", 0.470, False),      # logloss; H2O 0.437 ± 0.014; ours 0.442 0.424 0.474; before 0.490
    ("boston", 0.860, True),            # r2; H2O 0.885 ± 0.015; ours 0.872 0.866 0.896
    ("boston_poisson", 0.820, True),    # r2; H2O 0.832 ± 0.061; ours 0.876 0.856 0.848
    ("abalone", 0.580, True),           # r2; H2O 0.586 ± 0.012; ours 0.607 0.591 0.598
    ("iris", 0.200, False),             # logloss; H2O 0.136 ± 0.046; ours 0.170 0.225 0.118
    ("ecg", 0.960, False),              # reconstruction MSE; H2O 0.949 ± 0.016; ours 0.964 0.939 0.944
])
def test_case_floor(cloud, tmp_path, name, bound, more_is_better):
    got = float(np.mean(_case_metric(name, tmp_path)))
    assert got >= bound if more_is_better else got <= bound, f"{name}: mean of seeds 1-3 {got:.4f}, bound {bound}"
