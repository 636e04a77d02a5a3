"""What a portable model holds, checked: columns, input encoding, network and output settings.

:class:`PortableModel` is built from the metadata and arrays of a portable model file (:mod:`scoring.model_file`)
and refuses anything inconsistent with a clear message, so the scorer, the command line and the Java generator
(:mod:`scoring.pojo`) all start from one validated description. Metadata (``model.json``) of format version 1::

    model_id, algo ("deeplearning"), category ("Binomial" | "Multinomial" | "Regression" | "AutoEncoder")
    columns         [{"name", "type": "numeric" | "enum", "domain": [levels] | null}]  predictors, training order
    offset_column   name | null                     (regression: added to the output before the inverse link)
    response        {"name", "domain": [levels] | null} | null (autoencoder)
    encoding        {"categoricals": [names, layout order], "numerics": [names, layout order],
                     "coef_names": [input slot names], "use_all_factor_levels", "missing_values_handling",
                     "transform", "hashed", "max_categorical_features"}
    network         {"units": [...], "activation": H2O's name, "output": "softmax" | "linear" | "autoencoder",
                     "hidden_dropout_ratios": [...], "input_dropout_ratio"}
    prediction      {"distribution", "link": "identity" | "log" | "logit", "response_transform", "resp_sub",
                     "resp_mul", "threshold", "priors": bool}
    training        informational (epochs, effective parameters); never read by the scorer

Arrays: ``layer<l>.weights`` (float32, rows x inputs), ``layer<l>.biases`` (float64), ``cat<i>.lookup`` (int32,
levels + 1; see :mod:`scoring.encoding`), ``num.sub``, ``num.mul``, ``num.mean`` (float64 per numeric), and
``priors`` (float64, 2 x classes: prior and training class distribution) when ``prediction.priors``.

>>> PortableModel.from_file("model.zip").input_names                 # doctest: +SKIP
"""
from __future__ import annotations

import math
import os
import unicodedata
from dataclasses import dataclass
from typing import IO, Any, Mapping, Sequence

import numpy as np

from .distributions import LINKS, link_inv
from .encoding import InputEncoding, numeric_fill
from .model_file import ModelFormatError, read_model_file, write_model_file
from .network import Network

CATEGORIES = ("Binomial", "Multinomial", "Regression", "AutoEncoder")
_OUTPUT_OF = {"Binomial": "softmax", "Multinomial": "softmax", "Regression": "linear", "AutoEncoder": "autoencoder"}
_H2O_ACTIVATIONS = ("Tanh", "TanhWithDropout", "Rectifier", "RectifierWithDropout", "Maxout", "MaxoutWithDropout",
                    "ExpRectifier", "ExpRectifierWithDropout")


# ------------------------------------------------------------------------------------------ prediction names
def _is_java_int(s: str) -> bool:
    """Whether Java's ``Integer.valueOf(s)`` reads ``s``: an optional sign, then decimal digits (any Unicode
    decimal digit of the BMP, as ``Character.digit``), within int32. No spaces, ``_``, ``.`` or exponent.

    >>> [_is_java_int(s) for s in ("1", "-3", "+7", "007", "2147483647", "2147483648", "-2147483648")]
    [True, True, True, True, True, False, True]
    >>> [_is_java_int(s) for s in ("1.0", " 1", "1e3", "1_0", "", "-", "0x1", "\N{MATHEMATICAL BOLD DIGIT ONE}")]
    [False, False, False, False, False, False, False, False]
    """
    body = s[1:] if s[:1] in ("+", "-") else s
    if not body or any(ord(ch) > 0xFFFF or unicodedata.decimal(ch, None) is None for ch in body):
        return False
    digits = "".join(str(unicodedata.decimal(ch)) for ch in body).lstrip("0") or "0"
    if len(digits) > 10:
        return False
    value = -int(digits) if s[0] == "-" else int(digits)
    return -2**31 <= value <= 2**31 - 1


def probability_name(level: str) -> str:
    """The name of a class's probability column, H2O's rule (``Model.makeScoringNames``, genmodel's
    ``getOutputNames``): a level Java reads as an ``Integer`` becomes ``"p" + level``, any other stays as it is.

    >>> [probability_name(s) for s in ("0", "1", "-3", "1.5", "2147483648", "yes")]
    ['p0', 'p1', 'p-3', '1.5', '2147483648', 'yes']
    """
    return "p" + level if _is_java_int(level) else level


def unique_names(names: Sequence[str]) -> list[str]:
    """Names made unique as aquifer's frames make a repeated column name unique: a later repeat of ``n`` becomes
    the first of ``n0``, ``n1``, ... not already taken (``frame.frame._unique_names``; kept here too, as this
    package imports nothing of the cloud).

    >>> unique_names(["predict", "p1", "p1", "p10"])
    ['predict', 'p1', 'p11', 'p10']
    """
    names = list(names)
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


def prediction_names(response_domain: Sequence[str]) -> list[str]:
    """The columns of a classifier's predictions: ``predict``, then one probability per class named by
    :func:`probability_name`. Where two names clash (levels ``"1"`` and ``"p1"``, or a level ``"predict"``)
    H2O keeps both and its frame holds two columns of one name; here the later one is renamed as
    :func:`unique_names` does, so every column can be read by name.

    >>> prediction_names(["0", "1"]), prediction_names(["1", "p1"]), prediction_names(["a", "predict"])
    (['predict', 'p0', 'p1'], ['predict', 'p1', 'p10'], ['predict', 'a', 'predict0'])
    """
    return unique_names(["predict"] + [probability_name(str(lv)) for lv in response_domain])


@dataclass(frozen=True)
class Column:
    """One input column: name, type (``numeric`` or ``enum``) and, for an enum, its training domain."""
    name: str
    type: str
    domain: tuple[str, ...] | None = None


class PortableModel:
    """A portable model's content, checked (see the module docstring). Build with :meth:`from_file` or
    :meth:`from_parts`; :meth:`to_file` writes it back."""

    def __init__(self, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray], where: str = "model"):
        self.meta, self.arrays = dict(meta), dict(arrays)
        try:
            self._check(where)
        except ModelFormatError:
            raise
        except (KeyError, TypeError, IndexError, AttributeError, ValueError) as exc:
            raise ModelFormatError(f"{where}: malformed model metadata ({type(exc).__name__}: {exc})") from None

    @classmethod
    def from_file(cls, path: str | os.PathLike | IO[bytes]) -> "PortableModel":
        meta, arrays = read_model_file(path)
        return cls(meta, arrays, str(path) if isinstance(path, (str, os.PathLike)) else "the model file")

    @classmethod
    def from_parts(cls, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> "PortableModel":
        return cls(meta, arrays)

    def to_file(self, path: str | os.PathLike | IO[bytes]) -> None:
        meta = {k: v for k, v in self.meta.items() if k not in ("format", "format_version", "arrays")}
        write_model_file(path, meta, self.arrays)

    # ------------------------------------------------------------------------------------------------ checks
    def _fail(self, where: str, what: str):
        raise ModelFormatError(f"{where}: {what}")

    def _array(self, where: str, name: str, dtype: str, shape: tuple | None = None, ndim: int = 1) -> np.ndarray:
        a = self.arrays.get(name)
        if a is None:
            self._fail(where, f"array {name!r} is missing")
        if a.dtype != np.dtype(dtype) or a.ndim != ndim or (shape is not None and a.shape != shape):
            self._fail(where, f"array {name!r} is {a.dtype} {a.shape}, expected {np.dtype(dtype)} "
                              f"{shape if shape is not None else f'{ndim}-D'}")
        return a

    def _check(self, where: str) -> None:
        m = self.meta
        self.model_id: str = str(m["model_id"])
        self.algo: str = m.get("algo", "deeplearning")
        if self.algo != "deeplearning":
            self._fail(where, f"algo {self.algo!r} cannot be scored (deeplearning only)")
        self.category: str = m["category"]
        if self.category not in CATEGORIES:
            self._fail(where, f"category {self.category!r} is not one of {CATEGORIES}")
        cols = []
        for c in m["columns"]:
            if not isinstance(c["name"], str) or c["type"] not in ("numeric", "enum"):
                self._fail(where, f"bad column entry {c!r}")
            dom = c.get("domain")
            if (c["type"] == "enum") != isinstance(dom, list) or (dom is not None and (
                    not all(isinstance(d, str) for d in dom) or len(set(dom)) != len(dom))):
                self._fail(where, f"column {c['name']!r}: an enum needs a domain of distinct strings, a numeric none")
            cols.append(Column(c["name"], c["type"], None if dom is None else tuple(dom)))
        self.columns: list[Column] = cols
        names = [c.name for c in cols]
        if len(set(names)) != len(names) or not names:
            self._fail(where, "column names must be distinct and at least one")
        self.offset_column: str | None = m.get("offset_column")
        if self.offset_column is not None and (self.offset_column in names or self.category != "Regression"):
            self._fail(where, f"offset column {self.offset_column!r}: only for regression, not also a predictor")
        self.input_names: list[str] = names + ([self.offset_column] if self.offset_column else [])
        resp = m.get("response")
        self.response_name: str | None = None if resp is None else str(resp["name"])
        self.response_domain: list[str] | None = None if resp is None or resp.get("domain") is None \
            else [str(d) for d in resp["domain"]]
        classifier = self.category in ("Binomial", "Multinomial")
        if (resp is None) != (self.category == "AutoEncoder"):
            self._fail(where, f"a {self.category} model {'has no' if resp is not None else 'needs a'} response")
        if classifier != (self.response_domain is not None):
            self._fail(where, f"a {self.category} model {'needs a' if classifier else 'has no'} response domain")
        if classifier and (len(self.response_domain) == 2) != (self.category == "Binomial") \
                or classifier and len(self.response_domain) < 2:
            self._fail(where, f"a {self.category} model's response has {len(self.response_domain)} classes "
                              f"(Binomial: 2, Multinomial: 3 or more)")
        self._check_encoding(where)
        self._check_network(where)
        self._check_prediction(where)

    def _check_encoding(self, where: str) -> None:
        e = self.meta["encoding"]
        by_name = {c.name: c for c in self.columns}
        self.cat_names: list[str] = list(e["categoricals"])
        self.num_names: list[str] = list(e["numerics"])
        enums = sorted(c.name for c in self.columns if c.type == "enum")
        nums = sorted(c.name for c in self.columns if c.type == "numeric")
        if sorted(self.cat_names) != enums or sorted(self.num_names) != nums:
            self._fail(where, "encoding.categoricals/numerics must list exactly the enum/numeric columns")
        self.coef_names: list[str] = [str(s) for s in e["coef_names"]]
        self.use_all_factor_levels = bool(e["use_all_factor_levels"])
        self.missing_values_handling: str = e["missing_values_handling"]
        if self.missing_values_handling not in ("MeanImputation", "Skip"):
            self._fail(where, f"missing_values_handling {self.missing_values_handling!r} is unknown")
        lookups = [self._array(where, f"cat{i}.lookup", "int32").astype(np.int64) for i in range(len(self.cat_names))]
        for name, lk in zip(self.cat_names, lookups):
            if lk.size != len(by_name[name].domain) + 1:
                self._fail(where, f"cat lookup of {name!r} has {lk.size} entries for {len(by_name[name].domain)} "
                                  f"levels (+1 for NA)")
        k = len(self.num_names)
        sub, mul, mean = (self._array(where, f"num.{a}", "float64", (k,)) for a in ("sub", "mul", "mean"))
        if not (np.all(np.isfinite(sub)) and np.all(np.isfinite(mul)) and np.all(mul != 0)):
            self._fail(where, "num.sub/num.mul must be finite, num.mul non-zero")
        num_start = len(self.coef_names) - k
        try:
            self.encoding = InputEncoding(lookups, sub, mul,
                                          numeric_fill(mean, sub, mul, self.missing_values_handling == "Skip"),
                                          num_start=num_start)
        except ValueError as exc:
            self._fail(where, f"input encoding: {exc}")
        self.n_inputs: int = self.encoding.n_inputs

    def _check_network(self, where: str) -> None:
        n = self.meta["network"]
        units = [int(u) for u in n["units"]]
        activation = n["activation"]
        if activation not in _H2O_ACTIVATIONS:
            self._fail(where, f"activation {activation!r} is unknown")
        output = n["output"]
        if output != _OUTPUT_OF[self.category]:
            self._fail(where, f"a {self.category} model needs a {_OUTPUT_OF[self.category]} output, got {output!r}")
        if len(units) < 2 or units[0] != self.n_inputs:
            self._fail(where, f"network units {units} do not start with the {self.n_inputs} encoded inputs")
        if self.response_domain is not None and units[-1] != len(self.response_domain):
            self._fail(where, f"{units[-1]} output units for {len(self.response_domain)} classes")
        weights = [self._array(where, f"layer{l}.weights", "float32", ndim=2) for l in range(len(units) - 1)]
        biases = [self._array(where, f"layer{l}.biases", "float64") for l in range(len(units) - 1)]
        try:
            self.network = Network(weights, biases, activation.removesuffix("WithDropout"), output,
                                   n["hidden_dropout_ratios"])
        except ValueError as exc:
            self._fail(where, f"network: {exc}")
        if list(self.network.units) != units:
            self._fail(where, f"weights give layer sizes {list(self.network.units)}, metadata says {units}")
        self.activation: str = activation
        self.units: list[int] = units

    def _check_prediction(self, where: str) -> None:
        p = self.meta["prediction"]
        self.distribution: str = p["distribution"]
        self.link: str = p["link"]
        if LINKS.get(self.distribution) != self.link:
            self._fail(where, f"distribution {self.distribution!r} with link {self.link!r}")
        if self.category == "Regression" and self.link not in ("identity", "log"):
            self._fail(where, f"a regression output cannot use the {self.link} link")
        self.resp_sub, self.resp_mul = float(p["resp_sub"]), float(p["resp_mul"])
        self.threshold = float(p["threshold"])
        if not (math.isfinite(self.resp_sub) and math.isfinite(self.resp_mul) and self.resp_mul != 0
                and math.isfinite(self.threshold)):
            self._fail(where, "resp_sub/resp_mul/threshold must be finite (resp_mul non-zero)")
        self.priors: np.ndarray | None = None
        if p["priors"]:
            if self.response_domain is None:
                self._fail(where, "class priors need a classification model")
            self.priors = self._array(where, "priors", "float64", (2, len(self.response_domain)), ndim=2)

    # ------------------------------------------------------------------------------------------------ facts
    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def output_names(self) -> list[str]:
        """The columns ``predict`` returns, named as the cloud's ``predict`` names them (a classifier's
        probabilities by :func:`prediction_names`: ``p0``, ``p1`` for integer levels, as H2O)."""
        if self.category == "AutoEncoder":
            return [f"reconstr_{c}" for c in self.coef_names]
        if self.category == "Regression":
            return ["predict"]
        return prediction_names(self.response_domain)

    def link_inverse(self, raw: np.ndarray) -> np.ndarray:
        """A regression output (link space, plus offset) in the response's units."""
        if self.link == "identity":
            return raw / self.resp_mul + self.resp_sub
        return link_inv(self.distribution, raw)           # H2O's exp, capped at 1e19

    def class_probabilities(self, p: np.ndarray) -> np.ndarray:
        """Softmax outputs corrected for balance_classes (H2O's ``correctProbabilities``) when the model has priors."""
        if self.priors is None:
            return p
        prior, dist = self.priors
        q = p * (prior / np.maximum(dist, 1e-300))
        return q / q.sum(axis=1, keepdims=True)

    def labels(self, p: np.ndarray) -> np.ndarray:
        """Class codes: binomial at the model's threshold on class 1's probability, else the most probable."""
        if self.category == "Binomial":
            return (p[:, 1] >= self.threshold).astype(np.int64)
        return np.argmax(p, axis=1)
