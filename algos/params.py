"""Parameter tables: what parameters an algorithm has, their defaults, ranges, help and group, and the checks.

A :class:`ParamTable` is the one place an algorithm states its parameters (the Deep Learning table is
:data:`algos.deeplearning.PARAMS`). The estimator, grid search, cross-validation, the docs table in the README
and any future REST or export layer read it; nothing else repeats a default or a range.

* :meth:`ParamTable.validate` checks each user value on its own (name, type, range, enum spelling) and returns
  every parameter with the defaults filled in (``None`` means "the default", as in h2o-py where ``None`` is not
  sent). Combination rules that need the data (the problem, the cloud) belong to the algorithm.
* :meth:`ParamTable.convert` checks one value (grid search checks hyper-parameter values with it).
* :meth:`ParamTable.docs_table` is the markdown table of the README.

Each :class:`Param` has a ``level`` as H2O Flow groups parameters (H2O-3's schema API levels critical,
secondary and expert are shown as basic, advanced and expert) and ``extension=True`` when the parameter is an
aquifer addition that H2O does not have.

:data:`COMMON` holds the parameters every model builder shares (H2O's ``Model.Parameters``): frames, columns,
cross-validation, seed and time limit. Grid search and cross-validation rely on them only.

Enum values are matched case-insensitively, ignoring ``_``/``-``/spaces, so H2O's ``"Rectifier"``, h2o-py's
``"rectifier_with_dropout"`` and ``"RECTIFIERWITHDROPOUT"`` all give the canonical spelling.

>>> t = ParamTable("Example", [COMMON["seed"], Param("k", 3, "int", "Clusters.", min=1)])
>>> t.validate({"k": 5}) == {"seed": -1, "k": 5}
True
>>> t.validate({"kk": 5})
Traceback (most recent call last):
...
ValueError: unknown Example parameter 'kk'; did you mean 'k'?
"""
from __future__ import annotations

import difflib
import math
import re
import warnings
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Callable, Iterable, Iterator, Mapping

import numpy as np

__all__ = ["COMMON", "LEVELS", "Param", "ParamTable", "is_int", "is_real"]

INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
#: H2O Flow's parameter groups (H2O-3's API levels critical, secondary, expert).
LEVELS: tuple[str, ...] = ("basic", "advanced", "expert")
KINDS: tuple[str, ...] = ("int", "float", "bool", "enum", "enum_list", "str", "int_list", "float_list", "column",
                          "column_list", "frame_or_key", "frame_list", "model_or_key")


@dataclass(frozen=True)
class Param:
    """One parameter of a table.

    ``kind`` is one of :data:`KINDS`. ``min``/``max`` bound numbers (and list elements); ``min_open``/``max_open``
    make a bound exclusive. ``max=None`` means "no upper bound, finite"; ``max=math.inf`` (inclusive) is how a
    parameter says that infinity is a valid value. ``allowed`` holds the canonical enum spellings, ``aliases``
    extra spellings as (alias, canonical).

    >>> Param("rho", 0.99, "float", "ADADELTA decay factor.", min=0, max=1, max_open=True).range_text()
    'in [0, 1)'
    """

    name: str
    default: Any
    kind: str
    doc: str
    allowed: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False
    deprecated: bool = False
    aliases: tuple[tuple[str, str], ...] = ()
    level: str = "advanced"
    extension: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"parameter {self.name!r}: unknown kind {self.kind!r}")
        if self.level not in LEVELS:
            raise ValueError(f"parameter {self.name!r}: level must be one of {LEVELS}, got {self.level!r}")

    def range_text(self) -> str:
        """The allowed range in words, for error messages and the docs table."""
        lo = None if self.min is None else _num(self.min)
        hi = None if self.max is None or self.max == math.inf else _num(self.max)
        if lo is not None and hi is not None:
            return f"in {'(' if self.min_open else '['}{lo}, {hi}{')' if self.max_open else ']'}"
        if lo is not None:
            inf = " (inf allowed)" if self.max == math.inf else ""
            return f"{'>' if self.min_open else '>='} {lo}{inf}"
        if hi is not None:
            return f"{'<' if self.max_open else '<='} {hi}"
        return "any finite value"

    def default_value(self) -> Any:
        """The default as a fresh value (a list default is copied, so callers may change theirs)."""
        return list(self.default) if isinstance(self.default, tuple) else self.default

    def default_text(self) -> str:
        """The default as the docs table shows it."""
        d = self.default
        if d is None:
            return "None"
        if isinstance(d, tuple):
            return str(list(d))
        if isinstance(d, float):
            return _num(d) if d == math.inf else repr(d)
        return repr(d) if isinstance(d, str) else str(d)

    def convert(self, v: Any) -> Any:
        """``v`` checked against this parameter (type, range, enum spelling) and in canonical form."""
        kind = self.kind
        if kind in ("int", "float"):
            ok, cast, what = (is_int, int, "an int") if kind == "int" else (is_real, float, "a number (int or float)")
            if not ok(v):
                raise self._type_error(what, v)
            try:
                v = cast(v)
            except OverflowError:                    # an int beyond the double range
                raise ValueError(f"parameter {self.name!r} must be {self.range_text()}, got an int of {len(str(v))} "
                                 f"digits") from None
            self._check_range(v)
            return v
        if kind == "bool":
            if not isinstance(v, (bool, np.bool_)):
                raise self._type_error("a bool (True/False)", v)
            return bool(v)
        if kind == "enum":
            return self._enum(v)
        if kind == "enum_list":                      # each value once, in the order given
            items = [v] if isinstance(v, str) else self._seq(v, "strings")
            return list(dict.fromkeys(self._enum(it) for it in items))
        if kind == "str":
            if not isinstance(v, str) or not v.strip():
                raise self._type_error("a non-empty string", v)
            return str(v)
        if kind == "int_list":
            return self._elements([v] if is_int(v) else self._seq(v, "ints"), is_int)
        if kind == "float_list":
            return self._elements(self._seq(v, "numbers"), is_real)
        if kind == "column":
            if not _is_column(v):
                raise self._type_error("a column name (non-empty str) or a column index (int >= 0)", v)
            return v if isinstance(v, str) else int(v)
        if kind == "column_list":
            return self._columns(v)
        if kind == "frame_or_key":
            return self._keyed(v, ("key",), "Frame")
        if kind == "model_or_key":
            return self._keyed(v, ("model_id", "key"), "model")
        items = self._seq(v, "Frames, keys or None")                       # frame_list
        return [None if it is None else self._keyed(it, ("key",), "Frame (list element)") for it in items]

    # ------------------------------------------------------------------ checks of one value
    def _type_error(self, expected: str, value: Any) -> ValueError:
        return ValueError(f"parameter {self.name!r} expects {expected}, got {value!r} ({type(value).__name__})")

    def _check_range(self, v: float, what: str | None = None) -> None:
        label = what or f"parameter {self.name!r}"
        if isinstance(v, float) and math.isnan(v):
            raise ValueError(f"{label} must not be NaN (allowed: {self.range_text()})")
        if math.isinf(v) and not (v > 0 and self.max == math.inf):
            raise ValueError(f"{label} must be finite, {self.range_text()}; got {v}")
        lo_bad = self.min is not None and (v <= self.min if self.min_open else v < self.min)
        hi_bad = self.max is not None and (v >= self.max if self.max_open else v > self.max)
        if lo_bad or hi_bad:
            raise ValueError(f"{label} must be {self.range_text()}, got {v!r}")
        if isinstance(v, int) and not INT64_MIN <= v <= INT64_MAX:   # a model's parameters travel as int64
            raise ValueError(f"{label} must fit in 64 bits ({INT64_MIN} .. {INT64_MAX}), got {v}")

    def _enum(self, v: Any) -> str:
        if not isinstance(v, str):
            raise self._type_error(f"one of {', '.join(self.allowed)} (a string)", v)
        table = {_norm_enum(a): a for a in self.allowed}
        table.update({_norm_enum(alias): canon for alias, canon in self.aliases})
        hit = table.get(_norm_enum(v))
        if hit is None:
            extra = "; aliases: " + ", ".join(f"{a} -> {c}" for a, c in self.aliases) if self.aliases else ""
            raise ValueError(f"parameter {self.name!r}: unknown value {v!r}; allowed (case-insensitive): "
                             f"{', '.join(self.allowed)}{extra}")
        return hit

    def _seq(self, v: Any, what: str) -> list:
        if isinstance(v, np.ndarray):
            if v.ndim != 1:
                raise self._type_error(f"a 1-D list of {what}", v)
            return v.tolist()
        if not isinstance(v, (list, tuple)):
            raise self._type_error(f"a list of {what}", v)
        return list(v)

    def _elements(self, items: list, check: Callable[[Any], bool]) -> list:
        out = []
        for i, item in enumerate(items):
            if not check(item):
                raise ValueError(f"parameter {self.name!r}: element {i} is {item!r} ({type(item).__name__}); "
                                 f"expected a list of {'ints' if self.kind == 'int_list' else 'numbers'}")
            x = int(item) if self.kind == "int_list" else float(item)
            self._check_range(x, f"parameter {self.name!r} element {i}")
            out.append(x)
        return out

    def _columns(self, v: Any) -> list:
        items = [v] if isinstance(v, str) or is_int(v) else self._seq(v, "column names or indices")
        for i, item in enumerate(items):
            if not _is_column(item):
                raise ValueError(f"parameter {self.name!r}: element {i} is {item!r}; expected a column name "
                                 "(non-empty str) or index (int >= 0)")
        return [c if isinstance(c, str) else int(c) for c in items]

    def _keyed(self, v: Any, attrs: tuple[str, ...], what: str) -> Any:
        if key_of(v, attrs) is None:
            raise self._type_error(f"a {what} or its key (non-empty str)", v)
        return v


class ParamTable(Mapping[str, Param]):
    """An algorithm's parameters by name, in the order its docs list them (a read-only mapping of :class:`Param`).

    ``aliases`` are other accepted names (h2o-py's ``y`` for ``response_column``); ``unsupported`` names
    parameters refused when set (name -> why); ``check`` runs on the filled-in values after the per-value checks
    (rules between parameters that need no data).
    """

    def __init__(self, algo_name: str, params: Iterable[Param], *, aliases: Mapping[str, str] | None = None,
                 unsupported: Mapping[str, str] | None = None,
                 check: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.algo_name = algo_name
        self._params = {p.name: p for p in params}
        self.aliases = dict(aliases or {})
        self.unsupported = dict(unsupported or {})
        self._check = check
        for name in list(self.aliases.values()) + list(self.unsupported):
            if name not in self._params:
                raise ValueError(f"{algo_name} parameter table: {name!r} is not a parameter")

    def __getitem__(self, name: str) -> Param:
        return self._params[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __repr__(self) -> str:
        return f"<ParamTable {self.algo_name}: {len(self)} parameters>"

    def defaults(self) -> dict[str, Any]:
        """Every parameter's default (fresh lists)."""
        return {name: p.default_value() for name, p in self._params.items()}

    def canonical(self, name: Any) -> str:
        """The parameter a name or alias means; ValueError with the closest names for an unknown one."""
        canon = self.aliases.get(name, name) if isinstance(name, str) else name
        if canon not in self._params:
            raise self.unknown(name)
        return canon

    def unknown(self, name: Any) -> ValueError:
        """The error for an unknown parameter name (naming the closest known ones)."""
        if not isinstance(name, str):
            return ValueError(f"parameter names must be strings, got {name!r}")
        close = difflib.get_close_matches(name, list(self._params) + list(self.aliases), n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else \
            "; see the algorithm's PARAMS table for the list"
        return ValueError(f"unknown {self.algo_name} parameter {name!r}{hint}")

    def convert(self, name: str, value: Any) -> Any:
        """One value checked and made canonical (``None`` gives the default)."""
        p = self._params[self.canonical(name)]
        return p.default_value() if value is None else p.convert(value)

    def validate(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Check every value on its own and return all parameters, defaults filled in.

        Raises ValueError naming the parameter for an unknown name (with the closest known names), a wrong
        type, a value out of range or an unknown enum value. Deprecated parameters given a non-default value warn
        with a DeprecationWarning and are kept as given (they have no effect).
        """
        if not isinstance(params, Mapping):
            raise ValueError(f"{self.algo_name} parameters must be a dict, got {type(params).__name__}")
        given: dict[str, Any] = {}
        for raw_name, value in params.items():
            name = self.canonical(raw_name)
            if name in given and value is not None and given[name] is not None:
                raise ValueError(f"parameter {name!r} given twice (also as its alias {raw_name!r} or the other way "
                                 "round); give it once")
            if value is not None or name not in given:
                given[name] = value
        out: dict[str, Any] = {}
        for name, p in self._params.items():
            value = given.get(name)
            # Only a non-default value asks for something we do not do; model.params passed back stays quiet.
            if p.deprecated and value is not None and value != p.default:
                warnings.warn(f"{self.algo_name} parameter {name!r} is deprecated and has no effect",
                              DeprecationWarning, stacklevel=3)
            out[name] = p.default_value() if value is None else p.convert(value)
        for name, why in self.unsupported.items():   # before the other checks: nothing else about them matters
            if out[name] != self._params[name].default:
                raise ValueError(f"{self.algo_name} parameter {name!r} is not supported by aquifer ({why}); leave "
                                 "it unset")
        if self._check is not None:
            self._check(out)
        return out

    def changed(self, p: Mapping[str, Any], name: str) -> bool:
        """Whether ``p[name]`` differs from the default."""
        return p[name] != self._params[name].default_value()

    def docs_table(self) -> str:
        """A markdown table (name, default, group, meaning) of every parameter, for the README.

        >>> ParamTable("Example", [COMMON["seed"]]).docs_table().splitlines()[0]
        '| name | default | group | meaning |'
        """
        rows = ["| name | default | group | meaning |", "|---|---|---|---|"]
        for p in self._params.values():
            meaning = p.doc
            if p.kind == "enum":
                meaning += " One of: " + ", ".join(p.allowed) + "."
            elif p.kind == "enum_list":
                meaning += " Any of: " + ", ".join(p.allowed) + "."
            elif p.kind in ("int", "float") and (p.min is not None or p.max is not None):
                meaning += f" Must be {p.range_text()}."
            if p.extension:
                meaning = "**aquifer addition** (not in H2O). " + meaning
            if p.deprecated:
                meaning = "**Deprecated.** " + meaning
            if p.name in self.unsupported:
                meaning = "**Not supported** (refused when set). " + meaning
            rows.append(f"| `{p.name}` | `{p.default_text()}` | {p.level} | {meaning.replace('|', '/')} |")
        return "\n".join(rows) + "\n"


# ------------------------------------------------------------------------------------------- helpers
def _num(x: float) -> str:
    if isinstance(x, int) or (math.isfinite(x) and float(x).is_integer()):
        return str(int(x))
    return "inf" if x == math.inf else repr(float(x))


def _norm_enum(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


def is_int(v: Any) -> bool:
    """An integer value (Python or numpy), not a bool."""
    return isinstance(v, (Integral, np.integer)) and not isinstance(v, (bool, np.bool_))


def is_real(v: Any) -> bool:
    """A real number (Python or numpy int or float), not a bool."""
    return is_int(v) or (isinstance(v, (Real, np.floating)) and not isinstance(v, (bool, np.bool_)))


def _is_column(v: Any) -> bool:
    return (isinstance(v, str) and v != "") or (is_int(v) and int(v) >= 0)


def key_of(v: Any, attrs: tuple[str, ...] = ("key", "model_id")) -> str | None:
    """The DKV key of a key string or of an object carrying one (a Frame's ``key``, a model's ``model_id``)."""
    if isinstance(v, str):
        return v or None
    for a in attrs:
        k = getattr(v, a, None)
        if isinstance(k, str) and k:
            return k
    return None


# ------------------------------------------------------------------------------------------- common
def _common(name: str, default: Any, kind: str, doc: str, **kw: Any) -> tuple[str, Param]:
    return name, Param(name, default, kind, doc, **kw)


#: The parameters every model builder has (H2O's ``Model.Parameters``), as grid search and cross-validation use them.
COMMON: dict[str, Param] = dict([
    _common("model_id", None, "str", "Destination key of the model; generated when None.", level="basic"),
    _common("training_frame", None, "frame_or_key", "Training frame (a Frame or its key).", level="basic"),
    _common("validation_frame", None, "frame_or_key", "Validation frame for scoring and early stopping.",
            level="basic"),
    _common("x", None, "column_list", "Predictor columns (names or indices); None: every other column.",
            level="basic"),
    _common("response_column", None, "column", "Response column (alias y); its type decides the problem.",
            level="basic"),
    _common("ignored_columns", None, "column_list", "Columns to leave out (cannot be combined with x).",
            level="basic"),
    _common("weights_column", None, "column", "Per-row observation weights (>= 0)."),
    _common("seed", -1, "int", "Random seed; -1 draws one (recorded in the model).", min=INT64_MIN, max=INT64_MAX,
            level="expert"),
    _common("max_runtime_secs", 0.0, "float", "Wall-clock limit in seconds (0 = none).", min=0),
    _common("nfolds", 0, "int", "Cross-validation folds (0 disables, else >= 2).", min=0, level="basic"),
    _common("fold_column", None, "column", "Column holding each row's fold (instead of nfolds)."),
    _common("fold_assignment", "AUTO", "enum", "How rows are assigned to folds (AUTO = Random).",
            allowed=("AUTO", "Random", "Modulo", "Stratified")),
    _common("keep_cross_validation_models", True, "bool", "Keep the cross-validation models.", level="expert"),
    _common("keep_cross_validation_predictions", False, "bool", "Keep the cross-validation holdout predictions.",
            level="expert"),
    _common("keep_cross_validation_fold_assignment", False, "bool", "Keep the fold assignment frame.",
            level="expert"),
    _common("export_checkpoints_dir", None, "str", "Directory the model is written to (a file named by its id) at "
            "every scoring event; a run killed with its cloud resumes from it (load_model, then checkpoint=)."),
])
