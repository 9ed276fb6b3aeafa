"""Parallel studies: n_jobs determinism, objectives in worker processes reporting back,
executors, 8 processes on one SQLite file, and resuming after a SIGKILL."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import pytest
from _standins import PruneAbove, StandInAdaptive, StandInRandom

import calipers
from calipers import plugins
from calipers.search import Float, Int
from calipers.search._trial import TrialState

SPACE = {"x": Float(-5.0, 5.0), "n": Int(1, 4)}
HERE = os.path.dirname(os.path.abspath(__file__))


def _objective():
    # a closure: pickled by value, so loky workers need not import this test module
    def objective(trial):
        return (trial["x"] - 1.0) ** 2 + trial["n"]

    return objective


GRID = {"x": [-1.0, 0.5, 2.0], "n": [1, 2, 3]}


def _run(searcher, space, n_jobs, batch_size, n_trials, storage=None):
    study = calipers.create_study(
        space=space, searcher=searcher, storage=storage, batch_size=batch_size
    )
    study.optimize(_objective(), n_trials=n_trials, n_jobs=n_jobs)
    return {t.number: (t.params, t.value, t.state) for t in study.trials}


def _searcher(kind, space):
    if kind == "standin-random":
        return StandInRandom(space, seed=7)
    if kind == "standin-adaptive":
        return StandInAdaptive(space, seed=7)
    if kind not in plugins.names("searcher"):
        pytest.skip(f"searcher {kind!r} is not registered yet")
    return plugins.get("searcher", kind)(space, seed=7)


@pytest.mark.parametrize(
    ("kind", "batch_size", "n_trials"),
    [
        ("standin-random", 1, 12),
        ("standin-adaptive", 4, 12),
        ("standin-adaptive", 1, 6),
        ("random", 1, 12),
        ("grid", 1, 12),
        ("bayes", 4, 8),
    ],
)
def test_same_seed_same_trials_for_any_n_jobs(kind, batch_size, n_trials, tmp_path):
    space = GRID if kind == "grid" else SPACE
    serial = _run(_searcher(kind, space), space, 1, batch_size, n_trials)
    searcher = _searcher(kind, space)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parallel = _run(searcher, space, 4, batch_size, n_trials,
                        storage=f"sqlite:///{tmp_path / 'p.db'}")
    # an adaptive searcher in rounds of 1 cannot use the 4 workers: the study says so
    expect_warning = searcher.adaptive and batch_size == 1
    assert any("batch_size" in str(w.message) for w in caught) == expect_warning
    assert parallel == serial
    assert len(serial) == (9 if kind == "grid" else n_trials)  # a grid stops when exhausted


def test_workers_report_prune_and_set_user_attrs_through_the_channel():
    def objective(trial):
        trial.set_user_attr("pid", os.getpid())
        for step in range(3):
            trial.report(float(trial["x"] * step), step)
            if trial.should_prune():
                raise calipers.search.TrialPruned
        return (trial["x"] - 1.0) ** 2

    runs = {}
    for n_jobs in (1, 2):
        study = calipers.create_study(space=SPACE, searcher=PruneAbove(SPACE, seed=3, limit=2.0))
        study.optimize(objective, n_trials=10, n_jobs=n_jobs)
        runs[n_jobs] = study.trials
        assert {t.state for t in study.trials} == {TrialState.PRUNED, TrialState.COMPLETE}
    strip = [(t.params, t.state, t.value, t.intermediate_values) for t in runs[1]]
    assert strip == [(t.params, t.state, t.value, t.intermediate_values) for t in runs[2]]
    pids = {t.user_attrs["pid"] for t in runs[2]}
    assert os.getpid() not in pids  # the objectives ran in worker processes


def test_lambda_objective_failures_and_nan_in_workers(db_url, study_name):
    study = calipers.create_study(space=SPACE, searcher=StandInRandom(SPACE, seed=1),
                                  storage=db_url, study_name=study_name)
    study.optimize(
        lambda t: float("nan") if t.number == 2 else (1 / 0 if t.number == 4 else t["x"]),
        n_trials=8, n_jobs=2,
    )
    states = {t.number: t.state.value for t in study.trials}
    assert states == {n: ("FAILED" if n in (2, 4) else "COMPLETE") for n in range(8)}
    assert "ZeroDivisionError" in study.trials[4].fail_reason
    assert "returned nan" in study.trials[2].fail_reason


def test_uncaught_worker_exception_is_raised_after_recording(study_name):
    class Boom(Exception):
        pass

    def objective(trial):
        if trial.number == 3:
            raise Boom("stop")
        return 0.0

    study = calipers.create_study(space=SPACE, searcher=StandInRandom(SPACE, seed=1))
    with pytest.raises(Boom):
        study.optimize(objective, n_trials=50, n_jobs=2, catch=(ValueError,))
    trials = study.trials
    assert trials[3].state == TrialState.FAILED and "Boom" in trials[3].fail_reason
    assert all(t.state != TrialState.RUNNING for t in trials) and len(trials) < 50


def test_a_crashed_worker_fails_its_trial_and_the_study_goes_on():
    def objective(trial):
        if trial.number == 1:
            os._exit(3)
        return trial["x"]

    study = calipers.create_study(space=SPACE, searcher=StandInRandom(SPACE, seed=1))
    study.optimize(objective, n_trials=8, n_jobs=2)
    trials = study.trials
    assert len(trials) == 8 and all(t.state.finished for t in trials)
    assert trials[1].state == TrialState.FAILED
    assert "Terminated" in trials[1].fail_reason or "terminated" in trials[1].fail_reason
    # the trials that shared the broken pool ran again alone and completed: only the
    # trial that crashed its worker fails
    assert [t.number for t in trials if t.state != TrialState.COMPLETE] == [1]


class RerunExecutor:
    """Runs every task twice (as a cluster does when a worker dies mid-task)."""

    def __init__(self):
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
        self._max_workers = 2

    def submit(self, fn, *args):
        def twice():
            fn(*args)
            return fn(*args)

        return self.pool.submit(twice)


def test_executor_rerunning_tasks_records_each_trial_once(db_url, study_name):
    calls = []

    def objective(trial):
        calls.append(trial.number)
        trial.report(trial["x"], 0)
        return trial["x"]

    study = calipers.create_study(space=SPACE, searcher=StandInRandom(SPACE, seed=2),
                                  storage=db_url, study_name=study_name)
    seen = []
    study.optimize(objective, n_trials=6, executor=RerunExecutor(),
                   callbacks=[lambda s, t: seen.append(t.number)])
    assert sorted(calls) == sorted(list(range(6)) * 2)
    trials = study.trials
    assert [t.number for t in trials] == list(range(6)) and sorted(seen) == list(range(6))
    assert all(t.state == TrialState.COMPLETE and t.intermediate_values == {0: t.value}
               for t in trials)


WORKER = """
import sys, time
sys.path.insert(0, {here!r})
from _standins import StandInRandom
import calipers
from calipers.search import Float, Int
SPACE = {{"x": Float(-5.0, 5.0), "n": Int(1, 4)}}
url, name, marker, n_trials, kill_at, grace = sys.argv[1:7]
study = calipers.create_study(space=SPACE, searcher=StandInRandom(SPACE, seed=0), storage=url,
                              study_name=name, load_if_exists=True,
                              heartbeat_interval=0.2, heartbeat_grace=float(grace))
def objective(trial):
    if trial.number == int(kill_at):
        open(marker, "w").write("started")
        time.sleep(120)
    trial.report(trial["x"], 0)
    return trial["x"] ** 2
mine = []
study.optimize(objective, n_trials=int(n_trials), callbacks=[lambda s, t: mine.append(t.number)])
print("ran", sorted(mine), "sees", len(study.trials))
"""


def _worker(tmp_path, url, name, n_trials, kill_at=-1, marker="never", grace=60.0):
    script = tmp_path / "worker.py"
    if not script.exists():
        # written once and atomically: rewriting it for each worker raced with a
        # worker still starting up, which then ran a truncated (empty) script and
        # exited 0 without running a trial
        tmp = tmp_path / f"worker.{os.getpid()}.tmp"
        tmp.write_text(textwrap.dedent(WORKER.format(here=HERE)))
        os.replace(tmp, script)
    return subprocess.Popen(
        [sys.executable, str(script), url, name, str(marker), str(n_trials), str(kill_at),
         str(grace)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


@pytest.mark.parametrize(
    ("backend", "n_procs", "n_trials"), [("sqlite", 8, 15), ("postgres", 3, 10)]
)
def test_processes_share_one_study(backend, n_procs, n_trials, tmp_path, study_name, request):
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'shared.db'}"
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    procs = [_worker(tmp_path, url, study_name, n_trials) for _ in range(n_procs)]
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (_out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
        assert "locked" not in err.lower()
    study = calipers.load_study(study_name=study_name, storage=url,
                                searcher=StandInRandom(SPACE, seed=0))
    trials = study.trials
    # what each worker says it saw, to tell a worker that ran short from lost rows
    said = [out.strip() for out, _err in outputs]
    assert [t.number for t in trials] == list(range(n_procs * n_trials)), said
    assert all(t.state == TrialState.COMPLETE for t in trials), said


def test_sigkill_mid_trial_then_resume_loses_nothing(db_url, tmp_path, study_name):
    n_trials, kill_at = 10, 4
    marker = tmp_path / "started"
    proc = _worker(tmp_path, db_url, study_name, n_trials, kill_at, marker, grace=1.0)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)

    from calipers.search._storage import get_storage

    storage = get_storage(db_url)
    raw, _ = storage.read_trials(storage.get_study(study_name).study_id, 0)
    storage.close()
    assert [t.state.value for t in raw] == ["COMPLETE"] * kill_at + ["RUNNING"]
    killed_params = raw[kill_at].params
    time.sleep(1.2)  # let the dead process's heartbeat age past the grace period

    study = calipers.load_study(study_name=study_name, storage=db_url,
                                searcher=StandInRandom(SPACE, seed=0),
                                heartbeat_interval=0.2, heartbeat_grace=1.0)
    trials = study.trials
    assert trials[:kill_at] == raw[:kill_at]  # nothing finished was lost
    assert trials[kill_at].state == TrialState.FAILED
    assert "heartbeat lost" in trials[kill_at].fail_reason
    assert trials[kill_at + 1].state == TrialState.WAITING
    assert trials[kill_at + 1].params == killed_params

    done = len(study.get_trials([TrialState.COMPLETE]))
    study.optimize(lambda t: t["x"] ** 2, n_trials=n_trials - done)
    trials = study.trials
    assert len([t for t in trials if t.state == TrialState.COMPLETE]) == n_trials
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert trials[kill_at + 1].params == killed_params  # the slot re-ran
    assert trials[kill_at + 1].state == TrialState.COMPLETE


def test_keyboard_interrupt_while_workers_run_fails_their_trials(db_url, study_name):
    import _thread
    import threading

    def objective(trial):
        time.sleep(0.05 if trial.number < 2 else 30)
        return trial["x"]

    study = calipers.create_study(space=SPACE, searcher=StandInRandom(SPACE, seed=1),
                                  storage=db_url, study_name=study_name)

    def interrupt_when_stuck():
        deadline = time.monotonic() + 60
        while True:
            running = study._running.copy()  # written by the main thread meanwhile
            if len(running) == 2 and min(running) >= 2:
                break
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
        _thread.interrupt_main()

    threading.Thread(target=interrupt_when_stuck, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        study.optimize(objective, n_trials=6, n_jobs=2)
    trials = study.trials
    assert [t.state.value for t in trials] == ["COMPLETE", "COMPLETE", "FAILED", "FAILED"]
    assert all("KeyboardInterrupt" in t.fail_reason for t in trials[2:])
    study.optimize(lambda t: t["x"], n_trials=2, n_jobs=2)  # a fresh pool works
    assert [t.state.value for t in study.trials][4:] == ["COMPLETE", "COMPLETE"]


# -- batch_size=None (the default): one trial per parallel slot --------------------------


def _sleepy():
    def objective(trial):
        start = time.time()
        time.sleep(0.4)
        trial.set_user_attr("ran", [start, time.time()])
        return (trial["x"] - 1.0) ** 2 + trial["n"]

    return objective


def _overlap(a, b):
    """Whether the [start, end] intervals a and b share some time."""
    return a[0] < b[1] and b[0] < a[1]


@pytest.mark.parametrize("how", ["n_jobs", "executor"])
def test_default_batch_size_runs_bayes_in_parallel_without_a_warning(how):
    """The README's flows (n_jobs=2; an executor) with the default searcher and no
    batch_size: each round holds 2 trials that run at the same time, and the study
    does not warn that trials run one at a time (before: batch_size 1, serial, warned)."""
    study = calipers.create_study(space=SPACE, searcher="bayes", seed=0,
                                  searcher_options={"n_startup_trials": 2})
    assert study.batch_size is None  # resolved per optimize call
    kwargs = ({"n_jobs": 2} if how == "n_jobs"
              else {"executor": concurrent.futures.ThreadPoolExecutor(max_workers=2)})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        study.optimize(_sleepy(), n_trials=6, **kwargs)
    assert not [w for w in caught if "batch_size" in str(w.message)], caught
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 6
    # rounds of 2: the study started trial 2r+1 before it recorded trial 2r's end ...
    for r in range(3):
        first, second = trials[2 * r], trials[2 * r + 1]
        assert second.datetime_start < first.datetime_complete, r
    # ... and the objectives really ran at the same time (each sleeps 0.4 s; allow one
    # round to miss on a loaded machine)
    ran = [t.user_attrs["ran"] for t in trials]
    assert sum(_overlap(ran[2 * r], ran[2 * r + 1]) for r in range(3)) >= 2, ran


def test_same_seed_same_batch_size_same_trials_resolved_or_given():
    """n_jobs=2 with the default batch size (resolved to 2) asks exactly what a serial
    run with batch_size=2 asks; a serial run with batch size 1 asks other trials."""
    options = {"n_startup_trials": 2}

    def run(n_jobs, batch_size):
        study = calipers.create_study(space=SPACE, searcher="bayes", seed=3,
                                      batch_size=batch_size, searcher_options=options)
        study.optimize(_objective(), n_trials=8, n_jobs=n_jobs)
        return [(t.number, t.params, t.value) for t in study.trials]

    parallel_default = run(2, None)
    assert parallel_default == run(1, 2)
    serial_default = run(1, None)  # resolves to 1
    assert serial_default == run(1, 1)
    assert serial_default[:2] == parallel_default[:2]  # the start-up design
    assert serial_default[3:] != parallel_default[3:]  # rounds of 2 see fewer results


def test_batch_size_is_stored_and_can_be_given_on_resume(db_url, study_name):
    calipers.create_study(space=SPACE, searcher="bayes", seed=0, storage=db_url,
                          study_name=study_name, batch_size=3)
    assert calipers.load_study(study_name=study_name, storage=db_url).batch_size == 3
    assert calipers.load_study(study_name=study_name, storage=db_url,
                               batch_size=2).batch_size == 2
    again = calipers.create_study(space=SPACE, searcher="bayes", storage=db_url,
                                  study_name=study_name, load_if_exists=True)
    assert again.batch_size == 3
    other = calipers.create_study(space=SPACE, searcher="bayes", storage=db_url,
                                  study_name=study_name + "-auto")
    assert other.batch_size is None
    assert calipers.load_study(study_name=study_name + "-auto", storage=db_url).batch_size \
        is None
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="batch_size must be a positive int, or None"):
            calipers.create_study(space=SPACE, batch_size=bad)
        with pytest.raises(ValueError, match="batch_size"):
            calipers.load_study(study_name=study_name, storage=db_url, batch_size=bad)


def test_an_explicit_batch_size_below_n_jobs_warns_how_many_slots_idle():
    study = calipers.create_study(space=SPACE, searcher=StandInAdaptive(SPACE, seed=1),
                                  batch_size=2)
    with pytest.warns(RuntimeWarning, match=r"at most 2 of the 4 parallel slots"):
        study.optimize(_objective(), n_trials=4, n_jobs=4)
    searcher = study.searcher
    assert searcher.seen_at_ask == {0: 0, 1: 0, 2: 2, 3: 2}  # rounds of 2, as asked
