"""Storages: clear errors for bad URLs and names, atomic trial bookkeeping, incremental
reads, and per-trial cost that does not grow with the study (statement counts, memory)."""

from __future__ import annotations

import math
import time
import tracemalloc

import pytest
from _standins import StandInRandom

import calipers
from calipers.errors import MissingExtraError
from calipers.search import Float, Int
from calipers.search._storage import (
    DuplicateStudyError,
    InMemoryStorage,
    StorageError,
    UnknownStudyError,
    get_storage,
)
from calipers.search._trial import TrialState

SPACE = {"x": Float(-5.0, 5.0), "n": Int(1, 4)}


def make(url, name, **kw):
    return calipers.create_study(
        space=SPACE, searcher=StandInRandom(SPACE, seed=0), storage=url, study_name=name, **kw
    )


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


# -- bad URLs ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "error", "match"),
    [
        ("nosuchdb://host/x", StorageError, "unknown database dialect 'nosuchdb'"),
        ("not a url", StorageError, "is not a database URL"),
        ("mysql+pymysql://u@localhost/db", StorageError, "pip install pymysql"),
        ("postgresql+psycopg2://u@localhost/db", StorageError, "calipers\\[postgres\\]"),
        ("sqlite:////nonexistent-folder-xyz/study.db", StorageError, "not an existing folder"),
        ("sqlite:////etc/passwd/study.db", StorageError, "not an existing folder"),
        ("postgresql+psycopg://u@127.0.0.1:1/db", StorageError, "cannot open the study storage"),
    ],
)
def test_bad_storage_urls_raise_clear_errors(url, error, match):
    pytest.importorskip("psycopg") if "psycopg:" in url else None
    try:
        import pymysql  # noqa: F401

        if "pymysql" in url:
            pytest.skip("pymysql is installed")
    except ImportError:
        pass
    with pytest.raises(error, match=match):
        calipers.create_study(space=SPACE, storage=url)


def test_missing_psycopg_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'calipers\[postgres\]'"):
        get_storage("postgresql+psycopg://u@localhost/db")


def test_storage_type_error():
    with pytest.raises(TypeError, match="SQLAlchemy URL"):
        get_storage(3.5)


# -- study names -------------------------------------------------------------------
def test_duplicate_name_without_load_if_exists_keeps_the_study(storage_url, study_name):
    study = make(storage_url, study_name)
    study.optimize(lambda t: t["x"], n_trials=3)
    store = study.storage
    with pytest.raises(DuplicateStudyError, match="load_if_exists=True"):
        make(store, study_name)
    again = make(store, study_name, load_if_exists=True)
    assert again.trials == study.trials and len(again.trials) == 3


def test_load_unknown_study_lists_the_known_ones(db_url, study_name):
    make(db_url, study_name)
    with pytest.raises(UnknownStudyError, match=f"no study named 'nope'.*{study_name}"):
        calipers.load_study(study_name="nope", storage=db_url)
    with pytest.raises(KeyError):  # UnknownStudyError is a KeyError too
        calipers.load_study(study_name="nope", storage=db_url)


def test_space_and_direction_mismatch_on_resume(db_url, study_name):
    make(db_url, study_name)
    with pytest.raises(ValueError, match="another search space"):
        calipers.create_study(space={"x": Float(0.0, 1.0)}, storage=db_url,
                              study_name=study_name, load_if_exists=True,
                              searcher=StandInRandom({"x": Float(0.0, 1.0)}))
    with pytest.raises(ValueError, match="'minimize', not 'maximize'"):
        make(db_url, study_name, load_if_exists=True, direction="maximize")
    with pytest.raises(ValueError, match="searcher=<instance>"):
        calipers.load_study(study_name=study_name, storage=db_url)  # not registered
    assert get_storage(db_url).get_study(study_name).study_name == study_name


def test_load_study_by_registered_name(db_url, study_name):
    from calipers import plugins

    if "random" not in plugins.names("searcher"):
        pytest.skip("searcher 'random' is not registered yet")
    study = calipers.create_study(space=SPACE, searcher="random", seed=4, storage=db_url,
                                  study_name=study_name)
    study.optimize(lambda t: t["x"], n_trials=4)
    again = calipers.load_study(study_name=study_name, storage=db_url)
    again.optimize(lambda t: t["x"], n_trials=2)
    ref = calipers.create_study(space=SPACE, searcher="random", seed=4)
    ref.optimize(lambda t: t["x"], n_trials=6)
    assert [t.params for t in again.trials] == [t.params for t in ref.trials]


# -- the storage contract ------------------------------------------------------------
def test_trial_bookkeeping(storage):
    info = storage.create_study("s", "minimize", {"params": []}, {"name": "x"})
    assert storage.study_names() == ["s"] and storage.get_study("s") == info
    sid = info.study_id
    t0, n0, s0 = storage.create_trial(sid, 100.0, {"x": 1.0})
    t1, n1, s1 = storage.create_trial(sid, 100.0, {"x": 2.0}, TrialState.WAITING)
    assert (n0, n1) == (0, 1) and s1 == s0 + 1
    trials, seq = storage.read_trials(sid, 0)
    assert seq == s1
    assert [(t.number, t.state) for t in trials] == [(0, "RUNNING"), (1, "WAITING")]
    assert trials[0].start == 100.0 and trials[1].start is None
    assert storage.read_trials(sid, seq) == ([], seq)  # nothing changed since

    assert storage.report(sid, t0, 0, 0.5) == seq + 1
    storage.report(sid, t0, 0, 0.25)  # overwrite
    storage.report(sid, t0, 1, math.nan)
    assert storage.set_user_attr(sid, t0, "k", [1, {"a": None}]) == seq + 4
    changed, seq2 = storage.read_trials(sid, seq)
    assert [t.number for t in changed] == [0] and seq2 > seq
    assert changed[0].intermediate_values[0] == 0.25
    assert math.isnan(changed[0].intermediate_values[1])
    assert changed[0].user_attrs == {"k": [1, {"a": None}]}

    assert storage.finish_trial(sid, t0, TrialState.COMPLETE, 1.5, None, 101.0) == seq2 + 1
    assert storage.finish_trial(sid, t0, TrialState.FAILED, None, "late", 102.0) is None
    claimed = storage.claim_waiting(sid, 103.0)
    assert claimed == (t1, 1, {"x": 2.0}, seq2 + 2)
    assert storage.claim_waiting(sid, 103.0) is None
    trials, _ = storage.read_trials(sid, 0)
    assert [(t.state, t.value) for t in trials] == [("COMPLETE", 1.5), ("RUNNING", None)]
    assert trials[0].duration.total_seconds() == pytest.approx(1.0)

    storage.delete_study("s")
    assert storage.study_names() == []
    with pytest.raises(UnknownStudyError):
        storage.get_study("s")


def test_fail_stale_fails_and_reenqueues_up_to_max_retries(storage):
    sid = storage.create_study("s", "minimize", {"params": []}, {}).study_id
    live, _, _ = storage.create_trial(sid, 1000.0, {"x": 1.0})
    storage.create_trial(sid, 10.0, {"x": 2.0})  # dead since t=10
    storage.create_trial(sid, 10.0)  # dead before its params were written
    storage.heartbeat([live], 1000.0)
    assert storage.fail_stale(sid, grace=60.0, now=1000.0, max_retries=1) == [1, 2]
    trials, _ = storage.read_trials(sid, 0)
    by_number = {t.number: t for t in trials}
    assert by_number[0].state == "RUNNING"
    assert by_number[1].state == "FAILED" and "heartbeat lost" in by_number[1].fail_reason
    assert by_number[2].state == "FAILED"
    assert by_number[3].state == "WAITING" and by_number[3].params == {"x": 2.0}
    assert 4 not in by_number  # no params, nothing to re-run
    # the retry dies too: failed again, but not enqueued a second time (trial 0,
    # never retried, is)
    assert storage.claim_waiting(sid, 1000.0)[1] == 3
    assert storage.fail_stale(sid, grace=60.0, now=2000.0, max_retries=1) == [0, 3]
    trials, _ = storage.read_trials(sid, 0)
    trials.sort(key=lambda t: t.number)
    assert [t.state for t in trials] == ["FAILED"] * 4 + ["WAITING"]
    assert trials[4].params == {"x": 1.0}


# -- cost per trial does not grow with the study ---------------------------------------
def _count_statements(engine):
    import sqlalchemy as sa

    counter = {"n": 0}

    def before(*args):
        counter["n"] += 1

    sa.event.listen(engine, "before_cursor_execute", before)
    return counter


def test_sql_statements_per_trial_do_not_grow_with_the_study(db_url, study_name):
    study = make(db_url, study_name)
    counter = _count_statements(study.storage.engine)

    def per_trial(k):
        start = counter["n"]
        study.optimize(lambda t: t["x"] ** 2, n_trials=k)
        return (counter["n"] - start) / k

    per_trial(20)
    early = per_trial(50)
    study.optimize(lambda t: t["x"] ** 2, n_trials=930)  # the late window starts at 1000
    late = per_trial(50)
    assert late == early, (early, late)
    # BEGIN IMMEDIATE + number + insert (asked); BEGIN IMMEDIATE + seq + update (told);
    # no reads: nobody else wrote, the study updates its cache itself. SQLite counts
    # its BEGINs; optimize() adds a few statements per call (stale check, one read).
    assert early <= 6 + 4 / 50
    # best_* and trials use the cache: one query (+ SQLite's BEGIN) when nothing changed
    before = counter["n"]
    _ = study.best_value
    assert counter["n"] - before <= 2


def test_memory_per_trial_is_bounded_by_the_trial_records(storage_url, study_name):
    study = make(storage_url, study_name)
    objective = lambda t: t["x"] ** 2  # noqa: E731
    study.optimize(objective, n_trials=100)
    tracemalloc.start()
    try:
        study.optimize(objective, n_trials=20)  # warm: engine caches, pools
        first = tracemalloc.take_snapshot()
        study.optimize(objective, n_trials=400)
        second = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(s.size_diff for s in second.compare_to(first, "filename"))
    per_trial = grown / 400
    # a FrozenTrial with two params, cached by the study (and kept by an in-memory
    # storage and by the searcher's history) is ~2-3 KB; nothing else may pile up
    assert per_trial < 6000, per_trial


def test_incremental_reads_see_other_writers(db_url, study_name):
    a = make(db_url, study_name)
    b = make(db_url, study_name, load_if_exists=True)
    a.optimize(lambda t: 1.0, n_trials=3)
    b.optimize(lambda t: 0.5, n_trials=2)
    assert [t.number for t in a.trials] == list(range(5))
    assert a.best_value == 0.5 and a.best_trial.number == 3
    # b's searcher learned a's trials (replayed), a's learned b's
    assert len(a.searcher.told) == 5 and len(b.searcher.told) == 5


def test_in_memory_study_with_a_heartbeat_free_loop(study_name):
    study = make(None, study_name)
    study.optimize(lambda t: t["x"], n_trials=5)
    assert isinstance(study.storage, InMemoryStorage)
    assert time.time() - study.trials[-1].complete < 60


def test_resume_with_another_seed_warns_and_keeps_the_stored_one(db_url, study_name):
    from calipers import plugins

    if "random" not in plugins.names("searcher"):
        pytest.skip("searcher 'random' is not registered yet")
    calipers.create_study(space=SPACE, searcher="random", seed=1, storage=db_url,
                          study_name=study_name)
    with pytest.warns(RuntimeWarning, match="seed=1"):
        study = calipers.create_study(space=SPACE, searcher="random", seed=2, storage=db_url,
                                      study_name=study_name, load_if_exists=True)
    assert study.searcher.seed == 1
