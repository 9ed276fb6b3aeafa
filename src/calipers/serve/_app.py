"""The ASGI application: TensorFlow Serving's REST API over a :class:`ModelRegistry`.

Routes (paths matched case-insensitively, as TF Serving does)::

    GET  /v1/models/{name}[/versions/{v}]            model_version_status
    GET  /v1/models/{name}[/versions/{v}]/metadata   signature_def
    POST /v1/models/{name}[/versions/{v}]:predict    instances/inputs -> predictions/outputs
    POST /v1/models/{name}[/versions/{v}]:classify   examples -> results
    POST /v1/models/{name}[/versions/{v}]:regress    examples -> results
    GET  /monitoring/prometheus/metrics              Prometheus exposition
    POST /monitoring/feedback                        {"request_id", "labels"} -> live metrics

Inference runs in a thread pool; every inference request's row is committed to
the prediction log before its answer is sent (the id is in ``X-Request-Id``).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from calipers.serve._errors import ServeError, invalid, not_found
from calipers.serve._metadata import metadata_json, status_json
from calipers.serve._monitor import Metrics, PredictionLog
from calipers.serve._registry import ModelRegistry
from calipers.serve._tensors import (
    classify_results,
    decode_examples,
    decode_predict,
    dumps,
    encode_predict,
    parse_json,
    regress_results,
)

_PREDICT = re.compile(
    r"/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?:(classify|regress|predict)",
    re.IGNORECASE)
_STATUS = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:/versions/(\d+)|/labels/([^/:]+))?(?:/(metadata))?",
    re.IGNORECASE)
_METRICS_PATH = "/monitoring/prometheus/metrics"
_FEEDBACK_PATH = "/monitoring/feedback"
DEFAULT_MAX_BODY = 16 * 1024 * 1024

Response = tuple[int, bytes, str]


def error_body(message: str) -> bytes:
    """``{"error": message}`` as TF Serving writes it (pretty-printed, 4 spaces)."""
    return json.dumps({"error": message}, indent=4).encode("utf-8")


def _version(text: str | None) -> int | None:
    if not text:
        return None
    try:
        return int(text)
    except ValueError:  # \d+ always converts; kept for non-ASCII digits
        raise invalid(f"Failed to convert version: {text} to numeric.") from None


class ServeApp:
    """ASGI app serving the artifacts of a registry over TF Serving's REST API.

    Parameters
    ----------
    registry : ModelRegistry
        Where the models come from; started at ASGI startup (or :meth:`start`).
    prediction_log : PredictionLog, optional
        Where each inference request is recorded (none if None).
    max_body_bytes : int, default 16 MiB
        Larger request bodies get 413 before they are read.
    workers : int, default 4
        Threads running parsing and inference.
    """

    def __init__(
        self,
        registry: ModelRegistry,
        *,
        prediction_log: PredictionLog | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY,
        workers: int = 4,
    ) -> None:
        if max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be positive, got {max_body_bytes}")
        if workers < 1:
            raise ValueError(f"workers must be positive, got {workers}")
        self.registry = registry
        self.log = prediction_log
        self.metrics = Metrics()
        self.max_body_bytes = int(max_body_bytes)
        self._executor = ThreadPoolExecutor(max_workers=workers,
                                            thread_name_prefix="calipers-serve")
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._started = True
            self.registry.start()

    def stop(self) -> None:
        self.registry.stop()
        self._executor.shutdown(wait=True)
        if self.log is not None:
            self.log.close()

    # -- ASGI -------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method = scope["method"]
        raw = scope.get("raw_path") or scope["path"].encode("utf-8")
        path = raw.decode("latin-1").split("?", 1)[0]
        request_id = uuid.uuid4().hex
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        match = _PREDICT.fullmatch(path) if method == "POST" else None
        body = await self._read_body(receive, headers)
        if body is None:  # the client went away before sending its request
            return
        loop = asyncio.get_running_loop()
        if isinstance(body, ServeError):
            status, payload, ctype = body.http_status, error_body(body.message), "application/json"
            if match:
                self._record(request_id, match, status, 0.0, message=body.message)
        elif match:
            status, payload, ctype = await loop.run_in_executor(
                self._executor, self._infer, request_id, match, body)
        else:
            status, payload, ctype = await loop.run_in_executor(
                self._executor, self._other, method, path, body)
        out_headers = [(b"content-type", ctype.encode()),
                       (b"content-length", str(len(payload)).encode())]
        if match:
            out_headers.append((b"x-request-id", request_id.encode()))
        await send({"type": "http.response.start", "status": status, "headers": out_headers})
        await send({"type": "http.response.body", "body": payload})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.start()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _read_body(self, receive: Any, headers: dict[str, str]) -> bytes | ServeError | None:
        declared = headers.get("content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                return invalid(f"invalid Content-Length {declared!r}")
            if size > self.max_body_bytes:
                return self._too_large(size)
        chunks, total = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_body_bytes:
                return self._too_large(total)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _too_large(self, size: int) -> ServeError:
        return ServeError("RESOURCE_EXHAUSTED",
                          f"Request body of {size} bytes exceeds the limit of "
                          f"{self.max_body_bytes} bytes", http_status=413)

    # -- handlers (worker threads) -----------------------------------------------
    def _record(self, request_id: str, match: re.Match, status: int, latency: float, *,
                version: int | None = None, n: int = 0, inputs: Any = None,
                outputs: Any = None, message: str = "") -> None:
        name, verb = urllib.parse.unquote(match.group(1)), match.group(4).lower()
        self.metrics.observe(name, version, verb, status, latency, n)
        if self.log is not None:
            self.log.record(request_id, model=name, version=version, method=verb,
                            status=status, latency_s=latency, n=n, inputs=inputs,
                            outputs=outputs, error=message)

    def _infer(self, request_id: str, match: re.Match, body: bytes) -> Response:
        start = time.perf_counter()
        name = urllib.parse.unquote(match.group(1))
        verb = match.group(4).lower()
        entry, inputs, outputs, n = None, None, None, 0
        try:
            requested = _version(match.group(2))
            if match.group(3):
                raise invalid(f"Unrecognized servable version label: "
                              f"{urllib.parse.unquote(match.group(3))}")
            doc = parse_json(body)
            entry = self.registry.get(name, requested)
            artifact = entry.artifact
            if verb == "predict":
                inputs, fmt = decode_predict(
                    doc, artifact.inputs, bools=b"true" in body or b"false" in body)
            else:
                options = artifact.manifest.get("options") or {}
                inputs = decode_examples(doc, artifact.inputs, options.get("feature_names"))
            n = max((int(a.shape[0]) for a in inputs.values() if a.ndim), default=1)
            try:
                outputs = artifact.run(inputs)
            except ServeError:
                raise
            except (ValueError, TypeError) as exc:
                raise invalid(str(exc)) from None
            except Exception as exc:
                raise ServeError("INTERNAL", f"{type(exc).__name__}: {exc}") from None
            if verb == "predict":
                answer = encode_predict(outputs, fmt)
            elif verb == "classify":
                if artifact.task != "classifier":
                    raise invalid(f"model {name} version {entry.version} is not a classifier "
                                  f"(task {artifact.task!r}); use :predict or :regress")
                answer = classify_results(outputs, artifact.classes)
            else:
                if artifact.task == "classifier":
                    raise invalid(f"model {name} version {entry.version} is a classifier; "
                                  "use :classify or :predict")
                answer = regress_results(outputs)
            status, payload, message = 200, dumps(answer), ""
        except ServeError as exc:
            status, payload, message = exc.http_status, error_body(exc.message), exc.message
        except Exception as exc:  # never let a worker die without an answer
            message = f"{type(exc).__name__}: {exc}"
            status, payload = 500, error_body(message)
        latency = time.perf_counter() - start
        try:
            self._record(request_id, match, status, latency,
                         version=None if entry is None else entry.version,
                         n=n if status == 200 else 0, inputs=inputs if status == 200 else None,
                         outputs=outputs if status == 200 else None, message=message)
        except Exception as exc:  # an answer that is not logged is not given
            status, payload = 500, error_body(
                f"could not write the prediction log: {type(exc).__name__}: {exc}")
        return status, payload, "application/json"

    def _other(self, method: str, path: str, body: bytes) -> Response:
        try:
            if path == _METRICS_PATH and method == "GET":
                text, ctype = self.metrics.render()
                return 200, text, ctype
            if path == _FEEDBACK_PATH and method == "POST":
                return 200, self._feedback(body), "application/json"
            if path.lower().startswith("/v1/"):
                match = _STATUS.fullmatch(path) if method == "GET" else None
                if match is None:
                    raise invalid(f"Malformed request: {method} {path}")
                return 200, self._status(match), "application/json"
            raise not_found(f"Not found: {method} {path} (TF Serving's REST API is under /v1/)")
        except ServeError as exc:
            return exc.http_status, error_body(exc.message), "application/json"
        except Exception as exc:
            return 500, error_body(f"{type(exc).__name__}: {exc}"), "application/json"

    def _status(self, match: re.Match) -> bytes:
        if not match.group(1):
            raise invalid("Missing model name in request.")
        name = urllib.parse.unquote(match.group(1))
        version = _version(match.group(2))
        if match.group(3):
            raise invalid("Unrecognized servable version label: "
                          f"{urllib.parse.unquote(match.group(3))}")
        if match.group(4):
            entry = self.registry.get(name, version)
            return metadata_json(entry)
        return status_json(self.registry.status(name, version))

    def _feedback(self, body: bytes) -> bytes:
        if self.log is None:
            raise ServeError("FAILED_PRECONDITION", "this server keeps no prediction log")
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError):
            raise invalid("feedback must be a JSON object") from None
        items = doc.get("feedback") if isinstance(doc, dict) else None
        if items is None:
            items = [doc]
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise invalid("feedback must be {'request_id': ..., 'labels': [...]} or "
                          "{'feedback': [such objects]}")
        accepted = 0
        for item in items:
            labels = item.get("labels")
            if isinstance(labels, list):
                labels = [v.item() if isinstance(v, np.generic) else v for v in labels]
            accepted += self.log.add_feedback(item.get("request_id"), labels)
        return dumps({"accepted": accepted})
