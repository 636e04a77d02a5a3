"""Grid search over any model builder's hyper parameters (H2O's ``H2OGridSearch``).

>>> grid = GridSearch(DeepLearningEstimator(epochs=5), grid_id="dl_grid",
...                   hyper_params={"activation": ["Tanh", "Rectifier"], "hidden": [[20], [20, 20]]},
...                   search_criteria={"strategy": "RandomDiscrete", "max_models": 3, "seed": 1})  # doctest: +SKIP
>>> grid.train(y="CAPSULE", training_frame=train, validation_frame=valid, l1=1e-5)              # doctest: +SKIP
>>> best = grid.get_grid(sort_by="auc").models[0]   # sorted, best first (auc: decreasing)     # doctest: +SKIP
>>> grid.sorted_metric_table()              # pandas: hyper parameters, model_ids, auc          # doctest: +SKIP

* Every hyper parameter name and value is checked when the grid is made, and against the fixed
  parameters when ``train`` starts (a parameter may not be both fixed and searched, as in H2O): nothing
  trains before that. A combination that fails (at validation against the data or during training) is
  recorded with its error in ``failed_params`` / ``failure_details`` and the grid goes on.
* ``Cartesian`` walks every combination in a stable order (``itertools.product`` over the hyper
  parameters in the order given: the last one varies fastest). ``max_models`` and ``max_runtime_secs``
  bound it too. ``RandomDiscrete`` draws combinations without replacement from ``seed`` until the space,
  ``max_models`` or ``max_runtime_secs`` is exhausted; a model whose ``seed`` is not fixed gets
  ``seed + model number`` (H2O), and each model's ``max_runtime_secs`` is capped by the grid's remaining
  time. With ``stopping_rounds`` > 0 it stops as H2O's ``RandomDiscreteValueWalker.stopEarly``: the models'
  ``stopping_metric`` values (cross-validation, else validation, else training metrics) are ordered
  worst to best and the moving-average rule of :func:`algos.stopping.should_stop` is applied to them.
* The grid runs as one Job (progress: models attempted / planned). Cancelling it stops between models,
  and the running model stops at its next iteration (its training run reports into the grid's job).
* Any algorithm's builder works (:mod:`algos.builder`): the grid checks names and values with its parameter
  table, trains through ``builder.train`` and compares models by their metrics (``Model.best_metrics``).
* The grid lives in the DKV under ``grid_id`` (type ``grid``: hyper parameters, model ids, failures), so
  ``tools.admin keys`` lists it and :func:`get_grid` finds it from any client.
* Training under the ``grid_id`` of an existing grid appends to it, as H2O: the earlier models and failures
  stay, new models are numbered after the grid's (a number whose key is taken, by any value, is passed over:
  no key is replaced), and a combination the grid already holds a model for (same parameters, predictors,
  response and frames, ``max_runtime_secs`` aside: H2O's parameter checksum) is not trained again (logged on
  ``aquifer.grid``; it counts towards ``max_models`` as in H2O). A failed combination is tried again. The
  stored hyper parameters are every value searched so far. Appending is refused before any job when the grid
  is incompatible: another algorithm, another training frame (by key, or the same key now holding other
  data: H2O's "Cannot append new models to a grid with different training input"), another response, other
  hyper parameter names; or while a job builds the grid. A ``grid_id`` holding something else (a frame, a
  model) is refused (H2O's "Name conflict").
"""
from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import re
import time
import uuid
import warnings

import numpy as np

import cluster
from cluster import Job
from cluster.dkv import Value
from cluster.jobs import lock_holder
from frame import Frame
from scoring.metrics import MORE_IS_BETTER, STOPPING_METRICS

from .builder import Estimator, ModelBuilder, response_name
from .model import Model
from .progress import ScaledJob
from .registry import builder_for, get_model, remove_model
from .stopping import should_stop

log = logging.getLogger("aquifer.grid")

STRATEGIES = ("Cartesian", "RandomDiscrete")
# parameters the grid (or train's arguments) sets per model or per grid: never searched
_NOT_HYPER = frozenset({"model_id", "training_frame", "validation_frame", "response_column", "x",
                        "ignored_columns", "checkpoint"})
# left out of a model's parameter checksum (H2O's GridSearch.IGNORED_FIELDS_PARAM_HASH, and the id the grid gives)
_NOT_IN_CHECKSUM = frozenset({"model_id", "max_runtime_secs", "export_checkpoints_dir"})
_CRITERIA = {"strategy": "Cartesian", "max_models": 0, "max_runtime_secs": 0.0, "seed": -1,
             "stopping_rounds": 0, "stopping_metric": "AUTO", "stopping_tolerance": 0.001}
_RANDOM_ONLY = ("seed", "stopping_rounds", "stopping_metric", "stopping_tolerance")
# the grid's convergence metrics: H2O's stopping metrics but lift_top_group (no gains/lift table yet)
_STOPPING = ("AUTO",) + tuple(m for m in STOPPING_METRICS if m != "lift_top_group")

# get_grid's sort_by names (H2O's) -> (metrics getter, more is better)
_SORT = {
    "logloss": ("logloss", False), "mse": ("mse", False), "rmse": ("rmse", False), "auc": ("auc", True),
    "aucpr": ("aucpr", True), "pr_auc": ("aucpr", True), "mae": ("mae", False), "r2": ("r2", True),
    "err": ("classification_error", False), "misclassification": ("classification_error", False),
    "classification_error": ("classification_error", False),
    "mean_per_class_error": ("mean_per_class_error", False), "deviance": ("mean_residual_deviance", False),
    "mean_residual_deviance": ("mean_residual_deviance", False), "rmsle": ("rmsle", False),
}


# ------------------------------------------------------------------------------------------ checks
def _canonical(name, table) -> str:
    if not isinstance(name, str):
        raise ValueError(f"hyper parameter names must be strings, got {name!r}")
    try:
        canon = table.canonical(name)
    except ValueError as exc:                       # its message names the closest known parameters
        raise ValueError(f"hyper_params: {exc}") from None
    if canon in _NOT_HYPER:
        raise ValueError(f"hyper_params: {name!r} cannot be searched (the grid sets it; give it to train())")
    return canon


def check_hyper_params(hyper_params, table) -> dict[str, list]:
    """Hyper parameters with canonical names and each value converted and checked on its own by the builder's
    parameter ``table``.

    Each value must be valid for its parameter (type, range, enum spelling); combinations are checked when
    their model is built. ``ValueError`` names the parameter and the value.

    >>> from algos.deeplearning import PARAMS
    >>> check_hyper_params({"activation": ["tanh", "Rectifier"], "hidden": [[10], [20, 20]]}, PARAMS)
    {'activation': ['Tanh', 'Rectifier'], 'hidden': [[10], [20, 20]]}
    >>> check_hyper_params({"hiden": [[10]]}, PARAMS)
    Traceback (most recent call last):
    ...
    ValueError: hyper_params: unknown Deep Learning parameter 'hiden'; did you mean 'hidden'?
    """
    if not isinstance(hyper_params, dict) or not hyper_params:
        raise ValueError(f"hyper_params must be a non-empty dict of parameter -> list of values, got {hyper_params!r}")
    out: dict[str, list] = {}
    for name, values in hyper_params.items():
        canon = _canonical(name, table)
        if canon in out:
            raise ValueError(f"hyper_params: {canon!r} is given twice (also through an alias)")
        if not isinstance(values, (list, tuple)) or len(values) == 0:
            raise ValueError(f"hyper_params[{name!r}] must be a non-empty list of values, got {values!r}")
        converted = []
        for v in values:
            if v is None:
                raise ValueError(f"hyper_params[{name!r}]: None is not a value; list the default explicitly")
            try:
                converted.append(table[canon].convert(v))
            except ValueError as exc:
                raise ValueError(f"hyper_params[{name!r}] value {v!r}: {exc}") from None
        out[canon] = converted
    return out


def check_search_criteria(criteria) -> dict:
    """Search criteria with H2O's defaults filled in (``ValueError`` names a bad key or value).

    >>> check_search_criteria({"strategy": "RandomDiscrete", "max_models": 3})["stopping_tolerance"]
    0.001
    """
    if criteria is None:
        criteria = {}
    if not isinstance(criteria, dict):
        raise ValueError(f"search_criteria must be a dict, got {criteria!r}")
    unknown = sorted(set(criteria) - set(_CRITERIA))
    if unknown:
        raise ValueError(f"search_criteria: unknown key(s) {unknown}; known: {', '.join(_CRITERIA)}")
    c = {**_CRITERIA, **{k: v for k, v in criteria.items() if v is not None}}
    strategy = next((s for s in STRATEGIES if isinstance(c["strategy"], str) and s.lower() == c["strategy"].lower()),
                    None)
    if strategy is None:
        raise ValueError(f"search_criteria strategy must be one of {', '.join(STRATEGIES)}, got {c['strategy']!r}")
    c["strategy"] = strategy
    if strategy == "Cartesian":
        given = [k for k in _RANDOM_ONLY if k in criteria and criteria[k] is not None]
        if given:
            raise ValueError(f"search_criteria {given} apply to the RandomDiscrete strategy only")
    for key in ("max_models", "stopping_rounds"):
        if isinstance(c[key], bool) or not isinstance(c[key], (int, np.integer)) or c[key] < 0:
            raise ValueError(f"search_criteria {key} must be an integer >= 0, got {c[key]!r}")
        c[key] = int(c[key])
    for key in ("max_runtime_secs", "stopping_tolerance"):
        v = c[key]
        if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not math.isfinite(v) or v < 0:
            raise ValueError(f"search_criteria {key} must be a finite number >= 0, got {v!r}")
        c[key] = float(v)
    if isinstance(c["seed"], bool) or not isinstance(c["seed"], (int, np.integer)):
        raise ValueError(f"search_criteria seed must be an integer (-1: random), got {c['seed']!r}")
    c["seed"] = int(c["seed"])
    metric = next((m for m in _STOPPING if isinstance(c["stopping_metric"], str)
                   and m.lower() == c["stopping_metric"].lower()), None)
    if metric is None:
        raise ValueError(f"search_criteria stopping_metric must be one of {', '.join(_STOPPING)}, "
                         f"got {c['stopping_metric']!r}")
    c["stopping_metric"] = metric
    return c


# ------------------------------------------------------------------------------------------ walking the space
def cartesian(hyper: dict[str, list]) -> list[tuple[int, ...]]:
    """Every combination's value indices, the last parameter varying fastest.

    >>> cartesian({"a": [1, 2], "b": ["x", "y", "z"]})[:4]
    [(0, 0), (0, 1), (0, 2), (1, 0)]
    """
    return list(itertools.product(*(range(len(v)) for v in hyper.values())))


def random_discrete(hyper: dict[str, list], seed: int):
    """Combinations' value indices drawn at random without replacement (a generator; ends with the space).

    >>> sorted(random_discrete({"a": [1, 2], "b": [3, 4]}, seed=7))
    [(0, 0), (0, 1), (1, 0), (1, 1)]
    """
    sizes = [len(v) for v in hyper.values()]
    space = math.prod(sizes)
    rng = np.random.default_rng(None if seed == -1 else seed & 0xFFFFFFFFFFFFFFFF)
    seen: set[tuple[int, ...]] = set()
    while len(seen) < space:
        combo = tuple(int(rng.integers(0, n)) for n in sizes)
        if combo not in seen:               # redraw a visited combination (H2O's walker does the same)
            seen.add(combo)
            yield combo


def grid_should_stop(values: list[float], rounds: int, tolerance: float, more_is_better: bool) -> bool:
    """H2O's grid convergence test: the models' metric values ordered worst to best, then the moving-average
    rule (stop when the best ``rounds`` models do not beat the ``rounds`` before them by ``tolerance``).

    >>> grid_should_stop([0.50, 0.40, 0.41, 0.40, 0.40], 2, 0.05, more_is_better=False)
    True
    >>> grid_should_stop([0.9, 0.7, 0.5, 0.3, 0.1], 2, 0.01, more_is_better=False)
    False
    """
    vals = [v for v in values if v is not None and not math.isnan(v)]
    ordered = sorted(vals) if more_is_better else sorted(vals, reverse=True)
    return should_stop(ordered, rounds, tolerance, more_is_better=more_is_better)


def _plain(v):
    if isinstance(v, Frame):
        return v.key
    if isinstance(v, Model):
        return v.model_id
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def params_checksum(params: dict, table, x, response: str | None, training_frame: Frame,
                    validation_frame: Frame | None) -> str:
    """What decides a grid's model, as one string (H2O's ``Parameters.checksum``): every parameter of ``table``
    with its default filled in (``max_runtime_secs``, ``export_checkpoints_dir`` and ``model_id`` left out, as
    H2O), the predictors, the response and the frames' keys. Equal for two runs that would train the same model.

    >>> from algos.deeplearning import PARAMS
    >>> from types import SimpleNamespace
    >>> fr = SimpleNamespace(key="train.hex")                        # a stand-in for the frame: only its key is read
    >>> a = params_checksum({"hidden": [5], "max_runtime_secs": 3}, PARAMS, None, "y", fr, None)
    >>> a == params_checksum({"hidden": [5]}, PARAMS, None, "y", fr, None)
    True
    >>> a == params_checksum({"hidden": [6]}, PARAMS, None, "y", fr, None)
    False
    """
    with warnings.catch_warnings():               # deprecated parameters: the builder warns once, when it trains
        warnings.simplefilter("ignore")
        full = table.validate(params)
    fields = {k: _plain(v) for k, v in full.items() if k not in _NOT_IN_CHECKSUM}
    fields["(x)"] = _plain(list(x)) if isinstance(x, (list, tuple)) else x
    fields["(response)"] = response
    fields["(frames)"] = [training_frame.key, validation_frame.key if validation_frame is not None else None]
    blob = json.dumps(fields, sort_keys=True, default=repr)
    return hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()


def frame_checksum(fr: Frame) -> str:
    """What identifies a frame's data: its columns' names and vecs and its row layout. Vec keys are never reused,
    so a frame re-imported or with a column replaced under the same key has another checksum (H2O compares a
    checksum of the data itself)."""
    blob = json.dumps([fr.names, fr.vecs, fr.espc])
    return hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()


# ------------------------------------------------------------------------------------------ the grid
class GridSearch:
    """H2O's grid search for any model builder (see the module docstring).

    ``model``: an estimator class (:class:`~algos.DeepLearningEstimator`), an instance of one whose given
    parameters are the base of every model, or a :class:`~algos.builder.ModelBuilder`. ``hyper_params``:
    parameter -> list of values. ``search_criteria``: strategy (Cartesian | RandomDiscrete), max_models,
    max_runtime_secs, and for RandomDiscrete seed, stopping_rounds, stopping_metric, stopping_tolerance (H2O's
    defaults: 0, 0, -1, 0, AUTO, 0.001).
    """

    def __init__(self, model, hyper_params: dict, grid_id: str | None = None, search_criteria: dict | None = None):
        if isinstance(model, Estimator):
            self.builder, self._base = model.builder, model.given_params
        elif isinstance(model, type) and issubclass(model, Estimator):
            self.builder, self._base = model.builder, {}
        elif isinstance(model, ModelBuilder):
            self.builder, self._base = model, {}
        else:
            raise ValueError(f"model must be an estimator class (e.g. DeepLearningEstimator), an instance of one or "
                             f"a model builder, got {model!r}")
        if grid_id is not None and (not isinstance(grid_id, str) or not grid_id or grid_id.startswith(("$", "@"))):
            raise ValueError(f"grid_id must be a non-empty string not starting with $ or @, got {grid_id!r}")
        self.hyper_params = check_hyper_params(hyper_params, self.builder.params)
        self.search_criteria = check_search_criteria(search_criteria)
        self.grid_id = grid_id
        self.models: list[Model] = []
        self.model_hypers: list[dict] = []        # each model's hyper parameter values, as self.models
        self.failed_params: list[dict] = []
        self.failure_details: list[str] = []
        self.job_key: str | None = None
        self._training_frame: str | None = None
        self._frame_checksum: str | None = None
        self._response: str | None = None
        self._checksums: dict[str, str] = {}     # model id -> params_checksum, to skip what the grid has
        self._space: dict[str, list] = {}        # the values searched by earlier runs of the stored grid
        self._last_number = 0                    # the last <grid_id>_model_<n> number taken
        self._cloud = None
        self._sort = (None, None)                # the last get_grid order, for sorted_metric_table and printing
        self.status = "CREATED"

    @property
    def model_ids(self) -> list[str]:
        return [m.model_id for m in self.models]

    @property
    def hyper_names(self) -> list[str]:
        return list(self.hyper_params)

    def __len__(self) -> int:
        return len(self.models)

    def __repr__(self) -> str:
        return (f"<GridSearch {self.grid_id or '(not trained)'}: {len(self.models)} models, "
                f"{len(self.failed_params)} failed, hyper parameters {self.hyper_names}>")

    def __str__(self) -> str:
        """``print(grid)`` shows the models sorted as the last ``get_grid`` sorted them, as h2o-py's grid does."""
        if not self.models:
            return repr(self)
        return f"{repr(self)}\n{self._table(*self._sort).to_string(index=False)}"

    def show(self) -> None:
        print(self)

    def get_hyperparams_dict(self, model_id: str) -> dict:
        """The hyper parameter values of one of the grid's models (h2o-py's ``get_hyperparams_dict``)."""
        for m, h in zip(self.models, self.model_hypers):
            if m.model_id == model_id:
                return dict(h)
        raise KeyError(f"no model {model_id!r} in grid {self.grid_id}")

    # ---------------------------------------------------------------- training
    def train(self, x=None, y=None, training_frame: Frame | None = None, validation_frame: Frame | None = None,
              verbose: bool = False, **fixed_params) -> "GridSearch":
        """Build the grid's models on ``training_frame``; ``fixed_params`` are the builder's parameters shared
        by every model (``weights_column``, ``nfolds``, ``epochs``, ...). Raises ``JobCancelledError`` if the
        grid's job is cancelled (the models built so far stay in the grid).

        Under the ``grid_id`` of an existing grid the models are added to it (see the module docstring): this
        object then holds the grid's earlier models and failures too, and combinations the grid already has a
        model for are not trained again."""
        if not isinstance(training_frame, Frame):
            raise ValueError("training_frame must be a Frame (see frame.import_file / Frame.from_pandas)")
        if validation_frame is not None and not isinstance(validation_frame, Frame):
            raise ValueError("validation_frame must be a Frame or None")
        if "model_id" in fixed_params:
            raise ValueError("model_id cannot be fixed: the grid names its models <grid_id>_model_<n>")
        table = self.builder.params
        given = {**self._base, **fixed_params}
        full = table.validate(given)                        # fixed values on their own: before any job
        defaults = table.defaults()
        for name in self.hyper_params:
            fixed = {table.canonical(k): v for k, v in given.items()}.get(name)
            if fixed is not None and fixed != defaults[name]:
                raise ValueError(f"grid search parameter {name!r} is set both in the model parameters "
                                 f"({fixed!r}) and in hyper_params: set it in one place or the other")
        response = response_name(training_frame, y, full)
        cloud = training_frame.cloud
        grid_id = self.grid_id or f"Grid_{self.builder.model_prefix}_{training_frame.key}_{uuid.uuid4().hex[:8]}"
        existing = self._existing(cloud, grid_id, training_frame, response)     # refusals: before any job
        self.grid_id, self._cloud, self._training_frame = grid_id, cloud, training_frame.key
        self._response, self._frame_checksum = response, frame_checksum(training_frame)
        last_number = self._adopt(existing)
        c = self.search_criteria
        names = self.hyper_names
        combos = cartesian(self.hyper_params) if c["strategy"] == "Cartesian" else \
            random_discrete(self.hyper_params, c["seed"])
        space = math.prod(len(v) for v in self.hyper_params.values())
        planned = min(space, c["max_models"]) if c["max_models"] else space
        job = Job.start(f"Grid search {self.grid_id} ({planned} models)", cloud=cloud, dest=self.grid_id,
                        reads=[f.base_key for f in (training_frame, validation_frame) if f is not None])
        self.job_key = job.key
        start = time.time()
        attempts = skipped = failed = 0
        built = {self._checksums[m.model_id]: m.model_id for m in self.models if m.model_id in self._checksums}
        self._store("RUNNING")
        try:
            for combo in combos:
                if attempts >= planned:
                    break
                job.check_cancelled()
                left = c["max_runtime_secs"] - (time.time() - start) if c["max_runtime_secs"] else math.inf
                if left <= 0:
                    break
                hyper = {n: self.hyper_params[n][i] for n, i in zip(names, combo)}
                parms = {**given, **hyper}
                if c["strategy"] == "RandomDiscrete" and c["seed"] != -1 and \
                        table.convert("seed", parms.get("seed")) == -1:
                    parms["seed"] = c["seed"] + attempts       # H2O: model seeds follow the search seed
                if math.isfinite(left):
                    own = table.convert("max_runtime_secs", parms.get("max_runtime_secs"))
                    parms["max_runtime_secs"] = min(own, left) if own > 0 else left
                last_number += 1                               # H2O: every combination walked takes a number
                try:
                    checksum = params_checksum(parms, table, x, response, training_frame, validation_frame)
                except ValueError:
                    checksum = None                            # the builder refuses it below: a failure
                if checksum in built:
                    log.info("grid %s: the model %s already has the parameters %s; not trained again", grid_id,
                             built[checksum], hyper)
                    skipped += 1
                else:
                    while cloud.dkv.type_of(f"{grid_id}_model_{last_number}") is not None:
                        last_number += 1                       # never replace a key (another grid's, a user's)
                    parms["model_id"] = f"{grid_id}_model_{last_number}"
                    sub = ScaledJob(job, attempts / planned, 1 / planned, f"model {attempts + 1}/{planned}: ")
                    try:
                        model = self.builder.train(parms, x, y, training_frame, validation_frame, job=sub,
                                                   verbose=verbose)
                    except cluster.JobCancelledError:
                        raise
                    except Exception as exc:                   # noqa: BLE001 - recorded, the grid goes on
                        self.failed_params.append(hyper)
                        self.failure_details.append(f"{type(exc).__name__}: {exc}")
                        failed += 1
                    else:
                        self.models.append(model)
                        self.model_hypers.append(hyper)
                        if checksum is not None:
                            self._checksums[model.model_id] = checksum
                            built[checksum] = model.model_id
                attempts += 1
                self._last_number = last_number
                done = f", {skipped} already in the grid" if skipped else ""
                job.update(progress=attempts / planned, msg=f"{attempts}/{planned} models, {failed} failed{done}")
                self._store("RUNNING")
                if c["strategy"] == "RandomDiscrete" and c["stopping_rounds"] and self._converged():
                    break
        except BaseException as exc:
            self._store(job.end_with(exc))
            raise
        if skipped:
            log.info("grid %s: %d of the %d combinations walked already had a model in the grid and were not "
                     "trained again", grid_id, skipped, attempts)
        self._store(job.end_with(None))
        return self

    def _existing(self, cloud, grid_id: str, training_frame: Frame, response: str | None) -> dict | None:
        """The stored meta of the grid ``grid_id`` this run appends to (None: a new grid); ValueError when the key
        holds something else, when a job builds the grid, or when the grid is not this run's (H2O's checks)."""
        found = cloud.dkv.type_of(grid_id)
        if found is None:
            return None
        if found != "grid":
            raise ValueError(f"grid_id {grid_id!r} is the key of a {found}, not a grid (H2O: \"Name conflict: tried "
                             f"to create a Grid using the ID of a non-Grid object\"): choose another grid_id")
        holder = lock_holder(grid_id, cloud)
        if holder is not None:
            raise ValueError(f"grid {grid_id!r} is being built by job {holder['key']} ({holder['description']}): "
                             f"wait for it or cancel it before adding models to the grid")
        value = cloud.dkv.get(grid_id)
        if value is None or value.type != "grid":          # removed or replaced since the listing
            return None
        meta = value.meta
        differs = []
        if meta["algo"] != self.builder.algo:
            differs.append(f"its algorithm is {meta['algo']!r}, this search's {self.builder.algo!r}")
        if meta["training_frame"] != training_frame.key:
            differs.append(f"its training frame is {meta['training_frame']!r}, this one {training_frame.key!r} "
                           f"(H2O: different training input)")
        elif meta.get("training_frame_checksum", frame_checksum(training_frame)) != frame_checksum(training_frame):
            differs.append(f"its training frame {training_frame.key!r} holds other data now (re-imported, or a "
                           f"column replaced, since the grid's models were trained; H2O: different training input)")
        if "response_column" in meta and meta["response_column"] != response:
            differs.append(f"its response is {meta['response_column']!r}, this one {response!r}")
        if set(meta["hyper_names"]) != set(self.hyper_names):
            differs.append(f"its hyper parameters are {meta['hyper_names']}, this search's {self.hyper_names}")
        if differs:
            raise ValueError(f"cannot add models to grid {grid_id!r}: {'; '.join(differs)}. Use another grid_id, or "
                             f"remove the grid first (algos.remove_grid)")
        return meta

    def _adopt(self, meta: dict | None) -> int:
        """Take the stored grid's models (those still in the cloud), failures and searched values as this grid's
        before more are added; returns the last model number the grid used (0 for a new grid)."""
        self.models, self.model_hypers, self.failed_params, self.failure_details = [], [], [], []
        self._checksums, self._space = {}, {}
        if meta is None:
            self._last_number = 0
            return 0
        names = meta["hyper_names"]
        checksums = meta.get("model_checksums", {})
        numbers = [meta.get("last_model_number", 0)]
        pattern = re.compile(re.escape(self.grid_id) + r"_model_(\d+)")
        for mid, values in zip(meta["model_ids"], meta["model_hypers"]):
            number = pattern.fullmatch(mid)
            numbers.append(int(number.group(1)) if number else 0)
            if self._cloud.dkv.type_of(mid) != "model":
                log.info("grid %s: its model %s was removed; it leaves the grid (its combination trains again)",
                         self.grid_id, mid)
                continue
            self.models.append(get_model(mid, self._cloud))
            self.model_hypers.append(dict(zip(names, values)))
            if mid in checksums:
                self._checksums[mid] = checksums[mid]
        self.failed_params = [dict(zip(names, values)) for values in meta["failed_params"]]
        self.failure_details = list(meta["failure_details"])
        self._space = {n: list(v) for n, v in meta["hyper_params"].items()}
        self._last_number = max(max(numbers), len(self.models))
        return self._last_number

    def _converged(self) -> bool:
        c = self.search_criteria
        metric = c["stopping_metric"]
        values = []
        for m in self.models:
            try:
                values.append(float(m.best_metrics().metric(metric)))
            except ValueError:                              # e.g. AUC of a regression model
                return False
        name = metric if metric != "AUTO" else "logloss"
        return grid_should_stop(values, c["stopping_rounds"], c["stopping_tolerance"],
                                more_is_better=name in MORE_IS_BETTER)

    def _store(self, status: str) -> None:
        self.status = status
        space = {}
        for k, v in self.hyper_params.items():             # every value searched: earlier runs' first
            values = list(self._space.get(k, []))
            space[k] = values + [x for x in (_plain(x) for x in v) if x not in values]
        meta = {"grid_id": self.grid_id, "algo": self.builder.algo, "status": status, "job": self.job_key,
                "training_frame": self._training_frame, "training_frame_checksum": self._frame_checksum,
                "response_column": self._response, "hyper_names": self.hyper_names, "hyper_params": space,
                "search_criteria": dict(self.search_criteria), "model_ids": self.model_ids,
                "model_hypers": [[_plain(h[n]) for n in self.hyper_names] for h in self.model_hypers],
                "model_checksums": {m.model_id: self._checksums[m.model_id] for m in self.models
                                    if m.model_id in self._checksums},
                "last_model_number": self._last_number,
                "failed_params": [[_plain(h[n]) for n in self.hyper_names] for h in self.failed_params],
                "failure_details": list(self.failure_details)}
        self._cloud.dkv.put(self.grid_id, Value("grid", meta, immutable=False))

    # ---------------------------------------------------------------- results
    def get_grid(self, sort_by: str = "logloss", decreasing: bool | None = None) -> "GridSearch":
        """The grid with its models sorted by ``sort_by`` (read from cross-validation, else validation, else
        training metrics), as h2o-py's ``grid.get_grid(sort_by, decreasing)``: ``grid.get_grid("logloss").models[0]``
        is the best model; ``sorted_metric_table()`` is the table (one column per hyper parameter, ``model_ids``,
        the metric), and printing the grid shows it. ``decreasing`` defaults to True for metrics where more is
        better (auc, aucpr, r2). The stored grid keeps this order."""
        self._table(sort_by, decreasing)          # checks the arguments and sorts the models
        self._sort = (sort_by, decreasing)
        if self._cloud is not None:
            self._store(self.status)             # the stored model order follows the table
        return self

    def sorted_metric_table(self):
        """The models as a pandas DataFrame, sorted as the last :meth:`get_grid` sorted them (else by the kind's
        default metric);
        failed combinations are in ``table.attrs["failures"]``."""
        return self._table(*self._sort)

    def _table(self, sort_by: str | None, decreasing: bool | None):
        """Sort ``self.models`` by ``sort_by`` (None: logloss for classifiers, the mean residual deviance for
        regression, MSE otherwise, as H2O orders a grid) and return the metric table in that order."""
        import pandas as pd
        if sort_by is None:
            kind = self.models[0].kind if self.models else "binomial"
            sort_by = {"binomial": "logloss", "multinomial": "logloss", "regression": "deviance"}.get(kind, "mse")
        if not isinstance(sort_by, str) or sort_by.lower() not in _SORT:
            raise ValueError(f"sort_by must be one of {', '.join(_SORT)}, got {sort_by!r}")
        getter, more = _SORT[sort_by.lower()]
        if decreasing is None:
            decreasing = more
        elif not isinstance(decreasing, bool):
            raise ValueError(f"decreasing must be True, False or None, got {decreasing!r}")
        values = []
        for m in self.models:
            metrics = m.best_metrics()
            fn = getattr(metrics, getter, None)
            if fn is None:
                raise ValueError(f"sort_by {sort_by!r} is not available for {m.kind} models ({m.model_id})")
            values.append(float(fn()))
        order = sorted(range(len(values)), key=lambda i: (math.isnan(values[i]),
                                                          -values[i] if decreasing else values[i]))
        self.models = [self.models[i] for i in order]
        self.model_hypers = [self.model_hypers[i] for i in order]
        rows = [{**{n: self.model_hypers[j][n] for n in self.hyper_names}, "model_ids": self.models[j].model_id,
                 sort_by: values[i]} for j, i in enumerate(order)]
        table = pd.DataFrame(rows, columns=[*self.hyper_names, "model_ids", sort_by])
        table.attrs["failures"] = [{**h, "error": e} for h, e in zip(self.failed_params, self.failure_details)]
        return table

    def failures(self):
        """The failed combinations and their errors as a pandas DataFrame."""
        import pandas as pd
        return pd.DataFrame([{**h, "error": e} for h, e in zip(self.failed_params, self.failure_details)],
                            columns=[*self.hyper_names, "error"])


# ------------------------------------------------------------------------------------------ lookups
def get_grid(grid_id: str, cloud=None) -> GridSearch:
    """The grid stored under ``grid_id`` (H2O's ``h2o.get_grid``), its models loaded from the DKV."""
    cloud = cloud or cluster.current()
    value = cloud.dkv.get(grid_id)
    if value is None or value.type != "grid":
        raise KeyError(f"no grid {grid_id!r} in the cloud")
    meta = value.meta
    crit = {k: v for k, v in meta["search_criteria"].items()
            if meta["search_criteria"]["strategy"] == "RandomDiscrete" or k not in _RANDOM_ONLY}
    grid = GridSearch(builder_for(meta["algo"]), meta["hyper_params"], grid_id=grid_id, search_criteria=crit)
    grid._cloud, grid._training_frame, grid.job_key = cloud, meta["training_frame"], meta["job"]
    grid._frame_checksum, grid._response = meta.get("training_frame_checksum"), meta.get("response_column")
    grid.status = meta["status"]
    grid._adopt(meta)           # its models still in the cloud (a removed one leaves it), failures, numbering
    return grid


def remove_grid(grid_id: str, cloud=None, models: bool = True) -> None:
    """Delete a grid and, with ``models=True``, every model it holds (and what they own)."""
    cloud = cloud or cluster.current()
    value = cloud.dkv.get(grid_id)
    if value is None or value.type != "grid":
        raise KeyError(f"no grid {grid_id!r} in the cloud")
    if models:
        for mid in value.meta["model_ids"]:
            try:
                remove_model(mid, cloud)
            except KeyError:
                pass
    cloud.dkv.delete(grid_id)
