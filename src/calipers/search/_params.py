"""The parameters of a search space: :class:`Float`, :class:`Int`, :class:`Categorical`.

Each parameter knows its own values: how to check one (:meth:`Param.validate`), draw
one (:meth:`Param.sample`), list them for a grid, and map one to and from the unit
interval for model-based searchers. A :class:`Condition` makes a parameter active
only when a parent parameter takes given values; the :class:`SearchSpace` that holds
the parameters checks the conditions against each other.
"""

from __future__ import annotations

import abc
import math
import numbers
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import numpy as np

from calipers.search._condition import Condition, plain, same_value

__all__ = ["Categorical", "Condition", "Float", "Int", "Param"]  # Condition re-exported


def _label(name: str | None) -> str:
    return f"parameter {name!r}: " if name else ""


def _is_real(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))


def _is_integer(x: Any) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_))


class Param(abc.ABC):
    """Base class of search-space parameters.

    Attributes
    ----------
    kind : str
        ``"float"``, ``"int"`` or ``"categorical"``.
    condition : Condition or None
        When it is not ``None`` the parameter is active only under it.
    width : int
        Number of dimensions of the parameter in :meth:`SearchSpace.encode`.
    """

    kind: ClassVar[str] = ""
    condition: Condition | None
    width: int = 1

    @abc.abstractmethod
    def validate(self, value: Any, name: str | None = None) -> Any:
        """Return ``value`` normalized (Python int/float or the matching choice).

        Raises ``ValueError`` naming ``name`` if the value is not in the parameter.
        """

    @abc.abstractmethod
    def sample(self, rng: np.random.Generator) -> Any:
        """Draw one value with ``rng``."""

    @abc.abstractmethod
    def grid_values(self, name: str | None = None) -> Sequence[Any]:
        """Every value, in order (raises ``ValueError`` for a :class:`Float`)."""

    @abc.abstractmethod
    def encode(self, value: Any) -> list[float]:
        """Map a validated value to ``width`` numbers in [0, 1]."""

    @abc.abstractmethod
    def decode(self, x: np.ndarray) -> Any:
        """Map ``width`` numbers (clipped to [0, 1]) back to the nearest value."""

    @abc.abstractmethod
    def _fields(self) -> dict[str, Any]:
        """Constructor arguments besides ``condition``, JSON-ready."""

    def key(self, value: Any) -> Any:
        """A hashable key of ``value`` that conditions on this parameter compare."""
        raise ValueError(
            f"a {type(self).__name__} cannot be a condition parent; use a Categorical or Int parent"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (see :meth:`SearchSpace.to_dict`)."""
        out: dict[str, Any] = {"type": self.kind, **self._fields()}
        if self.condition is not None:
            cond = self.condition
            out["condition"] = {"parent": cond.parent, "values": list(cond.values)}
        return out

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Param)
        return self._same_fields(other) and self.condition == other.condition

    def _same_fields(self, other: Param) -> bool:
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(repr(self))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._fields().items())
        if self.condition is not None:
            args += f", condition={self.condition!r}"
        return f"{type(self).__name__}({args})"


class _Numeric(Param):
    low: float
    high: float
    log: bool

    def _unit(self, v: float) -> float:
        if self.log:
            return (math.log(v) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (v - self.low) / (self.high - self.low)

    def _from_unit(self, u: float) -> float:
        u = min(max(float(u), 0.0), 1.0)
        if self.log:
            lo, hi = math.log(self.low), math.log(self.high)
            v = math.exp(lo + u * (hi - lo))
        else:
            v = self.low + u * (self.high - self.low)
        # rounding may step just past a bound
        return min(max(v, self.low), self.high)

    def encode(self, value: Any) -> list[float]:
        return [min(max(self._unit(value), 0.0), 1.0)]


class Float(_Numeric):
    """A real parameter in ``[low, high]``.

    Parameters
    ----------
    low, high : float
        Bounds (both included), finite, ``low < high``.
    log : bool, default False
        Sample and encode uniformly in ``log(value)`` (needs ``low > 0``).
    condition : Condition, tuple or dict, optional
        See :class:`Condition`.
    """

    kind = "float"

    def __init__(
        self, low: float, high: float, *, log: bool = False, condition: Any = None
    ) -> None:
        for label, bound in (("low", low), ("high", high)):
            if not _is_real(bound):
                raise TypeError(f"Float {label} must be a real number, got {bound!r}")
            if not math.isfinite(bound):
                raise ValueError(f"Float {label} must be finite, got {bound!r}")
        self.low, self.high, self.log = float(low), float(high), bool(log)
        if not self.low < self.high:
            raise ValueError(f"Float low must be less than high, got low={low!r}, high={high!r}")
        if self.log and self.low <= 0:
            raise ValueError(f"Float with log=True needs low > 0, got low={low!r}")
        self.condition = Condition.coerce(condition)

    def _fields(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high, "log": self.log}

    def validate(self, value: Any, name: str | None = None) -> float:
        if not _is_real(value):
            raise ValueError(f"{_label(name)}{value!r} is not a real number ({self!r})")
        v = float(value)
        if not self.low <= v <= self.high:
            raise ValueError(f"{_label(name)}{value!r} is outside [{self.low!r}, {self.high!r}]")
        return v

    def sample(self, rng: np.random.Generator) -> float:
        return self._from_unit(rng.random())

    def grid_values(self, name: str | None = None) -> Sequence[Any]:
        raise ValueError(f"Float {name!r} has no grid; use Categorical or Int")

    def decode(self, x: np.ndarray) -> float:
        return self._from_unit(x[0])


class Int(_Numeric):
    """An integer parameter: ``low, low + step, ..., high``.

    Parameters
    ----------
    low, high : int
        Bounds (both included), ``low < high``.
    log : bool, default False
        Sample and encode uniformly in ``log(value)`` (needs ``low > 0`` and
        ``step == 1``).
    step : int, default 1
        Spacing of the values; must divide ``high - low``.
    condition : Condition, tuple or dict, optional
        See :class:`Condition`.
    """

    kind = "int"

    def __init__(
        self, low: int, high: int, *, log: bool = False, step: int = 1, condition: Any = None
    ) -> None:
        for label, value in (("low", low), ("high", high), ("step", step)):
            if not _is_integer(value):
                raise TypeError(f"Int {label} must be an integer, got {value!r}")
        self.low, self.high, self.step, self.log = int(low), int(high), int(step), bool(log)
        if not self.low < self.high:
            raise ValueError(f"Int low must be less than high, got low={low!r}, high={high!r}")
        if self.step < 1:
            raise ValueError(f"Int step must be >= 1, got step={step!r}")
        if (self.high - self.low) % self.step:
            raise ValueError(
                f"Int step={step!r} does not divide high - low = {self.high - self.low}; "
                f"use high={self.low + (self.high - self.low) // self.step * self.step}"
            )
        if self.log and self.low <= 0:
            raise ValueError(f"Int with log=True needs low > 0, got low={low!r}")
        if self.log and self.step != 1:
            raise ValueError(f"Int with log=True needs step=1, got step={step!r}")
        self.condition = Condition.coerce(condition)
        self.size = (self.high - self.low) // self.step + 1

    def _fields(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high, "log": self.log, "step": self.step}

    def validate(self, value: Any, name: str | None = None) -> int:
        if _is_integer(value):
            v = int(value)
        elif _is_real(value) and math.isfinite(value) and float(value).is_integer():
            v = int(value)
        else:
            raise ValueError(f"{_label(name)}{value!r} is not an integer ({self!r})")
        if not self.low <= v <= self.high:
            raise ValueError(f"{_label(name)}{value!r} is outside [{self.low}, {self.high}]")
        if (v - self.low) % self.step:
            raise ValueError(
                f"{_label(name)}{value!r} is not on the step grid low={self.low}, step={self.step}"
            )
        return v

    def key(self, value: Any) -> Any:
        return self.validate(value)

    def sample(self, rng: np.random.Generator) -> int:
        if self.log:
            # Uniform in log space over [low - 1/2, high + 1/2], rounded: every
            # integer gets the log-width of its rounding interval.
            lo, hi = math.log(self.low - 0.5), math.log(self.high + 0.5)
            v = round(math.exp(lo + rng.random() * (hi - lo)))
            return min(max(v, self.low), self.high)
        return self.low + int(rng.integers(self.size)) * self.step

    def grid_values(self, name: str | None = None) -> Sequence[Any]:
        return range(self.low, self.high + 1, self.step)

    def decode(self, x: np.ndarray) -> int:
        if self.log:
            v = round(self._from_unit(x[0]))
            return min(max(v, self.low), self.high)
        u = min(max(float(x[0]), 0.0), 1.0)
        return self.low + round(u * (self.size - 1)) * self.step


class Categorical(Param):
    """A parameter taking one of ``choices`` (any values, in a fixed order).

    It behaves as the sequence of its choices (``len``, indexing, iteration).

    Parameters
    ----------
    choices : list or tuple
        The values, at least one, no duplicates. Numpy scalars are stored as the
        Python scalars they hold.
    condition : Condition, tuple or dict, optional
        See :class:`Condition`.
    """

    kind = "categorical"

    def __init__(self, choices: Sequence[Any], *, condition: Any = None) -> None:
        if isinstance(choices, (str, bytes)) or not isinstance(choices, (Sequence, np.ndarray)):
            raise TypeError(f"Categorical choices must be a list or tuple, got {choices!r}")
        values = tuple(plain(c) for c in choices)
        if not values:
            raise ValueError("Categorical choices must not be empty")
        for i, c in enumerate(values):
            if any(same_value(c, d) for d in values[:i]):
                raise ValueError(f"Categorical choices contain {c!r} twice: {list(values)!r}")
        self.choices = values
        self.width = len(values)
        self.condition = Condition.coerce(condition)

    def __len__(self) -> int:
        return len(self.choices)

    def __getitem__(self, i: int) -> Any:
        return self.choices[i]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.choices)

    def _fields(self) -> dict[str, Any]:
        return {"choices": list(self.choices)}

    def _same_fields(self, other: Param) -> bool:
        assert isinstance(other, Categorical)
        return len(self.choices) == len(other.choices) and all(
            same_value(a, b) for a, b in zip(self.choices, other.choices, strict=True)
        )

    def index(self, value: Any, name: str | None = None) -> int:
        """Position of ``value`` among the choices (``ValueError`` if absent)."""
        for i, c in enumerate(self.choices):
            if c is value:
                return i
        for i, c in enumerate(self.choices):
            if same_value(c, value):
                return i
        raise ValueError(
            f"{_label(name)}{value!r} is not one of the choices {list(self.choices)!r}"
        )

    def key(self, value: Any) -> Any:
        return self.index(value)

    def validate(self, value: Any, name: str | None = None) -> Any:
        return self.choices[self.index(value, name)]

    def sample(self, rng: np.random.Generator) -> Any:
        return self.choices[int(rng.integers(len(self.choices)))]

    def grid_values(self, name: str | None = None) -> Sequence[Any]:
        return list(self.choices)

    def encode(self, value: Any) -> list[float]:
        out = [0.0] * len(self.choices)
        out[self.index(value)] = 1.0
        return out

    def decode(self, x: np.ndarray) -> Any:
        return self.choices[int(np.argmax(x))]
