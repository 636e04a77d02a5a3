"""Deep Learning parameters: the one table (name, default, type, range, help, group) and the rules between them.

Three steps, all before any job starts:

* :func:`validate` checks each user value on its own (name, type, range, enum spelling) and returns
  the full parameter dict with H2O-3's defaults filled in (``None`` also means "the default", as in
  h2o-py where ``None`` is simply not sent); :data:`PARAMS` is an :class:`algos.params.ParamTable`.
* :func:`effective_params` applies H2O's ``DeepLearningParameters.validate`` combination checks and
  ``Sanity.modifyParms`` for a known problem (regression / binomial / multinomial / autoencoder) and
  cloud size, returning the values training really uses plus human-readable notes.
* :func:`check_checkpoint` says whether a checkpoint restart may change what it changes.

The kernels' hyper-parameter arrays are made from these values by :mod:`algos.deeplearning.hyper`; nothing
restates a default or a range. Aliases: loss ``MeanSquare`` -> ``Quadratic`` (old H2O/booklet name) and
distribution ``bernouilli`` -> ``bernoulli`` (the booklet's misspelling). ``y`` is an alias of
``response_column``.

Two parameters are aquifer additions (expert group; ``Param.extension``), so that a saved model says how it
was trained and no environment variable changes what training computes:

* ``thread_mode``: how a node's compute threads share an iteration. ``team`` (per-sample SGD: every sample
  trained by all threads, each owning a slice of every layer's neurons: the one-thread result), ``replicas``
  (each thread trains its own copy; the node averages them), ``hogwild`` (H2O's: all threads on one model,
  no locks), ``sequential`` (one model, the node's chunks in chunk order: what ``reproducible`` uses).
  ``AUTO`` is ``team`` for ``mini_batch_size`` 1, ``replicas`` otherwise; ``reproducible`` forces
  ``sequential``. The effective plan is recorded in ``model.params``.
* ``block_momentum``: carry the averaged step of several models over iterations (BMUF, see
  :mod:`algos.deeplearning.trainer`); False gives H2O's plain model average.

Project decisions that differ from H2O (each deliberate):

* ``max_w2`` stays as given.  H2O means to set it to 1000 for Rectifier, but compares the default
  (``Float.MAX_VALUE``) with ``+inf``, so that never fires; we keep its effective behaviour: no cap.
  Our default is ``inf`` (H2O's ``Float.MAX_VALUE`` is accepted too and also means "no cap").
* ``mini_batch_size > 1`` is honoured (H2O resets it to 1 with a warning): the kernels train real
  mini-batches; ``rho`` and ``epsilon`` left at H2O's defaults then take ADADELTA's mini-batch setting
  (:data:`MINI_BATCH_ADADELTA`: 0.95 and 1e-6), any other value is kept.
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

The groups (``Param.level``) follow H2O-3's ``DeepLearningV3`` / ``ModelParametersSchemaV3`` API levels
(critical -> basic, secondary -> advanced, expert), as H2O Flow shows them.

Example
-------
>>> p = validate({"activation": "rectifier_with_dropout", "hidden": 64, "epochs": 2})
>>> p["activation"], p["hidden"], p["hidden_dropout_ratios"]
('RectifierWithDropout', [64], None)
>>> eff, notes = effective_params({**p, "seed": 7}, problem="multinomial", nclasses=10, n_nodes=1)
>>> eff["distribution"], eff["loss"], eff["hidden_dropout_ratios"], eff["stopping_metric"], eff["thread_mode"]
('multinomial', 'CrossEntropy', [0.5], 'logloss', 'team')
"""
from __future__ import annotations

import math
import secrets
from typing import Any, Mapping

import numpy as np

from scoring.metrics import STOPPING_METRICS, default_stopping_metric

from ..params import COMMON, Param, ParamTable, is_int, is_real

__all__ = [
    "ACTIVATIONS", "CHECKPOINT_MUTABLE", "PARAMS", "PARAM_ALIASES", "PROBLEMS", "THREAD_MODES",
    "auto_distribution", "check_checkpoint", "check_for_problem", "default_dropout_ratios", "effective_params",
    "keep_checkpoint_adadelta", "param_docs_table", "validate",
]

PROBLEMS: tuple[str, ...] = ("regression", "binomial", "multinomial", "autoencoder")
INT32_MAX = 2 ** 31 - 1

#: Hidden-layer activations (the kernels' codes for them are in :mod:`algos.deeplearning.hyper`).
ACTIVATIONS: tuple[str, ...] = ("Tanh", "TanhWithDropout", "Rectifier", "RectifierWithDropout", "Maxout",
                                "MaxoutWithDropout", "ExpRectifier", "ExpRectifierWithDropout")
DROPOUT_ACTIVATIONS = frozenset(a for a in ACTIVATIONS if a.endswith("WithDropout"))
LOSSES: tuple[str, ...] = ("Automatic", "CrossEntropy", "Quadratic", "Absolute", "Huber", "Quantile")
DISTRIBUTIONS: tuple[str, ...] = ("AUTO", "bernoulli", "multinomial", "gaussian", "poisson", "gamma", "tweedie",
                                  "laplace", "huber", "quantile")
#: H2O-3 training rules aquifer deliberately does not copy; ``h2o_quirks`` reproduces them (the accuracy benchmark
#: measures each: docs/architecture.md "Where we differ from H2O").
H2O_QUIRKS: tuple[str, ...] = ("bias_adadelta", "momentum_ramp", "dropout_gradient", "exp_rectifier_derivative",
                               "autoencoder_output_gradient")
#: How a node's threads train an iteration (``thread_mode``; see the module docstring).
THREAD_MODES: tuple[str, ...] = ("team", "replicas", "hogwild", "sequential")


def _p(name: str, default: Any, kind: str, doc: str, **kw: Any) -> Param:
    return Param(name, default, kind, doc, **kw)


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


#: Other names accepted for a parameter (h2o-py's train() argument ``y``).
PARAM_ALIASES: dict[str, str] = {"y": "response_column"}
# H2O-3 parameters outside the booklet's Appendix A that aquifer does not implement: refused when set
# (accepting and ignoring them would train something other than what was asked)
UNSUPPORTED = {
    "pretrained_autoencoder": "initialising from an autoencoder's weights is not implemented",
    "initial_weights": "initial weight frames are not implemented",
    "initial_biases": "initial bias frames are not implemented",
    "elastic_averaging": "nodes' models are averaged (H2O's default), elastic averaging is not implemented",
}

PARAMS: ParamTable = ParamTable("Deep Learning", [
    # -- data and model identity
    COMMON["model_id"],
    COMMON["training_frame"],
    COMMON["validation_frame"],
    COMMON["x"],
    COMMON["response_column"],
    COMMON["ignored_columns"],
    COMMON["weights_column"],
    _p("offset_column", None, "column", "Per-row offset added before the link function (regression only)."),
    _p("ignore_const_cols", True, "bool", "Drop constant training columns.", level="basic"),
    _p("checkpoint", None, "model_or_key", "Model (or key) to resume training from."),
    _p("pretrained_autoencoder", None, "model_or_key", "Autoencoder whose weights initialise this model."),
    _p("overwrite_with_best_model", True, "bool", "Keep the best scored model as the final one.", level="expert"),
    # -- network
    _p("autoencoder", False, "bool", "Train an autoencoder (unsupervised reconstruction)."),
    _p("use_all_factor_levels", True, "bool", "One-hot every level (else drop the first); forced for autoencoders."),
    _p("standardize", True, "bool", "Standardize numeric inputs (and the response for identity-link regression)."),
    _p("activation", "Rectifier", "enum", "Hidden-layer activation function.", allowed=ACTIVATIONS, level="basic"),
    _p("hidden", (200, 200), "int_list", "Hidden layer sizes; [] for no hidden layer.", min=1, level="basic"),
    _p("initial_weight_distribution", "UniformAdaptive", "enum", "Initial weight distribution.",
       allowed=("UniformAdaptive", "Uniform", "Normal"), level="expert"),
    _p("initial_weight_scale", 1.0, "float", "Scale of Uniform/Normal initial weights.", min=0, min_open=True,
       level="expert"),
    _p("initial_weights", None, "frame_list", "One weight frame (or None) per layer: len(hidden)+1.", level="expert"),
    _p("initial_biases", None, "frame_list", "One bias frame (or None) per layer: len(hidden)+1.", level="expert"),
    _p("loss", "Automatic", "enum", "Loss function; Automatic follows the distribution.", allowed=LOSSES,
       aliases=(("MeanSquare", "Quadratic"),)),
    _p("distribution", "AUTO", "enum", "Response distribution; AUTO follows the response and the loss.",
       allowed=DISTRIBUTIONS, aliases=(("bernouilli", "bernoulli"),)),
    _p("tweedie_power", 1.5, "float", "Tweedie variance power (distribution tweedie).",
       min=1, max=2, min_open=True, max_open=True),
    _p("quantile_alpha", 0.5, "float", "Quantile to fit (distribution quantile).", min=0, max=1),
    _p("huber_alpha", 0.9, "float", "Quantile of |residual| that sets Huber's delta (distribution huber).",
       min=0, max=1),
    # -- training length and distribution over the cloud
    _p("epochs", 10.0, "float", "Passes over the training data (may be fractional).", min=0, min_open=True,
       level="basic"),
    _p("train_samples_per_iteration", -2, "int",
       "Rows per map/reduce iteration: 0 one epoch, -1 all (replicated) data, -2 auto-tune.", min=-2),
    _p("target_ratio_comm_to_comp", 0.05, "float", "Target communication/computation ratio for auto-tuning.",
       min=0, min_open=True, level="expert"),
    COMMON["seed"],
    _p("force_load_balance", True, "bool", "Keep every core busy on small data: each node's sampled rows are split "
       "evenly over its threads (H2O rechunks the frame).", level="expert"),
    _p("replicate_training_data", True, "bool", "Copy the whole training set to every node (multi-node only)."),
    _p("single_node_mode", False, "bool", "Train on one node only (multi-node, replicated data).", level="expert"),
    _p("shuffle_training_data", False, "bool", "Shuffle training rows on each node.", level="expert"),
    _p("reproducible", False, "bool", "Reproducible training: one model, one thread, the chunks in order (slow).", level="expert"),
    _p("mini_batch_size", 1, "int", "Rows per gradient step (1 = online SGD).", min=1, level="expert"),
    _p("thread_mode", "AUTO", "enum", "How a node's threads share an iteration: team (per-sample SGD, every sample "
       "by all threads), replicas (a model per thread, averaged), hogwild (one model, no locks), sequential (one "
       "model, chunks in order); AUTO: team, or replicas when mini_batch_size > 1.",
       allowed=("AUTO",) + THREAD_MODES, level="expert", extension=True),
    _p("block_momentum", True, "bool", "Carry the averaged step over iterations when several models (nodes, "
       "replicas) are averaged (momentum 1 - 1/n, BMUF); False: H2O's plain average.", level="expert",
       extension=True),
    _p("elastic_averaging", False, "bool", "Elastic averaging between nodes (experimental).", level="expert"),
    _p("elastic_averaging_moving_rate", 0.9, "float", "Elastic averaging moving rate.", min=0, max=1,
       level="expert"),
    _p("elastic_averaging_regularization", 1e-3, "float", "Elastic averaging regularization strength.", min=0,
       level="expert"),
    # -- optimiser
    _p("adaptive_rate", True, "bool", "ADADELTA adaptive learning rate."),
    _p("rho", 0.99, "float", "ADADELTA decay factor (at this default, 0.95 with mini_batch_size > 1).", min=0,
       max=1, max_open=True, level="expert"),
    _p("epsilon", 1e-8, "float", "ADADELTA smoothing term (at this default, 1e-6 with mini_batch_size > 1).",
       min=0, level="expert"),
    _p("rate", 0.005, "float", "Learning rate (adaptive_rate off).", min=0, level="expert"),
    _p("rate_annealing", 1e-6, "float", "Rate annealing: rate / (1 + rate_annealing * samples).", min=0,
       level="expert"),
    _p("rate_decay", 1.0, "float", "Per-layer rate factor: layer L uses rate * rate_decay^(L-1).",
       min=0, min_open=True, level="expert"),
    _p("momentum_start", 0.0, "float", "Momentum at the start of training.", min=0, max=1, max_open=True,
       level="expert"),
    _p("momentum_ramp", 1e6, "float", "Training samples over which momentum ramps up.", min=0, min_open=True,
       level="expert"),
    _p("momentum_stable", 0.0, "float", "Momentum after the ramp.", min=0, max=1, max_open=True, level="expert"),
    _p("nesterov_accelerated_gradient", True, "bool", "Nesterov momentum (adaptive_rate off).", level="expert"),
    # -- regularisation
    _p("input_dropout_ratio", 0.0, "float", "Fraction of input features dropped per row.", min=0, max=1,
       max_open=True),
    _p("hidden_dropout_ratios", None, "float_list", "Dropout per hidden layer (*WithDropout; default 0.5 each).",
       min=0, max=1, max_open=True),
    _p("l1", 0.0, "float", "L1 weight penalty.", min=0),
    _p("l2", 0.0, "float", "L2 weight penalty.", min=0),
    _p("max_w2", math.inf, "float", "Cap on the sum of squared incoming weights per neuron.", min=0, min_open=True,
       max=math.inf, level="expert"),
    _p("average_activation", 0.0, "float", "Target average activation of a sparse autoencoder.", level="expert"),
    _p("sparsity_beta", 0.0, "float", "Sparsity regularization of a sparse autoencoder.", min=0, level="expert"),
    # -- scoring and stopping
    _p("score_interval", 5.0, "float", "Minimum seconds between scorings.", min=0),
    _p("score_training_samples", 10000, "int", "Training rows sampled for scoring (0 = all).", min=0),
    _p("score_validation_samples", 0, "int", "Validation rows sampled for scoring (0 = all).", min=0),
    _p("score_duty_cycle", 0.1, "float", "Maximum fraction of time spent scoring.", min=0, max=1),
    _p("score_each_iteration", False, "bool", "Score after every iteration."),
    _p("score_validation_sampling", "Uniform", "enum", "How validation rows are sampled for scoring.",
       allowed=("Uniform", "Stratified"), level="expert"),
    _p("classification_stop", 0.0, "float", "Stop when training classification error <= this (-1 disables).",
       min=-1, level="expert"),
    _p("regression_stop", 1e-6, "float", "Stop when training MSE <= this (-1 disables).", min=-1, level="expert"),
    _p("stopping_rounds", 5, "int", "Early stopping window in scoring events (0 disables).", min=0),
    _p("stopping_metric", "AUTO", "enum", "Metric for early stopping and the best model.",
       allowed=("AUTO",) + STOPPING_METRICS),
    _p("stopping_tolerance", 0.0, "float", "Relative improvement needed to keep training.", min=0),
    COMMON["max_runtime_secs"],
    # -- reporting
    _p("quiet_mode", False, "bool", "Less log output.", level="expert"),
    _p("max_confusion_matrix_size", 20, "int", "Largest confusion matrix (classes) printed.", min=1),
    _p("max_hit_ratio_k", 10, "int", "Top-K for the hit-ratio table (multinomial; 0 disables).", min=0),
    _p("variable_importances", True, "bool", "Compute Gedeon variable importances.", level="basic"),
    _p("export_weights_and_biases", False, "bool", "Store weights and biases as frames at each scoring.",
       level="expert"),
    COMMON["export_checkpoints_dir"],
    _p("diagnostics", True, "bool", "Diagnostics are always gathered (H2O-2 switch).", deprecated=True,
       level="expert"),
    _p("col_major", False, "bool", "Column-major input weights are not supported (H2O-2 switch).", deprecated=True,
       level="expert"),
    # -- input handling
    _p("fast_mode", True, "bool", "Skip back-propagation into neurons whose gradient is zero.", level="expert"),
    _p("h2o_quirks", (), "enum_list", "H2O-3 training rules to reproduce where aquifer deliberately trains otherwise "
       "(to measure them: tools/bench/accuracy.py --set; docs/architecture.md).", allowed=H2O_QUIRKS,
       level="expert", extension=True),
    _p("missing_values_handling", "MeanImputation", "enum", "Numeric NAs: impute the mean, or skip the row.",
       allowed=("MeanImputation", "Skip"), level="expert"),
    _p("sparse", False, "bool", "Sparse input handling (no centering of numeric columns).", level="expert"),
    _p("max_categorical_features", INT32_MAX, "int", "Most one-hot features per categorical column (hashing).",
       min=1, max=INT32_MAX, level="expert"),
    _p("categorical_encoding", "AUTO", "enum", "Categorical encoding; AUTO is OneHotInternal.",
       allowed=("AUTO", "OneHotInternal")),
    # -- class balance
    _p("balance_classes", False, "bool", "Over/under-sample classes to balance them (classification)."),
    _p("class_sampling_factors", None, "float_list", "Per-class sampling factors (needs balance_classes).",
       min=0, min_open=True, level="expert"),
    _p("max_after_balance_size", 5.0, "float", "Largest training size after balancing, relative to the original.",
       min=0, min_open=True, level="expert"),
    # -- cross-validation
    COMMON["nfolds"],
    COMMON["fold_column"],
    COMMON["fold_assignment"],
    COMMON["keep_cross_validation_models"],
    COMMON["keep_cross_validation_predictions"],
    COMMON["keep_cross_validation_fold_assignment"],
], aliases=PARAM_ALIASES, unsupported=UNSUPPORTED, check=_check_lengths)

#: Parameters a checkpoint restart may change (``Sanity.cp_modifiable`` plus run-level parameters
#: H2O never compares: the frames, the model id, the time limit, class balancing, weights).
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
    "pretrained_autoencoder", "thread_mode", "block_momentum", "h2o_quirks",
    # run-level
    "export_checkpoints_dir",
    "model_id", "training_frame", "validation_frame", "weights_column", "max_runtime_secs", "score_each_iteration",
    "balance_classes", "class_sampling_factors", "max_after_balance_size",
    "keep_cross_validation_models", "keep_cross_validation_predictions", "keep_cross_validation_fold_assignment",
})

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
    return PARAMS.validate(params)


def param_docs_table() -> str:
    """A markdown table (name, default, group, meaning) of every parameter, for the README.

    >>> param_docs_table().splitlines()[0]
    '| name | default | group | meaning |'
    """
    return PARAMS.docs_table()


# ---------------------------------------------------------------------------------- effective params

def default_dropout_ratios(activation: str, n_hidden: int) -> list[float]:
    """``hidden_dropout_ratios`` when not given: 0.5 per hidden layer for a *WithDropout activation, else 0.

    >>> default_dropout_ratios("TanhWithDropout", 2), default_dropout_ratios("Tanh", 1)
    ([0.5, 0.5], [0.0])
    """
    return [0.5 if activation in DROPOUT_ACTIVATIONS else 0.0] * n_hidden


def auto_distribution(problem: str, nclasses: int, loss: str) -> str:
    """What ``distribution="AUTO"`` means: bernoulli/multinomial for classification, else the loss's distribution.

    >>> auto_distribution("regression", 1, "Absolute"), auto_distribution("binomial", 2, "Automatic")
    ('laplace', 'bernoulli')
    """
    if problem in ("binomial", "multinomial"):
        return "bernoulli" if nclasses == 2 else "multinomial"
    return {"Absolute": "laplace", "Quantile": "quantile", "Huber": "huber"}.get(loss, "gaussian")


def _changed(p: Mapping[str, Any], name: str) -> bool:
    return PARAMS.changed(p, name)


def _check_problem(params: Mapping[str, Any], problem: str, nclasses: int, n_nodes: int) -> None:
    if problem not in PROBLEMS:
        raise ValueError(f"problem must be one of {', '.join(PROBLEMS)}, got {problem!r}")
    if not is_int(nclasses) or not is_int(n_nodes):
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
    if hdr is not None and act not in DROPOUT_ACTIVATIONS and any(r > 0 for r in hdr):
        dropouts = ", ".join(sorted(DROPOUT_ACTIVATIONS))
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
    if p["thread_mode"] == "team" and p["mini_batch_size"] > 1:
        raise ValueError("thread_mode 'team' splits per-sample SGD between threads; with mini_batch_size > 1 use "
                         "replicas, hogwild, sequential or AUTO")
    if p["adaptive_rate"]:     # H2O's two ADADELTA rules (epsilon 0 made the model unstable in training instead)
        if p["rho"] > 0 and p["epsilon"] <= 0:
            raise ValueError(f"epsilon must be > 0 if rho is > 0 (ADADELTA divides by E[g^2] + epsilon), got "
                             f"{p['epsilon']}")
        if p["epsilon"] > 0 and p["rho"] <= 0:
            raise ValueError(f"rho must be > 0 if epsilon is > 0 (ADADELTA's moving averages), got {p['rho']}")


def check_for_problem(p: Mapping[str, Any], problem: str, nclasses: int) -> None:
    """The combination rules of ``p`` (validated values) that depend on the problem: loss and distribution,
    dropout, offset, class balance, sparsity, stopping metric, thread mode. ValueError names what is wrong.

    >>> check_for_problem(validate({"loss": "CrossEntropy"}), "regression", 1)
    Traceback (most recent call last):
    ...
    ValueError: loss 'CrossEntropy' needs a categorical response (classification), not regression; use Automatic, \
Quadratic, Absolute, Huber or Quantile
    """
    _check_loss_distribution(p, problem, nclasses)
    _check_others(p, problem, nclasses)


# ADADELTA for mini-batches: Zeiler's own setting for batches of 100 (ADADELTA paper, 2012, section 4.1). H2O's
# rho 0.99 / epsilon 1e-8 are for per-sample steps: a step starts near sqrt(epsilon) and grows by about
# (1 - rho) * epsilon per step, so with batch_size times fewer steps it stays small for most of the run (the
# booklet's network, batches of 128, 10 epochs: 14.25 % test error, 12.86 % with these; docs/architecture.md).
MINI_BATCH_ADADELTA = {"rho": 0.95, "epsilon": 1e-6}


def keep_checkpoint_adadelta(eff: dict[str, Any], params: Mapping[str, Any], old: Mapping[str, Any]) -> list[str]:
    """A checkpoint restart goes on with the checkpoint's rho/epsilon where ``params`` (the request) leaves them at
    H2O's defaults: they may not change, while ``mini_batch_size`` may, which would resolve them differently.
    Returns notes on what it set, as :func:`effective_params` does.

    >>> eff = {"rho": 0.95, "epsilon": 1e-6}
    >>> keep_checkpoint_adadelta(eff, {"mini_batch_size": 16}, {"rho": 0.99, "epsilon": 1e-8})[0]
    'rho: 0.95 -> 0.99 (as the checkpoint: it may not change at a restart)'
    """
    notes: list[str] = []
    for name in MINI_BATCH_ADADELTA:
        if (name not in params or not _changed(params, name)) and name in old:
            _set(eff, notes, name, old[name], "as the checkpoint: it may not change at a restart")
    return notes


def _set(eff: dict[str, Any], notes: list[str], name: str, value: Any, why: str) -> None:
    if eff[name] != value:
        notes.append(f"{name}: {eff[name]!r} -> {value!r} ({why})")
        eff[name] = value


def _resolve(eff: dict[str, Any], notes: list[str], problem: str, nclasses: int, n_nodes: int) -> None:
    if eff["hidden_dropout_ratios"] is None:
        _set(eff, notes, "hidden_dropout_ratios", default_dropout_ratios(eff["activation"], len(eff["hidden"])),
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
        if eff["mini_batch_size"] > 1:
            for name, value in MINI_BATCH_ADADELTA.items():
                if not _changed(eff, name):
                    _set(eff, notes, name, value, f"ADADELTA's mini-batch setting for mini_batch_size "
                                                  f"{eff['mini_batch_size']}; H2O's default is for per-sample steps")
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
        _set(eff, notes, "distribution", auto_distribution(problem, nclasses, eff["loss"]),
             f"AUTO for {problem} with loss {eff['loss']}")
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
        _set(eff, notes, "thread_mode", "sequential", why + ": one model, the chunks in order")
    elif eff["thread_mode"] == "AUTO":
        mode = "team" if eff["mini_batch_size"] == 1 else "replicas"
        _set(eff, notes, "thread_mode", mode, f"AUTO for mini_batch_size {eff['mini_batch_size']}")
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
    check_for_problem(p, problem, nclasses)
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
    if done is None or not is_real(done):
        raise ValueError("check_checkpoint needs the epochs already trained "
                         "(epochs_trained= or old['_epochs_trained'])")
    for name in new:
        if name not in PARAMS:
            raise PARAMS.unknown(name)

    def get(src: Mapping[str, Any], name: str) -> Any:
        value = src.get(name)
        return PARAMS[name].default_value() if value is None else value

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


