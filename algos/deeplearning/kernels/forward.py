"""The forward pass in numpy: the mini-batch path's (float32 BLAS; a training Rectifier layer's bias, activation and
mask in one Numba pass), and scoring and deepfeatures (through ``scoring.network``, the one scoring forward pass of
the cloud, the portable scorer and the POJO).

Scoring scales hidden activations by ``1 - ratio`` (H2O's non-inverted dropout); training applies masks.
"""
from __future__ import annotations

import numpy as np

from scoring.network import Network

from ..hyper import ACT_MAXOUT, ACT_RECTIFIER, H_HIDDEN_DROPOUT, OUT_AUTOENCODER
from ..network import NetState
from .activations import activate_np, bias_rectify
from .checks import check_hyper

NO_MASK = np.empty((0, 0), dtype=np.float32)


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
        win = None
        if hidden and act == ACT_RECTIFIER and masks is not None:
            # training a Rectifier layer (the booklet's network): bias, activation and mask in one Numba pass
            bias_rectify(net, state.layer_biases(l), NO_MASK if masks[l + 1] is None else masks[l + 1])
            a = net
        else:
            net += state.layer_biases(l).astype(np.float32)
            if hidden and act == ACT_MAXOUT:
                net3 = net.reshape(net.shape[0], -1, 2)
                win = (net3[:, :, 1] > net3[:, :, 0]).astype(np.int64)
                net = np.take_along_axis(net3, win[:, :, None], axis=2)[:, :, 0]
            a = activate_np(act, net) if (hidden or out_kind == OUT_AUTOENCODER) else net
            if hidden:
                ratio = hyper[H_HIDDEN_DROPOUT + l]
                if masks is not None:
                    if masks[l + 1] is not None:
                        a = np.multiply(a, masks[l + 1], out=a)   # a is this layer's own new array
                elif ratio > 0:
                    a = a * np.float32(1.0 - ratio)
        acts.append(np.ascontiguousarray(a, dtype=np.float32))
        wins.append(win)
        if l == stop_layer:
            break
    return acts, wins


def forward(state: NetState, X: np.ndarray, out: np.ndarray, hyper: np.ndarray, flags: np.ndarray,
            layer: int = -1, offset: np.ndarray | None = None) -> np.ndarray:
    """Scoring-time forward of every row of ``X`` into ``out`` (also returned).

    ``layer=-1``: softmax probabilities (n, classes), linear output in link space plus ``offset``
    (n, 1) (the driver applies linkInv), or the reconstruction (n, n_in).  ``layer>=0``: hidden
    layer ``layer``'s test-mode activations (deepfeatures), shape (n, units[layer+1]).  The arithmetic is
    the portable scorer's (``scoring.network``: float64 over the float32 weights), so the cloud, an exported
    model file and its POJO predict alike.

    >>> # out = np.empty((len(X), 10)); forward(state, X, out, hyper, flags)
    """
    check_hyper(state, hyper, flags)
    spec = state.spec
    if X.dtype != np.float32 or X.ndim != 2 or X.shape[1] != spec.units[0]:
        raise ValueError(f"X must be float32[n, {spec.units[0]}], got {X.dtype}{X.shape}")
    width = spec.units[-1] if layer == -1 else spec.units[layer + 1]
    if out.shape != (X.shape[0], width) or out.dtype.kind != "f":
        raise ValueError(f"out must be a float array of shape {(X.shape[0], width)}, got {out.dtype}{out.shape}")
    net = Network([state.layer_weights(l) for l in range(spec.n_layers)],
                  [state.layer_biases(l) for l in range(spec.n_layers)], spec.base_activation, spec.output,
                  hyper[H_HIDDEN_DROPOUT:H_HIDDEN_DROPOUT + spec.n_layers - 1])
    out[:] = net.forward(X, layer=layer, offset=offset)
    return out
