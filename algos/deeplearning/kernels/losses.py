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



def output_grad_np(out_kind: int, gcode: int, act: int, outa: np.ndarray, t: np.ndarray, X0: np.ndarray,
                    off: np.ndarray, hyper: np.ndarray, quirks: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(dE/dnet rows (B, n_out) float64, per-row loss (B,)) for the mini-batch path."""
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
