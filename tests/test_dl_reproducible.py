"""Reproducible Deep Learning runs give the recorded weights, and a format-1 model file its recorded predictions.

``tests/data/dl_reproducible.npz`` holds the final weights and biases of small ``reproducible=True`` runs (per-sample
and mini-batch SGD, classification, regression, an autoencoder, ADADELTA and manual momentum) and the predictions of a
model file saved by the code of commit c253da8 (``tests/data/dl_model_format1.aqm``). The runs were recorded by the
code of c253da8, then again after issue 13's intended changes of results (rows shuffled in reproducible mode, one
dropout mask for every hidden layer, Huber trained with delta 1), and again (on a 2-core AMD EPYC without
AVX-512) when mini-batches took ADADELTA's mini-batch setting (rho 0.95, epsilon 1e-6 at H2O's defaults); the model
file is c253da8's, its predictions as scored in float64 since issue 17.
Moving code between modules must not change a bit of them: the kernels run the same arithmetic in the same order.

The Numba kernels are compiled for the machine (``fastmath`` lets LLVM vectorise reductions for the CPU at hand), so
the recorded bits are those of the recording CPU (``cpu`` in the file). On another CPU the weights are compared with
a tolerance instead. Re-record the runs (only when a change of results is intended and explained) with
``python3 tests/test_dl_reproducible.py --record`` from the repository root: the format-1 model file and its
recorded predictions are kept (a new file would be of the current format).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

DATA = Path(__file__).resolve().parent / "data"
RECORD = DATA / "dl_reproducible.npz"
MODEL_FILE = DATA / "dl_model_format1.aqm"

COMMON = dict(seed=1234, reproducible=True, epochs=3)
CASES = {
    # per-sample SGD (ADADELTA), binomial, dropout on inputs and hidden layers, l1
    "binomial_sgd": dict(y="cls2", hidden=[8, 8], activation="RectifierWithDropout", input_dropout_ratio=0.1,
                         l1=1e-4),
    # per-sample SGD, manual rate with Nesterov momentum ramp, multinomial, Tanh
    "multinomial_momentum": dict(y="cls3", hidden=[8], activation="Tanh", adaptive_rate=False, rate=0.01,
                                 momentum_start=0.5, momentum_stable=0.9, momentum_ramp=500.0),
    # mini-batch, multinomial, Maxout
    "multinomial_minibatch": dict(y="cls3", hidden=[6], activation="Maxout", mini_batch_size=16),
    # per-sample regression (gaussian, standardised response), ExpRectifier
    "regression_sgd": dict(y="target", hidden=[8], activation="ExpRectifier", l2=1e-4),
    # mini-batch regression, Huber loss (delta 1, as H2O trains it)
    "regression_huber_minibatch": dict(y="target", hidden=[8, 4], distribution="huber", mini_batch_size=8),
    # autoencoder (per-sample), sparsity
    "autoencoder": dict(y=None, autoencoder=True, hidden=[3], activation="Tanh", sparsity_beta=0.1,
                        average_activation=-0.2),
}


def make_data(n: int = 600) -> pd.DataFrame:
    """Six numeric features with NAs, one categorical feature, two classification responses and a target."""
    rng = np.random.default_rng(20240611)
    X = rng.normal(size=(n, 6))
    X[rng.random((n, 6)) < 0.02] = np.nan
    cat = rng.choice(["a", "b", "c", "d"], size=n)
    lin = np.nan_to_num(X[:, 0]) - 0.5 * np.nan_to_num(X[:, 1]) + (cat == "b") * 0.8
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)])
    df["cat"] = pd.Categorical(cat)
    df["cls2"] = pd.Categorical(np.where(lin + 0.3 * rng.normal(size=n) > 0, "yes", "no"))
    df["cls3"] = pd.Categorical(np.digitize(lin, [-0.7, 0.7]).astype(str))
    df["target"] = 3.0 * lin + rng.normal(size=n)
    return df


PREDICTORS = [f"x{i}" for i in range(6)] + ["cat"]


def train_case(name: str, fr):
    from algos import DeepLearningEstimator
    kw = dict(CASES[name])
    y = kw.pop("y")
    est = DeepLearningEstimator(model_id=f"repro_{name}", **COMMON, **kw)
    est.train(x=PREDICTORS, y=y, training_frame=fr)
    return est.model


def host_cpu() -> str:
    from llvmlite import binding
    return f"{binding.get_host_cpu_name()} {binding.get_host_cpu_features().flatten()}"


@pytest.fixture(scope="module")
def data_frame(cloud):
    from frame import Frame
    return Frame.from_pandas(make_data(), destination_frame="repro_data", nchunks=3)


@pytest.fixture(scope="module")
def recorded():
    with np.load(RECORD) as f:
        return {k: f[k] for k in f.files}


@pytest.mark.parametrize("name", sorted(CASES))
def test_reproducible_run_gives_the_recorded_weights(data_frame, recorded, name):
    state = train_case(name, data_frame).state
    same_cpu = str(recorded["cpu"]) == host_cpu()
    for arr in ("w", "b"):
        got, want = getattr(state, arr), recorded[f"{name}.{arr}"]
        assert got.dtype == want.dtype and got.shape == want.shape
        if same_cpu:
            assert np.array_equal(got, want), f"{name}.{arr}: {np.abs(got - want).max()} off the recorded run"
        else:                  # another CPU vectorises the float32 sums differently: the same run up to rounding
            np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


def test_a_model_file_of_format_1_still_loads_and_predicts_the_same(data_frame, recorded):
    import algos
    from algos.deeplearning import MODEL_FORMAT
    model = algos.load_model(MODEL_FILE)
    assert model.model_id == str(recorded["file.model_id"])
    preds = model.predict(data_frame).as_numpy()
    if str(recorded["file.cpu"]) == host_cpu():
        np.testing.assert_array_equal(preds, recorded["file.predictions"])
    else:          # float64 scoring through BLAS: another CPU's kernels may round the last bit differently
        np.testing.assert_allclose(preds, recorded["file.predictions"], rtol=1e-12, atol=1e-15)
    # format 1 had no thread_mode / block_momentum: read as what the environment's defaults trained with
    assert (model.params["thread_mode"], model.params["block_momentum"]) == ("sequential", True)
    assert model.meta.format == MODEL_FORMAT and model.meta.partial == ""      # read as the current format
    assert model.model_performance(train=True).auc() == pytest.approx(float(recorded["file.train_auc"]), abs=1e-12)
    algos.remove_model(model.model_id)


def _record() -> None:
    """Train every case on a fresh one-node cloud and write the npz and the model file (see the module doc)."""
    import algos
    import cluster
    from frame import Frame
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from cloudkit import free_port_pair
    DATA.mkdir(exist_ok=True)
    cloud = cluster.init(port=free_port_pair(), progress=False)
    try:
        fr = Frame.from_pandas(make_data(), destination_frame="repro_data", nchunks=3)
        out = {"cpu": np.array(host_cpu())}
        for name in sorted(CASES):
            st = train_case(name, fr).state
            out[f"{name}.w"], out[f"{name}.b"] = st.w, st.b
        if MODEL_FILE.exists():            # the format-1 file and what it predicted stay as recorded
            with np.load(RECORD) as old:
                out.update({k: old[k] for k in old.files if k.startswith("file.")})
                out.setdefault("file.cpu", old["cpu"])      # the CPU that scored them (files before it had one cpu)
        else:
            model = algos.get_model("repro_binomial_sgd")
            algos.save_model(model, MODEL_FILE.parent, filename=MODEL_FILE.name)
            out["file.model_id"] = np.array(model.model_id)
            out["file.predictions"] = model.predict(fr).as_numpy()
            out["file.cpu"] = np.array(host_cpu())
            out["file.train_auc"] = np.array(model.model_performance(train=True).auc())
        np.savez_compressed(RECORD, **out)
    finally:
        cloud.shutdown()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python3 tests/test_dl_reproducible.py --record")
    _record()
