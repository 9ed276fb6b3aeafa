"""SGD, Adam, AdamW, Adagrad and RMSprop over numpy arrays (torch.optim's options).

Each ``_update`` hands the whole list of stepping parameters (dtypes mixed) with
their state to one fused core call, which derives the per-parameter scalars that
depend on the step count (bias corrections, decayed learning rate) once per
parameter, with torch's formulas.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from calipers.optim._base import Optimizer

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "RMSprop"]


def _core():  # deferred: importing calipers.optim must not load the extension
    from calipers._core import _optim

    return _optim


def _at_least(options: dict[str, Any], *names: str) -> None:
    for name in names:
        value = options[name]
        if not value >= 0.0:
            raise ValueError(f"Invalid {name} value: {value} (must be >= 0)")


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, as ``torch.optim.SGD``.

    Options: ``lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False,
    maximize=False``. State per parameter: ``momentum_buffer`` (None without momentum;
    the first step's buffer is the gradient itself, as in torch).
    """

    defaults: ClassVar[dict[str, Any]] = {
        "lr": 1e-3, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0,
        "nesterov": False, "maximize": False,
    }

    def _validate(self, options: dict[str, Any]) -> None:
        _at_least(options, "lr", "momentum", "weight_decay")
        if options["nesterov"] and (options["momentum"] <= 0 or options["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _buffers(self, options: dict[str, Any]) -> dict[str, Any]:
        return {}

    def _update(self, params, grads, states) -> None:
        o = self.options
        first = []
        if o["momentum"] != 0:
            for k, (p, st) in enumerate(zip(params, states, strict=True)):
                if st.get("momentum_buffer") is None:
                    first.append(k)
                    st["momentum_buffer"] = np.empty_like(p)
        else:
            for st in states:
                st.setdefault("momentum_buffer", None)
        plan = self._plan(params, grads, states,
                          ["momentum_buffer" if o["momentum"] != 0 else None], False)
        plan.mark_first(first)
        _core().sgd_step(
            plan, lr=o["lr"], momentum=o["momentum"], dampening=o["dampening"],
            weight_decay=o["weight_decay"], nesterov=o["nesterov"], maximize=o["maximize"],
        )


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam`` (``amsgrad``, ``maximize``, L2 ``weight_decay``).

    Options: ``lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
    maximize=False, decoupled_weight_decay=False`` (True is AdamW). State per
    parameter: ``exp_avg``, ``exp_avg_sq`` and, with amsgrad, ``max_exp_avg_sq``.
    """

    defaults: ClassVar[dict[str, Any]] = {
        "lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
        "amsgrad": False, "maximize": False, "decoupled_weight_decay": False,
    }

    def _validate(self, options: dict[str, Any]) -> None:
        _at_least(options, "lr", "eps", "weight_decay")
        betas = tuple(options["betas"])
        if len(betas) != 2:
            raise ValueError(f"betas must be a pair, got {options['betas']!r}")
        for k, b in enumerate(betas):
            if not 0.0 <= b < 1.0:
                raise ValueError(f"Invalid beta parameter at index {k}: {b}")

    def _buffers(self, options: dict[str, Any]) -> dict[str, Any]:
        need = {"exp_avg": 0.0, "exp_avg_sq": 0.0}
        if options["amsgrad"]:
            need["max_exp_avg_sq"] = 0.0
        return need

    def _update(self, params, grads, states) -> None:
        o = self.options
        beta1, beta2 = (float(b) for b in o["betas"])
        amsgrad = bool(o["amsgrad"])
        # the core derives torch's per-step scalars from each parameter's step count
        plan = self._plan(params, grads, states, ["exp_avg", "exp_avg_sq",
                          "max_exp_avg_sq" if amsgrad else None], True)
        _core().adam_step(
            plan, lr=float(o["lr"]), beta1=beta1, beta2=beta2, eps=o["eps"],
            weight_decay=o["weight_decay"], decoupled=bool(o["decoupled_weight_decay"]),
            amsgrad=amsgrad, maximize=bool(o["maximize"]),
        )


class AdamW(Adam):
    """AdamW, as ``torch.optim.AdamW``: Adam with decoupled weight decay (default 1e-2).

    The parameter is scaled by ``1 - lr * weight_decay`` before the Adam update.
    """

    defaults: ClassVar[dict[str, Any]] = {
        **Adam.defaults, "weight_decay": 1e-2, "decoupled_weight_decay": True,
    }

    def _validate(self, options: dict[str, Any]) -> None:
        super()._validate(options)
        if not options["decoupled_weight_decay"]:
            raise ValueError("AdamW always decouples its weight decay; use Adam for L2 decay")


class Adagrad(Optimizer):
    """Adagrad, as ``torch.optim.Adagrad``.

    Options: ``lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
    eps=1e-10, maximize=False``. State per parameter: ``sum``.
    """

    defaults: ClassVar[dict[str, Any]] = {
        "lr": 1e-2, "lr_decay": 0.0, "weight_decay": 0.0, "initial_accumulator_value": 0.0,
        "eps": 1e-10, "maximize": False,
    }

    def _validate(self, options: dict[str, Any]) -> None:
        _at_least(options, "lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    def _buffers(self, options: dict[str, Any]) -> dict[str, Any]:
        return {"sum": float(options["initial_accumulator_value"])}

    def _update(self, params, grads, states) -> None:
        o = self.options
        plan = self._plan(params, grads, states, ["sum"], True)
        _core().adagrad_step(
            plan, lr=float(o["lr"]), lr_decay=float(o["lr_decay"]), eps=o["eps"],
            weight_decay=o["weight_decay"], maximize=bool(o["maximize"]),
        )


class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop``.

    Options: ``lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
    centered=False, maximize=False``. State per parameter: ``square_avg``, and
    ``momentum_buffer`` (momentum > 0) and ``grad_avg`` (centered).
    """

    defaults: ClassVar[dict[str, Any]] = {
        "lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0,
        "centered": False, "maximize": False,
    }

    def _validate(self, options: dict[str, Any]) -> None:
        _at_least(options, "lr", "eps", "momentum", "weight_decay", "alpha")

    def _buffers(self, options: dict[str, Any]) -> dict[str, Any]:
        need = {"square_avg": 0.0}
        if options["momentum"] > 0:
            need["momentum_buffer"] = 0.0
        if options["centered"]:
            need["grad_avg"] = 0.0
        return need

    def _update(self, params, grads, states) -> None:
        o = self.options
        centered, momentum = bool(o["centered"]), float(o["momentum"])
        plan = self._plan(params, grads, states, [
            "square_avg", "grad_avg" if centered else None,
            "momentum_buffer" if momentum > 0 else None,
        ], False)
        _core().rmsprop_step(
            plan, lr=o["lr"], alpha=o["alpha"], eps=o["eps"], weight_decay=o["weight_decay"],
            momentum=momentum, centered=centered, maximize=bool(o["maximize"]),
        )
