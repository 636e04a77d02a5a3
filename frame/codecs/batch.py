"""Batches: any run of a chunk set's wire chunks decoded to float64 in one kernel call holding no GIL.

The plans of a set of headers are stacked into two tables (made once per set and cached) and the kernel reads
every payload where it lies (for ``bytes``, at CPython's fixed offset from the object's address).
"""
from __future__ import annotations

import ctypes
from typing import Any, Sequence

import lz4.block
import numpy as np
from numba import carray, njit

from frame.llvm_intrinsics import pointer

from .planned import P_SIZE, decode_kernel
from .pool import POOL_MIN_ROWS, pooled_empty
from .wire import wire_lock, wire_plan

_NO_IPLAN, _NO_FPLAN = bytes(8 * P_SIZE), bytes(8 * 3)     # the plan rows of an unplanned chunk


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


@njit(nogil=True, cache=True, error_model="numpy")
def _decode_run_kernel(addrs, lens, ips, fps, planned, lo, out):
    """Decode chunks lo .. lo + len(out) - 1 that are ``planned`` (payload j: ``lens[j]`` bytes at ``addrs[j]``,
    plans ``ips[j]``, ``fps[j]``) into the rows of ``out``; -1, or the first j whose payload is inconsistent."""
    for r in range(out.shape[0]):
        j = lo + r
        if planned[j]:
            buf = carray(pointer(addrs[j]), (lens[j],), np.uint8)
            if decode_kernel(buf, ips[j], fps[j], out[r]):
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
            plan = wire_plan(header)                 # a malformed header raises, as from_wire does
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
        self.ips = np.frombuffer(b"".join(irows), np.int64).reshape(k, P_SIZE)
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
    with wire_lock:
        plan = _SET_PLANS.pop(key, None)
        if plan is not None:
            _SET_PLANS[key] = plan                    # most recently used last
            return plan
    plan = _SetPlan(tuple(headers))
    with wire_lock:
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

    >>> from frame.codecs import encode, to_wire
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
        out = (pooled_empty(size) if size >= POOL_MIN_ROWS else np.empty(size)).reshape(hi - lo, self.nrows)
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
