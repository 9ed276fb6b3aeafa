"""The optimization loop behind :meth:`Study.optimize`.

Trials are proposed in rounds of the study's ``batch_size``; ``None`` resolves to the
call's parallel slots (``n_jobs``, or the executor's worker threads; 1 when serial), so
a parallel run keeps every slot busy. A non-adaptive searcher (its ``ask(number)``
ignores told values) is asked whenever a worker slot frees up and told at once. An
adaptive one is asked for a whole round while it sees only the results of earlier
rounds: the round's results are held and told, in trial-number order, when the round
is over. Either way the parameters of trial ``n`` depend on the seed and the batch
size, not on ``n_jobs``.
"""

from __future__ import annotations

import inspect
import numbers
import os
import queue
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from calipers.search._parallel import ChannelServer, exception_of, loky_executor, run_objective
from calipers.search._storage import InMemoryStorage
from calipers.search._study import stored
from calipers.search._trial import FrozenTrial, TrialState

__all__ = ["run_optimize"]

_INTERRUPTED = "interrupted: {} stopped the study while this trial ran"


@dataclass
class _Job:
    number: int
    trial_id: int
    params: dict[str, Any]


class _Done:
    """A finished 'future' for objectives run inline (n_jobs=1)."""

    def __init__(self, result: Any) -> None:
        self._result = result

    def result(self) -> Any:
        return self._result

    def done(self) -> bool:
        return True

    def cancel(self) -> bool:
        return False


class _Inline:
    def submit(self, fn: Callable, *args: Any) -> _Done:
        return _Done(fn(*args))


def _check_args(objective, n_trials, timeout, n_jobs, catch, callbacks):
    if not callable(objective):
        raise TypeError(f"objective must be callable, got {type(objective).__name__}")
    if n_trials is not None and (
        isinstance(n_trials, bool) or not isinstance(n_trials, numbers.Integral) or n_trials < 0
    ):
        raise ValueError(f"n_trials must be None or an int >= 0, got {n_trials!r}")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not timeout > 0
    ):
        raise ValueError(f"timeout must be None or seconds > 0, got {timeout!r}")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0:
        raise ValueError(f"n_jobs must be a non-zero int (-1: all cores), got {n_jobs!r}")
    n_jobs = (os.cpu_count() or 1) if n_jobs < 0 else int(n_jobs)
    catch = (catch,) if isinstance(catch, type) else tuple(catch)
    if not all(isinstance(c, type) and issubclass(c, BaseException) for c in catch):
        raise TypeError(f"catch must be exception classes, got {catch!r}")
    callbacks = list(callbacks or ())
    if not all(callable(c) for c in callbacks):
        raise TypeError("callbacks must be callables callback(study, frozen_trial)")
    return n_jobs, catch, callbacks


def _slots(executor: Any, n_jobs: int) -> int:
    if n_jobs > 1:
        return n_jobs
    nthreads = getattr(executor, "nthreads", None)  # dask.distributed.Client
    if callable(nthreads):
        try:
            return max(1, sum(nthreads().values()))
        except Exception:  # noqa: BLE001
            return 1
    return int(getattr(executor, "_max_workers", 1) or 1)


class _Loop:
    def __init__(self, study, objective, n_trials, timeout, n_jobs, catch, callbacks, executor):
        self.study = study
        self.objective = objective
        self.n_trials = n_trials
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.catch = catch
        self.callbacks = callbacks
        self.searcher = study._searcher
        self.adaptive = bool(getattr(self.searcher, "adaptive", True))
        self.user_executor = executor
        self.n_jobs = n_jobs
        self.parallel = executor is not None or n_jobs > 1
        self.slots = _slots(executor, n_jobs) if self.parallel else 1
        #: trials per round of an adaptive searcher (the study's, or one per slot)
        self.batch_size = study.batch_size if study.batch_size is not None else self.slots
        self.started = 0
        self.exhausted = False
        self.error: BaseException | None = None
        self.held: list[tuple[int, dict, float]] = []
        self.in_flight: dict[Any, _Job] = {}
        #: trials whose worker pool broke under them, to run again alone
        self.suspects: list[_Job] = []
        #: numbers of the trials run alone: a broken pool is then their own doing
        self.isolated: set[int] = set()
        self.finished: queue.Queue = queue.Queue()
        self.progress: Any = None
        try:
            self._tell_number = "number" in inspect.signature(self.searcher.tell).parameters
        except (TypeError, ValueError):
            self._tell_number = False

    # -- starting trials -----------------------------------------------------------
    def more(self) -> bool:
        if self.exhausted or self.error is not None:
            return False
        if self.n_trials is not None and self.started >= self.n_trials:
            return False
        return self.deadline is None or time.monotonic() < self.deadline

    def start(self) -> _Job | None:
        study, storage, sid = self.study, self.study._storage, self.study._info.study_id
        with study._lock:
            now = time.time()
            if study._n_waiting > 0:
                claimed = storage.claim_waiting(sid, now)
                if claimed is not None:
                    trial_id, number, params, seq = claimed
                    study._fed.add(number)
                    study._running[number] = trial_id
                    study._own(seq, number, state=TrialState.RUNNING, start=now)
                    restore = getattr(self.searcher, "restore", None)
                    if restore is not None:
                        restore(params, None, number)  # pending, like an asked trial
                    return _Job(number, trial_id, params)
            # Ask for the number this trial will most likely get, so that its row is
            # written once, with its parameters; re-ask in the rare case that another
            # process took that number meanwhile.
            predicted = study._next_number
            try:
                params = self.searcher.ask(predicted)
            except StopIteration:
                return None
            now = time.time()
            trial_id, number, seq = storage.create_trial(sid, now, params)
            study._fed.add(number)
            study._running[number] = trial_id
            study._own(seq, number, params=stored(params), value=None,
                       state=TrialState.RUNNING, start=now, trial_id=trial_id)
            if number != predicted:
                forget = getattr(self.searcher, "forget", None)
                if forget is not None:
                    forget(params, predicted)
                try:
                    params = self.searcher.ask(number)
                except BaseException as err:
                    reason = "searcher exhausted" if isinstance(err, StopIteration) else None
                    storage.finish_trial(
                        sid, trial_id, TrialState.FAILED, None, reason or _format(err),
                        time.time(),
                    )
                    study._running.pop(number, None)
                    study._sync()
                    if reason:
                        return None
                    raise
                seq = storage.set_trial_params(sid, trial_id, params)
                study._own(seq, number, params=stored(params))
            return _Job(number, trial_id, dict(params))

    # -- finishing trials ----------------------------------------------------------
    def finish(self, job: _Job, outcome: tuple) -> None:
        status, value, reason, err = outcome
        study = self.study
        state = {
            "ok": TrialState.COMPLETE,
            "pruned": TrialState.PRUNED,
        }.get(status, TrialState.FAILED)
        with study._lock:
            now = time.time()
            seq = study._storage.finish_trial(
                study._info.study_id, job.trial_id, state, value, reason, now
            )
            first = seq is not None
            study._running.pop(job.number, None)
            study._last_step.pop(job.number, None)
            study._own(seq, job.number, state=state, value=value, complete=now,
                       fail_reason=reason)
            frozen: FrozenTrial = study._cache[job.number]
            if first:
                told = study._told_value(frozen)
                if self.adaptive:
                    self.held.append((job.number, job.params, told))
                else:
                    self._tell(job.params, told, job.number)
            else:
                forget = getattr(self.searcher, "forget", None)
                if forget is not None:
                    forget(job.params, job.number)
        if status == "error" and self.error is None:
            exc = exception_of(err, reason)
            if not isinstance(exc, self.catch) or not isinstance(exc, Exception):
                self.error = exc
        if self.progress is not None:
            self.progress.update(1)
            if study._best is not None:
                self.progress.set_postfix(best=study._best.value, refresh=False)
        if first:
            for callback in self.callbacks:
                callback(study, frozen)

    def _tell(self, params: dict, value: float, number: int) -> None:
        if self._tell_number:
            self.searcher.tell(params, value, number=number)
        else:
            self.searcher.tell(params, value)

    def flush(self) -> None:
        with self.study._lock:
            for number, params, value in sorted(self.held, key=lambda h: h[0]):
                self._tell(params, value, number)
            self.held.clear()

    # -- the loop ------------------------------------------------------------------
    def run(self) -> None:
        channel = ChannelServer(self.study) if self.parallel else None
        self.executor = (
            self.user_executor
            if self.user_executor is not None
            else (loky_executor(self.n_jobs) if self.parallel else _Inline())
        )
        sink = channel.client() if channel is not None else self.study
        persistent = not isinstance(self.study._storage, InMemoryStorage)
        beat = _Heartbeat(self.study) if persistent else None
        try:
            round_left = 0
            while True:
                if self.suspects:
                    # Trials whose worker pool broke under them run again, one at a time
                    # and alone, so that only the one that crashes its worker fails.
                    if not self.in_flight:
                        job = self.suspects.pop(0)
                        self.isolated.add(job.number)
                        self.in_flight[self._submit(job, sink)] = job
                    self._collect(block=True)
                    continue
                while len(self.in_flight) < self.slots and self.more():
                    if self.adaptive and round_left == 0:
                        if self.in_flight:
                            break  # the round is not over
                        self.flush()
                        round_left = self.batch_size
                    job = self.start()
                    if job is None:
                        self.exhausted = True
                        break
                    self.started += 1
                    round_left -= 1
                    fut = self._submit(job, sink)
                    self.in_flight[fut] = job
                    if self.user_executor is None and not self.parallel:
                        self._collect(block=False)
                if not self.in_flight:
                    break
                self._collect(block=True)
            self.flush()
        except BaseException as err:
            self._abort(err)
            raise
        finally:
            if beat is not None:
                beat.stop()
            if channel is not None:
                channel.close()
        if self.error is not None:
            raise self.error

    def _submit(self, job: _Job, sink: Any) -> Any:
        args = (run_objective, self.objective, job.number, job.params, sink)
        try:
            fut = self.executor.submit(*args)
        except Exception as err:  # noqa: BLE001 (e.g. a process pool broken by a crash)
            fut = _Done(("error", None, _format(err), err))
            if self.user_executor is None and self.parallel:
                try:  # loky hands out a fresh pool when the old one broke
                    self.executor = loky_executor(self.n_jobs)
                    fut = self.executor.submit(*args)
                except Exception:  # noqa: BLE001
                    pass
        if isinstance(fut, _Done):
            self.finished.put(fut)
        else:
            add = getattr(fut, "add_done_callback", None)
            if add is not None:
                add(self.finished.put)
        return fut

    def _collect(self, block: bool) -> None:
        """Finish at least one in-flight trial (or none if ``block`` is False)."""
        while True:
            try:
                fut = self.finished.get(timeout=0.2) if block else self.finished.get_nowait()
            except queue.Empty:
                if not block:
                    return
                # futures without callbacks are polled
                fut = next((f for f in self.in_flight if f.done()), None)
                if fut is None:
                    continue
            job = self.in_flight.pop(fut, None)
            if job is None:
                continue  # polled and already finished
            try:
                outcome = fut.result()
            except BaseException as err:  # noqa: BLE001 (the executor failed, not the objective)
                if isinstance(err, KeyboardInterrupt):
                    self.in_flight[fut] = job
                    raise
                if self._pool_broke(err) and job.number not in self.isolated:
                    # Our pool broke: every trial in it gets this error, also those that
                    # did not crash it. Each runs again alone (see run) to find out.
                    self.suspects.append(job)
                    block = False
                    continue
                outcome = ("error", None, _format(err), err)
            self.finish(job, outcome)
            block = False

    def _pool_broke(self, err: BaseException) -> bool:
        """Whether ``err`` says our own worker pool broke (a worker died), rather than
        the objective raising."""
        if self.user_executor is not None or not self.parallel:
            return False
        from concurrent.futures import BrokenExecutor

        return isinstance(err, BrokenExecutor)  # loky's TerminatedWorkerError is one

    def _abort(self, err: BaseException) -> None:
        """Record the trials this process was running as FAILED, then give up."""
        study = self.study
        reason = _INTERRUPTED.format(type(err).__name__)
        for fut in self.in_flight:
            try:
                fut.cancel()
            except Exception:  # noqa: BLE001
                pass
        if self.in_flight and self.user_executor is None and self.parallel:
            try:  # stop the objectives still running in our own worker processes
                self.executor.shutdown(wait=False, kill_workers=True)
            except Exception:  # noqa: BLE001
                pass
        with study._lock:
            for number, trial_id in list(study._running.items()):
                try:
                    study._storage.finish_trial(
                        study._info.study_id, trial_id, TrialState.FAILED, None, reason,
                        time.time(),
                    )
                except Exception as exc:  # noqa: BLE001 (do not hide the first error)
                    warnings.warn(f"could not record trial {number} as FAILED: {exc}",
                                  RuntimeWarning, stacklevel=2)
                study._running.pop(number, None)
            study._sync()


class _Heartbeat:
    """Keeps this process's RUNNING trials alive and fails other processes' dead ones."""

    def __init__(self, study: Any) -> None:
        self.study = study
        self._stop = threading.Event()
        self._warned = False
        self._thread = threading.Thread(target=self._run, name="calipers-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        study = self.study
        while not self._stop.wait(study.heartbeat_interval):
            try:
                ids = list(study._running.copy().values())
                study._storage.heartbeat(ids, time.time())
                study._fail_stale()
            except Exception as err:  # noqa: BLE001 (retried next beat)
                if not self._warned:
                    self._warned = True
                    warnings.warn(f"heartbeat failed (will retry): {err}", RuntimeWarning,
                                  stacklevel=1)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _format(err: BaseException) -> str:
    import traceback

    return "".join(traceback.format_exception(type(err), err, err.__traceback__))


def run_optimize(
    study: Any,
    objective: Callable,
    n_trials: int | None,
    timeout: float | None,
    n_jobs: int,
    catch: Any,
    callbacks: Iterable[Callable] | None,
    show_progress: bool,
    executor: Any,
) -> None:
    n_jobs, catch, callbacks = _check_args(objective, n_trials, timeout, n_jobs, catch, callbacks)
    loop = _Loop(study, objective, n_trials, timeout, n_jobs, catch, callbacks, executor)
    if loop.adaptive and loop.parallel and loop.batch_size < loop.slots:
        # only an explicit batch_size can be smaller: None resolves to the slots
        name = study.searcher.name or type(study.searcher).__name__
        warnings.warn(
            f"searcher {name!r} is adaptive and the study's batch_size is "
            f"{loop.batch_size}, so at most {loop.batch_size} of the {loop.slots} parallel "
            "slots run trials at once (a round waits for the results of the one before); "
            "create or load the study with batch_size=None (one trial per slot) or "
            f"batch_size={loop.slots} (calipers tune: --batch-size {loop.slots}) to use "
            "them all",
            RuntimeWarning,
            stacklevel=3,
        )
    study._fail_stale()
    study._sync()
    if show_progress:
        from tqdm.auto import tqdm

        loop.progress = tqdm(total=n_trials, desc=f"study {study.study_name}", unit="trial")
    try:
        loop.run()
    finally:
        if loop.progress is not None:
            loop.progress.close()
