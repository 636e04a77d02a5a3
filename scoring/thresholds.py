"""Binomial threshold maths (``hex/AUC2.java``): threshold bins, ROC and precision-recall areas, the threshold
criteria (F1, F2, accuracy, MCC, ...) at every threshold.

Binomial threshold metrics come from one table of at most ``nbins`` (400) thresholds. If the predictions take
at most ``nbins`` distinct values the table holds every one of them and is exact. Otherwise neighbouring values
are merged H2O-style into weighted-mean bins (:func:`merge_bins`). AUC/AUCPR are trapezoids over the cumulative
(false positive, true positive) points (:func:`auc_of`, :func:`aucpr_of`).

>>> import numpy as np
>>> ths, tps, fps = distinct_counts(np.array([0.9, 0.2, 0.6]), np.array([1.0, 0.0, 1.0]), np.ones(3))
>>> auc_of(np.cumsum(tps), np.cumsum(fps))
1.0
"""

from __future__ import annotations

import numpy as np

#: Binomial threshold criteria, in the column order of H2O's thresholds table.
CRITERIA: tuple[str, ...] = (
    "f1", "f2", "f0point5", "accuracy", "precision", "recall", "specificity", "absolute_mcc",
    "min_per_class_accuracy", "mean_per_class_accuracy", "tns", "fns", "fps", "tps", "tnr", "fnr", "fpr", "tpr",
)
AUC_NBINS = 400            # AUC2.NBINS
EXACT_AUC_MAX_ROWS = 10_000  # DL scores 10 000 sampled training rows by default: those AUCs are exact


def distinct_counts(p1: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct predictions in descending order with the weighted positives/negatives at each."""
    values, inv = np.unique(p1, return_inverse=True)
    tps = np.bincount(inv, weights=w * y, minlength=values.size)
    fps = np.bincount(inv, weights=w * (1.0 - y), minlength=values.size)
    return values[::-1].copy(), tps[::-1].copy(), fps[::-1].copy()


def merge_bins(ths: np.ndarray, tps: np.ndarray, fps: np.ndarray, nbins: int) -> tuple[np.ndarray, ...]:
    """Merge neighbouring bins until at most ``nbins`` remain, cheapest merged squared error first.

    The cost of merging bins i and i+1 is H2O's: ``sqe_i + sqe_i+1 + d² k_i k_i+1 / (k_i + k_i+1)``, with
    d the distance of the centers in float32 (so float32-equal values merge for free) and k the weights.
    Each round merges the cheapest half of the pairs that are cheaper than both neighbours.
    """
    k = tps + fps
    sqe = np.zeros_like(ths)
    index_hash = None
    while ths.size > nbins:
        need = ths.size - nbins
        d = (ths[1:].astype(np.float32) - ths[:-1].astype(np.float32)).astype(np.float64)
        cost = sqe[:-1] + sqe[1:] + d * d * k[:-1] * k[1:] / (k[:-1] + k[1:])
        m = cost.size
        if index_hash is None or index_hash.size < m:
            # A fixed pseudo-random tie-break: with plain index order, a run of equal costs (evenly
            # spaced predictions) would yield one merge per round instead of a third of the run.
            index_hash = (np.arange(m, dtype=np.uint64) * np.uint64(2654435761)) & np.uint64(0xFFFFFFFF)
        tb = index_hash[:m]
        limit = min(need, max(1, m // 2))
        cutoff = np.partition(cost, limit - 1)[limit - 1]
        beats_next = (cost[:-1] < cost[1:]) | ((cost[:-1] == cost[1:]) & (tb[:-1] < tb[1:]))
        local_min = np.append(beats_next, True) & np.insert(~beats_next, 0, True)
        sel = np.flatnonzero((cost <= cutoff) & local_min)
        if sel.size > need:
            sel = np.sort(sel[np.argsort(cost[sel], kind="stable")[:need]])
        nxt = sel + 1
        merged_k = k[sel] + k[nxt]
        ths[sel] = (ths[sel] * k[sel] + ths[nxt] * k[nxt]) / merged_k
        sqe[sel] = cost[sel]
        tps[sel] += tps[nxt]
        fps[sel] += fps[nxt]
        k[sel] = merged_k
        keep = np.ones(ths.size, dtype=bool)
        keep[nxt] = False
        ths, sqe, tps, fps, k = ths[keep], sqe[keep], tps[keep], fps[keep], k[keep]
    return ths, tps, fps


def _one_class(p: float, n: float) -> float | None:
    """The area when only one class is present: 1.0 without negatives, 0.0 without positives (H2O's AUC2)."""
    return 1.0 if n == 0 else (0.0 if p == 0 else None)


def _previous(c: np.ndarray) -> np.ndarray:
    """Each point's predecessor on the curve (the curve starts at 0)."""
    return np.concatenate(([0.0], c[:-1]))


def auc_of(ctp: np.ndarray, cfp: np.ndarray) -> float:
    """AUC2.compute_auc: trapezoids over the cumulative (fp, tp) points, from (0, 0) to (N, P)."""
    p, n = ctp[-1], cfp[-1]
    degenerate = _one_class(p, n)
    if degenerate is not None:
        return degenerate
    return float(np.sum((cfp - _previous(cfp)) * (ctp + _previous(ctp)) / 2.0) / p / n)


def aucpr_of(ctp: np.ndarray, cfp: np.ndarray) -> float:
    """AUC2.pr_auc: precision-recall area with precision interpolated along straight tp/fp segments."""
    p, n = ctp[-1], cfp[-1]
    degenerate = _one_class(p, n)
    if degenerate is not None:
        return degenerate
    prev_tp, prev_fp = _previous(ctp), _previous(cfp)
    moved = ctp != prev_tp
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(moved, (cfp - prev_fp) / np.where(moved, ctp - prev_tp, 1.0), 0.0)
        a = 1.0 + h
        b = np.where(moved, (prev_fp - h * prev_tp) / p, 0.0)
        tpp, prev_tpp = ctp / p, prev_tp / p
        # a·tpp + b = (tp + fp)/P > 0 and a·prev_tpp + b = (prev_tp + prev_fp)/P, which is 0 only when b is 0
        curved = (tpp - prev_tpp - b / a * (np.log(a * tpp + b) - np.log(np.where(b != 0, a * prev_tpp + b, 1.0)))) / a
        area = np.where(b != 0, curved, (tpp - prev_tpp) / a)
    return float(np.sum(area))


def criteria(ctp: np.ndarray, cfp: np.ndarray) -> dict[str, np.ndarray]:
    """Every AUC2.ThresholdCriterion at every threshold (NaN where H2O's formula is 0/0)."""
    p, n = ctp[-1], cfp[-1]
    tp, fp = ctp, cfp
    fn, tn = p - tp, n - fp
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = tp / (tp + fp)
        recall = tp / (tp + fn)
        specificity = tn / (tn + fp)
        mcc_num = tp * tn - fp * fn
        mcc = np.where(mcc_num == 0, 0.0, np.abs(mcc_num) / np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)))
        return {
            "f1": 2.0 * precision * recall / (precision + recall),
            "f2": 5.0 * precision * recall / (4.0 * precision + recall),
            "f0point5": 1.25 * precision * recall / (0.25 * precision + recall),
            "accuracy": (tn + tp) / (tp + fn + tn + fp),
            "precision": precision,
            "recall": recall,
            "specificity": specificity,
            "absolute_mcc": np.minimum(mcc, 1.0),
            "min_per_class_accuracy": np.minimum(recall, specificity),
            "mean_per_class_accuracy": 0.5 * (recall + specificity),
            "tns": tn, "fns": fn, "fps": fp, "tps": tp,
            "tnr": specificity, "fnr": fn / (fn + tp), "fpr": fp / (fp + tn), "tpr": recall,
        }


def max_idx(values: np.ndarray) -> int:
    """First index of the maximum, ignoring NaN; -1 when every value is NaN (max_criterion_idx)."""
    if values.size == 0 or np.all(np.isnan(values)):
        return -1
    return int(np.argmax(np.where(np.isnan(values), -np.inf, values)))
