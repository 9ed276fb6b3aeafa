"""calipers' first-party dask plugin: the partitioned ``dask`` array backend.

With it, every metric's ``update`` accepts dask arrays, or a dask DataFrame's
columns (dask Series) or the frame itself, for any of its array arguments::

    m = calipers.metric("f1", task="multiclass", num_classes=10)
    m.update(ddf["label"], ddf["pred"], sample_weight=ddf["w"])
    m.compute()  # the same number as on the whole arrays in memory

Each aligned partition updates an empty clone of the metric (same options), on the
workers of the active ``dask.distributed`` client when there is one, else on dask's
default scheduler; the partition states are merged in a tree on the cluster and the
one resulting state is merged into the metric. A failure in any partition leaves the
metric unchanged.

Tuning: ``study.optimize(objective, n_trials=..., executor=DaskExecutor(client))``
runs each trial as a dask task (see :mod:`calipers_dask._study`).

The entry point exists whether or not dask is installed, so this module imports
without dask: ``__calipers_requires__`` lets the host see (with ``find_spec``, no
import) that dask is missing and list the plugin as unavailable with
``pip install 'calipers[dask]'``. dask itself is only touched through collections
the caller already has.
"""

from __future__ import annotations

import copy
import inspect
import math
import sys
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

import calipers
from calipers.backends import Backend
from calipers_dask._study import DaskExecutor, dask_executor

__all__ = ["DaskBackend", "DaskExecutor", "dask_executor", "register_backend"]

#: module -> calipers extra that installs it (read by the plugin host).
__calipers_requires__ = {"dask": "dask"}


class MisalignedPartitionsError(ValueError):
    """Blocks with the same index hold different numbers of samples (raised in a task)."""


class DaskBackend(Backend):
    """Partitioned backend for dask arrays and dask DataFrame / Series / Index.

    :meth:`to_numpy` computes a collection. Metric updates do not go through it:
    :meth:`map_update` runs them partition by partition (see below).

    Alignment. All dask arguments of one ``update`` are per-sample: they must have
    the same length along axis 0, and they are cut into the same partitions along
    it. Collections with the same number of partitions are used as they are when
    their partitions can hold the same rows (known sizes equal, or unknown); every
    task checks that its blocks have equal lengths, and if they do not, the
    lengths are computed and the arrays realigned. Collections with different
    partitions are rechunked to the common refinement of their boundaries (no
    partition is merged with another; chunks of unknown size are computed first,
    DataFrame / Series lengths too). Other axes become one chunk, so a 2-D score
    matrix reaches each partition whole along axis 1.

    Mixed with numpy. Values that are not dask collections are passed unchanged
    to every partition's update: options, ``None``, scalars, and arrays that are
    not per-sample (e.g. a list of class labels). A non-dask array or sequence
    whose length equals the number of samples is per-sample and raises
    :class:`TypeError`: pass it as a dask array chunked like the others
    (``dask.array.from_array(x, chunks=y_true.chunks)``).
    """

    name: ClassVar[str] = "dask"
    partitioned: ClassVar[bool] = True
    #: How many partition states one merge task combines (the merge tree's fan-in).
    merge_every: ClassVar[int] = 8

    @classmethod
    def executor(cls, client: Any) -> DaskExecutor:
        """A :class:`DaskExecutor` on ``client``: what ``calipers tune --dask`` runs
        the study's trials with."""
        return DaskExecutor(client)

    @classmethod
    def accepts(cls, x: Any) -> bool:
        """Return whether ``x`` is a dask array, DataFrame, Series or Index.

        Never imports dask: when ``dask.array`` / ``dask.dataframe`` are not in
        :data:`sys.modules`, no such collection can exist.
        """
        da = sys.modules.get("dask.array")
        if da is not None and isinstance(x, da.Array):
            return True
        dd = sys.modules.get("dask.dataframe")
        return dd is not None and isinstance(x, (dd.Series, dd.DataFrame, dd.Index))

    @classmethod
    def to_numpy(cls, x: Any) -> np.ndarray:
        """Compute ``x`` (on the active distributed client, if any) as a numpy array."""
        value = _compute(x)
        return value.to_numpy() if hasattr(value, "to_numpy") else np.asarray(value)

    @classmethod
    def map_update(cls, metric: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        """Update ``metric`` with dask arguments, one empty clone per partition.

        Parameters
        ----------
        metric : Metric
            Updated in place, once every partition succeeded; unchanged otherwise.
        args, kwargs
            The ``update`` call's arguments; dask ones are aligned per partition
            (see the class docstring), the others are passed to every partition.

        Raises
        ------
        ValueError
            If the dask arguments have different lengths along axis 0.
        TypeError
            If a non-dask argument is per-sample (its length is the sample count).
        Exception
            Whatever a partition's ``update`` raised (the metric is unchanged).
        """
        values: dict[int | str, Any] = dict(enumerate(args))
        values.update(kwargs)
        names = _argument_names(metric, len(args))
        arrays: dict[int | str, Any] = {}
        for key, value in values.items():
            if cls.accepts(value):
                arr = _as_dask_array(value)
                if arr.ndim == 0:  # a dask scalar is an option, not per-sample
                    values[key] = _compute(arr)[()]
                else:
                    arrays[key] = arr
        if not arrays:
            metric.update(*(values[i] for i in range(len(args))),
                          **{k: values[k] for k in kwargs})
            return
        plain_sequences = any(_length(values[k]) is not None for k in values if k not in arrays)
        if not plain_sequences:
            try:
                _run(cls, metric, values, len(args), arrays, names)
                return
            except MisalignedPartitionsError:
                pass  # unknown sizes that differ: compute them and realign below
        arrays = _align(arrays, names)
        n = next(iter(arrays.values())).shape[0]
        for key, value in values.items():
            if key not in arrays and _length(value) == n:
                raise TypeError(
                    f"{names(key)} is a {type(value).__name__} of length {n}, one value per "
                    "sample, mixed with dask arrays; pass it as a dask array too, chunked like "
                    "the others (dask.array.from_array(x, chunks=...))"
                )
        _run(cls, metric, values, len(args), arrays, names)


@calipers.hookimpl
def register_backend() -> list[type[Backend]]:
    """Provide :class:`DaskBackend` (name ``"dask"``)."""
    return [DaskBackend]


# -- running ---------------------------------------------------------------------------
def _run(cls: type[DaskBackend], metric: Any, values: dict[int | str, Any], nargs: int,
         arrays: dict[int | str, Any], names: Any) -> None:
    """Update one clone per aligned block, merge them in a tree, merge into ``metric``.

    Raises :class:`MisalignedPartitionsError` (metric unchanged) when the arrays have
    different block counts, different known block sizes, or blocks of different
    lengths at run time.
    """
    dask = sys.modules["dask"]
    counts = {a.numblocks[0] for a in arrays.values()}
    if len(counts) != 1:
        raise MisalignedPartitionsError("different numbers of partitions")
    for sizes in zip(*(a.chunks[0] for a in arrays.values()), strict=True):
        known = {s for s in sizes if not math.isnan(s)}
        if len(known) > 1:
            raise MisalignedPartitionsError("different partition sizes")
    blocks = {key: _single_chunk_columns(a).to_delayed().ravel() for key, a in arrays.items()}
    token = uuid.uuid4().hex
    template = dask.delayed(_empty_clone(metric), name=f"calipers-empty-{token}",
                            traverse=False)
    update = dask.delayed(_update_partition, pure=False)
    labels = [names(k) for k in arrays]
    states = []
    for i in range(counts.pop()):
        block_values = {k: (blocks[k][i] if k in arrays else v) for k, v in values.items()}
        positional = [block_values[j] for j in range(nargs)]
        keyword = {k: v for k, v in block_values.items() if not isinstance(k, int)}
        states.append(update(template, positional, keyword, [blocks[k][i] for k in arrays],
                             labels, i))
    merge = dask.delayed(_merge_states, pure=False)
    while len(states) > 1:
        states = [merge(template, *states[j:j + cls.merge_every])
                  for j in range(0, len(states), cls.merge_every)]
    metric.merge(_compute(states[0]))


def _update_partition(template: Any, args: list[Any], kwargs: dict[str, Any],
                      per_sample: list[np.ndarray], labels: list[str], index: int) -> Any:
    """One task: check the block's arrays align, update a fresh clone, return it."""
    lengths = [len(b) for b in per_sample]
    if len(set(lengths)) > 1:
        detail = ", ".join(f"{name}: {n}" for name, n in zip(labels, lengths, strict=True))
        raise MisalignedPartitionsError(f"partition {index} has different lengths ({detail})")
    state = copy.deepcopy(template)
    state.update(*args, **kwargs)
    return state


def _merge_states(template: Any, *states: Any) -> Any:
    """One task: a fresh clone holding the sum of ``states`` (inputs are not mutated)."""
    out = copy.deepcopy(template)
    out.merge(*states)
    return out


def _empty_clone(metric: Any) -> Any:
    clone = getattr(metric, "empty_clone", None)
    if clone is not None:
        return clone()
    out = copy.deepcopy(metric)
    out.reset()
    return out


def _client() -> Any:
    """The active ``dask.distributed`` client, or ``None``."""
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    try:
        return distributed.Client.current()
    except ValueError:
        return None


def _compute(x: Any) -> Any:
    """Compute one dask collection on the active client, else the default scheduler."""
    client = _client()
    if client is not None:
        return client.compute(x, sync=True)
    return sys.modules["dask"].compute(x)[0]


# -- alignment -------------------------------------------------------------------------
def _as_dask_array(x: Any) -> Any:
    """A dask array of ``x`` (Series / DataFrame / Index as arrays; lengths may be nan)."""
    da = sys.modules["dask.array"]
    return x if isinstance(x, da.Array) else x.to_dask_array()


def _single_chunk_columns(arr: Any) -> Any:
    """Rechunk every axis but the first into one chunk (a score matrix stays whole)."""
    if arr.ndim > 1 and any(len(c) > 1 for c in arr.chunks[1:]):
        arr = arr.rechunk({ax: -1 for ax in range(1, arr.ndim)})
    return arr


def _align(arrays: dict[int | str, Any], names: Any) -> dict[int | str, Any]:
    """Known sizes, equal lengths, the same chunks along axis 0 for every array."""
    known: dict[int | str, Any] = {}
    for key, arr in arrays.items():
        if any(math.isnan(s) for c in arr.chunks for s in c):
            arr = arr.compute_chunk_sizes()
        known[key] = arr
    lengths = {key: arr.shape[0] for key, arr in known.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{names(k)}: {n}" for k, n in lengths.items())
        raise ValueError(f"dask arguments have different numbers of samples ({detail})")
    chunkings = {arr.chunks[0] for arr in known.values()}
    if len(chunkings) == 1:
        return known
    bounds = sorted({int(b) for c in chunkings for b in np.cumsum(c)} - {0})
    common = tuple(int(d) for d in np.diff([0, *bounds])) or (0,)
    return {key: arr.rechunk({0: common}) if arr.chunks[0] != common else arr
            for key, arr in known.items()}


def _length(value: Any) -> int | None:
    """The length of a non-dask array or sequence argument; ``None`` for anything else."""
    if value is None or isinstance(value, (str, bytes, dict, Mapping)):
        return None
    try:
        if np.ndim(value) == 0:
            return None
    except ValueError:  # ragged nested sequence
        pass
    try:
        return len(value)
    except TypeError:
        return None


def _argument_names(metric: Any, nargs: int) -> Any:
    """A function naming argument keys (positions by the update's signature)."""
    try:
        params = [p.name for p in inspect.signature(metric.update).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []

    def name(key: int | str) -> str:
        if isinstance(key, int):
            return params[key] if key < len(params) else f"argument {key}"
        return key

    return name
