"""Device states of the torch backend: what a metric keeps on its tensors' device.

One object per metric, in the metric's ``_native`` attribute (the host's contract:
:class:`calipers.backends.Backend`). :class:`TensorResults` only remembers the
device (the metric's state is on the host: CPU tensors counted by the compiled core
on zero-copy views, or metrics without a device kernel); :class:`DeviceConfusion`,
:class:`DeviceHistogram` and :class:`DeviceBatches` keep the counts, histograms or
batches on the device and fold them into the host state at ``flush``.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any

import numpy as np
import torch

from calipers.metrics._ranking_state import ScoreHistogram
from calipers.metrics._state import ConfusionState
from calipers_torch import _kernels

__all__ = ["DeviceBatches", "DeviceConfusion", "DeviceHistogram", "TensorResults", "to_tensors"]


def to_tensors(value: Any, device: torch.device) -> Any:
    """A host value as tensors on ``device``: numbers become 0-d tensors (float64,
    int64), numpy arrays 1-D / n-D tensors of their dtype; dicts, lists, tuples and
    dataclasses (curves) are converted field by field; anything else is kept."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biuf":
            return torch.from_numpy(np.ascontiguousarray(value)).to(device)
        return value
    if isinstance(value, (bool, np.bool_)) or value is None:
        return value
    if isinstance(value, (numbers.Integral, np.integer)):
        return torch.tensor(int(value), dtype=torch.int64, device=device)
    if isinstance(value, (numbers.Real, np.floating)):
        return torch.tensor(float(value), dtype=torch.float64, device=device)
    if isinstance(value, dict):
        return {k: to_tensors(v, device) for k, v in value.items()}
    if isinstance(value, list):
        return [to_tensors(v, device) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(to_tensors(v, device) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{
            f.name: to_tensors(getattr(value, f.name), device)
            for f in dataclasses.fields(value) if f.init})
    return value


class TensorResults:
    """A metric updated with tensors whose state is on the host: results as tensors.

    Parameters
    ----------
    device : torch.device
        Where :meth:`result` puts the values (the device of the tensors passed).
    """

    def __init__(self, device: torch.device) -> None:
        self.device = torch.device(device)

    @property
    def backend(self) -> type:
        from calipers_torch import TorchBackend

        return TorchBackend

    def flush(self, owner: Any) -> None:
        """Fold the device state into ``owner``'s host state (nothing here)."""

    def discard(self) -> None:
        """Drop the device state without folding it (nothing here)."""

    def result(self, value: Any) -> Any:
        """``value`` (computed on the host) as tensors on :attr:`device`."""
        return to_tensors(value, self.device)

    def pending(self) -> bool:
        """Whether anything waits on the device to be folded in."""
        return False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(device={self.device})"


class _Counted(TensorResults):
    """Counts (int64), weight sums (float64, once a batch is weighted), sample count
    and refusal counters on the device; folded into a host state by ``_fold``.
    ``valid`` names the labels' valid range in error messages (e.g. ``[0, 3)``)."""

    def __init__(self, device: torch.device, valid: str = "the valid range") -> None:
        super().__init__(device)
        self.valid = valid
        self.discard()

    def discard(self) -> None:
        self.counts: torch.Tensor | None = None
        self.weighted: torch.Tensor | None = None
        self.has_weights: torch.Tensor | None = None
        self.n: torch.Tensor | None = None
        self.refused: torch.Tensor | None = None  # per reason, then any reason

    def pending(self) -> bool:
        return self.counts is not None

    def add(self, delta: _kernels.Delta) -> None:
        """Add a batch, masked to zero on the device when any flag is set."""
        bad = delta.flags.any()
        keep = (~bad).to(torch.int64)
        if self.counts is None:
            dev = delta.counts.device
            self.counts = torch.zeros_like(delta.counts)
            self.n = torch.zeros((), dtype=torch.int64, device=dev)
            self.refused = torch.zeros(len(_kernels.REASONS) + 1, dtype=torch.int64,
                                       device=dev)
            self.has_weights = torch.zeros((), dtype=torch.bool, device=dev)
        if delta.weighted is not None and self.weighted is None:
            self.weighted = self.counts.to(torch.float64)  # earlier samples: weight 1
        if self.weighted is not None:
            dw = delta.counts.to(torch.float64) if delta.weighted is None else delta.weighted
            self.weighted += torch.where(bad, torch.zeros_like(dw), dw)
        if delta.weighted is not None:
            self.has_weights |= ~bad
        self.counts += delta.counts * keep
        self.n += keep * delta.n
        self.refused += torch.cat([delta.flags, bad.reshape(1)]).to(torch.int64)

    def flush(self, owner: Any) -> None:
        if self.counts is None:
            return
        counts = self.counts.cpu().numpy()
        weighted = None
        if self.weighted is not None and bool(self.has_weights.cpu()):
            weighted = self.weighted.cpu().numpy()
        n = int(self.n.cpu())
        refused = self.refused.cpu().numpy()
        self.discard()
        if n:
            self._fold(owner, counts, weighted, n)
        if refused[-1]:
            raise ValueError(_refused_message(refused, self.valid))

    def _fold(self, owner: Any, counts: np.ndarray, weighted: np.ndarray | None,
              n: int) -> None:
        raise NotImplementedError  # pragma: no cover - both subclasses override


def _batches(total: int) -> str:
    return f"{total} batch of tensors was" if total == 1 else f"{total} batches of tensors were"


def _refused_message(refused: np.ndarray, valid: str) -> str:
    why = "; ".join(f"{int(c)} with {reason.format(range=valid)}"
                    for c, reason in zip(refused[:-1], _kernels.REASONS, strict=True) if c)
    return (
        f"{_batches(int(refused[-1]))} refused on the device and not counted ({why}); "
        "the state holds the other batches. Call calipers_torch.set_eager_checks(True) "
        "to raise at the update that passes a bad batch (it reads a flag back from the "
        "device per update)."
    )


class DeviceConfusion(_Counted):
    """A :class:`~calipers.metrics._state.ConfusionState` kept on the device."""

    def _fold(self, owner: Any, counts: np.ndarray, weighted: np.ndarray | None,
              n: int) -> None:
        host: ConfusionState = owner._state
        tmp = ConfusionState.__new__(ConfusionState)
        tmp.__dict__.update(host.__dict__)
        tmp.counts, tmp.weighted, tmp.samples, tmp.n = counts, weighted, {}, n
        host.merge(tmp)


class DeviceHistogram(_Counted):
    """A :class:`~calipers.metrics._ranking_state.ScoreHistogram` kept on the device.

    Parameters
    ----------
    device : torch.device
    valid : str
        The labels' valid range, for error messages.
    edges : ndarray of float64
        The host's lower bin edges (``bin_edges(bins, lo, hi)``).
    """

    def __init__(self, device: torch.device, valid: str, edges: np.ndarray) -> None:
        super().__init__(device, valid)
        self.edges = np.asarray(edges, dtype=np.float64)
        self._edges: dict[torch.dtype, torch.Tensor] = {}

    def edges_on_device(self) -> dict[torch.dtype, torch.Tensor]:
        """Guarded lower edges per score dtype on the device (made once, host to device)."""
        if not self._edges:
            self._edges = {dt: _kernels.guarded_edges(self.edges, dt, self.device)
                           for dt in (torch.float32, torch.float64)}
        return self._edges

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_edges"] = {}
        return state

    def _fold(self, owner: Any, counts: np.ndarray, weighted: np.ndarray | None,
              n: int) -> None:
        host: ScoreHistogram = owner._state
        tmp = ScoreHistogram.__new__(ScoreHistogram)
        tmp.__dict__.update(host.__dict__)
        tmp.hist, tmp.n = (counts if weighted is None else weighted), n
        host.merge(tmp)


class DeviceBatches(TensorResults):
    """The batches of an exact score metric, kept on the device as they came.

    ``flush`` concatenates the batches of each dtype on the device, copies them to
    the host once, and runs every batch through the metric's own host update (its
    full validation); batches it refuses are reported together.
    """

    def __init__(self, device: torch.device) -> None:
        super().__init__(device)
        self.discard()

    def discard(self) -> None:
        self.batches: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]] = []

    def pending(self) -> bool:
        return bool(self.batches)

    def add(self, t: torch.Tensor, s: torch.Tensor, w: torch.Tensor | None) -> None:
        """Keep a copy of one batch (on the device; the caller may reuse its tensors)."""
        self.batches.append((t.detach().clone(), s.detach().clone(),
                             None if w is None else w.detach().clone()))

    def flush(self, owner: Any) -> None:
        if not self.batches:
            return
        batches, self.batches = self.batches, []
        host = _to_host(batches)
        errors: dict[str, int] = {}
        update = type(owner).update
        for t, s, w in host:
            try:
                update(owner, t, s, w)
            except (TypeError, ValueError) as exc:
                errors[str(exc)] = errors.get(str(exc), 0) + 1
        if errors:
            total = sum(errors.values())
            why = "; ".join(f"{c} x {msg}" for msg, c in errors.items())
            raise ValueError(
                f"{_batches(total)} refused and not counted: {why}. The state holds "
                "the other batches."
            )


def _to_host(batches: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]
             ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """Every batch's arrays on the host: one device-to-host copy per column and dtype."""
    groups: dict[tuple, list[int]] = {}
    for i, (t, s, w) in enumerate(batches):
        key = (t.dtype, s.dtype, None if w is None else w.dtype)
        groups.setdefault(key, []).append(i)
    out: list[Any] = [None] * len(batches)
    for idx in groups.values():
        cols = []
        for c in range(3):
            parts = [batches[i][c] for i in idx]
            if parts[0] is None:
                cols.append([None] * len(idx))
                continue
            flat = torch.cat([p.reshape(-1) for p in parts]).cpu().numpy()
            sizes = np.cumsum([p.numel() for p in parts])[:-1]
            cols.append([a.reshape(p.shape) for a, p in
                         zip(np.split(flat, sizes), parts, strict=True)])
        for j, i in enumerate(idx):
            out[i] = (cols[0][j], cols[1][j], cols[2][j])
    return out
