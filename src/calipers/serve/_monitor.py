"""Monitoring for ``calipers serve``: Prometheus metrics and the prediction log.

Every inference request gets a request id and a row in a SQLite prediction log
(inputs, outputs, status, latency), written and committed before the answer is
sent, so an answered request is never missing from the log. Feedback (true
labels for logged request ids) goes into the same database; :mod:`._summary`
turns both into live metrics and drift statistics.
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from calipers.serve._errors import invalid, not_found

_log = logging.getLogger("calipers.serve")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    request_id TEXT PRIMARY KEY,
    ts REAL NOT NULL,
    model TEXT NOT NULL,
    version INTEGER,
    method TEXT NOT NULL,
    status INTEGER NOT NULL,
    error TEXT,
    n INTEGER NOT NULL,
    latency_ms REAL NOT NULL,
    inputs BLOB,
    outputs BLOB
);
CREATE INDEX IF NOT EXISTS predictions_model ON predictions (model, version);
CREATE TABLE IF NOT EXISTS feedback (
    request_id TEXT PRIMARY KEY REFERENCES predictions (request_id),
    ts REAL NOT NULL,
    labels TEXT NOT NULL
);
"""


def default_log_path(base: str | os.PathLike) -> pathlib.Path:
    """Where ``calipers serve BASE`` keeps its log unless told otherwise."""
    return pathlib.Path(base) / ".calipers" / "predictions.sqlite"


def pack(arrays: Mapping[str, np.ndarray] | None) -> bytes | None:
    """Arrays -> one blob: a JSON header line, then the numeric arrays' raw bytes.

    Cheap enough to run for every request (no float formatting); string and
    object arrays go into the header as JSON lists.
    """
    if arrays is None:
        return None
    header: dict[str, Any] = {}
    chunks: list[bytes] = []
    offset = 0
    for name, arr in arrays.items():
        arr = np.asarray(arr)
        if arr.dtype.kind in "biufc":
            data = np.ascontiguousarray(arr).tobytes()
            header[name] = {"dtype": arr.dtype.str, "shape": list(arr.shape),
                            "offset": offset, "nbytes": len(data)}
            chunks.append(data)
            offset += len(data)
        else:
            header[name] = {"json": [v.decode("latin-1") if isinstance(v, bytes) else v
                                     for v in arr.ravel().tolist()],
                            "shape": list(arr.shape)}
    return json.dumps(header).encode("utf-8") + b"\n" + b"".join(chunks)


def unpack(blob: bytes | None) -> dict[str, np.ndarray]:
    """The arrays :func:`pack` stored."""
    if blob is None:
        return {}
    head, _, data = bytes(blob).partition(b"\n")
    out = {}
    for name, spec in json.loads(head).items():
        if "json" in spec:
            out[name] = np.asarray(spec["json"], dtype=object).reshape(spec["shape"])
        else:
            start = spec["offset"]
            out[name] = np.frombuffer(data[start:start + spec["nbytes"]],
                                      dtype=np.dtype(spec["dtype"])).reshape(spec["shape"])
    return out


class _Pending:
    """One row waiting for a group commit; ``done`` once its transaction ended."""

    __slots__ = ("row", "done", "committed", "error")

    def __init__(self, row: tuple) -> None:
        self.row = row
        self.done = False
        self.committed = False
        self.error: BaseException | None = None


_INSERT = ("INSERT INTO predictions (request_id, ts, model, version, method, status, error, n, "
           "latency_ms, inputs, outputs) VALUES (?,?,?,?,?,?,?,?,?,?,?)")


class PredictionLog:
    """A SQLite prediction log shared by the server's worker threads, with group commit.

    :meth:`record` returns only once its row is committed, so an answered
    request is never missing from the log. Concurrent requests share commits:
    a thread whose row is queued while no commit runs becomes the leader, takes
    every row queued so far, inserts them in one transaction and commits; rows
    queued meanwhile wait for the next leader. One request alone commits at
    once (no timer, no extra thread on its path); under load the batch grows
    with the number of requests in flight.

    Durability: WAL journal with ``synchronous=NORMAL``: a committed row
    survives a crash of the server process (a power cut can lose the last
    commits, and never corrupts the database).
    Checkpoints (copying the WAL into the database file, with its fsyncs) run in
    a background thread instead of inside a request's commit.

    Parameters
    ----------
    path : str or os.PathLike
        The database file (created with its directory).
    store_inputs : bool, default True
        Keep each request's inputs (needed for drift statistics).
    checkpoint_interval : float, default 1.0
        Seconds between background checkpoints (when something was committed).
    max_wal_bytes : int, default 256 MiB
        Under steady load the background checkpoints never catch up fully, so the
        WAL never starts over and grows; past this size a checkpoint holds
        commits for a moment (two fsyncs) and starts it over. After that the
        file is cut back to 64 MiB.

    Attributes
    ----------
    commits : int
        Transactions committed so far by :meth:`record` (at most one per row).
    rows : int
        Rows committed so far by :meth:`record`.
    """

    def __init__(self, path: str | os.PathLike, *, store_inputs: bool = True,
                 checkpoint_interval: float = 1.0,
                 max_wal_bytes: int = 256 * 1024 * 1024) -> None:
        if checkpoint_interval <= 0:
            raise ValueError(f"checkpoint_interval must be positive, got {checkpoint_interval}")
        self.path = pathlib.Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.store_inputs = store_inputs
        self.commits = 0
        self.rows = 0
        self._lock = threading.Lock()  # the connection, one user at a time
        self._queue = threading.Condition(threading.Lock())  # _pending and _committing
        self._pending: list[_Pending] = []
        self._committing = False
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30,
                                     isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a committed row survives a crash of the server process.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        # Checkpoints fsync; the background thread runs them, not a request's commit.
        self._conn.execute("PRAGMA wal_autocheckpoint=0")
        self._conn.execute(f"PRAGMA journal_size_limit={64 * 1024 * 1024}")
        with self._lock:
            self._conn.executescript(_SCHEMA)
        self._max_wal_bytes = int(max_wal_bytes)
        self._closed = threading.Event()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, args=(float(checkpoint_interval),),
            name="calipers-log-checkpoint", daemon=True)
        self._checkpointer.start()

    def record(
        self,
        request_id: str,
        *,
        model: str,
        version: int | None,
        method: str,
        status: int,
        latency_s: float,
        n: int = 0,
        inputs: Mapping[str, np.ndarray] | None = None,
        outputs: Mapping[str, np.ndarray] | None = None,
        error: str = "",
    ) -> None:
        """Log one request's row; return once it is committed (call before answering).

        Raises the database's error if the row could not be committed.
        """
        row = (request_id, time.time(), model, version, method, int(status), error or None,
               int(n), latency_s * 1000.0,
               pack(inputs) if self.store_inputs else None, pack(outputs))
        item = _Pending(row)
        with self._queue:
            self._pending.append(item)
            while not item.done and self._committing:
                self._queue.wait()
            if item.done:
                batch = None
            else:  # the leader: take everything queued, this row included
                batch, self._pending = self._pending, []
                self._committing = True
        if batch is not None:
            try:
                self._write(batch)
            except BaseException as exc:  # the rows not committed yet fail with it
                for pending in batch:
                    if not pending.committed and pending.error is None:
                        pending.error = exc
                raise
            finally:
                with self._queue:
                    self._committing = False
                    for pending in batch:
                        pending.done = True
                    self._queue.notify_all()
        if not item.committed:
            raise item.error or sqlite3.OperationalError(
                f"request {request_id} was not written to the prediction log {self.path}")

    def _write(self, batch: list[_Pending]) -> None:
        """Insert ``batch`` in one transaction; on failure, row by row (errors per row)."""
        with self._lock:
            if self._closed.is_set():
                error = sqlite3.ProgrammingError(f"the prediction log {self.path} is closed")
                for pending in batch:
                    pending.error = error
                return
            conn = self._conn
            try:
                if len(batch) == 1:
                    conn.execute(_INSERT, batch[0].row)  # autocommit: its own transaction
                else:
                    conn.execute("BEGIN")
                    conn.executemany(_INSERT, [pending.row for pending in batch])
                    conn.execute("COMMIT")
            except Exception as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if len(batch) == 1:
                    batch[0].error = exc
                    return
            else:
                self.commits += 1
                self.rows += len(batch)
                for pending in batch:
                    pending.committed = True
                return
            for pending in batch:  # one bad row must not fail its neighbours
                try:
                    conn.execute(_INSERT, pending.row)  # autocommit: its own transaction
                except Exception as exc:
                    pending.error = exc
                else:
                    self.commits += 1
                    self.rows += 1
                    pending.committed = True

    def _checkpoint_loop(self, interval: float) -> None:
        conn = None
        last = -1
        try:
            # A short busy timeout: a reader of the log (calipers monitor) must not
            # keep a restart waiting while commits are held.
            conn = sqlite3.connect(self.path, check_same_thread=False, timeout=0.1,
                                   isolation_level=None)
            page = conn.execute("PRAGMA page_size").fetchone()[0]
            while not self._closed.wait(interval):
                if self.commits == last:
                    continue
                last = self.commits
                # Copies the WAL into the database while commits go on (fsyncs included).
                _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if frames * (page + 24) > self._max_wal_bytes:
                    # Under steady load the passive ones never catch up, so the WAL
                    # never starts over: hold commits for the frames left and restart it.
                    with self._lock:
                        if self._closed.is_set():
                            break
                        conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
        except sqlite3.Error as exc:  # the log still works; its WAL only grows
            _log.warning("prediction log %s: background checkpoints stopped: %s", self.path, exc)
        finally:
            if conn is not None:
                conn.close()

    def add_feedback(
        self,
        request_id: str,
        labels: Sequence[Any],
        check: Callable[[str, int | None, list[Any]], None] | None = None,
    ) -> int:
        """Store true labels for a logged request (one per example); returns how many.

        Parameters
        ----------
        request_id : str
            The ``X-Request-Id`` of a logged, successful inference request.
        labels : list
            One true label per example of that request.
        check : callable, optional
            ``check(model, version, labels)`` for the request's model and version,
            raising :class:`~calipers.serve._errors.ServeError` to refuse the labels
            (the server checks them against the model's classes).
        """
        if not isinstance(request_id, str) or not request_id:
            raise invalid("feedback needs a 'request_id' string")
        if not isinstance(labels, list) or not labels:
            raise invalid(f"feedback for {request_id}: 'labels' must be a non-empty list")
        with self._lock:
            row = self._conn.execute(
                "SELECT n, status, model, version FROM predictions WHERE request_id = ?",
                (request_id,)).fetchone()
        if row is None:
            raise not_found(f"no logged request with id {request_id}")
        n, status, model, version = row
        if status != 200:
            raise invalid(f"request {request_id} failed (HTTP {status}); no predictions "
                          "to compare labels with")
        if len(labels) != n:
            raise invalid(f"request {request_id} had {n} example(s), got {len(labels)} "
                          "label(s)")
        if check is not None:
            check(model, version, labels)
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO feedback (request_id, ts, labels) VALUES (?,?,?)",
                (request_id, time.time(), json.dumps(labels)))
        return len(labels)

    def request_ids(self) -> set[str]:
        with self._lock:
            return {r[0] for r in self._conn.execute("SELECT request_id FROM predictions")}

    def close(self) -> None:
        """Stop the checkpoints and close the database (the last close folds the WAL in)."""
        self._closed.set()
        self._checkpointer.join()
        with self._lock:
            self._conn.close()


#: The ``model`` label of requests for a model the server does not serve: one
#: series for all of them (a model name cannot contain parentheses).
UNKNOWN_MODEL = "(unknown)"
_METHODS = frozenset(("predict", "classify", "regress"))


class Metrics:
    """Prometheus metrics of one server (its own registry, so servers never clash).

    Every label comes from a closed set, so that the number of series (and the
    server's memory) cannot grow with what clients send: ``model`` and
    ``version`` are those of a model the server serves (or served), the other
    requests count under ``model=UNKNOWN_MODEL, version=""``; ``method`` is one
    of predict, classify and regress; ``code`` an HTTP status the server
    answers with. The caller (the app) maps URL names to these labels.
    """

    def __init__(self) -> None:
        try:
            from prometheus_client import CollectorRegistry, Counter, Histogram
        except ImportError as exc:
            raise ImportError("calipers serve requires prometheus-client: "
                              "pip install 'calipers[serve]'") from exc

        self.registry = CollectorRegistry()
        labels = ("model", "version", "method")
        self.requests = Counter("calipers_serve_requests", "Inference requests answered.",
                                (*labels, "code"), registry=self.registry)
        self.errors = Counter("calipers_serve_errors", "Inference requests answered with "
                              "an error.", (*labels, "code"), registry=self.registry)
        self.latency = Histogram(
            "calipers_serve_request_latency_seconds", "Time from the full request body to "
            "the answer.", labels, registry=self.registry,
            buckets=(.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
        self.batch = Histogram(
            "calipers_serve_batch_size", "Examples per inference request.",
            ("model", "version"), registry=self.registry,
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384))

    def observe(self, model: str, version: int | None, method: str, status: int,
                latency_s: float, n: int) -> None:
        """Count one answered inference request.

        ``model`` must be a served model's name or :data:`UNKNOWN_MODEL` (the
        app checks it against its registry); ``method`` one of predict, classify
        and regress.
        """
        if method not in _METHODS:
            raise ValueError(f"method must be one of {sorted(_METHODS)}, got {method!r}")
        v = "" if version is None else str(version)
        code = str(int(status))
        self.requests.labels(model, v, method, code).inc()
        if status != 200:
            self.errors.labels(model, v, method, code).inc()
        else:
            self.batch.labels(model, v).observe(n)
        self.latency.labels(model, v, method).observe(latency_s)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
