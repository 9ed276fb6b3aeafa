"""``halving``: asynchronous successive halving (ASHA) and Hyperband over a budget.

Each trial runs one configuration at one budget (epochs, trees, samples...). A
*rung* is a budget level: ``min_budget, min_budget * eta, ...`` up to
``max_budget``. New configurations start at the bottom rung of their *bracket*; a
configuration whose result is in the top ``1/eta`` of the results completed in its
rung is promoted: it runs again, as a new trial, at the next rung's budget. The
searcher promotes as soon as a rung has enough completed results and never waits
for stragglers (Li et al., "A System for Massively Parallel Hyperparameter
Tuning", MLSys 2020). Hyperband runs several brackets side by side, each starting
at a different rung, so that slow starters are not all judged on tiny budgets.

The same rule prunes trials that report intermediate values
(:meth:`HalvingSearcher.should_prune`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from calipers.search import Searcher

__all__ = ["HalvingSearcher", "rung_budgets"]


def _check_budget(label: str, value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"HalvingSearcher {label} must be a positive number, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"HalvingSearcher {label} must be a positive number, got {value!r}")
    return value


def rung_budgets(min_budget: float, max_budget: float, eta: float) -> list[float]:
    """Budgets of the rungs: ``min_budget * eta ** k`` below ``max_budget``, then
    ``max_budget`` (ints when both bounds are ints)."""
    count = max(1, math.floor(math.log(max_budget / min_budget) / math.log(eta) + 1e-9))
    budgets: list[float] = [min_budget * eta**k for k in range(count)] + [max_budget]
    if not (isinstance(min_budget, numbers.Integral) and isinstance(max_budget, numbers.Integral)):
        return [float(b) for b in budgets]
    rounded = [int(round(b)) for b in budgets]
    if any(a >= b for a, b in zip(rounded, rounded[1:], strict=False)):
        raise ValueError(
            f"eta={eta!r} is too small for integer budgets from {min_budget} to {max_budget}: "
            f"the rungs {rounded} repeat a budget; use a larger eta or float budgets"
        )
    return rounded


@dataclass
class _Job:
    bracket: int
    rung: int
    key: tuple[Any, ...]
    config: dict[str, Any]


class HalvingSearcher(Searcher):
    """Successive halving / Hyperband over a budget parameter (asynchronous).

    :meth:`ask` returns a configuration from the space plus its budget under the
    name ``budget``: the objective trains for that budget and returns the value.
    Promotions re-run a configuration at ``eta`` times the budget as a new trial.
    New configurations are drawn with ``space.sample(self.trial_rng(number))``.

    Parameters
    ----------
    space : SearchSpace or dict
        The search space of the configurations (without the budget).
    seed : int, optional
        Seed; the same seed and the same told values give the same trials.
    min_budget, max_budget : int or float
        Budget of the bottom and top rungs, ``0 < min_budget < max_budget``. Rung
        budgets are ``min_budget * eta ** k`` below ``max_budget``, then
        ``max_budget``; ints when both bounds are ints.
    eta : float, default 3
        Reduction factor, ``> 1``: the top ``1/eta`` of a rung is promoted, each rung
        has ``eta`` times the budget of the previous one.
    budget : str or None, default "budget"
        Name of the budget in the asked parameters (not a space parameter).
        ``None``: pruning mode only: :meth:`ask` returns configurations without a
        budget (no promotions) and :meth:`should_prune` does the halving.
    brackets : int or None, default 1
        Number of brackets: ``1`` is plain successive halving (every configuration
        starts at ``min_budget``); ``None`` is Hyperband's full set, one bracket per
        rung. Bracket ``i`` starts at rung ``i``; a new configuration joins a
        bracket drawn with the trial's generator, weighted by Hyperband's number of
        configurations per bracket so that every bracket spends about the same budget.

    Notes
    -----
    Pruning mode: an objective that trains incrementally reports intermediate
    values at steps measured in budget units; :meth:`should_prune` stops it at a
    rung budget when it is not in the top ``1/eta`` of the values reported there
    (with several brackets, by the trials of its own bracket, from the bracket's
    first rung on: Hyperband's pruning).
    """

    name = "halving"
    adaptive = True

    @property
    def extra_params(self) -> tuple[str, ...]:
        """The budget's key, which every proposal carries (when ``budget`` is set)."""
        return () if self.budget is None else (self.budget,)

    def __init__(
        self,
        space: Any,
        seed: int | None = None,
        *,
        min_budget: float = 1,
        max_budget: float = 27,
        eta: float = 3,
        budget: str | None = "budget",
        brackets: int | None = 1,
    ) -> None:
        super().__init__(space, seed)
        self.min_budget = _check_budget("min_budget", min_budget)
        self.max_budget = _check_budget("max_budget", max_budget)
        if not min_budget < max_budget:
            raise ValueError(
                f"HalvingSearcher needs min_budget < max_budget, got {min_budget!r} "
                f"and {max_budget!r}"
            )
        if isinstance(eta, (bool, np.bool_)) or not isinstance(eta, numbers.Real):
            raise TypeError(f"HalvingSearcher eta must be a number > 1, got {eta!r}")
        if not (math.isfinite(eta) and eta > 1):
            raise ValueError(f"HalvingSearcher eta must be a number > 1, got {eta!r}")
        if budget is not None and (not isinstance(budget, str) or not budget):
            raise TypeError(
                f"HalvingSearcher budget must be None or a non-empty str, got {budget!r}"
            )
        if budget is not None and budget in self.space:
            raise ValueError(
                f"HalvingSearcher budget name {budget!r} is also a parameter of the space; "
                "pass budget='another_name'"
            )
        self.eta, self.budget = eta, budget
        self.budgets = rung_budgets(min_budget, max_budget, eta)
        n_rungs = len(self.budgets)
        if brackets is None:
            brackets = n_rungs
        if isinstance(brackets, (bool, np.bool_)) or not isinstance(brackets, numbers.Integral):
            raise TypeError(f"HalvingSearcher brackets must be None or an int, got {brackets!r}")
        if not 1 <= brackets <= n_rungs:
            raise ValueError(
                f"HalvingSearcher brackets must be between 1 and {n_rungs} (the number of "
                f"rungs {self.budgets}) or None, got {brackets!r}"
            )
        self.brackets = int(brackets)
        # Hyperband's configurations per bracket: bracket i makes s = n_rungs-1-i halvings
        last = n_rungs - 1
        counts = [math.ceil(n_rungs / (last - i + 1) * eta ** (last - i)) for i in range(brackets)]
        self.bracket_weights = np.asarray(counts, dtype=float) / sum(counts)
        # (bracket, rung) -> completed results [(value, tiebreak, key, config)]; ties
        # go to the smaller trial number (then to the earlier told), not to timing
        self._results: dict[tuple[int, int], list[tuple[float, Any, tuple, dict]]] = {}
        self._promoted: dict[tuple[int, int], set[tuple[Any, ...]]] = {}
        self._jobs: dict[int, _Job] = {}
        self._bracket_cache: dict[int, int] = {}
        self._order = 0

    # -- budget-mode searching ----------------------------------------------------

    def _normalize(self, params: Mapping[str, Any]) -> dict[str, Any]:
        if self.budget is None:
            return self.space.validate(params)
        if not isinstance(params, Mapping) or self.budget not in params:
            raise ValueError(f"halving params must include the budget {self.budget!r}: {params!r}")
        config = {k: v for k, v in params.items() if k != self.budget}
        out = self.space.validate(config)
        b = params[self.budget]
        for budget in self.budgets:
            if isinstance(b, numbers.Real) and not isinstance(b, bool) and b == budget:
                out[self.budget] = budget
                return out
        raise ValueError(f"budget {self.budget}={b!r} is not a rung budget {self.budgets}")

    def _split(self, params: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
        config = {k: v for k, v in params.items() if k != self.budget}
        return config, self.budgets.index(params[self.budget])

    def _ranked(self, bracket: int, rung: int) -> list[tuple[float, Any, tuple, dict]]:
        results = self._results.get((bracket, rung), [])
        return sorted(results, key=lambda r: (r[0], r[1]))

    def promotable(self, bracket: int, rung: int) -> list[dict[str, Any]]:
        """Configurations of ``rung`` that ASHA would promote now, best first: in the
        top ``floor(completed / eta)`` of the rung's completed results, finite, not
        promoted yet."""
        if rung >= len(self.budgets) - 1:
            return []
        ranked = self._ranked(bracket, rung)
        top = ranked[: int(len(ranked) // self.eta)]
        done = self._promoted.get((bracket, rung), set())
        return [config for value, _, key, config in top if math.isfinite(value) and key not in done]

    def bracket_of(self, number: int) -> int:
        """The bracket of trial ``number``'s new configuration (the first draw of
        its generator; always 0 with one bracket)."""
        if self.brackets == 1:
            return 0
        bracket = self._bracket_cache.get(number)
        if bracket is None:
            rng = self.trial_rng(number)
            bracket = self._bracket_cache[number] = self._draw_bracket(rng)
        return bracket

    def _draw_bracket(self, rng: np.random.Generator) -> int:
        if self.brackets == 1:
            return 0
        return int(rng.choice(self.brackets, p=self.bracket_weights))

    def _propose(self, number: int) -> dict[str, Any]:
        if self.budget is None:
            rng = self.trial_rng(number)
            self._draw_bracket(rng)  # the same draws as a new configuration below
            return self.space.sample(rng)
        for bracket in range(self.brackets):
            for rung in range(len(self.budgets) - 2, bracket - 1, -1):
                candidates = self.promotable(bracket, rung)
                if candidates:
                    config = candidates[0]
                    key = self.space.key(config)
                    self._promoted.setdefault((bracket, rung), set()).add(key)
                    self._jobs[number] = _Job(bracket, rung + 1, key, config)
                    return {**config, self.budget: self.budgets[rung + 1]}
        rng = self.trial_rng(number)
        bracket = self._draw_bracket(rng)
        config = self.space.sample(rng)
        self._jobs[number] = _Job(bracket, bracket, self.space.key(config), config)
        return {**config, self.budget: self.budgets[bracket]}

    def _infer(self, params: dict[str, Any]) -> _Job:
        """The job of params that this searcher did not ask (restored, enqueued)."""
        config, rung = self._split(params)
        key = self.space.key(config)
        for bracket in range(min(rung, self.brackets)):
            below = self._results.get((bracket, rung - 1), [])
            done = self._promoted.setdefault((bracket, rung - 1), set())
            if key not in done and any(r[2] == key for r in below):
                done.add(key)
                return _Job(bracket, rung, key, config)
        return _Job(rung if rung < self.brackets else 0, rung, key, config)

    def _observe(self, params: dict[str, Any], value: float, number: int | None) -> None:
        if self.budget is None:
            return
        job = self._jobs.pop(number, None) if number is not None else None
        if job is None:
            job = self._infer(params)
        self._order += 1
        tiebreak = (number if number is not None else math.inf, self._order)
        record = (value, tiebreak, job.key, job.config)
        self._results.setdefault((job.bracket, job.rung), []).append(record)

    def _restored(self, params: dict[str, Any], number: int) -> None:
        if self.budget is None:
            return
        self._jobs[number] = self._infer(params)

    def _forgotten(self, params: dict[str, Any], number: int) -> None:
        job = self._jobs.pop(number, None)
        if job is not None and job.rung > job.bracket:
            # a promotion that never ran: the configuration may be promoted again
            self._promoted.get((job.bracket, job.rung - 1), set()).discard(job.key)

    # -- pruning mode ---------------------------------------------------------------

    def should_prune(
        self,
        number: int,
        step: int | float,
        value: float,
        history: Mapping[int, Mapping[Any, float]],
    ) -> bool:
        """ASHA's rule at a rung: prune unless ``value`` is in the top ``1/eta``.

        At a step that is a rung budget below ``max_budget`` (and, with several
        brackets, at or above the first rung of the trial's bracket,
        :meth:`bracket_of`), with ``n`` values reported at that step (this trial's
        and those of the other trials of its bracket in ``history``),
        ``n >= eta``: the trial is pruned when at least ``floor(n / eta)`` other
        trials reported a strictly better (smaller) value there. Other steps, and
        steps with fewer than ``eta`` reports, never prune, except that a non-finite
        value (a diverged trial) prunes at any step below ``max_budget``.
        """
        value = self._value(value)
        if math.isinf(value):
            return step < self.max_budget
        bracket = self.bracket_of(number)
        if step not in self.budgets[bracket:-1]:
            return False
        others = [
            self._value(steps[step])
            for n, steps in history.items()
            if n != number and step in steps and self.bracket_of(n) == bracket
        ]
        n_reports = len(others) + 1
        if n_reports < self.eta:
            return False
        keep = int(n_reports // self.eta)
        return sum(v < value for v in others) >= keep

    def __repr__(self) -> str:
        return (
            f"HalvingSearcher(space={self.space!r}, seed={self.seed!r}, "
            f"min_budget={self.min_budget!r}, max_budget={self.max_budget!r}, eta={self.eta!r}, "
            f"budget={self.budget!r}, brackets={self.brackets!r})"
        )
