"""The result of an evaluation (:class:`EvalReport`) and its table and JSON formats."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from calipers.evaluate._labels import python_value

__all__ = ["EvalReport", "format_json", "format_table"]


@dataclass
class EvalReport:
    """What ``calipers eval`` computed, before formatting.

    Attributes
    ----------
    file : str
        The evaluated file.
    n_samples : int
        Rows read.
    task : str
        ``"binary"``, ``"multiclass"`` or ``"multilabel"``.
    task_note : str
        How the task was chosen (``"given"`` or the inference rule).
    classes : list
        Class names in code order (labels: column names for multilabel).
    metrics : dict
        Metric name to value (a float, or an array per class / a confusion matrix).
    positive_label : object, optional
        The positive class (binary only).
    average : str, optional
        The average used by metrics that average (``None`` for multilabel defaults).
    threshold : float, optional
        The score threshold (binary / multilabel scores only).
    columns : dict
        The columns read, by role.
    intervals : dict
        Metric key to its bootstrap ``(low, high)`` (with ``--bootstrap``).
    bootstrap : dict, optional
        ``{"n", "seed", "confidence"}`` of the bootstrap, when one ran.
    plots : list of str
        The pictures written (with ``--plot``).
    """

    file: str
    n_samples: int
    task: str
    task_note: str
    classes: list[Any]
    metrics: dict[str, Any]
    positive_label: Any = None
    average: str | None = None
    threshold: float | None = None
    columns: dict[str, Any] = field(default_factory=dict)
    intervals: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    bootstrap: dict[str, Any] | None = None
    plots: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready Python values (NaN becomes ``None``)."""
        out: dict[str, Any] = {
            "file": self.file,
            "n_samples": self.n_samples,
            "task": self.task,
            "task_note": self.task_note,
            "classes": [python_value(c) for c in self.classes],
        }
        if self.task == "binary":
            out["positive_label"] = python_value(self.positive_label)
        out["average"] = self.average
        if self.threshold is not None:
            out["threshold"] = self.threshold
        out["columns"] = self.columns
        out["metrics"] = {k: _json_value(v) for k, v in self.metrics.items()}
        if self.bootstrap is not None:
            out["bootstrap"] = dict(self.bootstrap)
            out["intervals"] = {k: [_json_value(lo), _json_value(hi)]
                                for k, (lo, hi) in self.intervals.items()}
        if self.plots:
            out["plots"] = list(self.plots)
        return out


def _json_value(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_json_value(v) for v in value] if value.ndim else _json_value(value.item())
    if isinstance(value, Mapping):  # e.g. a plugin metric's dict of values
        return {str(python_value(k)): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    value = python_value(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)  # any other object a plugin metric returns: its text


def format_table(report: EvalReport) -> str:
    """Format a report as aligned plain text.

    Parameters
    ----------
    report : EvalReport
        What :func:`evaluate` returned.

    Returns
    -------
    str
        A header line (file, rows, task), a line with the classes and options, the
        metric table (one row per class for per-class values) and, when requested, the
        confusion matrix.
    """
    lines = [f"file: {report.file}   rows: {report.n_samples}   task: {report.task}"]
    detail = []
    if report.task_note and report.task_note != "given":
        detail.append(f"task {report.task_note}")
    kind = "labels" if report.task == "multilabel" else "classes"
    detail.append(f"{kind}: {_names_preview(report.classes)}")
    if report.task == "binary":
        detail.append(f"positive: {report.positive_label}")
    detail.append(f"average: {report.average}")
    if report.threshold is not None:
        detail.append(f"threshold: {report.threshold:g}")
    lines.append("   ".join(detail))
    lines.append("")

    names = [str(c) for c in report.classes]
    rows: list[tuple[str, ...]] = []
    matrices = []
    boot = bool(report.intervals)
    for key, value in report.metrics.items():
        if key.startswith("confusion_matrix") and np.ndim(value) >= 2:
            matrices.append((key, np.asarray(value)))
            continue
        lows = highs = None
        if key in report.intervals:
            lows = np.asarray(report.intervals[key][0], dtype=float).ravel()
            highs = np.asarray(report.intervals[key][1], dtype=float).ravel()
        cells = _value_cells(value, names)
        if lows is not None and len(lows) != len(cells):
            lows = highs = None
        for i, (lab, text) in enumerate(cells):
            row: tuple[str, ...] = (key, lab, text)
            if boot:
                row += ("", "") if lows is None or highs is None else (
                    _fmt(lows[i]), _fmt(highs[i]))
            rows.append(row)
    if rows:
        per_class = any(r[1] for r in rows)
        header: tuple[str, ...] = (
            "metric",
            ("label" if kind == "labels" else "class") if per_class else "",
            "value",
        )
        if boot:
            header += ("low", "high")
        table = [header, *rows]
        widths = [max(len(r[i]) for r in table) for i in range(len(header))]
        for r in table:
            cells = [f"{r[0]:<{widths[0]}}"]
            if per_class:
                cells.append(f"{r[1]:<{widths[1]}}")
            cells += [f"{c:>{w}}" for c, w in zip(r[2:], widths[2:], strict=True)]
            lines.append("  ".join(cells).rstrip())
        if boot and report.bootstrap:
            b = report.bootstrap
            lines.append(
                f"low, high: {b['confidence']:.0%} bootstrap percentile interval "
                f"({b['n']} replicates, seed {b['seed']})"
            )
    for key, arr in matrices:
        if rows or key != matrices[0][0]:
            lines.append("")
        lines.extend(_format_matrix(key, arr, names))
    if report.plots:
        lines.append("")
        lines.append("plots written:")
        lines.extend(f"  {p}" for p in report.plots)
    return "\n".join(lines) + "\n"


def _value_cells(value: Any, names: list[str]) -> list[tuple[str, str]]:
    """A metric value as table cells ``(label, text)``: one for a number, one per entry
    of an array (labelled by class where the sizes match, else by index) or of a dict
    (labelled by key); anything else as its text."""
    if isinstance(value, Mapping):
        cells = []
        for k, v in value.items():
            sub = _value_cells(v, [])
            cells += [(f"{k}[{lab}]" if lab else str(k), text) for lab, text in sub]
        return cells
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return [("", str(value))]
    if arr.ndim == 0:
        return [("", _fmt(float(arr)))]
    labels = names if len(names) == arr.size else [str(i) for i in range(arr.size)]
    return [(lab, _fmt(float(v))) for lab, v in zip(labels, arr.ravel(), strict=True)]


def _names_preview(names: Sequence[Any], n: int = 12) -> str:
    shown = ", ".join(str(x) for x in list(names)[:n])
    return shown + (f", ... ({len(names)} in all)" if len(names) > n else "")


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if value == 0 or 1e-3 <= abs(value) < 1e6:
        return f"{value:.6f}"
    return f"{value:.6g}"


def _fmt_count(value: float) -> str:
    if math.isfinite(value) and value == round(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def _format_matrix(key: str, arr: np.ndarray, names: list[str]) -> list[str]:
    if arr.ndim == 3:  # multilabel: one 2 x 2 table per label
        labels = names if len(names) == arr.shape[0] else [str(i) for i in range(arr.shape[0])]
        table = [["label", "tn", "fp", "fn", "tp"]]
        table += [
            [lab, *(_fmt_count(float(x)) for x in m.ravel())]
            for lab, m in zip(labels, arr, strict=True)
        ]
        title = f"{key} per label (tn fp / fn tp)"
    else:
        labels = names if len(names) == arr.shape[0] else [str(i) for i in range(arr.shape[0])]
        table = [["true \\ pred", *labels]]
        table += [
            [lab, *(_fmt_count(float(x)) for x in row)]
            for lab, row in zip(labels, arr, strict=True)
        ]
        title = f"{key} (rows: true class, columns: predicted class)"
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    out = [title]
    for r in table:
        cells = [f"{r[0]:<{widths[0]}}"] + [
            f"{x:>{w}}" for x, w in zip(r[1:], widths[1:], strict=True)
        ]
        out.append("  ".join(cells))
    return out


def format_json(report: EvalReport) -> str:
    """Format a report as one JSON object (NaN as ``null``).

    Parameters
    ----------
    report : EvalReport
        What :func:`evaluate` returned.

    Returns
    -------
    str
        ``{"file", "n_samples", "task", "classes", "metrics", ...}`` and a newline.
    """
    return json.dumps(report.to_dict(), indent=2) + "\n"
