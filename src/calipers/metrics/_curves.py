"""Curve results returned by the streaming ``roc_curve`` / ``pr_curve`` metrics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PrCurve", "RocCurve"]


class _Curve:
    """The ``plot`` method the curve results share; each says what it draws in ``_draw``."""

    def plot(self, ax: Any = None, *, label: str | None = None, **line_kwargs: Any) -> Any:
        """Draw the curve with its reference line; its area goes in the legend.

        Needs matplotlib (``pip install 'calipers[plot]'``). What is drawn: see the
        class docstring.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Where to draw; a new figure's axes by default.
        label : str, optional
            Legend label (the area, AUC or AP, is appended).
        **line_kwargs
            Passed to ``ax.plot`` for the curve.

        Returns
        -------
        matplotlib.axes.Axes
            ``ax.lines[0]`` is the curve, ``ax.lines[1]`` the reference line when drawn.
        """
        return self._draw(ax, label, line_kwargs)

    def _draw(self, ax: Any, label: str | None, line_kwargs: dict[str, Any]) -> Any:
        raise NotImplementedError  # pragma: no cover - both curves override


@dataclass(frozen=True)
class RocCurve(_Curve):
    """A ROC curve, as :func:`calipers.metrics.roc_curve` returns it.

    :meth:`plot` draws tpr against fpr with the chance diagonal (``ax.lines[1]``)
    and the AUC in the legend.

    Attributes
    ----------
    fpr, tpr : ndarray of float64
        False / true positive rates, increasing, starting at 0.
    thresholds : ndarray
        ``thresholds[i]`` gives ``(fpr[i], tpr[i])`` when ``score >= thresholds[i]``
        counts as positive; ``thresholds[0]`` is ``inf``.
    auc : float
        Area under the curve (trapezoids).
    """

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    auc: float

    def _draw(self, ax: Any, label: str | None, line_kwargs: dict[str, Any]) -> Any:
        from calipers.metrics._plot import plot_roc_curve

        return plot_roc_curve(self.fpr, self.tpr, self.auc, ax, label=label, **line_kwargs)


@dataclass(frozen=True)
class PrCurve(_Curve):
    """A precision-recall curve, as :func:`calipers.metrics.precision_recall_curve` returns it.

    :meth:`plot` draws precision against recall as a step plot (``steps-post``)
    with the AP in the legend and, when :attr:`prevalence` is known, the prevalence
    baseline (``ax.lines[1]``).

    Attributes
    ----------
    precision, recall : ndarray of float64
        Precision and recall, recall decreasing to 0 (last point is (1, 0)).
    thresholds : ndarray
        Increasing scores; ``thresholds[i]`` gives ``(precision[i], recall[i])``.
    average_precision : float
        Step-wise area under the curve, as :func:`average_precision_score`.
    prevalence : float or None
        Share (weight) of positives, the precision of a random classifier; ``None``
        when not known. :meth:`plot` draws it as the baseline.
    """

    precision: np.ndarray
    recall: np.ndarray
    thresholds: np.ndarray
    average_precision: float
    prevalence: float | None = None

    def _draw(self, ax: Any, label: str | None, line_kwargs: dict[str, Any]) -> Any:
        from calipers.metrics._plot import plot_pr_curve

        return plot_pr_curve(self.precision, self.recall, self.average_precision, ax,
                             prevalence=self.prevalence, label=label, **line_kwargs)
