"""Running an evaluation: plan it, then stream the file's batches through a metrics Suite."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from calipers.evaluate._labels import LABEL_KINDS, as_kind
from calipers.evaluate._plan import Plan, make_plan
from calipers.evaluate._report import EvalReport
from calipers.evaluate._scores import (
    ScoreExtras,
    bootstrap_intervals,
    score_column,
    split_metric_names,
    write_plots,
)
from calipers.evaluate._served import PredictionSource, served_reader

__all__ = ["evaluate"]


def evaluate(args: argparse.Namespace, source: PredictionSource | None = None) -> EvalReport:
    """Evaluate the file described by ``args`` (the ``calipers eval`` arguments).

    Parameters
    ----------
    args : argparse.Namespace
        From the parser made by :func:`calipers.cli.eval.add_parser`: ``file``,
        ``y_true``, ``y_pred``, ``y_score``, ``sample_weight``, ``task``, ``labels``,
        ``pos_label``, ``num_classes``, ``threshold``, ``metrics``, ``average``,
        ``zero_division``, ``beta``, ``batch_size``, ``progress`` and (optional)
        ``plot``, ``bootstrap``, ``seed``, ``confidence``. Filled in place:
        the default columns (``y_true``, ``y_pred``) where none were given, and
        ``file`` where the last word of a column option names a file.

    Returns
    -------
    EvalReport
        Task, classes, sample count and metric values (with ``bootstrap``: their
        intervals; with ``plot``: the pictures written).

    Raises
    ------
    ValueError, TypeError, OSError, ImportError
        On bad input: missing file or column, labels that do not fit, unknown metric.
    """
    from calipers.io import column_dtypes, iter_batches

    if source is not None and args.file is None:
        raise ValueError("give the data file (labels and features) to evaluate a served model")
    path, shown = _resolve_file(args)
    defaulted = args.y_true is None or (args.y_pred is None and args.y_score is None)
    if args.y_true is None:
        args.y_true = ["y_true"]
    read = iter_batches
    if source is not None:
        defaulted = False
        all_dtypes = column_dtypes(path)
        read = served_reader(args, path, source, all_dtypes)
    elif args.y_pred is None and args.y_score is None:
        args.y_pred = ["y_pred"]
    score_cols = args.y_score or []
    weight_cols = [args.sample_weight] if args.sample_weight else []
    columns = list(dict.fromkeys(args.y_true + (args.y_pred or []) + score_cols + weight_cols))
    try:
        if source is not None:
            missing = [c for c in columns if c not in all_dtypes]
            if missing:
                raise ValueError(f"column(s) not found in {path}: {', '.join(missing)}")
            dtypes = {c: all_dtypes[c] for c in columns}
        else:
            dtypes = column_dtypes(path, columns)
    except ValueError as exc:
        if defaulted and "not found" in str(exc):
            raise ValueError(
                f"{exc}; choose columns with --y-true and --y-pred/--y-score"
            ) from None
        raise
    plan = make_plan(args, path, dtypes, read if source is not None else None)
    if source is not None:
        source.negative_is_positive = plan.task == "binary" and plan.pos_code == 0
    plot_dir = getattr(args, "plot", None)
    n_boot = getattr(args, "bootstrap", None)
    if plot_dir:
        from calipers.metrics._plot import pyplot

        pyplot("calipers eval --plot")  # a missing matplotlib fails before the pass
    score_col = score_column(args, plan, path, defaulted)
    from calipers.metrics import DEFAULT_METRICS

    routes = split_metric_names(args.metrics, DEFAULT_METRICS[plan.task], score_col,
                                has_labels=plan.pred_cols is not None)
    confusion_names = routes.confusion
    suite = _build_suite(args, plan, confusion_names or ["confusion_matrix"])
    extras = ScoreExtras.build(routes.scores, score_col, bool(plot_dir), keep=bool(n_boot),
                               labels=routes.labels, weighted=bool(args.sample_weight))
    if score_col is not None and score_col not in columns:
        columns.append(score_col)
        score_cols = [*score_cols, score_col]

    n = 0
    batches = read(
        path,
        columns,
        args.batch_size,
        float_columns=score_cols + weight_cols,
        progress=args.progress,
        desc="evaluating",
    )
    for y_true, y_pred, weight, scores in _encoded(batches, plan, args.sample_weight,
                                                   score_col):
        try:
            suite.update(y_true, y_pred, sample_weight=weight)
            extras.update(y_true, y_pred, scores, weight)
        except ValueError as exc:
            # The metrics number rows within the batch; say where the batch is.
            raise ValueError(f"in rows {n + 1}-{n + len(y_true)}: {exc}{_hint(plan)}") from None
        n += len(y_true)
    if n == 0:
        raise ValueError(f"{shown} has no data rows")
    values = routes.ordered(suite.compute() if confusion_names else {}, extras.values())
    average = args.average or ("binary" if plan.task == "binary" else "macro")
    columns_used: dict[str, Any] = {"y_true": _one_or_list(args.y_true)}
    if args.y_pred is not None:
        columns_used["y_pred"] = _one_or_list(args.y_pred)
    else:
        columns_used["y_score"] = _one_or_list(args.y_score)
    if score_col is not None and args.y_score is None:
        columns_used["y_score"] = score_col  # scores for the curves and score metrics
    if args.sample_weight:
        columns_used["sample_weight"] = args.sample_weight
    if source is not None:
        columns_used["model"] = source.name
    uses_threshold = args.y_score is not None and plan.task != "multiclass"
    report = EvalReport(
        file=shown,
        n_samples=n,
        task=plan.task,
        task_note=plan.task_note,
        classes=plan.classes,
        metrics=dict(values),
        positive_label=plan.positive,
        average=average,
        threshold=args.threshold if uses_threshold else None,
        columns=columns_used,
    )
    if n_boot:
        seed = int(getattr(args, "seed", 0) or 0)
        confidence = float(getattr(args, "confidence", 0.95) or 0.95)
        confusion = list(zip(suite.keys, suite.metrics, strict=True)) if confusion_names else []
        report.intervals = bootstrap_intervals(confusion, extras, n_boot, seed, confidence)
        report.bootstrap = {"n": n_boot, "seed": seed, "confidence": confidence}
    if plot_dir:
        report.plots = write_plots(plot_dir, suite, extras, plan, Path(shown).name)
    return report


def _hint(plan: Plan) -> str:
    if plan.encoder is not None or plan.task == "multilabel":
        return ""
    if plan.task == "binary" and plan.score_cols:
        return (
            " (one --y-score column means a binary task with 0/1 labels: for other labels "
            "give --pos-label or --labels; for multiclass give one score column per class)"
        )
    if plan.task == "binary":
        return (
            " (binary integer labels must be 0/1: for other labels give --pos-label or "
            "--labels, or use --task multiclass)"
        )
    return (
        f" (integer labels must be 0..{len(plan.classes) - 1}; otherwise name them with --labels)"
    )


def _one_or_list(cols: list[str]) -> str | list[str]:
    return cols[0] if len(cols) == 1 else list(cols)


def _resolve_file(args: argparse.Namespace) -> tuple[Path, str]:
    from calipers.io import detect_format

    if args.file is None:
        # `--y-score a b preds.csv` puts the file into --y-score: take it back out.
        for opt in ("y_score", "y_pred", "y_true"):
            cols = getattr(args, opt)
            if cols and len(cols) > 1:
                try:
                    detect_format(cols[-1])
                except ValueError:
                    continue
                args.file = cols.pop()
                break
    if args.file is None:
        from calipers.data import default_predictions_path

        path = default_predictions_path()
        return path, str(path)
    path = Path(args.file)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {args.file!r}")
    return path, str(args.file)


def _build_suite(args: argparse.Namespace, plan: Plan, names: list[str]) -> Any:
    from calipers.metrics import Suite, metric

    zero_division: str | float = (
        args.zero_division if args.zero_division == "warn" else float(args.zero_division)
    )
    options: dict[str, Any] = {
        "task": plan.task,
        "num_classes": plan.num_classes,
        "num_labels": plan.num_labels,
        "threshold": args.threshold,
        "zero_division": zero_division,
    }
    entries: list[Any] = []
    for name in names:
        if name == "fbeta" and args.beta != 1.0:
            average = args.average
            entries.append(metric("fbeta", beta=args.beta, average=average, **options))
        else:
            entries.append(name)
    return Suite(entries, average=args.average, **options)


def _encoded(
    batches: Iterator[dict[str, np.ndarray]], plan: Plan, weight_col: str | None,
    score_col: str | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]]:
    """Turn raw column batches into (y_true, y_pred or scores, weight, curve scores)."""
    rows = 0
    for batch in batches:
        weight = batch[weight_col] if weight_col else None
        scores = batch[score_col] if score_col else None
        if plan.task == "multilabel":
            y_true = _stack_01(batch, plan.true_cols, rows)
            if plan.pred_cols is not None:
                y_pred = _stack_01(batch, plan.pred_cols, rows)
            else:
                y_pred = np.column_stack([batch[c] for c in plan.score_cols or []])
        else:
            true_col = plan.true_cols[0]
            y_true = _codes(batch[true_col], true_col, plan, rows)
            if plan.pred_cols is not None:
                pred_col = plan.pred_cols[0]
                y_pred = _codes(batch[pred_col], pred_col, plan, rows)
            elif len(plan.score_cols or []) == 1:
                y_pred = batch[(plan.score_cols or [])[0]]
            else:
                y_pred = np.column_stack([batch[c] for c in plan.score_cols or []])
        rows += len(y_true)
        yield y_true, y_pred, weight, scores


def _codes(values: np.ndarray, column: str, plan: Plan, rows_before: int) -> np.ndarray:
    if plan.encoder is None:
        return values if values.dtype.kind in LABEL_KINDS else as_kind(values, "int")
    codes = plan.encoder.encode(values, column, rows_before)
    if plan.pos_code is not None:
        return (codes == plan.pos_code).astype(np.int8)
    return codes


def _stack_01(batch: dict[str, np.ndarray], cols: list[str], rows_before: int) -> np.ndarray:
    parts = []
    for c in cols:
        v = batch[c]
        if v.dtype.kind == "f":
            bad = (v != 0) & (v != 1)
            if bad.any():
                row = rows_before + int(np.argmax(bad)) + 1
                raise ValueError(
                    f"multilabel column {c!r} must hold 0/1, found {v[bad][0]!r} in row {row}"
                )
            v = v.astype(np.int8)
        parts.append(v)
    return np.column_stack(parts)
