"""Column chunks as DKV values, and how a frame's rows are cut into chunks and spread over the nodes.

A chunk value is ``Value("chunk", meta=<codec header>, buffers=(payload,))``: the codec's msgpack-safe
header (codec name, row count, codec parameters) and its one payload buffer, so a chunk travels zero-copy
and is decoded only where it is read.
"""
from __future__ import annotations

import math
import operator

import numpy as np

from cluster.dkv import Value

from . import codecs

TARGET_CHUNK_BYTES = 16 << 20     # raw float64 bytes per chunk (all columns), as H2O's parse chunks of MBs
MIN_CHUNK_ROWS = 1000             # H2O: chunks hold between 1e3 and 1e6 values


def int64_integers(x: np.ndarray) -> bool:
    """Whether every value of float array ``x`` (no NaN) is an integer an int64 holds: such float chunks read
    as int64 beside an integer chunk of the same column.

    >>> [int64_integers(np.array(x)) for x in ([1.0, -2.0 ** 62], [0.5], [2.0 ** 63])]
    [True, False, False]
    """
    return bool(np.all(np.abs(x) < 2.0 ** 63) and np.all(x == np.round(x)))


def encode_chunk(values, ctype: str) -> Value:
    """Encode one column chunk of type ``numeric``/``time`` (float or int array; an int array may be a numpy
    masked array, masked where NA), ``enum`` (int codes, -1 = NA) or ``string`` (list of str/None)."""
    if ctype == "string":
        enc = codecs.encode_strings(list(values))
    elif ctype == "enum":
        codes = np.asarray(values)
        if codes.dtype.kind == "f":
            na = np.isnan(codes)
            codes = np.where(na, -1, codes).astype(np.int64)
        enc = codecs.encode(codes.astype(np.int64, copy=False), categorical=True)
    else:
        na = np.ma.getmask(values)
        arr = np.asarray(np.ma.getdata(values))
        if arr.dtype.kind in "biu":
            arr = arr.astype(np.int64, copy=False)
        else:
            arr = np.ascontiguousarray(arr, dtype=np.float64)
        enc = codecs.encode(arr, None if na is np.ma.nomask else np.asarray(na))
    header, data = codecs.to_wire(enc)
    return Value("chunk", header, (data,))


def _enc(value: Value) -> codecs.EncodedChunk:
    return codecs.from_wire(value.meta, value.buffers[0])


def decode_float64(value: Value) -> np.ndarray:
    """What an MRTask map sees: float64, NaN for NA, enum codes as numbers, strings as NaN."""
    enc = _enc(value)
    if enc.codec == "str":
        return np.full(enc.nrows, np.nan)
    return codecs.decode_float64(enc)


_META = operator.attrgetter("meta")


class ColumnBlock:
    """A chunk set's column chunks (one row count), ready to decode any run of them as :func:`decode_float64`
    into the rows of one (k, nrows) array, the planned ones in a single kernel call (what an MRTask's
    ``cs.matrix()`` and a map reading columns in order use).

    >>> blk = ColumnBlock([encode_chunk([1, 2], "numeric"), encode_chunk(["a", None], "string")])
    >>> blk.decode(0, 2).tolist()
    [[1.0, 2.0], [nan, nan]]
    """

    def __init__(self, values: list[Value]) -> None:
        self.values = values
        self._batch = codecs.Batch(list(map(_META, values)), [v.buffers[0] for v in values])

    def decode(self, lo: int, hi: int) -> np.ndarray:
        out, left = self._batch.decode(lo, hi)
        for j in left:
            out[j - lo] = decode_float64(self.values[j])
        return out


def decode_native(value: Value):
    """Values in their stored kind: float64, int64 (with the NA mask), or a list of strings."""
    enc = _enc(value)
    if enc.codec == "str":
        return codecs.decode_strings(enc), None
    return codecs.decode(enc), codecs.decode_na(enc)


def is_string_chunk(value: Value) -> bool:
    return value.meta["codec"] == "str"


def chunk_rows(value: Value) -> int:
    return int(value.meta["nrows"])


def plan_chunks(nrows: int, ncols: int, n_nodes: int, cores: int) -> np.ndarray:
    """Row starts of the chunks (an ESPC array, H2O's name: ``espc[i]`` first row of chunk i, last = nrows).

    Big enough to amortise per-chunk overhead (about 16 MB of float64 per chunk, at least 1000 rows),
    small enough that every core of every node gets work (at least 2 chunks per core when rows allow).
    """
    if nrows <= 0:
        return np.array([0, 0], dtype=np.int64)
    by_bytes = math.ceil(nrows * max(ncols, 1) * 8 / TARGET_CHUNK_BYTES)
    by_cores = 2 * cores * n_nodes
    n = max(by_bytes, by_cores)
    n = max(1, min(n, nrows // MIN_CHUNK_ROWS if nrows >= MIN_CHUNK_ROWS else 1))
    return np.linspace(0, nrows, n + 1).round().astype(np.int64)


def spread_homes(nchunks: int, members: list[str]) -> list[str]:
    """Chunk i goes to member i mod n: every node gets the same share, neighbours differ."""
    return [members[i % len(members)] for i in range(nchunks)]
