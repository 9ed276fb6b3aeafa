"""The pictures of ``calipers run``'s HTML report, rendered to PNG bytes in memory.

Classifiers: ROC and precision-recall curves (binary: the positive class; multiclass:
one curve per class, one-vs-rest) from the streaming ``roc_curve`` / ``pr_curve``
metrics' ``.plot``, and the ``confusion_matrix`` metric's ``.plot``. Regressors:
predicted against true values. Every study: ``calipers study plot``'s picture
(optimization history and parameter importances). matplotlib is the ``plot`` extra;
without it there are no pictures and one note says what to install.
"""

from __future__ import annotations

import dataclasses
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Figure", "render_figures"]

_DPI = 90


@dataclass(frozen=True)
class Figure:
    """One picture: a key (``roc``, ``pr``, ``confusion_matrix``, ...), a caption, PNG bytes."""

    key: str
    caption: str
    png: bytes


def render_figures(*, model: Any, X_test: np.ndarray, y_test: np.ndarray, study: Any,
                   classifier: bool) -> tuple[list[Figure], list[str]]:
    """Draw the report's pictures.

    Parameters
    ----------
    model : estimator
        The refitted model (``classes_``, ``predict``, ``predict_proba`` if it has one).
    X_test, y_test : ndarray
        The held-out rows.
    study : calipers.search.Study
        The tuned study.
    classifier : bool

    Returns
    -------
    list of Figure, list of str
        The pictures, and notes on what could not be drawn (matplotlib missing,
        no probabilities, too few trials).
    """
    from calipers.errors import MissingExtraError
    from calipers.metrics._plot import pyplot

    try:
        plt = pyplot("calipers run's report plots")
    except MissingExtraError:
        return [], ['plots skipped: matplotlib is not installed: pip install "calipers[plot]"']
    figures: list[Figure] = []
    notes: list[str] = []
    if classifier:
        figures += _classifier_figures(plt, model, X_test, y_test, notes)
    else:
        figures.append(_regression_figure(plt, model, X_test, y_test))
    figures += _study_figure(study, notes)
    return figures, notes


def _png(plt: Any, ax: Any) -> bytes:
    fig = np.asarray(ax, dtype=object).ravel()[0].figure
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=_DPI)
    finally:
        plt.close(fig)
    return buf.getvalue()


def _dedupe_legend(ax: Any, loc: str) -> None:
    handles, labels = ax.get_legend_handles_labels()
    seen: dict[str, Any] = {}
    for h, label in zip(handles, labels, strict=True):
        seen.setdefault(label, h)
    ax.legend(list(seen.values()), list(seen), loc=loc, fontsize=8)


def _classifier_figures(plt: Any, model: Any, X: np.ndarray, y: np.ndarray,
                        notes: list[str]) -> list[Figure]:
    import calipers

    classes = np.asarray(model.classes_)
    k = len(classes)
    # Class indices (classes_ is sorted); held-out labels unseen in training get k.
    pos = np.searchsorted(classes, y)
    pos = np.minimum(pos, k - 1)
    y_idx = np.where(classes[pos] == y, pos, k)
    seen = y_idx < k
    pred_idx = np.searchsorted(classes, model.predict(X))
    task = "binary" if k == 2 else "multiclass"
    names = [str(c) for c in classes]
    out = []
    if hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(X), dtype=np.float64)
        out += _curve_figures(plt, calipers, task, k, names, y_idx[seen], proba[seen])
    else:
        notes.append(f"no ROC / precision-recall curves: {type(model).__name__} has no "
                     "predict_proba")
    cm = calipers.metric("confusion_matrix", task=task, num_classes=k)
    cm.update(y_idx[seen], pred_idx[seen])
    ax = cm.plot(labels=names, title="held-out confusion matrix (rows: true, columns: "
                 "predicted)")
    ax.title.set_fontsize(9)
    out.append(Figure("confusion_matrix", "Confusion matrix on the held-out rows", _png(plt, ax)))
    return out


def _curve_figures(plt: Any, calipers: Any, task: str, k: int, names: list[str],
                   y_idx: np.ndarray, proba: np.ndarray) -> list[Figure]:
    opts: dict[str, Any] = {"task": task} if task == "binary" else {"task": task,
                                                                    "num_classes": k}
    y_in = y_idx if task == "multiclass" else y_idx == 1
    s_in = proba if task == "multiclass" else proba[:, 1]
    out = []
    for key, metric, loc, title in (("roc", "roc_curve", "lower right", "ROC curve"),
                                    ("pr", "pr_curve", "lower left", "Precision-recall curve")):
        m = calipers.metric(metric, **opts)
        m.update(y_in, s_in)
        result = m.compute()
        curves = [result] if task == "binary" else list(result)
        labels = [f"positive: {names[1]}"] if task == "binary" else [f"class {n}" for n in names]
        positives = [y_idx == 1] if task == "binary" else [y_idx == c for c in range(k)]
        ax = None
        for curve, label, is_pos in zip(curves, labels, positives, strict=True):
            if key == "pr" and len(is_pos):
                curve = dataclasses.replace(curve, prevalence=float(np.mean(is_pos)))
            ax = curve.plot(ax, label=label)
        what = "" if task == "binary" else " (one-vs-rest)"
        ax.set_title(f"{title} on the held-out rows{what}", fontsize=9)
        _dedupe_legend(ax, loc)
        out.append(Figure(key, f"{title} on the held-out rows{what}", _png(plt, ax)))
    return out


def _regression_figure(plt: Any, model: Any, X: np.ndarray, y: np.ndarray) -> Figure:
    pred = np.asarray(model.predict(X), dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    fig, ax = plt.subplots(figsize=(5.5, 5), layout="constrained")
    ax.scatter(y, pred, s=14, alpha=0.7, label="held-out row")
    lo = float(min(y.min(), pred.min())) if len(y) else 0.0
    hi = float(max(y.max(), pred.max())) if len(y) else 1.0
    ax.plot([lo, hi], [lo, hi], linestyle="--", color="gray", linewidth=1, label="y = x")
    ax.set_xlabel("true value")
    ax.set_ylabel("predicted value")
    ax.set_title("Predicted against true values on the held-out rows", fontsize=9)
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    return Figure("predicted_vs_true", "Predicted against true values on the held-out rows",
                  _png(plt, ax))


def _study_figure(study: Any, notes: list[str]) -> list[Figure]:
    from calipers.cli._study_plot import plot_study

    with tempfile.TemporaryDirectory(prefix="calipers-report-") as tmp:
        try:
            path = plot_study(study, Path(tmp) / "history.png")
        except ValueError as exc:
            notes.append(f"no tuning history picture: {exc}")
            return []
        png = path.read_bytes()
    return [Figure("history", "Tuning history (every trial's value, best so far) and parameter "
                   "importances", png)]
