"""The kernels' view of the parameters: a float64 hyper-parameter array and an int64 flag array.

Numba kernels read numbers by position, so the parameters they use are packed once per spec (:func:`kernel_arrays`)
from the validated or effective parameters of :data:`algos.deeplearning.parameters.PARAMS`. This module states
only positions and codes: every default, range and combination rule is the parameter table's (``kernel_arrays``
runs its problem checks on the values it packs).

Hyper array: one slot per name of :data:`HYPER_SLOTS` (a parameter of the same name, except ``huber_delta``: the
Trainer trains with H2O's 1; a model's is the ``huber_alpha`` quantile of its absolute residuals, for metrics), then
one dropout ratio per hidden layer from :data:`H_HIDDEN_DROPOUT` on. Flags: :data:`FLAG_SLOTS`.

>>> from algos.deeplearning.network import NetSpec
>>> h, f = kernel_arrays_for(NetSpec((4, 8, 1), "Tanh", "linear"), adaptive_rate=False, rate=0.01)
>>> float(h[H_RATE]), int(f[F_ADAPTIVE]), int(f[F_GRADIENT]) == G_GAUSSIAN
(0.01, 0, True)
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .network import NetSpec
from .parameters import PARAMS, auto_distribution, check_for_problem, default_dropout_ratios, validate

#: The float64 hyper array's slots, in order: parameters of the same name, and the fitted ``huber_delta``.
HYPER_SLOTS: tuple[str, ...] = (
    "rho", "epsilon", "rate", "rate_annealing", "rate_decay", "momentum_start", "momentum_ramp", "momentum_stable",
    "l1", "l2", "max_w2", "input_dropout_ratio", "tweedie_power", "quantile_alpha", "huber_delta", "sparsity_beta",
    "average_activation",
)
(H_RHO, H_EPSILON, H_RATE, H_RATE_ANNEALING, H_RATE_DECAY, H_MOMENTUM_START, H_MOMENTUM_RAMP, H_MOMENTUM_STABLE,
 H_L1, H_L2, H_MAX_W2, H_INPUT_DROPOUT, H_TWEEDIE_POWER, H_QUANTILE_ALPHA, H_HUBER_DELTA, H_SPARSITY_BETA,
 H_AVERAGE_ACTIVATION) = range(len(HYPER_SLOTS))
H_HIDDEN_DROPOUT = len(HYPER_SLOTS)      # followed by one ratio per hidden layer

#: The int64 flag array's slots, in order.
FLAG_SLOTS: tuple[str, ...] = ("activation", "output", "gradient", "adaptive_rate", "nesterov_accelerated_gradient",
                               "fast_mode", "n_layers", "hidden_dropout", "skip_zero_gradient", "h2o_quirks")
(F_ACTIVATION, F_OUTPUT, F_GRADIENT, F_ADAPTIVE, F_NESTEROV, F_FAST_MODE, F_N_LAYERS, F_HIDDEN_DROPOUT,
 F_SKIP_ZERO_GRAD, F_QUIRKS) = range(len(FLAG_SLOTS))
N_FLAGS = len(FLAG_SLOTS)

# Bits of flags[F_QUIRKS]: H2O-3 rules the kernels reproduce on request (the parameter h2o_quirks) where we train
# otherwise. bias_adadelta: a bias's ADADELTA fed the mean squared gradient of its neuron's incoming weights;
# momentum_ramp: momentum stays at H2O's momentum(-1) = start - (stable - start) / ramp; dropout_gradient: a
# dropped hidden neuron still back-propagates f'(0); exp_rectifier_derivative: ExpRectifier's derivative exp(a);
# autoencoder_output_gradient: an autoencoder's output passes dE/da on as dE/dnet (H2O's bpropOutputLayer).
Q_BIAS_ADADELTA, Q_MOMENTUM_RAMP, Q_DROPOUT_GRADIENT, Q_EXP_RECTIFIER, Q_AUTOENCODER_GRADIENT = 1, 2, 4, 8, 16
KERNEL_QUIRKS = {"bias_adadelta": Q_BIAS_ADADELTA, "momentum_ramp": Q_MOMENTUM_RAMP,
                 "dropout_gradient": Q_DROPOUT_GRADIENT, "exp_rectifier_derivative": Q_EXP_RECTIFIER,
                 "autoencoder_output_gradient": Q_AUTOENCODER_GRADIENT}

# Activation codes (the WithDropout variants share their base's code: F_HIDDEN_DROPOUT says dropout).
ACT_TANH, ACT_RECTIFIER, ACT_MAXOUT, ACT_ELU = 0, 1, 2, 3
OUT_SOFTMAX, OUT_LINEAR, OUT_AUTOENCODER = 0, 1, 2
# Output-gradient codes: (loss, distribution) resolved to the gradient the kernels compute.
G_CROSS_ENTROPY, G_SOFTMAX_QUADRATIC = 0, 1
G_GAUSSIAN, G_LAPLACE, G_QUANTILE, G_HUBER, G_POISSON, G_GAMMA, G_TWEEDIE = 2, 3, 4, 5, 6, 7, 8

_ACT_CODE = {"Tanh": ACT_TANH, "Rectifier": ACT_RECTIFIER, "Maxout": ACT_MAXOUT, "ExpRectifier": ACT_ELU}
_OUT_CODE = {"softmax": OUT_SOFTMAX, "linear": OUT_LINEAR, "autoencoder": OUT_AUTOENCODER}
_DIST_TO_GRAD = {"gaussian": G_GAUSSIAN, "laplace": G_LAPLACE, "quantile": G_QUANTILE, "huber": G_HUBER,
                 "poisson": G_POISSON, "gamma": G_GAMMA, "tweedie": G_TWEEDIE}
_FITTED = ("huber_delta",)
assert all(s in PARAMS and PARAMS[s].kind == "float" for s in HYPER_SLOTS if s not in _FITTED), \
    "every hyper slot but the fitted ones is a float parameter of PARAMS"


def problem_of(spec: NetSpec) -> tuple[str, int]:
    """(problem, nclasses) a network's output layer solves, in the parameter table's terms.

    >>> problem_of(NetSpec((5, 3, 2)))
    ('binomial', 2)
    """
    if spec.output == "softmax":
        k = spec.units[-1]
        return ("binomial" if k == 2 else "multinomial"), k
    return ("regression" if spec.output == "linear" else "autoencoder"), 1


def _gradient_code(params: Mapping[str, Any], spec: NetSpec) -> int:
    if spec.output == "softmax":
        return G_SOFTMAX_QUADRATIC if params["loss"] == "Quadratic" else G_CROSS_ENTROPY
    dist = params["distribution"]
    if dist == "AUTO":
        problem, nclasses = problem_of(spec)
        dist = auto_distribution(problem, nclasses, params["loss"])
    return _DIST_TO_GRAD[dist]


def kernel_arrays(params: Mapping[str, Any], spec: NetSpec, huber_delta: float = 1.0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``(hyper float64[H_HIDDEN_DROPOUT + n_hidden], flags int64[N_FLAGS])`` for the kernels.

    ``params``: validated or effective Deep Learning parameters (a model's ``params``); their combination with the
    network's output is checked by the parameter table's rules (ValueError names the problem). ``huber_delta`` is
    the fitted Huber threshold (distribution huber).
    """
    problem, nclasses = problem_of(spec)
    check_for_problem(params, problem, nclasses)
    n_hidden = spec.n_layers - 1
    ratios = params["hidden_dropout_ratios"]
    if ratios is None:
        ratios = default_dropout_ratios(spec.activation, n_hidden)
    if len(ratios) != n_hidden:
        raise ValueError(f"hidden_dropout_ratios needs one ratio per hidden layer ({n_hidden}), got {len(ratios)}")
    values = {**params, "huber_delta": huber_delta}
    hyper = np.zeros(H_HIDDEN_DROPOUT + n_hidden, dtype=np.float64)
    hyper[:H_HIDDEN_DROPOUT] = [values[name] for name in HYPER_SLOTS]
    hyper[H_HIDDEN_DROPOUT:] = [float(r) for r in ratios]
    adaptive = bool(params["adaptive_rate"])
    has_momentum = params["momentum_start"] > 0 or params["momentum_stable"] > 0
    # H2O's _shortcut: neurons (or weights) whose data gradient is exactly 0 are left untouched
    # when nothing else (ADADELTA decay, momentum, l1, l2) could move them, or in fast_mode.
    skip_zero = params["fast_mode"] or (not adaptive and not has_momentum and params["l1"] == 0
                                        and params["l2"] == 0)
    flags = np.zeros(N_FLAGS, dtype=np.int64)
    flags[F_ACTIVATION] = _ACT_CODE[spec.base_activation]
    flags[F_OUTPUT] = _OUT_CODE[spec.output]
    flags[F_GRADIENT] = _gradient_code(params, spec)
    flags[F_ADAPTIVE] = int(adaptive)
    flags[F_NESTEROV] = int(params["nesterov_accelerated_gradient"])
    flags[F_FAST_MODE] = int(params["fast_mode"])
    flags[F_N_LAYERS] = spec.n_layers
    flags[F_HIDDEN_DROPOUT] = int(spec.hidden_dropout)
    flags[F_SKIP_ZERO_GRAD] = int(skip_zero)
    flags[F_QUIRKS] = sum(KERNEL_QUIRKS[q] for q in set(params.get("h2o_quirks") or ()))
    return hyper, flags


def kernel_arrays_for(spec: NetSpec, huber_delta: float = 1.0, **params: Any) -> tuple[np.ndarray, np.ndarray]:
    """:func:`kernel_arrays` of ``params`` (user values, H2O's defaults for the rest) on a network: the network's
    hidden layers, activation and output fill ``hidden``, ``activation`` and ``autoencoder`` (for kernel tests and
    benchmarks, which build a network without a training run)."""
    shape = {"hidden": list(spec.units[1:-1]), "activation": spec.activation,
             "autoencoder": spec.output == "autoencoder"}
    return kernel_arrays(validate({**shape, **params}), spec, huber_delta)
