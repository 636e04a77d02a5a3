"""Early stopping on a moving average of a scoring metric (H2O's ``ScoreKeeper.stopEarly``).

With k = ``stopping_rounds``: H2O needs 2k events after the first of its list (``sk.length - 1 >= 2k``); the k+1
simple moving averages of window k over the last 2k events are computed; the reference is the oldest of them
and the best is the best of the k newer ones; training stops when the best does not improve on the reference
by more than the relative ``stopping_tolerance``.

The first of H2O's list is a grid's first model (``skip_first=True``: 2k+1 values needed), but in a Deep
Learning scoring history it is the model before training (an empty entry, or an autoencoder's null model),
which our history does not hold: 2k scorings suffice (``skip_first=False``), as in H2O.

>>> should_stop([0.5, 0.4, 0.35, 0.35, 0.35, 0.35, 0.35], 2, 0.0, more_is_better=False)
True
>>> should_stop([0.5, 0.4, 0.3, 0.2, 0.1], 2, 0.0, more_is_better=False)
False
>>> should_stop([0.35, 0.35, 0.35, 0.35], 2, 0.0, more_is_better=False, skip_first=False)
True
"""
from __future__ import annotations

import math


def should_stop(history: list[float], rounds: int, tolerance: float, *, more_is_better: bool,
                skip_first: bool = True) -> bool:
    if rounds <= 0:
        return False
    values = [v for v in history if v is not None and not math.isnan(v)]
    if len(values) < 2 * rounds + (1 if skip_first else 0):
        return False
    last = values[-(2 * rounds):]
    smas = [sum(last[i:i + rounds]) / rounds for i in range(rounds + 1)]
    ref = smas[0]
    best = max(smas[1:]) if more_is_better else min(smas[1:])
    if not more_is_better and ref == 0:
        return True                      # a metric bounded by 0 that reached it
    if (ref > 0) != (best > 0) and ref != 0 and best != 0:
        return False                     # H2O: never stop when the moving averages change sign
    if more_is_better:
        return best <= ref * (1 + tolerance) if ref > 0 else best <= ref * (1 - tolerance)
    return best >= ref * (1 - tolerance) if ref > 0 else best >= ref * (1 + tolerance)
