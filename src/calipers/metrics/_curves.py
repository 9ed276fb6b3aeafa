"""Curve results returned by the streaming ``roc_curve`` / ``pr_curve`` metrics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PrCurve", "RocCurve"]


@dataclass(frozen=True)
class RocCurve:
    """A ROC curve, as :func:`calipers.metrics.roc_curve` returns it.

    Attributes
    ----------
    fpr, tpr : ndarray of float64
        False / true positive rates, increasing, starting at 0.
    thresholds : ndarray
        ``thresholds[i]`` gives ``(fpr[i], tpr[i])`` when ``score >= thresholds[i]``
        counts as positive; ``thresholds[0]`` is ``inf``.
    auc : float
        Area under the curve (trapezoids).
    """

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    auc: float


@dataclass(frozen=True)
class PrCurve:
    """A precision-recall curve, as :func:`calipers.metrics.precision_recall_curve` returns it.

    Attributes
    ----------
    precision, recall : ndarray of float64
        Precision and recall, recall decreasing to 0 (last point is (1, 0)).
    thresholds : ndarray
        Increasing scores; ``thresholds[i]`` gives ``(precision[i], recall[i])``.
    average_precision : float
        Step-wise area under the curve, as :func:`average_precision_score`.
    """

    precision: np.ndarray
    recall: np.ndarray
    thresholds: np.ndarray
    average_precision: float
