"""A param group's prepared core call, reused from step to step while it still fits.

Building the core's :class:`~calipers._core._optim.Plan` for a group (numpy views of
every parameter, state buffer and step counter, checks, work items) costs a few
microseconds per tensor. :class:`GroupPlan` builds it once and, at each later step,
checks with C-level passes over the group (``map`` over torch's attribute getters,
no Python code per tensor) that nothing it was built from changed:

* the group's parameters: the same objects (ids, the plan holds them), data
  pointers and contiguity (``p.data = ...`` changes these; a parameter resized in
  place gets gradients of another size, which the plan refuses);
* their state: the same buffer and counter tensors in the per-parameter state dicts
  the plan holds (the optimizer checks that those dicts are still its state);
* the buffers the group's options call for (``amsgrad``, ``momentum``, ...);
* no parameter without state got a gradient (it needs its state created first).

Anything else makes the optimizer rebuild the plan. Hyper-parameters are read from
the group at every step and passed to the core as scalars: LR schedulers and edits
of ``group["lr"]`` take effect at once.

The gradients change from step to step (``zero_grad()`` sets them to None and
backward makes new ones) and are checked at each step: again C-level passes when
they are all dense contiguous CPU tensors of their parameter's dtype and size
(when they are the very objects checked at the previous step, with the same data
pointers, the check is skipped), one Python pass per tensor otherwise. The core
takes their data addresses; the plan holds no reference to a gradient past the step.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from itertools import chain, compress, repeat
from operator import attrgetter, call, is_, is_not
from typing import Any

import torch

__all__ = ["GroupPlan", "core_grad", "core_step_tensor", "core_tensor", "grad_usable"]

_T = torch.Tensor
_CORE_DTYPES = (torch.float32, torch.float64)
_PLAIN_TYPES = frozenset((torch.Tensor, torch.nn.Parameter))
_GRAD = attrgetter("grad")
_DTYPE = attrgetter("dtype")
_IS_CPU = attrgetter("is_cpu")
_LAYOUT = attrgetter("layout")


def core_tensor(p: Any) -> bool:
    """Whether the core can update ``p`` in place (dense contiguous CPU float32/64)."""
    return (
        type(p) in _PLAIN_TYPES
        and p.is_cpu
        and p.dtype in _CORE_DTYPES
        and p.layout == torch.strided
        and p.is_contiguous()
        and not p.is_neg()
    )


def grad_usable(p: torch.Tensor, g: Any) -> bool:
    """Whether the core can take ``g`` as ``p``'s gradient (possibly after a copy)."""
    return (
        type(g) in _PLAIN_TYPES
        and g.is_cpu
        and g.layout == torch.strided
        and g.dtype == p.dtype
        and g.shape == p.shape
    )


def core_grad(p: torch.Tensor, g: torch.Tensor) -> torch.Tensor | None:
    """``g`` ready for the core (contiguous, not overlapping ``p``), or None."""
    if not grad_usable(p, g):
        return None
    g = g.detach().resolve_neg().contiguous()
    nbytes = p.numel() * p.element_size()
    if nbytes and g.data_ptr() < p.data_ptr() + nbytes and p.data_ptr() < g.data_ptr() + nbytes:
        g = g.clone()  # the core's loops assume the gradient does not overlap the param
    return g


def core_step_tensor(s: Any) -> bool:
    """Whether ``s`` is a step counter the core can count (one CPU float32/64 element)."""
    return (
        isinstance(s, torch.Tensor)
        and s.is_cpu
        and s.dtype in _CORE_DTYPES
        and s.numel() == 1
        and s.layout == torch.strided
    )


def _core_buffer(b: Any, p: torch.Tensor) -> bool:
    return core_tensor(b) and b.dtype == p.dtype and b.numel() == p.numel()


class GroupPlan:
    """One param group's core call and what it was built from.

    Parameters
    ----------
    core : module
        ``calipers._core._optim``.
    group : dict
        The param group (held: the optimizer finds the plan by the group's id).
    state : mapping
        The optimizer's state (per parameter a dict), after the state of the
        parameters stepping now was created.
    buffers : sequence of str or None
        The state buffers of the core's lists s1, s2, s3 (None: unused).
    counted : bool
        Whether the state holds a ``"step"`` counter the core counts.

    Attributes
    ----------
    plan : calipers._core._optim.Plan
        The core call over the core positions (None when there are none).
    pos : list of int
        Positions in ``group["params"]`` the plan updates.
    torch_pos : list of int
        Positions whose tensor or state the core cannot take: torch steps them.
    pending : list of int
        Core-ready parameters without (complete) state yet.
    """

    def __init__(
        self,
        core: Any,
        group: dict[str, Any],
        state: Any,
        buffers: Sequence[str | None],
        counted: bool,
    ) -> None:
        self.group = group
        self.params: list[torch.Tensor] = list(group["params"])
        self.param_ids = list(map(id, self.params))
        self.key = (tuple(buffers), counted)
        names = [n for n in buffers if n is not None] + (["step"] if counted else [])
        self.pos: list[int] = []
        self.torch_pos: list[int] = []
        self.pending: list[int] = []
        # the state dicts of the core positions (none when the step keeps no state)
        self.states: list[dict[str, Any]] = []
        for i, p in enumerate(self.params):
            st = state.get(p)
            if not core_tensor(p):
                self.torch_pos.append(i)
            elif not names:
                self.pos.append(i)
            elif type(st) is dict and all(st.get(n) is not None for n in names):
                if all(_core_buffer(st[n], p) for n in names if n != "step") and (
                    not counted or core_step_tensor(st["step"])
                ):
                    self.pos.append(i)
                    self.states.append(st)
                else:
                    self.torch_pos.append(i)
            elif st and any(st.get(n) is not None for n in names):
                self.torch_pos.append(i)  # partial state: torch's step says what is missing
            else:
                self.pending.append(i)
        self.all_core = len(self.pos) == len(self.params)
        self.core_params = [self.params[i] for i in self.pos]
        self.dtypes = list(map(_DTYPE, self.core_params))
        # sizes, not shapes: the core reads flat memory (a contiguous gradient of
        # the same size is read alike whatever its shape)
        self.numels = list(map(_T.numel, self.core_params))
        self.ptrs = list(map(_T.data_ptr, self.core_params))
        self.state_ids = self._state_ids()
        self.plan = None
        if self.pos:
            views = [p.detach().numpy() for p in self.core_params]
            lists = [
                None if n is None else [st[n].detach().numpy() for st in self.states]
                for n in buffers
            ]
            lists += [None] * (3 - len(lists))
            steps = [st["step"].detach().numpy() for st in self.states] if counted else None
            self.plan = core.Plan(views, *lists, steps=steps)
        self._grad_refs: list[Any] | None = None  # the grads checked last, while valid
        self._grad_ptrs: list[int] | None = None
        self._keep: list[torch.Tensor] = []
        self.stepping = 0  # core positions with a gradient this step

    def _state_ids(self) -> list[int]:
        return list(map(id, chain.from_iterable(map(dict.values, self.states))))

    # ------------------------------------------------------------ validity

    def fits(self, group: dict[str, Any], key: tuple[Any, ...]) -> bool:
        """Whether the plan still fits ``group``'s parameters, their state (the
        tensors in the dicts it holds) and the buffers ``key`` asks for."""
        if group is not self.group or key != self.key:
            return False
        params = group["params"]
        if len(params) != len(self.params) or list(map(id, params)) != self.param_ids:
            return False
        cp = self.core_params
        return (
            list(map(_T.data_ptr, cp)) == self.ptrs
            and all(map(_T.is_contiguous, cp))
            and self._state_ids() == self.state_ids
        )

    def same_state_dicts(self, state: Any) -> bool:
        """Whether ``state`` still maps each core parameter to the dict the plan holds."""
        if not self.states:  # a step without state (SGD without momentum)
            return True
        return all(map(is_, map(state.get, self.core_params), self.states))

    def needs_state(self, grads: list[Any]) -> bool:
        """Whether a parameter without state has a gradient (state must be created)."""
        return any(map(is_not, map(grads.__getitem__, self.pending), repeat(None)))

    # ------------------------------------------------------------ gradients

    def set_grads(self, grads: list[Any]) -> list[int]:
        """Hand this step's gradients of the core positions to the core.

        ``grads`` are those of all the group's parameters. Returns the positions
        (into the group) of core parameters whose gradient the core cannot take
        (sparse, another dtype...): torch steps them this time.
        """
        self._keep = []
        if self.plan is None:
            self.stepping = 0
            return []
        cg = grads if self.all_core else list(map(grads.__getitem__, self.pos))
        refs = self._grad_refs
        if refs is not None and all(map(is_, map(call, refs), cg)):
            # the tensors checked at the last step; their addresses are still set
            if list(map(_T.data_ptr, cg)) == self._grad_ptrs:
                return []
        self._grad_refs = self._grad_ptrs = None
        missing = any(map(is_, cg, repeat(None)))
        if missing:
            mask = list(map(is_not, cg, repeat(None)))
            gs = list(compress(cg, mask))
            dtypes, numels = list(compress(self.dtypes, mask)), list(compress(self.numels, mask))
        else:
            gs, dtypes, numels = cg, self.dtypes, self.numels
        self.stepping = len(gs)
        if (
            set(map(type, gs)) <= _PLAIN_TYPES
            and all(map(_IS_CPU, gs))
            and all(map(is_, map(_LAYOUT, gs), repeat(torch.strided)))
            and list(map(_DTYPE, gs)) == dtypes
            and list(map(_T.numel, gs)) == numels
            and all(map(_T.is_contiguous, gs))
            and not any(map(_T.is_neg, gs))
        ):
            ptrs = list(map(_T.data_ptr, gs))
            if missing:  # None where there is none, still without a Python loop
                addresses = list(map(dict(zip(map(id, gs), ptrs, strict=True)).get, map(id, cg)))
            else:
                addresses = ptrs
            overlapping = self.plan.set_grad_addresses(addresses)
            for k in overlapping:  # a gradient sharing its parameter's memory
                copy = cg[k].detach().clone()
                self._keep.append(copy)
                self.plan.set_grad_address(k, copy.data_ptr())
            if not missing and not overlapping:
                self._grad_refs = list(map(weakref.ref, cg))
                self._grad_ptrs = ptrs
            return []
        return self._set_grads_one_by_one(cg)

    def _set_grads_one_by_one(self, cg: list[Any]) -> list[int]:
        addresses, to_torch = [], []
        for k, (p, g) in enumerate(zip(self.core_params, cg, strict=True)):
            ready = None if g is None or not core_tensor(p) else core_grad(p, g)
            if ready is None or ready.numel() != self.numels[k]:
                addresses.append(None)
                if g is not None:
                    to_torch.append(self.pos[k])
            else:
                self._keep.append(ready)
                addresses.append(ready.data_ptr())
        self.plan.set_grad_addresses(addresses)  # copies never overlap their param
        self.stepping = sum(a is not None for a in addresses)
        return to_torch

    def first_nonfinite(self) -> tuple[int, int] | None:
        """``(position in the group, flat index)`` of the first NaN/inf among the
        gradients set, or None."""
        if self.plan is None or not self.stepping:
            return None
        bad = self.plan.first_nonfinite()
        return None if bad is None else (self.pos[bad[0]], bad[1])

    def release(self) -> None:
        """Drop the copies of gradients made for this step."""
        self._keep = []

