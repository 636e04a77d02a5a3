"""The Deep Learning parameter table as the REST API and the training form show it.

:func:`parameter_table` is the one place ``web/`` reads the algorithm's parameter table (today
``algos.dl_params.PARAMS``): repoint it, and only it, when the table moves. Each parameter gets the group H2O
Flow shows it in: H2O-3's schema API levels (``DeepLearningV3`` and ``ModelParametersSchemaV3``: critical,
secondary, expert) shown as basic, advanced and expert. A table whose entries carry a ``level`` is used as
is; otherwise the group comes from :data:`FLOW_GROUPS` (parameters not listed there are expert, as most of
DeepLearningV3's are). Values are never checked here: the estimator checks them with the same table.

>>> rows = parameter_table()
>>> next(r for r in rows if r["name"] == "hidden")["group"], next(r for r in rows if r["name"] == "rho")["group"]
('basic', 'expert')
"""
from __future__ import annotations

import math
from typing import Any

GROUPS = ("basic", "advanced", "expert")

#: H2O-3's API level of each Deep Learning parameter that is not expert (critical -> basic, secondary ->
#: advanced); ``x`` is h2o-py's predictor list, which Flow shows as the columns not ignored.
FLOW_GROUPS: dict[str, str] = {
    **dict.fromkeys(("model_id", "training_frame", "validation_frame", "nfolds", "response_column", "x",
                     "ignored_columns", "ignore_const_cols", "activation", "hidden", "epochs",
                     "variable_importances"), "basic"),
    **dict.fromkeys(("keep_cross_validation_models", "fold_assignment", "fold_column", "weights_column",
                     "offset_column", "score_each_iteration", "balance_classes", "max_confusion_matrix_size",
                     "max_hit_ratio_k", "checkpoint", "autoencoder", "use_all_factor_levels", "standardize",
                     "train_samples_per_iteration", "adaptive_rate", "input_dropout_ratio", "hidden_dropout_ratios",
                     "l1", "l2", "loss", "distribution", "tweedie_power", "quantile_alpha", "huber_alpha",
                     "score_interval", "score_training_samples", "score_validation_samples", "score_duty_cycle",
                     "replicate_training_data", "stopping_rounds", "stopping_metric", "stopping_tolerance",
                     "max_runtime_secs", "categorical_encoding"), "advanced"),
}


def json_value(x: Any) -> Any:
    """A parameter value for JSON: tuples as lists, infinity (an allowed bound or value) as "inf"/"-inf"."""
    if isinstance(x, (list, tuple)):
        return [json_value(v) for v in x]
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def parameter_table() -> list[dict]:
    """Every Deep Learning parameter in table order: ``name, kind, default, help, group, allowed, min, max,
    min_open, max_open, deprecated, supported`` (``supported`` False: refused when set)."""
    from algos import dl_params
    rows = []
    for name, p in dl_params.PARAMS.items():
        rows.append({"name": name, "kind": p.kind, "default": json_value(p.default), "help": p.doc,
                     "group": getattr(p, "level", None) or FLOW_GROUPS.get(name, "expert"),
                     "allowed": list(p.allowed), "min": json_value(p.min), "max": json_value(p.max),
                     "min_open": p.min_open, "max_open": p.max_open, "deprecated": p.deprecated,
                     "supported": name not in dl_params.UNSUPPORTED})
    return rows
