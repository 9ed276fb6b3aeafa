"""Custom metrics written as a plugin author would, importable by spawned workers.

``PositiveRate`` is the declared-state form (the whole metric, at most 15 lines);
``ScoreStats`` uses every merge rule; ``PlainPositiveRate`` is the plain form (its
own reset and merge, no declared state).
"""

from __future__ import annotations

import numpy as np

from calipers.metrics import Metric


class PositiveRate(Metric):
    name = "positive_rate"

    def __init__(self):
        super().__init__()
        self.add_state("positives", 0, merge="sum")
        self.add_state("total", 0, merge="sum")

    def update(self, y_true, y_pred, sample_weight=None):
        p = np.asarray(y_pred)
        self.positives += int(np.count_nonzero(p == 1))
        self.total += p.size

    def compute(self):
        return self.positives / self.total if self.total else float("nan")


def union_labels(mine: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """A callable merge rule: the sorted union of the labels seen."""
    return np.union1d(mine, theirs)


class ScoreStats(Metric):
    """Per-class score histogram (sum), extremes (max / min), every score (cat) and
    the labels seen (callable): ``compute`` returns all of them."""

    name = "score_stats"

    def __init__(self, bins: int = 4):
        super().__init__()
        self.bins = bins
        self.add_state("hist", np.zeros((2, bins), dtype=np.int64), merge="sum")
        self.add_state("high", -np.inf, merge="max")
        self.add_state("low", np.inf, merge="min")
        self.add_state("scores", [], merge="cat")
        self.add_state("labels", np.zeros(0, dtype=np.int64), merge=union_labels)

    def update(self, y_true, y_score, sample_weight=None):
        t = np.asarray(y_true, dtype=np.int64)
        s = np.asarray(y_score, dtype=np.float64)
        if t.shape != s.shape:
            raise ValueError(f"y_true has shape {t.shape} but y_score has {s.shape}")
        self.scores.append(s.copy())
        self.labels = np.union1d(self.labels, t)
        if s.size:
            self.high = max(self.high, float(s.max()))
            self.low = min(self.low, float(s.min()))
        b = np.clip((s * self.bins).astype(np.int64), 0, self.bins - 1)
        np.add.at(self.hist, (np.clip(t, 0, 1), b), 1)  # in place
        if t.size and (t.min() < 0 or t.max() > 1):  # after every state changed
            raise ValueError("labels must be 0 or 1")

    def compute(self):
        every = np.concatenate(self.scores) if self.scores else np.zeros(0)
        return {"hist": self.hist.copy(), "high": self.high, "low": self.low,
                "median": float(np.median(every)) if every.size else float("nan"),
                "labels": self.labels.copy()}


class PlainPositiveRate(Metric):
    """The plain form: state in attributes, its own reset and merge."""

    name = "plain_positive_rate"

    def __init__(self):
        super().__init__()
        self.reset()

    def update(self, y_true, y_pred, sample_weight=None):
        p = np.asarray(y_pred)
        if p.dtype.kind not in "biuf" or (p.size and not np.isfinite(p).all()):
            raise ValueError("y_pred must be finite numbers")
        self.positives += int(np.count_nonzero(p == 1))
        self.total += p.size

    def compute(self):
        return self.positives / self.total if self.total else float("nan")

    def reset(self):
        self.positives, self.total = 0, 0

    def merge(self, *others):
        for other in others:
            self.positives += other.positives
            self.total += other.total
        return self
