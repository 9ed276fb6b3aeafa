"""Suite: several metrics from one shared state in one pass; the metric() factory."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from calipers.metrics._base import (
    Locked,
    Metric,
    _route_partitioned,
    drop_native,
    flush_native,
    native_result,
)
from calipers.metrics._confusion_metric import ConfusionMetric
from calipers.metrics._state import ConfusionState, check_task

DEFAULT_METRICS: dict[str, list[str]] = {
    "binary": ["accuracy", "precision", "recall", "f1", "specificity", "balanced_accuracy",
               "mcc", "cohen_kappa", "jaccard"],
    "multiclass": ["accuracy", "precision", "recall", "f1", "balanced_accuracy", "mcc",
                   "cohen_kappa", "jaccard"],
    "multilabel": ["accuracy", "precision", "recall", "f1", "jaccard", "hamming_loss"],
}


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

    @_route_partitioned
    def update(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Count a batch once for every metric. A failed update changes nothing.

        Like every metric's ``update``, it takes dask arrays / columns too (with the
        dask plugin): one suite state per partition, merged.
        """
        with self._lock:
            self._state.update(y_true, y_pred, sample_weight)

    @native_result
    def compute(self) -> dict[str, Any]:
        """Every metric's value, keyed by name (name[options] when a name repeats)."""
        with self._lock:
            pairs = zip(self.keys, self.metrics, strict=True)
            return {key: m.value_of(self._state) for key, m in pairs}

    def merge(self, *others: Suite) -> Suite:
        """Add other suites' states (same metrics and options) into this one."""
        for other in others:
            if other is self:
                raise ValueError("cannot merge a suite into itself")
            if [m.options for m in other.metrics] != [m.options for m in self.metrics] or \
                    other.keys != self.keys:
                raise ValueError("cannot merge suites with different metrics or options")
            with other._lock:
                flush_native(other)
                snapshot = copy.deepcopy(other._state)
            with self._lock:
                flush_native(self)
                self._state.merge(snapshot)
        return self

    def reset(self) -> None:
        with self._lock:
            drop_native(self, fold=True)
            self._state.reset()

    @property
    def n_samples(self) -> int:
        flush_native(self)
        return self._state.n

    def sync(self, group: Any = None) -> Suite:
        """Merge the suite's state over a distributed job (see :meth:`Metric.sync`)."""
        return Metric.sync(self, group)  # type: ignore[arg-type]

    def state_dict(self) -> dict[str, Any]:
        flush_native(self)
        return {"metrics": [m.state_dict()["options"] | {"name": m.name} for m in self.metrics],
                "state": self._state.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        with self._lock:
            self._state.load_state_dict(state["state"])
            drop_native(self, fold=False)


    def __repr__(self) -> str:
        return f"Suite({self.keys}, {self._state.options})"
