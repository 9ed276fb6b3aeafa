"""Running :class:`ServeApp` under uvicorn: blocking (the CLI) or in a background thread."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import math
import os
import socket
import threading
import time
import warnings
from typing import Any

from calipers.serve._app import DEFAULT_BODY_TIMEOUT, DEFAULT_MAX_BODY, ServeApp
from calipers.serve._monitor import PredictionLog, default_log_path
from calipers.serve._registry import ModelRegistry, log_to_stderr

#: Seconds a client has to send a request's headers (see :func:`protocol_class`).
DEFAULT_HEADER_TIMEOUT = 10.0
#: Concurrent connections (and requests in progress) beyond which requests get 503.
DEFAULT_MAX_CONCURRENCY = 256
#: Seconds an idle keep-alive connection stays open.
KEEP_ALIVE_TIMEOUT = 30


def _require_uvicorn() -> Any:
    try:
        import uvicorn
    except ImportError as exc:
        raise ImportError(
            "calipers serve requires uvicorn and prometheus-client: "
            "pip install 'calipers[serve]'"
        ) from exc
    return uvicorn


def make_app(
    base: str | os.PathLike,
    *,
    poll_interval: float = 2.0,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    log_path: str | os.PathLike | None = None,
    prediction_log: bool = True,
    inference_threads: int | None = None,
    intra_op_threads: int | None = None,
    inline_max_ms: float = 2.0,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
    trusted: bool = False,
) -> ServeApp:
    """An ASGI app serving every artifact under ``base/<name>/<version>/``.

    Parameters
    ----------
    base : str or os.PathLike
        The model base directory.
    poll_interval : float, default 2.0
        Seconds between scans for new/removed versions (0: scan only at start).
    max_body_bytes : int, default 16 MiB
        Request bodies above this get HTTP 413.
    log_path : str or os.PathLike, optional
        The SQLite prediction log; ``<base>/.calipers/predictions.sqlite`` by default.
    prediction_log : bool, default True
        Keep a prediction log at all.
    inference_threads : int, optional
        Threads parsing requests and running the models (``min(4, usable CPUs)``
        by default).
    intra_op_threads : int, optional
        onnxruntime intra-op threads per call (0: onnxruntime decides); by
        default 1 when there is more than one inference thread. See
        :class:`ServeApp`.
    inline_max_ms : float, default 2.0
        Answer requests of models that take under this long on the event
        loop's thread (0: always on an inference thread). See :class:`ServeApp`.
    body_timeout : float, default 60.0
        Seconds a client has to send a request's body once its headers are in
        (408 and the connection closed otherwise).
    trusted : bool, default False
        Load pickle artifacts too (they can run code when loaded).
    """
    if not os.path.isdir(base):
        raise FileNotFoundError(f"model base {os.fspath(base)!r} is not a directory")
    registry = ModelRegistry(base, poll_interval=poll_interval, trusted=trusted)
    log = None
    if prediction_log:
        log = PredictionLog(log_path if log_path is not None else default_log_path(base))
    try:
        return ServeApp(registry, prediction_log=log, max_body_bytes=max_body_bytes,
                        inference_threads=inference_threads, intra_op_threads=intra_op_threads,
                        inline_max_ms=inline_max_ms, body_timeout=body_timeout)
    except Exception:
        if log is not None:
            log.close()  # its checkpoint thread must not outlive a failed start
        raise


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _raw_json_response(status: int, reason: str, message: str) -> bytes:
    body = json.dumps({"error": message}, indent=4).encode("utf-8")
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body


def protocol_class(header_timeout: float = DEFAULT_HEADER_TIMEOUT) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol (httptools, else h11) with a header deadline and JSON 400s.

    uvicorn has no timeout for reading a request's headers: a client that
    connects and sends nothing, or a byte now and then, holds its connection
    forever (the keep-alive timeout only runs between requests, and any byte
    stops it). Here a request's headers must be complete within
    ``header_timeout`` seconds of the connection opening, or of the first byte
    after the previous answer; otherwise the connection is closed, after a JSON
    408 if part of a request had arrived (an idle connection closes silently,
    so that a client never reads a 408 as the answer to its next request).
    Requests uvicorn's parser rejects get ``{"error": ...}`` JSON with 400
    instead of its plain-text 'Invalid HTTP request received.'.
    """
    if not (header_timeout > 0 and math.isfinite(header_timeout)):
        raise ValueError(f"header_timeout must be a positive number of seconds, "
                         f"got {header_timeout}")
    _require_uvicorn()
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    class CalipersHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
        _header_timer: asyncio.TimerHandle | None = None
        _armed_cycle: Any = None
        _partial = False

        def _arm(self) -> None:
            self._armed_cycle = self.cycle  # a new cycle: the next request's headers are in
            self._partial = False
            self._header_timer = self.loop.call_later(header_timeout, self._headers_late)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_late(self) -> None:
            self._header_timer = None
            cycle = self.cycle
            if cycle is not self._armed_cycle or self.transport.is_closing():
                return  # the headers came in time
            if cycle is not None and not cycle.response_complete:
                return  # a request still in progress: re-armed after its answer
            if self._partial:
                self.transport.write(_raw_json_response(
                    408, "Request Timeout", f"the request headers did not arrive within "
                    f"{header_timeout:g} s; send them faster or raise the server's "
                    "--header-timeout"))
            self.transport.close()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._header_timer is None and (self.cycle is None
                                               or self.cycle.response_complete):
                self._arm()  # the first byte of the next request starts its deadline
            self._partial = True
            super().data_received(data)

        def on_response_complete(self) -> None:
            self._disarm()  # idle now: uvicorn's keep-alive timeout takes over
            super().on_response_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def send_400_response(self, msg: str) -> None:
            self._disarm()
            self.transport.write(_raw_json_response(
                400, "Bad Request", msg))
            self.transport.close()

    return CalipersHTTPProtocol


def _config(app: ServeApp, host: str, port: int, *, log_level: str = "warning",
            max_concurrency: int | None = DEFAULT_MAX_CONCURRENCY,
            header_timeout: float = DEFAULT_HEADER_TIMEOUT) -> Any:
    uvicorn = _require_uvicorn()
    if max_concurrency is not None and max_concurrency < 1:
        raise ValueError(f"max_concurrency must be positive (None: no limit), "
                         f"got {max_concurrency}")
    if not _is_loopback(host):
        warnings.warn(f"calipers serve is listening on {host}, not only on loopback: "
                      "anyone who can reach it can query the models", stacklevel=3)
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on",
                          limit_concurrency=max_concurrency, access_log=False,
                          timeout_keep_alive=KEEP_ALIVE_TIMEOUT,
                          http=protocol_class(header_timeout))


def serve(base: str | os.PathLike, host: str = "127.0.0.1", port: int = 8501, *,
          log_level: str = "info", max_concurrency: int | None = DEFAULT_MAX_CONCURRENCY,
          header_timeout: float = DEFAULT_HEADER_TIMEOUT, **options: Any) -> None:
    """Serve ``base`` until interrupted (``calipers serve``); options as :func:`make_app`.

    ``max_concurrency`` connections (or requests in progress) at once, beyond
    which requests get uvicorn's plain-text 503 (None: no limit);
    ``header_timeout`` as :func:`protocol_class`.
    """
    log_to_stderr(log_level)  # which models/versions were found, and why any was skipped
    app = make_app(base, **options)
    uvicorn = _require_uvicorn()
    uvicorn.Server(_config(app, host, port, log_level=log_level,
                           max_concurrency=max_concurrency,
                           header_timeout=header_timeout)).run()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class BackgroundServer:
    """``calipers serve`` in a thread of this process (tests, benchmarks, notebooks).

    Use as a context manager; :attr:`url` is ``http://host:port``.
    """

    def __init__(self, base: str | os.PathLike, host: str = "127.0.0.1",
                 port: int | None = None, *,
                 max_concurrency: int | None = DEFAULT_MAX_CONCURRENCY,
                 header_timeout: float = DEFAULT_HEADER_TIMEOUT, **options: Any) -> None:
        self.app = make_app(base, **options)
        self.host = host
        self.port = port or free_port(host)
        uvicorn = _require_uvicorn()
        self._server = uvicorn.Server(_config(self.app, host, self.port,
                                              max_concurrency=max_concurrency,
                                              header_timeout=header_timeout))
        self._thread = threading.Thread(target=self._server.run, name="calipers-serve",
                                         daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"calipers serve did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
