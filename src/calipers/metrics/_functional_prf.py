"""Functional per-class metrics: precision, recall, F-beta, Jaccard; drop-ins for scikit-learn's.

``precision_recall_fscore_support``, ``precision_score``, ``recall_score``,
``fbeta_score``, ``f1_score`` and ``jaccard_score``, with scikit-learn's signatures,
results, warnings and errors (see :mod:`calipers.metrics._functional`). All of them
read the one-vs-rest matrices of :func:`calipers.metrics._matrices.multilabel_confusion`.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection
from typing import Any

import numpy as np

from calipers.metrics import _compute
from calipers.metrics._matrices import multilabel_confusion
from calipers.metrics._params import (
    BETA,
    Y,
    instance_of,
    real_options,
    set_wise_params,
    str_options,
    validate,
)
from calipers.metrics._targets import BINARY, MULTICLASS, Targets, check_targets

__all__ = [
    "f1_score",
    "fbeta_score",
    "jaccard_score",
    "precision_recall_fscore_support",
    "precision_score",
    "recall_score",
]

#: ``zero_division`` of ``jaccard_score``, which (as scikit-learn's) does not take NaN.
_JACCARD_ZERO_DIVISION = (real_options(0, 1), str_options("warn"))


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
    tp, pred, true = _compute.sums_from_mcm(multilabel_confusion(targets, labels, samplewise))
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
        "y_true": (y_true, Y), "y_pred": (y_pred, Y),
        "beta": (beta, BETA),
        **set_wise_params(y_true, y_pred, labels, pos_label, average, sample_weight,
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
    validate("precision_score", set_wise_params(y_true, y_pred, labels, pos_label, average,
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
    validate("recall_score", set_wise_params(y_true, y_pred, labels, pos_label, average,
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
        "y_true": (y_true, Y), "y_pred": (y_pred, Y),
        "beta": (beta, BETA),
        **set_wise_params(y_true, y_pred, labels, pos_label, average, sample_weight,
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
    validate("f1_score", set_wise_params(y_true, y_pred, labels, pos_label, average,
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
    validate("jaccard_score", set_wise_params(
        y_true, y_pred, labels, pos_label, average, sample_weight, zero_division,
        _JACCARD_ZERO_DIVISION,
    ))
    tp, pred, true, targets = _per_class_sums(y_true, y_pred, labels, pos_label, average,
                                              sample_weight)
    weights = targets.sample_weight if average == "samples" else None
    return _compute.jaccard_from_sums(tp, pred, true, average=average,
                                      zero_division=zero_division, weights=weights)
