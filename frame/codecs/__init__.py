"""Chunk codecs: encode one column chunk into compact bytes and decode it back.

A chunk is one column's rows ``[start, start + n)``. ``encode`` picks a codec from the data,
following H2O's ``NewChunk.compress`` decision tree (constant, sparse, narrow integers with a
bias, scaled decimals, float32 where exact, raw float64/int64, categorical codes), then
LZ4-compresses the payload when that pays. Every float64 round-trips bit-exactly (NaN payloads,
+-inf, -0.0, subnormals) and every int64 too (extremes included).

The package, bottom up (each module imports only those above it in this list):

* :mod:`.format`  -- codec names, :class:`EncodedChunk`, payload sections, LZ4, narrow unsigned storage
* :mod:`.encode`  -- the codec choice and the encoders (numbers, categoricals, strings)
* :mod:`.pool`    -- recycled float64 decode outputs (per thread)
* :mod:`.simd`    -- AVX-512 mask expansion of bitsparse chunks (LLVM IR; the scalar scatter elsewhere)
* :mod:`.planned` -- the fast float64 decoder: a plan per header, one Numba kernel per chunk
* :mod:`.decode`  -- the checked decoders (every field verified, precise errors), the public decode calls
* :mod:`.wire`    -- the wire form (header + payload), decode plans cached per header
* :mod:`.batch`   -- runs of a chunk set decoded in one kernel call

NA conventions: float input uses NaN; integer input takes a separate bool mask ``na`` and
decodes NA rows as 0 (use ``decode_na``); categorical codes use -1. ``decode_float64`` always
gives NaN at NA.

>>> enc = encode(np.array([1.5, 2.25, np.nan] + [0.75] * 8))
>>> enc.codec, decode(enc).tolist()[:3]
('dec', [1.5, 2.25, nan])
>>> decode_float64(encode(np.array([3, 0, 7]), na=np.array([False, True, False]))).tolist()
[3.0, nan, 7.0]
"""
import numpy as np  # noqa: F401  (the examples above use it)

from .batch import Batch
from .decode import decode, decode_float64, decode_na, decode_strings
from .encode import encode, encode_strings
from .format import CODECS, HEADER_BYTES, EncodedChunk
from .pool import release_buffers
from .wire import from_wire, to_wire

__all__ = ["CODECS", "HEADER_BYTES", "Batch", "EncodedChunk", "decode", "decode_float64", "decode_na",
           "decode_strings", "encode", "encode_strings", "from_wire", "release_buffers", "to_wire"]
