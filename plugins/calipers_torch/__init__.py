"""calipers' first-party torch plugin: the ``torch`` array backend.

Metrics keep their state where the tensors live. Every metric's ``update`` accepts
torch tensors on any device, and a metric updated with tensors returns tensors from
``compute`` (float64 0-d tensors for scalars, 1-D tensors per class, on the
tensors' device), with the numbers of the numpy path:

- CUDA (and other non-CPU) tensors: confusion metrics (and :class:`Suite`) and the
  ranking metrics, binned or exact, update a state on the device with torch ops
  only (:mod:`calipers_torch._kernels`): ``update`` never waits for the device.
  A batch with bad values (labels out of range, NaN scores or weights) is not
  counted, and the next host-side call (``compute``, ``state_dict``, ``merge``,
  ``sync``...) raises ``ValueError`` naming the problem and how many batches were
  refused; :func:`set_eager_checks` raises at the update instead. Shape and dtype
  errors raise at the update. Other metrics (log loss, top-k, NDCG, mAP and
  ``average='samples'``) copy the tensors to the host and count there.
- CPU tensors: the compiled core counts them on zero-copy numpy views (the
  fastest CPU path; errors raise at the update); :func:`set_cpu_kernels` switches
  CPU tensors to the torch kernels instead.
- :func:`sync` (or ``metric.sync(group)``) merges the states of every process over
  ``torch.distributed``.

The entry point exists whether or not torch is installed, so this module imports
without torch: ``__calipers_requires__`` lets the host see (with ``find_spec``, no
import) that torch is missing and list the plugin as unavailable with
``pip install 'calipers[torch]'``. torch itself is only touched through tensors
the caller already has.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

import calipers
from calipers.backends import Backend

__all__ = ["TorchBackend", "register_backend", "set_cpu_kernels", "set_eager_checks", "sync"]

#: module -> calipers extra that installs it (read by the plugin host).
__calipers_requires__ = {"torch": "torch"}


#: Options of the backend (module-wide): see set_eager_checks / set_cpu_kernels.
_config: dict[str, Any] = {"eager_checks": False, "cpu_kernels": "core"}


def set_eager_checks(enabled: bool) -> bool:
    """Check every tensor batch at its ``update`` (for debugging); return the old value.

    Off (the default), a batch refused on the device raises at the next host-side
    call. On, each update reads the batch's refusal flag back from the device (a
    sync) and a bad batch raises at once, with the host path's exact message.
    """
    old = _config["eager_checks"]
    _config["eager_checks"] = bool(enabled)
    return old


def set_cpu_kernels(kind: str) -> str:
    """Choose how CPU tensors are counted: ``"core"`` (default: the compiled core on
    zero-copy views) or ``"torch"`` (the device kernels, as on a GPU); return the old."""
    if kind not in ("core", "torch"):
        raise ValueError(f"cpu kernels must be 'core' or 'torch', got {kind!r}")
    old = _config["cpu_kernels"]
    _config["cpu_kernels"] = kind
    return old


def sync(metric: Any, group: Any = None) -> Any:
    """Merge a metric's (or Suite's) state over ``torch.distributed``; return it.

    Every process of ``group`` (default: all) calls it; afterwards each holds the
    state of all of them. Counts, weight sums and histograms are all-reduced
    (SUM) on the backend's device (CUDA for NCCL); exact score batches and other
    host states are gathered and merged in rank order. Device states are folded
    in first, and a batch refused on any process raises on every process.
    """
    from calipers_torch.distributed import sync_state

    return sync_state(metric, group)


class TorchBackend(Backend):
    """Backend for ``torch.Tensor`` (any device, any subclass such as ``Parameter``).

    Native (:meth:`native_update`): metric states stay on the tensors' device and
    ``compute`` returns tensors; see the module docstring. :meth:`to_numpy` serves
    the host path (a zero-copy view of a CPU tensor, a copy of a CUDA one).
    Distributed: :meth:`sync` over ``torch.distributed``.
    """

    name: ClassVar[str] = "torch"
    native: ClassVar[bool] = True
    distributed: ClassVar[bool] = True

    @classmethod
    def accepts(cls, x: Any) -> bool:
        """Return whether ``x`` is a torch tensor, without importing torch.

        No tensor can exist before torch is imported, so when ``"torch"`` is not in
        :data:`sys.modules` the answer is ``False``.
        """
        torch = sys.modules.get("torch")
        return torch is not None and isinstance(x, torch.Tensor)

    @classmethod
    def to_numpy(cls, x: Any) -> np.ndarray:
        """Return tensor ``x`` as a numpy array.

        A strided CPU tensor gives a view that shares its memory (no copy), detached
        from autograd. Lazy conjugate / negative bits are materialized first (a copy
        only when such a bit is set), so the values are the tensor's values. Tensors
        on another device are copied to the host; sparse tensors are densified;
        dtypes numpy lacks (bfloat16, float8, complex32) are widened to float32 /
        complex64.
        """
        torch = sys.modules["torch"]
        t = x.detach()
        if t.layout != torch.strided:
            t = t.to_dense()
        if t.device.type != "cpu":
            t = t.cpu()
        t = t.resolve_conj().resolve_neg()
        try:
            return t.numpy()
        except TypeError:
            # numpy has no such dtype (bfloat16, float8_*, complex32): widen.
            wide = torch.complex64 if t.is_complex() else torch.float32
            return t.to(wide).numpy()


    @classmethod
    def native_update(cls, metric: Any, args: tuple[Any, ...],
                      kwargs: Mapping[str, Any]) -> bool:
        """Update ``metric`` with tensors on their device; see the module docstring."""
        from calipers_torch._native import native_update

        return native_update(cls, metric, args, kwargs, _config)

    @classmethod
    def sync(cls, metric: Any, group: Any = None) -> Any:
        """Merge ``metric``'s state over ``torch.distributed`` (see :func:`sync`)."""
        return sync(metric, group)


@calipers.hookimpl
def register_backend() -> list[type[Backend]]:
    """Provide :class:`TorchBackend` (name ``"torch"``)."""
    return [TorchBackend]
