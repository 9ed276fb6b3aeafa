"""``calipers serve``: artifacts over TensorFlow Serving's REST API, with monitoring.

Serves every artifact under ``BASE/<name>/<version>/`` (written by
``calipers.export``), and an unversioned artifact folder ``BASE/<name>/`` as version
1, so TF Serving REST clients work unchanged; logs what it found and skipped; picks
up new versions while running; exposes Prometheus metrics; keeps a SQLite prediction
log with request ids, takes feedback (true labels) and computes live metrics and PSI
drift against each manifest's per-feature reference histograms
(``calipers monitor BASE``). The REST client side is :mod:`calipers.serve.client`.

Needs the ``serve`` extra (uvicorn, prometheus-client) to run a server.
"""

from calipers.serve._app import DEFAULT_MAX_BODY, ServeApp
from calipers.serve._errors import HTTP_STATUS, ServeError
from calipers.serve._monitor import Metrics, PredictionLog, default_log_path
from calipers.serve._registry import ModelRegistry, Version
from calipers.serve._server import BackgroundServer, free_port, make_app, serve
from calipers.serve._summary import psi, summarize

__all__ = [
    "DEFAULT_MAX_BODY",
    "HTTP_STATUS",
    "BackgroundServer",
    "Metrics",
    "ModelRegistry",
    "PredictionLog",
    "ServeApp",
    "ServeError",
    "Version",
    "default_log_path",
    "free_port",
    "make_app",
    "psi",
    "serve",
    "summarize",
]
