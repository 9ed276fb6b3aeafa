"""Inputs and states of the streaming score metrics.

:func:`parse_scores` validates one batch of ``(y_true, y_score, sample_weight)`` for a
task and returns compact arrays; :class:`ScoreBatches` keeps every batch (the exact
state: merged by concatenation); :class:`ScoreHistogram` keeps per-class histograms
of the scores (the bounded-memory state: merged by addition).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from calipers.metrics import _rank_core
from calipers.metrics._counts import _first_outside, as_label_array, as_weight_array
from calipers.metrics._state import to_numpy

__all__ = ["ScoreBatches", "ScoreHistogram", "label_dtype", "parse_scores", "parse_weights"]


def label_dtype(num_classes: int) -> np.dtype:
    """The smallest unsigned integer dtype holding labels ``0 .. num_classes - 1``."""
    return np.min_scalar_type(max(int(num_classes) - 1, 0))


def _check_range(t: np.ndarray, original: Any, k: int, what: str) -> None:
    i = _first_outside(t.reshape(-1), 0, k)
    if i is not None:
        value = np.asarray(original).reshape(-1)[i].item()
        raise ValueError(f"y_true has {value!r} at flat index {i}; {what}")


def parse_weights(sample_weight: Any, n: int) -> np.ndarray | None:
    """``sample_weight`` as float64 of length ``n`` (finite), or None."""
    if sample_weight is None:
        return None
    return as_weight_array(to_numpy(sample_weight), n)


def parse_scores(task: str, k: int, y_true: Any, y_score: Any, sample_weight: Any = None,
                 *, score_name: str = "y_score"
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate one batch for ``task`` and return ``(labels, scores, weights)``.

    Parameters
    ----------
    task : {'binary', 'multiclass', 'multilabel'}
    k : int
        Number of classes (multiclass) or labels (multilabel); 2 for binary.
    y_true
        Binary: 0/1 labels of shape (n,). Multiclass: integer labels in ``[0, k)`` of
        shape (n,). Multilabel: a 0/1 indicator matrix of shape (n, k). Integer,
        bool or integral float arrays (or anything ``to_numpy`` takes: torch tensors).
    y_score
        Binary: scores of shape (n,) or (n, 1). Multiclass / multilabel: (n, k).
        Finite reals; float32 is kept, everything else becomes float64.
    sample_weight
        Finite weights of shape (n,), or None.

    Returns
    -------
    labels : ndarray
        bool (binary: (n,); multilabel: (n, k)) or the smallest unsigned integer dtype
        for ``k`` classes (multiclass).
    scores : ndarray of float32 or float64
        Binary: (n,); otherwise (n, k); C-contiguous.
    weights : ndarray of float64, or None
    """
    t_in = to_numpy(y_true)
    s = _rank_core.as_scores(to_numpy(y_score), score_name)
    if task == "multilabel":
        t = as_label_array(t_in, "y_true", ndim=2)
        _check_range(t, t_in, 2, "multilabel y_true must hold 0/1 indicators")
        if s.shape != t.shape or t.shape[1] != k:
            raise ValueError(
                f"multilabel y_true and {score_name} must both have shape (n, num_labels="
                f"{k}), got {t.shape} and {s.shape}"
            )
        labels = t.astype(bool)
    else:
        t = as_label_array(t_in, "y_true")
        if task == "binary":
            if s.ndim == 2 and s.shape[1] == 1:
                s = s[:, 0]
            if s.ndim != 1:
                raise ValueError(
                    f"binary {score_name} must have shape (n,) (the positive class's score), "
                    f"got {s.shape}"
                )
            _check_range(t, t_in, 2, "binary labels must be 0 or 1")
            labels = t.astype(bool)
        else:
            if s.ndim != 2 or s.shape[1] != k:
                raise ValueError(
                    f"multiclass {score_name} must have shape (n, num_classes={k}), got "
                    f"{s.shape}"
                )
            _check_range(t, t_in, k, f"labels must be integers in [0, num_classes={k})")
            labels = t.astype(label_dtype(k))
        if s.shape[0] != t.shape[0]:
            raise ValueError(
                f"y_true has {t.shape[0]} samples but {score_name} has {s.shape[0]}"
            )
    w = parse_weights(sample_weight, t.shape[0])
    return labels, np.ascontiguousarray(s), w


class ScoreBatches:
    """Every batch of per-sample columns, kept as they came (the exact state).

    Columns are named arrays with one row per sample (``y_true``, ``y_score``,
    ``query_ids``...); sample weights are optional per batch (a batch without
    weights counts each sample with weight 1 once any batch has weights). Merging
    appends the other state's batches, so it is exact; :meth:`arrays` concatenates
    them (once: the result replaces the batch list).
    """

    def __init__(self, columns: tuple[str, ...]) -> None:
        self.columns = columns
        self.reset()

    def reset(self) -> None:
        self._batches: list[tuple[np.ndarray, ...]] = []
        self._weights: list[np.ndarray | None] = []
        self.n = 0

    @property
    def weighted(self) -> bool:
        return any(w is not None for w in self._weights)

    def add(self, arrays: tuple[np.ndarray, ...], weights: np.ndarray | None) -> None:
        n = arrays[0].shape[0]
        if n == 0:
            return
        self._batches.append(arrays)
        self._weights.append(weights)
        self.n += n

    def merge(self, other: ScoreBatches) -> None:
        self._batches.extend(other._batches)
        self._weights.extend(other._weights)
        self.n += other.n

    def arrays(self) -> tuple[tuple[np.ndarray, ...], np.ndarray | None]:
        """All samples: one array per column and the weights (None if none had any).

        Raises ``ValueError`` when there are no samples.
        """
        if not self._batches:
            raise ValueError("no samples yet: call update() first")
        if len(self._batches) > 1:
            cols = tuple(np.concatenate(parts) for parts in zip(*self._batches, strict=True))
            weights = None
            if self.weighted:
                weights = np.concatenate([
                    np.ones(b[0].shape[0]) if w is None else w
                    for b, w in zip(self._batches, self._weights, strict=True)
                ])
            self._batches, self._weights = [cols], [weights]
        return self._batches[0], self._weights[0]

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"n": self.n}
        if self.n:
            cols, w = self.arrays()
            state.update({name: c.copy() for name, c in zip(self.columns, cols, strict=True)})
            state["sample_weight"] = None if w is None else w.copy()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        n = int(state["n"])
        if not n:
            self.reset()
            return
        cols = tuple(np.asarray(state[name]).copy() for name in self.columns)
        w = state.get("sample_weight")
        w = None if w is None else np.asarray(w, dtype=np.float64).copy()
        if any(c.shape[0] != n for c in cols) or (w is not None and w.shape != (n,)):
            raise ValueError(f"state arrays do not all have n={n} rows")
        self._batches, self._weights, self.n = [cols], [w], n


class ScoreHistogram:
    """Per-class histograms of the scores of negatives and positives (binned state).

    ``hist`` has shape (k, bins, 2): for class (or label) ``c``, bin ``b`` holds the
    count (int64) or, once any batch is weighted, the weight sum (float64) of the
    negatives (``[..., 0]``) and positives (``[..., 1]``) whose score falls in bin
    ``b`` of ``bins`` equal bins over ``score_range`` (scores outside it go to the
    edge bins). Binary tasks have k = 1. Merging adds histograms: exact.
    """

    def __init__(self, task: str, k: int, bins: int, score_range: tuple[float, float]) -> None:
        self.task = task
        self.k = 1 if task == "binary" else k
        self.bins = bins
        self.lo, self.hi = score_range
        self.reset()

    def reset(self) -> None:
        self.hist = np.zeros((self.k, self.bins, 2), dtype=np.int64)
        self.n = 0

    def _batch_hist(self, labels: np.ndarray, scores: np.ndarray,
                    weights: np.ndarray | None) -> np.ndarray:
        args = dict(bins=self.bins, lo=self.lo, hi=self.hi)
        if self.task == "binary":
            return _rank_core.binned_hist(labels, scores, weights, **args)[None]
        if self.task == "multiclass":
            return _rank_core.binned_hist_multiclass(labels, scores, weights, **args)
        return _rank_core.binned_hist_multilabel(labels, scores, weights, **args)

    def add(self, labels: np.ndarray, scores: np.ndarray, weights: np.ndarray | None,
            hist: np.ndarray | None = None) -> None:
        """Count a parsed batch in (``hist``: its histogram, when already counted)."""
        if labels.shape[0] == 0:
            return
        if hist is None:
            hist = self._batch_hist(labels, scores, weights)
        self._add(hist if hist.ndim == 3 else hist[None], labels.shape[0])

    def binary_batch(self, y_true: Any, y_score: Any, sample_weight: Any = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray] | None:
        """One pass over a binary batch of integer / bool labels and float scores.

        Returns ``(labels, scores, weights, hist)`` (labels in their own dtype, hist of
        shape (bins, 2)) when the batch is non-empty, of those dtypes, and valid; else
        None, and the caller takes :func:`parse_scores`, which raises the error a bad
        batch deserves (so the messages, and their order, are those of the full
        checks). Nothing is added to the state here.
        """
        t, s = to_numpy(y_true), to_numpy(y_score)
        if t.dtype.kind not in "biu" or t.ndim != 1 or s.dtype not in (np.float32, np.float64):
            return None
        if s.ndim == 2 and s.shape[1] == 1:
            s = s[:, 0]
        if s.shape != t.shape or t.shape[0] == 0:
            return None
        try:
            w = parse_weights(sample_weight, t.shape[0])
        except (TypeError, ValueError):
            return None
        hist, n_bad_labels, n_nonfinite = _rank_core.binned_hist_checked(
            t, s, w, bins=self.bins, lo=self.lo, hi=self.hi)
        if n_bad_labels or n_nonfinite:
            return None
        return t, s, w, hist

    def _add(self, hist: np.ndarray, n: int) -> None:
        if hist.dtype.kind == "f" and self.hist.dtype.kind != "f":
            self.hist = self.hist.astype(np.float64)
        self.hist = self.hist + hist  # a new array: a failure cannot leave half a sum
        self.n += n

    def merge(self, other: ScoreHistogram) -> None:
        if other.hist.shape != self.hist.shape:
            raise ValueError(
                f"cannot merge histograms of shape {other.hist.shape} into {self.hist.shape}"
            )
        self._add(other.hist, other.n)

    def state_dict(self) -> dict[str, Any]:
        return {"n": self.n, "hist": self.hist.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        hist = np.asarray(state["hist"])
        if hist.shape != self.hist.shape:
            raise ValueError(f"histogram has shape {hist.shape}, expected {self.hist.shape}")
        if hist.dtype.kind not in "if":
            raise ValueError(f"histogram must be int64 or float64, got {hist.dtype}")
        self.hist = hist.astype(np.float64 if hist.dtype.kind == "f" else np.int64)
        self.n = int(state["n"])
