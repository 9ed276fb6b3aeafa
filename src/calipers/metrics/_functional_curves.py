"""Threshold curves: drop-ins for scikit-learn's ``roc_curve``, ``precision_recall_curve``
and ``det_curve``.

Same signatures, results (values, shapes, dtypes, thresholds), warnings and errors as
scikit-learn 1.9. The sort and the cumulative counts are the ranking core's
(:func:`calipers.metrics._rank_core.binary_clf_curve`): thresholds are the distinct
scores in decreasing order, a sample is predicted positive at threshold ``t`` when
``score >= t``, samples of weight 0 are dropped, and the counts are accumulated in
float64 whatever the scores' dtype.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from calipers.metrics._compute import UndefinedMetricWarning
from calipers.metrics._params import BOOLEAN, OPTIONAL_ARRAY, POS_LABEL, Y_DENSE, validate
from calipers.metrics._rank_core import as_scores, binary_clf_curve
from calipers.metrics._score_checks import (
    as_np,
    check_lengths,
    check_pos_label,
    score_array,
    target_type,
    weights_array,
)
from calipers.metrics._targets import BINARY, MULTICLASS

__all__ = ["det_curve", "precision_recall_curve", "roc_curve"]


def binary_inputs(y_true: Any, y_score: Any, pos_label: Any, sample_weight: Any
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.dtype, np.ndarray]:
    """Checked inputs of a binary threshold curve.

    Raises ``ValueError`` where scikit-learn's ``confusion_matrix_at_thresholds``
    does: truth that is not binary (multiclass is accepted with an explicit
    ``pos_label``), labels that are not ``{0, 1}`` / ``{-1, 1}`` without a
    ``pos_label``, 2-D scores of more than one column, lengths that differ, NaN or
    infinite scores, bad weights.

    Returns
    -------
    pos : ndarray of bool
        ``y_true == pos_label``.
    scores : ndarray of float32 or float64, C-contiguous
    weights : ndarray of float64 or None
    score_dtype : numpy dtype
        The dtype the caller passed the scores in (after object -> float64).
    classes : ndarray
        The distinct values of ``y_true``.
    """
    t = as_np(y_true)
    y_type, classes = target_type(t, "y_true")
    if not (y_type == BINARY or (y_type == MULTICLASS and pos_label is not None)):
        raise ValueError(f"{y_type} format is not supported")
    pos_label = check_pos_label(pos_label, classes)
    s = score_array(y_score, finite=False)
    if s.ndim == 2 and s.shape[1] != 1:
        raise ValueError(f"y_score should be a 1d array (the scores of the positive class), "
                         f"got an array of shape {s.shape} instead.")
    t, s = t.reshape(-1), s.reshape(-1)
    n = check_lengths(y_true=t, y_score=s, sample_weight=as_np(sample_weight))
    weights = weights_array(sample_weight, n)
    pos = np.asarray(t == pos_label)
    if pos.shape != t.shape:  # a label that does not compare with y_true's dtype
        pos = np.zeros(t.shape, dtype=bool)
    return (np.ascontiguousarray(pos, dtype=bool), as_scores(s), weights, s.dtype, classes)


def _drop_collinear(fps: np.ndarray, tps: np.ndarray, thresholds: np.ndarray):
    """Keep the ends and every point where the curve's direction changes."""
    keep = np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True]
    idx = np.flatnonzero(keep)
    return fps[idx], tps[idx], thresholds[idx]


def _drop_flat_recall(fps: np.ndarray, tps: np.ndarray, thresholds: np.ndarray):
    """Keep the ends and the points next to a change of the true positives."""
    keep = np.r_[True, np.logical_or(np.diff(tps[:-1]), np.diff(tps[1:])), True]
    idx = np.flatnonzero(keep)
    return fps[idx], tps[idx], thresholds[idx]


def _validate(name: str, y_true: Any, y_score: Any, pos_label: Any, sample_weight: Any,
              drop_intermediate: Any) -> None:
    validate(name, {"y_true": (y_true, Y_DENSE), "y_score": (y_score, Y_DENSE),
                    "pos_label": (pos_label, POS_LABEL),
                    "sample_weight": (sample_weight, OPTIONAL_ARRAY),
                    "drop_intermediate": (drop_intermediate, (BOOLEAN,))})


def _from_origin(fps: np.ndarray, tps: np.ndarray, thresholds: np.ndarray):
    """Prepend the point where no sample is predicted positive (threshold ``inf``)."""
    return (np.r_[0.0, fps], np.r_[0.0, tps],
            np.r_[np.inf, np.asarray(thresholds, dtype=np.float64)])


def roc_points(fps: np.ndarray, tps: np.ndarray, thresholds: np.ndarray,
               drop_intermediate: bool, stacklevel: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fpr, tpr, thresholds)`` from the cumulative counts of a binary curve.

    Shared by :func:`roc_curve` and the binned streaming curve. The warnings (no
    negatives / no positives: NaN rates) point ``stacklevel`` frames above the caller.
    """
    if drop_intermediate and fps.shape[0] > 2:
        fps, tps, thresholds = _drop_collinear(fps, tps, thresholds)
    fps, tps, thresholds = _from_origin(fps, tps, thresholds)
    if fps[-1] <= 0:
        warnings.warn("No negative samples in y_true, false positive value should be "
                      "meaningless", UndefinedMetricWarning, stacklevel=stacklevel + 1)
        fpr = np.full(fps.shape, np.nan)
    else:
        fpr = fps / fps[-1]
    if tps[-1] <= 0:
        warnings.warn("No positive samples in y_true, true positive value should be "
                      "meaningless", UndefinedMetricWarning, stacklevel=stacklevel + 1)
        tpr = np.full(tps.shape, np.nan)
    else:
        tpr = tps / tps[-1]
    return fpr, tpr, thresholds


def pr_points(fps: np.ndarray, tps: np.ndarray, thresholds: np.ndarray,
              drop_intermediate: bool, stacklevel: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(precision, recall, thresholds)`` from the cumulative counts of a binary curve.

    Shared by :func:`precision_recall_curve` and the binned streaming curve:
    points in increasing threshold order plus the final ``(1, 0)``; thresholds
    (a reversed view) keep their dtype. Without positives the recall is 1 with a
    ``UserWarning`` pointing ``stacklevel`` frames above the caller.
    """
    if drop_intermediate and fps.shape[0] > 2:
        fps, tps, thresholds = _drop_flat_recall(fps, tps, thresholds)
    predicted = tps + fps
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted != 0, tps / predicted, 0.0)
    if tps.size == 0 or tps[-1] == 0:
        warnings.warn("No positive class found in y_true, recall is set to one for all "
                      "thresholds.", UserWarning, stacklevel=stacklevel + 1)
        recall = np.ones(tps.shape)
    else:
        recall = tps / tps[-1]
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], thresholds[::-1]


def roc_curve(y_true: Any, y_score: Any, *, pos_label: Any = None, sample_weight: Any = None,
              drop_intermediate: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Receiver operating characteristic: false / true positive rates at every threshold.

    A sample counts as positive at threshold ``t`` when ``score >= t``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Binary labels (``{0, 1}`` or ``{-1, 1}`` unless ``pos_label`` is given).
    y_score : array-like of shape (n_samples,)
        Scores of the positive class; NaN and infinity are refused.
    pos_label : int, float, bool or str, default=None
    sample_weight : array-like of shape (n_samples,), default=None
    drop_intermediate : bool, default=True
        Drop thresholds whose point lies on a straight segment of the curve.

    Returns
    -------
    fpr, tpr : ndarray of float64
        Increasing rates; NaN (with an ``UndefinedMetricWarning``) when there are no
        negatives / positives.
    thresholds : ndarray of float64
        Decreasing; ``thresholds[0]`` is ``inf`` (no sample predicted positive).
    """
    _validate("roc_curve", y_true, y_score, pos_label, sample_weight, drop_intermediate)
    pos, scores, weights, _, _ = binary_inputs(y_true, y_score, pos_label, sample_weight)
    return roc_points(*binary_clf_curve(pos, scores, weights), drop_intermediate, 2)


def precision_recall_curve(y_true: Any, y_score: Any, *, pos_label: Any = None,
                           sample_weight: Any = None, drop_intermediate: bool = False
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision and recall at every threshold.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Binary labels (``{0, 1}`` or ``{-1, 1}`` unless ``pos_label`` is given).
    y_score : array-like of shape (n_samples,)
        Scores of the positive class; NaN and infinity are refused.
    pos_label : int, float, bool or str, default=None
    sample_weight : array-like of shape (n_samples,), default=None
    drop_intermediate : bool, default=False
        Drop thresholds that do not change the recall on either side.

    Returns
    -------
    precision, recall : ndarray of float64
        One more point than thresholds: the last is ``(1, 0)``. Without positives the
        recall is 1 everywhere (with a ``UserWarning``).
    thresholds : ndarray
        Increasing distinct scores, in the scores' dtype.
    """
    _validate("precision_recall_curve", y_true, y_score, pos_label, sample_weight,
              drop_intermediate)
    pos, scores, weights, dtype, _ = binary_inputs(y_true, y_score, pos_label, sample_weight)
    precision, recall, thresholds = pr_points(*binary_clf_curve(pos, scores, weights),
                                              drop_intermediate, 2)
    return precision, recall, thresholds.astype(dtype, order="C")


def det_curve(y_true: Any, y_score: Any, pos_label: Any = None, sample_weight: Any = None,
              drop_intermediate: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Detection error tradeoff: false positive and false negative rates per threshold.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Binary labels, both classes present.
    y_score : array-like of shape (n_samples,)
        Scores of the positive class; NaN and infinity are refused.
    pos_label : int, float, bool or str, default=None
    sample_weight : array-like of shape (n_samples,), default=None
    drop_intermediate : bool, default=False
        Drop thresholds that do not change the true positives on either side.

    Returns
    -------
    fpr, fnr : ndarray of float64
        False positive rate (decreasing) and false negative rate (increasing).
    thresholds : ndarray of float64
        Increasing; the last is ``inf`` when it is kept.

    Raises
    ------
    ValueError
        When ``y_true`` does not hold exactly two classes.
    """
    _validate("det_curve", y_true, y_score, pos_label, sample_weight, drop_intermediate)
    pos, scores, weights, _, classes = binary_inputs(y_true, y_score, pos_label, sample_weight)
    if classes.shape[0] < 2:
        raise ValueError("Only one class is present in y_true. Detection error tradeoff "
                         "curve is not defined in that case.")
    if classes.shape[0] > 2:
        raise ValueError(f"y_true holds {classes.shape[0]} classes; the detection error "
                         "tradeoff curve is defined for two classes only.")
    fps, tps, thresholds = _from_origin(*binary_clf_curve(pos, scores, weights))
    if drop_intermediate and fps.shape[0] > 2:
        fps, tps, thresholds = _drop_flat_recall(fps, tps, thresholds)
    fns = tps[-1] - tps
    first = int(np.searchsorted(fps, fps[0], side="right")) - 1
    last = int(np.searchsorted(tps, tps[-1])) + 1
    part = slice(max(first, 0), last)
    return (fps[part][::-1] / fps[-1], fns[part][::-1] / tps[-1],
            thresholds[part][::-1].copy())
