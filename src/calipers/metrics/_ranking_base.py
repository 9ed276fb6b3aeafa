"""ScoreMetric: options, state handling and checks shared by the streaming score metrics."""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np

from calipers.metrics._base import OptionsMetric
from calipers.metrics._compute import UndefinedMetricWarning
from calipers.metrics._ranking_state import ScoreBatches, ScoreHistogram, parse_scores
from calipers.metrics._state import check_task

__all__ = ["ScoreMetric", "check_bins", "warn_empty"]


def check_bins(bins: Any, score_range: Any) -> tuple[int | None, tuple[float, float]]:
    """Validate ``bins`` (None or an integer >= 2) and ``score_range`` (lo < hi, finite)."""
    try:
        if isinstance(score_range, (str, bytes)):
            raise TypeError
        lo, hi = (float(v) for v in score_range)
    except (TypeError, ValueError):
        raise ValueError(f"score_range must be a pair (lo, hi), got {score_range!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"score_range must be finite with lo < hi, got {score_range!r}")
    if bins is None:
        return None, (lo, hi)
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 2:
        raise ValueError(f"bins must be None (exact) or an integer >= 2, got {bins!r}")
    return int(bins), (lo, hi)


def warn_empty(name: str) -> None:
    warnings.warn(f"{name} has no samples yet; returning NaN. Call update() first.",
                  UndefinedMetricWarning, stacklevel=3)


class ScoreMetric(OptionsMetric):
    """Base of the metrics of scores against labels (ROC AUC, average precision, curves).

    Parameters
    ----------
    task : {'binary', 'multiclass', 'multilabel'}
        Binary: ``y_true`` 0/1 of shape (n,), ``y_score`` the positive class's score,
        shape (n,). Multiclass: ``y_true`` integers in ``[0, num_classes)``, ``y_score``
        of shape (n, num_classes), one-vs-rest per class. Multilabel: ``y_true`` 0/1
        indicators and ``y_score`` both of shape (n, num_labels).
    num_classes : int, optional
        Required for multiclass.
    num_labels : int, optional
        Required for multilabel (at least 2; use task='binary' for one label).
    average : str, optional
        How per-class values are combined (multiclass / multilabel only): 'micro',
        'macro', 'weighted', 'samples' (multilabel) or 'none' (one value per class).
        ``None`` (default) means 'macro'. As in scikit-learn.
    bins : int, optional
        ``None`` (default): exact. The state keeps every batch's labels, scores
        (float32 kept) and weights, merges by concatenation, and :meth:`compute`
        equals the scikit-learn function on all the data. An integer ``B``: the
        bounded-memory state, per class a histogram of the negatives' and positives'
        scores in ``B`` equal bins over ``score_range`` (O(B) per class, merged by
        addition); see :meth:`error_bound`.
    score_range : (float, float)
        Range of the bins (default (0, 1)); scores outside it fall into the edge bins.

    Notes
    -----
    Thresholds: a sample counts as predicted positive at threshold ``t`` when
    ``score >= t`` (as scikit-learn and torchmetrics; Keras uses ``>``). Binned
    thresholds are the bins' lower edges. NaN and infinite scores are refused.
    A failed update leaves the state unchanged.
    """

    name: ClassVar[str] = ""
    inputs: ClassVar[str] = "scores"
    tasks: ClassVar[tuple[str, ...]] = ("binary", "multiclass", "multilabel")
    #: Averages for multiclass / multilabel tasks ('samples' is multilabel-only).
    averages: ClassVar[tuple[str, ...]] = ("micro", "macro", "weighted", "samples", "none")
    default_average: ClassVar[str] = "macro"
    #: Whether ``bins=`` is supported.
    binnable: ClassVar[bool] = True
    #: Value methods that fold a device state in and return the backend's arrays.
    _native_results: ClassVar[tuple[str, ...]] = ("compute", "bounds", "error_bound")

    def __init__(self, task: str = "binary", *, num_classes: int | None = None,
                 num_labels: int | None = None, average: str | None = None,
                 bins: int | None = None, score_range: tuple[float, float] = (0.0, 1.0)
                 ) -> None:
        super().__init__()
        self.k = check_task(task, num_classes, num_labels)
        if task not in self.tasks:
            raise ValueError(
                f"{self.name} is not defined for task={task!r}; supported: "
                f"{', '.join(self.tasks)}"
            )
        if task == "multilabel" and self.k < 2:
            raise ValueError("task='multilabel' needs num_labels >= 2; use task='binary'")
        self.task = task
        self.num_classes = self.k if task == "multiclass" else None
        self.num_labels = self.k if task == "multilabel" else None
        self.bins, self.score_range = check_bins(bins, score_range)
        if self.bins is not None and not self.binnable:
            raise ValueError(f"{self.name} has no binned state; use bins=None")
        self.average = self._check_average(average)
        self._state = self._new_state()

    # -- options -----------------------------------------------------------
    def _check_average(self, average: str | None) -> str | None:
        if self.task == "binary":
            if average is not None:
                raise ValueError(
                    f"average applies to multiclass and multilabel tasks; task='binary' "
                    f"takes average=None, got {average!r}"
                )
            return None
        if average is None:
            return self.default_average
        if average not in self.averages:
            raise ValueError(
                f"{self.name} does not support average={average!r}; supported: "
                f"{', '.join(self.averages)}"
            )
        if average == "samples" and (self.task != "multilabel" or self.bins is not None):
            raise ValueError("average='samples' needs task='multilabel' and bins=None")
        return average

    @property
    def options(self) -> dict[str, Any]:
        """The constructor options (enough to build an identical empty metric)."""
        opts: dict[str, Any] = {"task": self.task}
        if self.num_classes is not None:
            opts["num_classes"] = self.num_classes
        if self.num_labels is not None:
            opts["num_labels"] = self.num_labels
        opts["average"] = self.average
        opts["bins"] = self.bins
        if self.bins is not None:
            opts["score_range"] = self.score_range
        return opts

    def _new_state(self) -> ScoreBatches | ScoreHistogram:
        if self.bins is None:
            return ScoreBatches(("y_true", "y_score"))
        return ScoreHistogram(self.task, self.k, self.bins, self.score_range)

    # -- Metric API --------------------------------------------------------
    def _check_batch(self, labels: np.ndarray, scores: np.ndarray,
                     weights: np.ndarray | None) -> None:
        """Extra per-batch checks of a subclass (raise to refuse the batch)."""

    def update(self, y_true: Any, y_score: Any, sample_weight: Any = None) -> None:
        """Add a batch of labels and scores (shapes: see the class docstring)."""
        fast = None
        if self.task == "binary" and isinstance(self._state, ScoreHistogram):
            # integer labels and float scores: counted and checked in one pass
            fast = self._state.binary_batch(y_true, y_score, sample_weight)
        if fast is None:
            labels, scores, weights = parse_scores(self.task, self.k, y_true, y_score,
                                                   sample_weight)
            hist = None
        else:
            labels, scores, weights, hist = fast
        self._check_batch(labels, scores, weights)
        with self._lock:
            if isinstance(self._state, ScoreBatches):
                self._state.add((labels, scores), weights)
            else:
                self._state.add(labels, scores, weights, hist)

    def compute(self) -> Any:
        """The metric over every sample seen so far."""
        with self._lock:
            if self._state.n == 0:
                return self._empty()
            if self.bins is None:
                return self._compute_exact()
            return self._compute_binned()

    def _empty(self) -> Any:
        warn_empty(self.name)
        if self.average == "none":
            return np.full(self.k, np.nan)
        return float("nan")

    def _compute_exact(self) -> Any:
        raise NotImplementedError  # pragma: no cover - every registered subclass overrides

    def _compute_binned(self) -> Any:
        raise NotImplementedError  # pragma: no cover - every registered subclass overrides
