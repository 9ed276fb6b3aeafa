"""calipers' first-party torch plugin: the ``torch`` array backend.

The entry point exists whether or not torch is installed, so this module imports
without torch: ``__calipers_requires__`` lets the host see (with ``find_spec``, no
import) that torch is missing and list the plugin as unavailable with
``pip install 'calipers[torch]'``. torch itself is only touched through tensors
the caller already has.
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar

import numpy as np

import calipers
from calipers.backends import Backend

__all__ = ["TorchBackend", "register_backend"]

#: module -> calipers extra that installs it (read by the plugin host).
__calipers_requires__ = {"torch": "torch"}


class TorchBackend(Backend):
    """Backend for ``torch.Tensor`` (any device, any subclass such as ``Parameter``).

    For now metrics run on host memory: :meth:`to_numpy` hands the kernels a
    zero-copy numpy view of a CPU tensor and copies a CUDA (or other device) tensor
    to the host. A later version will keep metric states on the tensor's device and
    update them there, without the copy.
    """

    name: ClassVar[str] = "torch"

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


@calipers.hookimpl
def register_backend() -> list[type[Backend]]:
    """Provide :class:`TorchBackend` (name ``"torch"``)."""
    return [TorchBackend]
