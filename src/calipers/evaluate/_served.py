"""Predictions from a model instead of the file: the "prediction source" of an evaluation.

``calipers eval DATA --served URL --model NAME`` evaluates a model served remotely: the
file holds the true labels and the features, and each batch's feature columns go to a
:data:`PredictFn` (for ``--served``, built by the tfserving plugin), whose labels and/or
probabilities stand in for ``--y-pred`` / ``--y-score`` columns. :class:`PredictionSource`
says which features to send; :func:`served_reader` adds the predicted columns to each
batch read from the file, so the planning and the batch loop see them as ordinary columns.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["PredictFn", "PredictionSource", "Reader", "served_reader"]

#: Feature matrix (rows x features) -> (labels or None, probabilities or None).
PredictFn = Callable[[np.ndarray], "tuple[np.ndarray | None, np.ndarray | None]"]
#: Reads columns batch by batch, as :func:`calipers.io.iter_batches`.
Reader = Callable[..., Iterator[dict[str, np.ndarray]]]

#: Names of the predicted columns (they cannot clash with a file's: they hold a colon).
LABEL_COL = "served:label"
SCORE_COL = "served:score"


@dataclass
class PredictionSource:
    """Where the predictions come from when the file has none.

    Attributes
    ----------
    predict : PredictFn
        Feature matrix -> ``(labels, probabilities)``, either may be ``None``.
    features : list of str, optional
        The feature columns, in the model's input order; ``None``: every column of
        the file except the ``--y-true`` and ``--sample-weight`` ones.
    name : str
        What the report calls the source (e.g. ``"model 'iris' at http://..."``).
    negative_is_positive : bool
        Binary tasks: score the first probability column (the evaluation sets it when
        the positive class is the first of the two, e.g. ``--pos-label`` names it);
        by default the last column is the positive class's.
    """

    predict: PredictFn
    features: list[str] | None = None
    name: str = "served model"
    negative_is_positive: bool = False


def served_reader(args: argparse.Namespace, path: Path, source: PredictionSource,
                  dtypes: dict[str, np.dtype]) -> Reader:
    """Fill ``args.y_pred`` / ``args.y_score`` from a first answer; return the batch reader.

    Parameters
    ----------
    args : argparse.Namespace
        The ``calipers eval`` arguments (``y_true`` filled in); ``y_pred`` or
        ``y_score`` is set to the predicted columns' names.
    path : pathlib.Path
        The data file (labels and features).
    source : PredictionSource
        The model.
    dtypes : dict of str to numpy.dtype
        Every column of the file; the predicted columns' dtypes are added.

    Returns
    -------
    Reader
        ``read(path, columns, batch_size, float_columns=..., progress=..., desc=...)``
        like :func:`calipers.io.iter_batches` (``path`` is ignored: the data file is
        read), the predicted columns included.
    """
    from calipers.io import iter_batches

    if args.y_pred is not None or args.y_score is not None:
        raise ValueError("the predictions come from the served model: drop --y-pred/--y-score")
    skip = set(args.y_true) | ({args.sample_weight} if args.sample_weight else set())
    features = source.features or [c for c in dtypes if c not in skip]
    missing = [c for c in features if c not in dtypes]
    if missing:
        raise ValueError(f"feature column(s) not found in {path}: {', '.join(missing)}; "
                         f"the columns are {', '.join(dtypes)}")
    if not features:
        raise ValueError(f"{path} has no feature columns besides the labels")
    text = [c for c in features if dtypes[c].kind not in "biuf"]
    if text:
        raise ValueError(f"feature column(s) {', '.join(text)} are not numeric; choose the "
                         "model's inputs with --features")
    first = next(iter_batches(path, features, 8), None)
    if first is None:
        raise ValueError(f"{path} has no data rows")
    labels, proba = _answer(source, first, features)
    if proba is not None and (proba.shape[1] > 2 or args.task in ("multiclass", "multilabel")):
        args.y_score = [f"{SCORE_COL}_{i}" for i in range(proba.shape[1])]
    elif proba is not None:
        args.y_score = [SCORE_COL]  # binary: the positive (last) class's probability
    else:
        assert labels is not None
        width = 1 if labels.ndim == 1 else labels.shape[1]
        args.y_pred = [LABEL_COL] if width == 1 else [f"{LABEL_COL}_{i}" for i in range(width)]
        kind = labels.dtype if labels.dtype.kind in "biuf" else np.dtype(object)
        dtypes.update({c: kind for c in args.y_pred})
    dtypes.update({c: np.dtype(np.float64) for c in args.y_score or []})
    made = set(args.y_pred or args.y_score)

    def read(_path: object, columns: Sequence[str], batch_size: int, **options: object
             ) -> Iterator[dict[str, np.ndarray]]:
        wanted = list(columns)
        if not made.intersection(wanted):
            yield from iter_batches(path, wanted, batch_size, **options)  # type: ignore[arg-type]
            return
        from_file = list(dict.fromkeys([c for c in wanted if c not in made] + features))
        floats = [c for c in options.pop("float_columns", ()) if c not in made]  # type: ignore[attr-defined]
        for batch in iter_batches(path, from_file, batch_size, float_columns=floats,
                                  **options):  # type: ignore[arg-type]
            labels, proba = _answer(source, batch, features)
            out = {c: batch[c] for c in wanted if c not in made}
            if args.y_score is not None:
                if proba is None:
                    raise ValueError(f"{source.name} stopped returning probabilities")
                cols = _positive(proba, source) if args.y_score == [SCORE_COL] else proba
                out.update({c: cols[:, i] for i, c in enumerate(args.y_score)})
            else:
                if labels is None:
                    raise ValueError(f"{source.name} stopped returning labels")
                cols = labels.reshape(len(labels), -1)
                out.update({c: cols[:, i] for i, c in enumerate(args.y_pred)})
            yield out

    return read


def _positive(proba: np.ndarray, source: PredictionSource) -> np.ndarray:
    """Binary: the positive class's probability, as one column."""
    last = proba[:, -1:]
    if not source.negative_is_positive:
        return last
    return proba[:, :1] if proba.shape[1] > 1 else 1.0 - last


def _answer(source: PredictionSource, batch: dict[str, np.ndarray], features: list[str]
            ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The model's (labels, probabilities) for one batch, checked."""
    X = np.column_stack([batch[c] for c in features])
    labels, proba = source.predict(X)
    n = len(X)
    if proba is not None:
        proba = np.asarray(proba, dtype=np.float64)
        if proba.ndim == 1:
            proba = proba.reshape(-1, 1)
        if proba.ndim != 2 or len(proba) != n:
            raise ValueError(f"{source.name} answered probabilities of shape {proba.shape} "
                             f"for {n} rows")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]
        if len(labels) != n:
            raise ValueError(f"{source.name} answered {len(labels)} labels for {n} rows")
        if labels.dtype.kind == "U":
            labels = labels.astype(object)
    if labels is None and proba is None:
        raise ValueError(f"{source.name} answered neither labels nor probabilities")
    return labels, proba
