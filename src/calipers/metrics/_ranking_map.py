"""Streaming retrieval mean average precision over queries (``map``)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from calipers.metrics._base import OptionsMetric
from calipers.metrics._compute import UndefinedMetricWarning
from calipers.metrics._counts import as_label_array
from calipers.metrics._ranking_base import warn_empty
from calipers.metrics._ranking_state import ScoreBatches, parse_scores
from calipers.metrics._state import to_numpy

__all__ = ["MeanAveragePrecision", "query_average_precision"]

EMPTY_QUERY = ("zero", "one", "skip", "error")


def query_average_precision(query_ids: np.ndarray, relevant: np.ndarray, scores: np.ndarray,
                            weights: np.ndarray | None = None
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Average precision of each query, in one sort of all items.

    Per query, AP is ``sklearn.metrics.average_precision_score`` of its items:
    the sum over its distinct scores (decreasing; tied items form one threshold)
    of the recall gained there times the precision there. Items of weight 0 are
    dropped, as scikit-learn does.

    Parameters
    ----------
    query_ids : ndarray of int64, shape (n,)
    relevant : ndarray of bool, shape (n,)
    scores : ndarray of float, shape (n,)
    weights : ndarray of float64, shape (n,), optional

    Returns
    -------
    queries : ndarray of int64
        The distinct query ids, increasing.
    ap : ndarray of float64
        Each query's AP (0 where it has no relevant weight).
    positives : ndarray of float64
        Each query's relevant count (weight sum); 0 marks an empty query.
    """
    queries = np.unique(query_ids)
    if weights is not None:
        keep = weights != 0
        query_ids, relevant, scores, weights = (query_ids[keep], relevant[keep], scores[keep],
                                                weights[keep])
    order = np.lexsort((-scores, query_ids))
    q, s = query_ids[order], scores[order]
    rel = relevant[order]
    w = np.ones(q.shape[0]) if weights is None else weights[order]
    new = np.ones(q.shape[0], dtype=bool)
    new[1:] = (q[1:] != q[:-1]) | (s[1:] != s[:-1])
    group = np.cumsum(new) - 1
    pos = np.bincount(group, weights=np.where(rel, w, 0.0))
    neg = np.bincount(group, weights=np.where(rel, 0.0, w))
    gq = q[new]
    starts = np.ones(gq.shape[0], dtype=bool)
    starts[1:] = gq[1:] != gq[:-1]
    qi = np.cumsum(starts) - 1
    cpos, cneg = np.cumsum(pos), np.cumsum(neg)
    first = np.flatnonzero(starts)
    tps = cpos - (cpos - pos)[first][qi]
    fps = cneg - (cneg - neg)[first][qi]
    positives_kept = np.bincount(qi, weights=pos)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tps + fps != 0, tps / (tps + fps), 0.0)
        share = np.where(positives_kept[qi] > 0, pos / positives_kept[qi], 0.0)
    ap_kept = np.maximum(np.bincount(qi, weights=share * precision), 0.0)
    # queries whose items all had weight 0 are empty
    idx = np.searchsorted(queries, gq[starts])
    ap, positives = np.zeros(queries.shape[0]), np.zeros(queries.shape[0])
    ap[idx], positives[idx] = ap_kept, positives_kept
    return queries, ap, positives


class MeanAveragePrecision(OptionsMetric):
    """Retrieval mean average precision: the mean over queries of each query's AP.

    ``update(y_true, y_score, sample_weight=None, *, query_ids)``: one row per
    (query, item): ``y_true`` 0/1 relevance, ``y_score`` the item's score,
    ``query_ids`` integer query ids (map other ids to integers first), all of shape
    (n,); ``sample_weight`` weighs items inside their query's AP. A query's items
    may arrive in any batches. Each query's AP is
    ``sklearn.metrics.average_precision_score`` of its items (ties: one threshold);
    every query counts equally in the mean. The state keeps all items (exact; merged
    by concatenation).

    Parameters
    ----------
    empty_query : {'zero', 'one', 'skip', 'error'}
        A query without relevant items (relevant weight 0) has no AP. 'zero' (the
        default; scikit-learn's AP of such a query and torchmetrics' default) counts
        it as 0, 'one' as 1, 'skip' leaves it out of the mean, 'error' raises
        ``ValueError`` in :meth:`compute`. With no query left (no samples, or every
        query skipped) the value is NaN with an ``UndefinedMetricWarning``.
    """

    name = "map"
    inputs = "scores"

    def __init__(self, *, empty_query: str = "zero") -> None:
        super().__init__()
        if empty_query not in EMPTY_QUERY:
            raise ValueError(
                f"empty_query must be one of {', '.join(map(repr, EMPTY_QUERY))}, got "
                f"{empty_query!r}"
            )
        self.empty_query = empty_query
        self._state = self._new_state()

    @property
    def options(self) -> dict[str, Any]:
        return {"empty_query": self.empty_query}

    def _new_state(self) -> ScoreBatches:
        return ScoreBatches(("y_true", "y_score", "query_ids"))

    def update(self, y_true: Any, y_score: Any, sample_weight: Any = None, *,
               query_ids: Any = None) -> None:
        """Add a batch of (query, item) rows; see the class docstring."""
        if query_ids is None:
            raise TypeError("map.update() needs query_ids=: one integer query id per row")
        labels, scores, w = parse_scores("binary", 2, y_true, y_score, sample_weight)
        q = as_label_array(to_numpy(query_ids), "query_ids").astype(np.int64)
        if q.shape[0] != labels.shape[0]:
            raise ValueError(
                f"query_ids has {q.shape[0]} entries but y_true has {labels.shape[0]}"
            )
        with self._lock:
            self._state.add((labels, scores, q), w)

    def per_query(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(query_ids, ap, positives)`` of every query seen (see
        :func:`query_average_precision`)."""
        with self._lock:
            (t, s, q), w = self._state.arrays()
            return query_average_precision(q, t, s, w)

    def compute(self) -> float:
        with self._lock:
            if self._state.n == 0:
                warn_empty(self.name)
                return float("nan")
            queries, ap, positives = self.per_query()
        empty = positives <= 0
        if empty.any():
            if self.empty_query == "error":
                raise ValueError(
                    f"{int(empty.sum())} queries have no relevant items (e.g. query "
                    f"{queries[empty][0]}); choose empty_query='zero', 'one' or 'skip'"
                )
            if self.empty_query == "skip":
                ap = ap[~empty]
            else:
                ap = np.where(empty, 1.0 if self.empty_query == "one" else 0.0, ap)
        if ap.size == 0:
            warnings.warn("map: every query has no relevant items and empty_query='skip'; "
                          "returning NaN.", UndefinedMetricWarning, stacklevel=2)
            return float("nan")
        return float(np.mean(ap))
