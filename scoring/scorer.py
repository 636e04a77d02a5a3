"""The portable scorer: predictions of an exported model with numpy only (no cloud, Numba or ZeroMQ).

``load_scorer(path)`` reads a portable model file (``model.download_mojo(path)`` writes one) and returns a
:class:`Scorer`. Its ``predict``, ``anomaly`` and ``deepfeatures`` take raw values in any of these shapes:

* a ``dict`` (one row: column -> value; a missing key is a missing value, as H2O's ``RowData``) -> a dict of
  output values;
* a list of dicts (rows) -> a dict of output columns (name -> numpy array);
* a pandas DataFrame (every model column must be there) -> a DataFrame with the same index;
* a 2-D numpy array whose columns are :attr:`Scorer.names` in order -> a dict of output columns.

Raw values as :mod:`scoring.encoding` reads them: level strings for categorical columns (unseen levels and missing
values take the NA slot, as in the cloud), numbers / numeric strings / None / NaN for numeric ones. Extra columns
or keys are ignored. The outputs are the cloud's ``predict`` columns (:attr:`Scorer.output_names`): ``predict``
(the label, a level string) and one probability per class for classification, named as H2O names them (``p0``,
``p1`` for integer levels, other levels as they are: :func:`scoring.portable.probability_name`), ``predict`` for
regression, ``reconstr_<input>`` for autoencoders.

>>> from scoring import load_scorer
>>> scorer = load_scorer("prostate_dl.zip")                                        # doctest: +SKIP
>>> scorer.predict({"AGE": 65, "RACE": "1", "DPROS": "2", "PSA": 1.4, "GLEASON": 6})  # doctest: +SKIP
{'predict': '0', 'p0': 0.81..., 'p1': 0.18...}
"""
from __future__ import annotations

import os
from typing import IO, Any, Mapping, Sequence

import numpy as np

from .encoding import to_codes, to_number_matrix
from .portable import PortableModel


def load_scorer(path: str | os.PathLike | IO[bytes]) -> "Scorer":
    """A :class:`Scorer` for the portable model file at ``path``; ``scoring.ModelFormatError`` when the file is
    not one, is damaged or truncated, or was written by a newer format version."""
    return Scorer(PortableModel.from_file(path))


class Scorer:
    """Scores raw rows with one portable model (see the module docstring). Thread-safe: it keeps no state
    between calls."""

    def __init__(self, model: PortableModel):
        self.model = model
        self._index = {c.name: {lv: i for i, lv in enumerate(c.domain)} for c in model.columns if c.type == "enum"}

    # ------------------------------------------------------------------------------------------------ facts
    @property
    def model_id(self) -> str:
        return self.model.model_id

    @property
    def category(self) -> str:
        """``Binomial``, ``Multinomial``, ``Regression`` or ``AutoEncoder`` (H2O's model categories)."""
        return self.model.category

    @property
    def names(self) -> list[str]:
        """The input columns, in the order a 2-D array's columns must follow (the offset column last)."""
        return list(self.model.input_names)

    @property
    def domains(self) -> dict[str, list[str] | None]:
        """Each input column's training levels (None for a numeric column)."""
        doms = {c.name: None if c.domain is None else list(c.domain) for c in self.model.columns}
        if self.model.offset_column:
            doms[self.model.offset_column] = None
        return doms

    @property
    def response_domain(self) -> list[str] | None:
        return None if self.model.response_domain is None else list(self.model.response_domain)

    @property
    def output_names(self) -> list[str]:
        """The columns :meth:`predict` returns: ``predict`` and the class probabilities (``p0``, ``p1``, ... for
        integer levels, as H2O), ``predict`` alone, or the reconstruction's ``reconstr_<input>``."""
        return self.model.output_names

    def __repr__(self) -> str:
        return f"<Scorer {self.model_id}: {self.category}, {len(self.names)} inputs, units {self.model.units}>"

    # ------------------------------------------------------------------------------------------------ scoring
    def predict(self, rows: Any):
        """The cloud's ``predict`` columns for ``rows`` (see the module docstring for shapes in and out)."""
        shape, X, offset, index = self._read(rows)
        m = self.model
        if m.category == "AutoEncoder":
            rec = m.encoding.decode_numerics(m.network.forward(X))
            out = {name: rec[:, j] for j, name in enumerate(m.output_names)}
        elif m.category == "Regression":
            out = {"predict": m.link_inverse(m.network.forward(X, offset=offset)[:, 0])}
        else:
            p = m.class_probabilities(m.network.forward(X))
            labels = np.asarray(m.response_domain, dtype=object)[m.labels(p)]
            out = dict(zip(m.output_names, [labels, *(p[:, j] for j in range(p.shape[1]))]))
        return _shape_out(shape, out, index)

    def anomaly(self, rows: Any, per_feature: bool = False):
        """Reconstruction error of an autoencoder: ``Reconstruction.MSE`` per row, or with ``per_feature`` one
        squared error per input slot (``reconstr_<input>.SE``), in the encoded (standardised) units."""
        if self.model.category != "AutoEncoder":
            raise ValueError("anomaly() needs an autoencoder model")
        shape, X, _, index = self._read(rows)
        se = (self.model.network.forward(X) - X) ** 2
        if per_feature:
            out = {f"reconstr_{c}.SE": se[:, j] for j, c in enumerate(self.model.coef_names)}
        else:
            out = {"Reconstruction.MSE": se.mean(axis=1)}
        return _shape_out(shape, out, index)

    def deepfeatures(self, rows: Any, layer: int):
        """Hidden layer ``layer`` (0-based) activations as columns ``DF.L<layer+1>.C<j>``."""
        n_hidden = len(self.model.units) - 2
        if not isinstance(layer, (int, np.integer)) or not 0 <= layer < n_hidden:
            raise ValueError(f"layer must be in [0, {n_hidden}), got {layer!r}")
        shape, X, _, index = self._read(rows)
        a = self.model.network.forward(X, layer=int(layer))
        out = {f"DF.L{layer + 1}.C{j + 1}": a[:, j] for j in range(a.shape[1])}
        return _shape_out(shape, out, index)

    def encode(self, rows: Any) -> np.ndarray:
        """The network's float32 input rows for ``rows`` (the model's ``coef_names`` as columns)."""
        return self._read(rows)[1]

    # ------------------------------------------------------------------------------------------------ input
    def _encode(self, codes: Mapping[str, np.ndarray], numbers: np.ndarray) -> np.ndarray:
        m = self.model
        return m.encoding.encode([codes[c] for c in m.cat_names], numbers)

    def _read(self, rows: Any) -> tuple[str, np.ndarray, np.ndarray | None, Any]:
        """(output shape, encoded inputs, offsets or None, pandas index) of any accepted input."""
        m = self.model
        nums = m.num_names + ([m.offset_column] if m.offset_column else [])
        if isinstance(rows, Mapping):
            shape, index, n = "row", None, 1
            cats = {c: [rows.get(c)] for c in m.cat_names}
            raw = _object_matrix([[rows.get(c) for c in nums]], len(nums))
        elif _is_pandas(rows):
            shape, index, n = "pandas", rows.index, len(rows)
            missing = [c for c in self.names if c not in rows.columns]
            if missing:
                raise ValueError(f"the DataFrame lacks the model's columns {missing[:10]}")
            cats = {c: _series_values(rows[c]) for c in m.cat_names}
            sub = rows[nums]
            if all(isinstance(d, np.dtype) and d.kind in "biuf" for d in sub.dtypes):
                raw = sub.to_numpy(dtype=np.float64)
            else:
                raw = _object_matrix(zip(*(_series_values(sub[c]) for c in nums)), len(nums)) if nums \
                    else np.empty((n, 0))
        elif isinstance(rows, np.ndarray):
            shape, index, n = "columns", None, rows.shape[0] if rows.ndim == 2 else -1
            if rows.ndim != 2 or rows.shape[1] != len(self.names):
                raise ValueError(f"a numpy input must be 2-D with {len(self.names)} columns ({self.names[:10]}), "
                                 f"got shape {rows.shape}")
            pos = {c: j for j, c in enumerate(self.names)}
            cats = {c: rows[:, pos[c]] for c in m.cat_names}
            raw = rows[:, [pos[c] for c in nums]]
        elif isinstance(rows, Sequence) and not isinstance(rows, (str, bytes)):
            shape, index, n = "columns", None, len(rows)
            bad = next((i for i, r in enumerate(rows) if not isinstance(r, Mapping)), None)
            if bad is not None:
                raise TypeError(f"row {bad} is a {type(rows[bad]).__name__}; a list of rows must hold dicts")
            cats = {c: [r.get(c) for r in rows] for c in m.cat_names}
            raw = _object_matrix([[r.get(c) for c in nums] for r in rows], len(nums))
        else:
            raise TypeError(f"rows must be a dict, a list of dicts, a pandas DataFrame or a 2-D numpy array, "
                            f"not {type(rows).__name__}")
        values = to_number_matrix(nums, raw.reshape(n, len(nums)))
        codes = {c: to_codes(c, v, self._index[c]) for c, v in cats.items()}
        X = self._encode(codes, values[:, :len(m.num_names)])
        offset = np.nan_to_num(values[:, -1], nan=0.0) if m.offset_column else None   # a missing offset is 0
        return shape, X, offset, index


def _object_matrix(rows, k: int) -> np.ndarray:
    """Rows of raw values as an object matrix of ``k`` columns, each cell one value (even a list, to be refused)."""
    rows = list(rows)
    out = np.array(rows, dtype=object) if rows else np.empty((0, k), dtype=object)
    if out.shape != (len(rows), k):
        out = np.empty((len(rows), k), dtype=object)
        for i, r in enumerate(rows):
            for j, v in enumerate(r):
                out[i, j] = v
    return out


def _is_pandas(obj: Any) -> bool:
    return type(obj).__name__ == "DataFrame" and type(obj).__module__.startswith("pandas")


def _series_values(s) -> np.ndarray:
    """A pandas column as numpy without importing pandas: categoricals as their level strings (once per level),
    nullable numbers with NaN."""
    if str(s.dtype) == "category":
        cats = np.asarray([str(c) for c in s.cat.categories] + [None], dtype=object)
        return cats[s.cat.codes.to_numpy()]                      # code -1 (missing) takes the trailing None
    if isinstance(s.dtype, np.dtype):                            # a plain numpy column
        return s.to_numpy()
    if s.dtype.kind in "biuf":                                   # nullable Int64/Float64/boolean: NA -> NaN
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    return s.to_numpy(dtype=object)                              # string dtypes (pd.NA is read as missing)


def _shape_out(shape: str, out: dict[str, np.ndarray], index: Any):
    if shape == "row":
        return {k: (v[0] if isinstance(v[0], str) else float(v[0])) for k, v in out.items()}
    if shape == "pandas":
        import pandas as pd                                      # the input was a DataFrame: pandas is there
        return pd.DataFrame(out, index=index)
    return out
