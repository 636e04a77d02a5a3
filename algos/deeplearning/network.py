"""Deep Learning network: its shape (``NetSpec``), its flat trainable state (``NetState``) and H2O's initialisation.

Everything the compute kernels (:mod:`algos.deeplearning.kernels`) touch is a flat contiguous array so that
a model is trivial to average across nodes (an unweighted mean per array, as H2O's reduce) and to
serialise (``NetState.to_arrays`` gives plain numpy arrays, never pickles).

Layout
------
Layer ``l`` (``0 <= l < n_layers``) maps ``units[l]`` inputs to ``units[l+1]`` neurons.  Its weights
are the block ``w[w_off[l]:w_off[l+1]]`` read as a row-major matrix of shape
``(units[l+1]*k, units[l])`` where ``k = 2`` for a Maxout hidden layer and 1 otherwise.  Maxout
channels are **interleaved by row**: neuron ``j`` owns rows ``2j`` (channel 0) and ``2j+1``
(channel 1), so each channel is one contiguous row, which keeps the kernels' inner loops on
contiguous 1-D views.  Biases follow the same row numbering in ``b[b_off[l]:b_off[l+1]]``.

dtypes: weights and their optimiser state (``w_g2`` = E[g^2], ``w_dx2`` = E[dx^2], ``w_v`` =
momentum velocity) are float32 as in H2O; biases and their state are float64 (H2O keeps
biases in double).  ``avg_act`` is the autoencoder sparsity running mean of each hidden neuron's
activation, parallel to ``b``.

Example
-------
>>> spec = NetSpec((5, 7, 3), "Rectifier", "softmax")
>>> st = init_state(spec, seed=42)
>>> st.n_params
66
>>> NetSpec.from_dict(spec.to_dict()) == spec
True
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .parameters import ACTIVATIONS, PARAMS

#: Output layers: softmax (classification), linear (regression), autoencoder (reconstruction of the inputs).
OUTPUTS: tuple[str, ...] = ("softmax", "linear", "autoencoder")
#: The arrays of a :class:`NetState` (float32 weights and their optimiser state, float64 biases and theirs).
STATE_ARRAYS: tuple[str, ...] = ("w", "b", "w_g2", "w_dx2", "w_v", "b_g2", "b_dx2", "b_v", "avg_act")

@dataclass(frozen=True)
class NetSpec:
    """Shape of a network: ``units = (n_in, hidden..., n_out)``, activation and output kind.

    >>> NetSpec((784, 200, 10), "RectifierWithDropout", "softmax").n_layers
    2
    """

    units: tuple[int, ...]
    activation: str = "Rectifier"
    output: str = "softmax"

    def __post_init__(self) -> None:
        units = tuple(int(u) for u in self.units)
        object.__setattr__(self, "units", units)
        if len(units) < 2 or min(units) < 1:
            raise ValueError(f"units must list >= 2 positive layer sizes (input..., output), got {self.units}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {self.output!r}")
        if self.output == "softmax" and units[-1] < 2:
            raise ValueError(f"a softmax output needs >= 2 units (classes), got {units[-1]}")
        if self.output == "linear" and units[-1] != 1:
            raise ValueError(f"a linear (regression) output has exactly 1 unit, got {units[-1]}")
        if self.output == "autoencoder":
            if units[-1] != units[0]:
                raise ValueError(f"an autoencoder output must have n_inputs={units[0]} units, got {units[-1]}")
            if self.base_activation == "Maxout":
                raise ValueError("Maxout is not allowed for an autoencoder (as in H2O)")

    @property
    def base_activation(self) -> str:
        """Activation without the ``WithDropout`` suffix."""
        return self.activation.removesuffix("WithDropout")

    @property
    def hidden_dropout(self) -> bool:
        return self.activation.endswith("WithDropout")

    @property
    def n_layers(self) -> int:
        """Number of weight layers (hidden layers + output layer)."""
        return len(self.units) - 1

    def to_dict(self) -> dict:
        """A msgpack-safe dict (stored in the model, sent with tasks); :meth:`from_dict` reads it."""
        return {"units": list(self.units), "activation": self.activation, "output": self.output}

    @classmethod
    def from_dict(cls, d: dict) -> NetSpec:
        return cls(tuple(int(u) for u in d["units"]), d["activation"], d["output"])

    def channels(self, layer: int) -> int:
        """Rows per neuron of weight layer ``layer``: 2 for a Maxout hidden layer, else 1."""
        return 2 if self.base_activation == "Maxout" and layer < self.n_layers - 1 else 1

    def offsets(self) -> tuple[np.ndarray, np.ndarray]:
        """``(w_off, b_off)``: int64 arrays of length n_layers+1 delimiting each layer's block."""
        w_off = np.zeros(self.n_layers + 1, dtype=np.int64)
        b_off = np.zeros(self.n_layers + 1, dtype=np.int64)
        for l in range(self.n_layers):
            rows = self.units[l + 1] * self.channels(l)
            w_off[l + 1] = w_off[l] + rows * self.units[l]
            b_off[l + 1] = b_off[l] + rows
        return w_off, b_off


@dataclass
class NetState:
    """All trainable state of one network as flat contiguous arrays (see module doc for layout).

    >>> st = init_state(NetSpec((3, 4, 2)), seed=1)
    >>> avg = NetState.average([st, st.copy()])
    >>> bool(np.array_equal(avg.w, st.w))
    True
    """

    spec: NetSpec
    w: np.ndarray
    b: np.ndarray
    w_g2: np.ndarray
    w_dx2: np.ndarray
    w_v: np.ndarray
    b_g2: np.ndarray
    b_dx2: np.ndarray
    b_v: np.ndarray
    avg_act: np.ndarray
    units: np.ndarray = field(init=False)
    w_off: np.ndarray = field(init=False)
    b_off: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.w_off, self.b_off = self.spec.offsets()
        self.units = np.asarray(self.spec.units, dtype=np.int64)
        n_w, n_b = int(self.w_off[-1]), int(self.b_off[-1])
        for name in STATE_ARRAYS:
            arr = getattr(self, name)
            want_dtype = np.float32 if name.startswith("w") else np.float64
            want_n = n_w if name.startswith("w") else n_b
            if not isinstance(arr, np.ndarray) or arr.dtype != want_dtype or arr.shape != (want_n,):
                got = (getattr(arr, "dtype", type(arr)), getattr(arr, "shape", None))
                raise ValueError(f"state array {name!r} must be {want_dtype.__name__}[{want_n}], got {got}")
            if not arr.flags.c_contiguous:
                raise ValueError(f"state array {name!r} must be C-contiguous")

    @property
    def n_params(self) -> int:
        """Number of weights plus biases."""
        return int(self.w.size + self.b.size)

    def layer_weights(self, layer: int) -> np.ndarray:
        """A (rows, cols) view of layer ``layer``'s weights (rows = units[l+1]*k)."""
        lo, hi = int(self.w_off[layer]), int(self.w_off[layer + 1])
        return self.w[lo:hi].reshape(-1, self.spec.units[layer])

    def layer_biases(self, layer: int) -> np.ndarray:
        return self.b[int(self.b_off[layer]):int(self.b_off[layer + 1])]

    def copy(self) -> NetState:
        return NetState(self.spec, **{n: getattr(self, n).copy() for n in STATE_ARRAYS})

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for serialisation; ``units`` is included so a reader can check the shape."""
        out = {n: getattr(self, n) for n in STATE_ARRAYS}
        out["units"] = self.units.copy()
        return out

    @classmethod
    def from_arrays(cls, spec: NetSpec, arrays: dict[str, np.ndarray], copy: bool = False) -> NetState:
        """Inverse of ``to_arrays`` (with ``copy``, the state owns writeable copies of the arrays, e.g. of a model
        received read-only from the network); raises ValueError when a name, dtype or shape does not match."""
        missing = [n for n in STATE_ARRAYS if n not in arrays]
        if missing:
            raise ValueError(f"state arrays missing: {missing}")
        if "units" in arrays and tuple(int(u) for u in arrays["units"]) != spec.units:
            raise ValueError(f"arrays were saved for units {tuple(arrays['units'])}, spec has {spec.units}")
        take = np.array if copy else np.ascontiguousarray
        return cls(spec, **{n: take(arrays[n]) for n in STATE_ARRAYS})

    @staticmethod
    def average(states: list[NetState]) -> NetState:
        """Unweighted mean of every array (H2O's reduce + postGlobal divides by the node count)."""
        if not states:
            raise ValueError("average() needs at least one state")
        spec = states[0].spec
        if any(s.spec != spec for s in states):
            raise ValueError("cannot average states of different network specs")
        mean = {}
        for n in STATE_ARRAYS:
            acc = np.zeros_like(getattr(states[0], n), dtype=np.float64)
            for s in states:
                acc += getattr(s, n)
            mean[n] = (acc / len(states)).astype(getattr(states[0], n).dtype)
        return NetState(spec, **mean)


# a training run holds about this many copies of a network's state at once: on the driver the model, the best
# model, the block-momentum carry and the nodes' summed result; on a node the model shipped to it, its threads'
# replicas (at least one) and its summed result
DRIVER_COPIES, NODE_COPIES = 4, 3


def state_bytes(spec: NetSpec) -> int:
    """Bytes of one :class:`NetState` of ``spec`` (4 float32 arrays per weight, 5 float64 per neuron), from the
    shape alone (nothing is allocated).

    >>> state_bytes(NetSpec((784, 200, 200, 10)))
    3197200
    """
    w_off, b_off = spec.offsets()
    return 16 * int(w_off[-1]) + 40 * int(b_off[-1])


def check_network_fits(spec: NetSpec, *, driver_free: int, node_free: int, message_limit: int | None) -> None:
    """Refuse, before anything of it is allocated, a network whose training cannot fit: its state over the
    message limit (when models travel between processes), or its copies over the memory free on the driver or on
    the tightest node. ValueError naming the sizes.

    >>> check_network_fits(NetSpec((784, 100000, 100000, 10)), driver_free=16 << 30, node_free=16 << 30,
    ...                    message_limit=None)
    Traceback (most recent call last):
    ...
    ValueError: hidden layers (100000, 100000) on 784 inputs make 10,079,400,000 weights: training needs about 645.1 GB on the driver (4 copies of a 161.3 GB model state), but 17.2 GB are free there; use fewer or smaller hidden layers
    """
    need = state_bytes(spec)
    weights = int(spec.offsets()[0][-1])
    what = f"hidden layers {spec.units[1:-1]} on {spec.units[0]} inputs make {weights:,} weights"
    gb = lambda n: f"{n / 1e9:.1f} GB"  # noqa: E731
    if message_limit is not None and need > message_limit:
        raise ValueError(f"{what}: a model state of {gb(need)} cannot travel between the cloud's processes (message "
                         f"limit {message_limit / 2**20:.0f} MiB, NodeConfig.max_message_bytes); use fewer or smaller "
                         f"hidden layers")
    for where, copies, free in (("the driver", DRIVER_COPIES, driver_free), ("a node", NODE_COPIES, node_free)):
        if need * copies > free:
            raise ValueError(f"{what}: training needs about {gb(need * copies)} on {where} ({copies} copies of a "
                             f"{gb(need)} model state), but {gb(free)} are free there; use fewer or smaller hidden "
                             f"layers")


def init_state(spec: NetSpec, initial_weight_distribution: str | None = None,
               initial_weight_scale: float | None = None, seed: int = 0) -> NetState:
    """H2O's initialisation (``randomizeWeights`` / ``initializeMembers``).

    Each layer has its own RNG seeded from ``seed + 0xBAD5EED + layer + 1`` (numpy PCG64, so the
    numbers differ from Java's but the recipe is H2O's).  UniformAdaptive is Glorot
    ``U(-r, r)``, ``r = sqrt(6/(fan_in+fan_out))``, x4 for a softmax output layer; Uniform is
    ``U(-scale, scale)``; Normal is ``N(0, scale^2)``.  Biases: 0.5 for the first hidden layer and
    1.0 for the others with Rectifier/Maxout, 0 for Tanh/ExpRectifier, 0 for the output layer.
    The distribution and scale are checked, and default (None), as the parameters of the same names.

    >>> init_state(NetSpec((4, 3, 1), "Tanh", "linear"), "Normal", 0.1, seed=7).b.tolist()
    [0.0, 0.0, 0.0, 0.0]
    """
    initial_weight_distribution = PARAMS.convert("initial_weight_distribution", initial_weight_distribution)
    initial_weight_scale = PARAMS.convert("initial_weight_scale", initial_weight_scale)
    w_off, b_off = spec.offsets()
    n_w, n_b = int(w_off[-1]), int(b_off[-1])
    w = np.empty(n_w, dtype=np.float32)
    b = np.zeros(n_b, dtype=np.float64)
    for l in range(spec.n_layers):
        rng = np.random.default_rng((int(seed) + 0xBAD5EED + l + 1) % 2**63)
        n = int(w_off[l + 1] - w_off[l])
        if initial_weight_distribution == "UniformAdaptive":
            r = math.sqrt(6.0 / (spec.units[l] + spec.units[l + 1]))
            if l == spec.n_layers - 1 and spec.output == "softmax":
                r *= 4.0
            w[w_off[l]:w_off[l + 1]] = rng.uniform(-r, r, n)
        elif initial_weight_distribution == "Uniform":
            w[w_off[l]:w_off[l + 1]] = rng.uniform(-initial_weight_scale, initial_weight_scale, n)
        else:
            w[w_off[l]:w_off[l + 1]] = rng.normal(0.0, initial_weight_scale, n)
        is_hidden = l < spec.n_layers - 1
        if is_hidden and spec.base_activation in ("Rectifier", "Maxout"):
            b[b_off[l]:b_off[l + 1]] = 0.5 if l == 0 else 1.0
    zw = lambda: np.zeros(n_w, dtype=np.float32)  # noqa: E731
    zb = lambda: np.zeros(n_b, dtype=np.float64)  # noqa: E731
    return NetState(spec, w=w, b=b, w_g2=zw(), w_dx2=zw(), w_v=zw(), b_g2=zb(), b_dx2=zb(), b_v=zb(),
                    avg_act=zb())
