"""Rollup statistics per column, computed once by an MRTask and cached in the DKV next to the vec.

min, max, mean, sigma (sample, N-1), NA count, zero count, rows (non-NA), +/-inf counts and whether every
value is an integer -- H2O's RollupStats. Means and variances merge across chunks with Chan's formula.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from cluster.dkv import Value
from cluster.mrtask import MRTask

from .chunks import decode_native, is_string_chunk
from .store import rollup_key

STATS = ("min", "max", "mean", "sigma", "na_count", "zero_count", "rows", "pinfs", "ninfs", "is_int")


class RollupTask(MRTask):
    n: np.ndarray = None        # finite, non-NA values
    mean: np.ndarray = None
    m2: np.ndarray = None
    mins: np.ndarray = None
    maxs: np.ndarray = None
    nas: np.ndarray = None
    zeros: np.ndarray = None
    pinfs: np.ndarray = None
    ninfs: np.ndarray = None
    nonint: np.ndarray = None

    def map(self, cs):
        out = chunk_partials([cs[i] for i in range(len(cs))])
        for i, value in enumerate(getattr(cs, "values", ())):   # (a list of arrays stands in for a chunkset)
            if is_string_chunk(value):    # read as numbers a string chunk is all NA: count its real NAs
                out[i, 5] = sum(s is None for s in decode_native(value)[0])
        self.set_partial(out)

    def set_partial(self, out: np.ndarray) -> "RollupTask":
        """Take one chunk's :func:`chunk_partials` (what ``map`` computes) as this task's state."""
        self.n, self.mean, self.m2, self.mins, self.maxs, self.nas, self.zeros, self.pinfs, self.ninfs, \
            self.nonint = (np.ascontiguousarray(out[:, j]) for j in range(10))
        # infinities count toward min/max as H2O does
        self.mins = np.where(self.ninfs > 0, -np.inf, self.mins)
        self.maxs = np.where(self.pinfs > 0, np.inf, self.maxs)
        return self

    def reduce(self, o):
        if self.n is None:
            self.set_state(o.get_state())
            return
        if o.n is None:
            return
        n = self.n + o.n
        delta = o.mean - self.mean
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n > 0, self.mean + delta * np.where(n > 0, o.n / n, 0), 0.0)
            m2 = self.m2 + o.m2 + np.where(n > 0, delta ** 2 * self.n * o.n / n, 0.0)
        self.n, self.mean, self.m2 = n, mean, m2
        self.mins, self.maxs = np.minimum(self.mins, o.mins), np.maximum(self.maxs, o.maxs)
        for f in ("nas", "zeros", "pinfs", "ninfs", "nonint"):
            setattr(self, f, getattr(self, f) + getattr(o, f))

    def stats(self, i: int) -> dict:
        n = float(self.n[i])
        return {"min": float(self.mins[i]) if n or self.ninfs[i] else float("nan"),
                "max": float(self.maxs[i]) if n or self.pinfs[i] else float("nan"),
                "mean": float(self.mean[i]) if n else float("nan"),
                "sigma": float(np.sqrt(self.m2[i] / (n - 1))) if n > 1 else (0.0 if n == 1 else float("nan")),
                "na_count": int(self.nas[i]), "zero_count": int(self.zeros[i]), "rows": int(n),
                "pinfs": int(self.pinfs[i]), "ninfs": int(self.ninfs[i]), "is_int": bool(self.nonint[i] == 0)}


@njit(cache=True, nogil=True, error_model="numpy")
def _column_stats(x):
    """(n, mean, m2, min, max, NAs, zeros, +infs, -infs, non-integers) of one chunk's column: two passes
    instead of a dozen numpy calls per column (a 785-column frame made those calls the cost).

    >>> [float(v) for v in _column_stats(np.array([1.0, np.nan, 3.0, 0.0, np.inf]))]
    [3.0, 1.3333333333333333, 4.666666666666667, 0.0, 3.0, 1.0, 1.0, 1.0, 0.0, 0.0]
    """
    n = 0
    nas = zeros = pinfs = ninfs = nonint = 0
    total = 0.0
    lo, hi = np.inf, -np.inf
    for v in x:
        if np.isnan(v):
            nas += 1
        elif v == np.inf:
            pinfs += 1
        elif v == -np.inf:
            ninfs += 1
        else:
            n += 1
            total += v
            lo = min(lo, v)
            hi = max(hi, v)
            zeros += v == 0.0
            nonint += v != np.round(v)
    mean = total / n if n else 0.0
    m2 = 0.0
    if n:
        for v in x:
            if np.isfinite(v):
                m2 += (v - mean) * (v - mean)
    return np.array([n, mean, m2, lo, hi, nas, zeros, pinfs, ninfs, nonint], dtype=np.float64)


def chunk_partials(columns) -> np.ndarray:
    """(k, 10) partial rollups of one chunk's k columns (float64 arrays, NaN = NA): what a RollupTask maps."""
    out = np.empty((len(columns), 10))
    for i, x in enumerate(columns):
        out[i] = _column_stats(x)
    return out


def rollups_from_partials(partials: list[np.ndarray]) -> list[dict]:
    """Each column's rollups from its chunks' partials, merged in chunk order as one node's RollupTask merges
    them (the import computes them from the parsed values, as H2O's parse starts every vec's rollups)."""
    acc = RollupTask().set_partial(partials[0])
    for p in partials[1:]:
        acc.reduce(RollupTask().set_partial(p))
    return [acc.stats(i) for i in range(len(acc.n))]


def store_rollups(vecs: list[str], stats: list[dict], cloud) -> list[Value]:
    """Cache each vec's rollups in the DKV (one put for all); returns the stored values."""
    values = [Value("rollups", st) for st in stats]
    cloud.dkv.put_many([(rollup_key(v), value) for v, value in zip(vecs, values)])
    return values


def rollup_stats(frame, cloud=None) -> list[dict]:
    """Rollups of every column of ``frame``, computing (once, in one MRTask) those not yet cached."""
    cloud = cloud or frame.cloud
    keys = [rollup_key(v) for v in frame.vecs]
    cached = cloud.dkv.get_many(keys)
    missing = [i for i, v in enumerate(cached) if v is None]
    if missing and frame.nrows:
        header = frame.header
        task = RollupTask().do_all(frame, columns=missing, cloud=cloud)
        stats = []
        for j, i in enumerate(missing):
            st = task.stats(j)
            if header["types"][i] == "enum" and len(header["domains"][i] or []) > 2:
                st["mean"] = st["sigma"] = float("nan")       # H2O: no mean of a many-level factor
            stats.append(st)
        for i, value in zip(missing, store_rollups([frame.vecs[i] for i in missing], stats, cloud)):
            cached[i] = value
    return [dict(v.meta) if v is not None else {s: float("nan") for s in STATS} for v in cached]
