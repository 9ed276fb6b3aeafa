"""HalvingSearcher: rungs, ASHA promotions, Hyperband brackets, pruning, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calipers.search import Float, HalvingSearcher, Int, RandomSearcher
from calipers.search._halving import rung_budgets

SPACE = {"x": Float(0, 1), "y": Float(0, 1)}


def halving(**options):
    options = {"seed": 0, "min_budget": 1, "max_budget": 9, "eta": 3, **options}
    return HalvingSearcher(options.pop("space", SPACE), **options)


# -- rungs and options ----------------------------------------------------------------


@pytest.mark.parametrize(
    "args, budgets",
    [
        ((1, 27, 3), [1, 3, 9, 27]),
        ((1, 10, 3), [1, 3, 10]),
        ((1, 28, 3), [1, 3, 9, 28]),
        ((1, 2, 3), [1, 2]),
        ((2, 32, 2), [2, 4, 8, 16, 32]),
        ((0.5, 4.5, 3), [0.5, 1.5, 4.5]),
        ((1, 100, 2.5), [1, 2, 6, 16, 39, 100]),
    ],
)
def test_rung_budgets(args, budgets):
    got = rung_budgets(*args)
    assert got == pytest.approx(budgets)
    assert all(type(b) is type(budgets[0]) for b in got)


@pytest.mark.parametrize(
    "options, error, match",
    [
        ({"min_budget": 0}, ValueError, "min_budget must be a positive number, got 0"),
        ({"max_budget": math.inf}, ValueError, "max_budget must be a positive number, got inf"),
        ({"min_budget": "1"}, TypeError, "min_budget must be a positive number, got '1'"),
        ({"min_budget": 9}, ValueError, "needs min_budget < max_budget, got 9 and 9"),
        ({"eta": 1}, ValueError, "eta must be a number > 1, got 1"),
        ({"eta": None}, TypeError, "eta must be a number > 1, got None"),
        ({"budget": ""}, TypeError, "budget must be None or a non-empty str"),
        ({"budget": "x"}, ValueError, "budget name 'x' is also a parameter of the space"),
        ({"brackets": 0}, ValueError, r"brackets must be between 1 and 3 \(the number of rungs"),
        ({"brackets": 4}, ValueError, "brackets must be between 1 and 3"),
        ({"brackets": 1.0}, TypeError, "brackets must be None or an int, got 1.0"),
        ({"max_budget": 5, "eta": 1.1}, ValueError, "eta=1.1 is too small for integer budgets"),
        ({"n_trials": 5}, TypeError, "unexpected keyword argument 'n_trials'"),
    ],
)
def test_bad_options(options, error, match):
    with pytest.raises(error, match=match):
        halving(**options)


def test_repr_and_attributes():
    searcher = halving(brackets=None, budget="epochs")
    assert searcher.budgets == [1, 3, 9] and searcher.brackets == 3
    assert HalvingSearcher.adaptive is True and HalvingSearcher.name == "halving"
    assert repr(searcher).endswith(
        "seed=0, min_budget=1, max_budget=9, eta=3, budget='epochs', brackets=3)"
    )
    params = searcher.ask()
    assert set(params) == {"x", "y", "epochs"} and params["epochs"] in (1, 3, 9)


def test_told_params_must_carry_a_rung_budget():
    searcher = halving()
    params = searcher.ask()
    with pytest.raises(ValueError, match="must include the budget 'budget'"):
        searcher.tell({"x": params["x"], "y": params["y"]}, 1.0)
    with pytest.raises(ValueError, match=r"budget budget=2 is not a rung budget \[1, 3, 9\]"):
        searcher.tell({**params, "budget": 2}, 1.0)
    searcher.tell({**params, "budget": np.int64(1)}, 1.0)
    assert searcher.pending == []


# -- promotions -----------------------------------------------------------------------


def test_promotions_step_by_step():
    searcher = halving()
    first = [searcher.ask() for _ in range(4)]  # nothing told: new configurations only
    assert [p["budget"] for p in first] == [1, 1, 1, 1]
    for p, v in zip(first[:3], [0.5, 0.2, 0.9], strict=True):
        searcher.tell(p, v)
    # 3 completed in rung 0: the best (top 3 // 3 = 1) is promoted at 3x the budget
    assert searcher.ask() == {**first[1], "budget": 3}
    assert searcher.ask()["budget"] == 1  # already promoted: a new configuration
    searcher.tell(first[3], 0.1)  # 4 completed: still only the top 1 ... which is new
    assert searcher.ask() == {**first[3], "budget": 3}
    assert searcher.ask()["budget"] == 1


def _reference_ask(told, promoted, budgets, eta):
    """What ASHA asks next, from the told history alone: (config, budget) or None."""
    for k in range(len(budgets) - 2, -1, -1):
        done = sorted((v, n, tuple(sorted(c.items()))) for n, c, b, v in told if b == budgets[k])
        for v, _, key in done[: int(len(done) // eta)]:
            if math.isfinite(v) and key not in promoted[k]:
                return dict(key), budgets[k + 1]
    return None


@settings(max_examples=40, deadline=None)
@given(st.data(), st.sampled_from([2, 3, 4]))
def test_promotions_follow_the_asha_rule(data, eta):
    searcher = halving(max_budget=eta**3, eta=eta, space={"x": Int(0, 10**6)})
    budgets = searcher.budgets
    told, running, promoted = [], {}, [set() for _ in budgets]
    for number in range(60):
        expected = _reference_ask(told, promoted, budgets, eta)
        params = searcher.ask()
        assert searcher.pending_numbers[-1] == number
        config, budget = {"x": params["x"]}, params["budget"]
        if expected is None:
            assert budget == budgets[0]
        else:
            assert (config, budget) == expected
            promoted[budgets.index(budget) - 1].add(tuple(config.items()))
        running[number] = params
        # finish some running trials, in any order; values may fail (nan)
        finish = data.draw(st.lists(st.sampled_from(sorted(running)), unique=True, max_size=3))
        for n in finish:
            value = data.draw(st.sampled_from([0.0, 0.5, 1.0, 2.0, math.nan]))
            p = running.pop(n)
            searcher.tell(p, value, number=n)
            told.append((n, {"x": p["x"]}, p["budget"], math.inf if math.isnan(value) else value))


def test_forgotten_promotion_is_promoted_again():
    searcher = halving()
    first = [searcher.ask() for _ in range(3)]
    for p, v in zip(first, [0.3, 0.1, 0.2], strict=True):
        searcher.tell(p, v)
    promotion = searcher.ask()
    assert promotion == {**first[1], "budget": 3}
    assert searcher.forget(promotion)  # its worker died
    assert searcher.ask() == promotion


def test_failed_results_are_never_promoted():
    searcher = halving()
    first = [searcher.ask() for _ in range(3)]
    for p in first:
        searcher.tell(p, math.nan)
    assert searcher.ask()["budget"] == 1


def _run(searcher, values, n):
    asked = []
    for _ in range(n):
        params = searcher.ask()
        asked.append(params)
        searcher.tell(params, values(params))
    return asked


def _value(params):
    return (params["x"] - 0.3) ** 2 + 1 / params["budget"]


def test_deterministic_for_a_seed_and_restorable():
    a = _run(halving(brackets=None), _value, 40)
    assert a == _run(halving(brackets=None), _value, 40)
    assert a != _run(halving(brackets=None, seed=1), _value, 40)
    # a fresh searcher fed the stored trials asks what the first would ask next
    stored = halving(brackets=None)
    _run(stored, _value, 40)
    pending = [stored.ask() for _ in range(2)]
    fresh = halving(brackets=None)
    for number, params in enumerate(a):
        fresh.restore(params, _value(params), number)
    for number, params in enumerate(pending, start=40):
        fresh.restore(params, None, number)
    assert fresh.pending == pending
    assert [fresh.ask() for _ in range(5)] == [stored.ask() for _ in range(5)]


def test_hyperband_brackets():
    searcher = halving(max_budget=27, brackets=None)
    # bracket i starts at rung i, chosen with Hyperband's configuration counts
    counts = [27, math.ceil(4 / 3 * 9), math.ceil(4 / 2 * 3), 4]
    np.testing.assert_allclose(searcher.bracket_weights, np.array(counts) / sum(counts))
    starts = [searcher.ask()["budget"] for _ in range(3000)]
    freq = [starts.count(b) / 3000 for b in (1, 3, 9, 27)]
    np.testing.assert_allclose(freq, searcher.bracket_weights, atol=0.03)
    # promotions stay inside a bracket: three results at budget 3 of bracket 1
    # (configurations that started there) promote their best to 9
    hb = halving(max_budget=27, brackets=2)
    started_at_3 = []
    while len(started_at_3) < 3:
        p = hb.ask()
        if p["budget"] == 3:
            started_at_3.append(p)
    for p, v in zip(started_at_3, [0.4, 0.2, 0.6], strict=True):
        hb.tell(p, v)
    assert hb.ask() == {**started_at_3[1], "budget": 9}


def test_plain_successive_halving_starts_everything_at_min_budget():
    searcher = halving(max_budget=27)
    assert {searcher.ask()["budget"] for _ in range(50)} == {1}


# -- pruning --------------------------------------------------------------------------


def test_should_prune_rule():
    s = halving(max_budget=27)  # rungs 1, 3, 9, 27
    two = {1: {1: 0.1}, 2: {1: 0.2}}
    assert not s.should_prune(0, 1, 5.0, {1: {1: 0.1}})  # 2 reports < eta
    assert s.should_prune(0, 1, 0.3, two)  # 3 reports: only the best survives
    assert s.should_prune(0, 1, 0.15, two)
    assert not s.should_prune(0, 1, 0.05, two)
    assert not s.should_prune(0, 1, 0.1, {1: {1: 0.1}, 2: {1: 0.1}})  # ties survive
    assert not s.should_prune(0, 1, 0.05, {0: {1: 9.0}, **two})  # own entry ignored
    five = {n: {3: v} for n, v in enumerate([0.1, 0.2, 0.3, 0.4, 0.5], start=1)}
    assert not s.should_prune(0, 3, 0.15, five)  # 6 reports: top 2 survive
    assert s.should_prune(0, 3, 0.25, five)
    assert not s.should_prune(0, 2, 9.0, {n: {2: 0.0} for n in range(1, 9)})  # not a rung
    assert not s.should_prune(0, 27, 9.0, {n: {27: 0.0} for n in range(1, 9)})  # top rung
    assert s.should_prune(0, 2, math.nan, {})  # diverged: pruned at any step below the top
    assert not s.should_prune(0, 27, math.inf, {})
    assert not s.should_prune(0, 1, 0.4, {1: {1: math.nan}, 2: {1: 0.5}})  # nan is the worst
    assert s.should_prune(0, 1, 0.6, {1: {1: math.nan}, 2: {1: 0.5}})


# -- the point of it all --------------------------------------------------------------


def _objective(params, budget):
    """A learning curve: the value at a budget is the final quality plus a noisy gap
    that shrinks with the budget, so early values rank configurations noisily."""
    quality = 10 * ((params["x"] - 0.3) ** 2 + (params["y"] - 0.7) ** 2)
    noise = np.random.default_rng([hash((params["x"], params["y"])) % 2**32, budget]).random()
    return quality + (1 + noise) / budget


def _best_within(searcher, total, budget=None):
    spent, best = 0, math.inf
    while True:
        params = searcher.ask()
        cost = budget if budget is not None else params["budget"]
        if spent + cost > total:
            return best
        spent += cost
        value = _objective(params, cost)
        best = min(best, value)
        searcher.tell(params, value)


@pytest.mark.parametrize("brackets, ratio", [(1, 0.6), (None, 0.75)])
def test_halving_beats_random_for_the_same_total_budget(brackets, ratio):
    total = 20 * 27  # 20 full-budget trials of random search
    halv, rand = [], []
    for seed in range(10):
        h = HalvingSearcher(SPACE, seed=seed, min_budget=1, max_budget=27, brackets=brackets)
        halv.append(_best_within(h, total))
        rand.append(_best_within(RandomSearcher(SPACE, seed=seed), total, budget=27))
    assert np.mean(halv) < ratio * np.mean(rand)
    assert sum(h < r for h, r in zip(halv, rand, strict=True)) >= 6


def test_pruning_mode_asks_plain_configurations():
    searcher = halving(budget=None, max_budget=27)
    asked = [searcher.ask() for _ in range(6)]
    assert all(set(p) == {"x", "y"} for p in asked)
    for p in asked:
        searcher.tell(p, p["x"])  # no rungs, no promotions: configurations keep coming new
    assert searcher.ask() == halving(budget=None, max_budget=27).ask(6)
    assert searcher.pending_numbers == [6]
    assert searcher.should_prune(9, 1, 0.3, {1: {1: 0.1}, 2: {1: 0.2}})


def test_hyperband_pruning_compares_within_a_bracket():
    s = halving(max_budget=27, brackets=None, budget=None)
    by_bracket = {}
    for n in range(200):
        by_bracket.setdefault(s.bracket_of(n), []).append(n)
    assert sorted(by_bracket) == [0, 1, 2, 3]
    # bracket choice is the first draw of the trial's generator: as asked configurations
    asking = halving(max_budget=27, brackets=None)
    assert [asking.ask()["budget"] for _ in range(30)] == [
        asking.budgets[s.bracket_of(n)] for n in range(30)
    ]
    one, other = by_bracket[1], by_bracket[0]
    history = {n: {3: 0.0} for n in other[:5]}  # better values, but in another bracket
    assert not s.should_prune(one[0], 3, 1.0, history)
    history.update({n: {3: 0.5} for n in one[1:3]})
    assert s.should_prune(one[0], 3, 1.0, history)
    assert not s.should_prune(one[0], 1, 9.0, {n: {1: 0.0} for n in one[1:9]})  # below its rungs
    assert s.should_prune(other[0], 1, 9.0, {n: {1: 0.0} for n in other[1:9]})


def test_in_a_study_budget_mode_and_pruning_mode():
    import calipers
    from calipers.search import TrialPruned, TrialState

    study = calipers.create_study(
        space=SPACE, searcher="halving", seed=0, searcher_options={"max_budget": 9}
    )
    study.optimize(lambda t: _objective(t, t["budget"]), n_trials=40)
    budgets = [t.params["budget"] for t in study.trials]
    assert set(budgets) == {1, 3, 9} and budgets.count(1) > budgets.count(3) > budgets.count(9)
    assert study.best_params["budget"] == 9

    def incremental(trial):
        for step in range(1, 28):
            value = _objective(trial, step)
            trial.report(value, step)
            if trial.should_prune():
                raise TrialPruned()
        return value

    pruning = calipers.create_study(
        space=SPACE,
        searcher="halving",
        seed=0,
        searcher_options={"max_budget": 27, "budget": None},
    )
    pruning.optimize(incremental, n_trials=30)
    states = [t.state for t in pruning.trials]
    assert states.count(TrialState.PRUNED) >= 10 and states.count(TrialState.COMPLETE) >= 3
    for t in pruning.trials:  # pruned at a rung, never past the last rung below the top
        if t.state == TrialState.PRUNED:
            assert max(t.intermediate_values) in (1, 3, 9)
