"""Monitoring for ``calipers serve``: Prometheus metrics and the prediction log.

Every inference request gets a request id and a row in a SQLite prediction log
(inputs, outputs, status, latency), written and committed before the answer is
sent, so an answered request is never missing from the log. Feedback (true
labels for logged request ids) goes into the same database; :mod:`._summary`
turns both into live metrics and drift statistics.
"""

from __future__ import annotations

import json
import os
import pathlib
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from calipers.serve._errors import invalid, not_found

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


class PredictionLog:
    """A SQLite prediction log shared by the server's worker threads.

    Parameters
    ----------
    path : str or os.PathLike
        The database file (created with its directory).
    store_inputs : bool, default True
        Keep each request's inputs (needed for drift statistics).
    """

    def __init__(self, path: str | os.PathLike, *, store_inputs: bool = True) -> None:
        self.path = pathlib.Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.store_inputs = store_inputs
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30,
                                     isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a committed row survives a crash of the server process.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        with self._lock:
            self._conn.executescript(_SCHEMA)

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
        """Insert and commit one request's row (call before answering it)."""
        row = (request_id, time.time(), model, version, method, int(status), error or None,
               int(n), latency_s * 1000.0,
               pack(inputs) if self.store_inputs else None, pack(outputs))
        with self._lock:
            self._conn.execute(
                "INSERT INTO predictions (request_id, ts, model, version, method, status, "
                "error, n, latency_ms, inputs, outputs) VALUES (?,?,?,?,?,?,?,?,?,?,?)", row)

    def add_feedback(self, request_id: str, labels: Sequence[Any]) -> int:
        """Store true labels for a logged request (one per example); returns how many."""
        if not isinstance(request_id, str) or not request_id:
            raise invalid("feedback needs a 'request_id' string")
        if not isinstance(labels, list) or not labels:
            raise invalid(f"feedback for {request_id}: 'labels' must be a non-empty list")
        with self._lock:
            row = self._conn.execute(
                "SELECT n, status FROM predictions WHERE request_id = ?", (request_id,)
            ).fetchone()
            if row is None:
                raise not_found(f"no logged request with id {request_id}")
            n, status = row
            if status != 200:
                raise invalid(f"request {request_id} failed (HTTP {status}); no predictions "
                              "to compare labels with")
            if len(labels) != n:
                raise invalid(f"request {request_id} had {n} example(s), got {len(labels)} "
                              "label(s)")
            self._conn.execute(
                "INSERT OR REPLACE INTO feedback (request_id, ts, labels) VALUES (?,?,?)",
                (request_id, time.time(), json.dumps(labels)))
        return len(labels)

    def request_ids(self) -> set[str]:
        with self._lock:
            return {r[0] for r in self._conn.execute("SELECT request_id FROM predictions")}

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class Metrics:
    """Prometheus metrics of one server (its own registry, so servers never clash)."""

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
        v = "" if version is None else str(version)
        self.requests.labels(model, v, method, str(status)).inc()
        if status != 200:
            self.errors.labels(model, v, method, str(status)).inc()
        else:
            self.batch.labels(model, v).observe(n)
        self.latency.labels(model, v, method).observe(latency_s)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
