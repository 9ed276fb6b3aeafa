"""Score metrics, pictures and bootstrap intervals of an evaluation.

Binary evaluations with a score column (``--y-score COL``, or the ``y_score`` column
of a file evaluated with the default columns, like the shipped data) also report
``roc_auc`` and ``average_precision`` (the streaming score metrics, exact) and can
draw the ROC and precision-recall curves. ``--plot DIR`` writes ``roc.png``,
``pr.png`` (with a score column) and ``confusion_matrix.png``. ``--bootstrap N``
keeps the label (and score) columns in memory and adds percentile intervals from
:func:`calipers.metrics.bootstrap`.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from calipers.evaluate._inputs import (
    split_metric_names,
    takes_weights,
    update_metric,
    warn_unweighted,
)
from calipers.evaluate._plan import Plan

__all__ = ["SCORE_DEFAULTS", "ScoreExtras", "score_column", "split_metric_names"]

#: Score metrics reported by default when a binary score column is available.
SCORE_DEFAULTS = ("roc_auc", "average_precision")


def score_column(args: argparse.Namespace, plan: Plan, path: Path,
                 defaulted: bool) -> str | None:
    """The column of positive-class scores for the curves and score metrics, if any.

    Parameters
    ----------
    args : argparse.Namespace
        The ``calipers eval`` arguments.
    plan : Plan
        The evaluation's plan (only binary tasks have a score column).
    path : pathlib.Path
        The predictions file.
    defaulted : bool
        Whether the default columns (``y_true``, ``y_pred``) were used; then a
        ``y_score`` column of the file is the score column.
    """
    if plan.task != "binary":
        return None
    if args.y_score:
        return str(args.y_score[0])
    if defaulted and args.y_pred == ["y_pred"]:
        from calipers.io import column_dtypes

        dtypes = column_dtypes(path)
        if "y_score" in dtypes and dtypes["y_score"].kind in "fiu":
            return "y_score"
    return None


@dataclass
class ScoreExtras:
    """The metrics outside the confusion Suite, curve metrics and (for ``--bootstrap``)
    the data kept in memory.

    Attributes
    ----------
    metrics : dict
        Score metric name to streaming metric (updated with the score column).
    curves : dict
        ``"roc"`` / ``"pr"`` to the streaming curve metrics (with ``--plot``).
    keep : bool
        Whether to keep every batch for the bootstrap.
    labels : dict
        Name to metric updated with the predicted labels (plugin metrics whose
        ``inputs`` is ``"labels"``; see :mod:`calipers.evaluate._inputs`).
    unweighted : set of str
        Names of the metrics whose ``update`` takes no ``sample_weight``.
    """

    metrics: dict[str, Any] = field(default_factory=dict)
    curves: dict[str, Any] = field(default_factory=dict)
    keep: bool = False
    batches: list[tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]] = (
        field(default_factory=list))
    labels: dict[str, Any] = field(default_factory=dict)
    unweighted: set[str] = field(default_factory=set)

    @classmethod
    def build(cls, names: list[str], score_col: str | None, plot: bool, keep: bool,
              labels: Sequence[str] = (), weighted: bool = False) -> ScoreExtras:
        """Make the score, labels and curve metrics.

        Parameters
        ----------
        names : list of str
            Metrics updated with the score column.
        score_col : str, optional
            The binary score column (the curves need one).
        plot : bool
            Whether to make the ROC and precision-recall curve metrics.
        keep : bool
            Whether to keep every batch (for the bootstrap).
        labels : sequence of str
            Metrics updated with the predicted labels.
        weighted : bool
            Whether there are sample weights: a metric whose ``update`` takes none
            gets a warning and is updated without them.
        """
        from calipers.metrics import metric

        extras = cls(keep=keep)
        for name in labels:
            extras.labels[name] = metric(name)
        for name in names:
            extras.metrics[name] = metric(name)
        if weighted:
            for name, m in (*extras.labels.items(), *extras.metrics.items()):
                if not takes_weights(m):
                    extras.unweighted.add(name)
                    warn_unweighted(name)
        if plot and score_col is not None:
            extras.curves = {"roc": metric("roc_curve"), "pr": metric("pr_curve")}
        return extras

    def update(self, y_true: np.ndarray, y_pred: np.ndarray, scores: np.ndarray | None,
               weight: np.ndarray | None) -> None:
        """Add one batch (codes, predictions or thresholded scores, scores, weights)."""
        for name, m in self.labels.items():
            update_metric(m, y_true, y_pred, None if name in self.unweighted else weight)
        if scores is not None:
            for name, m in self.metrics.items():
                update_metric(m, y_true, scores, None if name in self.unweighted else weight)
            for m in self.curves.values():
                update_metric(m, y_true, scores, weight)
        if self.keep:
            self.batches.append((y_true, y_pred, scores, weight))

    def values(self) -> dict[str, Any]:
        """The labels and score metrics' values, by name."""
        return {name: m.compute() for name, m in (*self.labels.items(), *self.metrics.items())}

    def data(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Every kept batch, concatenated: (y_true, y_pred, scores, weights)."""
        parts = list(zip(*self.batches, strict=True))
        t, p = np.concatenate(parts[0]), np.concatenate(parts[1])
        s = None if parts[2][0] is None else np.concatenate(parts[2])
        w = None if parts[3][0] is None else np.concatenate(parts[3])
        return t, p, s, w


def bootstrap_intervals(confusion: list[tuple[str, Any]], extras: ScoreExtras, n: int,
                        seed: int, confidence: float) -> dict[str, tuple[Any, Any]]:
    """Percentile intervals of every reported metric but the confusion matrices.

    Parameters
    ----------
    confusion : list of (str, ConfusionMetric)
        The reported confusion metrics by key (their options are used).
    extras : ScoreExtras
        The labels and score metrics and the kept data.
    n, seed, confidence
        Passed to :func:`calipers.metrics.bootstrap`; the same seed for every metric,
        so the confusion metrics share their replicates.

    Returns
    -------
    dict
        Metric key to ``(low, high)`` (arrays for per-class values). A labels or
        score metric that cannot be bootstrapped (its value is not numbers, or it
        cannot be copied empty) has no interval, with a warning saying why.
    """
    from calipers.metrics._bootstrap import bootstrap

    if not extras.batches:
        return {}
    t, p, s, w = extras.data()
    out: dict[str, tuple[Any, Any]] = {}
    for key, m in confusion:
        if m.name == "confusion_matrix":
            continue
        r = bootstrap(m, t, p, w, n=n, seed=seed, confidence=confidence)
        out[key] = (r.low, r.high)
    for metrics, x in ((extras.labels, p), (extras.metrics, s)):
        for key, m in metrics.items():
            try:
                r = bootstrap(m, t, x, None if key in extras.unweighted else w, n=n,
                              seed=seed, confidence=confidence)
            except TypeError as exc:
                warnings.warn(f"no bootstrap interval for metric {key!r}: {exc}",
                              UserWarning, stacklevel=2)
                continue
            out[key] = (r.low, r.high)
    return out


def write_plots(directory: str, suite: Any, extras: ScoreExtras, plan: Plan,
                title: str) -> list[str]:
    """Write ``confusion_matrix.png`` and, with scores, ``roc.png`` and ``pr.png``.

    Parameters
    ----------
    directory : str
        Created if missing.
    suite : calipers.metrics.Suite
        Holds the confusion counts.
    extras : ScoreExtras
        Holds the curve metrics (empty without a score column).
    plan : Plan
        For the class names.
    title : str
        Figure title (the file evaluated).

    Returns
    -------
    list of str
        The paths written.
    """
    import dataclasses

    from calipers.metrics._plot import plot_confusion_matrix, pyplot

    plt = pyplot("calipers eval --plot")
    out_dir = Path(directory)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []

    def save(ax: Any, name: str) -> None:
        fig = np.asarray(ax, dtype=object).ravel()[0].figure
        path = out_dir / name
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(str(path))

    state = suite._state
    if extras.curves:
        roc = extras.curves["roc"].compute()
        ax = roc.plot(label=f"positive: {plan.positive}")
        ax.set_title(f"ROC curve: {title}", fontsize=9)
        save(ax, "roc.png")
        pr = extras.curves["pr"].compute()
        if getattr(pr, "prevalence", None) is None:
            _, _, true, total = state.sums()
            prevalence = float(true[1]) / total if total else None
            pr = dataclasses.replace(pr, prevalence=prevalence)
        ax = pr.plot(label=f"positive: {plan.positive}")
        ax.set_title(f"Precision-recall curve: {title}", fontsize=9)
        save(ax, "pr.png")
    names = [str(c) for c in plan.classes]
    ax = plot_confusion_matrix(state.matrix(), labels=names,
                               title=None if plan.task == "multilabel" else title)
    if plan.task != "multilabel":
        ax.title.set_fontsize(9)
    save(ax, "confusion_matrix.png")
    return written
