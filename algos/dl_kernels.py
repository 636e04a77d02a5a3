"""Deep Learning compute kernels: H2O's online SGD (ADADELTA, momentum, Nesterov) in Numba.

Pure compute on the flat state of ``algos.dl_net.NetState``; no frames, no networking.

* ``train_rows``      per-sample online SGD exactly as H2O's ``Neurons.fprop/bprop``.  The Numba kernel
                      releases the GIL, so several Python threads may call it on the SAME state with
                      different ``order`` slices: that is Hogwild! (lock-free, racy by design).
* ``train_minibatch`` real mini-batches (H2O forces size 1): numpy BLAS forward/backward in float32,
                      weighted-average gradients, then ONE fused Numba update over the flat arrays.
* ``forward``         scoring-time forward (no dropout; hidden activations scaled by 1 - ratio, H2O's
                      non-inverted dropout) or a hidden layer's activations (deepfeatures).
* ``dropout_mask``    the counter-based dropout RNG: the mask of (seed, counter, layer) is a pure
                      function, so reproducible mode is bit-identical and both training paths agree.

Decisions where H2O has a QUIRK (docs/architecture.md lists them with the reasons):

* momentum follows the documented linear ramp momentum_start -> momentum_stable over momentum_ramp
  samples (H2O never ramps during training);
* a bias's ADADELTA rate is fed with the bias's own gradient squared (H2O uses the mean of the
  neuron's weight grad^2);
* Huber's delta is ``huber_delta`` (H2O fixes 1 in training);
* dropped hidden neurons get no gradient at all (H2O's Tanh/ELU/Maxout still back-propagate into a
  dropped neuron's incoming weights because f'(0) != 0); with fast_mode off such neurons still
  receive the l1/l2/ADADELTA-decay part of the update, exactly like any neuron whose gradient is 0;
* ExpRectifier's derivative is ``a + 1`` for ``a < 0`` (the true derivative exp(net));
* Softmax + Quadratic keeps H2O's diagonal formula ``(y-t)*y*(1-y)``, which is not the exact
  gradient of the quadratic loss through the softmax;
* Maxout (k=2) sends the gradient to the winning channel only; max_w2 rescales each updated row;
* rows with observation weight 0 are skipped and not counted (H2O does not count them either).

Momentum (manual rate, as H2O's ``bprop``): with ``lr = rate*rate_decay^l/(1+rate_annealing*n)*(1-m)``,
plain ``d = -lr*grad; w += d + m*v; v = d``; Nesterov ``v = m*v - grad; w += lr*v``.

Example
-------
>>> import numpy as np
>>> from algos.dl_net import NetSpec, DLHyper, init_state
>>> spec = NetSpec((4, 6, 2), "Rectifier", "softmax")
>>> st = init_state(spec, seed=1)
>>> hyper, flags = DLHyper().pack(spec)
>>> X = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
>>> y = (X[:, 0] > 0).astype(np.float64)
>>> n, loss = train_rows(st, X, y, np.ones(32), np.zeros(32), np.arange(32), hyper, flags, 0, 0)
>>> n
32
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from algos.dl_net import (
    ACT_ELU, ACT_MAXOUT, ACT_RECTIFIER, ACT_TANH, F_ACTIVATION, F_ADAPTIVE, F_GRADIENT, F_N_LAYERS,
    F_NESTEROV, F_OUTPUT, F_SKIP_ZERO_GRAD, G_CROSS_ENTROPY, G_GAMMA, G_GAUSSIAN, G_HUBER, G_LAPLACE,
    G_POISSON, G_QUANTILE, G_TWEEDIE, H_AVERAGE_ACTIVATION, H_EPSILON,
    H_HIDDEN_DROPOUT, H_HUBER_DELTA, H_INPUT_DROPOUT, H_L1, H_L2, H_MAX_W2, H_MOMENTUM_RAMP,
    H_MOMENTUM_STABLE, H_MOMENTUM_START, H_QUANTILE_ALPHA, H_RATE, H_RATE_ANNEALING, H_RATE_DECAY,
    H_RHO, H_SPARSITY_BETA, H_TWEEDIE_POWER, N_FLAGS, OUT_AUTOENCODER, OUT_LINEAR, OUT_SOFTMAX, NetState,
)
from scoring.network import Network

# error_model="numpy": Numba's default adds a zero-division branch that blocks vectorisation.
# fastmath reassoc/contract: lets LLVM vectorise the float32 dot-product reductions (and use FMA);
# results stay deterministic for a given machine, they only differ from a strict left-to-right sum.
_JIT = dict(nogil=True, cache=True, error_model="numpy", fastmath={"reassoc", "contract"})

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_LAYER_MIX = np.uint64(0xD1B54A32D192ED03)
_TWO32 = 4294967296.0


# --------------------------------------------------------------------------- small inlined helpers
@intrinsic
def _prefetch(typingctx, arr, idx):
    """Hint the CPU to pull the cache line holding ``arr[idx]`` (1-D array) into L2: LLVM's prefetch.

    No effect on results; ``idx`` is not bounds-checked (a prefetch never faults).
    """
    sig = types.void(arr, idx)

    def codegen(context, builder, sig, args):
        aryty = sig.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            "llvm.prefetch.p0i8")
        # (address, read=0, locality 2 = prefetcht1 (L2), data cache=1)
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(2), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@njit(**_JIT)
def _prefetch_span(arr, start, n):
    """Prefetch ``arr[start:start+n]`` (every 64-byte line of it)."""
    for c in range(0, n, 16):
        _prefetch(arr, start + c)


@njit(**_JIT)
def _mix64(z: np.uint64) -> np.uint64:
    """splitmix64 finaliser: a counter-based RNG step (no state, vectorisable)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(**_JIT)
def _fill_mask_range(mask, seed, counter, layer_id, ratio, lo, hi):
    """mask[j] for j in [lo, hi): 0.0 (dropped) with probability ``ratio``, else 1.0; a pure function of
    (seed, counter, layer_id, j), so team threads filling disjoint ranges make the one-thread mask."""
    thresh = np.uint64(ratio * _TWO32)
    key = _mix64(np.uint64(seed) * _GOLDEN + np.uint64(counter))
    key = _mix64(key ^ (np.uint64(layer_id + 1) * _LAYER_MIX))
    for j in range(lo, hi):
        h = _mix64(key + np.uint64(j) * _GOLDEN)
        mask[j] = np.float32(1.0) if (h >> np.uint64(32)) >= thresh else np.float32(0.0)


@njit(**_JIT)
def _fill_mask(mask, seed, counter, layer_id, ratio):
    _fill_mask_range(mask, seed, counter, layer_id, ratio, 0, mask.size)


# --------------------------------------------------------------------------- team threads (split units)
@intrinsic
def _atomic_add(typingctx, arr, idx, val):
    """``arr[idx] += val`` as one sequentially consistent atomic step on an int64 array; returns the old
    value. Also a full compiler and CPU fence, which is what the team barrier relies on."""
    sig = types.int64(arr, idx, val)

    def codegen(context, builder, sig, args):
        aryty = sig.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
        v = context.cast(builder, args[2], sig.args[2], types.int64)
        return builder.atomic_rmw("add", ptr, v, "seq_cst")

    return sig, codegen


@intrinsic
def _atomic_load(typingctx, arr, idx):
    """``arr[idx]`` read atomically with acquire ordering (int64 array): never hoisted out of a spin loop."""
    sig = types.int64(arr, idx)

    def codegen(context, builder, sig, args):
        aryty = sig.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
        return builder.load_atomic(ptr, "acquire", 8)

    return sig, codegen


@intrinsic
def _sched_yield(typingctx):
    """libc's ``sched_yield()``: give the core away while waiting (the node may have more threads than
    cores, e.g. several nodes on one machine)."""
    sig = types.int32()

    def codegen(context, builder, sig, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), []), "sched_yield")
        return builder.call(fn, [])

    return sig, codegen


@njit(**_JIT)
def _team_barrier(bar, nteam, gen):
    """Wait until all ``nteam`` threads arrive; returns the next generation. ``bar[0]`` counts arrivals,
    ``bar[8]`` is the generation (another cache line); ``gen`` is the caller's view of it."""
    if nteam == 1:
        return gen
    if _atomic_add(bar, 0, -1) == 1:            # last to arrive: re-arm, then release the others
        _atomic_add(bar, 0, nteam)
        _atomic_add(bar, 8, 1)
    else:
        spins = 0
        while _atomic_load(bar, 8) == gen:
            spins += 1
            if spins > 2000:
                _sched_yield()
    return gen + 1


@njit(**_JIT)
def _share(n, tid, nteam):
    """Thread ``tid``'s slice [lo, hi) of ``n`` units."""
    return n * tid // nteam, n * (tid + 1) // nteam


@njit(**_JIT)
def _fill_masks_batch(masks, seed, counters, layer_id, ratio):
    for r in range(counters.size):
        _fill_mask(masks[r], seed, counters[r], layer_id, ratio)


@njit(**_JIT)
def _activate(act, net):
    if act == ACT_TANH:
        return 1.0 - 2.0 / (1.0 + math.exp(2.0 * net))  # H2O's formula; exp overflow gives exactly 1
    if act == ACT_ELU:
        return net if net >= 0.0 else math.exp(net) - 1.0
    if act == ACT_RECTIFIER:
        return net if net > 0.0 else 0.0
    return net  # Maxout picks the max channel before this point


@njit(**_JIT)
def _derivative(act, a):
    """d activation / d net, written in terms of the activation a."""
    if act == ACT_TANH:
        return 1.0 - a * a
    if act == ACT_ELU:
        return 1.0 if a >= 0.0 else a + 1.0
    if act == ACT_RECTIFIER:
        return 1.0 if a > 0.0 else 0.0
    return 1.0


@njit(**_JIT)
def _dist_grad(gcode, t, f, hyper):
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


@njit(**_JIT)
def _momentum(hyper, n):
    """The DOCUMENTED linear ramp (H2O's training code never advances it: a QUIRK we fix)."""
    m0, ramp, m1 = hyper[H_MOMENTUM_START], hyper[H_MOMENTUM_RAMP], hyper[H_MOMENTUM_STABLE]
    if n >= ramp:
        return m1
    return m0 + (m1 - m0) * n / ramp


@njit(**_JIT)
def _layer_rate(hyper, layer, n, mom):
    """Manual learning rate of weight layer ``layer`` after ``n`` samples, times (1 - momentum)."""
    return hyper[H_RATE] * hyper[H_RATE_DECAY] ** layer / (1.0 + hyper[H_RATE_ANNEALING] * n) * (1.0 - mom)


@njit(**_JIT)
def _row_step(W, G2, DX2, V, row, src, g, skip_zero, adaptive, nesterov, rho, eps, lr, mom,
              l1, l2, max_w2):
    """Update row ``row`` of one layer (``W``, ``G2``... are its 2-D views) with data gradient ``g*src[c]``.

    Branch-free over columns (selects, not jumps) and indexed by the loop counter only: with
    ``w[base + c]`` Numba's negative-index wraparound and possible aliasing stop LLVM from
    vectorising (measured 6x slower).  2-D views made once per layer replace per-row 1-D slices
    (each slice costs NRT refcounting).  ``skip_zero`` leaves a weight whose data gradient is
    exactly 0 untouched (H2O's fast_mode / _shortcut).
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
            W[row, c] = wv if keep else wv - np.sqrt(q) * gr
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
            W[row, c] = wv if keep else wv - np.sqrt(q) * gr
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
            W[row, c] = wv if keep else wv + f_lr * vn
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
            W[row, c] = wv if keep else wv + dn + f_m * v
            V[row, c] = v if keep else dn
    if max_w2 < np.inf:
        ss = np.float32(0.0)
        for c in range(n):
            ss += W[row, c] * W[row, c]
        if ss > max_w2:
            scale = np.float32(math.sqrt(max_w2 / ss))
            for c in range(n):
                W[row, c] *= scale


@njit(**_JIT)
def _bias_step(b, b_g2, b_dx2, b_v, idx, gdata, adaptive, nesterov, rho, eps, lr, mom, l1, l2,
               sparsity):
    """Update bias ``b[idx]`` with data gradient ``gdata``; ``sparsity`` = beta*(rho_hat - target)."""
    bv = b[idx]
    sgn = 1.0 if bv > 0.0 else (-1.0 if bv < 0.0 else 0.0)
    gr = gdata + l1 * sgn + l2 * bv
    if adaptive:
        # Project decision: the bias's own grad^2 (H2O feeds the mean weight grad^2: a QUIRK).
        b_g2[idx] = rho * b_g2[idx] + (1.0 - rho) * gr * gr
        lr = math.sqrt((b_dx2[idx] + eps) / (b_g2[idx] + eps))
        b_dx2[idx] = rho * b_dx2[idx] + (1.0 - rho) * lr * lr * gr * gr
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


@njit(**_JIT)
def _dot_row(W, row, x):
    """W[row] . x in float32 (fastmath reassoc lets LLVM vectorise the reduction)."""
    s = np.float32(0.0)
    for c in range(x.size):
        s += W[row, c] * x[c]
    return s


@njit(**_JIT)
def _push_error(e_prev, W, row, g):
    """e_prev += g * W[row], with the pre-update weights (H2O's order)."""
    for c in range(e_prev.size):
        e_prev[c] += g * W[row, c]


@njit(**_JIT)
def _bias_steps(b, b_g2, b_dx2, b_v, avg_act, base, k, rows, gs, n, adaptive, nesterov, rho, eps, lr, mom,
                l1, l2, beta, target):
    """``_bias_step`` for biases ``base + rows[:n]`` with data gradients ``gs[:n]``.

    One tight loop of independent updates (ADADELTA written out), so the CPU overlaps their
    float64 div/sqrt latency chains; calling ``_bias_step`` per row ran ~4x slower.
    """
    if not adaptive or beta > 0.0:
        for t in range(n):
            sp = beta * (avg_act[base + rows[t] // k] - target) if beta > 0.0 else 0.0
            _bias_step(b, b_g2, b_dx2, b_v, base + rows[t], np.float64(gs[t]), adaptive, nesterov, rho, eps,
                       lr, mom, l1, l2, sp)
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


# --------------------------------------------------------------------------- per-sample SGD kernel
@njit(**_JIT)
def train_rows_kernel(w, b, w_g2, w_dx2, w_v, b_g2, b_dx2, b_v, avg_act, units, w_off, b_off,
                      X, y, row_weight, offset, order, hyper, flags, seed, samples_seen,
                      acts, errs, wins, eparts, bar, tid, nteam):
    """Online SGD over rows ``order`` of ``X``; returns (rows_processed, weighted loss sum).

    Raw-array kernel behind ``train_rows`` (which validates its inputs); nogil, so Hogwild!
    threads may run it concurrently on the same state arrays (each with its own scratch).

    Team mode (``nteam > 1``): ``nteam`` threads call it together with the same arguments but ``tid``,
    sharing the scratch ``acts/errs/wins`` (one slot per neuron), ``eparts`` (float32[nteam, neurons],
    each thread's share of the back-propagated error) and ``bar`` (the barrier, int64[16] with bar[0] =
    nteam). Thread ``tid`` owns a fixed contiguous slice of every layer's neurons: it computes their
    activations and steps their weight rows and biases, so no two threads write one weight and each
    core keeps its half of the weights in its own cache (a balanced split of each sample's work list
    moved rows between cores and measured slower); barriers after each layer keep the sample's steps in
    the one-thread order. The result equals the one-thread run up to the summation order of
    back-propagated errors (deterministic for a team size). Only thread 0's loss sum counts.
    """
    n_layers = flags[F_N_LAYERS]
    act = flags[F_ACTIVATION]
    out_kind = flags[F_OUTPUT]
    gcode = flags[F_GRADIENT]
    adaptive = flags[F_ADAPTIVE] != 0
    nesterov = flags[F_NESTEROV] != 0
    skip_zero = flags[F_SKIP_ZERO_GRAD] != 0
    rho, eps = hyper[H_RHO], hyper[H_EPSILON]
    l1, l2, max_w2 = hyper[H_L1], hyper[H_L2], hyper[H_MAX_W2]
    in_drop = hyper[H_INPUT_DROPOUT]
    beta = hyper[H_SPARSITY_BETA] if out_kind == OUT_AUTOENCODER else 0.0
    n_in = units[0]
    n_out = units[n_layers]
    a_off = np.zeros(n_layers + 2, dtype=np.int64)
    for l in range(n_layers + 1):
        a_off[l + 1] = a_off[l] + units[l]
    gen = _atomic_load(bar, 8)
    masks = np.ones(a_off[n_layers + 1], dtype=np.float32)     # each thread draws its neurons' masks
    probs = np.zeros(n_out, dtype=np.float64)
    e_top = np.zeros(n_out, dtype=np.float32)
    max_rows = 0
    for l in range(n_layers):
        max_rows = max(max_rows, b_off[l + 1] - b_off[l])
    # Per-layer work lists, filled branch-free: which neurons are live (forward) and which weight
    # rows get a step with which gradient (backprop).  Dropout and ReLU activity are coin flips,
    # so an `if` per neuron costs a branch mispredict each (measured ~25% of the kernel's time).
    live = np.zeros(max_rows, dtype=np.int64)
    step_rows = np.zeros(max_rows, dtype=np.int64)
    step_g = np.zeros(max_rows, dtype=np.float32)
    g_unit = np.zeros(max_rows, dtype=np.float32)
    rows_done = 0
    loss_sum = 0.0
    for ii in range(order.size):
        i = order[ii]
        rw = row_weight[i]
        if rw == 0.0:
            continue
        counter = samples_seen + ii
        # ---------------- forward (training mode: dropout masks, no scaling)
        a0 = acts[0:n_in]
        c0, c1 = _share(n_in, tid, nteam)
        if in_drop > 0.0:
            m0 = masks[0:n_in]
            _fill_mask_range(m0, seed, counter, 0, in_drop, c0, c1)
            for c in range(c0, c1):
                a0[c] = X[i, c] * m0[c]
        else:
            for c in range(c0, c1):
                a0[c] = X[i, c]
        gen = _team_barrier(bar, nteam, gen)
        for l in range(n_layers):
            cols = units[l]
            hidden = l < n_layers - 1
            k = 2 if (hidden and act == ACT_MAXOUT) else 1
            # 2-D views made once per layer: per-row slices cost NRT refcounting in the hot loop.
            Wl = w[w_off[l]:w_off[l + 1]].reshape((units[l + 1] * k, cols))
            prev = acts[a_off[l]:a_off[l + 1]]
            cur = acts[a_off[l + 1]:a_off[l + 2]]
            mk = masks[a_off[l + 1]:a_off[l + 2]]
            ratio = hyper[H_HIDDEN_DROPOUT + l] if hidden else 0.0
            n_units = units[l + 1]
            j0, j1 = _share(n_units, tid, nteam)
            if ratio > 0.0:
                _fill_mask_range(mk, seed, counter, l + 1, ratio, j0, j1)
            # H2O skips a dropped neuron in gemv: net 0, no bias, f(0) = 0.
            n_live = 0
            for j in range(j0, j1):
                live[n_live] = j
                n_live += 0 if (ratio > 0.0 and mk[j] == 0.0) else 1
            cur[j0:j1] = 0.0
            for jj in range(n_live):
                j = live[jj]
                best = -np.inf
                for ch in range(k):
                    row = j * k + ch
                    net = _dot_row(Wl, row, prev) + b[b_off[l] + row]
                    if net > best:
                        best = net
                        wins[a_off[l + 1] + j] = ch
                if hidden or out_kind == OUT_AUTOENCODER:
                    cur[j] = _activate(act, best)
                else:
                    cur[j] = best
            gen = _team_barrier(bar, nteam, gen)
            if hidden and beta > 0.0:
                for j in range(j0, j1):
                    avg_act[b_off[l] + j] = 0.999 * avg_act[b_off[l] + j] + 0.001 * cur[j]
        # ---------------- output gradient dE/dnet (times the observation weight)
        # (every thread computes all of it into its own e_top: a few neurons)
        outa = acts[a_off[n_layers]:a_off[n_layers + 1]]
        row_loss = 0.0
        if out_kind == OUT_SOFTMAX:
            mx = -np.inf
            for j in range(n_out):
                mx = max(mx, np.float64(outa[j]))
            tot = 0.0
            for j in range(n_out):
                probs[j] = math.exp(outa[j] - mx)
                tot += probs[j]
            t = np.int64(y[i])
            for j in range(n_out):
                p = probs[j] / tot
                tj = 1.0 if j == t else 0.0
                if gcode == G_CROSS_ENTROPY:
                    e_top[j] = rw * (p - tj)
                else:
                    e_top[j] = rw * (p - tj) * p * (1.0 - p)
                    row_loss += (p - tj) * (p - tj)
            if gcode == G_CROSS_ENTROPY:
                row_loss = -math.log(max(probs[t] / tot, 1e-300))
        elif out_kind == OUT_LINEAR:
            gr, row_loss = _dist_grad(gcode, y[i], outa[0] + offset[i], hyper)
            e_top[0] = rw * gr
        else:
            for j in range(n_out):
                gr, lo = _dist_grad(gcode, np.float64(X[i, j]), np.float64(outa[j]), hyper)
                e_top[j] = rw * gr * _derivative(act, outa[j])
                row_loss += lo
        if tid == 0:
            loss_sum += rw * row_loss
        rows_done += 1
        # ---------------- backprop, each layer updated immediately (error pushed with pre-update w)
        mom = 0.0 if adaptive else _momentum(hyper, counter)
        for l in range(n_layers - 1, -1, -1):
            cols = units[l]
            hidden = l < n_layers - 1
            k = 2 if (hidden and act == ACT_MAXOUT) else 1
            lr = 0.0 if adaptive else _layer_rate(hyper, l, counter, mom)
            shape = (units[l + 1] * k, cols)
            Wl = w[w_off[l]:w_off[l + 1]].reshape(shape)
            G2l = w_g2[w_off[l]:w_off[l + 1]].reshape(shape)
            DX2l = w_dx2[w_off[l]:w_off[l + 1]].reshape(shape)
            Vl = w_v[w_off[l]:w_off[l + 1]].reshape(shape)
            prev = acts[a_off[l]:a_off[l + 1]]
            cur = acts[a_off[l + 1]:a_off[l + 2]]
            e_cur = errs[a_off[l + 1]:a_off[l + 2]]
            mk = masks[a_off[l + 1]:a_off[l + 2]]
            e_prev = errs[a_off[l]:a_off[l + 1]] if nteam == 1 else eparts[tid, a_off[l]:a_off[l + 1]]
            if l > 0:
                e_prev[:] = 0.0
            ratio = hyper[H_HIDDEN_DROPOUT + l] if hidden else 0.0
            n_units = units[l + 1]
            j0, j1 = _share(n_units, tid, nteam)
            # dE/dnet per neuron (a dropped neuron gets none), then the list of rows to step.
            for j in range(j0, j1):
                if hidden:
                    gj = np.float32(e_cur[j] * _derivative(act, cur[j]))
                    g_unit[j] = np.float32(0.0) if (ratio > 0.0 and mk[j] == 0.0) else gj
                else:
                    g_unit[j] = e_top[j]
            n_step = 0
            for j in range(j0, j1):
                for ch in range(k):
                    gch = g_unit[j] if (k == 1 or ch == wins[a_off[l + 1] + j]) else np.float32(0.0)
                    step_rows[n_step] = j * k + ch
                    step_g[n_step] = gch
                    n_step += 0 if (skip_zero and gch == 0.0) else 1
            for t in range(n_step):
                row, gch = step_rows[t], step_g[t]
                if t + 1 < n_step:
                    # The next row's optimiser state is in L3 (layer 0 alone is 3 x 627 KB);
                    # fetching it during this row's FP-bound update measured +4%.
                    nb = w_off[l] + step_rows[t + 1] * cols
                    _prefetch_span(w_g2, nb, cols)
                    _prefetch_span(w_dx2, nb, cols)
                if l > 0 and gch != 0.0:
                    _push_error(e_prev, Wl, row, gch)
                _row_step(Wl, G2l, DX2l, Vl, row, prev, gch, skip_zero, adaptive, nesterov, rho, eps,
                          lr, mom, l1, l2, max_w2)
            # Biases after the rows: independent scalar chains the CPU can overlap.
            _bias_steps(b, b_g2, b_dx2, b_v, avg_act, b_off[l], k, step_rows, step_g, n_step, adaptive, nesterov,
                        rho, eps, lr, mom, l1, l2, beta if hidden else 0.0, hyper[H_AVERAGE_ACTIVATION])
            if l > 0 and nteam > 1:
                # the layer below needs the whole error: sum the threads' shares, each thread a slice
                gen = _team_barrier(bar, nteam, gen)
                e_all = errs[a_off[l]:a_off[l + 1]]
                c0, c1 = _share(cols, tid, nteam)
                for c in range(c0, c1):
                    tot_e = np.float32(0.0)
                    for t in range(nteam):
                        tot_e += eparts[t, a_off[l] + c]
                    e_all[c] = tot_e
                gen = _team_barrier(bar, nteam, gen)
        # the next sample overwrites activations the other threads' last row steps still read
        gen = _team_barrier(bar, nteam, gen)
    return rows_done, loss_sum


# --------------------------------------------------------------------------- fused mini-batch update
@njit(**_JIT)
def apply_update_kernel(w, b, w_g2, w_dx2, w_v, b_g2, b_dx2, b_v, avg_act, units, w_off, b_off,
                        gw, gb, hyper, flags, samples_seen):
    """One optimiser step over the whole flat state given data gradients ``gw``/``gb``."""
    n_layers = flags[F_N_LAYERS]
    adaptive = flags[F_ADAPTIVE] != 0
    nesterov = flags[F_NESTEROV] != 0
    skip_zero = flags[F_SKIP_ZERO_GRAD] != 0
    rho, eps = hyper[H_RHO], hyper[H_EPSILON]
    l1, l2, max_w2 = hyper[H_L1], hyper[H_L2], hyper[H_MAX_W2]
    beta = hyper[H_SPARSITY_BETA] if flags[F_OUTPUT] == OUT_AUTOENCODER else 0.0
    mom = 0.0 if adaptive else _momentum(hyper, samples_seen)
    one = np.float32(1.0)
    for l in range(n_layers):
        cols = units[l]
        hidden = l < n_layers - 1
        lr = 0.0 if adaptive else _layer_rate(hyper, l, samples_seen, mom)
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
            _row_step(Wl, G2l, DX2l, Vl, row, src, one, skip_zero, adaptive, nesterov, rho, eps, lr, mom,
                      l1, l2, max_w2)
            if skip_zero and gbv == 0.0:
                continue
            sp = 0.0
            if hidden and beta > 0.0:
                sp = beta * (avg_act[b_off[l] + row // k] - hyper[H_AVERAGE_ACTIVATION])
            _bias_step(b, b_g2, b_dx2, b_v, b_off[l] + row, gbv, adaptive, nesterov, rho, eps, lr, mom,
                       l1, l2, sp)


# --------------------------------------------------------------------------- Python-facing API
def _check_hyper(state: NetState, hyper: np.ndarray, flags: np.ndarray) -> None:
    if hyper.dtype != np.float64 or hyper.shape != (H_HIDDEN_DROPOUT + state.spec.n_layers - 1,):
        raise ValueError(f"hyper must be DLHyper.pack(spec)[0] for this spec, got {hyper.dtype}{hyper.shape}")
    if flags.dtype != np.int64 or flags.shape != (N_FLAGS,) or flags[F_N_LAYERS] != state.spec.n_layers:
        raise ValueError(f"flags must be DLHyper.pack(spec)[1] for this spec, got {flags.dtype}{flags.shape}")


def _check_rows(state: NetState, X: np.ndarray, y: np.ndarray, row_weight: np.ndarray,
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


def train_rows(state: NetState, X: np.ndarray, y: np.ndarray, row_weight: np.ndarray, offset: np.ndarray,
               order: np.ndarray, hyper: np.ndarray, flags: np.ndarray, seed: int,
               samples_seen: int, team: "KernelTeam | None" = None) -> tuple[int, float]:
    """Per-sample online SGD (H2O's) over ``X[order]``; returns (rows_processed, weighted loss sum).

    With a ``team`` its threads share every sample's work (see ``KernelTeam``); the state must not be
    trained by anyone else meanwhile.

    ``y`` is the class index (softmax) or the target on the model's scale (linear); an autoencoder
    reconstructs X itself (``y`` is not read).  Dropout masks of the row at position ``ii`` of
    ``order`` depend only on ``(seed, samples_seen + ii)``.  Thread-safe in the Hogwild! sense only.

    >>> # see the module docstring for a runnable example
    """
    _check_hyper(state, hyper, flags)
    _check_rows(state, X, y, row_weight, offset, order, flags)
    # Strided views (e.g. order[k::2] for Hogwild! slices) would compile a second signature.
    y, row_weight, offset, order = (np.ascontiguousarray(a) for a in (y, row_weight, offset, order))
    nteam = 1 if team is None else team.size
    neurons = int(np.sum(state.units))
    acts, errs = np.zeros(neurons, np.float32), np.zeros(neurons, np.float32)
    wins = np.zeros(neurons, np.int64)
    eparts = np.zeros((nteam, neurons) if nteam > 1 else (1, 1), np.float32)
    bar = np.zeros(16, np.int64)
    bar[0] = nteam

    def run(tid: int):
        return train_rows_kernel(state.w, state.b, state.w_g2, state.w_dx2, state.w_v, state.b_g2,
                                 state.b_dx2, state.b_v, state.avg_act, state.units, state.w_off,
                                 state.b_off, X, y, row_weight, offset, order, hyper, flags,
                                 np.int64(seed), np.int64(samples_seen), acts, errs, wins, eparts,
                                 bar, np.int64(tid), np.int64(nteam))
    if nteam == 1:
        rows, loss = run(0)
    else:
        helpers = [team.pool.submit(run, t) for t in range(1, nteam)]
        rows, loss = run(0)
        for h in helpers:
            h.result()
    return int(rows), float(loss)


class KernelTeam:
    """Threads that train each sample together (``train_rows(..., team=team)``): every layer's neurons are
    split between them, so the run is the one-thread run (up to float summation order), not Hogwild!'s
    race (measured 1.4-1.7x one thread on 2 cores, docs/benchmarks.md).

    The caller's thread is member 0; ``size - 1`` helper threads (started on first use) wait in a pool.
    Members spin (then yield) at the per-layer barriers, so a team should not be larger than the free
    cores. One team serves one training run at a time: ``train_rows`` calls on it must not overlap.

    >>> with KernelTeam(2) as team:
    ...     team.size
    2
    """

    def __init__(self, size: int):
        from concurrent.futures import ThreadPoolExecutor

        from cluster.blas import single_threaded_blas
        if size < 1:
            raise ValueError(f"team size must be >= 1, got {size}")
        self.size = int(size)
        # helpers run numpy BLAS in mini-batch replicas: one BLAS thread each, as on the compute pool
        self.pool = ThreadPoolExecutor(max_workers=max(1, self.size - 1), thread_name_prefix="aquifer-team",
                                       initializer=single_threaded_blas)

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    def __enter__(self) -> "KernelTeam":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def dropout_mask(seed: int, counter: int, layer_id: int, n_units: int, ratio: float) -> np.ndarray:
    """The training dropout mask (float32 0/1) of layer ``layer_id`` (0 = input, l = hidden layer l).

    >>> m = dropout_mask(42, 7, 0, 1000, 0.2)
    >>> bool(np.array_equal(m, dropout_mask(42, 7, 0, 1000, 0.2))), bool(0.15 < 1 - m.mean() < 0.25)
    (True, True)
    """
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"dropout ratio must be in [0, 1), got {ratio}")
    out = np.ones((1, int(n_units)), dtype=np.float32)
    _fill_masks_batch(out, np.int64(seed), np.array([counter], dtype=np.int64), np.int64(layer_id),
                      float(ratio))
    return out[0]


# ---- numpy (BLAS) forward/backward used by the mini-batch path and by scoring
def _act_np(act: int, net: np.ndarray) -> np.ndarray:
    if act == ACT_TANH:
        with np.errstate(over="ignore"):
            return (1.0 - 2.0 / (1.0 + np.exp(2.0 * net))).astype(np.float32)
    if act == ACT_ELU:
        return np.where(net >= 0, net, np.expm1(np.minimum(net, 0))).astype(np.float32)
    if act == ACT_RECTIFIER:
        return np.maximum(net, 0).astype(np.float32)
    return net


def _deriv_np(act: int, a: np.ndarray) -> np.ndarray:
    if act == ACT_TANH:
        return 1.0 - a * a
    if act == ACT_ELU:
        return np.where(a >= 0, np.float32(1.0), a + np.float32(1.0))
    if act == ACT_RECTIFIER:
        return (a > 0).astype(np.float32)
    return np.ones_like(a)


def _forward_np(state: NetState, A0: np.ndarray, hyper: np.ndarray, act: int, out_kind: int,
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
        a = _act_np(act, net) if (hidden or out_kind == OUT_AUTOENCODER) else net
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
            layer: int = -1, offset: np.ndarray | None = None) -> np.ndarray:
    """Scoring-time forward of every row of ``X`` into ``out`` (also returned).

    ``layer=-1``: softmax probabilities (n, classes), linear output in link space plus ``offset``
    (n, 1) (the driver applies linkInv), or the reconstruction (n, n_in).  ``layer>=0``: hidden
    layer ``layer``'s test-mode activations (deepfeatures), shape (n, units[layer+1]).  The arithmetic is
    the portable scorer's (``scoring.network``: float64 over the float32 weights), so the cloud, an exported
    model file and its POJO predict alike.

    >>> # out = np.empty((len(X), 10)); forward(state, X, out, hyper, flags)
    """
    _check_hyper(state, hyper, flags)
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


def _output_grad_np(out_kind: int, gcode: int, act: int, outa: np.ndarray, t: np.ndarray, X0: np.ndarray,
                    off: np.ndarray, hyper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
    return g * _deriv_np(act, outa).astype(np.float64), lo.sum(axis=1)


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
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    _check_hyper(state, hyper, flags)
    sources = [RowSource(*src) for src in sources]
    for src in sources:
        _check_rows(state, src.X, src.y, src.row_weight, src.offset, src.order, flags)
    totals = [0, 0.0]
    grads = (np.zeros_like(state.w), np.zeros_like(state.b))    # every batch overwrites them whole
    parts: list = []                       # (source, positions lo..hi of its order) of the batch being filled
    room = batch_size
    for s, src in enumerate(sources):
        pos, n = 0, src.order.size
        while pos < n:
            take = min(room, n - pos)
            parts.append((s, pos, pos + take))
            pos += take
            room -= take
            if room == 0:
                _train_batch(state, sources, parts, batch_size, hyper, flags, grads, totals)
                parts, room = [], batch_size
    if parts:
        _train_batch(state, sources, parts, batch_size, hyper, flags, grads, totals)
    return totals[0], totals[1]


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

    def fill_masks(m: np.ndarray, layer: int, ratio: float) -> None:
        at = 0
        for s, idx, counters in live_parts:       # each row's mask from its own source's seed and counter
            _fill_masks_batch(m[at:at + idx.size], np.int64(sources[s].seed), counters, np.int64(layer), ratio)
            at += idx.size

    masks: list[np.ndarray | None] = [None] * L
    A0 = X0
    if hyper[H_INPUT_DROPOUT] > 0:
        m0 = np.empty_like(X0)
        fill_masks(m0, 0, float(hyper[H_INPUT_DROPOUT]))
        A0 = X0 * m0
    for l in range(L - 1):
        ratio = hyper[H_HIDDEN_DROPOUT + l]
        if ratio > 0:
            mk = np.empty((B, spec.units[l + 1]), dtype=np.float32)
            fill_masks(mk, l + 1, float(ratio))
            masks[l + 1] = mk
    acts, wins = _forward_np(state, A0, hyper, act, out_kind, masks)
    if beta > 0:
        # H2O's running mean 0.999*rho + 0.001*a, applied row after row through the batch.
        decay = 0.999 ** np.arange(B - 1, -1, -1, dtype=np.float64)
        for l in range(L - 1):
            sl = slice(int(state.b_off[l]), int(state.b_off[l]) + spec.units[l + 1])
            state.avg_act[sl] = 0.999 ** B * state.avg_act[sl] + 0.001 * (decay @ acts[l + 1])
    e, row_loss = _output_grad_np(out_kind, gcode, act, acts[-1], yb, X0, offb, hyper)
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
        gb[state.b_off[l]:state.b_off[l + 1]] = Grows.sum(axis=0, dtype=np.float64)
        if l > 0:
            E = Grows @ W  # pre-update weights, as in H2O's bprop
            G = E * _deriv_np(act, acts[l])
            if masks[l] is not None:
                G *= masks[l]
    apply_update_kernel(state.w, state.b, state.w_g2, state.w_dx2, state.w_v, state.b_g2, state.b_dx2,
                        state.b_v, state.avg_act, state.units, state.w_off, state.b_off, gw, gb, hyper,
                        flags, step_counter)
