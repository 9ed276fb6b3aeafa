"""Counts of two label arrays over the labels that occur in them (the drop-ins' path).

Integer and bool labels are counted in one core pass over a guessed label window;
other labels, and integer ranges too wide for a window, are mapped through a sort.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calipers._core import _confusion as core
from calipers.metrics._counts import SIGNED, as_weight_array, signed_view

#: Largest window (number of label values) counted as a dense k x k matrix.
MATRIX_MAX = 1024
#: Largest window counted as per-class sums (O(k) memory) before labels are mapped.
SUMS_MAX = 1 << 20
# Elements of each end of the arrays that are looked at to guess the label window.
_PROBE = 4096


@dataclass
class PairCounts:
    """Counts of a pair of label arrays over the labels that occur in them.

    Attributes
    ----------
    classes : ndarray
        Sorted distinct values present in ``y_true`` or ``y_pred``.
    in_true, in_pred : ndarray of bool, shape (k,)
        Whether each class occurs in ``y_true`` / ``y_pred`` (whatever its weight).
    matrix : ndarray, shape (k, k), or None
        Rows true, columns predicted; int64 counts, or float64 weight sums when
        weighted. None when not asked for and ``k`` is large.
    true_sum, pred_sum, tp_sum : ndarray, shape (k,)
        Per-class sums (weighted when weighted).
    n : int
        Number of samples.
    total : float
        Sum of the weights (or ``n``).
    """

    classes: np.ndarray
    in_true: np.ndarray
    in_pred: np.ndarray
    matrix: np.ndarray | None
    true_sum: np.ndarray
    pred_sum: np.ndarray
    tp_sum: np.ndarray
    n: int
    total: float


def _window_guess(t: np.ndarray, p: np.ndarray) -> tuple[int, int]:
    n = t.shape[0]
    if n <= 2 * _PROBE:
        parts = [t, p]
    else:
        parts = [t[:_PROBE], t[-_PROBE:], p[:_PROBE], p[-_PROBE:]]
    lo = min(int(x.min()) for x in parts)
    hi = max(int(x.max()) for x in parts)
    if 0 <= lo and hi < 64:
        lo = 0  # small non-negative labels: start at 0, the common case
    return lo, hi - lo + 1


def _count_window(t: np.ndarray, p: np.ndarray, w: np.ndarray | None, lo: int, k: int,
                  matrix: bool) -> tuple[int, np.ndarray, np.ndarray | None]:
    if matrix:
        counts = np.zeros((k, k), dtype=np.int64)
        weighted = None if w is None else np.zeros((k, k), dtype=np.float64)
        if k == 2 and w is None and lo == 0:
            n, st, sp, stp, ok = core.binary_labels(t, p)
            if ok:
                counts[:] = [[n - st - sp + stp, sp - stp], [st - stp, stp]]
                return 0, counts, None
            return 1, counts, None
        nbad = core.matrix_labels(t, p, lo, k, counts, weighted, w)
    else:
        counts = np.zeros((3, k), dtype=np.int64)
        weighted = None if w is None else np.zeros((3, k), dtype=np.float64)
        nbad = core.sums_labels(t, p, lo, k, counts, weighted, w)
    return nbad, counts, weighted


def _from_window(lo: int, counts: np.ndarray, weighted: np.ndarray | None, n: int,
                 total: float, matrix: bool) -> tuple[np.ndarray, PairCounts]:
    """Compress window counts to the classes present; return (codes, PairCounts)."""
    if matrix:
        n_true = counts.sum(axis=1)
        n_pred = counts.sum(axis=0)
    else:
        n_true, n_pred = counts[0], counts[1]
    present = np.flatnonzero((n_true > 0) | (n_pred > 0))
    src = counts if weighted is None else weighted
    if matrix:
        m = src[np.ix_(present, present)]
        true_sum, pred_sum, tp_sum = m.sum(axis=1), m.sum(axis=0), np.diagonal(m).copy()
    else:
        m = None
        true_sum, pred_sum, tp_sum = (src[0][present], src[1][present], src[2][present])
    pc = PairCounts(
        classes=present.astype(np.int64) + lo,
        in_true=n_true[present] > 0,
        in_pred=n_pred[present] > 0,
        matrix=m,
        true_sum=true_sum,
        pred_sum=pred_sum,
        tp_sum=tp_sum,
        n=n,
        total=total,
    )
    return present, pc


def _common_int(t: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Bring two bool/int arrays to dtypes the core reads consistently, or None."""
    kt, kp = t.dtype.kind, p.dtype.kind
    if kt == "u" or kp == "u":
        if t.dtype == p.dtype:
            return t, p
        common = np.result_type(t.dtype, p.dtype)
        if common.kind not in "iu":
            return None
        t, p = t.astype(common), p.astype(common)
    return t, p


def _restore_dtype(classes: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Map int64 class values (in the signed view) back to the callers' dtype, sorted."""
    if dtype.kind == "b":
        return classes.astype(bool)
    if dtype.kind == "u":
        return classes.astype(SIGNED[dtype.itemsize]).view(dtype)
    return classes.astype(dtype)


def pair_counts(y_true: np.ndarray, y_pred: np.ndarray, sample_weight: object = None, *,
                need_matrix: bool = True) -> PairCounts:
    """Count label pairs over the labels that occur, in one core pass when possible.

    Integer and bool labels take the fast path: the label window is guessed from the
    arrays' ends and counted in one pass; only if a label falls outside the window
    are exact bounds taken (and, for very wide ranges, labels mapped through
    ``np.unique``). Other dtypes are mapped through ``np.unique``.

    Parameters
    ----------
    y_true, y_pred : ndarray
        1-D label arrays of equal length (any dtype; object arrays must sort).
    sample_weight : array-like, optional
        Finite weights, one per sample.
    need_matrix : bool
        Whether the k x k matrix is needed (else, for many classes, only sums).
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.ndim != 1 or y_pred.ndim != 1:
        raise ValueError("pair_counts takes 1-D label arrays")
    n = y_true.shape[0]
    if y_pred.shape[0] != n:
        raise ValueError(f"y_true and y_pred differ in length: {n} != {y_pred.shape[0]}")
    w = None if sample_weight is None else as_weight_array(sample_weight, n)
    total = float(n) if w is None else float(w.sum())

    pair = None
    if y_true.dtype.kind in "biu" and y_pred.dtype.kind in "biu" and n:
        pair = _common_int(y_true, y_pred)
    if pair is not None:
        out_dtype = np.result_type(pair[0].dtype, pair[1].dtype)
        t, p = signed_view(pair[0]), signed_view(pair[1])
        lo, k = _window_guess(t, p)
        for attempt in range(2):
            matrix = k <= MATRIX_MAX
            if not matrix and (need_matrix or k > SUMS_MAX):
                break
            nbad, counts, weighted = _count_window(t, p, w, lo, k, matrix)
            if not nbad:
                _, pc = _from_window(lo, counts, weighted, n, total, matrix)
                classes = _restore_dtype(pc.classes, out_dtype)
                wrapped = out_dtype.kind == "u" and not np.all(classes[:-1] <= classes[1:])
                if wrapped:
                    break  # values above the signed range wrapped: sort through the map
                pc.classes = classes
                return pc
            if attempt == 0:
                lo = min(int(t.min()), int(p.min()))
                k = max(int(t.max()), int(p.max())) - lo + 1
    # General path: map labels to codes 0..k-1 through a sort.
    classes, codes = np.unique(np.concatenate([y_true, y_pred]), return_inverse=True)
    k = classes.shape[0]
    codes = codes.reshape(-1).astype(np.int32 if k < 2**31 else np.int64)
    t, p = codes[:n], codes[n:]
    matrix = need_matrix or k <= MATRIX_MAX
    nbad, counts, weighted = _count_window(t, p, w, 0, max(k, 1), matrix)
    present, pc = _from_window(0, counts, weighted, n, total, matrix)
    pc.classes = classes[present] if k else classes
    return pc
