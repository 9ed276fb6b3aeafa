"""The ASGI application: TensorFlow Serving's REST API over a :class:`ModelRegistry`.

Routes (paths matched case-insensitively, as TF Serving does)::

    GET  /v1/models/{name}[/versions/{v}]            model_version_status
    GET  /v1/models/{name}[/versions/{v}]/metadata   signature_def
    POST /v1/models/{name}[/versions/{v}]:predict    instances/inputs -> predictions/outputs
    POST /v1/models/{name}[/versions/{v}]:classify   examples -> results
    POST /v1/models/{name}[/versions/{v}]:regress    examples -> results
    GET  /monitoring/prometheus/metrics              Prometheus exposition
    POST /monitoring/feedback                        {"request_id", "labels"} -> live metrics

A quick request (small body, a model whose requests took under ``inline_max_ms``
on average) is answered on the event loop's thread, like an ``async`` handler:
handing it to a thread and back would cost more than the work. Slower ones run
in a pool of inference threads. Every inference request's row is committed to
the prediction log (group commit: concurrent requests share a transaction)
before its answer is sent (the id is in ``X-Request-Id``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import re
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from calipers.serve._errors import ServeError, invalid, not_found
from calipers.serve._metadata import metadata_json, status_json
from calipers.serve._monitor import UNKNOWN_MODEL, Metrics, PredictionLog
from calipers.serve._parse import load_json
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
from calipers.serve._threads import apply_intra_op_threads, check_threads

_PREDICT = re.compile(
    r"/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?:(classify|regress|predict)",
    re.IGNORECASE)
_STATUS = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:/versions/(\d+)|/labels/([^/:]+))?(?:/(metadata))?",
    re.IGNORECASE)
_METRICS_PATH = "/monitoring/prometheus/metrics"
_FEEDBACK_PATH = "/monitoring/feedback"
DEFAULT_MAX_BODY = 16 * 1024 * 1024
#: Seconds a client has to send a request's whole body, once its headers are in.
DEFAULT_BODY_TIMEOUT = 60.0
#: Larger request bodies always go to an inference thread.
INLINE_MAX_BODY = 64 * 1024
_INLINE_WEIGHT = 0.1  # of the newest request in a model's average time
_log = logging.getLogger("calipers.serve")

Response = tuple[int, bytes, str]


def error_body(message: str) -> bytes:
    """``{"error": message}`` as TF Serving writes it (pretty-printed, 4 spaces)."""
    return json.dumps({"error": message}, indent=4).encode("utf-8")


def new_request_id() -> str:
    """A UUIDv7 (RFC 9562) as 32 hex digits: unix milliseconds first, then 74 random bits.

    Ids that grow with time land at the end of the prediction log's primary-key
    index, so a commit of several rows touches one index page, not one each.
    """
    rand = int.from_bytes(os.urandom(10), "big")
    value = ((time.time_ns() // 1_000_000) & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 \
        | (rand >> 68) << 64 | 0b10 << 62 | (rand & 0x3FFF_FFFF_FFFF_FFFF)
    return f"{value:032x}"


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
    inference_threads : int, optional
        Threads parsing requests and running the models; ``min(4, usable CPUs)``
        by default.
    intra_op_threads : int, optional
        onnxruntime intra-op threads per call of the ONNX sessions this server
        creates (0: onnxruntime decides, one per physical core). By default 1
        when there is more than one inference thread (unless
        ``calipers_onnx.configure_runtime`` set a process-wide value), so that
        concurrent calls do not oversubscribe the cores. Process-wide while the
        app runs (between :meth:`start` and :meth:`stop`).
    inline_max_ms : float, default 2.0
        Answer a request on the event loop's thread, without the round trip
        to an inference thread (about 0.05 ms), while its model's requests
        took under this many milliseconds on average (a moving average over
        requests with bodies up to 64 KiB, prediction log commit included) and
        its body is at most 64 KiB; 0 sends every request to the inference
        threads. A model's first request always goes to a thread.
    body_timeout : float, default 60.0
        Seconds a client has, from the end of its headers, to send the whole
        request body; a slower one gets 408 and the connection is closed (a
        client trickling bytes must not hold a connection forever).
    """

    def __init__(
        self,
        registry: ModelRegistry,
        *,
        prediction_log: PredictionLog | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY,
        inference_threads: int | None = None,
        intra_op_threads: int | None = None,
        inline_max_ms: float = 2.0,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
    ) -> None:
        if max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be positive, got {max_body_bytes}")
        if not inline_max_ms >= 0:
            raise ValueError(f"inline_max_ms must be >= 0 (0: never inline), got {inline_max_ms}")
        if not (body_timeout > 0 and math.isfinite(body_timeout)):
            raise ValueError(f"body_timeout must be a positive number of seconds, "
                             f"got {body_timeout}")
        self.inference_threads, self.intra_op_threads = check_threads(inference_threads,
                                                                      intra_op_threads)
        self.registry = registry
        self.log = prediction_log
        self.metrics = Metrics()
        self.max_body_bytes = int(max_body_bytes)
        self.body_timeout = float(body_timeout)
        self._executor = ThreadPoolExecutor(max_workers=self.inference_threads,
                                            thread_name_prefix="calipers-serve")
        self._restore_runtime: Callable[[], None] | None = None
        self._started = False
        self.inline_max_s = float(inline_max_ms) / 1000.0
        # (model name, requested version) -> moving average of request seconds
        self._cost: dict[tuple[str, int | None], float] = {}

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._restore_runtime = apply_intra_op_threads(
                self.intra_op_threads, inference_threads=self.inference_threads)
            _log.info("%d inference thread(s), onnxruntime intra-op threads per call: %s, "
                      "inline below %.3g ms", self.inference_threads,
                      "default" if self.intra_op_threads is None else self.intra_op_threads,
                      self.inline_max_s * 1000.0)
            self.registry.start()

    def stop(self) -> None:
        self.registry.stop()
        self._executor.shutdown(wait=True)
        if self.log is not None:
            self.log.close()
        if self._restore_runtime is not None:
            self._restore_runtime()
            self._restore_runtime = None

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
        request_id = new_request_id()
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
        elif match and self._inline(match, body):
            status, payload, ctype = self._infer(request_id, match, body)
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
        if status == 408:  # the rest of the body may still come: never read it as a request
            out_headers.append((b"connection", b"close"))
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
        # One timer for the whole body (not per chunk: a client trickling a byte
        # a second would reset a per-chunk one forever).
        task = asyncio.current_task()
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            if task is not None:
                task.cancel()

        timer = asyncio.get_running_loop().call_later(self.body_timeout, expire)
        chunks, total = [], 0
        try:
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
        except asyncio.CancelledError:
            if not expired:
                raise
            if task is not None and hasattr(task, "uncancel"):
                task.uncancel()  # Python >= 3.11: this cancellation was ours, and is handled
            return ServeError("DEADLINE_EXCEEDED",
                              f"the request body did not arrive within {self.body_timeout:g} s "
                              f"({total} bytes received); send it faster or raise the "
                              "server's --body-timeout", http_status=408)
        finally:
            timer.cancel()

    def _too_large(self, size: int) -> ServeError:
        return ServeError("RESOURCE_EXHAUSTED",
                          f"Request body of {size} bytes exceeds the limit of "
                          f"{self.max_body_bytes} bytes", http_status=413)

    def _inline(self, match: re.Match, body: bytes) -> bool:
        """Whether to answer on the event loop's thread (a quick model, a small body)."""
        if len(body) > INLINE_MAX_BODY or not self.inline_max_s:
            return False
        try:
            key = (urllib.parse.unquote(match.group(1)), _version(match.group(2)))
        except ServeError:
            return True  # answered at once with an error
        return self._cost.get(key, self.inline_max_s + 1.0) <= self.inline_max_s

    # -- handlers (inference threads, or the loop's thread for quick ones) --------
    def _record(self, request_id: str, match: re.Match, status: int, latency: float, *,
                version: int | None = None, n: int = 0, inputs: Any = None,
                outputs: Any = None, message: str = "") -> None:
        name, verb = urllib.parse.unquote(match.group(1)), match.group(4).lower()
        # Labels from a closed set: a name the registry never had counts under one
        # fixed label (random names in URLs must not create series without bound).
        label = name if version is not None or self.registry.versions(name) else UNKNOWN_MODEL
        self.metrics.observe(label, version, verb, status, latency, n)
        if self.log is not None:
            self.log.record(request_id, model=name, version=version, method=verb,
                            status=status, latency_s=latency, n=n, inputs=inputs,
                            outputs=outputs, error=message)

    def _infer(self, request_id: str, match: re.Match, body: bytes) -> Response:
        start = time.perf_counter()
        name = urllib.parse.unquote(match.group(1))
        verb = match.group(4).lower()
        entry, inputs, outputs, n, requested = None, None, None, 0, None
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
                    doc, artifact.inputs)
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
        if status == 200 and len(body) <= INLINE_MAX_BODY:
            key = (name, requested)  # only served models: the dict stays small
            seconds = time.perf_counter() - start
            old = self._cost.get(key)
            self._cost[key] = seconds if old is None else old + _INLINE_WEIGHT * (seconds - old)
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
        doc = load_json(body)  # UTF-8 only, bounded nesting: a 400, never a 5xx
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
            accepted += self.log.add_feedback(item.get("request_id"), labels,
                                              check=self._check_labels)
        return dumps({"accepted": accepted})

    def _check_labels(self, model: str, version: int | None, labels: list[Any]) -> None:
        """Refuse (400) true labels the request's model cannot have produced.

        A classifier's labels must be among its classes (by value, as its manifest
        lists them: a JSON 1.0 matches the class 1, a string "1" or a ``true``
        does not); a regressor's must be finite numbers; any other model's (or a
        version no longer known) numbers or strings.
        """
        manifest = next((v.manifest for v in self.registry.versions(model)
                         if v.version == version), None) or {}
        task, classes = manifest.get("task"), manifest.get("classes")
        what = f"model {model} version {version}"
        allowed = {_class_key(c) for c in classes} if task == "classifier" and classes else None
        for i, label in enumerate(labels):
            if allowed is not None:
                if _class_key(label) not in allowed:
                    shown = ", ".join(json.dumps(c) for c in classes[:10])
                    more = f", ... ({len(classes)} classes)" if len(classes) > 10 else ""
                    raise invalid(f"label {i} ({_show(label)}) is not a class of {what}; "
                                  f"its classes are {shown}{more}")
            elif task == "regressor":
                if not (_is_number(label) and _finite(label)):
                    raise invalid(f"label {i} ({_show(label)}) is not a finite number; "
                                  f"{what} is a regressor")
            elif not (_is_number(label) or isinstance(label, str)):
                raise invalid(f"label {i} ({_show(label)}) must be a number or a string")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond float range
        return False


def _class_key(value: Any) -> tuple[str, Any]:
    """Labels and classes compared by value: numbers by their float value, no bools as 0/1."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        try:
            return ("number", float(value))
        except OverflowError:  # an int beyond float range
            return ("number", value)
    if isinstance(value, str):
        return ("str", value)
    return ("other", id(value))  # lists, objects, null: never a class


def _show(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."
