"""Tuning on a dask cluster: ``study.optimize(..., executor=client)`` on a LocalCluster of
2 worker processes, one of which is SIGKILLed while it runs a trial.

Every trial must be recorded exactly once (no number missing or doubled), none lost,
none left RUNNING, each with the value of its own parameters: dask re-runs the dead
worker's task on the other worker and the study writes the trial when the result
arrives.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time

import pytest

distributed = pytest.importorskip("distributed")

from calipers_dask import DaskExecutor, dask_executor  # noqa: E402

import calipers  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


SPACE = {"x": calipers.search.Float(-2.0, 2.0), "k": calipers.search.Int(1, 5),
         "c": calipers.search.Categorical(["a", "b"])}


def expected_value(params):
    return (params["x"] - 0.5) ** 2 + params["k"] + (0.25 if params["c"] == "b" else 0.0)


def make_objective(marker_dir, victim, sleep):
    """An objective whose trial ``victim`` records its worker's pid and hangs the first
    time it runs (the test kills that worker); a re-run finds the marker and finishes."""
    marker = os.path.join(str(marker_dir), "victim.pid")

    def objective(trial):
        import os
        import time

        if trial.number == victim and not os.path.exists(marker):
            tmp = marker + ".tmp"
            with open(tmp, "w") as f:
                f.write(str(os.getpid()))
            os.replace(tmp, marker)
            time.sleep(sleep)
        time.sleep(0.05)
        p = trial.params
        return (p["x"] - 0.5) ** 2 + p["k"] + (0.25 if p["c"] == "b" else 0.0)

    return objective, marker


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None, silence_logs=50) as cluster, \
            distributed.Client(cluster) as c:
        yield c


def kill_when_ready(marker, killed, timeout=60.0):
    """In a thread: wait for the victim trial's pid, SIGKILL that worker process."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(marker):
            with open(marker) as f:
                pid = int(f.read())
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            return
        time.sleep(0.02)


def check_every_trial_once(study, n_trials):
    trials = study.trials
    numbers = sorted(t.number for t in trials)
    assert numbers == list(range(n_trials)), numbers
    states = {str(t.state) for t in trials}
    assert states == {"COMPLETE"}, [(t.number, str(t.state), t.fail_reason) for t in trials
                                    if str(t.state) != "COMPLETE"]
    for t in trials:
        assert math.isclose(t.value, expected_value(t.params), rel_tol=1e-12), t


@pytest.mark.parametrize("wrap", [False, True], ids=["client", "DaskExecutor"])
def test_killed_worker_loses_no_trial(client, tmp_path, wrap):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = calipers.create_study(space=SPACE, searcher="random", seed=1,
                                  storage=storage, study_name="dask")
    pids_before = set(client.run(os.getpid).values())
    n_trials, victim = 12, 3
    objective, marker = make_objective(tmp_path, victim, sleep=60)
    killed: list[int] = []
    killer = threading.Thread(target=kill_when_ready, args=(marker, killed), daemon=True)
    killer.start()
    executor = DaskExecutor(client) if wrap else client
    study.optimize(objective, n_trials=n_trials, executor=executor)
    killer.join(timeout=5)
    assert killed and killed[0] in pids_before  # a worker really died mid-trial
    check_every_trial_once(study, n_trials)
    # What another process reads from the database is the same: nothing RUNNING.
    again = calipers.load_study(study_name="dask", storage=storage)
    assert [(t.number, str(t.state), t.value) for t in again.trials] == \
        [(t.number, str(t.state), t.value) for t in study.trials]
    client.wait_for_workers(2, timeout=60)  # the nanny restarted the dead one


def test_executor_runs_on_the_cluster_and_shares_the_objective(client, tmp_path):
    seen, shared = [], []
    n_trials = 6
    study = calipers.create_study(space=SPACE, searcher="random", seed=2,
                                  storage=f"sqlite:///{tmp_path / 's.db'}", study_name="s")
    objective, _ = make_objective(tmp_path, victim=-1, sleep=0)
    with DaskExecutor(client) as ex:
        original = ex.client.submit

        def spy(fn, *args, **kwargs):
            if not kwargs["key"].startswith("calipers-shared-"):
                seen.append((args, kwargs))
            else:
                shared.append(args)
            return original(fn, *args, **kwargs)

        ex.client.submit = spy
        try:
            study.optimize(objective, n_trials=n_trials, executor=ex)
        finally:
            del ex.client.submit
        assert ex.nthreads() == client.nthreads()
        assert len(ex._scattered) >= 1  # the objective went to the cluster once
    check_every_trial_once(study, n_trials)
    assert len(seen) == n_trials
    keys = [kw["key"] for _, kw in seen]
    assert len(set(keys)) == n_trials and all(k.startswith("calipers-trial-") for k in keys)
    assert all(kw["pure"] is False for _, kw in seen)
    # After the first submission the objective is passed as a future, not pickled again.
    assert objective in seen[0][0]
    assert all(objective not in args for args, _ in seen[2:])
    assert sum(objective in args for args in shared) == 1  # sent once more, as a task


def test_dask_executor_defaults_to_the_current_client(client):
    ex = dask_executor()
    assert ex.client is client or ex.client.scheduler.address == client.scheduler.address
    with pytest.raises(TypeError, match="dask.distributed Client"):
        DaskExecutor(object())


def test_same_trials_as_in_process(client, tmp_path):
    """A seeded study gives the same trials (number -> params, value) on the cluster."""
    objective, _ = make_objective(tmp_path, victim=-1, sleep=0)
    local = calipers.create_study(space=SPACE, searcher="random", seed=5)
    local.optimize(objective, n_trials=8)
    remote = calipers.create_study(space=SPACE, searcher="random", seed=5)
    remote.optimize(objective, n_trials=8, executor=DaskExecutor(client))
    as_set = lambda s: {(t.number, tuple(sorted(t.params.items())), t.value)  # noqa: E731
                        for t in s.trials}
    assert as_set(local) == as_set(remote)


TUNE_SPEC = """
seed = 2
scoring = "roc_auc"
[data]
dataset = "breast_cancer"
[estimator]
class = "sklearn.ensemble.HistGradientBoostingClassifier"
params = { max_iter = 10, early_stopping = false, random_state = 0 }
[space]
learning_rate = { type = "float", low = 0.02, high = 0.5, log = true }
max_leaf_nodes = { type = "int", low = 4, high = 32 }
[searcher]
name = "random"
[budget]
n_trials = 4
[cv]
n_splits = 3
"""


def test_calipers_tune_on_the_cluster(client, tmp_path, capsys):
    """``calipers tune --dask ADDRESS``: the same trials as tuning in this process."""
    pytest.importorskip("sklearn")
    from calipers.cli.main import main

    spec = tmp_path / "spec.toml"
    spec.write_text(TUNE_SPEC)
    address = client.scheduler.address
    assert main(["tune", str(spec), "--no-progress", "--study-name", "here"]) == 0
    assert main(["tune", str(spec), "--no-progress", "--study-name", "there",
                 "--dask", address]) == 0
    out = capsys.readouterr().out
    assert "trials: 4 (4 complete)" in out
    url = f"sqlite:///{tmp_path / 'calipers-study.db'}"
    here = calipers.load_study(study_name="here", storage=url).trials
    there = calipers.load_study(study_name="there", storage=url).trials
    assert [(t.number, t.params, t.value) for t in here] == \
        [(t.number, t.params, t.value) for t in there]
