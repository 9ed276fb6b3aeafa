"""SGD, Adam, AdamW, Adagrad and RMSprop: torch.optim classes with a fused core step.

Each class subclasses its ``torch.optim`` namesake and says which state buffers the
core's lists hold (:meth:`_buffers`) and which core step function runs with which of
the group's hyper-parameters (:meth:`_core_call`). State is created by torch's own
``_init_group`` (exactly as torch creates it); the core counts torch's ``step``
tensors as torch does and derives the per-tensor scalars from them with torch's
formulas; one core call per param group (dtypes mixed) updates the parameters.
"""

from __future__ import annotations

from typing import Any

import torch

from calipers_torch.optim._base import CoreStep, _core, _scalar

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "RMSprop"]


class SGD(CoreStep, torch.optim.SGD):
    """``torch.optim.SGD`` whose CPU float32/float64 step runs in calipers' fused core.

    Same constructor, options and state as torch's (``momentum_buffer`` per param,
    created at its first step with momentum; no step counter), plus ``nonfinite``
    (``"propagate"`` by default, as torch; ``"raise"`` or ``"skip"`` check the
    gradients first and leave everything unchanged when one is NaN/inf).
    """

    _torch_class = torch.optim.SGD
    _has_fused = True
    _counted = False

    def _core_capable(self, group: dict[str, Any]) -> bool:
        return super()._core_capable(group) and _scalar(group["weight_decay"]) is not None

    def _buffers(self, group: dict[str, Any]) -> tuple[str | None, ...]:
        return ("momentum_buffer" if group["momentum"] != 0 else None,)

    def _init_state(self, group: dict[str, Any], params: list[torch.Tensor]) -> list[int]:
        if group["momentum"] == 0:  # torch touches the state only with momentum
            return []
        first = []
        for k, p in enumerate(params):
            st = self.state[p]
            if st.get("momentum_buffer") is None:  # the core writes the first buffer
                first.append(k)
                st["momentum_buffer"] = torch.empty_like(p, memory_format=torch.preserve_format)
        return first

    def _core_call(self, plan: Any, group: dict[str, Any]) -> None:
        _core().sgd_step(
            plan, lr=_scalar(group["lr"]), momentum=float(group["momentum"]),
            dampening=float(group["dampening"]), weight_decay=_scalar(group["weight_decay"]),
            nesterov=bool(group["nesterov"]), maximize=bool(group["maximize"]),
        )


class _AdamCore(CoreStep):
    """The core side of Adam and AdamW (torch's AdamW is Adam with decoupled decay)."""

    _has_fused = True
    _init_lists = 6

    def _core_capable(self, group: dict[str, Any]) -> bool:
        return super()._core_capable(group) and all(
            _scalar(b) is not None for b in group["betas"]
        )

    def _buffers(self, group: dict[str, Any]) -> tuple[str | None, ...]:
        return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq" if group["amsgrad"] else None)

    def _core_call(self, plan: Any, group: dict[str, Any]) -> None:
        beta1, beta2 = group["betas"]
        _core().adam_step(
            plan, lr=_scalar(group["lr"]), beta1=_scalar(beta1), beta2=_scalar(beta2),
            eps=float(group["eps"]), weight_decay=float(group["weight_decay"]),
            decoupled=bool(group["decoupled_weight_decay"]), amsgrad=bool(group["amsgrad"]),
            maximize=bool(group["maximize"]),
        )


class Adam(_AdamCore, torch.optim.Adam):
    """``torch.optim.Adam`` whose CPU float32/float64 step runs in calipers' fused core.

    Same constructor, options (``amsgrad``, ``maximize``, ``decoupled_weight_decay``,
    tensor ``lr`` / ``betas``...) and state (``step`` tensor, ``exp_avg``,
    ``exp_avg_sq``, ``max_exp_avg_sq``) as torch's, plus ``nonfinite`` (see
    :class:`SGD`).
    """

    _torch_class = torch.optim.Adam


class AdamW(_AdamCore, torch.optim.AdamW):
    """``torch.optim.AdamW`` whose CPU float32/float64 step runs in calipers' fused core.

    Adam with decoupled weight decay (default 1e-2); everything else as :class:`Adam`.
    """

    _torch_class = torch.optim.AdamW


class Adagrad(CoreStep, torch.optim.Adagrad):
    """``torch.optim.Adagrad`` whose CPU float32/float64 step runs in calipers' fused core.

    Same constructor, options and state (``step`` tensor and ``sum``, created for
    every parameter at construction, as torch does) as torch's, plus ``nonfinite``
    (see :class:`SGD`).
    """

    _torch_class = torch.optim.Adagrad
    _has_fused = True
    _init_lists = 4

    def _buffers(self, group: dict[str, Any]) -> tuple[str | None, ...]:
        return ("sum",)

    def _core_call(self, plan: Any, group: dict[str, Any]) -> None:
        _core().adagrad_step(
            plan, lr=_scalar(group["lr"]), lr_decay=float(group["lr_decay"]),
            eps=float(group["eps"]), weight_decay=float(group["weight_decay"]),
            maximize=bool(group["maximize"]),
        )


class RMSprop(CoreStep, torch.optim.RMSprop):
    """``torch.optim.RMSprop`` whose CPU float32/float64 step runs in calipers' fused core.

    Same constructor, options and state (``step`` tensor, ``square_avg``, and
    ``momentum_buffer`` / ``grad_avg`` when the group had momentum / was centered at
    the parameter's first step) as torch's, plus ``nonfinite`` (see :class:`SGD`).
    """

    _torch_class = torch.optim.RMSprop
    _init_lists = 6

    def _buffers(self, group: dict[str, Any]) -> tuple[str | None, ...]:
        # a buffer missing because the option changed after the first step: the
        # parameter goes to torch, whose step raises its KeyError for it
        return (
            "square_avg",
            "grad_avg" if group["centered"] else None,
            "momentum_buffer" if group["momentum"] > 0 else None,
        )

    def _core_call(self, plan: Any, group: dict[str, Any]) -> None:
        # torch counts RMSprop's steps; its math does not use them
        _core().rmsprop_step(
            plan, lr=_scalar(group["lr"]), alpha=float(group["alpha"]), eps=float(group["eps"]),
            weight_decay=float(group["weight_decay"]), momentum=float(group["momentum"]),
            centered=bool(group["centered"]), maximize=bool(group["maximize"]),
        )
