"""Ranking scores: drop-ins for scikit-learn's ``top_k_accuracy_score``, ``dcg_score``,
``ndcg_score`` and ``label_ranking_average_precision_score``.

Same signatures, results, warnings and errors as scikit-learn 1.9, computed without
per-sample Python loops: top-k counts the classes ranked ahead of the true one
(ties broken as scikit-learn's stable sort breaks them), DCG averages the gains of
tied scores per group through one sort of each row, and label ranking average
precision reads the ranks off one sort of each row.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np

from calipers.metrics._compute import UndefinedMetricWarning
from calipers.metrics._params import (
    ARRAY_LIKE,
    BOOLEAN,
    NONE,
    OPTIONAL_ARRAY,
    SPARSE,
    Y_DENSE,
    Constraint,
    validate,
)
from calipers.metrics._score_checks import (
    as_np,
    check_lengths,
    indicator_type,
    label_classes,
    score_array,
    weights_array,
)
from calipers.metrics._score_multi import check_label_list
from calipers.metrics._targets import BINARY, MULTICLASS, MULTILABEL

__all__ = [
    "dcg_score",
    "label_ranking_average_precision_score",
    "ndcg_score",
    "top_k_accuracy_score",
]

_K = Constraint(lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1,
                "an int in the range [1, inf)")
_LOG_BASE = Constraint(lambda v: isinstance(v, numbers.Real) and v > 0,
                       "a float in the range (0.0, inf)")
_RANKING_TYPES = ("multilabel-indicator", "continuous-multioutput", "multiclass-multioutput")


# ---------------------------------------------------------------------------
# top-k accuracy
# ---------------------------------------------------------------------------


def _top_k_hits(codes: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Whether each sample's class is among its ``k`` best scores.

    Classes are ranked by decreasing score; among equal scores the greater column
    comes first (the order of a reversed stable ascending sort).
    """
    n, n_classes = scores.shape
    true_score = scores[np.arange(n), codes][:, None]
    ahead = np.count_nonzero(scores > true_score, axis=1)
    later_columns = np.arange(n_classes)[None, :] > codes[:, None]
    ahead += np.count_nonzero((scores == true_score) & later_columns, axis=1)
    return ahead < k


def top_k_accuracy_score(y_true: Any, y_score: Any, *, k: int = 2, normalize: bool = True,
                         sample_weight: Any = None, labels: Any = None) -> float:
    """Share (or weight) of samples whose true class is among the ``k`` best scores.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Binary or multiclass labels.
    y_score : array-like of shape (n_samples,) or (n_samples, n_classes)
        Binary: scores of the greater label (with ``k=1`` a sample is predicted
        positive when its score exceeds 0.5 for scores in [0, 1], else 0).
        Multiclass: one column per class, in the order of the sorted classes (or
        ``labels``). NaN and infinity are refused.
    k : int, default=2
    normalize : bool, default=True
        False returns the number (weight) of hits.
    sample_weight : array-like of shape (n_samples,), default=None
    labels : array-like, default=None
        All the classes, sorted, when ``y_true`` does not hold them all.

    Returns
    -------
    float
    """
    validate("top_k_accuracy_score", {
        "y_true": (y_true, Y_DENSE), "y_score": (y_score, Y_DENSE), "k": (k, (_K,)),
        "normalize": (normalize, (BOOLEAN,)), "sample_weight": (sample_weight, OPTIONAL_ARRAY),
        "labels": (labels, OPTIONAL_ARRAY)})
    t = as_np(y_true)
    if t.ndim == 2 and t.shape[1] == 1:
        t = t.reshape(-1)
    if t.ndim != 1:
        raise ValueError(f"y_true should be a 1d array, got an array of shape {t.shape} instead.")
    y_type, classes = label_classes(t)
    if y_type == BINARY and labels is not None and as_np(labels).shape[0] > 2:
        y_type = MULTICLASS
    if y_type not in (BINARY, MULTICLASS):
        raise ValueError(f"y type must be 'binary' or 'multiclass', got '{y_type}' instead.")
    scores = score_array(y_score)
    if y_type == BINARY:
        if scores.ndim == 2 and scores.shape[1] != 1:
            raise ValueError(f"`y_true` is binary while y_score is 2d with {scores.shape[1]} "
                             "classes. If `y_true` does not contain all the labels, `labels` "
                             "must be provided.")
        scores = scores.reshape(-1)
    elif scores.ndim != 2:
        raise ValueError("`y_score` needs to be of shape `(n_samples, n_classes)`, since "
                         f"`y_true` contains multiple classes. Got `y_score.shape="
                         f"{scores.shape}`.")
    n = check_lengths(y_true=t, y_score=scores, sample_weight=as_np(sample_weight))
    weights = weights_array(sample_weight, n)
    n_score_classes = scores.shape[1] if scores.ndim == 2 else 2
    if labels is not None:
        classes = check_label_list(labels, t, n_score_classes, "y_score")
    elif classes.shape[0] != n_score_classes:
        raise ValueError(f"Number of classes in 'y_true' ({classes.shape[0]}) not equal to the "
                         f"number of classes in 'y_score' ({n_score_classes}).You can provide "
                         "a list of all known classes by assigning it to the `labels` "
                         "parameter.")
    n_classes = classes.shape[0]
    if k >= n_classes:
        warnings.warn(f"'k' ({k}) greater than or equal to 'n_classes' ({n_classes}) will "
                      "result in a perfect score and is therefore meaningless.",
                      UndefinedMetricWarning, stacklevel=2)
    codes = np.searchsorted(classes, t)
    if y_type == MULTICLASS:
        hits = _top_k_hits(codes, scores, k)
    elif k == 1:
        threshold = 0.5 if scores.min() >= 0 and scores.max() <= 1 else 0
        hits = (scores > threshold) == (codes == 1)
    else:
        hits = np.ones(n, dtype=bool)
    if normalize:
        return float(np.average(hits, weights=weights))
    return float(np.sum(hits) if weights is None else hits @ weights)


# ---------------------------------------------------------------------------
# DCG / NDCG
# ---------------------------------------------------------------------------


def _ranking_inputs(y_true: Any, y_score: Any, sample_weight: Any, *, ndcg: bool
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Checked ``(gains, scores, weights)`` of DCG / NDCG: two matrices of one shape."""
    gains = score_array(y_true, "y_true")
    scores = score_array(y_score)
    n = check_lengths(y_true=gains, y_score=scores, sample_weight=as_np(sample_weight))
    if ndcg:
        if gains.min() < 0:
            raise ValueError("ndcg_score should not be used on negative y_true values.")
        if gains.ndim > 1 and gains.shape[1] <= 1:
            raise ValueError("Computing NDCG is only meaningful when there is more than 1 "
                             f"document. Got {gains.shape[1]} instead.")
    y_type = indicator_type(gains) if gains.ndim == 2 and gains.shape[1] > 1 else (
        label_classes(gains.reshape(-1))[0])
    if y_type not in _RANKING_TYPES:
        raise ValueError(f"Only {_RANKING_TYPES} formats are supported. Got {y_type} instead")
    if scores.shape != gains.shape:
        raise ValueError(f"y_true and y_score have different shapes: {gains.shape} and "
                         f"{scores.shape}")
    return gains, scores, weights_array(sample_weight, n)


def _discount(n_labels: int, k: int | None, log_base: float) -> np.ndarray:
    discount = 1 / (np.log(np.arange(n_labels) + 2) / np.log(log_base))
    if k is not None:
        discount[k:] = 0
    return discount


def _dcg_per_sample(gains: np.ndarray, scores: np.ndarray, k: int | None,
                    log_base: float, ignore_ties: bool) -> np.ndarray:
    """Discounted cumulative gain of each row.

    With ``ignore_ties`` the rows are ranked by numpy's default sort of the scores,
    reversed (scikit-learn's order); otherwise tied scores share the mean of their
    gains over the sum of their positions' discounts.
    """
    n, m = gains.shape
    discount = _discount(m, k, log_base)
    if ignore_ties:
        ranking = np.argsort(scores)[:, ::-1]
        return np.take_along_axis(gains, ranking, axis=1) @ discount
    order = np.argsort(-scores, axis=1, kind="stable")
    ranked_scores = np.take_along_axis(scores, order, axis=1)
    starts = np.ones((n, m), dtype=bool)
    starts[:, 1:] = ranked_scores[:, 1:] != ranked_scores[:, :-1]
    group = np.cumsum(starts.reshape(-1)) - 1
    ranked_gains = np.take_along_axis(gains, order, axis=1).astype(np.float64).reshape(-1)
    n_groups = int(group[-1]) + 1
    gain_sum = np.bincount(group, weights=ranked_gains, minlength=n_groups)
    size = np.bincount(group, minlength=n_groups)
    discount_sum = np.bincount(group, weights=np.tile(discount, n), minlength=n_groups)
    row_of_group = np.repeat(np.arange(n), np.count_nonzero(starts, axis=1))
    return np.bincount(row_of_group, weights=gain_sum / size * discount_sum, minlength=n)


def dcg_score(y_true: Any, y_score: Any, *, k: int | None = None, log_base: float = 2,
              sample_weight: Any = None, ignore_ties: bool = False) -> float:
    """Discounted cumulative gain, averaged over samples.

    Parameters
    ----------
    y_true : array-like of shape (n_samples, n_labels)
        Gains (relevance) of each label.
    y_score : array-like of shape (n_samples, n_labels)
        Scores that rank the labels; NaN and infinity are refused.
    k : int, default=None
        Only the ``k`` best ranks count.
    log_base : float, default=2
        Base of the logarithm of the discount ``1 / log(rank + 1)``.
    sample_weight : array-like of shape (n_samples,), default=None
    ignore_ties : bool, default=False
        Rank tied scores in an arbitrary order (faster) instead of averaging them.

    Returns
    -------
    float
    """
    validate("dcg_score", {
        "y_true": (y_true, Y_DENSE), "y_score": (y_score, Y_DENSE), "k": (k, (_K, NONE)),
        "log_base": (log_base, (_LOG_BASE,)), "sample_weight": (sample_weight, OPTIONAL_ARRAY),
        "ignore_ties": (ignore_ties, (BOOLEAN,))})
    gains, scores, weights = _ranking_inputs(y_true, y_score, sample_weight, ndcg=False)
    return float(np.average(_dcg_per_sample(gains, scores, k, log_base, ignore_ties),
                            weights=weights))


def ndcg_score(y_true: Any, y_score: Any, *, k: int | None = None, sample_weight: Any = None,
               ignore_ties: bool = False) -> float:
    """Normalized discounted cumulative gain, averaged over samples.

    Each row's DCG is divided by the DCG of the ideal ranking (0 for rows without
    any gain).

    Parameters
    ----------
    y_true : array-like of shape (n_samples, n_labels)
        Non-negative gains of each label.
    y_score : array-like of shape (n_samples, n_labels)
        Scores that rank the labels; NaN and infinity are refused.
    k : int, default=None
    sample_weight : array-like of shape (n_samples,), default=None
    ignore_ties : bool, default=False

    Returns
    -------
    float in [0, 1]
    """
    validate("ndcg_score", {
        "y_true": (y_true, Y_DENSE), "y_score": (y_score, Y_DENSE), "k": (k, (_K, NONE)),
        "sample_weight": (sample_weight, OPTIONAL_ARRAY),
        "ignore_ties": (ignore_ties, (BOOLEAN,))})
    gains, scores, weights = _ranking_inputs(y_true, y_score, sample_weight, ndcg=True)
    gain = _dcg_per_sample(gains, scores, k, 2, ignore_ties)
    ideal = _dcg_per_sample(gains, gains, k, 2, True)
    relevant = ideal != 0
    gain = np.divide(gain, ideal, out=np.zeros_like(gain), where=relevant)
    return float(np.average(gain, weights=weights))


# ---------------------------------------------------------------------------
# label ranking average precision
# ---------------------------------------------------------------------------


def _lrap_per_sample(relevant: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Label ranking average precision of each row (1 for rows with no or all labels).

    For a relevant label ``r`` of a row, ``rank(r)`` counts the labels scored at least
    as high as ``r`` and ``L(r)`` the relevant ones among them; the row's value is the
    mean of ``L(r) / rank(r)``.
    """
    n, m = relevant.shape
    n_relevant = np.count_nonzero(relevant, axis=1)
    out = np.ones(n)
    rows = np.flatnonzero((n_relevant > 0) & (n_relevant < m))
    if rows.size == 0:
        return out
    sub_scores, sub_relevant = scores[rows], relevant[rows]
    order = np.argsort(-sub_scores, axis=1, kind="stable")
    ranked = np.take_along_axis(sub_scores, order, axis=1)
    ranked_relevant = np.take_along_axis(sub_relevant, order, axis=1)
    # Last position of each position's group of tied scores.
    ends = np.full(ranked.shape, m)
    is_end = np.ones(ranked.shape, dtype=bool)
    is_end[:, :-1] = ranked[:, :-1] != ranked[:, 1:]
    ends[is_end] = np.nonzero(is_end)[1]
    ends = np.minimum.accumulate(ends[:, ::-1], axis=1)[:, ::-1]
    relevant_ahead = np.take_along_axis(np.cumsum(ranked_relevant, axis=1), ends, axis=1)
    ratio = np.where(ranked_relevant, relevant_ahead / (ends + 1), 0.0)
    out[rows] = ratio.sum(axis=1) / n_relevant[rows]
    return out


def label_ranking_average_precision_score(y_true: Any, y_score: Any, *,
                                          sample_weight: Any = None) -> float:
    """Label ranking average precision (LRAP) of multilabel truth.

    Parameters
    ----------
    y_true : array-like or sparse matrix of shape (n_samples, n_labels)
        Multilabel indicator matrix (non-zero entries are the relevant labels).
    y_score : array-like of shape (n_samples, n_labels)
        Scores that rank the labels; NaN and infinity are refused.
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    float in (0, 1]
    """
    validate("label_ranking_average_precision_score", {
        "y_true": (y_true, (ARRAY_LIKE, SPARSE)), "y_score": (y_score, Y_DENSE),
        "sample_weight": (sample_weight, OPTIONAL_ARRAY)})
    t = as_np(y_true)
    if hasattr(t, "toarray"):
        t = np.asarray(t.toarray())
    t = score_array(t, "y_true")
    scores = score_array(y_score)
    n = check_lengths(y_true=t, y_score=scores, sample_weight=as_np(sample_weight))
    weights = weights_array(sample_weight, n)
    if t.shape != scores.shape:
        raise ValueError(f"y_true and y_score have different shape: {t.shape} and "
                         f"{scores.shape}")
    if t.ndim == 2 and t.shape[1] > 1:
        y_type = indicator_type(t)
    else:
        y_type = label_classes(t.reshape(-1))[0]
    if y_type != MULTILABEL and not (y_type == BINARY and t.ndim == 2):
        raise ValueError(f"{y_type} format is not supported")
    per_sample = _lrap_per_sample(np.asarray(t != 0).reshape(n, -1),
                                  scores.reshape(n, -1))
    return float(np.average(per_sample, weights=weights))
