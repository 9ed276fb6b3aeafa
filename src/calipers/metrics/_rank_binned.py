"""Binned ROC / PR from a score histogram: values with their worst-case error bounds.

A histogram (see :func:`calipers.metrics._rank_core.binned_hist`) has shape (B, 2):
``[:, 0]`` negatives and ``[:, 1]`` positives in ``B`` equal bins of ``[lo, hi]``,
int64 counts or float64 weight sums. Everything here is pure numpy and O(B); bins are
read from the highest down (decreasing scores).

Re-exported by :mod:`calipers.metrics._rank_core`; import it from there.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["bin_edges", "binned_ap", "binned_auc", "binned_auc_interval", "binned_clf_curve",
           "rescaled"]

# p up to this many positives in one bin: harmonic sums are added term by term.
_EXACT_TERMS = 32

#: Weight magnitudes (largest weight x count, or largest weight) outside this range are
#: rescaled before AUC / AP: their sums of products would overflow or lose bits.
_SAFE_LOW, _SAFE_HIGH = 2.0 ** -300, 2.0 ** 300


def rescaled(w: np.ndarray) -> np.ndarray:
    """``w`` times a power of two when its magnitude is extreme, else ``w`` itself.

    AUC and AP are ratios of (sums of products of) weights, so an exact power-of-two
    scale leaves them unchanged, while huge weights (around 1e154 and above: the
    products overflow to inf) or subnormal ones (about 1e-308 and below: they lose
    bits, or underflow to 0) are brought to a total near 1. Ordinary weights are
    returned as they are (the same bits as without this step).
    """
    if w.size == 0:
        return w
    top = float(np.max(np.abs(w)))
    if not (np.isfinite(top) and top > 0):
        return w
    size = top * w.size
    if _SAFE_LOW <= top and size <= _SAFE_HIGH:
        return w
    shift = math.frexp(top)[1] + max(1, int(w.size).bit_length())
    return np.ldexp(w, -shift)


def bin_edges(bins: int, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    """Lower edges ``lo + i * (hi - lo) / bins`` of the bins, increasing, float64.

    These are the thresholds of the binned curves, and the histogram kernel places a
    score by comparing it with exactly these numbers: the score lands in the last bin
    whose edge is ``<= score`` (the first bin when none is).
    """
    width = (float(hi) - float(lo)) / int(bins)
    return float(lo) + np.arange(int(bins), dtype=np.float64) * width


def _desc(hist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h = np.asarray(hist)
    if h.ndim != 2 or h.shape[1] != 2:
        raise ValueError(f"a score histogram has shape (bins, 2), got {h.shape}")
    h = h.astype(np.float64)
    if not np.issubdtype(np.asarray(hist).dtype, np.integer):  # weight sums
        h = rescaled(h.reshape(-1)).reshape(h.shape)
    return h[::-1, 0], h[::-1, 1]


def binned_auc(hist: np.ndarray) -> tuple[float, float]:
    """ROC AUC of a histogram and its worst-case error: ``(auc, bound)``.

    Pairs (positive, negative) in different bins are ordered exactly; pairs sharing a
    bin get half credit, so the AUC of the underlying scores (ties half, as
    scikit-learn) is within ``bound = 0.5 * sum_b pos_b * neg_b / (P * N)`` of
    ``auc``: ``auc - bound`` gives those pairs no credit, ``auc + bound`` full credit
    (:func:`binned_auc_interval`). NaN for both when a class has no weight.
    """
    neg, pos = _desc(hist)
    p_tot, n_tot = pos.sum(), neg.sum()
    if not (p_tot > 0 and n_tot > 0):
        return float("nan"), float("nan")
    above = np.cumsum(pos) - pos
    pairs = p_tot * n_tot
    ties = float(np.dot(neg, pos))
    auc = (float(np.dot(neg, above)) + 0.5 * ties) / pairs
    return float(auc), float(0.5 * ties / pairs)


def binned_auc_interval(hist: np.ndarray) -> tuple[float, float, float]:
    """``(auc, lower, upper)``: same-bin pairs get half, no and full credit."""
    auc, bound = binned_auc(hist)
    return auc, auc - bound, auc + bound


def _psi_tail(x: np.ndarray) -> np.ndarray:
    # digamma(x) - log(x), asymptotic; truncation error below 1e-16 for x >= 33
    r = 1.0 / (x * x)
    return -0.5 / x - r * (1 / 12 - r * (1 / 120 - r * (1 / 252 - r * (1 / 240))))


def harmonic_diff(a: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``sum_{j=1..p} 1 / (a + j)`` elementwise, for ``a >= 0`` and integer ``p >= 0``.

    Term by term for the first ``_EXACT_TERMS`` terms; the rest is
    ``digamma(a + p + 1) - digamma(a + 33)`` from the asymptotic series (relative
    error about 1e-16).
    """
    a = np.asarray(a, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    out = np.zeros(np.broadcast(a, p).shape)
    for j in range(1, _EXACT_TERMS + 1):
        out += np.where(p >= j, 1.0 / (a + j), 0.0)
    big = p > _EXACT_TERMS
    if big.any():
        ab, pb = np.broadcast_to(a, out.shape)[big], np.broadcast_to(p, out.shape)[big]
        x1 = ab + (_EXACT_TERMS + 1)
        x2 = ab + pb + 1
        out[big] += np.log1p((pb - _EXACT_TERMS) / x1) + _psi_tail(x2) - _psi_tail(x1)
    return out


def binned_ap(hist: np.ndarray) -> tuple[float, float, float]:
    """Average precision of a histogram with bounds: ``(ap, lower, upper)``.

    ``ap`` is scikit-learn's AP with every bin one tie group. ``[lower, upper]``
    holds scikit-learn's AP of the real scores (tie semantics included) whatever their
    order inside the bins. With ``T``, ``D`` the positive and total weight in higher
    bins and ``p``, ``n`` a bin's positives and negatives, the bin adds, times ``P``:

    - at most ``p (T + p) / (D + p)``: all its positives first, tied;
    - at least ``sum_{j=1..p} (T + j) / (D + n + j)``: negatives first, then
      positives one by one (counts; summed in O(1) with harmonic numbers), or, for a
      float (weighted) histogram, ``integral_0^p (T + x) / (D + n + x) dx
      = p - (D + n - T) log(1 + p / (D + n))``, which bounds the weighted sum from
      below when weights are >= 0 (each positive's precision is taken at its right
      end, where the increasing integrand is largest).

    NaN for all three when there are no positives.
    """
    counts = np.issubdtype(np.asarray(hist).dtype, np.integer)
    neg, pos = _desc(hist)
    p_tot = pos.sum()
    if not p_tot > 0:
        return float("nan"), float("nan"), float("nan")
    keep = pos > 0
    tot = pos + neg
    before_t = (np.cumsum(pos) - pos)[keep]
    before_d = (np.cumsum(tot) - tot)[keep]
    p, n = pos[keep], neg[keep]
    point = p * (before_t + p) / (before_d + p + n)
    upper = p * (before_t + p) / (before_d + p)
    dn = before_d + n
    gap = dn - before_t  # >= 0 for nonnegative weights
    if counts:
        lower = p - gap * harmonic_diff(dn, p)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            lower = np.where(dn > 0, p - gap * np.log1p(p / np.where(dn > 0, dn, 1.0)), p)
    return (float(point.sum() / p_tot), float(max(lower.sum(), 0.0) / p_tot),
            float(upper.sum() / p_tot))


def binned_clf_curve(
    hist: np.ndarray, lo: float = 0.0, hi: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fps, tps, thresholds)`` of a histogram, like ``binary_clf_curve``.

    ``thresholds`` are the lower edges (:func:`bin_edges`) of the non-empty bins,
    decreasing; ``fps[i]`` / ``tps[i]`` (float64) count the negatives / positives in
    that bin and above, that is with ``score >= thresholds[i]`` (clamped scores count
    in their edge bin).
    """
    neg, pos = _desc(hist)
    edges = bin_edges(neg.shape[0], lo, hi)[::-1]
    keep = (neg != 0) | (pos != 0)
    fps = np.cumsum(neg)[keep]
    tps = np.cumsum(pos)[keep]
    return fps, tps, edges[keep].copy()
