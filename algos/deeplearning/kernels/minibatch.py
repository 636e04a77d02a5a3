"""Mini-batch SGD (H2O forces size 1; we train real batches): BLAS forward/backward per batch in float32, the
row-weighted gradients summed over the batch size, then one fused Numba update (``apply_update_kernel``).
"""
from __future__ import annotations

import threading
from typing import NamedTuple

import numpy as np
from numba import njit

from ..hyper import (ACT_MAXOUT, ACT_RECTIFIER, F_ACTIVATION, F_GRADIENT, F_OUTPUT, F_QUIRKS, H_HIDDEN_DROPOUT,
                     H_INPUT_DROPOUT, H_SPARSITY_BETA, OUT_AUTOENCODER, Q_DROPOUT_GRADIENT)
from ..network import NetState
from .activations import derivative_np, times_rectifier_derivative
from .checks import check_hyper, check_rows
from .dropout import HIDDEN_MASK, INPUT_MASK, fill_masks_batch
from .forward import forward_np
from .jit import JIT
from .losses import output_grad_np
from .optimizers import apply_update_kernel

def train_minibatch(state: NetState, X: np.ndarray, y: np.ndarray, row_weight: np.ndarray,
                    offset: np.ndarray, order: np.ndarray, hyper: np.ndarray, flags: np.ndarray, seed: int,
                    samples_seen: int, batch_size: int) -> tuple[int, float]:
    """Mini-batch SGD over ``X[order]`` in batches of ``batch_size``; returns (rows, weighted loss sum).

    Per batch: float32 BLAS forward with the same counter-based dropout masks as ``train_rows``,
    dE/dnet times ``row_weight / batch_size``, BLAS backprop, then one fused Numba
    update (``apply_update_kernel``).  Exact and deterministic; with ``batch_size=1`` it takes the
    same steps as ``train_rows`` (up to float32 summation order).
    """
    return train_minibatches(state, [RowSource(X, y, row_weight, offset, order, seed, samples_seen)], hyper,
                             flags, batch_size)


class RowSource(NamedTuple):
    """Rows to train on: ``X[order]`` with their targets, weights and offsets; ``seed`` and ``samples_seen`` (the
    counter of ``order[0]``) give their dropout masks and learning-rate schedule, as in :func:`train_rows`."""
    X: np.ndarray
    y: np.ndarray
    row_weight: np.ndarray
    offset: np.ndarray
    order: np.ndarray
    seed: int
    samples_seen: int


def train_minibatches(state: NetState, sources: list, hyper: np.ndarray, flags: np.ndarray,
                      batch_size: int) -> tuple[int, float]:
    """:func:`train_minibatch` over several :class:`RowSource` in turn (a thread's share of each chunk of an
    iteration; plain tuples in that order do too): batches run on from one source into the
    next, so a source holding few rows does not make a small batch of its own. (Cut per chunk, a small last
    iteration became batches of one or two rows, each a full ADADELTA step on a single row's gradient: the
    F-MNIST mini-batch run went from 0.17 to 1.2 training logloss in one iteration of 46 rows.)
    """
    return train_batches(state, BatchQueue(sources, batch_size), hyper, flags)


def train_batches(state: NetState, queue: "BatchQueue", hyper: np.ndarray, flags: np.ndarray) -> tuple[int, float]:
    """Trains ``state`` on the batches it takes from ``queue`` until none is left; returns (rows, weighted loss
    sum). Threads that each train their own replica share one queue (:class:`BatchQueue`)."""
    check_hyper(state, hyper, flags)
    queue.check(state, flags)
    totals = [0, 0.0]
    grads = (np.zeros_like(state.w), np.zeros_like(state.b))    # every batch overwrites them whole
    for parts in queue:
        _train_batch(state, queue.sources, parts, queue.batch_size, hyper, flags, grads, totals)
    return totals[0], totals[1]


def cut_batches(sources: list, batch_size: int) -> list[list[tuple[int, int, int]]]:
    """The batches of ``sources`` in order, each a list of (source index, positions lo..hi of its order)."""
    batches, parts, room = [], [], batch_size
    for s, src in enumerate(sources):
        pos, n = 0, len(src.order)
        while pos < n:
            take = min(room, n - pos)
            parts.append((s, pos, pos + take))
            pos += take
            room -= take
            if room == 0:
                batches.append(parts)
                parts, room = [], batch_size
    if parts:
        batches.append(parts)
    return batches


class BatchQueue:
    """The batches of ``sources`` (:func:`cut_batches`), taken in order by whichever thread asks next. Threads that
    each train their own replica share one: a core that runs slower for a while trains fewer batches instead of
    leaving the other idle at the end of the iteration (with half of each chunk each, the first thread done
    waited 0.1-0.24 s of a 0.9 s iteration on this project's 2-core VM, docs/benchmarks.md).

    >>> q = BatchQueue([(None, None, None, None, np.arange(5), 0, 0)], 2)
    >>> [next(iter(q)) for _ in range(3)], list(q)
    ([[(0, 0, 2)], [(0, 2, 4)], [(0, 4, 5)]], [])
    """

    def __init__(self, sources: list, batch_size: int):
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size = int(batch_size)
        self.sources = [RowSource(*src) for src in sources]
        self._batches = cut_batches(self.sources, self.batch_size)
        self._next = 0
        self._checked: set = set()
        self._lock = threading.Lock()

    def check(self, state: NetState, flags: np.ndarray) -> None:
        """:func:`check_rows` on every source, once per network shape and flags (replicas share both, so the
        threads sharing a queue scan the node's rows once, not once each)."""
        key = (tuple(state.spec.units), state.spec.output, flags.tobytes())
        with self._lock:
            if key not in self._checked:
                for src in self.sources:
                    check_rows(state, src.X, src.y, src.row_weight, src.offset, src.order, flags)
                self._checked.add(key)

    def __iter__(self):
        while True:
            with self._lock:
                i = self._next
                self._next += 1
            if i >= len(self._batches):
                return
            yield self._batches[i]


def _train_batch(state: NetState, sources: list, parts: list, batch_size: int, hyper: np.ndarray,
                 flags: np.ndarray, grads: tuple, totals: list) -> None:
    """One mini-batch step over the rows ``parts`` name (see :func:`train_minibatches`); adds to ``totals``."""
    spec = state.spec
    L = spec.n_layers
    act, out_kind, gcode = int(flags[F_ACTIVATION]), int(flags[F_OUTPUT]), int(flags[F_GRADIENT])
    beta = hyper[H_SPARSITY_BETA] if out_kind == OUT_AUTOENCODER else 0.0
    first = parts[0]
    step_counter = np.int64(sources[first[0]].samples_seen + first[1])   # its first sample, as per-row SGD counts
    live_parts = []                        # (source, row indices, dropout counters) of rows with weight
    for s, lo, hi in parts:
        src = sources[s]
        idx = src.order[lo:hi]
        live = src.row_weight[idx] != 0.0
        if live.any():
            live_parts.append((s, idx[live], (src.samples_seen + lo + np.arange(hi - lo, dtype=np.int64))[live]))
    if not live_parts:
        return

    def gather(field: str) -> np.ndarray:
        arrays = [getattr(sources[s], field)[idx] for s, idx, _ in live_parts]
        return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)

    X0, yb, rw, offb = gather("X"), gather("y"), gather("row_weight"), gather("offset")
    B = X0.shape[0]
    quirks = int(flags[F_QUIRKS])

    def fill_masks(m: np.ndarray, layer: int, ratio: float) -> None:
        at = 0
        for s, idx, counters in live_parts:       # each row's mask from its own source's seed and counter
            fill_masks_batch(m[at:at + idx.size], np.int64(sources[s].seed), counters, np.int64(layer), ratio)
            at += idx.size

    masks: list[np.ndarray | None] = [None] * L
    A0 = X0
    if hyper[H_INPUT_DROPOUT] > 0:
        m0 = np.empty_like(X0)
        fill_masks(m0, INPUT_MASK, float(hyper[H_INPUT_DROPOUT]))
        # X0 is a gathered copy; an autoencoder still needs it unmasked as its target
        A0 = X0 * m0 if out_kind == OUT_AUTOENCODER else np.multiply(X0, m0, out=X0)
    drawn: dict = {}       # hidden masks depend on (units, ratio) only: equal layers share one (read-only)
    for l in range(L - 1):
        ratio = float(hyper[H_HIDDEN_DROPOUT + l])
        if ratio > 0:
            key = (spec.units[l + 1], ratio)
            if key not in drawn:
                drawn[key] = np.empty((B, spec.units[l + 1]), dtype=np.float32)
                fill_masks(drawn[key], HIDDEN_MASK, ratio)
            masks[l + 1] = drawn[key]
    acts, wins = forward_np(state, A0, hyper, act, out_kind, masks)
    if beta > 0:
        # H2O's running mean 0.999*rho + 0.001*a, applied row after row through the batch.
        decay = 0.999 ** np.arange(B - 1, -1, -1, dtype=np.float64)
        for l in range(L - 1):
            sl = slice(int(state.b_off[l]), int(state.b_off[l]) + spec.units[l + 1])
            state.avg_act[sl] = 0.999 ** B * state.avg_act[sl] + 0.001 * (decay @ acts[l + 1])
    e, row_loss = output_grad_np(out_kind, gcode, act, acts[-1], yb, X0, offb, hyper, quirks)
    totals[1] += float(rw @ row_loss)
    totals[0] += B
    # The row-weighted gradients summed over the batch and divided by the batch SIZE, not by the rows it got:
    # a short batch (the last of an iteration, zero-weight rows dropped) moves the model by its share of a full
    # one. Divided by its own rows, a last batch of a few rows took a full ADADELTA step on a few rows' noise
    # (F-MNIST, 3 epochs of batches of 128: one step on 2-40 rows raised the training logloss from 0.33 to
    # 0.8-1.3). A weight scales its row's gradient exactly as in train_rows; a batch of size 1 is a
    # per-sample step.
    G = (e * (rw / batch_size)[:, None]).astype(np.float32)
    gw, gb = grads
    for l in range(L - 1, -1, -1):
        hidden = l < L - 1
        W = state.layer_weights(l)
        if hidden and act == ACT_MAXOUT:
            Gr = np.zeros((B, spec.units[l + 1], 2), dtype=np.float32)
            np.put_along_axis(Gr, wins[l][:, :, None], G[:, :, None], axis=2)
            Grows = Gr.reshape(B, -1)
        else:
            Grows = G
        np.matmul(Grows.T, acts[l], out=gw[state.w_off[l]:state.w_off[l + 1]].reshape(W.shape))
        _column_sums(Grows, gb[state.b_off[l]:state.b_off[l + 1]])
        if l > 0:
            G = Grows @ W  # E, with the pre-update weights, as in H2O's bprop
            if act == ACT_RECTIFIER:
                times_rectifier_derivative(G, acts[l])
            else:
                G *= derivative_np(act, acts[l], quirks)
            # A Rectifier's derivative is already 0 wherever the mask is (a dropped unit's activation is 0).
            if masks[l] is not None and not quirks & Q_DROPOUT_GRADIENT and act != ACT_RECTIFIER:
                G *= masks[l]
    apply_update_kernel(state.w, state.b, state.w_g2, state.w_dx2, state.w_v, state.b_g2, state.b_dx2,
                        state.b_v, state.avg_act, state.units, state.w_off, state.b_off, gw, gb, hyper,
                        flags, step_counter)


@njit(**{**JIT, "fastmath": False})
def _column_sums(G, out):
    """``out[:] = G.sum(axis=0, dtype=float64)`` with numpy's bits (each column summed in row order; no
    reassociation allowed), in a third of numpy's time: its casting reduction was 3 % of a batch."""
    out[:] = 0.0
    for r in range(G.shape[0]):
        for j in range(G.shape[1]):
            out[j] += np.float64(G[r, j])
