"""Fixtures for the serve tests: a model base with real artifacts and HTTP helpers."""

from __future__ import annotations

import http.client
import json
import pathlib
import urllib.parse

import numpy as np
import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("prometheus_client")
pytest.importorskip("skops")

import calipers  # noqa: E402
from calipers.export import version_dir  # noqa: E402


@pytest.fixture(scope="session")
def cancer():
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    X = X.astype(np.float32)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y)
    return model, X, y


@pytest.fixture(scope="session")
def diabetes():
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    X, y = load_diabetes(return_X_y=True)
    return Ridge().fit(X, y), X, y


def make_base(root: pathlib.Path, cancer, diabetes) -> pathlib.Path:
    base = root / "models"
    model, X, _ = cancer
    calipers.export(model, "skops", version_dir(base, "cancer"), sample=X[:64])
    reg, Xr, _ = diabetes
    calipers.export(reg, "skops", version_dir(base, "diabetes"), sample=Xr[:64])
    return base


@pytest.fixture(scope="module")
def base(tmp_path_factory, cancer, diabetes):
    return make_base(tmp_path_factory.mktemp("serve"), cancer, diabetes)


@pytest.fixture(scope="module")
def server(base):
    from calipers.serve import BackgroundServer

    with BackgroundServer(base, poll_interval=0.1, max_body_bytes=1_000_000) as srv:
        yield srv


class Client:
    """A tiny HTTP client on one keep-alive connection (a TF Serving REST client's calls)."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
        try:
            self.conn.request(method, path, body=body, headers=headers or {})
            resp = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionError, BrokenPipeError):
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            self.conn.request(method, path, body=body, headers=headers or {})
            resp = self.conn.getresponse()
        data = resp.read()
        if resp.getheader("connection", "").lower() == "close":
            self.conn.close()
        return resp.status, data, {k.lower(): v for k, v in resp.getheaders()}

    def get(self, path: str) -> tuple[int, bytes, dict[str, str]]:
        return self.request("GET", path)

    def post(self, path: str, doc) -> tuple[int, bytes, dict[str, str]]:
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        return self.request("POST", path, body, {"Content-Type": "application/json"})

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def client(server):
    c = Client(server.url)
    yield c
    c.close()
