"""ConfusionState: the one small, exactly mergeable state behind every confusion metric."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from calipers.metrics import _counts
from calipers.metrics._base import Locked

TASKS = ("binary", "multiclass", "multilabel")


def to_numpy(x: Any) -> np.ndarray:
    """Turn any supported array type into numpy through the backend that claims it."""
    if isinstance(x, np.ndarray):
        return x
    from calipers.backends import backend_for

    return np.asarray(backend_for(x).to_numpy(x))


def check_task(task: str, num_classes: int | None, num_labels: int | None) -> int:
    """Validate the task options; return the number of classes (or labels)."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    if task == "binary":
        if num_classes not in (None, 2):
            raise ValueError(f"task='binary' has 2 classes, got num_classes={num_classes}")
        return 2
    if task == "multiclass":
        if num_classes is None:
            raise ValueError("task='multiclass' needs num_classes")
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
                or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
        return int(num_classes)
    if num_labels is None:
        raise ValueError("task='multilabel' needs num_labels")
    if isinstance(num_labels, bool) or not isinstance(num_labels, (int, np.integer)) \
            or num_labels < 1:
        raise ValueError(f"num_labels must be an integer >= 1, got {num_labels!r}")
    return int(num_labels)


class ConfusionState(Locked):
    """Confusion counts for one task, updated batch by batch and merged exactly.

    Binary and multiclass tasks keep a k x k matrix of counts (int64, exact at any
    size) and, once any batch carries sample weights, a float64 matrix of weight sums
    (earlier unweighted samples count with weight 1). Multilabel tasks keep per-label
    2 x 2 counts, the count of rows predicted exactly and, when ``track_samples``, a
    histogram of each row's (true, predicted, correct) label counts, from which any
    'samples'-averaged metric is computed exactly.

    Parameters
    ----------
    task : {'binary', 'multiclass', 'multilabel'}
    num_classes : int, optional
        Number of classes (multiclass).
    num_labels : int, optional
        Number of labels (multilabel).
    threshold : float
        Float scores at or above it count as positive (binary, multilabel).
    track_samples : bool
        Keep the per-row histogram needed by ``average='samples'`` (multilabel).
    """

    def __init__(self, task: str = "binary", num_classes: int | None = None,
                 num_labels: int | None = None, threshold: float = 0.5,
                 track_samples: bool = False) -> None:
        self.k = check_task(task, num_classes, num_labels)
        self.task = task
        threshold = float(threshold)
        if not np.isfinite(threshold):
            raise ValueError(f"threshold must be finite, got {threshold}")
        self.threshold = threshold
        self.track_samples = bool(track_samples) and task == "multilabel"
        self._lock = threading.RLock()
        self.reset()

    # -- state -------------------------------------------------------------
    def reset(self) -> None:
        """Forget every sample seen."""
        shape = (4 * self.k + 1,) if self.task == "multilabel" else (self.k, self.k)
        self.counts = np.zeros(shape, dtype=np.int64)
        self.weighted: np.ndarray | None = None
        self.samples: dict[int, list[float]] = {}
        self.n = 0

    @property
    def options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {"task": self.task, "threshold": self.threshold}
        if self.task == "multiclass":
            opts["num_classes"] = self.k
        elif self.task == "multilabel":
            opts["num_labels"] = self.k
        return opts

    def compatible(self, other: ConfusionState) -> bool:
        return (self.task, self.k, self.threshold) == (other.task, other.k, other.threshold)

    def _count(self, y_true: Any, y_pred: Any, sample_weight: Any):
        t = to_numpy(y_true)
        p = to_numpy(y_pred)
        w = None if sample_weight is None else to_numpy(sample_weight)
        if t.dtype == object or p.dtype == object:
            raise TypeError(
                "y_true and y_pred must be numeric arrays, got an object array "
                "(None or mixed values?); use calipers.metrics functions for arbitrary labels"
            )
        rows = None
        if self.task == "multilabel":
            if p.dtype.kind == "f":
                mc = _counts.multilabel_threshold(t, p, self.threshold, w,
                                                  per_sample=self.track_samples)
            else:
                mc = _counts.multilabel_counts(t, p, w, per_sample=self.track_samples)
            if mc.mcm.shape[0] != self.k:
                raise ValueError(
                    f"expected {self.k} labels (num_labels), got {mc.mcm.shape[0]} columns"
                )
            n = mc.n
            counts = mc.plain
            weighted = None
            if w is not None:
                weighted = np.append(mc.mcm.reshape(-1), mc.exact)
            rows = mc.per_sample
        else:
            if p.dtype.kind == "f":
                if self.task == "binary":
                    if p.ndim == 2 and p.shape[1] == 1:
                        p = p[:, 0]
                    counts, weighted = _counts.count_threshold(t, p, self.threshold, w)
                elif p.ndim == 2:
                    counts, weighted = _counts.count_argmax(t, p, self.k, w)
                else:
                    raise TypeError(
                        "multiclass y_pred must be integer labels or an (n, num_classes) "
                        f"score matrix, got floats of shape {p.shape}"
                    )
            else:
                counts, weighted = _counts.count_labels(t, p, self.k, w)
            n = int(t.shape[0])
        return n, counts, weighted, rows, w

    def update(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Count a batch. On any error the state is left as it was."""
        n, counts, weighted, rows, w = self._count(y_true, y_pred, sample_weight)
        hist = self._row_histogram(rows, w) if self.track_samples and rows is not None else None
        with self._lock:
            if weighted is not None and self.weighted is None:
                self.weighted = self.counts.astype(np.float64)
            self.counts += counts
            if self.weighted is not None:
                self.weighted += counts if weighted is None else weighted
            if hist is not None:
                self._add_samples(hist)
            self.n += n

    def _row_histogram(self, rows: np.ndarray, w: np.ndarray | None) -> dict[int, list[float]]:
        base = self.k + 1
        keys = (rows[:, 0].astype(np.int64) * base + rows[:, 1]) * base + rows[:, 2]
        uniq, inv = np.unique(keys, return_inverse=True)
        cnt = np.bincount(inv, minlength=uniq.size)
        wsum = cnt.astype(np.float64) if w is None else np.bincount(inv, weights=w,
                                                                     minlength=uniq.size)
        return {int(k): [float(c), float(s)] for k, c, s in zip(uniq, cnt, wsum, strict=True)}

    def _add_samples(self, hist: dict[int, list[float]]) -> None:
        for key, (c, s) in hist.items():
            slot = self.samples.setdefault(key, [0.0, 0.0])
            slot[0] += c
            slot[1] += s

    def merge(self, other: ConfusionState) -> None:
        """Add ``other``'s counts (same task, size and threshold) into this state."""
        if not self.compatible(other):
            raise ValueError(
                f"cannot merge states with different options: {self.options} vs {other.options}"
            )
        if self.track_samples and not other.track_samples and other.n:
            raise ValueError("cannot merge a state without per-sample counts into one with them")
        with self._lock:
            if other.weighted is not None and self.weighted is None:
                self.weighted = self.counts.astype(np.float64)
            self.counts += other.counts
            if self.weighted is not None:
                self.weighted += other.counts if other.weighted is None else other.weighted
            if self.track_samples:
                self._add_samples(other.samples)
            self.n += other.n

    # -- views used by the metrics -----------------------------------------
    @property
    def values(self) -> np.ndarray:
        """Weighted counts when any weights were seen, else the integer counts."""
        return self.counts if self.weighted is None else self.weighted

    def matrix(self) -> np.ndarray:
        """k x k confusion matrix (binary/multiclass) or (L, 2, 2) per-label (multilabel)."""
        v = self.values
        if self.task == "multilabel":
            return v[: 4 * self.k].reshape(self.k, 2, 2).copy()
        return v.copy()

    def sums(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """Per class (or label): (tp_sum, pred_sum, true_sum, total)."""
        v = self.values
        if self.task == "multilabel":
            m = v[: 4 * self.k].reshape(self.k, 2, 2)
            tp = m[:, 1, 1]
            total = float(m[0].sum()) if self.k else 0.0
            return tp.copy(), tp + m[:, 0, 1], tp + m[:, 1, 0], total
        return np.diagonal(v).copy(), v.sum(axis=0), v.sum(axis=1), float(v.sum())

    def exact_matches(self) -> float:
        """Rows predicted exactly (weighted when weighted); multilabel only."""
        return float(self.values[4 * self.k])

    def sample_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct (true, pred, correct) row counts and their total weight."""
        base = self.k + 1
        keys = np.fromiter(self.samples.keys(), dtype=np.int64, count=len(self.samples))
        weights = np.array([s[1] for s in self.samples.values()], dtype=np.float64)
        rows = np.stack([keys // (base * base), (keys // base) % base, keys % base], axis=1)
        return rows, weights

    # -- persistence -------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            **self.options,
            "track_samples": self.track_samples,
            "n": self.n,
            "counts": self.counts.copy(),
            "weighted": None if self.weighted is None else self.weighted.copy(),
            "samples": {k: list(v) for k, v in self.samples.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        other = ConfusionState(state["task"], state.get("num_classes"), state.get("num_labels"),
                               state["threshold"], state.get("track_samples", False))
        if not self.compatible(other):
            raise ValueError(
                f"state has options {other.options}, this metric has {self.options}"
            )
        counts = np.asarray(state["counts"], dtype=np.int64)
        if counts.shape != self.counts.shape:
            raise ValueError(f"counts have shape {counts.shape}, expected {self.counts.shape}")
        weighted = state.get("weighted")
        with self._lock:
            self.counts = counts.copy()
            self.weighted = None if weighted is None else np.asarray(weighted, np.float64).copy()
            self.samples = {int(k): [float(v[0]), float(v[1])]
                            for k, v in state.get("samples", {}).items()}
            self.n = int(state["n"])
