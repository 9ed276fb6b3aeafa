"""``calipers eval``: classification metrics of a predictions file, streamed in batches.

Usage::

    calipers eval [FILE] [--y-true COL...] [--y-pred COL... | --y-score COL...]
                  [--task binary|multiclass|multilabel] [--metrics a,b] [--average AVG]
                  [--labels a,b,c] [--pos-label L] [--num-classes N] [--threshold T]
                  [--sample-weight COL] [--zero-division warn|0|1|nan] [--beta B]
                  [--batch-size N] [--format table|json] [--output PATH]
                  [--progress | --no-progress]

FILE is a CSV/TSV (optionally compressed) or Parquet file, read batch by batch, so it
may be larger than memory. Without FILE the breast-cancer predictions shipped with
calipers are evaluated (see ``calipers/data/README.md``).

Labels may be integers, booleans or strings. Integer labels with a known class count
(``--num-classes``, or binary 0/1 labels) are streamed once; otherwise a first, cheap
pass over the label columns collects the sorted distinct labels, which become the
classes (or ``--labels`` fixes them, in the given order).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["EvalReport", "add_parser", "evaluate", "format_json", "format_table", "run"]

PROG = "calipers eval"
#: A first pass that finds more distinct labels than this stops: it is most likely a
#: score column given as --y-pred, and a k x k confusion matrix would not fit anyway.
MAX_CLASSES = 1000
TASKS = ("binary", "multiclass", "multilabel")
_LABEL_KINDS = "biu"


# -- arguments ------------------------------------------------------------------------


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``eval`` subcommand to an argparse ``subparsers`` object.

    Parameters
    ----------
    subparsers
        What :meth:`argparse.ArgumentParser.add_subparsers` returned.

    Returns
    -------
    argparse.ArgumentParser
        The ``eval`` parser (its arguments land in the namespace :func:`run` takes).
    """
    p = subparsers.add_parser(
        "eval",
        help="evaluate predictions in a CSV or Parquet file (streamed in batches)",
        description=(
            "Compute classification metrics of the predictions in FILE, reading it batch by "
            "batch so files larger than memory work. Without FILE, evaluates the "
            "breast-cancer predictions shipped with calipers."
        ),
        epilog=(
            "examples:\n"
            "  calipers eval\n"
            "  calipers eval preds.csv --y-true label --y-pred pred --metrics f1,mcc\n"
            "  calipers eval preds.parquet --y-true y --y-score p_cat p_dog p_bird\n"
            "  calipers eval preds.csv --task multilabel --y-true a b c --y-score pa pb pc\n"
            "Put FILE first: options that take several columns take every word after them."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "file",
        nargs="?",
        metavar="FILE",
        help="predictions file: .csv, .tsv (optionally .gz/.bz2/.zst), .parquet or .pq "
        "(default: the shipped breast-cancer predictions)",
    )
    cols = p.add_argument_group("columns")
    cols.add_argument(
        "--y-true",
        nargs="+",
        action="extend",
        metavar="COL",
        help="true labels (several 0/1 columns for --task multilabel; default: y_true)",
    )
    given = cols.add_mutually_exclusive_group()
    given.add_argument(
        "--y-pred",
        nargs="+",
        action="extend",
        metavar="COL",
        help="predicted labels (several 0/1 columns for multilabel; default: y_pred)",
    )
    given.add_argument(
        "--y-score",
        nargs="+",
        action="extend",
        metavar="COL",
        help="scores: one column = binary (probability of the positive class, thresholded); "
        "several = multiclass (one per class, arg-maxed; column order = class order) "
        "or multilabel with --task multilabel",
    )
    cols.add_argument("--sample-weight", metavar="COL", help="sample weights")

    task = p.add_argument_group("task")
    task.add_argument(
        "--task",
        choices=TASKS,
        help="default: inferred (several score columns: multiclass; else 2 distinct labels: "
        "binary, more: multiclass)",
    )
    task.add_argument(
        "--labels",
        type=_comma_list,
        metavar="A,B,...",
        help="the classes, in order (values outside them are an error); binary: negative,positive",
    )
    task.add_argument(
        "--pos-label",
        metavar="LABEL",
        help="positive class for binary labels (default: the larger of the two)",
    )
    task.add_argument(
        "--num-classes",
        type=_positive_int,
        metavar="N",
        help="integer labels are 0..N-1 (skips the pass that collects the labels)",
    )
    task.add_argument(
        "--threshold",
        type=float,
        default=0.5,
        help="scores >= threshold are positive (binary and multilabel scores; default 0.5)",
    )

    met = p.add_argument_group("metrics")
    met.add_argument(
        "--metrics",
        type=_comma_list,
        metavar="A,B,...",
        help="metric names (default: the task's defaults), e.g. accuracy,f1,confusion_matrix",
    )
    met.add_argument(
        "--average",
        choices=("binary", "micro", "macro", "weighted", "samples", "none"),
        help="how per-class values combine; 'none' gives one value per class "
        "(default: binary for binary, macro otherwise)",
    )
    met.add_argument(
        "--zero-division",
        choices=("warn", "0", "1", "nan"),
        default="warn",
        help="value of a ratio with a zero denominator (default: warn, which gives 0)",
    )
    met.add_argument("--beta", type=float, default=1.0, help="beta of fbeta (default 1)")

    out = p.add_argument_group("input and output")
    out.add_argument(
        "--batch-size",
        type=_positive_int,
        default=65_536,
        metavar="N",
        help="rows per batch (default 65536)",
    )
    out.add_argument("--format", choices=("table", "json"), default="table")
    out.add_argument("-o", "--output", metavar="PATH", help="write the result here, not stdout")
    bar = out.add_mutually_exclusive_group()
    bar.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="always show a progress bar on stderr (default: only on a terminal)",
    )
    bar.add_argument("--no-progress", dest="progress", action="store_false")
    return p


def _comma_list(text: str) -> list[str]:
    items = [t.strip() for t in text.split(",")]
    if not all(items):
        raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
    return items


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


# -- running ----------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    """Run ``calipers eval`` with parsed arguments.

    Parameters
    ----------
    args : argparse.Namespace
        From the parser made by :func:`add_parser`.

    Returns
    -------
    int
        0 on success; 2 on bad input (missing file or column, bad labels, unknown
        metric...), after printing one ``calipers eval: error: ...`` line to stderr.
    """
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            report = evaluate(args)
        shown = set()
        for w in caught:
            if not issubclass(w.category, (UserWarning, RuntimeWarning)):
                # Not meant for the user of the command: back to the normal filters.
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            elif str(w.message) not in shown:
                shown.add(str(w.message))
                print(f"{PROG}: warning: {_one_line(str(w.message))}", file=sys.stderr)
        text = format_json(report) if args.format == "json" else format_table(report)
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    except (ValueError, TypeError, OSError, ImportError) as exc:
        print(f"{PROG}: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    return 0


def _one_line(text: str) -> str:
    return " ".join(text.split())


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

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready Python values (NaN becomes ``None``)."""
        out: dict[str, Any] = {
            "file": self.file,
            "n_samples": self.n_samples,
            "task": self.task,
            "task_note": self.task_note,
            "classes": [_py(c) for c in self.classes],
        }
        if self.task == "binary":
            out["positive_label"] = _py(self.positive_label)
        out["average"] = self.average
        if self.threshold is not None:
            out["threshold"] = self.threshold
        out["columns"] = self.columns
        out["metrics"] = {k: _json_value(v) for k, v in self.metrics.items()}
        return out


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _json_value(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_json_value(v) for v in value] if value.ndim else _json_value(value.item())
    value = _py(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# -- planning: task, classes, how each batch is encoded ---------------------------------


@dataclass
class _Plan:
    task: str
    task_note: str
    classes: list[Any]
    true_cols: list[str]
    pred_cols: list[str] | None
    score_cols: list[str] | None
    kind: str = "int"  # common kind of the label columns: int | float | str
    encoder: _LabelEncoder | None = None  # None: integer labels used as they are
    pos_code: int | None = None  # binary through the encoder: index of the positive class
    positive: Any = None
    found: np.ndarray | None = None  # the first pass's distinct labels, once collected

    @property
    def num_classes(self) -> int | None:
        return len(self.classes) if self.task == "multiclass" else None

    @property
    def num_labels(self) -> int | None:
        return len(self.true_cols) if self.task == "multilabel" else None


class _LabelEncoder:
    """Map label values to codes 0..k-1 (the order of ``classes``)."""

    def __init__(self, classes: np.ndarray, kind: str) -> None:
        self.classes = classes
        self.kind = kind
        self.sorter = np.argsort(classes, kind="stable")
        self.sorted = classes[self.sorter]

    def encode(self, values: np.ndarray, column: str, rows_before: int) -> np.ndarray:
        v = _as_kind(values, self.kind)
        idx = np.searchsorted(self.sorted, v)
        np.minimum(idx, len(self.sorted) - 1, out=idx)
        found = self.sorted[idx] == v
        if not found.all():
            bad = np.unique(v[~found])
            first = rows_before + int(np.argmin(found)) + 1
            shown = ", ".join(repr(_py(b)) for b in bad[:5]) + (", ..." if len(bad) > 5 else "")
            known = ", ".join(repr(_py(c)) for c in self.classes[:20])
            raise ValueError(
                f"column {column!r} has labels outside the classes [{known}]: {shown} "
                f"(first in row {first}); fix --labels or the data"
            )
        return self.sorter[idx]


def _as_kind(values: np.ndarray, kind: str) -> np.ndarray:
    if kind == "int":
        return values.astype(np.int64, copy=False)
    if kind == "float":
        return values.astype(np.float64, copy=False)
    return values if values.dtype.kind == "U" else values.astype(str)


def _common_kind(dtypes: Sequence[np.dtype]) -> str:
    kinds = {d.kind for d in dtypes}
    if kinds <= set(_LABEL_KINDS):
        return "int"
    if kinds <= set(_LABEL_KINDS + "f"):
        return "float"
    return "str"


def _parse_label(text: str, kind: str, is_bool: bool, what: str) -> Any:
    if kind == "str":
        return text
    try:
        if is_bool:
            return {"true": 1, "1": 1, "false": 0, "0": 0}[text.strip().lower()]
        return int(text) if kind == "int" else float(text)
    except (KeyError, ValueError):
        holds = "booleans" if is_bool else ("integers" if kind == "int" else "numbers")
        raise ValueError(f"{what} {text!r} is not valid: the label columns hold {holds}") from None


def _display(value: Any, is_bool: bool) -> Any:
    value = _py(value)
    return bool(value) if is_bool else value


def _plan(args: argparse.Namespace, path: Path, dtypes: dict[str, np.dtype]) -> _Plan:
    true_cols, pred_cols, score_cols = args.y_true, args.y_pred, args.y_score
    task = args.task
    if task is None and len(true_cols) > 1:
        task, note = "multilabel", "inferred: several --y-true columns"
    else:
        note = "given" if task else ""
    if task == "multilabel":
        return _plan_multilabel(args, dtypes, note)
    if len(true_cols) > 1:
        raise ValueError(
            f"several --y-true columns ({', '.join(true_cols)}) need --task multilabel"
        )
    if pred_cols is not None and len(pred_cols) > 1:
        raise ValueError(
            f"several --y-pred columns ({', '.join(pred_cols)}) need --task multilabel; "
            "for per-class scores use --y-score"
        )
    if args.labels is not None and len(set(args.labels)) != len(args.labels):
        raise ValueError(f"--labels has duplicates: {','.join(args.labels)}")
    label_cols = true_cols + (pred_cols or [])
    kind = _common_kind([dtypes[c] for c in label_cols])
    is_bool = all(dtypes[c].kind == "b" for c in label_cols)
    if args.num_classes is not None and kind != "int":
        raise ValueError(
            f"--num-classes needs integer labels; column(s) {', '.join(label_cols)} hold "
            f"{kind} values: name the classes with --labels instead"
        )
    plan = _Plan(task or "", note, [], true_cols, pred_cols, score_cols, kind)
    if score_cols is not None and len(score_cols) > 1:
        _plan_multiclass_scores(plan, args, path, is_bool)
    elif score_cols is not None:
        if task == "multiclass":
            raise ValueError(
                "--task multiclass needs one --y-score column per class "
                f"(got one: {score_cols[0]}); for predicted labels use --y-pred"
            )
        plan.task, plan.task_note = "binary", note or "inferred: one score column"
        _plan_binary(plan, args, path, is_bool)
    else:
        _plan_labels(plan, args, path, is_bool)
    return plan


def _plan_multilabel(args: argparse.Namespace, dtypes: dict[str, np.dtype], note: str) -> _Plan:
    for opt in ("labels", "pos_label", "num_classes"):
        if getattr(args, opt) is not None:
            flag = "--" + opt.replace("_", "-")
            raise ValueError(f"{flag} does not apply to multilabel (labels are the columns)")
    true_cols = args.y_true
    given = args.y_pred if args.y_pred is not None else args.y_score
    flag = "--y-pred" if args.y_pred is not None else "--y-score"
    if len(given) != len(true_cols):
        raise ValueError(
            f"multilabel needs one {flag} column per --y-true column: got {len(true_cols)} "
            f"--y-true ({', '.join(true_cols)}) and {len(given)} {flag} ({', '.join(given)})"
        )
    label_cols = true_cols + (args.y_pred or [])
    for c in label_cols:
        if dtypes[c].kind not in _LABEL_KINDS + "f":
            raise ValueError(f"multilabel column {c!r} must hold 0/1 or true/false, it holds text")
    return _Plan("multilabel", note, list(true_cols), true_cols, args.y_pred, args.y_score, "int")


def _plan_binary(plan: _Plan, args: argparse.Namespace, path: Path, is_bool: bool) -> None:
    """Binary task: classes [negative, positive], encoded to 0/1."""
    what = "--pos-label"
    pos = None if args.pos_label is None else _parse_label(args.pos_label, plan.kind, is_bool, what)
    if args.labels is not None:
        if len(args.labels) != 2:
            raise ValueError(
                f"binary task: --labels needs exactly two classes (negative,positive), "
                f"got {len(args.labels)}: {','.join(args.labels)}"
            )
        classes = [_parse_label(t, plan.kind, is_bool, "--labels value") for t in args.labels]
    elif plan.kind == "int" and pos is None and plan.found is None:
        # 0/1 (or bool) labels go to the metrics as they are; the core rejects others.
        plan.classes = [_display(0, is_bool), _display(1, is_bool)]
        plan.positive = plan.classes[1]
        return
    else:
        found = _distinct_labels(path, plan, args)
        if plan.kind == "int" and pos is None and set(found.tolist()) <= {0, 1}:
            plan.classes = [_display(0, is_bool), _display(1, is_bool)]
            plan.positive = plan.classes[1]
            return
        if len(found) > 2:
            raise ValueError(
                f"binary task, but the labels have {len(found)} distinct values: "
                f"{_preview(found)}; use --task multiclass"
                if plan.score_cols is None
                else f"one --y-score column means a binary task, but {plan.true_cols[0]!r} has "
                f"{len(found)} distinct labels: {_preview(found)}; give one score column per "
                "class for multiclass"
            )
        classes = list(found)
        if plan.kind == "int" and set(classes) <= {0, 1}:
            classes = [0, 1]
        elif pos is not None and pos not in classes:
            if len(classes) == 2:
                raise ValueError(
                    f"--pos-label {args.pos_label!r} is not one of the labels {_preview(found)}"
                )
            classes = [*classes, pos]
        elif len(classes) < 2:
            raise ValueError(
                f"only one distinct label ({_preview(found)}) and it is not 0/1: say which "
                "class is positive with --pos-label, or name both with --labels"
            )
    if pos is None:
        pos = classes[1]
    elif pos not in classes:
        raise ValueError(f"--pos-label {args.pos_label!r} is not one of --labels")
    plan.encoder = _LabelEncoder(np.asarray(classes), plan.kind) if classes else None
    plan.pos_code = classes.index(pos)
    negatives = [c for c in classes if c != pos]
    plan.classes = [_display(negatives[0], is_bool), _display(pos, is_bool)]
    plan.positive = plan.classes[1]


def _plan_multiclass_scores(
    plan: _Plan, args: argparse.Namespace, path: Path, is_bool: bool
) -> None:
    """One score column per class: the column order is the class order."""
    score_cols = plan.score_cols or []
    if args.task == "binary":
        raise ValueError(
            f"binary task takes one --y-score column (the positive class's score), got "
            f"{len(score_cols)}; use --task multiclass for one column per class"
        )
    if args.pos_label is not None:
        raise ValueError("--pos-label applies to binary tasks only")
    plan.task = "multiclass"
    plan.task_note = plan.task_note or f"inferred: {len(score_cols)} score columns"
    n = len(score_cols)
    if args.num_classes is not None and args.num_classes != n:
        raise ValueError(f"--num-classes {args.num_classes} but {n} --y-score columns")
    if args.labels is not None:
        if len(args.labels) != n:
            raise ValueError(
                f"--labels names {len(args.labels)} classes but there are {n} --y-score "
                "columns (one per class, in the same order)"
            )
        classes = [_parse_label(t, plan.kind, is_bool, "--labels value") for t in args.labels]
    elif plan.kind == "int":
        plan.classes = list(range(n))
        return
    else:
        found = list(_distinct_labels(path, plan, args))
        if {str(v) for v in found} <= set(score_cols) and plan.kind == "str":
            classes = list(score_cols)  # the score columns are named after the classes
        elif len(found) == n:
            classes = found
        else:
            raise ValueError(
                f"{plan.true_cols[0]!r} has {len(found)} distinct labels ({_preview(found)}) "
                f"but there are {n} --y-score columns; name the class of each score column "
                "with --labels (in column order)"
            )
    plan.encoder = _LabelEncoder(np.asarray(classes), plan.kind)
    plan.classes = [_display(c, is_bool) for c in classes]


def _plan_labels(plan: _Plan, args: argparse.Namespace, path: Path, is_bool: bool) -> None:
    """Predicted labels (--y-pred): binary or multiclass."""
    task = args.task
    if task is None and args.labels is not None:
        task = "binary" if len(args.labels) == 2 else "multiclass"
        plan.task_note = f"inferred: {len(args.labels)} --labels"
    elif task is None and args.num_classes is not None:
        task = "binary" if args.num_classes == 2 else "multiclass"
        plan.task_note = f"inferred: --num-classes {args.num_classes}"
    elif task is None and args.pos_label is not None:
        task, plan.task_note = "binary", "inferred: --pos-label"
    if task == "binary":
        plan.task = "binary"
        if args.num_classes not in (None, 2):
            raise ValueError(f"binary task has 2 classes, got --num-classes {args.num_classes}")
        _plan_binary(plan, args, path, is_bool)
        return
    if args.pos_label is not None:
        raise ValueError("--pos-label applies to binary tasks only")
    if task == "multiclass" and args.labels is None and args.num_classes is not None:
        plan.task, plan.classes = "multiclass", list(range(args.num_classes))
        if args.num_classes < 2:
            raise ValueError(f"multiclass needs at least 2 classes, got {args.num_classes}")
        return
    if args.labels is not None:
        classes = [_parse_label(t, plan.kind, is_bool, "--labels value") for t in args.labels]
    else:
        classes = list(_distinct_labels(path, plan, args))
        if task is None:
            task = "binary" if len(classes) <= 2 else "multiclass"
            plan.task_note = f"inferred: {len(classes)} distinct labels"
        if task == "binary":
            plan.task = "binary"
            _plan_binary(plan, args, path, is_bool)
            return
    if len(classes) < 2:
        raise ValueError(
            f"multiclass needs at least 2 classes, found {_preview(classes)}; "
            "name them with --labels"
        )
    plan.task = "multiclass"
    plan.encoder = _LabelEncoder(np.asarray(classes), plan.kind)
    plan.classes = [_display(c, is_bool) for c in classes]


def _preview(values: Sequence[Any], n: int = 8) -> str:
    shown = ", ".join(repr(_py(v)) for v in list(values)[:n])
    return shown + (f", ... ({len(values)} in all)" if len(values) > n else "")


def _distinct_labels(path: Path, plan: _Plan, args: argparse.Namespace) -> np.ndarray:
    """First pass: the sorted distinct labels of the label columns (cached in the plan)."""
    from calipers.io import iter_batches

    if plan.found is not None:
        return plan.found
    cols = plan.true_cols + (plan.pred_cols or [])
    found = np.array([], dtype=np.int64 if plan.kind == "int" else None)
    batches = iter_batches(
        path, cols, args.batch_size, progress=args.progress, desc="collecting labels"
    )
    for batch in batches:
        for c in cols:
            found = np.union1d(found, np.unique(_as_kind(batch[c], plan.kind)))
        if len(found) > MAX_CLASSES:
            raise ValueError(
                f"more than {MAX_CLASSES} distinct labels in {', '.join(map(repr, cols))} "
                f"({_preview(found, 5)}): is it a score column? Use --y-score for scores, or "
                "--labels to name the classes"
            )
    if plan.kind == "float" and np.all(found == np.round(found)):
        found = found.astype(np.int64)  # integer-valued floats (1.0) are integer labels
        plan.kind = "int"
    if len(found) == 0:
        raise ValueError(f"{path} has no data rows")
    plan.found = found
    return found


# -- evaluating -------------------------------------------------------------------------


def evaluate(args: argparse.Namespace) -> EvalReport:
    """Evaluate the file described by ``args`` (the ``calipers eval`` arguments).

    Parameters
    ----------
    args : argparse.Namespace
        From the parser made by :func:`add_parser`.

    Returns
    -------
    EvalReport
        Task, classes, sample count and metric values.

    Raises
    ------
    ValueError, TypeError, OSError, ImportError
        On bad input: missing file or column, labels that do not fit, unknown metric.
    """
    from calipers.io import column_dtypes, iter_batches

    path, shown = _resolve_file(args)
    defaulted = args.y_true is None or (args.y_pred is None and args.y_score is None)
    if args.y_true is None:
        args.y_true = ["y_true"]
    if args.y_pred is None and args.y_score is None:
        args.y_pred = ["y_pred"]
    score_cols = args.y_score or []
    weight_cols = [args.sample_weight] if args.sample_weight else []
    columns = list(dict.fromkeys(args.y_true + (args.y_pred or []) + score_cols + weight_cols))
    try:
        dtypes = column_dtypes(path, columns)
    except ValueError as exc:
        if defaulted and "not found" in str(exc):
            raise ValueError(
                f"{exc}; choose columns with --y-true and --y-pred/--y-score"
            ) from None
        raise
    plan = _plan(args, path, dtypes)
    suite = _build_suite(args, plan)

    n = 0
    batches = iter_batches(
        path,
        columns,
        args.batch_size,
        float_columns=score_cols + weight_cols,
        progress=args.progress,
        desc="evaluating",
    )
    for y_true, y_pred, weight in _encoded(batches, plan, args.sample_weight):
        try:
            suite.update(y_true, y_pred, sample_weight=weight)
        except ValueError as exc:
            # The metrics number rows within the batch; say where the batch is.
            raise ValueError(f"in rows {n + 1}-{n + len(y_true)}: {exc}{_hint(plan)}") from None
        n += len(y_true)
    if n == 0:
        raise ValueError(f"{shown} has no data rows")
    values = suite.compute()
    average = args.average or ("binary" if plan.task == "binary" else "macro")
    columns_used: dict[str, Any] = {"y_true": _one_or_list(args.y_true)}
    if args.y_pred is not None:
        columns_used["y_pred"] = _one_or_list(args.y_pred)
    else:
        columns_used["y_score"] = _one_or_list(score_cols)
    if args.sample_weight:
        columns_used["sample_weight"] = args.sample_weight
    uses_threshold = args.y_score is not None and plan.task != "multiclass"
    return EvalReport(
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


def _hint(plan: _Plan) -> str:
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


def _build_suite(args: argparse.Namespace, plan: _Plan) -> Any:
    from calipers.metrics import DEFAULT_METRICS, Suite, metric

    names = args.metrics or DEFAULT_METRICS[plan.task]
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
    batches: Iterator[dict[str, np.ndarray]], plan: _Plan, weight_col: str | None
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """Turn raw column batches into (y_true, y_pred or scores, weight) for the suite."""
    rows = 0
    for batch in batches:
        weight = batch[weight_col] if weight_col else None
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
        yield y_true, y_pred, weight


def _codes(values: np.ndarray, column: str, plan: _Plan, rows_before: int) -> np.ndarray:
    if plan.encoder is None:
        return values if values.dtype.kind in _LABEL_KINDS else _as_kind(values, "int")
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


# -- formatting -------------------------------------------------------------------------


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
    rows: list[tuple[str, str, str]] = []
    matrices = []
    for key, value in report.metrics.items():
        arr = np.asarray(value)
        if key.startswith("confusion_matrix") and arr.ndim >= 2:
            matrices.append((key, arr))
        elif arr.ndim == 0:
            rows.append((key, "", _fmt(float(arr))))
        else:
            labels = names if len(names) == arr.size else [str(i) for i in range(arr.size)]
            rows.extend(
                (key, lab, _fmt(float(v))) for lab, v in zip(labels, arr.ravel(), strict=True)
            )
    if rows:
        per_class = any(r[1] for r in rows)
        header = (
            "metric",
            ("label" if kind == "labels" else "class") if per_class else "",
            "value",
        )
        table = [header, *rows]
        w0 = max(len(r[0]) for r in table)
        w1 = max(len(r[1]) for r in table)
        w2 = max(len(r[2]) for r in table)
        for a, b, c in table:
            middle = f"  {b:<{w1}}" if per_class else ""
            lines.append(f"{a:<{w0}}{middle}  {c:>{w2}}".rstrip())
    for key, arr in matrices:
        if rows or key != matrices[0][0]:
            lines.append("")
        lines.extend(_format_matrix(key, arr, names))
    return "\n".join(lines) + "\n"


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
