"""The data the metric checks feed a metric: generated batches, rows, splits."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

__all__ = ["N_ROWS", "Batch", "as_batch", "default_data", "failing_variants", "rows", "split"]

#: Rows of data per check, cut into uneven batches (one empty, one of a single row).
N_ROWS = 120

Batch = tuple[tuple[Any, ...], dict[str, Any]]


# -- data -------------------------------------------------------------------------


def default_data(metric: Any) -> Callable[[np.random.Generator, int], Batch]:
    """The data the checks feed ``metric`` when none is given.

    From the metric's ``task`` attribute (binary when it has none): binary 0/1
    labels with scores in [0, 1]; multiclass labels in ``[0, num_classes)`` with
    probability rows; multilabel 0/1 indicators with scores, both of shape
    ``(n, num_labels)``. Sample weights are added when ``update`` takes
    ``sample_weight``. ``ndcg`` gets relevances and scores of shape (n, 4), ``map``
    query ids.

    Returns
    -------
    callable
        ``data(rng, n) -> (args, kwargs)`` for one batch of ``n`` rows.
    """
    name = getattr(metric, "name", "")
    task = getattr(metric, "task", "binary")
    weighted = "sample_weight" in inspect.signature(metric.update).parameters

    def data(rng: np.random.Generator, n: int) -> Batch:
        kwargs: dict[str, Any] = {}
        if name == "ndcg":
            args: tuple[Any, ...] = (rng.integers(0, 4, (n, 4)), rng.random((n, 4)))
        elif task == "multiclass":
            k = int(getattr(metric, "num_classes", None) or 3)
            p = rng.random((n, k)) + 0.05
            args = (rng.integers(0, k, n), p / p.sum(axis=1, keepdims=True))
        elif task == "multilabel":
            k = int(getattr(metric, "num_labels", None) or 3)
            args = (rng.integers(0, 2, (n, k)), rng.random((n, k)))
        else:
            args = (rng.integers(0, 2, n), rng.random(n))
        if name == "map":
            kwargs["query_ids"] = rng.integers(0, 6, n)
        if weighted:
            kwargs["sample_weight"] = rng.random(n) + 0.1
        return args, kwargs

    return data


def as_batch(value: Any) -> Batch:
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], tuple) \
            and isinstance(value[1], Mapping):
        return value[0], dict(value[1])
    if isinstance(value, Mapping):
        return (), dict(value)
    if isinstance(value, tuple):
        return value, {}
    raise TypeError(
        "data(rng, n) must return a tuple of update's positional arguments, a dict of its "
        f"keyword arguments, or (args, kwargs); got {type(value).__name__}"
    )


def rows(batch: Batch, index: np.ndarray, n: int) -> Batch:
    """The rows ``index`` of every array argument with ``n`` rows."""
    def take(x: Any) -> Any:
        if isinstance(x, np.ndarray) and x.ndim and x.shape[0] == n:
            return x[index]
        return x

    args, kwargs = batch
    return tuple(take(a) for a in args), {k: take(v) for k, v in kwargs.items()}


def split(rng: np.random.Generator, n: int, parts: int = 6) -> list[np.ndarray]:
    """Consecutive pieces of ``range(n)``: an empty one, the first row alone, then
    ``parts - 2`` uneven ones."""
    cuts = np.sort(rng.integers(0, n - 1, parts - 3))
    return [np.arange(0), np.arange(1), *np.split(np.arange(1, n), cuts)]


def failing_variants(batch: Batch, n: int) -> Iterator[tuple[str, Batch]]:
    """Malformed versions of a batch whose problem is in its last row."""
    args, kwargs = batch
    values = [*args, *kwargs.values()]
    arrays = [i for i, v in enumerate(values) if isinstance(v, np.ndarray) and v.ndim
              and v.shape[0] == n]

    def rebuild(new: list[Any]) -> Batch:
        return tuple(new[: len(args)]), dict(zip(kwargs, new[len(args):], strict=True))

    if len(arrays) >= 2:
        new = list(values)
        new[arrays[1]] = values[arrays[1]][:-1]
        yield "arrays of different lengths", rebuild(new)
    floats = [i for i in arrays if values[i].dtype.kind == "f"]
    if floats:
        new = [v.copy() if i in floats else v for i, v in enumerate(values)]
        for i in floats:
            new[i][-1] = np.nan
        yield "NaN in the last row", rebuild(new)
    ints = [i for i in arrays if values[i].dtype.kind in "iu"]
    for bad in (10**6, -1):
        if ints:
            new = [v.copy() if i in ints else v for i, v in enumerate(values)]
            for i in ints:
                if bad < 0 and new[i].dtype.kind == "u":
                    continue
                new[i][-1] = bad
            yield f"label {bad} in the last row", rebuild(new)
