"""Tuning on a dask cluster: an executor for ``study.optimize(..., executor=...)``.

A study asks for parameters, writes the trials and tells the searcher in its own
process; each trial's objective runs as one dask task::

    from distributed import Client
    from calipers_dask import DaskExecutor

    client = Client("tcp://scheduler:8786")
    study = calipers.create_study(space=space, searcher="bayes", storage="sqlite:///s.db")
    study.optimize(objective, n_trials=100, executor=DaskExecutor(client))

A plain ``Client`` works as an executor too (it has ``submit``); the wrapper adds:

- ``pure=False`` and a readable task key per trial (``calipers-trial-...``): dask
  does not hash the objective and its data for every submission, and two trials
  with the same parameters are never merged into one task;
- the objective (with the data it closes over) is sent to the cluster once, as the
  result of one task that the trials depend on (workers fetch it from each other;
  if every worker holding it dies, dask recomputes it), not with every task;
- ``nthreads()``, which the study reads to keep every worker thread busy.

Fault tolerance is dask's: when a worker dies mid-trial the scheduler re-runs its
task on another worker (up to ``distributed.scheduler.allowed-failures`` times; after
that the trial is recorded FAILED with dask's ``KilledWorker`` error). The study
writes each trial exactly once, when its task's result arrives, so a re-run task
never duplicates a trial and a lost worker never loses one.
"""

from __future__ import annotations

import types
import uuid
from typing import Any

__all__ = ["DaskExecutor", "dask_executor"]

# Arguments sent as they are: cheap to pickle, and usually different for every trial.
_PLAIN = (type(None), bool, int, float, str, bytes, dict, list, tuple,
          types.BuiltinFunctionType)


class DaskExecutor:
    """Submit a study's trials to a ``dask.distributed`` client.

    Parameters
    ----------
    client : distributed.Client, optional
        Default: the current client (``distributed.get_client()``).
    scatter : bool
        Send an argument that every trial shares (the objective) to the cluster once
        and pass its future to the tasks (default True).
    key_prefix : str
        Prefix of the task keys shown on the dask dashboard.
    """

    def __init__(self, client: Any = None, *, scatter: bool = True,
                 key_prefix: str = "calipers-trial") -> None:
        if client is None:
            from distributed import get_client

            client = get_client()
        if not callable(getattr(client, "submit", None)):
            raise TypeError(f"client must be a dask.distributed Client, got {client!r}")
        self.client = client
        self.scatter = scatter
        self.key_prefix = key_prefix
        # id -> object, of the previous submission's arguments (kept alive so that the
        # ids stay unique); an object seen again is shared by the trials.
        self._last: dict[int, Any] = {}
        self._scattered: dict[int, tuple[Any, Any]] = {}  # id -> (object, its future)

    def nthreads(self) -> dict[str, int]:
        """Worker address -> threads (the study runs that many trials at once)."""
        return dict(self.client.nthreads())

    def submit(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` as one dask task; return its future."""
        if self.scatter:
            seen: dict[int, Any] = {}
            args = tuple(self._shared(a, seen) for a in args)
            self._last = seen
        key = f"{self.key_prefix}-{uuid.uuid4().hex}"
        return self.client.submit(fn, *args, pure=False, key=key)

    def _shared(self, arg: Any, seen: dict[int, Any]) -> Any:
        if isinstance(arg, _PLAIN):
            return arg
        ident = id(arg)
        if ident in self._scattered:
            return self._scattered[ident][1]
        if ident not in self._last:  # first sight: send it with the task
            seen[ident] = arg
            return arg
        # Also in the previous submission: shared by the trials, send it once. As the
        # result of a task rather than scattered data: when the worker holding it dies,
        # the scheduler recomputes it from the task instead of failing every trial
        # that needs it with "lost dependencies".
        future = self.client.submit(_identity, arg, pure=False,
                                    key=f"calipers-shared-{uuid.uuid4().hex}")
        self._scattered[ident] = (arg, future)
        return future

    def close(self) -> None:
        """Release the scattered objects (the client stays open)."""
        futures = [f for _, f in self._scattered.values()]
        self._scattered.clear()
        self._last = {}
        for f in futures:
            f.release()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DaskExecutor({self.client!r})"


def _identity(x: Any) -> Any:
    return x


def dask_executor(client: Any = None, **options: Any) -> DaskExecutor:
    """Return a :class:`DaskExecutor` for ``client`` (default: the current client)."""
    return DaskExecutor(client, **options)
