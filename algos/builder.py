"""Model builders: the small protocol through which estimators, grid search and cross-validation train any algorithm.

An algorithm provides a :class:`ModelBuilder`:

* ``params`` -- its :class:`~algos.params.ParamTable` (what parameters exist, defaults, ranges, help, group);
* ``prepare(params, x, y, training_frame, validation_frame)`` -- every check against the data, no work, giving a
  :class:`TrainingRun` (effective parameters with the seed drawn, resolved predictors, the model id) whose
  ``run()`` trains and stores the model;
* ``model_class`` -- its :class:`~algos.model.Model` subclass, whose handles give the model metrics
  (``metrics``, ``holdout_scores``, ``metrics_from``) grid search and cross-validation compare and combine.

:meth:`ModelBuilder.train` adds cross-validation when the parameters ask for it; :class:`Estimator` is the
h2o-py-style front (``DeepLearningEstimator(**params).train(x, y, training_frame)``).

>>> class Echo(ModelBuilder):
...     algo = "echo"
>>> Echo().algo
'echo'
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from frame import Frame, get_frame

from .cross_validation import train_with_cv

if TYPE_CHECKING:
    from .model import Model
    from .params import ParamTable


class TrainingRun(Protocol):
    """One model's training, checked and ready (what :meth:`ModelBuilder.prepare` returns)."""
    params: dict            # the effective parameters (seed drawn; what the model will record)
    x: list                 # the predictor columns
    y: str | None           # the response column (None for unsupervised models)
    model_id: str
    cloud: Any

    def run(self) -> "Model":
        """Train, store the model in the DKV under ``model_id`` and return its handle."""


class ModelBuilder:
    """An algorithm, as estimators, grid search and cross-validation drive it (see the module docstring)."""

    algo: ClassVar[str] = ""
    model_prefix: ClassVar[str] = ""          # generated ids: <prefix>_model_<hex>, Grid_<prefix>_<frame>_<hex>
    params: ClassVar["ParamTable"]
    model_class: ClassVar[type["Model"]]

    def prepare(self, params: dict, x, y, training_frame: Frame, validation_frame: Frame | None, *, job=None,
                verbose: bool = False) -> TrainingRun:
        """Check validated ``params`` against the data (ValueError before any work) and return the run. ``job``: an
        outer job to report into and be cancelled by; without it the run is its own Job."""
        raise NotImplementedError

    def cv_fold_params(self, params: dict) -> dict:
        """Parameter changes of a fold model beyond the generic ones (folds, weights, time); none by default."""
        return {}

    def cv_main_params(self, params: dict, fold_models: list) -> dict:
        """Parameter changes of the main model of a cross-validated run, given the fold models; none by default."""
        return {}

    def train(self, params: dict, x, y, training_frame: Frame, validation_frame: Frame | None, *, job=None,
              verbose: bool = False) -> "Model":
        """Validate ``params``, then train one model, or the fold models and the main model when ``nfolds >= 2`` or
        a ``fold_column`` asks for cross-validation."""
        p = self.params.validate(params)
        if isinstance(y, int) and not isinstance(y, bool) and isinstance(training_frame, Frame):
            y = column_name(training_frame, y, "y")         # an index, as h2o-py: every algorithm sees a name
        if p["nfolds"] >= 2 or p["fold_column"] is not None:
            return train_with_cv(self, p, x, y, training_frame, validation_frame, verbose, job=job)
        return self.prepare(p, x, y, training_frame, validation_frame, job=job, verbose=verbose).run()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.algo}>"


class Estimator:
    """H2O's estimator interface over a :class:`ModelBuilder` (a subclass sets ``builder``).

    Parameters are checked when given (unknown name, wrong type, out of range: ``ValueError`` naming the
    parameter) and again against the data before training starts. After ``train`` the estimator answers the
    model's methods (``predict``, ``model_performance``, ``scoring_history``, ...), as h2o-py's does.
    """

    builder: ClassVar[ModelBuilder]

    def __init__(self, **params):
        self._parms = self.builder.params.validate(params)     # raises ValueError naming a bad parameter
        self._given = set(params)
        self._frames = {}                                      # Frames given as parameters (a selection has no key)
        self._keep_frames(params)
        self.model: Model | None = None

    @property
    def algo(self) -> str:
        return self.builder.algo

    @property
    def given_params(self) -> dict:
        """The parameters given to the estimator (not the defaults), canonical names and values."""
        return {k: self._parms[self.builder.params.canonical(k)] for k in self._given}

    # sklearn-style access
    def get_params(self, deep: bool = True) -> dict:
        return dict(self._parms)

    def set_params(self, **params) -> "Estimator":
        self._parms = self.builder.params.validate({**self.given_params, **params})
        self._given |= set(params)
        self._keep_frames(params)
        return self

    def _keep_frames(self, params: dict) -> None:
        for name, value in params.items():
            canon = self.builder.params.aliases.get(name, name)
            if canon in ("training_frame", "validation_frame"):
                self._frames[canon] = value if isinstance(value, Frame) else None

    @property
    def params(self) -> dict:
        return self.model.params if self.model is not None else dict(self._parms)

    def __getattr__(self, name):
        """A parameter's value (``est.hidden``, as h2o-py's properties: what was given, or the default), else,
        once trained, the model's attribute (``est.predict``); ``model_id`` is the trained model's."""
        if name.startswith("_") or name in ("model",):
            raise AttributeError(name)
        model = self.__dict__.get("model")
        table = self.builder.params
        canon = table.aliases.get(name, name)
        if canon in table and not (model is not None and canon == "model_id"):
            return copy.deepcopy(self.__dict__["_parms"][canon])
        if model is None:
            raise AttributeError(f"{name!r}: train the estimator first (estimator.train(...))")
        return getattr(model, name)

    def __setattr__(self, name, value):
        """``est.hidden = [50]`` sets a parameter, checked now (h2o-py's property setters); any other public name
        is refused rather than kept and ignored (``est.hiden = ...`` names the parameter meant)."""
        if name.startswith("_") or name == "model" or name in type(self).__dict__ or name in Estimator.__dict__:
            object.__setattr__(self, name, value)
        elif self.builder.params.aliases.get(name, name) in self.builder.params:
            self.set_params(**{name: value})
        else:
            raise AttributeError(f"cannot set {name!r} on a {type(self).__name__}: "
                                 f"{self.builder.params.unknown(name)}")

    def __repr__(self) -> str:
        return repr(self.model) if self.model is not None else f"<{type(self).__name__} (not trained)>"

    def __str__(self) -> str:
        return str(self.model) if self.model is not None else repr(self)

    def train(self, x=None, y=None, training_frame: Frame | None = None, validation_frame: Frame | None = None,
              weights_column: str | None = None, offset_column: str | None = None, fold_column: str | None = None,
              ignored_columns=None, model_id: str | None = None, max_runtime_secs: float | None = None,
              verbose: bool = False) -> "Estimator":
        """Train on ``training_frame`` (``y``: the response; ``x``: predictors, default all other columns).

        The response's type decides the problem, as H2O: an enum column (``fr["y"].asfactor()``) means
        classification, a numeric one regression.
        """
        overrides = {k: v for k, v in (("weights_column", weights_column), ("offset_column", offset_column),
                                       ("fold_column", fold_column), ("ignored_columns", ignored_columns),
                                       ("model_id", model_id), ("max_runtime_secs", max_runtime_secs))
                     if v is not None}
        parms = self.builder.params.validate({**self.given_params, **overrides})
        # as h2o-py: what train() is not given comes from the estimator's parameters; frames may be keys
        training_frame = self._frame_arg("training_frame", training_frame, parms)
        validation_frame = self._frame_arg("validation_frame", validation_frame, parms)
        x = parms["x"] if x is None else x
        self.model = self.builder.train(parms, x, y, training_frame, validation_frame, verbose=verbose)
        return self

    def _frame_arg(self, name: str, given, parms: dict) -> Frame | None:
        """The frame ``train`` uses for ``name``: the argument, else the parameter (a Frame or a key); a key is
        looked up in the current cloud (ValueError naming it when there is no such frame)."""
        if given is None:
            given = self._frames.get(name) or parms.get(name)
        if isinstance(given, str):
            try:
                return get_frame(given)
            except KeyError:
                raise ValueError(f"{name} {given!r}: no such frame in the cloud") from None
        return given


# ----------------------------------------------------------------------------------------- checks on the data
def check_frames(train, valid) -> None:
    """The training frame is a Frame; the validation frame a Frame or None."""
    if train is None or not isinstance(train, Frame):
        raise ValueError("training_frame must be a Frame (see frame.import_file / Frame.from_pandas)")
    if valid is not None and not isinstance(valid, Frame):
        raise ValueError("validation_frame must be a Frame or None")


def resolve_columns(train: Frame, x, y, params: dict, *, supervised: bool = True,
                    algo_name: str = "this algorithm") -> tuple[list[str], list[str]]:
    """(predictors, dropped string columns) of a training run: ``x`` (names or indices, default every other
    column but ``ignored_columns``; not both, as h2o-py) without the response, weights, offset, fold and ignored
    columns; string columns cannot be predictors. ``y`` is a name or an index. ValueError names a column missing
    from the frame, an index out of range, or a special column of the wrong type (:func:`check_special_columns`).

    >>> resolve_columns(train, x=["a"], y="y", params={"ignored_columns": ["b"]})     # doctest: +SKIP
    Traceback (most recent call last):
    ValueError: Properties x and ignored_columns cannot be specified simultaneously
    """
    names = train.names
    ignored = params.get("ignored_columns") or []
    if x is not None and ignored:
        raise ValueError("Properties x and ignored_columns cannot be specified simultaneously")
    y = column_name(train, y, "y") if y is not None else None
    special = {c for c in (params.get("weights_column"), params.get("offset_column"), params.get("fold_column"))
               if c}
    for c in special | ({y} if y else set()):
        if c not in names:
            raise ValueError(f"column {c!r} is not in the training frame {train.key}")
    for c in ignored:
        if c not in names:
            raise ValueError(f"ignored column {c!r} is not in the training frame {train.key}")
    if supervised and y is None:
        raise ValueError("y (the response column) is required unless autoencoder=True")
    check_special_columns(train, y, params)
    if x is None:
        x = [c for c in names if c != y and c not in special and c not in ignored]
    elif isinstance(x, (str, int)):
        x = [x]
    named = [column_name(train, c, "predictor") for c in x]
    x = [c for c in named if c != y and c not in special]
    types = train.types
    dropped = [c for c in x if types[c] == "string"]
    usable = [c for c in x if types[c] in ("numeric", "enum", "time")]
    if not usable:
        why = f"string columns cannot feed {algo_name}: {dropped[:10]}" if dropped else \
            "x names only the response or special columns" if named else "x is empty; None means every other column"
        raise ValueError(f"no usable predictor columns ({why})")
    return usable, dropped


def response_name(train: Frame, y, params: dict) -> str | None:
    """The response column's name: ``y`` (a name or an index) or the ``response_column`` parameter (h2o-py's
    alias); both given, they must agree."""
    given = params.get("response_column")
    if y is None:
        y = given
    y = None if y is None else column_name(train, y, "y")
    if given is not None and y != given:
        raise ValueError(f"y {y!r} and response_column {given!r} name different columns: give one")
    return y


def column_name(train: Frame, c, what: str) -> str:
    """The name of column ``c`` of ``train`` given by name or index (negative from the end, as h2o-py).

    ValueError names a column missing from the frame, or an index out of range and the column count."""
    names = train.names
    if isinstance(c, bool) or not isinstance(c, (str, int)):
        raise ValueError(f"{what} must be a column name or index, got {type(c).__name__} {c!r}")
    if isinstance(c, int):
        if not -len(names) <= c < len(names):
            raise ValueError(f"{what} index {c} is out of range: the training frame {train.key} has {len(names)} "
                             f"columns")
        return names[c]
    if c not in names:
        raise ValueError(f"{what} {c!r} is not in the training frame {train.key}")
    return c


def check_special_columns(train: Frame, y: str | None, params: dict) -> None:
    """H2O's checks of the weights and offset columns: numeric, weights non-negative, neither the response."""
    types = train.types
    for role in ("weights_column", "offset_column", "fold_column"):
        if y is not None and params.get(role) == y:
            raise ValueError(f"Response column must be different from {role} (both are {y!r})")
    for role, what in (("weights_column", "weights"), ("offset_column", "offset")):
        c = params.get(role)
        if c and types[c] != "numeric":
            raise ValueError(f"{what} must be numeric: {role} {c!r} is {types[c]}")
    w = params.get("weights_column")
    if w:
        low = dict(zip(train.names, train.rollups()))[w]["min"]
        if low is not None and low < 0:
            raise ValueError(f"weights must be non-negative: weights_column {w!r} has a minimum of {low}")


def problem_of(train: Frame, y: str | None) -> tuple[str, int]:
    """(problem, classes) of a response column: binomial or multinomial for an enum, regression for a number,
    autoencoder without a response (classes 0)."""
    if y is None:
        return "autoencoder", 0
    t = train.types[y]
    if t == "enum":
        k = len(train.domains[y] or [])
        if k < 2:
            raise ValueError(f"response {y!r} has {k} level(s): classification needs at least 2")
        return ("binomial" if k == 2 else "multinomial"), k
    if t != "numeric":
        raise ValueError(f"response {y!r} is a {t} column: use a numeric or categorical response")
    return "regression", 1
