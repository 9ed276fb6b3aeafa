"""Planning an evaluation: the task, the classes, and how each batch of labels is encoded.

Integer labels with a known class count (``--num-classes``, or binary 0/1 labels) go to
the metrics as they are. Otherwise a first, cheap pass over the label columns collects
the sorted distinct labels, which become the classes (or ``--labels`` fixes them, in the
given order), and a :class:`~calipers.evaluate._labels.LabelEncoder` maps each batch to
codes 0..k-1. Without ``--task`` the task is inferred from the columns and the labels.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from calipers.evaluate._labels import (
    LABEL_KINDS,
    LabelEncoder,
    as_kind,
    common_kind,
    display,
    parse_label,
    preview,
)

__all__ = ["MAX_CLASSES", "TASKS", "Plan", "make_plan"]

#: A first pass that finds more distinct labels than this stops: it is most likely a
#: score column given as --y-pred, and a k x k confusion matrix would not fit anyway.
MAX_CLASSES = 1000
TASKS = ("binary", "multiclass", "multilabel")


@dataclass
class Plan:
    """How to evaluate a file: the task, the classes and how labels become codes.

    Attributes
    ----------
    task : str
        ``"binary"``, ``"multiclass"`` or ``"multilabel"``.
    task_note : str
        How the task was chosen (``"given"`` or the inference rule).
    classes : list
        Class names in code order (multilabel: the ``--y-true`` column names).
    true_cols, pred_cols, score_cols : list of str
        The label, predicted-label and score columns (``None`` where not given).
    kind : str
        Common kind of the label columns: ``"int"``, ``"float"`` or ``"str"``.
    encoder : LabelEncoder, optional
        Maps label values to codes; ``None``: integer labels are used as they are.
    pos_code : int, optional
        Binary through the encoder: the code of the positive class.
    positive : object, optional
        The positive class as reported (binary only).
    found : numpy.ndarray, optional
        The first pass's sorted distinct labels, once collected.
    read : callable, optional
        Reads the columns batch by batch (default :func:`calipers.io.iter_batches`;
        with a prediction source, it adds the predicted columns).
    """

    task: str
    task_note: str
    classes: list[Any]
    true_cols: list[str]
    pred_cols: list[str] | None
    score_cols: list[str] | None
    kind: str = "int"  # common kind of the label columns: int | float | str
    encoder: LabelEncoder | None = None  # None: integer labels used as they are
    pos_code: int | None = None  # binary through the encoder: index of the positive class
    positive: Any = None
    found: np.ndarray | None = None  # the first pass's distinct labels, once collected
    read: Callable[..., Any] | None = field(default=None, repr=False)

    @property
    def num_classes(self) -> int | None:
        """Class count for the metrics (multiclass only, else ``None``)."""
        return len(self.classes) if self.task == "multiclass" else None

    @property
    def num_labels(self) -> int | None:
        """Label count for the metrics (multilabel only, else ``None``)."""
        return len(self.true_cols) if self.task == "multilabel" else None


def make_plan(args: argparse.Namespace, path: Path, dtypes: dict[str, np.dtype],
              read: Callable[..., Any] | None = None) -> Plan:
    """Choose the task and the classes, reading the label columns first where needed.

    Parameters
    ----------
    args : argparse.Namespace
        The ``calipers eval`` arguments, with ``y_true`` and one of ``y_pred`` /
        ``y_score`` filled in (see :func:`calipers.evaluate.evaluate`).
    path : pathlib.Path
        The predictions file.
    dtypes : dict of str to numpy.dtype
        The dtype of each column read (from :func:`calipers.io.column_dtypes`).
    read : callable, optional
        Reads columns batch by batch, as :func:`calipers.io.iter_batches` (the default).

    Returns
    -------
    Plan
        The task, classes and encoding of the labels.

    Raises
    ------
    ValueError
        If the options contradict each other or the labels do not fit them.
    """
    true_cols, pred_cols, score_cols = args.y_true, args.y_pred, args.y_score
    task = args.task
    if task is None and len(true_cols) > 1:
        task, note = "multilabel", "inferred: several --y-true columns"
    else:
        note = "given" if task else ""
    if task == "multilabel":
        plan = _plan_multilabel(args, dtypes, note)
        plan.read = read
        return plan
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
    kind = common_kind([dtypes[c] for c in label_cols])
    is_bool = all(dtypes[c].kind == "b" for c in label_cols)
    if args.num_classes is not None and kind != "int":
        raise ValueError(
            f"--num-classes needs integer labels; column(s) {', '.join(label_cols)} hold "
            f"{kind} values: name the classes with --labels instead"
        )
    plan = Plan(task or "", note, [], true_cols, pred_cols, score_cols, kind, read=read)
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


def _plan_multilabel(args: argparse.Namespace, dtypes: dict[str, np.dtype], note: str) -> Plan:
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
        if dtypes[c].kind not in LABEL_KINDS + "f":
            raise ValueError(f"multilabel column {c!r} must hold 0/1 or true/false, it holds text")
    return Plan("multilabel", note, list(true_cols), true_cols, args.y_pred, args.y_score, "int")


def _plan_binary(plan: Plan, args: argparse.Namespace, path: Path, is_bool: bool) -> None:
    """Binary task: classes [negative, positive], encoded to 0/1."""
    what = "--pos-label"
    pos = None if args.pos_label is None else parse_label(args.pos_label, plan.kind, is_bool, what)
    if args.labels is not None:
        if len(args.labels) != 2:
            raise ValueError(
                f"binary task: --labels needs exactly two classes (negative,positive), "
                f"got {len(args.labels)}: {','.join(args.labels)}"
            )
        classes = [parse_label(t, plan.kind, is_bool, "--labels value") for t in args.labels]
    elif plan.kind == "int" and pos is None and plan.found is None:
        # 0/1 (or bool) labels go to the metrics as they are; the core rejects others.
        plan.classes = [display(0, is_bool), display(1, is_bool)]
        plan.positive = plan.classes[1]
        return
    else:
        found = _distinct_labels(path, plan, args)
        if plan.kind == "int" and pos is None and set(found.tolist()) <= {0, 1}:
            plan.classes = [display(0, is_bool), display(1, is_bool)]
            plan.positive = plan.classes[1]
            return
        if len(found) > 2:
            raise ValueError(
                f"binary task, but the labels have {len(found)} distinct values: "
                f"{preview(found)}; use --task multiclass"
                if plan.score_cols is None
                else f"one --y-score column means a binary task, but {plan.true_cols[0]!r} has "
                f"{len(found)} distinct labels: {preview(found)}; give one score column per "
                "class for multiclass"
            )
        classes = list(found)
        if plan.kind == "int" and set(classes) <= {0, 1}:
            classes = [0, 1]
        elif pos is not None and pos not in classes:
            if len(classes) == 2:
                raise ValueError(
                    f"--pos-label {args.pos_label!r} is not one of the labels {preview(found)}"
                )
            classes = [*classes, pos]
        elif len(classes) < 2:
            raise ValueError(
                f"only one distinct label ({preview(found)}) and it is not 0/1: say which "
                "class is positive with --pos-label, or name both with --labels"
            )
    if pos is None:
        pos = classes[1]
    elif pos not in classes:
        raise ValueError(f"--pos-label {args.pos_label!r} is not one of --labels")
    plan.encoder = LabelEncoder(np.asarray(classes), plan.kind) if classes else None
    plan.pos_code = classes.index(pos)
    negatives = [c for c in classes if c != pos]
    plan.classes = [display(negatives[0], is_bool), display(pos, is_bool)]
    plan.positive = plan.classes[1]


def _plan_multiclass_scores(
    plan: Plan, args: argparse.Namespace, path: Path, is_bool: bool
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
        classes = [parse_label(t, plan.kind, is_bool, "--labels value") for t in args.labels]
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
                f"{plan.true_cols[0]!r} has {len(found)} distinct labels ({preview(found)}) "
                f"but there are {n} --y-score columns; name the class of each score column "
                "with --labels (in column order)"
            )
    plan.encoder = LabelEncoder(np.asarray(classes), plan.kind)
    plan.classes = [display(c, is_bool) for c in classes]


def _plan_labels(plan: Plan, args: argparse.Namespace, path: Path, is_bool: bool) -> None:
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
        classes = [parse_label(t, plan.kind, is_bool, "--labels value") for t in args.labels]
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
            f"multiclass needs at least 2 classes, found {preview(classes)}; "
            "name them with --labels"
        )
    plan.task = "multiclass"
    plan.encoder = LabelEncoder(np.asarray(classes), plan.kind)
    plan.classes = [display(c, is_bool) for c in classes]


def _distinct_labels(path: Path, plan: Plan, args: argparse.Namespace) -> np.ndarray:
    """First pass: the sorted distinct labels of the label columns (cached in the plan)."""
    from calipers.io import iter_batches

    if plan.found is not None:
        return plan.found
    cols = plan.true_cols + (plan.pred_cols or [])
    found = np.array([], dtype=np.int64 if plan.kind == "int" else None)
    batches = (plan.read or iter_batches)(
        path, cols, args.batch_size, progress=args.progress, desc="collecting labels"
    )
    for batch in batches:
        for c in cols:
            found = np.union1d(found, np.unique(as_kind(batch[c], plan.kind)))
        if len(found) > MAX_CLASSES:
            raise ValueError(
                f"more than {MAX_CLASSES} distinct labels in {', '.join(map(repr, cols))} "
                f"({preview(found, 5)}): is it a score column? Use --y-score for scores, or "
                "--labels to name the classes"
            )
    if plan.kind == "float" and np.all(found == np.round(found)):
        found = found.astype(np.int64)  # integer-valued floats (1.0) are integer labels
        plan.kind = "int"
    if len(found) == 0:
        raise ValueError(f"{path} has no data rows")
    plan.found = found
    return found
