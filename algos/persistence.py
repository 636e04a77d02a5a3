"""Models outside a training run: model files, the model registry, and checkpoint resolution.

``save_model`` writes one self-checking file (no pickle): a fixed prefix naming the format and its
version, a msgpack header (the model's DKV meta, with numpy arrays replaced by references to buffers),
the raw buffers (64-byte aligned), and a BLAKE2b digest of everything before it. ``load_model`` puts the
model back into a cloud under its id; its predictions are bit-identical and it can be a checkpoint.

>>> import algos                                                            # doctest: +SKIP
>>> path = algos.save_model(model, "/tmp/models")      # "/tmp/models/<model id>"  # doctest: +SKIP
>>> same = algos.load_model(path)                                           # doctest: +SKIP
>>> [r["model_id"] for r in algos.list_models()]                            # doctest: +SKIP

File layout (all integers little-endian)::

    0   8 bytes  magic b"AQFMODEL"
    8   u32      file format version (FILE_VERSION)
    12  u32      flags (0)
    16  u64      header length H
    24  H bytes  msgpack header {"format", "version", "model_id", "value_type", "meta", "buffers", ...}
    ... buffers, each at a 64-byte aligned offset listed in header["buffers"] as [dtype, shape, offset]
    end 32 bytes BLAKE2b-256 of every byte before it
"""
from __future__ import annotations

import hashlib
import math
import os
import struct
import time
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

import cluster
from cluster.dkv import Value

from .dl_model import DeepLearningModel, remove_model

__all__ = ["FILE_FORMAT", "FILE_VERSION", "ModelFileError", "save_model", "load_model", "read_model_file",
           "get_model", "list_models", "remove_model", "resolve_checkpoint"]

FILE_FORMAT = "aquifer-model"
FILE_VERSION = 1
MAGIC = b"AQFMODEL"
_PREFIX = struct.Struct("<8sIIQ")          # magic, version, flags, header length
_DIGEST = 32
_ALIGN = 64
_EXT_ARRAY = 1
# numeric dtypes only, as on the wire: an object dtype could smuggle a pickle
_DTYPES = frozenset(np.dtype(c).str for c in ("?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f4", "f8"))
# the headline metric of each kind in `list_models` (H2O's leaderboard defaults, RMSE for regression)
MAIN_METRIC = {"binomial": "AUC", "multinomial": "logloss", "regression": "RMSE", "autoencoder": "MSE"}


class ModelFileError(ValueError):
    """A model file that cannot be read: not a model file, a newer format, or damaged."""


# ------------------------------------------------------------------------------------------- registry
def get_model(model_id: str, cloud=None) -> DeepLearningModel:
    """The model stored under ``model_id`` (from any node or client of the cloud).

    >>> get_model("DeepLearning_model_1a2b").kind                            # doctest: +SKIP
    'binomial'
    """
    cloud = cloud or cluster.current()
    return DeepLearningModel(model_id, _model_value(model_id, cloud), cloud)


def _model_value(model_id: str, cloud) -> Value:
    if not isinstance(model_id, str) or not model_id:
        raise ValueError(f"model_id must be a non-empty string, got {model_id!r}")
    value = cloud.dkv.get(model_id)
    if value is None:
        raise KeyError(f"no model {model_id!r} in the cloud (algos.list_models() lists them)")
    if value.type != "model":
        raise ValueError(f"key {model_id!r} holds a {value.type}, not a model")
    algo = value.meta.get("algo")
    if algo != "deeplearning":
        raise ValueError(f"model {model_id!r} is a {algo!r} model; only deeplearning models are supported")
    return value


def list_models(cloud=None) -> list[dict]:
    """One row per model in the cloud: id, algo, kind, response, epochs, the kind's main metric on
    training / validation / cross-validation data (None when absent), bytes and home node.

    >>> list_models()[0]["metric"]                                          # doctest: +SKIP
    'AUC'
    """
    from scoring.metrics import metrics_from_dict
    cloud = cloud or cluster.current()
    rows = sorted((r for r in cloud.dkv.keys("") if r["type"] == "model"), key=lambda r: r["key"])
    values = cloud.dkv.get_many([r["key"] for r in rows]) if rows else []
    out = []
    for row, value in zip(rows, values):
        if value is None:                       # removed between the listing and the read
            continue
        m = value.meta
        kind = m.get("kind")
        name = MAIN_METRIC.get(kind)
        scores = {}
        for which in ("train", "valid", "xval"):
            d = (m.get("metrics") or {}).get(which)
            scores[which] = None if d is None or name is None else _finite(metrics_from_dict(d).metric(name))
        out.append({"model_id": row["key"], "algo": m.get("algo"), "kind": kind, "response": m.get("response"),
                    "epochs": _finite(m.get("epochs")), "metric": name, "training": scores["train"],
                    "validation": scores["valid"], "cross_validation": scores["xval"],
                    "bytes": int(row["bytes"]), "home": row.get("home")})
    return out


def _finite(x) -> float | None:
    """A float for JSON: None for missing or non-finite values (JSON has no NaN).

    >>> _finite(float("nan")) is None, _finite(2)
    (True, 2.0)
    """
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def resolve_checkpoint(value: Any, cloud=None) -> DeepLearningModel:
    """The model a ``checkpoint`` parameter names: a model, a trained estimator, or a model id.

    The model is read from ``cloud`` by id, so a checkpoint must be in the cloud that trains (H2O's rule);
    a model file is loaded first with :func:`load_model`.

    >>> resolve_checkpoint("DeepLearning_model_1a2b", cluster.current()).model_id   # doctest: +SKIP
    'DeepLearning_model_1a2b'
    """
    if isinstance(value, DeepLearningModel):
        key = value.model_id
    elif isinstance(value, str):
        key = value
    elif _is_estimator(value):
        model = value.__dict__.get("model")
        if model is None:
            raise ValueError("checkpoint: the estimator given has not been trained (call .train first)")
        key = model.model_id
    else:
        raise ValueError(f"checkpoint must be a model, a trained DeepLearningEstimator or a model id, got "
                         f"{type(value).__name__}")
    try:
        return get_model(key, cloud)
    except KeyError:
        raise ValueError(f"checkpoint model {key!r} is not in the cloud: train it there, or load its file "
                         f"with algos.load_model(path)") from None


# ------------------------------------------------------------------------------------------- files
def save_model(model, path: str | os.PathLike, force: bool = False, cloud=None) -> str:
    """Write ``model`` (a model, a trained estimator or a model id) to a file; return the file's path.

    ``path`` is a directory (an existing one, or one named with a trailing separator: created) to hold a
    file named after the model id, as ``h2o.save_model``; any other path is the file itself. An
    existing file is replaced only with ``force=True`` (else FileExistsError). The model as stored in
    the DKV is written, so later updates to it (metrics added by cross-validation) are included.

    >>> save_model(model, "/tmp/models")                                    # doctest: +SKIP
    '/tmp/models/DeepLearning_model_1a2b'
    """
    model_id, value = _stored(model, cloud)
    target = _target(os.fspath(path), model_id)
    if target.exists() and not force:
        raise FileExistsError(f"{target} exists: pass force=True to overwrite it")
    header, buffers = _encode(model_id, value)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        _write(tmp, header, buffers)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return str(target)


def load_model(path: str | os.PathLike, cloud=None) -> DeepLearningModel:
    """Read a file written by :func:`save_model` and store the model in ``cloud`` under its id
    (replacing a model of the same id, as H2O's ``load_model``).

    Exported weight/bias frames are re-created when the model was trained with
    ``export_weights_and_biases``; frames and models it owned that are not in this cloud are dropped
    from its ownership lists (a file holds the model only).

    >>> load_model("/tmp/models/DeepLearning_model_1a2b").predict(test)     # doctest: +SKIP
    """
    cloud = cloud or cluster.current()
    model_id, value = read_model_file(path)
    from .deeplearning import MODEL_FORMAT
    meta = dict(value.meta)
    if meta.get("algo") != "deeplearning":
        raise ModelFileError(f"{path}: a {meta.get('algo')!r} model; only deeplearning models can be loaded")
    if int(meta.get("format", 1)) > MODEL_FORMAT:
        raise ModelFileError(f"{path}: the model's meta format is version {meta['format']}, this aquifer reads "
                             f"up to version {MODEL_FORMAT}: upgrade aquifer to load it")
    meta["model_id"] = model_id
    exported = bool(meta.get("params", {}).get("export_weights_and_biases"))
    meta["owned_frames"] = [] if exported else [k for k in meta.get("owned_frames", []) if _present(cloud, k)]
    meta["owned_models"] = [k for k in meta.get("owned_models", []) if _present(cloud, k)]
    value = Value("model", meta, value.buffers)
    cloud.dkv.put(model_id, value)
    restored = DeepLearningModel(model_id, value, cloud)
    if exported:
        meta["owned_frames"] = meta["owned_frames"] + restored.export_weights_and_biases()
        cloud.dkv.put(model_id, Value("model", meta, value.buffers))
    return restored


def _present(cloud, key: str) -> bool:
    # a prefix listing, not a get: a get would fetch a whole (cross-validation) model to test its presence
    return any(r["key"] == key for r in cloud.dkv.keys(key))


def read_model_file(path: str | os.PathLike) -> tuple[str, Value]:
    """The model id and DKV value held by a model file, checked (magic, version, digest) but not stored.

    >>> key, value = read_model_file("/tmp/models/DeepLearning_model_1a2b")  # doctest: +SKIP
    """
    path = Path(path)
    if path.is_dir():
        raise ModelFileError(f"{path} is a directory: give the model file's path (save_model returns it)")
    data = np.fromfile(path, dtype=np.uint8)     # an aligned buffer, so the arrays below are aligned views
    if data.size < _PREFIX.size or bytes(data[:8]) != MAGIC:
        raise ModelFileError(f"{path} is not an aquifer model file (no {MAGIC!r} magic)")
    _, version, _flags, header_len = _PREFIX.unpack(bytes(data[:_PREFIX.size]))
    if version > FILE_VERSION:
        raise ModelFileError(f"{path} has model file format version {version}; this aquifer reads versions up "
                             f"to {FILE_VERSION}: upgrade aquifer to load it")
    if data.size < _PREFIX.size + header_len + _DIGEST:
        raise ModelFileError(f"{path} is corrupt: truncated ({data.size} bytes, the header alone needs "
                             f"{_PREFIX.size + header_len + _DIGEST})")
    body = memoryview(data)[:data.size - _DIGEST]
    if hashlib.blake2b(body, digest_size=_DIGEST).digest() != bytes(data[data.size - _DIGEST:]):
        raise ModelFileError(f"{path} is corrupt: checksum mismatch (the file was truncated or damaged)")
    try:
        return _decode(data, header_len)
    except ModelFileError:
        raise
    except Exception as exc:        # a file with a valid digest but a broken header: written by a bad tool
        raise ModelFileError(f"{path} is corrupt: {type(exc).__name__}: {exc}") from None


# ------------------------------------------------------------------------------------------- internals
def _is_estimator(obj) -> bool:
    from .deeplearning import DeepLearningEstimator      # late: deeplearning imports this module lazily too
    return isinstance(obj, DeepLearningEstimator)


def _stored(model, cloud) -> tuple[str, Value]:
    if isinstance(model, DeepLearningModel):
        model_id, cloud = model.model_id, cloud or model._cloud
    elif isinstance(model, str):
        model_id = model
    elif _is_estimator(model) and model.__dict__.get("model") is not None:
        model_id, cloud = model.model.model_id, cloud or model.model._cloud
    else:
        raise ValueError(f"save_model needs a model, a trained DeepLearningEstimator or a model id, got "
                         f"{type(model).__name__}")
    return model_id, _model_value(model_id, cloud or cluster.current())


def _target(raw: str, model_id: str) -> Path:
    path = Path(raw)                      # Path drops a trailing separator: test the string for it
    if path.is_dir() or raw.endswith(os.sep) or (os.altsep and raw.endswith(os.altsep)):
        if os.sep in model_id or (os.altsep and os.altsep in model_id) or model_id in (".", ".."):
            raise ValueError(f"model id {model_id!r} cannot name a file: give save_model a file path instead")
        path.mkdir(parents=True, exist_ok=True)
        return path / model_id
    if not path.parent.is_dir():
        raise FileNotFoundError(f"directory {path.parent} does not exist (a path ending in {os.sep!r} "
                                f"names a directory to create)")
    return path


def _encode(model_id: str, value: Value) -> tuple[bytes, list[np.ndarray]]:
    """The msgpack header and the buffers: the value's own, then arrays found inside its meta."""
    arrays = [_checked(np.asarray(b) if not isinstance(b, np.ndarray) else b, f"buffer {i}")
              for i, b in enumerate(value.buffers)]
    n_value_buffers = len(arrays)

    def default(obj):
        if isinstance(obj, np.ndarray):
            arrays.append(_checked(obj, "an array in the model's meta"))
            return msgpack.ExtType(_EXT_ARRAY, struct.pack("<I", len(arrays) - 1))
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, (tuple, set, frozenset)):
            return list(obj)
        raise TypeError(f"cannot save a {type(obj).__name__} in a model file ({obj!r:.60})")

    meta_packed = msgpack.packb(value.meta, default=default, use_bin_type=True, datetime=False)
    offsets, pos = [], 0
    for a in arrays:
        offsets.append(pos)
        pos += _pad(a.nbytes)
    header = {"format": FILE_FORMAT, "version": FILE_VERSION, "model_id": model_id, "value_type": value.type,
              "value_buffers": n_value_buffers, "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "numpy": np.__version__, "meta": meta_packed,
              "buffers": [[a.dtype.str, list(a.shape), off] for a, off in zip(arrays, offsets)]}
    return msgpack.packb(header, use_bin_type=True), arrays


def _checked(a: np.ndarray, what: str) -> np.ndarray:
    if a.dtype.str not in _DTYPES:
        raise TypeError(f"{what} has dtype {a.dtype}: only numeric arrays can be saved")
    return np.ascontiguousarray(a)


def _pad(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def _data_start(header_len: int) -> int:
    return _pad(_PREFIX.size + header_len)


def _write(path: Path, header: bytes, arrays: list[np.ndarray]) -> None:
    h = hashlib.blake2b(digest_size=_DIGEST)
    with open(path, "wb") as f:
        def put(chunk) -> None:
            h.update(chunk)
            f.write(chunk)

        put(_PREFIX.pack(MAGIC, FILE_VERSION, 0, len(header)))
        put(header)
        put(b"\0" * (_data_start(len(header)) - _PREFIX.size - len(header)))
        for a in arrays:
            put(memoryview(a).cast("B") if a.size else b"")
            put(b"\0" * (_pad(a.nbytes) - a.nbytes))
        f.write(h.digest())
        f.flush()
        os.fsync(f.fileno())


def _decode(data: np.ndarray, header_len: int) -> tuple[str, Value]:
    header = msgpack.unpackb(bytes(data[_PREFIX.size:_PREFIX.size + header_len]), raw=False,
                             strict_map_key=False, ext_hook=_no_ext)
    if not isinstance(header, dict) or header.get("format") != FILE_FORMAT:
        raise ModelFileError(f"header names format {header.get('format') if isinstance(header, dict) else None!r},"
                             f" expected {FILE_FORMAT!r}")
    start, end = _data_start(header_len), data.size - _DIGEST
    arrays = []
    for i, (dt, shape, off) in enumerate(header["buffers"]):
        if dt not in _DTYPES:
            raise ModelFileError(f"buffer {i} has dtype {dt!r}: only numeric dtypes are allowed")
        dtype = np.dtype(dt)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        lo = start + int(off)
        if off < 0 or lo + nbytes > end:
            raise ModelFileError(f"buffer {i} ({nbytes} bytes at {off}) lies outside the file")
        arrays.append(data[lo:lo + nbytes].view(dtype).reshape(shape))

    def ext_hook(code, payload):
        if code != _EXT_ARRAY or len(payload) != 4:
            raise ModelFileError(f"unknown msgpack extension {code} in the model's meta")
        idx = struct.unpack("<I", payload)[0]
        if idx >= len(arrays):
            raise ModelFileError(f"array reference {idx} out of range ({len(arrays)} buffers)")
        return arrays[idx]

    meta = msgpack.unpackb(header["meta"], raw=False, strict_map_key=False, ext_hook=ext_hook)
    n = int(header["value_buffers"])
    return header["model_id"], Value(header["value_type"], meta, tuple(arrays[:n]))


def _no_ext(code, payload):
    raise ModelFileError(f"msgpack extension {code} is not allowed in a model file header")
