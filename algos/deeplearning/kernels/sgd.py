"""Per-sample online SGD, H2O's ``Neurons.fprop/bprop``: backprop with an immediate update of each layer.

The Numba kernel releases the GIL, so several Python threads may call it on the SAME state with different
``order`` slices: that is Hogwild! (lock-free, racy by design). With a :class:`~.team.KernelTeam` all threads
train each sample together instead. Dropped hidden neurons get no gradient at all (H2O's Tanh/ELU/Maxout still
back-propagate into a dropped neuron because f'(0) != 0); Maxout (k=2) sends the gradient to the winning channel
only; max_w2 rescales each updated row; rows with observation weight 0 are skipped and not counted (as H2O).

Example
-------
>>> import numpy as np
>>> from algos.deeplearning.hyper import kernel_arrays_for
>>> from algos.deeplearning.network import NetSpec, init_state
>>> spec = NetSpec((4, 6, 2), "Rectifier", "softmax")
>>> st = init_state(spec, seed=1)
>>> hyper, flags = kernel_arrays_for(spec)
>>> X = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
>>> y = (X[:, 0] > 0).astype(np.float64)
>>> n, loss = train_rows(st, X, y, np.ones(32), np.zeros(32), np.arange(32), hyper, flags, 0, 0)
>>> n
32
"""
from __future__ import annotations

import math

import numpy as np
from frame.llvm_intrinsics import atomic_load, prefetch
from numba import njit

from ..hyper import (ACT_MAXOUT, F_ACTIVATION, F_GRADIENT, F_N_LAYERS, F_OUTPUT, F_QUIRKS, G_CROSS_ENTROPY,
                     H_AVERAGE_ACTIVATION, H_HIDDEN_DROPOUT, H_INPUT_DROPOUT, H_SPARSITY_BETA, OUT_AUTOENCODER,
                     OUT_LINEAR, OUT_SOFTMAX, Q_AUTOENCODER_GRADIENT, Q_BIAS_ADADELTA, Q_DROPOUT_GRADIENT)
from ..network import NetState
from .activations import activate, derivative
from .checks import check_hyper, check_rows
from .dropout import HIDDEN_MASK, INPUT_MASK, fill_mask_range
from .jit import JIT
from .losses import dist_grad
from .optimizers import bias_steps, layer_rate, momentum_at, optimizer_settings, row_grad2, row_step
from .team import KernelTeam, share, team_barrier

@njit(**JIT)
def _prefetch_span(arr, start, n):
    """Prefetch ``arr[start:start+n]`` (every 64-byte line of it)."""
    for c in range(0, n, 16):
        prefetch(arr, start + c)



@njit(**JIT)
def _dot_row(W, row, x):
    """W[row] . x in float32 (fastmath reassoc lets LLVM vectorise the reduction)."""
    s = np.float32(0.0)
    for c in range(x.size):
        s += W[row, c] * x[c]
    return s


@njit(**JIT)
def _push_error(e_prev, W, row, g):
    """e_prev += g * W[row], with the pre-update weights (H2O's order)."""
    for c in range(e_prev.size):
        e_prev[c] += g * W[row, c]



@njit(**JIT)
def train_rows_kernel(w, b, w_g2, w_dx2, w_v, b_g2, b_dx2, b_v, avg_act, units, w_off, b_off,
                      X, y, row_weight, offset, order, hyper, flags, seed, samples_seen,
                      acts, errs, wins, eparts, bar, tid, nteam):
    """Online SGD over rows ``order`` of ``X``; returns (rows_processed, weighted loss sum).

    Raw-array kernel behind ``train_rows`` (which validates its inputs); nogil, so Hogwild!
    threads may run it concurrently on the same state arrays (each with its own scratch).

    Team mode (``nteam > 1``): ``nteam`` threads call it together with the same arguments but ``tid``,
    sharing the scratch ``acts`` (one slot per neuron plus a second input buffer), ``errs/wins`` (one slot
    per neuron), ``eparts`` (float32[nteam, neurons], each thread's share of the back-propagated error) and
    ``bar`` (the barrier, int64[16] with bar[0] = nteam). Thread ``tid`` owns a fixed contiguous slice of
    every layer's neurons: it computes their activations and steps their weight rows and biases, so no two
    threads write one weight and each core keeps its half of the weights in its own cache (a balanced split
    of each sample's work list moved rows between cores and measured slower); barriers after each layer
    keep the sample's steps in the one-thread order. Each thread sums the shares of the error of its own
    neurons only, and samples alternate input buffers, so a sample needs one barrier per layer each way
    (8 for three hidden layers, from 12: +6 % samples/s for a team of 2, docs/benchmarks.md). The result
    equals the one-thread run up to the summation order of back-propagated errors (deterministic for a
    team size). Only thread 0's loss sum counts.
    """
    n_layers = flags[F_N_LAYERS]
    act = flags[F_ACTIVATION]
    out_kind = flags[F_OUTPUT]
    gcode = flags[F_GRADIENT]
    adaptive, nesterov, skip_zero, rho, eps, l1, l2, max_w2 = optimizer_settings(hyper, flags)
    in_drop = hyper[H_INPUT_DROPOUT]
    beta = hyper[H_SPARSITY_BETA] if out_kind == OUT_AUTOENCODER else 0.0
    quirks = flags[F_QUIRKS]
    bias_g2 = adaptive and (quirks & Q_BIAS_ADADELTA) != 0
    dropped_learn = (quirks & Q_DROPOUT_GRADIENT) != 0
    n_in = units[0]
    n_out = units[n_layers]
    a_off = np.zeros(n_layers + 2, dtype=np.int64)
    for l in range(n_layers + 1):
        a_off[l + 1] = a_off[l] + units[l]
    gen = atomic_load(bar, 8)
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
    step_g2 = np.zeros(max_rows, dtype=np.float64)
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
        # The input activations alternate between two buffers, so a thread may fill the next sample's
        # while the others still step layer 0 with this one's: the input barrier ends the sample.
        in_base = a_off[n_layers + 1] if rows_done & 1 else 0
        a0 = acts[in_base:in_base + n_in]
        c0, c1 = share(n_in, tid, nteam)
        if in_drop > 0.0:
            m0 = masks[0:n_in]
            fill_mask_range(m0, seed, counter, INPUT_MASK, in_drop, c0, c1)
            for c in range(c0, c1):
                a0[c] = X[i, c] * m0[c]
        else:
            for c in range(c0, c1):
                a0[c] = X[i, c]
        gen = team_barrier(bar, nteam, gen)
        for l in range(n_layers):
            cols = units[l]
            hidden = l < n_layers - 1
            k = 2 if (hidden and act == ACT_MAXOUT) else 1
            # 2-D views made once per layer: per-row slices cost NRT refcounting in the hot loop.
            Wl = w[w_off[l]:w_off[l + 1]].reshape((units[l + 1] * k, cols))
            prev = a0 if l == 0 else acts[a_off[l]:a_off[l + 1]]
            cur = acts[a_off[l + 1]:a_off[l + 2]]
            mk = masks[a_off[l + 1]:a_off[l + 2]]
            ratio = hyper[H_HIDDEN_DROPOUT + l] if hidden else 0.0
            n_units = units[l + 1]
            j0, j1 = share(n_units, tid, nteam)
            if ratio > 0.0:
                fill_mask_range(mk, seed, counter, HIDDEN_MASK, ratio, j0, j1)
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
                    cur[j] = activate(act, best)
                else:
                    cur[j] = best
            gen = team_barrier(bar, nteam, gen)
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
            gr, row_loss = dist_grad(gcode, y[i], outa[0] + offset[i], hyper)
            e_top[0] = rw * gr
        else:
            for j in range(n_out):
                gr, lo = dist_grad(gcode, np.float64(X[i, j]), np.float64(outa[j]), hyper)
                da = 1.0 if quirks & Q_AUTOENCODER_GRADIENT else derivative(act, outa[j], quirks)
                e_top[j] = rw * gr * da
                row_loss += lo
        if tid == 0:
            loss_sum += rw * row_loss
        rows_done += 1
        # ---------------- backprop, each layer updated immediately (error pushed with pre-update w)
        mom = 0.0 if adaptive else momentum_at(hyper, counter, quirks)
        for l in range(n_layers - 1, -1, -1):
            cols = units[l]
            hidden = l < n_layers - 1
            k = 2 if (hidden and act == ACT_MAXOUT) else 1
            lr = 0.0 if adaptive else layer_rate(hyper, l, counter, mom)
            shape = (units[l + 1] * k, cols)
            Wl = w[w_off[l]:w_off[l + 1]].reshape(shape)
            G2l = w_g2[w_off[l]:w_off[l + 1]].reshape(shape)
            DX2l = w_dx2[w_off[l]:w_off[l + 1]].reshape(shape)
            Vl = w_v[w_off[l]:w_off[l + 1]].reshape(shape)
            prev = a0 if l == 0 else acts[a_off[l]:a_off[l + 1]]
            cur = acts[a_off[l + 1]:a_off[l + 2]]
            e_cur = errs[a_off[l + 1]:a_off[l + 2]]
            mk = masks[a_off[l + 1]:a_off[l + 2]]
            e_prev = errs[a_off[l]:a_off[l + 1]] if nteam == 1 else eparts[tid, a_off[l]:a_off[l + 1]]
            if l > 0:
                e_prev[:] = 0.0
            ratio = hyper[H_HIDDEN_DROPOUT + l] if hidden else 0.0
            n_units = units[l + 1]
            j0, j1 = share(n_units, tid, nteam)
            if hidden and nteam > 1:
                # this layer's error: the sum of the threads' shares, for this thread's neurons only
                for j in range(j0, j1):
                    tot_e = np.float32(0.0)
                    for t in range(nteam):
                        tot_e += eparts[t, a_off[l + 1] + j]
                    e_cur[j] = tot_e
            # dE/dnet per neuron (a dropped neuron gets none), then the list of rows to step. Branch-free
            # (`&`, not `and`, with the invariant part hoisted): dropout is a coin flip per neuron.
            if hidden:
                drops = ratio > 0.0 and not dropped_learn
                for j in range(j0, j1):
                    gj = np.float32(e_cur[j] * derivative(act, cur[j], quirks))
                    g_unit[j] = np.float32(0.0) if (drops & (mk[j] == 0.0)) else gj
            else:
                for j in range(j0, j1):
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
                if bias_g2:
                    step_g2[t] = row_grad2(Wl, row, prev, gch, skip_zero, l1, l2)
                row_step(Wl, G2l, DX2l, Vl, row, prev, gch, skip_zero, adaptive, nesterov, rho, eps,
                          lr, mom, l1, l2, max_w2)
            # Biases after the rows: independent scalar chains the CPU can overlap.
            bias_steps(b, b_g2, b_dx2, b_v, avg_act, b_off[l], k, step_rows, step_g, n_step, adaptive, nesterov,
                        rho, eps, lr, mom, l1, l2, beta if hidden else 0.0, hyper[H_AVERAGE_ACTIVATION], step_g2,
                        bias_g2)
            if l > 0 and nteam > 1:
                gen = team_barrier(bar, nteam, gen)     # every thread's share of the layer below's error
    return rows_done, loss_sum



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
    check_hyper(state, hyper, flags)
    check_rows(state, X, y, row_weight, offset, order, flags)
    # Strided views (e.g. order[k::2] for Hogwild! slices) would compile a second signature.
    y, row_weight, offset, order = (np.ascontiguousarray(a) for a in (y, row_weight, offset, order))
    nteam = 1 if team is None else team.size
    neurons = int(np.sum(state.units))
    acts, errs = np.zeros(neurons + state.units[0], np.float32), np.zeros(neurons, np.float32)
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
