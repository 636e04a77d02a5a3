"""Frames: distributed, compressed columnar data on the DKV.

A Frame is a header in the DKV (names, types, categorical domains, the vec key of each column, the row
layout of the chunks and the home of each chunk) plus immutable column chunks. Chunk i of every column
lives on the same node, so a row-wise map is local. Column types are ``numeric``, ``enum`` (categorical
codes into a sorted domain), ``string`` and ``time`` (ms since the epoch).

A frame *owns* the vecs it created; column selections (``fr[["a", "b"]]``) are views that share their
parent's vecs. ``frame.remove(key)`` deletes the header and every chunk and rollup of the vecs it owns.

>>> fr = Frame.from_numpy(np.arange(12.0).reshape(4, 3), names=["a", "b", "c"])     # doctest: +SKIP
>>> fr.shape, fr["b"].as_numpy().ravel().tolist()                                    # doctest: +SKIP
((4, 3), [1.0, 4.0, 7.0, 10.0])
"""
from __future__ import annotations

import operator
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import numpy as np

import cluster
from cluster.dkv import Value
from cluster.mrtask import chunk_key

from . import ops
from .chunks import decode_native, encode_chunk, int64_integers, plan_chunks, spread_homes
from .rollups import rollup_stats
from .store import check_destination, check_key, check_unlocked, delete_vecs, new_vec_key, put_header

TYPES = ("numeric", "enum", "string", "time")
PUT_BATCH_BYTES = 16 << 20


def _cloud_or_current(cloud=None):
    return cloud or cluster.current()


class Frame:
    """A handle on a frame stored in the cloud (see the module docstring)."""

    def __init__(self, key: str, header: dict | None = None, cloud=None):
        self.key = key
        self._cloud = _cloud_or_current(cloud)
        if header is None:
            value = self._cloud.dkv.get(key)
            if value is None:
                raise self._cloud.dkv.missing(key, "frame")
            if value.type != "frame":
                raise KeyError(f"no frame {key!r} in the cloud ({key!r} holds a {value.type})")
            header = value.meta
        self._h = header
        self._positions: tuple[dict, dict[str, int]] | None = None     # (header, name -> index): _name_positions

    # ---------------------------------------------------------------- shape and schema
    @property
    def cloud(self):
        """The cloud this frame lives in (a ``cluster.Cloud``)."""
        return self._cloud

    @property
    def header(self) -> dict:
        """A copy of the stored header: names, types, domains, vecs, espc, homes, dtypes, owned (see the module doc)."""
        return dict(self._h)

    @property
    def base_key(self) -> str:
        """The key of the stored frame whose data this is: the frame's own key, or its parent's for a column
        selection (what a job reading this frame locks)."""
        return self._h.get("base", self.key)

    @property
    def names(self) -> list[str]:
        return list(self._h["names"])

    columns = names

    @property
    def types(self) -> dict[str, str]:
        return dict(zip(self._h["names"], self._h["types"]))

    @property
    def domains(self) -> dict[str, list[str] | None]:
        return dict(zip(self._h["names"], self._h["domains"]))

    @property
    def nrows(self) -> int:
        return int(self._h["espc"][-1])

    @property
    def ncols(self) -> int:
        return len(self._h["names"])

    @property
    def shape(self) -> tuple[int, int]:
        return self.nrows, self.ncols

    # h2o-py's names for the same things
    nrow = nrows
    ncol = ncols

    @property
    def dim(self) -> list[int]:
        """``[rows, columns]``, as h2o-py's ``H2OFrame.dim``."""
        return [self.nrows, self.ncols]

    @property
    def frame_id(self) -> str:
        """The frame's key in the DKV (h2o-py's ``frame_id``)."""
        return self.key

    @property
    def nchunks(self) -> int:
        return len(self._h["homes"])

    @property
    def vecs(self) -> list[str]:
        return list(self._h["vecs"])

    @property
    def espc(self) -> list[int]:
        return list(self._h["espc"])

    @property
    def homes(self) -> list[str]:
        return list(self._h["homes"])

    @property
    def parse_summary(self) -> dict | None:
        """For a frame parsed from a file: ``{"source", "rows", "header", "sep", "encoding", "invalid": {column:
        {"count", "type", "first"}}, "rounded": {...}}``: the values that were not of their column's type and
        became NA (H2O's parse reports invalid lines likewise), and the numbers that were rounded (integers beyond
        2**53 in a column that also holds fractions: in an integer column they are kept exact up to 2**63, as in
        H2O; literals beyond the double range). None for frames made otherwise."""
        return self._h.get("parse")

    @property
    def byte_size(self) -> int:
        """Compressed bytes of this frame's chunks held in the DKV (see :func:`chunk_bytes` for many frames)."""
        return self._cloud.dkv.bytes_of([f"{v}#" for v in self._h["vecs"]])

    def col_index(self, col: str | int) -> int:
        """The position of column ``col``: a name, or an index where a negative one counts from the end (h2o-py's
        rule, Rapids' ``cols_py``). A name or index that matches no column raises ``KeyError`` naming the
        frame's columns; anything else (a bool, a float, a list) raises ``TypeError``.

        >>> fr = Frame.from_numpy(np.zeros((2, 3)), names=["a", "b", "c"])    # doctest: +SKIP
        >>> fr.col_index("b"), fr.col_index(2), fr.col_index(-1)              # doctest: +SKIP
        (1, 2, 2)
        """
        n = self.ncols
        if isinstance(col, (bool, np.bool_)) or not isinstance(col, (str, int, np.integer)):
            raise TypeError(f"a column is a name or an index, not {type(col).__name__} ({col!r})")
        if isinstance(col, str):
            pos = self._name_positions().get(col)
            if pos is not None:
                return pos
            what = f"column {col!r}"
        elif -n <= col < n:
            return int(col) % n
        else:
            what = f"column index {col} (indexes run from {-n} to {n - 1})"
        raise KeyError(f"no {what} in frame {self.key}; its {n} columns: {self.names[:20]}"
                       f"{'...' if n > 20 else ''}")

    def isfactor(self) -> bool:
        return all(t == "enum" for t in self._h["types"])

    def levels(self) -> list[list[str] | None]:
        return [d for d in self._h["domains"]]

    def nlevels(self) -> list[int]:
        """The number of levels of each column (0 for a column that is not categorical), as h2o-py."""
        return [len(d) if d else 0 for d in self._h["domains"]]

    def set_domain(self, col: str | int, domain: Sequence[str]) -> None:
        """Rename the levels of categorical column ``col`` (its codes stay: level i is called ``domain[i]``); a
        stored frame is updated in the DKV.

        >>> preds.set_domain("predict", ["no", "yes"])                       # doctest: +SKIP
        """
        i = self.col_index(col)
        if self._h["types"][i] != "enum":
            raise ValueError(f"column {self.names[i]!r} is {self._h['types'][i]}, not categorical: use asfactor()")
        new, old = [str(d) for d in domain], self._h["domains"][i] or []
        if (old and len(new) != len(old)) or len(set(new)) != len(new):   # (a column of bare codes has none yet)
            raise ValueError(f"column {self.names[i]!r}: a new domain needs {len(old)} distinct levels (one per "
                             f"code), got {new if len(new) <= 10 else f'{len(new)} levels'}")
        h = {**self._h, "domains": list(self._h["domains"])}
        h["domains"][i] = new
        self._h = h
        if h.get("stored", True):
            self._cloud.dkv.put(self.key, Value("frame", h, immutable=False))

    def __repr__(self) -> str:
        return f"<Frame {self.key}: {self.nrows} rows x {self.ncols} cols>"

    def __len__(self) -> int:
        return self.nrows

    def _name_positions(self) -> dict[str, int]:
        """Each name's first index, built once per header (a header is replaced, never changed in place): a
        linear search per name made an MRTask over a 785-column frame spend 16 ms on its layout."""
        cached = self._positions
        if cached is None or cached[0] is not self._h:
            pos: dict[str, int] = {}
            for i, name in enumerate(self._h["names"]):
                pos.setdefault(name, i)
            cached = self._positions = (self._h, pos)
        return cached[1]

    # ---------------------------------------------------------------- layout for MRTask
    def chunk_keys(self, col: int) -> list[str]:
        vec = self._h["vecs"][col]
        return [chunk_key(h, vec, i) for i, h in enumerate(self._h["homes"])]

    def mr_layout(self, columns: Sequence[str | int] | None = None, replicate_to: Sequence[str] | None = None) -> dict:
        """The chunks an MRTask maps over: the selected columns' vec keys and one row per chunk (each node
        derives the chunk keys it needs, so a wide frame's layout stays small). With ``replicate_to``, every
        listed node maps over ALL chunks (H2O's replicated training data): node k gets chunk i as task chunk
        ``k * nchunks + i``, whose data is chunk i where it lives."""
        idx = range(self.ncols) if columns is None else [self.col_index(c) for c in columns]
        vecs, espc = self._h["vecs"], self._h["espc"]
        base = [{"cidx": i, "home": h, "start": int(espc[i]), "nrows": int(espc[i + 1] - espc[i])}
                for i, h in enumerate(self._h["homes"])]
        layout = {"vecs": [vecs[j] for j in idx], "chunks": base}
        if replicate_to is not None:
            n = len(base)
            layout["chunks"] = [{**c, "cidx": k * n + c["cidx"], "home": node, "data": [c["home"], c["cidx"]],
                                 "copy": True} for k, node in enumerate(replicate_to) for c in base]
        return layout

    # ---------------------------------------------------------------- selection and assignment
    def __getitem__(self, item) -> "Frame":
        """Columns, as h2o-py selects them (a view sharing this frame's vecs): ``fr["a"]``, ``fr[1]``, ``fr[-1]``
        (the last column), ``fr[["a", "c"]]``, ``fr[[0, -1]]``, ``fr[1:3]``. A name or index that matches no
        column raises ``KeyError`` naming the columns (``col_index``).

        >>> fr = Frame.from_numpy(np.zeros((2, 3)), names=["a", "b", "c"])    # doctest: +SKIP
        >>> fr[-1].names, fr[[0, 2]].names, fr[1:].names                      # doctest: +SKIP
        (['c'], ['a', 'c'], ['b', 'c'])
        """
        if isinstance(item, slice):
            cols = list(range(self.ncols)[item])
        elif isinstance(item, list):
            cols = [self.col_index(c) for c in item]
        elif isinstance(item, tuple):       # h2o-py reads fr[rows, cols]: refused rather than misread as columns
            raise TypeError("fr[rows, cols] is not supported; select columns with a list: fr[[...]]")
        else:
            cols = [self.col_index(item)]
        return self._view(cols)

    def drop(self, index, axis: int = 1) -> "Frame":
        """The frame without the given column(s) (a name, an index, or a list of them), as h2o-py's
        ``drop(index, axis=1)``: a view sharing this frame's vecs. A name that matches no column raises
        ``KeyError``; dropping rows (``axis=0``) is not supported.

        >>> fr.drop("ID").names == [n for n in fr.names if n != "ID"]      # doctest: +SKIP
        True
        """
        if axis != 1:
            raise ValueError(f"drop(axis={axis!r}): only columns can be dropped (axis=1); select rows with "
                             f"split_frame or an MRTask")
        gone = {self.col_index(c) for c in (index if isinstance(index, (list, tuple)) else [index])}
        return self._view([c for c in range(self.ncols) if c not in gone])

    def _view(self, cols: list[int]) -> "Frame":
        """A column selection sharing this frame's vecs. It is not stored in the DKV (it owns nothing)."""
        h = self._h
        names = _unique_names([h["names"][c] for c in cols])
        header = {**h, "key": f"{self.key}[{','.join(names) if len(names) <= 3 else f'{len(names)} cols'}]",
                  "names": names, "types": [h["types"][c] for c in cols],
                  "domains": [h["domains"][c] for c in cols], "vecs": [h["vecs"][c] for c in cols],
                  "dtypes": [h.get("dtypes", [None] * self.ncols)[c] for c in cols], "owned": [],
                  "temporary": False, "stored": False, "base": self.base_key}
        return Frame(header["key"], header, self._cloud)

    def __setitem__(self, item: str | int, column: "Frame") -> None:
        """``fr["y"] = fr["y"].asfactor()`` or ``fr[784] = fr[784].asfactor()``: replace a column, by name or
        by index (negative from the end), with a one-column frame of the same row layout; the column keeps its
        name. A new *name* appends a column (as h2o-py); an index out of range raises ``KeyError``. This frame
        takes ownership of the new vec; a column it cannot take (a column of another frame, a selection) is
        copied, so that removing one frame never takes data from another.

        >>> fr = Frame.from_numpy(np.array([[1.0, 0.0], [2.0, 1.0]]), names=["x", "y"])   # doctest: +SKIP
        >>> fr[1] = fr[1].asfactor()                                                      # doctest: +SKIP
        >>> fr.types                                                                      # doctest: +SKIP
        {'x': 'numeric', 'y': 'enum'}
        """
        i = None if isinstance(item, str) and item not in self._h["names"] else self.col_index(item)
        if not isinstance(column, Frame) or column.ncols != 1:
            raise ValueError("assign a one-column Frame (e.g. fr['y'].asfactor())")
        if column._h["espc"] != self._h["espc"] or column._h["homes"] != self._h["homes"]:
            raise ValueError(f"column has a different row layout ({column.nrows} rows in {column.nchunks} chunks) "
                             f"than frame {self.key} ({self.nrows} rows in {self.nchunks} chunks)")
        h = {k: (list(v) if isinstance(v, list) else v) for k, v in self._h.items()}
        h.setdefault("dtypes", [None] * self.ncols)
        vec, ctype, dom = column._h["vecs"][0], column._h["types"][0], column._h["domains"][0]
        if vec not in column._h["owned"] and vec not in h["owned"]:
            vec = ops.copy_column(column)          # shared, it would vanish with the frame that owns it
            h["owned"] = sorted(set(h["owned"]) | {vec})
        dtype = column._h.get("dtypes", [None])[0]
        if i is not None:
            h["vecs"][i], h["types"][i], h["domains"][i], h["dtypes"][i] = vec, ctype, dom, dtype
        else:
            for k, v in (("names", item), ("vecs", vec), ("types", ctype), ("domains", dom), ("dtypes", dtype)):
                h[k].append(v)
        if vec in column._h["owned"]:              # take ownership of the new vec
            h["owned"] = sorted(set(h["owned"]) | {vec})
            if column._h.get("temporary"):         # e.g. the result of asfactor(): it existed only for this
                self._cloud.dkv.delete(column.key)
            elif column._h.get("stored", True):
                self._cloud.dkv.put(column.key, Value("frame", {**column._h, "owned": []}, immutable=False))
            column._h = {**column._h, "owned": []}
        self._h = h
        if h.get("stored", True):
            self._cloud.dkv.put(self.key, Value("frame", h, immutable=False))

    # ---------------------------------------------------------------- reading data back
    def _read_columns(self, cols: list[int], nrows: int | None = None, start: int = 0) -> list[tuple[Any, Any]]:
        """Decode whole columns, or rows ``[start, start + nrows)`` of them (reading only the chunks that hold
        them), as (values, na_mask) in native kinds."""
        espc = self._h["espc"]
        stop = self.nrows if nrows is None else min(self.nrows, start + nrows)
        start = min(start, stop)
        first = max(0, min(int(np.searchsorted(espc, start, side="right")) - 1, self.nchunks - 1))
        last = min(max(first + 1, int(np.searchsorted(espc, stop, side="left"))), self.nchunks)
        n = last - first
        keys = [k for c in cols for k in self.chunk_keys(c)[first:last]]
        values = self._cloud.dkv.get_many(keys) if keys else []
        if any(v is None for v in values):
            c = cols[[v is None for v in values].index(True) // n]
            raise KeyError(f"frame {self.key!r}: the data of column {self._h['names'][c]!r} is gone (was the "
                           f"frame that owns it removed, or replaced under its key?)")
        lo, hi = (start - espc[first], stop - espc[first]) if self.nchunks else (0, 0)
        out = []
        for j, c in enumerate(cols):
            parts = [decode_native(v) for v in values[j * n:(j + 1) * n]]
            if self._h["types"][c] == "string":
                col = [s for p, _ in parts for s in p]
                out.append((col[lo:hi], None))
                continue
            parts = _same_kind(parts)
            vals = np.concatenate([p for p, _ in parts]) if parts else np.empty(0)
            nas = [m if m is not None else np.zeros(len(p), bool) for p, m in parts]
            na = np.concatenate(nas) if any(m is not None for _, m in parts) else None
            out.append((vals[lo:hi], na[lo:hi] if na is not None else None))
        return out

    def as_numpy(self) -> np.ndarray:
        """All rows as a 2-D array: int64 when every column is integral without NA, else float64 with NaN
        for NA (categoricals as their codes, strings as NaN)."""
        cols = self._read_columns(list(range(self.ncols)))
        arrays = []
        dtypes = self._h.get("dtypes") or [None] * self.ncols
        for (vals, na), t, hint in zip(cols, self._h["types"], dtypes):
            if hint == "uint64" and vals.dtype == np.int64:     # stored as int64 bits: 2**64 - 1 read as -1
                vals = vals.view(np.uint64)
            if t == "string":
                arrays.append(np.full(self.nrows, np.nan))
            elif na is not None and na.any():
                a = vals.astype(np.float64)
                a[na] = np.nan
                arrays.append(a)
            else:
                arrays.append(vals)
        if not arrays:
            return np.empty((self.nrows, 0))
        if all(a.dtype.kind in "iu" for a in arrays):   # int64 (uint64 if all are; float64 if they mix)
            unsigned = all(a.dtype == np.uint64 for a in arrays)
            return np.column_stack(arrays).astype(np.uint64 if unsigned else np.result_type(np.int64, *arrays),
                                                  copy=False)
        return np.column_stack([a.astype(np.float64, copy=False) for a in arrays])

    def as_pandas(self, nrows: int | None = None, start: int = 0):
        """A pandas DataFrame: enum columns as Categorical with the frame's domain, time as datetime64[ms],
        strings as objects, integer columns as int64 (Int64 when they hold NA). ``start``/``nrows`` select rows
        ``[start, start + nrows)`` (only the chunks holding them are read)."""
        import pandas as pd
        if start < 0 or (nrows is not None and nrows < 0):     # (head(-n) counts from the end; this does not)
            raise ValueError(f"start and nrows must be >= 0, got {start} and {nrows}")
        data = {}
        dtypes = self._h.get("dtypes") or [None] * self.ncols
        for (vals, na), name, t, dom, hint in zip(self._read_columns(list(range(self.ncols)), nrows, start),
                                                  self._h["names"], self._h["types"], self._h["domains"],
                                                  dtypes):
            if t == "enum":
                codes = np.asarray(vals, dtype=np.int64)
                if na is not None:
                    codes = np.where(na, -1, codes)
                data[name] = pd.Categorical.from_codes(codes, categories=list(dom or []))
            elif t == "string":
                data[name] = pd.Series(vals, dtype=object)
            elif t == "time":
                v = np.asarray(vals, dtype=np.float64)
                data[name] = pd.to_datetime(v, unit="ms")
            elif vals.dtype.kind in "iu":
                if na is not None and na.any():
                    data[name] = pd.array(np.where(na, 0, vals), dtype="Int64")
                    data[name][na] = pd.NA
                else:
                    data[name] = vals.astype(np.dtype(hint) if hint else np.int64, copy=False)
            else:
                data[name] = vals.astype(np.dtype(hint), copy=False) if hint and np.dtype(hint).kind == "f" \
                    else vals
        return pd.DataFrame(data)

    as_data_frame = as_pandas

    def head(self, n: int = 10):
        """The first ``n`` rows as a pandas DataFrame (all but the last ``-n`` for a negative ``n``, as pandas)."""
        n = operator.index(n)
        return self.as_pandas(nrows=min(n, self.nrows) if n >= 0 else max(0, self.nrows + n))

    def tail(self, n: int = 10):
        """The last ``n`` rows as a pandas DataFrame (index from 0, as h2o-py's ``tail(...).as_data_frame()``)."""
        n = operator.index(n)
        if n < 0:
            raise ValueError(f"tail(n) needs n >= 0, got {n}")
        count = min(n, self.nrows)
        return self.as_pandas(nrows=count, start=self.nrows - count)

    def rows(self, start: int, count: int):
        """Rows ``[start, start + count)`` as a pandas DataFrame (fewer at the end of the frame).

        >>> fr.rows(100, 5)                     # doctest: +SKIP
        """
        if start < 0 or count < 0:
            raise ValueError(f"start and count must be >= 0, got {start} and {count}")
        return self.as_pandas(nrows=count, start=start)

    def histograms(self, columns=None, nbins: int = 20) -> list:
        """Equal-width histogram of each numeric column (``{"breaks", "counts"}``, None for other columns);
        see :mod:`frame.histogram`."""
        from .histogram import histograms
        return histograms(self, columns, nbins)

    # ---------------------------------------------------------------- conversions in
    @classmethod
    def from_numpy(cls, array, names: Sequence[str] | None = None, *, destination_frame: str | None = None,
                   nchunks: int | None = None, cloud=None) -> "Frame":
        """A frame from a 1-D or 2-D numpy array (each column keeps its kind: int, float, bool).
        ``nchunks`` overrides the automatic chunking. A masked array's masked values are NA."""
        if _is_pandas(array):
            raise TypeError("from_numpy takes a numpy array: use Frame.from_pandas for a DataFrame (it keeps the "
                            "column names and kinds)")
        if isinstance(array, np.ma.MaskedArray):   # np.asarray would keep the hidden values
            array = array.astype(np.float64).filled(np.nan) if np.ma.getmask(array).any() else array.data
        arr = np.asarray(array)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise ValueError(f"expected a 1-D or 2-D array, got {arr.ndim} dimensions")
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"from_numpy takes numeric arrays, got dtype {arr.dtype} (use from_pandas for "
                             f"strings and categoricals)")
        names = list(names) if names is not None else [f"C{i + 1}" for i in range(arr.shape[1])]
        if len(names) != arr.shape[1]:
            raise ValueError(f"{len(names)} names for {arr.shape[1]} columns")
        columns = [(n, "numeric", None, arr[:, i], str(arr.dtype)) for i, n in enumerate(names)]
        return write_frame(columns, arr.shape[0], key=destination_frame, cloud=cloud, nchunks=nchunks)

    @classmethod
    def from_pandas(cls, df, *, destination_frame: str | None = None, nchunks: int | None = None,
                    cloud=None) -> "Frame":
        """A frame from a pandas DataFrame: numeric, bool, categorical, string/object and datetime columns.
        Integer columns (numpy or nullable ``Int64``/``boolean``, with their NAs) are kept exact, as int64."""
        import pandas as pd
        if isinstance(df, pd.Series):
            df = df.to_frame()
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"from_pandas takes a pandas DataFrame, got {type(df).__name__}")
        if df.columns.has_duplicates:
            raise ValueError(f"duplicate column names: {sorted(map(str, df.columns[df.columns.duplicated()]))}")
        columns = []
        for name in df.columns:
            s = df[name]
            if isinstance(s.dtype, pd.CategoricalDtype):
                cats = [str(c) for c in s.cat.categories]
                order = np.argsort(cats, kind="stable")           # H2O domains are sorted
                remap = np.empty(len(cats) + 1, dtype=np.int64)
                remap[order] = np.arange(len(cats))
                remap[-1] = -1
                codes = remap[s.cat.codes.to_numpy()]
                columns.append((str(name), "enum", sorted(cats), codes, None))
            elif pd.api.types.is_datetime64_any_dtype(s.dtype):    # UTC instants, tz-aware or not
                ns = s.to_numpy(dtype="datetime64[ns]").astype(np.int64)
                na = s.isna().to_numpy()
                cut = int(np.count_nonzero((ns % 1_000_000 != 0) & ~na))
                if cut:      # time columns hold milliseconds, as H2O's
                    warnings.warn(f"column {name!r}: {cut:,} times have parts below a millisecond, which a time "
                                  f"column does not hold: they are truncated to the millisecond", UserWarning,
                                  stacklevel=2)
                ms = (ns // 1_000_000).astype(np.float64)
                ms[na] = np.nan
                columns.append((str(name), "time", None, ms, None))
            elif pd.api.types.is_complex_dtype(s.dtype):
                raise ValueError(f"column {name!r} is complex ({s.dtype}): frames hold no complex numbers; pass "
                                 f"its real and imaginary parts as two columns")
            elif pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
                if s.hasnans and s.dtype.kind in "iub" or isinstance(s.dtype, pd.api.extensions.ExtensionDtype):
                    na = s.isna().to_numpy()
                    if s.dtype.kind in "iub" or str(s.dtype) in ("Int8", "Int16", "Int32", "Int64", "UInt8",
                                                                  "UInt16", "UInt32", "UInt64", "boolean"):
                        columns.append((str(name), "numeric", None, *_nullable_ints(name, s, na)))
                        continue
                    vals = s.to_numpy(dtype=np.float64, na_value=np.nan)
                    columns.append((str(name), "numeric", None, vals, "float64"))
                    continue
                vals = s.to_numpy()
                columns.append((str(name), "numeric", None, vals, str(vals.dtype)))
            else:
                na = s.isna().to_numpy()       # None, NaN of any float type, pd.NA, NaT (not the text "NaT")
                vals = [None if m else v.decode("utf-8", "surrogateescape") if isinstance(v, bytes) else str(v)
                        for v, m in zip(s.tolist(), na)]
                columns.append((str(name), "string", None, vals, None))
        return write_frame(columns, len(df), key=destination_frame, cloud=cloud, nchunks=nchunks)

    # ---------------------------------------------------------------- operations (MRTasks in frame.ops)
    def asfactor(self) -> "Frame":
        """This column as a categorical (H2O's as.factor); assign it back with ``fr["y"] = fr["y"].asfactor()``."""
        return ops.asfactor(self)

    def split_frame(self, ratios=(0.75,), destination_frames=None, seed: int | None = None) -> list["Frame"]:
        """Random row split into ``len(ratios) + 1`` frames (H2O's split_frame)."""
        return ops.split_frame(self, ratios, destination_frames, seed)

    def summary(self, return_data: bool = False):
        """Per-column rollups (min, mean, max, sigma, zeros, missing) as a pandas table."""
        return ops.summary(self, return_data)

    def describe(self) -> None:
        """Print the frame's size and its :meth:`summary` table (h2o-py's ``describe``).

        >>> fr.describe()                       # doctest: +SKIP
        Rows: 380  Cols: 9
        ...
        """
        import pandas as pd
        print(f"Rows: {self.nrows:,}  Cols: {self.ncols:,}\n")
        with pd.option_context("display.max_columns", 50, "display.width", 200):
            print(self.summary())

    def rollups(self) -> list[dict]:
        """Cached rollup statistics of every column (computed once by an MRTask)."""
        return rollup_stats(self)

    def remove(self) -> None:
        if not self._h.get("stored", True):
            raise ValueError(f"{self.key} is a column selection: it owns nothing; remove its parent frame")
        remove(self.key, cloud=self._cloud)


def from_task_outputs(task, names: Sequence[str], *, key: str | None = None, cloud=None,
                      columns: Sequence[int] | None = None) -> Frame:
    """The frame of the columns an MRTask wrote with ``do_all(..., outputs=[...])`` (only the output columns
    ``columns``, by index, when given: one task's outputs can make several frames, each owning its columns)."""
    layout = getattr(task, "output_layout", None)
    if not layout:
        raise ValueError("this task wrote no output columns: run do_all(frame, outputs=[types])")
    idx = list(range(len(layout["vecs"]))) if columns is None else [int(j) for j in columns]
    if len(names) != len(idx):
        raise ValueError(f"{len(idx)} output columns, {len(names)} names given")
    vecs, types = [layout["vecs"][j] for j in idx], [layout["types"][j] for j in idx]
    espc = [0]
    for c in layout["chunks"]:
        espc.append(espc[-1] + int(c["nrows"]))
    key = key or f"frame_{uuid.uuid4().hex[:12]}"
    check_key(key)
    header = {"key": key, "names": list(names), "types": types, "domains": [None] * len(names), "vecs": vecs,
              "espc": espc, "homes": [c["home"] for c in layout["chunks"]], "dtypes": [None] * len(names),
              "owned": vecs}
    return store_frame(header, _cloud_or_current(cloud))


def store_frame(header: dict, cloud) -> Frame:
    """Store a complete frame header (its chunks already in the DKV) and return the frame's handle."""
    check_destination(header["key"], cloud)
    return Frame(header["key"], put_header(header, cloud), cloud)




def layout_for(nrows: int, ncols: int, cloud, nchunks: int | None = None) -> tuple[list[int], list[str]]:
    """Chunk row starts and homes for a new frame of this shape on this cloud."""
    st = cloud.status()
    members = [m["node"] for m in st["members"] if m["state"] != "dead"]
    cores = min(m["cores"] for m in st["members"]) if st["members"] else 1
    if nchunks is not None:
        if not isinstance(nchunks, (int, np.integer)) or isinstance(nchunks, bool) or nchunks < 1:
            raise ValueError(f"nchunks must be an integer >= 1, got {nchunks!r}")
        espc = np.linspace(0, nrows, min(nchunks, max(nrows, 1)) + 1).round().astype(np.int64)
    else:
        espc = plan_chunks(nrows, ncols, len(members), cores)
    return [int(x) for x in espc], spread_homes(len(espc) - 1, members)


def _is_pandas(obj) -> bool:
    return type(obj).__module__.startswith("pandas")


def _unique_names(names: list[str]) -> list[str]:
    """Column names made unique as H2O names a column selected twice: ``a, a0, a1``.

    >>> _unique_names(["a", "b", "a", "a"])
    ['a', 'b', 'a0', 'a1']
    """
    seen, out = set(names), []
    for i, n in enumerate(names):
        if n in names[:i]:
            k = 0
            while f"{n}{k}" in seen:
                k += 1
            n = f"{n}{k}"
            seen.add(n)
        out.append(n)
    return out


def _same_kind(parts: list[tuple]) -> list[tuple]:
    """A column's decoded chunks ``(values, na)``, with float chunks made int64 when another chunk is int64 and
    theirs are all integers of its range: a CSV column keeps integers beyond 2**53 exact in the chunks that hold
    them (the others are float chunks of integers), and concatenating those with floats would round them."""
    if not any(p.dtype.kind in "iu" for p, _ in parts) or all(p.dtype.kind in "iu" for p, _ in parts):
        return parts
    out = []
    for p, m in parts:
        if p.dtype.kind == "f":
            na = np.isnan(p)
            if not int64_integers(p[~na]):
                return parts
            p, m = np.where(na, 0, p).astype(np.int64), na if m is None else m | na
        out.append((p, m))
    return out


def _nullable_ints(name, s, na: np.ndarray) -> tuple:
    """A pandas nullable integer or boolean column as exact integers (a float64 would round those beyond
    2**53), masked where NA, and its dtype hint."""
    if str(s.dtype) == "UInt64" and not s.isna().all() and int(s.max()) >= 2 ** 63:
        if na.any():
            raise ValueError(f"column {name!r} (UInt64) holds NA and values >= 2**63: frames keep such integers "
                             f"exact only without NA; fill the NAs or pass it as float64 or strings")
        return s.to_numpy(dtype=np.uint64), "uint64"
    vals = s.to_numpy(dtype=np.int64, na_value=0)
    return (np.ma.masked_array(vals, mask=na), None) if na.any() else (vals, "int64")


def write_frame(columns: list[tuple], nrows: int, *, key: str | None = None, cloud=None,
                espc: list[int] | None = None, homes: list[str] | None = None, temporary: bool = False,
                nchunks: int | None = None, parse: dict | None = None) -> Frame:
    """Encode columns (name, type, domain, values, dtype hint) into chunks, store them at their homes,
    then store the header (with ``parse``, the summary of the file they were parsed from). Nothing is left
    behind if a step fails."""
    cloud = _cloud_or_current(cloud)
    key = key or f"frame_{uuid.uuid4().hex[:12]}"
    check_destination(key, cloud)        # before any chunk is written
    names = [c[0] for c in columns]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate column names: {sorted({n for n in names if names.count(n) > 1})}")
    for name, ctype, _, values, _ in columns:
        if ctype not in TYPES:
            raise ValueError(f"column {name!r}: type {ctype!r} is not one of {TYPES}")
        if len(values) != nrows:
            raise ValueError(f"column {name!r} has {len(values)} rows, expected {nrows}")
    if espc is None:
        espc, homes = layout_for(nrows, len(columns), cloud, nchunks)
    vecs = [new_vec_key() for _ in columns]

    def encode_col(j):
        _, ctype, _, values, _ = columns[j]
        return [(chunk_key(homes[i], vecs[j], i), encode_chunk(values[espc[i]:espc[i + 1]], ctype))
                for i in range(len(homes))]

    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            batch, size = [], 0
            for items in pool.map(encode_col, range(len(columns))):
                for k, v in items:
                    batch.append((k, v))
                    size += v.nbytes
                    if size >= PUT_BATCH_BYTES:
                        cloud.dkv.put_many(batch)
                        batch, size = [], 0
            if batch:
                cloud.dkv.put_many(batch)
        header = {"key": key, "names": names, "types": [c[1] for c in columns],
                  "domains": [c[2] for c in columns], "vecs": vecs, "espc": list(espc), "homes": list(homes),
                  "dtypes": [c[4] for c in columns], "owned": list(vecs), "temporary": temporary}
        if parse is not None:
            header["parse"] = parse
        return store_frame(header, cloud)
    except BaseException:
        delete_vecs(cloud, vecs)
        raise


def chunk_bytes(key_rows: list[dict]) -> dict[str, int]:
    """Compressed chunk bytes per vec key from one DKV key listing (``cloud.dkv.keys("")`` rows): the sizes
    :attr:`Frame.byte_size` asks the cloud for one frame at a time, for every frame at once.

    >>> chunk_bytes([{"key": "@n:1@$vec/ab#0", "bytes": 10}, {"key": "@n:2@$vec/ab#1", "bytes": 5}])
    {'$vec/ab': 15}
    """
    out: dict[str, int] = {}
    for row in key_rows:
        key = row["key"]
        if key.startswith("@"):                 # chunks are homed explicitly: @<node>@<vec>#<chunk index>
            key = key[key.find("@", 1) + 1:]
        vec, sep, _ = key.partition("#")
        if sep:
            out[vec] = out.get(vec, 0) + int(row["bytes"])
    return out


def get_frame(key: str, cloud=None) -> Frame:
    """The frame stored under ``key`` (from any node or client)."""
    return Frame(key, cloud=cloud)


def remove(key: "str | Frame", cloud=None) -> None:
    """Delete a frame: its header and every chunk and rollup of the vecs it owns, on every node."""
    if isinstance(key, Frame):
        key = key.key
    if not isinstance(key, str):
        raise TypeError(f"remove takes a frame or its key, got {type(key).__name__}")
    cloud = _cloud_or_current(cloud)
    value = cloud.dkv.get(key)
    if value is None:
        raise KeyError(f"no frame {key!r} in the cloud")
    if value.type != "frame":
        raise ValueError(f"{key!r} is a {value.type}, not a frame")
    check_unlocked(key, cloud, "remove")
    delete_vecs(cloud, value.meta.get("owned", []))
    cloud.dkv.delete(key)
