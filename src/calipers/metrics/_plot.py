"""Pictures of metric results: ROC and precision-recall curves, confusion matrices.

matplotlib is the optional extra ``plot`` (``pip install 'calipers[plot]'``); it is
imported only when something is drawn, and a missing matplotlib raises
:class:`calipers.errors.MissingExtraError` naming that command. Without a display
(and no backend chosen by the user), the non-interactive Agg backend is used, so
plotting works on servers and in CI.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["plot_confusion_matrix", "plot_pr_curve", "plot_roc_curve", "pyplot"]


def pyplot(feature: str = "plotting") -> Any:
    """Return ``matplotlib.pyplot``, choosing Agg when there is no display.

    Parameters
    ----------
    feature : str
        What needs matplotlib, for the error message.

    Raises
    ------
    calipers.errors.MissingExtraError
        If matplotlib is not installed.
    """
    from calipers._extras import require

    mpl = require("matplotlib", feature=feature)
    if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND") \
            and _headless():
        mpl.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _headless() -> bool:
    if sys.platform in ("win32", "darwin"):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _axes(ax: Any, feature: str) -> Any:
    if ax is not None:
        return ax
    plt = pyplot(feature)
    _, ax = plt.subplots(layout="constrained")
    return ax


def plot_roc_curve(fpr: Any, tpr: Any, auc: float | None = None, ax: Any = None, *,
                   label: str | None = None, **line_kwargs: Any) -> Any:
    """Draw a ROC curve with the chance diagonal.

    Parameters
    ----------
    fpr, tpr : array-like
        False / true positive rates.
    auc : float, optional
        Area under the curve, shown in the legend.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure's axes by default.
    label : str, optional
        Legend label of the curve (the AUC is appended).
    **line_kwargs
        Passed to ``ax.plot`` for the curve (color, linewidth, ...).

    Returns
    -------
    matplotlib.axes.Axes
        The axes; ``ax.lines[0]`` is the curve, ``ax.lines[1]`` the chance line.
    """
    ax = _axes(ax, "RocCurve.plot")
    ax.plot(np.asarray(fpr), np.asarray(tpr), label=_legend(label, "AUC", auc), **line_kwargs)
    ax.plot([0, 1], [0, 1], linestyle="--", color="gray", linewidth=1, label="chance")
    _unit_square(ax, "False positive rate", "True positive rate")
    ax.legend(loc="lower right")
    return ax


def plot_pr_curve(precision: Any, recall: Any, average_precision: float | None = None,
                  ax: Any = None, *, prevalence: float | None = None, label: str | None = None,
                  **line_kwargs: Any) -> Any:
    """Draw a precision-recall curve as a step plot, with the prevalence baseline.

    Parameters
    ----------
    precision, recall : array-like
        The curve's points, as :func:`calipers.metrics.precision_recall_curve` gives them.
    average_precision : float, optional
        Shown in the legend as ``AP``.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure's axes by default.
    prevalence : float, optional
        Share of positives: the precision of a random classifier, drawn as a
        horizontal line when given.
    label : str, optional
        Legend label of the curve (the AP is appended).
    **line_kwargs
        Passed to ``ax.plot`` for the curve.

    Returns
    -------
    matplotlib.axes.Axes
        The axes; ``ax.lines[0]`` is the curve (x: recall, y: precision, drawn with
        ``drawstyle='steps-post'`` as average precision sums it), ``ax.lines[1]`` the
        baseline when drawn.
    """
    ax = _axes(ax, "PrCurve.plot")
    ax.plot(np.asarray(recall), np.asarray(precision), label=_legend(label, "AP",
            average_precision), **{"drawstyle": "steps-post", **line_kwargs})
    if prevalence is not None and np.isfinite(prevalence):
        ax.plot([0, 1], [prevalence, prevalence], linestyle="--", color="gray", linewidth=1,
                label=f"chance (prevalence = {prevalence:.3f})")
    _unit_square(ax, "Recall", "Precision")
    ax.legend(loc="lower left")
    return ax


def _legend(label: str | None, what: str, value: float | None) -> str:
    score = None if value is None else f"{what} = {float(value):.3f}"
    if label and score:
        return f"{label} ({score})"
    return label or score or "_nolegend_"


def _unit_square(ax: Any, xlabel: str, ylabel: str) -> None:
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_aspect("equal")


def plot_confusion_matrix(matrix: Any, ax: Any = None, *, labels: Sequence[Any] | None = None,
                          normalize: str | None = None, cmap: str = "Blues",
                          values_format: str | None = None, colorbar: bool = True,
                          title: str | None = None) -> Any:
    """Draw a k x k confusion matrix (rows true, columns predicted) with values in the cells.

    An (L, 2, 2) multilabel stack draws L small 2 x 2 panels, one per label.

    Parameters
    ----------
    matrix : array-like, shape (k, k) or (L, 2, 2)
        Counts (or weight sums).
    ax : matplotlib.axes.Axes or sequence of Axes, optional
        Where to draw; for (L, 2, 2), L axes. A new figure by default.
    labels : sequence, optional
        Class names (k x k) or label names (L, 2, 2); default 0..k-1.
    normalize : {None, 'true', 'pred', 'all'}
        Show the counts divided by row sums, column sums or the total.
    cmap : str
        matplotlib colormap name.
    values_format : str, optional
        Format of the cell texts, e.g. ``'d'`` or ``'.2f'``; by default integers for
        integer counts, else 3 significant digits.
    colorbar : bool
        Add a colorbar (k x k only).
    title : str, optional
        Axes title (k x k) or figure title (multilabel).

    Returns
    -------
    matplotlib.axes.Axes or numpy.ndarray of Axes
        The axes (one per label for multilabel).
    """
    m = np.asarray(matrix, dtype=np.float64)
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(f"normalize must be None, 'true', 'pred' or 'all', got {normalize!r}")
    if m.ndim == 3 and m.shape[1:] == (2, 2):
        return _plot_multilabel(m, ax, labels, normalize, cmap, values_format, title)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"a confusion matrix must be k x k or (L, 2, 2), got shape {m.shape}")
    k = m.shape[0]
    names = _names(labels, k, "labels")
    shown = _normalized(m, normalize)
    ax = _axes(ax, "plot_confusion_matrix")
    image = ax.imshow(shown, interpolation="nearest", cmap=cmap, vmin=0,
                      vmax=max(float(shown.max()) if shown.size else 0.0, 1e-12))
    fmt = values_format or _default_format(shown)
    _cell_texts(ax, shown, fmt, image)
    ax.set_xticks(range(k), [str(n) for n in names])
    ax.set_yticks(range(k), [str(n) for n in names])
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    if k > 4 and max((len(str(n)) for n in names), default=0) > 3:
        for tick in ax.get_xticklabels():
            tick.set_rotation(45)
            tick.set_ha("right")
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(image, ax=ax)
    return ax


def _plot_multilabel(m: np.ndarray, ax: Any, labels: Sequence[Any] | None,
                     normalize: str | None, cmap: str, values_format: str | None,
                     title: str | None) -> np.ndarray:
    L = m.shape[0]
    names = _names(labels, L, "labels")
    if ax is None:
        plt = pyplot("plot_confusion_matrix")
        cols = min(L, 4) or 1
        rows = max(1, -(-L // cols))
        fig, grid = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.9 * rows), squeeze=False,
                                 layout="constrained")
        axes = grid.ravel()
        for extra in axes[L:]:
            extra.set_visible(False)
        axes = axes[:L]
        if title:
            fig.suptitle(title)
    else:
        axes = np.asarray(ax, dtype=object).ravel()
        if axes.size != L:
            raise ValueError(f"a multilabel matrix of {L} labels needs {L} axes, got {axes.size}")
    for panel, name, mat in zip(axes, names, m, strict=True):
        plot_confusion_matrix(mat, panel, labels=[0, 1], normalize=normalize, cmap=cmap,
                              values_format=values_format, colorbar=False, title=str(name))
    return np.asarray(axes, dtype=object)


def _names(labels: Sequence[Any] | None, k: int, what: str) -> list[Any]:
    if labels is None:
        return list(range(k))
    names = list(labels)
    if len(names) != k:
        raise ValueError(f"{what} has {len(names)} names for a matrix of {k}")
    return names


def _normalized(m: np.ndarray, normalize: str | None) -> np.ndarray:
    if normalize is None:
        return m
    axis = {"true": 1, "pred": 0, "all": None}[normalize]
    with np.errstate(all="ignore"):
        out = m / m.sum(axis=axis, keepdims=True)
    return np.nan_to_num(out)


def _default_format(m: np.ndarray) -> str:
    if m.size and np.all(m == np.round(m)) and np.abs(m).max() < 1e15:
        return "d"
    return ".3g"


def _cell_texts(ax: Any, m: np.ndarray, fmt: str, image: Any) -> None:
    lo, hi = image.norm.vmin, image.norm.vmax
    middle = (lo + hi) / 2.0
    dark, light = image.cmap(1.0), image.cmap(0.0)
    for (i, j), v in np.ndenumerate(m):
        text = format(int(v), fmt) if fmt == "d" else format(v, fmt)
        ax.text(j, i, text, ha="center", va="center",
                color=light if v > middle else dark)
