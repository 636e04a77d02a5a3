"""Deep Learning kernels against the float64 numpy reference (algos.deeplearning.reference).

Chain of evidence: the reference's explicit backprop equals finite differences of its own loss;
one kernel row equals one reference ``gradients`` + ``step``; a kernel mini-batch equals the
reference's averaged-gradient step; plus dropout, reproducibility, validation and learning checks.
"""
from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from algos.deeplearning.hyper import (F_GRADIENT, G_GAMMA, G_POISSON, G_TWEEDIE, H_HIDDEN_DROPOUT, H_INPUT_DROPOUT,
                                      kernel_arrays_for)
from algos.deeplearning.kernels import (BatchQueue, RowSource, dropout_mask, forward, train_batches,
                                        train_minibatch, train_minibatches, train_rows)
from algos.deeplearning.kernels.dropout import HIDDEN_MASK, INPUT_MASK
from algos.deeplearning.kernels.losses import softmax_cross_entropy
from algos.deeplearning.network import NetSpec, NetState, init_state
from algos.deeplearning.parameters import ACTIVATIONS
from algos.deeplearning.reference import RefNet

UNITS = (5, 7, 4)
SEED = 1234


def _spec(act: str, output: str, n_out: int = 3) -> NetSpec:
    out_units = {"softmax": n_out, "linear": 1, "autoencoder": UNITS[0]}[output]
    return NetSpec(UNITS + (out_units,), act, output)


def _data(spec: NetSpec, flags: np.ndarray, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, spec.units[0])).astype(np.float32)
    if spec.output == "softmax":
        y = rng.integers(0, spec.units[-1], n).astype(np.float64)
    elif flags[F_GRADIENT] in (G_POISSON, G_TWEEDIE):
        y = rng.poisson(1.5, n).astype(np.float64)
    elif flags[F_GRADIENT] == G_GAMMA:
        y = rng.exponential(1.0, n) + 0.1
    else:
        y = rng.normal(size=n) * 2.0
    return X, y


def _masks(spec: NetSpec, hyper: np.ndarray, counter: int, seed: int = SEED):
    masks: list[np.ndarray | None] = [None] * spec.n_layers
    if hyper[H_INPUT_DROPOUT] > 0:
        masks[0] = dropout_mask(seed, counter, INPUT_MASK, spec.units[0], hyper[H_INPUT_DROPOUT])
    for l in range(spec.n_layers - 1):
        ratio = hyper[H_HIDDEN_DROPOUT + l]
        if ratio > 0:      # one mask for every hidden layer, as H2O
            masks[l + 1] = dropout_mask(seed, counter, HIDDEN_MASK, spec.units[l + 1], ratio)
    return masks


def _perturb_optimizer_state(st: NetState, rng: np.random.Generator) -> None:
    """Non-zero ADADELTA accumulators and velocities, so a first step exercises every term."""
    st.w_g2[:] = rng.uniform(0, 1e-2, st.w.size)
    st.w_dx2[:] = rng.uniform(0, 1e-4, st.w.size)
    st.w_v[:] = rng.normal(0, 1e-2, st.w.size)
    st.b_g2[:] = rng.uniform(0, 1e-2, st.b.size)
    st.b_dx2[:] = rng.uniform(0, 1e-4, st.b.size)
    st.b_v[:] = rng.normal(0, 1e-2, st.b.size)


def _assert_state_matches(st: NetState, ref: RefNet, before: NetState, rtol: float = 2e-3) -> None:
    """Compare the *changes* of every array (a much sharper test than the values)."""
    flat = ref.flat()
    for name, want in flat.items():
        got = getattr(st, name).astype(np.float64)
        old = getattr(before, name).astype(np.float64)
        scale = np.abs(want - old).max() + 1e-12
        np.testing.assert_allclose(got - old, want - old, rtol=rtol, atol=max(2e-6, rtol * scale),
                                   err_msg=f"array {name}")


def _one_row_case(spec: NetSpec, hk: dict, samples_seen: int = 0, weight: float = 1.0,
                  offset: float = 0.0, perturb: bool = True, X_override: np.ndarray | None = None):
    hyper, flags = kernel_arrays_for(spec, **hk)
    st = init_state(spec, seed=3)
    rng = np.random.default_rng(11)
    if perturb:
        _perturb_optimizer_state(st, rng)
    X, y = _data(spec, flags, 4)
    if X_override is not None:
        X = X_override
    before = st.copy()
    ref = RefNet.from_state(st)
    w = np.full(4, weight)
    off = np.full(4, offset if spec.output == "linear" else 0.0)
    rows, loss = train_rows(st, X, y, w, off, np.array([2], dtype=np.int64), hyper, flags, SEED, samples_seen)
    masks = _masks(spec, hyper, samples_seen)
    gW, gb, ref_loss = ref.gradients(X[2], y[2], weight, off[2], hyper, flags, masks)
    ref.step(gW, gb, hyper, flags, samples_seen)
    assert rows == 1
    assert loss == pytest.approx(weight * ref_loss, rel=1e-4, abs=1e-6)
    return st, ref, before


# ----------------------------------------------------------------------------- spec / state
def test_spec_and_state_validation():
    with pytest.raises(ValueError, match="activation"):
        NetSpec((3, 2), "Sigmoid")
    with pytest.raises(ValueError, match="linear"):
        NetSpec((3, 4, 2), "Tanh", "linear")
    with pytest.raises(ValueError, match="Maxout"):
        NetSpec((3, 4, 3), "Maxout", "autoencoder")
    with pytest.raises(ValueError, match="units"):
        NetSpec((3,), "Tanh")
    st = init_state(NetSpec((3, 4, 2)), seed=0)
    arrays = st.to_arrays()
    with pytest.raises(ValueError, match="w_g2"):
        NetState.from_arrays(st.spec, {**arrays, "w_g2": arrays["w_g2"].astype(np.float64)})
    with pytest.raises(ValueError, match="units"):
        NetState.from_arrays(NetSpec((3, 5, 2)), arrays)
    back = NetState.from_arrays(st.spec, arrays)
    assert all(np.array_equal(getattr(back, k), v) for k, v in arrays.items() if k != "units")


def test_hyper_validation():
    spec = NetSpec((3, 4, 1), "Tanh", "linear")
    with pytest.raises(ValueError, match="rho"):
        kernel_arrays_for(spec, rho=1.5)
    with pytest.raises(ValueError, match="allows loss Automatic or Quadratic"):
        kernel_arrays_for(spec, loss="Absolute", distribution="gaussian")
    with pytest.raises(ValueError, match="CrossEntropy"):
        kernel_arrays_for(spec, loss="CrossEntropy")
    with pytest.raises(ValueError, match="WithDropout"):
        kernel_arrays_for(spec, hidden_dropout_ratios=(0.5,))
    with pytest.raises(ValueError, match="one ratio per hidden layer"):
        kernel_arrays_for(NetSpec((3, 4, 1), "TanhWithDropout", "linear"), hidden_dropout_ratios=(0.5, 0.5))
    with pytest.raises(ValueError, match="autoencoder"):
        kernel_arrays_for(NetSpec((3, 4, 3), "Tanh", "autoencoder"), distribution="poisson")


def test_init_follows_h2o_recipe():
    spec = NetSpec((20, 30, 10, 4), "Rectifier", "softmax")
    st = init_state(spec, seed=5)
    r0, r2 = np.sqrt(6 / 50), 4 * np.sqrt(6 / 14)
    assert np.abs(st.layer_weights(0)).max() <= r0 and np.abs(st.layer_weights(0)).max() > 0.9 * r0
    assert np.abs(st.layer_weights(2)).max() <= r2 and np.abs(st.layer_weights(2)).max() > 0.7 * r2
    assert np.all(st.layer_biases(0) == 0.5) and np.all(st.layer_biases(1) == 1.0)
    assert np.all(st.layer_biases(2) == 0.0)
    assert np.all(init_state(NetSpec((20, 30, 4), "Tanh"), seed=5).b == 0)
    normal = init_state(spec, "Normal", 0.1, seed=5)
    assert 0.08 < normal.w.std() < 0.12
    assert np.array_equal(init_state(spec, seed=5).w, st.w)
    assert not np.array_equal(init_state(spec, seed=6).w, st.w)
    maxout = NetSpec((6, 5, 3), "Maxout", "softmax")
    assert init_state(maxout, seed=1).layer_weights(0).shape == (10, 6)


def test_average_is_unweighted_mean():
    spec = NetSpec((3, 4, 2))
    a, b = init_state(spec, seed=1), init_state(spec, seed=2)
    b.w_g2[:] = 2.0
    avg = NetState.average([a, b])
    np.testing.assert_allclose(avg.w, (a.w.astype(np.float64) + b.w) / 2, rtol=1e-6)
    assert np.all(avg.w_g2 == 1.0)
    with pytest.raises(ValueError):
        NetState.average([a, init_state(NetSpec((3, 5, 2)), seed=1)])


# ----------------------------------------------------------------------------- forward
FORWARD_CASES = [(a, o) for a in ACTIVATIONS for o in ("softmax", "linear", "autoencoder")
                 if not (o == "autoencoder" and a.startswith("Maxout"))]


@pytest.mark.parametrize("act,output", FORWARD_CASES)
def test_forward_matches_reference(act, output):
    spec = _spec(act, output)
    hyper, flags = kernel_arrays_for(spec, hidden_dropout_ratios=(0.3, 0.2) if spec.hidden_dropout else None)
    st = init_state(spec, seed=7)
    X, _ = _data(spec, flags, 6)
    ref = RefNet.from_state(st)
    out = np.empty((6, spec.units[-1]))
    off = np.linspace(-1, 1, 6) if output == "linear" else None
    forward(st, X, out, hyper, flags, offset=off)
    for i in range(6):
        acts, _, _ = ref.forward(X[i], hyper, flags, None)
        want = acts[-1]
        if output == "softmax":
            want = np.exp(want - want.max()) / np.exp(want - want.max()).sum()
        if output == "linear":
            want = want + off[i]
        np.testing.assert_allclose(out[i], want, rtol=1e-5, atol=1e-5)
        feats = np.empty((1, spec.units[2]))
        forward(st, X[i:i + 1], feats, hyper, flags, layer=1)
        np.testing.assert_allclose(feats[0], acts[2], rtol=1e-5, atol=1e-6)


def test_scoring_scales_hidden_activations_by_keep_ratio():
    base, drop = NetSpec((5, 6, 3), "Rectifier"), NetSpec((5, 6, 3), "RectifierWithDropout")
    st = init_state(base, seed=2)
    st_drop = NetState.from_arrays(drop, st.to_arrays() | {"units": np.array(drop.units)})
    X = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    h0, f0 = kernel_arrays_for(base)
    h1, f1 = kernel_arrays_for(drop, hidden_dropout_ratios=(0.25,), input_dropout_ratio=0.3)
    a0, a1 = np.empty((4, 6)), np.empty((4, 6))
    forward(st, X, a0, h0, f0, layer=0)
    forward(st_drop, X, a1, h1, f1, layer=0)  # input dropout is not rescaled at scoring (H2O)
    np.testing.assert_allclose(a1, 0.75 * a0, rtol=1e-6)


# ----------------------------------------------------------------------------- gradients
GRAD_CASES = [
    ("Tanh", "softmax", {}), ("Rectifier", "softmax", {}), ("Maxout", "softmax", {}),
    ("ExpRectifier", "softmax", {}),
    ("RectifierWithDropout", "softmax", {"input_dropout_ratio": 0.3}),
    ("Tanh", "linear", {"distribution": "gaussian"}), ("Tanh", "linear", {"distribution": "laplace"}),
    ("Tanh", "linear", {"distribution": "quantile", "quantile_alpha": 0.3}),
    ("Tanh", "linear", {"distribution": "huber", "huber_delta": 0.7}),
    ("Tanh", "linear", {"distribution": "poisson"}), ("Tanh", "linear", {"distribution": "gamma"}),
    ("Tanh", "linear", {"distribution": "tweedie", "tweedie_power": 1.3}),
    ("Tanh", "autoencoder", {}), ("ExpRectifier", "autoencoder", {"loss": "Absolute"}),
    ("Tanh", "autoencoder", {"loss": "Huber", "huber_delta": 0.5}),
]


@pytest.mark.parametrize("act,output,kw", GRAD_CASES)
def test_reference_gradients_equal_finite_differences(act, output, kw):
    spec = _spec(act, output)
    hk = dict(**kw)
    hyper, flags = kernel_arrays_for(spec, **hk)
    ref = RefNet.from_state(init_state(spec, seed=9))
    X, y = _data(spec, flags, 3, seed=4)
    rng = np.random.default_rng(0)
    h = 1e-6
    for i in range(3):
        x = X[i].astype(np.float64)
        off = 0.3 if output == "linear" else 0.0
        masks = _masks(spec, hyper, counter=i)
        gW, gb, _ = ref.gradients(x, y[i], 1.0, off, hyper, flags, masks)
        for l in range(spec.n_layers):
            for _ in range(4):
                r, c = rng.integers(ref.W[l].shape[0]), rng.integers(ref.W[l].shape[1])
                old = ref.W[l][r, c]
                ref.W[l][r, c] = old + h
                up = ref.row_loss(x, y[i], off, hyper, flags, masks)
                ref.W[l][r, c] = old - h
                dn = ref.row_loss(x, y[i], off, hyper, flags, masks)
                ref.W[l][r, c] = old
                assert gW[l][r, c] == pytest.approx((up - dn) / (2 * h), rel=1e-4, abs=1e-6), (l, r, c)
            r = rng.integers(ref.b[l].size)
            old = ref.b[l][r]
            ref.b[l][r] = old + h
            up = ref.row_loss(x, y[i], off, hyper, flags, masks)
            ref.b[l][r] = old - h
            dn = ref.row_loss(x, y[i], off, hyper, flags, masks)
            ref.b[l][r] = old
            assert gb[l][r] == pytest.approx((up - dn) / (2 * h), rel=1e-4, abs=1e-6), (l, r)


@pytest.mark.parametrize("act,output,kw", GRAD_CASES + [
    ("Tanh", "softmax", {"loss": "Quadratic"}),
    # H2O-3's gradients where we differ (h2o_quirks): a dropped neuron back-propagates f'(0); ExpRectifier's exp(a);
    # an autoencoder's output without the activation's derivative
    ("TanhWithDropout", "softmax", {"h2o_quirks": ["dropout_gradient"]}),
    ("ExpRectifierWithDropout", "linear", {"h2o_quirks": ["dropout_gradient", "exp_rectifier_derivative"]}),
    ("ExpRectifier", "autoencoder", {"h2o_quirks": ["exp_rectifier_derivative"]}),
    ("Tanh", "autoencoder", {"h2o_quirks": ["autoencoder_output_gradient"]})])
def test_kernel_gradient_step_matches_reference(act, output, kw):
    # Plain SGD without momentum: the kernel's change is -rate * its gradient, for every loss.
    hk = dict(adaptive_rate=False, rate=0.05, rate_annealing=0.0, **kw)
    st, ref, before = _one_row_case(_spec(act, output), hk, weight=1.7, offset=0.4, perturb=False)
    _assert_state_matches(st, ref, before)


OPTIMIZER_CASES = {
    "adadelta_fast": dict(),
    "adadelta_exact": dict(fast_mode=False),
    "adadelta_l1_l2": dict(l1=1e-3, l2=1e-2, fast_mode=False),
    "plain_rate_annealing_decay": dict(adaptive_rate=False, rate=0.02, rate_annealing=1e-2, rate_decay=0.5),
    "momentum_ramp": dict(adaptive_rate=False, rate=0.02, momentum_start=0.5, momentum_stable=0.9,
                          momentum_ramp=100, nesterov_accelerated_gradient=False),
    "nesterov": dict(adaptive_rate=False, rate=0.02, momentum_start=0.5, momentum_stable=0.9,
                     momentum_ramp=100),
    "plain_l1_l2": dict(adaptive_rate=False, rate=0.02, l1=1e-3, l2=1e-2),
    "max_w2": dict(max_w2=0.3),
    # H2O-3's rules where we differ (h2o_quirks), so the benchmark can measure each
    "h2o_bias_adadelta": dict(h2o_quirks=["bias_adadelta"]),
    "h2o_bias_adadelta_exact_l1_l2": dict(l1=1e-3, l2=1e-2, fast_mode=False, h2o_quirks=["bias_adadelta"]),
    "h2o_momentum_ramp": dict(adaptive_rate=False, rate=0.02, momentum_start=0.5, momentum_stable=0.9,
                              momentum_ramp=100, h2o_quirks=["momentum_ramp"]),
}


@pytest.mark.parametrize("case", list(OPTIMIZER_CASES))
@pytest.mark.parametrize("act", ["TanhWithDropout", "MaxoutWithDropout", "Rectifier"])
def test_kernel_optimizer_step_matches_reference(case, act):
    hk = dict(input_dropout_ratio=0.2, **OPTIMIZER_CASES[case])
    st, ref, before = _one_row_case(_spec(act, "softmax"), hk, samples_seen=40)
    _assert_state_matches(st, ref, before)


def test_max_w2_bounds_every_neuron():
    spec = NetSpec((5, 7, 4, 3), "Rectifier")
    hk = dict(max_w2=0.5, adaptive_rate=False, rate=0.5)
    hyper, flags = kernel_arrays_for(spec, **hk)
    st = init_state(spec, "Uniform", 1.0, seed=1)
    X, y = _data(spec, flags, 50)
    train_rows(st, X, y, np.ones(50), np.zeros(50), np.arange(50, dtype=np.int64), hyper, flags, 1, 0)
    for l in range(spec.n_layers):
        touched = np.any(st.layer_weights(l) != init_state(spec, "Uniform", 1.0, seed=1).layer_weights(l), axis=1)
        assert touched.any()
        sq = (st.layer_weights(l).astype(np.float64) ** 2).sum(axis=1)
        assert np.all(sq[touched] <= 0.5 * (1 + 1e-5))


def test_fast_mode_skips_zero_inputs_exact_mode_does_not():
    spec = _spec("Tanh", "softmax")
    X = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    X[:, 1] = 0.0
    for fast in (True, False):
        hk = dict(l1=1e-3, fast_mode=fast)
        st, ref, before = _one_row_case(spec, hk, X_override=X)
        _assert_state_matches(st, ref, before)
        moved = st.layer_weights(0)[:, 1] != before.layer_weights(0)[:, 1]
        assert moved.any() != fast


def test_sparse_autoencoder_step_matches_reference():
    hk = dict(sparsity_beta=0.5, average_activation=-0.1)
    st, ref, before = _one_row_case(_spec("Tanh", "autoencoder"), hk)
    assert np.any(st.avg_act != 0)
    _assert_state_matches(st, ref, before)


# ----------------------------------------------------------------------------- dropout / reproducibility
def test_dropout_masks_fraction_and_determinism():
    m = dropout_mask(7, 1000, 0, 100_000, 0.2)
    assert abs((1 - m.mean()) - 0.2) < 0.01
    assert set(np.unique(m)) == {0.0, 1.0}
    assert np.array_equal(m, dropout_mask(7, 1000, 0, 100_000, 0.2))
    assert not np.array_equal(m, dropout_mask(7, 1001, 0, 100_000, 0.2))
    assert not np.array_equal(m, dropout_mask(7, 1000, 1, 100_000, 0.2))
    assert not np.array_equal(m, dropout_mask(8, 1000, 0, 100_000, 0.2))
    assert dropout_mask(7, 5, 2, 1000, 0.0).min() == 1.0
    with pytest.raises(ValueError):
        dropout_mask(7, 5, 2, 10, 1.0)


def test_training_drops_the_expected_fraction_of_hidden_units():
    # A dropped Rectifier unit gets no update at all: count untouched rows over many single steps.
    spec = NetSpec((4, 400, 2), "RectifierWithDropout")
    hyper, flags = kernel_arrays_for(spec, hidden_dropout_ratios=(0.3,))
    st = init_state(spec, seed=0)
    X = np.ones((1, 4), dtype=np.float32)
    w0 = st.layer_weights(0).copy()
    train_rows(st, X, np.zeros(1), np.ones(1), np.zeros(1), np.zeros(1, dtype=np.int64), hyper, flags, 3, 0)
    untouched = np.all(st.layer_weights(0) == w0, axis=1)
    assert np.array_equal(untouched, dropout_mask(3, 0, 1, 400, 0.3) == 0)


@pytest.mark.parametrize("path", ["rows", "minibatch"])
def test_reproducible_bit_identical(path):
    spec = NetSpec((5, 7, 4, 3), "RectifierWithDropout")
    hyper, flags = kernel_arrays_for(spec, input_dropout_ratio=0.2, l1=1e-5)
    X, y = _data(spec, flags, 300)
    order = np.random.default_rng(1).permutation(300).astype(np.int64)

    def run(seed):
        st = init_state(spec, seed=42)
        args = (st, X, y, np.ones(300), np.zeros(300), order, hyper, flags, seed, 1000)
        train_rows(*args) if path == "rows" else train_minibatch(*args, batch_size=32)
        return st

    a, b, c = run(5), run(5), run(6)
    for k in a.to_arrays():
        assert np.array_equal(a.to_arrays()[k], b.to_arrays()[k]), k
    assert not np.array_equal(a.w, c.w)


# ----------------------------------------------------------------------------- mini-batch
MB_CASES = [
    ("RectifierWithDropout", "softmax", dict(input_dropout_ratio=0.2)),
    ("MaxoutWithDropout", "softmax", dict(fast_mode=False, l2=1e-3)),
    ("Tanh", "linear", dict(distribution="huber", huber_delta=0.8, adaptive_rate=False, rate=0.05,
                            momentum_start=0.3, momentum_stable=0.6, momentum_ramp=50)),
    ("ExpRectifier", "autoencoder", dict(sparsity_beta=0.2, average_activation=0.1, max_w2=2.0)),
    # every h2o_quirk on the mini-batch path too
    ("TanhWithDropout", "linear", dict(h2o_quirks=["bias_adadelta", "dropout_gradient"], l1=1e-3)),
    ("Tanh", "autoencoder", dict(h2o_quirks=["autoencoder_output_gradient"])),
    ("ExpRectifierWithDropout", "softmax", dict(adaptive_rate=False, rate=0.05, momentum_start=0.3,
                                                momentum_stable=0.6, momentum_ramp=50,
                                                h2o_quirks=["momentum_ramp", "exp_rectifier_derivative"])),
]


@pytest.mark.parametrize("act,output,kw", MB_CASES)
def test_minibatch_step_matches_reference_sum_over_batch_size(act, output, kw):
    spec = _spec(act, output)
    hyper, flags = kernel_arrays_for(spec, **kw)
    _check_minibatch_step(spec, hyper, flags, output)


@pytest.mark.parametrize("ratios", [(0.5, 0.5, 0.5), (0.5, 0.2, 0.5)])
def test_minibatch_equal_hidden_layers_drop_the_reference_units(ratios):
    # Equal hidden layers with equal ratios share one mask array in a batch (drawn once); a different ratio
    # draws its own. Either way every row drops the units the per-row reference (and train_rows) drops.
    spec = NetSpec((5, 6, 6, 6, 3), "RectifierWithDropout", "softmax")
    hyper, flags = kernel_arrays_for(spec, hidden_dropout_ratios=ratios, input_dropout_ratio=0.2)
    _check_minibatch_step(spec, hyper, flags, "softmax")


def _pairwise_sum(v: list) -> float:
    """numpy's order for summing <= 128 float64s: 8 running sums, paired, then the rest, after the identity 0."""
    if len(v) < 8:
        res = -0.0
        for x in v:
            res += x
        return 0.0 + res
    r, i = list(v[:8]), 8
    while i < len(v) - len(v) % 8:
        r = [r[j] + v[i + j] for j in range(8)]
        i += 8
    res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    for x in v[i:]:
        res += x
    return 0.0 + res


@pytest.mark.parametrize("n_classes", [2, 3, 7, 8, 9, 10, 17, 128])
def test_minibatch_softmax_kernel_has_the_bits_of_the_numpy_formula(n_classes):
    # The fused kernel replaced numpy lines (z - max, exp, / row sum, - onehot, -log p[t]) and gave their bits on
    # the AVX2 machine it was written on (models unchanged). The reference here pins that arithmetic wherever it
    # runs: the C library's exp and log (math.*, as the kernel; numpy's AVX-512 ones may differ in the last bit)
    # and numpy's pairwise summation order written out (its dispatched loops may order a sum otherwise).
    rng = np.random.default_rng(n_classes)
    outa = rng.normal(0, 5, size=(300, n_classes)).astype(np.float32)
    t = rng.integers(0, n_classes, 300).astype(np.float64)
    e, loss = np.empty(outa.shape), np.empty(300)
    softmax_cross_entropy(outa, t, e, loss)
    z = outa.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    p = np.vectorize(math.exp)(z)
    p /= np.array([_pairwise_sum(list(row)) for row in p])[:, None]
    rows = np.arange(300)
    ptrue = p[rows, t.astype(np.int64)]
    p[rows, t.astype(np.int64)] -= 1.0
    assert np.array_equal(e, p)
    assert np.array_equal(loss, -np.vectorize(math.log)(np.maximum(ptrue, 1e-300)))


def _check_minibatch_step(spec: NetSpec, hyper: np.ndarray, flags: np.ndarray, output: str) -> None:
    st = init_state(spec, seed=3)
    _perturb_optimizer_state(st, np.random.default_rng(2))
    before = st.copy()
    ref = RefNet.from_state(st)
    X, y = _data(spec, flags, 10)
    wts = np.random.default_rng(3).uniform(0.5, 2.0, 10)
    wts[4] = 0.0  # a zero-weight row is skipped and not counted
    off = np.random.default_rng(4).normal(size=10) if output == "linear" else np.zeros(10)
    order = np.array([3, 1, 4, 7, 0, 9, 2, 8], dtype=np.int64)
    seen = 77
    rows, loss = train_minibatch(st, X, y, wts, off, order, hyper, flags, SEED, seen, batch_size=8)
    gW = [np.zeros_like(W) for W in ref.W]
    gb = [np.zeros_like(b) for b in ref.b]
    want_loss = 0.0
    live = [(pos, i) for pos, i in enumerate(order) if wts[i] > 0]
    for pos, i in live:
        masks = _masks(spec, hyper, seen + pos)
        g1, b1, lo = ref.gradients(X[i], y[i], wts[i], off[i], hyper, flags, masks)
        want_loss += wts[i] * lo
        for l in range(spec.n_layers):      # summed over the batch, divided by its size (8), not its 7 live rows
            gW[l] += g1[l] / 8
            gb[l] += b1[l] / 8
    ref.step(gW, gb, hyper, flags, seen)
    assert rows == 7
    assert loss == pytest.approx(want_loss, rel=1e-4)
    _assert_state_matches(st, ref, before)


def test_batches_run_across_sources_and_a_short_batch_moves_by_its_share():
    """Two sources of 5 and 3 rows in batches of 4 take the steps of one source of the 8 rows (the batch that
    spans them gathers from both), and a last batch of 1 row of a size-4 batch steps a quarter as far."""
    spec = NetSpec((5, 7, 3), "Tanh")
    hyper, flags = kernel_arrays_for(spec, adaptive_rate=False, rate=0.1, momentum_start=0.0)
    X, y = _data(spec, flags, 8)
    w, off = np.ones(8), np.zeros(8)
    one, two = init_state(spec, seed=2), init_state(spec, seed=2)
    train_minibatch(one, X, y, w, off, np.arange(8, dtype=np.int64), hyper, flags, 5, 0, 4)
    first, second = slice(0, 5), slice(5, 8)
    rows, _ = train_minibatches(two, [(np.ascontiguousarray(X[first]), y[first], w[first], off[first],
                                       np.arange(5, dtype=np.int64), 5, 0),
                                      (np.ascontiguousarray(X[second]), y[second], w[second], off[second],
                                       np.arange(3, dtype=np.int64), 5, 5)], hyper, flags, 4)
    assert rows == 8
    np.testing.assert_allclose(one.w, two.w, rtol=1e-5, atol=1e-6)
    short, full = init_state(spec, seed=2), init_state(spec, seed=2)
    train_minibatch(short, X, y, w, off, np.array([3], dtype=np.int64), hyper, flags, 5, 0, 4)
    train_minibatch(full, X, y, w, off, np.array([3], dtype=np.int64), hyper, flags, 5, 0, 1)
    start = init_state(spec, seed=2)
    np.testing.assert_allclose(short.w - start.w, (full.w - start.w) / 4, rtol=1e-4, atol=1e-7)


def test_a_batch_queue_gives_each_batch_to_one_thread_once():
    """Threads training replicas take batches from one BatchQueue: every batch once, cut as train_minibatches cuts
    them (a batch spans the two sources), and one thread alone takes the plain run's steps, bit for bit."""
    spec = NetSpec((5, 7, 3), "RectifierWithDropout")
    hyper, flags = kernel_arrays_for(spec, input_dropout_ratio=0.2)
    X, y = _data(spec, flags, 12)
    w, off = np.ones(12), np.zeros(12)
    sources = [RowSource(np.ascontiguousarray(X[:5]), y[:5], w[:5], off[:5], np.arange(5, dtype=np.int64), 5, 0),
               RowSource(np.ascontiguousarray(X[5:]), y[5:], w[5:], off[5:], np.arange(7, dtype=np.int64), 6, 0)]
    assert list(BatchQueue(sources, 4)) == [[(0, 0, 4)], [(0, 4, 5), (1, 0, 3)], [(1, 3, 7)]]
    plain, queued = init_state(spec, seed=2), init_state(spec, seed=2)
    assert train_minibatches(plain, sources, hyper, flags, 4) == train_batches(queued, BatchQueue(sources, 4),
                                                                                hyper, flags)
    assert np.array_equal(plain.w, queued.w) and np.array_equal(plain.b, queued.b)
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        BatchQueue(sources, 0)
    bad = [sources[0]._replace(order=np.array([0, 9], dtype=np.int64))]
    with pytest.raises(ValueError, match="row indices outside"):       # checked before the first batch
        train_batches(queued, BatchQueue(bad, 4), hyper, flags)
    big = [RowSource(X, y, w, off, np.tile(np.arange(12, dtype=np.int64), 50), 7, 0)]    # 600 rows, 150 batches
    queue, nets, done = BatchQueue(big, 4), [init_state(spec, seed=2) for _ in range(2)], [None, None]

    def work(t):
        done[t] = train_batches(nets[t], queue, hyper, flags)
    threads = [threading.Thread(target=work, args=(t,)) for t in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert done[0][0] + done[1][0] == 600 and list(queue) == []


def test_minibatch_of_one_equals_per_sample():
    spec = NetSpec((5, 7, 4, 3), "TanhWithDropout")
    hyper, flags = kernel_arrays_for(spec, input_dropout_ratio=0.1, l1=1e-4)
    X, y = _data(spec, flags, 20)
    a, b = init_state(spec, seed=1), init_state(spec, seed=1)
    args = (X, y, np.full(20, 1.5), np.zeros(20), np.arange(20, dtype=np.int64), hyper, flags, 9, 0)
    train_rows(a, *args)
    train_minibatch(b, *args, batch_size=1)
    np.testing.assert_allclose(a.w, b.w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(a.b, b.b, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- input validation
def test_train_rows_rejects_bad_input():
    spec = NetSpec((5, 7, 3), "Tanh")
    hyper, flags = kernel_arrays_for(spec)
    st = init_state(spec, seed=0)
    X, y = _data(spec, flags, 10)
    ok = dict(row_weight=np.ones(10), offset=np.zeros(10), order=np.arange(10, dtype=np.int64))

    def call(**kw):
        a = {"X": X, "y": y, **ok, **kw}
        return train_rows(st, a["X"], a["y"], a["row_weight"], a["offset"], a["order"], hyper, flags, 0, 0)

    with pytest.raises(ValueError, match="X must"):
        call(X=X.astype(np.float64))
    with pytest.raises(ValueError, match="class indices"):
        call(y=np.full(10, 3.0))
    with pytest.raises(ValueError, match="offset"):
        call(offset=np.ones(10))
    with pytest.raises(ValueError, match="order"):
        call(order=np.array([10], dtype=np.int64))
    with pytest.raises(ValueError, match="row_weight"):
        call(row_weight=-np.ones(10))
    with pytest.raises(ValueError, match="hyper"):
        train_rows(st, X, y, ok["row_weight"], ok["offset"], ok["order"], hyper[:-1], flags, 0, 0)
    with pytest.raises(ValueError, match="batch_size"):
        train_minibatch(st, X, y, ok["row_weight"], ok["offset"], ok["order"], hyper, flags, 0, 0, 0)
    reg = NetSpec((5, 4, 1), "Tanh", "linear")
    h2, f2 = kernel_arrays_for(reg, distribution="gamma")
    with pytest.raises(ValueError, match="gamma"):
        train_rows(init_state(reg), X, np.zeros(10), ok["row_weight"], ok["offset"], ok["order"], h2, f2, 0, 0)


# ----------------------------------------------------------------------------- learning
def _two_class(n: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    y = ((X[:, 0] ** 2 + X[:, 1] ** 2) > 1.4).astype(np.float64)  # a ring: needs the hidden layer
    return X, y


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_learns_a_two_class_problem(act):
    spec = NetSpec((4, 32, 16, 2), act)
    hyper, flags = kernel_arrays_for(spec, hidden_dropout_ratios=(0.1, 0.1) if "Dropout" in act else None)
    st = init_state(spec, seed=1)
    X, y = _two_class(2000, 0)
    Xt, yt = _two_class(1000, 1)
    rng = np.random.default_rng(2)
    for epoch in range(4):
        train_rows(st, X, y, np.ones(2000), np.zeros(2000), rng.permutation(2000).astype(np.int64),
                   hyper, flags, 3, epoch * 2000)
    p = np.empty((1000, 2))
    forward(st, Xt, p, hyper, flags)
    assert (p.argmax(1) == yt).mean() > 0.9


def test_hogwild_threads_share_one_state():
    spec = NetSpec((4, 32, 2), "Rectifier")
    hyper, flags = kernel_arrays_for(spec)
    st = init_state(spec, seed=1)
    X, y = _two_class(4000, 0)
    order = np.random.default_rng(0).permutation(4000).astype(np.int64)
    results = []

    def work(part: np.ndarray, seen: int) -> None:
        results.append(train_rows(st, X, y, np.ones(4000), np.zeros(4000), part, hyper, flags, 1, seen))

    # 3 epochs: after 1 epoch the accuracy sits at ~0.85 and Hogwild!'s races made a 0.85 bar flaky
    # (5/20 runs failed with the old kernel); after 3 it was >= 0.948 in 20 racy runs.
    for epoch in range(3):
        threads = [threading.Thread(target=work, args=(order[k::2], epoch * 4000 + k * 2000)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sum(r[0] for r in results) == 3 * 4000
    p = np.empty((4000, 2))
    forward(st, X, p, hyper, flags)
    assert (p.argmax(1) == y).mean() > 0.9


@pytest.mark.parametrize("act,output,extra", [
    ("RectifierWithDropout", "softmax", dict(input_dropout_ratio=0.2, l1=1e-4)),
    ("TanhWithDropout", "softmax", dict(loss="Quadratic")),
    ("MaxoutWithDropout", "softmax", dict(input_dropout_ratio=0.1)),
    ("ExpRectifier", "linear", dict(l2=1e-3, max_w2=2.0)),
    ("Tanh", "autoencoder", dict(sparsity_beta=0.1, average_activation=-0.2)),
    ("Rectifier", "softmax", dict(adaptive_rate=False, rate=0.01, momentum_start=0.5, momentum_stable=0.9,
                                  nesterov_accelerated_gradient=True, fast_mode=False)),
])
@pytest.mark.parametrize("nteam", [2, 3])
def test_kernel_team_equals_one_thread(act, output, extra, nteam):
    """Neurons split between team threads: the one-thread run up to float summation order of the
    back-propagated errors (odd team sizes too, where slices are uneven), and bit-identical reruns."""
    from algos.deeplearning.kernels import KernelTeam
    spec = NetSpec((11, 13, 9, 3 if output == "softmax" else (1 if output == "linear" else 11)), act, output)
    hyper, flags = kernel_arrays_for(spec, **extra)
    rng = np.random.default_rng(7)
    n = 300
    X = rng.normal(size=(n, 11)).astype(np.float32)
    y = rng.integers(0, 3, n).astype(np.float64) if output == "softmax" else rng.normal(size=n)
    order = rng.permutation(n).astype(np.int64)
    row_weight = rng.uniform(0.5, 2.0, n)
    row_weight[::7] = 0.0              # skipped rows: the team's alternating input buffers follow trained rows
    args = (X, y, row_weight, np.zeros(n), order, hyper, flags, 5, 100)
    one = init_state(spec, seed=3)
    r1 = train_rows(one, *args)
    team = KernelTeam(nteam)
    try:
        runs = []
        for _ in range(2):
            st = init_state(spec, seed=3)
            runs.append((st, train_rows(st, *args, team=team)))
    finally:
        team.close()
    (a, ra), (b, rb) = runs
    for name in ("w", "b", "w_g2", "w_dx2", "w_v", "b_g2", "b_dx2", "b_v", "avg_act"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name          # deterministic
        np.testing.assert_allclose(getattr(a, name), getattr(one, name), rtol=2e-3, atol=2e-5, err_msg=name)
    assert ra == rb and ra[0] == r1[0] and ra[1] == pytest.approx(r1[1], rel=1e-4)
    assert not np.array_equal(a.w, init_state(spec, seed=3).w)                  # it trained
