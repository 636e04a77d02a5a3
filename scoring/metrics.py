"""Model metrics with h2o-py's method names, computed from numpy arrays (``hex/ModelMetrics*.java``, ``hex/AUC2.java``).

Every metrics object is built from arrays (actuals, predictions, optional observation weights), can be
turned into a msgpack-safe dict (``to_dict`` / ``from_dict``) and prints a report like h2o-py (``show``).
Only numpy is needed; pandas is imported lazily by the methods that return tables.

Example
-------
>>> import numpy as np
>>> m = ModelMetricsBinomial(np.array([0, 0, 1, 1]), np.array([[.9, .1], [.6, .4], [.65, .35], [.2, .8]]))
>>> m.auc(), m.nobs()
(0.75, 4)
>>> m.metric("AUC") == ModelMetricsBinomial.from_dict(m.to_dict()).auc()
True

Conventions shared with H2O
---------------------------
* Rows whose actual is missing (NaN) or whose weight is 0 are skipped; ``nobs`` counts the rest.
* Classifier MSE is taken on the probabilities with the actual class's error ``1 - p_actual`` only.
* R² is ``1 - MSE / var(actual)`` with the weighted population variance of the actual values (class codes
  for classifiers). It is NaN (H2O: -inf or NaN) when the actual values do not vary.
* Binomial threshold metrics (confusion matrix, F1, ...) come from one table of at most ``nbins`` (400)
  thresholds. If the predictions take at most ``nbins`` distinct values the table holds every one of them
  and is exact. Otherwise neighbouring values are merged H2O-style into weighted-mean bins, always
  merging the pairs whose merged bin has the least squared error first (float32-equal values first).
  H2O merges one pair at a time while streaming the rows; here disjoint cheapest pairs are merged in
  rounds, which gives the same kind of bins (not bit-identical ones) in O(n log n).
* AUC/AUCPR are **exact** (trapezoids over every distinct prediction; AUC equals the Mann-Whitney
  statistic with ties counted 1/2) when the distinct values fit in the table or ``nobs <=
  exact_auc_max_rows``; otherwise they are read from the binned table as H2O does (typically within
  1e-5 of exact). ``auc_method`` in ``to_dict()`` says which. AUCPR uses H2O's interpolated
  precision-recall integral. With only one class present AUC is 1.0 (no negatives) or 0.0 (no positives).
  The threshold maths live in :mod:`scoring.thresholds`.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Mapping, Sequence

import numpy as np

from .distributions import deviance as _deviance
from .distributions import validate_distribution
from .thresholds import (AUC_NBINS, CRITERIA, EXACT_AUC_MAX_ROWS, auc_of, aucpr_of, criteria, distinct_counts,
                         max_idx, merge_bins)

#: Stopping metrics whose larger values are better (``hex/ScoreKeeper.StoppingMetric``).
MORE_IS_BETTER: frozenset[str] = frozenset({"AUC", "AUCPR", "lift_top_group"})
#: H2O's stopping-metric names that :meth:`metric` understands (besides "AUTO").
STOPPING_METRICS: tuple[str, ...] = (
    "deviance", "logloss", "MSE", "RMSE", "MAE", "RMSLE", "AUC", "AUCPR", "lift_top_group",
    "misclassification", "mean_per_class_error",
)
LOGLOSS_EPS = 1e-15        # logloss caps each row at -log(1e-15) = 34.54
PROB_SUM_TOL = 1e-4        # float32 network outputs summed over many classes drift by ~1e-6
_FORMAT_VERSION = 1
_KINDS = ("binomial", "multinomial", "regression", "autoencoder")


def default_stopping_metric(kind: str) -> str:
    """Metric that ``loss()`` and stopping use when the user says AUTO (``hex/Model.loss``).

    >>> default_stopping_metric("regression")
    'deviance'
    """
    defaults = {"binomial": "logloss", "multinomial": "logloss", "regression": "deviance", "autoencoder": "MSE"}
    if kind not in defaults:
        raise ValueError(f"unknown metrics kind {kind!r}; expected one of {', '.join(_KINDS)}")
    return defaults[kind]


# ----------------------------------------------------------------------------------------------- inputs


def _weights(weights: Any, n: int) -> np.ndarray:
    """Observation weights as float64 (n,), all ones when None; finite and non-negative."""
    if weights is None:
        return np.ones(n)
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim == 2 and w.shape[1] == 1:
        w = w[:, 0]
    if w.shape != (n,):
        raise ValueError(f"weights must have shape ({n},), got {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("weights contain NaN or infinite values")
    if np.any(w < 0):
        raise ValueError("weights must be non-negative")
    return w


def _vector(name: str, x: Any) -> np.ndarray:
    """A 1-D float64 view of ``x``; an (n, 1) column is accepted."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def _class_codes(actual: Any, nclasses: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer class codes and a mask of rows whose actual is missing (NaN in a float array)."""
    a = np.asarray(actual)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise ValueError(f"actual must be 1-D class codes, got shape {a.shape}")
    if a.dtype.kind in "iub":
        codes, missing = a.astype(np.int64), np.zeros(a.shape[0], dtype=bool)
    elif a.dtype.kind == "f":
        missing = np.isnan(a)
        present = a[~missing]
        if not np.all(np.isfinite(present)) or np.any(present != np.floor(present)):
            raise ValueError("actual must hold integer class codes (NaN for missing)")
        codes = np.where(missing, 0, a).astype(np.int64)
    else:
        raise ValueError(f"actual must hold integer class codes 0..{nclasses - 1}, got dtype {a.dtype}")
    bad = (~missing) & ((codes < 0) | (codes >= nclasses))
    if np.any(bad):
        raise ValueError(f"actual class code {codes[bad][0]} is outside 0..{nclasses - 1}")
    return codes, missing


def _prob_matrix(probs: Any, n: int, nclasses: int | None) -> np.ndarray:
    """Class probabilities (n, K): finite, within [0, 1] and rows summing to 1 within PROB_SUM_TOL."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != n or (nclasses is not None and p.shape[1] != nclasses):
        want = f"({n}, {nclasses})" if nclasses is not None else f"({n}, K)"
        raise ValueError(f"probs must have shape {want}, got {p.shape}")
    if p.shape[1] < 2:
        raise ValueError(f"probs needs at least 2 class columns, got {p.shape[1]}")
    if not np.all(np.isfinite(p)):
        raise ValueError("probs contain NaN or infinite values")
    if np.any(p < -PROB_SUM_TOL) or np.any(p > 1 + PROB_SUM_TOL):
        raise ValueError("probs must lie in [0, 1]")
    off = np.abs(p.sum(axis=1) - 1.0)
    if np.any(off > PROB_SUM_TOL):
        row = int(np.argmax(off))
        raise ValueError(f"probabilities of row {row} sum to {p[row].sum():.6g}, not 1 (tolerance {PROB_SUM_TOL})")
    return p


def _domain(domain: Sequence[str] | None, nclasses: int) -> list[str]:
    """Class labels; "0".."K-1" when not given."""
    if domain is None:
        return [str(i) for i in range(nclasses)]
    labels = [str(d) for d in domain]
    if len(labels) != nclasses:
        raise ValueError(f"domain has {len(labels)} labels but there are {nclasses} classes")
    return labels


def _require_rows(keep: np.ndarray) -> None:
    if not np.any(keep):
        raise ValueError("no rows to score: every row has a missing actual or a zero weight")


def _weighted_sigma(y: np.ndarray, w: np.ndarray) -> float:
    """H2O's weightedSigma: weighted population standard deviation of the actuals (0 for one row)."""
    if y.shape[0] <= 1:
        return 0.0
    mean = np.sum(w * y) / np.sum(w)
    return float(math.sqrt(np.sum(w * (y - mean) ** 2) / np.sum(w)))


def _wmean(x: np.ndarray, w: np.ndarray) -> float:
    return float(np.sum(w * x) / np.sum(w))


# ----------------------------------------------------------------------------------------- rendering


def _cell(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.6g}"
    return str(v)


def _format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], index: Sequence[str] | None = None) -> str:
    """A plain right-aligned text table, so that printing a report never needs pandas."""
    head = ([""] if index is not None else []) + [str(c) for c in columns]
    body = [([str(index[i])] if index is not None else []) + [_cell(v) for v in r] for i, r in enumerate(rows)]
    widths = [max(len(r[j]) for r in [head, *body]) for j in range(len(head))]
    lines = ["  ".join(s.rjust(wd) for s, wd in zip(r, widths)) for r in [head, *body]]
    return "\n".join(lines)


def _pandas():
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - pandas is installed in the project environment
        raise ImportError("this table needs pandas; install it or use to_dict()") from exc
    return pd


def _cm_rows(cm: np.ndarray, domain: Sequence[str]) -> tuple[list[str], list[str], list[list[Any]]]:
    """H2O's confusion-matrix layout: actual rows + Total, predicted columns + Error + Rate."""
    integral = bool(np.all(cm == np.round(cm)))
    acts, preds = cm.sum(axis=1), cm.sum(axis=0)
    errs = acts - np.diag(cm)
    total, terr = float(acts.sum()), float(errs.sum())

    def rate(err: float, tot: float) -> str:
        return f"{int(err):,} / {int(tot):,}" if integral else f"{err:.4f} / {tot:.4f}"

    def counts(row: np.ndarray) -> list[Any]:
        return [int(v) if integral else float(v) for v in row]

    with np.errstate(divide="ignore", invalid="ignore"):
        rows = [counts(cm[a]) + [float(errs[a] / acts[a]), rate(errs[a], acts[a])] for a in range(cm.shape[0])]
        rows.append(counts(preds) + [float(terr / total), rate(terr, total)])
    return list(domain) + ["Total"], list(domain) + ["Error", "Rate"], rows


def _cm_frame(cm: np.ndarray, domain: Sequence[str], header: str):
    pd = _pandas()
    index, columns, rows = _cm_rows(cm, domain)
    df = pd.DataFrame(rows, index=index, columns=columns)
    df.attrs["header"] = header
    return df


def _cm_text(cm: np.ndarray, domain: Sequence[str]) -> str:
    index, columns, rows = _cm_rows(cm, domain)
    return _format_table(columns, rows, index)


# -------------------------------------------------------------------------------------- base class


def class_errors(cm: np.ndarray) -> np.ndarray:
    """Each class's error rate in a confusion matrix (rows actual, columns predicted); 0 for a class without rows,
    as H2O counts it."""
    acts = cm.sum(axis=1)
    return np.where(acts > 0, (acts - np.diag(cm)) / np.where(acts > 0, acts, 1.0), 0.0)


class ModelMetrics:
    """Common part of every metrics object: nobs, MSE/RMSE, metric(name), to_dict/from_dict, show()."""

    kind: str = ""
    _REQUIRED: tuple[str, ...] = ("nobs", "mse")

    def __init__(self) -> None:  # pragma: no cover - only subclasses are built
        raise TypeError("build ModelMetricsBinomial, ModelMetricsMultinomial, ModelMetricsRegression "
                        "or ModelMetricsAutoEncoder (or use make_metrics)")

    def _load(self, state: dict[str, Any]) -> None:
        """Adopt a msgpack-safe state dict; subclasses derive their cached arrays here."""
        self._s = state

    def nobs(self) -> int:
        """Number of scored rows (missing actuals and zero weights excluded); a method, as h2o-py's."""
        return int(self._s["nobs"])

    def mse(self) -> float:
        """Weighted mean squared error."""
        return float(self._s["mse"])

    def rmse(self) -> float:
        """Square root of :meth:`mse`."""
        return math.sqrt(self.mse())

    def _r2(self) -> float:
        var = float(self._s["sigma"]) ** 2
        return float("nan") if var == 0.0 else 1.0 - self.mse() / var

    def _metric_getters(self) -> dict[str, Any]:
        return {"MSE": self.mse, "RMSE": self.rmse}

    def metric(self, name: str) -> float:
        """A metric by H2O's stopping-metric name (case-insensitive); ``"AUTO"`` is the kind's default.

        >>> ModelMetricsAutoEncoder([1.0, 3.0]).metric("rmse")
        1.4142135623730951
        """
        if not isinstance(name, str):
            raise ValueError(f"metric name must be a string, got {name!r}")
        if name.upper() == "AUTO":
            name = default_stopping_metric(self.kind)
        getters = {k.lower(): f for k, f in self._metric_getters().items()}
        if name.lower() in getters:
            return float(getters[name.lower()]())
        known = ", ".join(self._metric_getters())
        if name.lower() in {m.lower() for m in STOPPING_METRICS} | {"custom", "custom_increasing"}:
            raise ValueError(f"metric {name!r} is not available for {self.kind} metrics (available: {known})")
        raise ValueError(f"unknown metric {name!r}; {self.kind} metrics offer {known}")

    def to_dict(self) -> dict[str, Any]:
        """A msgpack-safe dict (str keys; int, float, str, list values) that :meth:`from_dict` restores."""
        return {"kind": self.kind, "version": _FORMAT_VERSION, **copy.deepcopy(self._s)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]):
        """Rebuild a metrics object from :meth:`to_dict` output (for example after msgpack.unpackb)."""
        if not isinstance(d, Mapping):
            raise ValueError(f"from_dict expects a mapping, got {type(d).__name__}")
        if d.get("kind") != cls.kind:
            raise ValueError(f"{cls.__name__}.from_dict got kind {d.get('kind')!r}, expected {cls.kind!r}")
        if d.get("version") != _FORMAT_VERSION:
            raise ValueError(f"unsupported metrics format version {d.get('version')!r}")
        missing = [k for k in cls._REQUIRED if k not in d]
        if missing:
            raise ValueError(f"{cls.__name__}.from_dict: missing keys {missing}")
        obj = cls.__new__(cls)
        obj._load({k: copy.deepcopy(v) for k, v in d.items() if k not in ("kind", "version")})
        return obj

    def _report(self) -> str:
        raise NotImplementedError

    def __str__(self) -> str:
        return self._report()

    def show(self) -> None:
        """Print the report h2o-py prints for a metrics object."""
        print(self._report())

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v:.6g}" for k, v in self._headline().items())
        return f"<{type(self).__name__} nobs={self.nobs()} {shown}>"

    def _headline(self) -> dict[str, float]:
        return {"MSE": self.mse()}


# ------------------------------------------------------------------------------------------ binomial


def _threshold_getter(criterion: str, label: str):
    """h2o-py's getter of one threshold criterion: its maximum, or ``[[t, value], ...]`` at given thresholds."""
    def getter(self, thresholds: Sequence[float] | None = None) -> Any:
        return self._at_thresholds(criterion, thresholds)
    getter.__doc__ = f"Max {label} (a float), or ``[[t, value], ...]`` at the table thresholds nearest the given ones."
    return getter


class ModelMetricsBinomial(ModelMetrics):
    """Two-class metrics: AUC, AUCPR, logloss, threshold table and confusion matrices.

    ``actual``: codes 0/1 (NaN rows skipped); ``probs``: (n, 2) class probabilities; ``weights``:
    observation weights; ``domain``: the two class labels. See the module docstring for AUC binning.

    >>> m = ModelMetricsBinomial([0, 1, 1], [[.8, .2], [.3, .7], [.6, .4]], domain=["no", "yes"])
    >>> m.auc(), m.find_threshold_by_max_metric("f1")
    (1.0, 0.4)
    """

    kind = "binomial"
    _REQUIRED = ("nobs", "domain", "mse", "sigma", "logloss", "auc", "aucpr", "auc_method", "thresholds", "tps", "fps")

    def __init__(
        self,
        actual: Any,
        probs: Any,
        weights: Any = None,
        domain: Sequence[str] | None = None,
        *,
        nbins: int = AUC_NBINS,
        exact_auc_max_rows: int = EXACT_AUC_MAX_ROWS,
    ) -> None:
        if not isinstance(nbins, (int, np.integer)) or nbins < 1:
            raise ValueError(f"nbins must be a positive int, got {nbins!r}")
        if not isinstance(exact_auc_max_rows, (int, np.integer)) or exact_auc_max_rows < 0:
            raise ValueError(f"exact_auc_max_rows must be a non-negative int, got {exact_auc_max_rows!r}")
        codes, missing = _class_codes(actual, 2)
        n = codes.shape[0]
        p = _prob_matrix(probs, n, 2)
        w = _weights(weights, n)
        keep = ~missing & (w > 0)
        _require_rows(keep)
        y, p, w = codes[keep], p[keep], w[keep]
        p_act = p[np.arange(y.size), y]
        yf = y.astype(np.float64)

        ths, tps, fps = distinct_counts(p[:, 1], yf, w)
        exact = (np.cumsum(tps), np.cumsum(fps))
        if ths.size > nbins:
            ths, tps, fps = merge_bins(ths, tps, fps, int(nbins))
        ctp, cfp = np.cumsum(tps), np.cumsum(fps)
        use_exact = ths.size == exact[0].size or y.size <= exact_auc_max_rows
        curve = exact if use_exact else (ctp, cfp)
        self._load({
            "nobs": int(y.size),
            "domain": _domain(domain, 2),
            "mse": _wmean((1.0 - p_act) ** 2, w),
            "sigma": _weighted_sigma(yf, w),
            "logloss": _wmean(-np.log(np.maximum(p_act, LOGLOSS_EPS)), w),
            "auc": auc_of(*curve),
            "aucpr": aucpr_of(*curve),
            "auc_method": "exact" if use_exact else "binned",
            "thresholds": ths.tolist(),
            "tps": ctp.tolist(),
            "fps": cfp.tolist(),
        })

    def _load(self, state: dict[str, Any]) -> None:
        super()._load(state)
        self._ths = np.asarray(state["thresholds"], dtype=np.float64)
        self._ctp = np.asarray(state["tps"], dtype=np.float64)
        self._cfp = np.asarray(state["fps"], dtype=np.float64)
        if not (self._ths.ndim == 1 and self._ths.size >= 1 and self._ctp.shape == self._cfp.shape == self._ths.shape):
            raise ValueError("binomial metrics need equal-length, non-empty thresholds/tps/fps lists")
        self._crit = criteria(self._ctp, self._cfp)
        self._f1_idx = max_idx(self._crit["f1"])

    # -- scalar metrics
    def auc(self) -> float:
        """Area under the ROC curve."""
        return float(self._s["auc"])

    def aucpr(self) -> float:
        """Area under the precision-recall curve (H2O's ``pr_auc``)."""
        return float(self._s["aucpr"])

    pr_auc = aucpr

    def gini(self) -> float:
        """Gini coefficient, 2·AUC - 1."""
        return 2.0 * self.auc() - 1.0

    def logloss(self) -> float:
        """Weighted mean of -log(max(p_actual, 1e-15))."""
        return float(self._s["logloss"])

    def r2(self) -> float:
        """1 - MSE / variance of the 0/1 actuals."""
        return self._r2()

    def _cm_at(self, idx: int) -> np.ndarray:
        tp, fp = self._ctp[idx], self._cfp[idx]
        return np.array([[self._cfp[-1] - fp, fp], [self._ctp[-1] - tp, tp]])

    def label_confusion(self) -> np.ndarray | None:
        """The (weighted) confusion matrix of the labels the model predicts, at the max-F1 threshold, as an array
        (rows actual, columns predicted); None when F1 is undefined everywhere."""
        return None if self._f1_idx < 0 else self._cm_at(self._f1_idx)

    def at_label_threshold(self, criterion: str) -> float:
        """A threshold criterion (:data:`CRITERIA`) at the max-F1 threshold, where the model labels rows (H2O's
        cross-validation summary reports precision, recall, F2... there, not at each one's own maximum)."""
        values = self._criterion(criterion)
        return float("nan") if self._f1_idx < 0 else float(values[self._f1_idx])

    def classification_error(self) -> float:
        """Weighted error rate at the max-F1 threshold (NaN when F1 is undefined everywhere)."""
        if self._f1_idx < 0:
            return float("nan")
        cm = self._cm_at(self._f1_idx)
        return float((cm[0, 1] + cm[1, 0]) / cm.sum())

    def mean_per_class_error(self) -> float:
        """Mean of the two class errors at the max-F1 threshold (a class with no rows counts 0, as H2O)."""
        if self._f1_idx < 0:
            return float("nan")
        return float(class_errors(self._cm_at(self._f1_idx)).mean())

    # -- threshold metrics
    def _criterion(self, name: str) -> np.ndarray:
        if name not in self._crit:
            raise ValueError(f"unknown threshold metric {name!r}; expected one of {', '.join(CRITERIA)}")
        return self._crit[name]

    def find_idx_by_threshold(self, threshold: float) -> int:
        """Index of the table threshold closest to ``threshold`` (which must lie in [0, 1]), as h2o-py does."""
        t = float(threshold)
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"threshold must be between 0 and 1, got {threshold!r}")
        return int(np.argmin(np.abs(self._ths - t)))

    def find_threshold_by_max_metric(self, metric: str) -> float:
        """The threshold at which ``metric`` (a name in :data:`CRITERIA`) is largest (first one on ties)."""
        idx = max_idx(self._criterion(metric))
        if idx < 0:
            raise ValueError(f"{metric} is undefined (0/0) at every threshold")
        return float(self._ths[idx])

    def default_threshold(self) -> float:
        """The label threshold a model keeps: max F1's, or 0.5 where F1 is undefined at every threshold (one class
        only), as H2O's ``AUC2.defaultThreshold``."""
        idx = max_idx(self._criterion("f1"))
        return 0.5 if idx < 0 else float(self._ths[idx])

    def _at_thresholds(self, name: str, thresholds: Sequence[float] | None) -> Any:
        values = self._criterion(name)
        if thresholds is None:
            idx = max_idx(values)
            return float("nan") if idx < 0 else float(values[idx])
        return [[float(t), float(values[self.find_idx_by_threshold(t)])] for t in thresholds]

    F1, F2, F0point5 = (_threshold_getter(c, label) for c, label in (("f1", "F1"), ("f2", "F2"),
                                                                     ("f0point5", "F0.5")))
    accuracy, precision, recall, specificity = (_threshold_getter(c, c) for c in ("accuracy", "precision", "recall",
                                                                                  "specificity"))
    mcc = _threshold_getter("absolute_mcc", "absolute Matthews correlation")

    def thresholds_and_metric_scores(self):
        """pandas DataFrame: one row per threshold (descending) with every criterion and ``idx``."""
        pd = _pandas()
        data = {"threshold": self._ths, **{c: self._crit[c] for c in CRITERIA}, "idx": np.arange(self._ths.size)}
        return pd.DataFrame(data)

    def _max_rows(self) -> list[list[Any]]:
        rows = []
        for c in CRITERIA:
            idx = max_idx(self._crit[c])
            if idx >= 0:
                rows.append([f"max {c}", float(self._ths[idx]), float(self._crit[c][idx]), idx])
        return rows

    def max_criteria_and_metric_scores(self):
        """pandas DataFrame (metric, threshold, value, idx): each criterion's maximum and where it is reached."""
        return _pandas().DataFrame(self._max_rows(), columns=["metric", "threshold", "value", "idx"])

    def confusion_matrix(self, metrics: str | Sequence[str] | None = None, thresholds: Any = None):
        """Confusion matrix as a pandas DataFrame in H2O's layout, at the threshold maximising ``metrics``
        (default "f1") or at the table thresholds nearest ``thresholds``. A list gives a list of frames.
        ``None`` is returned when the criterion is undefined at every threshold (for example one class only).
        """
        if metrics is not None and thresholds is not None:
            raise ValueError("give either metrics or thresholds, not both")
        if thresholds is not None:
            single = np.ndim(thresholds) == 0
            items = [thresholds] if single else list(thresholds)
            frames = []
            for t in items:
                idx = self.find_idx_by_threshold(t)
                head = f"Confusion Matrix (Act/Pred) @ threshold = {self._ths[idx]:.6g}"
                frames.append(_cm_frame(self._cm_at(idx), self._s["domain"], head))
            return frames[0] if single else frames
        single = metrics is None or isinstance(metrics, str)
        names = ["f1"] if metrics is None else [metrics] if isinstance(metrics, str) else list(metrics)
        frames = []
        for name in names:
            idx = max_idx(self._criterion(name))
            if idx < 0:
                frames.append(None)
                continue
            head = f"Confusion Matrix (Act/Pred) for max {name} @ threshold = {self._ths[idx]:.6g}"
            frames.append(_cm_frame(self._cm_at(idx), self._s["domain"], head))
        return frames[0] if single else frames

    def _metric_getters(self) -> dict[str, Any]:
        return {**super()._metric_getters(), "logloss": self.logloss, "AUC": self.auc, "AUCPR": self.aucpr,
                "misclassification": self.classification_error, "mean_per_class_error": self.mean_per_class_error}

    def metric(self, name: str, thresholds: Sequence[float] | None = None) -> Any:
        """A stopping metric by H2O name (``"AUC"``, ``"logloss"``, ...) or a threshold criterion
        (``"f1"``, ``"tpr"``, ...: its maximum, or ``[[t, value], ...]`` at ``thresholds``)."""
        if isinstance(name, str) and name in self._crit:
            return self._at_thresholds(name, thresholds)
        if thresholds is not None:
            raise ValueError(f"thresholds only apply to threshold metrics ({', '.join(CRITERIA)})")
        return super().metric(name)

    def _headline(self) -> dict[str, float]:
        return {"AUC": self.auc(), "logloss": self.logloss(), "MSE": self.mse()}

    def _report(self) -> str:
        lines = [
            "ModelMetricsBinomial",
            f"nobs: {self.nobs()}",
            f"MSE: {self.mse()!r}",
            f"RMSE: {self.rmse()!r}",
            f"LogLoss: {self.logloss()!r}",
            f"Mean Per-Class Error: {self.mean_per_class_error()!r}",
            f"AUC: {self.auc()!r} ({self._s['auc_method']})",
            f"AUCPR: {self.aucpr()!r}",
            f"Gini: {self.gini()!r}",
            "",
        ]
        if self._f1_idx >= 0:
            lines.append(f"Confusion Matrix (Act/Pred) for max f1 @ threshold = {self._ths[self._f1_idx]:.6g}:")
            lines.append(_cm_text(self._cm_at(self._f1_idx), self._s["domain"]))
        else:
            lines.append("Confusion Matrix: undefined (F1 is 0/0 at every threshold)")
        lines += ["", "Maximum Metrics: Maximum metrics at their respective thresholds",
                  _format_table(["metric", "threshold", "value", "idx"], self._max_rows())]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------- multinomial


class ModelMetricsMultinomial(ModelMetrics):
    """K-class metrics: logloss, error rates, confusion matrix and top-k hit ratios.

    The predicted label is the argmax of ``probs``, exact ties going to the first class (H2O's
    GenModel.getPrediction breaks exact ties by a hash of the row instead). Hit ratio k is the weighted
    fraction of rows whose actual class is among the k most probable (same tie rule).

    >>> m = ModelMetricsMultinomial([0, 1, 2], [[.5, .3, .2], [.2, .3, .5], [.1, .1, .8]])
    >>> round(m.classification_error(), 4), m.hit_ratio_table()["hit_ratio"].tolist()[:2]
    (0.3333, [0.6666666666666666, 1.0])
    """

    kind = "multinomial"
    _REQUIRED = ("nobs", "domain", "mse", "sigma", "logloss", "cm", "hit_ratios", "max_confusion_matrix_size")

    def __init__(
        self,
        actual: Any,
        probs: Any,
        weights: Any = None,
        domain: Sequence[str] | None = None,
        max_confusion_matrix_size: int = 20,
        max_hit_ratio_k: int = 10,
    ) -> None:
        limits = {"max_confusion_matrix_size": max_confusion_matrix_size, "max_hit_ratio_k": max_hit_ratio_k}
        for pname, val in limits.items():
            if not isinstance(val, (int, np.integer)) or val < 1:
                raise ValueError(f"{pname} must be a positive int, got {val!r}")
        p_all = np.asarray(probs, dtype=np.float64)
        if p_all.ndim != 2:
            raise ValueError(f"probs must be a 2-D (n, K) array, got shape {p_all.shape}")
        k = p_all.shape[1]
        codes, missing = _class_codes(actual, max(k, 1))
        n = codes.shape[0]
        p = _prob_matrix(p_all, n, None)
        w = _weights(weights, n)
        keep = ~missing & (w > 0)
        _require_rows(keep)
        y, p, w = codes[keep], p[keep], w[keep]
        rows = np.arange(y.size)
        p_act = p[rows, y]
        pred = np.argmax(p, axis=1)  # first maximum on ties
        cm = np.bincount(y * k + pred, weights=w, minlength=k * k).reshape(k, k)
        # rank of the actual class: classes more probable, plus equally probable ones listed before it
        rank = (p > p_act[:, None]).sum(axis=1) + ((p == p_act[:, None]) & (np.arange(k) < y[:, None])).sum(axis=1)
        top = min(int(max_hit_ratio_k), k)
        hits = np.cumsum(np.bincount(rank, weights=w, minlength=k)[:top]) / np.sum(w)
        self._load({
            "nobs": int(y.size),
            "domain": _domain(domain, k),
            "mse": _wmean((1.0 - p_act) ** 2, w),
            "sigma": _weighted_sigma(y.astype(np.float64), w),
            "logloss": _wmean(-np.log(np.maximum(p_act, LOGLOSS_EPS)), w),
            "cm": cm.tolist(),
            "hit_ratios": hits.tolist(),
            "max_confusion_matrix_size": int(max_confusion_matrix_size),
        })

    def _load(self, state: dict[str, Any]) -> None:
        super()._load(state)
        self._cm = np.asarray(state["cm"], dtype=np.float64)
        k = len(state["domain"])
        if self._cm.shape != (k, k):
            raise ValueError(f"multinomial cm must be {k}x{k} for {k} domain labels, got shape {self._cm.shape}")

    def logloss(self) -> float:
        """Weighted mean of -log(max(p_actual, 1e-15))."""
        return float(self._s["logloss"])

    def r2(self) -> float:
        """1 - MSE / variance of the class codes (H2O's definition)."""
        return self._r2()

    def label_confusion(self) -> np.ndarray:
        """The (weighted) confusion matrix of the predicted labels as an array (rows actual, columns predicted)."""
        return self._cm.copy()

    def classification_error(self) -> float:
        """Weighted fraction of rows whose argmax class is not the actual one."""
        return float(1.0 - np.trace(self._cm) / self._cm.sum())

    def mean_per_class_error(self) -> float:
        """Mean over all K classes of the class error (a class without rows counts 0, as H2O)."""
        return float(class_errors(self._cm).mean())

    def confusion_matrix(self):
        """pandas DataFrame in H2O's layout, or None when K exceeds ``max_confusion_matrix_size``."""
        if self._cm.shape[0] > self._s["max_confusion_matrix_size"]:
            return None
        head = "Confusion Matrix: Row labels: Actual class; Column labels: Predicted class"
        return _cm_frame(self._cm, self._s["domain"], head)

    def hit_ratio_table(self):
        """pandas DataFrame (k, hit_ratio) for k = 1..min(max_hit_ratio_k, K)."""
        hr = self._s["hit_ratios"]
        df = _pandas().DataFrame({"k": np.arange(1, len(hr) + 1), "hit_ratio": np.asarray(hr, dtype=np.float64)})
        df.attrs["header"] = f"Top-{len(hr)} Hit Ratios"
        return df

    def _metric_getters(self) -> dict[str, Any]:
        return {**super()._metric_getters(), "logloss": self.logloss,
                "misclassification": self.classification_error, "mean_per_class_error": self.mean_per_class_error}

    def _headline(self) -> dict[str, float]:
        return {"logloss": self.logloss(), "error": self.classification_error()}

    def _report(self) -> str:
        k = self._cm.shape[0]
        lines = [
            "ModelMetricsMultinomial",
            f"nobs: {self.nobs()}",
            f"MSE: {self.mse()!r}",
            f"RMSE: {self.rmse()!r}",
            f"LogLoss: {self.logloss()!r}",
            f"Mean Per-Class Error: {self.mean_per_class_error()!r}",
            f"Classification Error: {self.classification_error()!r}",
            "",
        ]
        if k > self._s["max_confusion_matrix_size"]:
            lines.append(f"Confusion Matrix not shown: {k} classes > max_confusion_matrix_size = "
                         f"{self._s['max_confusion_matrix_size']}")
        else:
            lines += ["Confusion Matrix: Row labels: Actual class; Column labels: Predicted class",
                      _cm_text(self._cm, self._s["domain"])]
        hr = self._s["hit_ratios"]
        hr_rows = [[i + 1, v] for i, v in enumerate(hr)]
        lines += ["", f"Top-{len(hr)} Hit Ratios", _format_table(["k", "hit_ratio"], hr_rows)]
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------- regression


class ModelMetricsRegression(ModelMetrics):
    """Regression metrics: MSE, RMSE, MAE, RMSLE, mean residual deviance and R².

    ``distribution`` and its parameters choose the deviance (see :mod:`scoring.distributions`);
    ``saturated_deviance=False`` reproduces H2O-3's literal poisson/gamma deviance formulas.

    >>> m = ModelMetricsRegression([1.0, 2.0, 3.0], [1.0, 2.5, 2.0])
    >>> m.mse(), m.mae(), m.mean_residual_deviance() == m.mse()
    (0.4166666666666667, 0.5, True)
    """

    kind = "regression"
    _REQUIRED = ("nobs", "mse", "sigma", "mae", "rmsle", "mean_residual_deviance", "distribution")

    def __init__(
        self,
        actual: Any,
        predicted: Any,
        weights: Any = None,
        distribution: str = "gaussian",
        *,
        tweedie_power: float = 1.5,
        quantile_alpha: float = 0.5,
        huber_delta: float = 1.0,
        saturated_deviance: bool = True,
    ) -> None:
        validate_distribution(distribution)
        if distribution in ("bernoulli", "multinomial"):
            raise ValueError(f"distribution {distribution!r} is for classification; "
                             "use ModelMetricsBinomial or ModelMetricsMultinomial")
        y_all = _vector("actual", actual)
        f_all = _vector("predicted", predicted)
        if f_all.shape != y_all.shape:
            raise ValueError(f"predicted has {f_all.shape[0]} rows but actual has {y_all.shape[0]}")
        if not np.all(np.isfinite(f_all)):
            raise ValueError("predicted contains NaN or infinite values")
        missing = np.isnan(y_all)
        if np.any(np.isinf(y_all)):
            raise ValueError("actual contains infinite values")
        w = _weights(weights, y_all.shape[0])
        keep = ~missing & (w > 0)
        _require_rows(keep)
        y, f, w = y_all[keep], f_all[keep], w[keep]
        dev = _deviance(distribution, y, f, w, tweedie_power=tweedie_power, quantile_alpha=quantile_alpha,
                        huber_delta=huber_delta, saturated=saturated_deviance)
        err = y - f
        if np.any(y < -1.0) or np.any(f < -1.0):
            rmsle = float("nan")  # log1p is undefined below -1 (H2O gives NaN too)
        else:
            with np.errstate(divide="ignore"):  # a value of exactly -1 gives log1p = -inf, so RMSLE = inf
                rmsle = math.sqrt(_wmean((np.log1p(f) - np.log1p(y)) ** 2, w))
        self._load({
            "nobs": int(y.size),
            "mse": _wmean(err * err, w),
            "sigma": _weighted_sigma(y, w),
            "mae": _wmean(np.abs(err), w),
            "rmsle": rmsle,
            "mean_residual_deviance": float(np.sum(dev) / np.sum(w)),
            "distribution": distribution,
            "tweedie_power": float(tweedie_power),
            "quantile_alpha": float(quantile_alpha),
            "huber_delta": float(huber_delta),
            "saturated_deviance": bool(saturated_deviance),
        })

    def mae(self) -> float:
        """Weighted mean absolute error."""
        return float(self._s["mae"])

    def rmsle(self) -> float:
        """Root mean squared log1p error; NaN if any actual or prediction is below -1."""
        return float(self._s["rmsle"])

    def mean_residual_deviance(self) -> float:
        """Weighted mean of the distribution's per-row deviance (equals MSE for gaussian)."""
        return float(self._s["mean_residual_deviance"])

    def r2(self) -> float:
        """1 - MSE / weighted variance of the actuals."""
        return self._r2()

    def _metric_getters(self) -> dict[str, Any]:
        return {**super()._metric_getters(), "MAE": self.mae, "RMSLE": self.rmsle,
                "deviance": self.mean_residual_deviance}

    def _headline(self) -> dict[str, float]:
        return {"RMSE": self.rmse(), "deviance": self.mean_residual_deviance()}

    def _report(self) -> str:
        return "\n".join([
            "ModelMetricsRegression",
            f"nobs: {self.nobs()}",
            f"MSE: {self.mse()!r}",
            f"RMSE: {self.rmse()!r}",
            f"MAE: {self.mae()!r}",
            f"RMSLE: {self.rmsle()!r}",
            f"Mean Residual Deviance: {self.mean_residual_deviance()!r} ({self._s['distribution']})",
            f"R^2: {self.r2()!r}",
        ])


# --------------------------------------------------------------------------------------- autoencoder


class ModelMetricsAutoEncoder(ModelMetrics):
    """Autoencoder metrics from per-row reconstruction errors (each row's mean squared error).

    >>> ModelMetricsAutoEncoder([0.5, 1.5], weights=[3.0, 1.0]).mse()
    0.75
    """

    kind = "autoencoder"

    def __init__(self, reconstruction_errors: Any, weights: Any = None) -> None:
        e = _vector("reconstruction_errors", reconstruction_errors)
        if not np.all(np.isfinite(e)):
            raise ValueError("reconstruction_errors contain NaN or infinite values")
        if np.any(e < 0):
            raise ValueError("reconstruction_errors must be non-negative (they are per-row MSEs)")
        w = _weights(weights, e.shape[0])
        keep = w > 0
        _require_rows(keep)
        self._load({"nobs": int(np.count_nonzero(keep)), "mse": _wmean(e[keep], w[keep])})

    def _report(self) -> str:
        return "\n".join(["ModelMetricsAutoEncoder", f"nobs: {self.nobs()}",
                          f"MSE: {self.mse()!r}", f"RMSE: {self.rmse()!r}"])


# ------------------------------------------------------------------------------------------- factory

_CLASSES: dict[str, type[ModelMetrics]] = {
    "binomial": ModelMetricsBinomial,
    "multinomial": ModelMetricsMultinomial,
    "regression": ModelMetricsRegression,
    "autoencoder": ModelMetricsAutoEncoder,
}


def make_metrics(kind: str, *args: Any, **kwargs: Any) -> ModelMetrics:
    """Build the metrics object of ``kind`` (binomial, multinomial, regression, autoencoder).

    >>> make_metrics("regression", [1.0, 2.0], [1.0, 1.0]).rmse()
    0.7071067811865476
    """
    if kind not in _CLASSES:
        raise ValueError(f"unknown metrics kind {kind!r}; expected one of {', '.join(_KINDS)}")
    return _CLASSES[kind](*args, **kwargs)


def metrics_from_dict(d: Mapping[str, Any]) -> ModelMetrics:
    """Rebuild any metrics object from its :meth:`ModelMetrics.to_dict` output, dispatching on ``kind``."""
    if not isinstance(d, Mapping) or d.get("kind") not in _CLASSES:
        got = d.get("kind") if isinstance(d, Mapping) else type(d).__name__
        raise ValueError(f"not a metrics dict: kind {got!r}; expected one of {', '.join(_KINDS)}")
    return _CLASSES[d["kind"]].from_dict(d)
