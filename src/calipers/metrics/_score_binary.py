"""Binary score arithmetic on checked arrays: ROC AUC (with partial AUC) and average
precision, as scikit-learn computes them.

The functions here take already-validated arrays (their contract is in each
docstring) so that callers holding checked state (the drop-ins after validation,
the streaming metrics on their concatenated batches) skip revalidation. The sorting
and the areas are the ranking core's (:mod:`calipers.metrics._rank_core`); weights of
both signs take a slower path through the curve, as only they can make it go back.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from calipers.metrics._compute import UndefinedMetricWarning
from calipers.metrics._rank_core import (
    binary_ap,
    binary_auc,
    binary_auc_ap_columns,
    binary_clf_curve,
)

__all__ = [
    "NO_POSITIVE_MESSAGE",
    "ONE_CLASS_MESSAGE",
    "_average_precision_columns",
    "_binary_average_precision",
    "_binary_roc_auc",
    "_roc_auc_columns",
]

ONE_CLASS_MESSAGE = ("Only one class is present in y_true. ROC AUC score is not defined in "
                     "that case.")
NO_POSITIVE_MESSAGE = ("No positive class found in y_true, recall is set to one for all "
                       "thresholds.")


# ---------------------------------------------------------------------------
# binary arithmetic on checked arrays
# ---------------------------------------------------------------------------


def _binary_roc_auc(pos: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None,
                    max_fpr: float | None = None) -> float:
    """ROC AUC of checked binary arrays, as scikit-learn's binary ``roc_auc_score``.

    Parameters
    ----------
    pos : ndarray of bool, shape (n,), C-contiguous
        Whether each sample is positive (other dtypes: nonzero entries are positive,
        at the cost of one conversion pass).
    scores : ndarray of float32 or float64, shape (n,), C-contiguous
        Finite scores (see :func:`calipers.metrics._rank_core.as_scores`).
    weights : ndarray of float64, shape (n,), or None
        Finite sample weights (zeros allowed: those samples are dropped; negative
        weights take a slower path that checks the curve is monotone).
    max_fpr : float in (0, 1] or None
        Standardised partial AUC up to this false positive rate (McClish).

    Returns
    -------
    float
        NaN with an ``UndefinedMetricWarning`` when ``pos`` holds one class only (or
        when the weights of one class sum to zero or less).
    """
    if pos.dtype != np.bool_:
        pos = np.ascontiguousarray(pos != 0)
    if pos.shape[0] == 0 or pos.all() or not pos.any():
        warnings.warn(ONE_CLASS_MESSAGE, UndefinedMetricWarning, stacklevel=3)
        return float("nan")
    signed = weights is not None and bool((weights < 0).any())
    whole = max_fpr is None or max_fpr == 1
    if whole and not signed:
        area = binary_auc(pos, scores, weights)
        if math.isnan(area):  # one class has no weight: only with weights
            _warn_empty_class(float(weights[~pos].sum()) <= 0, float(weights[pos].sum()) <= 0)
        return area
    fps, tps, _ = binary_clf_curve(pos, scores, weights)
    _warn_empty_class(fps[-1] <= 0, tps[-1] <= 0)
    if fps[-1] <= 0:
        if not whole:
            # scikit-learn's partial area then has one point and raises.
            raise ValueError(f"The partial AUC up to max_fpr={max_fpr} is undefined: the "
                             "negative samples have no weight.")
        return float("nan")
    fpr = np.r_[0.0, fps / fps[-1]]
    tpr = np.full(fpr.shape, np.nan) if tps[-1] <= 0 else np.r_[0.0, tps / tps[-1]]
    if whole:
        return _monotone_area(fpr, tpr)
    stop = int(np.searchsorted(fpr, max_fpr, "right"))
    tpr_at = np.interp(max_fpr, fpr[stop - 1:stop + 1], tpr[stop - 1:stop + 1])
    partial = _monotone_area(np.r_[fpr[:stop], max_fpr], np.r_[tpr[:stop], tpr_at])
    min_area = 0.5 * max_fpr**2
    return 0.5 * (1 + (partial - min_area) / (max_fpr - min_area))


def _monotone_area(x: np.ndarray, y: np.ndarray) -> float:
    """Trapezoid area under ``y(x)``; ``x`` must be monotone (only negative weights
    make it otherwise: scikit-learn's ``auc`` then raises the same ``ValueError``)."""
    dx = np.diff(x)
    direction = 1
    if (dx < 0).any():
        if not (dx <= 0).all():
            raise ValueError(f"x is neither increasing nor decreasing : {x}. (The false "
                             "positive rate goes back: some sample weights are negative.)")
        direction = -1
    return direction * float(np.trapezoid(y, x))


def _warn_empty_class(no_negatives: bool, no_positives: bool) -> None:
    """Warn as scikit-learn's ``roc_curve`` does when a class has no (positive) weight."""
    if no_negatives:
        warnings.warn("No negative samples in y_true, false positive value should be "
                      "meaningless", UndefinedMetricWarning, stacklevel=4)
    if no_positives:
        warnings.warn("No positive samples in y_true, true positive value should be "
                      "meaningless", UndefinedMetricWarning, stacklevel=4)


def _binary_average_precision(pos: np.ndarray, scores: np.ndarray,
                              weights: np.ndarray | None = None) -> float:
    """Average precision of checked binary arrays, as scikit-learn's.

    Same array contract as :func:`_binary_roc_auc`. Without positives (of non-zero
    weight) the result is 0.0, with scikit-learn's ``UserWarning``.
    """
    if pos.dtype != np.bool_:
        pos = np.ascontiguousarray(pos != 0)
    if weights is not None and bool((weights < 0).any()):
        return _signed_weights_ap(pos, scores, weights)
    ap = binary_ap(pos, scores, weights) if pos.any() else float("nan")
    if math.isnan(ap):
        warnings.warn(NO_POSITIVE_MESSAGE, UserWarning, stacklevel=3)
        return 0.0
    return max(0.0, ap)


def _signed_weights_ap(pos: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> float:
    """Average precision from the curve, for weights of both signs (no monotonicity)."""
    fps, tps, _ = binary_clf_curve(pos, scores, weights)
    predicted = tps + fps
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted != 0, tps / predicted, 0.0)
    if tps[-1] == 0:
        warnings.warn(NO_POSITIVE_MESSAGE, UserWarning, stacklevel=4)
        return 0.0
    recall = tps / tps[-1]
    return max(0.0, float(np.sum(np.diff(np.r_[0.0, recall]) * precision)))


# ---------------------------------------------------------------------------
# many columns at once (one-vs-rest, multilabel)
# ---------------------------------------------------------------------------


def _column(a: np.ndarray, c: int) -> np.ndarray:
    return np.ascontiguousarray(a[:, c])


def _roc_auc_columns(pos: np.ndarray, scores: np.ndarray,
                     weights: np.ndarray | None = None) -> np.ndarray:
    """:func:`_binary_roc_auc` of every column of (n, C) ``pos`` / ``scores``.

    The columns are ranked together by the core (whole columns per thread, no copy);
    a column that comes out NaN (one class only) is redone alone to give the binary
    function's warning. Weights of both signs take the per-column path.
    """
    if weights is not None and bool((weights < 0).any()):
        return np.array([_binary_roc_auc(_column(pos, c), _column(scores, c), weights)
                         for c in range(pos.shape[1])], dtype=np.float64)
    auc, _ = binary_auc_ap_columns(pos, scores, weights)
    for c in np.flatnonzero(np.isnan(auc)):
        auc[c] = _binary_roc_auc(_column(pos, c), _column(scores, c), weights)
    return auc


def _average_precision_columns(pos: np.ndarray, scores: np.ndarray,
                               weights: np.ndarray | None = None) -> np.ndarray:
    """:func:`_binary_average_precision` of every column, ranked together as in
    :func:`_roc_auc_columns`."""
    if weights is not None and bool((weights < 0).any()):
        return np.array([_binary_average_precision(_column(pos, c), _column(scores, c),
                                                   weights)
                         for c in range(pos.shape[1])], dtype=np.float64)
    _, ap = binary_auc_ap_columns(pos, scores, weights)
    for c in np.flatnonzero(np.isnan(ap)):
        ap[c] = _binary_average_precision(_column(pos, c), _column(scores, c), weights)
    return np.maximum(ap, 0.0)
