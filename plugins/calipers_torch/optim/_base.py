"""The step driver shared by the drop-ins: route each parameter to the core or to torch.

:class:`CoreStep` is mixed in front of a ``torch.optim`` class. Everything but
``step`` is torch's own (constructor, validation, param groups, ``add_param_group``,
``state_dict`` / ``load_state_dict``, hooks, ``zero_grad``); ``step`` splits every
param group in two:

* **core**: CPU, dense, contiguous float32/float64 parameters (plain tensors or
  ``Parameter``) with a dense CPU gradient of their dtype and shape and contiguous
  state. Their state is created by torch's own ``_init_group`` (so it is torch's, by
  construction); one fused core call per group (dtypes mixed) then updates them in
  place. The call is prepared once (:class:`~calipers_torch.optim._plan.GroupPlan`)
  and reused while the group's parameters and state stay the same, so that a step's
  Python work does not grow with the number of tensors: each step checks the
  group with C-level passes, hands the core the gradients' addresses and this
  step's hyper-parameters, and the core counts the steps and derives the per-tensor
  scalars.
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
from operator import attrgetter
from typing import Any, ClassVar

import torch
from torch.optim.optimizer import _use_grad_for_differentiable

from calipers_torch.optim._nonfinite import NONFINITE_POLICIES, check_policy, refuse_nonfinite
from calipers_torch.optim._plan import GroupPlan, core_tensor, grad_usable

__all__ = ["NONFINITE_POLICIES", "CoreStep"]

_FUSED_DEVICES = ("cpu", "cuda", "xpu", "mps", "hpu", "mtia")
_GRAD = attrgetter("grad")


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


def _raw_step(cls: type) -> Callable[..., Any]:
    # torch's step without the profiling/hook wrapper Optimizer patches onto the class
    fn = cls.step
    while getattr(fn, "hooked", False):
        fn = fn.__wrapped__
    return fn


class CoreStep:
    """Mixin placed before a ``torch.optim`` optimizer class; see the module docstring.

    Subclasses set :attr:`_torch_class`, :attr:`_has_fused` and :attr:`_counted` and
    implement :meth:`_buffers` and :meth:`_core_call`; :meth:`_init_state` and
    :meth:`_core_capable` have defaults.
    """

    #: The torch.optim class this drop-in extends.
    _torch_class: ClassVar[type]
    #: Whether torch has a fused kernel for this optimizer.
    _has_fused: ClassVar[bool] = False
    #: Whether the state holds a ``"step"`` counter (the core counts it).
    _counted: ClassVar[bool] = True
    #: How many output lists torch's ``_init_group`` takes after the group.
    _init_lists: ClassVar[int] = 0

    #: True when the last ``step`` was skipped by ``nonfinite="skip"``.
    last_step_skipped: bool = False

    def __init__(self, *args: Any, nonfinite: str = "propagate", **kwargs: Any) -> None:
        check_policy(nonfinite)
        super().__init__(*args, **kwargs)
        self.defaults["nonfinite"] = nonfinite
        for group in self.param_groups:
            group.setdefault("nonfinite", nonfinite)
        self._forget_plans()

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
        self._forget_plans()  # load_state_dict comes here: new state, new groups

    def _forget_plans(self) -> None:
        self._plans: dict[int, GroupPlan] = {}
        self._state_seen: tuple[Any, list[int]] | None = None

    # ------------------------------------------------------------ subclass API

    def _buffers(self, group: dict[str, Any]) -> tuple[str | None, ...]:
        """The state buffers the core's lists s1, s2, s3 hold for ``group`` (None:
        unused); they depend on options such as ``amsgrad`` or ``momentum``."""
        raise NotImplementedError

    def _core_call(self, plan: Any, group: dict[str, Any]) -> None:
        """Run the core's step function on ``plan`` with ``group``'s hyper-parameters."""
        raise NotImplementedError

    def _init_state(self, group: dict[str, Any], params: list[torch.Tensor]) -> list[int]:
        """Create the state of ``params`` (core-bound, with a gradient) that have none,
        with torch's own ``_init_group``. Returns the positions (into ``params``) whose
        buffers the core must start from the gradient (SGD's first momentum step)."""
        new = [p for p in params if not self.state.get(p)]
        if new:
            self._init_group(dict(group, params=new), *([] for _ in range(self._init_lists)))
        return []

    def _core_capable(self, group: dict[str, Any]) -> bool:
        return not (
            group.get("differentiable", False)
            or group.get("capturable", False)
            or _scalar(group["lr"]) is None
        )

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
        work, moved = self._collect()  # nothing written yet
        try:
            if refuse_nonfinite(work):
                self.last_step_skipped = True
                return loss
            changed = self._apply(work)
        finally:
            for gp in self._plans.values():
                gp.release()  # the copies of gradients made for this step
        if changed or moved:  # remember the state as it is now
            self._state_seen = (self.state, list(map(id, self.state.values())))
        return loss

    def _apply(self, work: list[tuple[Any, ...]]) -> bool:
        """Run the core and torch steps of :meth:`_collect`'s work; True when state
        may have been created."""
        to_torch: list[dict[str, Any]] = []
        changed = False
        for group, gp, grads, back in work:
            params = group["params"]
            if gp is None:  # the whole group is torch's
                with_grad = [p for p, g in zip(params, grads, strict=True) if g is not None]
                if with_grad:
                    to_torch.append(dict(group, params=with_grad))
                continue
            if back is None:
                gp, back = self._rebuild(group, grads)
                changed = True
            if gp.stepping:
                self._core_call(gp.plan, group)
            if back:
                to_torch.append(self._torch_group(group, [params[i] for i in back]))
        if to_torch:
            self._torch_step(to_torch)
            changed = True
        return changed

    def _collect(self) -> tuple[list[tuple[Any, ...]], bool]:
        """Per group ``(group, plan, grads, positions for torch)``, and whether the
        state's dicts changed since the last step. The plan is None for a group torch
        steps whole; the positions are None when the plan must be rebuilt first (after
        the non-finite check: building creates state)."""
        state = self.state
        seen = self._state_seen
        moved = seen is None or seen[0] is not state or seen[1] != list(map(id, state.values()))
        if len(self._plans) > len(self.param_groups):
            live = {id(g) for g in self.param_groups}
            self._plans = {k: v for k, v in self._plans.items() if k in live}
        work = []
        for group in self.param_groups:
            grads = list(map(_GRAD, group["params"]))
            if not self._core_capable(group):
                self._plans.pop(id(group), None)
                work.append((group, None, grads, None))
                continue
            gp = self._plans.get(id(group))
            if (
                gp is None
                or not gp.fits(group, (self._buffers(group), self._counted))
                or (moved and not gp.same_state_dicts(state))
                or gp.needs_state(grads)
            ):
                work.append((group, True, grads, None))
                continue
            back = [i for i in gp.torch_pos if grads[i] is not None]
            work.append((group, gp, grads, back + gp.set_grads(grads)))
        return work, moved

    def _rebuild(self, group: dict[str, Any], grads: list[Any]) -> tuple[GroupPlan, list[int]]:
        """Create missing state, then prepare the group's core call and set its grads."""
        params = group["params"]
        starting = [
            p for p, g in zip(params, grads, strict=True)
            if g is not None and core_tensor(p) and grad_usable(p, g)
        ]
        first = self._init_state(group, starting)
        gp = GroupPlan(_core(), group, self.state, self._buffers(group), self._counted)
        self._plans[id(group)] = gp
        # parameters without core-ready state yet (a gradient the core cannot take):
        # torch's step creates their state, or raises its error for such a gradient
        back = [i for i in sorted(gp.torch_pos + gp.pending) if grads[i] is not None]
        back += gp.set_grads(grads)
        if first and gp.plan is not None:
            where = {id(p): k for k, p in enumerate(gp.core_params)}
            gp.plan.mark_first([where[id(starting[k])] for k in first if id(starting[k]) in where])
        return gp, back

    def _torch_group(self, group: dict[str, Any], params: list[torch.Tensor]) -> dict[str, Any]:
        """A copy of ``group`` holding ``params``, with torch's fastest kernel chosen
        when the group leaves the choice open (``fused`` and ``foreach`` unset)."""
        out = dict(group, params=params)
        if group.get("fused") is not None or group.get("foreach") is not None:
            return out
        sparse = any(p.grad.is_sparse for p in params)
        fused = self._has_fused and not sparse and all(
            p.device.type in _FUSED_DEVICES and p.is_floating_point() and self._same_layout(p)
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

    def _same_layout(self, p: torch.Tensor) -> bool:
        # torch's fused CPU kernels walk the memory of param, grad and state in step
        # and check neither shapes nor strides: with other strides (a transposed grad,
        # say) they pair the wrong elements, with a smaller grad (resized through
        # ``.data``) they read past it. foreach checks, and raises torch's error
        tensors = [p.grad, *(v for v in self.state.get(p, {}).values()
                             if isinstance(v, torch.Tensor) and v.shape == p.shape)]
        return all(t.shape == p.shape and t.stride() == p.stride() for t in tensors)

    def _torch_step(self, groups: list[dict[str, Any]]) -> None:
        saved = self.param_groups
        self.param_groups = groups
        try:
            _raw_step(self._torch_class)(self)
        finally:
            self.param_groups = saved
