"""The spaces the searcher checks search, and what a proposal in a space may be.

:func:`default_space` and :func:`grid_space` are the spaces the checks use when none
is given; :func:`proposal_problem` says what is wrong with an assignment a searcher
proposed (``None`` when it lies in the space).
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Collection, Mapping
from typing import Any

__all__ = ["default_space", "grid_space", "proposal_problem"]


def default_space() -> Any:
    """The checks' default space: a categorical parent, a log Float and a stepped Int
    conditional on it, a log Int conditional on that Int, an unconditional Float and
    stepped Int, and a categorical whose choices ``False``, ``True``, ``0``, ``None``
    must come back exactly (``True`` is not ``1``)."""
    from calipers.search import Categorical, Float, Int, SearchSpace

    return SearchSpace({
        "model": Categorical(["linear", "tree", "none"]),
        "alpha": Float(1e-4, 10.0, log=True, condition=("model", ["linear"])),
        "depth": Int(2, 12, step=2, condition=("model", ["tree"])),
        "leaves": Int(1, 64, log=True, condition=("depth", [8, 10, 12])),
        "shift": Float(-1.0, 1.0),
        "batch": Int(16, 64, step=16),
        "flag": Categorical([False, True, 0, None]),
    })


def grid_space() -> Any:
    """:func:`default_space` without Floats (for searchers that need a finite grid)."""
    from calipers.search import Categorical, Int, SearchSpace

    return SearchSpace({
        "model": Categorical(["linear", "tree", "none"]),
        "alpha": Int(1, 8, log=True, condition=("model", ["linear"])),
        "depth": Int(2, 12, step=2, condition=("model", ["tree"])),
        "leaves": Int(1, 4, log=True, condition=("depth", [8, 10, 12])),
        "batch": Int(16, 64, step=16),
        "flag": Categorical([False, True, 0, None]),
    })


def _canonical(params: Any) -> str:
    """Text that tells apart what ``==`` confuses (``True`` and ``1``, ``1`` and ``1.0``)."""
    return json.dumps(params, sort_keys=True, default=repr)


def _value_problem(name: str, param: Any, value: Any) -> str | None:
    kind = getattr(param, "kind", "")
    if kind in ("float", "int"):
        want = "a float" if kind == "float" else "an int"
        ok_type = (isinstance(value, numbers.Real) and not isinstance(value, bool)
                   and isinstance(value, numbers.Integral) == (kind == "int"))
        if not ok_type:
            return f"{name}={value!r} is a {type(value).__name__}; {param!r} takes {want}"
        if not math.isfinite(value) or not param.low <= value <= param.high:
            return f"{name}={value!r} is outside [{param.low!r}, {param.high!r}]"
        if param.log and not value > 0:
            return f"{name}={value!r} is not > 0 on a log scale"
        step = getattr(param, "step", 1)
        if kind == "int" and (value - param.low) % step:
            return f"{name}={value!r} is not on the grid {param.low}, {param.low + step}, ..."
        return None
    for choice in param.choices:
        if _canonical(choice) == _canonical(value):
            return None
    return f"{name}={value!r} is not one of the choices {list(param.choices)!r}"


def proposal_problem(space: Any, params: Any, extra: Collection[str] = ()) -> str | None:
    """What is wrong with proposal ``params`` in ``space`` (``None``: nothing).

    Keys in ``extra`` (e.g. halving's ``budget``) are allowed besides the space's.
    Checked: a dict; no unknown keys; every active parameter present and every
    inactive one absent (parents before children); Int values ints on their step
    grid, Float values finite floats (``> 0`` when log), both within their bounds;
    categorical values exactly one of the choices (``True`` is not ``1``).
    """
    if not isinstance(params, Mapping):
        return f"ask returned a {type(params).__name__}, not a dict name -> value"
    unknown = [k for k in params if k not in space and k not in extra]
    if unknown:
        return f"{', '.join(map(repr, unknown))} not in the space (it has {space.names})"
    seen: dict[str, Any] = {}
    for name in space.names:
        active = name in space.active(seen)
        if active and name not in params:
            return f"the active parameter {name!r} is missing"
        if not active and name in params:
            cond = space[name].condition
            got = seen.get(cond.parent, "absent")
            return (f"{name!r} is present but inactive: it needs {cond.parent} in "
                    f"{list(cond.values)!r}, and {cond.parent} is {got!r}")
        if active:
            problem = _value_problem(name, space[name], params[name])
            if problem:
                return problem
            seen[name] = params[name]
    return None
