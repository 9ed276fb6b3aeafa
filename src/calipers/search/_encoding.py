"""Encodings of a :class:`~calipers.search.SearchSpace` and its assignments.

Two encodings: assignments as points of the unit cube (for model-based searchers),
and the space itself as JSON-ready data (stored with a study).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from calipers.search._params import Categorical, Condition, Float, Int, Param

if TYPE_CHECKING:  # pragma: no cover
    from calipers.search._space import SearchSpace

_TYPES: dict[str, type[Param]] = {"float": Float, "int": Int, "categorical": Categorical}


def encode(space: SearchSpace, values: Mapping[str, Any]) -> np.ndarray:
    """``values`` (validated) as a vector of shape ``(space.dim,)`` in [0, 1]."""
    x = np.zeros(space.dim)
    for name in space.names:
        param, where = space[name], space.slice(name)
        if name in values:
            x[where] = param.encode(values[name])
        elif not isinstance(param, Categorical):
            x[where] = 0.5
    return x


def decode(space: SearchSpace, x: Any) -> dict[str, Any]:
    """The assignment nearest to the point ``x`` (clipped to [0, 1])."""
    x = np.asarray(x, dtype=float)
    if x.shape != (space.dim,):
        raise ValueError(f"decode needs a vector of shape ({space.dim},), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"decode needs finite numbers, got {x!r}")
    x = np.clip(x, 0.0, 1.0)
    out: dict[str, Any] = {}
    for name in space.names:
        if space._is_active(name, out):
            out[name] = space[name].decode(x[space.slice(name)])
    return out


def _to_json(value: Any) -> Any:
    """A choice as JSON data. JSON has no tuples and only str keys, so a tuple is
    ``{"tuple": [...]}``, a dict ``{"dict": [[key, value], ...]}``; anything else
    that is not None, a bool, an int, a finite float or a str is ``{"repr": ...}``
    (kept for comparison, not rebuildable)."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, tuple):
        return {"tuple": [_to_json(v) for v in value]}
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {"dict": [[_to_json(k), _to_json(v)] for k, v in value.items()]}
    return {"repr": repr(value)}


class _NotRebuildable(Exception):
    pass


def _from_json(value: Any) -> Any:
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    if not isinstance(value, Mapping):
        return value
    if set(value) == {"tuple"}:
        return tuple(_from_json(v) for v in value["tuple"])
    if set(value) == {"dict"}:
        return {_from_json(k): _from_json(v) for k, v in value["dict"]}
    if set(value) == {"repr"}:
        raise _NotRebuildable(value["repr"])
    raise ValueError(f"unknown encoded choice {value!r}")


def to_dict(space: SearchSpace) -> dict[str, Any]:
    """``{"params": [{"name", "type", fields..., "condition"?}, ...]}`` in names order."""
    params = []
    for name in space.names:
        param = space[name]
        item = {"name": name, **param.to_dict()}
        if isinstance(param, Categorical):
            item["choices"] = [_to_json(c) for c in param.choices]
        if "condition" in item:
            cond = item["condition"]
            item["condition"] = {**cond, "values": [_to_json(v) for v in cond["values"]]}
        params.append(item)
    return {"params": params}


def params_from_dict(data: Mapping[str, Any]) -> dict[str, Param]:
    """The parameters described by :func:`to_dict`'s output."""
    if not isinstance(data, Mapping) or not isinstance(data.get("params"), list):
        raise ValueError(f"not a search-space description (no 'params' list): {data!r}")
    params: dict[str, Param] = {}
    for item in data["params"]:
        if (
            not isinstance(item, Mapping)
            or item.get("type") not in _TYPES
            or not isinstance(item.get("name"), str)
        ):
            raise ValueError(
                f"bad parameter description {item!r}: needs a 'name' and a 'type' in "
                f"{sorted(_TYPES)}"
            )
        fields = {k: v for k, v in item.items() if k not in ("name", "type", "condition")}
        cond = item.get("condition")
        try:
            if cond is not None:
                cond = Condition(cond["parent"], [_from_json(v) for v in cond["values"]])
            if "choices" in fields:
                fields["choices"] = [_from_json(c) for c in fields["choices"]]
            param = _TYPES[item["type"]](**fields, condition=cond)
        except _NotRebuildable as exc:
            raise ValueError(
                f"parameter {item['name']!r}: the choice {exc} was stored by its repr and "
                "cannot be rebuilt from the stored description; pass the space itself"
            ) from None
        except (TypeError, KeyError) as exc:
            raise ValueError(f"bad parameter description {item!r}: {exc}") from None
        params[item["name"]] = param
    return params
