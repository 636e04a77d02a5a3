"""Portable scoring: H2O's metrics and distributions with numpy only (pandas optional, for tables).

>>> from scoring import make_metrics
>>> make_metrics("autoencoder", [0.0, 2.0]).mse()
1.0
"""

from .distributions import DISTRIBUTIONS, LINKS, deviance, link, link_inv, link_name, resolve_distribution
from .metrics import (
    CRITERIA,
    MORE_IS_BETTER,
    STOPPING_METRICS,
    ModelMetrics,
    ModelMetricsAutoEncoder,
    ModelMetricsBinomial,
    ModelMetricsMultinomial,
    ModelMetricsRegression,
    default_stopping_metric,
    make_metrics,
    metrics_from_dict,
)

__all__ = [
    "CRITERIA", "DISTRIBUTIONS", "LINKS", "MORE_IS_BETTER", "STOPPING_METRICS",
    "ModelMetrics", "ModelMetricsAutoEncoder", "ModelMetricsBinomial", "ModelMetricsMultinomial",
    "ModelMetricsRegression", "default_stopping_metric", "deviance", "link", "link_inv", "link_name",
    "make_metrics", "metrics_from_dict", "resolve_distribution",
]
