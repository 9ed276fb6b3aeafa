"""Running :class:`ServeApp` under uvicorn: blocking (the CLI) or in a background thread."""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
import time
import warnings
from typing import Any

from calipers.serve._app import DEFAULT_MAX_BODY, ServeApp
from calipers.serve._monitor import PredictionLog, default_log_path
from calipers.serve._registry import ModelRegistry, log_to_stderr


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
                        inline_max_ms=inline_max_ms)
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


def _config(app: ServeApp, host: str, port: int, *, log_level: str = "warning",
            max_concurrency: int | None = None) -> Any:
    uvicorn = _require_uvicorn()
    if not _is_loopback(host):
        warnings.warn(f"calipers serve is listening on {host}, not only on loopback: "
                      "anyone who can reach it can query the models", stacklevel=3)
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on",
                          limit_concurrency=max_concurrency, access_log=False,
                          timeout_keep_alive=30)


def serve(base: str | os.PathLike, host: str = "127.0.0.1", port: int = 8501, *,
          log_level: str = "info", max_concurrency: int | None = None,
          **options: Any) -> None:
    """Serve ``base`` until interrupted (``calipers serve``); options as :func:`make_app`."""
    log_to_stderr(log_level)  # which models/versions were found, and why any was skipped
    app = make_app(base, **options)
    uvicorn = _require_uvicorn()
    uvicorn.Server(_config(app, host, port, log_level=log_level,
                           max_concurrency=max_concurrency)).run()


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
                 port: int | None = None, *, max_concurrency: int | None = None,
                 **options: Any) -> None:
        self.app = make_app(base, **options)
        self.host = host
        self.port = port or free_port(host)
        uvicorn = _require_uvicorn()
        self._server = uvicorn.Server(_config(self.app, host, self.port,
                                              max_concurrency=max_concurrency))
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
