"""Trials whose process died: a dead owner on this machine is found at once (no wait for
the heartbeat grace), a reused pid is not taken for the owner, owners elsewhere are left
to the heartbeat, and databases of the version before owners were recorded still open."""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from _standins import StandInRandom

import calipers
from calipers.search import Float, Int, _owner
from calipers.search._sql_schema import trials as trials_table
from calipers.search._storage import InMemoryStorage, get_storage
from calipers.search._trial import TrialState

SPACE = {"x": Float(-5.0, 5.0), "n": Int(1, 4)}
HERE = os.path.dirname(os.path.abspath(__file__))
LINUX = sys.platform.startswith("linux") and os.path.exists("/proc/self/stat")
needs_linux = pytest.mark.skipif(not LINUX, reason="reads /proc (Linux)")


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def storage(request, tmp_path):
    if request.param == "memory":
        store = InMemoryStorage()
    elif request.param == "sqlite":
        store = get_storage(f"sqlite:///{tmp_path / 's.db'}")
    else:
        store = get_storage(request.getfixturevalue("fresh_postgres_url"))
    yield store
    store.close()


@pytest.fixture
def sleeper():
    """A live process unrelated to any trial."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=30)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    return proc.pid


def _create_owned(storage, sid, owner, monkeypatch, now, params):
    """A RUNNING trial as if ``owner`` had started it."""
    with monkeypatch.context() as m:
        m.setattr(_owner, "this_process", lambda: owner)
        return storage.create_trial(sid, now, params)[0]


def _by_number(storage, sid):
    trials, _ = storage.read_trials(sid, 0)
    return {t.number: t for t in trials}


# -- a real kill -9, then an immediate resume ----------------------------------------
WORKER = """
import sys, time
sys.path.insert(0, {here!r})
from _standins import StandInRandom
import calipers
from calipers.search import Float, Int
SPACE = {{"x": Float(-5.0, 5.0), "n": Int(1, 4)}}
url, name, marker, kill_at = sys.argv[1:5]
study = calipers.create_study(space=SPACE, searcher=StandInRandom(SPACE, seed=0), storage=url,
                              study_name=name)  # default heartbeat: 5 s, grace 60 s
def objective(trial):
    if trial.number == int(kill_at):
        open(marker, "w").write("started")
        time.sleep(120)
    return trial["x"] ** 2
study.optimize(objective, n_trials=10)
"""


@needs_linux
def test_kill_9_then_immediate_resume_leaves_nothing_running(db_url, tmp_path, study_name):
    kill_at, marker, script = 2, tmp_path / "started", tmp_path / "worker.py"
    script.write_text(textwrap.dedent(WORKER.format(here=HERE)))
    proc = subprocess.Popen(
        [sys.executable, str(script), db_url, study_name, str(marker), str(kill_at)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    killed_at = time.monotonic()

    study = calipers.load_study(study_name=study_name, storage=db_url,
                                searcher=StandInRandom(SPACE, seed=0))  # grace: 60 s
    trials = study.trials
    assert [t.state for t in trials[:kill_at]] == [TrialState.COMPLETE] * kill_at
    killed = trials[kill_at]
    assert killed.state == TrialState.FAILED
    assert f"owner process {proc.pid} on host" in killed.fail_reason
    assert f"no process {proc.pid} is running" in killed.fail_reason
    retry = trials[kill_at + 1]
    assert retry.state == TrialState.WAITING and retry.params == killed.params

    study.optimize(lambda t: t["x"] ** 2, n_trials=3)
    assert time.monotonic() - killed_at < 30  # well inside the heartbeat grace
    trials = study.trials
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert trials[kill_at + 1].state == TrialState.COMPLETE
    assert trials[kill_at + 1].params == killed.params  # the killed trial's params re-ran
    assert [t.state for t in trials].count(TrialState.FAILED) == 1


# -- liveness of recorded owners -------------------------------------------------------
@needs_linux
def test_reused_pid_is_not_taken_for_the_owner(storage, sleeper, monkeypatch):
    sid = storage.create_study("s", "minimize", {"params": []}, {}).study_id
    live = _owner.owner_of(sleeper.pid)
    assert live is not None and live.start.startswith("ticks:")
    reused = dataclasses.replace(live, start="ticks:1")  # same pid, another process
    _create_owned(storage, sid, live, monkeypatch, 1000.0, {"x": 1.0})
    _create_owned(storage, sid, reused, monkeypatch, 1000.0, {"x": 2.0})

    assert storage.fail_stale(sid, grace=60.0, now=1001.0, max_retries=3) == [1]
    trials = _by_number(storage, sid)
    assert trials[0].state == TrialState.RUNNING  # its owner lives: left alone
    assert trials[1].state == TrialState.FAILED
    assert f"pid {sleeper.pid} was reused" in trials[1].fail_reason
    assert trials[2].state == TrialState.WAITING and trials[2].params == {"x": 2.0}

    sleeper.kill()
    sleeper.wait(timeout=30)
    assert storage.fail_stale(sid, grace=60.0, now=1002.0, max_retries=3) == [0]
    trials = _by_number(storage, sid)
    assert f"no process {sleeper.pid} is running" in trials[0].fail_reason
    assert trials[3].state == TrialState.WAITING and trials[3].params == {"x": 1.0}


@needs_linux
def test_claimed_trial_records_its_owner(storage, monkeypatch):
    sid = storage.create_study("s", "minimize", {"params": []}, {}).study_id
    storage.create_trial(sid, 1000.0, {"x": 3.0}, TrialState.WAITING)
    gone = dataclasses.replace(_owner.this_process(), pid=_dead_pid())
    with monkeypatch.context() as m:
        m.setattr(_owner, "this_process", lambda: gone)
        assert storage.claim_waiting(sid, 1000.0)[1] == 0
    assert storage.fail_stale(sid, grace=60.0, now=1001.0, max_retries=3) == [0]
    assert _by_number(storage, sid)[1].params == {"x": 3.0}


@needs_linux
def test_owners_elsewhere_are_left_to_the_heartbeat(storage, monkeypatch):
    sid = storage.create_study("s", "minimize", {"params": []}, {}).study_id
    here, pid = _owner.this_process(), _dead_pid()
    elsewhere = [
        dataclasses.replace(here, host="another-host.example", pid=pid),  # another host
        dataclasses.replace(here, machine=here.machine + "-other", pid=pid),  # container
        dataclasses.replace(here, machine="", pid=pid),  # liveness unknown
    ]
    for owner in elsewhere:
        _create_owned(storage, sid, owner, monkeypatch, 1000.0, {"x": 1.0})
    assert storage.fail_stale(sid, grace=60.0, now=1059.0, max_retries=0) == []
    assert storage.fail_stale(sid, grace=60.0, now=1061.0, max_retries=0) == [0, 1, 2]
    trials = _by_number(storage, sid)
    assert all("heartbeat lost" in t.fail_reason for t in trials.values())
    # this very process's own trial lives
    storage.create_trial(sid, 2000.0, {"x": 2.0})
    assert storage.fail_stale(sid, grace=60.0, now=2001.0, max_retries=0) == []


@needs_linux
def test_an_unreaped_zombie_is_dead():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    owner = _owner.owner_of(proc.pid)
    deadline = time.monotonic() + 30
    while True:  # exited, and not waited for: a zombie
        with open(f"/proc/{proc.pid}/stat", "rb") as f:
            if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                break
        assert time.monotonic() < deadline
        time.sleep(0.01)
    try:
        if owner is not None:  # None: it had exited before we looked
            assert "no process" in _owner.dead_reason(owner)
        assert _owner.owner_of(proc.pid) is None
    finally:
        proc.wait(timeout=30)


@needs_linux
def test_own_pid_reused_from_a_dead_owner():
    # the killed owner had the pid this process got since: same pid, other start time
    here = _owner.this_process()
    assert _owner.dead_reason(here) is None
    ghost = dataclasses.replace(here, start="ticks:1")
    assert f"pid {here.pid} was reused" in _owner.dead_reason(ghost)


def test_psutil_backend(sleeper):
    psutil = pytest.importorskip("psutil")
    here = dataclasses.replace(_owner.this_process(), machine="psutil", start="")
    live = _owner.owner_of(sleeper.pid, backend="psutil")
    assert live.machine == "psutil" and live.start.startswith("ctime:")
    assert _owner.dead_reason(live, here) is None
    born = float(live.start[6:])
    assert _owner.dead_reason(dataclasses.replace(live, start=f"ctime:{born + 0.001!r}"),
                              here) is None  # float noise is not another process
    reused = dataclasses.replace(live, start=f"ctime:{born - 3600!r}")
    assert "was reused" in _owner.dead_reason(reused, here)
    sleeper.kill()
    sleeper.wait(timeout=30)
    assert not psutil.pid_exists(sleeper.pid)
    assert "no process" in _owner.dead_reason(live, here)


def test_owner_text_round_trip_and_bad_records():
    me = _owner.this_process()
    assert _owner.Owner.from_text(me.text) == me
    zero_pid = '{"host":"h","machine":"m","pid":0,"start":"s"}'
    for bad in (None, "", "not json", '{"pid": 3}', zero_pid):
        assert _owner.Owner.from_text(bad) is None
        assert _owner.dead_reason(bad) is None


# -- databases written before owners were recorded ------------------------------------
# What the previous version wrote (sqlite3 .dump): one COMPLETE trial, one RUNNING one.
OLD_SQLITE = """
CREATE TABLE calipers_studies (
    study_id INTEGER NOT NULL, study_name VARCHAR(512) NOT NULL,
    direction VARCHAR(16) NOT NULL, space TEXT NOT NULL, searcher TEXT NOT NULL,
    next_number INTEGER NOT NULL, seq BIGINT NOT NULL, created DOUBLE NOT NULL,
    PRIMARY KEY (study_id), UNIQUE (study_name)
);
INSERT INTO "calipers_studies" VALUES(1,'old','minimize','{"params":[]}','{"name":"x"}',2,5,
    1.7966829e+09);
CREATE TABLE calipers_trial_user_attrs (
    trial_id INTEGER NOT NULL, "key" VARCHAR(512) NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (trial_id, "key"),
    FOREIGN KEY(trial_id) REFERENCES calipers_trials (trial_id) ON DELETE CASCADE
);
INSERT INTO "calipers_trial_user_attrs" VALUES(1,'k','"v"');
CREATE TABLE calipers_trial_values (
    trial_id INTEGER NOT NULL, step INTEGER NOT NULL, value DOUBLE,
    PRIMARY KEY (trial_id, step),
    FOREIGN KEY(trial_id) REFERENCES calipers_trials (trial_id) ON DELETE CASCADE
);
INSERT INTO "calipers_trial_values" VALUES(1,0,0.5);
CREATE TABLE calipers_trials (
    trial_id INTEGER NOT NULL, study_id INTEGER NOT NULL, number INTEGER NOT NULL,
    state VARCHAR(16) NOT NULL, params TEXT, value DOUBLE, start DOUBLE, complete DOUBLE,
    heartbeat DOUBLE, fail_reason TEXT, retries INTEGER NOT NULL, seq BIGINT NOT NULL,
    PRIMARY KEY (trial_id),
    CONSTRAINT uq_calipers_trials_study_number UNIQUE (study_id, number),
    FOREIGN KEY(study_id) REFERENCES calipers_studies (study_id) ON DELETE CASCADE
);
INSERT INTO "calipers_trials" VALUES(1,1,0,'COMPLETE','{"x":1.0}',0.5,100.0,101.0,100.0,NULL,0,4);
INSERT INTO "calipers_trials" VALUES(2,1,1,'RUNNING','{"x":2.0}',NULL,102.0,NULL,102.0,NULL,0,5);
CREATE INDEX ix_calipers_trials_study_waiting ON calipers_trials (study_id, state, number)
    WHERE state = 'WAITING';
CREATE INDEX ix_calipers_trials_study_seq ON calipers_trials (study_id, seq);
CREATE INDEX ix_calipers_trials_study_running ON calipers_trials (study_id, state, heartbeat)
    WHERE state = 'RUNNING';
"""


def _columns(storage):
    import sqlalchemy as sa

    return {c["name"] for c in sa.inspect(storage.engine).get_columns(trials_table.name)}


def _old_database(backend, tmp_path, request):
    """URL of a database as the previous version left it (no owner column)."""
    if backend == "sqlite":
        path = tmp_path / "old.db"
        with sqlite3.connect(path) as conn:
            conn.executescript(OLD_SQLITE)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("fresh_postgres_url")
    store = get_storage(url)
    sid = store.create_study("old", "minimize", {"params": []}, {"name": "x"}).study_id
    t0, _, _ = store.create_trial(sid, 100.0, {"x": 1.0})
    store.report(sid, t0, 0, 0.5)
    store.set_user_attr(sid, t0, "k", "v")
    store.finish_trial(sid, t0, TrialState.COMPLETE, 0.5, None, 101.0)
    store.create_trial(sid, 102.0, {"x": 2.0})
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE calipers_trials DROP COLUMN owner")
    store.close()
    return url


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_database_of_the_previous_version_still_opens(backend, tmp_path, request):
    url = _old_database(backend, tmp_path, request)
    # several processes may open it at once: each adds the column or sees it added
    opened, errors = [], []

    def open_it():
        try:
            opened.append(get_storage(url))
        except Exception as err:  # noqa: BLE001 (reported below)
            errors.append(err)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for other in opened[1:]:
        other.close()
    store = opened[0]
    try:
        assert "owner" in _columns(store)
        sid = store.get_study("old").study_id
        trials = _by_number(store, sid)
        assert trials[0].state == TrialState.COMPLETE and trials[0].value == 0.5
        assert trials[0].intermediate_values == {0: 0.5} and trials[0].user_attrs == {"k": "v"}
        assert trials[1].state == TrialState.RUNNING  # no owner recorded: heartbeat only
        assert store.fail_stale(sid, grace=60.0, now=150.0, max_retries=1) == []
        assert store.fail_stale(sid, grace=60.0, now=200.0, max_retries=1) == [1]
        assert "heartbeat lost" in _by_number(store, sid)[1].fail_reason
        # new trials record their owner in the added column
        store.create_trial(sid, 300.0, {"x": 3.0})
        with store.engine.connect() as conn:
            owners = conn.execute(
                trials_table.select().where(trials_table.c.number == 3)
            ).one().owner
        assert _owner.Owner.from_text(owners) == _owner.this_process()
    finally:
        store.close()
    again = get_storage(url)  # opening a migrated database changes nothing
    assert len(_by_number(again, again.get_study("old").study_id)) == 4
    again.close()
