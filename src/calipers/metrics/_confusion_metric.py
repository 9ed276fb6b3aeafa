"""ConfusionMetric: the options, state handling and checks shared by confusion metrics."""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np

from calipers.metrics._base import OptionsMetric
from calipers.metrics._compute import UndefinedMetricWarning
from calipers.metrics._state import ConfusionState, check_task

AVERAGES = ("binary", "micro", "macro", "weighted", "samples", "none")

#: Default metric names per task (what ``calipers eval`` shows).
def _check_zero_division(value: Any) -> str | float:
    if isinstance(value, str):
        if value != "warn":
            raise ValueError(f"zero_division must be 'warn', 0, 1 or nan, got {value!r}")
        return value
    if isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool) \
            and (value in (0, 1) or np.isnan(value)):
        return float(value)
    raise ValueError(f"zero_division must be 'warn', 0, 1 or nan, got {value!r}")


def _scalar_or_array(x: Any) -> float | np.ndarray:
    arr = np.asarray(x)
    return float(arr) if arr.ndim == 0 else arr


class ConfusionMetric(OptionsMetric):
    """Base of the metrics computed from a :class:`ConfusionState`.

    Parameters
    ----------
    task : {'binary', 'multiclass', 'multilabel'}
        Binary: labels 0/1 (or scores thresholded). Multiclass: labels in
        ``[0, num_classes)`` or an (n, num_classes) score matrix, arg-maxed.
        Multilabel: (n, num_labels) 0/1 indicators or scores thresholded.
    num_classes : int, optional
        Number of classes; required for multiclass.
    num_labels : int, optional
        Number of labels; required for multilabel.
    average : {'binary', 'micro', 'macro', 'weighted', 'samples', 'none'}, optional
        How per-class values are combined; ``'none'`` returns one value per class.
        ``None`` (default) picks the task's default: 'binary' (the positive class 1)
        for binary, 'macro' otherwise. Classes are always ``range(num_classes)``,
        so the numbers equal scikit-learn's with ``labels=range(num_classes)``.
    threshold : float
        Scores ``>= threshold`` count as positive (binary and multilabel float input).
    zero_division : {'warn', 0, 1, nan}
        Value of a ratio with a zero denominator; 'warn' gives 0 and an
        :class:`UndefinedMetricWarning`, as in scikit-learn.

    Notes
    -----
    ``update(y_true, y_pred, sample_weight=None)`` takes labels (any integer width or
    bool) or float scores as ``y_pred``. A failed update leaves the state unchanged.
    """

    name: ClassVar[str] = ""
    #: Averages the metric supports (subset of AVERAGES).
    averages: ClassVar[tuple[str, ...]] = ("binary", "micro", "macro", "weighted", "samples",
                                           "none")
    #: Tasks the metric supports.
    tasks: ClassVar[tuple[str, ...]] = ("binary", "multiclass", "multilabel")
    #: Whether the value depends on ``average`` at all.
    uses_average: ClassVar[bool] = True
    #: Whether the value on no samples is defined (the confusion matrix: zeros).
    defined_when_empty: ClassVar[bool] = False

    def __init__(self, task: str = "binary", *, num_classes: int | None = None,
                 num_labels: int | None = None, average: str | None = None,
                 threshold: float = 0.5, zero_division: Any = "warn") -> None:
        super().__init__()
        check_task(task, num_classes, num_labels)
        if task not in self.tasks:
            raise ValueError(
                f"{self.name} is not defined for task={task!r}; "
                f"supported: {', '.join(self.tasks)}"
            )
        self.task = task
        self.num_classes = num_classes if task != "multilabel" else None
        self.num_labels = num_labels if task == "multilabel" else None
        self.average = self._check_average(average)
        self.threshold = float(threshold)
        self.zero_division = _check_zero_division(zero_division)
        self._state = self._new_state()

    # -- options -----------------------------------------------------------
    def _default_average(self) -> str:
        return "binary" if self.task == "binary" else "macro"

    def _check_average(self, average: str | None) -> str | None:
        if not self.uses_average:
            if average not in (None,):
                raise ValueError(f"{self.name} takes no average, got average={average!r}")
            return None
        if average is None:
            return self._default_average()
        if average not in AVERAGES:
            raise ValueError(
                f"unknown average {average!r}; expected one of {', '.join(AVERAGES)}"
            )
        if average not in self.averages:
            raise ValueError(
                f"{self.name} does not support average={average!r}; "
                f"supported: {', '.join(self.averages)}"
            )
        if average == "binary" and self.task != "binary":
            raise ValueError(
                f"average='binary' needs task='binary', got task={self.task!r}; "
                "choose 'micro', 'macro', 'weighted' or 'none'"
            )
        if average == "samples" and self.task != "multilabel":
            raise ValueError("average='samples' is only defined for task='multilabel'")
        return average

    @property
    def options(self) -> dict[str, Any]:
        """The constructor options (enough to build an identical empty metric)."""
        opts: dict[str, Any] = {"task": self.task, "threshold": self.threshold,
                                "zero_division": self.zero_division}
        if self.num_classes is not None:
            opts["num_classes"] = self.num_classes
        if self.num_labels is not None:
            opts["num_labels"] = self.num_labels
        if self.uses_average:
            opts["average"] = self.average
        return opts

    @property
    def needs_samples(self) -> bool:
        return self.average == "samples"

    def _new_state(self) -> ConfusionState:
        return ConfusionState(self.task, self.num_classes, self.num_labels, self.threshold,
                              track_samples=self.needs_samples)

    # -- Metric API --------------------------------------------------------
    def update(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Count a batch of labels or scores (see the class docstring)."""
        with self._lock:
            self._state.update(y_true, y_pred, sample_weight)

    def compute(self) -> Any:
        """The metric over every sample seen so far (NaN, with a warning, before any)."""
        with self._lock:
            return self.value_of(self._state)

    # -- computation -------------------------------------------------------
    def value_of(self, state: ConfusionState) -> Any:
        """:meth:`compute_from`, except on a state without samples.

        No samples, or only zero sample weights, is where scikit-learn's functions
        (and calipers' drop-ins) raise ``ValueError``; a streaming metric, whose
        state may legitimately still be empty, warns an
        :class:`~calipers.metrics.UndefinedMetricWarning` saying so and returns NaN
        (one per class for ``average='none'``), whatever ``zero_division`` says:
        that option is about classes without predictions or labels in data that
        exists. The confusion matrix of nothing is defined: all zeros.
        """
        if not self.defined_when_empty and state.sums()[3] == 0:
            what = "no samples yet" if state.n == 0 else "only zero sample weights"
            warnings.warn(
                f"{self.name} has {what}: undefined, returning NaN (scikit-learn's "
                "functions refuse such input with a ValueError)",
                UndefinedMetricWarning, stacklevel=4,
            )
            return np.full(state.k, np.nan) if self.average == "none" else float("nan")
        return self.compute_from(state)

    def compute_from(self, state: ConfusionState) -> Any:
        """Compute the metric from a state with this metric's task options."""
        raise NotImplementedError  # pragma: no cover - every registered subclass overrides

    def _sums(self, state: ConfusionState):
        tp, pred, true, total = state.sums()
        if self.average == "binary":
            return tp[1:], pred[1:], true[1:], total, None
        return tp, pred, true, total, (None if self.average == "none" else self.average)
