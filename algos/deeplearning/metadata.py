"""The fields a Deep Learning model stores, declared once: :class:`DeepLearningMetadata` and its format version.

A model value's meta (and a model file's) is :meth:`DeepLearningMetadata.to_meta`; the buffers are the network's
state arrays named by ``array_names`` (:data:`~algos.deeplearning.network.STATE_ARRAYS`).

Format history (:data:`MODEL_FORMAT`):

1. the first format.
2. ``params`` records ``thread_mode`` and ``block_momentum`` (they were environment variables). A format-1 meta
   is read as what those variables' defaults gave: ``thread_mode`` ``sequential`` for reproducible runs, else
   ``team`` (``mini_batch_size`` 1) or ``replicas``, and ``block_momentum`` True.
3. ``partial``: why the model is the last completed iteration of a run that did not finish (cancelled, a lost
   member holding data, a checkpoint file written while training); empty for a finished run (older formats).

>>> upgraded = upgrade_params({"reproducible": False, "mini_batch_size": 16}, 1)
>>> upgraded["thread_mode"], upgraded["block_momentum"]
('replicas', True)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..model import ModelMetadata
from .parameters import PARAMS

MODEL_FORMAT = 3
ALGO = "deeplearning"
MODEL_PREFIX = "DeepLearning"        # generated model ids: DeepLearning_model_<hex> (H2O's)


def upgrade_params(params: Mapping[str, Any], fmt: int) -> dict:
    """A model's effective parameters as the current format records them (see the module docstring)."""
    p = dict(params)
    if fmt < 2:
        if p.get("reproducible"):
            mode = "sequential"
        else:
            mode = "team" if p.get("mini_batch_size", 1) == 1 else "replicas"
        p.setdefault("thread_mode", mode)
        p.setdefault("block_momentum", True)
    return p


def recorded_params(params: Mapping[str, Any]) -> dict:
    """A model's parameters, with those it does not record at their defaults: a parameter added to the table after
    the model was written (``h2o_quirks``, ``export_checkpoints_dir`` in format-1 files) trained as its default
    says."""
    return {**PARAMS.defaults(), **params}


@dataclass(kw_only=True)
class DeepLearningMetadata(ModelMetadata):
    """A Deep Learning model's fields: those of every model plus its encoding, network and training counts."""
    info: dict                      # the input encoding (DataInfo.to_state())
    spec: dict                      # the network (NetSpec.to_dict())
    samples: float                  # training samples seen
    iterations: int                 # map/reduce iterations
    epochs: float                   # epochs trained (samples / training rows)
    threshold: float                # binomial: the label threshold (max F1); 0.5 otherwise
    priors: np.ndarray | None       # balance_classes: (prior, model class distribution), else None
    huber_delta: float              # the fitted Huber delta (distribution huber; 1.0 otherwise)
    stop_reason: str                # why training stopped early ("" when it ran its epochs)
    partial: str = ""               # set when the run did not finish: what stopped it, which iteration this is

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> "DeepLearningMetadata":
        """Read a meta dict of this or an older format (upgraded: see the module docstring)."""
        fmt = int(meta.get("format", 1)) if isinstance(meta, Mapping) else MODEL_FORMAT
        if fmt < MODEL_FORMAT:
            meta = {**meta, "format": MODEL_FORMAT, "params": upgrade_params(meta.get("params", {}), fmt)}
        if isinstance(meta, Mapping) and isinstance(meta.get("params"), Mapping):
            meta = {**meta, "params": recorded_params(meta["params"])}
        return super().from_meta(meta)
