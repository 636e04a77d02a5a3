"""The Deep Learning parameter table as the REST API and the training form show it.

:func:`parameter_table` is the one place ``web/`` reads the algorithm's parameter table
(``algos.deeplearning.PARAMS``). Each parameter keeps the group the table gives it (``Param.level``: H2O Flow's
basic / advanced / expert, from H2O-3's API levels critical / secondary / expert). Values are never checked
here: the estimator checks them with the same table.

>>> rows = parameter_table()
>>> next(r for r in rows if r["name"] == "hidden")["group"], next(r for r in rows if r["name"] == "rho")["group"]
('basic', 'expert')
"""
from __future__ import annotations

import math
from typing import Any

GROUPS = ("basic", "advanced", "expert")


def json_value(x: Any) -> Any:
    """A parameter value for JSON: tuples as lists, infinity (an allowed bound or value) as "inf"/"-inf"."""
    if isinstance(x, (list, tuple)):
        return [json_value(v) for v in x]
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def parameter_table() -> list[dict]:
    """Every Deep Learning parameter in table order: ``name, kind, default, help, group, allowed, min, max,
    min_open, max_open, deprecated, extension, supported`` (``supported`` False: refused when set;
    ``extension``: an aquifer parameter H2O does not have)."""
    from algos.deeplearning import PARAMS
    return [{"name": name, "kind": p.kind, "default": json_value(p.default), "help": p.doc, "group": p.level,
             "allowed": list(p.allowed), "min": json_value(p.min), "max": json_value(p.max), "min_open": p.min_open,
             "max_open": p.max_open, "deprecated": p.deprecated, "extension": p.extension,
             "supported": name not in PARAMS.unsupported} for name, p in PARAMS.items()]
