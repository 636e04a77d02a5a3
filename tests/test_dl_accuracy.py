"""Accuracy parity with H2O-3 (issue 13): fast pins of what ``tools/bench/accuracy.py`` measures in full.

H2O-3 is never run here: its figures are recorded below (H2O-3 3.46.0.12 on this machine, the commands in
docs/benchmarks.md). Data: ``tests/data`` (H2O's smalldata splits, see SOURCES.md).
"""
from pathlib import Path

import numpy as np
import pandas as pd
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
    n = manual._m["samples"]
    s = manual.summary()
    assert s["mean_rate"].iloc[1:].tolist() == pytest.approx([0.01 / (1 + 1e-3 * n), 0.005 / (1 + 1e-3 * n)])
    assert s["rate_rms"].iloc[1:].tolist() == [0.0, 0.0]
    assert s["momentum"].iloc[1] == pytest.approx(0.2 + 0.6 * n / 1e9)
