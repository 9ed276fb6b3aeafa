"""The metric checks' worker process, for ``check_across_processes``."""

from __future__ import annotations

import atexit
import os
import pickle
import struct
import subprocess
import sys
import threading
import warnings
from typing import Any

__all__ = ["WORKER"]


# -- the cross-process round trip ---------------------------------------------------
# One worker process (a fresh interpreter with this one's sys.path), kept for every
# check: length-prefixed pickles over its stdin / stdout. A plain subprocess, not
# multiprocessing, so that scripts without a ``__main__`` guard can run the checks.


class _Worker:
    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
            self._proc = subprocess.Popen(
                [sys.executable, "-c", "from calipers.testing._metric_worker import _serve; "
                 "_serve()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
            atexit.register(self.close)
        return self._proc

    def call(self, payload: bytes) -> Any:
        """Send a pickled job; return the unpickled answer (re-raising its error)."""
        with self._lock:
            proc = self._start()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                _send(proc.stdin, payload)
                answer = _receive(proc.stdout)
            except (OSError, EOFError):
                self.close()
                raise RuntimeError("the worker process died") from None
        ok, value = pickle.loads(answer)
        if not ok:
            raise value
        return value

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


def _send(stream: Any, data: bytes) -> None:
    stream.write(struct.pack("<Q", len(data)))
    stream.write(data)
    stream.flush()


def _receive(stream: Any) -> bytes:
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError
    (size,) = struct.unpack("<Q", head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return data


def _serve() -> None:
    """The worker's loop: unpickle (metric, batches), update, answer the metric."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            payload = _receive(stdin)
        except EOFError:
            return
        try:
            metric, batches = pickle.loads(payload)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for args, kwargs in batches:
                    metric.update(*args, **kwargs)
            answer = pickle.dumps((True, metric))
        except Exception as exc:  # noqa: BLE001 - sent back to the caller
            answer = pickle.dumps((False, RuntimeError(f"{type(exc).__name__}: {exc}")))
        _send(stdout, answer)


WORKER = _Worker()
