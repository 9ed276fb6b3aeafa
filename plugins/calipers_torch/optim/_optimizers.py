"""SGD, Adam, AdamW, Adagrad and RMSprop: torch.optim classes with a fused core step.

Each class subclasses its ``torch.optim`` namesake and only adds
:meth:`_core_group`: state through torch's own ``_init_group`` (created exactly as
torch creates it), step counters incremented as torch does, the scalars that depend
on the step computed once per tensor with torch's formulas, then one core call per
dtype over the group's parameters.
"""

from __future__ import annotations

from typing import Any

import torch

from calipers_torch.optim._base import (
    CoreStep,
    _core,
    _scalar,
    core_state_ok,
    increment_steps,
    numpy_views,
)

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "RMSprop"]


def _by_dtype(params: list[torch.Tensor], ok: list[int]) -> list[list[int]]:
    """``ok``'s positions split by their parameter's dtype (one core call each)."""
    out: dict[torch.dtype, list[int]] = {}
    for i in ok:
        out.setdefault(params[i].dtype, []).append(i)
    return list(out.values())


def _split(params, buffers_of, steps=None) -> tuple[list[int], list[int]]:
    """Positions whose state is core-ready (buffers and a CPU step tensor), and the
    others (handed back to torch)."""
    ok, back = [], []
    for i, p in enumerate(params):
        ready = core_state_ok(p, buffers_of(i)) and (steps is None or steps[i].is_cpu)
        (ok if ready else back).append(i)
    return ok, back


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
        bufs: list[Any] = [None] * len(params)
        if momentum != 0:  # torch touches the state only with momentum
            bufs = [self.state[p].get("momentum_buffer") for p in params]
        ok, back = _split(params, lambda i: [bufs[i]])
        first = [b is None for b in bufs]
        for i in ok:
            if momentum != 0 and bufs[i] is None:  # the core writes the first buffer
                bufs[i] = torch.empty_like(params[i], memory_format=torch.preserve_format)
                self.state[params[i]]["momentum_buffer"] = bufs[i]
        for idx in _by_dtype(params, ok):
            _core().sgd_step(
                numpy_views([params[i] for i in idx]),
                numpy_views([grads[i] for i in idx]),
                numpy_views([bufs[i] for i in idx]) if momentum != 0 else [],
                [first[i] for i in idx],
                lr=_scalar(group["lr"]), momentum=momentum,
                dampening=float(group["dampening"]),
                weight_decay=_scalar(group["weight_decay"]),
                nesterov=bool(group["nesterov"]), maximize=bool(group["maximize"]),
            )
        return back


def _adam_core_capable(self, group: dict[str, Any]) -> bool:
    return CoreStep._core_capable(self, group) and all(
        _scalar(b) is not None for b in group["betas"]
    )


def _adam_core_group(self, group, params, grads):
    m, v, vmax, steps = [], [], [], []
    self._init_group(dict(group, params=params), [], [], m, v, vmax, steps)
    amsgrad = bool(group["amsgrad"])
    ok, back = _split(params, lambda i: [m[i], v[i], vmax[i] if amsgrad else None], steps)
    lr = _scalar(group["lr"])
    beta1, beta2 = (_scalar(b) for b in group["betas"])
    step_of = dict(zip(ok, increment_steps([steps[i] for i in ok]), strict=True))
    for idx in _by_dtype(params, ok):
        # torch's per-tensor scalars, from the step tensor's value
        step_sizes = [lr / (1 - beta1 ** step_of[i]) for i in idx]
        bc2_sqrts = [(1 - beta2 ** step_of[i]) ** 0.5 for i in idx]
        _core().adam_step(
            numpy_views([params[i] for i in idx]),
            numpy_views([grads[i] for i in idx]),
            numpy_views([m[i] for i in idx]),
            numpy_views([v[i] for i in idx]),
            numpy_views([vmax[i] for i in idx]) if amsgrad else None,
            step_sizes, bc2_sqrts, lr=lr, beta1=beta1, beta2=beta2,
            eps=float(group["eps"]), weight_decay=float(group["weight_decay"]),
            decoupled=bool(group["decoupled_weight_decay"]), amsgrad=amsgrad,
            maximize=bool(group["maximize"]),
        )
    return back


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
        sums, steps = [], []
        self._init_group(dict(group, params=params), [], [], sums, steps)
        ok, back = _split(params, lambda i: [sums[i]], steps)
        lr, decay = _scalar(group["lr"]), float(group["lr_decay"])
        step_of = dict(zip(ok, increment_steps([steps[i] for i in ok]), strict=True))
        for idx in _by_dtype(params, ok):
            _core().adagrad_step(
                numpy_views([params[i] for i in idx]),
                numpy_views([grads[i] for i in idx]),
                numpy_views([sums[i] for i in idx]),
                [lr / (1 + (step_of[i] - 1) * decay) for i in idx],
                eps=float(group["eps"]), weight_decay=float(group["weight_decay"]),
                maximize=bool(group["maximize"]),
            )
        return back


class RMSprop(CoreStep, torch.optim.RMSprop):
    """``torch.optim.RMSprop`` whose CPU float32/float64 step runs in calipers' fused core.

    Same constructor, options and state (``step`` tensor, ``square_avg``, and
    ``momentum_buffer`` / ``grad_avg`` when the group had momentum / was centered at
    the parameter's first step) as torch's, plus ``nonfinite`` (see :class:`SGD`).
    """

    _torch_class = torch.optim.RMSprop

    def _core_group(self, group, params, grads):
        sq, bufs, gavg, steps = [], [], [], []
        self._init_group(dict(group, params=params), [], [], sq, bufs, gavg, steps)
        momentum, centered = float(group["momentum"]), bool(group["centered"])
        ok, back = _split(params, lambda i: [
            sq[i], bufs[i] if momentum > 0 else None, gavg[i] if centered else None
        ], steps)
        increment_steps([steps[i] for i in ok])  # torch counts steps, its math does not
        for idx in _by_dtype(params, ok):
            _core().rmsprop_step(
                numpy_views([params[i] for i in idx]),
                numpy_views([grads[i] for i in idx]),
                numpy_views([sq[i] for i in idx]),
                numpy_views([gavg[i] for i in idx]) if centered else None,
                numpy_views([bufs[i] for i in idx]) if momentum > 0 else None,
                lr=_scalar(group["lr"]), alpha=float(group["alpha"]), eps=float(group["eps"]),
                weight_decay=float(group["weight_decay"]), momentum=momentum,
                centered=centered, maximize=bool(group["maximize"]),
            )
        return back
