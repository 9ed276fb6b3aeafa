"""Hyper-parameter search: search spaces and the :class:`Searcher` contract.

A :class:`SearchSpace` names parameters (:class:`Float`, :class:`Int`,
:class:`Categorical`, optionally conditional on a parent). A searcher proposes
parameters (:meth:`Searcher.ask`) and learns from their objective values
(:meth:`Searcher.tell`). Plugins add searchers with the ``register_searcher`` hook;
``calipers.plugins.get("searcher", name)`` finds them (the host ships ``grid``,
``random`` and ``halving``). This import path is stable for third parties.

Everything but :class:`Searcher` and :class:`TrialPruned` is imported on first use.
"""

from __future__ import annotations

import importlib
import numbers
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from calipers.search._grid import GridSearcher
    from calipers.search._halving import HalvingSearcher
    from calipers.search._params import Categorical, Condition, Float, Int, Param
    from calipers.search._random import RandomSearcher
    from calipers.search._space import SearchSpace

__all__ = [
    "Categorical",
    "Condition",
    "CrossValObjective",
    "KFold",
    "StratifiedKFold",
    "check_cv",
    "cross_val_objective",
    "cross_validate",
    "get_scorer",
    "scorer_names",
    "Float",
    "GridSearcher",
    "HalvingSearcher",
    "Int",
    "Param",
    "RandomSearcher",
    "SearchSpace",
    "Searcher",
    "TrialPruned",
    "create_study",
    "load_study",
    "Study",
    "Trial",
    "FrozenTrial",
    "TrialState",
    *(_STORAGES := ("Storage", "InMemoryStorage", "SqlStorage", "StorageError",
                    "DuplicateStudyError", "UnknownStudyError")),
]

#: name -> module that defines it (imported on first access).
_LAZY: dict[str, str] = {
    "Float": "calipers.search._params",
    "Int": "calipers.search._params",
    "Categorical": "calipers.search._params",
    "Condition": "calipers.search._params",
    "Param": "calipers.search._params",
    "SearchSpace": "calipers.search._space",
    "GridSearcher": "calipers.search._grid",
    "RandomSearcher": "calipers.search._random",
    "HalvingSearcher": "calipers.search._halving",
    **dict.fromkeys(("KFold", "StratifiedKFold", "check_cv"), "calipers.search._cv_split"),
    **dict.fromkeys(
        ("cross_validate", "cross_val_objective", "CrossValObjective"), "calipers.search._cv"
    ),
    **dict.fromkeys(("get_scorer", "scorer_names"), "calipers.search._cv_scoring"),
    **dict.fromkeys(("create_study", "load_study"), "calipers.search._create"),
    "Study": "calipers.search._study",
    **dict.fromkeys(("Trial", "FrozenTrial", "TrialState"), "calipers.search._trial"),
    **dict.fromkeys(_STORAGES, "calipers.search._study"),  # _study resolves the storages
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'calipers.search' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class TrialPruned(Exception):
    """Raised by an objective to stop a trial early; the study records it PRUNED."""


def _entropy(seed: Any) -> int:
    if seed is None:
        return int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
    if isinstance(seed, np.random.SeedSequence):
        if not isinstance(seed.entropy, numbers.Integral):
            raise TypeError("seed: a SeedSequence with a sequence of entropy is not supported")
        return int(seed.entropy)
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be None or a non-negative int, got {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be None or a non-negative int, got {seed!r}")
    return int(seed)


def _check_number(number: Any) -> int:
    if isinstance(number, (bool, np.bool_)) or not isinstance(number, numbers.Integral):
        raise TypeError(f"trial number must be a non-negative int, got {number!r}")
    if number < 0:
        raise ValueError(f"trial number must be a non-negative int, got {number!r}")
    return int(number)


class Searcher:
    """Base class of searchers: ask for parameters, tell their objective value.

    Subclasses set :attr:`name` and :attr:`adaptive` and implement
    :meth:`_propose` (and :meth:`_observe` if they learn from values); the base
    class numbers trials, tracks pending parameters, records told values and
    replays stored trials. (Overriding :meth:`ask` / :meth:`tell` directly, as
    searchers written for calipers 0.1 do, still works.)

    Parameters
    ----------
    space : SearchSpace or dict
        The search space, coerced with :meth:`SearchSpace.coerce` (a dict of
        name -> parameter, a list meaning the choices of a categorical).
    seed : int, optional
        Seed. Trial ``number``'s randomness comes only from
        :meth:`trial_rng` ``(number)``, so the parameters of a trial are a function
        of (seed, number, the told values, the pending parameters). ``None`` draws
        fresh entropy once, kept in :attr:`entropy` so a study can record and replay it.
    **options
        Searcher-specific options; the base class accepts none and raises
        ``TypeError`` naming any it is given.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"random"`` (a class attribute).
    adaptive : bool
        Whether :meth:`ask` depends on told values (a class attribute). A study
        waits for a round's results before asking an adaptive searcher again.
    space : SearchSpace
        The search space.
    seed : int or None
        The ``seed`` given to the constructor.
    entropy : int
        The seed's entropy (the seed itself when it is an int).
    rng : numpy.random.Generator
        A generator seeded with :attr:`entropy`, for searcher-wide randomness that
        does not belong to one trial.
    told : list[tuple[dict, float]]
        Every told (or restored finished) ``(params, value)``, in order.

    Notes
    -----
    The value passed to :meth:`tell` is minimized; a study that maximizes a
    metric negates it before telling. ``nan`` and ``inf`` mean a failed trial,
    worse than any finite value. Values may be told in any order.
    """

    name: ClassVar[str] = ""
    adaptive: ClassVar[bool] = False

    def __init__(self, space: Any, seed: int | None = None, **options: Any) -> None:
        if options:
            raise TypeError(
                f"{type(self).__name__} got unknown option(s) {', '.join(sorted(options))}"
            )
        from calipers.search._space import SearchSpace

        self.space = SearchSpace.coerce(space)
        self.seed = seed
        self.entropy = _entropy(seed)
        self.rng = np.random.default_rng(self.entropy)
        self.told: list[tuple[dict[str, Any], float]] = []
        self._pending: dict[int, dict[str, Any]] = {}
        self._next_number = 0

    @property
    def extra_params(self) -> tuple[str, ...]:
        """Keys a proposal holds besides the space's parameters (default: none).

        A searcher that adds its own (halving adds the trial's budget) names them
        here; :func:`calipers.testing.check_searcher` allows exactly these.
        """
        return ()

    # -- what subclasses implement -------------------------------------------------

    def _propose(self, number: int) -> dict[str, Any]:
        """Return the parameters of trial ``number`` (randomness: ``trial_rng``)."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement _propose(number) (or override ask)"
        )

    def _observe(self, params: dict[str, Any], value: float, number: int | None) -> None:
        """Learn from a told or restored value (the base class already recorded it)."""

    def _normalize(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Check told parameters and put them in canonical form (used for matching)."""
        return self.space.validate(params)

    # -- the contract --------------------------------------------------------------

    def trial_rng(self, number: int) -> np.random.Generator:
        """The random generator of trial ``number``: the same for the same seed."""
        number = _check_number(number)
        return np.random.default_rng(np.random.SeedSequence(self.entropy, spawn_key=(number,)))

    def ask(self, number: int | None = None) -> dict[str, Any]:
        """Return the parameters for trial ``number`` (``None``: the next number).

        The parameters are added to :attr:`pending` until told or forgotten.

        Raises
        ------
        StopIteration
            When the searcher has nothing left to propose (e.g. a finished grid).
        """
        number = self._next_number if number is None else _check_number(number)
        params = self._propose(number)
        self._next_number = max(self._next_number, number + 1)
        self._pending[number] = params
        return params

    def tell(self, params: Mapping[str, Any], value: float, number: int | None = None) -> None:
        """Record that ``params`` scored ``value`` (minimized; nan/inf = failed).

        ``number``, when known, says which pending trial it was; otherwise the
        first pending trial with these parameters is the one told.
        """
        params = self._normalize(params)
        value = self._value(value)
        found = self._unpend(params, number)
        number = found if found is not None else number
        self.told.append((params, value))
        self._observe(params, value, number)

    def forget(self, params: Mapping[str, Any], number: int | None = None) -> bool:
        """Drop pending ``params`` without a value (e.g. its worker died).

        Returns whether a pending trial was dropped.
        """
        params = self._normalize(params)
        found = self._unpend(params, number)
        if found is None:
            return False
        self._forgotten(params, found)
        return True

    @property
    def pending(self) -> list[dict[str, Any]]:
        """Parameters asked but neither told nor forgotten, by trial number."""
        return [self._pending[n] for n in sorted(self._pending)]

    @property
    def pending_numbers(self) -> list[int]:
        """Trial numbers of :attr:`pending`."""
        return sorted(self._pending)

    def restore(self, params: Mapping[str, Any], value: float | None, number: int) -> None:
        """Replay stored trial ``number`` on a fresh searcher (loading a study).

        ``value`` ``None`` means the trial is still pending (it never finished);
        otherwise it is recorded as told. Later ``ask()`` calls number after it.
        """
        number = _check_number(number)
        params = self._normalize(params)
        self._next_number = max(self._next_number, number + 1)
        self._restored(params, number)
        if value is None:
            self._pending[number] = params
            return
        value = self._value(value)
        self.told.append((params, value))
        self._observe(params, value, number)

    def _restored(self, params: dict[str, Any], number: int) -> None:
        """Hook: stored trial ``number`` was replayed (grid marks its point used);
        called before it is recorded as pending or told."""

    def _forgotten(self, params: dict[str, Any], number: int) -> None:
        """Hook: pending trial ``number`` was forgotten (grid will ask it again)."""

    def should_prune(
        self,
        number: int,
        step: int | float,
        value: float,
        history: Mapping[int, Mapping[Any, float]],
    ) -> bool:
        """Whether trial ``number``, reporting ``value`` at ``step``, should stop.

        ``history`` maps trial number -> {step: value} of the intermediate values
        of all trials (minimized). The base searcher never prunes.
        """
        return False

    # -- helpers -------------------------------------------------------------------

    @staticmethod
    def _value(value: Any) -> float:
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"a told value must be a number, got {value!r}") from None
        return v if np.isfinite(v) else float("inf")

    def _unpend(self, params: dict[str, Any], number: int | None) -> int | None:
        """Drop the pending trial ``number`` (or else the first with ``params``);
        return its number, or None if no pending trial matches."""
        if number is not None:
            number = _check_number(number)
            if self._pending.get(number) == params:
                del self._pending[number]
                return number
        for n in sorted(self._pending):
            if self._pending[n] == params:
                del self._pending[n]
                return n
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(space={self.space!r}, seed={self.seed!r})"
