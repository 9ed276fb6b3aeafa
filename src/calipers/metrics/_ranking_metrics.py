"""Streaming ROC AUC, average precision, ROC and precision-recall curves.

Exact (``bins=None``): the value equals scikit-learn's function on all the data seen
(computed by calipers' drop-ins). Binned (``bins=B``): O(B) memory per class, with a
worst-case error bound (:meth:`RocAuc.error_bound`) and an interval
(:meth:`RocAuc.bounds`) that contains the exact value.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from calipers.metrics import _ranking_binned as binned
from calipers.metrics._curves import PrCurve, RocCurve
from calipers.metrics._ranking_base import ScoreMetric
from calipers.metrics._ranking_state import ScoreHistogram

__all__ = ["AveragePrecision", "PrCurveMetric", "RocAuc", "RocCurveMetric"]

_SUM_TO_ONE = ("Target scores need to be probabilities for multiclass roc_auc, i.e. they "
               "should sum up to 1.0 over classes")


def _functional():
    # The drop-ins (calipers.metrics.roc_auc_score, ...), looked up when used.
    import calipers.metrics

    return calipers.metrics


def _sk_average(average: str | None) -> str | None:
    return None if average == "none" else average


def _one_hot(labels: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((labels.shape[0], k), dtype=np.uint8)
    out[np.arange(labels.shape[0]), labels] = 1
    return out


def _as_01(labels: np.ndarray) -> np.ndarray:
    return labels.view(np.uint8) if labels.dtype == bool else labels


class _BinnedValue(ScoreMetric):
    """A scalar (or per-class) metric with a binned state, bounds and error bound."""

    def _per_class(self, hists: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError  # pragma: no cover

    def _binned_triple(self) -> tuple:
        assert isinstance(self._state, ScoreHistogram)
        hists = self._state.hist
        if self.average == "micro":
            hists = hists.sum(axis=0, keepdims=True)
        val, lo, hi = self._per_class(hists)
        err = np.maximum(val - lo, hi - val)
        return binned.average_values((val, lo, hi, err), hists,
                                     None if self.average == "micro" else self.average)

    def _compute_binned(self) -> Any:
        return self._binned_triple()[0]

    def _check_binned(self) -> None:
        if self.bins is None:
            raise ValueError(f"{self.name} with bins=None is exact: it has no error bound")

    def bounds(self) -> tuple[Any, Any]:
        """``(lower, upper)``: the exact value lies in this interval (binned only).

        Per class (and averaged as the value is); for AUC the pairs sharing a bin
        get no / full credit; for average precision, the extreme orders of the
        scores inside each bin.
        """
        self._check_binned()
        with self._lock:
            if self._state.n == 0:
                nan = self._empty()
                return nan, nan
            _, lo, hi, _ = self._binned_triple()
            return lo, hi

    def error_bound(self) -> Any:
        """Worst-case ``|binned - exact|`` (binned only), per class / averaged as the value.

        For ROC AUC: half the share of positive-negative pairs that fall in one bin
        (those get half credit). Shrinks with more bins: with 10,000 bins on uniform
        scores it is about 5e-5.
        """
        self._check_binned()
        with self._lock:
            if self._state.n == 0:
                return self._empty()
            return self._binned_triple()[3]


class RocAuc(_BinnedValue):
    """Area under the ROC curve, streaming (exact or binned).

    Parameters
    ----------
    task, num_classes, num_labels, average, bins, score_range
        See :class:`ScoreMetric`. Multiclass averages: 'micro' (one-vs-rest only),
        'macro', 'weighted', 'none' (one-vs-rest only).
    multi_class : {'ovr', 'ovo'}
        Multiclass strategy, as scikit-learn's ``multi_class`` (exact only for 'ovo';
        'ovo' takes no sample weights). The exact multiclass state requires scores
        that sum to 1 per row (as scikit-learn); each batch is checked.
    max_fpr : float, optional
        Standardized partial AUC up to this false positive rate (binary and
        multilabel, exact only), as scikit-learn.

    Examples
    --------
    >>> import calipers
    >>> m = calipers.metric("roc_auc")
    >>> m.update([0, 1, 1, 0], [0.1, 0.8, 0.6, 0.3])
    >>> m.compute()
    1.0
    """

    name = "roc_auc"

    def __init__(self, task: str = "binary", *, multi_class: str = "ovr",
                 max_fpr: float | None = None, **options: Any) -> None:
        if multi_class not in ("ovr", "ovo"):
            raise ValueError(f"multi_class must be 'ovr' or 'ovo', got {multi_class!r}")
        self.multi_class = multi_class
        if max_fpr is not None:
            max_fpr = float(max_fpr)
            if not 0 < max_fpr <= 1:
                raise ValueError(f"Expected max_fpr in range (0, 1], got: {max_fpr!r}")
        self.max_fpr = max_fpr
        super().__init__(task, **options)
        if max_fpr is not None and (task == "multiclass" or self.bins is not None):
            raise ValueError("max_fpr (partial AUC) needs task='binary' or 'multilabel' "
                             "and bins=None")
        if multi_class == "ovo" and task == "multiclass":
            if self.bins is not None:
                raise ValueError("multi_class='ovo' needs bins=None")
            if self.average not in ("macro", "weighted"):
                raise ValueError("multi_class='ovo' supports average='macro' or 'weighted', "
                                 f"got {self.average!r}")

    @property
    def options(self) -> dict[str, Any]:
        return {**super().options, "multi_class": self.multi_class, "max_fpr": self.max_fpr}

    def _check_average(self, average: str | None) -> str | None:
        if self.task == "multiclass" and average == "samples":
            raise ValueError("roc_auc does not support average='samples' for multiclass")
        return super()._check_average(average)

    def _check_batch(self, labels, scores, weights) -> None:
        if self.task != "multiclass" or self.bins is not None:
            return
        if weights is not None and self.multi_class == "ovo":
            raise ValueError("sample_weight is not supported for multiclass one-vs-one ROC "
                             "AUC, 'sample_weight' must be None in this case.")
        if scores.shape[0] and not np.allclose(1, scores.sum(axis=1)):
            raise ValueError(_SUM_TO_ONE)

    def _per_class(self, hists):
        return binned.per_class_auc(hists)

    def _compute_exact(self) -> Any:
        F = _functional()
        (t, s), w = self._state.arrays()
        avg = _sk_average(self.average)
        if self.task == "binary":  # checked arrays: skip the drop-in's validation
            from calipers.metrics._functional_ranking import _binary_roc_auc

            return _binary_roc_auc(t, s, w, self.max_fpr)
        if self.task == "multilabel":
            return F.roc_auc_score(_as_01(t), s, average=avg, sample_weight=w,
                                   max_fpr=self.max_fpr)
        if self.k > 2:
            return F.roc_auc_score(t, s, multi_class=self.multi_class, average=avg,
                                   labels=np.arange(self.k), sample_weight=w)
        if self.multi_class == "ovr":
            return F.roc_auc_score(_one_hot(t, 2), s, average=avg, sample_weight=w)
        # two classes, one-vs-one: the one pair, each class against the other
        pos = t.astype(np.uint8)
        return 0.5 * (F.roc_auc_score(pos, s[:, 1]) + F.roc_auc_score(1 - pos, s[:, 0]))


class AveragePrecision(_BinnedValue):
    """Average precision (area under the step-wise PR curve), streaming.

    Exact: equals ``sklearn.metrics.average_precision_score`` on all the data.
    Multiclass: one-vs-rest per class on the one-hot labels (scikit-learn's
    multiclass result whenever every class occurs; a class that never occurs gets
    0 with scikit-learn's "No positive class found" warning). Binned: each bin is
    one tie group; :meth:`bounds` contains the exact value.

    Parameters
    ----------
    task, num_classes, num_labels, average, bins, score_range
        See :class:`ScoreMetric`.
    """

    name = "average_precision"

    def _per_class(self, hists):
        return binned.per_class_ap(hists)

    def _compute_exact(self) -> Any:
        F = _functional()
        (t, s), w = self._state.arrays()
        if self.task == "binary":  # checked arrays: skip the drop-in's validation
            from calipers.metrics._functional_ranking import _binary_average_precision

            return _binary_average_precision(t, s, w)
        y = _one_hot(t, self.k) if self.task == "multiclass" else _as_01(t)
        return F.average_precision_score(y, s, average=_sk_average(self.average),
                                         sample_weight=w)


class _CurveMetric(ScoreMetric):
    averages = ("micro", "none")
    default_average = "none"

    def __init__(self, task: str = "binary", *, drop_intermediate: bool = True,
                 **options: Any) -> None:
        self.drop_intermediate = bool(drop_intermediate)
        super().__init__(task, **options)

    @property
    def options(self) -> dict[str, Any]:
        return {**super().options, "drop_intermediate": self.drop_intermediate}

    def _empty(self) -> Any:
        raise ValueError(f"{self.name} has no samples yet: call update() first")

    def _columns(self) -> list[tuple[np.ndarray, np.ndarray]]:
        (t, s), _ = self._state.arrays()
        if self.task == "binary":
            return [(_as_01(t), s)]
        y = _one_hot(t, self.k) if self.task == "multiclass" else _as_01(t)
        if self.average == "micro":
            return [(y.ravel(), s.ravel())]
        return [(np.ascontiguousarray(y[:, c]), np.ascontiguousarray(s[:, c]))
                for c in range(self.k)]

    def _weights(self) -> np.ndarray | None:
        w = self._state.arrays()[1]
        if w is not None and self.average == "micro":
            return np.repeat(w, self.k)
        return w

    def _hists(self) -> np.ndarray:
        h = self._state.hist
        return h.sum(axis=0, keepdims=True) if self.average == "micro" else h

    def _result(self, curves: list) -> Any:
        return curves[0] if self.task == "binary" or self.average == "micro" else curves

    def _compute_exact(self) -> Any:
        F, w = _functional(), self._weights()
        return self._result([self._exact_curve(F, y, s, w) for y, s in self._columns()])

    def _compute_binned(self) -> Any:
        return self._result([self._binned_curve(h, self.score_range, self.drop_intermediate)
                             for h in self._hists()])

    def _exact_curve(self, F: Any, y: np.ndarray, s: np.ndarray, w: np.ndarray | None) -> Any:
        """The curve of one column from the scikit-learn drop-ins ``F``."""
        raise NotImplementedError  # pragma: no cover - both curve metrics override

    #: The curve of one (B, 2) histogram: ``(hist, score_range, drop_intermediate)``.
    _binned_curve: Any = None


class RocCurveMetric(_CurveMetric):
    """The ROC curve, streaming: a :class:`RocCurve` (binary, or ``average='micro'``)
    or a list of one per class / label (one-vs-rest, ``average='none'``, the default).

    Exact: the points of ``sklearn.metrics.roc_curve`` on all the data. Binned: one
    point per bin lower edge (``score >= edge`` counts as positive).

    Parameters
    ----------
    task, num_classes, num_labels, bins, score_range
        See :class:`ScoreMetric`.
    average : {'none', 'micro'}, optional
        Per class (default) or one curve over all flattened (label, score) pairs.
    drop_intermediate : bool
        Drop collinear points, as scikit-learn (default True).
    """

    name = "roc_curve"

    _binned_curve = staticmethod(binned.binned_roc)

    def _exact_curve(self, F: Any, y: np.ndarray, s: np.ndarray, w: np.ndarray | None) -> Any:
        fpr, tpr, thr = F.roc_curve(y, s, sample_weight=w,
                                    drop_intermediate=self.drop_intermediate)
        return RocCurve(fpr=fpr, tpr=tpr, thresholds=thr, auc=binned.trapezoid_auc(fpr, tpr))


class PrCurveMetric(_CurveMetric):
    """The precision-recall curve, streaming: a :class:`PrCurve` (binary, or
    ``average='micro'``) or a list of one per class / label (``average='none'``).

    Exact: the points of ``sklearn.metrics.precision_recall_curve`` on all the data,
    with its ``average_precision_score``. Binned: one point per bin lower edge.

    Parameters
    ----------
    task, num_classes, num_labels, bins, score_range, average
        See :class:`RocCurveMetric`.
    drop_intermediate : bool
        Drop points where the true positives do not change, as scikit-learn
        (default False, scikit-learn's default for this curve).
    """

    name = "pr_curve"

    def __init__(self, task: str = "binary", *, drop_intermediate: bool = False,
                 **options: Any) -> None:
        super().__init__(task, drop_intermediate=drop_intermediate, **options)

    _binned_curve = staticmethod(binned.binned_pr)

    def _exact_curve(self, F: Any, y: np.ndarray, s: np.ndarray, w: np.ndarray | None) -> Any:
        p, r, thr = F.precision_recall_curve(y, s, sample_weight=w,
                                             drop_intermediate=self.drop_intermediate)
        ap = F.average_precision_score(y, s, sample_weight=w)
        return PrCurve(precision=p, recall=r, thresholds=thr, average_precision=float(ap))
