"""How the torch backend runs one metric update: on the device, or on the host.

:func:`native_update` is :meth:`TorchBackend.native_update`. A metric whose update
has a device kernel (confusion metrics, :class:`~calipers.metrics.Suite`, the score
metrics binned or exact) is updated on the tensors' device when they are not on the
CPU (or when CPU tensors are set to use the torch kernels); everything else runs
the metric's own host update on ``to_numpy`` views / copies. Either way the metric
remembers the device, and its ``compute`` returns tensors there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from calipers.backends import NATIVE_ATTR
from calipers.metrics._confusion_metric import ConfusionMetric
from calipers.metrics._rank_core import bin_edges
from calipers.metrics._ranking_base import ScoreMetric
from calipers.metrics._ranking_metrics import RocAuc
from calipers.metrics._ranking_state import ScoreBatches, ScoreHistogram
from calipers.metrics._state import ConfusionState
from calipers.metrics._suite import Suite
from calipers_torch import _kernels
from calipers_torch._device_state import (
    DeviceBatches,
    DeviceConfusion,
    DeviceHistogram,
    TensorResults,
)

__all__ = ["native_update"]


def native_update(backend: type, metric: Any, args: tuple[Any, ...],
                  kwargs: Mapping[str, Any], config: Mapping[str, Any]) -> bool:
    """Update ``metric`` with the tensors among ``args`` / ``kwargs``; always ``True``
    (the host's own path is run here when there is no device kernel for the call)."""
    tensors = [v for v in (*args, *kwargs.values()) if isinstance(v, torch.Tensor)]
    device = tensors[0].device
    for t in tensors[1:]:
        if t.device != device:
            raise ValueError(
                f"one update passes tensors on {device} and on {t.device}; "
                "move them to one device"
            )
    acc = metric.__dict__.get(NATIVE_ATTR)
    if acc is not None and acc.device != device:
        raise ValueError(
            f"{type(metric).__name__}'s state is on {acc.device}, got tensors on {device}: "
            f"move them with .to({str(acc.device)!r}), or reset() the metric first"
        )
    with metric._lock:
        if (device.type != "cpu" or config["cpu_kernels"] == "torch") \
                and _device_update(metric, args, kwargs, device, config):
            return True
        _host_update(backend, metric, args, kwargs)
        if metric.__dict__.get(NATIVE_ATTR) is None:
            setattr(metric, NATIVE_ATTR, TensorResults(device))
    return True


def _host_update(backend: type, metric: Any, args: tuple[Any, ...],
                 kwargs: Mapping[str, Any]) -> None:
    """The metric's own update on numpy views (CPU) or copies of the tensors."""
    conv = [backend.to_numpy(a) if isinstance(a, torch.Tensor) else a for a in args]
    kw = {k: backend.to_numpy(v) if isinstance(v, torch.Tensor) else v
          for k, v in kwargs.items()}
    type(metric).update(metric, *conv, **kw)


def _bind(args: tuple[Any, ...], kwargs: Mapping[str, Any], second: str
          ) -> tuple[Any, Any, Any] | None:
    """``(y_true, second, sample_weight)`` of an update call, or ``None`` if the call
    has other arguments (the host's update then raises its own TypeError)."""
    names = ("y_true", second, "sample_weight")
    if len(args) > 3:
        return None
    values = dict(zip(names, args, strict=False))
    for k, v in kwargs.items():
        if k not in names or k in values:
            return None
        values[k] = v
    if "y_true" not in values or second not in values:
        return None
    return values["y_true"], values[second], values.get("sample_weight")


def _tensors(bound: tuple[Any, Any, Any] | None) -> bool:
    if bound is None:
        return False
    t, p, w = bound
    return isinstance(t, torch.Tensor) and isinstance(p, torch.Tensor) and \
        (w is None or isinstance(w, torch.Tensor))


def _attach(metric: Any, cls: type, device: torch.device, *extra: Any) -> Any:
    acc = metric.__dict__.get(NATIVE_ATTR)
    if type(acc) is cls:
        return acc
    # None, or host-side results (nothing pending): now the state lives on the device
    return cls(device, *extra)


def _device_update(metric: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any],
                   device: torch.device, config: Mapping[str, Any]) -> bool:
    """Run the device kernel of ``metric``'s update; ``False``: no kernel for this
    metric or call (the host path runs)."""
    cls_update = type(metric).update
    state = getattr(metric, "_state", None)
    if cls_update in (ConfusionMetric.update, Suite.update):
        if not isinstance(state, ConfusionState) or state.track_samples:
            return False
        bound = _bind(args, kwargs, "y_pred")
        if not _tensors(bound):
            return False
        delta = _kernels.confusion(state.task, state.k, state.threshold, *bound)
        if delta is None or (config["eager_checks"] and bool(delta.flags.any())):
            return False
        acc = _attach(metric, DeviceConfusion, device, _valid(state.task, state.k))
        acc.add(delta)
        setattr(metric, NATIVE_ATTR, acc)
        return True
    if cls_update is not ScoreMetric.update or not _plain_checks(metric):
        return False
    bound = _bind(args, kwargs, "y_score")
    if not _tensors(bound):
        return False
    if isinstance(state, ScoreHistogram):
        acc = _attach(metric, DeviceHistogram, device, _valid(metric.task, metric.k),
                      bin_edges(state.bins, state.lo, state.hi))
        delta = _kernels.histogram(metric.task, metric.k, acc.edges_on_device(),
                                   (state.lo, state.hi), *bound)
        if delta is None or (config["eager_checks"] and bool(delta.flags.any())):
            return False
        acc.add(delta)
        setattr(metric, NATIVE_ATTR, acc)
        return True
    if isinstance(state, ScoreBatches) and not config["eager_checks"]:
        t, s, w = bound
        if t.is_complex() or s.is_complex() or \
                _kernels.score_shapes(metric.task, metric.k, t, s) is None:
            return False
        if w is not None and (w.ndim != 1 or w.shape[0] != t.shape[0]):
            return False
        if w is not None and getattr(metric, "multi_class", None) == "ovo" \
                and metric.task == "multiclass":
            return False  # refused by the host's check at once
        acc = _attach(metric, DeviceBatches, device)
        if t.shape[0]:
            acc.add(t, s, w)
        setattr(metric, NATIVE_ATTR, acc)
        return True
    return False


def _valid(task: str, k: int) -> str:
    if task == "multiclass":
        return f"[0, num_classes={k})"
    return "{0, 1}"


def _plain_checks(metric: ScoreMetric) -> bool:
    """Whether the metric's per-batch checks are the ones the device path honours:
    none (``ScoreMetric``'s), or :class:`RocAuc`'s (none when binned; exact batches
    are checked on the host at the fold)."""
    check = type(metric)._check_batch
    return check is ScoreMetric._check_batch or check is RocAuc._check_batch
