"""Hidden-layer activations and their derivatives: the Numba scalar form (per-sample kernel) and the numpy
array form (mini-batch and scoring), side by side so that they stay the same functions.

ExpRectifier's derivative is ``a + 1`` for ``a < 0`` (the true derivative exp(net); H2O's code uses ``exp(a)``).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..hyper import ACT_ELU, ACT_RECTIFIER, ACT_TANH, Q_EXP_RECTIFIER
from .jit import JIT

@njit(**JIT)
def activate(act, net):
    if act == ACT_TANH:
        return 1.0 - 2.0 / (1.0 + math.exp(2.0 * net))  # H2O's formula; exp overflow gives exactly 1
    if act == ACT_ELU:
        return net if net >= 0.0 else math.exp(net) - 1.0
    if act == ACT_RECTIFIER:
        return net if net > 0.0 else 0.0
    return net  # Maxout picks the max channel before this point


@njit(**JIT)
def derivative(act, a, quirks=0):
    """d activation / d net, written in terms of the activation a (the exp_rectifier_derivative quirk: exp(a))."""
    if act == ACT_TANH:
        return 1.0 - a * a
    if act == ACT_ELU:
        if a >= 0.0:
            return 1.0
        return math.exp(a) if quirks & Q_EXP_RECTIFIER else a + 1.0
    if act == ACT_RECTIFIER:
        return 1.0 if a > 0.0 else 0.0
    return 1.0



@njit(**JIT)
def bias_rectify(net, b, mask):
    """In place over a batch's nets ``(B, n)``: ``max(net + float32(b), 0) * mask`` (``mask`` of shape ``(0, 0)``:
    no dropout): a Rectifier hidden layer in one pass, the same bits as numpy's four (add, maximum, cast,
    multiply), which allocated a temporary each and held the GIL between them."""
    masked = mask.shape[0] > 0
    for r in range(net.shape[0]):
        for j in range(net.shape[1]):
            v = net[r, j] + np.float32(b[j])
            v = v if v > np.float32(0.0) else np.float32(0.0)
            net[r, j] = v * mask[r, j] if masked else v


@njit(**JIT)
def times_rectifier_derivative(g, a):
    """In place: ``g *= (a > 0)`` (as float32 1/0, so that the bits are numpy's ``g *= derivative_np(...)``)."""
    for r in range(g.shape[0]):
        for j in range(g.shape[1]):
            g[r, j] = g[r, j] * (np.float32(1.0) if a[r, j] > np.float32(0.0) else np.float32(0.0))


def activate_np(act: int, net: np.ndarray) -> np.ndarray:
    if act == ACT_TANH:
        with np.errstate(over="ignore"):
            return (1.0 - 2.0 / (1.0 + np.exp(2.0 * net))).astype(np.float32)
    if act == ACT_ELU:
        return np.where(net >= 0, net, np.expm1(np.minimum(net, 0))).astype(np.float32)
    if act == ACT_RECTIFIER:
        return np.maximum(net, 0).astype(np.float32, copy=False)
    return net


def derivative_np(act: int, a: np.ndarray, quirks: int = 0) -> np.ndarray:
    if act == ACT_TANH:
        return 1.0 - a * a
    if act == ACT_ELU:
        below = np.exp(np.minimum(a, 0)) if quirks & Q_EXP_RECTIFIER else a + np.float32(1.0)
        return np.where(a >= 0, np.float32(1.0), below).astype(np.float32)
    if act == ACT_RECTIFIER:
        return (a > 0).astype(np.float32)
    return np.ones_like(a)
