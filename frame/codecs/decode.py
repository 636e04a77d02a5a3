"""The checked decoders: every header field and payload length verified, a precise ``ValueError`` otherwise.

:func:`decode_float64` first tries the planned decoder (:mod:`.planned`, one Numba kernel per chunk) and falls back
to this code for what the plan does not cover (strings, malformed headers) or finds inconsistent, so an error
always names what was wrong. NA conventions: float chunks decode NA as NaN; integer chunks as 0 (see
:func:`decode_na`), categorical chunks as -1; :func:`decode_float64` always gives NaN at NA.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np
from numba import njit

from .format import EXACT, KINDS, MAX_DIGITS, UINT, EncodedChunk, split_inner, payload_of, read_narrow, Reader
from .planned import decode_fast
from .pool import check_out

def _kind(enc: EncodedChunk) -> str:
    kind = enc.meta.get("kind")
    if kind == "s":
        raise ValueError("string chunks decode with decode_strings, not as numbers")
    if kind not in KINDS:
        raise ValueError(f"malformed {enc.codec} chunk: meta['kind'] must be one of {KINDS}, got {kind!r}")
    return kind


# Recycled outputs. A frame pass that keeps every decoded column of a chunk until its map ends (MRTask's
# ChunkSet does) frees tens of MB per chunk; the allocator gives that back to the OS and the next chunk
# page-faults it in again (F-MNIST: 72k faults, 2/3 of a column-sum pass). So decode outputs of
# POOL_MIN_ROWS rows or more come from a per-thread pool: an array is handed out again only once the

def _dec_float_into(codec: str, meta: dict[str, Any], rd: Reader, n: int, out: np.ndarray) -> None:
    if codec == "const":
        if meta["kind"] == "i":
            out.fill(np.nan if meta["nas"] else float(meta["value"]))
        else:
            out.view(np.uint64).fill(meta["bits"])
        return
    if codec in ("int", "dec"):
        stored, namask = read_narrow(meta, rd, n)
        bias = meta["bias"]
        if abs(bias) + 2 ** (8 * stored.itemsize) <= EXACT:
            np.add(stored, float(bias), out=out)  # exact: every operand and sum is below 2**53
        else:  # int64 beyond 2**53: round once, like decode(...).astype(float)
            np.copyto(out, stored.astype(np.int64) + np.int64(bias))
        if codec == "dec":
            digits = meta["digits"]
            if not isinstance(digits, int) or not 1 <= digits <= MAX_DIGITS:
                raise ValueError(f"meta['digits'] must be in 1..{MAX_DIGITS}, got {digits!r}")
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
        stored, namask = read_narrow({"width": meta["width"], "na": "sentinel" if meta["nas"] else "none"}, rd, n)
        np.copyto(out, stored)
    else:
        raise ValueError(f"codec {codec!r} is not a dense numeric codec")
    if namask is not None:
        np.copyto(out, np.nan, where=namask)


def _dec_int(codec: str, meta: dict[str, Any], rd: Reader, n: int) -> np.ndarray:
    if codec == "const":
        return np.full(n, meta["value"], np.int64)
    if codec in ("int", "cat"):
        if codec == "int":
            stored, namask = read_narrow(meta, rd, n)
        else:
            stored, namask = read_narrow({"width": meta["width"], "na": "sentinel" if meta["nas"] else "none"}, rd, n)
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


def _dec_na(codec: str, meta: dict[str, Any], rd: Reader, n: int) -> np.ndarray:
    if codec == "const":
        return np.full(n, bool(meta["nas"]))
    if codec in ("int", "dec"):
        namask = read_narrow(meta, rd, n)[1]
    elif codec == "cat":
        namask = read_narrow({"width": meta["width"], "na": "sentinel"}, rd, n)[1]
    elif codec == "i8":
        namask = None if meta["na_value"] is None else rd.array(np.int64, n) == meta["na_value"]
    elif codec in ("f4", "f8"):
        namask = np.isnan(rd.array(np.float32 if codec == "f4" else np.float64, n))
    else:
        raise ValueError(f"codec {codec!r} is not a dense numeric codec")
    return np.zeros(n, bool) if namask is None else namask


def _sparse_rows(enc: EncodedChunk, rd: Reader) -> tuple[np.ndarray | None, np.ndarray | None, int]:
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
        idx = rd.array(UINT[iw], nnz)
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

    >>> from frame.codecs import encode
    >>> decode_float64(encode(np.array([1, 2, -1]), categorical=True)).tolist()
    [1.0, 2.0, nan]
    """
    fast = decode_fast(enc, out)
    if fast is not None:
        return fast
    _kind(enc)
    n = enc.nrows
    out = check_out(out, n)
    rd = Reader(payload_of(enc))
    if enc.codec in ("sparse", "bitsparse"):
        idx, packed, nnz = _sparse_rows(enc, rd)
        codec, meta = split_inner(enc.meta)
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

    >>> from frame.codecs import encode
    >>> decode(encode(np.array([-2**63, 0, 2**63 - 1]))).tolist() == [-2**63, 0, 2**63 - 1]
    True
    """
    if _kind(enc) == "f":
        return decode_float64(enc)
    n = enc.nrows
    rd = Reader(payload_of(enc))
    if enc.codec in ("sparse", "bitsparse"):
        idx, packed, nnz = _sparse_rows(enc, rd)
        codec, meta = split_inner(enc.meta)
        out = np.zeros(n, np.int64)
        out[idx if idx is not None else _keep_mask(packed, n, nnz)] = _dec_int(codec, {**meta, "kind": "i"}, rd, nnz)
    else:
        out = _dec_int(enc.codec, enc.meta, rd, n)
    rd.finish()
    return out


@_guard
def decode_na(enc: EncodedChunk) -> np.ndarray | None:
    """Bool mask of NA rows, or None when the chunk has none.

    >>> from frame.codecs import encode
    >>> decode_na(encode(np.array([1.0, np.nan]))).tolist()
    [False, True]
    """
    kind = _kind(enc)
    n = enc.nrows
    if enc.meta["nas"] == 0:
        return None
    rd = Reader(payload_of(enc))
    if enc.codec in ("sparse", "bitsparse"):
        idx, packed, nnz = _sparse_rows(enc, rd)
        where = idx if idx is not None else _keep_mask(packed, n, nnz)
        if enc.meta["fill"] == "na":
            mask = np.ones(n, bool)
            mask[where] = False
            return mask
        codec, meta = split_inner(enc.meta)
        mask = np.zeros(n, bool)
        mask[where] = _dec_na(codec, {**meta, "kind": kind}, rd, nnz)
        return mask
    return _dec_na(enc.codec, enc.meta, rd, n)


@_guard
def decode_strings(enc: EncodedChunk) -> list[str | None]:
    """Decode a chunk made by ``encode_strings``."""
    if enc.codec != "str":
        raise ValueError(f"decode_strings needs a str chunk, got {enc.codec!r}")
    n, meta = enc.nrows, enc.meta
    width = meta["len_width"]
    if width not in (1, 2, 4, 8):
        raise ValueError(f"meta['len_width'] must be 1, 2, 4 or 8, got {width!r}")
    rd = Reader(payload_of(enc))
    lengths = rd.array(UINT.get(width, np.uint64), n)
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
