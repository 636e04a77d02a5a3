"""From network outputs to predictions and metrics: the prediction MRTask and the response-unit conversions.

:class:`Scoring` holds one model's output settings (problem, encoding, distribution, class priors, Huber delta)
and turns raw outputs (softmax probabilities, link-space regression values) into the response's units and into
metrics; the training driver, the model, and cross-validation use it alike. :class:`PredictTask` writes
predictions as new columns next to a frame's chunks (``predict`` plus one probability per class, ``predict`` for
regression, the reconstruction or its errors for autoencoders, or a hidden layer's activations).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from scoring import distributions
from scoring.metrics import (ModelMetrics, ModelMetricsAutoEncoder, ModelMetricsBinomial, ModelMetricsMultinomial,
                             ModelMetricsRegression)

from ..datainfo import DataInfo
from .kernels import forward
from .tasks import NetworkTask, prepare_once


def link_inverse(info: DataInfo, distribution: str, raw: np.ndarray) -> np.ndarray:
    """Network output (link space, standardised for identity links) to the response's units."""
    if distributions.link_name(distribution) == "identity":
        return info.inverse_response(raw)
    return distributions.link_inv(distribution, raw)


def correct_probabilities(p: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """H2O's correction after balance_classes: p_c *= prior_c / model_c, then renormalise.

    >>> correct_probabilities(np.array([[0.5, 0.5]]), np.array([[0.9, 0.1], [0.5, 0.5]])).tolist()
    [[0.9, 0.1]]
    """
    prior, model = priors
    q = p * (prior / np.maximum(model, 1e-300))
    return q / q.sum(axis=1, keepdims=True)


def predicted_label(p: np.ndarray, kind: str, threshold: float) -> np.ndarray:
    """Class codes: binomial at ``threshold`` on class 1's probability (max F1), else the most probable class."""
    if kind == "binomial":
        return (p[:, 1] >= threshold).astype(np.int64)
    return np.argmax(p, axis=1)


@dataclass(frozen=True)
class Scoring:
    """A model's output settings: what turns its raw outputs into the response's units and metrics."""
    kind: str                               # binomial, multinomial, regression or autoencoder
    info: DataInfo
    params: Mapping[str, Any]               # effective parameters (distribution and its parameters, table sizes)
    response_domain: list | None
    priors: np.ndarray | None               # balance_classes correction
    huber_delta: float

    def natural(self, y: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Actuals and predictions in the response's own units: class codes and (corrected) probabilities, or
        numbers (each model has its own standardisation and link)."""
        if self.kind == "regression":
            raw = np.asarray(pred)[:, 0] if len(pred) else np.empty(0)
            yhat = link_inverse(self.info, self.params["distribution"], raw)
            actual = self.info.inverse_response(y) if self.info.response_transform else np.asarray(y, np.float64)
            return actual, yhat
        probs = np.asarray(pred, dtype=np.float64)
        if self.priors is not None:
            probs = correct_probabilities(probs, self.priors)
        return np.asarray(y).astype(np.int64), probs

    def metrics(self, actual: np.ndarray, predicted: np.ndarray, w: np.ndarray) -> ModelMetrics:
        """Metrics of predictions already in the response's units (:meth:`natural`)."""
        p = self.params
        if self.kind == "regression":
            dist = p["distribution"] if p["distribution"] in distributions.DISTRIBUTIONS else "gaussian"
            return ModelMetricsRegression(actual, predicted, w, distribution=dist, tweedie_power=p["tweedie_power"],
                                          quantile_alpha=p["quantile_alpha"], huber_delta=self.huber_delta)
        if self.kind == "binomial":
            return ModelMetricsBinomial(actual, predicted, w, domain=list(self.response_domain))
        return ModelMetricsMultinomial(actual, predicted, w, domain=list(self.response_domain),
                                       max_confusion_matrix_size=p["max_confusion_matrix_size"],
                                       max_hit_ratio_k=p["max_hit_ratio_k"])

    def metrics_of_scores(self, rows, y, pred, w, off) -> ModelMetrics:
        """Metrics from a score task's collected arrays (an autoencoder's ``y`` holds per-row errors)."""
        if self.kind == "autoencoder":
            return ModelMetricsAutoEncoder(np.asarray(y, dtype=np.float64), weights=None)
        return self.metrics(*self.natural(y, pred), w)


class PredictTask(NetworkTask):
    """Predictions written as new columns next to the test frame's chunks."""
    kind: str = ""
    distribution: str = "gaussian"
    threshold: float = 0.5
    priors: np.ndarray = None          # balance_classes: (prior, model class distribution) correction
    layer: int = -1
    per_feature: bool = False

    def map(self, cs):
        X, _, _, off = prepare_once(cs, self._info, self.resp)
        spec = self._net.spec
        if self.layer >= 0:
            out = np.empty((cs.nrows, spec.units[self.layer + 1]))
            forward(self._net, X, out, self.hyper, self.flags, layer=self.layer)
            cols = [out[:, j] for j in range(out.shape[1])]
        elif self.kind == "autoencoder":
            out = np.empty((cs.nrows, spec.units[-1]))
            forward(self._net, X, out, self.hyper, self.flags)
            if self.resp.get("anomaly"):
                se = (out - X) ** 2
                cols = [se[:, j] for j in range(se.shape[1])] if self.per_feature else [se.mean(axis=1)]
            else:
                rec = self._info.untransform_numerics(out)
                cols = [rec[:, j] for j in range(rec.shape[1])]
        elif self.kind == "regression":
            out = np.empty((cs.nrows, 1))
            forward(self._net, X, out, self.hyper, self.flags, offset=off)
            cols = [link_inverse(self._info, self.distribution, out[:, 0])]
        else:
            out = np.empty((cs.nrows, spec.units[-1]))
            forward(self._net, X, out, self.hyper, self.flags)
            if self.priors is not None:
                out = correct_probabilities(out, self.priors)
            cols = [predicted_label(out, self.kind, self.threshold).astype(np.float64)] + \
                [out[:, j] for j in range(out.shape[1])]
        for j, c in enumerate(cols):
            cs.outputs[j][:] = c
        self.model = None
