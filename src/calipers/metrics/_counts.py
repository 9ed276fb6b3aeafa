"""Validated wrappers around the confusion-counting core.

The core (:mod:`calipers._core._confusion`) reads contiguous signed-integer labels
and float scores in one pass and reports invalid entries as a count. This module
chooses dtypes and layouts, calls it, and turns a non-zero count into an error that
names the offending value. Everything that touches the data in bulk goes through the
core; numpy here only sees small arrays (or runs on the error path).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calipers._core import _confusion as core

SIGNED = {1: np.int8, 2: np.int16, 4: np.int32, 8: np.int64}


# ---------------------------------------------------------------------------
# array preparation
# ---------------------------------------------------------------------------


def _contiguous(x: np.ndarray) -> np.ndarray:
    # Byte-swapped or strided arrays are converted, never read in place.
    if not x.dtype.isnative:
        x = x.astype(x.dtype.newbyteorder("="))
    return np.ascontiguousarray(x)


def signed_view(x: np.ndarray) -> np.ndarray:
    """View bool/unsigned integers as the signed type of the same width.

    Values too large for the signed type turn negative, so range checks in the core
    reject them instead of misreading them.
    """
    x = _contiguous(x)
    if x.dtype.kind == "b":
        return x.view(np.int8)
    if x.dtype.kind == "u":
        return x.view(SIGNED[x.dtype.itemsize])
    return x


def as_label_array(x: object, name: str, ndim: int = 1) -> np.ndarray:
    """Return ``x`` as a contiguous signed-integer array the core can read.

    Accepts bool and integer arrays of any width and byte order, and float arrays
    whose values are all integers (converted). Anything else raises ``TypeError``.
    """
    arr = np.asarray(x)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
    kind = arr.dtype.kind
    if kind in "biu":
        return signed_view(arr)
    if kind == "f":
        if arr.size and not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or infinity")
        with np.errstate(invalid="ignore"):  # out-of-range floats fail the check below
            as_int = arr.astype(np.int64)
        if arr.size and not np.array_equal(as_int, arr):
            bad = arr.ravel()[np.flatnonzero(as_int.ravel() != arr.ravel())[0]].item()
            raise ValueError(f"{name} must hold integer labels, got {bad!r}")
        return as_int
    raise TypeError(
        f"{name} must hold integer or boolean labels, got dtype {arr.dtype}; "
        "map other labels to integers first (calipers.metrics functions accept any labels)"
    )


def as_weight_array(sample_weight: object, n: int) -> np.ndarray:
    """Return sample weights as contiguous float64 of length ``n``; check finiteness."""
    w = np.asarray(sample_weight)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"sample_weight must be numeric, got dtype {w.dtype}")
    if w.ndim != 1:
        raise ValueError(f"sample_weight must be 1-dimensional, got shape {w.shape}")
    if w.shape[0] != n:
        raise ValueError(f"sample_weight has {w.shape[0]} entries, expected {n}")
    w = np.ascontiguousarray(w, dtype=np.float64)
    if not np.all(np.isfinite(w)):
        raise ValueError("sample_weight contains NaN or infinity")
    return w


def _first_outside(x: np.ndarray, lo: int, k: int) -> int | None:
    """Index of the first value of ``x`` outside ``[lo, lo + k)`` (error path only)."""
    v = x.astype(np.int64, copy=False)
    idx = np.flatnonzero((v < lo) | (v >= lo + k))
    return int(idx[0]) if idx.size else None


def _raise_out_of_range(arrays: dict[str, np.ndarray], originals: dict[str, object],
                        k: int) -> None:
    for name, arr in arrays.items():
        i = _first_outside(arr, 0, k)
        if i is not None:
            value = np.asarray(originals[name]).ravel()[i].item()
            raise ValueError(
                f"{name} has label {value!r} at index {i}, outside [0, {k}); "
                f"labels must be integers in [0, num_classes={k})"
            )
    raise ValueError(f"labels outside [0, {k})")  # pragma: no cover - defensive


# ---------------------------------------------------------------------------
# fixed classes: streaming metrics
# ---------------------------------------------------------------------------


def count_labels(y_true: object, y_pred: object, num_classes: int,
                 sample_weight: object = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Confusion counts of labels known to lie in ``[0, num_classes)``.

    Returns ``(counts, weighted)``: an int64 ``num_classes x num_classes`` matrix
    (rows true, columns predicted) and, with ``sample_weight``, the float64 matrix of
    weight sums (else None). A label outside the range raises ``ValueError`` naming
    it; nothing is counted then.
    """
    t = as_label_array(y_true, "y_true")
    p = as_label_array(y_pred, "y_pred")
    if t.shape[0] != p.shape[0]:
        raise ValueError(f"y_true and y_pred differ in length: {t.shape[0]} != {p.shape[0]}")
    k = int(num_classes)
    w = None if sample_weight is None else as_weight_array(sample_weight, t.shape[0])
    counts = np.zeros((k, k), dtype=np.int64)
    weighted = None if w is None else np.zeros((k, k), dtype=np.float64)
    if k == 2 and w is None:
        n, st, sp, stp, ok = core.binary_labels(t, p)
        if ok:
            counts[1, 1] = stp
            counts[1, 0] = st - stp
            counts[0, 1] = sp - stp
            counts[0, 0] = n - st - sp + stp
            return counts, None
        nbad = 1
    else:
        nbad = core.matrix_labels(t, p, 0, k, counts, weighted, w)
    if nbad:
        _raise_out_of_range({"y_true": t, "y_pred": p}, {"y_true": y_true, "y_pred": y_pred},
                            k)
    return counts, weighted


def _as_scores(y_score: object, name: str, ndim: int) -> np.ndarray:
    s = np.asarray(y_score)
    if s.dtype.kind != "f":
        raise TypeError(f"{name} must be floating-point scores, got dtype {s.dtype}")
    if s.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {s.shape}")
    if s.dtype not in (np.float32, np.float64):
        s = s.astype(np.float64)
    return _contiguous(s)


def _raise_bad_scores(t: np.ndarray, s: np.ndarray, k: int, y_true: object) -> None:
    i = _first_outside(t, 0, k)
    if i is not None:
        value = np.asarray(y_true).ravel()[i].item()
        raise ValueError(f"y_true has label {value!r} at index {i}, outside [0, {k})")
    rows = np.flatnonzero(~np.isfinite(s.reshape(s.shape[0], -1)).all(axis=1))
    raise ValueError(f"y_pred has a non-finite score (NaN or inf) in row {int(rows[0])}")


def count_threshold(y_true: object, y_score: object, threshold: float,
                    sample_weight: object = None) -> tuple[np.ndarray, np.ndarray | None]:
    """2 x 2 confusion counts of 0/1 labels against ``y_score >= threshold``."""
    t = as_label_array(y_true, "y_true")
    s = _as_scores(y_score, "y_pred", 1)
    if t.shape[0] != s.shape[0]:
        raise ValueError(f"y_true and y_pred differ in length: {t.shape[0]} != {s.shape[0]}")
    w = None if sample_weight is None else as_weight_array(sample_weight, t.shape[0])
    counts = np.zeros((2, 2), dtype=np.int64)
    weighted = None if w is None else np.zeros((2, 2), dtype=np.float64)
    if core.threshold_scores(t, s.reshape(-1, 1), float(threshold), counts, weighted, w):
        _raise_bad_scores(t, s, 2, y_true)
    return counts, weighted


def count_argmax(y_true: object, y_score: object, num_classes: int,
                 sample_weight: object = None) -> tuple[np.ndarray, np.ndarray | None]:
    """k x k confusion counts of labels against the arg-max of an (n, k) score matrix."""
    t = as_label_array(y_true, "y_true")
    s = _as_scores(y_score, "y_pred", 2)
    k = int(num_classes)
    if s.shape[1] != k:
        raise ValueError(f"y_pred scores have {s.shape[1]} columns, expected num_classes={k}")
    if t.shape[0] != s.shape[0]:
        raise ValueError(f"y_true and y_pred differ in length: {t.shape[0]} != {s.shape[0]}")
    w = None if sample_weight is None else as_weight_array(sample_weight, t.shape[0])
    counts = np.zeros((k, k), dtype=np.int64)
    weighted = None if w is None else np.zeros((k, k), dtype=np.float64)
    if core.argmax_scores(t, s, counts, weighted, w):
        _raise_bad_scores(t, s, k, y_true)
    return counts, weighted


# ---------------------------------------------------------------------------
# multilabel
# ---------------------------------------------------------------------------


@dataclass
class MultilabelCounts:
    """Counts of two (n, L) indicator matrices.

    Attributes
    ----------
    mcm : ndarray, shape (L, 2, 2)
        Per label ``[[tn, fp], [fn, tp]]``; int64, or float64 weight sums.
    exact : int or float
        Rows predicted exactly (weight sum when weighted).
    per_sample : ndarray of int32, shape (n, 3), or None
        Each row's number of true, predicted and correctly predicted labels.
    n : int
        Number of rows.
    plain : ndarray of int64, shape (4 L + 1,)
        Unweighted counts in the core's flat layout (``plain[4 l + 2 t + p]``, then
        the exact-match count), whether or not weights were given.
    """

    mcm: np.ndarray
    exact: float
    per_sample: np.ndarray | None
    n: int
    plain: np.ndarray


def _as_indicator(x: object, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-dimensional indicator matrix, got shape {arr.shape}")
    if arr.dtype.kind in "biu":
        return signed_view(arr)
    if arr.dtype.kind == "f":
        _raise_not_indicator({name: arr})
        return arr.astype(np.int8)
    raise TypeError(f"{name} must be a numeric 0/1 indicator matrix, got dtype {arr.dtype}")


def _raise_not_indicator(arrays: dict[str, np.ndarray]) -> None:
    for name, arr in arrays.items():
        bad = np.argwhere((arr != 0) & (arr != 1))
        if bad.size:
            r, c = bad[0]
            raise ValueError(
                f"{name} must hold 0/1 entries, got {arr[r, c].item()!r} at ({r}, {c})"
            )


def _finish_multilabel(counts: np.ndarray, weighted: np.ndarray | None, L: int,
                       per_sample: np.ndarray | None, n: int) -> MultilabelCounts:
    src = counts if weighted is None else weighted
    mcm = src[: 4 * L].reshape(L, 2, 2)
    exact = src[4 * L]
    return MultilabelCounts(mcm=mcm, exact=exact.item(), per_sample=per_sample, n=n,
                            plain=counts)


def _count_multilabel(t: np.ndarray, other: np.ndarray, sample_weight: object,
                      per_sample: bool, kernel) -> tuple[int, MultilabelCounts]:
    """Allocate the buffers, run ``kernel(counts, weighted, w, rows)``; return (nbad, counts)."""
    if t.shape != other.shape:
        raise ValueError(f"y_true and y_pred differ in shape: {t.shape} != {other.shape}")
    n, L = t.shape
    w = None if sample_weight is None else as_weight_array(sample_weight, n)
    counts = np.zeros(4 * L + 1, dtype=np.int64)
    weighted = None if w is None else np.zeros(4 * L + 1, dtype=np.float64)
    rows = np.zeros((n, 3), dtype=np.int32) if per_sample else None
    nbad = kernel(counts, weighted, w, rows)
    return nbad, _finish_multilabel(counts, weighted, L, rows, n)


def multilabel_counts(y_true: object, y_pred: object, sample_weight: object = None, *,
                      per_sample: bool = False) -> MultilabelCounts:
    """Count two (n, L) 0/1 indicator matrices in one pass.

    Raises ``ValueError`` for shapes that differ or an entry outside {0, 1}.
    """
    t = _as_indicator(y_true, "y_true")
    p = _as_indicator(y_pred, "y_pred")
    nbad, mc = _count_multilabel(
        t, p, sample_weight, per_sample,
        lambda c, wc, w, rows: core.multilabel_labels(t, p, c, wc, w, rows))
    if nbad:
        _raise_not_indicator({"y_true": np.asarray(y_true), "y_pred": np.asarray(y_pred)})
    return mc


def multilabel_threshold(y_true: object, y_score: object, threshold: float,
                         sample_weight: object = None, *,
                         per_sample: bool = False) -> MultilabelCounts:
    """:func:`multilabel_counts` with predictions ``y_score >= threshold``."""
    t = _as_indicator(y_true, "y_true")
    s = _as_scores(y_score, "y_pred", 2)
    thr = float(threshold)
    nbad, mc = _count_multilabel(
        t, s, sample_weight, per_sample,
        lambda c, wc, w, rows: core.multilabel_scores(t, s, thr, c, wc, w, rows))
    if nbad:
        _raise_not_indicator({"y_true": np.asarray(y_true)})
        bad = np.argwhere(~np.isfinite(s))[0]
        raise ValueError(f"y_pred has a non-finite score at ({bad[0]}, {bad[1]})")
    return mc
