"""Checks of the kernels' Python entry points: arrays of the right dtype, shape and range, or a ValueError."""
from __future__ import annotations

import numpy as np

from ..hyper import (F_GRADIENT, F_N_LAYERS, F_OUTPUT, G_GAMMA, G_POISSON, G_TWEEDIE, H_HIDDEN_DROPOUT, N_FLAGS,
                     OUT_LINEAR, OUT_SOFTMAX)
from ..network import NetState

def check_hyper(state: NetState, hyper: np.ndarray, flags: np.ndarray) -> None:
    if hyper.dtype != np.float64 or hyper.shape != (H_HIDDEN_DROPOUT + state.spec.n_layers - 1,):
        raise ValueError(f"hyper must be kernel_arrays(params, spec)[0] for this spec, got {hyper.dtype}{hyper.shape}")
    if flags.dtype != np.int64 or flags.shape != (N_FLAGS,) or flags[F_N_LAYERS] != state.spec.n_layers:
        raise ValueError(f"flags must be kernel_arrays(params, spec)[1] for this spec, got {flags.dtype}{flags.shape}")


def check_rows(state: NetState, X: np.ndarray, y: np.ndarray, row_weight: np.ndarray,
                offset: np.ndarray, order: np.ndarray, flags: np.ndarray) -> None:
    n_in = state.spec.units[0]
    if X.dtype != np.float32 or X.ndim != 2 or X.shape[1] != n_in or not X.flags.c_contiguous:
        raise ValueError(f"X must be a C-contiguous float32[n, {n_in}] matrix, got {X.dtype}{X.shape}")
    n = X.shape[0]
    for name, arr, dt in (("y", y, np.float64), ("row_weight", row_weight, np.float64),
                          ("offset", offset, np.float64)):
        if arr.dtype != dt or arr.shape != (n,):
            raise ValueError(f"{name} must be {dt.__name__}[{n}], got {arr.dtype}{arr.shape}")
    if order.dtype != np.int64 or order.ndim != 1:
        raise ValueError(f"order must be a 1-D int64 array of row indices, got {order.dtype}{order.shape}")
    if order.size and (order.min() < 0 or order.max() >= n):
        raise ValueError(f"order holds row indices outside [0, {n})")
    if np.any(row_weight < 0) or not np.all(np.isfinite(row_weight)):
        raise ValueError("row_weight must be finite and >= 0")
    out, gcode = flags[F_OUTPUT], flags[F_GRADIENT]
    if out != OUT_LINEAR and np.any(offset != 0):
        raise ValueError("offset applies to a linear (regression) output only; pass zeros")
    if out == OUT_SOFTMAX:
        yy = y[order]
        if np.any((yy < 0) | (yy >= state.spec.units[-1]) | (yy != np.floor(yy))):
            raise ValueError(f"y must hold class indices in [0, {state.spec.units[-1]}) for a softmax output")
    elif out == OUT_LINEAR:
        yy = y[order]
        if not np.all(np.isfinite(yy)):
            raise ValueError("y must be finite for a regression output")
        if gcode in (G_POISSON, G_TWEEDIE) and np.any(yy < 0):
            raise ValueError("poisson/tweedie targets must be >= 0")
        if gcode == G_GAMMA and np.any(yy <= 0):
            raise ValueError("gamma targets must be > 0")
