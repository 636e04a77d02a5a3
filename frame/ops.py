"""Frame operations that run as MRTasks: asfactor, split_frame, summary.

>>> fr["y"] = fr["y"].asfactor()                                  # doctest: +SKIP
>>> train, valid = fr.split_frame(ratios=[0.8], seed=1234)        # doctest: +SKIP
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from cluster.mrtask import MRTask

from .chunks import decode_native, encode_chunk, int64_integers
from .rollups import rollup_stats
from .store import check_destination, delete_vecs, new_vec_key, put_header

if TYPE_CHECKING:                 # frame.frame imports this module: its Frame class is only a type here
    from .frame import Frame


def _stored_like(frame: "Frame", header: dict) -> "Frame":
    """Store ``header`` and return a handle of the input frame's class on it."""
    check_destination(header["key"], frame.cloud)
    return type(frame)(header["key"], put_header(header, frame.cloud), frame.cloud)


# ------------------------------------------------------------------------------------- asfactor
class UniqueTask(MRTask):
    """Distinct values of one column: numbers (float64 from float chunks, int64 from integer chunks, so that
    integers beyond 2**53 stay distinct) or strings."""
    nums: np.ndarray = None
    ints: np.ndarray = None
    strs: list = None

    def map(self, cs):
        vals, na = decode_native(cs.values[0])
        if isinstance(vals, list):
            self.strs = sorted({v for v in vals if v is not None})
            return
        if na is not None:
            vals = vals[~na]
        if vals.dtype.kind in "iu":
            self.ints = np.unique(vals.astype(np.int64, copy=False))
        else:
            self.nums = np.unique(vals[~np.isnan(vals)])

    def reduce(self, o):
        for name in ("nums", "ints"):
            mine, theirs = getattr(self, name), getattr(o, name)
            if theirs is not None:
                setattr(self, name, theirs if mine is None else np.union1d(mine, theirs))
        if o.strs is not None:
            self.strs = o.strs if self.strs is None else sorted(set(self.strs) | set(o.strs))

    def levels(self) -> np.ndarray:
        """The sorted numeric levels: int64 when integer chunks hold some and the float chunks' values are all
        integers of the int64 range (a CSV id column keeps its big integers exact), else float64."""
        nums = self.nums if self.nums is not None else np.empty(0)
        if self.ints is None:
            return nums
        if int64_integers(nums):
            return np.union1d(self.ints, nums.astype(np.int64))
        return np.union1d(self.ints.astype(np.float64), nums)


class ToCodesTask(MRTask):
    """Rewrite one column as categorical codes into ``domain`` (a new vec)."""
    out_vec: str = ""
    numeric_levels: np.ndarray = None
    domain: list = None

    def map(self, cs):
        vals, na = decode_native(cs.values[0])
        if isinstance(vals, list):
            index = {d: i for i, d in enumerate(self.domain)}
            codes = np.array([-1 if v is None else index[v] for v in vals], dtype=np.int64)
        elif self.numeric_levels.dtype.kind == "i":      # exact integer levels (UniqueTask.levels)
            missing = np.isnan(vals) if vals.dtype.kind == "f" else np.zeros(len(vals), bool)
            if na is not None:
                missing |= na
            v = np.where(missing, 0, vals).astype(np.int64)
            codes = np.searchsorted(self.numeric_levels, v).astype(np.int64)
            codes[missing] = -1
        else:
            v = vals.astype(np.float64)
            if na is not None:
                v[na] = np.nan
            codes = np.searchsorted(self.numeric_levels, v).astype(np.int64)
            codes[np.isnan(v)] = -1
        cs.put_local(self.out_vec, encode_chunk(codes, "enum"))


class CopyVecTask(MRTask):
    """Copy one column's chunks into a new vec, each on its node (chunk values are immutable: the same bytes
    under the new keys)."""
    out_vec: str = ""

    def map(self, cs):
        cs.put_local(self.out_vec, cs.values[0])


def copy_column(column: Frame) -> str:
    """A new vec holding a copy of one-column frame ``column``'s data; returns its key."""
    out = new_vec_key()
    try:
        CopyVecTask(out_vec=out).do_all(column, cloud=column.cloud)
    except BaseException:
        delete_vecs(column.cloud, [out])
        raise
    return out


def _level_name(v) -> str:
    return str(int(v)) if isinstance(v, (int, np.integer)) or float(v).is_integer() else repr(float(v))


def asfactor(frame: Frame) -> Frame:
    """A new one-column categorical frame from a numeric or string column (H2O's ``as.factor``).
    Numeric levels are named like H2O's (``"0"``, ``"1"``, ``"2.5"``) and ordered by value; string
    levels are sorted."""
    if frame.ncols != 1:
        raise ValueError(f"asfactor works on one column; select it first (fr['col'].asfactor()), "
                         f"this frame has {frame.ncols}")
    ctype = frame.header["types"][0]
    if ctype == "enum":
        return frame
    if ctype == "time":
        raise ValueError(f"column {frame.names[0]!r} is a time column: convert it to numbers first")
    u = UniqueTask().do_all(frame, cloud=frame.cloud)
    if ctype == "string":
        domain, levels = list(u.strs or []), None
    else:
        levels = u.levels()
        domain = [_level_name(v) for v in levels]
    if len(domain) > 10_000_000:
        raise ValueError(f"column {frame.names[0]!r} has {len(domain)} levels: over H2O's limit of 10,000,000")
    out = new_vec_key()
    try:
        ToCodesTask(out_vec=out, numeric_levels=levels, domain=domain).do_all(frame, cloud=frame.cloud)
        h = frame.header
        header = {"key": f"{frame.key.split('[')[0]}_{frame.names[0]}_asfactor_{out[-8:]}", "names": frame.names,
                  "types": ["enum"], "domains": [domain], "vecs": [out], "espc": h["espc"], "homes": h["homes"],
                  "dtypes": [None], "owned": [out], "temporary": True}
        return _stored_like(frame, header)
    except BaseException:
        delete_vecs(frame.cloud, [out])
        raise


# ------------------------------------------------------------------------------------- split_frame
class SplitTask(MRTask):
    """Assign each row to a split by a seeded uniform draw (H2O's runif) and write the splits' chunks."""
    bounds: np.ndarray = None
    seed: int = 0
    out_vecs: list = None          # [split][column]
    types: list = None
    counts: list = None            # [[cidx, n_split0, n_split1, ...]]

    def map(self, cs):
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, cs.cidx, self.seed >> 32 & 0xFFFFFFFF] if self.seed >> 32
                                    else [self.seed & 0xFFFFFFFF, cs.cidx])   # (a 32-bit seed: splits as before)
        r = rng.random(cs.nrows)
        which = np.searchsorted(self.bounds, r, side="right")
        natives = [decode_native(v) for v in cs.values]
        counts = []
        for s, vecs in enumerate(self.out_vecs):
            rows = np.flatnonzero(which == s)
            counts.append(int(rows.size))
            for (vals, na), vec, t in zip(natives, vecs, self.types):
                if isinstance(vals, list):
                    sub = [vals[i] for i in rows]
                elif na is not None:
                    sub = vals[rows].astype(np.float64)
                    sub[na[rows]] = np.nan
                    if t == "enum":
                        sub = np.where(np.isnan(sub), -1, sub).astype(np.int64)
                else:
                    sub = vals[rows]
                cs.put_local(vec, encode_chunk(sub, t))
        self.counts = [[cs.cidx, *counts]]

    def reduce(self, o):
        self.counts = (self.counts or []) + (o.counts or [])


def split_frame(frame: Frame, ratios=(0.75,), destination_frames=None, seed: int | None = None) -> list[Frame]:
    """Split rows at random into ``len(ratios) + 1`` frames of about those fractions (H2O's split_frame:
    ratios must sum to less than 1; the last frame takes the rest). Each split keeps the row order."""
    ratios = [float(r) for r in np.atleast_1d(np.asarray(ratios, dtype=np.float64))]
    if not ratios or not all(r > 0 for r in ratios) or not sum(ratios) < 1:     # (NaN fails both)
        raise ValueError(f"ratios must be positive and sum to less than 1, got {ratios}")
    n = len(ratios) + 1
    if destination_frames is not None:
        destination_frames = list(destination_frames)
        if len(destination_frames) != n:
            raise ValueError(f"destination_frames needs {n} names, got {len(destination_frames)}")
        if len(set(destination_frames)) != n:
            raise ValueError(f"destination_frames repeats a key: {destination_frames}")
        if frame.key in destination_frames:   # H2O refuses too: the source would be replaced by a part
            raise ValueError(f"destination_frames names the frame being split, {frame.key!r}")
        for key in destination_frames:
            check_destination(key, frame.cloud)
    if seed is not None and not (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool)):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    seed = int(np.random.SeedSequence().entropy % (2**31)) if seed is None or seed == -1 else int(seed)
    types = list(frame.header["types"])
    out_vecs = [[new_vec_key() for _ in range(frame.ncols)] for _ in range(n)]
    try:
        t = SplitTask(bounds=np.cumsum(ratios), seed=seed, out_vecs=out_vecs, types=types)
        t.do_all(frame, cloud=frame.cloud)
        counts = {c[0]: c[1:] for c in t.counts}
        h = frame.header
        out = []
        for s in range(n):
            espc = [0]
            for i in range(frame.nchunks):
                espc.append(espc[-1] + counts[i][s])
            key = destination_frames[s] if destination_frames else \
                f"{frame.key.split('[')[0]}_part{s}_{out_vecs[s][0][-8:]}"
            header = {"key": key, "names": h["names"], "types": types, "domains": h["domains"],
                      "vecs": out_vecs[s], "espc": espc, "homes": h["homes"],
                      "dtypes": h.get("dtypes", [None] * frame.ncols), "owned": out_vecs[s]}
            out.append(_stored_like(frame, header))
        return out
    except BaseException:
        delete_vecs(frame.cloud, [v for vs in out_vecs for v in vs])
        raise


# ------------------------------------------------------------------------------------- summary
def summary(frame: Frame, return_data: bool = False):
    """Per-column type, min, mean, max, sigma, zero and missing counts (computed once, then cached)."""
    import pandas as pd
    stats = rollup_stats(frame)
    rows = {}
    for name, t, dom, st in zip(frame.names, frame.header["types"], frame.header["domains"], stats):
        rows[name] = {"type": {"numeric": "real" if not st.get("is_int") else "int"}.get(t, t),
                      "mins": st["min"], "mean": st["mean"], "maxs": st["max"], "sigma": st["sigma"],
                      "zeros": st["zero_count"], "missing": st["na_count"],
                      "levels": len(dom) if dom else None}
    table = pd.DataFrame(rows)
    return rows if return_data else table
