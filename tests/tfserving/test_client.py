"""The REST client against a stub answering as TF Serving does.

Every test runs with the host's :class:`calipers.serve.client.Client` and with
``calipers_tfserving.Client`` (the host's plus gRPC), which must behave the same.

The stub's bodies are shaped (whitespace included) as TF Serving's REST handler
writes them: the status and metadata JSON of ``http_rest_api_util.cc``'s
``ToJsonString``, ``{ "error": "..." }`` errors, ``predictions`` / ``outputs``
from ``json_tensor.cc`` (one output: no name; several: objects), classify and
regress ``results``, ``NaN`` tokens and ``{"b64": ...}`` bytes.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import calipers_tfserving as tfs
import numpy as np
import pytest

from calipers.serve import client as rest

STATUS = b"""{
 "model_version_status": [
  {
   "version": "123",
   "state": "AVAILABLE",
   "status": {
    "error_code": "OK",
    "error_message": ""
   }
  }
 ]
}"""

METADATA = b"""{
"model_spec":{
 "name": "half_plus_two",
 "signature_name": "",
 "version": "123"
}
,
"metadata": {"signature_def": {
 "signature_def": {
  "serving_default": {
   "inputs": {
    "x": {
     "dtype": "DT_FLOAT",
     "tensor_shape": {
      "dim": [
       {
        "size": "-1",
        "name": ""
       },
       {
        "size": "1",
        "name": ""
       }
      ],
      "unknown_rank": false
     },
     "name": "serving_default_x:0"
    }
   },
   "outputs": {
    "y": {
     "dtype": "DT_FLOAT",
     "tensor_shape": {
      "dim": [],
      "unknown_rank": true
     },
     "name": "StatefulPartitionedCall:0"
    }
   },
   "method_name": "tensorflow/serving/predict"
  },
  "__saved_model_init_op": {
   "inputs": {},
   "outputs": {
    "__saved_model_init_op": {
     "dtype": "DT_INVALID",
     "tensor_shape": {
      "dim": [],
      "unknown_rank": true
     },
     "name": "NoOp"
    }
   },
   "method_name": ""
  }
 }
}
}
}
"""


class StubServing:
    """A tiny HTTP server answering fixed TF Serving bodies; records the requests."""

    def __init__(self, routes):
        self.routes = routes
        self.requests = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                stub.requests.append((self.command, self.path,
                                      json.loads(body) if body else None))
                status, payload = stub.routes.get((self.command, self.path), (
                    404, b'{ "error": "Servable not found for request: Latest(nope)" }'))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub():
    m = "/v1/models/half_plus_two"
    routes = {
        ("GET", m): (200, STATUS),
        ("GET", f"{m}/versions/123"): (200, STATUS),
        ("GET", f"{m}/metadata"): (200, METADATA),
        ("POST", f"{m}:predict"): (200, b'{\n    "predictions": [[2.5], [3.0], [NaN]\n    ]\n}'),
        ("POST", f"{m}/versions/123:predict"): (200, b"""{
    "predictions": [
        {"scores": [0.25, 0.75], "classes": 1, "key_bytes": {"b64": "AAE="}},
        {"scores": [0.9, 0.1], "classes": 0, "key_bytes": {"b64": "Ag=="}}
    ]
}"""),
        ("POST", f"{m}/labels/stable:predict"): (200, b"""{
    "outputs": {"scores": [[0.25, 0.75], [0.9, 0.1]], "classes": [1, 0]}
}"""),
        ("POST", f"{m}:classify"): (200, b"""{
    "results": [
        [["car", 0.2], ["bike", 0.7], ["bus", 0.1]],
        [["car", 0.7], ["bike", 0.1], ["bus", 0.2]]
    ]
}"""),
        ("POST", f"{m}:regress"): (200, b'{ "results": [ 0.2, Infinity, 1.0 ] }'),
        ("POST", "/v1/models/broken:predict"): (
            400, b'{ "error": "JSON Parse error: Invalid value. at offset: 0" }'),
        ("GET", "/v1/models/busy"): (503, b"<html>overloaded</html>"),
    }
    with StubServing(routes) as server:
        yield server


@pytest.fixture(params=["host", "plugin"])
def Client(request):
    return rest.Client if request.param == "host" else tfs.Client


def test_status_metadata_and_signature(stub, Client):
    client = Client(stub.url, "half_plus_two")
    status = client.status()
    assert status == json.loads(STATUS)
    assert client.versions() == {123: "AVAILABLE"}
    assert Client(stub.url, "half_plus_two", version=123).versions() == {123: "AVAILABLE"}
    assert client.metadata()["model_spec"]["version"] == "123"
    assert client.signature() == {
        "inputs": {"x": {"dtype": "DT_FLOAT", "shape": [-1, 1]}},
        "outputs": {"y": {"dtype": "DT_FLOAT", "shape": None}},
        "method_name": "tensorflow/serving/predict",
    }
    with pytest.raises(KeyError, match="no signature 'other'"):
        client.signature("other")
    assert [r[:2] for r in stub.requests][1:3] == [
        ("GET", "/v1/models/half_plus_two"), ("GET", "/v1/models/half_plus_two/versions/123")]


def test_predict_row_and_columnar_bodies(stub, Client):
    client = Client(stub.url, "half_plus_two")
    got = client.predict(np.array([[1.0], [2.0], [np.nan]], dtype=np.float32),
                         signature_name="serving_default")
    np.testing.assert_array_equal(got, [[2.5], [3.0], [np.nan]])
    assert stub.requests[-1][:2] == ("POST", "/v1/models/half_plus_two:predict")
    sent = stub.requests[-1][2]
    assert sent["signature_name"] == "serving_default"
    assert sent["instances"][:2] == [[1.0], [2.0]] and np.isnan(sent["instances"][2][0])

    versioned = Client(stub.url, "half_plus_two", version=123)
    out = versioned.predict({"x": np.ones((2, 1)), "key": [b"\x00\x01", b"\x02"]})
    assert stub.requests[-1][2] == {"instances": [
        {"x": [1.0], "key": {"b64": "AAE="}}, {"x": [1.0], "key": {"b64": "Ag=="}}]}
    np.testing.assert_array_equal(out["scores"], [[0.25, 0.75], [0.9, 0.1]])
    assert out["classes"].tolist() == [1, 0]
    assert out["key_bytes"].tolist() == [b"\x00\x01", b"\x02"]

    labelled = Client(stub.url, "half_plus_two", label="stable")
    out = labelled.predict({"x": np.ones((2, 1)), "mask": np.array([True, False])},
                           columnar=True)
    assert stub.requests[-1][2] == {"inputs": {"x": [[1.0], [1.0]], "mask": [True, False]}}
    assert out["classes"].tolist() == [1, 0]
    with pytest.raises(ValueError, match="same 0-th dimension"):
        versioned.predict({"x": np.ones((2, 1)), "y": np.ones((3, 1))})


def test_classify_and_regress(stub, Client):
    client = Client(stub.url, "half_plus_two")
    results = client.classify([{"x": 1.0, "name": "a"}, {"x": 2.0, "name": b"\xff"}],
                              context={"site": 3})
    assert results == [[("car", 0.2), ("bike", 0.7), ("bus", 0.1)],
                       [("car", 0.7), ("bike", 0.1), ("bus", 0.2)]]
    assert stub.requests[-1][2] == {
        "examples": [{"x": 1.0, "name": "a"},
                     {"x": 2.0, "name": {"b64": base64.b64encode(b"\xff").decode()}}],
        "context": {"site": 3}}
    values = client.regress({"x": np.array([1.0, 2.0, 3.0])}, signature_name="regress_x")
    np.testing.assert_array_equal(values, [0.2, np.inf, 1.0])
    assert stub.requests[-1][2] == {"examples": [{"x": 1.0}, {"x": 2.0}, {"x": 3.0}],
                                    "signature_name": "regress_x"}
    with pytest.raises(TypeError, match="examples must be"):
        client.classify(np.ones((2, 2)))


def test_errors_carry_the_status_and_message(stub, Client):
    with pytest.raises(rest.ServingError) as info:
        Client(stub.url, "nope").status()
    assert info.value.status == 404 and info.value.code == "NOT_FOUND"
    assert info.value.message == "Servable not found for request: Latest(nope)"
    with pytest.raises(rest.ServingError, match=r"INVALID_ARGUMENT \(HTTP 400\): JSON Parse"):
        Client(stub.url, "broken").predict([[1.0]])
    with pytest.raises(rest.ServingError, match="overloaded") as info:
        Client(stub.url, "busy").status()
    assert info.value.code == "UNAVAILABLE"
    port = stub.server.server_address[1]
    stub.server.shutdown()
    stub.server.server_close()
    with pytest.raises(ConnectionError, match="cannot reach"):
        Client(f"http://127.0.0.1:{port}", "x", timeout=2).status()


def test_client_arguments_are_checked(Client):
    with pytest.raises(ValueError, match="url must look like"):
        Client("localhost:8501", "m")
    with pytest.raises(ValueError, match="invalid model name"):
        Client("http://h:1", "a/b")
    with pytest.raises(ValueError, match="version must be"):
        Client("http://h:1", "m", version=-1)
    with pytest.raises(ValueError, match="not both"):
        Client("http://h:1", "m", version=1, label="x")
    with pytest.raises(ValueError, match="timeout"):
        Client("http://h:1", "m", timeout=0)


def test_plugin_client_is_the_host_client_plus_grpc():
    assert issubclass(tfs.Client, rest.Client)
    assert tfs.ServingError is rest.ServingError
    for name in tfs.__all__:  # the public names, imported on first use or not
        assert getattr(tfs, name) is not None, name
    assert tfs.predict_remote.__module__ == "calipers_tfserving._backend"
    client = rest.Client.coerce("http://h:1", "m", 3, timeout=5)
    assert type(client) is rest.Client and (client.version, client.timeout) == (3, 5.0)
    assert type(tfs.Client.coerce("http://h:1", "m")) is tfs.Client
    assert tfs.Client.coerce(client, "m") is client
    with pytest.raises(ValueError, match="the client is for model 'm', not 'x'"):
        tfs.Client.coerce(client, "x")
    with pytest.raises(ValueError, match="give the model name"):
        rest.Client.coerce("http://h:1")


def test_host_client_refuses_grpc_urls():
    with pytest.raises(ValueError, match=r"'grpc://h:8500': grpc:// URLs need "
                       r"calipers_tfserving\.Client \(pip install 'calipers\[tfserving\]' "
                       r"plus tensorflow-serving-api\)"):
        rest.Client("grpc://h:8500", "m")
    with pytest.raises(ValueError, match="calipers_tfserving.Client"):
        rest.predict_remote("grpc://h:8500", np.ones((2, 1)), model="m")


def test_the_host_client_module_imports_no_plugin():
    import subprocess
    import sys

    code = ("import sys; import calipers.serve.client\n"
            "print(sorted(m for m in sys.modules if m.startswith('calipers_tfserving')\n"
            "             or m.startswith('tensorflow')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_predict_remote_batches_through_the_host_client(stub):
    client = rest.Client(stub.url, "half_plus_two")
    got = rest.predict_remote(client, np.array([[1.0], [2.0], [3.0]]), batch_size=2)
    # The stub answers three rows per request: two requests, six rows.
    assert [len(r[2]["instances"]) for r in stub.requests] == [2, 1]
    assert got.shape == (6, 1)
    labels, proba = rest.split_outputs(got)
    assert proba is None and labels.shape == (6, 1)
    labels, proba = rest.split_outputs({"scores": np.eye(2), "classes": np.arange(2)})
    np.testing.assert_array_equal(proba, np.eye(2))
    np.testing.assert_array_equal(labels, [0, 1])
    with pytest.raises(ValueError, match="cannot tell labels or probabilities"):
        rest.split_outputs({"embedding": np.ones((2, 3))})
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        list(rest.iter_batches(np.ones(3), 0))


def test_plugin_client_routes_grpc_urls_to_the_grpc_transport(monkeypatch):
    """The subclass hands every call of a grpc:// client to its transport (the real
    transport is tested in test_grpc.py, which needs tensorflow-serving-api)."""
    from calipers_tfserving import _grpc

    calls = []

    class Transport:
        def __init__(self, *args):
            calls.append(("open", args))

        def __getattr__(self, name):
            answers = {"status": {"model_version_status": []}, "close": None,
                       "metadata": {"model_spec": {}}, "predict": np.zeros(2),
                       "classify_regress": [[["a", 0.25]]]}
            return lambda *args: calls.append((name, args)) or answers[name]

    monkeypatch.setattr(_grpc, "GrpcTransport", Transport)
    with tfs.Client("grpc://127.0.0.1:9", "m", label="stable", timeout=4) as client:
        assert client.transport == "grpc"
        assert client.versions() == {}
        assert client.metadata() == {"model_spec": {}}
        got = client.predict({"x": np.ones((2, 1))}, columnar=True, signature_name="s")
        np.testing.assert_array_equal(got, [0.0, 0.0])
        assert client.classify([{"x": 1.0}], context={"c": b"\x00"}) == [[("a", 0.25)]]
    assert [name for name, _ in calls] == ["open", "status", "metadata", "predict",
                                           "classify_regress", "close"]
    assert calls[0][1] == ("127.0.0.1:9", "m", None, "stable", 4.0)
    assert calls[3][1][1] == "s" and list(calls[3][1][0]) == ["x"]
    assert calls[4][1] == ("classify", {"examples": [{"x": 1.0}],
                                        "context": {"c": {"b64": "AA=="}}})
