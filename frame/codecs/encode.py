"""Encoding: choose a codec from a chunk's data (H2O's ``NewChunk.compress`` decision tree) and write it.

Floats try, in order: constant, integral offsets (``int``), scaled decimals (``dec``) narrower than 4 bytes, float32
when every bit survives (``f4``), 4-byte ``dec``, raw ``f8``. Integers: constant, ``int`` offsets, raw ``i8``.
Mostly-fill columns (0 or NA) take the row-id ``sparse`` layout below 1/8 stored rows, else the one-bit-per-row
``bitsparse`` layout when at least 1/8 of the rows are fill. Categorical codes use ``cat``, strings ``str``.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from .format import (CANON_NAN_BITS, DEC_LIMIT, EXACT, MAX_ROWS, NEG_ZERO_BITS, POW10, SAMPLE, UINT,
                     EncodedChunk, Encoded, finish, narrow, narrow_width)

_DenseOf = Callable[[np.ndarray], Encoded]  # encodes the rows selected by a mask or row ids

# --------------------------------------------------------------------------- dense float64 codecs

def _raw_float(v: np.ndarray, nas: int) -> Encoded:
    """float32 when every bit survives the round trip, else raw float64."""
    # Out-of-range doubles become inf, signalling NaNs get quieted: the bit check rejects both.
    with np.errstate(over="ignore", invalid="ignore"):
        f4 = v.astype(np.float32)
    if np.array_equal(f4.astype(np.float64).view(np.uint64), v.view(np.uint64)):
        return "f4", {"kind": "f", "nas": nas}, [f4]
    return "f8", {"kind": "f", "nas": nas}, [v]


def _sample(v: np.ndarray) -> np.ndarray:
    return v[:: max(1, v.size // SAMPLE)]


def _try_integral(v: np.ndarray, nanmask: np.ndarray | None, vmin: float, vmax: float) -> Encoded | None:
    """Integral floats (no -0.0) with a range under 2**32 -> the "int" codec, else None."""
    # floor: with a fraction in vmin the offsets stay >= 0 until the check below rejects them
    bias = math.floor(vmin)
    if not (-EXACT <= vmin and vmax <= EXACT) or narrow_width(math.ceil(vmax) - bias) is None:
        return None
    s = _sample(v)
    if not ((np.rint(s) == s) | (s != s)).all():  # cheap reject of non-integral data
        return None
    rng = math.ceil(vmax) - bias
    meta, sections = narrow(v - float(bias), rng, nanmask)
    # Verify with the decoder's own arithmetic: it rejects fractions (truncated by the cast)
    # and -0.0 (== 0, but the integer storage gives back +0.0) in one pass.
    same = np.add(sections[0], float(bias)).view(np.uint64) == v.view(np.uint64)
    if nanmask is not None:
        same |= nanmask
    if not same.all():
        return None
    return "int", {"kind": "f", "bias": bias, **meta}, sections


def _try_decimal(v: np.ndarray, nanmask: np.ndarray | None, vmin: float, vmax: float) -> Encoded | None:
    """Values m / 10**k (k = 1..15) reproduced bit-exactly -> the "dec" codec, else None."""
    big = max(abs(vmin), abs(vmax))
    kmax = int(np.count_nonzero(DEC_LIMIT >= big))  # m = v * 10**k must stay exact
    if kmax == 0:
        return None
    s = _sample(v)
    if nanmask is not None:
        s = s[~np.isnan(s)]
    scaled = np.rint(s[:, None] * POW10[:kmax])
    fits = ((scaled + 0.0) / POW10[:kmax] == s[:, None]).all(axis=0)
    for k in (np.flatnonzero(fits) + 1).tolist():
        p = 10.0 ** k
        m = np.rint(v * p)
        mmin, mmax = int(np.fmin.reduce(m)), int(np.fmax.reduce(m))
        if max(-mmin, mmax) > EXACT:
            continue
        if narrow_width(mmax - mmin) is None:
            return None  # a larger k only widens the range
        # Decoding computes (stored + bias) / p in float64; "+ 0.0" turns -0.0 into the +0.0
        # that the integer storage gives back, so -0.0 inputs are rejected here.
        same = ((m + 0.0) / p).view(np.uint64) == v.view(np.uint64)
        if nanmask is not None:
            same |= nanmask
        if same.all():
            meta, sections = narrow(m - float(mmin), mmax - mmin, nanmask)
            return "dec", {"kind": "f", "bias": mmin, "digits": k, **meta}, sections
    return None


def _dense_float(v: np.ndarray) -> Encoded:
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
    if nas and not (bits[nanmask] == CANON_NAN_BITS).all():
        return _raw_float(v, nas)  # NaN payloads survive only in f4/f8
    vmin, vmax = float(np.fmin.reduce(v)), float(np.fmax.reduce(v))
    if nas == 0 and vmin == vmax and (bits == bits[0]).all():  # bits: 0.0 == -0.0
        return "const", {"kind": "f", "bits": int(bits[0]), "nas": 0}, []
    mask = nanmask if nas else None
    if np.isfinite(vmin) and np.isfinite(vmax):
        found = _try_integral(v, mask, vmin, vmax)
        if found is not None:
            return found
        if (bits == NEG_ZERO_BITS).any():
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


def _dense_int(v: np.ndarray, namask: np.ndarray | None) -> Encoded:
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
    w = narrow_width(rng)
    if w is not None:
        ut = UINT[w]
        # Modular arithmetic in the target width: (v mod 2**8w) - (bias mod 2**8w) wraps to the
        # exact offset because the true offset lies in [0, 2**8w).
        offsets = v.astype(ut, copy=False)
        if vmin:
            offsets = offsets - ut(vmin % 2 ** (8 * w))
        meta, sections = narrow(offsets, rng, namask)
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


def _sparse(kind: str, n: int, fill: str, keep: np.ndarray, nas: int, dense_of: _DenseOf) -> Encoded:
    """Row-id sparse layout (H2O CXI/CXF) of the rows in bool mask ``keep``."""
    idx = np.flatnonzero(keep)
    idx = idx.astype(np.uint16 if n <= 2**16 else np.uint32)
    codec, meta, sections = dense_of(idx)
    head = {"kind": kind, "fill": fill, "nnz": int(idx.size), "idx_width": idx.itemsize, "nas": nas}
    return "sparse", {**head, **_prefixed(codec, meta)}, [idx, *sections]


def _bitsparse(kind: str, fill: str, keep: np.ndarray, nas: int, dense_of: _DenseOf) -> Encoded:
    """One bit per row plus the values of the set rows: pays when >= 1/8 of rows are fill."""
    codec, meta, sections = dense_of(keep)
    head = {"kind": kind, "fill": fill, "nnz": int(np.count_nonzero(keep)), "nas": nas}
    return "bitsparse", {**head, **_prefixed(codec, meta)}, [np.packbits(keep), *sections]


def _choose_layout(kind: str, n: int, fill: str, nfill: int, keep_fn: Callable[[], np.ndarray], nas: int,
                   dense_of: _DenseOf, dense_all: Callable[[], Encoded]) -> Encoded:
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
    canonical = nas == 0 or bool((bits[nanmask] == CANON_NAN_BITS).all())
    if canonical and nas > nzero:
        fill, nfill, keep_fn = "na", nas, lambda: ~nanmask
    else:
        fill, nfill, keep_fn = "zero", nzero, lambda: bits != 0
    codec, meta, sections = _choose_layout(
        "f", n, fill, nfill, keep_fn, nas,
        dense_of=lambda sel: _dense_float(v[sel]), dense_all=lambda: _dense_float(v))
    return finish(codec, n, meta, sections)


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

    def dense_of(sel: np.ndarray) -> Encoded:
        return _dense_int(v[sel], None if namask is None else namask[sel])

    codec, meta, sections = _choose_layout(
        "i", n, fill, nfill, keep_fn, nas, dense_of=dense_of, dense_all=lambda: _dense_int(v, namask))
    return finish(codec, n, meta, sections)


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
    w = narrow_width(top + 1)  # + 1: the all-ones value is the NA sentinel
    if w is None:
        raise ValueError(f"categorical code {top} exceeds the 2**32 - 2 level limit")
    stored = v.astype(UINT[w])
    if nas:
        stored[namask] = 2 ** (8 * w) - 1
    return finish("cat", n, {"kind": "c", "width": w, "nas": nas}, [stored])


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
    if v.size > MAX_ROWS:
        raise ValueError(f"a chunk holds at most {MAX_ROWS} rows, got {v.size}")
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


def encode_strings(values: Sequence[str | None]) -> EncodedChunk:
    """Encode a string chunk: byte lengths, an NA bit mask, UTF-8 bytes; LZ4 when it pays.

    Lengths (not end offsets) are stored, in the narrowest unsigned width: repeated values
    then repeat in the payload too, which LZ4 turns into almost nothing.

    Lone surrogates are kept (``surrogatepass``), so every Python str round-trips.

    >>> from frame.codecs import decode_strings
    >>> decode_strings(encode_strings(["a", None, "été", ""]))
    ['a', None, 'été', '']
    """
    n = len(values)
    if n > MAX_ROWS:
        raise ValueError(f"a chunk holds at most {MAX_ROWS} rows, got {n}")
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
    width = narrow_width(int(lengths.max()) if n else 0) or 8
    lengths = lengths.astype(UINT.get(width, np.uint64))
    sections: list[Any] = [lengths]
    if na_rows:
        mask = np.zeros(n, bool)
        mask[na_rows] = True
        sections.append(np.packbits(mask))
    sections.append(blob)
    meta = {"kind": "s", "nas": len(na_rows), "len_width": width,
            "text_bytes": len(blob), "ascii": blob.isascii()}
    return finish("str", n, meta, sections)
