"""Fixtures for the serve tests: a model base with real artifacts and HTTP helpers."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("prometheus_client")
pytest.importorskip("skops")

from _serve_client import Client, make_base  # noqa: E402


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


@pytest.fixture(scope="module")
def base(tmp_path_factory, cancer, diabetes):
    return make_base(tmp_path_factory.mktemp("serve"), cancer, diabetes)


@pytest.fixture(scope="module")
def server(base):
    from calipers.serve import BackgroundServer

    with BackgroundServer(base, poll_interval=0.1, max_body_bytes=1_000_000) as srv:
        yield srv


@pytest.fixture
def client(server):
    c = Client(server.url)
    yield c
    c.close()
