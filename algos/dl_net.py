"""Deep Learning network description, flat state and hyper-parameter packing.

Everything the compute kernels (``algos.dl_kernels``) touch is a flat contiguous array so that
a model is trivial to average across nodes (an unweighted mean per array, as H2O's reduce) and to
serialise (``NetState.to_arrays`` gives plain numpy arrays, never pickles).

Layout
------
Layer ``l`` (``0 <= l < n_layers``) maps ``units[l]`` inputs to ``units[l+1]`` neurons.  Its weights
are the block ``w[w_off[l]:w_off[l+1]]`` read as a row-major matrix of shape
``(units[l+1]*k, units[l])`` where ``k = 2`` for a Maxout hidden layer and 1 otherwise.  Maxout
channels are **interleaved by row**: neuron ``j`` owns rows ``2j`` (channel 0) and ``2j+1``
(channel 1), so each channel is one contiguous row, which keeps the kernels' inner loops on
contiguous 1-D views.  Biases follow the same row numbering in ``b[b_off[l]:b_off[l+1]]``.

dtypes: weights and their optimiser state (``w_g2`` = E[g^2], ``w_dx2`` = E[dx^2], ``w_v`` =
momentum velocity) are float32 as in H2O; biases and their state are float64 (H2O keeps
biases in double).  ``avg_act`` is the autoencoder sparsity running mean of each hidden neuron's
activation, parallel to ``b``.

Example
-------
>>> spec = NetSpec((5, 7, 3), "Rectifier", "softmax")
>>> st = init_state(spec, seed=42)
>>> st.n_params
66
>>> hyper, flags = DLHyper(l1=1e-5).pack(spec)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace

import numpy as np

ACTIVATIONS: tuple[str, ...] = (
    "Tanh", "TanhWithDropout", "Rectifier", "RectifierWithDropout",
    "Maxout", "MaxoutWithDropout", "ExpRectifier", "ExpRectifierWithDropout",
)
OUTPUTS: tuple[str, ...] = ("softmax", "linear", "autoencoder")

# Activation codes used by the kernels (the WithDropout flag is separate: FLAG_HIDDEN_DROPOUT).
ACT_TANH, ACT_RECTIFIER, ACT_MAXOUT, ACT_ELU = 0, 1, 2, 3
OUT_SOFTMAX, OUT_LINEAR, OUT_AUTOENCODER = 0, 1, 2

# Effective output-gradient codes: (loss, distribution) resolved once by DLHyper.pack.
G_CROSS_ENTROPY, G_SOFTMAX_QUADRATIC = 0, 1
G_GAUSSIAN, G_LAPLACE, G_QUANTILE, G_HUBER, G_POISSON, G_GAMMA, G_TWEEDIE = 2, 3, 4, 5, 6, 7, 8

# Positions inside the packed float64 hyper array.
H_RHO, H_EPSILON, H_RATE, H_RATE_ANNEALING, H_RATE_DECAY = 0, 1, 2, 3, 4
H_MOMENTUM_START, H_MOMENTUM_RAMP, H_MOMENTUM_STABLE = 5, 6, 7
H_L1, H_L2, H_MAX_W2, H_INPUT_DROPOUT = 8, 9, 10, 11
H_TWEEDIE_POWER, H_QUANTILE_ALPHA, H_HUBER_DELTA = 12, 13, 14
H_SPARSITY_BETA, H_AVERAGE_ACTIVATION = 15, 16
H_HIDDEN_DROPOUT = 17  # followed by one ratio per hidden layer
# Positions inside the packed int64 flags array.
F_ACTIVATION, F_OUTPUT, F_GRADIENT, F_ADAPTIVE, F_NESTEROV, F_FAST_MODE = 0, 1, 2, 3, 4, 5
F_N_LAYERS, F_HIDDEN_DROPOUT, F_SKIP_ZERO_GRAD, F_QUIRKS = 6, 7, 8, 9
N_FLAGS = 10

# H2O-3 behaviours the kernels reproduce on request where aquifer deliberately trains otherwise (bits of
# flags[F_QUIRKS]; the parameter h2o_quirks, docs/architecture.md "Where we differ from H2O"):
# bias_adadelta: a bias's ADADELTA is fed the mean squared gradient of its neuron's incoming weights;
# momentum_ramp: momentum stays at H2O's momentum(-1) = start - (stable - start) / ramp (never ramps);
# dropout_gradient: a dropped hidden neuron still back-propagates (Tanh/ExpRectifier/Maxout, f'(0) != 0);
# exp_rectifier_derivative: ExpRectifier's derivative is exp(a) of the activation a (not a + 1);
# autoencoder_output_gradient: an autoencoder's output layer back-propagates dE/da as if it were dE/dnet
# (H2O's bpropOutputLayer never multiplies by the output activation's derivative).
Q_BIAS_ADADELTA, Q_MOMENTUM_RAMP, Q_DROPOUT_GRADIENT, Q_EXP_RECTIFIER, Q_AUTOENCODER_GRADIENT = 1, 2, 4, 8, 16
KERNEL_QUIRKS = {"bias_adadelta": Q_BIAS_ADADELTA, "momentum_ramp": Q_MOMENTUM_RAMP,
                 "dropout_gradient": Q_DROPOUT_GRADIENT, "exp_rectifier_derivative": Q_EXP_RECTIFIER,
                 "autoencoder_output_gradient": Q_AUTOENCODER_GRADIENT}

# Dropout-mask ids (dl_kernels.dropout_mask): the input layer's, and ONE for every hidden layer. As H2O, whose
# hidden layers all seed their Dropout alike, a row drops the same units in equal-sized hidden layers. Masks drawn
# per layer trained worse: Fashion-MNIST, the booklet's network, 3 epochs: 15.92/15.72 % test error against
# 15.46/15.15 % (seeds 1, 2); BostonHousing RectifierWithDropout [32,32] r2 0.788 against 0.796 (20 seeds).
INPUT_MASK, HIDDEN_MASK = 0, 1

_ACT_CODE = {"Tanh": ACT_TANH, "Rectifier": ACT_RECTIFIER, "Maxout": ACT_MAXOUT, "ExpRectifier": ACT_ELU}
_OUT_CODE = {"softmax": OUT_SOFTMAX, "linear": OUT_LINEAR, "autoencoder": OUT_AUTOENCODER}
_LOSSES = ("Automatic", "CrossEntropy", "Quadratic", "Absolute", "Huber", "Quantile")
_DISTRIBUTIONS = ("AUTO", "bernoulli", "multinomial", "gaussian", "poisson", "gamma", "tweedie",
                  "laplace", "huber", "quantile")
_LOSS_TO_DIST = {"Quadratic": "gaussian", "Absolute": "laplace", "Huber": "huber", "Quantile": "quantile"}
_DIST_TO_GRAD = {"gaussian": G_GAUSSIAN, "laplace": G_LAPLACE, "quantile": G_QUANTILE, "huber": G_HUBER,
                 "poisson": G_POISSON, "gamma": G_GAMMA, "tweedie": G_TWEEDIE}
_STATE_ARRAYS = ("w", "b", "w_g2", "w_dx2", "w_v", "b_g2", "b_dx2", "b_v", "avg_act")


@dataclass(frozen=True)
class NetSpec:
    """Shape of a network: ``units = (n_in, hidden..., n_out)``, activation and output kind.

    >>> NetSpec((784, 200, 10), "RectifierWithDropout", "softmax").n_layers
    2
    """

    units: tuple[int, ...]
    activation: str = "Rectifier"
    output: str = "softmax"

    def __post_init__(self) -> None:
        units = tuple(int(u) for u in self.units)
        object.__setattr__(self, "units", units)
        if len(units) < 2 or min(units) < 1:
            raise ValueError(f"units must list >= 2 positive layer sizes (input..., output), got {self.units}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {self.output!r}")
        if self.output == "softmax" and units[-1] < 2:
            raise ValueError(f"a softmax output needs >= 2 units (classes), got {units[-1]}")
        if self.output == "linear" and units[-1] != 1:
            raise ValueError(f"a linear (regression) output has exactly 1 unit, got {units[-1]}")
        if self.output == "autoencoder":
            if units[-1] != units[0]:
                raise ValueError(f"an autoencoder output must have n_inputs={units[0]} units, got {units[-1]}")
            if self.base_activation == "Maxout":
                raise ValueError("Maxout is not allowed for an autoencoder (as in H2O)")

    @property
    def base_activation(self) -> str:
        """Activation without the ``WithDropout`` suffix."""
        return self.activation.removesuffix("WithDropout")

    @property
    def hidden_dropout(self) -> bool:
        return self.activation.endswith("WithDropout")

    @property
    def n_layers(self) -> int:
        """Number of weight layers (hidden layers + output layer)."""
        return len(self.units) - 1

    def channels(self, layer: int) -> int:
        """Rows per neuron of weight layer ``layer``: 2 for a Maxout hidden layer, else 1."""
        return 2 if self.base_activation == "Maxout" and layer < self.n_layers - 1 else 1

    def offsets(self) -> tuple[np.ndarray, np.ndarray]:
        """``(w_off, b_off)``: int64 arrays of length n_layers+1 delimiting each layer's block."""
        w_off = np.zeros(self.n_layers + 1, dtype=np.int64)
        b_off = np.zeros(self.n_layers + 1, dtype=np.int64)
        for l in range(self.n_layers):
            rows = self.units[l + 1] * self.channels(l)
            w_off[l + 1] = w_off[l] + rows * self.units[l]
            b_off[l + 1] = b_off[l] + rows
        return w_off, b_off


@dataclass
class NetState:
    """All trainable state of one network as flat contiguous arrays (see module doc for layout).

    >>> st = init_state(NetSpec((3, 4, 2)), seed=1)
    >>> avg = NetState.average([st, st.copy()])
    >>> bool(np.array_equal(avg.w, st.w))
    True
    """

    spec: NetSpec
    w: np.ndarray
    b: np.ndarray
    w_g2: np.ndarray
    w_dx2: np.ndarray
    w_v: np.ndarray
    b_g2: np.ndarray
    b_dx2: np.ndarray
    b_v: np.ndarray
    avg_act: np.ndarray
    units: np.ndarray = field(init=False)
    w_off: np.ndarray = field(init=False)
    b_off: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.w_off, self.b_off = self.spec.offsets()
        self.units = np.asarray(self.spec.units, dtype=np.int64)
        n_w, n_b = int(self.w_off[-1]), int(self.b_off[-1])
        for name in _STATE_ARRAYS:
            arr = getattr(self, name)
            want_dtype = np.float32 if name.startswith("w") else np.float64
            want_n = n_w if name.startswith("w") else n_b
            if not isinstance(arr, np.ndarray) or arr.dtype != want_dtype or arr.shape != (want_n,):
                got = (getattr(arr, "dtype", type(arr)), getattr(arr, "shape", None))
                raise ValueError(f"state array {name!r} must be {want_dtype.__name__}[{want_n}], got {got}")
            if not arr.flags.c_contiguous:
                raise ValueError(f"state array {name!r} must be C-contiguous")

    @property
    def n_params(self) -> int:
        """Number of weights plus biases."""
        return int(self.w.size + self.b.size)

    def layer_weights(self, layer: int) -> np.ndarray:
        """A (rows, cols) view of layer ``layer``'s weights (rows = units[l+1]*k)."""
        lo, hi = int(self.w_off[layer]), int(self.w_off[layer + 1])
        return self.w[lo:hi].reshape(-1, self.spec.units[layer])

    def layer_biases(self, layer: int) -> np.ndarray:
        return self.b[int(self.b_off[layer]):int(self.b_off[layer + 1])]

    def copy(self) -> NetState:
        return NetState(self.spec, **{n: getattr(self, n).copy() for n in _STATE_ARRAYS})

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for serialisation; ``units`` is included so a reader can check the shape."""
        out = {n: getattr(self, n) for n in _STATE_ARRAYS}
        out["units"] = self.units.copy()
        return out

    @classmethod
    def from_arrays(cls, spec: NetSpec, arrays: dict[str, np.ndarray]) -> NetState:
        """Inverse of ``to_arrays``; raises ValueError when a name, dtype or shape does not match."""
        missing = [n for n in _STATE_ARRAYS if n not in arrays]
        if missing:
            raise ValueError(f"state arrays missing: {missing}")
        if "units" in arrays and tuple(int(u) for u in arrays["units"]) != spec.units:
            raise ValueError(f"arrays were saved for units {tuple(arrays['units'])}, spec has {spec.units}")
        return cls(spec, **{n: np.ascontiguousarray(arrays[n]) for n in _STATE_ARRAYS})

    @staticmethod
    def average(states: list[NetState]) -> NetState:
        """Unweighted mean of every array (H2O's reduce + postGlobal divides by the node count)."""
        if not states:
            raise ValueError("average() needs at least one state")
        spec = states[0].spec
        if any(s.spec != spec for s in states):
            raise ValueError("cannot average states of different network specs")
        mean = {}
        for n in _STATE_ARRAYS:
            acc = np.zeros_like(getattr(states[0], n), dtype=np.float64)
            for s in states:
                acc += getattr(s, n)
            mean[n] = (acc / len(states)).astype(getattr(states[0], n).dtype)
        return NetState(spec, **mean)


def init_state(spec: NetSpec, initial_weight_distribution: str = "UniformAdaptive",
               initial_weight_scale: float = 1.0, seed: int = 0) -> NetState:
    """H2O's initialisation (``randomizeWeights`` / ``initializeMembers``).

    Each layer has its own RNG seeded from ``seed + 0xBAD5EED + layer + 1`` (numpy PCG64, so the
    numbers differ from Java's but the recipe is H2O's).  UniformAdaptive is Glorot
    ``U(-r, r)``, ``r = sqrt(6/(fan_in+fan_out))``, x4 for a softmax output layer; Uniform is
    ``U(-scale, scale)``; Normal is ``N(0, scale^2)``.  Biases: 0.5 for the first hidden layer and
    1.0 for the others with Rectifier/Maxout, 0 for Tanh/ExpRectifier, 0 for the output layer.

    >>> init_state(NetSpec((4, 3, 1), "Tanh", "linear"), "Normal", 0.1, seed=7).b.tolist()
    [0.0, 0.0, 0.0, 0.0]
    """
    if initial_weight_distribution not in ("UniformAdaptive", "Uniform", "Normal"):
        raise ValueError("initial_weight_distribution must be UniformAdaptive, Uniform or Normal, "
                         f"got {initial_weight_distribution!r}")
    if not (math.isfinite(initial_weight_scale) and initial_weight_scale > 0):
        raise ValueError(f"initial_weight_scale must be a positive finite number, got {initial_weight_scale}")
    w_off, b_off = spec.offsets()
    n_w, n_b = int(w_off[-1]), int(b_off[-1])
    w = np.empty(n_w, dtype=np.float32)
    b = np.zeros(n_b, dtype=np.float64)
    for l in range(spec.n_layers):
        rng = np.random.default_rng((int(seed) + 0xBAD5EED + l + 1) % 2**63)
        n = int(w_off[l + 1] - w_off[l])
        if initial_weight_distribution == "UniformAdaptive":
            r = math.sqrt(6.0 / (spec.units[l] + spec.units[l + 1]))
            if l == spec.n_layers - 1 and spec.output == "softmax":
                r *= 4.0
            w[w_off[l]:w_off[l + 1]] = rng.uniform(-r, r, n)
        elif initial_weight_distribution == "Uniform":
            w[w_off[l]:w_off[l + 1]] = rng.uniform(-initial_weight_scale, initial_weight_scale, n)
        else:
            w[w_off[l]:w_off[l + 1]] = rng.normal(0.0, initial_weight_scale, n)
        is_hidden = l < spec.n_layers - 1
        if is_hidden and spec.base_activation in ("Rectifier", "Maxout"):
            b[b_off[l]:b_off[l + 1]] = 0.5 if l == 0 else 1.0
    zw = lambda: np.zeros(n_w, dtype=np.float32)  # noqa: E731
    zb = lambda: np.zeros(n_b, dtype=np.float64)  # noqa: E731
    return NetState(spec, w=w, b=b, w_g2=zw(), w_dx2=zw(), w_v=zw(), b_g2=zb(), b_dx2=zb(), b_v=zb(),
                    avg_act=zb())


@dataclass(frozen=True)
class DLHyper:
    """Training hyper-parameters with H2O's defaults; ``pack`` turns them into the kernels' arrays.

    ``hidden_dropout_ratios=None`` means 0.5 per hidden layer for *WithDropout activations, else 0.
    ``loss``/``distribution`` are resolved as H2O's ``Sanity.modifyParms`` does; ``huber_delta``
    is the gradient's (the Trainer trains with H2O's 1; the fitted delta is for metrics).

    >>> h, f = DLHyper(adaptive_rate=False, rate=0.01).pack(NetSpec((4, 8, 1), "Tanh", "linear"))
    >>> float(h[H_RATE]), int(f[F_ADAPTIVE])
    (0.01, 0)
    """

    adaptive_rate: bool = True
    rho: float = 0.99
    epsilon: float = 1e-8
    rate: float = 0.005
    rate_annealing: float = 1e-6
    rate_decay: float = 1.0
    momentum_start: float = 0.0
    momentum_ramp: float = 1e6
    momentum_stable: float = 0.0
    nesterov_accelerated_gradient: bool = True
    l1: float = 0.0
    l2: float = 0.0
    max_w2: float = math.inf
    input_dropout_ratio: float = 0.0
    hidden_dropout_ratios: tuple[float, ...] | None = None
    fast_mode: bool = True
    loss: str = "Automatic"
    distribution: str = "AUTO"
    tweedie_power: float = 1.5
    quantile_alpha: float = 0.5
    huber_delta: float = 1.0
    sparsity_beta: float = 0.0
    average_activation: float = 0.0
    h2o_quirks: tuple[str, ...] = ()

    def replace(self, **changes: object) -> DLHyper:
        return replace(self, **changes)

    def _check_ranges(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float) and math.isnan(v):
                raise ValueError(f"{f.name} must not be NaN")
        checks = [
            ("rho", 0.0 <= self.rho < 1.0, "in [0, 1)"), ("epsilon", self.epsilon >= 0, ">= 0"),
            ("rate", self.rate >= 0, ">= 0"), ("rate_annealing", self.rate_annealing >= 0, ">= 0"),
            ("rate_decay", self.rate_decay > 0, "> 0"),
            ("momentum_start", 0.0 <= self.momentum_start < 1.0, "in [0, 1)"),
            ("momentum_stable", 0.0 <= self.momentum_stable < 1.0, "in [0, 1)"),
            ("momentum_ramp", self.momentum_ramp > 0, "> 0"),
            ("l1", self.l1 >= 0, ">= 0"), ("l2", self.l2 >= 0, ">= 0"), ("max_w2", self.max_w2 > 0, "> 0"),
            ("input_dropout_ratio", 0.0 <= self.input_dropout_ratio < 1.0, "in [0, 1)"),
            ("tweedie_power", 1.0 < self.tweedie_power < 2.0, "in (1, 2)"),
            ("quantile_alpha", 0.0 <= self.quantile_alpha <= 1.0, "in [0, 1]"),
            ("huber_delta", self.huber_delta > 0, "> 0"), ("sparsity_beta", self.sparsity_beta >= 0, ">= 0"),
        ]
        for name, ok, what in checks:
            if not ok:
                raise ValueError(f"{name} must be {what}, got {getattr(self, name)}")

    def _gradient_code(self, spec: NetSpec) -> int:
        if self.loss not in _LOSSES:
            raise ValueError(f"loss must be one of {_LOSSES}, got {self.loss!r}")
        if self.distribution not in _DISTRIBUTIONS:
            raise ValueError(f"distribution must be one of {_DISTRIBUTIONS}, got {self.distribution!r}")
        if spec.output == "softmax":
            if self.distribution not in ("AUTO", "bernoulli", "multinomial"):
                raise ValueError(f"a softmax (classification) output needs distribution AUTO, bernoulli or "
                                 f"multinomial, got {self.distribution!r}")
            if self.distribution == "bernoulli" and spec.units[-1] != 2:
                raise ValueError(f"distribution 'bernoulli' needs 2 classes, the output has {spec.units[-1]}")
            if self.loss in ("Automatic", "CrossEntropy"):
                return G_CROSS_ENTROPY
            if self.loss == "Quadratic":
                return G_SOFTMAX_QUADRATIC
            raise ValueError(f"classification allows loss Automatic, CrossEntropy or Quadratic, got {self.loss!r}")
        if self.loss == "CrossEntropy":
            raise ValueError(f"loss CrossEntropy needs a softmax output, not {spec.output!r}")
        dist = self.distribution
        if dist in ("bernoulli", "multinomial"):
            raise ValueError(f"distribution {dist!r} needs a softmax output, not {spec.output!r}")
        if dist == "AUTO":
            dist = _LOSS_TO_DIST.get(self.loss, "gaussian")
        elif self.loss != "Automatic" and _LOSS_TO_DIST.get(self.loss) != dist:
            raise ValueError(f"loss {self.loss!r} contradicts distribution {dist!r}; "
                             "use loss='Automatic' or the matching pair")
        if spec.output == "autoencoder" and dist not in ("gaussian", "laplace", "huber"):
            raise ValueError(f"an autoencoder supports loss Quadratic, Absolute or Huber, got distribution {dist!r}")
        return _DIST_TO_GRAD[dist]

    def pack(self, spec: NetSpec) -> tuple[np.ndarray, np.ndarray]:
        """``(hyper float64[17 + n_hidden], flags int64[N_FLAGS])`` for the kernels."""
        self._check_ranges()
        n_hidden = spec.n_layers - 1
        ratios = self.hidden_dropout_ratios
        if ratios is None:
            ratios = (0.5 if spec.hidden_dropout else 0.0,) * n_hidden
        ratios = tuple(float(r) for r in ratios)
        if len(ratios) != n_hidden:
            raise ValueError(f"hidden_dropout_ratios needs one ratio per hidden layer ({n_hidden}), got {len(ratios)}")
        if any(not 0.0 <= r < 1.0 for r in ratios):
            raise ValueError(f"hidden_dropout_ratios must each be in [0, 1), got {ratios}")
        if not spec.hidden_dropout and any(r > 0 for r in ratios):
            raise ValueError(f"hidden_dropout_ratios need a *WithDropout activation, got {spec.activation!r}")
        if self.sparsity_beta > 0 and spec.output != "autoencoder":
            raise ValueError("sparsity_beta applies to autoencoders only")
        grad = self._gradient_code(spec)
        hyper = np.zeros(H_HIDDEN_DROPOUT + n_hidden, dtype=np.float64)
        hyper[H_RHO], hyper[H_EPSILON] = self.rho, self.epsilon
        hyper[H_RATE], hyper[H_RATE_ANNEALING], hyper[H_RATE_DECAY] = self.rate, self.rate_annealing, self.rate_decay
        hyper[H_MOMENTUM_START], hyper[H_MOMENTUM_RAMP] = self.momentum_start, self.momentum_ramp
        hyper[H_MOMENTUM_STABLE] = self.momentum_stable
        hyper[H_L1], hyper[H_L2], hyper[H_MAX_W2] = self.l1, self.l2, self.max_w2
        hyper[H_INPUT_DROPOUT] = self.input_dropout_ratio
        hyper[H_TWEEDIE_POWER], hyper[H_QUANTILE_ALPHA] = self.tweedie_power, self.quantile_alpha
        hyper[H_HUBER_DELTA] = self.huber_delta
        hyper[H_SPARSITY_BETA], hyper[H_AVERAGE_ACTIVATION] = self.sparsity_beta, self.average_activation
        hyper[H_HIDDEN_DROPOUT:] = ratios
        has_momentum = self.momentum_start > 0 or self.momentum_stable > 0
        # H2O's _shortcut: neurons (or weights) whose data gradient is exactly 0 are left untouched
        # when nothing else (ADADELTA decay, momentum, l1, l2) could move them, or in fast_mode.
        skip_zero = self.fast_mode or (not self.adaptive_rate and not has_momentum and self.l1 == 0 and self.l2 == 0)
        flags = np.zeros(N_FLAGS, dtype=np.int64)
        flags[F_ACTIVATION] = _ACT_CODE[spec.base_activation]
        flags[F_OUTPUT] = _OUT_CODE[spec.output]
        flags[F_GRADIENT] = grad
        flags[F_ADAPTIVE] = int(self.adaptive_rate)
        flags[F_NESTEROV] = int(self.nesterov_accelerated_gradient)
        flags[F_FAST_MODE] = int(self.fast_mode)
        flags[F_N_LAYERS] = spec.n_layers
        flags[F_HIDDEN_DROPOUT] = int(spec.hidden_dropout)
        flags[F_SKIP_ZERO_GRAD] = int(skip_zero)
        unknown = sorted(set(self.h2o_quirks) - set(KERNEL_QUIRKS))
        if unknown:
            raise ValueError(f"h2o_quirks: unknown {unknown}; the kernels know {sorted(KERNEL_QUIRKS)}")
        flags[F_QUIRKS] = sum(KERNEL_QUIRKS[q] for q in set(self.h2o_quirks))
        return hyper, flags
