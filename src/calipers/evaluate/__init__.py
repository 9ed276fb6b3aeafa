"""Classification metrics of a predictions file, streamed in batches.

The engine behind ``calipers eval`` (:mod:`calipers.cli.eval` only parses the
arguments)::

    report = evaluate(args)        # args: the ``calipers eval`` argparse namespace
    print(format_table(report))    # or format_json(report)

The file (CSV/TSV, optionally compressed, or Parquet) is read through
:func:`calipers.io.iter_batches`, so it may be larger than memory, and fed batch by
batch to a :class:`calipers.metrics.Suite`. Labels may be integers, booleans or
strings. Integer labels with a known class count (``--num-classes``, or binary 0/1
labels) are streamed once; otherwise a first, cheap pass over the label columns
collects the sorted distinct labels, which become the classes (or ``--labels`` fixes
them, in the given order).

Binary tasks with a score column also get ``roc_auc`` and ``average_precision``;
``--plot DIR`` writes the ROC, precision-recall and confusion-matrix pictures and
``--bootstrap N`` adds percentile intervals.

With a :class:`PredictionSource` (``calipers eval DATA --served URL --model NAME``)
the predictions come from a model: each batch's feature columns go to it, and its
labels or probabilities stand in for the ``y_pred`` / ``y_score`` columns.

Metrics other than the confusion metrics, plugins' included, are routed by their
class's ``inputs`` attribute: ``"labels"`` metrics are updated with the ``--y-pred``
column, ``"scores"`` metrics with the score column.

Modules: ``_labels`` (label kinds, parsing, codes), ``_plan`` (task and classes),
``_run`` (the batch loop), ``_served`` (predictions from a model), ``_inputs`` (which
column each metric is updated with), ``_scores`` (score metrics, pictures,
bootstrap), ``_report`` (:class:`EvalReport` and its formats). pyarrow, tqdm and
the metrics are imported only when an evaluation runs.
"""

from calipers.evaluate._plan import MAX_CLASSES, TASKS
from calipers.evaluate._report import EvalReport, format_json, format_table
from calipers.evaluate._run import evaluate
from calipers.evaluate._served import PredictionSource

__all__ = [
    "MAX_CLASSES",
    "TASKS",
    "EvalReport",
    "PredictionSource",
    "evaluate",
    "format_json",
    "format_table",
]
