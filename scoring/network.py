"""A trained Deep Learning network's scoring forward pass: float64 arithmetic over its float32 weights.

This is the one scoring-time forward pass of the project: the cloud's ``predict``/metrics (``algos``) and the
portable scorer (:mod:`scoring.scorer`) both call :meth:`Network.forward`, and the generated Java class
(:mod:`scoring.pojo`) does the same arithmetic in ``double``. Weights stay float32 as trained (H2O keeps float
weights too); inputs, activations and biases are float64, so two implementations that sum in a different order
still agree to ~1e-15 relative.

Layer ``l`` maps ``units[l]`` inputs to ``units[l+1]`` neurons with weights of shape ``(units[l+1] * k,
units[l])`` (``k = 2`` for a Maxout hidden layer, channels interleaved by row: neuron ``j`` owns rows ``2j`` and
``2j+1``, and takes channel 1 only when it is strictly larger) and biases of shape ``(units[l+1] * k,)``.
Hidden layers apply the activation, then scale by ``1 - hidden_dropout_ratio`` (H2O's test-time dropout
scaling; input dropout is not rescaled). The output layer is a softmax (classification), linear (regression,
link space, plus an optional offset) or the activation again (autoencoder reconstruction).

>>> import numpy as np
>>> net = Network([np.eye(2, dtype=np.float32), np.ones((1, 2), np.float32)], [np.zeros(2), np.zeros(1)],
...               "Rectifier", "linear", [0.5])
>>> net.forward(np.array([[1.0, -3.0]])).tolist()
[[0.5]]
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

ACTIVATIONS = ("Tanh", "Rectifier", "Maxout", "ExpRectifier")
OUTPUTS = ("softmax", "linear", "autoencoder")
BLOCK_ROWS = 4096                  # rows per block: bounds the float64 temporaries of a large batch


def activate(activation: str, net: np.ndarray) -> np.ndarray:
    """A hidden (or autoencoder output) layer's activation of ``net`` (float64, in place where possible).

    >>> activate("Tanh", np.array([0.0, 1000.0])).tolist()
    [0.0, 1.0]
    """
    if activation == "Tanh":
        with np.errstate(over="ignore"):            # H2O's formula: exp overflow gives exactly 1
            return 1.0 - 2.0 / (1.0 + np.exp(2.0 * net))
    if activation == "Rectifier":
        return np.maximum(net, 0.0, out=net)
    if activation == "ExpRectifier":
        return np.where(net >= 0.0, net, np.expm1(np.minimum(net, 0.0)))
    return net                                       # Maxout: the channel pick is the non-linearity


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of float64 ``z`` (in place): ``exp(z - max) / sum``."""
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


class Network:
    """The scoring form of a network (see the module docstring); immutable once built.

    ``weights[l]`` float32 ``(rows, units[l])``, ``biases[l]`` float64 ``(rows,)``, ``activation`` one of
    :data:`ACTIVATIONS` (without ``WithDropout``), ``output`` one of :data:`OUTPUTS`, and one dropout ratio per
    hidden layer (0 for none). Raises ValueError naming what does not fit.
    """

    def __init__(self, weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], activation: str, output: str,
                 hidden_dropout_ratios: Sequence[float]):
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        if len(weights) < 1 or len(weights) != len(biases):
            raise ValueError(f"need one bias vector per weight matrix (>= 1 layer), got {len(weights)} weight "
                             f"matrices and {len(biases)} bias vectors")
        n_layers = len(weights)
        ratios = [float(r) for r in hidden_dropout_ratios]
        if len(ratios) != n_layers - 1 or not all(0.0 <= r < 1.0 for r in ratios):
            raise ValueError(f"need {n_layers - 1} hidden dropout ratios in [0, 1), got {ratios}")
        if output == "autoencoder" and activation == "Maxout":
            raise ValueError("an autoencoder cannot use Maxout")
        self.activation, self.output, self.hidden_dropout_ratios = activation, output, tuple(ratios)
        units = [int(np.shape(weights[0])[1]) if np.ndim(weights[0]) == 2 else -1]
        self._wt: list[np.ndarray] = []
        self._b: list[np.ndarray] = []
        for l, (w, b) in enumerate(zip(weights, biases)):
            w, b = np.asarray(w), np.asarray(b)
            k = self.channels(l, n_layers)
            if w.ndim != 2 or w.dtype != np.float32 or w.shape[1] != units[-1] or w.shape[0] % k:
                raise ValueError(f"layer {l}: weights must be float32 (rows, {units[-1]}) with rows a multiple of "
                                 f"{k}, got {w.dtype} {w.shape}")
            if b.shape != (w.shape[0],) or b.dtype != np.float64:
                raise ValueError(f"layer {l}: biases must be float64 ({w.shape[0]},), got {b.dtype} {b.shape}")
            units.append(w.shape[0] // k)
            self._wt.append(np.ascontiguousarray(w.T, dtype=np.float64))      # (in, rows): A @ Wt
            self._b.append(b.copy())
        if output == "softmax" and units[-1] < 2:
            raise ValueError(f"a softmax output needs >= 2 units, got {units[-1]}")
        if output == "linear" and units[-1] != 1:
            raise ValueError(f"a linear output has 1 unit, got {units[-1]}")
        if output == "autoencoder" and units[-1] != units[0]:
            raise ValueError(f"an autoencoder's output must have {units[0]} units, got {units[-1]}")
        self.units: tuple[int, ...] = tuple(units)

    def channels(self, layer: int, n_layers: int | None = None) -> int:
        """Rows per neuron of weight layer ``layer``: 2 for a Maxout hidden layer, else 1."""
        n_layers = len(self._wt) if n_layers is None else n_layers
        return 2 if self.activation == "Maxout" and layer < n_layers - 1 else 1

    @property
    def n_layers(self) -> int:
        return len(self._wt)

    def forward(self, X: np.ndarray, layer: int = -1, offset: np.ndarray | None = None) -> np.ndarray:
        """float64 outputs of every row of ``X`` (float32 or float64, ``(n, units[0])``).

        ``layer=-1``: softmax probabilities, the linear output plus ``offset`` (link space), or the
        reconstruction; ``layer >= 0``: hidden layer ``layer``'s activations (deepfeatures).
        """
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.units[0] or X.dtype.kind != "f":
            raise ValueError(f"X must be a float array of shape (n, {self.units[0]}), got {X.dtype} {X.shape}")
        if not -1 <= layer < self.n_layers - 1:
            raise ValueError(f"layer must be -1 (output) or a hidden layer in [0, {self.n_layers - 1}), got {layer}")
        if offset is not None:
            offset = np.asarray(offset, dtype=np.float64)
            if self.output != "linear" or offset.shape != (X.shape[0],):
                raise ValueError(f"offset applies to a linear output only, one value per row ({X.shape[0]},), "
                                 f"got {offset.shape} for a {self.output} output")
        width = self.units[-1] if layer == -1 else self.units[layer + 1]
        out = np.empty((X.shape[0], width), dtype=np.float64)
        for lo in range(0, X.shape[0], BLOCK_ROWS):
            hi = min(lo + BLOCK_ROWS, X.shape[0])
            out[lo:hi] = self._block(X[lo:hi], layer, None if offset is None else offset[lo:hi])
        return out

    def _block(self, A: np.ndarray, stop: int, offset: np.ndarray | None) -> np.ndarray:
        A = A.astype(np.float64)
        last = self.n_layers - 1
        for l in range(self.n_layers):
            net = A @ self._wt[l]
            net += self._b[l]
            if l < last:
                if self.activation == "Maxout":
                    pairs = net.reshape(net.shape[0], -1, 2)
                    net = np.where(pairs[:, :, 1] > pairs[:, :, 0], pairs[:, :, 1], pairs[:, :, 0])
                A = activate(self.activation, net)
                if self.hidden_dropout_ratios[l] > 0:
                    A *= 1.0 - self.hidden_dropout_ratios[l]
                if l == stop:
                    return A
            elif self.output == "softmax":
                A = softmax(net)
            elif self.output == "linear":
                A = net if offset is None else net + offset[:, None]
            else:
                A = activate(self.activation, net)
        return A
