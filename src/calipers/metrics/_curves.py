"""Curve results returned by the streaming ``roc_curve`` / ``pr_curve`` metrics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PrCurve", "RocCurve"]


@dataclass(frozen=True)
class RocCurve:
    """A ROC curve, as :func:`calipers.metrics.roc_curve` returns it.

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

    def plot(self, ax: Any = None, *, label: str | None = None, **line_kwargs: Any) -> Any:
        """Draw the curve with the chance diagonal; the AUC goes in the legend.

        Needs matplotlib (``pip install 'calipers[plot]'``).

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Where to draw; a new figure's axes by default.
        label : str, optional
            Legend label (the AUC is appended).
        **line_kwargs
            Passed to ``ax.plot`` for the curve.

        Returns
        -------
        matplotlib.axes.Axes
            ``ax.lines[0]`` is the curve (x: fpr, y: tpr), ``ax.lines[1]`` the diagonal.
        """
        from calipers.metrics._plot import plot_roc_curve

        return plot_roc_curve(self.fpr, self.tpr, self.auc, ax, label=label, **line_kwargs)


@dataclass(frozen=True)
class PrCurve:
    """A precision-recall curve, as :func:`calipers.metrics.precision_recall_curve` returns it.

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

    def plot(self, ax: Any = None, *, label: str | None = None, **line_kwargs: Any) -> Any:
        """Draw the curve as a step plot (AP in the legend) with the prevalence baseline.

        Needs matplotlib (``pip install 'calipers[plot]'``). The baseline is drawn
        when :attr:`prevalence` is known.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Where to draw; a new figure's axes by default.
        label : str, optional
            Legend label (the AP is appended).
        **line_kwargs
            Passed to ``ax.plot`` for the curve.

        Returns
        -------
        matplotlib.axes.Axes
            ``ax.lines[0]`` is the curve (x: recall, y: precision, ``steps-post``),
            ``ax.lines[1]`` the baseline when drawn.
        """
        from calipers.metrics._plot import plot_pr_curve

        return plot_pr_curve(self.precision, self.recall, self.average_precision, ax,
                             prevalence=self.prevalence, label=label, **line_kwargs)
