"""Streaming confusion-matrix metrics and the Suite that shares one state among them."""

from __future__ import annotations

import copy
import threading
import warnings
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import numpy as np

from calipers.metrics import _compute
from calipers.metrics._base import Locked, Metric
from calipers.metrics._state import ConfusionState, check_task

AVERAGES = ("binary", "micro", "macro", "weighted", "samples", "none")

#: Default metric names per task (what ``calipers eval`` shows).
DEFAULT_METRICS: dict[str, list[str]] = {
    "binary": ["accuracy", "precision", "recall", "f1", "specificity", "balanced_accuracy",
               "mcc", "cohen_kappa", "jaccard"],
    "multiclass": ["accuracy", "precision", "recall", "f1", "balanced_accuracy", "mcc",
                   "cohen_kappa", "jaccard"],
    "multilabel": ["accuracy", "precision", "recall", "f1", "jaccard", "hamming_loss"],
}


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


class ConfusionMetric(Metric):
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
        """The metric over every sample seen so far."""
        with self._lock:
            return self.compute_from(self._state)

    def reset(self) -> None:
        with self._lock:
            self._state.reset()

    def _merge_state(self, other: Metric) -> None:
        assert isinstance(other, ConfusionMetric)
        if other.options != self.options:
            raise ValueError(
                f"cannot merge {self.name} with options {other.options} into {self.options}"
            )
        self._state.merge(other._state)

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, "options": self.options, "state": self._state.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("name") != self.name:
            raise ValueError(f"state is for metric {state.get('name')!r}, not {self.name!r}")
        if state["options"] != self.options:
            raise ValueError(
                f"state has options {state['options']}, this metric has {self.options}"
            )
        with self._lock:
            self._state.load_state_dict(state["state"])

    @property
    def n_samples(self) -> int:
        """Number of samples counted so far."""
        return self._state.n

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({opts})"

    # -- computation -------------------------------------------------------
    def compute_from(self, state: ConfusionState) -> Any:
        """Compute the metric from a state with this metric's task options."""
        raise NotImplementedError  # pragma: no cover - every registered subclass overrides

    def _sums(self, state: ConfusionState):
        tp, pred, true, total = state.sums()
        if self.average == "binary":
            return tp[1:], pred[1:], true[1:], total, None
        return tp, pred, true, total, (None if self.average == "none" else self.average)


class _PRFMetric(ConfusionMetric):
    beta: float = 1.0
    which = "f-score"

    def compute_from(self, state: ConfusionState) -> Any:
        if self.average == "samples":
            rows, weights = state.sample_rows()
            values = _compute.samples_prf(rows, weights, beta=self.beta,
                                          zero_division=self.zero_division,
                                          warn_for=(self.which,))
            return float(values[self.which])
        tp, pred, true, _, avg = self._sums(state)
        p, r, f, _ = _compute.prf_from_sums(tp, pred, true, beta=self.beta, average=avg,
                                            zero_division=self.zero_division,
                                            warn_for=(self.which,))
        value = {"precision": p, "recall": r, "f-score": f}[self.which]
        if self.average == "binary":
            return float(np.asarray(value)[0])
        return _scalar_or_array(value)


class Precision(_PRFMetric):
    """Precision: tp / (tp + fp)."""

    name = "precision"
    which = "precision"


class Recall(_PRFMetric):
    """Recall (sensitivity): tp / (tp + fn)."""

    name = "recall"
    which = "recall"


class F1(_PRFMetric):
    """F1 score: the harmonic mean of precision and recall."""

    name = "f1"


class FBeta(_PRFMetric):
    """F-beta score; ``beta > 1`` weighs recall more, ``beta < 1`` precision.

    Parameters
    ----------
    beta : float
        Positive weight of recall relative to precision.
    **options
        See :class:`ConfusionMetric`.
    """

    name = "fbeta"

    def __init__(self, task: str = "binary", *, beta: float = 1.0, **options: Any) -> None:
        beta = float(beta)
        if not beta > 0 or not np.isfinite(beta):
            raise ValueError(f"beta must be positive and finite, got {beta}")
        self.beta = beta
        super().__init__(task, **options)

    @property
    def options(self) -> dict[str, Any]:
        return {**super().options, "beta": self.beta}


class Jaccard(_PRFMetric):
    """Jaccard index (intersection over union): tp / (tp + fp + fn)."""

    name = "jaccard"

    def compute_from(self, state: ConfusionState) -> Any:
        if self.average == "samples":
            rows, weights = state.sample_rows()
            values = _compute.samples_prf(rows, weights, beta=1.0,
                                          zero_division=self.zero_division,
                                          warn_for=("jaccard",))
            return float(values["jaccard"])
        tp, pred, true, _, avg = self._sums(state)
        value = _compute.jaccard_from_sums(tp, pred, true, average=avg,
                                           zero_division=self.zero_division)
        if self.average == "binary":
            return float(np.asarray(value).reshape(-1)[0])
        return _scalar_or_array(value)


class Specificity(ConfusionMetric):
    """Specificity (true negative rate): tn / (tn + fp), per class one-vs-rest."""

    name = "specificity"
    averages = ("binary", "micro", "macro", "weighted", "none")

    def compute_from(self, state: ConfusionState) -> Any:
        tp, pred, true, total, avg = self._sums(state)
        tn = total - pred - true + tp
        neg = total - true
        if avg == "micro":
            tn, neg = np.array([tn.sum()]), np.array([neg.sum()])
        undefined = neg == 0
        with np.errstate(divide="ignore", invalid="ignore"):
            values = np.where(undefined, 0.0, tn / np.where(undefined, 1, neg))
        if undefined.any():
            zd = self.zero_division
            if zd == "warn":
                warnings.warn(
                    "Specificity is ill-defined and being set to 0.0 in labels with no "
                    "negative samples. Use `zero_division` parameter to control this behavior.",
                    _compute.UndefinedMetricWarning, stacklevel=3,
                )
            else:
                values = np.where(undefined, zd, values)
        if avg == "micro" or self.average == "binary":
            return float(values[0])
        if avg is None:
            return values
        if avg == "weighted":
            if true.sum() == 0:
                return 0.0
            return float(np.average(values, weights=true))
        return float(values.mean()) if values.size else 0.0


class Accuracy(ConfusionMetric):
    """Accuracy: the share of samples predicted exactly.

    For multilabel input this is subset accuracy (every label of a row right), as in
    scikit-learn's ``accuracy_score``; :class:`HammingLoss` counts single entries.
    """

    name = "accuracy"
    uses_average = False

    def compute_from(self, state: ConfusionState) -> Any:
        total = float(state.values.sum()) if state.task != "multilabel" else None
        if state.task == "multilabel":
            rows = state.sums()[3]  # weight of all rows
            return _compute.ratio(state.exact_matches(), rows)
        return _compute.ratio(float(np.trace(state.values)), total)


class HammingLoss(ConfusionMetric):
    """Hamming loss: the share of wrongly predicted labels (entries for multilabel)."""

    name = "hamming_loss"
    uses_average = False

    def compute_from(self, state: ConfusionState) -> Any:
        v = state.values
        if state.task == "multilabel":
            m = v[: 4 * state.k].reshape(state.k, 2, 2)
            wrong = float(m[:, 0, 1].sum() + m[:, 1, 0].sum())
            rows = float(m[0].sum()) if state.k else 0.0
            return _compute.ratio(wrong, rows * state.k)
        total = float(v.sum())
        return _compute.ratio(total - float(np.trace(v)), total)


class BalancedAccuracy(ConfusionMetric):
    """Balanced accuracy: the mean recall over classes that occur in ``y_true``.

    Parameters
    ----------
    adjusted : bool
        Rescale so that chance scores 0 and perfect 1 (as scikit-learn).
    """

    name = "balanced_accuracy"
    tasks = ("binary", "multiclass")
    uses_average = False

    def __init__(self, task: str = "binary", *, adjusted: bool = False,
                 **options: Any) -> None:
        self.adjusted = bool(adjusted)
        super().__init__(task, **options)

    @property
    def options(self) -> dict[str, Any]:
        return {**super().options, "adjusted": self.adjusted}

    def compute_from(self, state: ConfusionState) -> Any:
        tp, _, true, _ = state.sums()
        return float(_compute.balanced_accuracy_from_sums(tp, true, adjusted=self.adjusted))


class MatthewsCorrCoef(ConfusionMetric):
    """Matthews correlation coefficient (multiclass R_K); multilabel: over all entries."""

    name = "mcc"
    uses_average = False

    def compute_from(self, state: ConfusionState) -> Any:
        if state.task == "multilabel":
            m = state.matrix().sum(axis=0)  # one 2 x 2 table over every entry
            tp, pred, true = np.diagonal(m).copy(), m.sum(axis=0), m.sum(axis=1)
            return float(_compute.matthews_from_sums(true, pred, float(tp.sum()),
                                                     float(m.sum())))
        tp, pred, true, total = state.sums()
        return float(_compute.matthews_from_sums(true, pred, float(tp.sum()), total))


class CohenKappa(ConfusionMetric):
    """Cohen's kappa: agreement corrected for chance.

    Parameters
    ----------
    weights : {None, 'linear', 'quadratic'}
        Disagreement weights, as in scikit-learn.
    """

    name = "cohen_kappa"
    tasks = ("binary", "multiclass")
    uses_average = False

    def __init__(self, task: str = "binary", *, weights: str | None = None,
                 **options: Any) -> None:
        if weights not in (None, "linear", "quadratic"):
            raise ValueError(f"weights must be None, 'linear' or 'quadratic', got {weights!r}")
        self.weights = weights
        super().__init__(task, **options)

    @property
    def options(self) -> dict[str, Any]:
        return {**super().options, "weights": self.weights}

    def compute_from(self, state: ConfusionState) -> Any:
        return float(_compute.cohen_kappa_from_matrix(state.matrix(), weights=self.weights))


class ConfusionMatrix(ConfusionMetric):
    """The confusion matrix: k x k (rows true, columns predicted), or (L, 2, 2).

    Parameters
    ----------
    normalize : {None, 'true', 'pred', 'all'}
        Divide by row sums, column sums or the total, as in scikit-learn.
    """

    name = "confusion_matrix"
    uses_average = False

    def __init__(self, task: str = "binary", *, normalize: str | None = None,
                 **options: Any) -> None:
        if normalize not in (None, "true", "pred", "all"):
            raise ValueError(
                f"normalize must be None, 'true', 'pred' or 'all', got {normalize!r}"
            )
        self.normalize = normalize
        super().__init__(task, **options)

    @property
    def options(self) -> dict[str, Any]:
        return {**super().options, "normalize": self.normalize}

    def compute_from(self, state: ConfusionState) -> Any:
        m = state.matrix()
        if self.normalize is None:
            return m
        axis = {"true": -1, "pred": -2, "all": (-2, -1)}[self.normalize]
        with np.errstate(all="ignore"):
            out = m / m.sum(axis=axis, keepdims=True)
        return np.nan_to_num(out)


BUILTIN_METRICS: tuple[type[ConfusionMetric], ...] = (
    Accuracy, Precision, Recall, F1, FBeta, Specificity, BalancedAccuracy, MatthewsCorrCoef,
    CohenKappa, Jaccard, HammingLoss, ConfusionMatrix,
)


# ---------------------------------------------------------------------------
# Suite: many metrics, one state, one pass
# ---------------------------------------------------------------------------


def _metric_class(name: str) -> type:
    from calipers import plugins

    return plugins.get("metric", name)


def metric(name: str, **options: Any) -> Metric:
    """Build a registered metric by name.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"f1"`` (``calipers plugins --all`` lists them).
    **options
        Passed to the metric's constructor (``task``, ``num_classes``, ``average``...).

    Examples
    --------
    >>> import calipers
    >>> m = calipers.metric("f1", task="multiclass", num_classes=3, average="macro")
    """
    cls = _metric_class(name)
    return cls(**options)


class Suite(Locked):
    """Several confusion metrics computed from ONE shared state in one pass.

    Parameters
    ----------
    metrics : sequence of str or ConfusionMetric
        Metric names (built with the shared options below) or metric instances
        (their task, size and threshold must match the suite's).
    task, num_classes, num_labels, threshold
        The shared counting options (see :class:`ConfusionMetric`).
    average, zero_division
        Defaults for metrics given by name.

    Examples
    --------
    >>> s = Suite(["accuracy", "f1"], task="binary")
    >>> s.update([0, 1, 1], [0, 1, 0])
    >>> s.compute()
    {'accuracy': 0.6666666666666666, 'f1': 0.6666666666666666}
    """

    def __init__(self, metrics: Iterable[str | ConfusionMetric] | None = None, *,
                 task: str = "binary", num_classes: int | None = None,
                 num_labels: int | None = None, average: str | None = None,
                 threshold: float = 0.5, zero_division: Any = "warn") -> None:
        self.task = task
        check_task(task, num_classes, num_labels)
        if metrics is None:
            metrics = DEFAULT_METRICS[task]
        built: list[ConfusionMetric] = []
        for m in metrics:
            if isinstance(m, str):
                cls = _metric_class(m)
                if not (isinstance(cls, type) and issubclass(cls, ConfusionMetric)):
                    raise TypeError(f"metric {m!r} is not a confusion-matrix metric")
                kwargs: dict[str, Any] = {"num_classes": num_classes, "num_labels": num_labels,
                                          "threshold": threshold,
                                          "zero_division": zero_division}
                if cls.uses_average:
                    avg = average
                    if avg is not None and avg not in cls.averages:
                        avg = None  # e.g. 'samples' for specificity: use its default
                    kwargs["average"] = avg
                m = cls(task, **kwargs)
            elif not isinstance(m, ConfusionMetric):
                raise TypeError(
                    f"Suite takes metric names or confusion metrics, got {type(m).__name__}"
                )
            built.append(m)
        if not built:
            raise ValueError("Suite needs at least one metric")
        self.metrics: list[ConfusionMetric] = built
        self._state = ConfusionState(task, num_classes, num_labels, threshold,
                                     track_samples=any(m.needs_samples for m in built))
        for m in built:
            if (m.task, m._state.k, m.threshold) != (task, self._state.k, self._state.threshold):
                raise ValueError(
                    f"{m!r} does not share the suite's task options {self._state.options}"
                )
        self.keys = self._keys(built)
        self._lock = threading.RLock()

    @staticmethod
    def _keys(metrics: Sequence[ConfusionMetric]) -> list[str]:
        names = [m.name for m in metrics]
        keys = []
        for m in metrics:
            key = m.name
            if names.count(m.name) > 1:
                extra = [f"{k}={v}" for k, v in m.options.items()
                         if k in ("average", "beta", "weights", "normalize", "adjusted")]
                key = f"{m.name}[{','.join(extra)}]"
            keys.append(key)
        if len(set(keys)) != len(keys):
            raise ValueError(f"Suite has the same metric twice: {keys}")
        return keys

    def update(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Count a batch once for every metric. A failed update changes nothing."""
        with self._lock:
            self._state.update(y_true, y_pred, sample_weight)

    def compute(self) -> dict[str, Any]:
        """Every metric's value, keyed by name (name[options] when a name repeats)."""
        with self._lock:
            pairs = zip(self.keys, self.metrics, strict=True)
            return {key: m.compute_from(self._state) for key, m in pairs}

    def merge(self, *others: Suite) -> Suite:
        """Add other suites' states (same metrics and options) into this one."""
        for other in others:
            if other is self:
                raise ValueError("cannot merge a suite into itself")
            if [m.options for m in other.metrics] != [m.options for m in self.metrics] or \
                    other.keys != self.keys:
                raise ValueError("cannot merge suites with different metrics or options")
            with other._lock:
                snapshot = copy.deepcopy(other._state)
            with self._lock:
                self._state.merge(snapshot)
        return self

    def reset(self) -> None:
        with self._lock:
            self._state.reset()

    @property
    def n_samples(self) -> int:
        return self._state.n

    def state_dict(self) -> dict[str, Any]:
        return {"metrics": [m.state_dict()["options"] | {"name": m.name} for m in self.metrics],
                "state": self._state.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._state.load_state_dict(state["state"])


    def __repr__(self) -> str:
        return f"Suite({self.keys}, {self._state.options})"
