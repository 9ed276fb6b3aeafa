"""The step driver shared by the drop-ins: route each parameter to the core or to torch.

:class:`CoreStep` is mixed in front of a ``torch.optim`` class. Everything but
``step`` is torch's own (constructor, validation, param groups, ``add_param_group``,
``state_dict`` / ``load_state_dict``, hooks, ``zero_grad``); ``step`` splits every
param group in two:

* **core**: CPU, dense, contiguous float32/float64 parameters (plain tensors or
  ``Parameter``) with a dense same-dtype CPU gradient and contiguous state. Their
  state is created by torch's own ``_init_group`` (so it is torch's, by
  construction); one fused core call per (group, dtype) then updates them in place
  through zero-copy numpy views.
* **torch**: everything else (CUDA and other devices, float16/bfloat16, complex,
  sparse gradients, non-contiguous parameters or state) runs torch's own step on
  just those parameters. When the group leaves ``fused`` and ``foreach`` unset, that
  step uses torch's fused kernel where torch has one for these tensors, else its
  foreach kernel; flags the user set are honoured as torch would.

Whole groups go to torch when the core cannot express them: ``differentiable`` or
``capturable`` groups, a learning rate that is a non-CPU tensor or requires grad,
steps under ``torch.compile``, and steps with AMP's ``grad_scale`` / ``found_inf``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch
from torch.optim.optimizer import _use_grad_for_differentiable

from calipers.optim import NONFINITE_POLICIES

__all__ = ["NONFINITE_POLICIES", "CoreStep"]

_CORE_DTYPES = (torch.float32, torch.float64)
_PLAIN_TYPES = (torch.Tensor, torch.nn.Parameter)
_FUSED_DEVICES = ("cpu", "cuda", "xpu", "mps", "hpu", "mtia")


def _core():  # deferred: importing this module must not require the extension
    from calipers._core import _optim

    return _optim


def _scalar(value: Any) -> Any:
    """A hyper-parameter as a Python float when it is a CPU tensor without grad.

    Returns None when it is a tensor the core cannot take (another device, or one
    that requires grad: the differentiable path).
    """
    if isinstance(value, torch.Tensor):
        if value.device.type != "cpu" or value.requires_grad:
            return None
        return float(value)
    return value


def _core_tensor(p: torch.Tensor) -> bool:
    return (
        type(p) in _PLAIN_TYPES
        and p.is_cpu
        and p.dtype in _CORE_DTYPES
        and p.layout == torch.strided
        and p.is_contiguous()
        and not p.is_neg()
    )


def _core_grad(p: torch.Tensor, g: torch.Tensor) -> torch.Tensor | None:
    """``g`` ready for the core (contiguous, not overlapping ``p``), or None."""
    if (
        type(g) not in _PLAIN_TYPES
        or not g.is_cpu
        or g.layout != torch.strided
        or g.dtype != p.dtype
        or g.shape != p.shape
    ):
        return None
    g = g.detach().resolve_neg().contiguous()
    nbytes = p.numel() * p.element_size()
    if nbytes and g.data_ptr() < p.data_ptr() + nbytes and p.data_ptr() < g.data_ptr() + nbytes:
        g = g.clone()  # the core's loops assume the gradient does not overlap the param
    return g


def _core_step_tensor(s: Any) -> bool:
    return isinstance(s, torch.Tensor) and s.is_cpu and s.numel() == 1 and s.is_contiguous()


class ViewCache:
    """Zero-copy numpy views of core-ready tensors, kept from step to step.

    Making a view (and checking that the core can take the tensor) costs ~2-3 us,
    finding it here ~0.5 us; for parameters and state that is most of the
    per-tensor cost of a step. An entry holds its tensor and is used only while the
    tensor still has the same data pointer and shape (the cached view keeps the old
    storage alive, so a reassigned ``p.data`` always has a new pointer).
    """

    def __init__(self) -> None:
        self._views: dict[int, tuple[torch.Tensor, int, np.ndarray]] = {}

    def get(self, t: Any, ready: Callable[[Any], bool] = _core_tensor) -> np.ndarray | None:
        """The view of ``t``, or None when ``ready(t)`` says the core cannot take it."""
        hit = self._views.get(id(t))
        if hit is not None and hit[0] is t and hit[1] == t.data_ptr() and hit[2].shape == t.shape:
            return hit[2]
        if not ready(t):
            return None
        view = t.detach().numpy()
        self._views[id(t)] = (t, t.data_ptr(), view)
        return view

    def __len__(self) -> int:
        return len(self._views)

    def clear(self) -> None:
        self._views.clear()


def _raw_step(cls: type) -> Callable[..., Any]:
    # torch's step without the profiling/hook wrapper Optimizer patches onto the class
    fn = cls.step
    while getattr(fn, "hooked", False):
        fn = fn.__wrapped__
    return fn


class CoreStep:
    """Mixin placed before a ``torch.optim`` optimizer class; see the module docstring.

    Subclasses set :attr:`_torch_class` and :attr:`_has_fused` and implement
    :meth:`_core_group`, which updates one group's core-eligible parameters.
    """

    #: The torch.optim class this drop-in extends.
    _torch_class: ClassVar[type]
    #: Whether torch has a fused kernel for this optimizer.
    _has_fused: ClassVar[bool] = False

    #: True when the last ``step`` was skipped by ``nonfinite="skip"``.
    last_step_skipped: bool = False

    def __init__(self, *args: Any, nonfinite: str = "propagate", **kwargs: Any) -> None:
        _check_policy(nonfinite)
        super().__init__(*args, **kwargs)
        self.defaults["nonfinite"] = nonfinite
        for group in self.param_groups:
            group.setdefault("nonfinite", nonfinite)
        self._np_views = ViewCache()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_torch_class" in cls.__dict__:  # torch's signature plus ``nonfinite``
            sig = inspect.signature(cls._torch_class)
            extra = inspect.Parameter(
                "nonfinite", inspect.Parameter.KEYWORD_ONLY, default="propagate"
            )
            cls.__signature__ = sig.replace(  # type: ignore[attr-defined]
                parameters=[*sig.parameters.values(), extra]
            )

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)  # type: ignore[misc]
        self.defaults.setdefault("nonfinite", "propagate")
        for group in self.param_groups:  # e.g. a state_dict saved by torch's optimizer
            group.setdefault("nonfinite", self.defaults["nonfinite"])
        self._np_views = ViewCache()  # drops the views of replaced state

    # ------------------------------------------------------------ subclass API

    def _core_group(
        self,
        group: dict[str, Any],
        params: list[torch.Tensor],
        views: list[np.ndarray],
        grads: list[np.ndarray],
    ) -> list[int]:
        """Update ``params`` (core-eligible, same group) in place from ``grads``.

        ``views`` are the parameters' numpy views, ``grads`` contiguous numpy
        gradients that do not overlap them. Returns the positions (into ``params``)
        the core could not take after all (state that is not core-ready); the
        caller hands those to torch.
        """
        raise NotImplementedError

    # ------------------------------------------------------------ stepping

    @_use_grad_for_differentiable
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform a single optimization step (torch's contract).

        Parameters
        ----------
        closure : callable, optional
            Re-evaluates the model and returns the loss; called under
            ``torch.enable_grad()`` before the update.

        Returns
        -------
        The closure's loss, or None.

        Raises
        ------
        ValueError
            With ``nonfinite="raise"`` in a group whose gradients hold NaN or inf;
            nothing (parameters, state, step counts) was changed then.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self.last_step_skipped = False
        if (
            torch.compiler.is_compiling()
            or getattr(self, "grad_scale", None) is not None
            or getattr(self, "found_inf", None) is not None
        ):
            _raw_step(self._torch_class)(self)
            return loss
        with_grad = [[p for p in g["params"] if p.grad is not None] for g in self.param_groups]
        if self._refuse_nonfinite(with_grad):
            self.last_step_skipped = True
            return loss
        if len(self._np_views) > 8 * sum(map(len, with_grad)) + 64:
            self._np_views.clear()  # views of tensors the optimizer no longer uses
        to_torch: list[dict[str, Any]] = []
        for group, params in zip(self.param_groups, with_grad, strict=True):
            if not params:
                continue
            if not self._core_capable(group):
                to_torch.append(dict(group, params=params))
                continue
            core_p, core_v, core_g, rest = [], [], [], []
            for p in params:
                view = self._np_views.get(p)
                g = _core_grad(p, p.grad) if view is not None else None
                if g is None:
                    rest.append(p)
                else:
                    core_p.append(p)
                    core_v.append(view)
                    core_g.append(g.numpy())
            if core_p:
                back = self._core_group(group, core_p, core_v, core_g)
                rest += [core_p[i] for i in back]
            if rest:
                to_torch.append(self._torch_group(group, rest))
        if to_torch:
            self._torch_step(to_torch)
        return loss

    def _core_capable(self, group: dict[str, Any]) -> bool:
        return not (
            group.get("differentiable", False)
            or group.get("capturable", False)
            or _scalar(group["lr"]) is None
        )

    def _torch_group(self, group: dict[str, Any], params: list[torch.Tensor]) -> dict[str, Any]:
        """A copy of ``group`` holding ``params``, with torch's fastest kernel chosen
        when the group leaves the choice open (``fused`` and ``foreach`` unset)."""
        out = dict(group, params=params)
        if group.get("fused") is not None or group.get("foreach") is not None:
            return out
        sparse = any(p.grad.is_sparse for p in params)
        fused = self._has_fused and not sparse and all(
            p.device.type in _FUSED_DEVICES and p.is_floating_point() and self._same_strides(p)
            for p in params
        )
        if fused:
            out["fused"] = True
            for p in params:  # a fused kernel keeps its step on the param's device
                st = self.state.get(p)
                step = st.get("step") if st else None
                if isinstance(step, torch.Tensor) and (
                    step.device != p.device or step.dtype != torch.float32
                ):
                    st["step"] = step.to(device=p.device, dtype=torch.float32)
        else:
            out["foreach"] = not sparse
        lr = _scalar(group["lr"])
        if isinstance(group["lr"], torch.Tensor) and lr is not None and not fused:
            out["lr"] = lr  # torch's foreach path refuses a tensor lr without capturable
        return out

    def _same_strides(self, p: torch.Tensor) -> bool:
        # torch's fused kernels walk the memory of param, grad and state in step: with
        # other strides (a transposed grad, say) they pair the wrong elements
        tensors = [p.grad, *(v for v in self.state.get(p, {}).values()
                             if isinstance(v, torch.Tensor) and v.shape == p.shape)]
        return all(t.stride() == p.stride() for t in tensors)

    def _torch_step(self, groups: list[dict[str, Any]]) -> None:
        saved = self.param_groups
        self.param_groups = groups
        try:
            _raw_step(self._torch_class)(self)
        finally:
            self.param_groups = saved

    # ------------------------------------------------------------ non-finite check

    def _refuse_nonfinite(self, with_grad: list[list[torch.Tensor]]) -> bool:
        """Check the groups whose policy is raise/skip before anything is written.

        Returns True to skip the step; raises for ``"raise"``.
        """
        skip = False
        for gi, (group, params) in enumerate(zip(self.param_groups, with_grad, strict=True)):
            policy = group.get("nonfinite", "propagate")
            _check_policy(policy)
            if policy == "propagate" or not params:
                continue
            bad = _first_nonfinite([p.grad for p in params])
            if bad is None:
                continue
            if policy == "skip":
                skip = True
                continue
            k, flat, value = bad
            index = next(i for i, q in enumerate(group["params"]) if q is params[k])
            raise ValueError(
                f"the gradient of param_groups[{gi}]['params'][{index}] holds a non-finite "
                f"value ({value}) at flat index {flat}; nothing was updated. Pass "
                "nonfinite='skip' to skip such steps or nonfinite='propagate' to apply them"
            )
        return skip


def _check_policy(policy: str) -> None:
    if policy not in NONFINITE_POLICIES:
        raise ValueError(f"nonfinite must be one of {NONFINITE_POLICIES}, got {policy!r}")


def _first_nonfinite(grads: list[torch.Tensor]) -> tuple[int, int, float] | None:
    """``(position, flat index, value)`` of the first NaN/inf in ``grads``, or None.

    CPU float32/float64 gradients are checked by the core's read-only parallel pass;
    others (other devices, half precision, sparse) with torch, one host sync per
    device.
    """
    core: dict[torch.dtype, list[int]] = {}
    other: list[int] = []
    for k, g in enumerate(grads):
        if g.is_cpu and g.layout == torch.strided and g.dtype in _CORE_DTYPES:
            core.setdefault(g.dtype, []).append(k)
        else:
            other.append(k)
    found: list[tuple[int, int]] = []
    for idx in core.values():
        arrays = [grads[k].detach().resolve_neg().contiguous().numpy() for k in idx]
        bad = _core().first_nonfinite(arrays)
        if bad is not None:
            found.append((idx[bad[0]], bad[1]))
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
    if not found:
        return None
    k, flat = min(found)
    g = grads[k]
    g = g.coalesce()._values() if g.is_sparse else g
    return k, flat, g.detach().reshape(-1)[flat].item()
