"""Functional metrics of whole confusion matrices: drop-ins for scikit-learn's.

``accuracy_score``, ``confusion_matrix``, ``multilabel_confusion_matrix``,
``balanced_accuracy_score``, ``matthews_corrcoef``, ``cohen_kappa_score`` and
``hamming_loss``, with scikit-learn's signatures, results, warnings and errors (see
:mod:`calipers.metrics._functional`).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from calipers.metrics import _compute
from calipers.metrics._matrices import NO_TRUE_LABEL, confusion, multilabel_confusion
from calipers.metrics._params import (
    BOOLEAN,
    NAN,
    NONE,
    OPTIONAL_ARRAY,
    Y_DENSE,
    Y,
    real_interval,
    str_options,
    validate,
)
from calipers.metrics._targets import BINARY, MULTICLASS, MULTILABEL, Targets, check_targets

__all__ = [
    "accuracy_score",
    "balanced_accuracy_score",
    "cohen_kappa_score",
    "confusion_matrix",
    "hamming_loss",
    "matthews_corrcoef",
    "multilabel_confusion_matrix",
]

_SINGLE_LABEL_MESSAGE = (
    "A single label was found in 'y_true' and 'y_pred'. For the confusion matrix to have "
    "the correct shape, use the 'labels' parameter to pass all known labels."
)


def _label_targets(y_true: Any, y_pred: Any, sample_weight: Any, *,
                   need_matrix: bool = False) -> Targets:
    """Checked 1-D targets; multilabel input is a ``ValueError``."""
    targets = check_targets(y_true, y_pred, sample_weight, need_matrix=need_matrix)
    if targets.y_type not in (BINARY, MULTICLASS):
        raise ValueError(f"{targets.y_type} is not supported")
    return targets


def _warn_single_label(n_labels: int) -> None:
    if n_labels == 1:
        warnings.warn(_SINGLE_LABEL_MESSAGE, UserWarning, stacklevel=3)


def accuracy_score(y_true: Any, y_pred: Any, *, normalize: bool = True,
                   sample_weight: Any = None) -> float:
    """Accuracy: the share (or number) of samples predicted exactly.

    For multilabel indicators this is subset accuracy: every label of a row must be
    right.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,), or indicator matrix / sparse matrix
        True and predicted labels.
    normalize : bool, default=True
        False returns the number (weight) of correct samples instead of the share.
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    float

    Raises
    ------
    ValueError
        For inputs scikit-learn rejects (see :func:`precision_recall_fscore_support`).
    """
    validate("accuracy_score", {"y_true": (y_true, Y), "y_pred": (y_pred, Y),
                                "normalize": (normalize, (BOOLEAN,)),
                                "sample_weight": (sample_weight, OPTIONAL_ARRAY)})
    targets = check_targets(y_true, y_pred, sample_weight)
    if targets.y_type == MULTILABEL:
        correct = targets.indicator.exact
    else:
        correct = targets.pairs.tp_sum.sum()
    w = targets.sample_weight
    if not normalize and w is not None:
        # scikit-learn takes the dot product of the hits with the weights in the
        # weights' dtype: boolean weights give a logical "any", float32 a float32 sum.
        if w.dtype.kind == "b":
            return float(correct > 0)
        if w.dtype.kind == "f":
            return float(w.dtype.type(correct))
    return _compute.accuracy(correct, targets.total, normalize=normalize)


def confusion_matrix(y_true: Any, y_pred: Any, *, labels: Any = None, sample_weight: Any = None,
                     normalize: str | None = None) -> np.ndarray:
    """Confusion matrix: entry ``[i, j]`` counts samples of class i predicted as j.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels.
    labels : array-like of shape (n_classes,), default=None
        Classes (rows/columns) in order; default: the sorted classes found in either.
        Samples whose true or predicted label is not listed are left out.
    sample_weight : array-like of shape (n_samples,), default=None
        Integer (or no) weights give an int64 matrix, float weights a float64 one.
    normalize : {"true", "pred", "all"}, default=None
        Normalise over rows, columns or everything.

    Returns
    -------
    ndarray of shape (n_classes, n_classes)

    Raises
    ------
    ValueError
        Empty ``labels``, no label of ``labels`` in ``y_true``, multilabel input, or
        any input scikit-learn rejects.
    """
    validate("confusion_matrix", {
        "y_true": (y_true, Y_DENSE), "y_pred": (y_pred, Y_DENSE),
        "labels": (labels, OPTIONAL_ARRAY), "sample_weight": (sample_weight, OPTIONAL_ARRAY),
        "normalize": (normalize, (str_options("true", "pred", "all"), NONE)),
    })
    targets = _label_targets(y_true, y_pred, sample_weight, need_matrix=labels is None)
    cm = _compute.normalize_confusion(confusion(targets, labels), normalize)
    _warn_single_label(cm.shape[0])
    return cm


def multilabel_confusion_matrix(y_true: Any, y_pred: Any, *, sample_weight: Any = None,
                                labels: Any = None, samplewise: bool = False) -> np.ndarray:
    """One-vs-rest 2 x 2 confusion matrices ``[[tn, fp], [fn, tp]]`` per class or sample.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,) or (n_samples, n_outputs), or sparse
        Labels, or multilabel indicator matrices.
    sample_weight : array-like of shape (n_samples,), default=None
    labels : array-like, default=None
        Classes (for multilabel input: column indices) to report, in order; default
        all classes found, sorted.
    samplewise : bool, default=False
        Multilabel only: one matrix per sample instead of per label.

    Returns
    -------
    ndarray of shape (n_outputs, 2, 2)
        int64 counts, or float64 when weighted (scikit-learn also returns float64 when
        no single-label sample is predicted right).

    Raises
    ------
    ValueError
        ``samplewise`` with single-label input, multilabel ``labels`` outside the
        columns, or inputs scikit-learn rejects.
    """
    validate("multilabel_confusion_matrix", {
        "y_true": (y_true, Y), "y_pred": (y_pred, Y),
        "sample_weight": (sample_weight, OPTIONAL_ARRAY), "labels": (labels, OPTIONAL_ARRAY),
        "samplewise": (samplewise, (BOOLEAN,)),
    })
    targets = check_targets(y_true, y_pred, sample_weight, per_sample=samplewise)
    return multilabel_confusion(targets, labels, bool(samplewise))


def balanced_accuracy_score(y_true: Any, y_pred: Any, *, sample_weight: Any = None,
                            adjusted: bool = False) -> float:
    """Balanced accuracy: mean recall over the classes present in ``y_true``.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
    sample_weight : array-like of shape (n_samples,), default=None
    adjusted : bool, default=False
        Rescale so that chance scores 0 and perfect prediction 1.

    Returns
    -------
    float
        Warns (``UserWarning``) when ``y_pred`` has classes absent from ``y_true``.
    """
    validate("balanced_accuracy_score", {
        "y_true": (y_true, Y_DENSE), "y_pred": (y_pred, Y_DENSE),
        "sample_weight": (sample_weight, OPTIONAL_ARRAY), "adjusted": (adjusted, (BOOLEAN,)),
    })
    pc = _label_targets(y_true, y_pred, sample_weight).pairs
    _warn_single_label(pc.classes.shape[0])
    return _compute.balanced_accuracy_from_sums(pc.tp_sum, pc.true_sum, adjusted=adjusted)


def matthews_corrcoef(y_true: Any, y_pred: Any, *, sample_weight: Any = None) -> float:
    """Matthews correlation coefficient (multiclass: Gorodkin's R_K), in [-1, 1].

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    float
        0.0 when undefined (a constant prediction or truth).
    """
    validate("matthews_corrcoef", {"y_true": (y_true, Y_DENSE), "y_pred": (y_pred, Y_DENSE),
                                   "sample_weight": (sample_weight, OPTIONAL_ARRAY)})
    pc = _label_targets(y_true, y_pred, sample_weight).pairs
    _warn_single_label(pc.classes.shape[0])
    pred_sum = pc.pred_sum.astype(np.float64)
    return _compute.matthews_from_sums(pc.true_sum, pred_sum, pc.tp_sum.sum(dtype=np.float64),
                                       pred_sum.sum())


def cohen_kappa_score(y1: Any, y2: Any, *, labels: Any = None, weights: str | None = None,
                      sample_weight: Any = None, replace_undefined_by: Any = np.nan) -> Any:
    """Cohen's kappa: agreement of two raters beyond chance.

    Parameters
    ----------
    y1, y2 : array-like of shape (n_samples,)
        Labels given by the two raters.
    labels : array-like of shape (n_classes,), default=None
        Classes to consider (at least one must occur in ``y1``).
    weights : {None, "linear", "quadratic"}, default=None
        Weighting of disagreements by class distance.
    sample_weight : array-like of shape (n_samples,), default=None
    replace_undefined_by : float in [-1, 1] or np.nan, default=np.nan
        Returned (with an :class:`UndefinedMetricWarning`) when kappa is undefined.

    Returns
    -------
    float
    """
    validate("cohen_kappa_score", {
        "y1": (y1, Y_DENSE), "y2": (y2, Y_DENSE), "labels": (labels, OPTIONAL_ARRAY),
        "weights": (weights, (str_options("linear", "quadratic"), NONE)),
        "sample_weight": (sample_weight, OPTIONAL_ARRAY),
        "replace_undefined_by": (replace_undefined_by, (real_interval(-1.0, 1.0), NAN)),
    })
    targets = _label_targets(y1, y2, sample_weight, need_matrix=labels is None)
    try:
        matrix = confusion(targets, labels)
    except ValueError as exc:
        if NO_TRUE_LABEL in str(exc):
            raise ValueError(
                "At least one label in `labels` must be present in `y1` (even though "
                "`cohen_kappa_score` is otherwise agnostic to the order of `y1` and `y2`)."
            ) from exc
        raise
    _warn_single_label(matrix.shape[0])
    return _compute.cohen_kappa_from_matrix(matrix, weights,
                                            replace_undefined_by=replace_undefined_by)


def hamming_loss(y_true: Any, y_pred: Any, *, sample_weight: Any = None) -> float:
    """Hamming loss: the share of labels predicted wrongly.

    For single-label targets this is ``1 - accuracy``; for multilabel indicators it
    counts wrong entries over all ``n_samples * n_labels`` entries.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,), or indicator matrix / sparse matrix
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    float
    """
    validate("hamming_loss", {"y_true": (y_true, Y), "y_pred": (y_pred, Y),
                              "sample_weight": (sample_weight, OPTIONAL_ARRAY)})
    targets = check_targets(y_true, y_pred, sample_weight)
    w = targets.sample_weight
    if targets.y_type == MULTILABEL:
        ic = targets.indicator
        mean_weight = 1.0 if w is None else np.average(w)
        return float(ic.n_wrong) / (targets.n * ic.n_labels * mean_weight)
    pc = targets.pairs
    return _compute.hamming(pc.total - pc.tp_sum.sum(), targets.total)
