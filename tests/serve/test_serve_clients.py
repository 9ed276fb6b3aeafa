"""An ONNX artifact served by `calipers serve`, and a TF Serving REST client against it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _serve_client import Client

import calipers
from calipers.export import version_dir
from calipers.serve import BackgroundServer

pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")


@pytest.fixture(scope="module")
def onnx_server(tmp_path_factory, cancer):
    model, X, _ = cancer
    base = tmp_path_factory.mktemp("serve-onnx") / "models"
    path = calipers.export(model, "onnx", version_dir(base, "cancer"), sample=X[:64])
    with BackgroundServer(base, poll_interval=0) as srv:
        yield srv, calipers.load(path)


def test_onnx_row_and_columnar_equal_in_process(onnx_server, cancer):
    srv, artifact = onnx_server
    model, X, _ = cancer
    expected = artifact.run(X)
    client = Client(srv.url)
    try:
        _, body, _ = client.post("/v1/models/cancer:predict", {"instances": X.tolist()})
        rows = json.loads(body)["predictions"]
        proba = np.asarray([r["probabilities"] for r in rows], dtype=np.float32)
        np.testing.assert_array_equal(proba, expected["probabilities"])
        np.testing.assert_array_equal([r["label"] for r in rows], expected["label"])
        _, body, _ = client.post("/v1/models/cancer:predict", {"inputs": X.tolist()})
        outputs = json.loads(body)["outputs"]
        np.testing.assert_array_equal(np.asarray(outputs["probabilities"], np.float32),
                                      expected["probabilities"])
        np.testing.assert_allclose(proba, model.predict_proba(X), atol=1e-5)
    finally:
        client.close()


def test_tf_serving_rest_client(onnx_server, cancer):
    tfs = pytest.importorskip("calipers_tfserving")
    srv, artifact = onnx_server
    _, X, _ = cancer
    client = tfs.Client(srv.url, "cancer")
    assert client.versions() == {1: "AVAILABLE"}
    sig = client.signature()
    assert sig["inputs"]["X"] == {"dtype": "DT_FLOAT", "shape": [-1, 30]}
    expected = artifact.run(X[:50])
    for columnar in (False, True):
        got = client.predict(X[:50], columnar=columnar)
        np.testing.assert_array_equal(np.asarray(got["probabilities"], np.float32),
                                      expected["probabilities"])
        np.testing.assert_array_equal(got["label"], expected["label"])
    results = client.classify([{"X": row} for row in X[:3].tolist()])
    np.testing.assert_allclose([[s for _, s in r] for r in results],
                               expected["probabilities"][:3], rtol=1e-6)
    assert tfs.Client(srv.url, "cancer", version=1).versions() == {1: "AVAILABLE"}
