"""Per-label work of the score drop-ins: positives of indicator matrices, label lists,
and a binary score computed column by column (or row by row) and its averaging weights.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from calipers.metrics._score_checks import as_np

__all__ = ["binary_columns_scores", "check_label_list", "multilabel_positives"]

#: Value sets of indicator matrices whose positive label is 1 without a ``pos_label``.
_CONSISTENT = ([0, 1], [-1, 1])


def multilabel_positives(t: np.ndarray, scores: np.ndarray, *, strict: bool) -> np.ndarray:
    """Boolean matrix of the positives (entries equal to 1) of an indicator matrix.

    Parameters
    ----------
    t : ndarray of shape (n, m)
        Multilabel indicator matrix (two distinct values at most).
    scores : ndarray of shape (n, m)
        The scores that go with it (only the shape is checked).
    strict : bool
        Whether the values must be ``{0, 1}`` or ``{-1, 1}`` (scikit-learn's rule when
        no positive label is given): other pairs of values raise ``ValueError``.

    Returns
    -------
    ndarray of bool, shape (n, m), C-contiguous
    """
    if scores.shape != t.shape:
        raise ValueError(f"y_true and y_score have different shapes: {t.shape} and "
                         f"{scores.shape}; pass one column of scores per label")
    if t.dtype.kind == "b":
        return np.ascontiguousarray(t)
    if strict:
        values = np.unique([t.min(), t.max()])
        if values.shape[0] == 2 and values.tolist() not in _CONSISTENT:
            shown = ", ".join(repr(v) for v in values.tolist())
            raise ValueError(
                f"y_true takes value in {{{shown}}} and pos_label is not specified: either "
                "make y_true take value in {0, 1} or {-1, 1} or pass pos_label explicitly."
            )
    return np.ascontiguousarray(t == 1)


def check_label_list(labels: Any, t: np.ndarray, n_columns: int, name: str) -> np.ndarray:
    """Check a user's ``labels`` against the truth and the score columns.

    They must be 1-D, unique, sorted, one per column of ``name``, and include every
    value of ``t``. Returns them as an array.
    """
    arr = as_np(labels)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {arr.shape}")
    classes = np.unique(arr)
    if classes.shape[0] != arr.shape[0]:
        raise ValueError("Parameter 'labels' must be unique")
    if not np.array_equal(classes, arr):
        raise ValueError("Parameter 'labels' must be ordered")
    if classes.shape[0] != n_columns:
        raise ValueError(f"Number of given labels, {classes.shape[0]}, not equal to the number "
                         f"of columns in '{name}', {n_columns}")
    missing = np.setdiff1d(t, classes)
    if missing.shape[0]:
        raise ValueError(f"'y_true' contains labels not in parameter 'labels': "
                         f"{missing.tolist()[:10]}")
    return classes


def binary_columns_scores(metric: Callable[..., float], pos: np.ndarray, t: np.ndarray,
                          scores: np.ndarray, weights: np.ndarray | None,
                          average: str | None,
                          columns: Callable[..., np.ndarray] | None = None,
                          ) -> tuple[np.ndarray, np.ndarray | None]:
    """A binary metric per label (column), per sample (row) or over all entries.

    Parameters
    ----------
    metric : callable ``(pos, scores, weights) -> float``
        Binary metric on checked contiguous arrays.
    pos : ndarray of bool, shape (n, m)
    t : ndarray of shape (n, m)
        The indicator values (their column sums weight ``"weighted"``).
    scores : ndarray of float32 or float64, shape (n, m)
    weights : ndarray of float64, shape (n,), or None
    average : {"micro", "macro", "weighted", "samples"} or None
    columns : callable ``(pos, scores, weights) -> ndarray``, optional
        The same metric on every column of (n, m) arrays at once (faster than one
        call per column); used for the per-column averages when given.

    Returns
    -------
    scores : ndarray of float64
        One per column (``macro``, ``weighted``, None), one per row (``samples``), or a
        single one (``micro``).
    average_weight : ndarray or None
        The weights of the mean: supports (``weighted``), sample weights (``samples``).
        When the supports sum to (nearly) zero no column is scored: the scores are
        zeros and the caller returns 0, as scikit-learn does.
    """
    if average == "micro":
        w = None if weights is None else np.repeat(weights, pos.shape[1])
        return np.array([metric(pos.reshape(-1), np.ascontiguousarray(scores).reshape(-1),
                                w)]), None
    if average == "samples":
        scores = np.ascontiguousarray(scores)
        per = np.array([metric(pos[i], scores[i], None) for i in range(pos.shape[0])])
        return per, weights
    support = None
    if average == "weighted":
        values = t.astype(np.float64)
        support = values.sum(axis=0) if weights is None else weights @ values
        if np.isclose(support.sum(), 0.0):
            # scikit-learn returns 0 before scoring any column (no warnings).
            return np.zeros(pos.shape[1]), support
    if columns is not None:
        return columns(pos, scores, weights), support
    per = np.array([metric(np.ascontiguousarray(pos[:, c]),
                           np.ascontiguousarray(scores[:, c]), weights)
                    for c in range(pos.shape[1])], dtype=np.float64)
    return per, support
