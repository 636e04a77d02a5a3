"""Output gradients and per-row deviances by distribution: the Numba scalar form (per-sample kernel) and the
numpy array form (mini-batch), side by side.

Huber's delta is ``huber_delta`` (the Trainer passes H2O's 1; the fitted delta is for the metrics). Softmax +
Quadratic keeps H2O's diagonal formula ``(y-t)*y*(1-y)``. An autoencoder's output gradient includes the activation's
derivative (H2O's does not: the autoencoder_output_gradient quirk).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..hyper import (G_CROSS_ENTROPY, G_GAMMA, G_GAUSSIAN, G_HUBER, G_LAPLACE, G_POISSON, G_QUANTILE,
                     H_HUBER_DELTA, H_QUANTILE_ALPHA, H_TWEEDIE_POWER, OUT_LINEAR, OUT_SOFTMAX, Q_AUTOENCODER_GRADIENT)
from .activations import derivative_np
from .jit import JIT

@njit(**JIT)
def dist_grad(gcode, t, f, hyper):
    """(dE/df, E) for one linear output ``f`` and target ``t``; E is the per-row deviance."""
    d = t - f
    if gcode == G_GAUSSIAN:
        return -2.0 * d, d * d
    if gcode == G_LAPLACE:
        return (1.0 if f > t else -1.0), abs(d)
    if gcode == G_QUANTILE:
        alpha = hyper[H_QUANTILE_ALPHA]
        if t > f:
            return -alpha, alpha * d
        return 1.0 - alpha, (alpha - 1.0) * d
    if gcode == G_HUBER:
        delta = hyper[H_HUBER_DELTA]
        if abs(d) <= delta:
            return -2.0 * d, d * d
        return (-2.0 * delta if d > 0 else 2.0 * delta), 2.0 * delta * abs(d) - delta * delta
    if gcode == G_POISSON:
        mu = math.exp(f)
        tlogt = t * math.log(t) if t > 0 else 0.0
        return -2.0 * (t - mu), 2.0 * (tlogt - t * f - (t - mu))
    if gcode == G_GAMMA:
        return -2.0 * (t * math.exp(-f) - 1.0), 2.0 * (-math.log(t) + f + t * math.exp(-f) - 1.0)
    # tweedie
    p = hyper[H_TWEEDIE_POWER]
    a1, a2 = math.exp(f * (1.0 - p)), math.exp(f * (2.0 - p))
    dev = 2.0 * (t ** (2.0 - p) / ((1.0 - p) * (2.0 - p)) - t * a1 / (1.0 - p) + a2 / (2.0 - p))
    return -2.0 * (t * a1 - a2), dev



@njit(**{**JIT, "fastmath": False})
def _numpy_sum(a):
    """``a.sum()`` of a contiguous float64 row of at most 128 values, in numpy's order: its pairwise sum of 8
    running accumulators (a block of <= 128 values is one leaf), started from the add identity 0."""
    n = a.size
    if n < 8:
        res = -0.0
        for i in range(n):
            res += a[i]
        return 0.0 + res
    r0, r1, r2, r3, r4, r5, r6, r7 = a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]
    i = 8
    while i < n - n % 8:
        r0 += a[i]
        r1 += a[i + 1]
        r2 += a[i + 2]
        r3 += a[i + 3]
        r4 += a[i + 4]
        r5 += a[i + 5]
        r6 += a[i + 6]
        r7 += a[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[i]
        i += 1
    return 0.0 + res


@njit(**{**JIT, "fastmath": False})
def softmax_cross_entropy(outa, t, e, loss):
    """A batch's softmax + cross-entropy rows in one pass, with the bits of the numpy form in
    :func:`output_grad_np` (whose dozen small calls per batch held the GIL that the other compute thread
    waits for): ``e`` = p - onehot(t), ``loss`` = -log(p[t]); for at most 128 classes (:func:`_numpy_sum`)."""
    for r in range(outa.shape[0]):
        m = np.float64(outa[r, 0])
        for j in range(1, outa.shape[1]):
            m = max(m, np.float64(outa[r, j]))
        row = e[r]
        for j in range(outa.shape[1]):
            row[j] = math.exp(np.float64(outa[r, j]) - m)
        tot = _numpy_sum(row)
        for j in range(outa.shape[1]):
            row[j] = row[j] / tot
        k = int(t[r])
        loss[r] = -math.log(max(row[k], 1e-300))
        row[k] = row[k] - 1.0


def output_grad_np(out_kind: int, gcode: int, act: int, outa: np.ndarray, t: np.ndarray, X0: np.ndarray,
                    off: np.ndarray, hyper: np.ndarray, quirks: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(dE/dnet rows (B, n_out) float64, per-row loss (B,)) for the mini-batch path."""
    if out_kind == OUT_SOFTMAX and gcode == G_CROSS_ENTROPY and outa.shape[1] <= 128:
        e, loss = np.empty(outa.shape, dtype=np.float64), np.empty(outa.shape[0], dtype=np.float64)
        softmax_cross_entropy(outa, t, e, loss)
        return e, loss
    if out_kind == OUT_SOFTMAX:
        z = outa.astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        onehot = np.zeros_like(p)
        onehot[np.arange(p.shape[0]), t.astype(np.int64)] = 1.0
        if gcode == G_CROSS_ENTROPY:
            ptrue = p[np.arange(p.shape[0]), t.astype(np.int64)]
            return p - onehot, -np.log(np.maximum(ptrue, 1e-300))
        return (p - onehot) * p * (1.0 - p), ((p - onehot) ** 2).sum(axis=1)
    if out_kind == OUT_LINEAR:
        f = outa[:, 0].astype(np.float64) + off
        g, lo = _dist_grad_np(gcode, t, f, hyper)
        return g[:, None], lo
    y = outa.astype(np.float64)
    g, lo = _dist_grad_np(gcode, X0.astype(np.float64), y, hyper)
    if quirks & Q_AUTOENCODER_GRADIENT:
        return g, lo.sum(axis=1)
    return g * derivative_np(act, outa, quirks).astype(np.float64), lo.sum(axis=1)


def _dist_grad_np(gcode: int, t: np.ndarray, f: np.ndarray, hyper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = t - f
    if gcode == G_GAUSSIAN:
        return -2.0 * d, d * d
    if gcode == G_LAPLACE:
        return np.where(f > t, 1.0, -1.0), np.abs(d)
    if gcode == G_QUANTILE:
        a = hyper[H_QUANTILE_ALPHA]
        return np.where(t > f, -a, 1.0 - a), np.where(t > f, a * d, (a - 1.0) * d)
    if gcode == G_HUBER:
        dl = hyper[H_HUBER_DELTA]
        small = np.abs(d) <= dl
        return (np.where(small, -2.0 * d, -2.0 * dl * np.sign(d)),
                np.where(small, d * d, 2.0 * dl * np.abs(d) - dl * dl))
    if gcode == G_POISSON:
        mu = np.exp(f)
        tlogt = np.where(t > 0, t * np.log(np.where(t > 0, t, 1.0)), 0.0)
        return -2.0 * (t - mu), 2.0 * (tlogt - t * f - (t - mu))
    if gcode == G_GAMMA:
        return -2.0 * (t * np.exp(-f) - 1.0), 2.0 * (-np.log(t) + f + t * np.exp(-f) - 1.0)
    p = hyper[H_TWEEDIE_POWER]
    a1, a2 = np.exp(f * (1.0 - p)), np.exp(f * (2.0 - p))
    return (-2.0 * (t * a1 - a2),
            2.0 * (t ** (2.0 - p) / ((1.0 - p) * (2.0 - p)) - t * a1 / (1.0 - p) + a2 / (2.0 - p)))
