"""Model files: ``save_model`` and ``load_model`` for any registered algorithm (the registry is :mod:`algos.registry`).

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
import os
import struct
import time
from pathlib import Path

import msgpack
import numpy as np

import cluster
from cluster.dkv import Value
from frame.store import has_control_characters

from .model import Model
from .registry import algorithms, builder_for, check_model_key, model_value

__all__ = ["FILE_FORMAT", "FILE_VERSION", "ModelFileError", "save_model", "load_model", "read_model_file",
           "write_model_file"]

FILE_FORMAT = "aquifer-model"
FILE_VERSION = 1
MAGIC = b"AQFMODEL"
_PREFIX = struct.Struct("<8sIIQ")          # magic, version, flags, header length
_DIGEST = 32
_ALIGN = 64
_EXT_ARRAY = 1
# numeric dtypes only, as on the wire: an object dtype could smuggle a pickle
_DTYPES = frozenset(np.dtype(c).str for c in ("?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f4", "f8"))


class ModelFileError(ValueError):
    """A model file that cannot be read: not a model file, a newer format, or damaged."""


# ------------------------------------------------------------------------------------------- files
def save_model(model, path: str | os.PathLike = "", force: bool = False,
               export_cross_validation_predictions: bool = False, filename: str | None = None, *, cloud=None) -> str:
    """Write ``model`` (a model, a trained estimator or a model id) to the file ``<path>/<model id>``, or
    ``<path>/<filename>``, and return that file's full path, as ``h2o.save_model`` (same arguments).

    ``path`` is always a directory, created with its parents when missing; ``""`` (the default) is the current
    directory, and ``~`` is expanded. An existing file is replaced only with ``force=True`` (else
    ``FileExistsError`` naming it); a path that is a file, not a directory, is refused. ``filename`` names the file:
    not empty, no path separator, no control characters, not ``.`` or ``..``; without it the model id does, so a
    model id that cannot name a file (one holding a separator) needs ``filename``. The returned path is absolute,
    with symbolic links resolved (H2O's canonical path): give it to :func:`load_model`. The model as stored in the
    DKV is written, so later updates to it (metrics added by cross-validation) are included.

    ``export_cross_validation_predictions=True`` asks H2O to put the cross-validation holdout prediction frames in
    the file too; aquifer's model files hold the model alone, so it is refused for a model that kept such frames
    (it changes nothing for a model that kept none, as in H2O).

    >>> save_model(model, "/tmp/models")                                    # doctest: +SKIP
    '/tmp/models/DeepLearning_model_1a2b'
    >>> [save_model(m, "/tmp/grid_models/") for m in grid.models]           # doctest: +SKIP
    ['/tmp/grid_models/dl_grid_model_1', '/tmp/grid_models/dl_grid_model_2']
    >>> save_model(model, "/tmp/models", filename="best.model", force=True)  # doctest: +SKIP
    '/tmp/models/best.model'
    """
    if not isinstance(force, bool):
        raise TypeError(f"save_model: force must be True or False, got {force!r:.60}")
    if not isinstance(export_cross_validation_predictions, bool):
        raise TypeError(f"save_model: export_cross_validation_predictions must be True or False, got "
                        f"{export_cross_validation_predictions!r:.60}")
    folder = _folder(path)
    if filename is not None:
        _check_file_name(filename, "filename")
    model_id, value = _stored(model, cloud)
    cv = value.meta.get("cv") if isinstance(value.meta, dict) else None
    if export_cross_validation_predictions and isinstance(cv, dict) and \
            (cv.get("predictions") or cv.get("holdout_predictions")):
        raise ValueError(f"save_model: export_cross_validation_predictions=True: aquifer's model files hold the model "
                         f"alone, not the cross-validation prediction frames {model_id} kept; save them as data "
                         f"(model.cross_validation_holdout_predictions().as_pandas()) and the model with "
                         f"export_cross_validation_predictions=False")
    return write_model_file(model_id, value, folder, force, filename)


def write_model_file(model_id: str, value: Value, path: str | os.PathLike, force: bool = False,
                     filename: str | None = None) -> str:
    """Write a model's DKV value (``Value("model", meta, buffers)``) to ``<path>/<model id>`` (or
    ``<path>/<filename>``) as :func:`save_model` does, whether or not it is stored in a cloud (training writes its
    checkpoints so); returns the file's full path. ``path`` is a directory, created when missing. The file is
    replaced atomically: a reader sees the old file or the new one, never half of one."""
    folder = _folder(path)
    name = _check_file_name(filename, "filename") if filename is not None else \
        _check_file_name(model_id, "model id", ": it cannot name the file, pass filename=")
    target = folder / name
    if target.is_dir():
        raise IsADirectoryError(f"{target} is a directory: pass filename= to name the model file")
    if target.exists() and not force:
        raise FileExistsError(f"{target} exists: pass force=True to overwrite it")
    folder.mkdir(parents=True, exist_ok=True)
    header, buffers = _encode(model_id, value)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        _write(tmp, header, buffers)
        os.replace(tmp, target)
    except OSError as exc:          # a full disk said only "[Errno 28] No space left on device": name the file
        raise type(exc)(exc.errno, f"cannot write model file {target}: {exc.strerror}") from exc
    finally:
        if tmp.exists():
            tmp.unlink()
    return os.path.realpath(target)


def load_model(path: str | os.PathLike, cloud=None) -> Model:
    """Read a file written by :func:`save_model` and store the model in ``cloud`` under its id
    (replacing a model of the same id, as H2O's ``load_model``).

    The loaded model owns only what the load stores: the file holds the model alone, so the frames and models its
    meta says it owned are dropped from its ownership lists (adopting keys of the same names already in the cloud
    would let a crafted file make ``remove_model`` delete them); what the model exports into frames (Deep
    Learning's ``export_weights_and_biases``) is made again, and owned. A model id that is the key of a frame
    (any value but a model) is refused.

    >>> load_model("/tmp/models/DeepLearning_model_1a2b").predict(test)     # doctest: +SKIP
    """
    cloud = cloud or cluster.current()
    model_id, value = read_model_file(path)
    if not isinstance(model_id, str) or not model_id or value.type != "model" or not isinstance(value.meta, dict):
        raise ModelFileError(f"{path}: not a model (model id {model_id!r:.60}, value type {value.type!r:.20}, meta "
                             f"{type(value.meta).__name__})")
    algo = value.meta.get("algo")
    if algo not in algorithms():
        raise ModelFileError(f"{path}: a {algo!r} model; this aquifer loads {', '.join(algorithms())} models")
    cls = builder_for(algo).model_class
    fmt = value.meta.get("format", 1)
    if not isinstance(fmt, int) or isinstance(fmt, bool):
        raise ModelFileError(f"{path}: model meta field 'format' must be int, got {fmt!r:.40}")
    if fmt > cls.MODEL_FORMAT:
        raise ModelFileError(f"{path}: the model's meta format is version {fmt}, this aquifer reads "
                             f"up to version {cls.MODEL_FORMAT}: upgrade aquifer to load it")
    try:
        meta = cls.Metadata.from_meta(value.meta)         # checks every field (and reads older formats)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    meta.model_id = model_id
    meta.owned_frames, meta.owned_models = [], []
    try:
        check_model_key(model_id, cloud, what=f"{path}: the model id")
    except ValueError as exc:
        raise ModelFileError(str(exc)) from None
    value = Value("model", meta.to_meta(), value.buffers)
    restored = cls(model_id, value, cloud)
    try:
        restored.validate()                               # before it is stored: a bad file changes nothing
    except ValueError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    cloud.dkv.put(model_id, value)
    restored.restore_exports()
    return restored


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
def _stored(model, cloud) -> tuple[str, Value]:
    trained = model.__dict__.get("model") if hasattr(type(model), "builder") else None    # a trained estimator
    if isinstance(trained, Model):
        model = trained
    if isinstance(model, Model):
        model_id, cloud = model.model_id, cloud or model.cloud
    elif isinstance(model, str):
        model_id = model
    else:
        raise ValueError(f"save_model needs a model, a trained estimator or a model id, got "
                         f"{type(model).__name__}")
    return model_id, model_value(model_id, cloud or cluster.current())


def _folder(path) -> Path:
    """The directory ``path`` names (``""``: the current one); refused when it is a file."""
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"save_model: path must be a directory's path (a str or os.PathLike), got "
                        f"{type(path).__name__} {path!r:.60}")
    folder = Path(os.path.expanduser(path)) if path else Path.cwd()
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder} is a file, not a directory: save_model writes the file <path>/<model id> "
                                 f"(as h2o.save_model); give the directory as path, and filename= to name the file")
    return folder


def _check_file_name(name, what: str, hint: str = "") -> str:
    """``name`` if it can name a file inside a directory, else ValueError (TypeError) naming ``what`` and why."""
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str, got {type(name).__name__} {name!r:.60}")
    seps = [s for s in ("/", os.sep, os.altsep) if s]
    why = "is empty" if not name else \
        "holds a path separator (give the directory as path)" if any(s in name for s in seps) else \
        "is not a file name" if name in (".", "..") else \
        "holds control characters" if has_control_characters(name) else None
    if why:
        raise ValueError(f"{what} {name!r:.80} {why}{hint}")
    return name


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
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape) \
                or not isinstance(off, int):
            raise ModelFileError(f"buffer {i} has shape {shape!r:.60} at offset {off!r:.20}: non-negative ints "
                                 f"expected")
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
