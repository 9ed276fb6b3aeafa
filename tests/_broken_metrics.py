"""Deliberately broken metrics: each breaks one rule of calipers.testing's metric checks.

Top-level classes, so that the cross-process check can import them in its worker.
"""

from __future__ import annotations

import time

import numpy as np

from calipers.metrics import Metric


def _average(mine: float, theirs: float) -> float:
    return (mine + theirs) / 2


class AverageOfAverages(Metric):
    """Merges by averaging the two means: wrong unless both saw as many rows."""

    name = "average_of_averages"

    def __init__(self):
        super().__init__()
        self.add_state("mean", float("nan"), merge=_average)

    def update(self, y_true, y_pred, sample_weight=None):
        t = np.asarray(y_true)
        if t.size:
            batch = float(np.mean(t == (np.asarray(y_pred) >= 0.5)))
            self.mean = batch if np.isnan(self.mean) else (self.mean + batch) / 2

    def compute(self):
        return self.mean


class _PlainCount(Metric):
    """Plain-form base: counts positives; its own reset and merge."""

    name = "plain_count"

    def __init__(self):
        super().__init__()
        self.reset()

    def update(self, y_true, y_pred, sample_weight=None):
        for label in np.asarray(y_true).tolist():
            self.positives += int(label == 1)
            self.total += 1

    def compute(self):
        return (self.positives, self.total)

    def reset(self):
        self.positives, self.total = 0, 0

    def merge(self, *others):
        with self._lock:
            for other in others:
                self.positives += other.positives
                self.total += other.total
        return self


class HalfBatch(_PlainCount):
    """Counts row by row and raises at a bad label: half the batch stays in."""

    name = "half_batch"

    def update(self, y_true, y_pred, sample_weight=None):
        for label in np.asarray(y_true).tolist():
            if label not in (0, 1):
                raise ValueError(f"bad label {label}")
            self.positives += int(label == 1)
            self.total += 1


class LeakyReset(_PlainCount):
    """reset() forgets to clear the positives."""

    name = "leaky_reset"

    def reset(self):
        self.positives = getattr(self, "positives", 0)
        self.total = 0


class Unpicklable(_PlainCount):
    """Keeps a lambda in its state."""

    name = "unpicklable"

    def __init__(self):
        super().__init__()
        self.transform = lambda x: x


class SharedDefault(Metric):
    """Its list lives on the class: every instance and copy shares it."""

    name = "shared_default"
    seen: list = []

    def update(self, y_true, y_pred, sample_weight=None):
        self.seen.extend(np.asarray(y_true).tolist())

    def compute(self):
        return float(np.mean(self.seen)) if self.seen else float("nan")

    def reset(self):
        pass

    def merge(self, *others):
        return self


def _take_theirs(mine, theirs):
    return theirs


class LastWins(Metric):
    """Merging keeps the other side's count: order-dependent."""

    name = "last_wins"

    def __init__(self):
        super().__init__()
        self.add_state("count", 0, merge=_take_theirs)

    def update(self, y_true, y_pred, sample_weight=None):
        self.count += len(np.asarray(y_true))

    def compute(self):
        return self.count


class RacyMerge(_PlainCount):
    """Merges without the lock, with a pause between reading and writing."""

    name = "racy_merge"

    def merge(self, *others):
        for other in others:
            total = self.total
            time.sleep(0.005)
            self.total = total + other.total
            self.positives += other.positives
        return self


class SharedStateDict(Metric):
    """state_dict hands out the live array, load_state_dict keeps the caller's."""

    name = "shared_state_dict"

    def __init__(self):
        super().__init__()
        self.add_state("counts", np.zeros(2, dtype=np.int64))

    def update(self, y_true, y_pred, sample_weight=None):
        self.counts += np.bincount(np.asarray(y_true, dtype=np.int64) % 2, minlength=2)

    def compute(self):
        return self.counts.copy()

    def state_dict(self):
        return {"counts": self.counts}

    def load_state_dict(self, state):
        self.counts = state["counts"]


_STORE: dict[int, list[int]] = {}


class GlobalStore(Metric):
    """Keeps its rows in a module-level dict: lost when pickled to another process."""

    name = "global_store"

    def __init__(self):
        super().__init__()
        self.key = id(self)
        _STORE.setdefault(self.key, [])

    def update(self, y_true, y_pred, sample_weight=None):
        _STORE.setdefault(self.key, []).extend(np.asarray(y_true).tolist())

    def compute(self):
        return len(_STORE.get(self.key, []))

    def reset(self):
        _STORE[self.key] = []

    def merge(self, *others):
        for other in others:
            _STORE.setdefault(self.key, []).extend(_STORE.get(other.key, []))
        return self

    def empty_clone(self):
        return type(self)()
