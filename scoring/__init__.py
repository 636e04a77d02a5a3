"""Portable scoring with numpy only (pandas optional): exported models' scorer, H2O's metrics and distributions.

Nothing here imports the cloud, frames, algorithms, ZeroMQ or Numba, so a production box with numpy alone can
score a model exported by ``model.download_mojo(path)``: ``scoring.load_scorer(path).predict(rows)``, or
``python -m scoring.score MODEL.zip in.csv out.csv``; ``python -m scoring.pojo MODEL.zip DIR`` writes its POJO.

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
from .model_file import ModelFormatError
from .network import Network
from .portable import PortableModel, prediction_names, probability_name
from .scorer import Scorer, load_scorer

__all__ = [
    "CRITERIA", "DISTRIBUTIONS", "LINKS", "MORE_IS_BETTER", "STOPPING_METRICS",
    "ModelMetrics", "ModelMetricsAutoEncoder", "ModelMetricsBinomial", "ModelMetricsMultinomial",
    "ModelMetricsRegression", "default_stopping_metric", "deviance", "link", "link_inv", "link_name",
    "make_metrics", "metrics_from_dict", "resolve_distribution",
    "ModelFormatError", "Network", "PortableModel", "Scorer", "load_scorer", "prediction_names", "probability_name",
]
