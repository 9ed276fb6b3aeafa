""":class:`SearchSpace`: named parameters, their conditions, and what searchers need.

A space validates an assignment of values, draws random ones, enumerates its grid
(scikit-learn's ``ParameterGrid`` order), and encodes assignments as points of the
unit cube for model-based searchers. Conditional parameters are active only when
their parent takes given values; everything here deals only in active parameters.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from calipers.search import _encoding
from calipers.search._params import Categorical, Param

__all__ = ["SearchSpace"]

_INACTIVE = object()  # grid marker: the parameter is not active in this combination


def _as_param(name: Any, value: Any) -> Param:
    if not isinstance(name, str) or not name:
        raise TypeError(f"parameter names must be non-empty strings, got {name!r}")
    if isinstance(value, Param):
        return value
    if isinstance(value, (list, tuple, range, np.ndarray)):
        try:
            return Categorical(value)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"parameter {name!r}: {exc}") from None
    raise TypeError(
        f"parameter {name!r}: expected Float, Int, Categorical or a list of choices, got {value!r}"
    )


def _order(params: dict[str, Param]) -> list[str]:
    """Names with every parent before its children, otherwise in the given order."""
    done: list[str] = []
    placed: set[str] = set()
    left = list(params)
    while left:
        ready = [
            n for n in left if params[n].condition is None or params[n].condition.parent in placed
        ]
        if not ready:
            # every name left waits on another one left: follow parents to a cycle
            path = [left[0]]
            while True:
                parent = params[path[-1]].condition.parent  # type: ignore[union-attr]
                if parent in path:
                    cycle = path[path.index(parent) :] + [parent]
                    raise ValueError(f"conditions form a cycle: {' -> '.join(cycle)}")
                path.append(parent)
        for n in ready:
            placed.add(n)
            done.append(n)
        left = [n for n in left if n not in placed]
    return done


class SearchSpace(Mapping[str, Param]):
    """Named parameters to search over.

    Parameters
    ----------
    params : Mapping[str, Param]
        Parameter name -> :class:`Float`, :class:`Int` or :class:`Categorical`
        (a list or tuple is taken as the choices of a :class:`Categorical`).

    Attributes
    ----------
    names : list[str]
        Parameter names, parents before their children, otherwise in the given order.
    dim : int
        Number of dimensions of :meth:`encode`.
    columns : list[tuple[str, str]]
        ``(name, kind)`` of each encoded dimension, kind ``"float"``, ``"int"`` or
        ``"onehot"`` (one per choice of a categorical).

    Raises
    ------
    ValueError
        For a condition on an unknown parent, on a :class:`Float` parent, with a
        value the parent cannot take, or conditions that form a cycle.
    """

    def __init__(self, params: Mapping[str, Any]) -> None:
        if not isinstance(params, Mapping):
            raise TypeError(f"SearchSpace takes a mapping name -> parameter, got {params!r}")
        given = {name: _as_param(name, value) for name, value in params.items()}
        self._cond: dict[str, tuple[str, frozenset[Any]]] = {}
        for name, param in given.items():
            cond = param.condition
            if cond is None:
                continue
            if cond.parent not in given:
                close = difflib.get_close_matches(cond.parent, list(given), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(
                    f"parameter {name!r}: condition parent {cond.parent!r} is not in the "
                    f"space{hint}; the space has {', '.join(map(repr, given))}"
                )
            parent = given[cond.parent]
            if parent.kind == "float":
                raise ValueError(
                    f"parameter {name!r}: condition parent {cond.parent!r} is a Float; "
                    "a condition needs a Categorical or Int parent"
                )
            keys = set()
            for v in cond.values:
                try:
                    keys.add(parent.key(v))
                except ValueError:
                    raise ValueError(
                        f"parameter {name!r}: condition value {v!r} is not a value of "
                        f"{cond.parent!r} ({parent!r})"
                    ) from None
            self._cond[name] = (cond.parent, frozenset(keys))
        self.names: list[str] = _order(given)
        self._params = {n: given[n] for n in self.names}
        self.columns: list[tuple[str, str]] = []
        self._slices: dict[str, slice] = {}
        for name, param in self._params.items():
            start = len(self.columns)
            kind = "onehot" if isinstance(param, Categorical) else param.kind
            self.columns.extend([(name, kind)] * param.width)
            self._slices[name] = slice(start, len(self.columns))
        self.dim = len(self.columns)

    @classmethod
    def coerce(cls, space: Any) -> SearchSpace:
        """Return ``space`` as a :class:`SearchSpace`.

        Accepts a SearchSpace (returned as is) or a dict of name -> parameter, where
        a list means the choices of a :class:`Categorical` (like scikit-learn's
        ``param_grid``).
        """
        if isinstance(space, SearchSpace):
            return space
        if isinstance(space, Mapping):
            return cls(space)
        if isinstance(space, Sequence) and not isinstance(space, (str, bytes)):
            raise TypeError(
                "a list of grids is not a search space; give one dict of parameters and "
                "make parameters conditional (condition=(parent, values)) instead"
            )
        raise TypeError(
            f"a search space must be a SearchSpace or a dict name -> parameter, got {space!r}"
        )

    # -- Mapping -----------------------------------------------------------------

    def __getitem__(self, name: str) -> Param:
        try:
            return self._params[name]
        except KeyError:
            raise KeyError(f"no parameter {name!r} in the space; it has {self.names}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self._params)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SearchSpace):
            return NotImplemented
        return self.names == other.names and all(
            self._params[n] == other._params[n] for n in self.names
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        body = ", ".join(f"{n!r}: {p!r}" for n, p in self._params.items())
        return f"SearchSpace({{{body}}})"

    # -- assignments -------------------------------------------------------------

    def _is_active(self, name: str, assigned: Mapping[str, Any]) -> bool:
        cond = self._cond.get(name)
        if cond is None:
            return True
        parent, keys = cond
        if parent not in assigned:
            return False
        try:
            return self._params[parent].key(assigned[parent]) in keys
        except ValueError:
            return False

    def active(self, params: Mapping[str, Any]) -> list[str]:
        """Names active under ``params`` (a partial or complete assignment).

        A conditional parameter is active when its parent is active, assigned, and
        takes one of the condition's values.
        """
        assigned: dict[str, Any] = {}
        names = []
        for name in self.names:
            if self._is_active(name, assigned):
                names.append(name)
                if name in params:
                    assigned[name] = params[name]
        return names

    def validate(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Return ``params`` checked and normalized, in :attr:`names` order.

        Int values become ``int``, Float values ``float``, categorical values the
        matching choice.

        Raises
        ------
        ValueError
            For an unknown parameter, a value outside its parameter, a missing active
            parameter, or a given parameter that is inactive.
        """
        if not isinstance(params, Mapping):
            raise TypeError(f"params must be a mapping name -> value, got {params!r}")
        unknown = [k for k in params if k not in self._params]
        if unknown:
            raise ValueError(
                f"unknown parameter(s) {', '.join(map(repr, unknown))}; "
                f"the space has {', '.join(map(repr, self.names)) or 'no parameters'}"
            )
        out: dict[str, Any] = {}
        missing: list[str] = []
        for name in self.names:
            if self._is_active(name, out):
                if name in params:
                    out[name] = self._params[name].validate(params[name], name)
                else:
                    missing.append(name)
        if missing:
            raise ValueError(f"missing active parameter(s) {', '.join(map(repr, missing))}")
        extra = [k for k in params if k not in out]
        if extra:
            name = extra[0]
            parent, _ = self._cond[name]
            cond = self._params[name].condition
            got = f"{parent}={out[parent]!r}" if parent in out else f"{parent!r} inactive"
            raise ValueError(
                f"parameter {name!r} is inactive (it needs {parent} in "
                f"{list(cond.values)!r}, got {got}) but was given"  # type: ignore[union-attr]
            )
        return out

    def key(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        """A hashable identity of a validated assignment (equal assignments, equal
        keys): ``(name, value)`` pairs, a categorical value as its choice index."""
        return tuple(
            (n, self._params[n].index(v) if isinstance(self._params[n], Categorical) else v)
            for n, v in sorted(params.items())
        )

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """Draw one assignment with ``rng``: active parameters only.

        Log parameters are uniform in log space, an :class:`Int` uniform over its
        steps, a :class:`Categorical` uniform over its choices.
        """
        out: dict[str, Any] = {}
        for name in self.names:
            if self._is_active(name, out):
                out[name] = self._params[name].sample(rng)
        return out

    # -- grid --------------------------------------------------------------------

    def _grid_plan(self) -> tuple[list[str], list[Sequence[Any]], list[list[str]]]:
        keys = sorted(self.names)
        values = []
        for k in keys:
            vals = self._params[k].grid_values(k)  # a range for an Int: never a huge list
            values.append([*vals, _INACTIVE] if k in self._cond else vals)
        # a parameter's activity is known once it and all its ancestors are set:
        # check it at the deepest of their positions
        position = {k: i for i, k in enumerate(keys)}
        checks: list[list[str]] = [[] for _ in keys]
        for name in self._cond:
            depth, node = position[name], name
            while node in self._cond:
                node = self._cond[node][0]
                depth = max(depth, position[node])
            checks[depth].append(name)
        return keys, values, checks

    def _consistent(self, name: str, assigned: dict[str, Any]) -> bool:
        """Whether ``name`` is marked inactive exactly when it is (its ancestors are
        assigned and were checked before it)."""
        parent, keys = self._cond[name]
        value = assigned[parent]
        active = value is not _INACTIVE and self._params[parent].key(value) in keys
        return active == (assigned[name] is not _INACTIVE)

    def grid(self) -> Iterator[dict[str, Any]]:
        """Every combination of values, in scikit-learn's ``ParameterGrid`` order.

        Names are sorted and the last one varies fastest. A conditional parameter
        appears only in the combinations where it is active; no combination repeats.

        Raises
        ------
        ValueError
            If the space has a :class:`Float` (it has no grid).
        """
        keys, values, checks = self._grid_plan()

        def walk(i: int, assigned: dict[str, Any]) -> Iterator[dict[str, Any]]:
            if i == len(keys):
                yield {k: v for k, v in assigned.items() if v is not _INACTIVE}
                return
            for v in values[i]:
                assigned[keys[i]] = v
                if all(self._consistent(n, assigned) for n in checks[i]):
                    yield from walk(i + 1, assigned)
            del assigned[keys[i]]

        return walk(0, {})

    def grid_size(self) -> int:
        """Number of combinations :meth:`grid` yields."""
        sizes = {}
        for name in sorted(self.names):  # the first Float by name raises, as grid() does
            param = self._params[name]
            sizes[name] = len(param.grid_values(name))
        if not self._cond:
            return math.prod(sizes.values())
        return sum(1 for _ in self.grid())

    # -- encoding ----------------------------------------------------------------

    def slice(self, name: str) -> slice:
        """The dimensions of ``name`` in :meth:`encode`'s vector."""
        return self._slices[name]

    def encode(self, params: Mapping[str, Any]) -> np.ndarray:
        """Map an assignment to a point of ``[0, 1] ** dim``.

        Float and Int are scaled linearly (or in log space for log parameters) from
        ``[low, high]``, an Int from its step index; a categorical is a one-hot
        block. An inactive numeric parameter is 0.5, an inactive categorical an
        all-zero block. :attr:`columns` describes the dimensions.
        """
        return _encoding.encode(self, self.validate(params))

    def decode(self, x: Any) -> dict[str, Any]:
        """Map a point of ``[0, 1] ** dim`` (clipped) to the nearest assignment.

        Int rounds to the nearest step, a one-hot block takes its argmax; inactive
        parameters are left out. ``decode(encode(p)) == p`` (Float values up to
        floating-point rounding).
        """
        return _encoding.decode(self, x)

    # -- storage -----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description; :meth:`from_dict` rebuilds the space.

        Categorical choices are stored as JSON data: None, bool, int, finite float
        and str as they are, lists and tuples and dicts of those tagged so that they
        come back as they were. Other choices (estimator objects, nan) are stored by
        their ``repr``: the description still compares spaces, but
        :meth:`from_dict` refuses to rebuild it.
        """
        return _encoding.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSpace:
        """Rebuild a space from :meth:`to_dict`'s output.

        Raises
        ------
        ValueError
            For a malformed description, or a choice that was stored by its repr.
        """
        return cls(_encoding.params_from_dict(data))
