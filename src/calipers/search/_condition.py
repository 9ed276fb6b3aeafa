"""Conditions of search-space parameters, and how choices compare.

A :class:`Condition` makes a parameter active only when a parent parameter takes
given values. :func:`same_value` is the equality of categorical choices (and of the
condition values that refer to them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Condition", "plain", "same_value"]


def plain(x: Any) -> Any:
    """A numpy scalar as the Python scalar it holds; anything else unchanged."""
    return x.item() if isinstance(x, np.generic) else x


def same_value(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` are the same choice: equal, and both or neither a bool.

    ``True == 1`` in Python, but a choice ``True`` and a choice ``1`` are different
    choices; objects whose ``==`` does not give a bool (arrays) are equal only if
    they are the same object. A list and a tuple are the same when their items are
    (a tuple choice comes back from JSON storage as a list).
    """
    if a is b:
        return True
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (bool, np.bool_)) != isinstance(b, (bool, np.bool_)):
        return False
    if isinstance(a, str) != isinstance(b, str):
        return False
    try:
        equal = a == b
    except Exception:
        return False
    return bool(equal) if isinstance(equal, (bool, np.bool_)) else False


@dataclass(frozen=True)
class Condition:
    """Makes a parameter active only when ``parent`` is active and in ``values``.

    Parameters
    ----------
    parent : str
        Name of the parent parameter (a :class:`Categorical` or :class:`Int` of the
        same space).
    values : tuple
        The parent values under which the parameter is active. A single value that
        is not a list, tuple or set is taken as a one-value tuple.
    """

    parent: str
    values: tuple[Any, ...]

    def __init__(self, parent: str, values: Any) -> None:
        if not isinstance(parent, str) or not parent:
            raise TypeError(f"Condition parent must be a non-empty str, got {parent!r}")
        if isinstance(values, (list, tuple, set, frozenset, range)):
            values = tuple(plain(v) for v in values)
        else:
            values = (plain(values),)
        if not values:
            raise ValueError(f"Condition on {parent!r} needs at least one parent value")
        object.__setattr__(self, "parent", parent)
        object.__setattr__(self, "values", values)

    @classmethod
    def coerce(cls, condition: Any) -> Condition | None:
        """Return ``condition`` as a :class:`Condition` (or ``None``).

        Accepts a :class:`Condition`, a ``(parent, values)`` tuple or a one-item
        ``{parent: values}`` dict.
        """
        if condition is None or isinstance(condition, Condition):
            return condition
        if isinstance(condition, tuple) and len(condition) == 2:
            return cls(*condition)
        if isinstance(condition, Mapping) and len(condition) == 1:
            ((parent, values),) = condition.items()
            return cls(parent, values)
        raise TypeError(
            "condition must be None, a Condition(parent, values), a (parent, values) "
            f"tuple or a one-item {{parent: values}} dict, got {condition!r}"
        )

    def __repr__(self) -> str:
        return f"Condition({self.parent!r}, {self.values!r})"
