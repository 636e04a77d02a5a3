"""Deep Learning's MRTasks: one training iteration, scoring, counts, and the node-local data cache.

Training iteration (H2O's ``DeepLearningTask``): every node receives the current model, trains it on the
rows of the chunks it homes, and the nodes' models are averaged (unweighted, as H2O) in the reduce.
Within a node, the chunks are trained by the compute threads with one of three schemes:

* ``team`` (AUTO for per-sample SGD): the node's chunks are trained one after another on one model,
  every sample by all compute threads together, each owning a slice of every layer's neurons
  (``kernels.KernelTeam``): the one-thread result (up to float summation order, deterministic),
  at up to the threads' speed;
* ``hogwild``: all threads update one shared model without locks (Hogwild!, the booklet's scheme);
* ``replicas`` (AUTO for mini-batches): each thread trains its own copy and the node averages them
  at the end of the iteration (race-free; H2O's between-node averaging applied between threads too);
* ``sequential`` (what ``reproducible`` uses): one model, the node's chunks one after another in chunk order.

The scheme is the ``thread_mode`` parameter, resolved once by the driver's effective parameters.
Measured on Fashion-MNIST (``docs/benchmarks.md``): Hogwild! on 2 threads is no faster than one thread
(two threads writing one model fight over cache lines), and averaged replicas cost about 0.7 points of
test error at equal epochs; splitting the neurons keeps one-thread accuracy at two-thread speed.

Each chunk's rows are encoded once per training run (DataInfo: one-hot, standardisation) into a dense
float32 matrix kept in a node-local cache, so later iterations skip decoding and encoding.
"""
from __future__ import annotations

import threading
import time

import numpy as np

from cluster import MRTask

from ..datainfo import ColumnInfo, DataInfo, merge_moments, weighted_moments
from .kernels import BatchQueue, KernelTeam, RowSource, forward, train_batches, train_minibatch, train_rows
from .network import STATE_ARRAYS, NetSpec, NetState

# node-local cache of encoded chunks: cache_id -> {cidx: (X, y, w, offset)}; dropped at the end of a run
_CACHE: dict[str, dict[int, tuple]] = {}
_CACHE_LOCK = threading.Lock()


def net_state(spec: dict, arrays: dict) -> NetState:
    """The network a task received (its spec dict and state arrays) as a state of its own (writeable copies)."""
    return NetState.from_arrays(NetSpec.from_dict(spec), arrays, copy=True)


def prepared_chunk(cache_id: str, cs, info: DataInfo, resp: dict, scoring: bool = False) -> tuple:
    """(X float32, y float64, w float64, offset float64) of a chunk, encoded once and cached on the node.
    A row with an NA response weighs 0; so, for training only, does a row with an NA predictor under
    missing_values_handling='Skip' (``scoring``: H2O scores every row, an NA predictor read as its mean).

    ``resp``: ``n_pred`` (the first n columns of ``cs`` are the predictors), and the indices in ``cs`` of the
    response (``y``), weights (``w``) and offset (``off``) columns, -1 when absent; ``kind`` is
    ``classification``, ``regression`` or ``autoencoder``; ``maps`` remaps enum predictor codes of a scoring
    frame into the training domains; ``na`` lists predictors the scoring frame lacks (their column is a stand-in,
    read as NA, as H2O's adaptTestForTrain substitutes a column of NaN).
    """
    with _CACHE_LOCK:
        hit = _CACHE.get(cache_id, {}).get(cs.cidx)
    if hit is not None:
        return hit[:2] + (hit[4] if scoring else hit[2], hit[3])
    n = cs.nrows
    cols = [cs[i] for i in range(resp["n_pred"])]
    for j in resp.get("na") or ():
        cols[j] = np.full(n, np.nan)
    for j, m in (resp.get("maps") or {}).items():
        j = int(j)
        c = cols[j]
        na = np.isnan(c)
        m = np.asarray(m, dtype=np.float64)
        cols[j] = np.where(na, np.nan, m[np.where(na, 0, c).astype(np.int64)])
    X, keep = info.transform(cols)
    w = np.ones(n) if resp["w"] < 0 else np.nan_to_num(cs[resp["w"]], nan=0.0)
    off = np.zeros(n) if resp["off"] < 0 else np.nan_to_num(cs[resp["off"]], nan=0.0)
    if resp["kind"] == "autoencoder":
        y = np.zeros(n)
    else:
        y = cs[resp["y"]].copy()
        if resp.get("ymap") is not None:           # a scoring frame's response levels -> training codes
            m = np.asarray(resp["ymap"], dtype=np.float64)
            ok = ~np.isnan(y)
            y[ok] = m[y[ok].astype(np.int64)]
            y[y < 0] = np.nan                      # levels unseen in training cannot be scored
        if resp["kind"] == "regression":
            y = info.transform_response(y)
        missing = np.isnan(y)
        y[missing] = 0.0
        w = np.where(missing, 0.0, w)            # rows with an NA response are skipped, as in H2O
    w_all = w.astype(np.float64)
    w_train = w_all if keep.all() else np.where(keep, w_all, 0.0)
    item = (np.ascontiguousarray(X, dtype=np.float32), y.astype(np.float64), w_train, off.astype(np.float64), w_all)
    with _CACHE_LOCK:
        _CACHE.setdefault(cache_id, {})[cs.cidx] = item
    return item[:2] + (w_all if scoring else w_train, item[3])


def row_order(rng: np.random.Generator, n: int, fraction: float, shuffle: bool) -> np.ndarray:
    """H2O's FrameTask sampling: ``ceil(fraction)`` passes, each keeping a row with probability
    ``fraction / passes``, scanned in order, or in a random order when shuffled or sampled (as FrameTask,
    which visits its shuffled index whenever it samples)."""
    if fraction <= 0 or n == 0:
        return np.empty(0, dtype=np.int64)
    passes = int(np.ceil(fraction))
    f = fraction / passes
    parts = []
    for _ in range(passes):
        idx = rng.permutation(n) if shuffle or f < 0.999 else np.arange(n)
        if f < 0.999:
            idx = idx[rng.random(n) < f]
        parts.append(idx)
    return np.concatenate(parts).astype(np.int64)


class NetworkTask(MRTask):
    """A task that runs a network over chunks: what every such task receives, shared by a node's maps."""
    info: dict = None             # the input encoding (DataInfo.to_state())
    spec: dict = None             # the network (NetSpec.to_dict())
    model: dict = None            # the network's state arrays; cleared before a result travels back
    hyper: np.ndarray = None      # the kernels' arrays (hyper.kernel_arrays)
    flags: np.ndarray = None
    resp: dict = None             # the roles of the mapped columns (see prepared_chunk)
    shared_fields = ("info", "spec", "model", "hyper", "flags", "resp")

    def setup_local(self):
        self._info = DataInfo.from_state(self.info)
        self._net = net_state(self.spec, self.model)


class DLTrainTask(NetworkTask):
    """One training iteration over the local chunks of every node."""
    cache_id: str = ""
    fraction: float = 1.0
    iteration: int = 0
    seed: int = 0
    samples_seen: int = 0
    shuffle: bool = False
    mini_batch_size: int = 1
    class_factors: np.ndarray = None    # balance_classes: per-class sampling factor
    thread_mode: str = "team"     # the effective thread_mode: team, replicas, hogwild or sequential
    load_balance: bool = True     # force_load_balance
    shared_fields = NetworkTask.shared_fields + ("class_factors", "chunk_homes")
    chunk_homes: list = None
    # results
    out: dict = None              # sum of the nodes' models
    n_models: int = 0
    n_replicas: int = 0           # models trained independently (nodes x averaged replicas): block momentum
    rows: int = 0
    loss: float = 0.0
    compute_s: float = 0.0        # the slowest node's compute time (for tspi auto-tuning)

    def setup_local(self):
        super().setup_local()
        self._base = self._net             # trained in place (a copy of what the task received)
        self._replicas: dict[int, NetState] = {}
        self._lock = threading.Lock()
        self._turn = threading.Condition()
        self._done: set[int] = set()
        self._pending: list = []          # team mode: (cidx, chunk's training arguments), trained in close_local
        self._t0 = time.perf_counter()

    def _balanced(self) -> bool:
        """force_load_balance (replicas, hogwild): the node's sampled rows are split evenly between its
        threads, whatever the number and sizes of its chunks (H2O rebalances the frame into more chunks
        for the same end: every core busy)."""
        return self.load_balance and self.thread_mode in ("replicas", "hogwild") and self.local_threads > 1

    def _net_for_thread(self) -> NetState:
        if self.thread_mode in ("hogwild", "sequential"):
            return self._base
        tid = threading.get_ident()
        with self._lock:
            net = self._replicas.get(tid)
            if net is None:
                net = self._replicas[tid] = self._base.copy()
        return net

    def map(self, cs):
        if self.thread_mode == "sequential":
            # chunks train one after another in chunk order on one model: the run is bit-identical
            with self._turn:
                self._turn.wait_for(lambda: all(c in self._done for c in self._mine_before(cs)))
            try:
                self._train_chunk(cs)
            finally:
                with self._turn:
                    self._done.add(cs.cidx)
                    self._turn.notify_all()
        else:
            self._train_chunk(cs)

    def _mine_before(self, cs) -> list[int]:
        """This node's chunks that come before ``cs`` (the task knows every chunk's home)."""
        if not hasattr(self, "_local_order"):
            homes = self.chunk_homes or []
            self._local_order = [i for i, h in enumerate(homes) if h == cs.home]
        order = self._local_order
        return order[:order.index(cs.cidx)] if cs.cidx in order else []

    def _train_chunk(self, cs):
        X, y, w, off = prepared_chunk(self.cache_id, cs, self._info, self.resp)
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, self.iteration, cs.cidx])
        if self.class_factors is not None and self.resp["kind"] == "classification":
            # balance_classes: over/under-sample each class by its factor (H2O rebalances the frame)
            order = _balanced_order(rng, self.class_factors[y.astype(np.int64)] * (w > 0), self.fraction,
                                    self.shuffle)
        else:
            order = row_order(rng, cs.nrows, self.fraction, self.shuffle)
            order = order[w[order] > 0] if order.size else order      # NA response, Skip, zero weight
        if order.size == 0:
            return
        chunk_seed = int(rng.integers(1, 2**62))
        wv = w
        if self.thread_mode == "team" or self._balanced():
            with self._lock:
                self._pending.append((cs.cidx, (X, y, wv, off, order, chunk_seed)))
            return
        net = self._net_for_thread()
        if self.mini_batch_size > 1:
            rows, loss = train_minibatch(net, X, y, wv, off, order, self.hyper, self.flags, chunk_seed,
                                         self.samples_seen, self.mini_batch_size)
        else:
            rows, loss = train_rows(net, X, y, wv, off, order, self.hyper, self.flags, chunk_seed,
                                    self.samples_seen)
        self.rows += rows
        self.loss += loss

    def _train_balanced(self, pending: list, team: KernelTeam) -> None:
        """Per-sample: thread t trains the t-th slice of every chunk's sampled rows, on its own replica (or the
        shared model for hogwild). Mini-batches: each thread takes the next batch of the node's chunks when it is
        free (a :class:`BatchQueue`), so a core slowed for a while trains fewer batches instead of making the
        other wait. Dropout counters stay each row's position in its chunk's order either way."""
        n = self.local_threads
        nets = [self._base if self.thread_mode == "hogwild" else self._base.copy() for _ in range(n)]
        # batches run on across chunks (no small batch per chunk), whichever thread is free taking the next
        queue = None
        if self.mini_batch_size > 1:
            queue = BatchQueue([RowSource(X, y, w, off, order, seed, self.samples_seen)
                                for X, y, w, off, order, seed in pending], self.mini_batch_size)

        def work(t: int) -> tuple[int, float]:
            if queue is not None:
                return train_batches(nets[t], queue, self.hyper, self.flags)
            mine = []                      # this thread's slice of each chunk
            for X, y, w, off, order, chunk_seed in pending:
                lo, hi = order.size * t // n, order.size * (t + 1) // n
                if hi > lo:
                    mine.append(RowSource(X, y, w, off, order[lo:hi], chunk_seed, self.samples_seen + lo))
            rows, loss = 0, 0.0
            for src in mine:
                r, lo_sum = train_rows(nets[t], *src[:5], self.hyper, self.flags, src.seed, src.samples_seen)
                rows, loss = rows + r, loss + lo_sum
            return rows, loss

        helpers = [team.pool.submit(work, t) for t in range(1, n)]
        results = [work(0)] + [h.result() for h in helpers]
        self.rows += sum(r for r, _ in results)
        self.loss += sum(lo_sum for _, lo_sum in results)
        if self.thread_mode != "hogwild":
            self._replicas = {t: net for t, net in enumerate(nets) if results[t][0] > 0}

    def reduce(self, o):
        self.rows += o.rows
        self.loss += o.loss
        self.compute_s = max(self.compute_s, o.compute_s)
        if o.out is not None:
            if self.out is None:
                self.out = {k: np.array(v) for k, v in o.out.items()}
            else:
                for k in self.out:
                    self.out[k] += o.out[k]
            self.n_models += o.n_models
            self.n_replicas += o.n_replicas

    def close_local(self):
        self.model = None                  # do not send the input model back
        if self._pending:
            pending = [args for _, args in sorted(self._pending, key=lambda p: p[0])]
            self._pending = []
            # a team per iteration and task (starting its threads costs well under a millisecond), so two
            # trainings on one node never share one
            with KernelTeam(self.local_threads) as team:
                if self.thread_mode == "team":
                    for X, y, w, off, order, chunk_seed in pending:
                        rows, loss = train_rows(self._base, X, y, w, off, order, self.hyper, self.flags,
                                                chunk_seed, self.samples_seen, team=team)
                        self.rows += rows
                        self.loss += loss
                else:
                    self._train_balanced(pending, team)
        self.compute_s = time.perf_counter() - self._t0
        if self.rows == 0:
            return
        nets = list(self._replicas.values()) or [self._base]       # hogwild and sequential train the base
        node_model = nets[0] if len(nets) == 1 else NetState.average(nets)
        # native dtypes (float32 weights and optimiser state): half the bytes of float64 on the wire, so a
        # node's model stays under the message limit up to ~4M weights
        local = {k: np.array(getattr(node_model, k)) for k in STATE_ARRAYS}
        if self.out is None:
            self.out, self.n_models = local, 1
        else:                              # already holds other nodes' models (reduced before close)
            for k in self.out:
                self.out[k] += local[k]
            self.n_models += 1
        self.n_replicas += len(nets) if self.thread_mode == "replicas" else 1


def _balanced_order(rng, factors: np.ndarray, fraction: float, shuffle: bool) -> np.ndarray:
    """Rows to visit when classes are balanced: row i is visited ``fraction * factor_i`` times in
    expectation (over-sampling with replacement, under-sampling by dropping), so an epoch is the balanced
    frame's size, as after H2O's stratified resampling."""
    n = factors.size
    expected = fraction * factors
    reps = np.floor(expected).astype(np.int64)
    reps += rng.random(n) < (expected - reps)
    order = np.repeat(np.arange(n, dtype=np.int64), reps)
    if shuffle or fraction > 1:
        order = order[rng.permutation(order.size)]
    return order


class DLScoreTask(NetworkTask):
    """Forward pass over (a sample of) each chunk; returns actuals, predictions and weights to the driver."""
    cache_id: str = ""
    sample_fraction: float = 1.0
    stratified: bool = False      # sample each class by the fraction (score_validation_sampling=Stratified)
    seed: int = 0
    layer: int = -1
    parts: list = None            # [[cidx, rows, y, pred, w, offset]]

    def map(self, cs):
        X, y, w, off = prepared_chunk(self.cache_id, cs, self._info, self.resp, scoring=True) if self.cache_id \
            else prepare_once(cs, self._info, self.resp)
        rows = np.arange(cs.nrows)
        if self.resp["kind"] != "autoencoder":
            rows = rows[w[rows] > 0]
        if self.sample_fraction < 1.0:
            rng = np.random.default_rng([self.seed & 0xFFFFFFFF, 7919, cs.cidx])
            if self.stratified and self.resp["kind"] == "classification":
                rows = _stratified_sample(rng, rows, y[rows], self.sample_fraction)
            else:
                rows = rows[rng.random(rows.size) < self.sample_fraction]
        Xs = np.ascontiguousarray(X[rows])
        spec = self._net.spec
        width = spec.units[-1] if self.layer < 0 else spec.units[self.layer + 1]
        out = np.empty((rows.size, width), dtype=np.float64)
        offset = off[rows] if (self.layer < 0 and spec.output == "linear") else None
        forward(self._net, Xs, out, self.hyper, self.flags, layer=self.layer, offset=offset)
        if self.resp["kind"] == "autoencoder" and self.layer < 0:
            err = ((out - Xs) ** 2)
            self.parts = [[cs.cidx, rows, err.mean(axis=1) if not self.resp.get("per_feature") else err,
                           out.astype(np.float32), w[rows], off[rows]]]
        else:
            self.parts = [[cs.cidx, rows, y[rows], out, w[rows], off[rows]]]
        self.model = None

    def reduce(self, o):
        self.parts = (self.parts or []) + (o.parts or [])

    def close_local(self):
        self.model = None

    def collect(self) -> tuple[np.ndarray, ...]:
        parts = sorted(self.parts or [], key=lambda p: p[0])
        if not parts:
            return tuple(np.empty(0) for _ in range(5))
        return tuple(np.concatenate([np.asarray(p[i]) for p in parts]) for i in range(1, 6))


def _stratified_sample(rng: np.random.Generator, rows: np.ndarray, classes: np.ndarray,
                       fraction: float) -> np.ndarray:
    """``round(fraction * n_c)`` rows of each class c (random, kept in row order): the sample has the
    classes' proportions, as H2O's stratified sampling of the validation frame."""
    keep = []
    for c in np.unique(classes):
        members = rows[classes == c]
        k = int(round(fraction * members.size))
        if k:
            keep.append(rng.choice(members, size=k, replace=False))
    return np.sort(np.concatenate(keep)) if keep else rows[:0]


def prepare_once(cs, info, resp):
    """Like prepared_chunk for scoring, without caching (one-off scoring of a frame)."""
    key = f"once-{id(cs)}-{cs.cidx}-{threading.get_ident()}"
    try:
        return prepared_chunk(key, cs, info, resp, scoring=True)
    finally:
        with _CACHE_LOCK:
            _CACHE.pop(key, None)


class DropCacheTask(MRTask):
    """Free the encoded chunks of a finished training run on every node."""
    cache_ids: list = None

    def map(self, cs):
        pass

    def setup_local(self):
        with _CACHE_LOCK:
            for cid in self.cache_ids or []:
                _CACHE.pop(cid, None)


class CountRowsTask(MRTask):
    """Training rows: those with a response and a non-zero weight (H2O's epoch counts only those); with
    ``enum_idx`` given, also ``complete``: those rows without an NA predictor (what
    missing_values_handling='Skip' trains on; an enum NA is NaN or a negative code)."""
    resp: dict = None
    enum_idx: list = None
    rows: int = 0
    complete: int = 0

    def map(self, cs):
        ok = np.ones(cs.nrows, dtype=bool)
        if self.resp["y"] >= 0:
            ok &= ~np.isnan(cs[self.resp["y"]])
        if self.resp["w"] >= 0:
            ok &= np.nan_to_num(cs[self.resp["w"]], nan=0.0) != 0
        self.rows = int(ok.sum())
        if self.enum_idx is not None:
            enums = set(self.enum_idx)
            for j in range(self.resp["n_pred"]):
                c = cs[j]
                ok &= ~np.isnan(c) & ((c >= 0) if j in enums else True)
            self.complete = int(ok.sum())

    def reduce(self, o):
        self.rows += o.rows
        self.complete += o.complete


class ClassCountTask(MRTask):
    """Rows per class of the response (for balance_classes)."""
    resp: dict = None
    nclasses: int = 0
    counts: np.ndarray = None

    def map(self, cs):
        y = cs[self.resp["y"]]
        ok = ~np.isnan(y)
        if self.resp["w"] >= 0:
            ok &= np.nan_to_num(cs[self.resp["w"]], nan=0.0) != 0
        self.counts = np.bincount(y[ok].astype(np.int64), minlength=self.nclasses).astype(np.float64)

    def reduce(self, o):
        self.counts = o.counts if self.counts is None else (self.counts if o.counts is None else self.counts + o.counts)


class WeightedMomentsTask(MRTask):
    """Weighted (sum_w, mean, m2) of every numeric column (DataInfo standardises with weighted stats)."""
    wcol: int = 0
    moments: list = None

    def map(self, cs):
        w = np.nan_to_num(cs[self.wcol], nan=0.0)
        self.moments = [weighted_moments(cs[i], w) for i in range(len(cs))]

    def reduce(self, o):
        if self.moments is None:
            self.moments = o.moments
        elif o.moments is not None:
            self.moments = [merge_moments(a, b) for a, b in zip(self.moments, o.moments)]


def weighted_column_infos(fr, preds, response, weights_column, cloud):
    """Predictors (and response) with observation-weighted mean and sigma, and the weights' ColumnInfo."""
    cols = [c.name for c in preds] + ([response.name] if response is not None else [])
    t = WeightedMomentsTask(wcol=len(cols)).do_all(fr, columns=cols + [weights_column], cloud=cloud)
    moments = dict(zip(cols, t.moments))
    new_preds = [c.reweighted(moments[c.name]) if c.type == "numeric" else c for c in preds]
    new_resp = None if response is None else (response.reweighted(moments[response.name])
                                              if response.type == "numeric" else response)
    return new_preds, new_resp, ColumnInfo(weights_column, "numeric")
