"""SGD, Adam, AdamW, Adagrad and RMSprop: torch.optim classes with a fused core step.

Each class subclasses its ``torch.optim`` namesake and only adds
:meth:`_core_group`: state of parameters without any is created by torch's own
``_init_group`` (exactly as torch creates it), step counters are incremented as
torch does, the scalars that depend on the step are computed once per tensor with
torch's formulas, then one core call per dtype updates the group's parameters.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from calipers_torch.optim._base import CoreStep, _core, _scalar, core_state_ok

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "RMSprop"]


def _by_dtype(params: list[torch.Tensor], ok: list[int]) -> list[list[int]]:
    """``ok``'s positions split by their parameter's dtype (one core call each)."""
    out: dict[torch.dtype, list[int]] = {}
    for i in ok:
        out.setdefault(params[i].dtype, []).append(i)
    return list(out.values())


class _Prepared:
    """One group's core-bound parameters: their state buffers (torch's tensors, by
    name) and which positions the core takes (``ok``) or hands back (``back``)."""

    def __init__(self, opt: CoreStep, params, names: list[str], stepped: bool) -> None:
        self.opt, self.params = opt, params
        states = [opt.state[p] for p in params]
        self.buffers = {n: [st.get(n) for st in states] for n in names}
        self.steps = [st.get("step") for st in states] if stepped else None
        self.ok, self.back = [], []
        for i, p in enumerate(params):
            bufs = [self.buffers[n][i] for n in names]
            ready = all(b is not None for b in bufs) and core_state_ok(p, bufs)
            if stepped:
                s = self.steps[i]
                ready = ready and isinstance(s, torch.Tensor) and s.is_cpu and s.numel() == 1
            (self.ok if ready else self.back).append(i)

    def views(self, tensors: list[torch.Tensor], idx: list[int]) -> list[np.ndarray]:
        return [self.opt._np_views(tensors[i]) for i in idx]

    def bump_steps(self) -> dict[int, float]:
        """``step += 1`` on each core-bound step tensor (its own dtype, as torch); the
        new values by position."""
        out = {}
        for i in self.ok:
            view = self.opt._np_views(self.steps[i])
            view += 1
            out[i] = float(view)
        return out


def _init_new(opt, group, params, nlists: int) -> None:
    """torch's ``_init_group`` (which takes ``nlists`` output lists) on the
    parameters that have no state yet."""
    new = [p for p in params if not opt.state.get(p)]
    if new:
        opt._init_group(dict(group, params=new), *([] for _ in range(nlists)))


class SGD(CoreStep, torch.optim.SGD):
    """``torch.optim.SGD`` whose CPU float32/float64 step runs in calipers' fused core.

    Same constructor, options and state as torch's (``momentum_buffer`` per param,
    created at its first step with momentum; no step counter), plus ``nonfinite``
    (``"propagate"`` by default, as torch; ``"raise"`` or ``"skip"`` check the
    gradients first and leave everything unchanged when one is NaN/inf).
    """

    _torch_class = torch.optim.SGD
    _has_fused = True

    def _core_capable(self, group: dict[str, Any]) -> bool:
        return super()._core_capable(group) and _scalar(group["weight_decay"]) is not None

    def _core_group(self, group, params, grads):
        momentum = float(group["momentum"])
        first = [False] * len(params)
        if momentum != 0:  # torch touches the state only with momentum
            for i, p in enumerate(params):
                st = self.state[p]
                if st.get("momentum_buffer") is None:  # the core writes the first buffer
                    first[i] = True
                    st["momentum_buffer"] = torch.empty_like(
                        p, memory_format=torch.preserve_format
                    )
        prep = _Prepared(self, params, ["momentum_buffer"] if momentum != 0 else [], False)
        for idx in _by_dtype(params, prep.ok):
            _core().sgd_step(
                prep.views(params, idx),
                [grads[i].numpy() for i in idx],
                prep.views(prep.buffers["momentum_buffer"], idx) if momentum != 0 else [],
                [first[i] for i in idx],
                lr=_scalar(group["lr"]), momentum=momentum,
                dampening=float(group["dampening"]),
                weight_decay=_scalar(group["weight_decay"]),
                nesterov=bool(group["nesterov"]), maximize=bool(group["maximize"]),
            )
        return prep.back


def _adam_core_capable(self, group: dict[str, Any]) -> bool:
    return CoreStep._core_capable(self, group) and all(
        _scalar(b) is not None for b in group["betas"]
    )


def _adam_core_group(self, group, params, grads):
    _init_new(self, group, params, 6)
    amsgrad = bool(group["amsgrad"])
    names = ["exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if amsgrad else [])
    prep = _Prepared(self, params, names, True)
    lr = _scalar(group["lr"])
    beta1, beta2 = (_scalar(b) for b in group["betas"])
    step_of = prep.bump_steps()
    for idx in _by_dtype(params, prep.ok):
        # torch's per-tensor scalars, from the step tensor's value
        step_sizes = [lr / (1 - beta1 ** step_of[i]) for i in idx]
        bc2_sqrts = [(1 - beta2 ** step_of[i]) ** 0.5 for i in idx]
        _core().adam_step(
            prep.views(params, idx),
            [grads[i].numpy() for i in idx],
            prep.views(prep.buffers["exp_avg"], idx),
            prep.views(prep.buffers["exp_avg_sq"], idx),
            prep.views(prep.buffers["max_exp_avg_sq"], idx) if amsgrad else None,
            step_sizes, bc2_sqrts, lr=lr, beta1=beta1, beta2=beta2,
            eps=float(group["eps"]), weight_decay=float(group["weight_decay"]),
            decoupled=bool(group["decoupled_weight_decay"]), amsgrad=amsgrad,
            maximize=bool(group["maximize"]),
        )
    return prep.back


class Adam(CoreStep, torch.optim.Adam):
    """``torch.optim.Adam`` whose CPU float32/float64 step runs in calipers' fused core.

    Same constructor, options (``amsgrad``, ``maximize``, ``decoupled_weight_decay``,
    tensor ``lr`` / ``betas``...) and state (``step`` tensor, ``exp_avg``,
    ``exp_avg_sq``, ``max_exp_avg_sq``) as torch's, plus ``nonfinite`` (see
    :class:`SGD`).
    """

    _torch_class = torch.optim.Adam
    _has_fused = True
    _core_capable = _adam_core_capable
    _core_group = _adam_core_group


class AdamW(CoreStep, torch.optim.AdamW):
    """``torch.optim.AdamW`` whose CPU float32/float64 step runs in calipers' fused core.

    Adam with decoupled weight decay (default 1e-2); everything else as :class:`Adam`.
    """

    _torch_class = torch.optim.AdamW
    _has_fused = True
    _core_capable = _adam_core_capable
    _core_group = _adam_core_group


class Adagrad(CoreStep, torch.optim.Adagrad):
    """``torch.optim.Adagrad`` whose CPU float32/float64 step runs in calipers' fused core.

    Same constructor, options and state (``step`` tensor and ``sum``, created for
    every parameter at construction, as torch does) as torch's, plus ``nonfinite``
    (see :class:`SGD`).
    """

    _torch_class = torch.optim.Adagrad
    _has_fused = True

    def _core_group(self, group, params, grads):
        _init_new(self, group, params, 4)
        prep = _Prepared(self, params, ["sum"], True)
        lr, decay = _scalar(group["lr"]), float(group["lr_decay"])
        step_of = prep.bump_steps()
        for idx in _by_dtype(params, prep.ok):
            _core().adagrad_step(
                prep.views(params, idx),
                [grads[i].numpy() for i in idx],
                prep.views(prep.buffers["sum"], idx),
                [lr / (1 + (step_of[i] - 1) * decay) for i in idx],
                eps=float(group["eps"]), weight_decay=float(group["weight_decay"]),
                maximize=bool(group["maximize"]),
            )
        return prep.back


class RMSprop(CoreStep, torch.optim.RMSprop):
    """``torch.optim.RMSprop`` whose CPU float32/float64 step runs in calipers' fused core.

    Same constructor, options and state (``step`` tensor, ``square_avg``, and
    ``momentum_buffer`` / ``grad_avg`` when the group had momentum / was centered at
    the parameter's first step) as torch's, plus ``nonfinite`` (see :class:`SGD`).
    """

    _torch_class = torch.optim.RMSprop

    def _core_group(self, group, params, grads):
        _init_new(self, group, params, 6)
        momentum, centered = float(group["momentum"]), bool(group["centered"])
        names = (["square_avg"] + (["momentum_buffer"] if momentum > 0 else [])
                 + (["grad_avg"] if centered else []))
        # a buffer missing because the option changed after the first step: torch's
        # step raises its KeyError for it
        prep = _Prepared(self, params, names, True)
        prep.bump_steps()  # torch counts RMSprop's steps; its math does not use them
        for idx in _by_dtype(params, prep.ok):
            _core().rmsprop_step(
                prep.views(params, idx),
                [grads[i].numpy() for i in idx],
                prep.views(prep.buffers["square_avg"], idx),
                prep.views(prep.buffers["grad_avg"], idx) if centered else None,
                prep.views(prep.buffers["momentum_buffer"], idx) if momentum > 0 else None,
                lr=_scalar(group["lr"]), alpha=float(group["alpha"]), eps=float(group["eps"]),
                weight_decay=float(group["weight_decay"]), momentum=momentum,
                centered=centered, maximize=bool(group["maximize"]),
            )
        return prep.back
