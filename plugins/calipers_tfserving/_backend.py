"""Scoring a model served remotely (TF Serving or ``calipers serve``) with calipers metrics.

- :func:`predict_remote` sends a dataset in batches and concatenates the answers
  (the host's :func:`calipers.serve.client.predict_remote`, with ``grpc://`` URLs).
- :class:`RemoteModel` wraps a served classifier/regressor with ``predict`` /
  ``predict_proba`` (scikit-learn style), e.g. for ``calipers.verify``-like checks.
- :func:`score_remote` streams batches through the server into calipers metrics
  (``calipers.metric(name).update`` per batch): the data never has to fit the
  server's request size limit at once.
- :func:`write_predictions` writes the file ``calipers eval`` reads
  (``y_true``, ``y_pred``, ``y_score`` columns), so ``calipers eval preds.csv``
  reports the served model's metrics with the command's usual options.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from calipers.serve import client as rest
from calipers.serve.client import LABEL_NAMES, PROBA_NAMES, iter_batches, split_outputs
from calipers_tfserving._client import Client

__all__ = ["LABEL_NAMES", "PROBA_NAMES", "RemoteModel", "predict_remote", "score_remote",
           "write_predictions"]


def _client(server: rest.Client | str, model: str | None, version: int | None,
            timeout: float) -> rest.Client:
    # A URL gets this plugin's client, so grpc:// works here too.
    return Client.coerce(server, model, version, timeout=timeout)


def predict_remote(
    server: rest.Client | str,
    X: Any,
    *,
    model: str | None = None,
    version: int | None = None,
    batch_size: int = 256,
    columnar: bool = False,
    timeout: float = 30.0,
) -> np.ndarray | dict[str, np.ndarray]:
    """Predict ``X`` with a served model, ``batch_size`` rows per request.

    :func:`calipers.serve.client.predict_remote`, with URLs opened by this
    plugin's :class:`Client` (so ``grpc://`` URLs work too).

    Parameters
    ----------
    server : Client or str
        A client, or the server URL (then ``model`` is required).
    X : array-like or dict
        The inputs (a dict ``{input: batch}`` for several inputs).
    model, version : optional
        With a URL: the model and version to ask.
    batch_size : int, default 256
        Rows per request.
    columnar : bool, default False
        Use the columnar ``{"inputs": ...}`` format instead of rows.
    timeout : float, default 30
        Seconds per request (with a URL).

    Returns
    -------
    numpy.ndarray or dict[str, numpy.ndarray]
        As :meth:`Client.predict`, over all rows.
    """
    return rest.predict_remote(_client(server, model, version, timeout), X, model=model,
                                batch_size=batch_size, columnar=columnar)


class RemoteModel:
    """A served model as an estimator: ``predict(X)`` and ``predict_proba(X)``.

    Parameters
    ----------
    client : Client
        The model's client (this plugin's or :class:`calipers.serve.client.Client`).
    classes : sequence, optional
        Class labels by probability column (maps arg-maxed probabilities to
        labels when the model has no label output).
    batch_size : int, default 256
        Rows per request.
    """

    def __init__(self, client: rest.Client, *, classes: Sequence[Any] | None = None,
                 batch_size: int = 256) -> None:
        self.client = client
        self.classes_ = None if classes is None else np.asarray(classes)
        self.batch_size = batch_size

    def _run(self, X: Any) -> tuple[np.ndarray | None, np.ndarray | None]:
        return split_outputs(predict_remote(self.client, X, batch_size=self.batch_size))

    def predict(self, X: Any) -> np.ndarray:
        """Labels (classifiers) or values (regressors) for ``X``."""
        labels, proba = self._run(X)
        if labels is not None:
            return labels
        index = proba.argmax(axis=1)
        return self.classes_[index] if self.classes_ is not None else index

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities for ``X`` (the model's probabilities output)."""
        _, proba = self._run(X)
        if proba is None:
            raise AttributeError(f"model {self.client.model!r} has no probabilities output")
        return proba


def score_remote(
    server: rest.Client | str,
    X: Any,
    y_true: Any,
    *,
    model: str | None = None,
    version: int | None = None,
    metrics: Sequence[str] = ("accuracy", "f1"),
    classes: Sequence[Any] | None = None,
    batch_size: int = 256,
    timeout: float = 30.0,
    **metric_options: Any,
) -> dict[str, Any]:
    """Score a served classifier with calipers metrics, streamed batch by batch.

    Labels go to label metrics (``accuracy``, ``f1``, ...); probabilities to
    score metrics (``roc_auc``, ``log_loss``, ...: binary tasks get the
    positive column). The task is binary for two classes, else multiclass.

    Parameters
    ----------
    server, X, model, version, batch_size, timeout
        As :func:`predict_remote`.
    y_true : array-like
        True labels, one per row of ``X``.
    metrics : sequence of str
        calipers metric names.
    classes : sequence, optional
        The classes in the model's probability-column order; by default the
        integers ``0..C-1`` (``C`` from the first answer's probabilities, or
        from the sorted labels of ``y_true`` without probabilities).
    **metric_options
        Passed to every metric (``average``, ``zero_division``...).

    Returns
    -------
    dict
        ``{metric name: value}`` plus ``"n"`` (rows scored).
    """
    import calipers

    client = _client(server, model, version, timeout)
    y_true = np.asarray(y_true)
    rows = len(next(iter(X.values()))) if isinstance(X, Mapping) and X else len(X)
    if rows != len(y_true):
        raise ValueError(f"y_true has {len(y_true)} labels for {rows} rows of X")
    built: dict[str, Any] | None = None
    index: dict[Any, int] = {}
    n = 0
    for start, batch in iter_batches(X, batch_size):
        labels, proba = split_outputs(client.predict(batch))
        truth = y_true[start:start + len(proba if proba is not None else labels)]
        if built is None:
            if classes is None:
                count = proba.shape[1] if proba is not None else len(np.unique(y_true))
                classes = list(range(count)) if proba is not None else \
                    np.unique(y_true).tolist()
            index = {c: i for i, c in enumerate(np.asarray(classes).tolist())}
            task = "binary" if len(index) == 2 else "multiclass"
            extra = {} if task == "binary" else {"num_classes": len(index)}
            built = {name: calipers.metric(name, task=task, **extra, **metric_options)
                     for name in metrics}
        true_idx = _encode(truth, index, "y_true")
        for name, metric in built.items():
            if getattr(metric, "takes_scores", None) or _is_score_metric(metric):
                if proba is None:
                    raise ValueError(f"metric {name!r} needs probabilities; model "
                                     f"{client.model!r} returned none")
                metric.update(true_idx, proba[:, 1] if len(index) == 2 else proba)
            else:
                pred = _encode(labels, index, "the served labels") if labels is not None \
                    else proba.argmax(axis=1)
                metric.update(true_idx, pred)
        n += len(truth)
    if built is None:
        raise ValueError("X has no rows")
    result = {name: metric.compute() for name, metric in built.items()}
    result["n"] = n
    return result


def _is_score_metric(metric: Any) -> bool:
    from calipers.metrics import ScoreMetric

    return isinstance(metric, ScoreMetric)


def _encode(values: np.ndarray, index: Mapping[Any, int], what: str) -> np.ndarray:
    values = np.asarray(values).tolist()
    try:
        return np.asarray([index[v] for v in values], dtype=np.int64)
    except KeyError as exc:
        raise ValueError(f"{what} holds {exc.args[0]!r}, not one of the classes "
                         f"{list(index)}") from None


def write_predictions(path: str | os.PathLike, y_true: Any,
                      outputs: np.ndarray | Mapping[str, np.ndarray]) -> None:
    """Write ``y_true`` and a served model's outputs as the CSV ``calipers eval`` reads.

    Columns: ``y_true``; ``y_pred`` (labels, when the model gives them); and
    ``y_score`` (binary: the positive class' probability) or ``y_score_<i>`` per
    class. Then ``calipers eval PATH --y-true y_true --y-score y_score`` (or
    ``--y-pred y_pred``) reports the metrics.
    """
    labels, proba = split_outputs(outputs)
    y_true = np.asarray(y_true)
    n = len(y_true)
    columns: dict[str, np.ndarray] = {"y_true": y_true}
    if labels is not None:
        columns["y_pred"] = np.asarray(labels).reshape(n, -1)[:, 0] \
            if np.asarray(labels).ndim > 1 else np.asarray(labels)
    if proba is not None:
        if proba.shape[1] == 2:
            columns["y_score"] = proba[:, 1]
        else:
            for i in range(proba.shape[1]):
                columns[f"y_score_{i}"] = proba[:, i]
    for name, col in columns.items():
        if len(col) != n:
            raise ValueError(f"{name} has {len(col)} rows, y_true {n}")
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(list(columns))
        for row in zip(*(c.tolist() for c in columns.values()), strict=True):
            writer.writerow([repr(v) if isinstance(v, float) else v for v in row])
