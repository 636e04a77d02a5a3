"""Recycled float64 decode outputs: a per-thread pool of arrays handed out again once nobody holds them.

>>> a = pooled_empty(5000); a.size
5000
"""
from __future__ import annotations

import sys
import threading

import numpy as np

# pool's own reference is the last one (every view, memoryview or container holding it counts), so a
# caller never sees its array reused. Each thread's pool keeps at most _POOL_BYTES of arrays.
POOL_MIN_ROWS = 2048
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


def pooled_empty(n: int) -> np.ndarray:
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


def check_out(out: np.ndarray | None, n: int) -> np.ndarray:
    if out is None:
        return pooled_empty(n) if n >= POOL_MIN_ROWS else np.empty(n, np.float64)
    if (not isinstance(out, np.ndarray) or out.dtype != np.float64 or out.shape != (n,)
            or not out.flags.c_contiguous or not out.flags.writeable):
        raise ValueError(f"out must be a writeable contiguous float64 array of shape ({n},)")
    return out
