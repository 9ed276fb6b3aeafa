"""Values of the binned score metrics: per-class AUC / AP with bounds, averages, curves.

Every function takes the histogram state of :class:`ScoreHistogram` (``(k, B, 2)``:
negatives, positives per bin) and returns values the way scikit-learn would on data
whose scores are the histogram's bins (ties within a bin), with scikit-learn's
warnings for classes without positives or negatives.
"""

from __future__ import annotations

import warnings

import numpy as np

from calipers.metrics import _rank_core
from calipers.metrics._compute import UndefinedMetricWarning
from calipers.metrics._curves import PrCurve, RocCurve
from calipers.metrics._functional_curves import pr_points, roc_points

__all__ = ["average_values", "binned_pr", "binned_roc", "per_class_ap", "per_class_auc"]

_ONE_CLASS = "Only one class is present in y_true. ROC AUC score is not defined in that case."


def per_class_auc(hists: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(auc, lower, upper)`` per histogram of ``hists`` (shape (k, B, 2)).

    ``lower`` / ``upper`` give pairs sharing a bin no / full credit, so the exact AUC
    of the underlying scores lies in ``[lower, upper]``; NaN (with scikit-learn's
    warning) where a class has no positives or no negatives.
    """
    k = hists.shape[0]
    val, lo, hi = np.full(k, np.nan), np.full(k, np.nan), np.full(k, np.nan)
    for c in range(k):
        h = hists[c]
        if not (h[:, 0].sum() > 0 and h[:, 1].sum() > 0):
            warnings.warn(_ONE_CLASS, UndefinedMetricWarning, stacklevel=4)
            continue
        auc, bound = _rank_core.binned_auc(h)
        val[c], lo[c], hi[c] = auc, auc - bound, auc + bound
    return val, lo, hi


def per_class_ap(hists: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ap, lower, upper)`` per histogram: AP with each bin one tie group, and the
    range of scikit-learn's AP over every order of the scores inside the bins.

    A class without positives gets 0 and scikit-learn's warning (its recall is set
    to one).
    """
    k = hists.shape[0]
    val, lo, hi = np.zeros(k), np.zeros(k), np.zeros(k)
    for c in range(k):
        h = hists[c]
        if not h[:, 1].sum() > 0:
            warnings.warn("No positive class found in y_true, recall is set to one for all "
                          "thresholds.", UserWarning, stacklevel=4)
            continue
        val[c], lo[c], hi[c] = _rank_core.binned_ap(h)
    return val, lo, hi


def average_values(values: tuple[np.ndarray, ...], hists: np.ndarray,
                   average: str | None) -> tuple:
    """Average per-class ``values`` (each (k,)) as scikit-learn's ``_average_binary_score``.

    'macro': plain mean (NaN propagates); 'weighted': weighted by each class's
    positive count (weight sum), classes of weight 0 count 0, and 0 when all
    weights are 0; 'none' / None (binary): the arrays (or scalars for k == 1).
    """
    if average in (None, "none"):
        if average is None:
            return tuple(float(v[0]) for v in values)
        return values
    if average == "macro":
        return tuple(float(np.mean(v)) for v in values)
    weights = hists[:, :, 1].sum(axis=1).astype(np.float64)
    if np.isclose(weights.sum(), 0.0):
        return tuple(0.0 for _ in values)
    out = []
    for v in values:
        v = np.where(weights == 0, 0.0, v)
        out.append(float(np.average(v, weights=weights)))
    return tuple(out)


def binned_roc(hist: np.ndarray, score_range: tuple[float, float],
               drop_intermediate: bool) -> RocCurve:
    """The ROC curve of one (B, 2) histogram; thresholds are the bins' lower edges."""
    counts = _rank_core.binned_clf_curve(hist, *score_range)
    fpr, tpr, thr = roc_points(*counts, drop_intermediate, 3)
    return RocCurve(fpr=fpr, tpr=tpr, thresholds=thr, auc=trapezoid_auc(fpr, tpr))


def binned_pr(hist: np.ndarray, score_range: tuple[float, float],
              drop_intermediate: bool) -> PrCurve:
    """The precision-recall curve of one (B, 2) histogram (thresholds: lower edges)."""
    fps, tps, thr = _rank_core.binned_clf_curve(hist, *score_range)
    precision, recall, thr = pr_points(fps, tps, np.asarray(thr, dtype=np.float64),
                                       drop_intermediate, 3)
    ap = 0.0 if tps.size == 0 or tps[-1] == 0 else float(_rank_core.binned_ap(hist)[0])
    return PrCurve(precision=precision, recall=recall, thresholds=thr, average_precision=ap)


def trapezoid_auc(x: np.ndarray, y: np.ndarray) -> float:
    """Area under ``y(x)`` by trapezoids (NaN when the curve is undefined)."""
    if x.size < 2 or np.isnan(x).any() or np.isnan(y).any():
        return float("nan")
    return float(np.trapezoid(y, x))
