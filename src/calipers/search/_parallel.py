"""Running objectives in worker processes (joblib's loky, or any ``executor.submit``).

Parameters are asked, and results told and written, in the study's process. A worker
only runs ``objective(trial)``; its :class:`~calipers.search._trial.Trial` sends
``report`` / ``should_prune`` / ``set_user_attr`` back over a
:class:`ChannelServer`: a local socket (``multiprocessing.connection``, authenticated
with a random key) served by threads of the study's process. That works the same
for in-memory and database storage, for loky workers and for dask workers.
"""

from __future__ import annotations

import os
import pickle
import secrets
import socket
import threading
import traceback
from multiprocessing.connection import Client, Connection, Listener
from typing import Any

from calipers.search._trial import Trial, check_objective_value

__all__ = ["ChannelClient", "ChannelServer", "exception_of", "loky_executor", "run_objective"]


def run_objective(objective: Any, number: int, params: dict[str, Any], sink: Any) -> tuple:
    """Run ``objective(Trial)`` and classify the outcome (in whatever process runs it).

    Returns ``(status, value, reason, error)`` with status ``"ok"`` (value is a finite
    float), ``"pruned"``, ``"failed"`` (a bad return value; reason says why) or
    ``"error"`` (the objective raised: reason is the traceback, error the exception
    pickled with cloudpickle (as loky and dask do), so that a class the objective defined comes back
    as itself; None when it cannot be pickled). :func:`exception_of` unpickles it.
    """
    from calipers.search import TrialPruned

    trial = Trial(number, params, sink)
    try:
        result = objective(trial)
    except TrialPruned:
        return "pruned", None, None, None
    except BaseException as err:  # noqa: BLE001 (classified by the study)
        return "error", None, traceback.format_exc(), _portable(err)
    value, reason = check_objective_value(result)
    if reason is not None:
        return "failed", None, reason, None
    return "ok", value, None, None


def _portable(err: BaseException) -> bytes | None:
    try:
        import cloudpickle  # what loky (and dask) pickle tasks with
    except ImportError:  # pragma: no cover
        cloudpickle = pickle
    try:
        return cloudpickle.dumps(err)
    except Exception:  # noqa: BLE001
        return None


def exception_of(error: Any, reason: str | None) -> BaseException:
    """The exception a worker's outcome carries (a RuntimeError with the traceback
    text when it could not travel)."""
    if isinstance(error, BaseException):
        return error
    if isinstance(error, bytes):
        try:
            err = pickle.loads(error)
        except Exception:  # noqa: BLE001
            err = None
        if isinstance(err, BaseException):
            return err
    return RuntimeError(reason or "the objective failed")


def loky_executor(n_jobs: int) -> Any:
    """joblib's reusable loky process pool (cloudpickle: lambdas and closures work)."""
    from joblib.externals.loky import get_reusable_executor

    return get_reusable_executor(max_workers=n_jobs, reuse=True)


class ChannelServer:
    """Serves a study's trial sink to worker processes over a local socket."""

    def __init__(self, sink: Any, host: str = "127.0.0.1") -> None:
        self._sink = sink
        self._authkey = secrets.token_bytes(32)
        self._listener = Listener((host, 0), authkey=self._authkey)
        self._closed = False
        self._conns: list[Connection] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._accept, name="calipers-trial-channel", daemon=True
        )
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        return self._listener.address  # type: ignore[return-value]

    def client(self) -> ChannelClient:
        return ChannelClient(self.address, self._authkey)

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn = self._listener.accept()
            except Exception:  # noqa: BLE001 (closed, or a failed handshake)
                if self._closed:
                    return
                continue
            with self._lock:
                if self._closed:
                    conn.close()
                    return
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: Connection) -> None:
        # This thread is the only one that closes ``conn``: :meth:`close` just shuts
        # the socket down (waking ``recv``), so a descriptor is never closed twice
        # (a second close could hit an unrelated file that reused the number).
        try:
            while True:
                try:
                    op, args = conn.recv()
                except (EOFError, OSError):
                    return
                try:
                    reply = ("ok", getattr(self._sink, f"_trial_{op}")(*args))
                except Exception as err:  # noqa: BLE001 (sent back to the worker)
                    reply = ("error", f"{type(err).__name__}: {err}")
                try:
                    conn.send(reply)
                except (EOFError, OSError):
                    return
        finally:
            with self._lock:
                if conn in self._conns:
                    self._conns.remove(conn)
                conn.close()

    def close(self) -> None:
        self._closed = True
        try:
            # wake the blocked accept() so its thread ends
            Client(self.address, authkey=self._authkey).close()
        except Exception:  # noqa: BLE001
            pass
        self._listener.close()
        with self._lock:
            # Connections still listed are open (their thread removes them under this
            # lock before closing): shut them down through a duplicate descriptor.
            for conn in self._conns:
                try:
                    with socket.socket(fileno=os.dup(conn.fileno())) as sock:
                        sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


#: Per worker process: one open connection per server address.
_CLIENT_CONNS: dict[tuple[tuple[str, int], bytes], Connection] = {}
_CLIENT_LOCK = threading.Lock()


class ChannelClient:
    """The sink a worker's Trial uses: forwards each call to the study's process."""

    def __init__(self, address: tuple[str, int], authkey: bytes) -> None:
        self.address = tuple(address)
        self.authkey = authkey

    def _call(self, op: str, *args: Any) -> Any:
        key = (self.address, self.authkey)
        with _CLIENT_LOCK:
            for attempt in range(2):
                conn = _CLIENT_CONNS.get(key)
                if conn is None:
                    conn = _CLIENT_CONNS[key] = Client(self.address, authkey=self.authkey)
                try:
                    conn.send((op, args))
                    status, result = conn.recv()
                    break
                except (EOFError, OSError):
                    _CLIENT_CONNS.pop(key, None)
                    if attempt:
                        raise
        if status == "error":
            raise RuntimeError(f"the study could not {op.replace('_', ' ')}: {result}")
        return result

    def _trial_report(self, number: int, step: int, value: float) -> None:
        self._call("report", number, step, value)

    def _trial_should_prune(self, number: int) -> bool:
        return bool(self._call("should_prune", number))

    def _trial_set_user_attr(self, number: int, key: str, value: Any) -> None:
        self._call("set_user_attr", number, key, value)
