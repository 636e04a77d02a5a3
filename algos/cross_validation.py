"""Cross-validation for Deep Learning, H2O's scheme (``hex/ModelBuilder.computeCrossValidation``).

>>> dl = DeepLearningEstimator(hidden=[10], epochs=5, nfolds=3,
...                            keep_cross_validation_predictions=True)                    # doctest: +SKIP
>>> dl.train(y="CAPSULE", training_frame=prostate)                                        # doctest: +SKIP
>>> dl.model_performance(xval=True).auc(), dl.cross_validation_metrics_summary()                     # doctest: +SKIP

How it runs (one Job, progress split over the K fold models and the main model):

1. **Folds.** An MRTask writes, next to the training chunks, each row's fold (``nfolds`` with
   ``fold_assignment`` Random / Modulo / Stratified, or the values of ``fold_column``) and, per fold i,
   H2O's two weight columns: *train* = user weight x (fold != i) and *holdout* = user weight x (fold == i).
2. **Fold models** ``<model_id>_cv_<i+1>`` train on a view of the training frame whose weights column is
   the fold's train weights, so holdout rows weigh 0 and never train (nor count in epochs, nor in the
   standardisation statistics). As in H2O, their validation frame is the same rows with the holdout
   weights, so their scoring history shows holdout metrics; ``overwrite_with_best_model`` is off.
3. Each fold model scores its holdout rows. The **CV metrics** are the metrics of the concatenated holdout
   predictions (every row predicted once, by the model that did not see it); the per-fold metrics give
   ``cross_validation_metrics_summary()`` (mean and sample sd over folds).
4. The **main model** trains on all rows. When early stopping (``stopping_rounds > 0``) or
   ``max_runtime_secs`` is active it gets ``epochs`` = mean of the fold models' epochs and
   ``stopping_rounds = 0`` (H2O's ``DeepLearning.cv_computeAndSetOptimalParameters``).

Kept (and owned by the main model, so removing it removes them): the fold models
(``keep_cross_validation_models``, default True), per-fold prediction frames
``prediction_<model_id>_cv_<i+1>`` and the combined ``cv_holdout_prediction_<model_id>``
(``keep_cross_validation_predictions``), and ``cv_fold_assignment_<model_id>``
(``keep_cross_validation_fold_assignment``). Differences from H2O: per-fold prediction frames hold NA
(not 0) on rows outside their fold; ``max_runtime_secs`` is one budget for the whole run (each fold model
gets 1/(K+1) of it, the main model what is left).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from cluster import Job, MRTask
from cluster.dkv import Value
from frame import Frame, from_task_outputs
from frame.chunks import encode_chunk
from frame.frame import _store, delete_vecs, new_vec_key
from scoring import distributions
from scoring.metrics import (ModelMetricsBinomial, ModelMetricsMultinomial, ModelMetricsRegression)

from .dl_model import (DeepLearningModel, PredictTask, _set_domain, correct_probabilities, link_inverse,
                       make_metrics, remove_model)
from .dl_task import DLScoreTask

CV_WEIGHTS = "__cv_weights"     # the weights column of fold views (train or holdout weights)
CV_FOLD = "__cv_fold"           # the fold column of the view the holdout predictions are made on
FOLD_METHODS = ("Random", "Modulo", "Stratified")

# metrics of cross_validation_metrics_summary(), per problem (H2O's row names)
_SUMMARY = {
    "binomial": ("auc", "pr_auc", "err", "logloss", "mean_per_class_error", "mse", "r2", "rmse"),
    "multinomial": ("err", "logloss", "mean_per_class_error", "mse", "r2", "rmse"),
    "regression": ("mae", "mean_residual_deviance", "mse", "r2", "rmse", "rmsle"),
}
_GETTERS = {"auc": "auc", "pr_auc": "aucpr", "err": "classification_error", "logloss": "logloss",
            "mean_per_class_error": "mean_per_class_error", "mse": "mse", "r2": "r2", "rmse": "rmse",
            "mae": "mae", "mean_residual_deviance": "mean_residual_deviance", "rmsle": "rmsle"}


class ScaledJob:
    """A slice ``[start, start + span]`` of an outer job's progress, for one of several models trained under it.

    It answers what a :class:`~algos.deeplearning.Trainer` asks of a job (``key``, ``cloud``,
    ``check_cancelled``, ``update``), so cancelling the outer job stops the model at its next iteration.

    >>> sub = ScaledJob(job, 0.5, 0.25, "fold 3/3: ")      # doctest: +SKIP
    >>> sub.update(progress=0.5)       # the outer job is now at 62.5 %      # doctest: +SKIP
    """

    def __init__(self, job, start: float, span: float, label: str = ""):
        if not (0.0 <= start <= 1.0 and 0.0 <= span and start + span <= 1.0 + 1e-9):
            raise ValueError(f"a progress slice must lie in [0, 1], got start={start}, span={span}")
        self.job, self.start, self.span, self.label = job, float(start), float(span), label
        self.key, self.cloud = job.key, job.cloud

    def check_cancelled(self) -> None:
        self.job.check_cancelled()

    def cancel_requested(self) -> bool:
        return self.job.cancel_requested()

    def update(self, progress: float | None = None, msg: str | None = None) -> None:
        scaled = None if progress is None else self.start + self.span * min(max(float(progress), 0.0), 1.0)
        self.job.update(progress=scaled, msg=None if msg is None else f"{self.label}{msg}")


# ------------------------------------------------------------------------------------------ fold assignment
class FoldStrataTask(MRTask):
    """Rows per stratum (response class; NA rows form the last stratum) in each chunk, for Stratified folds."""
    nstrata: int = 0
    counts: list = None             # [[cidx, n_0, n_1, ...]]

    def map(self, cs):
        y = cs[0]
        codes = np.where(np.isnan(y), self.nstrata - 1, y).astype(np.int64)
        self.counts = [[cs.cidx, *np.bincount(codes, minlength=self.nstrata).tolist()]]

    def reduce(self, o):
        self.counts = (self.counts or []) + (o.counts or [])


class FoldAssignTask(MRTask):
    """Write each row's fold and the fold weight columns (train and holdout, per fold) next to its chunk."""
    method: str = "Random"          # Random | Modulo | Stratified | Column
    nfolds: int = 0
    seed: int = 0
    y: int = -1                     # index in cs of the response (Stratified)
    w: int = -1                     # index in cs of the user's weights, -1 for none
    col: int = -1                   # index in cs of the fold column (Column)
    levels: np.ndarray = None       # Column: the sorted distinct fold values (value -> fold index)
    starts: np.ndarray = None       # Stratified: (chunks, strata) rank of each chunk's first row per stratum
    fold_vec: str = ""
    train_vecs: list = None
    holdout_vecs: list = None
    counts: np.ndarray = None       # result: rows per fold

    def _folds(self, cs) -> np.ndarray:
        n, k = cs.nrows, self.nfolds
        if self.method == "Modulo":
            return (cs.start + np.arange(n, dtype=np.int64)) % k
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, (self.seed >> 32) & 0xFFFFFFFF, cs.start])
        if self.method == "Random":
            return rng.integers(0, k, n, dtype=np.int64)
        if self.method == "Column":
            return np.searchsorted(self.levels, cs[self.col]).astype(np.int64)
        # Stratified: within a stratum, consecutive ranks go to consecutive folds (so every fold gets its
        # share of each class, to one row); rows are visited in a random order so folds are not periodic.
        y = cs[self.y]
        nstrata = self.starts.shape[1]
        strata = np.where(np.isnan(y), nstrata - 1, y).astype(np.int64)
        order = rng.permutation(n)
        fold = np.empty(n, dtype=np.int64)
        for s in range(nstrata):
            rows = order[strata[order] == s]
            fold[rows] = (int(self.starts[cs.cidx, s]) + np.arange(rows.size)) % k
        return fold

    def map(self, cs):
        fold = self._folds(cs)
        w = np.ones(cs.nrows, dtype=np.int64) if self.w < 0 else np.nan_to_num(cs[self.w], nan=0.0)
        cs.put_local(self.fold_vec, encode_chunk(fold, "numeric"))
        zero = np.zeros_like(w)
        for i in range(self.nfolds):
            hold = fold == i
            cs.put_local(self.train_vecs[i], encode_chunk(np.where(hold, zero, w), "numeric"))
            cs.put_local(self.holdout_vecs[i], encode_chunk(np.where(hold, w, zero), "numeric"))
        self.counts = np.bincount(fold, minlength=self.nfolds).astype(np.int64)

    def reduce(self, o):
        self.counts = o.counts if self.counts is None else (self.counts if o.counts is None
                                                            else self.counts + o.counts)


@dataclass
class Folds:
    """The fold vecs written next to a training frame's chunks (delete them with :meth:`delete`)."""
    train: Frame
    method: str
    nfolds: int
    fold_vec: str
    train_vecs: list
    holdout_vecs: list
    counts: np.ndarray              # rows per fold

    def _with(self, names: list[str], vecs: list[str], key: str) -> Frame:
        h = self.train._h
        n = len(names)
        header = {**h, "key": key, "names": list(h["names"]) + names, "types": list(h["types"]) + ["numeric"] * n,
                  "domains": list(h["domains"]) + [None] * n, "vecs": list(h["vecs"]) + vecs,
                  "dtypes": list(h.get("dtypes") or [None] * len(h["names"])) + [None] * n, "owned": [],
                  "temporary": False, "stored": False}
        return Frame(key, header, self.train._cloud)

    def train_view(self, i: int) -> Frame:
        """The training frame with fold i's train weights as column ``__cv_weights`` (a view, not stored)."""
        return self._with([CV_WEIGHTS], [self.train_vecs[i]], f"{self.train.key}_cv_{i + 1}_train")

    def holdout_view(self, i: int) -> Frame:
        """The training frame with fold i's holdout weights as column ``__cv_weights``."""
        return self._with([CV_WEIGHTS], [self.holdout_vecs[i]], f"{self.train.key}_cv_{i + 1}_holdout")

    def fold_view(self) -> Frame:
        """The training frame with the fold of each row as column ``__cv_fold``."""
        return self._with([CV_FOLD], [self.fold_vec], f"{self.train.key}_cv_folds")

    def store_assignment(self, key: str) -> Frame:
        """Store the fold column as frame ``key`` (column ``fold_assignment``); the frame owns the fold vec."""
        h = self.train._h
        header = {"key": key, "names": ["fold_assignment"], "types": ["numeric"], "domains": [None],
                  "vecs": [self.fold_vec], "espc": list(h["espc"]), "homes": list(h["homes"]),
                  "dtypes": ["int64"], "owned": [self.fold_vec]}
        return _store(header, self.train._cloud)

    def delete(self, keep_fold_vec: bool = False) -> None:
        vecs = list(self.train_vecs) + list(self.holdout_vecs) + ([] if keep_fold_vec else [self.fold_vec])
        delete_vecs(self.train._cloud, vecs)


def assign_folds(train: Frame, *, nfolds: int = 0, method: str | None = None, seed: int = 0, y: str | None = None,
                 weights_column: str | None = None, fold_column: str | None = None, job=None) -> Folds:
    """Assign every row of ``train`` to a fold and write the fold weight columns (one MRTask, plus a counting
    pass for Stratified and a distinct-values pass for ``fold_column``).

    ``method``: Random (a seeded draw per row; AUTO or None mean Random), Modulo (row index mod ``nfolds``)
    or Stratified (each class of the categorical ``y`` spread evenly over the folds). With ``fold_column``
    the folds are its distinct values (integers or levels) in sorted order, and ``nfolds``/``method`` must
    be left unset.

    >>> folds = assign_folds(fr, nfolds=3, method="Modulo")          # doctest: +SKIP
    >>> folds.counts.tolist()                                         # doctest: +SKIP
    [127, 127, 126]
    """
    cloud = train._cloud
    names = train.names
    if weights_column is not None and weights_column not in names:
        raise ValueError(f"weights_column {weights_column!r} is not in the training frame {train.key}")
    cols = [weights_column] if weights_column else []
    task = FoldAssignTask(seed=int(seed), w=0 if weights_column else -1)
    if fold_column is not None:
        if nfolds or method is not None:
            raise ValueError(f"fold_column ({fold_column!r}) assigns the folds: leave nfolds ({nfolds}) and "
                             f"fold_assignment ({method!r}) unset")
        levels = _fold_levels(train, fold_column)
        nfolds, method = len(levels), "Column"
        task.col, task.levels = len(cols), levels
        cols.append(fold_column)
    else:
        method = "Random" if method in (None, "AUTO") else method
        if not isinstance(nfolds, (int, np.integer)) or nfolds < 2:
            raise ValueError(f"nfolds must be an integer >= 2, got {nfolds!r}")
        if method not in FOLD_METHODS:
            raise ValueError(f"fold_assignment must be one of {', '.join(FOLD_METHODS)}, got {method!r}")
        if nfolds > train.nrows:
            raise ValueError(f"nfolds={nfolds} is more than the {train.nrows} rows of {train.key}")
        if method == "Stratified":
            task.y, task.starts = len(cols), _strata_starts(train, y, int(nfolds), int(seed), job)
            cols.append(y)
    n_vecs = 2 * int(nfolds) + 1
    vecs = [new_vec_key() for _ in range(n_vecs)]
    task.method, task.nfolds = method, int(nfolds)
    task.fold_vec, task.train_vecs, task.holdout_vecs = vecs[0], vecs[1:nfolds + 1], vecs[nfolds + 1:]
    # a task reading no column still needs one to be mapped over: any column has the chunk layout
    try:
        task.do_all(train, columns=cols or [0], job=job, cloud=cloud)
    except BaseException:
        delete_vecs(cloud, vecs)
        raise
    folds = Folds(train, method, int(nfolds), vecs[0], vecs[1:nfolds + 1], vecs[nfolds + 1:],
                  np.asarray(task.counts, dtype=np.int64))
    empty = [i + 1 for i, c in enumerate(folds.counts) if c == 0]
    if empty:
        folds.delete()
        raise ValueError(f"fold(s) {empty} of {nfolds} have no rows: use fewer folds or another assignment")
    return folds


def _fold_levels(train: Frame, fold_column: str) -> np.ndarray:
    from frame.ops import UniqueTask
    if fold_column not in train.names:
        raise ValueError(f"fold_column {fold_column!r} is not in the training frame {train.key}")
    t = train.types[fold_column]
    if t not in ("numeric", "enum"):
        raise ValueError(f"fold_column {fold_column!r} is a {t} column: it must hold integers or categories")
    st = dict(zip(train.names, train.rollups()))[fold_column]
    if st["na_count"]:
        raise ValueError(f"fold_column {fold_column!r} has {int(st['na_count'])} missing values: every row "
                         f"needs a fold")
    u = UniqueTask().do_all(train[fold_column], cloud=train._cloud)
    levels = np.asarray(u.nums if u.nums is not None else [], dtype=np.float64)
    if t == "numeric" and not np.all(levels == np.floor(levels)):
        raise ValueError(f"fold_column {fold_column!r} holds non-integer values: folds must be integers or "
                         f"categories")
    if levels.size < 2:
        raise ValueError(f"fold_column {fold_column!r} has {levels.size} distinct value(s): cross-validation "
                         f"needs at least 2 folds")
    return levels


def _strata_starts(train: Frame, y: str | None, nfolds: int, seed: int, job) -> np.ndarray:
    if y is None or y not in train.names or train.types[y] != "enum":
        raise ValueError("fold_assignment 'Stratified' needs a categorical response column y")
    nstrata = len(train.domains[y] or []) + 1
    t = FoldStrataTask(nstrata=nstrata).do_all(train, columns=[y], job=job, cloud=train._cloud)
    counts = np.zeros((train.nchunks, nstrata), dtype=np.int64)
    for row in t.counts or []:
        counts[row[0]] = row[1:]
    # each stratum starts at a random fold, so the folds that get one row more differ between classes
    offset = np.random.default_rng([seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF, 17]).integers(0, nfolds, nstrata)
    return (np.cumsum(counts, axis=0) - counts + offset).astype(np.int64)


# ------------------------------------------------------------------------------------------ holdout scoring
class HoldoutPredictTask(PredictTask):
    """A fold model's predictions on the rows of its fold; NA on the other rows."""
    fold_col: int = -1
    fold: int = 0

    def map(self, cs):
        fold = cs[self.fold_col]
        super().map(cs)
        outside = fold != self.fold
        for out in cs.outputs:
            out[outside] = np.nan


class PickByFoldTask(MRTask):
    """The combined holdout predictions: column j of row r comes from the prediction frame of r's fold."""
    nfolds: int = 0
    width: int = 0

    def map(self, cs):
        fold = cs[0].astype(np.int64)
        rows = np.arange(cs.nrows)
        for j in range(self.width):
            stacked = np.stack([cs[1 + i * self.width + j] for i in range(self.nfolds)])
            cs.outputs[j][:] = stacked[fold, rows]


def _score_holdout(model: DeepLearningModel, holdout: Frame, job) -> tuple[np.ndarray, ...]:
    """(rows, y, raw predictions, weights, offsets) of ``model`` on the rows of ``holdout`` with positive
    ``__cv_weights``."""
    resp, cols = model._resp_for(holdout)
    kind = model.kind
    resp.update(kind="classification" if kind in ("binomial", "multinomial") else "regression", y=len(cols))
    cols.append(model._m["response"])
    resp["w"] = len(cols)
    cols.append(CV_WEIGHTS)
    hyper, flags = model._hyper()
    task = DLScoreTask(info=model._m["info"], spec=model._m["spec"], model=model._arrays, hyper=hyper, flags=flags,
                       resp=resp, sample_fraction=1.0, seed=0)
    task.do_all(holdout, columns=cols, job=job, cloud=model._cloud)
    return task.collect()


def _natural(model: DeepLearningModel, y: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Actuals and predictions in the response's own units (each fold model has its own standardisation)."""
    if model.kind == "regression":
        info = model.info
        yhat = link_inverse(info, model.params["distribution"], pred[:, 0] if len(pred) else np.empty(0))
        actual = info.inverse_response(y) if info.response_transform else np.asarray(y, dtype=np.float64)
        return actual, yhat
    probs = np.asarray(pred, dtype=np.float64)
    if model._m.get("priors") is not None:
        probs = correct_probabilities(probs, model._m["priors"])
    return np.asarray(y).astype(np.int64), probs


def _metrics_natural(main: DeepLearningModel, actual: np.ndarray, predicted: np.ndarray, w: np.ndarray):
    """A metrics object from predictions already in natural units (the CV metrics of ``main``)."""
    p = main.params
    if main.kind == "regression":
        dist = p["distribution"] if p["distribution"] in distributions.DISTRIBUTIONS else "gaussian"
        return ModelMetricsRegression(actual, predicted, w, distribution=dist, tweedie_power=p["tweedie_power"],
                                      quantile_alpha=p["quantile_alpha"],
                                      huber_delta=main._m.get("huber_delta", 1.0))
    if main.kind == "binomial":
        return ModelMetricsBinomial(actual, predicted, w, domain=list(main.response_domain))
    return ModelMetricsMultinomial(actual, predicted, w, domain=list(main.response_domain),
                                   max_confusion_matrix_size=p["max_confusion_matrix_size"],
                                   max_hit_ratio_k=p["max_hit_ratio_k"])


def _summary_row(kind: str, metrics) -> list[float]:
    out = []
    for name in _SUMMARY[kind]:
        try:
            out.append(float(getattr(metrics, _GETTERS[name])()))
        except (ValueError, ZeroDivisionError):
            out.append(float("nan"))
    return out


def _prediction_frames(main_id: str, fold_models: list, folds: Folds, job) -> tuple[list[str], str]:
    """Per-fold holdout prediction frames and the combined one; returns their keys."""
    cloud = folds.train._cloud
    view = folds.fold_view()
    keys, vecs = [], []
    first = fold_models[0]
    kind = first.kind
    names = ["predict"] if kind == "regression" else ["predict"] + list(first.response_domain)
    types = ["numeric"] * len(names)
    if kind in ("binomial", "multinomial"):
        types[0] = "enum"
    try:
        for i, m in enumerate(fold_models):
            resp, cols = m._resp_for(view)
            cols.append(CV_FOLD)
            hyper, flags = m._hyper()
            task = HoldoutPredictTask(info=m._m["info"], spec=m._m["spec"], model=m._arrays, hyper=hyper, flags=flags,
                                      resp=resp, distribution=m._m["params"]["distribution"],
                                      threshold=float(m._m.get("threshold", 0.5)), priors=m._m.get("priors"),
                                      kind=kind, fold_col=len(cols) - 1, fold=i)
            task.do_all(view, columns=cols, outputs=types, job=job, cloud=cloud)
            fr = from_task_outputs(task, names, key=f"prediction_{main_id}_cv_{i + 1}", cloud=cloud)
            if kind != "regression":
                _set_domain(fr, 0, names[1:], cloud)
            keys.append(fr.key)
            vecs += fr.vecs
        h = folds.train._h
        width = len(names)
        stacked = Frame(f"{main_id}_cv_stack", {
            "key": f"{main_id}_cv_stack", "names": ["fold"] + [f"p{j}" for j in range(len(vecs))],
            "types": ["numeric"] * (1 + len(vecs)), "domains": [None] * (1 + len(vecs)),
            "vecs": [folds.fold_vec] + vecs, "espc": list(h["espc"]), "homes": list(h["homes"]),
            "dtypes": [None] * (1 + len(vecs)), "owned": [], "stored": False}, cloud)
        pick = PickByFoldTask(nfolds=len(fold_models), width=width)
        pick.do_all(stacked, outputs=types, job=job, cloud=cloud)
        combined = from_task_outputs(pick, names, key=f"cv_holdout_prediction_{main_id}", cloud=cloud)
        if kind != "regression":
            _set_domain(combined, 0, names[1:], cloud)
        return keys, combined.key
    except BaseException:
        _remove_frames(keys, cloud)
        raise


def _remove_frames(keys: list[str], cloud) -> None:
    import frame as frame_mod
    for k in keys:
        try:
            frame_mod.remove(k, cloud=cloud)
        except KeyError:
            pass


# ------------------------------------------------------------------------------------------ the driver
def train_with_cv(estimator, parms: dict, x, y, training_frame: Frame, validation_frame: Frame | None,
                  verbose: bool = False, *, job=None) -> DeepLearningModel:
    """Train the K fold models and the main model (see the module docstring); return the main model.

    ``parms`` are validated parameters (:func:`algos.dl_params.validate`) with ``nfolds >= 2`` or a
    ``fold_column``. ``estimator`` (may be None) names the algorithm in the job description. ``job``: an
    outer job (a grid's) to report into and be cancelled by; without it the run is its own Job.
    Every parameter is checked against the data before the job starts.
    """
    from .deeplearning import Trainer
    probe = Trainer(parms, x, y, training_frame, validation_frame, verbose)      # all checks, no work yet
    p, cloud, model_id = probe.p, probe.cloud, probe.model_id
    if not (p["nfolds"] >= 2 or p["fold_column"] is not None):
        raise ValueError("train_with_cv needs nfolds >= 2 or a fold_column")
    for name in (CV_WEIGHTS, CV_FOLD):
        if name in training_frame.names:
            raise ValueError(f"the training frame has a column named {name!r}: cross-validation needs that name; "
                             f"rename the column")
    algo = getattr(estimator, "algo", "deeplearning")
    own = job is None
    outer = job or Job.start(f"{algo} cross-validation {model_id}", cloud=cloud, dest=model_id)
    start = time.time()
    folds: Folds | None = None
    fold_models: list[DeepLearningModel] = []
    main: DeepLearningModel | None = None
    kept_frames: list[str] = []
    keep_assignment = bool(p["keep_cross_validation_fold_assignment"])
    assignment_stored = False
    try:
        by_column = p["fold_column"] is not None
        folds = assign_folds(training_frame, nfolds=0 if by_column else int(p["nfolds"]),
                             method=None if by_column else p["fold_assignment"], seed=int(p["seed"]), y=probe.y,
                             weights_column=p["weights_column"], fold_column=p["fold_column"], job=outer)
        k = folds.nfolds
        slots = k + 1
        budget = float(p["max_runtime_secs"])
        for i in range(k):
            outer.check_cancelled()
            fparms = _fold_params(parms, p, model_id, i, budget / slots if budget > 0 else 0.0)
            m = Trainer(fparms, probe.x, probe.y, folds.train_view(i), folds.holdout_view(i), verbose, cloud=cloud,
                        job=ScaledJob(outer, i / slots, 1 / slots, f"fold {i + 1}/{k}: ")).run()
            fold_models.append(m)
        scored = [_score_holdout(m, folds.holdout_view(i), outer) for i, m in enumerate(fold_models)]
        mparms = dict(parms, seed=p["seed"], overwrite_with_best_model=False, model_id=model_id)
        if p["stopping_rounds"] > 0 or budget > 0:
            # H2O's DL rule: the main model trains as long as the fold models did on average, without stopping
            mparms["epochs"] = float(np.mean([m._m["epochs"] for m in fold_models]))
            mparms["stopping_rounds"] = 0
        if budget > 0:
            mparms["max_runtime_secs"] = max(budget - (time.time() - start), 1e-3)
        outer.check_cancelled()
        main = Trainer(mparms, x, y, training_frame, validation_frame, verbose, cloud=cloud,
                       job=ScaledJob(outer, k / slots, 1 / slots, "main model: ")).run()
        if p["keep_cross_validation_predictions"]:
            fold_keys, combined_key = _prediction_frames(model_id, fold_models, folds, outer)
            kept_frames += fold_keys + [combined_key]
        else:
            fold_keys, combined_key = [], None
        if keep_assignment:
            kept_frames.append(folds.store_assignment(f"cv_fold_assignment_{model_id}").key)
            assignment_stored = True            # the frame owns the fold vec now
        main = _finish_main(main, fold_models, scored, folds, fold_keys, combined_key, keep_assignment,
                            bool(p["keep_cross_validation_models"]))
        if not p["keep_cross_validation_models"]:
            for m in fold_models:
                remove_model(m.model_id, cloud)
        if own:
            outer.end_with(None)
        return main
    except BaseException as exc:
        _remove_frames(kept_frames, cloud)
        for m in fold_models + ([main] if main is not None else []):
            try:
                remove_model(m.model_id, cloud)
            except KeyError:
                pass
        if own:
            outer.end_with(exc)
        raise
    finally:
        if folds is not None:
            folds.delete(keep_fold_vec=assignment_stored)


def _fold_params(parms: dict, p: dict, model_id: str, i: int, budget: float) -> dict:
    """Fold model i's parameters: the user's, on the fold view's weights, without cross-validation."""
    out = dict(parms)
    out.update(model_id=f"{model_id}_cv_{i + 1}", nfolds=0, fold_column=None, fold_assignment="AUTO",
               weights_column=CV_WEIGHTS, overwrite_with_best_model=False, seed=p["seed"],
               keep_cross_validation_models=True, keep_cross_validation_predictions=False,
               keep_cross_validation_fold_assignment=False, validation_frame=None, max_runtime_secs=budget)
    return out


def _finish_main(main: DeepLearningModel, fold_models: list, scored: list, folds: Folds, fold_keys: list[str],
                 combined_key: str | None, keep_assignment: bool, keep_models: bool) -> DeepLearningModel:
    """Store the CV metrics, the per-fold summary and what the main model owns; return the updated model."""
    actual, predicted, weights, rows = [], [], [], []
    for m, collected in zip(fold_models, scored):
        _, y, pred, w, _ = collected
        a, q = _natural(m, y, pred)
        actual.append(a)
        predicted.append(q)
        weights.append(w)
        rows.append(_summary_row(main.kind, make_metrics(m, *collected)))
    xval = _metrics_natural(main, np.concatenate(actual), np.concatenate(predicted), np.concatenate(weights))
    meta = dict(main._m)
    meta["metrics"] = {**meta["metrics"], "xval": xval.to_dict()}
    ids = [m.model_id for m in fold_models]
    meta["cv"] = {"nfolds": folds.nfolds, "fold_assignment": folds.method, "models": ids,
                  "kept_models": keep_models, "fold_epochs": [float(m._m["epochs"]) for m in fold_models],
                  "fold_rows": [int(c) for c in folds.counts], "predictions": list(fold_keys),
                  "holdout_predictions": combined_key,
                  "fold_assignment_frame": f"cv_fold_assignment_{main.model_id}" if keep_assignment else None,
                  "summary": {"metrics": list(_SUMMARY[main.kind]), "folds": rows}}
    meta["owned_models"] = list(meta.get("owned_models", [])) + (ids if keep_models else [])
    meta["owned_frames"] = list(meta.get("owned_frames", [])) + list(fold_keys) + \
        ([combined_key] if combined_key else []) + \
        ([meta["cv"]["fold_assignment_frame"]] if keep_assignment else [])
    cloud = main._cloud
    value = cloud.dkv.get(main.model_id)
    cloud.dkv.put(main.model_id, Value("model", meta, value.buffers))
    return DeepLearningModel(main.model_id, cloud=cloud)


# ------------------------------------------------------------------------------------------ model accessors
def _cv(model: DeepLearningModel) -> dict:
    cv = model._m.get("cv")
    if cv is None:
        raise ValueError(f"model {model.model_id} was not cross-validated (train with nfolds >= 2 or a fold_column)")
    return cv


def cross_validation_models(model: DeepLearningModel) -> list[DeepLearningModel]:
    """The fold models, in fold order (needs ``keep_cross_validation_models=True``, the default)."""
    cv = _cv(model)
    if not cv["kept_models"]:
        raise ValueError(f"model {model.model_id} did not keep its fold models (keep_cross_validation_models=False)")
    return [DeepLearningModel(k, cloud=model._cloud) for k in cv["models"]]


def cross_validation_predictions(model: DeepLearningModel) -> list[Frame]:
    """Per-fold holdout prediction frames (rows of the training frame; NA outside the fold)."""
    from frame import get_frame
    cv = _cv(model)
    if not cv["predictions"]:
        raise ValueError(f"model {model.model_id} kept no predictions (keep_cross_validation_predictions=False)")
    return [get_frame(k, cloud=model._cloud) for k in cv["predictions"]]


def cross_validation_holdout_predictions(model: DeepLearningModel) -> Frame:
    """Every training row predicted once, by the fold model that did not train on it."""
    from frame import get_frame
    cv = _cv(model)
    if not cv["holdout_predictions"]:
        raise ValueError(f"model {model.model_id} kept no predictions (keep_cross_validation_predictions=False)")
    return get_frame(cv["holdout_predictions"], cloud=model._cloud)


def cross_validation_fold_assignment(model: DeepLearningModel) -> Frame:
    """The fold of every training row (needs ``keep_cross_validation_fold_assignment=True``)."""
    from frame import get_frame
    cv = _cv(model)
    if not cv["fold_assignment_frame"]:
        raise ValueError(f"model {model.model_id} kept no fold assignment "
                         f"(keep_cross_validation_fold_assignment=False)")
    return get_frame(cv["fold_assignment_frame"], cloud=model._cloud)


def cross_validation_metrics_summary(model: DeepLearningModel):
    """H2O's summary table: one row per metric, columns mean, sd (over folds) and cv_<i>_valid."""
    import pandas as pd
    cv = _cv(model)
    values = np.asarray(cv["summary"]["folds"], dtype=np.float64)          # (folds, metrics)
    table = pd.DataFrame(values.T, index=cv["summary"]["metrics"],
                         columns=[f"cv_{i + 1}_valid" for i in range(values.shape[0])])
    table.insert(0, "sd", values.std(axis=0, ddof=1) if values.shape[0] > 1 else np.nan)
    table.insert(0, "mean", values.mean(axis=0))
    return table
