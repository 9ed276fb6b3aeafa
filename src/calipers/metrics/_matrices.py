"""Confusion matrices of checked targets, over the labels a caller asks for.

Two kinds, both from the counts of :func:`calipers.metrics._targets.check_targets`:
the k x k matrix of 1-D labels (``confusion_matrix``, ``cohen_kappa_score``) and the
one-vs-rest 2 x 2 matrices per class, per label or per sample
(``multilabel_confusion_matrix`` and every per-class metric). Requested labels are
matched to the counted classes as scikit-learn matches them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from calipers.metrics import _compute
from calipers.metrics._targets import MULTILABEL, Targets

#: Start of the error for ``labels`` that share no label with ``y_true``.
NO_TRUE_LABEL = "At least one label specified must be in y_true"


# ---------------------------------------------------------------------------
# matching requested labels to counted classes
# ---------------------------------------------------------------------------


def label_positions(classes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Index in ``classes`` (unique values) of each of ``labels``, -1 where absent.

    Values are compared after numpy's type promotion of the two arrays (so an
    integer label matches the string class of its digits, as scikit-learn's
    per-class metrics do); when the dtypes do not promote or do not sort, Python
    equality decides.
    """
    labels = np.asarray(labels)
    out = np.full(labels.shape[0], -1, dtype=np.intp)
    if classes.shape[0] == 0 or labels.shape[0] == 0:
        return out
    try:
        common = np.result_type(classes.dtype, labels.dtype)
        c, lab = classes.astype(common), labels.astype(common)
        order = np.argsort(c, kind="stable")
        sorted_c = c[order]
        idx = np.minimum(np.searchsorted(sorted_c, lab), sorted_c.shape[0] - 1)
        hit = sorted_c[idx] == lab
    except (TypeError, ValueError):
        return positions_by_equality(classes, labels)
    out[hit] = order[idx[hit]]
    return out


def positions_by_equality(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Index in ``keys`` of each of ``values`` by Python ``==`` and hash (``1 != '1'``).

    A key that occurs twice maps to its last position; absent values give -1.
    """
    index = {k: i for i, k in enumerate(np.asarray(keys).tolist())}
    return np.array([index.get(v, -1) for v in np.asarray(values).tolist()], dtype=np.intp)


# ---------------------------------------------------------------------------
# the matrices
# ---------------------------------------------------------------------------


def _matrix_dtype(sample_weight: np.ndarray | None) -> type:
    if sample_weight is None or sample_weight.dtype.kind in "biu":
        return np.int64
    return np.float64


def confusion(targets: Targets, labels: Any) -> np.ndarray:
    """The confusion matrix over ``labels`` (default: the classes found), unnormalised.

    Parameters
    ----------
    targets : Targets
        Checked 1-D targets (binary or multiclass).
    labels : array-like or None
        Rows and columns, in order; samples with a label not listed are left out.

    Returns
    -------
    ndarray of shape (k, k)
        int64, or float64 when weighted with non-integer weights.

    Raises
    ------
    ValueError
        Empty ``labels``, or none of them in ``y_true`` (message starting with
        :data:`NO_TRUE_LABEL`).
    """
    pc = targets.pairs
    dtype = _matrix_dtype(targets.sample_weight)
    if labels is None:
        return pc.matrix.astype(dtype, copy=False)
    labels = np.asarray(labels).reshape(-1)
    if labels.size == 0:
        raise ValueError("'labels' should contain at least one label.")
    if np.intersect1d(pc.classes[pc.in_true], labels).size == 0:
        raise ValueError(NO_TRUE_LABEL)
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


def multilabel_confusion(targets: Targets, labels: Any, samplewise: bool) -> np.ndarray:
    """scikit-learn's multilabel confusion matrix of checked targets.

    Parameters
    ----------
    targets : Targets
        Checked targets of any supported type.
    labels : array-like or None
        Classes (multilabel: column indices) to report, in order; default all.
    samplewise : bool
        One matrix per sample instead of per class (multilabel only).

    Returns
    -------
    ndarray of shape (m, 2, 2)
        ``[[tn, fp], [fn, tp]]`` per class, label or sample.
    """
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
