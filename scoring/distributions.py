"""H2O's response distributions in one place: names, link functions and per-row deviance.

Mirrors ``hex/DistributionFactory.java`` and ``hex/LinkFunction.java`` of H2O-3 with vectorised numpy.
Only numpy is imported: this module runs on a production box that scores exported models.

Example
-------
>>> import numpy as np
>>> deviance("gaussian", np.array([1.0, 2.0]), np.array([1.5, 2.0])).tolist()
[0.25, 0.0]
>>> float(link_inv("bernoulli", np.array([0.0]))[0])
0.5

Deviance forms
--------------
For poisson and gamma the default is the textbook *unit* (saturated) deviance, which is 0 at a perfect
fit and never negative: poisson ``2(y log(y/f) - y + f)`` (``2f`` when ``y = 0``) and gamma
``2(log(f/y) + y/f - 1)``. H2O-3's Java code drops the terms that depend on ``y`` only and returns
``-2(y log f - f)`` and ``2(y/f + log f)``; pass ``saturated=False`` to reproduce those numbers exactly
(they differ from the unit deviance by a per-row constant, so model rankings agree). Tweedie is the full
unit deviance in both forms, as in H2O.
"""

from __future__ import annotations

import numpy as np

#: Every distribution name H2O's Deep Learning accepts (besides "AUTO", see :func:`resolve_distribution`).
DISTRIBUTIONS: tuple[str, ...] = (
    "bernoulli", "multinomial", "gaussian", "poisson", "gamma", "tweedie", "laplace", "huber", "quantile",
)

#: Link function of each distribution, as in H2O's DistributionFactory constructors.
LINKS: dict[str, str] = {
    "bernoulli": "logit",
    "multinomial": "log",
    "gaussian": "identity",
    "poisson": "log",
    "gamma": "log",
    "tweedie": "log",
    "laplace": "identity",
    "huber": "identity",
    "quantile": "identity",
}

# H2O's LogExpUtil: log never goes below -19 and exp never above 1e19, so that a saturated output
# cannot turn a deviance into inf/NaN and poison a whole scoring pass.
_MIN_LOG = -19.0
_MAX_EXP = 1e19


def validate_distribution(dist: str) -> str:
    """Return ``dist`` if it is one of :data:`DISTRIBUTIONS`, else raise ValueError naming it.

    >>> validate_distribution("poisson")
    'poisson'
    """
    if not isinstance(dist, str) or dist not in LINKS:
        raise ValueError(f"unknown distribution {dist!r}; expected one of {', '.join(DISTRIBUTIONS)}")
    return dist


def resolve_distribution(dist: str, nclasses: int) -> str:
    """Resolve H2O's ``"AUTO"``: 1 class (numeric response) → gaussian, 2 → bernoulli, more → multinomial.

    Any other name is validated and returned unchanged.

    >>> resolve_distribution("AUTO", 2)
    'bernoulli'
    """
    if dist == "AUTO":
        if not isinstance(nclasses, (int, np.integer)) or nclasses < 1:
            raise ValueError(f"nclasses must be a positive int (1 for regression), got {nclasses!r}")
        return "gaussian" if nclasses == 1 else "bernoulli" if nclasses == 2 else "multinomial"
    return validate_distribution(dist)


def link_name(dist: str) -> str:
    """Name of the link function of ``dist``: ``"identity"``, ``"log"`` or ``"logit"``.

    >>> link_name("gamma")
    'log'
    """
    return LINKS[validate_distribution(dist)]


def _safe_log(x: np.ndarray) -> np.ndarray:
    """H2O's LogExpUtil.log: log(max(x, 0)) floored at -19 (so log(0) = -19, never -inf)."""
    x = np.maximum(np.asarray(x, dtype=np.float64), 0.0)
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(x), _MIN_LOG)


def _safe_exp(x: np.ndarray) -> np.ndarray:
    """H2O's LogExpUtil.exp: exp(x) capped at 1e19."""
    with np.errstate(over="ignore"):
        return np.minimum(np.exp(np.asarray(x, dtype=np.float64)), _MAX_EXP)


def link(dist: str, mu: np.ndarray) -> np.ndarray:
    """Apply the link of ``dist`` to response-scale values ``mu`` (log and logit use H2O's clamped log).

    >>> link("poisson", np.array([1.0])).tolist()
    [0.0]
    """
    name = link_name(dist)
    mu = np.asarray(mu, dtype=np.float64)
    if name == "identity":
        return mu.copy()
    if name == "log":
        return _safe_log(mu)
    return _safe_log(mu) - _safe_log(1.0 - mu)  # H2O's LogitFunction: log(f / (1 - f))


def link_inv(dist: str, eta: np.ndarray) -> np.ndarray:
    """Inverse link of ``dist``: map link-scale values ``eta`` back to the response scale.

    >>> link_inv("gamma", np.array([0.0])).tolist()
    [1.0]
    """
    name = link_name(dist)
    eta = np.asarray(eta, dtype=np.float64)
    if name == "identity":
        return eta.copy()
    if name == "log":
        return _safe_exp(eta)
    return 1.0 / (1.0 + _safe_exp(-eta))


def _as_float_vector(name: str, x: np.ndarray | float, n: int | None = None) -> np.ndarray:
    """Flatten ``x`` to a float64 1-D array, broadcasting scalars, and check its length and finiteness."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 0 and n is not None:
        arr = np.full(n, float(arr))
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} rows, expected {n}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _require(ok: np.ndarray, dist: str, what: str) -> None:
    """Raise ValueError naming the distribution, the broken condition and the first offending row."""
    if not np.all(ok):
        row = int(np.flatnonzero(~ok)[0])
        raise ValueError(f"{dist} deviance requires {what} (violated first at row {row})")


def deviance(
    dist: str,
    y: np.ndarray,
    yhat: np.ndarray,
    w: np.ndarray | float | None = None,
    *,
    tweedie_power: float = 1.5,
    quantile_alpha: float = 0.5,
    huber_delta: float = 1.0,
    saturated: bool = True,
) -> np.ndarray:
    """Per-row weighted deviance ``w * d(y, yhat)`` of H2O's ``Distribution.deviance(w, y, f)``.

    ``yhat`` is on the response scale (a probability for bernoulli, a mean for poisson/gamma/tweedie).
    ``huber_delta`` defaults to 1, the value H2O's Distribution starts with; models update it at scoring.
    ``saturated`` selects the poisson/gamma form (see the module docstring). Multinomial has no per-row
    deviance in H2O (its Distribution throws); use the logloss of ModelMetricsMultinomial instead.

    >>> deviance("laplace", np.array([1.0, 3.0]), np.array([2.0, 2.0]), np.array([1.0, 2.0])).tolist()
    [1.0, 2.0]
    >>> deviance("poisson", np.array([0.0]), np.array([0.5])).tolist()
    [1.0]
    """
    validate_distribution(dist)
    if dist == "multinomial":
        raise ValueError("multinomial has no per-row deviance in H2O; use logloss (ModelMetricsMultinomial)")
    yv = _as_float_vector("y", y)
    f = _as_float_vector("yhat", yhat, yv.shape[0])
    wv = np.ones_like(yv) if w is None else _as_float_vector("w", w, yv.shape[0])
    if np.any(wv < 0):
        raise ValueError("weights w must be non-negative")

    if dist == "gaussian":
        d = (yv - f) ** 2
    elif dist == "laplace":
        d = np.abs(yv - f)
    elif dist == "quantile":
        if not 0.0 <= quantile_alpha <= 1.0:
            raise ValueError(f"quantile_alpha must be in [0, 1], got {quantile_alpha}")
        d = np.where(yv > f, quantile_alpha * (yv - f), (1.0 - quantile_alpha) * (f - yv))
    elif dist == "huber":
        if not huber_delta > 0.0:
            raise ValueError(f"huber_delta must be > 0, got {huber_delta}")
        r = np.abs(yv - f)
        d = np.where(r <= huber_delta, r * r, 2.0 * (r - huber_delta) * huber_delta)
    elif dist == "bernoulli":
        _require((yv >= 0.0) & (yv <= 1.0), dist, "0 <= y <= 1")
        _require((f >= 0.0) & (f <= 1.0), dist, "probabilities 0 <= yhat <= 1")
        d = -2.0 * (yv * _safe_log(f) + (1.0 - yv) * _safe_log(1.0 - f))
    elif dist == "poisson":
        _require(yv >= 0.0, dist, "y >= 0")
        _require(f > 0.0, dist, "yhat > 0")
        if saturated:
            with np.errstate(divide="ignore", invalid="ignore"):
                ylog = np.where(yv > 0.0, yv * np.log(yv / f), 0.0)  # y log(y/f) -> 0 as y -> 0
            d = 2.0 * (ylog - yv + f)
        else:
            eta = _safe_log(f)
            d = -2.0 * (yv * eta - _safe_exp(eta))
    elif dist == "gamma":
        _require(yv > 0.0, dist, "y > 0")
        _require(f > 0.0, dist, "yhat > 0")
        if saturated:
            d = 2.0 * (np.log(f / yv) + yv / f - 1.0)
        else:
            eta = _safe_log(f)
            d = 2.0 * (yv * _safe_exp(-eta) + eta)
    else:  # tweedie
        p = float(tweedie_power)
        if not 1.0 < p < 2.0:
            raise ValueError(f"tweedie_power must be in (1, 2), got {tweedie_power}")
        _require(yv >= 0.0, dist, "y >= 0")
        _require(f > 0.0, dist, "yhat > 0")
        eta = _safe_log(f)
        d = 2.0 * (
            np.power(yv, 2.0 - p) / ((1.0 - p) * (2.0 - p))
            - yv * _safe_exp(eta * (1.0 - p)) / (1.0 - p)
            + _safe_exp(eta * (2.0 - p)) / (2.0 - p)
        )
    return wv * d
