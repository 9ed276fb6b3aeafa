"""Stand-in searchers for the study tests (imported by name: a conftest cannot be,
since every test folder has one)."""

from __future__ import annotations

from calipers.search import Searcher


class StandInRandom(Searcher):
    """Random sampling by trial number (until S1's ``random`` is registered)."""

    name = "test-standin-random"
    adaptive = False

    def _propose(self, number):
        return self.space.sample(self.trial_rng(number))


class StandInAdaptive(Searcher):
    """Adaptive: proposals depend on how many values were told (a test probe)."""

    name = "test-standin-adaptive"
    adaptive = True

    def __init__(self, space, seed=None, **options):
        super().__init__(space, seed, **options)
        self.seen_at_ask: dict[int, int] = {}

    def _propose(self, number):
        self.seen_at_ask[number] = len(self.told)
        rng = self.trial_rng(number)
        params = self.space.sample(rng)
        if self.told:  # move toward the best told point: depends on told values
            best = min(self.told, key=lambda pv: pv[1])[0]
            params = {k: (best[k] if rng.random() < 0.5 else v) for k, v in params.items()}
        return params


class PruneAbove(StandInRandom):
    """Prunes a trial whose reported (minimized) value exceeds ``limit``."""

    name = "test-prune-above"

    def __init__(self, space, seed=None, limit=1.0):
        super().__init__(space, seed)
        self.limit = limit

    def should_prune(self, number, step, value, history):
        assert history[number][step] == value
        return value > self.limit
