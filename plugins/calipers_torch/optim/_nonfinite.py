"""The ``nonfinite`` option of the drop-ins: check the gradients before a step writes.

``"raise"`` and ``"skip"`` must leave parameters, state and step counts unchanged
when a gradient holds NaN or inf, so every such group is checked before any group
is updated: in the core (a read-only parallel pass over the gradients a group's
prepared call holds) where it can, with torch otherwise.
"""

from __future__ import annotations

from typing import Any

import torch

from calipers.optim import NONFINITE_POLICIES
from calipers_torch.optim._plan import GroupPlan

__all__ = ["NONFINITE_POLICIES", "check_policy", "first_nonfinite", "refuse_nonfinite"]

_CORE_DTYPES = (torch.float32, torch.float64)


def _core():  # deferred: importing this module must not require the extension
    from calipers._core import _optim

    return _optim


def refuse_nonfinite(work: list[tuple[Any, ...]]) -> bool:
    """Check the groups whose policy is raise/skip before anything is written.

    ``work`` is :meth:`CoreStep._collect`'s: per group ``(group, plan, grads,
    positions for torch)``; a plan with its gradients set checks them in the core,
    other gradients are checked by :func:`first_nonfinite`. Returns True to skip
    the step; raises ValueError (naming the parameter, value and flat index) for
    ``"raise"``.
    """
    skip = False
    for gi, (group, gp, grads, back) in enumerate(work):
        policy = group.get("nonfinite", "propagate")
        check_policy(policy)
        if policy == "propagate":
            continue
        found = []
        if isinstance(gp, GroupPlan) and back is not None:  # grads set in the plan
            bad = gp.first_nonfinite()
            if bad is not None:
                found.append(bad)
            others = back
        else:
            others = [i for i, g in enumerate(grads) if g is not None]
        if others:
            bad = first_nonfinite([grads[i] for i in others])
            if bad is not None:
                found.append((others[bad[0]], bad[1]))
        if not found:
            continue
        if policy == "skip":
            skip = True
            continue
        index, flat = min(found)
        g = grads[index]
        g = g.coalesce()._values() if g.is_sparse else g
        value = g.detach().reshape(-1)[flat].item()
        raise ValueError(
            f"the gradient of param_groups[{gi}]['params'][{index}] holds a non-finite "
            f"value ({value}) at flat index {flat}; nothing was updated. Pass "
            "nonfinite='skip' to skip such steps or nonfinite='propagate' to apply them"
        )
    return skip


def check_policy(policy: str) -> None:
    """Raise ValueError unless ``policy`` is one of :data:`NONFINITE_POLICIES`."""
    if policy not in NONFINITE_POLICIES:
        raise ValueError(f"nonfinite must be one of {NONFINITE_POLICIES}, got {policy!r}")


def first_nonfinite(grads: list[torch.Tensor]) -> tuple[int, int] | None:
    """``(position, flat index)`` of the first NaN/inf in ``grads``, or None.

    CPU float32/float64 gradients are checked by the core's read-only parallel pass;
    others (other devices, half precision, sparse) with torch, one host sync per
    device.
    """
    core: list[int] = []
    other: list[int] = []
    for k, g in enumerate(grads):
        if g.is_cpu and g.layout == torch.strided and g.dtype in _CORE_DTYPES:
            core.append(k)
        else:
            other.append(k)
    found: list[tuple[int, int]] = []
    if core:
        arrays = [grads[k].detach().resolve_neg().contiguous().numpy() for k in core]
        bad = _core().first_nonfinite(arrays)
        if bad is not None:
            found.append((core[bad[0]], bad[1]))
    if other:
        values = {
            k: (grads[k].coalesce()._values() if grads[k].is_sparse else grads[k]).detach()
            for k in other
        }
        by_device: dict[torch.device, list[int]] = {}
        for k in other:
            by_device.setdefault(values[k].device, []).append(k)
        for idx in by_device.values():  # one host sync per device
            ok = torch.stack([torch.isfinite(values[k]).all() for k in idx]).tolist()
            for k, fine in zip(idx, ok, strict=True):
                if not fine:
                    v = values[k].reshape(-1)
                    found.append((k, int(torch.nonzero(~torch.isfinite(v))[0])))
    return min(found) if found else None
