"""Studies: :func:`create_study`, :func:`load_study` and the :class:`Study` they return.

A study pairs a searcher with a storage. It keeps a cache of the stored trials and
reads only the trials changed since its last read (the storage numbers every change),
so the cost of a trial does not grow with the study. The optimization loop itself is
in :mod:`calipers.search._optimize`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from calipers.search._storage import Storage, dumps
from calipers.search._trial import FrozenTrial, TrialState

__all__ = ["Study"]

_DIRECTIONS = ("minimize", "maximize")


class Study:
    """A hyper-parameter search whose trials live in a storage.

    Create one with :func:`create_study` or :func:`load_study`, run it with
    :meth:`optimize`. Thread-safe.
    """

    def __init__(
        self,
        storage: Storage,
        info: Any,
        searcher: Any,
        *,
        heartbeat_interval: float = 5.0,
        heartbeat_grace: float = 60.0,
        max_retries: int = 3,
        batch_size: int | None = None,
    ) -> None:
        _check_heartbeat(heartbeat_interval, heartbeat_grace)
        self._storage = storage
        self._info = info
        self._searcher = searcher
        self.heartbeat_interval = float(heartbeat_interval)
        self.heartbeat_grace = float(heartbeat_grace)
        self.max_retries = int(max_retries)
        stored_batch = info.searcher.get("batch_size")
        #: Trials per round of an adaptive searcher; ``None``: the parallel slots of
        #: each :meth:`optimize` call (see :func:`create_study`).
        self.batch_size: int | None = (
            batch_size if batch_size is not None
            else None if stored_batch is None else int(stored_batch)
        )
        self._lock = threading.RLock()
        self._cache: dict[int, FrozenTrial] = {}
        self._seq = 0
        self._fed: set[int] = set()  # numbers the searcher has been told or is running
        self._history: dict[int, dict[int, float]] = {}
        self._running: dict[int, int] = {}  # own RUNNING trials: number -> trial_id
        self._last_step: dict[int, int] = {}  # own RUNNING trials: last reported step
        self._best: FrozenTrial | None = None
        self._n_waiting = 0
        self._next_number = 0  # 1 + the highest trial number seen
        self._in_order = True  # whether _cache's insertion order is by number
        self._fail_stale()
        self._sync()

    # -- identity --------------------------------------------------------------------
    @property
    def study_name(self) -> str:
        return self._info.study_name

    @property
    def direction(self) -> str:
        """``"minimize"`` or ``"maximize"``."""
        return self._info.direction

    @property
    def space(self) -> Any:
        return self._searcher.space

    @property
    def searcher(self) -> Any:
        return self._searcher

    @property
    def storage(self) -> Storage:
        return self._storage

    def __repr__(self) -> str:
        return (
            f"Study(study_name={self.study_name!r}, direction={self.direction!r}, "
            f"searcher={self._searcher.name or type(self._searcher).__name__!r}, "
            f"storage={self._storage.url!r})"
        )

    # -- results ---------------------------------------------------------------------
    @property
    def trials(self) -> list[FrozenTrial]:
        """All trials, by number (read fresh from the storage)."""
        with self._lock:
            self._sync()
            if not self._in_order:  # a trial was read after a higher-numbered one
                self._cache = dict(sorted(self._cache.items()))
                self._in_order = True
            return list(self._cache.values())

    def get_trials(self, states: Iterable[TrialState | str] | None = None) -> list[FrozenTrial]:
        """Trials in the given states (all when None), by number."""
        wanted = None if states is None else {TrialState(s) for s in states}
        return [t for t in self.trials if wanted is None or t.state in wanted]

    @property
    def best_trial(self) -> FrozenTrial:
        """The COMPLETE trial with the best value (lowest number on ties)."""
        with self._lock:
            self._sync()
            if self._best is None:
                counts = _count_states(self._cache.values())
                raise ValueError(
                    f"study {self.study_name!r} has no COMPLETE trial yet ({counts}); "
                    "run study.optimize(...) first, or check the FAILED trials' fail_reason"
                )
            return self._best

    @property
    def best_value(self) -> float:
        return float(self.best_trial.value)  # type: ignore[arg-type]

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self.best_trial.params)

    def trials_dataframe(self) -> Any:
        """One row per trial: number, value, state, datetime_start, datetime_complete,
        duration, ``params_<name>`` and ``user_attrs_<key>`` columns (pandas)."""
        try:
            import pandas as pd
        except ImportError as err:
            raise ImportError("Study.trials_dataframe requires pandas: pip install pandas") from err
        rows = []
        for t in self.trials:
            row = {
                "number": t.number,
                "value": math.nan if t.value is None else t.value,
                "state": t.state.value,
                "datetime_start": t.datetime_start,
                "datetime_complete": t.datetime_complete,
                "duration": t.duration,
            }
            row.update({f"params_{k}": v for k, v in t.params.items()})
            row.update({f"user_attrs_{k}": v for k, v in t.user_attrs.items()})
            rows.append(row)
        base = ["number", "value", "state", "datetime_start", "datetime_complete", "duration"]
        frame = pd.DataFrame(rows, columns=None if rows else base)
        extra = sorted(c for c in frame.columns if c not in base)
        return frame[base + extra]

    # -- enqueue ---------------------------------------------------------------------
    def enqueue(self, params: Mapping[str, Any]) -> int:
        """Queue ``params`` to be the next trial :meth:`optimize` runs; return its number.

        The parameters are validated against the space.
        """
        params = self.space.validate(dict(params))
        with self._lock:
            trial_id, number, seq = self._storage.create_trial(
                self._info.study_id, time.time(), params, TrialState.WAITING
            )
            self._own(seq, number, params=stored(params), value=None,
                      state=TrialState.WAITING, trial_id=trial_id)
            return number

    # -- optimize --------------------------------------------------------------------
    def optimize(
        self,
        objective: Callable[[Any], float],
        n_trials: int | None = None,
        timeout: float | None = None,
        n_jobs: int = 1,
        catch: type[BaseException] | tuple[type[BaseException], ...] = (Exception,),
        callbacks: Iterable[Callable[[Study, FrozenTrial], None]] | None = None,
        show_progress: bool = False,
        executor: Any = None,
    ) -> None:
        """Run trials: ask the searcher, call ``objective(trial)``, store the result.

        Parameters
        ----------
        objective : callable
            ``objective(trial) -> float``; ``trial`` is a :class:`Trial`, a mapping of
            the parameters (``trial["lr"]``) that can also ``report``, ``should_prune``
            and ``set_user_attr``. Raise :class:`calipers.search.TrialPruned` to prune.
        n_trials : int, optional
            Trials to run in this call (enqueued ones included). With neither
            ``n_trials`` nor ``timeout``, runs until the searcher is exhausted.
        timeout : float, optional
            Seconds after which no new trial starts (running ones finish).
        n_jobs : int
            Worker processes (joblib loky; ``-1`` = all cores). ``1`` runs the
            objective in this process. An adaptive searcher whose study has no
            ``batch_size`` proposes ``n_jobs`` trials per round (the executor's
            worker threads with ``executor``), so all the workers are busy.
        catch : exception class or tuple
            Exceptions that fail a trial and let the study go on. Others fail the
            trial and are re-raised (after the running trials finish).
        callbacks : list of callable
            ``callback(study, frozen_trial)`` after each finished trial.
        show_progress : bool
            A tqdm progress bar with the best value so far.
        executor : object, optional
            Anything with ``submit(fn, *args) -> future`` (e.g. a
            ``dask.distributed.Client``) to run objectives on instead of ``n_jobs``.
        """
        from calipers.search._optimize import run_optimize

        run_optimize(
            self, objective, n_trials, timeout, n_jobs, catch, callbacks, show_progress, executor
        )

    # -- internals: reading the storage -----------------------------------------------
    def _fail_stale(self) -> list[int]:
        return self._storage.fail_stale(
            self._info.study_id, self.heartbeat_grace, time.time(), self.max_retries
        )

    def _minimized(self, value: float) -> float:
        return -value if self._info.direction == "maximize" else value

    def _told_value(self, trial: FrozenTrial) -> float:
        """The value a searcher learns for a finished trial (minimized, nan = failed)."""
        if trial.state == TrialState.COMPLETE and trial.value is not None:
            return self._minimized(trial.value)
        if trial.state == TrialState.PRUNED and trial.intermediate_values:
            last = trial.intermediate_values[max(trial.intermediate_values)]
            return self._minimized(last)
        return math.nan

    def _sync(self) -> None:
        """Read the trials changed since the last read into the cache."""
        with self._lock:
            changed, self._seq = self._storage.read_trials(self._info.study_id, self._seq)
            if changed:
                self._ingest(changed)

    def _own(self, seq: int | None, number: int, **fields: Any) -> None:
        """This process wrote trial ``number`` (``fields`` changed) and got ``seq``.

        When ``seq`` directly follows the last one seen, nobody else wrote meanwhile:
        the cache is updated without reading the storage. Otherwise read the changes.
        """
        with self._lock:
            old = self._cache.get(number)
            if seq is None or seq != self._seq + 1 or (old is None and "state" not in fields):
                self._sync()
                return
            if old is None:
                trial = FrozenTrial(number=number, **fields)
            else:
                trial = dataclasses.replace(old, **fields)
            self._seq = seq
            self._ingest([trial])

    def _ingest(self, changed: list[FrozenTrial]) -> None:
        for trial in changed:
            old = self._cache.get(trial.number)
            if old is not None and old.state == TrialState.WAITING:
                self._n_waiting -= 1
            if trial.state == TrialState.WAITING:
                self._n_waiting += 1
            if old is None and trial.number < self._next_number:
                self._in_order = False
            self._cache[trial.number] = trial
            self._next_number = max(self._next_number, trial.number + 1)
            if trial.intermediate_values:
                self._history[trial.number] = {
                    s: self._minimized(v) for s, v in trial.intermediate_values.items()
                }
            if trial.state == TrialState.COMPLETE and self._better(trial):
                self._best = trial
        # foreign trials (other processes, or stored before this study was opened)
        for trial in sorted(changed, key=lambda t: t.number):
            if trial.state.finished and trial.number not in self._fed:
                self._fed.add(trial.number)
                if trial.params:
                    self._restore(trial)

    def _restore(self, trial: FrozenTrial) -> None:
        try:
            self._searcher.restore(trial.params, self._told_value(trial), trial.number)
        except (ValueError, TypeError) as err:  # e.g. params of an older space
            warnings.warn(
                f"study {self.study_name!r}: trial {trial.number} was not replayed to the "
                f"searcher: {err}",
                RuntimeWarning,
                stacklevel=3,
            )

    def _better(self, trial: FrozenTrial) -> bool:
        if self._best is None:
            return True
        a, b = self._minimized(trial.value), self._minimized(self._best.value)
        return a < b or (a == b and trial.number < self._best.number)

    # -- internals: the sink a Trial reports to ---------------------------------------
    def _trial_id(self, number: int) -> int | None:
        return self._running.get(number)

    def _trial_report(self, number: int, step: int, value: float) -> None:
        with self._lock:
            trial_id = self._trial_id(number)
            if trial_id is None:  # finished already (a re-run task reporting late)
                return
            seq = self._storage.report(self._info.study_id, trial_id, step, value)
            values = dict(self._cache[number].intermediate_values) if number in self._cache else {}
            values[step] = value
            self._own(seq, number, intermediate_values=values)
            self._history.setdefault(number, {})[step] = self._minimized(value)
            self._last_step[number] = step

    def _trial_should_prune(self, number: int) -> bool:
        with self._lock:
            step = self._last_step.get(number)
            if step is None:
                return False
            self._sync()
            history = self._history
            should = getattr(self._searcher, "should_prune", None)
            if should is None:
                return False
            return bool(should(number, step, history[number][step], history))

    def _trial_set_user_attr(self, number: int, key: str, value: Any) -> None:
        with self._lock:
            trial_id = self._trial_id(number)
            if trial_id is not None:
                seq = self._storage.set_user_attr(self._info.study_id, trial_id, key, value)
                attrs = dict(self._cache[number].user_attrs) if number in self._cache else {}
                attrs[key] = stored(value)
                self._own(seq, number, user_attrs=attrs)


def stored(value: Any) -> Any:
    """``value`` as the storage gives it back (a JSON round trip)."""
    return json.loads(dumps(value))


def _count_states(trials: Iterable[FrozenTrial]) -> str:
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state.value] = counts.get(t.state.value, 0) + 1
    if not counts:
        return "no trials"
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


def _check_heartbeat(interval: float, grace: float) -> None:
    if not interval > 0:
        raise ValueError(f"heartbeat_interval must be > 0 seconds, got {interval!r}")
    if not grace > interval:
        raise ValueError(
            f"heartbeat_grace ({grace!r} s) must exceed heartbeat_interval ({interval!r} s), "
            "or live trials would be taken for dead ones"
        )


#: Public names of the study API that live in sibling modules (``calipers.search``
#: resolves them through here, lazily: sqlalchemy is imported only for SqlStorage).
_EXPORTS = {
    "create_study": "_create",
    "load_study": "_create",
    "Trial": "_trial",
    "FrozenTrial": "_trial",
    "TrialState": "_trial",
    "Storage": "_storage",
    "InMemoryStorage": "_storage",
    "StorageError": "_storage",
    "DuplicateStudyError": "_storage",
    "UnknownStudyError": "_storage",
    "SqlStorage": "_sql",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"calipers.search.{module}"), name)
