"""SQL storage of studies over SQLAlchemy 2 (SQLite, PostgreSQL, any SQLAlchemy URL).

Every storage call is one short transaction. Concurrency rules:

- Trial numbers and change-sequence numbers come from counters on the study's row,
  incremented with ``UPDATE ... RETURNING`` inside the writing transaction. The row
  lock this takes serializes the writers of one study, so numbers are unique and
  sequence numbers become visible in order (a reader that has seen ``seq = s`` has
  seen every change numbered ``<= s``): reads are incremental and exact.
- SQLite: WAL journal (readers never block the writer), ``synchronous=NORMAL``
  (durable across process crashes; WAL commits do not fsync), a busy timeout, and
  write transactions opened with ``BEGIN IMMEDIATE`` so that a writer waits for the
  lock at the start instead of failing with "database is locked" on a read-to-write
  upgrade. Any lock error that still escapes is retried with exponential backoff and
  jitter (PostgreSQL deadlocks and serialization failures too).
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc

from calipers.search import _owner
from calipers.search._sql_engine import make_engine, reason, transient
from calipers.search._sql_schema import (
    _BUMP,
    _BUMP_NUMBER,
    _BUMP_NUMBER_R,
    _BUMP_R,
    _CHANGED_ATTRS,
    _CHANGED_TRIALS,
    _CHANGED_VALUES,
    _CLAIM,
    _FINISH,
    _FIRST_WAITING,
    _INSERT_ATTR,
    _INSERT_TRIAL,
    _INSERT_VALUE,
    _IS_RUNNING,
    _RUNNING,
    _SEQ,
    _SET_PARAMS,
    _TOUCH_TRIAL,
    _UPDATE_ATTR,
    _UPDATE_VALUE,
    attrs_t,
    create_schema,
    studies,
    trials,
    values_t,
)
from calipers.search._storage import (
    HEARTBEAT_LOST,
    Storage,
    StorageError,
    StudyInfo,
    dumps,
    duplicate_study,
    stale_reason,
    unknown_study,
)
from calipers.search._trial import FrozenTrial, TrialState

__all__ = ["SqlStorage"]

T = TypeVar("T")

class SqlStorage(Storage):
    """Studies in a database reached through an SQLAlchemy URL.

    Parameters
    ----------
    url : str
        ``"sqlite:///study.db"`` (relative path), ``"sqlite:////abs/path.db"``,
        ``"postgresql+psycopg://user:password@host:5432/db"``, ...
    busy_timeout : float
        Seconds an SQLite writer waits for the lock before the retry loop takes over.
    max_attempts : int
        Attempts per transaction on lock errors (exponential backoff with jitter).
    engine_kwargs : dict, optional
        Extra arguments for :func:`sqlalchemy.create_engine`.
    """

    def __init__(
        self,
        url: str,
        *,
        busy_timeout: float = 30.0,
        max_attempts: int = 12,
        engine_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.max_attempts = int(max_attempts)
        self._engine = make_engine(url, busy_timeout, engine_kwargs or {})
        self.url = self._engine.url.render_as_string(hide_password=True)
        self._sqlite = self._engine.dialect.name == "sqlite"
        self._returning = bool(getattr(self._engine.dialect, "update_returning", False))
        try:
            self._run(create_schema, write=True, ddl=True)
        except exc.SQLAlchemyError as err:
            self._engine.dispose()
            raise StorageError(f"cannot open the study storage {self.url}: {reason(err)}") from err

    # -- plumbing --------------------------------------------------------------------
    @contextlib.contextmanager
    def _tx(self, write: bool) -> Iterator[sa.Connection]:
        with self._engine.connect() as conn:
            if self._sqlite:
                conn.execution_options(calipers_begin="IMMEDIATE" if write else "DEFERRED")
            with conn.begin():
                yield conn

    def _run(self, fn: Callable[[sa.Connection], T], write: bool = True, ddl: bool = False) -> T:
        delay = 0.005
        for attempt in range(self.max_attempts):
            try:
                with self._tx(write) as conn:
                    return fn(conn)
            except exc.SQLAlchemyError as err:
                text = str(err).lower()
                retry = transient(err) or (
                    ddl and ("already exists" in text or "duplicate column" in text)
                )  # tables (or added columns) created concurrently by another process
                if not retry or attempt == self.max_attempts - 1:
                    raise
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)
        raise AssertionError("unreachable")  # pragma: no cover

    def _bump(self, conn: sa.Connection, study_id: int, number: bool = False) -> tuple[int, int]:
        """Increment the study's seq (and next_number); return ``(seq, number)``."""
        args = {"b_sid": study_id}
        if self._returning:
            row = conn.execute(_BUMP_NUMBER_R if number else _BUMP_R, args).one()
        else:
            conn.execute(_BUMP_NUMBER if number else _BUMP, args)
            row = conn.execute(_SEQ, args).one()
        return int(row[0]), int(row[1]) - 1

    # -- studies ---------------------------------------------------------------------
    def create_study(self, name, direction, space, searcher):
        def fn(conn):
            found = conn.execute(
                sa.select(studies.c.study_id).where(studies.c.study_name == name)
            ).first()
            if found is not None:
                raise duplicate_study(name, self.url)
            result = conn.execute(
                studies.insert().values(
                    study_name=name,
                    direction=direction,
                    space=dumps(space),
                    searcher=dumps(searcher),
                    next_number=0,
                    seq=0,
                    created=time.time(),
                )
            )
            return int(result.inserted_primary_key[0])

        try:
            study_id = self._run(fn)
        except exc.IntegrityError:  # created by another process in between
            raise duplicate_study(name, self.url) from None
        return StudyInfo(study_id, name, direction, json.loads(dumps(space)), dict(searcher))

    def get_study(self, name):
        row = self._run(
            lambda conn: conn.execute(
                sa.select(studies).where(studies.c.study_name == name)
            ).first(),
            write=False,
        )
        if row is None:
            raise unknown_study(name, self.study_names(), self.url)
        return StudyInfo(
            int(row.study_id),
            row.study_name,
            row.direction,
            json.loads(row.space),
            json.loads(row.searcher),
        )

    def study_names(self):
        rows = self._run(
            lambda conn: conn.execute(sa.select(studies.c.study_name)).scalars().all(),
            write=False,
        )
        return sorted(rows)

    def delete_study(self, name):
        study_id = self.get_study(name).study_id

        def fn(conn):
            ids = sa.select(trials.c.trial_id).where(trials.c.study_id == study_id)
            conn.execute(values_t.delete().where(values_t.c.trial_id.in_(ids)))
            conn.execute(attrs_t.delete().where(attrs_t.c.trial_id.in_(ids)))
            conn.execute(trials.delete().where(trials.c.study_id == study_id))
            conn.execute(studies.delete().where(studies.c.study_id == study_id))

        self._run(fn)

    # -- trials ----------------------------------------------------------------------
    # Hot statements are built once (bound parameters): building one per call costs
    # several times more than running it on SQLite.
    def _insert_trial(self, conn, study_id, now, params, state, retries) -> tuple[int, int, int]:
        seq, number = self._bump(conn, study_id, number=True)
        running = state == TrialState.RUNNING
        result = conn.execute(
            _INSERT_TRIAL,
            {
                "study_id": study_id,
                "number": number,
                "state": TrialState(state).value,
                "params": None if params is None else dumps(params),
                "start": now if running else None,
                "heartbeat": now if running else None,
                "owner": _owner.this_process().text if running else None,
                "retries": retries,
                "seq": seq,
            },
        )
        return int(result.inserted_primary_key[0]), number, seq

    def create_trial(self, study_id, now, params=None, state=TrialState.RUNNING, retries=0):
        return self._run(
            lambda conn: self._insert_trial(conn, study_id, now, params, state, retries)
        )

    def _touch(self, study_id: int, write: Callable) -> int:
        """Run ``write(conn, seq)`` after bumping the study's seq (taking its row lock);
        return the seq."""

        def fn(conn):
            seq, _ = self._bump(conn, study_id)
            write(conn, seq)
            return seq

        return self._run(fn)

    def set_trial_params(self, study_id, trial_id, params):
        text = dumps(params)
        return self._touch(
            study_id,
            lambda conn, seq: conn.execute(
                _SET_PARAMS, {"b_tid": trial_id, "b_params": text, "b_seq": seq}
            ),
        )

    def claim_waiting(self, study_id, now):
        owner = _owner.this_process().text

        def fn(conn):
            while True:
                row = conn.execute(_FIRST_WAITING, {"b_sid": study_id}).first()
                if row is None:
                    return None
                seq, _ = self._bump(conn, study_id)
                done = conn.execute(
                    _CLAIM,
                    {"b_tid": row.trial_id, "b_now": now, "b_seq": seq, "b_owner": owner},
                )
                if done.rowcount == 1:
                    params = json.loads(row.params or "{}")
                    return int(row.trial_id), int(row.number), params, seq

        return self._run(fn)

    def finish_trial(self, study_id, trial_id, state, value, fail_reason, now):
        def write(conn, seq):
            done = conn.execute(
                _FINISH,
                {
                    "b_tid": trial_id,
                    "b_state": TrialState(state).value,
                    "b_value": value,
                    "b_reason": fail_reason,
                    "b_now": now,
                    "b_seq": seq,
                },
            )
            if done.rowcount != 1:  # finished before: undo the seq bump with the rest
                raise _AlreadyFinished

        try:
            return self._touch(study_id, write)
        except _AlreadyFinished:
            return None

    def report(self, study_id, trial_id, step, value):
        args = {"b_tid": trial_id, "b_step": step, "b_value": _nan_to_none(value)}
        return self._upsert(study_id, trial_id, _UPDATE_VALUE, _INSERT_VALUE, args)

    def set_user_attr(self, study_id, trial_id, key, value):
        args = {"b_tid": trial_id, "b_key": key, "b_value": dumps(value)}
        return self._upsert(study_id, trial_id, _UPDATE_ATTR, _INSERT_ATTR, args)

    def _upsert(self, study_id: int, trial_id: int, update: Any, insert: Any,
                args: dict[str, Any]) -> int:
        """Update a trial's row in a side table (insert it when missing) and stamp the
        trial with the new seq, in one transaction; return the seq."""

        def write(conn, seq):
            if conn.execute(update, args).rowcount == 0:
                conn.execute(insert, args)
            conn.execute(_TOUCH_TRIAL, {"b_tid": trial_id, "b_seq": seq})

        return self._touch(study_id, write)

    def heartbeat(self, trial_ids, now):
        if not trial_ids:
            return
        self._run(
            lambda conn: conn.execute(
                trials.update()
                .where(trials.c.trial_id.in_(list(trial_ids)), trials.c.state == "RUNNING")
                .values(heartbeat=now)
            )
        )

    def read_trials(self, study_id, since):
        args = {"b_sid": study_id, "b_since": since}

        def fn(conn):
            seq = int(conn.execute(_SEQ, args).one()[0])
            if seq <= since:
                return [], seq
            rows = conn.execute(_CHANGED_TRIALS, args).all()
            values: dict[int, dict[int, float]] = {}
            attrs: dict[int, dict[str, Any]] = {}
            if rows:
                for tid, step, val in conn.execute(_CHANGED_VALUES, args):
                    values.setdefault(tid, {})[int(step)] = math.nan if val is None else val
                for tid, key, val in conn.execute(_CHANGED_ATTRS, args):
                    attrs.setdefault(tid, {})[key] = json.loads(val)
            out = [
                FrozenTrial(
                    number=int(r.number),
                    params=json.loads(r.params) if r.params else {},
                    value=r.value,
                    state=TrialState(r.state),
                    start=r.start,
                    complete=r.complete,
                    intermediate_values=dict(sorted(values.get(r.trial_id, {}).items())),
                    user_attrs=attrs.get(r.trial_id, {}),
                    fail_reason=r.fail_reason,
                    trial_id=int(r.trial_id),
                )
                for r in rows
            ]
            return out, seq

        return self._run(fn, write=False)

    def fail_stale(self, study_id, grace, now, max_retries):
        running = self._run(
            lambda conn: conn.execute(_RUNNING, {"b_sid": study_id}).all(), write=False
        )
        here = _owner.this_process()
        reasons = {}
        for row in running:
            why = stale_reason(row.heartbeat, row.owner, grace, now, here)
            if why is not None:
                reasons[int(row.trial_id)] = why
        if not reasons:
            return []

        def fn(conn):
            failed = []
            rows = conn.execute(
                sa.select(trials.c.trial_id, trials.c.number, trials.c.params, trials.c.retries)
                .where(trials.c.trial_id.in_(list(reasons)), _IS_RUNNING)
                .order_by(trials.c.number)
            ).all()
            for row in rows:
                why = reasons[int(row.trial_id)]
                still = (trials.c.trial_id == row.trial_id) & _IS_RUNNING
                if why == HEARTBEAT_LOST:  # unless it beat meanwhile
                    still &= trials.c.heartbeat < now - grace
                seq, _ = self._bump(conn, study_id)
                done = conn.execute(
                    trials.update()
                    .where(still)
                    .values(state="FAILED", complete=now, fail_reason=why, seq=seq)
                )
                if done.rowcount != 1:
                    continue
                failed.append(int(row.number))
                if row.params is not None and row.retries < max_retries:
                    self._insert_trial(
                        conn, study_id, now, json.loads(row.params), TrialState.WAITING,
                        row.retries + 1,
                    )
            return failed

        return self._run(fn)

    def close(self) -> None:
        self._engine.dispose()

    @property
    def engine(self) -> sa.Engine:
        """The SQLAlchemy engine (e.g. to attach event listeners)."""
        return self._engine


class _AlreadyFinished(Exception):
    pass


def _nan_to_none(value: float) -> float | None:
    return None if math.isnan(value) else value
