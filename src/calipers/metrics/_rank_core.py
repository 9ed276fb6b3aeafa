"""Ranking kernels behind every score metric: sorted curves, exact AUC / AP, histograms.

This module is the one door from the score metrics (drop-ins, streaming classes,
bootstrap) to the compiled ranking core. Callers pass already-validated 1-D arrays:
``pos`` a boolean mask of positives, ``scores`` float32/float64 (see
:func:`as_scores`), ``weights`` float64 or ``None``.

Semantics follow scikit-learn's ``confusion_matrix_at_thresholds``: thresholds are
the distinct scores in decreasing order, a sample counts as predicted positive at
threshold ``t`` when ``score >= t``, samples of weight 0 are dropped, and the
cumulative counts are accumulated in float64 whatever the input dtype.

NOTE: the first version here is a numpy reference (argsort); the compiled radix
sort replaces the bodies with the same signatures.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "as_scores",
    "binary_auc",
    "binary_auc_ap",
    "binary_ap",
    "binary_clf_curve",
]


def as_scores(y_score: object, name: str = "y_score") -> np.ndarray:
    """Return ``y_score`` as a C-contiguous float32 or float64 array.

    float32 and float64 are kept; bool and integer scores become float64. Complex,
    object, string and datetime scores raise ``TypeError``; NaN or infinite scores
    raise ``ValueError`` naming ``name``.
    """
    arr = np.asarray(y_score)
    if arr.dtype.kind == "f":
        if arr.dtype not in (np.float32, np.float64):
            arr = arr.astype(np.float64)
    elif arr.dtype.kind in "biu":
        arr = arr.astype(np.float64)
    else:
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr)
    if arr.size and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return arr


def _sorted(pos: np.ndarray, scores: np.ndarray, weights: np.ndarray | None):
    if weights is not None:
        keep = weights != 0
        if not keep.all():
            pos, scores, weights = pos[keep], scores[keep], weights[keep]
    order = np.argsort(scores, kind="stable")[::-1]
    return pos[order], scores[order], None if weights is None else weights[order]


def binary_clf_curve(
    pos: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(fps, tps, thresholds)``: cumulative weights at each distinct score.

    ``thresholds`` are the distinct scores (weight-0 samples dropped) in decreasing
    order, in ``scores``' dtype; ``fps[i]`` / ``tps[i]`` are the float64 total
    weights of negatives / positives with ``score >= thresholds[i]``.
    """
    p, s, w = _sorted(pos, scores, weights)
    if s.size == 0:
        empty = np.zeros(0, dtype=np.float64)
        return empty, empty.copy(), s[:0]
    idx = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    if w is None:
        tps = np.cumsum(p, dtype=np.float64)[idx]
        fps = 1.0 + idx - tps
    else:
        tps = np.cumsum(p * w, dtype=np.float64)[idx]
        fps = np.cumsum(~p * w, dtype=np.float64)[idx]
    return fps, tps, s[idx]


def _auc_from_curve(fps: np.ndarray, tps: np.ndarray) -> float:
    if fps.size == 0 or fps[-1] <= 0 or tps[-1] <= 0:
        return float("nan")
    x = np.r_[0.0, fps] / fps[-1]
    y = np.r_[0.0, tps] / tps[-1]
    return float(np.trapezoid(y, x))


def _ap_from_curve(fps: np.ndarray, tps: np.ndarray) -> float:
    if tps.size == 0 or tps[-1] <= 0:
        return float("nan")
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def binary_auc(pos: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Exact ROC AUC (ties count half); NaN when either class has no weight."""
    return _auc_from_curve(*binary_clf_curve(pos, scores, weights)[:2])


def binary_ap(pos: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Average precision as scikit-learn computes it; NaN when there are no positives."""
    return _ap_from_curve(*binary_clf_curve(pos, scores, weights)[:2])


def binary_auc_ap(
    pos: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None
) -> tuple[float, float]:
    """``(binary_auc, binary_ap)`` from one sort."""
    fps, tps, _ = binary_clf_curve(pos, scores, weights)
    return _auc_from_curve(fps, tps), _ap_from_curve(fps, tps)
