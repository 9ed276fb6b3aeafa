"""Areas under curves: drop-ins for scikit-learn's ``roc_auc_score`` and
``average_precision_score``.

Same signatures, results, warnings and errors as scikit-learn 1.9: binary truth
(with McClish-corrected partial AUC for ``max_fpr``), multiclass one-vs-rest and
one-vs-one, multilabel indicators averaged over labels (``micro`` / ``macro`` /
``weighted`` / ``samples`` / ``None``). All sorting and area arithmetic is the ranking
core's (:mod:`calipers.metrics._rank_core`); this module validates and averages.

Validation and arithmetic are kept apart: the private ``_binary_*`` functions
(:mod:`calipers.metrics._score_binary`, re-exported here), ``_ovr_roc_auc`` and
``_ovo_roc_auc`` take already-checked arrays (see their docstrings) so that callers
holding validated state (the streaming metrics) can skip revalidation.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

import numpy as np

from calipers.metrics._compute import UndefinedMetricWarning
from calipers.metrics._params import (
    BOOLEAN,
    NONE,
    OPTIONAL_ARRAY,
    REAL,
    STR,
    Y_DENSE,
    Constraint,
    str_options,
    validate,
)
from calipers.metrics._rank_core import as_scores
from calipers.metrics._score_binary import (
    ONE_CLASS_MESSAGE,
    _average_precision_columns,
    _binary_average_precision,
    _binary_roc_auc,
    _roc_auc_columns,
)
from calipers.metrics._score_checks import (
    as_np,
    average_scores,
    check_lengths,
    score_array,
    target_type,
    weights_array,
)
from calipers.metrics._score_multi import (
    binary_columns_scores,
    check_label_list,
    multilabel_positives,
)
from calipers.metrics._targets import BINARY, MULTICLASS, MULTILABEL

__all__ = ["average_precision_score", "roc_auc_score"]

_MAX_FPR = Constraint(
    lambda v: isinstance(v, numbers.Real) and not math.isnan(v) and 0.0 < v <= 1.0,
    "a float in the range (0.0, 1.0]")


# ---------------------------------------------------------------------------
# multiclass arithmetic on checked arrays
# ---------------------------------------------------------------------------


def _ovr_roc_auc(codes: np.ndarray, scores: np.ndarray, n_classes: int, average: str | None,
                 weights: np.ndarray | None = None) -> float | np.ndarray:
    """One-vs-rest ROC AUC of checked multiclass arrays.

    Parameters
    ----------
    codes : ndarray of int, shape (n,)
        Class index of each sample, in ``[0, n_classes)``.
    scores : ndarray of float32 or float64, shape (n, n_classes)
        Finite scores, one column per class.
    n_classes : int
    average : {"macro", "weighted", "micro"} or None
    weights : ndarray of float64, shape (n,), or None

    Returns
    -------
    float, or ndarray of float64 per class when ``average`` is None.
    """
    n = codes.shape[0]
    if average == "micro":
        pos = np.zeros(n * n_classes, dtype=bool)
        pos[np.arange(n) * n_classes + codes] = True
        w = None if weights is None else np.repeat(weights, n_classes)
        return _binary_roc_auc(pos, np.ascontiguousarray(scores).reshape(-1), w)
    support = None
    if average == "weighted":
        support = np.bincount(codes, weights=weights, minlength=n_classes).astype(np.float64)
        if np.isclose(support.sum(), 0.0):
            return 0.0
    pos = codes[:, None] == np.arange(n_classes)
    return average_scores(_roc_auc_columns(pos, scores, weights), average, support)


def _ovo_roc_auc(codes: np.ndarray, scores: np.ndarray, average: str) -> float:
    """One-vs-one ROC AUC (Hand & Till) of checked multiclass arrays.

    Each pair of classes present in ``codes`` scores the mean of the AUC of ``a``
    against ``b`` (on column ``a``) and of ``b`` against ``a`` (on column ``b``);
    ``average="weighted"`` weights the pairs by their share of the samples.

    Parameters
    ----------
    codes : ndarray of int, shape (n,)
        Class index of each sample (column of ``scores``).
    scores : ndarray of float32 or float64, shape (n, n_classes)
    average : {"macro", "weighted"}
    """
    present = np.flatnonzero(np.bincount(codes, minlength=scores.shape[1]))
    pair_scores, prevalence = [], []
    for i, a in enumerate(present):
        is_a = codes == a
        for b in present[i + 1:]:
            in_pair = is_a | (codes == b)
            a_in_pair = is_a[in_pair]
            auc_a = _binary_roc_auc(a_in_pair, scores[in_pair, a])
            auc_b = _binary_roc_auc(~a_in_pair, scores[in_pair, b])
            pair_scores.append((auc_a + auc_b) / 2)
            prevalence.append(np.count_nonzero(in_pair) / codes.shape[0])
    if not pair_scores:
        warnings.warn(ONE_CLASS_MESSAGE, UndefinedMetricWarning, stacklevel=3)
        return float("nan")
    return float(np.average(pair_scores, weights=prevalence if average == "weighted" else None))


# ---------------------------------------------------------------------------
# roc_auc_score
# ---------------------------------------------------------------------------


def roc_auc_score(y_true: Any, y_score: Any, *, average: str | None = "macro",
                  sample_weight: Any = None, max_fpr: float | None = None,
                  multi_class: str = "raise", labels: Any = None) -> float | np.ndarray:
    """Area under the ROC curve, as scikit-learn's ``roc_auc_score``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, n_labels)
        Binary or multiclass labels, or a multilabel indicator matrix.
    y_score : array-like of shape (n_samples,) or (n_samples, n_classes)
        Binary: scores of the greater label. Multiclass: probabilities (rows summing
        to 1) in the order of the sorted classes (or ``labels``). Multilabel: one
        column of scores per label. NaN and infinity are refused.
    average : {"micro", "macro", "samples", "weighted"} or None, default="macro"
        Averaging over labels (multilabel) or classes (multiclass ``ovr``: micro,
        macro, weighted, None; ``ovo``: macro, weighted). Ignored for binary truth.
    sample_weight : array-like of shape (n_samples,), default=None
        Not supported with ``multi_class="ovo"``.
    max_fpr : float in (0, 1], default=None
        Binary only: McClish-standardised partial AUC up to this false positive rate.
    multi_class : {"raise", "ovr", "ovo"}, default="raise"
        Multiclass scheme; ``"raise"`` refuses multiclass truth.
    labels : array-like, default=None
        Multiclass: the sorted, unique classes of the columns of ``y_score``.

    Returns
    -------
    float, or ndarray of float64 per label / class when ``average`` is None.
    NaN (with an ``UndefinedMetricWarning``) where a binary problem has one class.
    """
    validate("roc_auc_score", {
        "y_true": (y_true, Y_DENSE), "y_score": (y_score, Y_DENSE),
        "average": (average, (str_options("micro", "macro", "samples", "weighted"), NONE)),
        "sample_weight": (sample_weight, OPTIONAL_ARRAY),
        "max_fpr": (max_fpr, (_MAX_FPR, NONE)),
        "multi_class": (multi_class, (str_options("raise", "ovr", "ovo"),)),
        "labels": (labels, OPTIONAL_ARRAY)})
    t = as_np(y_true)
    y_type, classes = target_type(t, "y_true")
    s = score_array(y_score, finite=False)
    n = check_lengths(y_true=t, y_score=s, sample_weight=as_np(sample_weight))
    # One class only: scikit-learn warns and returns NaN before it looks at the weights
    # (all-zero weights included), so the weights are not checked then either.
    one_class = y_type == BINARY and len(classes) < 2
    weights = None if one_class else weights_array(sample_weight, n)
    scores = as_scores(s)
    if y_type == MULTICLASS or (y_type == BINARY and scores.ndim == 2 and scores.shape[1] > 2):
        return _multiclass_roc_auc(t.reshape(-1), scores, classes, labels, multi_class,
                                   average, weights, max_fpr)
    if y_type == BINARY:
        if scores.ndim == 2 and scores.shape[1] != 1:
            raise ValueError(f"y_score has shape {scores.shape}: for binary y_true pass the "
                             "scores of the greater label only, e.g. y_score[:, 1].")
        pos = np.ascontiguousarray(t.reshape(-1) == classes[-1])
        return _binary_roc_auc(pos, scores.reshape(-1), weights, max_fpr)
    if y_type != MULTILABEL:
        raise ValueError(f"{y_type} format is not supported")
    pos = multilabel_positives(t, scores, strict=True)

    def metric(p: np.ndarray, sc: np.ndarray, w: np.ndarray | None) -> float:
        return _binary_roc_auc(p, sc, w, max_fpr)

    columns = _roc_auc_columns if max_fpr is None or max_fpr == 1 else None
    per, support = binary_columns_scores(metric, pos, t, scores, weights, average, columns)
    if support is not None and average == "weighted" and np.isclose(support.sum(), 0.0):
        return 0.0
    return float(per[0]) if average == "micro" else average_scores(per, average, support)


def _multiclass_roc_auc(t: np.ndarray, scores: np.ndarray, classes: np.ndarray | None,
                        labels: Any, multi_class: str, average: str | None,
                        weights: np.ndarray | None, max_fpr: float | None) -> Any:
    if max_fpr is not None and max_fpr != 1.0:
        raise ValueError("Partial AUC computation not available in multiclass setting, "
                         f"'max_fpr' must be set to `None`, received `max_fpr={max_fpr}` "
                         "instead")
    if multi_class == "raise":
        raise ValueError("multi_class must be in ('ovo', 'ovr')")
    if scores.ndim != 2:
        raise ValueError("`y_score` needs to be of shape `(n_samples, n_classes)`, since "
                         f"`y_true` contains multiple classes. Got `y_score.shape="
                         f"{scores.shape}`.")
    if not np.allclose(1, scores.sum(axis=1)):
        raise ValueError("Target scores need to be probabilities for multiclass roc_auc, "
                         "i.e. they should sum up to 1.0 over classes")
    options = ("macro", "weighted", None) if multi_class == "ovo" else \
        ("micro", "macro", "weighted", None)
    if average not in options:
        raise ValueError(f"average must be one of {options} for multiclass problems")
    if average is None and multi_class == "ovo":
        raise NotImplementedError("average=None is not implemented for multi_class='ovo'.")
    if labels is not None:
        classes = check_label_list(labels, t, scores.shape[1], "y_score")
    elif classes.shape[0] != scores.shape[1]:
        raise ValueError("Number of classes in y_true not equal to the number of columns in "
                         "'y_score'")
    codes = _encode(t, classes)
    if multi_class == "ovo":
        if weights is not None:
            raise ValueError("sample_weight is not supported for multiclass one-vs-one ROC "
                             "AUC, 'sample_weight' must be None in this case.")
        return _ovo_roc_auc(codes, scores, average)
    return _ovr_roc_auc(codes, scores, classes.shape[0], average, weights)


def _encode(t: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Index of each label in the sorted ``classes`` (labels 0..k-1 are their own)."""
    k = classes.shape[0]
    if t.dtype.kind in "iu" and classes.dtype.kind in "iu" and classes[0] == 0 \
            and classes[-1] == k - 1:
        return t.astype(np.intp, copy=False)
    return np.searchsorted(classes, t)


# ---------------------------------------------------------------------------
# average_precision_score
# ---------------------------------------------------------------------------


def average_precision_score(y_true: Any, y_score: Any, *, average: str | None = "macro",
                            pos_label: Any = 1, sample_weight: Any = None
                            ) -> float | np.ndarray:
    """Average precision (step-wise area under the precision-recall curve).

    ``AP = sum_k (R_k - R_{k-1}) P_k`` over the thresholds, as scikit-learn computes
    it (no interpolation).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, n_labels)
        Binary or multiclass labels, or a multilabel indicator matrix. Multiclass
        labels are binarized over the classes present (one column each).
    y_score : array-like of shape (n_samples,) or (n_samples, n_classes)
        Scores; NaN and infinity are refused.
    average : {"micro", "samples", "weighted", "macro"} or None, default="macro"
        Averaging over labels / classes; ignored for binary truth.
    pos_label : int, float, bool or str, default=1
        The positive label of binary truth (must be 1 otherwise).
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    float, or ndarray of float64 per label / class when ``average`` is None.
    0.0 (with a ``UserWarning``) where a binary problem has no positives.
    """
    validate("average_precision_score", {
        "y_true": (y_true, Y_DENSE), "y_score": (y_score, Y_DENSE),
        "average": (average, (str_options("micro", "samples", "weighted", "macro"), NONE)),
        "pos_label": (pos_label, (REAL, STR, BOOLEAN)),
        "sample_weight": (sample_weight, OPTIONAL_ARRAY)})
    t = as_np(y_true)
    y_type, classes = target_type(t, "y_true")
    if y_type == BINARY:
        if classes.shape[0] == 2 and pos_label not in classes.tolist():
            raise ValueError(f"pos_label={pos_label} is not a valid label. It should be one "
                             f"of {classes}")
    elif y_type in (MULTILABEL, MULTICLASS) and not _is_one(pos_label):
        raise ValueError(f"Parameter pos_label is fixed to 1 for {y_type} y_true. Do not set "
                         "pos_label or set pos_label to 1.")
    elif y_type not in (MULTILABEL, MULTICLASS):
        raise ValueError(f"{y_type} format is not supported")
    s = score_array(y_score, finite=False)
    n = check_lengths(y_true=t, y_score=s, sample_weight=as_np(sample_weight))
    weights = weights_array(sample_weight, n)
    scores = as_scores(s)
    if y_type == BINARY:
        if scores.ndim == 2 and scores.shape[1] != 1:
            raise ValueError(f"y_score has shape {scores.shape}: for binary y_true pass the "
                             "scores of the positive label only, e.g. y_score[:, 1].")
        pos = np.asarray(t.reshape(-1) == pos_label)
        return _binary_average_precision(np.ascontiguousarray(pos), scores.reshape(-1), weights)
    if y_type == MULTICLASS:
        if scores.shape != (n, classes.shape[0]):
            raise ValueError("`y_score` needs to be of shape `(n_samples, n_classes)`, since "
                             "`y_true` contains multiple classes. Got `y_score.shape="
                             f"{scores.shape}`.")
        codes = _encode(t.reshape(-1), classes)
        t = np.zeros(scores.shape, dtype=np.int64)
        t[np.arange(n), codes] = 1
    pos = multilabel_positives(t, scores, strict=False)
    per, support = binary_columns_scores(_binary_average_precision, pos, t, scores, weights,
                                         average, _average_precision_columns)
    if support is not None and average == "weighted" and np.isclose(support.sum(), 0.0):
        return 0.0
    return float(per[0]) if average == "micro" else average_scores(per, average, support)


def _is_one(value: Any) -> bool:
    return not isinstance(value, str) and value == 1
