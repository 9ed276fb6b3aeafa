"""Studies on every storage: results, failures, pruning, enqueue, rounds, resume."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from _standins import PruneAbove, StandInAdaptive, StandInRandom

import calipers
from calipers.search import Float, Int, TrialPruned
from calipers.search._study import Study
from calipers.search._trial import TrialState

SPACE = {"x": Float(-5.0, 5.0), "n": Int(1, 4)}


def quad(trial):
    return (trial["x"] - 1.0) ** 2 + trial["n"]


def make(storage_url, study_name, searcher=None, **kw):
    searcher = searcher or StandInRandom(SPACE, seed=0)
    return calipers.create_study(
        space=SPACE, searcher=searcher, storage=storage_url, study_name=study_name, **kw
    )


def test_optimize_records_every_trial(storage_url, study_name):
    study = make(storage_url, study_name)
    assert isinstance(study, Study) and study.study_name == study_name
    study.optimize(quad, n_trials=12)
    trials = study.trials
    assert [t.number for t in trials] == list(range(12))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    for t in trials:
        assert t.value == pytest.approx((t.params["x"] - 1) ** 2 + t.params["n"])
        assert isinstance(t.datetime_start, dt.datetime) and t.datetime_start.tzinfo
        assert t.datetime_complete >= t.datetime_start
        assert t.duration == t.datetime_complete - t.datetime_start
        assert isinstance(t.params["n"], int) and isinstance(t.params["x"], float)
    best = min(trials, key=lambda t: t.value)
    assert study.best_trial == best
    assert study.best_value == best.value and study.best_params == best.params
    # the searcher saw every result, in number order
    assert [v for _, v in study.searcher.told] == [t.value for t in trials]


def test_maximize_stores_the_objective_and_negates_for_the_searcher(storage_url, study_name):
    study = make(storage_url, study_name, direction="maximize")
    study.optimize(quad, n_trials=8)
    values = [t.value for t in study.trials]
    assert all(v > 0 for v in values)
    assert study.best_value == max(values)
    assert [v for _, v in study.searcher.told] == [-v for v in values]


@pytest.mark.parametrize(
    ("result", "reason"),
    [
        (math.nan, "returned nan"),
        (math.inf, "returned inf"),
        ("abc", "returned str"),
        (None, "returned NoneType"),
        (ValueError("bad input 42"), "ValueError: bad input 42"),
    ],
)
def test_failing_objective_is_recorded_and_the_study_goes_on(storage_url, study_name, result,
                                                              reason):
    def objective(trial):
        if trial.number == 1:
            if isinstance(result, Exception):
                raise result
            return result
        return quad(trial)

    study = make(storage_url, study_name)
    study.optimize(objective, n_trials=4)
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE, TrialState.FAILED] + [TrialState.COMPLETE] * 2
    failed = study.trials[1]
    assert reason in failed.fail_reason and failed.value is None
    if isinstance(result, Exception):
        assert "Traceback" in failed.fail_reason and "objective" in failed.fail_reason
    # the searcher learned a failure (worse than anything)
    assert math.isinf(study.searcher.told[1][1])


def test_exception_outside_catch_is_recorded_then_raised(storage_url, study_name):
    def objective(trial):
        if trial.number == 2:
            raise KeyError("boom")
        if trial.number == 1:
            raise ValueError("caught")
        return quad(trial)

    study = make(storage_url, study_name)
    with pytest.raises(KeyError, match="boom"):
        study.optimize(objective, n_trials=10, catch=(ValueError,))
    states = [t.state.value for t in study.trials]
    assert states == ["COMPLETE", "FAILED", "FAILED"]
    assert "KeyError" in study.trials[2].fail_reason


def test_keyboard_interrupt_fails_the_running_trial_and_propagates(storage_url, study_name):
    def objective(trial):
        if trial.number == 2:
            raise KeyboardInterrupt
        return quad(trial)

    study = make(storage_url, study_name)
    with pytest.raises(KeyboardInterrupt):
        study.optimize(objective, n_trials=10)
    assert [t.state.value for t in study.trials] == ["COMPLETE", "COMPLETE", "FAILED"]
    assert "KeyboardInterrupt" in study.trials[2].fail_reason
    study.optimize(quad, n_trials=2)  # the study is still usable
    assert len(study.get_trials([TrialState.COMPLETE])) == 4


def test_report_prune_and_user_attrs(storage_url, study_name):
    def objective(trial):
        trial.set_user_attr("tag", {"n": trial["n"]})
        for step in range(3):
            trial.report(float(trial["x"] * step), step)
            if trial.should_prune():
                raise TrialPruned
        return quad(trial)

    study = make(storage_url, study_name, searcher=PruneAbove(SPACE, seed=3, limit=2.0))
    study.optimize(objective, n_trials=15)
    trials = study.trials
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert pruned and complete
    for t in pruned:
        assert max(t.intermediate_values.values()) > 2.0
    for t in complete:
        assert t.intermediate_values == {s: t.params["x"] * s for s in range(3)}
    assert all(t.user_attrs == {"tag": {"n": t.params["n"]}} for t in trials)
    # a pruned trial is told its last intermediate value
    told = dict(enumerate(v for _, v in study.searcher.told))
    for t in pruned:
        assert told[t.number] == t.intermediate_values[max(t.intermediate_values)]


def test_report_rejects_bad_steps_and_values():
    study = make(None, "s")
    errors = []

    def objective(trial):
        for bad in [(1.0, -1), (1.0, 1.5), ("x", 0), (True, 0)]:
            try:
                trial.report(*bad)
            except (TypeError, ValueError) as err:
                errors.append(type(err).__name__)
        assert trial.should_prune() is False  # nothing reported
        return 0.0

    study.optimize(objective, n_trials=1)
    assert errors == ["ValueError", "ValueError", "TypeError", "TypeError"]


def test_best_raises_a_clear_error_without_a_complete_trial(storage_url, study_name):
    study = make(storage_url, study_name)
    with pytest.raises(ValueError, match="no COMPLETE trial yet"):
        _ = study.best_value
    study.optimize(lambda t: math.nan, n_trials=2)
    with pytest.raises(ValueError, match="2 FAILED"):
        _ = study.best_params
    with pytest.raises(ValueError, match="no COMPLETE trial"):
        _ = study.best_trial


def test_trials_dataframe(storage_url, study_name):
    def objective(trial):
        trial.set_user_attr("k", trial.number)
        if trial.number == 1:
            raise RuntimeError("x")
        return quad(trial)

    study = make(storage_url, study_name)
    assert list(study.trials_dataframe().columns)[:6] == [
        "number", "value", "state", "datetime_start", "datetime_complete", "duration"
    ]
    study.optimize(objective, n_trials=3)
    frame = study.trials_dataframe()
    assert list(frame.columns) == [
        "number", "value", "state", "datetime_start", "datetime_complete", "duration",
        "params_n", "params_x", "user_attrs_k",
    ]
    assert frame["number"].tolist() == [0, 1, 2]
    assert frame["state"].tolist() == ["COMPLETE", "FAILED", "COMPLETE"]
    assert math.isnan(frame["value"][1])
    assert frame["params_x"].tolist() == [t.params["x"] for t in study.trials]
    assert frame["user_attrs_k"].tolist() == [0, 1, 2]


def test_enqueue_runs_first_and_validates(storage_url, study_name):
    study = make(storage_url, study_name)
    assert study.enqueue({"x": 0.5, "n": 2}) == 0
    assert study.enqueue({"x": 1.0, "n": 1}) == 1
    assert study.trials[0].state == TrialState.WAITING
    with pytest.raises(ValueError):
        study.enqueue({"x": 50.0, "n": 2})
    study.optimize(quad, n_trials=3)
    assert [t.params for t in study.trials[:2]] == [{"x": 0.5, "n": 2}, {"x": 1.0, "n": 1}]
    assert study.best_params == {"x": 1.0, "n": 1}
    assert [t.state.value for t in study.trials] == ["COMPLETE"] * 3


def test_timeout_callbacks_and_progress(storage_url, study_name, capsys):
    import time

    seen = []

    def objective(trial):
        time.sleep(0.02)
        return quad(trial)

    study = make(storage_url, study_name)
    study.optimize(objective, timeout=0.3, callbacks=[lambda s, t: seen.append((s, t))],
                   show_progress=True)
    trials = study.trials
    assert 1 <= len(trials) < 100
    assert [t for _, t in seen] == trials and all(s is study for s, _ in seen)
    assert "best=" in capsys.readouterr().err


def test_adaptive_searcher_asks_in_rounds(storage_url, study_name):
    searcher = StandInAdaptive(SPACE, seed=1)
    study = make(storage_url, study_name, searcher=searcher, batch_size=3)
    study.optimize(quad, n_trials=10)
    # trial n of round n // 3 sees exactly the 3 * (n // 3) results of earlier rounds
    assert searcher.seen_at_ask == {n: 3 * (n // 3) for n in range(10)}
    assert len(searcher.told) == 10 and searcher.pending == []


def test_optimize_argument_errors():
    study = make(None, "s")
    for kwargs, err in [
        ({"n_trials": -1}, ValueError),
        ({"n_trials": 1.5}, ValueError),
        ({"timeout": 0}, ValueError),
        ({"n_jobs": 0}, ValueError),
        ({"catch": (42,)}, TypeError),
        ({"callbacks": [1]}, TypeError),
    ]:
        with pytest.raises(err):
            study.optimize(quad, **kwargs)
    with pytest.raises(TypeError, match="callable"):
        study.optimize(42, n_trials=1)


def test_create_study_argument_errors():
    with pytest.raises(ValueError, match="direction"):
        calipers.create_study(space=SPACE, direction="up")
    with pytest.raises(ValueError, match="batch_size"):
        calipers.create_study(space=SPACE, batch_size=0)
    with pytest.raises(TypeError, match="searcher"):
        calipers.create_study(space=SPACE, searcher=3.0)
    with pytest.raises(ValueError, match="heartbeat_grace"):
        calipers.create_study(space=SPACE, searcher=StandInRandom(SPACE),
                              heartbeat_interval=10, heartbeat_grace=5)
    with pytest.raises(TypeError, match="storage"):
        calipers.create_study(space=SPACE, storage=42)
    with pytest.raises(ValueError, match="study_name"):
        calipers.create_study(space=SPACE, study_name="")


def test_resume_replays_trials_to_a_fresh_searcher(db_url, study_name):
    study = make(db_url, study_name, searcher=StandInAdaptive(SPACE, seed=5), batch_size=2)
    study.optimize(quad, n_trials=6)
    before = study.trials
    fresh = StandInAdaptive(SPACE, seed=5)
    again = calipers.load_study(study_name=study_name, storage=db_url, searcher=fresh)
    assert again.trials == before and again.direction == "minimize"
    assert [v for _, v in fresh.told] == [t.value for t in before]
    again.optimize(quad, n_trials=2)
    assert [t.number for t in again.trials] == list(range(8))
    # same seed, same history: trial 6 and 7 are what one long run would have asked
    ref = make(None, "ref", searcher=StandInAdaptive(SPACE, seed=5), batch_size=2)
    ref.optimize(quad, n_trials=8)
    assert [t.params for t in again.trials] == [t.params for t in ref.trials]


def test_calipers_exports():
    from calipers import search

    assert calipers.create_study is search._create.create_study
    assert calipers.load_study is search._create.load_study
