"""The wire form of a chunk: a msgpack-safe header and the raw payload, with decode plans cached per header.
"""
from __future__ import annotations

import sys
import threading
from typing import Any

from .format import EncodedChunk
from .planned import plan_of

# --------------------------------------------------------------------------- wire format

def to_wire(enc: EncodedChunk) -> tuple[dict[str, Any], bytes]:
    """A msgpack-able header and the raw payload buffer (sent as a separate frame).

    >>> import numpy as np
    >>> from frame.codecs import encode
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
wire_lock = threading.Lock()


def _sweep_wire_plans() -> None:
    global _wire_limit
    with wire_lock:
        if len(_WIRE_PLANS) <= _wire_limit:
            return
        for key, entry in list(_WIRE_PLANS.items()):
            # references: the entry tuple and getrefcount's argument -> nobody else holds the header
            if sys.getrefcount(entry[0]) <= 2 and _WIRE_PLANS.get(key) is entry:
                del _WIRE_PLANS[key]
        _wire_limit = max(_WIRE_MIN, 2 * len(_WIRE_PLANS))


def wire_plan(header: dict[str, Any]) -> Any:
    """The decode plan of a wire header (False when it has none), cached as :func:`from_wire` caches it;
    malformed headers raise ValueError."""
    hit = _WIRE_PLANS.get(id(header))
    if hit is not None and hit[0] is header:
        return hit[1]
    return plan_of(from_wire(header, b""))


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
    plan = plan_of(enc)
    with wire_lock:                    # a sweep lists the entries: no insert may change the dict meanwhile
        _WIRE_PLANS[id(header)] = (header, plan)
    if len(_WIRE_PLANS) > _wire_limit:
        _sweep_wire_plans()
    return enc
