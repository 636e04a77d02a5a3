"""Weight and bias updates: ADADELTA, momentum/Nesterov with the documented ramp, l1/l2, max_w2, sparsity.

Momentum (manual rate, as H2O's ``bprop``): with ``lr = rate*rate_decay^l/(1+rate_annealing*n)*(1-m)``, plain
``d = -lr*grad; w += d + m*v; v = d``; Nesterov ``v = m*v - grad; w += lr*v``. The momentum follows the documented
linear ramp momentum_start -> momentum_stable over momentum_ramp samples (H2O's training never advances it: a
QUIRK fixed; the momentum_ramp quirk reproduces H2O's). A bias's ADADELTA rate is fed with the bias's own gradient
squared (H2O uses the mean of the neuron's weight grad^2: the bias_adadelta quirk, :func:`row_grad2`).
:func:`apply_update_kernel` is the mini-batch path's one fused update over the state.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..hyper import (F_ADAPTIVE, F_N_LAYERS, F_NESTEROV, F_OUTPUT, F_QUIRKS, F_SKIP_ZERO_GRAD, H_AVERAGE_ACTIVATION,
                     H_EPSILON, H_L1, H_L2, H_MAX_W2, H_MOMENTUM_RAMP, H_MOMENTUM_STABLE, H_MOMENTUM_START, H_RATE,
                     H_RATE_ANNEALING, H_RATE_DECAY, H_RHO, H_SPARSITY_BETA, OUT_AUTOENCODER, Q_BIAS_ADADELTA,
                     Q_MOMENTUM_RAMP)
from .jit import JIT

@njit(**JIT)
def momentum_at(hyper, n, quirks=0):
    """The DOCUMENTED linear ramp (H2O's training code calls momentum(-1), which never ramps: a QUIRK we fix,
    reproduced by the momentum_ramp quirk)."""
    m0, ramp, m1 = hyper[H_MOMENTUM_START], hyper[H_MOMENTUM_RAMP], hyper[H_MOMENTUM_STABLE]
    if quirks & Q_MOMENTUM_RAMP:
        n = -1.0
    if n >= ramp:
        return m1
    return m0 + (m1 - m0) * n / ramp


@njit(**JIT)
def layer_rate(hyper, layer, n, mom):
    """Manual learning rate of weight layer ``layer`` after ``n`` samples, times (1 - momentum)."""
    return hyper[H_RATE] * hyper[H_RATE_DECAY] ** layer / (1.0 + hyper[H_RATE_ANNEALING] * n) * (1.0 - mom)


@njit(**JIT)
def row_step(W, G2, DX2, V, row, src, g, skip_zero, adaptive, nesterov, rho, eps, lr, mom,
              l1, l2, max_w2):
    """Update row ``row`` of one layer (``W``, ``G2``... are its 2-D views) with data gradient ``g*src[c]``.

    Branch-free over columns (selects, not jumps) and indexed by the loop counter only: with
    ``w[base + c]`` Numba's negative-index wraparound and possible aliasing stop LLVM from
    vectorising (measured 6x slower).  2-D views made once per layer replace per-row 1-D slices
    (each slice costs NRT refcounting).  ``skip_zero`` leaves a weight whose data gradient is
    exactly 0 untouched (H2O's fast_mode / _shortcut). The weight is written as ``w - step * (0 or 1)``,
    not ``w if keep else w - step``: LLVM turns the latter into a masked store (``vmaskmovps``), which
    AMD Zen cores microcode; it made this loop 2.1x slower there (4.3 against 2.0 cycles a weight,
    docs/benchmarks.md). Multiplying by exactly 0 or 1 gives the same bits.
    """
    n = src.size
    f_rho = np.float32(rho)
    f_1rho = np.float32(1.0 - rho)
    f_eps = np.float32(eps)
    f_lr = np.float32(lr)
    f_m = np.float32(mom)
    f_l1 = np.float32(l1)
    f_l2 = np.float32(l2)
    zero = np.float32(0.0)
    one = np.float32(1.0)
    if adaptive and l2 == 0.0:
        # Zen 4 runs this loop at its FP-port limit (~2 zmm ops/cycle), so every op counts: no l2
        # term when l2 = 0, the sign is a copysign, and rate^2*grad^2 is written q*(1-rho)*grad^2
        # (q = rate^2, exact algebra) to reuse t.
        for c in range(n):
            wv = W[row, c]
            gd = g * src[c]
            sgn = np.copysign(one, wv) if wv != zero else zero
            gr = gd + f_l1 * sgn
            g2 = G2[row, c]
            dx2 = DX2[row, c]
            t = f_1rho * gr * gr
            eg = f_rho * g2 + t
            q = (dx2 + f_eps) / (eg + f_eps)
            ed = f_rho * dx2 + t * q
            keep = skip_zero & (gd == zero)
            W[row, c] = wv - np.sqrt(q) * (gr * (zero if keep else one))
            G2[row, c] = g2 if keep else eg
            DX2[row, c] = dx2 if keep else ed
    elif adaptive:
        for c in range(n):
            wv = W[row, c]
            gd = g * src[c]
            sgn = np.copysign(one, wv) if wv != zero else zero
            gr = gd + f_l1 * sgn + f_l2 * wv
            g2 = G2[row, c]
            dx2 = DX2[row, c]
            t = f_1rho * gr * gr
            eg = f_rho * g2 + t
            q = (dx2 + f_eps) / (eg + f_eps)
            ed = f_rho * dx2 + t * q
            keep = skip_zero & (gd == zero)
            W[row, c] = wv - np.sqrt(q) * (gr * (zero if keep else one))
            G2[row, c] = g2 if keep else eg
            DX2[row, c] = dx2 if keep else ed
    elif nesterov:
        for c in range(n):
            wv = W[row, c]
            gd = g * src[c]
            sgn = one if wv > zero else (-one if wv < zero else zero)
            gr = gd + f_l1 * sgn + f_l2 * wv
            v = V[row, c]
            vn = f_m * v - gr
            keep = skip_zero & (gd == zero)
            W[row, c] = wv + f_lr * (vn * (zero if keep else one))
            V[row, c] = v if keep else vn
    else:
        for c in range(n):
            wv = W[row, c]
            gd = g * src[c]
            sgn = one if wv > zero else (-one if wv < zero else zero)
            gr = gd + f_l1 * sgn + f_l2 * wv
            v = V[row, c]
            dn = -f_lr * gr
            keep = skip_zero & (gd == zero)
            mk = zero if keep else one
            W[row, c] = (wv + dn * mk) + f_m * (v * mk)
            V[row, c] = v if keep else dn
    if max_w2 < np.inf:
        ss = np.float32(0.0)
        for c in range(n):
            ss += W[row, c] * W[row, c]
        if ss > max_w2:
            scale = np.float32(math.sqrt(max_w2 / ss))
            for c in range(n):
                W[row, c] *= scale


@njit(**JIT)
def row_grad2(W, row, src, g, skip_zero, l1, l2):
    """Mean over row ``row``'s weights of their squared gradient (data + l1 + l2, before the step; a weight the
    fast mode skips adds 0): what H2O feeds the neuron's bias ADADELTA with (the bias_adadelta quirk)."""
    n = src.size
    s = 0.0
    for c in range(n):
        wv = np.float64(W[row, c])
        gd = np.float64(g) * np.float64(src[c])
        if skip_zero and gd == 0.0:
            continue
        sgn = 1.0 if wv > 0.0 else (-1.0 if wv < 0.0 else 0.0)
        gr = gd + l1 * sgn + l2 * wv
        s += gr * gr
    return s / n


@njit(**JIT)
def _bias_step(b, b_g2, b_dx2, b_v, idx, gdata, adaptive, nesterov, rho, eps, lr, mom, l1, l2,
               sparsity, g2=-1.0):
    """Update bias ``b[idx]`` with data gradient ``gdata``; ``sparsity`` = beta*(rho_hat - target); ``g2 >= 0``
    feeds ADADELTA with that squared gradient instead of the bias's own (the bias_adadelta quirk)."""
    bv = b[idx]
    sgn = 1.0 if bv > 0.0 else (-1.0 if bv < 0.0 else 0.0)
    gr = gdata + l1 * sgn + l2 * bv
    if adaptive:
        # Project decision: the bias's own grad^2 (H2O feeds the mean weight grad^2: a QUIRK).
        gg = gr * gr if g2 < 0.0 else g2
        b_g2[idx] = rho * b_g2[idx] + (1.0 - rho) * gg
        lr = math.sqrt((b_dx2[idx] + eps) / (b_g2[idx] + eps))
        b_dx2[idx] = rho * b_dx2[idx] + (1.0 - rho) * lr * lr * gg
        b[idx] = bv - lr * gr
    elif nesterov:
        b_v[idx] = mom * b_v[idx] - gr
        b[idx] = bv + lr * b_v[idx]
    else:
        d = -lr * gr
        b[idx] = bv + d + mom * b_v[idx]
        b_v[idx] = d
    if sparsity != 0.0:
        b[idx] -= lr * sparsity



@njit(**JIT)
def bias_steps(b, b_g2, b_dx2, b_v, avg_act, base, k, rows, gs, n, adaptive, nesterov, rho, eps, lr, mom,
                l1, l2, beta, target, g2s, use_g2):
    """``_bias_step`` for biases ``base + rows[:n]`` with data gradients ``gs[:n]`` (``use_g2``: ADADELTA fed
    ``g2s[:n]``, the bias_adadelta quirk).

    One tight loop of independent updates (ADADELTA written out), so the CPU overlaps their
    float64 div/sqrt latency chains; calling ``_bias_step`` per row ran ~4x slower (the quirk takes that path:
    it is for measuring, and the tight loop stays the plain ADADELTA).
    """
    if not adaptive or beta > 0.0 or use_g2:
        for t in range(n):
            sp = beta * (avg_act[base + rows[t] // k] - target) if beta > 0.0 else 0.0
            _bias_step(b, b_g2, b_dx2, b_v, base + rows[t], np.float64(gs[t]), adaptive, nesterov, rho, eps,
                       lr, mom, l1, l2, sp, g2s[t] if use_g2 else -1.0)
        return
    for t in range(n):
        idx = base + rows[t]
        bv = b[idx]
        sgn = 1.0 if bv > 0.0 else (-1.0 if bv < 0.0 else 0.0)
        gr = np.float64(gs[t]) + l1 * sgn + l2 * bv
        tt = (1.0 - rho) * gr * gr
        eg = rho * b_g2[idx] + tt
        q = (b_dx2[idx] + eps) / (eg + eps)  # rate^2
        b_g2[idx] = eg
        b_dx2[idx] = rho * b_dx2[idx] + tt * q
        b[idx] = bv - math.sqrt(q) * gr



@njit(**JIT)
def optimizer_settings(hyper, flags):
    """(adaptive, nesterov, skip_zero, rho, eps, l1, l2, max_w2): what the update steps read, in their order."""
    return (flags[F_ADAPTIVE] != 0, flags[F_NESTEROV] != 0, flags[F_SKIP_ZERO_GRAD] != 0, hyper[H_RHO],
            hyper[H_EPSILON], hyper[H_L1], hyper[H_L2], hyper[H_MAX_W2])


@njit(**JIT)
def apply_update_kernel(w, b, w_g2, w_dx2, w_v, b_g2, b_dx2, b_v, avg_act, units, w_off, b_off,
                        gw, gb, hyper, flags, samples_seen):
    """One optimiser step over the whole flat state given data gradients ``gw``/``gb``."""
    n_layers = flags[F_N_LAYERS]
    adaptive, nesterov, skip_zero, rho, eps, l1, l2, max_w2 = optimizer_settings(hyper, flags)
    beta = hyper[H_SPARSITY_BETA] if flags[F_OUTPUT] == OUT_AUTOENCODER else 0.0
    quirks = flags[F_QUIRKS]
    bias_g2 = adaptive and (quirks & Q_BIAS_ADADELTA) != 0
    mom = 0.0 if adaptive else momentum_at(hyper, samples_seen, quirks)
    one = np.float32(1.0)
    for l in range(n_layers):
        cols = units[l]
        hidden = l < n_layers - 1
        lr = 0.0 if adaptive else layer_rate(hyper, l, samples_seen, mom)
        n_rows = b_off[l + 1] - b_off[l]
        k = n_rows // units[l + 1]
        shape = (n_rows, cols)
        Wl = w[w_off[l]:w_off[l + 1]].reshape(shape)
        G2l = w_g2[w_off[l]:w_off[l + 1]].reshape(shape)
        DX2l = w_dx2[w_off[l]:w_off[l + 1]].reshape(shape)
        Vl = w_v[w_off[l]:w_off[l + 1]].reshape(shape)
        for row in range(n_rows):
            base = w_off[l] + row * cols
            src = gw[base:base + cols]
            gbv = gb[b_off[l] + row]
            if skip_zero and gbv == 0.0:
                # No sample gave this neuron a gradient (dropped, inactive, losing Maxout channel):
                # leave it untouched like the per-sample shortcut does.
                nz = False
                for c in range(cols):
                    if src[c] != 0.0:
                        nz = True
                        break
                if not nz:
                    continue
            g2 = row_grad2(Wl, row, src, one, skip_zero, l1, l2) if bias_g2 else -1.0
            row_step(Wl, G2l, DX2l, Vl, row, src, one, skip_zero, adaptive, nesterov, rho, eps, lr, mom,
                      l1, l2, max_w2)
            if skip_zero and gbv == 0.0:
                continue
            sp = 0.0
            if hidden and beta > 0.0:
                sp = beta * (avg_act[b_off[l] + row // k] - hyper[H_AVERAGE_ACTIVATION])
            _bias_step(b, b_g2, b_dx2, b_v, b_off[l] + row, gbv, adaptive, nesterov, rho, eps, lr, mom,
                       l1, l2, sp, g2)
