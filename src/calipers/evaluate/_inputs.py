"""Which column each requested metric is updated with: predicted labels or scores.

A metric class says what its ``update``'s second argument is with its ``inputs``
attribute (:attr:`calipers.metrics.Metric.inputs`): ``"labels"`` (predicted labels,
the default) or ``"scores"`` (scores or probabilities). An evaluation routes each
requested metric by it:

- confusion metrics (:class:`~calipers.metrics.ConfusionMetric`) share one Suite, fed
  the predicted labels, or the thresholded (binary, multilabel) or arg-maxed
  (multiclass) scores when only ``--y-score`` is given;
- other ``"labels"`` metrics (plugins) get the ``--y-pred`` column as the confusion
  metrics see it: codes 0..k-1 in class order (binary: 1 is the positive class;
  multilabel: a 0/1 matrix), batch by batch;
- ``"scores"`` metrics get the binary score column.

Sample weights go to ``update(..., sample_weight=w)`` when its signature takes them;
a metric whose ``update`` does not is updated without them, with a warning.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["INPUTS", "MetricRoutes", "metric_inputs", "split_metric_names", "takes_weights",
           "update_metric", "warn_unweighted"]

#: The values of a metric class's ``inputs`` attribute.
INPUTS = ("labels", "scores")


def metric_inputs(name: str, cls: Any) -> str:
    """Return what metric class ``cls``'s ``update`` takes second: ``"labels"`` or ``"scores"``.

    Parameters
    ----------
    name : str
        The registered name, for the error message.
    cls : type
        The metric class; without an ``inputs`` attribute it takes labels.

    Raises
    ------
    ValueError
        If ``inputs`` is not one of :data:`INPUTS`.
    """
    inputs = getattr(cls, "inputs", "labels")
    if inputs not in INPUTS:
        where = f"{getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', cls)}"
        raise ValueError(
            f"metric {name!r} ({where}) has inputs = {inputs!r}; it must be 'labels' (update "
            "takes predicted labels) or 'scores' (update takes scores): fix the metric class"
        )
    return str(inputs)


@dataclass
class MetricRoutes:
    """The requested metrics, by the column they are updated with.

    Attributes
    ----------
    confusion : list of str
        Confusion metrics (one shared Suite).
    labels : list of str
        Other metrics updated with the predicted labels.
    scores : list of str
        Metrics updated with the score column.
    order : list of str
        Every name, in the order requested (the report's order).
    """

    confusion: list[str]
    labels: list[str]
    scores: list[str]
    order: list[str]

    def ordered(self, confusion_values: Mapping[str, Any],
                other_values: Mapping[str, Any]) -> dict[str, Any]:
        """Merge the Suite's values (keyed as the Suite keys them) and the others' (by
        name) into one dict in the requested order."""
        keys = iter(confusion_values)
        out: dict[str, Any] = {}
        for name in self.order:
            if name in other_values:
                out[name] = other_values[name]
            else:
                key = next(keys, None)
                if key is not None:
                    out[key] = confusion_values[key]
        for key in keys:
            out[key] = confusion_values[key]
        return out


def split_metric_names(names: list[str] | None, defaults: list[str], score_col: str | None,
                       has_labels: bool = True) -> MetricRoutes:
    """Route metric names to the Suite, the predicted labels or the score column.

    Parameters
    ----------
    names : list of str, optional
        ``--metrics``; ``None`` for the task's defaults (plus ``roc_auc`` and
        ``average_precision`` when there is a score column).
    defaults : list of str
        The task's default confusion metrics.
    score_col : str, optional
        The binary score column, if any.
    has_labels : bool, default True
        Whether there is a predicted-label column (``--y-pred``).

    Returns
    -------
    MetricRoutes
        The names by route, and their order.

    Raises
    ------
    ValueError
        For a score metric without a score column, a labels metric without a
        predicted-label column, or a metric class with a bad ``inputs``.
    """
    from calipers.evaluate._scores import SCORE_DEFAULTS
    from calipers.metrics import ConfusionMetric
    from calipers.plugins import get

    if names is None:
        scores = list(SCORE_DEFAULTS) if score_col else []
        return MetricRoutes(list(defaults), [], scores, [*defaults, *scores])
    routes = MetricRoutes([], [], [], list(names))
    for name in names:
        cls = get("metric", name)
        if isinstance(cls, type) and issubclass(cls, ConfusionMetric):
            routes.confusion.append(name)
        elif metric_inputs(name, cls) == "labels":
            if not has_labels:
                raise ValueError(
                    f"metric {name!r} takes predicted labels (its inputs is 'labels') and "
                    "there is no predicted-label column: give it with --y-pred"
                )
            routes.labels.append(name)
        elif score_col is None:
            raise ValueError(
                f"metric {name!r} needs scores: give a binary score column with --y-score"
            )
        else:
            routes.scores.append(name)
    return routes


def takes_weights(metric: Any) -> bool:
    """Whether ``metric.update`` takes a ``sample_weight`` keyword (or ``**kwargs``)."""
    try:
        params = inspect.signature(metric.update).parameters.values()
    except (TypeError, ValueError):  # no signature to read (a builtin): assume it does
        return True
    return any(p.name == "sample_weight" or p.kind is p.VAR_KEYWORD for p in params)


def warn_unweighted(name: str) -> None:
    """Say that metric ``name`` is computed without the ``--sample-weight`` column."""
    warnings.warn(
        f"metric {name!r} ignores --sample-weight: its update takes no sample_weight, so "
        "its value is unweighted",
        UserWarning,
        stacklevel=2,
    )


def update_metric(metric: Any, y_true: Any, x: Any, weight: Any) -> None:
    """``metric.update(y_true, x)``, with ``sample_weight=weight`` when there are weights."""
    if weight is None:
        metric.update(y_true, x)
    else:
        metric.update(y_true, x, sample_weight=weight)
