"""Deep Learning parameters: the one schema (name, default, type, allowed values) and its rules.

Three steps, all before any job starts:

* :func:`validate` checks each user value on its own (name, type, range, enum spelling) and returns
  the full parameter dict with H2O-3's defaults filled in (``None`` also means "the default", as in
  h2o-py where ``None`` is simply not sent).
* :func:`effective_params` applies H2O's ``DeepLearningParameters.validate`` combination checks and
  ``Sanity.modifyParms`` for a known problem (regression / binomial / multinomial / autoencoder) and
  cloud size, returning the values training really uses plus human-readable notes.
* :func:`check_checkpoint` says whether a checkpoint restart may change what it changes.

Enum values are matched case-insensitively, ignoring ``_``/``-``/spaces, so H2O's ``"Rectifier"``,
h2o-py's ``"rectifier_with_dropout"`` and ``"RECTIFIERWITHDROPOUT"`` all give the canonical spelling.
Aliases: loss ``MeanSquare`` -> ``Quadratic`` (old H2O/booklet name) and distribution ``bernouilli``
-> ``bernoulli`` (the booklet's misspelling).  ``y`` is an alias of ``response_column``.

Project decisions that differ from H2O (each deliberate):

* ``max_w2`` stays as given.  H2O means to set it to 1000 for Rectifier, but compares the default
  (``Float.MAX_VALUE``) with ``+inf``, so that never fires; we keep its effective behaviour: no cap.
  Our default is ``inf`` (H2O's ``Float.MAX_VALUE`` is accepted too and also means "no cap").
* ``mini_batch_size > 1`` is honoured (H2O resets it to 1 with a warning): the kernels train real
  mini-batches.
* Momentum ramps as documented (the kernels' concern; nothing is changed here).
* With ``adaptive_rate`` H2O zeroes rate, rate_annealing, rate_decay and all three momentum values.
  We zero rate, rate_annealing, momentum_start and momentum_stable, and keep rate_decay and
  momentum_ramp as given: they are a factor and a divisor, for which 0 is not a valid value, and
  ADADELTA uses neither.  :func:`check_checkpoint` ignores every parameter ADADELTA does not use.
* ``hidden_dropout_ratios`` with a non-dropout activation: H2O-3 rejects any list; we accept an
  all-zero list (that is what the effective parameters hold) and reject any positive ratio.
* ``loss`` other than Automatic/Quadratic with ``distribution="gaussian"``: H2O accepts the pair and
  the distribution's gradient wins silently; we reject it, as the kernels do.
* ``offset_column`` is regression only, as in H2O-3's DL (``"Offset is only supported for
  regression."``); autoencoders are rejected too.
* Cross-validation counts as active with ``nfolds >= 2`` *or* a ``fold_column`` (H2O checks ``nfolds``
  only for ``overwrite_with_best_model``); an autoencoder refuses both.
* ``stopping_metric`` is checked against the problem before training (H2O fails at the first scoring):
  binomial AUTO/logloss/MSE/RMSE/AUC/AUCPR/misclassification/mean_per_class_error; multinomial
  without AUC/AUCPR; regression AUTO/deviance/MSE/RMSE/MAE/RMSLE; autoencoder AUTO/MSE.
  ``lift_top_group`` is refused: our metrics have no gains/lift table yet.
* ``max_hit_ratio_k`` defaults to 10 as in the booklet (H2O-3 3.x had 0, later versions fix top-10).
* ``categorical_encoding`` allows AUTO and OneHotInternal only (DL's own one-hot); H2O's frame-level
  encodings (Binary, Eigen, ...) are not implemented.

Example
-------
>>> p = validate({"activation": "rectifier_with_dropout", "hidden": 64, "epochs": 2})
>>> p["activation"], p["hidden"], p["hidden_dropout_ratios"]
('RectifierWithDropout', [64], None)
>>> eff, notes = effective_params({**p, "seed": 7}, problem="multinomial", nclasses=10, n_nodes=1)
>>> eff["distribution"], eff["loss"], eff["hidden_dropout_ratios"], eff["stopping_metric"]
('multinomial', 'CrossEntropy', [0.5], 'logloss')
"""
from __future__ import annotations

import difflib
import math
import re
import secrets
import warnings
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Mapping

import numpy as np

from scoring.metrics import default_stopping_metric

__all__ = [
    "Param", "PARAMS", "PARAM_ALIASES", "CHECKPOINT_MUTABLE", "PROBLEMS",
    "validate", "effective_params", "check_checkpoint", "param_docs_table",
]

PROBLEMS: tuple[str, ...] = ("regression", "binomial", "multinomial", "autoencoder")
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
INT32_MAX = 2 ** 31 - 1


@dataclass(frozen=True)
class Param:
    """One parameter of the schema.

    ``kind`` is one of: int, float, bool, enum, enum_list, str, int_list, float_list, column, column_list,
    frame_or_key, frame_list, model_or_key.  ``min``/``max`` bound numbers (and list elements);
    ``min_open``/``max_open`` make a bound exclusive.  ``max=None`` means "no upper bound, finite";
    ``max=math.inf`` (inclusive) is how a parameter says that infinity is a valid value.
    ``allowed`` holds the canonical enum spellings, ``aliases`` extra spellings as (alias, canonical).

    >>> PARAMS["rho"].default, PARAMS["rho"].range_text()
    (0.99, 'in [0, 1)')
    """

    name: str
    default: Any
    kind: str
    doc: str
    allowed: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False
    deprecated: bool = False
    aliases: tuple[tuple[str, str], ...] = ()

    def range_text(self) -> str:
        """The allowed range in words, for error messages and the docs table."""
        lo = None if self.min is None else _num(self.min)
        hi = None if self.max is None or self.max == math.inf else _num(self.max)
        if lo is not None and hi is not None:
            return f"in {'(' if self.min_open else '['}{lo}, {hi}{')' if self.max_open else ']'}"
        if lo is not None:
            inf = " (inf allowed)" if self.max == math.inf else ""
            return f"{'>' if self.min_open else '>='} {lo}{inf}"
        if hi is not None:
            return f"{'<' if self.max_open else '<='} {hi}"
        return "any finite value"


def _num(x: float) -> str:
    if isinstance(x, int) or (math.isfinite(x) and float(x).is_integer()):
        return str(int(x))
    return "inf" if x == math.inf else repr(float(x))


def _p(name: str, default: Any, kind: str, doc: str, **kw: Any) -> tuple[str, Param]:
    return name, Param(name, default, kind, doc, **kw)


_ACTIVATIONS = ("Tanh", "TanhWithDropout", "Rectifier", "RectifierWithDropout", "Maxout", "MaxoutWithDropout",
                "ExpRectifier", "ExpRectifierWithDropout")
_LOSSES = ("Automatic", "CrossEntropy", "Quadratic", "Absolute", "Huber", "Quantile")
_DISTRIBUTIONS = ("AUTO", "bernoulli", "multinomial", "gaussian", "poisson", "gamma", "tweedie", "laplace",
                  "huber", "quantile")
# H2O-3 training behaviours aquifer deliberately does not copy; h2o_quirks reproduces them (to measure each one's
# effect, tools/bench/accuracy.py --set; docs/architecture.md "Where we differ from H2O")
H2O_QUIRKS = ("bias_adadelta", "momentum_ramp", "dropout_gradient", "exp_rectifier_derivative",
              "autoencoder_output_gradient")
_STOPPING = ("AUTO", "deviance", "logloss", "MSE", "RMSE", "MAE", "RMSLE", "AUC", "AUCPR", "lift_top_group",
             "misclassification", "mean_per_class_error")

PARAMS: dict[str, Param] = dict([
    # -- data and model identity
    _p("model_id", None, "str", "Destination key of the model; generated when None."),
    _p("training_frame", None, "frame_or_key", "Training frame (a Frame or its key)."),
    _p("validation_frame", None, "frame_or_key", "Validation frame for scoring and early stopping."),
    _p("x", None, "column_list", "Predictor columns (names or indices); None: every other column."),
    _p("response_column", None, "column", "Response column (alias y); its type decides the problem."),
    _p("ignored_columns", None, "column_list", "Columns to leave out (cannot be combined with x)."),
    _p("weights_column", None, "column", "Per-row observation weights (>= 0)."),
    _p("offset_column", None, "column", "Per-row offset added before the link function (regression only)."),
    _p("ignore_const_cols", True, "bool", "Drop constant training columns."),
    _p("checkpoint", None, "model_or_key", "Model (or key) to resume training from."),
    _p("pretrained_autoencoder", None, "model_or_key", "Autoencoder whose weights initialise this model."),
    _p("overwrite_with_best_model", True, "bool", "Keep the best scored model as the final one."),
    # -- network
    _p("autoencoder", False, "bool", "Train an autoencoder (unsupervised reconstruction)."),
    _p("use_all_factor_levels", True, "bool", "One-hot every level (else drop the first); forced for autoencoders."),
    _p("standardize", True, "bool", "Standardize numeric inputs (and the response for identity-link regression)."),
    _p("activation", "Rectifier", "enum", "Hidden-layer activation function.", allowed=_ACTIVATIONS),
    _p("hidden", (200, 200), "int_list", "Hidden layer sizes; [] for no hidden layer.", min=1),
    _p("initial_weight_distribution", "UniformAdaptive", "enum", "Initial weight distribution.",
       allowed=("UniformAdaptive", "Uniform", "Normal")),
    _p("initial_weight_scale", 1.0, "float", "Scale of Uniform/Normal initial weights.", min=0, min_open=True),
    _p("initial_weights", None, "frame_list", "One weight frame (or None) per layer: len(hidden)+1."),
    _p("initial_biases", None, "frame_list", "One bias frame (or None) per layer: len(hidden)+1."),
    _p("loss", "Automatic", "enum", "Loss function; Automatic follows the distribution.", allowed=_LOSSES,
       aliases=(("MeanSquare", "Quadratic"),)),
    _p("distribution", "AUTO", "enum", "Response distribution; AUTO follows the response and the loss.",
       allowed=_DISTRIBUTIONS, aliases=(("bernouilli", "bernoulli"),)),
    _p("tweedie_power", 1.5, "float", "Tweedie variance power (distribution tweedie).",
       min=1, max=2, min_open=True, max_open=True),
    _p("quantile_alpha", 0.5, "float", "Quantile to fit (distribution quantile).", min=0, max=1),
    _p("huber_alpha", 0.9, "float", "Quantile of |residual| that sets Huber's delta (distribution huber).",
       min=0, max=1),
    # -- training length and distribution over the cloud
    _p("epochs", 10.0, "float", "Passes over the training data (may be fractional).", min=0, min_open=True),
    _p("train_samples_per_iteration", -2, "int",
       "Rows per map/reduce iteration: 0 one epoch, -1 all (replicated) data, -2 auto-tune.", min=-2),
    _p("target_ratio_comm_to_comp", 0.05, "float", "Target communication/computation ratio for auto-tuning.",
       min=0, min_open=True),
    _p("seed", -1, "int", "Random seed; -1 draws one (recorded in the model).", min=INT64_MIN, max=INT64_MAX),
    _p("force_load_balance", True, "bool", "Keep every core busy on small data: each node's sampled rows are split evenly over its threads (H2O rechunks the frame)."),
    _p("replicate_training_data", True, "bool", "Copy the whole training set to every node (multi-node only)."),
    _p("single_node_mode", False, "bool", "Train on one node only (multi-node, replicated data)."),
    _p("shuffle_training_data", False, "bool", "Shuffle training rows on each node."),
    _p("reproducible", False, "bool", "Reproducible training: one chunk, one thread (slow)."),
    _p("mini_batch_size", 1, "int", "Rows per gradient step (1 = online SGD).", min=1),
    _p("elastic_averaging", False, "bool", "Elastic averaging between nodes (experimental)."),
    _p("elastic_averaging_moving_rate", 0.9, "float", "Elastic averaging moving rate.", min=0, max=1),
    _p("elastic_averaging_regularization", 1e-3, "float", "Elastic averaging regularization strength.", min=0),
    # -- optimiser
    _p("adaptive_rate", True, "bool", "ADADELTA adaptive learning rate."),
    _p("rho", 0.99, "float", "ADADELTA decay factor.", min=0, max=1, max_open=True),
    _p("epsilon", 1e-8, "float", "ADADELTA smoothing term.", min=0),
    _p("rate", 0.005, "float", "Learning rate (adaptive_rate off).", min=0),
    _p("rate_annealing", 1e-6, "float", "Rate annealing: rate / (1 + rate_annealing * samples).", min=0),
    _p("rate_decay", 1.0, "float", "Per-layer rate factor: layer L uses rate * rate_decay^(L-1).",
       min=0, min_open=True),
    _p("momentum_start", 0.0, "float", "Momentum at the start of training.", min=0, max=1, max_open=True),
    _p("momentum_ramp", 1e6, "float", "Training samples over which momentum ramps up.", min=0, min_open=True),
    _p("momentum_stable", 0.0, "float", "Momentum after the ramp.", min=0, max=1, max_open=True),
    _p("nesterov_accelerated_gradient", True, "bool", "Nesterov momentum (adaptive_rate off)."),
    # -- regularisation
    _p("input_dropout_ratio", 0.0, "float", "Fraction of input features dropped per row.", min=0, max=1,
       max_open=True),
    _p("hidden_dropout_ratios", None, "float_list", "Dropout per hidden layer (*WithDropout; default 0.5 each).",
       min=0, max=1, max_open=True),
    _p("l1", 0.0, "float", "L1 weight penalty.", min=0),
    _p("l2", 0.0, "float", "L2 weight penalty.", min=0),
    _p("max_w2", math.inf, "float", "Cap on the sum of squared incoming weights per neuron.", min=0, min_open=True,
       max=math.inf),
    _p("average_activation", 0.0, "float", "Target average activation of a sparse autoencoder."),
    _p("sparsity_beta", 0.0, "float", "Sparsity regularization of a sparse autoencoder.", min=0),
    # -- scoring and stopping
    _p("score_interval", 5.0, "float", "Minimum seconds between scorings.", min=0),
    _p("score_training_samples", 10000, "int", "Training rows sampled for scoring (0 = all).", min=0),
    _p("score_validation_samples", 0, "int", "Validation rows sampled for scoring (0 = all).", min=0),
    _p("score_duty_cycle", 0.1, "float", "Maximum fraction of time spent scoring.", min=0, max=1),
    _p("score_each_iteration", False, "bool", "Score after every iteration."),
    _p("score_validation_sampling", "Uniform", "enum", "How validation rows are sampled for scoring.",
       allowed=("Uniform", "Stratified")),
    _p("classification_stop", 0.0, "float", "Stop when training classification error <= this (-1 disables).",
       min=-1),
    _p("regression_stop", 1e-6, "float", "Stop when training MSE <= this (-1 disables).", min=-1),
    _p("stopping_rounds", 5, "int", "Early stopping window in scoring events (0 disables).", min=0),
    _p("stopping_metric", "AUTO", "enum", "Metric for early stopping and the best model.", allowed=_STOPPING),
    _p("stopping_tolerance", 0.0, "float", "Relative improvement needed to keep training.", min=0),
    _p("max_runtime_secs", 0.0, "float", "Wall-clock limit in seconds (0 = none).", min=0),
    # -- reporting
    _p("quiet_mode", False, "bool", "Less log output."),
    _p("max_confusion_matrix_size", 20, "int", "Largest confusion matrix (classes) printed.", min=1),
    _p("max_hit_ratio_k", 10, "int", "Top-K for the hit-ratio table (multinomial; 0 disables).", min=0),
    _p("variable_importances", True, "bool", "Compute Gedeon variable importances."),
    _p("export_weights_and_biases", False, "bool", "Store weights and biases as frames at each scoring."),
    _p("diagnostics", True, "bool", "Diagnostics are always gathered (H2O-2 switch).", deprecated=True),
    _p("col_major", False, "bool", "Column-major input weights are not supported (H2O-2 switch).", deprecated=True),
    # -- input handling
    _p("fast_mode", True, "bool", "Skip back-propagation into neurons whose gradient is zero."),
    _p("h2o_quirks", (), "enum_list", "aquifer only: H2O-3 training behaviours to reproduce where aquifer "
       "deliberately differs (to measure them).", allowed=H2O_QUIRKS),
    _p("missing_values_handling", "MeanImputation", "enum", "Numeric NAs: impute the mean, or skip the row.",
       allowed=("MeanImputation", "Skip")),
    _p("sparse", False, "bool", "Sparse input handling (no centering of numeric columns)."),
    _p("max_categorical_features", INT32_MAX, "int", "Most one-hot features per categorical column (hashing).",
       min=1, max=INT32_MAX),
    _p("categorical_encoding", "AUTO", "enum", "Categorical encoding; AUTO is OneHotInternal.",
       allowed=("AUTO", "OneHotInternal")),
    # -- class balance
    _p("balance_classes", False, "bool", "Over/under-sample classes to balance them (classification)."),
    _p("class_sampling_factors", None, "float_list", "Per-class sampling factors (needs balance_classes).",
       min=0, min_open=True),
    _p("max_after_balance_size", 5.0, "float", "Largest training size after balancing, relative to the original.",
       min=0, min_open=True),
    # -- cross-validation
    _p("nfolds", 0, "int", "Cross-validation folds (0 disables, else >= 2).", min=0),
    _p("fold_column", None, "column", "Column holding each row's fold (instead of nfolds)."),
    _p("fold_assignment", "AUTO", "enum", "How rows are assigned to folds (AUTO = Random).",
       allowed=("AUTO", "Random", "Modulo", "Stratified")),
    _p("keep_cross_validation_models", True, "bool", "Keep the cross-validation models."),
    _p("keep_cross_validation_predictions", False, "bool", "Keep the cross-validation holdout predictions."),
    _p("keep_cross_validation_fold_assignment", False, "bool", "Keep the fold assignment frame."),
])

#: Other names accepted for a parameter (h2o-py's train() argument ``y``).
PARAM_ALIASES: dict[str, str] = {"y": "response_column"}

#: Parameters a checkpoint restart may change (``Sanity.cp_modifiable`` plus run-level parameters
#: H2O never compares: the frames, the model id, the time limit, class balancing, weights).
CHECKPOINT_MUTABLE: frozenset[str] = frozenset({
    "seed", "checkpoint", "epochs", "score_interval", "train_samples_per_iteration", "target_ratio_comm_to_comp",
    "score_duty_cycle", "score_training_samples", "score_validation_samples", "score_validation_sampling",
    "classification_stop", "regression_stop", "stopping_rounds", "stopping_metric", "stopping_tolerance",
    "quiet_mode", "max_confusion_matrix_size", "max_hit_ratio_k", "diagnostics", "variable_importances",
    "initial_weight_distribution", "initial_weight_scale", "initial_weights", "initial_biases",
    "force_load_balance", "replicate_training_data", "shuffle_training_data", "single_node_mode", "fast_mode",
    "l1", "l2", "max_w2", "input_dropout_ratio", "hidden_dropout_ratios", "loss", "overwrite_with_best_model",
    "missing_values_handling", "average_activation", "reproducible", "export_weights_and_biases",
    "elastic_averaging", "elastic_averaging_moving_rate", "elastic_averaging_regularization", "mini_batch_size",
    "pretrained_autoencoder", "h2o_quirks",
    # run-level
    "model_id", "training_frame", "validation_frame", "weights_column", "max_runtime_secs", "score_each_iteration",
    "balance_classes", "class_sampling_factors", "max_after_balance_size",
    "keep_cross_validation_models", "keep_cross_validation_predictions", "keep_cross_validation_fold_assignment",
})

_DROPOUT_ACTIVATIONS = frozenset(a for a in _ACTIVATIONS if a.endswith("WithDropout"))
_ADADELTA_UNUSED = ("rate", "rate_annealing", "rate_decay", "momentum_start", "momentum_ramp", "momentum_stable",
                    "nesterov_accelerated_gradient")
_MANUAL_UNUSED = ("rho", "epsilon")
_STOPPING_BY_PROBLEM = {
    "binomial": ("AUTO", "logloss", "MSE", "RMSE", "AUC", "AUCPR", "misclassification", "mean_per_class_error"),
    "multinomial": ("AUTO", "logloss", "MSE", "RMSE", "misclassification", "mean_per_class_error"),
    "regression": ("AUTO", "deviance", "MSE", "RMSE", "MAE", "RMSLE"),
    "autoencoder": ("AUTO", "MSE"),
}
# Sentinels that a checkpoint restart inherits from the checkpoint instead of comparing (issue #16717).
_INHERIT = {"distribution": "AUTO", "loss": "Automatic", "stopping_metric": "AUTO", "categorical_encoding": "AUTO",
            "fold_assignment": "AUTO"}


# ------------------------------------------------------------------------------------------ validate

def _norm_enum(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


def _type_error(p: Param, expected: str, value: Any) -> ValueError:
    return ValueError(f"parameter {p.name!r} expects {expected}, got {value!r} ({type(value).__name__})")


def _is_int(v: Any) -> bool:
    return isinstance(v, (Integral, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_real(v: Any) -> bool:
    return _is_int(v) or (isinstance(v, (Real, np.floating)) and not isinstance(v, (bool, np.bool_)))


def _check_range(p: Param, v: float, what: str | None = None) -> None:
    label = what or f"parameter {p.name!r}"
    if isinstance(v, float) and math.isnan(v):
        raise ValueError(f"{label} must not be NaN (allowed: {p.range_text()})")
    if math.isinf(v) and not (v > 0 and p.max == math.inf):
        raise ValueError(f"{label} must be finite, {p.range_text()}; got {v}")
    lo_bad = p.min is not None and (v <= p.min if p.min_open else v < p.min)
    hi_bad = p.max is not None and (v >= p.max if p.max_open else v > p.max)
    if lo_bad or hi_bad:
        raise ValueError(f"{label} must be {p.range_text()}, got {v!r}")


def _int(p: Param, v: Any) -> int:
    if not _is_int(v):
        raise _type_error(p, "an int", v)
    v = int(v)
    _check_range(p, v)
    return v


def _float(p: Param, v: Any) -> float:
    if not _is_real(v):
        raise _type_error(p, "a number (int or float)", v)
    v = float(v)
    _check_range(p, v)
    return v


def _enum(p: Param, v: Any) -> str:
    if not isinstance(v, str):
        raise _type_error(p, f"one of {', '.join(p.allowed)} (a string)", v)
    table = {_norm_enum(a): a for a in p.allowed}
    table.update({_norm_enum(alias): canon for alias, canon in p.aliases})
    hit = table.get(_norm_enum(v))
    if hit is None:
        extra = "; aliases: " + ", ".join(f"{a} -> {c}" for a, c in p.aliases) if p.aliases else ""
        raise ValueError(f"parameter {p.name!r}: unknown value {v!r}; allowed (case-insensitive): "
                         f"{', '.join(p.allowed)}{extra}")
    return hit


def _seq(p: Param, v: Any, what: str) -> list:
    if isinstance(v, np.ndarray):
        if v.ndim != 1:
            raise _type_error(p, f"a 1-D list of {what}", v)
        return v.tolist()
    if not isinstance(v, (list, tuple)):
        raise _type_error(p, f"a list of {what}", v)
    return list(v)


def _elements(p: Param, items: list, check) -> list:
    out = []
    for i, item in enumerate(items):
        if not check(item):
            raise ValueError(f"parameter {p.name!r}: element {i} is {item!r} ({type(item).__name__}); "
                             f"expected a list of {'ints' if p.kind == 'int_list' else 'numbers'}")
        x = int(item) if p.kind == "int_list" else float(item)
        _check_range(p, x, f"parameter {p.name!r} element {i}")
        out.append(x)
    return out


def _is_column(v: Any) -> bool:
    return (isinstance(v, str) and v != "") or (_is_int(v) and int(v) >= 0)


def _column(p: Param, v: Any) -> str | int:
    if not _is_column(v):
        raise _type_error(p, "a column name (non-empty str) or a column index (int >= 0)", v)
    return v if isinstance(v, str) else int(v)


def _columns(p: Param, v: Any) -> list:
    items = [v] if isinstance(v, str) or _is_int(v) else _seq(p, v, "column names or indices")
    for i, item in enumerate(items):
        if not _is_column(item):
            raise ValueError(f"parameter {p.name!r}: element {i} is {item!r}; expected a column name "
                             "(non-empty str) or index (int >= 0)")
    return [c if isinstance(c, str) else int(c) for c in items]


def _key_of(v: Any, attrs: tuple[str, ...]) -> str | None:
    """The DKV key of a key string or of an object carrying one (a Frame's ``key``, a model's ``model_id``)."""
    if isinstance(v, str):
        return v or None
    for a in attrs:
        k = getattr(v, a, None)
        if isinstance(k, str) and k:
            return k
    return None


def _keyed(p: Param, v: Any, attrs: tuple[str, ...], what: str) -> Any:
    if _key_of(v, attrs) is None:
        raise _type_error(p, f"a {what} or its key (non-empty str)", v)
    return v


def _convert(p: Param, v: Any) -> Any:
    kind = p.kind
    if kind == "int":
        return _int(p, v)
    if kind == "float":
        return _float(p, v)
    if kind == "bool":
        if not isinstance(v, (bool, np.bool_)):
            raise _type_error(p, "a bool (True/False)", v)
        return bool(v)
    if kind == "enum":
        return _enum(p, v)
    if kind == "enum_list":
        items = [_enum(p, it) for it in ([v] if isinstance(v, str) else _seq(p, v, "strings"))]
        return list(dict.fromkeys(items))           # each once, in the order given
    if kind == "str":
        if not isinstance(v, str) or not v.strip():
            raise _type_error(p, "a non-empty string", v)
        return str(v)
    if kind == "int_list":
        items = [v] if _is_int(v) else _seq(p, v, "ints")
        return _elements(p, items, _is_int)
    if kind == "float_list":
        return _elements(p, _seq(p, v, "numbers"), _is_real)
    if kind == "column":
        return _column(p, v)
    if kind == "column_list":
        return _columns(p, v)
    if kind == "frame_or_key":
        return _keyed(p, v, ("key",), "Frame")
    if kind == "model_or_key":
        return _keyed(p, v, ("model_id", "key"), "model")
    if kind == "frame_list":
        items = _seq(p, v, "Frames, keys or None")
        return [None if it is None else _keyed(p, it, ("key",), "Frame (list element)") for it in items]
    raise AssertionError(f"schema error: unknown kind {kind!r} for {p.name}")


def _unknown(name: Any) -> ValueError:
    if not isinstance(name, str):
        return ValueError(f"parameter names must be strings, got {name!r}")
    known = list(PARAMS) + list(PARAM_ALIASES)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else \
        "; see algos.dl_params.PARAMS for the list"
    return ValueError(f"unknown Deep Learning parameter {name!r}{hint}")


def _default(p: Param) -> Any:
    return list(p.default) if isinstance(p.default, tuple) else p.default


# H2O-3 parameters outside the booklet's Appendix A that aquifer does not implement: refused when set
# (accepting and ignoring them would train something other than what was asked)
UNSUPPORTED = {
    "pretrained_autoencoder": "initialising from an autoencoder's weights is not implemented",
    "initial_weights": "initial weight frames are not implemented",
    "initial_biases": "initial bias frames are not implemented",
    "elastic_averaging": "nodes' models are averaged (H2O's default), elastic averaging is not implemented",
}


def validate(params: Mapping[str, Any]) -> dict[str, Any]:
    """Check every user value on its own and return all parameters, defaults filled in.

    Raises ValueError naming the parameter for an unknown name (with the closest known names), a
    wrong type, a value out of range or an unknown enum value.  ``None`` means the default.
    Deprecated parameters (diagnostics, col_major) given a non-default value warn with a
    DeprecationWarning and are kept as given (they have no effect).

    >>> validate({"hidden": [32, 16], "loss": "meansquare"})["loss"]
    'Quadratic'
    >>> validate({"hiden": [10]})
    Traceback (most recent call last):
    ...
    ValueError: unknown Deep Learning parameter 'hiden'; did you mean 'hidden'?
    """
    if not isinstance(params, Mapping):
        raise ValueError(f"Deep Learning parameters must be a dict, got {type(params).__name__}")
    given: dict[str, Any] = {}
    for raw_name, value in params.items():
        name = PARAM_ALIASES.get(raw_name, raw_name) if isinstance(raw_name, str) else raw_name
        if name not in PARAMS:
            raise _unknown(raw_name)
        if name in given and value is not None and given[name] is not None:
            raise ValueError(f"parameter {name!r} given twice (also as its alias {raw_name!r} or the other way "
                             "round); give it once")
        if value is not None or name not in given:
            given[name] = value
    out: dict[str, Any] = {}
    for name, p in PARAMS.items():
        value = given.get(name)
        # Only a non-default value asks for something we do not do; model.params passed back stays quiet.
        if p.deprecated and value is not None and value != p.default:
            warnings.warn(f"Deep Learning parameter {name!r} is deprecated and has no effect", DeprecationWarning,
                          stacklevel=2)
        out[name] = _default(p) if value is None else _convert(p, value)
    for name, why in UNSUPPORTED.items():      # before the other checks: nothing else about them matters
        if out[name] != PARAMS[name].default:
            raise ValueError(f"Deep Learning parameter {name!r} is not supported by aquifer ({why}); leave it "
                             "unset")
    _check_lengths(out)
    return out


def _check_lengths(p: dict[str, Any]) -> None:
    """Per-parameter checks that only need ``hidden``: list lengths and the nfolds gap."""
    n_hidden = len(p["hidden"])
    hdr = p["hidden_dropout_ratios"]
    if hdr is not None and len(hdr) != n_hidden:
        raise ValueError(f"hidden_dropout_ratios needs one ratio per hidden layer ({n_hidden} for hidden="
                         f"{p['hidden']}), got {len(hdr)}: {hdr}")
    if p["nfolds"] == 1:
        raise ValueError("nfolds must be 0 (no cross-validation) or >= 2, got 1")
    if p["x"] is not None and p["ignored_columns"] is not None:
        raise ValueError("give either x (the predictors) or ignored_columns, not both")


# ---------------------------------------------------------------------------------- effective params

def _changed(p: Mapping[str, Any], name: str) -> bool:
    return p[name] != _default(PARAMS[name])


def _check_problem(params: Mapping[str, Any], problem: str, nclasses: int, n_nodes: int) -> None:
    if problem not in PROBLEMS:
        raise ValueError(f"problem must be one of {', '.join(PROBLEMS)}, got {problem!r}")
    if not _is_int(nclasses) or not _is_int(n_nodes):
        raise ValueError(f"nclasses and n_nodes must be ints, got {nclasses!r} and {n_nodes!r}")
    ok = {"binomial": nclasses == 2, "multinomial": nclasses >= 3}.get(problem, nclasses == 1)
    if not ok:
        want = {"binomial": "== 2", "multinomial": ">= 3"}.get(problem, "== 1")
        raise ValueError(f"a {problem} problem needs nclasses {want}, got {nclasses}")
    if n_nodes < 1:
        raise ValueError(f"n_nodes must be >= 1, got {n_nodes}")
    if params["autoencoder"] != (problem == "autoencoder"):
        raise ValueError(f"autoencoder={params['autoencoder']} contradicts problem {problem!r}")


def _check_columns(p: Mapping[str, Any]) -> None:
    roles = {r: p[r] for r in ("response_column", "weights_column", "offset_column", "fold_column") if p[r] is not None}
    seen: dict[Any, str] = {}
    for role, col in roles.items():
        if col in seen:
            raise ValueError(f"{role} and {seen[col]} must be different columns, both are {col!r}")
        seen[col] = role


def _check_cv(p: Mapping[str, Any], problem: str) -> None:
    if p["nfolds"] and p["fold_column"] is not None:
        raise ValueError(f"give either nfolds ({p['nfolds']}) or fold_column ({p['fold_column']!r}), not both")
    cv = p["nfolds"] >= 2 or p["fold_column"] is not None
    if p["fold_assignment"] != "AUTO":
        if p["fold_column"] is not None:
            raise ValueError("fold_assignment cannot be combined with fold_column (the column assigns the folds)")
        if not cv:
            raise ValueError(f"fold_assignment={p['fold_assignment']!r} needs nfolds >= 2 (cross-validation)")
        if p["fold_assignment"] == "Stratified" and problem not in ("binomial", "multinomial"):
            raise ValueError(f"fold_assignment 'Stratified' needs a classification problem, not {problem}; "
                             "use AUTO, Random or Modulo")
    if cv and problem == "autoencoder":
        raise ValueError("cross-validation (nfolds/fold_column) is not supported for an autoencoder; "
                         "set nfolds=0 and fold_column=None")
    if p["checkpoint"] is not None and cv:
        raise ValueError("cross-validation is not supported during a checkpoint restart: nfolds must be 0 and "
                         "fold_column None")


def _check_loss_distribution(p: Mapping[str, Any], problem: str, nclasses: int) -> None:
    loss, dist = p["loss"], p["distribution"]
    if problem in ("binomial", "multinomial"):
        if loss not in ("Automatic", "CrossEntropy", "Quadratic"):
            raise ValueError(f"loss {loss!r} is not allowed for classification; allowed: Automatic, CrossEntropy, "
                             "Quadratic")
        if dist not in ("AUTO", "bernoulli", "multinomial"):
            raise ValueError(f"distribution {dist!r} is not allowed for classification; allowed: AUTO, bernoulli, "
                             "multinomial")
        if dist == "bernoulli" and nclasses != 2:
            raise ValueError(f"distribution 'bernoulli' needs 2 classes, the response has {nclasses}; "
                             "use AUTO or multinomial")
        return
    if loss == "CrossEntropy":
        raise ValueError(f"loss 'CrossEntropy' needs a categorical response (classification), not {problem}; "
                         "use Automatic, Quadratic, Absolute, Huber" + ("" if problem == "autoencoder" else
                                                                        " or Quantile"))
    if dist in ("bernoulli", "multinomial"):
        raise ValueError(f"distribution {dist!r} is not allowed for {problem}; it needs a categorical response")
    if problem == "autoencoder":
        if dist not in ("AUTO", "gaussian", "laplace", "huber"):
            raise ValueError(f"distribution {dist!r} is not supported for an autoencoder; allowed: AUTO, gaussian, "
                             "laplace, huber")
        if loss == "Quantile":
            raise ValueError("loss 'Quantile' is not supported for an autoencoder; allowed: Automatic, Quadratic, "
                             "Absolute, Huber")
    pairs = {"gaussian": "Quadratic", "laplace": "Absolute", "huber": "Huber", "quantile": "Quantile"}
    if dist in ("poisson", "gamma", "tweedie") and loss != "Automatic":
        raise ValueError(f"distribution {dist!r} allows only loss 'Automatic' (deviance), got {loss!r}")
    if dist in pairs and loss not in ("Automatic", pairs[dist]):
        raise ValueError(f"distribution {dist!r} allows loss Automatic or {pairs[dist]}, got {loss!r}")


def _check_others(p: Mapping[str, Any], problem: str, nclasses: int) -> None:
    classification = problem in ("binomial", "multinomial")
    act = p["activation"]
    if problem == "autoencoder" and act == "Maxout":
        raise ValueError("activation 'Maxout' is not supported for an autoencoder; use Tanh, Rectifier, "
                         "ExpRectifier or a *WithDropout variant")
    hdr = p["hidden_dropout_ratios"]
    if hdr is not None and act not in _DROPOUT_ACTIVATIONS and any(r > 0 for r in hdr):
        dropouts = ", ".join(sorted(_DROPOUT_ACTIVATIONS))
        raise ValueError(f"hidden_dropout_ratios {hdr} need a dropout activation ({dropouts}), got activation {act!r}")
    if p["offset_column"] is not None and problem != "regression":
        raise ValueError(f"offset_column is supported for regression only, not {problem}")
    if p["balance_classes"] and not classification:
        raise ValueError(f"balance_classes needs a classification problem, not {problem}")
    csf = p["class_sampling_factors"]
    if csf is not None:
        if not p["balance_classes"]:
            raise ValueError("class_sampling_factors needs balance_classes=True")
        if len(csf) != nclasses:
            raise ValueError(f"class_sampling_factors needs one factor per class ({nclasses}), got {len(csf)}")
    if p["sparsity_beta"] != 0 and problem != "autoencoder":
        raise ValueError(f"sparsity_beta applies to autoencoders only (problem is {problem}); set it to 0")
    if problem == "autoencoder" and p["sparsity_beta"] > 0:
        avg = p["average_activation"]
        if act.startswith(("Tanh", "ExpRectifier")) and not -1 < avg < 1:
            raise ValueError(f"average_activation must be in (-1, 1) for {act} with sparsity_beta > 0, got {avg}")
        if act.startswith("Rectifier") and avg <= 0:
            raise ValueError(f"average_activation must be > 0 for {act} with sparsity_beta > 0, got {avg}")
    sm = p["stopping_metric"]
    if sm not in _STOPPING_BY_PROBLEM[problem]:
        raise ValueError(f"stopping_metric {sm!r} is not available for {problem}; allowed: "
                         f"{', '.join(_STOPPING_BY_PROBLEM[problem])}")


def _set(eff: dict[str, Any], notes: list[str], name: str, value: Any, why: str) -> None:
    if eff[name] != value:
        notes.append(f"{name}: {eff[name]!r} -> {value!r} ({why})")
        eff[name] = value


def _resolve(eff: dict[str, Any], notes: list[str], problem: str, nclasses: int, n_nodes: int) -> None:
    dropout = eff["activation"] in _DROPOUT_ACTIVATIONS
    if eff["hidden_dropout_ratios"] is None:
        fill = 0.5 if dropout else 0.0
        _set(eff, notes, "hidden_dropout_ratios", [fill] * len(eff["hidden"]),
             f"default for activation {eff['activation']}")
    if n_nodes == 1 and eff["replicate_training_data"]:
        _set(eff, notes, "replicate_training_data", False, "only useful on more than 1 node")
    if eff["single_node_mode"] and (n_nodes == 1 or not eff["replicate_training_data"]):
        _set(eff, notes, "single_node_mode", False, "only for multi-node training with replicated data")
    if problem == "autoencoder":
        _set(eff, notes, "use_all_factor_levels", True, "mandatory for an autoencoder")
    if eff["nfolds"] >= 2 or eff["fold_column"] is not None:
        _set(eff, notes, "overwrite_with_best_model", False, "the final cross-validated model is the only one scored")
        if eff["fold_column"] is None and eff["fold_assignment"] == "AUTO":
            _set(eff, notes, "fold_assignment", "Random", "AUTO means Random")
    _set(eff, notes, "categorical_encoding", "OneHotInternal", "Deep Learning one-hot encodes categoricals itself")
    if eff["adaptive_rate"]:
        for name in ("rate", "rate_annealing", "momentum_start", "momentum_stable"):
            _set(eff, notes, name, 0.0, "not used by the adaptive learning rate (ADADELTA)")
        for name in ("rate_decay", "momentum_ramp", "nesterov_accelerated_gradient"):
            if _changed(eff, name):
                notes.append(f"{name}: {eff[name]!r} kept but not used by the adaptive learning rate (ADADELTA)")
    else:
        for name in _MANUAL_UNUSED:
            _set(eff, notes, name, 0.0, "only used by the adaptive learning rate")
    if eff["stopping_metric"] == "AUTO":
        _set(eff, notes, "stopping_metric", default_stopping_metric(problem), f"AUTO for {problem}")
    if eff["distribution"] == "AUTO":
        if problem in ("binomial", "multinomial"):
            dist = "bernoulli" if nclasses == 2 else "multinomial"
        else:
            dist = {"Absolute": "laplace", "Quantile": "quantile", "Huber": "huber"}.get(eff["loss"], "gaussian")
        _set(eff, notes, "distribution", dist, f"AUTO for {problem} with loss {eff['loss']}")
    if eff["loss"] == "Automatic":
        loss = {"gaussian": "Quadratic", "laplace": "Absolute", "quantile": "Quantile", "huber": "Huber",
                "bernoulli": "CrossEntropy", "multinomial": "CrossEntropy"}.get(eff["distribution"])
        if loss is not None:  # poisson, gamma and tweedie keep Automatic: their deviance
            _set(eff, notes, "loss", loss, f"Automatic for distribution {eff['distribution']}")
    if eff["reproducible"]:
        why = "reproducible training"
        _set(eff, notes, "force_load_balance", True, why)
        _set(eff, notes, "score_each_iteration", True, why)
        _set(eff, notes, "replicate_training_data", False, why)
        if eff["train_samples_per_iteration"] == -2:
            _set(eff, notes, "train_samples_per_iteration", -1, why + " does not auto-tune")
    if eff["seed"] == -1:
        _set(eff, notes, "seed", secrets.randbits(63), "-1 draws a random seed")
    _note_unused(eff, notes, problem)


def _note_unused(eff: Mapping[str, Any], notes: list[str], problem: str) -> None:
    """Say which user-changed parameters have no effect in this combination (H2O hides them)."""
    unused: list[tuple[str, str]] = []
    if eff["initial_weight_distribution"] == "UniformAdaptive":
        unused.append(("initial_weight_scale", "initial_weight_distribution is UniformAdaptive"))
    if problem in ("binomial", "multinomial"):
        unused.append(("regression_stop", "classification"))
    else:
        unused.append(("classification_stop", problem))
    if eff["validation_frame"] is None:
        unused += [("score_validation_samples", "no validation_frame"), ("score_validation_sampling",
                                                                          "no validation_frame")]
    unused += [(n, "elastic_averaging is not supported") for n in ("elastic_averaging_moving_rate",
                                                                    "elastic_averaging_regularization")]
    for name, dist in (("tweedie_power", "tweedie"), ("quantile_alpha", "quantile"), ("huber_alpha", "huber")):
        if eff["distribution"] != dist:
            unused.append((name, f"distribution is {eff['distribution']}"))
    if eff["nfolds"] < 2 and eff["fold_column"] is None:
        unused += [(n, "no cross-validation") for n in ("keep_cross_validation_models",
                                                        "keep_cross_validation_predictions",
                                                        "keep_cross_validation_fold_assignment")]
    for name, why in unused:
        if _changed(eff, name):
            notes.append(f"{name}: {eff[name]!r} has no effect ({why})")


def effective_params(params: Mapping[str, Any], *, problem: str, nclasses: int,
                     n_nodes: int) -> tuple[dict[str, Any], list[str]]:
    """The parameters training really uses, and notes on what changed and why.

    ``problem`` is regression, binomial, multinomial or autoencoder; ``nclasses`` is 1 for
    regression and autoencoders.  Incompatible combinations raise ValueError naming the parameters
    and the allowed values.  The result is a fixed point: feeding it back returns it unchanged.

    >>> eff, notes = effective_params({"loss": "Absolute", "seed": 1}, problem="regression", nclasses=1, n_nodes=1)
    >>> eff["distribution"], eff["stopping_metric"], eff["replicate_training_data"]
    ('laplace', 'deviance', False)
    """
    p = validate(params)
    _check_problem(p, problem, nclasses, n_nodes)
    _check_columns(p)
    _check_cv(p, problem)
    _check_loss_distribution(p, problem, nclasses)
    _check_others(p, problem, nclasses)
    eff = dict(p)
    notes: list[str] = []
    _resolve(eff, notes, problem, nclasses, n_nodes)
    return eff, notes


# ----------------------------------------------------------------------------------------- checkpoint

def _canon(v: Any) -> Any:
    if isinstance(v, (list, tuple, np.ndarray)):
        return tuple(_canon(x) for x in (v.tolist() if isinstance(v, np.ndarray) else v))
    if isinstance(v, np.generic):
        return v.item()
    return v


def _inactive(p: Mapping[str, Any]) -> frozenset[str]:
    """Parameters that have no effect given the checkpoint's (immutable) adaptive_rate."""
    return frozenset(_ADADELTA_UNUSED if p.get("adaptive_rate", True) else _MANUAL_UNUSED)


def check_checkpoint(old: Mapping[str, Any], new: Mapping[str, Any], *, epochs_trained: float | None = None) -> None:
    """Raise ValueError if a restart from a checkpoint with parameters ``old`` may not use ``new``.

    Pass effective parameters for both (``model.params`` and :func:`effective_params` of the new
    request).  In ``new``, the automatic values (distribution AUTO, loss Automatic, stopping_metric
    AUTO, ...) mean "as the checkpoint", so they never trip the check (H2O issue #16717).
    ``epochs_trained`` (or ``old["_epochs_trained"]``) is how far the checkpoint got: the new
    ``epochs`` must exceed it.  Parameters unused by the optimiser in use are not compared.

    >>> old = {"distribution": "multinomial", "hidden": [10], "epochs": 1.0, "_epochs_trained": 1.0}
    >>> check_checkpoint(old, {"distribution": "AUTO", "hidden": [10], "epochs": 5.0})
    >>> check_checkpoint(old, {"activation": "Tanh", "hidden": [10], "epochs": 5.0})
    Traceback (most recent call last):
    ...
    ValueError: checkpoint restart cannot change 'activation': 'Rectifier' -> 'Tanh'
    """
    done = epochs_trained if epochs_trained is not None else old.get("_epochs_trained")
    if done is None or not _is_real(done):
        raise ValueError("check_checkpoint needs the epochs already trained "
                         "(epochs_trained= or old['_epochs_trained'])")
    for name in new:
        if name not in PARAMS:
            raise _unknown(name)

    def get(src: Mapping[str, Any], name: str) -> Any:
        value = src.get(name)
        return _default(PARAMS[name]) if value is None else value

    new_epochs = get(new, "epochs")
    if not new_epochs > done:
        raise ValueError(f"epochs ({new_epochs}) must be greater than the epochs already trained by the "
                         f"checkpoint ({done})")
    if get(new, "nfolds") != 0 or get(new, "fold_column") is not None:
        raise ValueError("nfolds must be 0 and fold_column None: cross-validation is not supported during "
                         "checkpoint restarts")
    if (old.get("validation_frame") is None) != (new.get("validation_frame") is None):
        raise ValueError("checkpoint restart: presence of validation_frame must agree with the checkpointed model")
    skip = _inactive(old)
    for name in PARAMS:
        if name in CHECKPOINT_MUTABLE or name in skip:
            continue
        before, after = get(old, name), get(new, name)
        if name in _INHERIT and (after == _INHERIT[name] or name not in new):
            continue
        if _canon(before) != _canon(after):
            raise ValueError(f"checkpoint restart cannot change {name!r}: {before!r} -> {after!r}")


# ------------------------------------------------------------------------------------------------ docs

def _default_text(p: Param) -> str:
    d = p.default
    if d is None:
        return "None"
    if isinstance(d, tuple):
        return str(list(d))
    if isinstance(d, float):
        return _num(d) if d == math.inf else repr(d)
    return repr(d) if isinstance(d, str) else str(d)


def param_docs_table() -> str:
    """A markdown table (name, default, meaning) of every parameter, for the README.

    >>> param_docs_table().splitlines()[0]
    '| name | default | meaning |'
    """
    rows = ["| name | default | meaning |", "|---|---|---|"]
    for p in PARAMS.values():
        meaning = p.doc
        if p.kind == "enum":
            meaning += " One of: " + ", ".join(p.allowed) + "."
        elif p.kind == "enum_list":
            meaning += " Any of: " + ", ".join(p.allowed) + "."
        elif p.kind in ("int", "float") and (p.min is not None or p.max is not None):
            meaning += f" Must be {p.range_text()}."
        if p.deprecated:
            meaning = "**Deprecated.** " + meaning
        if p.name in UNSUPPORTED:
            meaning = "**Not supported** (refused when set). " + meaning
        rows.append(f"| `{p.name}` | `{_default_text(p)}` | {meaning.replace('|', '/')} |")
    return "\n".join(rows) + "\n"
