"""Deep Learning model life cycle past training: variable importances, deep features, exported weights,
autoencoder reconstructions and anomalies (dense and sparse), on an embedded node and on a 3-node cloud
from a client.

Every check is against something computed independently here: the signal column we planted, a numpy
forward pass through the exported weights and the model's own input transform, the reconstruction error
recomputed from ``predict``.
"""

import numpy as np
import pandas as pd
import pytest

import cluster
import frame
from algos import DeepLearningEstimator
from cloudkit import SMALL, Launcher
from frame import Frame

BOSTON_X = ["crim", "zn", "indus", "chas", "nox", "rm", "age", "dis", "rad", "tax", "ptratio", "b", "lstat"]
SIGNAL_X = ["noise1", "signal", "noise2", "color"]


def signal_frame(cloud=None, n: int = 1000, seed: int = 0, nchunks: int | None = None) -> Frame:
    """noise1, signal, noise2 (normal), color (a categorical of 3 levels, pure noise) and y = 3 signal + noise."""
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.normal(size=n), rng.normal(size=n), rng.normal(size=n), rng.integers(0, 3, n)])
    y = 3.0 * x[:, 1] + 0.1 * rng.normal(size=n)
    fr = Frame.from_numpy(np.column_stack([x, y]), names=SIGNAL_X + ["y"], nchunks=nchunks, cloud=cloud)
    fr["color"] = fr["color"].asfactor()
    return fr


@pytest.fixture(scope="module")
def signal(cloud):
    return signal_frame()


@pytest.fixture(scope="module")
def boston(cloud):
    return frame.import_file(str(SMALL / "BostonHousing.csv"))


def encode(model, fr: Frame) -> np.ndarray:
    """The model's input layer for the rows of ``fr``, built here with numpy: one-hot categoricals (one slot per
    level plus the NA bucket, in coef_names order) then the numerics as (x - normsub) * normmul."""
    info = model.info
    df = fr.as_pandas()
    cols = []
    for c in info.cat_names:
        codes = df[c].cat.codes.to_numpy()
        levels = info.domains[c][0 if info.use_all_factor_levels else 1:]
        for lv in levels:
            cols.append((df[c].astype(str).to_numpy() == lv).astype(np.float64))
        cols.append((codes < 0).astype(np.float64))                                 # missing(NA)
    nums = df[info.num_names].to_numpy(dtype=np.float64)
    nums = (nums - np.asarray(model.normsub())) * np.asarray(model.normmul())
    X = np.column_stack(cols + [nums]) if cols else nums
    assert X.shape[1] == len(info.coef_names)
    return X


def numpy_forward(model, X: np.ndarray, activation=np.tanh) -> list[np.ndarray]:
    """Activations of every layer from the exported weight and bias frames (export_weights_and_biases)."""
    acts = [X]
    n_layers = len(model.spec.units) - 1
    for l in range(n_layers):
        W = model.weights(l).as_numpy().astype(np.float64)
        b = model.biases(l).as_numpy().astype(np.float64)[:, 0]
        z = acts[-1] @ W.T + b
        acts.append(activation(z) if l < n_layers - 1 else z)
    return acts


# ------------------------------------------------------------------------------------------- varimp
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_varimp_ranks_the_only_informative_column_first(cloud, signal, seed):
    dl = DeepLearningEstimator(hidden=[10], activation="Tanh", epochs=10, l1=1e-3, seed=seed, reproducible=True,
                               variable_importances=True, export_weights_and_biases=True).train(
        x=SIGNAL_X, y="y", training_frame=signal)
    rows = dl.varimp()
    names = [r[0] for r in rows]
    assert names[0] == "signal"
    assert rows[1][2] < 0.95                                    # a clear first, not a tie
    # one row per input neuron, H2O's names: a categorical reported per level as "col.level" (+ its NA bucket)
    assert sorted(names) == sorted(dl.model.info.coef_names)
    assert {"color.0", "color.1", "color.2", "color.missing(NA)"} <= set(names) and "color" not in names
    rel = np.array([r[1] for r in rows])
    assert np.all(np.diff(rel) <= 0)                            # most important first
    # H2O's Deep Learning reports relative importances already scaled to a top of 1.0: relative == scaled
    assert rows[0][1] == 1.0 and [r[1] for r in rows] == [r[2] for r in rows]
    np.testing.assert_allclose([r[3] for r in rows], rel / rel.sum())
    assert sum(r[3] for r in rows) == pytest.approx(1.0)
    # Gedeon '97 from the exported weights (H2O's computeVariableImportances), divided by its maximum; the NA
    # bucket of color (no NA in training) is zeroed after that division
    w1 = np.abs(dl.weights(0).as_numpy().astype(np.float64))   # (hidden, inputs)
    w2 = np.abs(dl.weights(1).as_numpy().astype(np.float64))   # (outputs, hidden)
    q = (w1 / w1.sum(axis=1, keepdims=True)).T @ (w2 / w2.sum(axis=1, keepdims=True)).T
    gedeon = (q / q.sum(axis=0)).sum(axis=1)
    gedeon /= gedeon.max()
    gedeon[dl.model.info.coef_names.index("color.missing(NA)")] = 0.0
    by_name = {r[0]: r[1] for r in rows}
    np.testing.assert_allclose([by_name[c] for c in dl.model.info.coef_names], gedeon, rtol=1e-9)
    assert by_name["color.missing(NA)"] == 0.0
    vi = dl.varimp(use_pandas=True)
    assert isinstance(vi, pd.DataFrame)
    assert list(vi.columns) == ["variable", "relative_importance", "scaled_importance", "percentage"]
    assert list(vi.itertuples(index=False, name=None)) == rows


def test_no_varimp_without_variable_importances(cloud, signal):
    dl = DeepLearningEstimator(hidden=[4], epochs=1, seed=1, variable_importances=False).train(
        x=SIGNAL_X, y="y", training_frame=signal)
    with pytest.raises(ValueError, match="variable_importances=True"):
        dl.varimp()


# ------------------------------------------------------------------------------------------- deepfeatures
def test_deepfeatures_and_predictions_equal_a_numpy_forward_pass(cloud, boston):
    dl = DeepLearningEstimator(hidden=[8, 5], activation="Tanh", epochs=5, seed=4, reproducible=True,
                               export_weights_and_biases=True).train(x=BOSTON_X, y="medv", training_frame=boston)
    m = dl.model
    assert m.weights(0).shape == (8, 13) and m.weights(0).names == m.info.coef_names
    assert m.weights(1).shape == (5, 8) and m.weights(2).shape == (1, 5)
    assert m.biases(0).shape == (8, 1) and m.biases(2).shape == (1, 1)
    X = encode(m, boston)
    assert np.abs(X.mean(axis=0)).max() < 1e-6 and np.allclose(X.std(axis=0, ddof=1), 1.0)   # standardised
    acts = numpy_forward(m, X)
    for layer, width in ((0, 8), (1, 5)):
        feats = dl.deepfeatures(boston, layer)
        assert feats.shape == (boston.nrows, width)
        assert feats.names == [f"DF.L{layer + 1}.C{j + 1}" for j in range(width)]
        np.testing.assert_allclose(feats.as_numpy(), acts[layer + 1], rtol=1e-4, atol=1e-5)
    # the linear output, back in the response's units (identity link: standardised response)
    want = acts[-1][:, 0] / m.respmul() + m.respsub()
    np.testing.assert_allclose(dl.predict(boston).as_numpy()[:, 0], want, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="layer must be in"):
        dl.deepfeatures(boston, 2)


def test_deepfeatures_of_a_categorical_input_follow_the_one_hot_layout(cloud, signal):
    dl = DeepLearningEstimator(hidden=[6], activation="Tanh", epochs=2, seed=5, reproducible=True,
                               export_weights_and_biases=True, use_all_factor_levels=False).train(
        x=SIGNAL_X, y="y", training_frame=signal)
    m = dl.model
    assert m.info.coef_names[:3] == ["color.1", "color.2", "color.missing(NA)"]     # level 0 dropped
    acts = numpy_forward(m, encode(m, signal))
    np.testing.assert_allclose(dl.deepfeatures(signal, 0).as_numpy(), acts[1], rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------------------- autoencoder
def test_autoencoder_reconstruction_and_per_feature_errors(cloud, signal):
    ae = DeepLearningEstimator(hidden=[4], activation="Tanh", autoencoder=True, epochs=5, seed=6,
                               reproducible=True).train(x=SIGNAL_X, training_frame=signal)
    m = ae.model
    coefs = m.info.coef_names
    assert coefs == ["color.0", "color.1", "color.2", "color.missing(NA)", "noise1", "signal", "noise2"]
    rec = ae.predict(signal)
    assert rec.names == [f"reconstr_{c}" for c in coefs] and rec.nrows == signal.nrows
    se = ae.anomaly(signal, per_feature=True)
    assert se.names == [f"reconstr_{c}.SE" for c in coefs] and se.nrows == signal.nrows
    mse = ae.anomaly(signal)
    assert mse.names == ["Reconstruction.MSE"]
    # NORMALIZE: the autoencoder's inputs are (x - mean) / (max - min)
    df = signal.as_pandas()
    for j, c in enumerate(m.info.num_names):
        assert m.normmul()[j] == pytest.approx(1 / (df[c].max() - df[c].min()))
        assert m.normsub()[j] == pytest.approx(df[c].mean())
    # the squared errors are those of predict's reconstruction, compared in the model's input space
    X = encode(m, signal)
    R = rec.as_numpy()
    k = m.info.num_start
    R_in = np.column_stack([R[:, :k], (R[:, k:] - np.asarray(m.normsub())) * np.asarray(m.normmul())])
    np.testing.assert_allclose(se.as_numpy(), (R_in - X) ** 2, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(mse.as_numpy()[:, 0], se.as_numpy().mean(axis=1), rtol=1e-6)
    assert m.model_performance(train=True).mse() == pytest.approx(mse.as_numpy().mean(), rel=1e-5)
    # it learnt something: far below the error of predicting the mean of every input
    assert mse.as_numpy().mean() < 0.5 * X.var(axis=0).mean()
    with pytest.raises(ValueError, match="autoencoder"):
        DeepLearningEstimator(hidden=[3], epochs=1, seed=1).train(x=SIGNAL_X, y="y", training_frame=signal) \
            .anomaly(signal)


def test_sparse_autoencoder_pulls_mean_activation_to_its_target(cloud, signal):
    kw = dict(hidden=[6], activation="Tanh", autoencoder=True, epochs=10, seed=7, reproducible=True)
    plain = DeepLearningEstimator(**kw).train(x=SIGNAL_X, training_frame=signal)
    sparse = DeepLearningEstimator(sparsity_beta=1.0, average_activation=-0.7, **kw).train(
        x=SIGNAL_X, training_frame=signal)
    assert not np.array_equal(plain.model.state.w, sparse.model.state.w)
    a_plain = plain.deepfeatures(signal, 0).as_numpy()
    a_sparse = sparse.deepfeatures(signal, 0).as_numpy()
    assert abs(a_sparse.mean() + 0.7) < 0.1 < abs(a_plain.mean() + 0.7)
    # every neuron's running mean activation (the sparsity penalty's estimate) is near the target
    assert np.all(np.abs(sparse.model.state.avg_act[:6] + 0.7) < 0.1)
    assert np.all(plain.model.state.avg_act == 0)
    assert sparse.params["sparsity_beta"] == 1.0 and sparse.params["average_activation"] == -0.7


# ------------------------------------------------------------------------------------------- a real cloud
def test_three_node_cloud_trains_and_explains_from_a_client(tmp_path, security):
    kit = Launcher(tmp_path, security_dir=security)
    try:
        nodes = kit.cloud(3, extra=["--nthreads", "1"])          # 3 nodes share this 2-core machine
        client = kit.connect(nodes[1], timeout=10, progress=False)
        try:
            _three_node_checks(client)
        finally:
            client.shutdown()
    finally:
        kit.cleanup()


def _three_node_checks(client):
    fr = signal_frame(client, n=600, seed=3, nchunks=6)
    assert len(set(fr.homes)) == 3                               # every node holds rows
    dl = DeepLearningEstimator(hidden=[6], activation="Tanh", epochs=10, seed=8, l1=1e-3, variable_importances=True,
                               export_weights_and_biases=True).train(x=SIGNAL_X, y="y", training_frame=fr)
    m = dl.model
    assert m.params["replicate_training_data"] is True           # 3 nodes: the H2O default holds
    assert m.model_performance(train=True).r2() > 0.7
    rows = dl.varimp()
    assert rows[0][0] == "signal" and sum(r[3] for r in rows) == pytest.approx(1.0)
    assert sorted(r[0] for r in rows) == sorted(m.info.coef_names)
    w0 = dl.weights(0)
    assert w0.shape == (6, len(m.info.coef_names)) and w0.names == m.info.coef_names
    acts = numpy_forward(m, encode(m, fr))
    feats = dl.deepfeatures(fr, 0)
    assert feats.shape == (600, 6)
    np.testing.assert_allclose(feats.as_numpy(), acts[1], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dl.predict(fr).as_numpy()[:, 0], acts[-1][:, 0] / m.respmul() + m.respsub(),
                               rtol=1e-4, atol=1e-4)

    ae = DeepLearningEstimator(hidden=[3], activation="Tanh", autoencoder=True, epochs=5, seed=9).train(
        x=SIGNAL_X, training_frame=fr)
    err = ae.anomaly(fr).as_numpy()[:, 0]
    per = ae.anomaly(fr, per_feature=True)
    assert err.shape == (600,) and per.shape == (600, 7) and np.all(err >= 0)
    np.testing.assert_allclose(err, per.as_numpy().mean(axis=1), rtol=1e-6)
    # the row whose inputs are farthest from the others is the worst reconstructed
    odd = fr.as_pandas()
    odd.loc[0, ["noise1", "signal", "noise2"]] = [9.0, -9.0, 9.0]
    odd_fr = Frame.from_pandas(odd, nchunks=6, cloud=client)
    assert int(np.argmax(ae.anomaly(odd_fr).as_numpy()[:, 0])) == 0
    assert ae.deepfeatures(fr, 0).shape == (600, 3)


def test_scoring_methods_name_what_they_expect(cloud, signal):
    """A frame or its key (as h2o-py); anything else is a TypeError naming the argument, not an AttributeError."""
    dl = DeepLearningEstimator(hidden=[3], epochs=1, seed=1, reproducible=True).train(x=SIGNAL_X, y="y",
                                                                                      training_frame=signal)
    assert dl.predict(signal.key).nrows == signal.nrows
    assert dl.model_performance(signal.key).rmse() == pytest.approx(dl.model_performance(signal).rmse())
    for call in (lambda: dl.predict(None), lambda: dl.predict(3.5), lambda: dl.model_performance(True)):
        with pytest.raises(TypeError, match="test_data must be a Frame"):
            call()
    with pytest.raises(TypeError, match="train=True"):
        dl.model_performance(True)
    with pytest.raises(TypeError, match="layer must be an int"):
        dl.deepfeatures(signal, "0")
