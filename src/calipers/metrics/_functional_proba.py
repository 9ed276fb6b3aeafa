"""Probabilistic losses: drop-ins for scikit-learn's ``log_loss`` and ``brier_score_loss``.

Same signatures, results, warnings and errors as scikit-learn 1.9 (``brier_score_loss``
with its multiclass form, ``labels`` and ``scale_by_half``). One deliberate
difference of method: the losses are accumulated in float64 whatever the
probabilities' dtype (scikit-learn computes float32 input in float32), so float32
input agrees with scikit-learn to float32 precision and float64 input to rounding.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from calipers.metrics._arrays import check_sample_weight
from calipers.metrics._params import (
    ARRAY_LIKE,
    BOOLEAN,
    NONE,
    OPTIONAL_ARRAY,
    POS_LABEL,
    STR,
    Y_DENSE,
    str_options,
    validate,
)
from calipers.metrics._score_checks import (
    as_np,
    check_lengths,
    check_pos_label,
    indicator_type,
    label_classes,
    score_array,
)
from calipers.metrics._targets import BINARY, MULTILABEL

__all__ = ["brier_score_loss", "log_loss"]

_FLOATS = (np.float64, np.float32, np.float16)


def _proba_array(y_proba: Any) -> np.ndarray:
    """Probabilities as a finite float array (float64/32/16 kept, others to float64)."""
    p = score_array(y_proba, "y_proba")
    return p if p.dtype in _FLOATS else p.astype(np.float64)


def _check_range(p: np.ndarray, lower_word: str) -> None:
    if p.max() > 1:
        raise ValueError(f"y_prob contains values greater than 1: {p.max()}")
    if p.min() < 0:
        raise ValueError(f"y_prob contains values {lower_word} than 0: {p.min()}")


def _one_hot(y_true: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Indicator matrix of the truth over its classes (or ``labels``), and the classes.

    Two classes give two columns. A multilabel indicator truth is its own matrix.
    """
    t = as_np(y_true)
    if t.ndim == 2 and t.shape[1] > 1:
        y_type = indicator_type(t)
        if y_type != MULTILABEL:
            raise ValueError(f"{y_type} truth is not supported: pass labels or a multilabel "
                             "indicator matrix")
        if labels is not None:
            raise ValueError("labels cannot be given with a multilabel indicator y_true")
        return (t != 0).astype(np.int64), np.arange(t.shape[1])
    t = t.reshape(-1)
    if labels is None:
        y_type, classes = label_classes(t)
        if classes is None:
            raise ValueError(f"Unknown label type: {y_type}")
    else:
        given = as_np(labels).reshape(-1)
        y_type, classes = label_classes(given, "labels")
        if classes is None:
            raise ValueError(f"Unknown label type of labels: {y_type}")
        if classes.shape != given.shape or not np.all(classes == given):
            warnings.warn(f"Labels passed were {labels}. But this function assumes labels are "
                          "ordered lexicographically. Pass the ordered "
                          f"labels={classes.tolist()} and ensure that the columns of y_prob "
                          "correspond to this ordering.", UserWarning, stacklevel=4)
        outside = ~np.isin(t, classes)
        if outside.any():
            raise ValueError(f"y_true contains values {set(t[outside].tolist())} not belonging "
                             f"to the passed labels {labels}.")
    if classes.shape[0] == 1:
        if labels is None:
            raise ValueError(f"y_true contains only one label ({classes[0]}). Please provide "
                             "the list of all expected class labels explicitly through the "
                             "labels argument.")
        raise ValueError(f"The labels array needs to contain at least two labels, got "
                         f"{classes}.")
    onehot = np.zeros((t.shape[0], classes.shape[0]), dtype=np.int64)
    onehot[np.arange(t.shape[0]), np.searchsorted(classes, t)] = 1
    return onehot, classes


def _multiclass_targets(y_true: Any, p: np.ndarray, sample_weight: Any, labels: Any
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Checked ``(onehot, proba, weights)``; proba (float64) has one column per class."""
    _check_range(p, "lower")
    n = check_lengths(y_proba=p, y_true=as_np(y_true), sample_weight=as_np(sample_weight))
    weights = check_sample_weight(as_np(sample_weight), n)
    onehot, classes = _one_hot(y_true, labels)
    eps = np.finfo(p.dtype).eps
    p = p.astype(np.float64)
    if p.ndim == 1:
        p = p[:, None]
    if p.shape[1] == 1:
        p = np.concatenate([1 - p, p], axis=1)
    if not np.isclose(p.sum(axis=1), 1, rtol=math.sqrt(eps), atol=1e-8).all():
        warnings.warn("The y_prob values do not sum to one. Make sure to pass probabilities.",
                      UserWarning, stacklevel=3)
    if classes.shape[0] != p.shape[1]:
        if labels is None:
            raise ValueError(f"y_true and y_prob contain different number of classes: "
                             f"{onehot.shape[1]} vs {p.shape[1]}. Please provide the true "
                             "labels explicitly through the labels argument. Classes found in "
                             f"y_true: {classes}")
        raise ValueError("The number of classes in labels is different from that in y_prob. "
                         f"Classes found in labels: {classes}")
    return onehot, p, weights


def log_loss(y_true: Any, y_proba: Any = None, *, normalize: bool = True,
             sample_weight: Any = None, labels: Any = None, y_pred: Any = "deprecated"
             ) -> float:
    """Logistic (cross-entropy) loss of predicted probabilities.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,), or indicator matrix
        True labels.
    y_proba : array-like of shape (n_samples,) or (n_samples, n_classes)
        Probabilities in [0, 1]: of the greater label (1-D), or one column per class
        in the order of the sorted classes (or ``labels``). They are clipped to
        ``[eps, 1 - eps]`` of their dtype.
    normalize : bool, default=True
        False returns the sum of the per-sample losses.
    sample_weight : array-like of shape (n_samples,), default=None
    labels : array-like, default=None
        All the classes, when ``y_true`` does not hold them all.
    y_pred : array-like
        Deprecated name of ``y_proba`` (a ``FutureWarning``).

    Returns
    -------
    float
    """
    validate("log_loss", {
        "y_true": (y_true, Y_DENSE), "y_proba": (y_proba, (ARRAY_LIKE, NONE)),
        "normalize": (normalize, (BOOLEAN,)), "sample_weight": (sample_weight, OPTIONAL_ARRAY),
        "labels": (labels, OPTIONAL_ARRAY), "y_pred": (y_pred, (ARRAY_LIKE, STR))})
    if not (isinstance(y_pred, str) and y_pred == "deprecated"):
        if y_proba is not None:
            raise ValueError("Cannot use both `y_pred` and `y_proba`. `y_pred` is deprecated, "
                             "use `y_proba` instead.")
        warnings.warn("`y_pred` was renamed to `y_proba` in version 1.9 and will be removed in "
                      "1.11. Use `y_proba` instead.", FutureWarning, stacklevel=2)
        y_proba = y_pred
    if y_proba is None:
        raise ValueError("log_loss needs the predicted probabilities y_proba")
    p = _proba_array(y_proba)
    # Clipped to the caller's dtype's eps, as scikit-learn clips.
    eps = np.finfo(p.dtype).eps
    onehot, p, weights = _multiclass_targets(y_true, p, sample_weight, labels)
    log_p = np.log(np.clip(p, eps, 1 - eps))
    if (onehot.sum(axis=1) == 1).all():
        loss = -log_p[np.arange(p.shape[0]), onehot.argmax(axis=1)]
    else:
        loss = -np.where(onehot != 0, onehot * log_p, 0.0).sum(axis=1)
    if normalize:
        return float(np.average(loss, weights=weights))
    return float(loss.sum() if weights is None else loss @ weights)


def brier_score_loss(y_true: Any, y_proba: Any, *, sample_weight: Any = None,
                     pos_label: Any = None, labels: Any = None,
                     scale_by_half: bool | str = "auto") -> float:
    """Brier score: mean squared distance between probabilities and the one-hot truth.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_proba : array-like of shape (n_samples,) or (n_samples, n_classes)
        Probabilities in [0, 1]: of the positive class (1-D or one column), or one
        column per class in the order of the sorted classes (or ``labels``).
    sample_weight : array-like of shape (n_samples,), default=None
    pos_label : int, float, bool or str, default=None
        Binary (1-D ``y_proba``) only. Default: 1 for ``{0, 1}`` / ``{-1, 1}``
        labels, else the greater numeric label (string labels need it).
    labels : array-like, default=None
        Multiclass only: all the classes.
    scale_by_half : bool or "auto", default="auto"
        Halve the sum over classes ("auto": when there are at most two columns, so
        that the binary score is the mean of ``(p - y) ** 2``).

    Returns
    -------
    float
    """
    validate("brier_score_loss", {
        "y_true": (y_true, Y_DENSE), "y_proba": (y_proba, Y_DENSE),
        "sample_weight": (sample_weight, OPTIONAL_ARRAY), "pos_label": (pos_label, POS_LABEL),
        "labels": (labels, OPTIONAL_ARRAY),
        "scale_by_half": (scale_by_half, (BOOLEAN, str_options("auto")))})
    p = _proba_array(y_proba)
    if p.ndim == 1 or p.shape[1] == 1:
        onehot, p, weights = _binary_targets(y_true, p, sample_weight, pos_label)
    else:
        onehot, p, weights = _multiclass_targets(y_true, p, sample_weight, labels)
    loss = np.square(onehot - p).sum(axis=1)
    score = np.average(loss, weights=weights)
    if scale_by_half == "auto":
        scale_by_half = p.shape[1] < 3
    return float(score * 0.5 if scale_by_half else score)


def _binary_targets(y_true: Any, p: np.ndarray, sample_weight: Any, pos_label: Any
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Checked ``(onehot, proba, weights)`` of the binary Brier score (two columns)."""
    t = as_np(y_true)
    if t.ndim == 2 and t.shape[1] == 1:
        t = t.reshape(-1)
    if t.ndim != 1:
        raise ValueError(f"y_true should be a 1d array, got an array of shape {t.shape} instead.")
    p = p.reshape(-1).astype(np.float64)
    n = check_lengths(y_proba=p, y_true=t, sample_weight=as_np(sample_weight))
    weights = check_sample_weight(as_np(sample_weight), n)
    y_type, classes = label_classes(t)
    if y_type != BINARY:
        raise ValueError(f"The type of the target inferred from y_true is {y_type} but should "
                         "be binary according to the shape of y_prob.")
    _check_range(p, "less")
    try:
        pos_label = check_pos_label(pos_label, classes)
    except ValueError:
        if classes.dtype.kind in "OUS":
            raise
        pos_label = classes[-1]
    positive = np.asarray(t == pos_label)
    if positive.shape != t.shape:
        positive = np.zeros(t.shape, dtype=bool)
    positive = positive.astype(np.int64)
    onehot = np.stack([1 - positive, positive], axis=1)
    return onehot, np.stack([1 - p, p], axis=1), weights
