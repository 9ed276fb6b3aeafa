"""``calipers eval``: classification metrics of a predictions file, streamed in batches.

Usage::

    calipers eval [FILE] [--y-true COL...] [--y-pred COL... | --y-score COL...]
                  [--task binary|multiclass|multilabel] [--metrics a,b] [--average AVG]
                  [--labels a,b,c] [--pos-label L] [--num-classes N] [--threshold T]
                  [--sample-weight COL] [--zero-division warn|0|1|nan] [--beta B]
                  [--bootstrap N] [--seed S] [--confidence C] [--plot DIR]
                  [--batch-size N] [--format table|json] [--output PATH]
                  [--progress | --no-progress]

FILE is a CSV/TSV (optionally compressed) or Parquet file, read batch by batch, so it
may be larger than memory. Without FILE the breast-cancer predictions shipped with
calipers are evaluated (see ``calipers/data/README.md``).

Binary tasks with a score column (``--y-score COL``, or a ``y_score`` column when the
default columns are used, as in the shipped data) also report ``roc_auc`` and
``average_precision``. ``--plot DIR`` writes ``confusion_matrix.png`` and, with a score
column, ``roc.png`` and ``pr.png`` (needs ``pip install 'calipers[plot]'``).
``--bootstrap N`` adds percentile confidence intervals from N bootstrap replicates
(the label and score columns are then kept in memory).

Labels may be integers, booleans or strings. This module only parses the arguments;
:mod:`calipers.evaluate` plans the task and classes, streams the file and formats the
result.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from calipers.evaluate import (
    TASKS,
    EvalReport,
    PredictionSource,
    evaluate,
    format_json,
    format_table,
)

# EvalReport, evaluate and the formats live in calipers.evaluate; re-exported here so
# that code importing them from this module keeps working.
__all__ = ["EvalReport", "add_parser", "evaluate", "format_json", "format_table", "run"]

PROG = "calipers eval"


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
            "  calipers eval --plot plots --bootstrap 1000\n"
            "  calipers eval data.csv --y-true label --served http://127.0.0.1:8501 "
            "--model cancer\n"
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
    given.add_argument(
        "--served",
        metavar="URL",
        help="predict with the model served at URL (TF Serving REST or calipers serve; "
        "needs --model): FILE holds the labels and the features, sent batch by batch to "
        ":predict; its labels/probabilities replace --y-pred/--y-score (probability "
        "columns in class order: the sorted labels, or --labels) "
        "(REST, no extra needed; gRPC URLs need calipers_tfserving.Client)",
    )
    cols.add_argument("--sample-weight", metavar="COL", help="sample weights")
    served = p.add_argument_group("served model (with --served)")
    served.add_argument("--model", metavar="NAME", help="the served model's name")
    served.add_argument(
        "--version", type=_non_negative_int, metavar="V",
        help="the model version (default: the server's latest)")
    served.add_argument(
        "--features",
        nargs="+",
        action="extend",
        metavar="COL",
        help="the model's input columns, in order (default: every column except "
        "--y-true and --sample-weight)",
    )
    served.add_argument(
        "--served-batch-size",
        type=_positive_int,
        default=256,
        metavar="N",
        help="rows per :predict request (default 256)",
    )

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
    met.add_argument(
        "--bootstrap",
        type=_positive_int,
        metavar="N",
        help="add bootstrap percentile confidence intervals from N replicates "
        "(keeps the label and score columns in memory)",
    )
    met.add_argument(
        "--seed", type=_seed, default=0, metavar="S", help="bootstrap seed (default 0)"
    )
    met.add_argument(
        "--confidence",
        type=_fraction,
        default=0.95,
        metavar="C",
        help="confidence level of the bootstrap intervals (default 0.95)",
    )

    out = p.add_argument_group("input and output")
    out.add_argument(
        "--batch-size",
        type=_positive_int,
        default=65_536,
        metavar="N",
        help="rows per batch (default 65536)",
    )
    out.add_argument(
        "--plot",
        metavar="DIR",
        help="write confusion_matrix.png and, with a binary score column, roc.png and "
        "pr.png into DIR (created if missing; needs matplotlib: pip install 'calipers[plot]')",
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


def _checked(convert: Callable[[str], Any], valid: Callable[[Any], bool], expected: str,
             in_range: str | None = None) -> Callable[[str], Any]:
    """An argparse ``type``: ``convert`` the text, then require ``valid(value)``.

    Errors read ``expected <expected>, got 'text'`` when the text does not convert and
    ``expected <in_range>, got value`` (``in_range`` defaults to ``expected``) when
    the value is out of range.
    """

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not valid(value):
            raise argparse.ArgumentTypeError(f"expected {in_range or expected}, got {value}")
        return value

    return parse


_positive_int = _checked(int, lambda v: v >= 1, "a positive integer")
_non_negative_int = _checked(int, lambda v: v >= 0, "a non-negative integer")
_seed = _checked(int, lambda v: 0 <= v < 2**64, "a non-negative integer",
                 "an integer in [0, 2**64)")
_fraction = _checked(float, lambda v: 0.0 < v < 1.0, "a number in (0, 1)")


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
            report = evaluate(args, _prediction_source(args))
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


def _prediction_source(args: argparse.Namespace) -> PredictionSource | None:
    """With ``--served``: the served model as the evaluation's prediction source."""
    url = getattr(args, "served", None)
    if url is None:
        for opt in ("model", "version", "features"):
            if getattr(args, opt, None) is not None:
                raise ValueError(f"--{opt} applies to a served model: give --served URL")
        return None
    if not getattr(args, "model", None):
        raise ValueError("--served needs --model NAME (the served model's name)")
    # The host's REST client (no plugin, no TensorFlow): imported only with --served.
    from calipers.serve.client import eval_predictor

    predict = eval_predictor(url, args.model, args.version,
                             batch_size=args.served_batch_size)
    version = "" if args.version is None else f" version {args.version}"
    return PredictionSource(predict, args.features, f"model {args.model!r}{version} at {url}")


def _one_line(text: str) -> str:
    return " ".join(text.split())
