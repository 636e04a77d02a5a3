"""Chunk codecs: encode one column chunk into compact bytes and decode it back.

A chunk is one column's rows ``[start, start + n)``. ``encode`` picks a codec from the data,
following H2O's ``NewChunk.compress`` decision tree (constant, sparse, narrow integers with a
bias, scaled decimals, float32 where exact, raw float64/int64, categorical codes), then
LZ4-compresses the payload when that pays. Every float64 round-trips bit-exactly (NaN payloads,
+-inf, -0.0, subnormals) and every int64 too (extremes included).

Payload layout: a codec's payload is a list of sections (numpy arrays or bytes), each padded to
8 bytes so that decoding views stay aligned. ``meta`` says how to read them. The sparse codecs
hold an index section followed by the sections of a dense codec for the stored values, whose
meta keys are kept in the outer meta with a ``v_`` prefix (meta stays flat and msgpack-safe).

NA conventions: float input uses NaN; integer input takes a separate bool mask ``na`` and
decodes NA rows as 0 (use ``decode_na``); categorical codes use -1. ``decode_float64`` always
gives NaN at NA.

>>> enc = encode(np.array([1.5, 2.25, np.nan] + [0.75] * 8))
>>> enc.codec, decode(enc).tolist()[:3]
('dec', [1.5, 2.25, nan])
>>> decode_float64(encode(np.array([3, 0, 7]), na=np.array([False, True, False]))).tolist()
[3.0, nan, 7.0]
"""
from __future__ import annotations

import ctypes
import functools
import math
import sys
import threading
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import lz4.block
import numpy as np
from llvmlite import ir
from numba import carray, njit, types
from numba.core import cgutils
from numba.extending import intrinsic

CODECS: tuple[str, ...] = (
    "const",      # one value (or all NA) in meta, no payload
    "int",        # integers (or integral floats) minus a bias, in 1/2/4 unsigned bytes
    "dec",        # decimals m * 10**-digits, m stored like "int"
    "f4",         # float32, only when the float64 round trip is bit-exact
    "f8",         # raw float64
    "i8",         # raw int64, NA as a value absent from the chunk
    "sparse",     # H2O's CX chunks: row ids of the non-fill rows + their values
    "bitsparse",  # one bit per row (fill or not) + the non-fill values
    "cat",        # categorical level codes, narrowest unsigned width, NA = all ones
    "str",        # UTF-8 strings: end offsets + bytes
)

HEADER_BYTES = 40  # rough size of codec/nrows/meta once msgpack'ed, counted in nbytes

_CANON_NAN_BITS = int(np.array(np.nan).view(np.uint64))  # 0x7FF8000000000000
_NEG_ZERO_BITS = 1 << 63
_UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32}
_MAX_ROWS = 2**32 - 1          # row ids of the sparse codec are at most uint32
_EXACT = 2**53                 # integers up to here are exact in float64
_MAX_DIGITS = 15               # 10.0**k is exact for k <= 22; 15 keeps m within 2**53 for |v| < 10
_POW10 = 10.0 ** np.arange(1, _MAX_DIGITS + 1)
_DEC_LIMIT = _EXACT / _POW10    # largest |v| usable with k digits (decreasing in k)
_SAMPLE = 64                   # values looked at before a full integral/decimal check
_LZ4_MIN = 64                  # smaller payloads are never worth a compressor header
_LZ4_RATIO = 0.8               # keep LZ4 only when it saves at least 20 %
_LZ4_SAMPLE_OVER = 1 << 16     # above this, try a sample first (as dask's maybe_compress)
_LZ4_SAMPLE_PIECES = 8
_LZ4_SAMPLE_PIECE = 2048
_LZ4_SAMPLE_RATIO = 0.9
_KINDS = ("f", "i", "c")       # float64 / integer / categorical input

# (codec, meta, payload sections) before packing and LZ4
_Encoded = tuple[str, dict[str, Any], list[Any]]
_DenseOf = Callable[[np.ndarray], _Encoded]  # encodes the rows selected by a mask or row ids


@dataclass(frozen=True)
class EncodedChunk:
    """One encoded column chunk.

    >>> e = encode(np.zeros(1000))
    >>> (e.codec, e.nrows, e.nbytes <= 8 * 1000)
    ('const', 1000, True)
    """

    codec: str
    nrows: int
    meta: dict[str, Any]
    data: bytes

    def __post_init__(self) -> None:
        if self.codec not in CODECS:
            raise ValueError(f"unknown codec {self.codec!r}; expected one of {CODECS}")
        if not isinstance(self.nrows, int) or isinstance(self.nrows, bool) or not 0 <= self.nrows <= _MAX_ROWS:
            raise ValueError(f"nrows must be an int in [0, {_MAX_ROWS}], got {self.nrows!r}")
        if not isinstance(self.meta, dict):
            raise ValueError(f"meta must be a dict, got {type(self.meta).__name__}")
        if not isinstance(self.data, bytes):
            raise ValueError(f"data must be bytes, got {type(self.data).__name__}")

    @property
    def nbytes(self) -> int:
        """Bytes held: payload plus a fixed header estimate (used for frame byte sizes)."""
        return len(self.data) + HEADER_BYTES


# --------------------------------------------------------------------------- payload plumbing

def _pack(sections: Sequence[bytes | np.ndarray]) -> bytes:
    """Concatenate sections, padding each but the last to a multiple of 8 bytes."""
    parts: list[Any] = []
    for i, s in enumerate(sections):
        mv = memoryview(s).cast("B") if isinstance(s, np.ndarray) else s
        parts.append(mv)
        pad = -len(mv) % 8
        if pad and i < len(sections) - 1:
            parts.append(b"\0" * pad)
    return b"".join(parts)


class _Reader:
    """Sequential, bounds-checked reader of the sections written by ``_pack``."""

    def __init__(self, buf: bytes) -> None:
        self._buf = memoryview(buf)
        self._pos = 0

    def _take(self, nbytes: int) -> int:
        start = self._pos + (-self._pos % 8)
        end = start + nbytes
        if nbytes < 0 or end > len(self._buf):
            raise ValueError(f"chunk payload too short: need {end} bytes, have {len(self._buf)}")
        self._pos = end
        return start

    def array(self, dtype: Any, count: int) -> np.ndarray:
        dt = np.dtype(dtype)
        start = self._take(count * dt.itemsize)
        return np.frombuffer(self._buf, dtype=dt, count=count, offset=start)

    def bits(self, count: int) -> np.ndarray:
        """A bool mask of ``count`` rows stored by ``np.packbits``."""
        packed = self.array(np.uint8, (count + 7) // 8)
        return np.unpackbits(packed, count=count).view(bool)

    def raw(self, nbytes: int) -> bytes:
        start = self._take(nbytes)
        return self._buf[start:start + nbytes].tobytes()

    def finish(self) -> None:
        if self._pos != len(self._buf):
            raise ValueError(f"chunk payload has {len(self._buf) - self._pos} unexpected trailing bytes")


def _maybe_lz4(payload: bytes) -> tuple[bytes, int | None]:
    """LZ4 the payload when it saves >= 20 %; returns (data, raw size or None)."""
    n = len(payload)
    if n < _LZ4_MIN:
        return payload, None
    if n > _LZ4_SAMPLE_OVER:
        # Incompressible data (e.g. random doubles) costs a full compress for nothing.
        starts = np.linspace(0, n - _LZ4_SAMPLE_PIECE, _LZ4_SAMPLE_PIECES).astype(int)
        sample = b"".join(payload[s:s + _LZ4_SAMPLE_PIECE] for s in starts)
        if len(lz4.block.compress(sample, store_size=False)) > _LZ4_SAMPLE_RATIO * len(sample):
            return payload, None
    packed = lz4.block.compress(payload, store_size=False)
    if len(packed) <= _LZ4_RATIO * n:
        return packed, n
    return payload, None


def _payload(enc: EncodedChunk) -> bytes:
    raw = enc.meta.get("lz4")
    if raw is None:
        return enc.data
    if not isinstance(raw, int) or not 0 <= raw < 2**31:
        raise ValueError(f"meta['lz4'] must be the raw payload size, got {raw!r}")
    try:
        out = lz4.block.decompress(enc.data, uncompressed_size=raw)
    except lz4.block.LZ4BlockError as e:
        raise ValueError(f"corrupt LZ4 payload in {enc.codec} chunk: {e}") from e
    if len(out) != raw:
        raise ValueError(f"LZ4 payload decompressed to {len(out)} bytes, meta says {raw}")
    return out


def _finish(codec: str, n: int, meta: dict[str, Any], sections: Sequence[bytes | np.ndarray]) -> EncodedChunk:
    data, raw = _maybe_lz4(_pack(sections))
    if raw is not None:
        meta = {**meta, "lz4": raw}
    return EncodedChunk(codec, n, meta, data)


# --------------------------------------------------------------------------- narrow unsigned storage

def _width(rng: int) -> int | None:
    """Narrowest of 1/2/4 bytes whose unsigned range holds 0..rng, None if none does."""
    for w in (1, 2, 4):
        if rng <= 2 ** (8 * w) - 1:
            return w
    return None


def _narrow(offsets: np.ndarray, rng: int, namask: np.ndarray | None) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Store ``offsets`` (value - bias, exact, garbage at NA rows) as unsigned ints.

    NA is the all-ones sentinel of the width unless the data reaches it; then a bit mask follows.
    """
    w = _width(rng)
    assert w is not None, "caller checks the range"
    ut = _UINT[w]
    sentinel = 2 ** (8 * w) - 1
    if offsets.dtype.kind == "f" and namask is not None:
        with np.errstate(invalid="ignore"):   # NaN rows are overwritten below
            stored = offsets.astype(ut)
    else:
        stored = offsets.astype(ut, copy=False)
    if namask is None:
        return {"width": w, "na": "none", "nas": 0}, [stored]
    stored = stored.copy() if stored is offsets else stored
    nas = int(np.count_nonzero(namask))
    if rng < sentinel:
        stored[namask] = sentinel
        return {"width": w, "na": "sentinel", "nas": nas}, [stored]
    stored[namask] = 0
    return {"width": w, "na": "mask", "nas": nas}, [stored, np.packbits(namask)]


def _read_narrow(meta: dict[str, Any], rd: _Reader, n: int) -> tuple[np.ndarray, np.ndarray | None]:
    w = meta["width"]
    if w not in _UINT:
        raise ValueError(f"meta['width'] must be 1, 2 or 4, got {w!r}")
    stored = rd.array(_UINT[w], n)
    mode = meta["na"]
    if mode == "none":
        return stored, None
    if mode == "sentinel":
        return stored, stored == 2 ** (8 * w) - 1
    if mode == "mask":
        return stored, rd.bits(n)
    raise ValueError(f"meta['na'] must be none/sentinel/mask, got {mode!r}")


# --------------------------------------------------------------------------- dense float64 codecs

def _raw_float(v: np.ndarray, nas: int) -> _Encoded:
    """float32 when every bit survives the round trip, else raw float64."""
    # Out-of-range doubles become inf, signalling NaNs get quieted: the bit check rejects both.
    with np.errstate(over="ignore", invalid="ignore"):
        f4 = v.astype(np.float32)
    if np.array_equal(f4.astype(np.float64).view(np.uint64), v.view(np.uint64)):
        return "f4", {"kind": "f", "nas": nas}, [f4]
    return "f8", {"kind": "f", "nas": nas}, [v]


def _sample(v: np.ndarray) -> np.ndarray:
    return v[:: max(1, v.size // _SAMPLE)]


def _try_integral(v: np.ndarray, nanmask: np.ndarray | None, vmin: float, vmax: float) -> _Encoded | None:
    """Integral floats (no -0.0) with a range under 2**32 -> the "int" codec, else None."""
    # floor: with a fraction in vmin the offsets stay >= 0 until the check below rejects them
    bias = math.floor(vmin)
    if not (-_EXACT <= vmin and vmax <= _EXACT) or _width(math.ceil(vmax) - bias) is None:
        return None
    s = _sample(v)
    if not ((np.rint(s) == s) | (s != s)).all():  # cheap reject of non-integral data
        return None
    rng = math.ceil(vmax) - bias
    meta, sections = _narrow(v - float(bias), rng, nanmask)
    # Verify with the decoder's own arithmetic: it rejects fractions (truncated by the cast)
    # and -0.0 (== 0, but the integer storage gives back +0.0) in one pass.
    same = np.add(sections[0], float(bias)).view(np.uint64) == v.view(np.uint64)
    if nanmask is not None:
        same |= nanmask
    if not same.all():
        return None
    return "int", {"kind": "f", "bias": bias, **meta}, sections


def _try_decimal(v: np.ndarray, nanmask: np.ndarray | None, vmin: float, vmax: float) -> _Encoded | None:
    """Values m / 10**k (k = 1..15) reproduced bit-exactly -> the "dec" codec, else None."""
    big = max(abs(vmin), abs(vmax))
    kmax = int(np.count_nonzero(_DEC_LIMIT >= big))  # m = v * 10**k must stay exact
    if kmax == 0:
        return None
    s = _sample(v)
    if nanmask is not None:
        s = s[~np.isnan(s)]
    scaled = np.rint(s[:, None] * _POW10[:kmax])
    fits = ((scaled + 0.0) / _POW10[:kmax] == s[:, None]).all(axis=0)
    for k in (np.flatnonzero(fits) + 1).tolist():
        p = 10.0 ** k
        m = np.rint(v * p)
        mmin, mmax = int(np.fmin.reduce(m)), int(np.fmax.reduce(m))
        if max(-mmin, mmax) > _EXACT:
            continue
        if _width(mmax - mmin) is None:
            return None  # a larger k only widens the range
        # Decoding computes (stored + bias) / p in float64; "+ 0.0" turns -0.0 into the +0.0
        # that the integer storage gives back, so -0.0 inputs are rejected here.
        same = ((m + 0.0) / p).view(np.uint64) == v.view(np.uint64)
        if nanmask is not None:
            same |= nanmask
        if same.all():
            meta, sections = _narrow(m - float(mmin), mmax - mmin, nanmask)
            return "dec", {"kind": "f", "bias": mmin, "digits": k, **meta}, sections
    return None


def _dense_float(v: np.ndarray) -> _Encoded:
    """Best non-sparse codec for a float64 array (NaN = NA)."""
    n = v.size
    if n == 0:
        return "f8", {"kind": "f", "nas": 0}, [v]
    bits = v.view(np.uint64)
    nanmask = np.isnan(v)
    nas = int(np.count_nonzero(nanmask))
    if nas == n:
        if (bits == bits[0]).all():  # all NA with one NaN pattern
            return "const", {"kind": "f", "bits": int(bits[0]), "nas": nas}, []
        return _raw_float(v, nas)
    if nas and not (bits[nanmask] == _CANON_NAN_BITS).all():
        return _raw_float(v, nas)  # NaN payloads survive only in f4/f8
    vmin, vmax = float(np.fmin.reduce(v)), float(np.fmax.reduce(v))
    if nas == 0 and vmin == vmax and (bits == bits[0]).all():  # bits: 0.0 == -0.0
        return "const", {"kind": "f", "bits": int(bits[0]), "nas": 0}, []
    mask = nanmask if nas else None
    if np.isfinite(vmin) and np.isfinite(vmax):
        found = _try_integral(v, mask, vmin, vmax)
        if found is not None:
            return found
        if (bits == _NEG_ZERO_BITS).any():
            return _raw_float(v, nas)  # -0.0 would need a sign the integer storage lacks
        found = _try_decimal(v, mask, vmin, vmax)
        if found is not None and found[1]["width"] < 4:
            return found
        raw = _raw_float(v, nas)
        # At equal width f4 decodes with one cast, cheaper than dec's add + divide.
        return found if found is not None and raw[0] == "f8" else raw
    return _raw_float(v, nas)


# --------------------------------------------------------------------------- dense integer codecs

def _absent_value(valid: np.ndarray, vmin: int, vmax: int) -> int:
    """An int64 value not present in ``valid``, used as the i8 NA sentinel."""
    lo, hi = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    if vmin > lo:
        return lo
    if vmax < hi:
        return hi
    u = np.unique(valid)
    # The int64 difference wraps for gaps >= 2**63; read modulo 2**64 it is the true gap.
    gaps = np.flatnonzero(np.diff(u).view(np.uint64) > 1)  # < 2**64 distinct values: one exists
    return int(u[gaps[0]]) + 1


def _dense_int(v: np.ndarray, namask: np.ndarray | None) -> _Encoded:
    """Best non-sparse codec for integers (any int dtype; ``namask`` marks NA rows)."""
    n = v.size
    nas = 0 if namask is None else int(np.count_nonzero(namask))
    if nas == 0:
        namask = None
    if n == 0 or nas == n:
        if n == 0:
            return "i8", {"kind": "i", "na_value": None, "nas": 0}, [np.empty(0, np.int64)]
        return "const", {"kind": "i", "value": 0, "nas": n}, []
    valid = v if namask is None else v[~namask]
    vmin, vmax = int(valid.min()), int(valid.max())
    if nas == 0 and vmin == vmax:
        return "const", {"kind": "i", "value": vmin, "nas": 0}, []
    rng = vmax - vmin
    w = _width(rng)
    if w is not None:
        ut = _UINT[w]
        # Modular arithmetic in the target width: (v mod 2**8w) - (bias mod 2**8w) wraps to the
        # exact offset because the true offset lies in [0, 2**8w).
        offsets = v.astype(ut, copy=False)
        if vmin:
            offsets = offsets - ut(vmin % 2 ** (8 * w))
        meta, sections = _narrow(offsets, rng, namask)
        return "int", {"kind": "i", "bias": vmin, **meta}, sections
    raw = v.astype(np.int64)
    if namask is None:
        return "i8", {"kind": "i", "na_value": None, "nas": 0}, [raw]
    sentinel = _absent_value(valid, vmin, vmax)
    raw[namask] = sentinel
    return "i8", {"kind": "i", "na_value": sentinel, "nas": nas}, [raw]


# --------------------------------------------------------------------------- sparse wrappers

def _prefixed(codec: str, meta: dict[str, Any]) -> dict[str, Any]:
    return {"v_codec": codec, **{f"v_{k}": val for k, val in meta.items()}}


def _inner(meta: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    inner = {k[2:]: val for k, val in meta.items() if k.startswith("v_")}
    codec = inner.pop("codec")
    if codec not in ("const", "int", "dec", "f4", "f8", "i8"):
        raise ValueError(f"sparse chunk cannot hold values as {codec!r}")
    return codec, inner


def _sparse(kind: str, n: int, fill: str, keep: np.ndarray, nas: int, dense_of: _DenseOf) -> _Encoded:
    """Row-id sparse layout (H2O CXI/CXF) of the rows in bool mask ``keep``."""
    idx = np.flatnonzero(keep)
    idx = idx.astype(np.uint16 if n <= 2**16 else np.uint32)
    codec, meta, sections = dense_of(idx)
    head = {"kind": kind, "fill": fill, "nnz": int(idx.size), "idx_width": idx.itemsize, "nas": nas}
    return "sparse", {**head, **_prefixed(codec, meta)}, [idx, *sections]


def _bitsparse(kind: str, fill: str, keep: np.ndarray, nas: int, dense_of: _DenseOf) -> _Encoded:
    """One bit per row plus the values of the set rows: pays when >= 1/8 of rows are fill."""
    codec, meta, sections = dense_of(keep)
    head = {"kind": kind, "fill": fill, "nnz": int(np.count_nonzero(keep)), "nas": nas}
    return "bitsparse", {**head, **_prefixed(codec, meta)}, [np.packbits(keep), *sections]


def _choose_layout(kind: str, n: int, fill: str, nfill: int, keep_fn: Callable[[], np.ndarray], nas: int,
                   dense_of: _DenseOf, dense_all: Callable[[], _Encoded]) -> _Encoded:
    """H2O's sparse rule (< 1/8 stored) first, then bit-sparse when >= 1/8 rows are fill.

    Bit-sparse needs no size comparison: the dense codec of all rows is never narrower per row
    than the one of the stored rows (adding the fill value cannot shrink a range or make data
    float32-exact), and n/8 mask bytes <= nfill * width when nfill >= n/8.
    """
    stored = n - nfill
    if stored == 0:
        return dense_all()  # constant
    if 8 * stored < n:
        return _sparse(kind, n, fill, keep_fn(), nas, dense_of)
    if 8 * nfill >= n:
        return _bitsparse(kind, fill, keep_fn(), nas, dense_of)
    return dense_all()


# --------------------------------------------------------------------------- encoders per kind

def _encode_float(v: np.ndarray) -> EncodedChunk:
    n = v.size
    bits = v.view(np.uint64)
    nanmask = np.isnan(v)
    nas = int(np.count_nonzero(nanmask))
    nzero = n - int(np.count_nonzero(bits))  # +0.0 only: -0.0 must be stored to keep its sign
    canonical = nas == 0 or bool((bits[nanmask] == _CANON_NAN_BITS).all())
    if canonical and nas > nzero:
        fill, nfill, keep_fn = "na", nas, lambda: ~nanmask
    else:
        fill, nfill, keep_fn = "zero", nzero, lambda: bits != 0
    codec, meta, sections = _choose_layout(
        "f", n, fill, nfill, keep_fn, nas,
        dense_of=lambda sel: _dense_float(v[sel]), dense_all=lambda: _dense_float(v))
    return _finish(codec, n, meta, sections)


def _encode_int(v: np.ndarray, namask: np.ndarray | None) -> EncodedChunk:
    n = v.size
    if v.dtype == np.uint64 and n and int(v.max()) > np.iinfo(np.int64).max:
        raise ValueError("uint64 values above int64 max cannot be stored (decode gives int64)")
    nas = 0 if namask is None else int(np.count_nonzero(namask))
    if nas == 0:
        namask = None
        nzero = n - int(np.count_nonzero(v))
    else:
        nzero = int(np.count_nonzero((v == 0) & ~namask))
    if nas > nzero:
        fill, nfill, keep_fn = "na", nas, lambda: ~namask
    else:
        fill, nfill = "zero", nzero
        keep_fn = (lambda: v != 0) if namask is None else (lambda: (v != 0) | namask)

    def dense_of(sel: np.ndarray) -> _Encoded:
        return _dense_int(v[sel], None if namask is None else namask[sel])

    codec, meta, sections = _choose_layout(
        "i", n, fill, nfill, keep_fn, nas, dense_of=dense_of, dense_all=lambda: _dense_int(v, namask))
    return _finish(codec, n, meta, sections)


def _encode_cat(v: np.ndarray, namask: np.ndarray | None) -> EncodedChunk:
    n = v.size
    if v.dtype.kind not in "iu":
        raise ValueError(f"categorical codes must be an integer array, got dtype {v.dtype}")
    if n and v.dtype.kind == "i":
        low = int(v.min()) if namask is None else int(v.min(where=~namask, initial=0))
        if low < -1:
            raise ValueError(f"categorical codes must be >= 0 (or -1 for NA), found {low}")
    neg = (v < 0) if v.dtype.kind == "i" else None
    namask = neg if namask is None else (namask if neg is None else namask | neg)
    nas = 0 if namask is None else int(np.count_nonzero(namask))
    top = int(v.max(where=~namask, initial=0)) if nas else (int(v.max()) if n else 0)
    w = _width(top + 1)  # + 1: the all-ones value is the NA sentinel
    if w is None:
        raise ValueError(f"categorical code {top} exceeds the 2**32 - 2 level limit")
    stored = v.astype(_UINT[w])
    if nas:
        stored[namask] = 2 ** (8 * w) - 1
    return _finish("cat", n, {"kind": "c", "width": w, "nas": nas}, [stored])


def encode(values: np.ndarray, na: np.ndarray | None = None, *, categorical: bool = False) -> EncodedChunk:
    """Encode one column chunk with the codec that suits its data, then LZ4 when it pays.

    ``values``: float (NaN = NA) or integer array; ``na``: optional bool mask of NA rows;
    ``categorical``: values are level codes >= 0 with -1 (or ``na``) for NA.

    >>> encode(np.arange(100) % 7 + 1).codec
    'int'
    >>> encode(np.arange(100) % 7).codec      # one row in 7 is zero: a bit per row marks them
    'bitsparse'
    >>> encode(np.array([0, 2, 9]), categorical=True).codec
    'cat'
    """
    v = np.asarray(values)
    if v.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {v.shape}")
    if v.size > _MAX_ROWS:
        raise ValueError(f"a chunk holds at most {_MAX_ROWS} rows, got {v.size}")
    if na is not None:
        na = np.asarray(na)
        if na.dtype != np.bool_ or na.shape != v.shape:
            raise ValueError(f"na must be a bool array of shape {v.shape}, got {na.dtype} {na.shape}")
        na = np.ascontiguousarray(na) if na.any() else None
    if not v.dtype.isnative:
        v = v.astype(v.dtype.newbyteorder("="))
    v = np.ascontiguousarray(v)
    if categorical:
        return _encode_cat(v, na)
    if v.dtype.kind == "f":
        v = v.astype(np.float64, copy=na is not None)
        if na is not None:
            v[na] = np.nan
        return _encode_float(v)
    if v.dtype.kind in "iu":
        return _encode_int(v, na)
    raise ValueError(f"values must be a float or integer array, got dtype {v.dtype}")


# --------------------------------------------------------------------------- decoding

def _kind(enc: EncodedChunk) -> str:
    kind = enc.meta.get("kind")
    if kind == "s":
        raise ValueError("string chunks decode with decode_strings, not as numbers")
    if kind not in _KINDS:
        raise ValueError(f"malformed {enc.codec} chunk: meta['kind'] must be one of {_KINDS}, got {kind!r}")
    return kind


# Recycled outputs. A frame pass that keeps every decoded column of a chunk until its map ends (MRTask's
# ChunkSet does) frees tens of MB per chunk; the allocator gives that back to the OS and the next chunk
# page-faults it in again (F-MNIST: 72k faults, 2/3 of a column-sum pass). So decode outputs of
# _POOL_MIN_ROWS rows or more come from a per-thread pool: an array is handed out again only once the
# pool's own reference is the last one (every view, memoryview or container holding it counts), so a
# caller never sees its array reused. Each thread's pool keeps at most _POOL_BYTES of arrays.
_POOL_MIN_ROWS = 2048
_POOL_BYTES = 64 << 20
_POOL_PROBES = 8
_pools = threading.local()


def _refs_when_free(arr: np.ndarray) -> int:
    return sys.getrefcount(arr)


def _calibrate_free_refs() -> int:
    arrays = [np.empty(1)]
    a = arrays[0]
    return _refs_when_free(a)  # the list, the local, the argument (the same shape as in _pooled_array)


_FREE_REFS = _calibrate_free_refs()


def _bucket(n: int) -> int:
    """n rounded up to m * 2**k with 16 <= m < 32 (at most 1/16 more): chunks of one frame differ by a
    few rows (an import cuts byte ranges), and should share one pool."""
    shift = max(n.bit_length() - 5, 0)
    return -(-n >> shift) << shift


def _pooled_empty(n: int) -> np.ndarray:
    """np.empty(n) float64 (a prefix view of a pooled array), recycled from this thread's pool when one of
    its arrays is no longer held (a view holds its base, so it counts)."""
    size = _bucket(n)
    a = _pooled_array(size)
    return a if size == n else a[:n]


def _pooled_array(n: int) -> np.ndarray:
    pool = _pools.__dict__
    slot = pool.get(n)
    if slot is None:
        slot = pool[n] = [[], 0]
        pool.setdefault("bytes", 0)
    arrays = slot[0]
    k = len(arrays)
    c = slot[1]
    for _ in range(min(k, _POOL_PROBES)):  # round robin: the oldest hand-outs are the likeliest free
        if c >= k:
            c = 0
        a = arrays[c]
        c += 1
        if _refs_when_free(a) == _FREE_REFS:
            slot[1] = c
            return a
    slot[1] = c
    a = np.empty(n, np.float64)
    if pool["bytes"] + a.nbytes <= _POOL_BYTES:
        arrays.append(a)
        pool["bytes"] += a.nbytes
    return a


def release_buffers() -> None:
    """Let the calling thread's pool of decode outputs go (arrays still in use stay valid)."""
    _pools.__dict__.clear()


def _check_out(out: np.ndarray | None, n: int) -> np.ndarray:
    if out is None:
        return _pooled_empty(n) if n >= _POOL_MIN_ROWS else np.empty(n, np.float64)
    if (not isinstance(out, np.ndarray) or out.dtype != np.float64 or out.shape != (n,)
            or not out.flags.c_contiguous or not out.flags.writeable):
        raise ValueError(f"out must be a writeable contiguous float64 array of shape ({n},)")
    return out


def _dec_float_into(codec: str, meta: dict[str, Any], rd: _Reader, n: int, out: np.ndarray) -> None:
    if codec == "const":
        if meta["kind"] == "i":
            out.fill(np.nan if meta["nas"] else float(meta["value"]))
        else:
            out.view(np.uint64).fill(meta["bits"])
        return
    if codec in ("int", "dec"):
        stored, namask = _read_narrow(meta, rd, n)
        bias = meta["bias"]
        if abs(bias) + 2 ** (8 * stored.itemsize) <= _EXACT:
            np.add(stored, float(bias), out=out)  # exact: every operand and sum is below 2**53
        else:  # int64 beyond 2**53: round once, like decode(...).astype(float)
            np.copyto(out, stored.astype(np.int64) + np.int64(bias))
        if codec == "dec":
            digits = meta["digits"]
            if not isinstance(digits, int) or not 1 <= digits <= _MAX_DIGITS:
                raise ValueError(f"meta['digits'] must be in 1..{_MAX_DIGITS}, got {digits!r}")
            np.divide(out, 10.0 ** digits, out=out)
    elif codec == "f4":
        np.copyto(out, rd.array(np.float32, n))
        return
    elif codec == "f8":
        np.copyto(out, rd.array(np.float64, n))
        return
    elif codec == "i8":
        raw = rd.array(np.int64, n)
        np.copyto(out, raw)
        namask = None if meta["na_value"] is None else raw == meta["na_value"]
    elif codec == "cat":
        stored, namask = _read_narrow({"width": meta["width"], "na": "sentinel" if meta["nas"] else "none"}, rd, n)
        np.copyto(out, stored)
    else:
        raise ValueError(f"codec {codec!r} is not a dense numeric codec")
    if namask is not None:
        np.copyto(out, np.nan, where=namask)


def _dec_int(codec: str, meta: dict[str, Any], rd: _Reader, n: int) -> np.ndarray:
    if codec == "const":
        return np.full(n, meta["value"], np.int64)
    if codec in ("int", "cat"):
        if codec == "int":
            stored, namask = _read_narrow(meta, rd, n)
        else:
            stored, namask = _read_narrow({"width": meta["width"], "na": "sentinel" if meta["nas"] else "none"}, rd, n)
        out = stored.astype(np.int64)
        if codec == "int" and meta["bias"]:
            out += np.int64(meta["bias"])
        if namask is not None:
            out[namask] = -1 if codec == "cat" else 0
        return out
    if codec == "i8":
        out = rd.array(np.int64, n).copy()
        if meta["na_value"] is not None:
            out[out == meta["na_value"]] = 0
        return out
    raise ValueError(f"codec {codec!r} does not hold integers")


def _dec_na(codec: str, meta: dict[str, Any], rd: _Reader, n: int) -> np.ndarray:
    if codec == "const":
        return np.full(n, bool(meta["nas"]))
    if codec in ("int", "dec"):
        namask = _read_narrow(meta, rd, n)[1]
    elif codec == "cat":
        namask = _read_narrow({"width": meta["width"], "na": "sentinel"}, rd, n)[1]
    elif codec == "i8":
        namask = None if meta["na_value"] is None else rd.array(np.int64, n) == meta["na_value"]
    elif codec in ("f4", "f8"):
        namask = np.isnan(rd.array(np.float32 if codec == "f4" else np.float64, n))
    else:
        raise ValueError(f"codec {codec!r} is not a dense numeric codec")
    return np.zeros(n, bool) if namask is None else namask


def _sparse_rows(enc: EncodedChunk, rd: _Reader) -> tuple[np.ndarray | None, np.ndarray | None, int]:
    """(row ids or None, packed kept-row bits or None, count) of a sparse/bitsparse chunk."""
    meta, n = enc.meta, enc.nrows
    nnz = meta["nnz"]
    if not isinstance(nnz, int) or not 0 <= nnz <= n:
        raise ValueError(f"meta['nnz'] must be in 0..{n}, got {nnz!r}")
    if meta["fill"] not in ("zero", "na"):
        raise ValueError(f"meta['fill'] must be zero or na, got {meta['fill']!r}")
    if enc.codec == "sparse":
        iw = meta["idx_width"]
        if iw not in (2, 4):
            raise ValueError(f"meta['idx_width'] must be 2 or 4, got {iw!r}")
        idx = rd.array(_UINT[iw], nnz)
        if nnz and (int(idx[-1]) >= n or (nnz > 1 and not (np.diff(idx.astype(np.int64)) > 0).all())):
            raise ValueError("sparse row ids must be increasing and below nrows")
        return idx, None, nnz
    return None, rd.array(np.uint8, (n + 7) // 8), nnz


def _keep_mask(packed: np.ndarray, n: int, nnz: int) -> np.ndarray:
    keep = np.unpackbits(packed, count=n).view(bool)
    if int(np.count_nonzero(keep)) != nnz:
        raise ValueError(f"bitsparse mask has {np.count_nonzero(keep)} rows set, meta['nnz'] = {nnz}")
    return keep


@njit(nogil=True, cache=True, error_model="numpy")
def _scatter_bits(packed: np.ndarray, vals: np.ndarray, fill: float, out: np.ndarray) -> int:
    """out[i] = next value where bit i of ``packed`` is set, else ``fill``; returns the set count.

    One pass instead of numpy's unpackbits + fill + boolean-mask assignment (about 3x faster).
    Reads past ``vals`` are skipped so a corrupt mask cannot read out of bounds; the caller
    compares the returned count with nnz.
    """
    j = 0
    m = vals.size
    for i in range(out.size):
        if (packed[i >> 3] >> (7 - (i & 7))) & 1:
            if j < m:
                out[i] = vals[j]
            j += 1
        else:
            out[i] = fill
    return j


# --------------------------------------------------------------------------- fast float64 decode
#
# The checked decoder above costs ~10 us of Python per chunk (meta lookups, a _Reader, dict copies,
# several numpy calls) and its bitsparse scatter reads one bit at a time. A frame pass decodes thousands
# of column chunks (F-MNIST: 785 x 8), so that fixed cost was most of it. The fast path parses a header
# once into a *plan* (two small arrays) that one Numba kernel reads to write the chunk straight into the
# float64 output. Plans are cached on the EncodedChunk and, across calls, per wire header (from_wire).
# Anything the plan does not cover or the kernel finds inconsistent (short payload, bad row ids, a mask
# whose count differs from nnz) goes to the checked decoder, which raises the precise error.

# plan slots (int64 array)
_P_LAYOUT, _P_N, _P_M, _P_IDXW, _P_VOFF, _P_VK, _P_W, _P_NA, _P_MOFF, _P_BIAS, _P_I8NA, _P_I8NAV, _P_CONST = range(13)
_P_SIZE = 13
_L_DENSE, _L_SPARSE, _L_BITS = 0, 1, 2                          # layouts
_VK_CONST, _VK_NARROW, _VK_NARROW_I64, _VK_F4, _VK_F8, _VK_I8 = range(6)  # how stored values read
_NA_MODE = {"none": 0, "sentinel": 1, "mask": 2}
_F_BIAS, _F_DIV, _F_FILL = 0, 1, 2                              # float64 plan slots
_INNER = ("const", "int", "dec", "f4", "f8", "i8")


def _is_int(x: Any) -> bool:
    return type(x) is int


def _aligned(pos: int) -> int:
    return pos + (-pos % 8)


def _to_i64(u: int) -> int:
    return u - 2**64 if u >= 2**63 else u


def _plan_values(codec: str, meta: dict[str, Any], kind: str, m: int, pos: int,
                 ip: np.ndarray, fp: np.ndarray) -> int | None:
    """Plan the ``m`` stored values of a dense codec whose sections start at ``pos``; returns the end."""
    if codec == "const":
        if kind == "i":
            nas, value = meta["nas"], meta["value"]
            if not _is_int(value):
                return None
            x = np.nan if nas else float(value)
            bits = int(np.array(x, np.float64).view(np.uint64))
        else:
            bits = meta["bits"]
            if not _is_int(bits) or not 0 <= bits < 2**64:
                return None
        ip[_P_VK], ip[_P_CONST] = _VK_CONST, _to_i64(bits)
        return pos
    if codec in ("int", "dec", "cat"):
        w = meta["width"]
        if not _is_int(w) or w not in _UINT:
            return None
        if codec == "cat":
            mode, bias = (1 if meta["nas"] else 0), 0
        else:
            mode, bias = _NA_MODE.get(meta["na"]) if isinstance(meta["na"], str) else None, meta["bias"]
            if mode is None or not _is_int(bias) or not -2**63 <= bias < 2**63:
                return None
        if codec == "dec":
            digits = meta["digits"]
            if not _is_int(digits) or not 1 <= digits <= _MAX_DIGITS:
                return None
            fp[_F_DIV] = 10.0 ** digits
        # same arithmetic as _dec_float_into: float add when exact, else int64 add then one rounding
        ip[_P_VK] = _VK_NARROW if abs(bias) + 2 ** (8 * w) <= _EXACT else _VK_NARROW_I64
        ip[_P_W], ip[_P_NA], ip[_P_BIAS] = w, mode, bias
        fp[_F_BIAS] = float(bias)
        pos = _aligned(pos)
        ip[_P_VOFF] = pos
        pos += m * w
        if mode == 2:
            pos = _aligned(pos)
            ip[_P_MOFF] = pos
            pos += (m + 7) // 8
        return pos
    if codec in ("f4", "f8", "i8"):
        if codec == "i8":
            nav = meta["na_value"]
            if nav is not None and not (_is_int(nav) and -2**63 <= nav < 2**63):
                return None
            ip[_P_I8NA], ip[_P_I8NAV] = (0, 0) if nav is None else (1, nav)
        ip[_P_VK] = {"f4": _VK_F4, "f8": _VK_F8, "i8": _VK_I8}[codec]
        pos = _aligned(pos)
        ip[_P_VOFF] = pos
        return pos + m * (4 if codec == "f4" else 8)
    return None


def _make_plan(codec: str, nrows: int, meta: dict[str, Any]) -> tuple | None:
    """(int plan, float plan, payload bytes, LZ4 raw size or None, the two plans as bytes), or None: use the
    checked decoder."""
    kind = meta.get("kind")
    if kind not in _KINDS:
        return None
    raw = meta.get("lz4")
    if raw is not None and not (_is_int(raw) and 0 <= raw < 2**31):
        return None
    ip = np.zeros(_P_SIZE, np.int64)
    fp = np.zeros(3, np.float64)
    ip[_P_N] = n = nrows
    try:
        if codec in ("sparse", "bitsparse"):
            nnz, fill = meta["nnz"], meta["fill"]
            if not _is_int(nnz) or not 0 <= nnz <= n or fill not in ("zero", "na"):
                return None
            if meta.get("v_codec") not in _INNER:
                return None
            inner_codec, inner = _inner(meta)
            fp[_F_FILL] = 0.0 if fill == "zero" else np.nan
            ip[_P_M] = nnz
            if codec == "sparse":
                iw = meta["idx_width"]
                if not _is_int(iw) or iw not in (2, 4):
                    return None
                ip[_P_LAYOUT], ip[_P_IDXW] = _L_SPARSE, iw
                pos = nnz * iw
            else:
                ip[_P_LAYOUT] = _L_BITS
                pos = (n + 7) // 8
            end = _plan_values(inner_codec, inner, kind, nnz, pos, ip, fp)
        elif codec in ("const", "int", "dec", "f4", "f8", "i8", "cat"):
            ip[_P_LAYOUT], ip[_P_M] = _L_DENSE, n
            end = _plan_values(codec, meta, kind, n, 0, ip, fp)
        else:
            return None
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    if end is None:
        return None
    ip.flags.writeable = fp.flags.writeable = False
    return ip, fp, end, raw, ip.tobytes(), fp.tobytes()     # bytes: rows of a block's plan table


def _plan_of(enc: EncodedChunk) -> tuple | None:
    """The cached plan of ``enc`` (False cached when there is none)."""
    d = enc.__dict__
    plan = d.get("_plan")
    if plan is None:
        plan = d["_plan"] = _make_plan(enc.codec, enc.nrows, enc.meta) or False
    return plan


@njit(nogil=True, cache=True, error_model="numpy")
def _narrow_into(s, ip, fp, buf, out):
    """Stored unsigned ints -> float64 (bias, decimal scale, NA) into out (of s.size).

    Loops index from 0 with the range variable (no ``dst + i``) so LLVM drops numba's negative-index
    wraparound and vectorises them.
    """
    m = s.size
    biasf, div = fp[_F_BIAS], fp[_F_DIV]
    if ip[_P_VK] == _VK_NARROW:
        if div != 0.0:
            for i in range(m):
                out[i] = (s[i] + biasf) / div
        else:
            for i in range(m):
                out[i] = s[i] + biasf
    else:
        bias = ip[_P_BIAS]
        for i in range(m):
            out[i] = np.float64(np.int64(s[i]) + bias)
        if div != 0.0:
            for i in range(m):
                out[i] = out[i] / div
    mode = ip[_P_NA]
    if mode == 1:
        sentinel = (1 << (8 * ip[_P_W])) - 1
        for i in range(m):
            if s[i] == sentinel:
                out[i] = np.nan
    elif mode == 2:
        moff = ip[_P_MOFF]
        for i in range(m):
            if (buf[moff + (i >> 3)] >> (7 - (i & 7))) & 1:
                out[i] = np.nan


@njit(nogil=True, cache=True, error_model="numpy")
def _scatter_ids(idx, fill, out):
    """Rows ``idx`` (increasing, < n) get the m values held in the last m slots of out, the others ``fill``.

    The values are copied aside, out filled whole, then the values put in place: filling the gaps one by
    one cost a mispredicted branch per stored value (twice the time at F-MNIST's 1-in-10 density).
    Returns False, before anything is moved, when idx is not increasing or reaches n.
    """
    n, m = out.size, idx.size
    prev = -1
    for j in range(m):
        r = np.int64(idx[j])
        if r <= prev or r >= n:
            return False
        prev = r
    vals = out[n - m:].copy()
    out[:] = fill
    for j in range(m):
        out[np.uint64(idx[j])] = vals[j]      # unsigned: no negative-index fix-up
    return True


# --------------------------------------------------------------------------- vector mask expansion
#
# A bitsparse chunk's rows are a mask byte at a time "the next popcount(byte) stored values where a bit is
# set, fill elsewhere": exactly what AVX-512's vexpand* does for 8 lanes. LLVM's masked.expandload reads
# only as many values as the mask has set bits (never past them), so decoding straight from the stored
# narrow ints is one expand, one convert and one store per 8 rows, 2.5x faster than the scalar scatter
# on F-MNIST pixels. Where the target lacks vexpand (LLVM would emulate it lane by lane, with branches)
# the scalar scatter stays: _EXPAND is fixed when the kernels compile, and Numba's cache is per CPU.

def _target_expands() -> bool:
    """Whether Numba compiles for a CPU with AVX-512 F, VL and VBMI2 (vexpandpd/d/w/b on 8 lanes)."""
    import numba
    from llvmlite import binding
    if numba.config.CPU_NAME not in (None, "host") or numba.config.CPU_FEATURES:
        return False
    try:
        features = binding.get_host_cpu_features()
    except RuntimeError:
        return False
    return all(features.get(f, False) for f in ("avx512f", "avx512vl", "avx512vbmi2"))


_EXPAND = _target_expands()


def _vsplat(builder, value, lanes: int = 8):
    vec = ir.Constant(ir.VectorType(value.type, lanes), ir.Undefined)
    for k in range(lanes):
        vec = builder.insert_element(vec, value, ir.Constant(ir.IntType(32), k))
    return vec


@intrinsic
def _popcount(typingctx, x):
    """Set bits of an int64 (one popcnt instruction)."""
    def codegen(context, builder, signature, args):
        return builder.call(builder.module.declare_intrinsic("llvm.ctpop", [ir.IntType(64)]), [args[0]])
    return types.int64(types.int64), codegen


@intrinsic
def _expand8(typingctx, dst, src, mask, width, bias, div, na, fill):
    """Write 8 float64 rows at address ``dst``: row k takes the next stored value from ``src`` where bit 7 - k
    of ``mask`` is set (np.packbits order), else ``fill``. Stored values are unsigned ints of ``width`` 1, 2
    or 4 bytes, decoded as (v + bias) / div (no division when div is 0; NaN for the all-ones sentinel when
    ``na``), or float64 (width 8) copied as they are. Reads exactly popcount(mask) values."""
    sig = types.void(types.int64, types.int64, types.int64, types.int64, types.float64, types.float64,
                     types.int64, types.float64)

    def codegen(context, builder, signature, args):
        dst, src, mask, width, bias, div, na, fill = args
        f64 = ir.DoubleType()
        vf64 = ir.VectorType(f64, 8)
        rev = builder.call(builder.module.declare_intrinsic("llvm.bitreverse", [ir.IntType(8)]),
                           [builder.trunc(mask, ir.IntType(8))])
        keep = builder.bitcast(rev, ir.VectorType(ir.IntType(1), 8))
        fills = _vsplat(builder, fill)

        def expand(elem, passthru):
            vt = ir.VectorType(elem, 8)
            suffix = "f64" if elem == f64 else f"i{elem.width}"
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vt, [ir.PointerType(elem), keep.type, vt]),
                                                f"llvm.masked.expandload.v8{suffix}")
            return builder.call(fn, [builder.inttoptr(src, ir.PointerType(elem)), keep, passthru])

        done = builder.append_basic_block("expand.done")
        switch = builder.switch(width, None)
        results = []
        for w in (1, 2, 4, 8):
            block = builder.append_basic_block(f"expand.w{w}")
            if w == 8:
                switch.default = block
            else:
                switch.add_case(ir.Constant(width.type, w), block)
            builder.position_at_end(block)
            if w == 8:
                value = expand(f64, fills)
            else:
                elem = ir.IntType(8 * w)
                raw = expand(elem, ir.Constant(ir.VectorType(elem, 8), None))
                value = builder.fadd(builder.uitofp(raw, vf64), _vsplat(builder, bias))
                before = builder.block
                with builder.if_then(builder.fcmp_ordered("!=", div, ir.Constant(f64, 0.0))):
                    quotient = builder.fdiv(value, _vsplat(builder, div))
                    divided = builder.block
                merged = builder.phi(vf64)
                merged.add_incoming(quotient, divided)
                merged.add_incoming(value, before)
                sentinel = builder.icmp_unsigned("==", raw, ir.Constant(raw.type, [2 ** (8 * w) - 1] * 8))
                isna = builder.and_(sentinel, _vsplat(builder, builder.icmp_signed("!=", na, ir.Constant(na.type, 0))))
                value = builder.select(isna, _vsplat(builder, ir.Constant(f64, float("nan"))), merged)
            results.append((value, builder.block))
            builder.branch(done)
        builder.position_at_end(done)
        result = builder.phi(vf64)
        for value, block in results:
            result.add_incoming(value, block)
        store = builder.store(builder.select(keep, result, fills), builder.inttoptr(dst, ir.PointerType(vf64)))
        store.align = 8
        return context.get_dummy_value()
    return sig, codegen


@njit(nogil=True, cache=True, error_model="numpy")
def _mask_count(mask, n):
    """Set bits among the first n of a packbits ``mask`` (of at least (n + 7) // 8 bytes)."""
    nwords = n >> 6
    words = mask[:8 * nwords].view(np.int64)
    cnt = 0
    for i in range(nwords):
        cnt += _popcount(words[i])
    for b in range(8 * nwords, n >> 3):
        cnt += _popcount(np.int64(mask[b]))
    if n & 7:
        cnt += _popcount(np.int64(mask[n >> 3]) & ((0xFF << (8 - (n & 7))) & 0xFF))
    return cnt


@njit(nogil=True, cache=True, error_model="numpy")
def _expand_rows(mask, nbytes, dst, src, width, bias, div, na, fill):
    """_expand8 over mask bytes 0 .. nbytes - 1; returns the address after the last value read."""
    dst, src = np.int64(dst), np.int64(src)   # ctypes.data is uint64: uint64 + int64 would type as float64
    for b in range(nbytes):
        x = np.int64(mask[b])
        _expand8(dst + 64 * b, src, x, width, bias, div, na, fill)
        src += _popcount(x) * width
    return src


@njit(nogil=True, cache=True, error_model="numpy")
def _expand_mask(mask, m, src, width, bias, div, na, fill, out):
    """The rows of ``out`` from a packbits ``mask`` and the m values stored at address ``src`` (see _expand8).
    False, with nothing written, when the mask's first out.size bits do not hold exactly m set bits: no value
    past the m-th is ever read.

    In place (float64 values held in out's last m slots) is safe: each call reads its values before writing,
    and the 8 slots it writes end at or before the first value still unread.
    """
    n = out.size
    if mask.size < (n + 7) >> 3 or _mask_count(mask, n) != m:
        return False
    nfull = n >> 3
    dst = out.ctypes.data
    # the same loop with constant arguments, so that LLVM drops the per-byte branches of the common cases
    if width == 8:
        src = _expand_rows(mask, nfull, dst, src, 8, 0.0, 0.0, 0, fill)
    elif width == 1 and div == 0.0 and na == 0:
        src = _expand_rows(mask, nfull, dst, src, 1, bias, 0.0, 0, fill)
    else:
        src = _expand_rows(mask, nfull, dst, src, width, bias, div, na, fill)
    rest = n & 7
    if rest:
        tail = np.empty(8)
        _expand8(tail.ctypes.data, src, np.int64(mask[nfull]) & ((0xFF << (8 - rest)) & 0xFF), width, bias, div,
                 na, fill)
        out[nfull << 3:] = tail[:rest]
    return True


@njit(nogil=True, cache=True, error_model="numpy")
def _decode_kernel(buf, ip, fp, out):
    """Decode one planned chunk payload into ``out``; 0 on success, 1 when the payload is inconsistent.

    Bitsparse narrow ints expand straight from the payload where the CPU can (_EXPAND). Other sparse
    layouts decode their m stored values into the last m slots of out, then spread them over out.
    """
    n, m, layout = ip[_P_N], ip[_P_M], ip[_P_LAYOUT]
    if out.size != n or m > n:
        return 1
    nmask = (n + 7) >> 3
    vk, voff = ip[_P_VK], ip[_P_VOFF]
    if layout == _L_BITS and _EXPAND and vk == _VK_NARROW and ip[_P_NA] != 2:   # straight from the stored ints
        w = ip[_P_W]
        if voff + w * m > buf.size:
            return 1
        ok = _expand_mask(buf, m, np.int64(buf.ctypes.data) + voff, w, fp[_F_BIAS], fp[_F_DIV], ip[_P_NA],
                          fp[_F_FILL], out)
        return 0 if ok else 1
    if layout == _L_BITS and not _EXPAND and _mask_count(buf, n) != m:   # the scalar scatter trusts the count
        return 1
    dst = n - m                              # stored values go to the last m slots
    vals = out[dst:dst + m]                   # where the stored values go
    if vk == _VK_CONST:
        o = vals.view(np.int64)
        c = ip[_P_CONST]
        for i in range(m):
            o[i] = c
    elif vk == _VK_NARROW or vk == _VK_NARROW_I64:
        w = ip[_P_W]
        if w == 1:
            _narrow_into(buf[voff:voff + m], ip, fp, buf, vals)
        elif w == 2:
            _narrow_into(buf[voff:voff + 2 * m].view(np.uint16), ip, fp, buf, vals)
        else:
            _narrow_into(buf[voff:voff + 4 * m].view(np.uint32), ip, fp, buf, vals)
    elif vk == _VK_F4:
        v4 = buf[voff:voff + 4 * m].view(np.float32)
        for i in range(m):
            vals[i] = v4[i]
    elif vk == _VK_F8:                        # copied as integers: every bit pattern survives
        v8 = buf[voff:voff + 8 * m].view(np.int64)
        o = vals.view(np.int64)
        for i in range(m):
            o[i] = v8[i]
    else:
        vi = buf[voff:voff + 8 * m].view(np.int64)
        for i in range(m):
            vals[i] = np.float64(vi[i])
        if ip[_P_I8NA]:
            nav = ip[_P_I8NAV]
            for i in range(m):
                if vi[i] == nav:
                    vals[i] = np.nan
    fill = fp[_F_FILL]
    if layout == _L_SPARSE:
        if ip[_P_IDXW] == 2:
            ok = _scatter_ids(buf[:2 * m].view(np.uint16), fill, out)
        else:
            ok = _scatter_ids(buf[:4 * m].view(np.uint32), fill, out)
        return 0 if ok else 1
    if layout == _L_BITS:
        if _EXPAND:
            return 0 if _expand_mask(buf, m, np.int64(out.ctypes.data) + 8 * dst, 8, 0.0, 0.0, 0, fill, out) else 1
        _scatter_mask(buf[:nmask], fill, m, out)
    return 0


@njit(nogil=True, cache=True, error_model="numpy")
def _scatter_mask(mask, fill, m, out):
    """Set bits of ``mask`` (np.packbits order) take the m values held in the last m slots of out, in
    order (copied, so every bit pattern survives); clear bits take ``fill``.

    Forward, in place: the read slot never trails the write slot, and equals it only once every fill row
    is written. The caller has checked that the first n = out.size bits hold exactly m set bits. Mixed
    bytes are written branch-free (a row's bit would mispredict about a third of the time on image data).
    Indices are unsigned so that numba drops its negative-index fix-ups (a fifth of the time on F-MNIST), and
    only bytes from the last non-zero one on clamp their reads (the slot after the last value is out's end).
    """
    n = out.size
    one = np.uint64(1)
    src = np.uint64(n - m)
    last = np.uint64(n - 1)
    nfull = n >> 3
    safe = nfull                              # bytes before the last non-zero one never read past out's end
    while safe > 0 and mask[safe - 1] == 0:
        safe -= 1
    safe -= 1
    for b in range(nfull):
        x = np.uint64(mask[b])
        base = np.uint64(b << 3)
        if x == 0:
            for k in range(8):
                out[base + np.uint64(k)] = fill
        elif x == 0xFF:
            for k in range(8):
                out[base + np.uint64(k)] = out[src + np.uint64(k)]
            src += np.uint64(8)
        elif b < safe:
            for k in range(8):
                bit = (x >> np.uint64(7 - k)) & one
                v = out[src]
                out[base + np.uint64(k)] = v if bit else fill
                src += bit
        else:
            for k in range(8):
                bit = (x >> np.uint64(7 - k)) & one
                v = out[min(src, last)]
                out[base + np.uint64(k)] = v if bit else fill
                src += bit
    base = nfull << 3
    rest = np.int64(src)
    for k in range(n - base):
        if (mask[nfull] >> (7 - k)) & 1:
            out[base + k] = out[rest]
            rest += 1
        else:
            out[base + k] = fill


def _decode_fast(enc: EncodedChunk, out: np.ndarray | None) -> np.ndarray | None:
    """The planned decode of ``enc`` into ``out`` (allocated if None), or None: use the checked decoder."""
    plan = _plan_of(enc)
    if not plan:
        return None
    ip, fp, nbytes, raw = plan[:4]
    data = enc.data
    if raw is not None:
        try:
            data = lz4.block.decompress(data, uncompressed_size=raw)
        except lz4.block.LZ4BlockError:
            return None
    if len(data) != nbytes:
        return None
    out = _check_out(out, enc.nrows)
    if _decode_kernel(np.frombuffer(data, np.uint8), ip, fp, out):
        return None
    return out


_NO_IPLAN, _NO_FPLAN = bytes(8 * _P_SIZE), bytes(8 * 3)


def _bytes_data_offset() -> int | None:
    """Where a ``bytes`` object's data starts from its address (CPython: ``id``), checked on a probe; None
    when this interpreter lays bytes out otherwise (payloads are then located through numpy)."""
    off = bytes.__basicsize__ - 1
    probe = bytes(range(7, 40))
    try:
        return off if ctypes.string_at(id(probe) + off, len(probe)) == probe else None
    except (OSError, ValueError):
        return None


_BYTES_DATA = _bytes_data_offset()


@intrinsic
def _pointer(typingctx, address):
    """An int64 address as ``void*``, for ``numba.carray`` to view a payload where it lies."""
    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)
    return types.voidptr(types.int64), codegen


@njit(nogil=True, cache=True, error_model="numpy")
def _decode_run_kernel(addrs, lens, ips, fps, planned, lo, out):
    """Decode chunks lo .. lo + len(out) - 1 that are ``planned`` (payload j: ``lens[j]`` bytes at ``addrs[j]``,
    plans ``ips[j]``, ``fps[j]``) into the rows of ``out``; -1, or the first j whose payload is inconsistent."""
    for r in range(out.shape[0]):
        j = lo + r
        if planned[j]:
            buf = carray(_pointer(addrs[j]), (lens[j],), np.uint8)
            if _decode_kernel(buf, ips[j], fps[j], out[r]):
                return j
    return -1


class _SetPlan:
    """The plan tables of a set of wire headers of one row count: made once, shared by every batch of them."""

    __slots__ = ("headers", "nrows", "ips", "fps", "planned", "nbytes", "lz4")

    def __init__(self, headers: tuple) -> None:
        k = len(headers)
        irows: list[bytes] = []
        frows: list[bytes] = []
        nbytes = np.full(k, -1, np.int64)
        self.lz4: list[tuple[int, int]] = []          # (j, raw size) of LZ4-compressed payloads
        n = 0
        for j, header in enumerate(headers):
            plan = _wire_plan(header)                 # a malformed header raises, as from_wire does
            if j == 0:
                n = header["nrows"]
            elif header["nrows"] != n:
                raise ValueError(f"chunk {j} has {header['nrows']} rows, chunk 0 {n}: a batch needs one row count")
            if not plan:
                irows.append(_NO_IPLAN)
                frows.append(_NO_FPLAN)
                continue
            irows.append(plan[4])
            frows.append(plan[5])
            nbytes[j] = plan[2]
            if plan[3] is not None:
                self.lz4.append((j, plan[3]))
        self.headers, self.nrows, self.nbytes = headers, n, nbytes
        self.ips = np.frombuffer(b"".join(irows), np.int64).reshape(k, _P_SIZE)
        self.fps = np.frombuffer(b"".join(frows), np.float64).reshape(k, 3)
        self.planned = nbytes >= 0


# Plan tables by the identity of their headers, which an entry holds (so ids are not reused while cached). An
# MRTask maps the same chunk sets at every pass; the least recently used sets go once the entries hold more than
# _SET_COLUMNS headers (a header can sit in several sets, one per column selection, so reference counts cannot
# tell a dropped set as they do for single headers).
_SET_PLANS: dict[tuple, _SetPlan] = {}
_SET_COLUMNS = 1 << 15
_set_columns = 0


def _set_plan(headers: Sequence[Any]) -> _SetPlan:
    global _set_columns
    key = tuple(map(id, headers))
    with _wire_lock:
        plan = _SET_PLANS.pop(key, None)
        if plan is not None:
            _SET_PLANS[key] = plan                    # most recently used last
            return plan
    plan = _SetPlan(tuple(headers))
    with _wire_lock:
        if key not in _SET_PLANS:
            _SET_PLANS[key] = plan
            _set_columns += len(headers)
            while _set_columns > _SET_COLUMNS and len(_SET_PLANS) > 1:
                _set_columns -= len(_SET_PLANS.pop(next(iter(_SET_PLANS))).headers)
    return plan


def _address(payloads: list, j: int) -> int:
    """Where payload j's bytes lie (a non-contiguous buffer is copied into ``payloads[j]`` first)."""
    p = payloads[j]
    if not len(p):
        return 0
    try:
        return np.frombuffer(p, np.uint8).ctypes.data
    except (TypeError, ValueError, BufferError):
        payloads[j] = p = memoryview(p).tobytes()
        return np.frombuffer(p, np.uint8).ctypes.data


class Batch:
    """Wire chunks (``headers[j]``, ``payloads[j]``) of one row count, ready to decode any run of them to
    float64 in a single kernel call holding no GIL: the plans come as two tables (made once per set of
    headers and cached) and the kernel reads every payload where it lies.

    Chunks without a plan (strings, malformed headers or payloads) are left to the caller, which decodes
    them one by one with its own rules: :meth:`decode` returns their indices.

    >>> a, b = to_wire(encode(np.arange(3.0))), to_wire(encode(np.array([0.5, np.nan, 2.0])))
    >>> block, left = Batch([a[0], b[0]], [a[1], b[1]]).decode(0, 2)
    >>> block.tolist(), left
    ([[0.0, 1.0, 2.0], [0.5, nan, 2.0]], [])
    """

    def __init__(self, headers: Sequence[Any], payloads: Sequence[Any]) -> None:
        if len(headers) != len(payloads):
            raise ValueError(f"{len(headers)} headers but {len(payloads)} payloads")
        plan = _set_plan(headers)
        k = self.k = len(headers)
        self.nrows = plan.nrows
        self._ips, self._fps = plan.ips, plan.fps
        payloads = list(payloads)
        for j, raw in plan.lz4:
            try:
                payloads[j] = lz4.block.decompress(payloads[j], uncompressed_size=raw)
            except (lz4.block.LZ4BlockError, TypeError, ValueError, BufferError):
                payloads[j] = b""               # fails the length check below: left to the checked decoder
        self._payloads = payloads               # the kernel reads them in place: they must outlive it
        self._lens = np.fromiter(map(len, payloads), np.int64, k)
        self._planned = (plan.planned & (self._lens == plan.nbytes)).astype(np.uint8)
        self._all_planned = bool(self._planned.all())
        if _BYTES_DATA is not None and set(map(type, payloads)) <= {bytes}:
            self._addrs = np.fromiter(map(id, payloads), np.int64, k) + _BYTES_DATA
        else:
            self._addrs = np.array([_address(payloads, j) for j in range(k)], np.int64)

    def decode(self, lo: int, hi: int) -> tuple[np.ndarray, list[int]]:
        """Chunks ``lo .. hi-1`` into the rows of a (hi - lo, nrows) float64 array (recycled per thread like
        single decodes); returns it and the indices of the chunks left to the caller."""
        if not 0 <= lo <= hi <= self.k:
            raise IndexError(f"run {lo}..{hi} outside 0..{self.k}")
        size = (hi - lo) * self.nrows
        out = (_pooled_empty(size) if size >= _POOL_MIN_ROWS else np.empty(size)).reshape(hi - lo, self.nrows)
        start = lo
        while start < hi:
            bad = _decode_run_kernel(self._addrs, self._lens, self._ips, self._fps, self._planned, start,
                                     out[start - lo:])
            if bad < 0:
                break
            self._planned[bad] = 0           # inconsistent payload: the checked decoder names the problem
            self._all_planned = False
            start = bad + 1
        if self._all_planned:
            return out, []
        return out, (np.flatnonzero(self._planned[lo:hi] == 0) + lo).tolist()


def _guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn malformed meta (missing keys, wrong types) into a ValueError naming the codec."""
    @functools.wraps(fn)
    def wrapper(enc: EncodedChunk, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(enc, *args, **kwargs)
        except (KeyError, TypeError, IndexError, OverflowError) as e:
            raise ValueError(f"malformed {enc.codec} chunk: {type(e).__name__}: {e}") from e
    return wrapper


@_guard
def decode_float64(enc: EncodedChunk, out: np.ndarray | None = None) -> np.ndarray:
    """Decode to float64 with NaN at NA (categorical codes as floats), into ``out`` if given.

    This is the hot path of MRTask: it is vectorised and allocates only for sparse chunks.

    >>> decode_float64(encode(np.array([1, 2, -1]), categorical=True)).tolist()
    [1.0, 2.0, nan]
    """
    fast = _decode_fast(enc, out)
    if fast is not None:
        return fast
    _kind(enc)
    n = enc.nrows
    out = _check_out(out, n)
    rd = _Reader(_payload(enc))
    if enc.codec in ("sparse", "bitsparse"):
        idx, packed, nnz = _sparse_rows(enc, rd)
        codec, meta = _inner(enc.meta)
        vals = np.empty(nnz, np.float64)
        _dec_float_into(codec, {**meta, "kind": enc.meta["kind"]}, rd, nnz, vals)
        fill = 0.0 if enc.meta["fill"] == "zero" else np.nan
        if idx is not None:
            out.fill(fill)
            out[idx] = vals
        elif _scatter_bits(packed, vals, fill, out) != nnz:
            raise ValueError(f"bitsparse mask does not have meta['nnz'] = {nnz} rows set")
    else:
        _dec_float_into(enc.codec, enc.meta, rd, n, out)
    rd.finish()
    return out


@_guard
def decode(enc: EncodedChunk) -> np.ndarray:
    """Decode to the input's kind: float64 (bit-exact, NaN at NA) or int64.

    Integer chunks give 0 at NA rows, categorical chunks -1; see ``decode_na``.

    >>> decode(encode(np.array([-2**63, 0, 2**63 - 1]))).tolist() == [-2**63, 0, 2**63 - 1]
    True
    """
    if _kind(enc) == "f":
        return decode_float64(enc)
    n = enc.nrows
    rd = _Reader(_payload(enc))
    if enc.codec in ("sparse", "bitsparse"):
        idx, packed, nnz = _sparse_rows(enc, rd)
        codec, meta = _inner(enc.meta)
        out = np.zeros(n, np.int64)
        out[idx if idx is not None else _keep_mask(packed, n, nnz)] = _dec_int(codec, {**meta, "kind": "i"}, rd, nnz)
    else:
        out = _dec_int(enc.codec, enc.meta, rd, n)
    rd.finish()
    return out


@_guard
def decode_na(enc: EncodedChunk) -> np.ndarray | None:
    """Bool mask of NA rows, or None when the chunk has none.

    >>> decode_na(encode(np.array([1.0, np.nan]))).tolist()
    [False, True]
    """
    kind = _kind(enc)
    n = enc.nrows
    if enc.meta["nas"] == 0:
        return None
    rd = _Reader(_payload(enc))
    if enc.codec in ("sparse", "bitsparse"):
        idx, packed, nnz = _sparse_rows(enc, rd)
        where = idx if idx is not None else _keep_mask(packed, n, nnz)
        if enc.meta["fill"] == "na":
            mask = np.ones(n, bool)
            mask[where] = False
            return mask
        codec, meta = _inner(enc.meta)
        mask = np.zeros(n, bool)
        mask[where] = _dec_na(codec, {**meta, "kind": kind}, rd, nnz)
        return mask
    return _dec_na(enc.codec, enc.meta, rd, n)


# --------------------------------------------------------------------------- strings

def encode_strings(values: Sequence[str | None]) -> EncodedChunk:
    """Encode a string chunk: byte lengths, an NA bit mask, UTF-8 bytes; LZ4 when it pays.

    Lengths (not end offsets) are stored, in the narrowest unsigned width: repeated values
    then repeat in the payload too, which LZ4 turns into almost nothing.

    Lone surrogates are kept (``surrogatepass``), so every Python str round-trips.

    >>> decode_strings(encode_strings(["a", None, "été", ""]))
    ['a', None, 'été', '']
    """
    n = len(values)
    if n > _MAX_ROWS:
        raise ValueError(f"a chunk holds at most {_MAX_ROWS} rows, got {n}")
    parts: list[bytes] = []
    na_rows: list[int] = []
    for i, s in enumerate(values):
        if s is None:
            na_rows.append(i)
            parts.append(b"")
        elif isinstance(s, str):
            parts.append(s.encode("utf-8", "surrogatepass"))
        else:
            raise ValueError(f"string chunk row {i} is {type(s).__name__}, expected str or None")
    blob = b"".join(parts)
    lengths = np.fromiter(map(len, parts), dtype=np.uint64, count=n)
    width = _width(int(lengths.max()) if n else 0) or 8
    lengths = lengths.astype(_UINT.get(width, np.uint64))
    sections: list[Any] = [lengths]
    if na_rows:
        mask = np.zeros(n, bool)
        mask[na_rows] = True
        sections.append(np.packbits(mask))
    sections.append(blob)
    meta = {"kind": "s", "nas": len(na_rows), "len_width": width,
            "text_bytes": len(blob), "ascii": blob.isascii()}
    return _finish("str", n, meta, sections)


@_guard
def decode_strings(enc: EncodedChunk) -> list[str | None]:
    """Decode a chunk made by ``encode_strings``."""
    if enc.codec != "str":
        raise ValueError(f"decode_strings needs a str chunk, got {enc.codec!r}")
    n, meta = enc.nrows, enc.meta
    width = meta["len_width"]
    if width not in (1, 2, 4, 8):
        raise ValueError(f"meta['len_width'] must be 1, 2, 4 or 8, got {width!r}")
    rd = _Reader(_payload(enc))
    lengths = rd.array(_UINT.get(width, np.uint64), n)
    namask = rd.bits(n) if meta["nas"] else None
    blob = rd.raw(meta["text_bytes"])
    rd.finish()
    if n and int(lengths.max()) > len(blob):
        raise ValueError("string chunk lengths exceed its byte count")
    ends = np.cumsum(lengths, dtype=np.int64)  # each length <= len(blob): no overflow
    if n and int(ends[-1]) != len(blob):
        raise ValueError(f"string chunk lengths add up to {int(ends[-1])}, payload has {len(blob)} bytes")
    stops = ends.tolist()
    starts = [0, *stops[:-1]]
    if meta["ascii"]:
        text = blob.decode("ascii")  # one decode; byte offsets equal char offsets
        out: list[str | None] = [text[a:b] for a, b in zip(starts, stops)]
    else:
        out = [blob[a:b].decode("utf-8", "surrogatepass") for a, b in zip(starts, stops)]
    if namask is not None:
        for i in np.flatnonzero(namask).tolist():
            out[i] = None
    return out


# --------------------------------------------------------------------------- wire format

def to_wire(enc: EncodedChunk) -> tuple[dict[str, Any], bytes]:
    """A msgpack-able header and the raw payload buffer (sent as a separate frame).

    >>> h, buf = to_wire(encode(np.arange(10.0)))
    >>> from_wire(h, buf) == encode(np.arange(10.0))
    True
    """
    return {"codec": enc.codec, "nrows": enc.nrows, "meta": dict(enc.meta)}, enc.data


# Parsed wire headers: id(header) -> (header, plan). A chunk's DKV value keeps its header dict for life and
# from_wire sees that same dict at every decode, so the plan is made once per chunk. Entries hold the header
# (so its id cannot be reused while cached) but never the payload; headers only the cache still holds (their
# chunk was dropped) are swept out when the cache doubles. DKV values are immutable: a header must not be
# changed in place once decoded.
_WIRE_PLANS: dict[int, tuple[dict[str, Any], Any]] = {}
_WIRE_MIN = 4096
_wire_limit = _WIRE_MIN
_wire_lock = threading.Lock()


def _sweep_wire_plans() -> None:
    global _wire_limit
    with _wire_lock:
        if len(_WIRE_PLANS) <= _wire_limit:
            return
        for key, entry in list(_WIRE_PLANS.items()):
            # references: the entry tuple and getrefcount's argument -> nobody else holds the header
            if sys.getrefcount(entry[0]) <= 2 and _WIRE_PLANS.get(key) is entry:
                del _WIRE_PLANS[key]
        _wire_limit = max(_WIRE_MIN, 2 * len(_WIRE_PLANS))


def _wire_plan(header: dict[str, Any]) -> Any:
    """The decode plan of a wire header (False when it has none), cached as :func:`from_wire` caches it;
    malformed headers raise ValueError."""
    hit = _WIRE_PLANS.get(id(header))
    if hit is not None and hit[0] is header:
        return hit[1]
    return _plan_of(from_wire(header, b""))


def from_wire(header: dict[str, Any], data: bytes | bytearray | memoryview) -> EncodedChunk:
    """Rebuild a chunk from ``to_wire`` output; malformed headers raise ValueError."""
    hit = _WIRE_PLANS.get(id(header))
    if hit is not None and hit[0] is header and isinstance(data, (bytes, bytearray, memoryview)):
        # a header already checked and planned: skip the checks, share its plan (the hot path of MRTask)
        enc = object.__new__(EncodedChunk)
        enc.__dict__.update(codec=header["codec"], nrows=header["nrows"], meta=dict(header["meta"]),
                            data=data if type(data) is bytes else bytes(data), _plan=hit[1])
        return enc
    if not isinstance(header, dict) or set(header) != {"codec", "nrows", "meta"}:
        raise ValueError(f"chunk header must be a dict with codec/nrows/meta, got {header!r:.200}")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError(f"chunk data must be bytes-like, got {type(data).__name__}")
    meta = header["meta"]
    enc = EncodedChunk(header["codec"], header["nrows"], dict(meta) if isinstance(meta, dict) else meta, bytes(data))
    plan = _plan_of(enc)
    with _wire_lock:                    # a sweep lists the entries: no insert may change the dict meanwhile
        _WIRE_PLANS[id(header)] = (header, plan)
    if len(_WIRE_PLANS) > _wire_limit:
        _sweep_wire_plans()
    return enc
