"""A slow, obviously-correct float64 numpy network used only to test :mod:`algos.deeplearning.kernels`.

Same maths and same decisions as the kernels (see that module's docstring), written layer by
layer with explicit matrices: forward, per-row loss, backprop to data gradients, one optimiser step.
Because H2O's online SGD pushes error back with the *pre-update* weights and updates each weight
once per row, one kernel row equals ``gradients`` followed by ``step`` here.

Example
-------
>>> import numpy as np
>>> from algos.deeplearning import hyper as hp, network as nw
>>> spec = nw.NetSpec((3, 4, 2), "Tanh", "softmax")
>>> ref = RefNet.from_state(nw.init_state(spec, seed=3)); hyper, flags = hp.kernel_arrays_for(spec)
>>> gW, gb, loss = ref.gradients(np.ones(3), 1.0, 1.0, 0.0, hyper, flags)
>>> ref.step(gW, gb, hyper, flags, samples_seen=0)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .hyper import (
    ACT_ELU, ACT_MAXOUT, ACT_RECTIFIER, ACT_TANH, F_ACTIVATION, F_ADAPTIVE, F_GRADIENT, F_NESTEROV,
    F_OUTPUT, F_QUIRKS, F_SKIP_ZERO_GRAD, G_CROSS_ENTROPY, G_GAMMA, G_GAUSSIAN, G_HUBER, G_LAPLACE, G_POISSON,
    G_QUANTILE, H_AVERAGE_ACTIVATION, H_EPSILON, H_HIDDEN_DROPOUT, H_HUBER_DELTA, H_L1, H_L2, H_MAX_W2,
    H_MOMENTUM_RAMP, H_MOMENTUM_STABLE, H_MOMENTUM_START, H_QUANTILE_ALPHA, H_RATE, H_RATE_ANNEALING,
    H_RATE_DECAY, H_RHO, H_SPARSITY_BETA, H_TWEEDIE_POWER, OUT_AUTOENCODER, OUT_LINEAR, OUT_SOFTMAX,
    Q_AUTOENCODER_GRADIENT, Q_BIAS_ADADELTA, Q_DROPOUT_GRADIENT, Q_EXP_RECTIFIER, Q_MOMENTUM_RAMP,
)
from .network import NetSpec, NetState

_FIELDS = ("W", "b", "Wg2", "Wdx2", "Wv", "bg2", "bdx2", "bv")


def activation(act: int, net: np.ndarray) -> np.ndarray:
    if act == ACT_TANH:
        return np.tanh(net)
    if act == ACT_RECTIFIER:
        return np.maximum(net, 0.0)
    if act == ACT_ELU:
        return np.where(net >= 0, net, np.expm1(np.minimum(net, 0.0)))
    return net


def activation_derivative(act: int, net: np.ndarray, quirks: int = 0) -> np.ndarray:
    """d f / d net, written with the pre-activation (the kernels use the activation instead); with the
    exp_rectifier_derivative quirk, H2O's exp(f(net)) for ExpRectifier."""
    if act == ACT_TANH:
        return 1.0 - np.tanh(net) ** 2
    if act == ACT_RECTIFIER:
        return (net > 0).astype(float)
    if act == ACT_ELU:
        below = np.exp(activation(act, net)) if quirks & Q_EXP_RECTIFIER else np.exp(np.minimum(net, 0.0))
        return np.where(net >= 0, 1.0, below)
    return np.ones_like(net)


def deviance(gcode: int, t: np.ndarray, f: np.ndarray, hyper: np.ndarray) -> np.ndarray:
    """Per-element loss E(t, f) for a linear (or autoencoder) output, as documented in kernels.losses."""
    d = t - f
    if gcode == G_GAUSSIAN:
        return d * d
    if gcode == G_LAPLACE:
        return np.abs(d)
    if gcode == G_QUANTILE:
        a = hyper[H_QUANTILE_ALPHA]
        return np.where(t > f, a * d, (a - 1.0) * d)
    if gcode == G_HUBER:
        dl = hyper[H_HUBER_DELTA]
        return np.where(np.abs(d) <= dl, d * d, 2 * dl * np.abs(d) - dl * dl)
    if gcode == G_POISSON:
        tlogt = np.where(t > 0, t * np.log(np.where(t > 0, t, 1.0)), 0.0)
        return 2.0 * (tlogt - t * f - (t - np.exp(f)))
    if gcode == G_GAMMA:
        return 2.0 * (-np.log(t) + f + t * np.exp(-f) - 1.0)
    p = hyper[H_TWEEDIE_POWER]
    return 2.0 * (t ** (2 - p) / ((1 - p) * (2 - p)) - t * np.exp(f * (1 - p)) / (1 - p)
                  + np.exp(f * (2 - p)) / (2 - p))


def deviance_gradient(gcode: int, t: np.ndarray, f: np.ndarray, hyper: np.ndarray) -> np.ndarray:
    """dE/df of ``deviance`` (the table of h2o_architecture.md section 6.5, Huber with its delta)."""
    d = t - f
    if gcode == G_GAUSSIAN:
        return -2.0 * d
    if gcode == G_LAPLACE:
        return np.where(f > t, 1.0, -1.0)
    if gcode == G_QUANTILE:
        a = hyper[H_QUANTILE_ALPHA]
        return np.where(t > f, -a, 1.0 - a)
    if gcode == G_HUBER:
        dl = hyper[H_HUBER_DELTA]
        return np.where(np.abs(d) <= dl, -2.0 * d, -2.0 * dl * np.sign(d))
    if gcode == G_POISSON:
        return -2.0 * (t - np.exp(f))
    if gcode == G_GAMMA:
        return -2.0 * (t * np.exp(-f) - 1.0)
    p = hyper[H_TWEEDIE_POWER]
    return -2.0 * (t * np.exp(f * (1 - p)) - np.exp(f * (2 - p)))


@dataclass
class RefNet:
    """Per-layer float64 matrices (rows = units[l+1]*k, Maxout channels interleaved by row)."""

    spec: NetSpec
    W: list[np.ndarray]
    b: list[np.ndarray]
    Wg2: list[np.ndarray]
    Wdx2: list[np.ndarray]
    Wv: list[np.ndarray]
    bg2: list[np.ndarray]
    bdx2: list[np.ndarray]
    bv: list[np.ndarray]
    avg_act: list[np.ndarray]

    @classmethod
    def from_state(cls, st: NetState) -> RefNet:
        def split(arr: np.ndarray, off: np.ndarray, cols: bool) -> list[np.ndarray]:
            out = []
            for l in range(st.spec.n_layers):
                blk = arr[off[l]:off[l + 1]].astype(np.float64)
                out.append(blk.reshape(-1, st.spec.units[l]) if cols else blk)
            return out
        ws = {n: split(getattr(st, n), st.w_off, True) for n in ("w", "w_g2", "w_dx2", "w_v")}
        bs = {n: split(getattr(st, n), st.b_off, False) for n in ("b", "b_g2", "b_dx2", "b_v", "avg_act")}
        return cls(st.spec, ws["w"], bs["b"], ws["w_g2"], ws["w_dx2"], ws["w_v"], bs["b_g2"], bs["b_dx2"],
                   bs["b_v"], bs["avg_act"])

    def flat(self) -> dict[str, np.ndarray]:
        """Flat float64 arrays named like NetState's, for comparison with a kernel-trained state."""
        cat = lambda xs: np.concatenate([x.ravel() for x in xs])  # noqa: E731
        return {"w": cat(self.W), "b": cat(self.b), "w_g2": cat(self.Wg2), "w_dx2": cat(self.Wdx2),
                "w_v": cat(self.Wv), "b_g2": cat(self.bg2), "b_dx2": cat(self.bdx2), "b_v": cat(self.bv),
                "avg_act": cat(self.avg_act)}

    # ------------------------------------------------------------------ forward
    def forward(self, x: np.ndarray, hyper: np.ndarray, flags: np.ndarray,
                masks: list[np.ndarray | None] | None) -> tuple[list[np.ndarray], list[np.ndarray], list]:
        """(activations a_0..a_L, pre-activations, Maxout winners).  ``masks`` = training mode with
        masks[0] the input mask and masks[l] hidden layer l's (None = no dropout); ``masks=None``
        = scoring mode (hidden activations times 1 - ratio).  a_L is the raw net for
        softmax/linear outputs."""
        act, out = int(flags[F_ACTIVATION]), int(flags[F_OUTPUT])
        L = self.spec.n_layers
        a = np.asarray(x, dtype=np.float64)
        if masks is not None and masks[0] is not None:
            a = a * masks[0]
        acts, nets, wins = [a], [], []
        for l in range(L):
            hidden = l < L - 1
            net = self.W[l] @ acts[-1] + self.b[l]
            win = None
            if hidden and act == ACT_MAXOUT:
                pair = net.reshape(-1, 2)
                win = (pair[:, 1] > pair[:, 0]).astype(int)
                net = pair[np.arange(pair.shape[0]), win]
            nets.append(net)
            wins.append(win)
            if hidden or out == OUT_AUTOENCODER:
                a = activation(act, net)
            else:
                a = net
            if hidden:
                if masks is not None:
                    if masks[l + 1] is not None:
                        a = a * masks[l + 1]
                else:
                    a = a * (1.0 - hyper[H_HIDDEN_DROPOUT + l])
            acts.append(a)
        return acts, nets, wins

    def output_error(self, out_act: np.ndarray, out_net: np.ndarray, t: float, x_orig: np.ndarray,
                     offset: float, hyper: np.ndarray, flags: np.ndarray) -> tuple[np.ndarray, float]:
        """(dE/dnet of the output layer, row loss) before the observation weight."""
        out, gcode, act = int(flags[F_OUTPUT]), int(flags[F_GRADIENT]), int(flags[F_ACTIVATION])
        if out == OUT_SOFTMAX:
            z = out_act - out_act.max()
            p = np.exp(z) / np.exp(z).sum()
            onehot = np.zeros_like(p)
            onehot[int(t)] = 1.0
            if gcode == G_CROSS_ENTROPY:
                return p - onehot, float(-np.log(p[int(t)]))
            return (p - onehot) * p * (1 - p), float(((p - onehot) ** 2).sum())  # H2O's diagonal formula
        if out == OUT_LINEAR:
            f = out_act + offset
            return deviance_gradient(gcode, np.array([t]), f, hyper), float(deviance(gcode, np.array([t]), f, hyper)[0])
        y = out_act
        quirks = int(flags[F_QUIRKS])
        g = deviance_gradient(gcode, x_orig, y, hyper)
        if not quirks & Q_AUTOENCODER_GRADIENT:       # H2O's autoencoder output skips f'(net)
            g = g * activation_derivative(act, out_net, quirks)
        return g, float(deviance(gcode, x_orig, y, hyper).sum())

    def row_loss(self, x: np.ndarray, t: float, offset: float, hyper: np.ndarray, flags: np.ndarray,
                 masks: list[np.ndarray | None] | None = None) -> float:
        """Training loss of one row with fixed dropout masks (what finite differences perturb)."""
        L = self.spec.n_layers
        masks = masks if masks is not None else [None] * L
        acts, nets, _ = self.forward(x, hyper, flags, masks)
        return self.output_error(acts[-1], nets[-1], t, np.asarray(x, float), offset, hyper, flags)[1]

    # ------------------------------------------------------------------ backprop
    def gradients(self, x: np.ndarray, t: float, weight: float, offset: float, hyper: np.ndarray,
                  flags: np.ndarray, masks: list[np.ndarray | None] | None = None
                  ) -> tuple[list[np.ndarray], list[np.ndarray], float]:
        """Data gradients dE/dW, dE/db (times ``weight``) of one row and its unweighted loss.

        For a sparse autoencoder this also advances the running mean activation, as fprop does."""
        act = int(flags[F_ACTIVATION])
        L = self.spec.n_layers
        masks = masks if masks is not None else [None] * L
        acts, nets, wins = self.forward(x, hyper, flags, masks)
        if flags[F_OUTPUT] == OUT_AUTOENCODER and hyper[H_SPARSITY_BETA] > 0:
            self.update_avg_activation(acts)  # the kernels update the running mean during fprop
        g, loss = self.output_error(acts[-1], nets[-1], t, np.asarray(x, float), offset, hyper, flags)
        g = g * weight
        gW: list[np.ndarray] = [np.zeros(0)] * L
        gb: list[np.ndarray] = [np.zeros(0)] * L
        for l in range(L - 1, -1, -1):
            if wins[l] is not None:
                rows = np.zeros((g.size, 2))
                rows[np.arange(g.size), wins[l]] = g
                grow = rows.ravel()
            else:
                grow = g
            gW[l] = np.outer(grow, acts[l])
            gb[l] = grow.copy()
            if l > 0:
                e = self.W[l].T @ grow
                quirks = int(flags[F_QUIRKS])
                if masks[l] is not None and quirks & Q_DROPOUT_GRADIENT:
                    # H2O: a dropped neuron has net 0 (skipped, no bias) and back-propagates f'(0)
                    g = e * activation_derivative(act, nets[l - 1] * masks[l], quirks)
                else:
                    g = e * activation_derivative(act, nets[l - 1], quirks)
                    if masks[l] is not None:
                        g = g * masks[l]
        return gW, gb, loss

    def update_avg_activation(self, acts: list[np.ndarray]) -> None:
        for l in range(self.spec.n_layers - 1):
            self.avg_act[l][: acts[l + 1].size] = 0.999 * self.avg_act[l][: acts[l + 1].size] + 0.001 * acts[l + 1]

    # ------------------------------------------------------------------ optimiser
    def step(self, gW: list[np.ndarray], gb: list[np.ndarray], hyper: np.ndarray, flags: np.ndarray,
             samples_seen: int) -> None:
        """Apply one update with data gradients gW/gb (ADADELTA or manual rate + momentum)."""
        adaptive, nesterov = bool(flags[F_ADAPTIVE]), bool(flags[F_NESTEROV])
        skip_zero = bool(flags[F_SKIP_ZERO_GRAD])
        rho, eps, l1, l2 = hyper[H_RHO], hyper[H_EPSILON], hyper[H_L1], hyper[H_L2]
        max_w2 = hyper[H_MAX_W2]
        n = samples_seen
        m0, ramp, m1 = hyper[H_MOMENTUM_START], hyper[H_MOMENTUM_RAMP], hyper[H_MOMENTUM_STABLE]
        quirks = int(flags[F_QUIRKS])
        nm = -1 if quirks & Q_MOMENTUM_RAMP else n          # H2O trains with momentum(-1)
        mom = 0.0 if adaptive else (m1 if nm >= ramp else m0 + (m1 - m0) * nm / ramp)
        beta = hyper[H_SPARSITY_BETA] if flags[F_OUTPUT] == OUT_AUTOENCODER else 0.0
        L = self.spec.n_layers
        for l in range(L):
            lr = 0.0 if adaptive else (hyper[H_RATE] * hyper[H_RATE_DECAY] ** l
                                       / (1 + hyper[H_RATE_ANNEALING] * n) * (1 - mom))
            k = self.W[l].shape[0] // self.spec.units[l + 1]
            for r in range(self.W[l].shape[0]):
                gd, gbd = gW[l][r], gb[l][r]
                if skip_zero and gbd == 0 and not gd.any():
                    continue  # H2O's shortcut: an untouched neuron keeps everything
                wv = self.W[l][r]
                gr = gd + l1 * np.sign(wv) + l2 * wv
                keep = skip_zero & (gd == 0)
                if adaptive:
                    eg = rho * self.Wg2[l][r] + (1 - rho) * gr * gr
                    rate = np.sqrt((self.Wdx2[l][r] + eps) / (eg + eps))
                    ed = rho * self.Wdx2[l][r] + (1 - rho) * rate * rate * gr * gr
                    new_w = wv - rate * gr
                    self.Wg2[l][r] = np.where(keep, self.Wg2[l][r], eg)
                    self.Wdx2[l][r] = np.where(keep, self.Wdx2[l][r], ed)
                elif nesterov:
                    vn = mom * self.Wv[l][r] - gr
                    new_w = wv + lr * vn
                    self.Wv[l][r] = np.where(keep, self.Wv[l][r], vn)
                else:
                    d = -lr * gr
                    new_w = wv + d + mom * self.Wv[l][r]
                    self.Wv[l][r] = np.where(keep, self.Wv[l][r], d)
                self.W[l][r] = np.where(keep, wv, new_w)
                ss = float((self.W[l][r] ** 2).sum())
                if np.isfinite(max_w2) and ss > max_w2:
                    self.W[l][r] *= np.sqrt(max_w2 / ss)
                if skip_zero and gbd == 0:
                    continue
                bv = self.b[l][r]
                gbr = gbd + l1 * np.sign(bv) + l2 * bv
                if adaptive:
                    # bias_adadelta quirk: H2O feeds the mean grad^2 of the neuron's (stepped) weights
                    g2 = float(np.where(keep, 0.0, gr * gr).mean()) if quirks & Q_BIAS_ADADELTA else gbr * gbr
                    self.bg2[l][r] = rho * self.bg2[l][r] + (1 - rho) * g2
                    brate = np.sqrt((self.bdx2[l][r] + eps) / (self.bg2[l][r] + eps))
                    self.bdx2[l][r] = rho * self.bdx2[l][r] + (1 - rho) * brate * brate * g2
                    self.b[l][r] = bv - brate * gbr
                elif nesterov:
                    brate = lr
                    self.bv[l][r] = mom * self.bv[l][r] - gbr
                    self.b[l][r] = bv + lr * self.bv[l][r]
                else:
                    brate = lr
                    d = -lr * gbr
                    self.b[l][r] = bv + d + mom * self.bv[l][r]
                    self.bv[l][r] = d
                if beta > 0 and l < L - 1:
                    self.b[l][r] -= brate * beta * (self.avg_act[l][r // k] - hyper[H_AVERAGE_ACTIVATION])
