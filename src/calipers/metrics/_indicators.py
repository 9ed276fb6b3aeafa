"""Counts of two multilabel indicator matrices, for the functional metrics.

Dense 0/1 matrices are counted by the compiled core in one pass
(:func:`calipers.metrics._counts.multilabel_counts`); matrices of other values, and
scipy sparse matrices, are counted with numpy (an entry is a positive label when it
is non-zero, or, in a sparse matrix, when it is stored).

scipy is never imported here: sparse input is recognised by its type's module, and
its own methods do the work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from calipers.metrics._arrays import is_sparse
from calipers.metrics._compute_prf import sums_from_mcm
from calipers.metrics._counts import multilabel_counts


@dataclass
class IndicatorCounts:
    """Counts of two multilabel indicator matrices (entries are positive when non-zero).

    Attributes
    ----------
    tp_sum, pred_sum, true_sum : ndarray of shape (L,)
        Per label; int64 counts, or float64 weight sums when weighted.
    exact : int or float
        Number (or weight) of rows predicted exactly.
    n_wrong : int or float
        Number (or weight, per row) of entries predicted wrongly.
    per_sample : ndarray of shape (n, 3), or None
        Per row: true, predicted and correctly predicted labels (when asked for).
    y_true, y_pred : ndarray or scipy sparse matrix
        The matrices, for counts over a subset of the columns.
    positives : ndarray of int64, shape (3, L)
        Unweighted ``tp_sum``, ``pred_sum`` and ``true_sum``.
    """

    tp_sum: np.ndarray
    pred_sum: np.ndarray
    true_sum: np.ndarray
    exact: Any
    n_wrong: Any
    per_sample: np.ndarray | None
    y_true: Any
    y_pred: Any
    positives: np.ndarray

    @property
    def n_labels(self) -> int:
        """Number of columns."""
        return int(self.y_true.shape[1])

    def rows(self, columns: np.ndarray | None = None) -> np.ndarray:
        """Per-row [true, predicted, both] counts over ``columns`` (default: all)."""
        if columns is None and self.per_sample is not None:
            return self.per_sample
        t, p = self.y_true, self.y_pred
        if columns is not None:
            t, p = t[:, columns], p[:, columns]
        if is_sparse(t):
            both = t.multiply(p).tocsr()
            cols = [np.diff(m.tocsr().indptr) for m in (t, p, both)]
        else:
            t, p = t != 0, p != 0
            cols = [t.sum(axis=1), p.sum(axis=1), (t & p).sum(axis=1)]
        return np.stack(cols, axis=1).astype(np.intp)


def binary_indicator_counts(t: Any, p: Any, sample_weight: Any,
                            per_sample: bool) -> IndicatorCounts | None:
    """One-pass counts of two dense (n, L > 1) 0/1 matrices; None if they are not.

    Parameters
    ----------
    t, p : ndarray or sparse matrix
        True and predicted indicators, as given.
    sample_weight : array-like or None
        Unchecked weights (weights the core refuses give None).
    per_sample : bool
        Whether per-row counts are needed.

    Returns
    -------
    IndicatorCounts or None
    """
    if is_sparse(t) or is_sparse(p) or t.ndim != 2 or t.shape != p.shape \
            or t.shape[1] < 2 or t.dtype.kind not in "biuf" or p.dtype.kind not in "biuf":
        return None
    try:
        weights = None if sample_weight is None else np.asarray(sample_weight, np.float64)
        mc = multilabel_counts(t, p, weights, per_sample=per_sample)
    except (TypeError, ValueError):
        return None  # entries other than 0/1, or odd weights: typed the slow way
    tp, pred, true = sums_from_mcm(mc.mcm)
    plain = mc.plain[: 4 * t.shape[1]].reshape(-1, 2, 2)
    rows = None if mc.per_sample is None else mc.per_sample.astype(np.intp)
    return IndicatorCounts(tp_sum=tp.copy(), pred_sum=pred, true_sum=true,
                           exact=mc.exact, n_wrong=(mc.mcm[:, 0, 1] + mc.mcm[:, 1, 0]).sum(),
                           per_sample=rows, y_true=t, y_pred=p,
                           positives=np.stack(sums_from_mcm(plain)))


def nonzero_indicator_counts(t: Any, p: Any, w: np.ndarray | None,
                             per_sample: bool) -> IndicatorCounts:
    """Counts of indicator matrices of any values (positive: non-zero), dense or sparse.

    Parameters
    ----------
    t, p : ndarray or sparse matrix of shape (n, L)
        True and predicted indicators, already typed as multilabel.
    w : ndarray of shape (n,) or None
        Checked sample weights.
    per_sample : bool
        Whether per-row counts are needed.

    Returns
    -------
    IndicatorCounts
    """
    weights = None if w is None else w.astype(np.float64, copy=False)
    if is_sparse(t) or is_sparse(p):
        t, p = _as_csr(t, p), _as_csr(p, t)
        # As scikit-learn: an entry stored in a sparse matrix counts as a label even if
        # its value is an explicit 0; products and differences drop zeros.
        wrong_rows = np.diff((t != p).tocsr().indptr)
        masks = (t.multiply(p).tocsr(), p, t)
        col_sums = _sparse_col_sums
    else:
        tb, pb = t != 0, p != 0
        wrong_rows = (t != p).sum(axis=1)
        masks = (tb & pb, pb, tb)
        col_sums = _dense_col_sums
    positives = np.stack([col_sums(m, None) for m in masks])
    sums = positives if weights is None else [col_sums(m, weights) for m in masks]
    if weights is None:
        exact, n_wrong = int(np.sum(wrong_rows == 0)), int(wrong_rows.sum())
    else:
        exact = float(np.dot(wrong_rows == 0, weights))
        n_wrong = float(np.dot(wrong_rows, weights))
    counts = IndicatorCounts(tp_sum=sums[0], pred_sum=sums[1], true_sum=sums[2], exact=exact,
                             n_wrong=n_wrong, per_sample=None, y_true=t, y_pred=p,
                             positives=positives)
    if per_sample:
        counts.per_sample = counts.rows()
    return counts


def _as_csr(x: Any, other: Any) -> Any:
    if is_sparse(x):
        return x.tocsr()
    # ``other`` is sparse: build the same kind of sparse container from the dense one.
    return type(other.tocsr())(x)


def _dense_col_sums(mask: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    if weights is None:
        return mask.sum(axis=0).astype(np.int64)
    return np.dot(weights, mask)


def _sparse_col_sums(m: Any, weights: np.ndarray | None) -> np.ndarray:
    """Stored entries per column of a CSR matrix (weighted by row)."""
    if weights is None:
        return np.bincount(m.indices, minlength=m.shape[1]).astype(np.int64)
    return np.bincount(m.indices, weights=np.repeat(weights, np.diff(m.indptr)),
                       minlength=m.shape[1])
