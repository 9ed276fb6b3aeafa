"""The searcher conformance checks: every registered searcher passes them, and each
check fails on a searcher that breaks its rule (with a message naming the rule)."""

from __future__ import annotations

import numpy as np
import pytest

from calipers import plugins
from calipers.search import Searcher
from calipers.testing import Case, CheckFailure, check_searcher, parametrize_with_checks
from calipers.testing._searcher_checks import default_space, grid_space, proposal_problem
from calipers.testing._searcher_checks import searcher_checks as searcher_checks_

#: A bayes configuration that proposes in milliseconds (the checks' trials are few).
FAST_BAYES = {"n_startup_trials": 3, "n_candidates": 64, "n_local": 1, "acq_max_iter": 10,
              "fit_max_iter": 10}
#: What each built-in searcher needs besides its name (halving declares its budget key
#: itself, through Searcher.extra_params).
NEEDS = {"bayes": {"options": FAST_BAYES}}

CASES = [Case("searcher", name, id=name, **NEEDS.get(name, {}))
         for name in plugins.names("searcher")]
CASES.append(Case("searcher", "halving", id="hyperband", options={"brackets": None}))


@pytest.fixture(autouse=True)
def _keep_numpy_global_rng():
    """GlobalRandom reseeds numpy's global generator: put its state back afterwards."""
    state = np.random.get_state()  # noqa: NPY002
    yield
    np.random.set_state(state)  # noqa: NPY002


@parametrize_with_checks(CASES)
def test_registered_searchers_conform(obj, check):
    check()


def test_every_builtin_searcher_is_covered():
    assert {"grid", "random", "halving", "bayes"} <= {c.obj for c in CASES}


# -- searchers that break one rule each ------------------------------------------------
class TrialRandom(Searcher):
    """A correct third-party searcher (not registered: studies get instances)."""

    name = "test-trial-random"
    adaptive = False

    def _propose(self, number):
        return self.space.sample(self.trial_rng(number))


class UnseededRandom(TrialRandom):
    """Ignores its seed: a fresh unseeded generator per trial."""

    name = "test-unseeded"

    def _propose(self, number):
        return self.space.sample(np.random.default_rng())


class GlobalRandom(TrialRandom):
    """Draws from numpy's global generator (seeded once, in the constructor)."""

    name = "test-global-rng"

    def __init__(self, space, seed=None):
        super().__init__(space, seed)
        np.random.seed(seed)  # noqa: NPY002 (the legacy global generator is the point)

    def _propose(self, number):
        return self.space.sample(np.random.default_rng(np.random.randint(2**31)))  # noqa: NPY002


class NumberSeeded(TrialRandom):
    """Reproducible, but the seed plays no part: seeded by the trial number only."""

    name = "test-number-seeded"

    def _propose(self, number):
        return self.space.sample(np.random.default_rng(number))


class AskCounter(TrialRandom):
    """Draws from one generator in ask order: a resumed instance starts over."""

    name = "test-ask-counter"

    def _propose(self, number):
        return self.space.sample(self.rng)


class SecretlyAdaptive(TrialRandom):
    """Says it is not adaptive, but its proposals depend on how many values it was told."""

    name = "test-secretly-adaptive"

    def _propose(self, number):
        return self.space.sample(np.random.default_rng([self.entropy, len(self.told)]))


def _rule(searcher, rule, **kwargs):
    """Run one named check."""
    (check,) = [c for c in searcher_checks_(searcher, **kwargs) if c.rule == rule]
    check()


def test_a_correct_unregistered_searcher_passes():
    check_searcher(TrialRandom)


@pytest.mark.parametrize("broken", [UnseededRandom, GlobalRandom, NumberSeeded])
def test_a_searcher_ignoring_its_seed_fails(broken):
    with pytest.raises(CheckFailure, match="check_seed_reproducible") as info:
        _rule(broken, "check_seed_reproducible")
    assert info.value.rule == "check_seed_reproducible"
    assert "trial_rng" in info.value.fix
    with pytest.raises(CheckFailure, match="check_seed_reproducible"):
        check_searcher(broken)


def test_the_global_rng_searcher_passes_when_run_alone():
    # why the check interleaves two searchers: one at a time, each reseeds the global
    # generator in its constructor and proposes the same trials
    a = GlobalRandom(default_space(), seed=3)
    first = [a.ask(n) for n in range(3)]
    b = GlobalRandom(default_space(), seed=3)
    assert [b.ask(n) for n in range(3)] == first


def test_grid_may_ignore_the_seed_only_because_it_enumerates_the_grid():
    _rule("grid", "check_seed_reproducible")
    with pytest.raises(CheckFailure, match="check_seed_reproducible.*seed is ignored"):
        _rule("grid", "check_seed_reproducible", uses_seed=True)
    _rule(NumberSeeded, "check_seed_reproducible", uses_seed=False)


def _mutated(mutate):
    class Mutated(TrialRandom):
        name = "test-mutated"

        def _propose(self, number):
            return mutate(dict(self.space.sample(self.trial_rng(number))))

        def _normalize(self, params):  # accepts its own proposals back
            return params if isinstance(params, dict) else dict(params)

    return Mutated


def _inactive_alpha(p):
    p = {k: v for k, v in p.items() if k not in ("alpha", "depth", "leaves")}
    return {**p, "model": "none", "alpha": 0.1}


MUTATIONS = {
    "float above its high": (lambda p: {**p, "shift": 1.5}, "outside"),
    "int given as a float": (lambda p: {**p, "batch": float(p["batch"])}, "takes an int"),
    "float given as an int": (lambda p: {**p, "shift": 0}, "takes a float"),
    "int off its step grid": (lambda p: {**p, "batch": 24}, "not on the grid"),
    "1 for the choice True": (lambda p: {**p, "flag": 1}, "not one of the choices"),
    "active parameter missing": (lambda p: {k: v for k, v in p.items() if k != "batch"},
                                 "missing"),
    "inactive parameter given": (_inactive_alpha, "inactive"),
    "unknown parameter": (lambda p: {**p, "lr": 0.1}, "not in the space"),
    "not a dict": (lambda p: list(p.items()), "not a dict"),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_a_searcher_proposing_outside_the_space_fails(mutation):
    mutate, says = MUTATIONS[mutation]
    with pytest.raises(CheckFailure, match="check_proposals_in_space") as info:
        _rule(_mutated(mutate), "check_proposals_in_space")
    assert says in info.value.what and "trial 0" in info.value.what


def test_a_searcher_refusing_a_failed_trial_fails():
    class NoNan(TrialRandom):
        name = "test-no-nan"

        def _observe(self, params, value, number):
            if value == float("inf"):  # the base class maps nan to inf
                raise ValueError("values must be finite")

    with pytest.raises(CheckFailure, match="check_proposals_in_space.*nan.*raised ValueError"):
        _rule(NoNan, "check_proposals_in_space")


def test_proposals_of_the_space_itself_have_no_problem():
    rng = np.random.default_rng(1)
    for space in (default_space(), grid_space()):
        for _ in range(300):
            assert proposal_problem(space, space.sample(rng)) is None
    assert proposal_problem(default_space(), {"budget": 3, **default_space().sample(rng)},
                            extra=("budget",)) is None


def test_a_searcher_that_restarts_on_resume_fails():
    for rule in ("check_seed_reproducible", "check_proposals_in_space",
                 "check_n_jobs_same_trials"):
        _rule(AskCounter, rule)  # only the resume breaks it
    with pytest.raises(CheckFailure, match="check_stored_study_resume") as info:
        _rule(AskCounter, "check_stored_study_resume")
    assert "without a break" in info.value.what


def test_a_searcher_learning_from_values_while_not_adaptive_fails_n_jobs():
    for rule in ("check_seed_reproducible", "check_proposals_in_space",
                 "check_stored_study_resume"):
        _rule(SecretlyAdaptive, rule)  # only parallel trials break it
    with pytest.raises(CheckFailure, match="check_n_jobs_same_trials") as info:
        _rule(SecretlyAdaptive, "check_n_jobs_same_trials")
    assert "adaptive = True" in info.value.fix


def test_bad_arguments_are_refused_up_front():
    with pytest.raises(TypeError, match="class or a registered name"):
        list(searcher_checks_(TrialRandom(default_space())))
    with pytest.raises(ValueError, match="n_trials must be an int >= 4"):
        list(searcher_checks_("random", n_trials=2))
    with pytest.raises(ValueError, match="nope"):
        list(searcher_checks_("nope"))


def test_a_searcher_refusing_the_test_spaces_is_told_to_pass_one():
    class NeedsFloatOnly(TrialRandom):
        name = "test-floats-only"

        def __init__(self, space, seed=None):
            super().__init__(space, seed)
            if any(p.kind != "float" for p in self.space.values()):
                raise ValueError("only Float parameters")

    with pytest.raises(CheckFailure, match="refused both test spaces.*pass space="):
        _rule(NeedsFloatOnly, "check_proposals_in_space")
    from calipers.search import Float

    check_searcher(NeedsFloatOnly, space={"x": Float(0.0, 1.0), "y": Float(1e-3, 1.0, log=True)})
