"""Merging metric states over ``torch.distributed``: :func:`calipers_torch.sync`.

Every process calls ``sync(metric, group)`` with a metric of the same options. The
device state is folded into the host state first; if any process refused batches,
every process raises (so none waits in a collective the others left). Then:

- confusion counts (and weight sums) and score histograms are all-reduced (SUM),
  as int64 / float64 tensors on the process group's device (the current CUDA
  device for NCCL, else the CPU);
- declared states (:meth:`calipers.metrics.Metric.add_state`): ``sum`` / ``max`` /
  ``min`` states are all-reduced with that operation (as int64 or float64 tensors,
  then back to their own type); ``cat`` states and callable merges are gathered
  with ``all_gather_object`` and combined in rank order;
- every other state (exact score batches, ``average='samples'`` row counts, the
  host-only metrics) is gathered with ``all_gather_object`` and merged in rank
  order, so every process ends with the same state. A metric with neither a
  declared state nor a ``state_dict`` (one that overrides ``merge``) is gathered
  whole, then reset and merged with every process's copy.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

from calipers.metrics._base import flush_native
from calipers.metrics._declared import DECLARED_ATTR, StateSpec, merge_values
from calipers.metrics._ranking_state import ScoreHistogram
from calipers.metrics._state import ConfusionState

__all__ = ["sync_state"]


def _dist() -> Any:
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError(
            "sync needs torch.distributed: call torch.distributed.init_process_group(...) "
            "in every process first"
        )
    return dist


def _comm_device(dist: Any, group: Any) -> torch.device:
    if "nccl" in str(dist.get_backend(group)).lower():
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def sync_state(obj: Any, group: Any = None) -> Any:
    """Merge ``obj``'s state (a metric or Suite) over ``group``; return ``obj``."""
    dist = _dist()
    dev = _comm_device(dist, group)
    with obj._lock:
        error: ValueError | None = None
        try:
            flush_native(obj)
        except ValueError as exc:
            error = exc
        flag = torch.tensor([0 if error is None else 1], dtype=torch.int64, device=dev)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=group)
        if int(flag.item()):
            raise error or ValueError(
                "sync: another process refused batches of tensors (its error names them); "
                "no state was merged"
            )
        state = getattr(obj, "_state", None)
        specs = obj.__dict__.get(DECLARED_ATTR)
        if specs:
            _sync_declared(dist, obj, specs, group, dev)
        elif not hasattr(obj, "_state"):
            _gather_whole(dist, obj, group)
        elif isinstance(state, ConfusionState) and not state.track_samples:
            _reduce_confusion(dist, state, group, dev)
        elif isinstance(state, ScoreHistogram):
            _reduce_histogram(dist, state, group, dev)
        else:
            _gather(dist, obj, group)
    return obj


def _any(dist: Any, value: bool, group: Any, dev: torch.device) -> bool:
    t = torch.tensor([int(value)], dtype=torch.int64, device=dev)
    dist.all_reduce(t, op=dist.ReduceOp.MAX, group=group)
    return bool(t.item())


def _sum(dist: Any, arr: np.ndarray, group: Any, dev: torch.device) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(arr)).to(dev)
    dist.all_reduce(t, op=dist.ReduceOp.SUM, group=group)
    return t.cpu().numpy().reshape(arr.shape)


def _reduce_confusion(dist: Any, state: ConfusionState, group: Any,
                      dev: torch.device) -> None:
    weighted = _any(dist, state.weighted is not None, group, dev)
    packed = _sum(dist, np.append(state.counts.reshape(-1), np.int64(state.n)), group, dev)
    w = None
    if weighted:
        base = state.counts if state.weighted is None else state.weighted
        w = _sum(dist, base.astype(np.float64), group, dev)
    with state._lock:
        state.counts = packed[:-1].reshape(state.counts.shape).copy()
        state.n = int(packed[-1])
        state.weighted = w


def _reduce_histogram(dist: Any, state: ScoreHistogram, group: Any,
                      dev: torch.device) -> None:
    weighted = _any(dist, state.hist.dtype.kind == "f", group, dev)
    hist = state.hist.astype(np.float64 if weighted else np.int64)
    hist = _sum(dist, hist, group, dev)
    n = _sum(dist, np.array([state.n], dtype=np.int64), group, dev)
    state.hist, state.n = hist, int(n[0])


_REDUCE_OPS = {"sum": "SUM", "max": "MAX", "min": "MIN"}


def _reduce_value(dist: Any, value: Any, rule: str, group: Any, dev: torch.device) -> Any:
    arr = np.asarray(value)
    work = np.float64 if arr.dtype.kind == "f" else np.int64
    t = torch.from_numpy(np.ascontiguousarray(arr, dtype=work).reshape(-1)).to(dev)
    dist.all_reduce(t, op=getattr(dist.ReduceOp, _REDUCE_OPS[rule]), group=group)
    out = t.cpu().numpy().reshape(arr.shape).astype(arr.dtype)
    if isinstance(value, np.ndarray):
        return out
    return type(value)(out.item()) if isinstance(value, (bool, int, float)) else out[()]


def _sync_declared(dist: Any, obj: Any, specs: dict[str, StateSpec], group: Any,
                   dev: torch.device) -> None:
    merged: dict[str, Any] = {}
    for name, spec in specs.items():
        value = getattr(obj, name)
        if isinstance(spec.merge, str) and spec.merge in _REDUCE_OPS:
            merged[name] = _reduce_value(dist, value, spec.merge, group, dev)
            continue
        values: list[Any] = [None] * dist.get_world_size(group)
        dist.all_gather_object(values, value, group=group)
        combined = values[0]
        for other in values[1:]:
            combined = merge_values(name, spec.merge, combined, other)
        merged[name] = combined
    for name, value in merged.items():
        setattr(obj, name, value)


def _gather_whole(dist: Any, obj: Any, group: Any) -> None:
    copies: list[Any] = [None] * dist.get_world_size(group)
    dist.all_gather_object(copies, copy.deepcopy(obj), group=group)
    obj.reset()
    obj.merge(*copies)


def _gather(dist: Any, obj: Any, group: Any) -> None:
    states: list[Any] = [None] * dist.get_world_size(group)
    dist.all_gather_object(states, obj.state_dict(), group=group)
    if hasattr(obj, "empty_clone"):
        parts = []
        for sd in states:
            part = obj.empty_clone()
            part.load_state_dict(sd)
            parts.append(part)
        merged = parts[0].merge(*parts[1:]) if len(parts) > 1 else parts[0]
        obj.load_state_dict(merged.state_dict())
        return
    # a Suite: its ConfusionState (with per-row counts) merged rank by rank
    parts = []
    for sd in states:
        part = copy.deepcopy(obj._state)
        part.load_state_dict(sd["state"])
        parts.append(part)
    for part in parts[1:]:
        parts[0].merge(part)
    obj.load_state_dict({"state": parts[0].state_dict()})
