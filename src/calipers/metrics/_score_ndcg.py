"""Streaming NDCG: the (weighted) mean of each row's normalized DCG, a sum state."""

from __future__ import annotations

from typing import Any

import numpy as np

from calipers.metrics import _rank_core
from calipers.metrics._ranking_state import parse_weights
from calipers.metrics._score_metrics import SumMetric, _ratio, _weighted_sum
from calipers.metrics._state import to_numpy

__all__ = ["Ndcg", "dcg_rows"]


def dcg_rows(gains: np.ndarray, scores: np.ndarray, discount: np.ndarray,
             ignore_ties: bool) -> np.ndarray:
    """Per row, the DCG of ``gains`` ranked by decreasing ``scores`` (both (n, L)).

    Tied scores share their positions' discounts equally (their mean gain times the
    sum of their discounts), as scikit-learn; ``ignore_ties`` ranks by
    ``np.argsort`` order instead (the same order scikit-learn uses).
    """
    n, L = gains.shape
    if ignore_ties:
        order = np.argsort(scores)[:, ::-1]
        return np.take_along_axis(gains, order, axis=1) @ discount
    order = np.argsort(-scores, axis=1, kind="stable")
    s = np.take_along_axis(scores, order, axis=1)
    g = np.take_along_axis(gains, order, axis=1).astype(np.float64)
    starts = np.ones((n, L), dtype=bool)
    starts[:, 1:] = s[:, 1:] != s[:, :-1]
    group = np.cumsum(starts.ravel()) - 1
    size = np.bincount(group)
    gain_sum = np.bincount(group, weights=g.ravel())
    disc_sum = np.bincount(group, weights=np.broadcast_to(discount, (n, L)).ravel())
    row = np.repeat(np.arange(n), L)[starts.ravel()]
    return np.bincount(row, weights=gain_sum / size * disc_sum, minlength=n)


class Ndcg(SumMetric):
    """Normalized discounted cumulative gain, as ``sklearn.metrics.ndcg_score``: the
    (sample-weighted) mean over rows of each row's NDCG.

    ``update(y_true, y_score, sample_weight=None)``: ``y_true`` non-negative
    relevances and ``y_score`` scores, both of shape (n, L) with L >= 2; a row with
    no relevant entry scores 0.

    Parameters
    ----------
    k : int, optional
        Only the top ``k`` positions count.
    ignore_ties : bool
        Rank tied scores in an arbitrary order instead of averaging them (faster).
    """

    name = "ndcg"
    fields = ("gain", "weight")

    def __init__(self, *, k: int | None = None, ignore_ties: bool = False) -> None:
        if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer))
                              or k < 1):
            raise ValueError(f"k must be None or an integer >= 1, got {k!r}")
        self.k = None if k is None else int(k)
        self.ignore_ties = bool(ignore_ties)
        super().__init__()

    @property
    def options(self) -> dict[str, Any]:
        return {"k": self.k, "ignore_ties": self.ignore_ties}

    def _batch_sums(self, y_true, y_score, sample_weight):
        t = np.asarray(to_numpy(y_true))
        if t.dtype.kind not in "biuf":
            raise TypeError(f"y_true must hold numeric relevances, got dtype {t.dtype}")
        t = _rank_core.as_scores(t, "y_true")
        s = _rank_core.as_scores(to_numpy(y_score))
        if t.ndim != 2 or t.shape != s.shape:
            raise ValueError(f"y_true and y_score must both have shape (n, L), got {t.shape} "
                             f"and {s.shape}")
        if t.shape[1] <= 1:
            raise ValueError("Computing NDCG is only meaningful when there is more than 1 "
                             f"document. Got {t.shape[1]} instead.")
        if t.size and t.min() < 0:
            raise ValueError("ndcg_score should not be used on negative y_true values.")
        w = parse_weights(sample_weight, t.shape[0])
        discount = 1 / np.log2(np.arange(t.shape[1]) + 2)
        if self.k is not None:
            discount[self.k:] = 0
        gain = dcg_rows(t, s, discount, self.ignore_ties)
        ideal = dcg_rows(t, t, discount, ignore_ties=True)
        relevant = ideal != 0
        ndcg = np.zeros_like(gain)
        ndcg[relevant] = gain[relevant] / ideal[relevant]
        return _weighted_sum(ndcg, w), t.shape[0]

    def _value(self, sums):
        return _ratio(sums["gain"], sums["weight"], self.name)
