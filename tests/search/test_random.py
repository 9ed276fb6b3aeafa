"""RandomSearcher, and the Searcher base contract it relies on (numbering, seeds,
pending trials, restore, pruning default)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _space_strategies import spaces
from hypothesis import given, settings
from hypothesis import strategies as st

from calipers import plugins
from calipers.cli import main as cli_main
from calipers.search import Float, Int, RandomSearcher, Searcher, SearchSpace, TrialPruned

SPACE = {"lr": Float(1e-4, 1.0, log=True), "depth": Int(1, 8), "loss": ["l1", "l2"]}


@settings(max_examples=60, deadline=None)
@given(spaces(), st.integers(0, 2**63), st.permutations(range(8)))
def test_params_depend_on_seed_and_number_only(space, seed, order):
    in_order = RandomSearcher(space, seed=seed)
    expected = [in_order.ask() for _ in range(8)]
    shuffled = RandomSearcher(space, seed=seed)
    for n in order:
        params = shuffled.ask(n)
        assert params == expected[n] and space.validate(params) == params
        shuffled.tell(params, float(n))  # told values change nothing (not adaptive)
    assert all(p == space.sample(in_order.trial_rng(n)) for n, p in enumerate(expected))


def test_seeds_and_numbers_give_different_params():
    a = RandomSearcher(SPACE, seed=1)
    draws = [a.ask() for _ in range(20)]
    assert len({json.dumps(d, sort_keys=True) for d in draws}) == 20
    assert RandomSearcher(SPACE, seed=2).ask(0) != draws[0]


def test_trial_rng_is_the_number_th_child_of_the_seed():
    searcher = RandomSearcher(SPACE, seed=7)
    child = np.random.SeedSequence(7).spawn(4)[3]
    assert searcher.trial_rng(3).random() == np.random.default_rng(child).random()
    # trial 0 is not the generator of the seed itself
    assert searcher.trial_rng(0).random() != np.random.default_rng(7).random()
    with pytest.raises(ValueError, match="trial number must be a non-negative int, got -1"):
        searcher.trial_rng(-1)
    with pytest.raises(TypeError, match="trial number must be a non-negative int"):
        searcher.ask(1.5)


def test_seed_none_draws_entropy_once_and_it_replays():
    a, b = RandomSearcher(SPACE), RandomSearcher(SPACE)
    assert a.seed is None and a.entropy != b.entropy and a.entropy > 2**64
    replay = RandomSearcher(SPACE, seed=a.entropy)
    assert [a.ask() for _ in range(5)] == [replay.ask() for _ in range(5)]
    ss = np.random.SeedSequence(12345)
    assert RandomSearcher(SPACE, seed=ss).ask(2) == RandomSearcher(SPACE, seed=12345).ask(2)


@pytest.mark.parametrize(
    "seed, error, match",
    [
        (-1, ValueError, "got -1"),
        ("1", TypeError, "got '1'"),
        (True, TypeError, "got True"),
        (1.0, TypeError, "got 1.0"),
    ],
)
def test_bad_seeds(seed, error, match):
    with pytest.raises(error, match=f"seed must be None or a non-negative int, {match}"):
        RandomSearcher(SPACE, seed=seed)


def test_numbering_pending_tell_and_forget():
    searcher = RandomSearcher(SPACE, seed=0)
    p0, p5 = searcher.ask(), searcher.ask(5)
    p6 = searcher.ask()  # next number after the highest asked
    assert searcher.pending_numbers == [0, 5, 6] and searcher.pending == [p0, p5, p6]
    assert p6 == RandomSearcher(SPACE, seed=0).ask(6)
    searcher.tell(p5, 0.3)
    assert searcher.pending == [p0, p6] and searcher.told == [(p5, 0.3)]
    assert searcher.forget(p0) and not searcher.forget(p0)
    searcher.tell(p6, np.float32(0.5), number=6)
    searcher.tell(p6, float("nan"))  # not pending any more: still recorded, as failed
    assert searcher.pending == []
    assert searcher.told[1:] == [(p6, 0.5), (p6, float("inf"))]
    with pytest.raises(TypeError, match="a told value must be a number, got 'bad'"):
        searcher.tell(p6, "bad")
    with pytest.raises(ValueError, match="missing active parameter"):
        searcher.tell({"lr": 0.1}, 1.0)


def test_identical_pending_params_are_told_by_number_or_first():
    searcher = RandomSearcher({"a": [1]})
    for n in range(3):
        searcher.ask(n)
    searcher.tell({"a": 1}, 1.0, number=1)
    assert searcher.pending_numbers == [0, 2]
    searcher.tell({"a": 1}, 1.0)
    assert searcher.pending_numbers == [2]


def test_restore_replays_a_stored_study():
    stored = RandomSearcher(SPACE, seed=3)
    trials = [(n, stored.ask()) for n in range(6)]
    fresh = RandomSearcher(SPACE, seed=3)
    for n, params in trials:
        fresh.restore(params, None if n == 4 else float(n), n)
    assert fresh.pending_numbers == [4] and len(fresh.told) == 5
    assert fresh.ask() == stored.ask()  # numbering continues at 6
    with pytest.raises(ValueError, match="parameter 'depth': 9 is outside"):
        fresh.restore({**trials[0][1], "depth": 9}, 1.0, 7)


def test_should_prune_defaults_to_false_and_trial_pruned_exists():
    searcher = RandomSearcher(SPACE, seed=0)
    assert searcher.should_prune(0, 1, 1e9, {1: {1: 0.0}, 2: {1: 0.0}}) is False
    assert issubclass(TrialPruned, Exception)


def test_options_errors_and_repr():
    with pytest.raises(TypeError, match="unexpected keyword argument 'n_iter'"):
        RandomSearcher(SPACE, n_iter=5)
    with pytest.raises(TypeError, match=r"Searcher got unknown option\(s\) n_iter, x"):
        Searcher(SPACE, n_iter=5, x=1)
    with pytest.raises(NotImplementedError, match="must implement _propose"):
        Searcher(SPACE).ask()
    assert repr(RandomSearcher({"a": [1, 2]}, seed=4)) == (
        "RandomSearcher(space=SearchSpace({'a': Categorical(choices=[1, 2])}), seed=4)"
    )
    assert RandomSearcher.adaptive is False and RandomSearcher.name == "random"
    assert isinstance(RandomSearcher(SPACE).space, SearchSpace)


def test_searcher_written_for_the_old_base_still_works():
    class OldStyle(Searcher):
        name = "old"

        def __init__(self, space, seed=None):
            super().__init__(space, seed)

        def ask(self):
            return {k: v[int(self.rng.integers(len(v)))] for k, v in self.space.items()}

        def tell(self, params, value):
            self.last = (params, value)

    searcher = OldStyle({"depth": [1, 2, 3], "loss": ["l1", "l2"]}, seed=7)
    params = searcher.ask()
    assert params["depth"] in (1, 2, 3) and params["loss"] in ("l1", "l2")
    searcher.tell(params, 1.0)
    assert OldStyle({"depth": [1, 2, 3], "loss": ["l1", "l2"]}, seed=7).ask() == params


def test_registered_and_listed(fresh_host, capsys):
    from calipers.search import GridSearcher, HalvingSearcher

    assert plugins.get("searcher", "random") is RandomSearcher
    assert plugins.get("searcher", "grid") is GridSearcher
    assert plugins.get("searcher", "halving") is HalvingSearcher
    assert cli_main.main(["plugins", "--all", "--json"]) == 0
    listed = {p["name"]: p for p in json.loads(capsys.readouterr().out)}
    search = listed["calipers.search"]
    assert search["status"] == "ok" and search["builtin"]
    assert search["provides"] == {"searcher": ["grid", "random", "halving"]}
