"""The built-in streaming confusion-matrix metrics."""

from __future__ import annotations

from typing import Any

import numpy as np

from calipers.metrics import _compute
from calipers.metrics._base import flush_native
from calipers.metrics._confusion_metric import ConfusionMetric, _scalar_or_array
from calipers.metrics._state import ConfusionState


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
        values = _compute.divide(tn, neg, metric="specificity", modifier="negative",
                                 average=avg, warn_for=("specificity",),
                                 zero_division=self.zero_division)
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
        if state.task == "multilabel":
            rows = state.sums()[3]  # weight of all rows
            return _compute.ratio(state.exact_matches(), rows)
        return _compute.ratio(float(np.trace(state.values)), float(state.values.sum()))


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
    defined_when_empty = True

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

    def plot(self, ax: Any = None, *, labels: Any = None, normalize: str | None = None,
             **kwargs: Any) -> Any:
        """Draw the matrix with the counts in the cells (multilabel: one panel per label).

        Needs matplotlib (``pip install 'calipers[plot]'``).

        Parameters
        ----------
        ax : matplotlib.axes.Axes or sequence of Axes, optional
            Where to draw (multilabel: ``num_labels`` axes); a new figure by default.
        labels : sequence, optional
            Class (or label) names; default 0..k-1.
        normalize : {None, 'true', 'pred', 'all'}
            Show normalized values; ``None`` uses this metric's ``normalize`` option.
        **kwargs
            ``cmap``, ``values_format``, ``colorbar``, ``title``: see
            :func:`calipers.metrics._plot.plot_confusion_matrix`.

        Returns
        -------
        matplotlib.axes.Axes or numpy.ndarray of Axes
        """
        from calipers.metrics._plot import plot_confusion_matrix

        flush_native(self)  # counts still on a device join the host state first
        with self._lock:
            m = self._state.matrix()
        return plot_confusion_matrix(m, ax, labels=labels,
                                     normalize=normalize or self.normalize, **kwargs)


BUILTIN_METRICS: tuple[type[ConfusionMetric], ...] = (
    Accuracy, Precision, Recall, F1, FBeta, Specificity, BalancedAccuracy, MatthewsCorrCoef,
    CohenKappa, Jaccard, HammingLoss, ConfusionMatrix,
)
