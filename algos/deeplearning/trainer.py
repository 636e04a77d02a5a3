"""The Deep Learning training driver: one run from checked parameters to the stored model (:class:`Trainer`).

Training runs as a Job (progress bar in a terminal, cancellable from anywhere). Each iteration is an
MRTask (:class:`~algos.deeplearning.tasks.DLTrainTask`): every node trains the current model on its rows with
Numba kernels, the models are averaged (with block momentum when several were), and the driver (this process)
scores on samples of the training and validation frames within ``score_interval`` and ``score_duty_cycle``,
keeps the best model and applies the stopping rules. Differences from H2O are listed in
``docs/architecture.md`` (section "Where we differ from H2O").

Losing a member: an iteration whose member is lost mid-way is trained again on the survivors, its rows read
from their copies (the MRTask moves a lost member's chunks to their other holders; when the loss reaches the
driver itself, e.g. a client's gateway, the iteration runs again here), when the cloud keeps copies
(``--replication`` 2 or more). Otherwise, and when the job is cancelled, the model of the last completed
iteration is stored under the run's model id (``meta.partial`` says why) and the job names it (``kept``),
then the error is raised. ``export_checkpoints_dir`` writes the model to a file at every scoring event.
"""
from __future__ import annotations

import logging
import math
import os
import time
import uuid
from contextlib import ExitStack

import numpy as np

from cluster import AquiferError, Job, JobCancelledError, NodeLostError
from cluster.dkv import Value
from cluster.machine import free_memory_bytes
from frame import Frame
from scoring import distributions
from scoring.metrics import MORE_IS_BETTER

from ..builder import check_frames, problem_of, resolve_columns, response_name
from ..model import Model
from ..datainfo import ColumnInfo, DataInfo
from ..persistence import write_model_file
from ..registry import check_model_key, resolve_checkpoint
from ..stopping import should_stop
from . import parameters
from .hyper import kernel_arrays
from .metadata import ALGO, MODEL_FORMAT, MODEL_PREFIX, DeepLearningMetadata
from .model import DeepLearningModel, FrameRules
from .network import STATE_ARRAYS, NetSpec, NetState, check_network_fits, init_state
from .predict import Scoring, link_inverse
from .tasks import (ClassCountTask, CountRowsTask, DLScoreTask, DLTrainTask, DropCacheTask,
                    weighted_column_infos)

log = logging.getLogger("aquifer.deeplearning")


class Trainer:
    """One training run: set-up, the iteration loop, scoring, stopping, and storing the model.

    The constructor does every check against the data (no work): effective parameters (with the thread plan and
    the seed chosen), predictors, problem, checkpoint compatibility. ``run()`` trains and stores the model. ``job``:
    an outer job to report into and be cancelled by (a grid's or a cross-validation's); else the run is its own.
    """

    def __init__(self, parms: dict, x, y, train: Frame, valid: Frame | None, verbose: bool = False,
                 cloud=None, job: Job | None = None):
        check_frames(train, valid)
        self.cloud = cloud or train.cloud
        self.train, self.valid, self.verbose, self.outer_job = train, valid, verbose, job
        self.autoencoder = bool(parms.get("autoencoder"))
        self.y = None if self.autoencoder else response_name(train, y, parms)
        self.x, self.dropped_string = resolve_columns(train, x, self.y, parms, supervised=not self.autoencoder,
                                                      algo_name="Deep Learning")
        self.kind, self.nclasses = problem_of(train, self.y)
        types = train.types
        self.rules = FrameRules(predictors={c: types[c] == "enum" for c in self.x}, kind=self.kind, response=self.y,
                                weights_column=parms.get("weights_column"), offset_column=parms.get("offset_column"))
        if valid is not None:           # as model_performance would score it: refused now, not NA metrics later
            self.rules.check(valid, response=True)
            if types.get(self.y) == "enum":
                self.rules.refuse_unseen_response_levels(valid, train.domains[self.y], self.cloud)
        if self.kind == "regression" and parms.get("distribution") in ("bernoulli", "multinomial"):
            raise ValueError(f"distribution {parms['distribution']!r} needs a categorical response: convert "
                             f"it with train[{self.y!r}] = train[{self.y!r}].asfactor()")
        st = self.cloud.status()
        self.n_nodes = len([m for m in st["members"] if m["state"] != "dead"])
        self.replication = int(st.get("replication", {}).get("factor", 1))
        self.kept = ""                   # what a run that did not finish left behind (for its job)
        self.p, self.notes = parameters.effective_params(parms, problem=self.kind, nclasses=max(self.nclasses, 1),
                                                         n_nodes=self.n_nodes)
        # the frames are parameters too (H2O's model parameters name them; checkpoint rules compare them)
        self.p["training_frame"] = train.key
        self.p["validation_frame"] = valid.key if valid is not None else None
        for note in self.notes:
            log.info("%s", note)
        self.model_id = parms.get("model_id") or f"{MODEL_PREFIX}_model_{uuid.uuid4().hex[:10]}"
        check_model_key(self.model_id, self.cloud)         # before the job: never store over a frame
        self.checkpoint: DeepLearningModel | None = None
        if parms.get("checkpoint") is not None:
            self.checkpoint = resolve_checkpoint(parms["checkpoint"], self.cloud)
            if not isinstance(self.checkpoint, DeepLearningModel):
                raise ValueError(f"checkpoint {self.checkpoint.model_id!r} is a {self.checkpoint.algo} model, not "
                                 f"Deep Learning")
            for note in parameters.keep_checkpoint_adadelta(self.p, parms, self.checkpoint.params):
                log.info("%s", note)
                self.notes.append(note)
            parameters.check_checkpoint(self.checkpoint.params, self.p, epochs_trained=self.checkpoint.meta.epochs)
            self._check_checkpoint_columns()
        if self.p.get("export_checkpoints_dir"):
            d = os.path.abspath(os.path.expanduser(self.p["export_checkpoints_dir"]))
            try:
                os.makedirs(d, exist_ok=True)
            except OSError as exc:
                raise ValueError(f"export_checkpoints_dir {d!r} cannot be made: {exc}") from None
            if not os.access(d, os.W_OK):
                raise ValueError(f"export_checkpoints_dir {d!r} is not writable")
            self.p["export_checkpoints_dir"] = d

    def _check_checkpoint_columns(self) -> None:
        """A restart trains the checkpoint's predictors: other columns are refused (H2O: "Ignored columns must be the
        same as for the checkpointed model"), not silently ignored while the model records them."""
        before = list(self.checkpoint.meta.x)
        if set(self.x) != set(before):
            added, dropped = sorted(set(self.x) - set(before)), sorted(set(before) - set(self.x))
            raise ValueError(f"Ignored columns must be the same as for the checkpointed model: the predictors would "
                             f"gain {added} and lose {dropped} (give x={before})")
        self.x = before

    @property
    def params(self) -> dict:
        """The effective parameters (a builder's ``TrainingRun``)."""
        return self.p

    # ---------------------------------------------------------------- set-up
    def _data_info(self) -> DataInfo:
        if self.checkpoint is not None:
            return self.checkpoint.info
        fr, p = self.train, self.p
        stats = fr.rollups()
        by_name = dict(zip(fr.names, stats))
        types, domains = fr.types, fr.domains

        def col(name):
            t = "enum" if types[name] == "enum" else "numeric"
            return ColumnInfo.from_rollups(name, t, domains[name] if t == "enum" else None, by_name[name])

        preds = [col(c) for c in self.x]
        response = None if self.autoencoder else col(self.y)
        if p.get("weights_column"):
            preds, response, weights = weighted_column_infos(fr, preds, response, p["weights_column"], self.cloud)
        else:
            weights = None
        # H2O's makeDataInfo: standardize=False means no transform, for autoencoders too
        transform = ("NORMALIZE" if self.autoencoder else "DESCALE" if p["sparse"] else "STANDARDIZE") \
            if p["standardize"] else "NONE"
        identity = self.kind == "regression" and distributions.link_name(p["distribution"]) == "identity"
        return DataInfo.build(preds, response, transform=transform,
                              response_transform=bool(identity and p["standardize"]),
                              use_all_factor_levels=p["use_all_factor_levels"],
                              missing_values_handling=p["missing_values_handling"],
                              max_categorical_features=int(p["max_categorical_features"]),
                              ignore_const_cols=p["ignore_const_cols"], seed=int(p["seed"]) & 0x7FFFFFFF,
                              weights=weights)

    def _resp(self, fr: Frame, info: DataInfo) -> tuple[dict, list[str]]:
        """The chunk tasks' roles of the training frame or the (adapted) validation frame's columns."""
        rules = FrameRules(predictors={c: c in info.domains for c in info.columns}, kind=self.kind,
                           response=self.y, weights_column=self.p.get("weights_column"),
                           offset_column=self.p.get("offset_column"))
        return rules.roles(fr, info, self.cloud, response=True, weights_column=self.p.get("weights_column"))

    # ---------------------------------------------------------------- the run
    def run(self) -> DeepLearningModel:
        own_job = self.outer_job is None
        job = Job.start(f"{MODEL_PREFIX} {self.model_id}", cloud=self.cloud, dest=self.model_id,
                        reads=[f.base_key for f in (self.train, self.valid) if f is not None]) if own_job \
            else self.outer_job
        run_id = uuid.uuid4().hex[:12]
        self.cache_ids = [f"dl-{run_id}-train", f"dl-{run_id}-valid"]
        try:
            with ExitStack() as stack:      # the validation frame as the model would score it (H2O's adaptTestForTrain)
                self.valid_view = None if self.valid is None else stack.enter_context(
                    self.rules.adapted(self.valid, self.cloud, response=True))
                model = self._run(job)
            if own_job:
                job.end_with(None)
            return model
        except BaseException as exc:
            if own_job:                 # a grid's or a cross-validation's models stop with their outer job
                self.keep_partial(exc)
                try:
                    job.end_with(exc, kept=self.kept)
                except NodeLostError:        # the job's own key went with a lost member (replication 1)
                    log.warning("job %s could not be finished: its member was lost", job.key)
            raise
        finally:
            try:
                DropCacheTask(cache_ids=self.cache_ids).do_all(self.train, columns=[0], cloud=self.cloud)
            except AquiferError as exc:             # best effort: a member may be gone
                log.warning("could not drop the training caches: %s", exc)

    def _run(self, job: Job) -> DeepLearningModel:
        p, start = self.p, time.time()
        info = self._data_info()
        self.info = info
        n_out = info.n_inputs if self.autoencoder else (self.nclasses if self.nclasses else 1)
        output = "autoencoder" if self.autoencoder else ("linear" if self.kind == "regression" else "softmax")
        spec = NetSpec((info.n_inputs, *[int(h) for h in p["hidden"]], n_out), p["activation"], output)
        self.spec = spec
        self._check_fits(spec)
        ck = self.checkpoint
        state = ck.state.copy() if ck is not None else init_state(
            spec, p["initial_weight_distribution"], float(p["initial_weight_scale"]), seed=int(p["seed"]))
        if ck is not None and ck.spec != spec:
            raise ValueError(f"checkpoint network {ck.spec.units} does not match this run's {spec.units}: the "
                             f"columns, their domains and hidden must be the same")
        resp, cols = self._resp(self.train, info)
        train_rows = self._count_rows(resp, cols)
        if train_rows == 0:
            raise ValueError("no training rows: every row has an NA response or a zero weight")
        class_factors, eff_rows, priors = self._balance(resp, cols, train_rows)
        # Huber's delta: H2O trains with 1 (each Neurons builds its own Distribution) and fits the huber_alpha
        # quantile of |residual| at each scoring for the metrics only. Training with the fitted delta instead
        # measured worse (BostonHousing r2 -0.011, auto_mpg -0.007; docs/benchmarks.md), so we do as H2O.
        self.huber_delta = 1.0
        hyper, flags = kernel_arrays(p, spec)
        replicate_to, chunk_homes = self._trainers(cols)
        n_trainers = len(replicate_to) if replicate_to else 1
        tspi = self._initial_tspi(eff_rows, n_trainers)
        self._force_shuffle(tspi, eff_rows, len(chunk_homes))
        valid_resp = self._resp(self.valid_view, info) if self.valid is not None else None
        samples = int(ck.meta.samples) if ck is not None else 0
        iterations = int(ck.meta.iterations) if ck is not None else 0
        # H2O's history opens with the untrained model: epoch 0, no speed, no metrics (a checkpoint's goes on)
        history = list(ck.meta.history) if ck is not None else [self._history_row({}, 0.0, 0.0, 0.0, 0, 0)]
        time_offset = float(history[-1]["duration_s"]) if history else 0.0
        epochs = float(p["epochs"])
        best, best_loss, metrics = None, math.inf, {}
        last_score_start, last_score_end, scoring_time = 0.0, 0.0, 0.0
        train_start = time.time()
        stop_reason = ""
        more_is_better = p["stopping_metric"] in MORE_IS_BETTER
        seed = int(p["seed"])
        empty_in_a_row = 0
        block_v = None
        while True:
            job.check_cancelled()
            iterations += 1
            remaining = max(1.0, epochs * eff_rows - samples)      # do not overshoot the epochs asked for
            fraction = min(tspi, remaining) / eff_rows / n_trainers
            t0 = time.perf_counter()

            def train_once():
                nonlocal replicate_to, chunk_homes
                if train_once.retry:          # a member was lost: the survivors train this iteration again
                    replicate_to, chunk_homes = self._trainers(cols)
                train_once.retry = True
                task = DLTrainTask(cache_id=self.cache_ids[0], info=info.to_state(), spec=spec.to_dict(),
                                   model=state.to_arrays(), hyper=hyper, flags=flags, resp=resp, fraction=fraction,
                                   iteration=iterations, seed=seed, samples_seen=samples,
                                   shuffle=bool(p["shuffle_training_data"]),
                                   mini_batch_size=int(p["mini_batch_size"]), class_factors=class_factors,
                                   thread_mode=p["thread_mode"], load_balance=bool(p["force_load_balance"]),
                                   chunk_homes=chunk_homes)
                return task.do_all(self.train, columns=cols, job=job, cloud=self.cloud, replicate_to=replicate_to)

            train_once.retry = False
            task = self._again(f"iteration {iterations}", train_once)
            wall = time.perf_counter() - t0
            if task.n_models == 0 or task.out is None:
                # the rows exist (counted above): a small last iteration can sample none by chance; draw again
                empty_in_a_row += 1
                if empty_in_a_row < 20:
                    continue
                raise RuntimeError("no node trained in 20 iterations in a row (no rows sampled?)")
            empty_in_a_row = 0
            if replicate_to is not None and task.n_models < len(replicate_to):
                # fewer trainers than asked (a member was lost and the task went on without its copy): the next
                # iterations are sized for those left
                replicate_to, chunk_homes = self._trainers(cols)
                n_trainers = len(replicate_to)
            prev = state
            state = NetState.from_arrays(spec, {k: (task.out[k] / task.n_models).astype(
                np.float32 if k.startswith("w") else np.float64) for k in STATE_ARRAYS})
            if p["block_momentum"] and task.n_replicas > 1:
                block_v = _block_momentum(prev, state, block_v, 1.0 - 1.0 / task.n_replicas)
            if not np.all(np.isfinite(state.b)):
                raise FloatingPointError("the model became unstable (non-finite biases): lower the rate, or use "
                                         "adaptive_rate, max_w2 or l2 (H2O: 'Trying to predict with an unstable "
                                         "model')")
            samples += int(task.rows)
            epoch_counter = samples / eff_rows
            log.debug("iteration %d: %d rows, wall %.3f s, slowest node's compute %.3f s, tspi %d", iterations,
                      task.rows, wall, task.compute_s, tspi)
            if p["train_samples_per_iteration"] == -2 and task.rows:
                tspi = self._tune_tspi(tspi, task.rows, task.compute_s, wall, eff_rows, n_trainers)
            now = time.time()
            done = epoch_counter >= epochs
            timeout = p["max_runtime_secs"] and (now - start) >= p["max_runtime_secs"]
            since = now - last_score_start
            duty = (last_score_end - last_score_start) / since if since > 0 else 0.0
            score_now = (iterations == 1 or done or timeout or p["score_each_iteration"]
                         or (since > p["score_interval"] and duty < p["score_duty_cycle"]))
            if score_now:
                last_score_start = time.time()
                metrics = self._again("scoring", lambda: self._score(state, hyper, flags, resp, cols, valid_resp,
                                                                     info, spec, priors))
                last_score_end = time.time()
                scoring_time += last_score_end - last_score_start
                if self.kind == "regression" and p["distribution"] == "huber":
                    self.huber_delta = metrics.pop("_huber_delta", self.huber_delta)     # for the metrics
                train_time = max(1e-9, (last_score_end - train_start) - scoring_time)
                history.append(self._history_row(metrics, time_offset + (now - train_start), train_time,
                                                 epoch_counter, iterations, samples))
                loss_now = self._loss(metrics)
                if p["overwrite_with_best_model"] and loss_now is not None and \
                        (best is None or (loss_now > best_loss if more_is_better
                                          else loss_now < best_loss)):
                    best, best_loss = (state.copy(), dict(metrics), epoch_counter, iterations, samples), loss_now
                if not self.verbose and not p["quiet_mode"]:
                    log.info("%s: %.2f epochs, %s", self.model_id, epoch_counter, _brief(metrics))
                elif self.verbose:
                    print(f"{self.model_id}: {epoch_counter:.2f} epochs, {_brief(metrics)}")
                stop_reason = self._stop_reason(metrics, history)
            # what a run that stops now keeps (cancelled, a member holding data lost), and the checkpoint file
            self._last = (state, metrics, list(history), samples, iterations, epoch_counter, priors, start)
            # progress after the iteration is complete, scoring included: a run stopped once progress shows
            # always has an iteration to keep
            job.update(progress=min(1.0, epoch_counter / epochs),
                       msg=f"{epoch_counter:.2f}/{epochs:g} epochs, {samples:,} samples")
            if score_now and p["export_checkpoints_dir"]:
                self._write_checkpoint(f"written while training, at iteration {iterations}")
            if done or timeout or stop_reason:
                stop_reason = stop_reason or ("max_runtime_secs reached" if timeout and not done else "")
                break
        final_state, final_metrics = state, metrics
        if best is not None and p["overwrite_with_best_model"]:
            b_state, b_metrics, *_ = best
            if self._loss(b_metrics) is not None and self._loss(final_metrics) is not None and \
                    (self._loss(b_metrics) < self._loss(final_metrics) if not more_is_better
                     else self._loss(b_metrics) > self._loss(final_metrics)):
                final_state, final_metrics = b_state, b_metrics
        model = self._store(final_state, final_metrics, history, samples, iterations, epoch_counter, priors,
                            stop_reason, start)
        if p["export_checkpoints_dir"]:
            write_model_file(self.model_id, Value("model", model.meta.to_meta(), model.buffers),
                             p["export_checkpoints_dir"], force=True)
        return model

    # ---------------------------------------------------------------- losing a member, stopping early
    def _trainers(self, cols: list[str]) -> tuple[list[str] | None, list[str]]:
        """The nodes that train each iteration (``replicate_to``: every live member with replicated data, or the
        one node of single_node_mode; None: each its own chunks) and the chunks' nodes, from the live members."""
        p = self.p
        members = [m["node"] for m in self.cloud.status()["members"] if m["state"] != "dead"]
        if p["single_node_mode"]:
            gateway = self.cloud.gateway
            replicate_to = [gateway if gateway in members else members[0]]
        else:
            replicate_to = members if p["replicate_training_data"] and self.n_nodes > 1 else None
        return replicate_to, [c["home"] for c in self.train.mr_layout(cols[:1], replicate_to)["chunks"]]

    def _again(self, what: str, fn):
        """``fn()``; when a member is lost on the way and the cloud keeps copies (replication >= 2), run it again
        on the survivors (twice at most): the loss reached this driver (its gateway), not only the task tree."""
        for attempt in range(3):
            try:
                return fn()
            except NodeLostError as exc:
                if self.replication < 2 or attempt == 2:
                    raise
                log.warning("%s: member %s was lost during %s; running it again on the survivors", self.model_id,
                            exc.node, what)

    def _model_value(self, state, metrics, history, samples, iterations, epochs, priors, stop_reason, start,
                     partial: str = "") -> Value:
        """The model as the DKV and a model file hold it (varimp and exported frames are added by ``_store``)."""
        threshold = 0.5
        if self.kind == "binomial":
            m = metrics.get("valid") or metrics.get("train")
            threshold = m.default_threshold()
        arrays = state.to_arrays()
        meta = DeepLearningMetadata(
            algo=ALGO, format=MODEL_FORMAT, model_id=self.model_id, kind=self.kind, params=_plain(self.p),
            notes=list(self.notes), info=self.info.to_state(), spec=self.spec.to_dict(), response=self.y,
            response_domain=self._response_domain(), x=list(self.x),
            metrics={k: v.to_dict() for k, v in metrics.items() if not k.startswith("_")}, history=history,
            samples=float(samples), iterations=int(iterations), epochs=float(epochs), threshold=threshold,
            priors=priors, huber_delta=float(self.huber_delta), stop_reason=stop_reason,
            training_frame=self.train.key, validation_frame=self.valid.key if self.valid else None,
            run_time_s=time.time() - start, array_names=list(STATE_ARRAYS), partial=partial)
        return Value("model", meta.to_meta(), tuple(arrays[k] for k in STATE_ARRAYS))

    def _write_checkpoint(self, partial: str) -> None:
        state, metrics, history, samples, iterations, epochs, priors, start = self._last
        value = self._model_value(state, metrics, history, samples, iterations, epochs, priors, "", start, partial)
        write_model_file(self.model_id, value, self.p["export_checkpoints_dir"], force=True)

    def keep_partial(self, exc: BaseException) -> None:
        """Store the model of the last completed iteration under the run's model id, marked ``partial``, when the
        run stops without finishing (``exc``: a cancel, or a member lost with data no other member holds); the job
        says so in ``kept``. Nothing when no iteration completed."""
        last = getattr(self, "_last", None)
        if last is None or not isinstance(exc, (JobCancelledError, NodeLostError)):
            return
        state, metrics, history, samples, iterations, epochs, priors, start = last
        why = "cancelled" if isinstance(exc, JobCancelledError) else f"member {exc.node} was lost"
        partial = f"{why}: the model of iteration {iterations} ({epochs:.3g} epochs), the last completed"
        try:
            value = self._model_value(state, metrics, history, samples, iterations, epochs, priors, "", start,
                                      partial)
            self.cloud.dkv.put(self.model_id, value)
            if self.p["export_checkpoints_dir"]:
                write_model_file(self.model_id, value, self.p["export_checkpoints_dir"], force=True)
        except Exception as store_exc:          # the cloud cannot take it either: the original error stands
            log.warning("%s: the partial model could not be stored: %s", self.model_id, store_exc)
            return
        self.kept = f"partial model {self.model_id} ({partial})"
        log.warning("%s: %s", self.model_id, self.kept)

    # ---------------------------------------------------------------- pieces of the loop
    def _check_fits(self, spec: NetSpec) -> None:
        """A network too large for the cloud's memory or messages is refused before anything is allocated."""
        alive = [m for m in self.cloud.status()["members"] if m["state"] != "dead"]
        one_process = not self.cloud.is_client and len(alive) == 1
        check_network_fits(spec, driver_free=free_memory_bytes(), node_free=min(m["free_mem_bytes"] for m in alive),
                           message_limit=None if one_process else self.cloud.config.max_message_bytes)

    def _count_rows(self, resp: dict, cols: list[str]) -> int:
        skip = self.p["missing_values_handling"] == "Skip"
        if self.autoencoder and resp["w"] < 0 and not skip:
            return self.train.nrows
        info = self.info
        enum_idx = [j for j, c in enumerate(info.columns) if c in info.domains] if skip else None
        t = CountRowsTask(resp=resp, enum_idx=enum_idx).do_all(self.train, columns=cols, cloud=self.cloud)
        if skip and t.complete == 0:
            # H2O: "No rows left in the dataset after filtering out rows with missing values"
            raise ValueError("no training rows left after missing_values_handling='Skip' dropped every row "
                             "with a missing value: ignore the columns with many NAs or use 'MeanImputation'")
        return self.train.nrows if self.autoencoder and resp["w"] < 0 else int(t.rows)

    def _balance(self, resp, cols, train_rows):
        """balance_classes: per-class sampling factors, the rows of a balanced epoch, and the priors used to
        correct probabilities afterwards (H2O's ``modelClassDist``)."""
        p = self.p
        if not (p["balance_classes"] and self.kind in ("binomial", "multinomial")):
            return None, train_rows, None
        counts = ClassCountTask(nclasses=self.nclasses, resp=resp).do_all(
            self.train, columns=cols, cloud=self.cloud).counts.astype(np.float64)
        total = counts.sum()
        if p.get("class_sampling_factors"):
            f = np.asarray(p["class_sampling_factors"], dtype=np.float64)
            target = counts * f
        else:
            target = np.where(counts > 0, counts.max(), 0.0)
        limit = p["max_after_balance_size"] * total
        if target.sum() > limit:
            target *= limit / target.sum()
        factors = np.where(counts > 0, target / np.maximum(counts, 1), 0.0)
        prior = counts / total
        model_dist = target / target.sum()
        return factors, float(target.sum()), np.stack([prior, model_dist])

    def _min_iterations(self) -> int:
        """Auto-tuned runs take at least 10 iterations (progress, cancel); 30 when several nodes' models are
        averaged, so that block momentum has rounds to build up over."""
        return 10 if self.n_nodes == 1 or self.p["single_node_mode"] else 30

    def _initial_tspi(self, rows: float, n_trainers: int) -> int:
        """train_samples_per_iteration: 0 = one epoch, -1 = all rows on every trainer, N = N, -2 = auto
        (start at one second of work, then tuned from measured compute and communication times)."""
        t = int(self.p["train_samples_per_iteration"])
        total = self.p["epochs"] * rows
        if t == 0:
            return int(rows)
        if t == -1:
            return int(rows * n_trainers)
        if t > 0:
            return int(min(max(1, t), max(1, total)))
        guess = 10_000 * n_trainers            # about a second of work per node for common networks
        return int(max(1, min(guess, rows * n_trainers, max(1.0, total / self._min_iterations()))))

    def _force_shuffle(self, tspi: int, rows: float, n_chunks: int) -> None:
        """H2O's rule: when every iteration is one epoch over one sequence of rows (one chunk, or our reproducible
        mode, which trains its chunks in order where H2O rebalances to one chunk), shuffle them, or they come in
        the same order every epoch. Measured (auto_mpg, [32,32], reproducible): training RMSE after 1 / 5 / 10
        epochs 4.05 / 3.25 / 3.11 in file order, 3.43 / 2.74 / 2.74 shuffled (H2O-3: 3.15 / 2.69 / 2.60)."""
        p = self.p
        if not p["shuffle_training_data"] and tspi == int(rows) and (n_chunks == 1 or p["reproducible"]):
            p["shuffle_training_data"] = True
            note = ("shuffle_training_data: False -> True (each iteration is one epoch over one sequence of rows: "
                    "they would come in the same order every time)")
            self.notes.append(note)
            log.info("%s", note)

    def _tune_tspi(self, tspi, rows_done, compute_s, wall, eff_rows, n_trainers) -> int:
        """Aim at the target ratio of communication to computation (H2O's target_ratio_comm_to_comp), with
        at least one second of compute per iteration (so cancel and progress stay responsive) and at least
        ten iterations per run."""
        speed = rows_done / max(compute_s, 1e-6)
        comm = max(wall - compute_s, 1e-3)
        target = float(self.p["target_ratio_comm_to_comp"]) or 0.05
        seconds = max(comm / target, 1.0)
        new = speed * seconds
        new = min(new, self.p["epochs"] * eff_rows / self._min_iterations(), 100_000 * n_trainers,
                  10 * speed * n_trainers)
        return int(max(1, new))

    def _score(self, state, hyper, flags, resp, cols, valid_resp, info, spec, priors) -> dict:
        p = self.p
        scoring = self._scoring(info, priors)
        out = {}
        n_train = self.train.nrows
        frac = 1.0 if not p["score_training_samples"] else min(1.0, p["score_training_samples"] / max(n_train, 1))
        task = DLScoreTask(cache_id=self.cache_ids[0], info=info.to_state(), spec=spec.to_dict(),
                           model=state.to_arrays(), hyper=hyper, flags=flags, resp=resp, sample_fraction=frac,
                           seed=int(p["seed"]))
        task.do_all(self.train, columns=cols, cloud=self.cloud)
        collected = task.collect()
        out["train"] = scoring.metrics_of_scores(*collected)
        if self.kind == "regression" and p["distribution"] == "huber" and len(collected[1]):
            yhat = link_inverse(info, p["distribution"], collected[2][:, 0])
            actual = info.inverse_response(collected[1])
            delta = float(np.quantile(np.abs(actual - yhat), p["huber_alpha"])) * info.resp_mul
            out["_huber_delta"] = delta if delta > 0 else self.huber_delta
        if valid_resp is not None:
            vresp, vcols = valid_resp
            nv = self.valid_view.nrows
            vfrac = 1.0 if not p["score_validation_samples"] else min(1.0, p["score_validation_samples"] / max(nv, 1))
            vt = DLScoreTask(cache_id=self.cache_ids[1], info=info.to_state(), spec=spec.to_dict(),
                             model=state.to_arrays(), hyper=hyper, flags=flags, resp=vresp, sample_fraction=vfrac,
                             stratified=p["score_validation_sampling"] == "Stratified", seed=int(p["seed"]) + 1)
            vt.do_all(self.valid_view, columns=vcols, cloud=self.cloud)
            out["valid"] = scoring.metrics_of_scores(*vt.collect())
        return out

    def _response_domain(self) -> list | None:
        return None if self.kind in ("regression", "autoencoder") else list(self.train.domains[self.y])

    def _scoring(self, info: DataInfo, priors) -> Scoring:
        return Scoring(self.kind, info, self.p, self._response_domain(), priors, self.huber_delta)

    def _loss(self, metrics: dict):
        """H2O's Model.loss(): the stopping metric (default logloss / deviance / MSE) on validation if there is
        one, else training."""
        m = metrics.get("valid") or metrics.get("train")
        if m is None:
            return None
        v = m.metric(self.p["stopping_metric"])     # AUTO resolved and checked against the problem by parameters
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)

    def _stop_reason(self, metrics: dict, history: list[dict]) -> str:
        p = self.p
        tm = metrics.get("train")
        if self.kind in ("binomial", "multinomial") and p["classification_stop"] >= 0 and tm is not None:
            if tm.classification_error() <= p["classification_stop"]:
                return f"training classification error {tm.classification_error():.4g} <= classification_stop"
        if self.kind == "regression" and p["regression_stop"] >= 0 and tm is not None:
            if tm.mse() <= p["regression_stop"]:
                return f"training MSE {tm.mse():.4g} <= regression_stop"
        k = int(p["stopping_rounds"])
        if k > 0:
            name = self.p["stopping_metric"]
            which = "valid" if self.valid is not None else "train"
            series = [h["_stop_" + which] for h in history
                      if h.get("_stop_metric") == name and h.get("_stop_" + which) is not None]
            if should_stop(series, k, float(p["stopping_tolerance"]), more_is_better=name in MORE_IS_BETTER,
                           skip_first=False):
                prefix = "validation_" if which == "valid" else "training_"
                return (f"early stopping: {prefix}{_history_key(name)} did not improve by {p['stopping_tolerance']} "
                        f"over {k} rounds")
        return ""

    def _history_row(self, metrics, duration_s, train_time, epochs, iterations, samples) -> dict:
        row = {"timestamp": time.strftime("%Y-%m-%d %H:%M:%S"), "duration": f"{duration_s:8.3f} sec",
               "training_speed": f"{samples / train_time:,.0f} obs/sec" if train_time > 0 else None,
               "epochs": float(epochs), "iterations": int(iterations), "samples": float(samples),
               "duration_s": float(duration_s)}
        for which, prefix in (("train", "training_"), ("valid", "validation_")):
            m = metrics.get(which)
            if m is None:
                continue
            # the stopping metric itself (mean_per_class_error, RMSLE... have no history column), hidden
            stop_name = self.p["stopping_metric"]
            row["_stop_metric"], row["_stop_" + which] = stop_name, float(m.metric(stop_name))
            row[prefix + "rmse"] = float(m.rmse())
            if self.kind == "regression":
                row[prefix + "deviance"] = float(m.mean_residual_deviance())
                row[prefix + "mae"] = float(m.mae())
                row[prefix + "r2"] = float(m.r2())
            elif self.kind == "autoencoder":
                row[prefix + "mse"] = float(m.mse())
            else:
                row[prefix + "logloss"] = float(m.logloss())
                row[prefix + "r2"] = float(m.r2())
                if self.kind == "binomial":
                    row[prefix + "auc"] = float(m.auc())
                    row[prefix + "pr_auc"] = float(m.aucpr())
                row[prefix + "classification_error"] = float(m.classification_error())
        return row

    def _store(self, state, metrics, history, samples, iterations, epochs, priors, stop_reason,
               start) -> DeepLearningModel:
        value = self._model_value(state, metrics, history, samples, iterations, epochs, priors, stop_reason, start)
        model = DeepLearningModel(self.model_id, value, self.cloud)
        if self.p["variable_importances"]:
            model.meta.varimp = model.compute_varimp()
        if self.p["export_weights_and_biases"]:
            model.meta.owned_frames = model.export_weights_and_biases()
        model.store()
        return model


# Block momentum (Chen & Huo 2016, "BMUF") on top of H2O's model averaging. Averaging n models that each
# trained on 1/n of an iteration's samples moves about as far as one model trained on 1/n: a 3-node cloud
# learnt ~3x slower per epoch than one node (F-MNIST 10k rows, 6 epochs: 20.3 % vs 18.0 % test error).
# Carrying the averaged step over iterations with momentum 1 - 1/n restores it (18.6 % vs 18.4 %).
# block_momentum=False gives H2O's plain average.


def _block_momentum(prev: NetState, avg: NetState, velocity: dict | None, eta: float) -> dict:
    """Replace ``avg``'s weights and biases by ``prev + v`` with ``v = carry + (avg - prev)``, ``carry = eta * v``
    but never longer than ``eta / (1 - eta)`` times this block's step (its length when every block steps
    alike); returns v. The optimiser state stays averaged. The first block (``velocity`` None: a run's first,
    from random weights) is left as averaged and carries nothing on.

    The bound keeps the carry to what steady progress would give: the first block's step (from random weights)
    or a big block's, carried into a block that moves little (fine-tuning, or a run's last few rows), threw
    the model far off (F-MNIST 10k rows, blocks of an epoch on 2 replicas: training logloss 0.63 -> 1.34).

    >>> from algos.deeplearning.network import NetSpec, init_state
    >>> a = init_state(NetSpec((2, 1), "Tanh", "linear"), seed=1); b = a.copy(); b.w += 1
    >>> v = _block_momentum(a, b, None, 0.5)          # the first block: nothing carried, nothing kept
    >>> float((b.w - a.w).mean()), float(abs(v["w"]).max())
    (1.0, 0.0)
    >>> v = _block_momentum(a, b, v, 0.5); v = _block_momentum(a, b, v, 0.5)
    >>> float((b.w - a.w).mean())         # 1 + 0.5 * 1: the step carried over
    1.5
    >>> c = a.copy(); c.w += 0.01
    >>> v = _block_momentum(a, c, v, 0.5); round(float((c.w - a.w).mean()), 6)   # carry cut to 1x this step
    0.02
    """
    keys = ("w", "b")
    if velocity is None:
        return {k: np.zeros_like(getattr(avg, k)) for k in keys}
    step = {k: getattr(avg, k) - getattr(prev, k) for k in keys}
    carry = {k: eta * velocity[k] for k in keys}
    limit = eta / (1.0 - eta) * math.sqrt(sum(float(np.vdot(step[k], step[k])) for k in keys))
    length = math.sqrt(sum(float(np.vdot(carry[k], carry[k])) for k in keys))
    if length > limit:
        carry = {k: carry[k] * (limit / length) for k in keys}
    for k in keys:
        velocity[k] = carry[k] + step[k]
        getattr(avg, k)[...] = getattr(prev, k) + velocity[k]
    return velocity


def _history_key(metric: str) -> str:
    return {"logloss": "logloss", "MSE": "mse", "RMSE": "rmse", "MAE": "mae", "deviance": "deviance",
            "AUC": "auc", "AUCPR": "pr_auc", "misclassification": "classification_error"}.get(metric, metric.lower())


def _brief(metrics: dict) -> str:
    parts = []
    for which in ("train", "valid"):
        m = metrics.get(which)
        if m is None:
            continue
        try:
            parts.append(f"{which} logloss {m.logloss():.4f} err {m.classification_error():.4f}")
        except (AttributeError, ValueError):
            parts.append(f"{which} rmse {m.rmse():.4f}")
    return ", ".join(parts)


def _plain(p: dict) -> dict:
    """Parameters as msgpack-safe values (frames by key)."""
    out = {}
    for k, v in p.items():
        if k.startswith("_"):
            continue
        if isinstance(v, Frame):
            v = v.key
        elif isinstance(v, Model):                  # checkpoint=, pretrained_autoencoder=
            v = v.model_id
        elif hasattr(type(v), "builder"):           # a trained estimator given as checkpoint
            v = v.model.model_id
        elif isinstance(v, tuple):
            v = list(v)
        elif isinstance(v, float) and math.isinf(v):
            v = float(v)
        out[k] = v
    return out
