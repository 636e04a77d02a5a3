"""Export a trained model for scoring outside the cloud: the portable model file and the POJO.

This is the ONE module that reads a trained Deep Learning model's fields for export (network weights and biases,
the input encoding's DataInfo constants, the output settings); it hands them to :mod:`scoring.portable`, whose
format, scorer, command line and Java generator know nothing of ``algos``. H2O-py's names:

>>> path = algos.download_mojo(model, "/tmp/models")       # "/tmp/models/<model id>.zip"   # doctest: +SKIP
>>> algos.download_pojo(model, "/tmp/pojo")                # "/tmp/pojo/<model id>.java"    # doctest: +SKIP
>>> model.download_mojo("/tmp/m.zip"); model.download_pojo("")   # "" prints the Java source  # doctest: +SKIP
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from cluster.config import PACKAGE_VERSION
from scoring import distributions
from scoring.pojo import INLINE_LIMIT, pojo_source, write_pojo
from scoring.portable import PortableModel

from .hyper import H_HIDDEN_DROPOUT

_CATEGORY = {"binomial": "Binomial", "multinomial": "Multinomial", "regression": "Regression",
             "autoencoder": "AutoEncoder"}


def portable_model(model) -> PortableModel:
    """The portable form of a :class:`~algos.deeplearning.DeepLearningModel` (checked by :class:`PortableModel`)."""
    m = model.meta
    info, spec, state, kind = model.info, model.spec, model.state, model.kind
    hyper, _ = model.kernel_arrays()                  # the dropout ratios the cloud's forward pass scales by
    params = m.params
    arrays: dict[str, np.ndarray] = {}
    for i, lookup in enumerate(info._lookup):        # level code -> input slot (NA slot last), hashed or not
        arrays[f"cat{i}.lookup"] = np.asarray(lookup, dtype=np.int32)
    arrays["num.sub"], arrays["num.mul"], arrays["num.mean"] = info.norm_sub, info.norm_mul, info.num_means
    for l in range(spec.n_layers):
        arrays[f"layer{l}.weights"] = np.array(state.layer_weights(l), dtype=np.float32)
        arrays[f"layer{l}.biases"] = np.array(state.layer_biases(l), dtype=np.float64)
    priors = m.priors
    if priors is not None:
        arrays["priors"] = np.asarray(priors, dtype=np.float64)
    dist = params["distribution"]
    meta = {
        "producer": f"aquifer {PACKAGE_VERSION}",
        "model_id": model.model_id,
        "algo": "deeplearning",
        "category": _CATEGORY[kind],
        "columns": [{"name": c, "type": t, "domain": info.domains.get(c)} for c, t in zip(info.columns, info.types)],
        "offset_column": params.get("offset_column") or None,
        "response": None if kind == "autoencoder" else
        {"name": m.response, "domain": None if kind == "regression" else list(m.response_domain)},
        "encoding": {
            "categoricals": list(info.cat_names), "numerics": list(info.num_names),
            "coef_names": list(info.coef_names), "use_all_factor_levels": info.use_all_factor_levels,
            "missing_values_handling": info.missing_values_handling, "transform": info.transform_name,
            "hashed": info.hashed, "max_categorical_features": info.max_categorical_features,
        },
        "network": {
            "units": list(spec.units), "activation": spec.activation, "output": spec.output,
            "hidden_dropout_ratios": [float(r) for r in hyper[H_HIDDEN_DROPOUT:]],
            "input_dropout_ratio": float(params["input_dropout_ratio"]),
        },
        "prediction": {
            "distribution": dist, "link": distributions.link_name(dist),
            "response_transform": info.response_transform, "resp_sub": info.resp_sub, "resp_mul": info.resp_mul,
            "threshold": float(m.threshold), "priors": priors is not None,
        },
        "training": {"epochs": float(m.epochs), "params": _json_safe(params)},
    }
    return PortableModel.from_parts(meta, arrays)


def _json_safe(value: Any) -> Any:
    """Parameters as strict JSON (informational): non-finite numbers and objects as strings."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return str(value)


def _file_name(model_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", model_id).lstrip(".") or "model"


def download_mojo(model, path: str | Path = ".") -> str:
    """Write ``model``'s portable model file and return its path: ``path`` itself when it ends in ``.zip``,
    else ``<path>/<model id>.zip`` (h2o-py's ``download_mojo``). Score it with ``scoring.load_scorer`` or
    ``python -m scoring.score``, anywhere numpy is installed."""
    path = Path(path)
    target = path if path.suffix == ".zip" else path / f"{_file_name(model.model_id)}.zip"
    target.parent.mkdir(parents=True, exist_ok=True)
    portable_model(model).to_file(target)
    return str(target)


def download_pojo(model, path: str | Path = "", inline_limit: int = INLINE_LIMIT) -> str | None:
    """Write ``model`` as one Java class (``<path>/<class>.java``, or ``path`` when it ends in ``.java``) and return
    its path; with ``path=""`` print the source instead, as h2o-py does (without a large network's weights). Networks of more than ``inline_limit``
    parameters keep their weights in ``<class>.bin`` beside the source (ship it next to the compiled class)."""
    pm = portable_model(model)
    if str(path) == "":
        print(pojo_source(pm, inline_limit=inline_limit)[0])
        return None
    return str(write_pojo(pm, path, inline_limit=inline_limit))


def pojo_preview(model, max_lines: int = 1000) -> str:
    """The head of ``model``'s POJO source, at most ``max_lines`` lines (H2O Flow's PREVIEW POJO; a web page shows
    this), ending with a line that says how many lines were left out."""
    lines = pojo_source(portable_model(model))[0].splitlines()
    head = lines[:max_lines]
    if len(lines) > max_lines:
        head.append(f"// ... {len(lines) - max_lines} more lines: model.download_pojo(path) writes the whole class")
    return "\n".join(head) + "\n"

