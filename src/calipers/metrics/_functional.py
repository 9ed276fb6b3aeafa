"""Functional classification metrics: drop-ins for scikit-learn's, counted in one pass.

Each function takes scikit-learn's arguments (same names, defaults and keyword-only
markers), accepts the same inputs, returns the same values and types, warns with the
same texts and raises ``ValueError`` where scikit-learn does. The difference is the
work: labels are counted by the compiled core in one pass, without sorting integer
labels, and every metric is derived from those counts
(:mod:`calipers.metrics._compute`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Collection
from typing import Any

import numpy as np

from calipers.metrics import _compute
from calipers.metrics._compute import UndefinedMetricWarning
from calipers.metrics._targets import (
    ARRAY_LIKE,
    BINARY,
    BOOLEAN,
    MULTICLASS,
    MULTILABEL,
    NAN,
    NONE,
    REAL,
    SPARSE,
    STR,
    Targets,
    check_targets,
    instance_of,
    label_positions,
    positions_by_equality,
    real_interval,
    real_options,
    str_options,
    validate,
)

__all__ = [
    "UndefinedMetricWarning",
    "accuracy_score",
    "balanced_accuracy_score",
    "cohen_kappa_score",
    "confusion_matrix",
    "f1_score",
    "fbeta_score",
    "hamming_loss",
    "jaccard_score",
    "matthews_corrcoef",
    "multilabel_confusion_matrix",
    "precision_recall_fscore_support",
    "precision_score",
    "recall_score",
]

_Y = (ARRAY_LIKE, SPARSE)
_Y_DENSE = (ARRAY_LIKE,)
_OPTIONAL_ARRAY = (ARRAY_LIKE, NONE)
_POS_LABEL = (REAL, STR, BOOLEAN, NONE)
_AVERAGE = (str_options("micro", "macro", "samples", "weighted", "binary"), NONE)
_ZERO_DIVISION = (real_options(0.0, 1.0), NAN, str_options("warn"))
_SINGLE_LABEL_MESSAGE = (
    "A single label was found in 'y_true' and 'y_pred'. For the confusion matrix to have "
    "the correct shape, use the 'labels' parameter to pass all known labels."
)
_NO_TRUE_LABEL = "At least one label specified must be in y_true"


# ---------------------------------------------------------------------------
# shared pieces
# ---------------------------------------------------------------------------


def _label_targets(y_true: Any, y_pred: Any, sample_weight: Any, *,
                   need_matrix: bool = False) -> Targets:
    """Checked 1-D targets; multilabel input is a ``ValueError``."""
    targets = check_targets(y_true, y_pred, sample_weight, need_matrix=need_matrix)
    if targets.y_type not in (BINARY, MULTICLASS):
        raise ValueError(f"{targets.y_type} is not supported")
    return targets


def _matrix_dtype(sample_weight: np.ndarray | None) -> type:
    if sample_weight is None or sample_weight.dtype.kind in "biu":
        return np.int64
    return np.float64


def _confusion(targets: Targets, labels: Any) -> np.ndarray:
    """The confusion matrix over ``labels`` (default: the classes found), unnormalised."""
    pc = targets.pairs
    dtype = _matrix_dtype(targets.sample_weight)
    if labels is None:
        return pc.matrix.astype(dtype, copy=False)
    labels = np.asarray(labels).reshape(-1)
    if labels.size == 0:
        raise ValueError("'labels' should contain at least one label.")
    if np.intersect1d(pc.classes[pc.in_true], labels).size == 0:
        raise ValueError(_NO_TRUE_LABEL)
    # Each class goes to the (last) position of an equal label; others are dropped.
    where = positions_by_equality(labels, pc.classes)
    keep = np.flatnonzero(where >= 0)
    n_labels = labels.shape[0]
    out = np.zeros((n_labels, n_labels), dtype=dtype)
    if pc.matrix is not None:
        out[np.ix_(where[keep], where[keep])] = pc.matrix[np.ix_(keep, keep)]
        return out
    # Too many classes for a full matrix: count only the requested ones.
    codes_t = where[np.searchsorted(pc.classes, targets.y_true)]
    codes_p = where[np.searchsorted(pc.classes, targets.y_pred)]
    sel = (codes_t >= 0) & (codes_p >= 0)
    w = targets.sample_weight
    flat = np.bincount(codes_t[sel] * n_labels + codes_p[sel],
                       weights=None if w is None else w[sel].astype(np.float64),
                       minlength=n_labels * n_labels)
    return flat.reshape(n_labels, n_labels).astype(dtype)


def _warn_single_label(n_labels: int) -> None:
    if n_labels == 1:
        warnings.warn(_SINGLE_LABEL_MESSAGE, UserWarning, stacklevel=3)


def _pick(values: np.ndarray, where: np.ndarray) -> np.ndarray:
    out = np.zeros(where.shape[0], dtype=values.dtype)
    hit = where >= 0
    out[hit] = values[where[hit]]
    return out


def _label_columns(labels: Any, n_columns: int) -> np.ndarray:
    """Column indices of a multilabel ``labels`` argument, range-checked."""
    labels = np.asarray(labels)
    everything = np.arange(n_columns)
    full = np.concatenate([labels, np.setdiff1d(everything, labels, assume_unique=True)])
    if full.shape != everything.shape or np.any(full != everything):
        if full.max() > n_columns - 1:
            raise ValueError("All labels must be in [0, n labels) for multilabel targets. "
                             f"Got {full.max():d} > {n_columns - 1:d}")
        if full.min() < 0:
            raise ValueError("All labels must be in [0, n labels) for multilabel targets. "
                             f"Got {full.min():d} < 0")
    if labels.dtype.kind == "f":
        labels = labels.astype(np.intp)
    return labels


def _mcm(targets: Targets, labels: Any, samplewise: bool) -> np.ndarray:
    """scikit-learn's multilabel confusion matrix of checked targets."""
    w = targets.sample_weight
    if targets.y_type != MULTILABEL:
        if samplewise:
            raise ValueError("Samplewise metrics are not available outside of multilabel "
                             "classification.")
        pc = targets.pairs
        tp, pred, true = pc.tp_sum, pc.pred_sum, pc.true_sum
        if labels is not None:
            where = label_positions(pc.classes, labels)
            tp, pred, true = _pick(tp, where), _pick(pred, where), _pick(true, where)
        if w is None and pc.tp_sum.sum() == 0:
            # No sample predicted right: scikit-learn's true-positive counts are then
            # float zeros, which makes the whole matrix float.
            tp = tp.astype(np.float64)
        return _compute.mcm_from_sums(tp, pred, true, targets.total)
    ic = targets.indicator
    columns = None if labels is None else _label_columns(labels, ic.n_labels)
    if samplewise:
        row_columns = columns
        if columns is not None and np.array_equal(np.sort(columns), np.arange(ic.n_labels)):
            row_columns = None  # a permutation of all columns: same per-row counts
        rows = ic.rows(row_columns)
        true, pred, tp = rows[:, 0], rows[:, 1], rows[:, 2]
        n_columns = ic.n_labels if columns is None else columns.shape[0]
        if w is None:
            return _compute.mcm_from_sums(tp, pred, true, n_columns)
        return _compute.mcm_from_sums(tp * w, pred * w, true * w, w * n_columns)
    sums = [ic.tp_sum, ic.pred_sum, ic.true_sum]
    positives = ic.positives
    if columns is not None:
        sums, positives = [s[columns] for s in sums], positives[:, columns]
    if w is not None:
        # scikit-learn's weighted bincount over no entry at all is int64, so a
        # weighted sum with no positive entry behind it is an integer zero.
        sums = [s if n else np.zeros(s.shape[0], dtype=np.int64)
                for s, n in zip(sums, positives.sum(axis=1), strict=True)]
    return _compute.mcm_from_sums(*sums, targets.total)


def _sums_from_mcm(mcm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tp = mcm[:, 1, 1]
    return tp, tp + mcm[:, 0, 1], tp + mcm[:, 1, 0]


def _set_wise_labels(targets: Targets, average: str | None, labels: Any,
                     pos_label: Any) -> Any:
    """The labels a per-class metric reports on, after the 'binary' checks."""
    if average == "binary":
        if targets.y_type == BINARY:
            present = targets.pairs.classes
            if pos_label not in present and len(present) >= 2:
                raise ValueError(f"pos_label={pos_label} is not a valid label. It should be "
                                 f"one of {present}")
            return [pos_label]
        options: list[str | None] = [None, "micro", "macro", "weighted", "samples"]
        if targets.y_type == MULTICLASS:
            options.remove("samples")
        raise ValueError(f"Target is {targets.y_type} but average='binary'. Please choose "
                         f"another average setting, one of {options!r}.")
    if pos_label not in (None, 1):
        warnings.warn(
            f"Note that pos_label (set to {pos_label!r}) is ignored when average != 'binary' "
            f"(got {average!r}). You may use labels=[pos_label] to specify a single positive "
            "class.",
            UserWarning, stacklevel=4,
        )
    return labels


def _per_class_sums(y_true: Any, y_pred: Any, labels: Any, pos_label: Any, average: Any,
                    sample_weight: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, Targets]:
    samplewise = average == "samples"
    targets = check_targets(y_true, y_pred, sample_weight, per_sample=samplewise)
    labels = _set_wise_labels(targets, average, labels, pos_label)
    tp, pred, true = _sums_from_mcm(_mcm(targets, labels, samplewise))
    return tp, pred, true, targets


def _prfs(y_true: Any, y_pred: Any, *, beta: float, labels: Any, pos_label: Any,
          average: str | None, warn_for: Collection[str], sample_weight: Any,
          zero_division: Any) -> tuple[Any, Any, Any, Any]:
    tp, pred, true, targets = _per_class_sums(y_true, y_pred, labels, pos_label, average,
                                              sample_weight)
    weights = targets.sample_weight if average == "samples" else None
    return _compute.prf_from_sums(tp, pred, true, beta=beta, average=average,
                                  zero_division=zero_division, warn_for=warn_for,
                                  weights=weights)


def _set_wise_params(y_true: Any, y_pred: Any, labels: Any, pos_label: Any, average: Any,
                     sample_weight: Any, zero_division: Any,
                     zero_division_options: tuple = _ZERO_DIVISION) -> dict[str, tuple]:
    return {
        "y_true": (y_true, _Y),
        "y_pred": (y_pred, _Y),
        "labels": (labels, _OPTIONAL_ARRAY),
        "pos_label": (pos_label, _POS_LABEL),
        "average": (average, _AVERAGE),
        "sample_weight": (sample_weight, _OPTIONAL_ARRAY),
        "zero_division": (zero_division, zero_division_options),
    }


# ---------------------------------------------------------------------------
# the metrics
# ---------------------------------------------------------------------------


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
    validate("accuracy_score", {"y_true": (y_true, _Y), "y_pred": (y_pred, _Y),
                                "normalize": (normalize, (BOOLEAN,)),
                                "sample_weight": (sample_weight, _OPTIONAL_ARRAY)})
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
        "y_true": (y_true, _Y_DENSE), "y_pred": (y_pred, _Y_DENSE),
        "labels": (labels, _OPTIONAL_ARRAY), "sample_weight": (sample_weight, _OPTIONAL_ARRAY),
        "normalize": (normalize, (str_options("true", "pred", "all"), NONE)),
    })
    targets = _label_targets(y_true, y_pred, sample_weight, need_matrix=labels is None)
    cm = _compute.normalize_confusion(_confusion(targets, labels), normalize)
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
        "y_true": (y_true, _Y), "y_pred": (y_pred, _Y),
        "sample_weight": (sample_weight, _OPTIONAL_ARRAY), "labels": (labels, _OPTIONAL_ARRAY),
        "samplewise": (samplewise, (BOOLEAN,)),
    })
    targets = check_targets(y_true, y_pred, sample_weight, per_sample=samplewise)
    return _mcm(targets, labels, bool(samplewise))


def precision_recall_fscore_support(
    y_true: Any, y_pred: Any, *, beta: float = 1.0, labels: Any = None, pos_label: Any = 1,
    average: str | None = None, warn_for: Collection[str] = ("precision", "recall", "f-score"),
    sample_weight: Any = None, zero_division: Any = "warn",
) -> tuple[Any, Any, Any, Any]:
    """Precision, recall, F-beta score and support, per class or averaged.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,), or indicator matrix / sparse matrix
        True and predicted labels.
    beta : float, default=1.0
        Weight of recall relative to precision (``inf``: recall, 0: precision).
    labels : array-like, default=None
        Classes to report (multilabel: column indices), in order; default all
        classes found, sorted. Absent classes count as empty.
    pos_label : int, float, bool or str, default=1
        The class reported by ``average="binary"``.
    average : {"binary", "micro", "macro", "weighted", "samples"} or None, default=None
        ``None``: per-class arrays. ``"binary"``: ``pos_label`` only (binary targets).
        ``"micro"``: from the summed counts. ``"macro"``: unweighted mean.
        ``"weighted"``: mean weighted by support. ``"samples"``: mean over samples
        (multilabel only).
    warn_for : list, tuple or set, default=("precision", "recall", "f-score")
        Which undefined metrics warn.
    sample_weight : array-like of shape (n_samples,), default=None
    zero_division : {"warn", 0.0, 1.0, np.nan}, default="warn"
        Value of undefined ratios; ``"warn"`` is 0.0 with an
        :class:`UndefinedMetricWarning`; NaN values are left out of averages.

    Returns
    -------
    precision, recall, fbeta_score : float or ndarray of float64
        Floats unless ``average`` is None.
    support : ndarray or None
        Number (weight) of true samples per class when ``average`` is None.

    Raises
    ------
    ValueError
        Lengths that differ, empty input, continuous, multioutput or mixed targets,
        string and number labels mixed, NaN labels, ``average="binary"`` with
        non-binary targets or an absent ``pos_label``, invalid options.
    """
    validate("precision_recall_fscore_support", {
        "y_true": (y_true, _Y), "y_pred": (y_pred, _Y),
        "beta": (beta, (real_interval(0.0, math.inf),)),
        **_set_wise_params(y_true, y_pred, labels, pos_label, average, sample_weight,
                           zero_division),
        "warn_for": (warn_for, (instance_of(list, tuple, set),)),
    })
    return _prfs(y_true, y_pred, beta=beta, labels=labels, pos_label=pos_label,
                 average=average, warn_for=warn_for, sample_weight=sample_weight,
                 zero_division=zero_division)


def precision_score(y_true: Any, y_pred: Any, *, labels: Any = None, pos_label: Any = 1,
                    average: str | None = "binary", sample_weight: Any = None,
                    zero_division: Any = "warn") -> Any:
    """Precision ``tp / (tp + fp)``: the share of predicted positives that are right.

    Parameters and errors as :func:`precision_recall_fscore_support` (default
    ``average="binary"``).

    Returns
    -------
    float or ndarray of float64
        Per class when ``average`` is None.
    """
    validate("precision_score", _set_wise_params(y_true, y_pred, labels, pos_label, average,
                                                 sample_weight, zero_division))
    return _prfs(y_true, y_pred, beta=1.0, labels=labels, pos_label=pos_label,
                 average=average, warn_for=("precision",), sample_weight=sample_weight,
                 zero_division=zero_division)[0]


def recall_score(y_true: Any, y_pred: Any, *, labels: Any = None, pos_label: Any = 1,
                 average: str | None = "binary", sample_weight: Any = None,
                 zero_division: Any = "warn") -> Any:
    """Recall ``tp / (tp + fn)``: the share of true positives that are found.

    Parameters and errors as :func:`precision_recall_fscore_support` (default
    ``average="binary"``).

    Returns
    -------
    float or ndarray of float64
        Per class when ``average`` is None.
    """
    validate("recall_score", _set_wise_params(y_true, y_pred, labels, pos_label, average,
                                              sample_weight, zero_division))
    return _prfs(y_true, y_pred, beta=1.0, labels=labels, pos_label=pos_label,
                 average=average, warn_for=("recall",), sample_weight=sample_weight,
                 zero_division=zero_division)[1]


def fbeta_score(y_true: Any, y_pred: Any, *, beta: float, labels: Any = None,
                pos_label: Any = 1, average: str | None = "binary", sample_weight: Any = None,
                zero_division: Any = "warn") -> Any:
    """F-beta score: weighted harmonic mean of precision and recall.

    ``(1 + beta**2) tp / ((1 + beta**2) tp + beta**2 fn + fp)``. Other parameters and
    errors as :func:`precision_recall_fscore_support` (default ``average="binary"``).

    Parameters
    ----------
    beta : float
        Weight of recall relative to precision, >= 0 (``inf``: recall).

    Returns
    -------
    float or ndarray of float64
        Per class when ``average`` is None.
    """
    validate("fbeta_score", {
        "y_true": (y_true, _Y), "y_pred": (y_pred, _Y),
        "beta": (beta, (real_interval(0.0, math.inf),)),
        **_set_wise_params(y_true, y_pred, labels, pos_label, average, sample_weight,
                           zero_division),
    })
    return _prfs(y_true, y_pred, beta=beta, labels=labels, pos_label=pos_label,
                 average=average, warn_for=("f-score",), sample_weight=sample_weight,
                 zero_division=zero_division)[2]


def f1_score(y_true: Any, y_pred: Any, *, labels: Any = None, pos_label: Any = 1,
             average: str | None = "binary", sample_weight: Any = None,
             zero_division: Any = "warn") -> Any:
    """F1 score ``2 tp / (2 tp + fp + fn)``, the harmonic mean of precision and recall.

    Parameters and errors as :func:`precision_recall_fscore_support` (default
    ``average="binary"``).

    Returns
    -------
    float or ndarray of float64
        Per class when ``average`` is None.
    """
    validate("f1_score", _set_wise_params(y_true, y_pred, labels, pos_label, average,
                                          sample_weight, zero_division))
    return _prfs(y_true, y_pred, beta=1, labels=labels, pos_label=pos_label,
                 average=average, warn_for=("f-score",), sample_weight=sample_weight,
                 zero_division=zero_division)[2]


def jaccard_score(y_true: Any, y_pred: Any, *, labels: Any = None, pos_label: Any = 1,
                  average: str | None = "binary", sample_weight: Any = None,
                  zero_division: Any = "warn") -> Any:
    """Jaccard index ``tp / (tp + fp + fn)`` (intersection over union).

    Parameters and errors as :func:`precision_recall_fscore_support` (default
    ``average="binary"``), except that ``zero_division`` is one of "warn", 0 or 1.

    Returns
    -------
    float or ndarray of float64
        Per class when ``average`` is None.
    """
    validate("jaccard_score", _set_wise_params(
        y_true, y_pred, labels, pos_label, average, sample_weight, zero_division,
        (real_options(0, 1), str_options("warn")),
    ))
    tp, pred, true, targets = _per_class_sums(y_true, y_pred, labels, pos_label, average,
                                              sample_weight)
    weights = targets.sample_weight if average == "samples" else None
    return _compute.jaccard_from_sums(tp, pred, true, average=average,
                                      zero_division=zero_division, weights=weights)


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
        "y_true": (y_true, _Y_DENSE), "y_pred": (y_pred, _Y_DENSE),
        "sample_weight": (sample_weight, _OPTIONAL_ARRAY), "adjusted": (adjusted, (BOOLEAN,)),
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
    validate("matthews_corrcoef", {"y_true": (y_true, _Y_DENSE), "y_pred": (y_pred, _Y_DENSE),
                                   "sample_weight": (sample_weight, _OPTIONAL_ARRAY)})
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
        "y1": (y1, _Y_DENSE), "y2": (y2, _Y_DENSE), "labels": (labels, _OPTIONAL_ARRAY),
        "weights": (weights, (str_options("linear", "quadratic"), NONE)),
        "sample_weight": (sample_weight, _OPTIONAL_ARRAY),
        "replace_undefined_by": (replace_undefined_by, (real_interval(-1.0, 1.0), NAN)),
    })
    targets = _label_targets(y1, y2, sample_weight, need_matrix=labels is None)
    try:
        matrix = _confusion(targets, labels)
    except ValueError as exc:
        if _NO_TRUE_LABEL in str(exc):
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
    validate("hamming_loss", {"y_true": (y_true, _Y), "y_pred": (y_pred, _Y),
                              "sample_weight": (sample_weight, _OPTIONAL_ARRAY)})
    targets = check_targets(y_true, y_pred, sample_weight)
    w = targets.sample_weight
    if targets.y_type == MULTILABEL:
        ic = targets.indicator
        mean_weight = 1.0 if w is None else np.average(w)
        return float(ic.n_wrong) / (targets.n * ic.n_labels * mean_weight)
    pc = targets.pairs
    return _compute.hamming(pc.total - pc.tp_sum.sum(), targets.total)

