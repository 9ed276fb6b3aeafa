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

from calipers_torch.optim._base import CoreStep, _core, _core_step_tensor, _scalar

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "RMSprop"]


class _Prepared:
    """One group's core-bound parameters with the numpy views of their state.

    ``views[name][k]`` is the view of buffer ``name`` (torch's state tensor) of the
    k-th parameter in ``ok``, the positions the core takes; ``back`` holds the
    positions whose state it cannot take (missing, other dtype or layout), which go
    to torch.
    """

    def __init__(self, opt: CoreStep, params, pviews, names: list[str], stepped: bool) -> None:
        get = opt._np_views.get
        self.ok: list[int] = []
        self.back: list[int] = []
        self.views: dict[str, list[np.ndarray]] = {n: [] for n in ["param", *names]}
        self.steps: list[np.ndarray] = []
        for i, p in enumerate(params):
            st, pv = opt.state[p], pviews[i]
            bufs = [get(st.get(n)) for n in names]
            step = get(st.get("step"), _core_step_tensor) if stepped else None
            if any(b is None or b.dtype != pv.dtype or b.shape != pv.shape for b in bufs) or (
                stepped and step is None
            ):
                self.back.append(i)
                continue
            self.ok.append(i)
            self.views["param"].append(pv)
            for n, b in zip(names, bufs, strict=True):
                self.views[n].append(b)
            if stepped:
                self.steps.append(step)

    def by_dtype(self) -> list[list[int]]:
        """Positions into ``ok`` split by dtype (one core call each)."""
        out: dict[np.dtype, list[int]] = {}
        for k, v in enumerate(self.views["param"]):
            out.setdefault(v.dtype, []).append(k)
        return list(out.values())

    def take(self, name: str, ks: list[int]) -> list[np.ndarray]:
        views = self.views[name]
        return [views[k] for k in ks]

    def bump_steps(self) -> list[float]:
        """``step += 1`` on each core-bound step tensor (its own dtype, as torch); the
        new values, by position into ``ok``."""
        out = []
        for view in self.steps:
            view += 1
            out.append(float(view))
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

    def _core_group(self, group, params, views, grads):
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
        prep = _Prepared(self, params, views, ["momentum_buffer"] if momentum != 0 else [], False)
        for ks in prep.by_dtype():
            _core().sgd_step(
                prep.take("param", ks),
                [grads[prep.ok[k]] for k in ks],
                prep.take("momentum_buffer", ks) if momentum != 0 else [],
                [first[prep.ok[k]] for k in ks],
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


def _adam_core_group(self, group, params, views, grads):
    _init_new(self, group, params, 6)
    amsgrad = bool(group["amsgrad"])
    names = ["exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if amsgrad else [])
    prep = _Prepared(self, params, views, names, True)
    lr = _scalar(group["lr"])
    beta1, beta2 = (_scalar(b) for b in group["betas"])
    steps = prep.bump_steps()
    for ks in prep.by_dtype():
        # torch's per-tensor scalars, from the step tensor's value
        _core().adam_step(
            prep.take("param", ks),
            [grads[prep.ok[k]] for k in ks],
            prep.take("exp_avg", ks),
            prep.take("exp_avg_sq", ks),
            prep.take("max_exp_avg_sq", ks) if amsgrad else None,
            [lr / (1 - beta1 ** steps[k]) for k in ks],
            [(1 - beta2 ** steps[k]) ** 0.5 for k in ks],
            lr=lr, beta1=beta1, beta2=beta2,
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

    def _core_group(self, group, params, views, grads):
        _init_new(self, group, params, 4)
        prep = _Prepared(self, params, views, ["sum"], True)
        lr, decay = _scalar(group["lr"]), float(group["lr_decay"])
        steps = prep.bump_steps()
        for ks in prep.by_dtype():
            _core().adagrad_step(
                prep.take("param", ks),
                [grads[prep.ok[k]] for k in ks],
                prep.take("sum", ks),
                [lr / (1 + (steps[k] - 1) * decay) for k in ks],
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

    def _core_group(self, group, params, views, grads):
        _init_new(self, group, params, 6)
        momentum, centered = float(group["momentum"]), bool(group["centered"])
        names = (["square_avg"] + (["momentum_buffer"] if momentum > 0 else [])
                 + (["grad_avg"] if centered else []))
        # a buffer missing because the option changed after the first step: torch's
        # step raises its KeyError for it
        prep = _Prepared(self, params, views, names, True)
        prep.bump_steps()  # torch counts RMSprop's steps; its math does not use them
        for ks in prep.by_dtype():
            _core().rmsprop_step(
                prep.take("param", ks),
                [grads[prep.ok[k]] for k in ks],
                prep.take("square_avg", ks),
                prep.take("grad_avg", ks) if centered else None,
                prep.take("momentum_buffer", ks) if momentum > 0 else None,
                lr=_scalar(group["lr"]), alpha=float(group["alpha"]), eps=float(group["eps"]),
                weight_decay=float(group["weight_decay"]), momentum=momentum,
                centered=centered, maximize=bool(group["maximize"]),
            )
        return prep.back
