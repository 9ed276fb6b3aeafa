"""Declared metric states (``Metric.add_state``): validation, copies and merge rules."""

from __future__ import annotations

import copy
import keyword
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["DECLARED_ATTR", "MERGES", "StateSpec", "check_loaded", "fresh", "merge_values",
           "snapshot", "state_copy"]

#: Instance attribute holding ``{state name: StateSpec}``, in declaration order.
DECLARED_ATTR = "_declared_states"
#: The named merge rules.
MERGES = ("sum", "max", "min", "cat")

_SCALARS = (bool, int, float, np.generic)
_PY_NUMBERS = (int, float)
_PY_OPS: dict[str, Callable[[Any, Any], Any]] = {"sum": operator.add, "max": max, "min": min}


@dataclass(frozen=True)
class StateSpec:
    """One declared state: its empty value and how two values merge."""

    default: Any
    merge: str | Callable[[Any, Any], Any]

    @classmethod
    def make(cls, owner: type, name: Any, default: Any, merge: Any) -> StateSpec:
        """Validate an ``add_state`` call (see :meth:`calipers.metrics.Metric.add_state`)."""
        where = f"{owner.__name__}.add_state"
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) \
                or name.startswith("_"):
            raise ValueError(
                f"{where}: name must be an identifier not starting with '_', got {name!r}"
            )
        if hasattr(owner, name):
            raise ValueError(
                f"{where}: {name!r} is already an attribute of {owner.__name__} "
                "(a method or class attribute); choose another state name"
            )
        if not (callable(merge) or merge in MERGES):
            raise ValueError(
                f"{where}({name!r}): merge must be one of {', '.join(map(repr, MERGES))} "
                f"or a callable(mine, theirs) -> merged, got {merge!r}"
            )
        if merge == "cat":
            if not (isinstance(default, list) and not default):
                raise ValueError(
                    f"{where}({name!r}): a merge='cat' state is a list of arrays that "
                    f"update() appends to; its default must be [], got {default!r}"
                )
        elif isinstance(default, np.ndarray):
            if default.dtype.kind not in "biuf":
                raise ValueError(
                    f"{where}({name!r}): an array state must be numeric, got dtype "
                    f"{default.dtype}"
                )
            default = default.copy()
        elif isinstance(default, _SCALARS):
            pass
        elif not callable(merge):
            raise ValueError(
                f"{where}({name!r}): default must be a number, a numpy array or [] (for "
                f"merge='cat'), got {type(default).__name__}; other types need a callable "
                "merge"
            )
        return cls(default, merge)


def fresh(default: Any) -> Any:
    """A new empty value from a default (arrays and lists are copied)."""
    if isinstance(default, np.ndarray):
        return default.copy()
    if isinstance(default, _SCALARS):
        return default
    return copy.deepcopy(default)


def state_copy(value: Any) -> Any:
    """A copy of a state value that later updates cannot change."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list):
        return [v.copy() if isinstance(v, np.ndarray) else copy.deepcopy(v) for v in value]
    if isinstance(value, _SCALARS):
        return value
    return copy.deepcopy(value)


def snapshot(value: Any) -> Any:
    """What to put back to undo an update's changes to ``value``.

    Arrays are copied (an update may add in place); a list keeps its items (an
    update appends, and appended arrays are the update's own) but not its length.
    """
    kind = type(value)
    if kind is float or kind is int:  # the common case first: immutable
        return value
    if kind is np.ndarray:
        return value.copy()
    if kind is list:
        return list(value)
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, np.ndarray):
        return value.copy()
    return copy.deepcopy(value)


def merge_values(name: str, rule: str | Callable[[Any, Any], Any], mine: Any, theirs: Any
                 ) -> Any:
    """Combine two values of the state ``name`` by ``rule``; never modifies either."""
    if callable(rule):
        return rule(mine, theirs)
    if rule == "cat":
        if not isinstance(mine, list) or not isinstance(theirs, list):
            raise TypeError(
                f"state {name!r} (merge='cat') must stay a list of arrays; got "
                f"{type(mine).__name__} and {type(theirs).__name__}: append to it in "
                "update() instead of replacing it"
            )
        return [*mine, *theirs]
    if type(mine) in _PY_NUMBERS and type(theirs) in _PY_NUMBERS:  # the common fast case
        return _PY_OPS[rule](mine, theirs)
    a, b = np.asarray(mine), np.asarray(theirs)
    if a.shape != b.shape:
        raise ValueError(
            f"cannot merge state {name!r}: shapes {a.shape} and {b.shape} differ"
        )
    if rule == "sum":
        out = mine + theirs
    elif rule == "max":
        out = np.maximum(mine, theirs)
    else:
        out = np.minimum(mine, theirs)
    if isinstance(mine, (int, float)) and not isinstance(mine, bool) and \
            isinstance(out, np.generic):
        out = out.item()
    return out


def check_loaded(name: str, spec: StateSpec, value: Any) -> Any:
    """Validate a state value from ``load_state_dict``; return a private copy of it."""
    if spec.merge == "cat":
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"state {name!r} must be a list of arrays, got "
                             f"{type(value).__name__}")
        return state_copy(list(value))
    if isinstance(spec.default, np.ndarray):
        arr = np.asarray(value)
        if arr.shape != spec.default.shape and not callable(spec.merge):
            raise ValueError(
                f"state {name!r} has shape {arr.shape}, expected {spec.default.shape}"
            )
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"state {name!r} must be numeric, got dtype {arr.dtype}")
        return arr.astype(spec.default.dtype, copy=True) \
            if np.can_cast(arr.dtype, spec.default.dtype, "same_kind") else arr.copy()
    if isinstance(spec.default, _SCALARS) and not callable(spec.merge):
        if not isinstance(value, (*_SCALARS, np.ndarray)) or np.ndim(value) != 0:
            raise ValueError(f"state {name!r} must be a number, got {value!r}")
        return value.item() if isinstance(value, np.ndarray) else value
    return state_copy(value)
