"""Raw input values to the network's input row, as the cloud encodes a frame (H2O's DataInfo).

Raw values: a categorical column takes its level as a string (a number names the level as ``asfactor`` does:
``1.0`` is level ``"1"``, ``2.5`` is ``"2.5"``); a level unseen in training, None/NaN or an NA spelling goes to the
column's ``missing(NA)`` slot, as in the cloud. A numeric column takes numbers, numeric strings, or None/NaN/an NA
spelling for a missing value, which becomes the column's imputed mean (MeanImputation) or 0 (Skip).

Input row layout (the model's ``coef_names``): one slot block per categorical, in the model's layout order (each
level's slot via the column's ``lookup``: ``lookup[code]`` is the slot of training level ``code``, -1 for the
dropped first level without ``use_all_factor_levels``, and ``lookup[K]`` the NA slot; hashed models share slots,
which then add), then one slot per numeric: ``(x - sub) * mul`` computed in float64, stored as float32 like the
cloud's encoded chunks.

>>> enc = InputEncoding(cat_lookups=[np.array([0, 1, 2])], num_sub=np.array([10.0]), num_mul=np.array([0.5]),
...                     num_fill=np.array([0.0]))
>>> enc.encode([np.array([1.0, np.nan])], np.array([[14.0], [np.nan]])).tolist()
[[0.0, 1.0, 0.0, 2.0], [0.0, 0.0, 1.0, 0.0]]
>>> to_codes("c", ["b", None, "zz", 1.0], {"a": 0, "b": 1, "1": 2}).tolist()
[1.0, nan, -1.0, 2.0]
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

#: Spellings read as a missing value (the importer's ``NA_LIKE`` plus the empty field).
NA_STRINGS = frozenset(("", "NA", "N/A", "na", "n/a", "Na", "NaN", "nan", "NULL", "null"))
_NA_LIST = sorted(NA_STRINGS)


def level_name(v: float) -> str:
    """The level a number names in a categorical column (``asfactor``'s rule): ``"3"``, ``"2.5"``.

    >>> level_name(3.0), level_name(2.5)
    ('3', '2.5')
    """
    v = float(v)
    return str(int(v)) if v.is_integer() else repr(v)


def _is_missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, (float, np.floating)):
        return math.isnan(v)
    return type(v).__name__ in ("NAType", "NaTType")       # pandas.NA / NaT, without importing pandas


def parse_number(column: str, v: Any, row: int | None = None) -> float:
    """One raw numeric value as float64 (NaN when missing); ValueError naming the column for anything else.

    >>> parse_number("x", " 2.5 "), parse_number("x", "NA")
    (2.5, nan)
    """
    if _is_missing(v):
        return math.nan
    if isinstance(v, str):
        s = v.strip()
        if s in NA_STRINGS:
            return math.nan
        if "_" not in s:                                 # float() takes "1_000"; the importer does not
            try:
                return float(s)
            except ValueError:
                pass
    elif isinstance(v, (int, float, np.integer, np.floating, np.bool_, bool)):
        return float(v)
    at = "" if row is None else f" (row {row})"
    raise ValueError(f"column {column!r}: value {v!r}{at} is not a number")


def _as_array(values: Any) -> np.ndarray:
    """A 1-D array of a column's values; a list becomes an object array element by element (a value that is
    itself a list stays one value, to be refused by name)."""
    if isinstance(values, np.ndarray):
        return values
    values = list(values)
    arr = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        arr[i] = v
    return arr


def to_numbers(column: str, values: Any) -> np.ndarray:
    """A numeric column's raw values (a sequence or 1-D array) as float64 with NaN for missing values."""
    arr = _as_array(values)
    if arr.ndim != 1:
        raise ValueError(f"column {column!r}: expected one value per row, got shape {arr.shape}")
    return to_number_matrix([column], arr[:, None])[:, 0]


def to_number_matrix(columns: Sequence[str], values: np.ndarray) -> np.ndarray:
    """Raw values of numeric ``columns`` as a float64 ``(rows, len(columns))`` matrix, NaN for missing values;
    ValueError naming the column and row of a value that is not a number.

    >>> to_number_matrix(["a", "b"], np.array([[1, "2.5"], [None, " NA "]], dtype=object)).tolist()
    [[1.0, 2.5], [nan, nan]]
    """
    if values.ndim != 2 or values.shape[1] != len(columns):
        raise ValueError(f"expected a (rows, {len(columns)}) matrix of values, got shape {values.shape}")
    if values.dtype.kind in "biuf":
        return values.astype(np.float64)
    if values.dtype.kind == "U":                         # strings (a CSV batch): numpy parses them in C,
        values = np.ascontiguousarray(values)            # as float() does (surrounding blanks allowed) but
        if not (values.view(np.uint32) == ord("_")).any():   # it also takes "1_000": such cells go the slow way
            try:
                return values.astype(np.float64)
            except ValueError:                           # NA spellings (or a bad value: found below)
                try:
                    return np.where(np.isin(np.char.strip(values), _NA_LIST), "nan", values).astype(np.float64)
                except ValueError:
                    pass
        values = values.astype(object)
    if values.dtype.kind != "O":
        raise ValueError(f"columns {list(columns)[:5]}: values of dtype {values.dtype} are not numbers")
    k = len(columns)
    flat = [v if type(v) is float else float(v) if type(v) is int else parse_number(columns[i % k], v, i // k)
            for i, v in enumerate(values.ravel())]
    return np.array(flat, dtype=np.float64).reshape(values.shape)


def to_codes(column: str, values: Any, index: Mapping[str, int]) -> np.ndarray:
    """A categorical column's raw values as float64 codes into the training domain (``index``: level -> code):
    NaN for a missing value, -1 for a level unseen in training (both take the NA slot)."""
    arr = _as_array(values)
    if arr.ndim != 1:
        raise ValueError(f"column {column!r}: expected one value per row, got shape {arr.shape}")
    if arr.dtype.kind in "biuf":
        x = arr.astype(np.float64)
        uniq, inv = np.unique(x, return_inverse=True)
        table = np.array([math.nan if math.isnan(u) else index.get(level_name(u), -1) for u in uniq])
        return table[inv.reshape(-1)] if uniq.size else np.empty(0)
    cache: dict = {}
    out = np.empty(arr.shape[0], dtype=np.float64)
    for i, v in enumerate(arr.tolist() if arr.dtype.kind == "U" else arr):
        try:
            out[i] = cache[v]
            continue
        except (KeyError, TypeError):
            pass
        code = _code(column, v, index)
        try:
            cache[v] = code
        except TypeError:
            pass
        out[i] = code
    return out


def _code(column: str, v: Any, index: Mapping[str, int]) -> float:
    if isinstance(v, str):
        code = index.get(v)
        if code is None:
            return math.nan if v.strip() in NA_STRINGS else -1.0
        return float(code)
    if _is_missing(v):
        return math.nan
    if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)):
        return float(index.get(level_name(v), -1))
    raise ValueError(f"column {column!r}: a categorical value must be a string (or a number naming a level), "
                     f"got {type(v).__name__} {v!r}")


class InputEncoding:
    """From per-column raw arrays (codes, numbers) to the float32 input matrix (see the module docstring).

    ``cat_lookups``: per categorical in layout order, int array of length K+1 (slot of each level code, -1 =
    no slot, index K = the NA slot); ``num_sub``/``num_mul``/``num_fill``: per numeric in layout order, the
    offset, scale and the (already transformed) value that replaces a missing one.
    """

    def __init__(self, cat_lookups: Sequence[np.ndarray], num_sub: np.ndarray, num_mul: np.ndarray,
                 num_fill: np.ndarray, num_start: int | None = None):
        self.cat_lookups = [np.asarray(lk, dtype=np.int64) for lk in cat_lookups]
        self.num_sub = np.asarray(num_sub, dtype=np.float64)
        self.num_mul = np.asarray(num_mul, dtype=np.float64)
        self.num_fill = np.asarray(num_fill, dtype=np.float64)
        if not self.num_sub.shape == self.num_mul.shape == self.num_fill.shape or self.num_sub.ndim != 1:
            raise ValueError("num_sub, num_mul and num_fill need one value per numeric column")
        top = max((int(lk.max(initial=-1)) for lk in self.cat_lookups), default=-1)
        self.num_start = top + 1 if num_start is None else int(num_start)
        if top >= self.num_start or any(lk.size < 1 or lk.min() < -1 for lk in self.cat_lookups):
            raise ValueError(f"categorical lookups must hold slots in [-1, {self.num_start}) and an NA slot")
        self.n_inputs = self.num_start + self.num_sub.size

    def encode(self, cat_codes: Sequence[np.ndarray], numbers: np.ndarray) -> np.ndarray:
        """``(n, n_inputs)`` float32 inputs from each categorical's codes (layout order) and the float64
        ``(n, numerics)`` matrix of the numeric columns' values (layout order)."""
        numbers = np.asarray(numbers, dtype=np.float64)
        if len(cat_codes) != len(self.cat_lookups) or numbers.ndim != 2 or numbers.shape[1] != self.num_sub.size:
            raise ValueError(f"expected {len(self.cat_lookups)} categorical columns and an (n, {self.num_sub.size}) "
                             f"matrix of numbers, got {len(cat_codes)} and {numbers.shape}")
        n = numbers.shape[0]
        X = np.zeros((n, self.n_inputs), dtype=np.float32)
        flat = X.reshape(-1)
        base = np.arange(n, dtype=np.int64) * self.n_inputs
        for lookup, codes in zip(self.cat_lookups, cat_codes):
            c = np.asarray(codes, dtype=np.float64)
            k = lookup.size - 1
            na = ~((c >= 0) & (c < k))                         # NaN, -1 (unseen) and out of range: the NA slot
            slot = lookup[np.where(na, k, c).astype(np.int64)]
            ok = slot >= 0
            flat[base[ok] + slot[ok]] += np.float32(1.0)       # hashed slots shared by columns add up
        if self.num_sub.size:
            z = numbers - self.num_sub                         # (x - sub) * mul in float64, as the cloud
            z *= self.num_mul
            na = np.isnan(z)
            X[:, self.num_start:] = np.where(na, self.num_fill, z) if na.any() else z
        return X

    def decode_numerics(self, x: np.ndarray) -> np.ndarray:
        """float64 copy of input rows with the numeric slots mapped back to their units (``x / mul + sub``):
        an autoencoder's reconstruction as the cloud's ``predict`` reports it."""
        x = np.array(x, dtype=np.float64, ndmin=2)
        x[:, self.num_start:] = x[:, self.num_start:] / self.num_mul + self.num_sub
        return x


def numeric_fill(means: np.ndarray, sub: np.ndarray, mul: np.ndarray, skip: bool) -> np.ndarray:
    """The transformed value a missing numeric becomes: the mean under MeanImputation (0 when the mean is
    undefined), 0 under Skip (the cloud's DataInfo rule).

    >>> numeric_fill(np.array([3.0, np.nan]), np.array([1.0, 0.0]), np.array([2.0, 1.0]), False).tolist()
    [4.0, 0.0]
    """
    fill = (np.asarray(means, dtype=np.float64) - sub) * mul
    return np.where(np.isnan(fill) | skip, 0.0, fill)
