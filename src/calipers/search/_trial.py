"""Trials: the live :class:`Trial` an objective receives and the stored :class:`FrozenTrial`.

A :class:`Trial` is a read-only mapping of its parameters (so ``params["x"]`` code
works) that also reports intermediate values, asks whether to prune and sets user
attributes. It forwards those to a *sink*: the study itself when the objective runs in
the calling process, or a :class:`~calipers.search._parallel.ChannelClient` that talks
to the study over a local socket when it runs in a worker process. Either way every
write happens in the study's process.
"""

from __future__ import annotations

import datetime as _dt
import enum
import math
import numbers
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["FrozenTrial", "Trial", "TrialState"]


class TrialState(str, enum.Enum):
    """Life cycle of a trial: WAITING (enqueued) -> RUNNING -> COMPLETE|PRUNED|FAILED."""

    WAITING = "WAITING"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    PRUNED = "PRUNED"
    FAILED = "FAILED"

    @property
    def finished(self) -> bool:
        return self in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED)

    def __str__(self) -> str:
        return self.value


def _to_datetime(ts: float | None) -> _dt.datetime | None:
    if ts is None:
        return None
    return _dt.datetime.fromtimestamp(ts, tz=_dt.timezone.utc)


@dataclass(frozen=True)
class FrozenTrial:
    """One stored trial.

    Attributes
    ----------
    number : int
        Position in the study, 0-based, unique per study.
    params : dict
        The parameters the objective was called with.
    value : float or None
        The objective's return value (as returned, not negated), None unless COMPLETE.
    state : TrialState
    datetime_start, datetime_complete : datetime or None
        UTC start (when asked) and end (when told) times.
    intermediate_values : dict
        ``{step: value}`` reported through :meth:`Trial.report`.
    user_attrs : dict
        Set through :meth:`Trial.set_user_attr`.
    fail_reason : str or None
        The traceback (or reason) of a FAILED trial.
    """

    number: int
    params: dict[str, Any]
    value: float | None
    state: TrialState
    start: float | None = None
    complete: float | None = None
    intermediate_values: dict[int, float] = field(default_factory=dict)
    user_attrs: dict[str, Any] = field(default_factory=dict)
    fail_reason: str | None = None
    trial_id: int | None = field(default=None, compare=False, repr=False)

    @property
    def datetime_start(self) -> _dt.datetime | None:
        return _to_datetime(self.start)

    @property
    def datetime_complete(self) -> _dt.datetime | None:
        return _to_datetime(self.complete)

    @property
    def duration(self) -> _dt.timedelta | None:
        if self.start is None or self.complete is None:
            return None
        return self.datetime_complete - self.datetime_start  # type: ignore[operator]


class TrialSink(Protocol):
    """Where a :class:`Trial` sends what the objective reports."""

    def _trial_report(self, number: int, step: int, value: float) -> None: ...

    def _trial_should_prune(self, number: int) -> bool: ...

    def _trial_set_user_attr(self, number: int, key: str, value: Any) -> None: ...


def check_step_value(value: Any, step: Any) -> tuple[int, float]:
    """Validate an intermediate report; return ``(step, value)`` as ``(int, float)``."""
    if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
        raise ValueError(f"step must be a non-negative integer, got {step!r}")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"report() takes a float value, got {type(value).__name__} {value!r}")
    return int(step), float(value)


class Trial(Mapping[str, Any]):
    """The parameters of one trial, plus a channel back to the study.

    ``objective(trial)`` may use it as a dict (``trial["lr"]``, ``dict(trial)``) or
    call :meth:`report` / :meth:`should_prune` / :meth:`set_user_attr`.
    """

    __slots__ = ("_last_step", "_params", "_sink", "number")

    def __init__(self, number: int, params: Mapping[str, Any], sink: TrialSink) -> None:
        self.number = int(number)
        self._params = dict(params)
        self._sink = sink
        self._last_step: int | None = None

    @property
    def params(self) -> dict[str, Any]:
        """A copy of the parameters, ``{name: value}``."""
        return dict(self._params)

    def __getitem__(self, key: str) -> Any:
        return self._params[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __repr__(self) -> str:
        return f"Trial(number={self.number}, params={self._params!r})"

    def report(self, value: float, step: int) -> None:
        """Record the intermediate ``value`` at ``step`` (e.g. an epoch or a budget).

        The value is stored at once (reporting a step again overwrites it) and is what
        :meth:`should_prune` judges. Its sign follows the objective's direction.
        """
        step, value = check_step_value(value, step)
        self._sink._trial_report(self.number, step, value)
        self._last_step = step

    def should_prune(self) -> bool:
        """Whether the searcher would stop this trial given the values reported so far.

        ``False`` before the first :meth:`report`. When it is ``True`` the objective
        should ``raise calipers.search.TrialPruned()``.
        """
        if self._last_step is None:
            return False
        return bool(self._sink._trial_should_prune(self.number))

    def set_user_attr(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON-serializable) under ``key`` with this trial."""
        if not isinstance(key, str):
            raise TypeError(f"user attribute keys must be str, got {type(key).__name__}")
        self._sink._trial_set_user_attr(self.number, key, value)


def check_objective_value(result: Any) -> tuple[float | None, str | None]:
    """Return ``(value, None)`` for a usable objective result or ``(None, reason)``."""
    if isinstance(result, bool) or not isinstance(result, numbers.Real):
        try:
            import numpy as np

            if isinstance(result, np.ndarray) and result.shape == ():
                return check_objective_value(result.item())
        except ImportError:  # pragma: no cover
            pass
        return None, (
            f"the objective returned {type(result).__name__} {result!r:.80}; "
            "it must return a finite float"
        )
    value = float(result)
    if not math.isfinite(value):
        return None, f"the objective returned {value}; it must return a finite float"
    return value, None
