"""Which algorithms this process knows, and the models in the cloud: get, list, remove, resolve a checkpoint.

An algorithm registers its :class:`~algos.builder.ModelBuilder` once (``register``; Deep Learning does it when
``algos.deeplearning`` is imported). A stored model names its algorithm (``meta.algo``), which picks the class
that reads it.

>>> sorted(algorithms())                                                    # doctest: +SKIP
['deeplearning']
>>> get_model("DeepLearning_model_1a2b").kind                                # doctest: +SKIP
'binomial'
"""
from __future__ import annotations

import math
import warnings
from typing import Any

import cluster
import frame
from cluster.dkv import Value
from frame.store import has_control_characters
from scoring.metrics import metrics_from_dict

from .model import Model, ModelMetadata

_BUILDERS: dict[str, Any] = {}
# the headline metric of each kind in `list_models` (H2O's leaderboard defaults, RMSE for regression)
MAIN_METRIC = {"binomial": "AUC", "multinomial": "logloss", "regression": "RMSE", "autoencoder": "MSE"}


def register(builder):
    """Make an algorithm's models readable by ``get_model``/``load_model`` and its grids by ``get_grid``."""
    if not builder.algo or not issubclass(builder.model_class, Model):
        raise ValueError(f"a model builder needs an algo name and a Model subclass, got {builder!r}")
    _BUILDERS[builder.algo] = builder
    return builder


def algorithms() -> list[str]:
    """The algorithms this process knows."""
    return list(_BUILDERS)


def builder_for(algo: str):
    """The registered builder of ``algo`` (ValueError naming the known ones otherwise)."""
    builder = _BUILDERS.get(algo)
    if builder is None:
        raise ValueError(f"{algo!r} models are not known here (known: {', '.join(_BUILDERS) or 'none'}); import the "
                         f"module that registers the algorithm")
    return builder


def model_value(model_id: str, cloud) -> Value:
    """The DKV value of a stored model (KeyError when absent, ValueError for another kind of key)."""
    if not isinstance(model_id, str) or not model_id:
        raise ValueError(f"model_id must be a non-empty string, got {model_id!r}")
    value = cloud.dkv.get(model_id)
    if value is None:
        err = cloud.dkv.missing(model_id, "model")
        if isinstance(err, KeyError):
            err = KeyError(f"no model {model_id!r} in the cloud (algos.list_models() lists them)")
        raise err
    if value.type != "model":
        raise ValueError(f"key {model_id!r} holds a {value.type}, not a model")
    return value


def check_model_key(model_id: str, cloud, what: str = "model_id") -> None:
    """Refuse to store a model under a key that holds another kind of value (a frame): storing it would replace
    that value (H2O: "expected a value of type Model; found a Frame"). A free key, or one holding a model (replaced,
    as H2O's ``load_model`` and training do), is fine.

    Control characters are refused too: a model id names files (checkpoints, downloads), one line of which it
    would otherwise choose."""
    if has_control_characters(model_id):
        raise ValueError(f"{what} {model_id!r} holds control characters: choose a model id without them")
    found = cloud.dkv.type_of(model_id)
    if found not in (None, "model"):
        raise ValueError(f"{what} {model_id!r} is the key of a {found}: expected a value of type Model; found a "
                         f"{found.capitalize()} (choose another model id, or remove the {found} first)")


def get_model(model_id: str, cloud=None) -> Model:
    """The model stored under ``model_id`` (from any node or client of the cloud), as its algorithm's class.

    >>> get_model("DeepLearning_model_1a2b").kind                            # doctest: +SKIP
    'binomial'
    """
    cloud = cloud or cluster.current()
    value = model_value(model_id, cloud)
    return builder_for(value.meta.get("algo")).model_class(model_id, value, cloud)


def list_models(cloud=None) -> list[dict]:
    """One row per model in the cloud: id, algo, kind, response, epochs (None for algorithms without), the kind's
    main metric on training / validation / cross-validation data (None when absent), bytes and home node.

    >>> list_models()[0]["metric"]                                          # doctest: +SKIP
    'AUC'
    """
    cloud = cloud or cluster.current()
    lost = cloud.lost_members()
    if lost:
        warnings.warn(f"member(s) {', '.join(lost)} were lost with models they alone held: those are not listed "
                      f"(replication {cloud.status()['replication']['factor']})", UserWarning, stacklevel=2)
    rows = sorted((r for r in cloud.dkv.keys("") if r["type"] == "model"), key=lambda r: r["key"])
    values = cloud.dkv.get_many([r["key"] for r in rows]) if rows else []
    out = []
    for row, value in zip(rows, values):
        if value is None:                       # removed between the listing and the read
            continue
        m = _metadata(value)
        name = MAIN_METRIC.get(m.kind)
        scores = {}
        for which in ("train", "valid", "xval"):
            d = m.metrics.get(which)
            scores[which] = None if d is None or name is None else _finite(metrics_from_dict(d).metric(name))
        out.append({"model_id": row["key"], "algo": m.algo, "kind": m.kind, "response": m.response,
                    "epochs": _finite(getattr(m, "epochs", None)), "metric": name, "training": scores["train"],
                    "validation": scores["valid"], "cross_validation": scores["xval"],
                    "bytes": int(row["bytes"]), "home": row.get("home")})
    return out


def _metadata(value: Value) -> ModelMetadata:
    builder = _BUILDERS.get(value.meta.get("algo"))
    return builder.model_class.Metadata.from_meta(value.meta) if builder else ModelMetadata.common_of(value.meta)


def _finite(x) -> float | None:
    """A float for JSON: None for missing or non-finite values (JSON has no NaN).

    >>> _finite(float("nan")) is None, _finite(2)
    (True, 2.0)
    """
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def remove_model(model_id: str, cloud=None) -> None:
    """Delete a model and everything it owns (exported weight frames, CV models and predictions)."""
    cloud = cloud or cluster.current()
    value = cloud.dkv.get(model_id)
    if value is None or value.type != "model":
        raise KeyError(f"no model {model_id!r} in the cloud")
    meta = ModelMetadata.common_of(value.meta)
    for key in meta.owned_frames:
        try:
            frame.remove(key, cloud=cloud)
        except KeyError:
            pass
    for key in meta.owned_models:
        try:
            remove_model(key, cloud=cloud)
        except KeyError:
            pass
    cloud.dkv.delete(model_id)


def resolve_checkpoint(value: Any, cloud=None) -> Model:
    """The model a ``checkpoint`` parameter names: a model, a trained estimator, or a model id.

    The model is read from ``cloud`` by id, so a checkpoint must be in the cloud that trains (H2O's rule);
    a model file is loaded first with :func:`algos.load_model`.

    >>> resolve_checkpoint("DeepLearning_model_1a2b", cluster.current()).model_id   # doctest: +SKIP
    'DeepLearning_model_1a2b'
    """
    if isinstance(value, Model):
        key = value.model_id
    elif isinstance(value, str):
        key = value
    elif hasattr(type(value), "builder"):       # an estimator
        model = value.__dict__.get("model")
        if model is None:
            raise ValueError("checkpoint: the estimator given has not been trained (call .train first)")
        key = model.model_id
    else:
        raise ValueError(f"checkpoint must be a model, a trained estimator or a model id, got "
                         f"{type(value).__name__}")
    try:
        return get_model(key, cloud)
    except KeyError:
        raise ValueError(f"checkpoint model {key!r} is not in the cloud: train it there, or load its file "
                         f"with algos.load_model(path)") from None
