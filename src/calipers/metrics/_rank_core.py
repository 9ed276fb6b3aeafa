"""Ranking kernels behind every score metric: sorted curves, exact AUC / AP, histograms.

This module is the one door from the score metrics (drop-ins, streaming classes,
bootstrap) to the compiled core: :mod:`calipers._core._ranking` (sort and walk) and
:mod:`calipers._core._histogram` (binned counts). Callers pass 1-D arrays: ``pos`` a
mask of positives (bool, or anything whose nonzero entries are positives), ``scores``
float32/float64 (see :func:`as_scores`), ``weights`` float64 or ``None``. Labels and
weights are made contiguous here; 1-D scores are read in place at any positive stride
(a column of a C-ordered score matrix needs no copy). The kernels release the GIL.

Exact path: semantics follow scikit-learn's ``confusion_matrix_at_thresholds``:
thresholds are the distinct scores in decreasing order (``-0.0`` and ``+0.0`` are one
score), a sample counts as predicted positive at threshold ``t`` when ``score >= t``,
samples of weight 0 are dropped, and counts are accumulated in int64 / float64 whatever
the input dtype (no loss above 2**24 samples with float32 scores). The core radix-sorts
the scores' order-preserving integer keys, positives and negatives apart, and one walk
yields the exact AUC (unweighted: an exact integer count of ordered pairs, ties half),
the average precision and the curve.

Binned path (bounded memory, mergeable by addition): :func:`binned_hist` and its
multiclass / multilabel variants count scores into ``bins`` equal bins of
``[lo, hi]``, negatives in ``[..., 0]`` and positives in ``[..., 1]``.
:func:`binned_auc`, :func:`binned_ap` and :func:`binned_clf_curve` read a histogram in
O(bins) and report how far the exact value can be. :func:`binned_hist_checked` counts
integer labels in their own dtype and checks labels and scores in the same pass.
"""

from __future__ import annotations

import numpy as np

from calipers._core import _histogram
from calipers._core import _ranking as core
from calipers.metrics._rank_binned import (
    bin_edges,
    binned_ap,
    binned_auc,
    binned_auc_interval,
    binned_clf_curve,
    rescaled,
)

__all__ = [
    "as_scores",
    "bin_edges",
    "binary_auc",
    "binary_auc_ap",
    "binary_auc_ap_columns",
    "binary_ap",
    "binary_clf_curve",
    "binary_stats",
    "binned_ap",
    "binned_auc",
    "binned_auc_interval",
    "binned_clf_curve",
    "binned_hist",
    "binned_hist_checked",
    "binned_hist_multiclass",
    "binned_hist_multilabel",
]


def as_scores(y_score: object, name: str = "y_score") -> np.ndarray:
    """Return ``y_score`` as a C-contiguous float32 or float64 array.

    float32 and float64 are kept; bool and integer scores become float64. Complex,
    object, string and datetime scores raise ``TypeError``; NaN or infinite scores
    raise ``ValueError`` naming ``name``.
    """
    arr = np.asarray(y_score)
    if arr.dtype.kind == "f":
        if arr.dtype not in (np.float32, np.float64):
            arr = arr.astype(np.float64)
    elif arr.dtype.kind in "biu":
        arr = arr.astype(np.float64)
    else:
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr)
    if arr.size and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return arr


def _mask(pos: object, n: int | None = None) -> np.ndarray:
    """``pos`` as a C-contiguous uint8 array of 0/1 (a view when it is a bool array)."""
    m = np.asarray(pos)
    if m.dtype != np.bool_:
        m = m != 0
    m = np.ascontiguousarray(m).view(np.uint8)
    if n is not None and m.shape[:1] != (n,):
        raise ValueError(f"labels have shape {m.shape}, expected {n} rows")
    return m


def _float_scores(scores: object, shape: str, what: str = "scores",
                  contiguous: bool = True) -> np.ndarray:
    """``scores`` as float32 / float64 (others through :func:`as_scores`) of the
    dimensions ``shape`` (``"1-D"``, ``"2-D (n, C)"``) names, else ``ValueError``.
    Unless ``contiguous``, a float array keeps its strides (read in place)."""
    s = np.asarray(scores)
    if s.dtype not in (np.float32, np.float64):
        s = as_scores(s)
    if s.ndim != int(shape[0]):
        raise ValueError(f"{what} must be {shape}, got shape {s.shape}")
    return np.ascontiguousarray(s) if contiguous else s


def _weights(weights: object, n: int, *, rescale: bool = False) -> np.ndarray | None:
    if weights is None:
        return None
    w = np.ascontiguousarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"weights have shape {w.shape}, expected ({n},)")
    return rescaled(w) if rescale else w


def _binary_inputs(pos, scores, weights, rescale=True):
    s = _float_scores(scores, "1-D", contiguous=False)
    stride = s.strides[0]
    if s.shape[0] > 1 and (stride <= 0 or stride % s.itemsize):
        # the sort reads any positive whole-item stride in place (a matrix column)
        s = np.ascontiguousarray(s)
    return _mask(pos, s.shape[0]), s, _weights(weights, s.shape[0], rescale=rescale)


def _keys_to_scores(keys: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Invert the core's order-preserving keys (uint64 / uint32) back to floats."""
    if keys.dtype == np.uint64:
        sign = np.uint64(1 << 63)
    else:
        sign = np.uint32(1 << 31)
    bits = np.where(keys & sign, keys ^ sign, ~keys)
    return bits.view(dtype)


def binary_stats(pos: np.ndarray, scores: np.ndarray,
                 weights: np.ndarray | None = None) -> dict:
    """The raw sums of one sort and walk (for callers that need more than AUC / AP).

    Returns a dict with ``auc_num`` (unweighted: the exact int ``2 x ordered pairs +
    tied pairs``; weighted: float64 weight of ordered pairs plus half the tied ones),
    ``ap_sum`` (``sum_k p_k x precision_k`` over the distinct thresholds), ``tp`` /
    ``fp`` (total positive / negative weight) and ``n_pos`` / ``n_neg`` (samples kept).
    """
    p, s, w = _binary_inputs(pos, scores, weights)
    stats, _ = core.rank_binary(p, s, w, False)
    return dict(zip(("auc_num", "ap_sum", "tp", "fp", "n_pos", "n_neg"), stats, strict=True))


def _auc(stats, weighted: bool) -> float:
    auc_num, _, tp, fp, n_pos, n_neg = stats
    if tp <= 0 or fp <= 0:
        return float("nan")
    if not weighted:
        return auc_num / (2 * n_pos * n_neg)  # int / int: correctly rounded
    return float(auc_num / (tp * fp))


def _ap(stats) -> float:
    _, ap_sum, tp, _, _, _ = stats
    if tp <= 0:
        return float("nan")
    return max(0.0, float(ap_sum / tp))


def binary_clf_curve(
    pos: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(fps, tps, thresholds)``: cumulative weights at each distinct score.

    ``thresholds`` are the distinct scores (weight-0 samples dropped) in decreasing
    order, in ``scores``' dtype (a zero threshold is ``+0.0``); ``fps[i]`` / ``tps[i]``
    are the float64 total weights of negatives / positives with
    ``score >= thresholds[i]``.
    """
    p, s, w = _binary_inputs(pos, scores, weights, rescale=False)
    _, (fps, tps, keys) = core.rank_binary(p, s, w, True)
    return fps, tps, _keys_to_scores(keys, s.dtype)


def binary_auc(pos: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Exact ROC AUC (ties count half); NaN when either class has no weight."""
    p, s, w = _binary_inputs(pos, scores, weights)
    return _auc(core.rank_binary(p, s, w, False)[0], w is not None)


def binary_ap(pos: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Average precision as scikit-learn computes it; NaN when there are no positives.

    ``sum_k (R_k - R_{k-1}) P_k`` over the distinct thresholds, decreasing.
    """
    p, s, w = _binary_inputs(pos, scores, weights)
    return _ap(core.rank_binary(p, s, w, False)[0])


def binary_auc_ap(
    pos: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None
) -> tuple[float, float]:
    """``(binary_auc, binary_ap)`` from one sort."""
    p, s, w = _binary_inputs(pos, scores, weights)
    stats = core.rank_binary(p, s, w, False)[0]
    return _auc(stats, w is not None), _ap(stats)


def _positive_strides(a: np.ndarray) -> np.ndarray:
    if a.size > 1 and any(st <= 0 or st % a.itemsize for st, d in zip(a.strides, a.shape,
                                                                        strict=True) if d > 1):
        return np.ascontiguousarray(a)
    return a


def binary_auc_ap_columns(
    pos: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact AUC and AP of every column of (n, C) ``scores`` against (n, C) ``pos``.

    The same numbers as :func:`binary_auc_ap` column by column (one-vs-rest: pass
    ``pos = labels[:, None] == classes``; multilabel: the indicator matrix), computed
    with the columns spread over the threads, each sorted by one thread: no copy of a
    C- or F-ordered matrix and no synchronisation inside a column, which beats
    per-column calls for many mid-sized columns. Returns two float64 arrays (C,), NaN
    where :func:`binary_auc` / :func:`binary_ap` give NaN.
    """
    s = _float_scores(scores, "2-D (n, C)", contiguous=False)
    m = np.asarray(pos)
    if m.shape != s.shape:
        raise ValueError(f"pos has shape {m.shape}, scores {s.shape}")
    if m.dtype != np.bool_:
        m = m != 0
    w = _weights(weights, s.shape[0], rescale=True)
    stats = core.rank_columns(_positive_strides(m).view(np.uint8), _positive_strides(s), w)
    auc = np.array([_auc(st, w is not None) for st in stats], dtype=np.float64)
    ap = np.array([_ap(st) for st in stats], dtype=np.float64)
    return auc, ap


# ---------------------------------------------------------------------------
# histograms
# ---------------------------------------------------------------------------

_HIST_SCORES = {
    "binary": ("1-D", "scores"),
    "multiclass": ("2-D (n, C)", "multiclass scores"),
    "multilabel": ("2-D (n, L)", "multilabel scores"),
}


def _bin_spec(bins: int, lo: float, hi: float) -> tuple[int, float, float]:
    """Check a histogram's ``bins`` and score range; return them as int, float, float."""
    bins = int(bins)
    if bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins}")
    lo, hi = float(lo), float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"the score range must be finite with lo < hi, got ({lo}, {hi})")
    return bins, lo, hi


def _binned(kind: str, labels: object, scores: object, weights: object, bins: int,
            lo: float, hi: float) -> np.ndarray:
    """Check the inputs of one ``binned_hist*`` call (``kind``: binary, multiclass or
    multilabel) and count them; returns (C, bins, 2), (bins, 2) for binary."""
    s = _float_scores(scores, *_HIST_SCORES[kind])
    pos = indicators = lab = None
    if kind == "binary":
        pos = _mask(labels, s.shape[0])
    elif kind == "multiclass":
        lab = np.asarray(labels)
        if lab.dtype.kind not in "biu":
            raise TypeError(f"multiclass labels must be integers, got dtype {lab.dtype}")
        if lab.shape != (s.shape[0],):
            raise ValueError(f"labels have shape {lab.shape}, expected ({s.shape[0]},)")
        lab = np.ascontiguousarray(lab, dtype=np.int64)
    else:
        ind = np.asarray(labels)
        if ind.shape != s.shape:
            raise ValueError(f"indicators have shape {ind.shape}, scores {s.shape}")
        indicators = _mask(ind)
    bins, lo, hi = _bin_spec(bins, lo, hi)
    w = _weights(weights, s.shape[0])
    edges = bin_edges(bins, lo, hi)
    counts, wcounts, nbad = _histogram.histogram(s, pos, indicators, lab, w, edges, lo, hi)
    if nbad:
        raise ValueError(
            f"{nbad} labels are outside [0, {s.shape[1]}): multiclass labels must be "
            "class indices"
        )
    hist = counts if wcounts is None else wcounts
    return hist[0] if kind == "binary" else hist


def binned_hist(
    pos: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None, *,
    bins: int = 10_000, lo: float = 0.0, hi: float = 1.0,
) -> np.ndarray:
    """Histogram binary scores into ``bins`` equal bins of ``[lo, hi]``, per class.

    Bin ``i`` is ``[lo + i*w, lo + (i+1)*w)`` with ``w = (hi - lo) / bins``, the last
    bin closed; scores below ``lo`` / above ``hi`` are counted in the first / last bin
    (clamped, so every sample stays in the histogram and the bounds of
    :func:`binned_auc` / :func:`binned_ap` stay honest). At the threshold ``edge_i``
    (:func:`bin_edges`) a sample counts as positive when ``score >= edge_i``, as in
    torchmetrics and scikit-learn (Keras uses ``>``).

    Returns
    -------
    ndarray of shape (bins, 2)
        ``[:, 0]`` negatives, ``[:, 1]`` positives: int64 counts, or float64 weight
        sums when ``weights`` is given. Histograms of the same ``(bins, lo, hi)``
        merge by addition.
    """
    return _binned("binary", pos, scores, weights, bins, lo, hi)


def binned_hist_multiclass(
    labels: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None, *,
    bins: int = 10_000, lo: float = 0.0, hi: float = 1.0,
) -> np.ndarray:
    """One-vs-rest histograms of an (n, C) score matrix: shape (C, bins, 2).

    Column ``c`` is histogrammed with positives ``labels == c``; ``labels`` are class
    indices in ``[0, C)`` (``ValueError`` otherwise). Bins as :func:`binned_hist`.
    """
    return _binned("multiclass", labels, scores, weights, bins, lo, hi)


def binned_hist_multilabel(
    indicators: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None, *,
    bins: int = 10_000, lo: float = 0.0, hi: float = 1.0,
) -> np.ndarray:
    """Per-label histograms of (n, L) scores with (n, L) 0/1 indicators: (L, bins, 2).

    Nonzero indicators are positives. Bins as :func:`binned_hist`.
    """
    return _binned("multilabel", indicators, scores, weights, bins, lo, hi)


def binned_hist_checked(
    labels: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None, *,
    bins: int = 10_000, lo: float = 0.0, hi: float = 1.0,
) -> tuple[np.ndarray, int, int]:
    """:func:`binned_hist` of integer labels, checked in the same pass as the counting.

    ``labels`` is a 1-D bool or integer array of any width (native byte order), read
    in its own dtype (no conversion copy); ``scores`` 1-D float32 / float64. One pass
    counts the histogram, the labels outside {0, 1} and the NaN / infinite scores.

    Returns
    -------
    hist : ndarray of shape (bins, 2)
        As :func:`binned_hist`. Meaningless unless both counts below are 0: the caller
        must then discard it (and report the bad input).
    n_bad_labels : int
    n_nonfinite_scores : int
    """
    t = np.asarray(labels)
    if t.dtype.kind not in "biu" or t.ndim != 1:
        raise TypeError(f"labels must be a 1-D bool or integer array, got {t.dtype} {t.shape}")
    if not t.dtype.isnative:
        t = t.astype(t.dtype.newbyteorder("="))
    s = np.asarray(scores)
    if s.dtype not in (np.float32, np.float64) or s.ndim != 1:
        raise TypeError(f"scores must be 1-D float32 or float64, got {s.dtype} {s.shape}")
    if s.shape != t.shape:
        raise ValueError(f"labels have shape {t.shape}, scores {s.shape}")
    bins, lo, hi = _bin_spec(bins, lo, hi)
    w = _weights(weights, s.shape[0])
    counts, wcounts, nbad, nnan = _histogram.histogram_binary_checked(
        np.ascontiguousarray(s), np.ascontiguousarray(t), w, bin_edges(bins, lo, hi), lo, hi)
    return (counts if wcounts is None else wcounts), int(nbad), int(nnan)
