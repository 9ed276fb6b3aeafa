"""Streaming log loss, Brier score and top-k accuracy: small exact sum states.

Each metric keeps a few float64 sums (weighted per-sample values, total weight) and
the int64 sample count, merged by addition; :meth:`compute` equals the scikit-learn
function (``log_loss``, ``brier_score_loss``, ``top_k_accuracy_score``) on all the
data, up to floating-point summation order. NDCG: :mod:`calipers.metrics._score_ndcg`.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np

from calipers.metrics._base import Metric, OptionsMetric
from calipers.metrics._compute import UndefinedMetricWarning
from calipers.metrics._ranking_base import warn_empty
from calipers.metrics._ranking_state import parse_scores
from calipers.metrics._state import check_task

__all__ = ["BrierScore", "LogLoss", "SumMetric", "TopKAccuracy"]


class SumMetric(OptionsMetric):
    """Base of metrics whose state is a few float64 totals plus a sample count.

    Each name in ``fields`` is a declared state (:meth:`Metric.add_state`): a float
    merged by ``field_merges.get(name, "sum")`` (``"min"`` / ``"max"`` start at
    +inf / -inf), plus ``n``, the int sample count. Subclasses implement
    :meth:`_batch_sums` (validate a batch and return its totals, in ``fields``
    order, and its size) and :meth:`_value` (the metric from the totals), and list
    their constructor options in :attr:`options`.
    """

    name: ClassVar[str] = ""
    inputs: ClassVar[str] = "scores"
    fields: ClassVar[tuple[str, ...]] = ()
    #: Merge rule of the fields that are not sums.
    field_merges: ClassVar[dict[str, str]] = {}

    # The totals are declared states: the base Metric's derived methods apply, not
    # OptionsMetric's state-object ones.
    reset = Metric.reset
    _merge_state = Metric._merge_state
    state_dict = Metric.state_dict
    load_state_dict = Metric.load_state_dict

    def __init__(self) -> None:
        super().__init__()
        start = {"sum": 0.0, "min": float("inf"), "max": float("-inf")}
        for field in self.fields:
            rule = self.field_merges.get(field, "sum")
            self.add_state(field, start[rule], merge=rule)
        self.add_state("n", 0, merge="sum")

    def _batch_sums(self, y_true: Any, y_score: Any, sample_weight: Any
                    ) -> tuple[Any, int]:
        raise NotImplementedError  # pragma: no cover

    def _value(self, sums: dict[str, float]) -> Any:
        raise NotImplementedError  # pragma: no cover

    def update(self, y_true: Any, y_score: Any, sample_weight: Any = None) -> None:
        """Add a batch; a failed update leaves the state unchanged."""
        sums, n = self._batch_sums(y_true, y_score, sample_weight)
        for field, value in zip(self.fields, sums, strict=True):
            rule, old = self.field_merges.get(field), getattr(self, field)
            value = float(value)
            setattr(self, field, old + value if rule is None else
                    (min(old, value) if rule == "min" else max(old, value)))
        self.n += int(n)

    def compute(self) -> Any:
        with self._lock:
            if self.n == 0:
                warn_empty(self.name)
                return float("nan")
            return self._value({field: getattr(self, field) for field in self.fields})

    @property
    def n_samples(self) -> int:
        """Number of samples (rows) seen so far."""
        return self.n


def _weighted_sum(values: np.ndarray, w: np.ndarray | None) -> tuple[float, float]:
    if w is None:
        return float(np.sum(values, dtype=np.float64)), float(values.shape[0])
    return float(np.dot(values.astype(np.float64), w)), float(np.sum(w))


def _ratio(num: float, den: float, name: str) -> float:
    if den == 0:
        warnings.warn(f"{name}: the sample weights sum to zero; returning NaN.",
                      UndefinedMetricWarning, stacklevel=4)
        return float("nan")
    return num / den


def _check_proba_task(name: str, task: str) -> None:
    if task not in ("binary", "multiclass"):
        raise ValueError(f"{name} is not defined for task={task!r}; supported: binary, "
                         "multiclass")


class _ProbaMetric(SumMetric):
    """Probabilities against labels: binary (n,) probabilities of class 1, or
    multiclass (n, num_classes) rows of class probabilities."""

    def __init__(self, task: str = "binary", *, num_classes: int | None = None) -> None:
        _check_proba_task(self.name, task)
        self.k = check_task(task, num_classes, None)
        self.task = task
        self.num_classes = num_classes if task == "multiclass" else None
        super().__init__()

    @property
    def options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {"task": self.task}
        if self.num_classes is not None:
            opts["num_classes"] = self.num_classes
        return opts

    def _probabilities(self, y_true, y_score, sample_weight, low: str):
        labels, p, w = parse_scores(self.task, self.k, y_true, y_score, sample_weight,
                                    score_name="y_proba")
        if p.size and p.max() > 1:
            raise ValueError(f"y_prob contains values greater than 1: {p.max()}")
        if p.size and p.min() < 0:
            raise ValueError(f"y_prob contains values {low} than 0: {p.min()}")
        if self.task == "binary":
            p = np.stack((1 - p, p), axis=1)
            onehot = np.stack((~labels, labels), axis=1).astype(p.dtype)
        else:
            eps = np.finfo(p.dtype).eps
            if p.size and not np.allclose(p.sum(axis=1), 1, rtol=np.sqrt(eps), atol=0):
                warnings.warn("The y_prob values do not sum to one. Make sure to pass "
                              "probabilities.", UserWarning, stacklevel=4)
            onehot = np.zeros(p.shape, dtype=p.dtype)
            onehot[np.arange(p.shape[0]), labels] = 1
        return onehot, p, w


class LogLoss(_ProbaMetric):
    """Log loss (cross-entropy), as ``sklearn.metrics.log_loss`` with
    ``labels=range(num_classes)``: probabilities are clipped to ``[eps, 1 - eps]``
    (``eps`` of their dtype).

    Parameters
    ----------
    task : {'binary', 'multiclass'}
    num_classes : int, optional
    normalize : bool
        Mean (default) or sum of the per-sample losses.
    """

    name = "log_loss"
    fields = ("loss", "weight")

    def __init__(self, task: str = "binary", *, num_classes: int | None = None,
                 normalize: bool = True) -> None:
        self.normalize = bool(normalize)
        super().__init__(task, num_classes=num_classes)

    @property
    def options(self) -> dict[str, Any]:
        return {**super().options, "normalize": self.normalize}

    def _batch_sums(self, y_true, y_score, sample_weight):
        onehot, p, w = self._probabilities(y_true, y_score, sample_weight, "lower")
        eps = np.finfo(p.dtype).eps
        p = np.clip(p, eps, 1 - eps)
        loss = -np.sum(onehot * np.log(p), axis=1)
        return _weighted_sum(loss, w), p.shape[0]

    def _value(self, sums):
        if not self.normalize:
            return sums["loss"]
        return _ratio(sums["loss"], sums["weight"], self.name)


class BrierScore(_ProbaMetric):
    """Brier score loss, as ``sklearn.metrics.brier_score_loss`` (binary: mean squared
    difference of the class-1 probability and the label; multiclass: mean over rows
    of the squared distance to the one-hot label, with ``labels=range(num_classes)``).

    Parameters
    ----------
    task : {'binary', 'multiclass'}
    num_classes : int, optional
    scale_by_half : bool or 'auto'
        Halve the multiclass sum; 'auto' (default) halves for two classes, so binary
        gives the familiar mean squared error, as scikit-learn.
    """

    name = "brier_score"
    fields = ("loss", "weight")

    def __init__(self, task: str = "binary", *, num_classes: int | None = None,
                 scale_by_half: bool | str = "auto") -> None:
        if not (scale_by_half == "auto" or isinstance(scale_by_half, (bool, np.bool_))):
            raise ValueError(f"scale_by_half must be True, False or 'auto', got "
                             f"{scale_by_half!r}")
        self.scale_by_half = scale_by_half if isinstance(scale_by_half, str) \
            else bool(scale_by_half)
        super().__init__(task, num_classes=num_classes)

    @property
    def options(self) -> dict[str, Any]:
        return {**super().options, "scale_by_half": self.scale_by_half}

    def _batch_sums(self, y_true, y_score, sample_weight):
        onehot, p, w = self._probabilities(y_true, y_score, sample_weight, "less")
        return _weighted_sum(np.sum((onehot - p) ** 2, axis=1), w), p.shape[0]

    def _value(self, sums):
        value = _ratio(sums["loss"], sums["weight"], self.name)
        half = self.k < 3 if self.scale_by_half == "auto" else self.scale_by_half
        return value * 0.5 if half else value


class TopKAccuracy(SumMetric):
    """Top-k accuracy, as ``sklearn.metrics.top_k_accuracy_score`` with
    ``labels=range(num_classes)``: a sample is right when its label is among the
    ``k`` highest scores (ties: the higher class index ranks first, as scikit-learn).

    Binary (scores of shape (n,)): with ``k=1`` the prediction is ``score > 0.5``
    when every score seen lies in [0, 1], else ``score > 0``, decided on all the
    data as scikit-learn does (both counts are kept); ``k >= 2`` is always right.

    Parameters
    ----------
    task : {'binary', 'multiclass'}
    num_classes : int, optional
    k : int
        Number of top scores to look at (default 2, as scikit-learn).
    normalize : bool
        Share of samples right (default) or their (weighted) number.
    """

    name = "top_k_accuracy"
    fields = ("hits", "hits_at_0", "weight", "min", "max")
    field_merges = {"min": "min", "max": "max"}

    def __init__(self, task: str = "binary", *, num_classes: int | None = None, k: int = 2,
                 normalize: bool = True) -> None:
        _check_proba_task(self.name, task)
        self.n_classes = check_task(task, num_classes, None)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be an integer >= 1, got {k!r}")
        self.task, self.k, self.normalize = task, int(k), bool(normalize)
        self.num_classes = num_classes if task == "multiclass" else None
        super().__init__()

    @property
    def options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {"task": self.task, "k": self.k, "normalize": self.normalize}
        if self.num_classes is not None:
            opts["num_classes"] = self.num_classes
        return opts

    def _batch_sums(self, y_true, y_score, sample_weight):
        labels, s, w = parse_scores(self.task, self.n_classes, y_true, y_score,
                                    sample_weight)
        n = labels.shape[0]
        if self.task == "binary":
            if self.k == 1:
                hits = (s > 0.5) == labels
                hits0 = (s > 0) == labels
            else:
                hits = hits0 = np.ones(n, dtype=bool)
            lo, hi = (float(s.min()), float(s.max())) if n else (np.inf, -np.inf)
        else:
            true = s[np.arange(n), labels][:, None]
            above = s > true
            tied_after = (s == true) & (np.arange(self.n_classes) > labels[:, None])
            hits = hits0 = (above.sum(axis=1) + tied_after.sum(axis=1)) < self.k
            lo, hi = np.inf, -np.inf
        h, wsum = _weighted_sum(hits, w)
        h0 = _weighted_sum(hits0, w)[0]
        return np.array([h, h0, wsum, lo, hi]), n

    def _value(self, sums):
        if self.k >= self.n_classes:
            warnings.warn(
                f"'k' ({self.k}) greater than or equal to 'n_classes' ({self.n_classes}) "
                "will result in a perfect score and is therefore meaningless.",
                UndefinedMetricWarning, stacklevel=3)
        hits = sums["hits"]
        if self.task == "binary" and not (sums["min"] >= 0 and sums["max"] <= 1):
            hits = sums["hits_at_0"]
        return _ratio(hits, sums["weight"], self.name) if self.normalize else hits
