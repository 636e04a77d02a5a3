"""The forward pass in numpy (float32 BLAS): scoring, deepfeatures, and the mini-batch path's forward.

Scoring scales hidden activations by ``1 - ratio`` (H2O's non-inverted dropout); training applies masks.
"""
from __future__ import annotations

import numpy as np

from ..hyper import ACT_MAXOUT, F_ACTIVATION, F_OUTPUT, H_HIDDEN_DROPOUT, OUT_AUTOENCODER, OUT_LINEAR, OUT_SOFTMAX
from ..network import NetState
from .activations import activate_np
from .checks import check_hyper

def forward_np(state: NetState, A0: np.ndarray, hyper: np.ndarray, act: int, out_kind: int,
                masks: list[np.ndarray | None] | None, stop_layer: int = -1
                ) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """Forward a block of rows. ``masks`` given = training (masks per hidden layer, None = no
    dropout); ``masks`` None = scoring (hidden activations scaled by 1 - ratio).  The output layer
    returns the raw net for softmax/linear and the activation for an autoencoder."""
    L = state.spec.n_layers
    acts: list[np.ndarray] = [A0]
    wins: list[np.ndarray | None] = []
    for l in range(L):
        hidden = l < L - 1
        W = state.layer_weights(l)
        net = acts[-1] @ W.T
        net += state.layer_biases(l).astype(np.float32)
        win = None
        if hidden and act == ACT_MAXOUT:
            net3 = net.reshape(net.shape[0], -1, 2)
            win = (net3[:, :, 1] > net3[:, :, 0]).astype(np.int64)
            net = np.take_along_axis(net3, win[:, :, None], axis=2)[:, :, 0]
        a = activate_np(act, net) if (hidden or out_kind == OUT_AUTOENCODER) else net
        if hidden:
            ratio = hyper[H_HIDDEN_DROPOUT + l]
            if masks is not None:
                if masks[l + 1] is not None:
                    a = a * masks[l + 1]
            elif ratio > 0:
                a = a * np.float32(1.0 - ratio)
        acts.append(np.ascontiguousarray(a, dtype=np.float32))
        wins.append(win)
        if l == stop_layer:
            break
    return acts, wins


def forward(state: NetState, X: np.ndarray, out: np.ndarray, hyper: np.ndarray, flags: np.ndarray,
            layer: int = -1, offset: np.ndarray | None = None, block_rows: int = 4096) -> np.ndarray:
    """Scoring-time forward of every row of ``X`` into ``out`` (also returned).

    ``layer=-1``: softmax probabilities (n, classes), linear output in link space plus ``offset``
    (n, 1) (the driver applies linkInv), or the reconstruction (n, n_in).  ``layer>=0``: hidden
    layer ``layer``'s test-mode activations (deepfeatures), shape (n, units[layer+1]).

    >>> # out = np.empty((len(X), 10)); forward(state, X, out, hyper, flags)
    """
    check_hyper(state, hyper, flags)
    spec = state.spec
    if X.dtype != np.float32 or X.ndim != 2 or X.shape[1] != spec.units[0]:
        raise ValueError(f"X must be float32[n, {spec.units[0]}], got {X.dtype}{X.shape}")
    if not -1 <= layer < spec.n_layers - 1:
        raise ValueError(f"layer must be -1 (output) or a hidden layer index in [0, {spec.n_layers - 1}), got {layer}")
    width = spec.units[-1] if layer == -1 else spec.units[layer + 1]
    if out.shape != (X.shape[0], width) or out.dtype.kind != "f":
        raise ValueError(f"out must be a float array of shape {(X.shape[0], width)}, got {out.dtype}{out.shape}")
    out_kind, act = int(flags[F_OUTPUT]), int(flags[F_ACTIVATION])
    if offset is not None:
        if out_kind != OUT_LINEAR:
            raise ValueError("offset applies to a linear (regression) output only")
        if offset.shape != (X.shape[0],):
            raise ValueError(f"offset must have shape ({X.shape[0]},), got {offset.shape}")
    for lo in range(0, X.shape[0], block_rows):
        hi = min(lo + block_rows, X.shape[0])
        acts, _ = forward_np(state, X[lo:hi], hyper, act, out_kind, None, layer)
        res = acts[-1]
        if layer == -1 and out_kind == OUT_SOFTMAX:
            z = res.astype(np.float64)
            z -= z.max(axis=1, keepdims=True)
            np.exp(z, out=z)
            z /= z.sum(axis=1, keepdims=True)
            res = z
        elif layer == -1 and out_kind == OUT_LINEAR and offset is not None:
            res = res.astype(np.float64) + offset[lo:hi, None]
        out[lo:hi] = res
    return out
