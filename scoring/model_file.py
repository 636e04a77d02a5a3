"""The portable model file: one versioned zip of JSON metadata and ``.npy`` arrays (no pickle anywhere).

Layout of the zip (every member stored as written; ``model.json`` deflated)::

    model.json             {"format": "aquifer-portable-model", "format_version": 1, ...,
                            "arrays": {name: {"dtype": "<f4", "shape": [...], "sha256": hex}}}
    arrays/<name>.npy      one numpy .npy file per array (numeric dtypes only; read with allow_pickle=False)

``model.json`` is strict JSON (no NaN/Infinity: non-finite numbers live in the arrays). The arrays table names
every array with its dtype, shape and SHA-256, so a damaged, truncated or edited file is refused before any
number is used. A reader refuses a ``format_version`` newer than :data:`FORMAT_VERSION` with a message that says
so: an old scorer never guesses at a newer layout. What the metadata holds is checked by
:class:`scoring.portable.PortableModel`; this module is only the container.

>>> import io, numpy as np
>>> buf = io.BytesIO()
>>> write_model_file(buf, {"model_id": "m"}, {"w": np.arange(3, dtype=np.float32)})
>>> meta, arrays = read_model_file(io.BytesIO(buf.getvalue()))
>>> meta["model_id"], arrays["w"].tolist()
('m', [0.0, 1.0, 2.0])
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
import zipfile
from pathlib import Path
from typing import IO, Any, Mapping

import numpy as np

FORMAT = "aquifer-portable-model"
FORMAT_VERSION = 1
META_MEMBER = "model.json"
ARRAY_DIR = "arrays/"
DTYPES = ("<f4", "<f8", "<i4", "<i8")             # what a model file may hold: plain little-endian numbers
MAX_META_BYTES = 256 << 20                          # a larger model.json is not ours (e.g. a zip bomb)
_NAME = re.compile(r"^[A-Za-z0-9_.]{1,100}$")
_DATE = (2020, 1, 1, 0, 0, 0)                       # fixed member dates: one model, one byte-identical file


class ModelFormatError(ValueError):
    """A portable model file that cannot be used: not one, damaged or truncated, or of a newer format version."""


def write_model_file(path: str | os.PathLike | IO[bytes], meta: Mapping[str, Any],
                     arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``meta`` (JSON-safe, finite numbers) and ``arrays`` (:data:`DTYPES`) as a portable model file.

    ``format``, ``format_version`` and ``arrays`` are filled in here. A path is written to a temporary file in the
    same directory and renamed, so a reader never sees half a file.
    """
    if any(k in meta for k in ("format", "format_version", "arrays")):
        raise ValueError("meta must not set 'format', 'format_version' or 'arrays' (the writer owns them)")
    members, table = [], {}
    for name, arr in arrays.items():
        arr = np.asarray(arr)
        if not _NAME.match(name):
            raise ValueError(f"array name {name!r} must be 1-100 characters of A-Z a-z 0-9 _ .")
        if arr.dtype.newbyteorder("<").str not in DTYPES:
            raise ValueError(f"array {name!r}: dtype {arr.dtype} is not one of {DTYPES}")
        arr = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
        buf = io.BytesIO()
        np.lib.format.write_array(buf, arr, allow_pickle=False)
        data = buf.getvalue()
        table[name] = {"dtype": arr.dtype.str, "shape": list(arr.shape), "sha256": hashlib.sha256(data).hexdigest()}
        members.append((f"{ARRAY_DIR}{name}.npy", data))
    doc = {"format": FORMAT, "format_version": FORMAT_VERSION, **meta, "arrays": table}
    try:
        text = json.dumps(doc, allow_nan=False, ensure_ascii=False, indent=1)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"model metadata is not strict JSON: {exc}") from None
    if isinstance(path, (str, os.PathLike)):
        path = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                _write_zip(fh, text, members)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    else:
        _write_zip(path, text, members)


def _write_zip(fh: IO[bytes], text: str, members: list[tuple[str, bytes]]) -> None:
    with zipfile.ZipFile(fh, "w") as zf:
        zf.writestr(zipfile.ZipInfo(META_MEMBER, _DATE), text.encode("utf-8"), compress_type=zipfile.ZIP_DEFLATED)
        for name, data in members:
            zf.writestr(zipfile.ZipInfo(name, _DATE), data, compress_type=zipfile.ZIP_STORED)


def read_model_file(path: str | os.PathLike | IO[bytes]) -> tuple[dict, dict[str, np.ndarray]]:
    """``(meta, arrays)`` of a portable model file, checked; raises :class:`ModelFormatError` naming the problem."""
    where = str(path) if isinstance(path, (str, os.PathLike)) else "the model file"
    try:
        with zipfile.ZipFile(path) as zf:
            return _read(zf, where)
    except ModelFormatError:
        raise
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, KeyError) as exc:
        raise ModelFormatError(f"{where} is not a readable portable model file (a zip): it is damaged or truncated "
                               f"({exc})") from None


def _read(zf: zipfile.ZipFile, where: str) -> tuple[dict, dict[str, np.ndarray]]:
    infos = {i.filename: i for i in zf.infolist()}
    if META_MEMBER not in infos:
        raise ModelFormatError(f"{where} has no {META_MEMBER}: not an aquifer portable model file")
    if infos[META_MEMBER].file_size > MAX_META_BYTES:
        raise ModelFormatError(f"{where}: {META_MEMBER} claims {infos[META_MEMBER].file_size} bytes (over "
                               f"{MAX_META_BYTES}): not an aquifer portable model file")
    try:
        meta = json.loads(zf.read(META_MEMBER).decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise ModelFormatError(f"{where}: {META_MEMBER} is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ModelFormatError(f"{where} is not an aquifer portable model file (format {got!r}, expected {FORMAT!r})")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFormatError(f"{where}: format_version must be a positive integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFormatError(f"{where} was written in portable model format version {version}; this scorer reads "
                               f"versions up to {FORMAT_VERSION}: score it with a newer aquifer (scoring package)")
    table = meta.get("arrays")
    if not isinstance(table, dict):
        raise ModelFormatError(f"{where}: {META_MEMBER} has no 'arrays' table")
    expected = {META_MEMBER} | {f"{ARRAY_DIR}{n}.npy" for n in table}
    extra = sorted(set(infos) - expected)
    if extra:
        raise ModelFormatError(f"{where} holds members the metadata does not list: {extra[:5]}")
    arrays = {}
    for name, spec in table.items():
        arrays[name] = _read_array(zf, infos, name, spec, where)
    return meta, arrays


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not strict JSON")


def _read_array(zf: zipfile.ZipFile, infos: dict, name: str, spec: Any, where: str) -> np.ndarray:
    member = f"{ARRAY_DIR}{name}.npy"
    if not _NAME.match(str(name)) or not isinstance(spec, dict):
        raise ModelFormatError(f"{where}: bad entry {name!r} in the arrays table")
    if member not in infos:
        raise ModelFormatError(f"{where} lacks the array {name!r} ({member}) that its metadata lists")
    dtype, shape, digest = spec.get("dtype"), spec.get("shape"), spec.get("sha256")
    if dtype not in DTYPES or not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape):
        raise ModelFormatError(f"{where}: array {name!r} has dtype {dtype!r} shape {shape!r} (allowed dtypes {DTYPES})")
    want = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    if infos[member].file_size > want + 4096:
        raise ModelFormatError(f"{where}: array {name!r} claims {infos[member].file_size} bytes for {want} bytes of data")
    data = zf.read(member)                       # checks the member's CRC-32
    if hashlib.sha256(data).hexdigest() != digest:
        raise ModelFormatError(f"{where}: array {name!r} does not match its SHA-256: the file is damaged")
    try:
        arr = np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        raise ModelFormatError(f"{where}: array {name!r} is not a plain .npy array ({exc})") from None
    if arr.dtype.str != dtype or list(arr.shape) != shape:
        raise ModelFormatError(f"{where}: array {name!r} is {arr.dtype.str} {list(arr.shape)}, its metadata says "
                               f"{dtype} {shape}")
    return arr
