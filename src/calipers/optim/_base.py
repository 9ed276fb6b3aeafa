"""The :class:`Optimizer` base: parameter and gradient checks, state, the step driver.

Subclasses say which options they take, which state buffers a parameter needs, and
which fused core kernel updates a list of parameters of one dtype; everything else
(validation, the non-finite policy, per-parameter step counts, state dicts) is here.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

__all__ = ["NONFINITE_POLICIES", "Optimizer"]

#: Values of the ``nonfinite`` option.
NONFINITE_POLICIES = ("raise", "skip", "propagate")
_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _check_param(i: int, p: Any) -> np.ndarray:
    if not isinstance(p, np.ndarray):
        raise TypeError(f"params[{i}] must be a numpy array, got {type(p).__name__}")
    if p.dtype not in _DTYPES:
        raise TypeError(
            f"params[{i}] has dtype {p.dtype}; the optimizers update float32 or float64 arrays"
        )
    if not p.flags.c_contiguous:
        raise ValueError(
            f"params[{i}] is not C-contiguous (shape {p.shape}, strides {p.strides}): the "
            "step updates it in place, so pass a contiguous array (np.ascontiguousarray "
            "would update a copy)"
        )
    if not p.flags.writeable:
        raise ValueError(f"params[{i}] is read-only: the step updates parameters in place")
    return p


class Optimizer(abc.ABC):
    """Base class of the numpy optimizers: ``step(grads)`` updates ``params`` in place.

    Parameters
    ----------
    params : sequence of numpy.ndarray
        The parameters: writeable, C-contiguous float32 or float64 arrays of any shape
        (dtypes may be mixed: one fused core call updates them all).
    nonfinite : {"raise", "skip", "propagate"}, default "raise"
        What a step does with a gradient holding NaN or inf. ``"raise"``: raise
        ValueError naming the parameter and flat index; ``"skip"``: skip the whole step
        (``step`` returns False). Both leave parameters, state and step counts exactly
        as they were: a read-only parallel pass over the gradients (4 or 8 bytes per
        element, in the core) runs before the fused update, because the fused pass
        writes as it goes and could not roll back a half-applied step.
        ``"propagate"``: no check; NaN/inf flow into the parameters as in torch.
    **options
        The optimizer's hyper-parameters, named and defaulted as in ``torch.optim``.

    Attributes
    ----------
    params : list of numpy.ndarray
        The arrays the optimizer updates (the very objects passed in).
    options : dict
        The hyper-parameters; change them between steps (e.g. ``options["lr"]``) as an
        LR scheduler does.
    state : list of dict
        Per parameter: ``"step"`` (int, the steps this parameter took) and its buffers,
        created at its first step.
    """

    #: Option names and defaults (torch's), set by each subclass.
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(
        self, params: Sequence[np.ndarray], *, nonfinite: str = "raise", **options: Any
    ) -> None:
        if isinstance(params, np.ndarray):
            params = [params]
        self.params = [_check_param(i, p) for i, p in enumerate(params)]
        seen: dict[int, int] = {}
        for i, p in enumerate(self.params):
            if id(p) in seen:
                raise ValueError(f"params[{i}] is the same array as params[{seen[id(p)]}]")
            seen[id(p)] = i
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unknown options {unknown}; "
                f"it takes {sorted(self.defaults)} and nonfinite"
            )
        self.options = {**self.defaults, **options}
        self._validate(self.options)
        self.nonfinite = nonfinite
        self.state: list[dict[str, Any]] = [{} for _ in self.params]

    @property
    def nonfinite(self) -> str:
        """The non-finite gradient policy (see the class docstring)."""
        return self._nonfinite

    @nonfinite.setter
    def nonfinite(self, value: str) -> None:
        if value not in NONFINITE_POLICIES:
            raise ValueError(f"nonfinite must be one of {NONFINITE_POLICIES}, got {value!r}")
        self._nonfinite = value

    # ------------------------------------------------------------ subclass API

    @abc.abstractmethod
    def _validate(self, options: dict[str, Any]) -> None:
        """Raise ValueError for an invalid option value (torch's checks)."""

    @abc.abstractmethod
    def _buffers(self, options: dict[str, Any]) -> dict[str, float]:
        """The state buffers a parameter needs now, with their initial fill value."""

    @abc.abstractmethod
    def _update(
        self, params: list[np.ndarray], grads: list[np.ndarray], states: list[dict[str, Any]]
    ) -> None:
        """Run the core kernel on the stepping parameters, dtypes mixed (steps already
        counted in ``states``); :meth:`_plan` prepares its call."""

    # ------------------------------------------------------------ stepping

    def step(self, grads: Sequence[np.ndarray | None]) -> bool:
        """Update every parameter in place from its gradient.

        Parameters
        ----------
        grads : sequence of numpy.ndarray or None
            One per parameter, same shape and dtype; ``None`` leaves that parameter and
            its state untouched (as a torch parameter without ``.grad``). Gradients need
            not be contiguous (non-contiguous ones, and ones sharing memory with their
            parameter, are copied first).

        Returns
        -------
        bool
            True when the step was applied, False when ``nonfinite="skip"`` skipped it.
        """
        self._validate(self.options)
        if isinstance(grads, np.ndarray):
            grads = [grads]
        if len(grads) != len(self.params):
            raise ValueError(f"step got {len(grads)} gradients for {len(self.params)} params")
        active: list[int] = []
        checked: list[np.ndarray] = []
        for i, (p, g) in enumerate(zip(self.params, grads, strict=True)):
            if g is None:
                continue
            if not isinstance(g, np.ndarray):
                raise TypeError(f"grads[{i}] must be a numpy array or None, got {type(g).__name__}")
            if g.shape != p.shape:
                raise ValueError(f"grads[{i}] has shape {g.shape}, params[{i}] has {p.shape}")
            if g.dtype != p.dtype:
                raise TypeError(f"grads[{i}] has dtype {g.dtype}, params[{i}] has {p.dtype}")
            g = np.ascontiguousarray(g)
            if np.may_share_memory(g, p):  # the core's loops assume no overlap
                g = g.copy()
            active.append(i)
            checked.append(g)
        if self._nonfinite != "propagate" and checked:
            bad = self._first_nonfinite(checked)
            if bad is not None:
                if self._nonfinite == "skip":
                    return False
                k, flat = bad
                value = checked[k].reshape(-1)[flat]
                raise ValueError(
                    f"grads[{active[k]}] holds a non-finite value ({value}) at flat index "
                    f"{flat}; nothing was updated. Pass nonfinite='skip' to skip such "
                    "steps or nonfinite='propagate' to apply them"
                )
        need = self._buffers(self.options)
        for i in active:
            st = self.state[i]
            st["step"] = st.get("step", 0) + 1
            p = self.params[i]
            for name, fill in need.items():
                if st.get(name) is None and fill is not None:
                    st[name] = np.full(p.shape, fill, dtype=p.dtype)
        if active:  # one core call for all of them, dtypes mixed
            self._update(
                [self.params[i] for i in active], checked, [self.state[i] for i in active]
            )
        return True

    @staticmethod
    def _plan(
        params: list[np.ndarray],
        grads: list[np.ndarray],
        states: list[dict[str, Any]],
        buffers: Sequence[str | None],
        counted: bool,
    ) -> Any:
        """The core's prepared call over ``params``: ``buffers`` names the state
        buffers of its lists s1, s2, s3 (None: unused); with ``counted`` the core
        counts the steps, from ``step - 1`` (the counts are already up to date here)."""
        from calipers._core import _optim

        lists = [None if n is None else [st[n] for st in states] for n in buffers]
        steps = None
        if counted:
            steps = list(np.array([[st["step"] - 1] for st in states], dtype=np.float64))
        plan = _optim.Plan(params, *lists, *([None] * (3 - len(lists))), steps=steps)
        plan.set_grads(grads)
        return plan

    @staticmethod
    def _first_nonfinite(grads: list[np.ndarray]) -> tuple[int, int] | None:
        from calipers._core import _optim

        return _optim.first_nonfinite(grads)

    # ------------------------------------------------------------ state

    def zero_state(self) -> None:
        """Forget all state (buffers and step counts), as a freshly built optimizer."""
        self.state = [{} for _ in self.params]

    def state_dict(self) -> dict[str, Any]:
        """A copy of the options and per-parameter state (arrays copied).

        Returns
        -------
        dict
            ``{"options": {...}, "nonfinite": str, "state": {index: {"step": int,
            buffer name: numpy.ndarray, ...}}}``; parameters that never stepped have
            no entry.
        """
        return {
            "options": dict(self.options),
            "nonfinite": self._nonfinite,
            "state": {
                i: {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in st.items()}
                for i, st in enumerate(self.state)
                if st
            },
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore options and state from :meth:`state_dict` (arrays are copied).

        Raises
        ------
        ValueError
            A state names a parameter index that does not exist, or a buffer whose
            shape differs from its parameter's; nothing is changed then.
        """
        missing = {"options", "state"} - set(state_dict)
        if missing:
            raise ValueError(f"state_dict lacks {sorted(missing)}")
        options = {**self.defaults, **dict(state_dict["options"])}
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            raise ValueError(f"state_dict has options {unknown} that {type(self).__name__} lacks")
        self._validate(options)
        new: list[dict[str, Any]] = [{} for _ in self.params]
        for key, st in dict(state_dict["state"]).items():
            i = int(key)
            if not 0 <= i < len(self.params):
                raise ValueError(f"state_dict has state for parameter {key}; there are "
                                 f"{len(self.params)}")
            p = self.params[i]
            for name, v in st.items():
                if name == "step":
                    new[i]["step"] = int(v)
                elif v is None:
                    new[i][name] = None
                else:
                    a = np.asarray(v)
                    if a.shape != p.shape:
                        raise ValueError(f"state_dict's {name!r} for parameter {i} has shape "
                                         f"{a.shape}, the parameter {p.shape}")
                    new[i][name] = np.array(a, dtype=p.dtype, order="C", copy=True)
        self.options = options
        if "nonfinite" in state_dict:
            self.nonfinite = state_dict["nonfinite"]
        self.state = new

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({len(self.params)} params, {opts})"
