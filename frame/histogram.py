"""Histograms of numeric columns by one MRTask (what H2O's rollups keep as bins for Flow's column summaries).

Bins are equal-width between each column's rollup min and max; an integer column whose range is narrower
than the bin count gets one bin per integer. NA and infinite values are not binned (the rollups count them).

>>> h = histograms(fr, ["AGE"], nbins=10)[0]                      # doctest: +SKIP
>>> h["breaks"][0], h["breaks"][-1], sum(h["counts"])             # doctest: +SKIP
(43.0, 79.0, 380)
"""
from __future__ import annotations

import math

import numpy as np

from cluster.mrtask import MRTask

from .rollups import rollup_stats

MAX_BINS = 1000


class HistogramTask(MRTask):
    """Counts per bin: column ``i`` has ``nbins[i]`` bins of width ``width[i]`` from ``lo[i]``."""
    lo: np.ndarray = None
    width: np.ndarray = None
    nbins: np.ndarray = None
    counts: np.ndarray = None          # (columns, max bins) int64

    def map(self, cs):
        k, m = len(cs), int(self.nbins.max())
        counts = np.zeros((k, m), dtype=np.int64)
        for i in range(k):
            x = cs[i]
            x = x[np.isfinite(x)]
            n = int(self.nbins[i])
            idx = np.floor((x - self.lo[i]) / self.width[i]).astype(np.int64)
            np.clip(idx, 0, n - 1, out=idx)             # the max lands in the last bin
            counts[i, :n] = np.bincount(idx, minlength=n)[:n]
        self.counts = counts

    def reduce(self, o):
        if o.counts is not None:
            self.counts = o.counts if self.counts is None else self.counts + o.counts


def _bins(st: dict, nbins: int) -> tuple[float, float, int] | None:
    lo, hi = st["min"], st["max"]
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    if st.get("is_int") and hi - lo + 1 <= nbins:
        return lo - 0.5, 1.0, int(hi - lo + 1)               # one bin per integer, centred on it
    if hi == lo:
        return lo - 0.5, 1.0, 1
    return lo, (hi - lo) / nbins, nbins


def histograms(frame, columns=None, nbins: int = 20, cloud=None) -> list[dict | None]:
    """Histogram of each numeric column in ``columns`` (names or indices; default all): ``{"breaks":
    [nbins + 1 edges], "counts": [nbins]}``; None for a non-numeric column or one without finite values."""
    if not 1 <= nbins <= MAX_BINS:
        raise ValueError(f"nbins must be in 1..{MAX_BINS}, got {nbins}")
    cols = [frame.col_index(c) for c in (range(frame.ncols) if columns is None else columns)]
    stats = rollup_stats(frame, cloud)
    types = frame._h["types"]
    plan = {i: _bins(stats[i], nbins) for i in cols if types[i] in ("numeric", "time")}
    plan = {i: b for i, b in plan.items() if b is not None}
    out: dict[int, dict] = {}
    if plan and frame.nrows:
        order = sorted(plan)
        task = HistogramTask(lo=np.array([plan[i][0] for i in order]), width=np.array([plan[i][1] for i in order]),
                             nbins=np.array([plan[i][2] for i in order], dtype=np.int64))
        task.do_all(frame, columns=order, cloud=cloud or frame._cloud)
        for j, i in enumerate(order):
            lo, width, n = plan[i]
            counts = task.counts[j, :n] if task.counts is not None else np.zeros(n, dtype=np.int64)
            out[i] = {"breaks": [float(lo + width * b) for b in range(n + 1)], "counts": [int(c) for c in counts]}
    return [out.get(i) for i in cols]
