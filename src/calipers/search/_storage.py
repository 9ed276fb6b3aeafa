"""Where studies live: the :class:`Storage` contract and :class:`InMemoryStorage`.

A storage holds studies (name, direction, space, searcher settings) and their trials.
Every method is one short, atomic step, safe to call from several threads (the
study's heartbeat and worker-channel threads) and, for database storages, from several
processes at once. Each change to a trial bumps a per-study, monotonically increasing
sequence number stored with the trial, so a study reads only what changed since its
last read (:meth:`Storage.read_trials`) instead of the whole history.

:func:`get_storage` turns ``None`` / a URL / a Storage into a Storage; SQLAlchemy URLs
go to :class:`calipers.search._sql.SqlStorage`.
"""

from __future__ import annotations

import abc
import copy
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from calipers.errors import CalipersError
from calipers.search import _owner
from calipers.search._trial import FrozenTrial, TrialState

__all__ = [
    "DuplicateStudyError",
    "InMemoryStorage",
    "Storage",
    "StorageError",
    "StudyInfo",
    "UnknownStudyError",
    "get_storage",
]


class StorageError(CalipersError, RuntimeError):
    """The storage cannot be opened or used (bad URL, unreachable server, bad path)."""


class DuplicateStudyError(CalipersError, ValueError):
    """``create_study`` named a study that already exists (and ``load_if_exists`` is off)."""


class UnknownStudyError(CalipersError, KeyError):
    """No study of that name exists in the storage."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def unknown_study(name: str, known: list[str], where: str) -> UnknownStudyError:
    listing = ", ".join(map(repr, sorted(known))) if known else "none"
    return UnknownStudyError(f"no study named {name!r} in {where}; known studies: {listing}")


def duplicate_study(name: str, where: str) -> DuplicateStudyError:
    return DuplicateStudyError(
        f"a study named {name!r} already exists in {where}; pass load_if_exists=True to "
        "resume it, or choose another study_name"
    )


def dumps(obj: Any) -> str:
    """JSON text of params / attributes (numpy scalars become Python numbers)."""

    def default(o: Any) -> Any:
        item = getattr(o, "item", None)
        if callable(item):
            return item()
        if isinstance(o, (set, frozenset, tuple)):
            return list(o)
        raise TypeError(f"{type(o).__name__} {o!r:.60} is not JSON-serializable")

    return json.dumps(obj, default=default, allow_nan=True, separators=(",", ":"))


@dataclass(frozen=True)
class StudyInfo:
    """What a storage keeps about a study besides its trials."""

    study_id: int
    study_name: str
    direction: str
    space: dict[str, Any]
    searcher: dict[str, Any] = field(default_factory=dict)


class Storage(abc.ABC):
    """Persistent (or in-memory) home of studies and trials.

    Timestamps are seconds since the epoch (``time.time()``) given by the caller.
    """

    #: Where the data lives, for messages (a URL with the password hidden).
    url: str = "memory"

    # -- studies ---------------------------------------------------------------------
    @abc.abstractmethod
    def create_study(
        self, name: str, direction: str, space: dict[str, Any], searcher: dict[str, Any]
    ) -> StudyInfo:
        """Create a study; raise :class:`DuplicateStudyError` if the name is taken."""

    @abc.abstractmethod
    def get_study(self, name: str) -> StudyInfo:
        """Return the study's info; raise :class:`UnknownStudyError` listing known names."""

    @abc.abstractmethod
    def study_names(self) -> list[str]:
        """Names of all studies, sorted."""

    @abc.abstractmethod
    def delete_study(self, name: str) -> None:
        """Delete a study and its trials."""

    # -- trials ----------------------------------------------------------------------
    @abc.abstractmethod
    def create_trial(
        self,
        study_id: int,
        now: float,
        params: dict[str, Any] | None = None,
        state: TrialState = TrialState.RUNNING,
        retries: int = 0,
    ) -> tuple[int, int, int]:
        """Add a trial with the next free number (atomically).

        Returns ``(trial_id, number, seq)``, ``seq`` being the change's sequence number
        (every writing method returns it: a study that sees ``seq == last_seen + 1``
        knows nobody else wrote meanwhile and updates its cache without reading).

        RUNNING trials get ``now`` as start time and heartbeat, and this process as
        owner (:func:`calipers.search._owner.this_process`); WAITING ones (enqueued)
        get them when claimed.
        """

    @abc.abstractmethod
    def set_trial_params(self, study_id: int, trial_id: int, params: dict[str, Any]) -> int:
        """Store the parameters asked for a RUNNING trial; return the seq."""

    @abc.abstractmethod
    def claim_waiting(self, study_id: int, now: float) -> tuple[int, int, dict, int] | None:
        """Atomically turn the lowest-numbered WAITING trial RUNNING, owned by this
        process.

        Returns ``(trial_id, number, params, seq)``, or None when none is waiting.
        """

    @abc.abstractmethod
    def finish_trial(
        self,
        study_id: int,
        trial_id: int,
        state: TrialState,
        value: float | None,
        fail_reason: str | None,
        now: float,
    ) -> int | None:
        """Record the end of a RUNNING trial and return the seq; return None (and change
        nothing) if it was already finished (a re-run task, or one failed as
        heartbeat-lost)."""

    @abc.abstractmethod
    def report(self, study_id: int, trial_id: int, step: int, value: float) -> int:
        """Store (or overwrite) the intermediate value at ``step``; return the seq."""

    @abc.abstractmethod
    def set_user_attr(self, study_id: int, trial_id: int, key: str, value: Any) -> int:
        """Store a JSON-serializable user attribute; return the seq."""

    @abc.abstractmethod
    def heartbeat(self, trial_ids: list[int], now: float) -> None:
        """Mark RUNNING trials as alive at ``now``."""

    @abc.abstractmethod
    def read_trials(self, study_id: int, since: int) -> tuple[list[FrozenTrial], int]:
        """Trials changed after sequence number ``since``, and the latest sequence number."""

    @abc.abstractmethod
    def fail_stale(
        self, study_id: int, grace: float, now: float, max_retries: int
    ) -> list[int]:
        """Fail the RUNNING trials whose process is gone.

        A trial is stale when its heartbeat is older than ``now - grace`` (reason
        "heartbeat lost"), or, at once, when its owner ran on this machine and died
        (its pid runs no more, or runs a process started at another time: see
        :func:`calipers.search._owner.dead_reason`). Owners on other machines are left
        to the heartbeat. Each stale trial is marked FAILED with the reason and, when
        it had parameters and has been retried fewer than ``max_retries`` times, its
        parameters are enqueued as a new WAITING trial, in the same transaction.
        Returns the failed numbers.
        """

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release connections (a no-op for in-memory storage)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


class InMemoryStorage(Storage):
    """Studies kept in this process's memory (lost when it exits).

    Thread-safe. Usable with ``n_jobs > 1`` because every write happens in the
    study's process.
    """

    url = "memory"

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._studies: dict[str, StudyInfo] = {}
        self._seq: dict[int, int] = {}
        self._trials: dict[int, list[dict[str, Any]]] = {}  # study_id -> records
        self._where: dict[int, tuple[int, int]] = {}  # trial_id -> (study_id, index)
        # study_id -> trial ids, least recently changed first (reads walk it backwards)
        self._order: dict[int, OrderedDict[int, None]] = {}
        self._next_trial_id = 0

    # -- studies ---------------------------------------------------------------------
    def create_study(self, name, direction, space, searcher):
        with self._lock:
            if name in self._studies:
                raise duplicate_study(name, "the in-memory storage")
            study_id = len(self._seq)
            info = StudyInfo(study_id, name, direction, copy.deepcopy(space), dict(searcher))
            self._studies[name] = info
            self._seq[study_id] = 0
            self._trials[study_id] = []
            self._order[study_id] = OrderedDict()
            return info

    def get_study(self, name):
        with self._lock:
            try:
                return self._studies[name]
            except KeyError:
                raise unknown_study(name, list(self._studies), "the in-memory storage") from None

    def study_names(self):
        with self._lock:
            return sorted(self._studies)

    def delete_study(self, name):
        with self._lock:
            info = self.get_study(name)
            del self._studies[name]
            self._trials[info.study_id] = []
            self._order[info.study_id] = OrderedDict()

    # -- trials ----------------------------------------------------------------------
    def _bump(self, study_id: int, record: dict[str, Any]) -> None:
        self._seq[study_id] += 1
        record["seq"] = self._seq[study_id]
        order = self._order[study_id]
        order[record["trial_id"]] = None
        order.move_to_end(record["trial_id"])

    def _record(self, trial_id: int) -> tuple[int, dict[str, Any]]:
        study_id, index = self._where[trial_id]
        return study_id, self._trials[study_id][index]

    def create_trial(self, study_id, now, params=None, state=TrialState.RUNNING, retries=0):
        with self._lock:
            records = self._trials[study_id]
            trial_id = self._next_trial_id
            self._next_trial_id += 1
            running = state == TrialState.RUNNING
            record = {
                "trial_id": trial_id,
                "number": len(records),
                "state": TrialState(state),
                "params": None if params is None else json.loads(dumps(params)),
                "value": None,
                "start": now if running else None,
                "complete": None,
                "heartbeat": now if running else None,
                "owner": _owner.this_process().text if running else None,
                "fail_reason": None,
                "values": {},
                "attrs": {},
                "retries": retries,
            }
            self._where[trial_id] = (study_id, len(records))
            records.append(record)
            self._bump(study_id, record)
            return trial_id, record["number"], record["seq"]

    def set_trial_params(self, study_id, trial_id, params):
        with self._lock:
            study_id, record = self._record(trial_id)
            record["params"] = json.loads(dumps(params))
            self._bump(study_id, record)
            return record["seq"]

    def claim_waiting(self, study_id, now):
        with self._lock:
            for record in self._trials[study_id]:
                if record["state"] == TrialState.WAITING:
                    record.update(state=TrialState.RUNNING, start=now, heartbeat=now,
                                  owner=_owner.this_process().text)
                    self._bump(study_id, record)
                    params = dict(record["params"])
                    return record["trial_id"], record["number"], params, record["seq"]
            return None

    def finish_trial(self, study_id, trial_id, state, value, fail_reason, now):
        with self._lock:
            study_id, record = self._record(trial_id)
            if record["state"] != TrialState.RUNNING:
                return None
            record.update(
                state=TrialState(state), value=value, fail_reason=fail_reason, complete=now
            )
            self._bump(study_id, record)
            return record["seq"]

    def report(self, study_id, trial_id, step, value):
        with self._lock:
            study_id, record = self._record(trial_id)
            record["values"][int(step)] = float(value)
            self._bump(study_id, record)
            return record["seq"]

    def set_user_attr(self, study_id, trial_id, key, value):
        with self._lock:
            study_id, record = self._record(trial_id)
            record["attrs"][key] = json.loads(dumps(value))
            self._bump(study_id, record)
            return record["seq"]

    def heartbeat(self, trial_ids, now):
        with self._lock:
            for trial_id in trial_ids:
                _, record = self._record(trial_id)
                if record["state"] == TrialState.RUNNING:
                    record["heartbeat"] = now

    def read_trials(self, study_id, since):
        with self._lock:
            out = []
            for trial_id in reversed(self._order[study_id]):
                record = self._record(trial_id)[1]
                if record["seq"] <= since:
                    break
                out.append(_freeze(record))
            return out[::-1], self._seq[study_id]

    def fail_stale(self, study_id, grace, now, max_retries):
        with self._lock:
            failed = []
            here = _owner.this_process()
            for record in list(self._trials[study_id]):
                if record["state"] != TrialState.RUNNING:
                    continue
                reason = stale_reason(record["heartbeat"], record["owner"], grace, now, here)
                if reason is None:
                    continue
                record.update(state=TrialState.FAILED, complete=now, fail_reason=reason)
                self._bump(study_id, record)
                failed.append(record["number"])
                if record["params"] is not None and record["retries"] < max_retries:
                    self.create_trial(
                        study_id, now, record["params"], TrialState.WAITING,
                        record["retries"] + 1,
                    )
            return failed


HEARTBEAT_LOST = (
    "heartbeat lost: the process running this trial stopped (killed or crashed) "
    "before it finished; its parameters are enqueued again (up to max_retries times)"
)


def stale_reason(
    heartbeat: float | None,
    owner: str | None,
    grace: float,
    now: float,
    here: _owner.Owner,
) -> str | None:
    """Why a RUNNING trial is stale (see :meth:`Storage.fail_stale`), or None if it is not.

    An aged heartbeat wins (its reason is the one earlier versions gave); otherwise the
    owner is checked, which only says "dead" for a process of this machine.
    """
    if heartbeat is not None and heartbeat < now - grace:
        return HEARTBEAT_LOST
    return _owner.dead_reason(owner, here)


def _freeze(record: dict[str, Any]) -> FrozenTrial:
    return FrozenTrial(
        number=record["number"],
        params=dict(record["params"] or {}),
        value=record["value"],
        state=record["state"],
        start=record["start"],
        complete=record["complete"],
        intermediate_values=dict(record["values"]),
        user_attrs=copy.deepcopy(record["attrs"]),
        fail_reason=record["fail_reason"],
        trial_id=record["trial_id"],
    )


def get_storage(storage: Any) -> Storage:
    """``None`` -> a new :class:`InMemoryStorage`; a URL -> ``SqlStorage``; a Storage as is."""
    if storage is None:
        return InMemoryStorage()
    if isinstance(storage, Storage):
        return storage
    if isinstance(storage, str):
        from calipers.search._sql import SqlStorage

        return SqlStorage(storage)
    raise TypeError(
        "storage must be None (in memory), an SQLAlchemy URL such as "
        f"'sqlite:///study.db', or a Storage, got {type(storage).__name__} {storage!r:.60}"
    )
