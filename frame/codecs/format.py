"""The chunk format: codec names, the encoded chunk, payload sections, LZ4, narrow unsigned storage.

Everything the encoder (:mod:`.encode`) and the decoders (:mod:`.decode`, :mod:`.planned`) agree on: a payload is a
list of sections (numpy arrays or bytes), each padded to 8 bytes so that decoding views stay aligned, LZ4-compressed
as a whole when that saves at least 20 %; integers are stored as offsets from a bias in 1, 2 or 4 unsigned bytes with
NA as the width's all-ones sentinel or a bit mask; a sparse chunk keeps its dense codec's meta keys with a ``v_``
prefix (meta stays flat and msgpack-safe).

>>> narrow_width(300), len(_pack([np.arange(3, dtype=np.uint8), b"xy"]))      # 3 bytes padded to 8, then 2
(2, 10)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import lz4.block
import numpy as np

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

INNER_CODECS = ("const", "int", "dec", "f4", "f8", "i8")   # the dense codecs a sparse chunk's values may use
HEADER_BYTES = 40  # rough size of codec/nrows/meta once msgpack'ed, counted in nbytes

CANON_NAN_BITS = int(np.array(np.nan).view(np.uint64))  # 0x7FF8000000000000
NEG_ZERO_BITS = 1 << 63
UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32}
MAX_ROWS = 2**32 - 1          # row ids of the sparse codec are at most uint32
EXACT = 2**53                 # integers up to here are exact in float64
MAX_DIGITS = 15               # 10.0**k is exact for k <= 22; 15 keeps m within 2**53 for |v| < 10
POW10 = 10.0 ** np.arange(1, MAX_DIGITS + 1)
DEC_LIMIT = EXACT / POW10    # largest |v| usable with k digits (decreasing in k)
SAMPLE = 64                   # values looked at before a full integral/decimal check
_LZ4_MIN = 64                  # smaller payloads are never worth a compressor header
_LZ4_RATIO = 0.8               # keep LZ4 only when it saves at least 20 %
_LZ4_SAMPLE_OVER = 1 << 16     # above this, try a sample first (as dask's maybe_compress)
_LZ4_SAMPLE_PIECES = 8
_LZ4_SAMPLE_PIECE = 2048
_LZ4_SAMPLE_RATIO = 0.9
KINDS = ("f", "i", "c")       # float64 / integer / categorical input

# (codec, meta, payload sections) before packing and LZ4
Encoded = tuple[str, dict[str, Any], list[Any]]


@dataclass(frozen=True)
class EncodedChunk:
    """One encoded column chunk.

    >>> from frame.codecs import encode
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
        if not isinstance(self.nrows, int) or isinstance(self.nrows, bool) or not 0 <= self.nrows <= MAX_ROWS:
            raise ValueError(f"nrows must be an int in [0, {MAX_ROWS}], got {self.nrows!r}")
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


class Reader:
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


def payload_of(enc: EncodedChunk) -> bytes:
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


def finish(codec: str, n: int, meta: dict[str, Any], sections: Sequence[bytes | np.ndarray]) -> EncodedChunk:
    data, raw = _maybe_lz4(_pack(sections))
    if raw is not None:
        meta = {**meta, "lz4": raw}
    return EncodedChunk(codec, n, meta, data)


# --------------------------------------------------------------------------- narrow unsigned storage

def narrow_width(rng: int) -> int | None:
    """Narrowest of 1/2/4 bytes whose unsigned range holds 0..rng, None if none does."""
    for w in (1, 2, 4):
        if rng <= 2 ** (8 * w) - 1:
            return w
    return None


def narrow(offsets: np.ndarray, rng: int, namask: np.ndarray | None) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Store ``offsets`` (value - bias, exact, garbage at NA rows) as unsigned ints.

    NA is the all-ones sentinel of the width unless the data reaches it; then a bit mask follows.
    """
    w = narrow_width(rng)
    assert w is not None, "caller checks the range"
    ut = UINT[w]
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


def read_narrow(meta: dict[str, Any], rd: Reader, n: int) -> tuple[np.ndarray, np.ndarray | None]:
    w = meta["width"]
    if w not in UINT:
        raise ValueError(f"meta['width'] must be 1, 2 or 4, got {w!r}")
    stored = rd.array(UINT[w], n)
    mode = meta["na"]
    if mode == "none":
        return stored, None
    if mode == "sentinel":
        return stored, stored == 2 ** (8 * w) - 1
    if mode == "mask":
        return stored, rd.bits(n)
    raise ValueError(f"meta['na'] must be none/sentinel/mask, got {mode!r}")


def split_inner(meta: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    inner = {k[2:]: val for k, val in meta.items() if k.startswith("v_")}
    codec = inner.pop("codec")
    if codec not in INNER_CODECS:
        raise ValueError(f"sparse chunk cannot hold values as {codec!r}")
    return codec, inner
