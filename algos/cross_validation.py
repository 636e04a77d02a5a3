"""Cross-validation for any model builder, H2O's scheme (``hex/ModelBuilder.computeCrossValidation``).

>>> dl = DeepLearningEstimator(hidden=[10], epochs=5, nfolds=3,
...                            keep_cross_validation_predictions=True)                    # doctest: +SKIP
>>> dl.train(y="CAPSULE", training_frame=prostate)                                        # doctest: +SKIP
>>> dl.model_performance(xval=True).auc(), dl.cross_validation_metrics_summary()           # doctest: +SKIP

How it runs (one Job, progress split over the K fold models and the main model):

1. **Folds.** An MRTask writes, next to the training chunks, each row's fold (``nfolds`` with
   ``fold_assignment`` Random / Modulo / Stratified, or the values of ``fold_column``) and, per fold i,
   H2O's two weight columns: *train* = user weight x (fold != i) and *holdout* = user weight x (fold == i).
2. **Fold models** ``<model_id>_cv_<i+1>`` train on a view of the training frame whose weights column is
   the fold's train weights, so holdout rows weigh 0 and never train (nor count in epochs, nor in the
   standardisation statistics). As in H2O, their validation frame is the same rows with the holdout
   weights, so their scoring history shows holdout metrics. The builder may change more of a fold model's
   parameters (``ModelBuilder.cv_fold_params``; Deep Learning turns ``overwrite_with_best_model`` off).
3. Each fold model scores its holdout rows (``Model.holdout_scores``). The **CV metrics** are the metrics of the
   concatenated holdout predictions (every row predicted once, by the model that did not see it); the per-fold
   metrics give ``cross_validation_metrics_summary()`` (mean and sample sd over folds).
4. The **main model** trains on all rows, with the builder's changes (``ModelBuilder.cv_main_params``; Deep
   Learning's ``epochs`` = mean of the fold models' and ``stopping_rounds = 0`` when early stopping or
   ``max_runtime_secs`` is active, H2O's ``DeepLearning.cv_computeAndSetOptimalParameters``).

Kept (and owned by the main model, so removing it removes them): the fold models
(``keep_cross_validation_models``, default True), per-fold prediction frames
``prediction_<model_id>_cv_<i+1>`` and the combined ``cv_holdout_prediction_<model_id>``
(``keep_cross_validation_predictions``), and ``cv_fold_assignment_<model_id>``
(``keep_cross_validation_fold_assignment``). Differences from H2O: per-fold prediction frames hold NA
(not 0) on rows outside their fold; ``max_runtime_secs`` is one budget for the whole run (each fold model
gets 1/(K+1) of it, the main model what is left).

Only the builder protocol (:mod:`algos.builder`) and the model base class (:mod:`algos.model`) are used, so
every algorithm cross-validates the same way.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

import frame as frame_mod
from cluster import Job, MRTask
from frame import Frame, from_task_outputs
from frame.chunks import encode_chunk
from frame.frame import store_frame
from frame.ops import UniqueTask
from frame.store import delete_vecs, new_vec_key
from scoring.metrics import class_errors

from .model import CrossValidation, Model
from .progress import ScaledJob
from .registry import remove_model

CV_WEIGHTS = "__cv_weights"     # the weights column of fold views (train or holdout weights)
CV_FOLD = "__cv_fold"           # the fold column of a view of the training frame
FOLD_METHODS = ("Random", "Modulo", "Stratified")

# metrics of cross_validation_metrics_summary(), per problem: H2O-3's rows, in its (alphabetical) order, less
# lift_top_group (no gains/lift table here) and aic/loglikelihood (NaN for Deep Learning in H2O too)
_SUMMARY = {
    "binomial": ("accuracy", "auc", "err", "err_count", "f0point5", "f1", "f2", "logloss", "max_per_class_error",
                 "mcc", "mean_per_class_accuracy", "mean_per_class_error", "mse", "pr_auc", "precision", "r2",
                 "recall", "rmse", "specificity"),
    "multinomial": ("accuracy", "err", "err_count", "logloss", "max_per_class_error", "mean_per_class_accuracy",
                    "mean_per_class_error", "mse", "r2", "rmse"),
    "regression": ("mae", "mean_residual_deviance", "mse", "r2", "residual_deviance", "rmse", "rmsle"),
}


def _max_class_error(m) -> float:
    cm = m.label_confusion()
    return float("nan") if cm is None else float(class_errors(cm).max())


def _err_count(m) -> float:
    cm = m.label_confusion()
    return float("nan") if cm is None else float(cm.sum() - np.trace(cm))


# each row's value from a fold's metrics; the label metrics at the threshold the model labels with (max F1)
_GETTERS = {
    "accuracy": lambda m: 1.0 - m.classification_error(), "auc": lambda m: m.auc(), "pr_auc": lambda m: m.aucpr(),
    "err": lambda m: m.classification_error(), "err_count": _err_count, "logloss": lambda m: m.logloss(),
    "max_per_class_error": _max_class_error,
    "mean_per_class_accuracy": lambda m: 1.0 - m.mean_per_class_error(),
    "mean_per_class_error": lambda m: m.mean_per_class_error(), "mse": lambda m: m.mse(), "r2": lambda m: m.r2(),
    "rmse": lambda m: m.rmse(), "mae": lambda m: m.mae(), "rmsle": lambda m: m.rmsle(),
    "mean_residual_deviance": lambda m: m.mean_residual_deviance(),
    # H2O-3's summary row "residual_deviance" holds the mean residual deviance (measured: equal in every fold)
    "residual_deviance": lambda m: m.mean_residual_deviance(),
    **{name: (lambda c: lambda m: m.at_label_threshold(c))(crit) for name, crit in (
        ("f0point5", "f0point5"), ("f1", "f1"), ("f2", "f2"), ("mcc", "absolute_mcc"), ("precision", "precision"),
        ("recall", "recall"), ("specificity", "specificity"))},
}


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
        h = self.train.header
        n = len(names)
        header = {**h, "key": key, "names": list(h["names"]) + names, "types": list(h["types"]) + ["numeric"] * n,
                  "domains": list(h["domains"]) + [None] * n, "vecs": list(h["vecs"]) + vecs,
                  "dtypes": list(h.get("dtypes") or [None] * len(h["names"])) + [None] * n, "owned": [],
                  "temporary": False, "stored": False}
        return Frame(key, header, self.train.cloud)

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
        h = self.train.header
        header = {"key": key, "names": ["fold_assignment"], "types": ["numeric"], "domains": [None],
                  "vecs": [self.fold_vec], "espc": list(h["espc"]), "homes": list(h["homes"]),
                  "dtypes": ["int64"], "owned": [self.fold_vec]}
        return store_frame(header, self.train.cloud)

    def delete(self, keep_fold_vec: bool = False) -> None:
        vecs = list(self.train_vecs) + list(self.holdout_vecs) + ([] if keep_fold_vec else [self.fold_vec])
        delete_vecs(self.train.cloud, vecs)


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
    cloud = train.cloud
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
    if fold_column not in train.names:
        raise ValueError(f"fold_column {fold_column!r} is not in the training frame {train.key}")
    t = train.types[fold_column]
    if t not in ("numeric", "enum"):
        raise ValueError(f"fold_column {fold_column!r} is a {t} column: it must hold integers or categories")
    st = dict(zip(train.names, train.rollups()))[fold_column]
    if st["na_count"]:
        raise ValueError(f"fold_column {fold_column!r} has {int(st['na_count'])} missing values: every row "
                         f"needs a fold")
    u = UniqueTask().do_all(train[fold_column], cloud=train.cloud)
    levels = np.asarray(u.levels(), dtype=np.float64)      # numbers or enum codes (integer chunks included)
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
    t = FoldStrataTask(nstrata=nstrata).do_all(train, columns=[y], job=job, cloud=train.cloud)
    counts = np.zeros((train.nchunks, nstrata), dtype=np.int64)
    for row in t.counts or []:
        counts[row[0]] = row[1:]
    # each stratum starts at a random fold, so the folds that get one row more differ between classes
    offset = np.random.default_rng([seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF, 17]).integers(0, nfolds, nstrata)
    return (np.cumsum(counts, axis=0) - counts + offset).astype(np.int64)



# ------------------------------------------------------------------------------------------ holdout predictions
class HoldoutFramesTask(MRTask):
    """From the fold column and every fold model's predictions (``width`` columns each) of the training rows,
    write each fold's holdout frame (its predictions on its fold's rows, NA elsewhere) and the combined one
    (each row predicted by the model of its fold)."""
    nfolds: int = 0
    width: int = 0

    def map(self, cs):
        fold = cs[0].astype(np.int64)
        rows = np.arange(cs.nrows)
        k, width = self.nfolds, self.width
        for j in range(width):
            stacked = np.stack([cs[1 + i * width + j] for i in range(k)])
            for i in range(k):
                cs.outputs[i * width + j][:] = np.where(fold == i, stacked[i], np.nan)
            cs.outputs[k * width + j][:] = stacked[fold, rows]


def _prediction_frames(main_id: str, fold_models: list, folds: Folds, job) -> tuple[list[str], str]:
    """Per-fold holdout prediction frames and the combined one; returns their keys."""
    cloud = folds.train.cloud
    raw: list[Frame] = []
    keys: list[str] = []
    try:
        for m in fold_models:
            job.check_cancelled()
            raw.append(m.predict(folds.train))
        first = raw[0]
        names, k = first.names, len(fold_models)
        width = len(names)
        types = [first.types[n] for n in names]
        h = folds.train.header
        vecs = [folds.fold_vec] + [v for fr in raw for v in fr.vecs]
        stacked = Frame(f"{main_id}_cv_stack", {
            "key": f"{main_id}_cv_stack", "names": [f"c{j}" for j in range(len(vecs))],
            "types": ["numeric"] * len(vecs), "domains": [None] * len(vecs), "vecs": vecs,
            "espc": list(h["espc"]), "homes": list(h["homes"]), "dtypes": [None] * len(vecs), "owned": [],
            "stored": False}, cloud)
        task = HoldoutFramesTask(nfolds=k, width=width)
        task.do_all(stacked, outputs=types * (k + 1), job=job, cloud=cloud)
        targets = [f"prediction_{main_id}_cv_{i + 1}" for i in range(k)] + [f"cv_holdout_prediction_{main_id}"]
        for i, key in enumerate(targets):
            fr = from_task_outputs(task, names, key=key, cloud=cloud, columns=range(i * width, (i + 1) * width))
            keys.append(fr.key)
            for name in names:
                if first.domains[name] is not None:
                    fr.set_domain(name, first.domains[name])
        return keys[:-1], keys[-1]
    except BaseException:
        _remove_frames(keys, cloud)
        raise
    finally:
        _remove_frames([fr.key for fr in raw], cloud)


def _remove_frames(keys: list[str], cloud) -> None:
    for k in keys:
        try:
            frame_mod.remove(k, cloud=cloud)
        except KeyError:
            pass


def _remove_models(models: list, cloud) -> None:
    for m in models:
        try:
            remove_model(m.model_id, cloud)
        except KeyError:
            pass


# ------------------------------------------------------------------------------------------ the driver
def train_with_cv(builder, parms: dict, x, y, training_frame: Frame, validation_frame: Frame | None,
                  verbose: bool = False, *, job=None) -> Model:
    """Train the K fold models and the main model with ``builder`` (see the module docstring); return the main model.

    ``parms`` are validated parameters with ``nfolds >= 2`` or a ``fold_column``. ``job``: an outer job (a grid's)
    to report into and be cancelled by; without it the run is its own Job. Every parameter is checked against
    the data before the job starts.
    """
    probe = builder.prepare(parms, x, y, training_frame, validation_frame, verbose=verbose)   # checks, no work
    p, cloud, model_id = probe.params, probe.cloud, probe.model_id
    if not (p["nfolds"] >= 2 or p["fold_column"] is not None):
        raise ValueError("train_with_cv needs nfolds >= 2 or a fold_column")
    for name in (CV_WEIGHTS, CV_FOLD):
        if name in training_frame.names:
            raise ValueError(f"the training frame has a column named {name!r}: cross-validation needs that name; "
                             f"rename the column")
    own = job is None
    outer = job or Job.start(f"{builder.algo} cross-validation {model_id}", cloud=cloud, dest=model_id,
                             reads=[f.base_key for f in (training_frame, validation_frame) if f is not None])
    start = time.time()
    folds: Folds | None = None
    fold_models: list[Model] = []
    main: Model | None = None
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
            fparms = _fold_params(builder, parms, p, model_id, i, budget / slots if budget > 0 else 0.0)
            sub = ScaledJob(outer, i / slots, 1 / slots, f"fold {i + 1}/{k}: ")
            fold_models.append(builder.prepare(fparms, probe.x, probe.y, folds.train_view(i), folds.holdout_view(i),
                                               job=sub, verbose=verbose).run())
        scored = [m.holdout_scores(folds.holdout_view(i), CV_WEIGHTS) for i, m in enumerate(fold_models)]
        mparms = dict(parms, seed=p["seed"], model_id=model_id, **builder.cv_main_params(p, fold_models))
        if budget > 0:
            mparms["max_runtime_secs"] = max(budget - (time.time() - start), 1e-3)
        outer.check_cancelled()
        main = builder.prepare(mparms, x, y, training_frame, validation_frame, verbose=verbose,
                               job=ScaledJob(outer, k / slots, 1 / slots, "main model: ")).run()
        if p["keep_cross_validation_predictions"]:
            fold_keys, combined_key = _prediction_frames(model_id, fold_models, folds, outer)
            kept_frames += fold_keys + [combined_key]
        else:
            fold_keys, combined_key = [], None
        if keep_assignment:
            kept_frames.append(folds.store_assignment(f"cv_fold_assignment_{model_id}").key)
            assignment_stored = True            # the frame owns the fold vec now
        _finish_main(main, fold_models, scored, folds, fold_keys, combined_key, keep_assignment,
                     bool(p["keep_cross_validation_models"]))
        if not p["keep_cross_validation_models"]:
            _remove_models(fold_models, cloud)
        if own:
            outer.end_with(None)
        return main
    except BaseException as exc:
        _remove_frames(kept_frames, cloud)
        _remove_models(fold_models + ([main] if main is not None else []), cloud)
        if own:
            outer.end_with(exc)
        raise
    finally:
        if folds is not None:
            folds.delete(keep_fold_vec=assignment_stored)


def _fold_params(builder, parms: dict, p: dict, model_id: str, i: int, budget: float) -> dict:
    """Fold model i's parameters: the user's, on the fold view's weights, without cross-validation."""
    out = dict(parms)
    out.update(model_id=f"{model_id}_cv_{i + 1}", nfolds=0, fold_column=None, fold_assignment="AUTO",
               weights_column=CV_WEIGHTS, seed=p["seed"], keep_cross_validation_models=True,
               keep_cross_validation_predictions=False, keep_cross_validation_fold_assignment=False,
               validation_frame=None, max_runtime_secs=budget, **builder.cv_fold_params(p))
    return out


def _summary_row(kind: str, metrics) -> list[float]:
    out = []
    for name in _SUMMARY[kind]:
        try:
            out.append(float(_GETTERS[name](metrics)))
        except (ValueError, ZeroDivisionError):
            out.append(float("nan"))
    return out


def _finish_main(main: Model, fold_models: list, scored: list, folds: Folds, fold_keys: list[str],
                 combined_key: str | None, keep_assignment: bool, keep_models: bool) -> None:
    """Store the CV metrics, the per-fold summary and what the main model owns."""
    rows = [_summary_row(main.kind, m.metrics_from(*s)) for m, s in zip(fold_models, scored)]
    actual, predicted, weights = (np.concatenate(parts) for parts in zip(*scored))
    meta = main.meta
    meta.metrics = {**meta.metrics, "xval": main.metrics_from(actual, predicted, weights).to_dict()}
    ids = [m.model_id for m in fold_models]
    assignment_frame = f"cv_fold_assignment_{main.model_id}" if keep_assignment else None
    meta.cv = CrossValidation(
        nfolds=folds.nfolds, fold_assignment=folds.method, models=ids, kept_models=keep_models,
        fold_epochs=[float(getattr(m.meta, "epochs", np.nan)) for m in fold_models],
        fold_rows=[int(c) for c in folds.counts], predictions=list(fold_keys), holdout_predictions=combined_key,
        fold_assignment_frame=assignment_frame, summary={"metrics": list(_SUMMARY[main.kind]), "folds": rows})
    meta.owned_models = list(meta.owned_models) + (ids if keep_models else [])
    meta.owned_frames = list(meta.owned_frames) + list(fold_keys) + ([combined_key] if combined_key else []) + \
        ([assignment_frame] if keep_assignment else [])
    main.store()
