"""What every model is: its stored fields (:class:`ModelMetadata`, declared once) and the handle (:class:`Model`).

A model lives in the DKV as ``Value("model", meta, buffers)``: ``meta`` is :meth:`ModelMetadata.to_meta` (a
msgpack-safe dict, also what a model file holds) and ``buffers`` the numeric arrays named by ``array_names``.
An algorithm subclasses both: its metadata class adds its own fields (Deep Learning's network, encoding,
training counts), its model class adds prediction and scoring. Readers use the typed fields
(``model.meta.epochs``), never the raw dict.

Grid search and cross-validation use only what this base class offers (``metrics``, ``predict``,
``holdout_scores``, ``metrics_from``, ``store``), so they work for any algorithm.

>>> m = ModelMetadata(algo="x", format=1, model_id="m1", kind="regression", params={}, response="y",
...                   response_domain=None, x=["a"], metrics={}, training_frame="t", validation_frame=None,
...                   run_time_s=0.5, array_names=[])
>>> ModelMetadata.from_meta(m.to_meta()) == m
True
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

import numpy as np

import cluster
from cluster.dkv import Value
from frame import Frame, get_frame
from scoring.metrics import ModelMetrics, metrics_from_dict

KINDS: tuple[str, ...] = ("binomial", "multinomial", "regression", "autoencoder")


@dataclass(kw_only=True)
class CrossValidation:
    """What a cross-validated model keeps of its folds (see :mod:`algos.cross_validation`)."""
    nfolds: int
    fold_assignment: str                      # Random, Modulo, Stratified or Column
    models: list[str]                         # fold model ids, in fold order
    kept_models: bool                         # keep_cross_validation_models
    fold_rows: list[int]
    predictions: list[str]                    # per-fold holdout prediction frames (may be empty)
    holdout_predictions: str | None           # the combined holdout prediction frame
    fold_assignment_frame: str | None
    summary: dict                             # {"metrics": [names], "folds": [[value per metric] per fold]}
    fold_epochs: list | None = None           # epochs of each fold model, for algorithms that count epochs


@dataclass(kw_only=True)
class ModelMetadata:
    """The fields every model stores. Subclasses add an algorithm's own fields; :meth:`from_meta` refuses a dict
    with a missing or an unknown field (a file of another format or a damaged one), naming them."""
    algo: str
    format: int                               # the algorithm's model format version (its MODEL_FORMAT)
    model_id: str
    kind: str                                 # one of KINDS
    params: dict                              # the effective parameters (what training really used)
    response: str | None
    response_domain: list | None              # class labels of a classifier
    x: list                                   # predictor columns
    metrics: dict                             # "train" / "valid" / "xval" -> ModelMetrics.to_dict()
    training_frame: str | None
    validation_frame: str | None
    run_time_s: float
    array_names: list                         # names of the value's buffers, in order
    notes: list = field(default_factory=list)  # what the effective parameters changed, and why
    history: list = field(default_factory=list)        # scoring history rows
    owned_frames: list = field(default_factory=list)   # removed with the model
    owned_models: list = field(default_factory=list)   # removed with the model (fold models)
    varimp: list | None = None                # variable importances rows, when computed
    cv: CrossValidation | None = None         # set on the main model of a cross-validated run

    _OMITTED_WHEN_NONE: ClassVar[tuple[str, ...]] = ("varimp", "cv")

    def to_meta(self) -> dict:
        """The msgpack-safe dict stored in the DKV and in model files (optional fields left out when None)."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v is None and f.name in self._OMITTED_WHEN_NONE:
                continue
            out[f.name] = dataclasses.asdict(v) if isinstance(v, CrossValidation) else v
        return out

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]):
        """The typed metadata of a stored model's meta dict."""
        if not isinstance(meta, Mapping):
            raise ValueError(f"model meta must be a dict, got {type(meta).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        required = {f.name for f in dataclasses.fields(cls)
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
        missing, unknown = sorted(required - set(meta)), sorted(set(meta) - names)
        if missing or unknown:
            raise ValueError(f"{cls.__name__}: model meta lacks {missing} / has unknown fields {unknown}")
        values = dict(meta)
        _check_types(cls, values)
        if values.get("cv") is not None:
            values["cv"] = CrossValidation(**values["cv"])
        return cls(**values)

    @classmethod
    def common_of(cls, meta: Mapping[str, Any]) -> "ModelMetadata":
        """The fields every model has, read from any algorithm's meta (to list or remove models of an algorithm
        this process does not know)."""
        names = {f.name for f in dataclasses.fields(ModelMetadata)}
        return ModelMetadata.from_meta({k: v for k, v in meta.items() if k in names})


# the field declarations' types a stored meta may hold (msgpack gives ints for whole floats)
_ACCEPTS: dict[Any, tuple[type, ...]] = {str: (str,), int: (int,), float: (int, float), bool: (bool,),
                                         dict: (dict,), list: (list,), np.ndarray: (np.ndarray,),
                                         CrossValidation: (dict,)}


def _check_types(cls, values: Mapping[str, Any]) -> None:
    """Each field of a stored meta has its declared type (a hand-made file cannot pass a string for a number and
    fail later, far from the cause), a known ``kind``, and a response domain of distinct labels for a classifier
    only. ValueError names the field."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name not in values:
            continue
        v, hint = values[f.name], hints[f.name]
        args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
        ok = tuple(t for a in args if a is not type(None) for t in _ACCEPTS.get(typing.get_origin(a) or a, (object,)))
        if v is None and type(None) in args:
            continue
        if not isinstance(v, ok) or (isinstance(v, bool) and bool not in ok):
            raise ValueError(f"model meta field {f.name!r} must be {_type_text(hint)}, got {type(v).__name__} "
                             f"{v!r:.60}")
    kind, domain = values.get("kind"), values.get("response_domain")
    if kind not in KINDS:
        raise ValueError(f"model meta field 'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
    classifier = kind in ("binomial", "multinomial")
    if classifier != (domain is not None):
        want = "needs its class labels" if classifier else "has none"
        raise ValueError(f"model meta field 'response_domain': a {kind} model {want}, got {domain!r:.60}")
    if classifier and (not all(isinstance(d, str) for d in domain) or len(set(domain)) != len(domain)
                       or len(domain) < 2 or (len(domain) == 2) != (kind == "binomial")):
        raise ValueError(f"model meta field 'response_domain' must be distinct labels (strings), 2 for binomial, "
                         f"3 or more for multinomial; got {domain!r:.80} for a {kind} model")
    for name in ("x", "array_names", "owned_frames", "owned_models"):
        if not all(isinstance(c, str) for c in values.get(name) or []):
            raise ValueError(f"model meta field {name!r} must be a list of strings")


def _type_text(hint) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("numpy.", "np.")


def _metric_getter(method: str, doc: str):
    """A model-level getter of the metrics objects' ``method``, with h2o-py's flags (:meth:`Model.per_set`)."""
    def getter(self, train: bool = False, valid: bool = False, xval: bool = False):
        return self.per_set(method, train, valid, xval)
    getter.__name__ = method
    getter.__doc__ = (doc + " (training metrics by default; ``valid=True`` / ``xval=True`` for the others; several "
                      "flags give a dict, as h2o-py: ``model.logloss(train=True, valid=True)``).")
    return getter


def _call_metric(metrics: ModelMetrics, method: str, kw: dict):
    if not callable(getattr(metrics, method, None)):
        raise ValueError(f"{method} is not available for {metrics.kind} metrics")
    return getattr(metrics, method)(**kw)


class Model:
    """A handle on a model stored in the DKV under ``model_id`` (``cloud`` defaults to the current one).

    >>> model.model_performance(valid=True).logloss()       # doctest: +SKIP
    >>> model.cross_validation_metrics_summary()             # doctest: +SKIP
    """

    #: The algorithm's name, as in ``meta.algo`` and the registry.
    algo: ClassVar[str] = ""
    #: The algorithm's current model format (``meta.format``); files of a newer format are refused.
    MODEL_FORMAT: ClassVar[int] = 1
    Metadata: ClassVar[type[ModelMetadata]] = ModelMetadata

    def __init__(self, model_id: str, value: Value | None = None, cloud=None):
        self.cloud = cloud or cluster.current()
        value = value or self.cloud.dkv.get(model_id)
        if value is None or value.type != "model":
            raise KeyError(f"no model {model_id!r} in the cloud")
        self.model_id = model_id
        self.meta = self.Metadata.from_meta(value.meta)
        self.buffers = tuple(value.buffers)
        self.arrays = dict(zip(self.meta.array_names, self.buffers))

    # ---------------------------------------------------------------- fields
    @property
    def params(self) -> dict:
        """Every effective parameter value (what the model was really trained with)."""
        return dict(self.meta.params)

    actual_params = params

    @property
    def kind(self) -> str:
        return self.meta.kind

    @property
    def response_domain(self) -> list[str] | None:
        return self.meta.response_domain

    def frame_of(self, data, what: str = "test_data") -> Frame:
        """``data`` as a Frame: a Frame, or the key of one in this model's cloud (as h2o-py); TypeError otherwise.
        Every scoring of a frame asks this first, so it also refuses a model removed from the cloud since this
        handle was made (KeyError, as h2o-py's H2OKeyNotFound): a handle must not score with weights the cloud
        no longer has."""
        if self.cloud.dkv.type_of(self.model_id) != "model":
            raise KeyError(f"model {self.model_id!r} is no longer in the cloud (removed): this handle cannot score")
        if isinstance(data, Frame):
            return data
        if isinstance(data, str):
            return get_frame(data, cloud=self.cloud)
        raise TypeError(f"{what} must be a Frame (or a frame key), got {type(data).__name__} {data!r:.40}"
                        + (" (train=True / valid=True / xval=True give the stored metrics)"
                           if isinstance(data, bool) else ""))

    def store(self) -> None:
        """Write this handle's metadata back to the DKV (after changing fields such as ``meta.cv``)."""
        self.cloud.dkv.put(self.model_id, Value("model", self.meta.to_meta(), self.buffers))

    def restore_exports(self) -> None:
        """Re-create what the model exported into frames (called by ``load_model``); nothing by default."""

    def validate(self) -> None:
        """Check that a model read from a file can be used (``load_model`` calls it before storing the model): raise
        ValueError naming what is inconsistent. The fields' types are checked by ``Metadata.from_meta``; an
        algorithm adds its own rules (shapes, settings); none by default."""

    # ---------------------------------------------------------------- metrics
    def metrics(self, which: str) -> ModelMetrics | None:
        """The stored metrics on ``train``, ``valid`` or ``xval`` data, or None."""
        d = self.meta.metrics.get(which)
        return None if d is None else metrics_from_dict(d)

    def model_performance(self, test_data: Frame | None = None, train: bool = False, valid: bool = False,
                          xval: bool = False) -> ModelMetrics:
        """Metrics on ``test_data`` (scored now), or the stored training/validation/cross-validation metrics."""
        if test_data is not None:
            return self.score_frame(self.frame_of(test_data, "test_data"))
        for asked, which, hint in ((xval, "xval", "train with nfolds >= 2"),
                                   (valid, "valid", "train with a validation_frame")):
            if asked:
                m = self.metrics(which)
                if m is None:
                    name = "cross-validation" if which == "xval" else "validation"
                    raise ValueError(f"this model has no {name} metrics ({hint})")
                return m
        return self.metrics("train")

    def best_metrics(self) -> ModelMetrics:
        """H2O's choice for comparing models: cross-validation, else validation, else training metrics."""
        for which in ("xval", "valid", "train"):
            m = self.metrics(which)
            if m is not None:
                return m
        raise ValueError(f"model {self.model_id} has no metrics")

    mse, rmse, mae = (_metric_getter("mse", "Mean squared error"), _metric_getter("rmse", "Root mean squared error"),
                      _metric_getter("mae", "Mean absolute error"))
    rmsle = _metric_getter("rmsle", "Root mean squared logarithmic error")
    mean_residual_deviance = _metric_getter("mean_residual_deviance", "Mean residual deviance")
    r2 = _metric_getter("r2", "Coefficient of determination")
    logloss, auc = _metric_getter("logloss", "Logarithmic loss"), _metric_getter("auc", "Area under the ROC curve")
    aucpr, gini = _metric_getter("aucpr", "Area under the precision-recall curve"), _metric_getter("gini", "Gini")
    classification_error = _metric_getter("classification_error", "Classification error")
    mean_per_class_error = _metric_getter("mean_per_class_error", "Mean per-class error")
    hit_ratio_table = _metric_getter("hit_ratio_table", "Top-k hit ratios (multinomial)")

    def confusion_matrix(self, metrics=None, thresholds=None, train: bool = False, valid: bool = False,
                         xval: bool = False):
        """The confusion matrix (binomial: at the threshold maximising ``metrics``, default F1, or at
        ``thresholds``), with h2o-py's flags as the metric getters."""
        kw = {k: v for k, v in (("metrics", metrics), ("thresholds", thresholds)) if v is not None}
        return self.per_set("confusion_matrix", train, valid, xval, **kw)

    def per_set(self, method: str, train: bool = False, valid: bool = False, xval: bool = False, **kw):
        """``method(**kw)`` of the stored metrics, h2o-py's way: the training set by default, one flag its set's
        value, several flags a dict by set (None for a set this model lacks; one set it lacks is an error)."""
        asked = [w for w, on in (("train", train), ("valid", valid), ("xval", xval)) if on] or ["train"]
        if len(asked) == 1:
            return _call_metric(self.model_performance(**{asked[0]: True}), method, kw)
        return {w: None if (m := self.metrics(w)) is None else _call_metric(m, method, kw) for w in asked}

    def scoring_history(self):
        """The scoring history as a pandas DataFrame with H2O's columns."""
        import pandas as pd
        df = pd.DataFrame(self.meta.history)
        return df.drop(columns=[c for c in df.columns if c == "duration_s" or c.startswith("_")])

    # ---------------------------------------------------------------- what an algorithm provides
    def predict(self, test_data: Frame) -> Frame:
        """A frame of predictions (``predict`` and, for classifiers, one probability column per class)."""
        raise NotImplementedError

    def score_frame(self, fr: Frame) -> ModelMetrics:
        """Metrics of this model on a frame holding the response column (weighted by the model's weights column
        when the frame has it)."""
        w = self.meta.params.get("weights_column")
        return self.metrics_from(*self.holdout_scores(fr, w if w and w in fr.names else None))

    def holdout_scores(self, fr: Frame, weights_column: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(actual, predicted, weights) of the rows of ``fr`` with a positive weight (all rows without a weights
        column), in the response's own units: classes as codes of this model's domain and class probabilities,
        or numbers."""
        raise NotImplementedError

    def metrics_from(self, actual: np.ndarray, predicted: np.ndarray, weights: np.ndarray) -> ModelMetrics:
        """Metrics of predictions in the response's units (:meth:`holdout_scores`), with this model's settings."""
        raise NotImplementedError

    # ---------------------------------------------------------------- cross-validation results
    def _cv(self) -> CrossValidation:
        if self.meta.cv is None:
            raise ValueError(f"model {self.model_id} was not cross-validated (train with nfolds >= 2 or a "
                             f"fold_column)")
        return self.meta.cv

    def cross_validation_models(self) -> list["Model"]:
        """The fold models, in fold order (needs ``keep_cross_validation_models=True``, the default)."""
        cv = self._cv()
        if not cv.kept_models:
            raise ValueError(f"model {self.model_id} did not keep its fold models "
                             f"(keep_cross_validation_models=False)")
        return [type(self)(k, cloud=self.cloud) for k in cv.models]         # fold models are of this algorithm

    def cross_validation_predictions(self) -> list[Frame]:
        """Per-fold holdout prediction frames (rows of the training frame; NA outside the fold)."""
        cv = self._cv()
        if not cv.predictions:
            raise ValueError(f"model {self.model_id} kept no predictions (keep_cross_validation_predictions=False)")
        return [get_frame(k, cloud=self.cloud) for k in cv.predictions]

    def cross_validation_holdout_predictions(self) -> Frame:
        """Every training row predicted once, by the fold model that did not train on it."""
        cv = self._cv()
        if not cv.holdout_predictions:
            raise ValueError(f"model {self.model_id} kept no predictions (keep_cross_validation_predictions=False)")
        return get_frame(cv.holdout_predictions, cloud=self.cloud)

    def cross_validation_fold_assignment(self) -> Frame:
        """The fold of every training row (needs ``keep_cross_validation_fold_assignment=True``)."""
        cv = self._cv()
        if not cv.fold_assignment_frame:
            raise ValueError(f"model {self.model_id} kept no fold assignment "
                             f"(keep_cross_validation_fold_assignment=False)")
        return get_frame(cv.fold_assignment_frame, cloud=self.cloud)

    def cross_validation_metrics_summary(self):
        """H2O's summary table: one row per metric, columns mean, sd (over folds) and cv_<i>_valid."""
        import pandas as pd
        cv = self._cv()
        values = np.asarray(cv.summary["folds"], dtype=np.float64)          # (folds, metrics)
        table = pd.DataFrame(values.T, index=cv.summary["metrics"],
                             columns=[f"cv_{i + 1}_valid" for i in range(values.shape[0])])
        table.insert(0, "sd", values.std(axis=0, ddof=1) if values.shape[0] > 1 else np.nan)
        table.insert(0, "mean", values.mean(axis=0))
        return table

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.model_id}: {self.kind}>"
