"""`calipers serve` over real HTTP (uvicorn on loopback): TF Serving's REST protocol."""

from __future__ import annotations

import json
import socket
import threading
import time

import numpy as np
import pytest
from _serve_client import Client

import calipers

STATUS_V1 = (
    b'{\n "model_version_status": [\n  {\n   "version": "1",\n   "state": "AVAILABLE",\n'
    b'   "status": {\n    "error_code": "OK",\n    "error_message": ""\n   }\n  }\n ]\n}\n'
)


def error_of(status, body, headers):
    assert headers["content-type"] == "application/json"
    doc = json.loads(body)
    assert list(doc) == ["error"]
    return status, doc["error"]


def test_status_is_byte_compatible(client):
    status, body, headers = client.get("/v1/models/cancer")
    assert status == 200 and body == STATUS_V1
    assert headers["content-type"] == "application/json"
    assert client.get("/v1/models/cancer/versions/1")[1] == STATUS_V1
    assert client.get("/V1/MODELS/cancer")[0] == 200  # TF Serving matches paths case-blind
    assert error_of(*client.get("/v1/models/nope")) == (
        404, "Could not find any versions of model nope")
    assert error_of(*client.get("/v1/models/cancer/versions/7")) == (
        404, "Could not find version 7 of model cancer")
    assert error_of(*client.get("/v1/models")) == (400, "Missing model name in request.")
    code, message = error_of(*client.get("/v1/models/cancer/labels/stable"))
    assert code == 400 and "Unrecognized servable version label: stable" in message


def test_metadata_signature_def(client, base):
    status, body, _ = client.get("/v1/models/cancer/versions/1/metadata")
    assert status == 200
    doc = json.loads(body)
    assert doc["model_spec"] == {"name": "cancer", "signature_name": "", "version": "1"}
    sig = doc["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert sig["method_name"] == "tensorflow/serving/predict"
    x = sig["inputs"]["X"]
    assert x["dtype"] == "DT_FLOAT"
    assert x["tensor_shape"] == {"dim": [{"size": "-1", "name": ""}, {"size": "30", "name": ""}],
                                 "unknown_rank": False}
    assert sig["outputs"]["label"]["dtype"] == "DT_INT64"
    assert sig["outputs"]["probabilities"]["tensor_shape"]["dim"][1]["size"] == "2"
    assert doc["metadata"]["calipers"]["task"] == "classifier"
    assert json.loads(client.get("/v1/models/cancer/metadata")[1]) == doc
    assert error_of(*client.get("/v1/models/nope/metadata")) == (
        404, "Servable not found for request: Latest(nope)")


def test_predict_row_and_columnar_match_in_process(client, base, cancer):
    _, X, _ = cancer
    artifact = calipers.load(base / "cancer" / "1")
    expected = artifact.run(X[:40])
    status, body, headers = client.post("/v1/models/cancer:predict",
                                        {"instances": X[:40].tolist()})
    assert status == 200 and len(headers["x-request-id"]) == 32
    rows = json.loads(body)["predictions"]
    np.testing.assert_array_equal([r["label"] for r in rows], expected["label"])
    np.testing.assert_array_equal(np.asarray([r["probabilities"] for r in rows], np.float32),
                                  expected["probabilities"])
    status, body, _ = client.post("/v1/models/cancer/versions/1:predict",
                                  {"signature_name": "serving_default",
                                   "inputs": {"X": X[:40].tolist()}})
    outputs = json.loads(body)["outputs"]
    np.testing.assert_array_equal(outputs["label"], expected["label"])
    np.testing.assert_array_equal(np.asarray(outputs["probabilities"], np.float32),
                                  expected["probabilities"])
    # named row objects for the single input work too (TF Serving accepts both)
    status, body, _ = client.post("/v1/models/cancer:predict",
                                  {"instances": [{"X": row} for row in X[:3].tolist()]})
    assert status == 200
    assert [r["label"] for r in json.loads(body)["predictions"]] == expected["label"][:3].tolist()


def test_classify_and_regress(client, base, cancer, diabetes):
    _, X, _ = cancer
    artifact = calipers.load(base / "cancer" / "1")
    proba = artifact.predict_proba(X[:5])
    status, body, _ = client.post("/v1/models/cancer:classify",
                                  {"examples": [{"X": row} for row in X[:5].tolist()]})
    assert status == 200
    results = json.loads(body)["results"]
    assert [[label for label, _ in r] for r in results] == [["0", "1"]] * 5
    np.testing.assert_allclose([[s for _, s in r] for r in results], proba, rtol=1e-6)
    reg, Xr, _ = diabetes
    status, body, _ = client.post("/v1/models/diabetes:regress",
                                  {"examples": [{"X": row} for row in Xr[:4].tolist()]})
    assert status == 200
    np.testing.assert_allclose(json.loads(body)["results"], reg.predict(Xr[:4]), rtol=1e-12)
    code, message = error_of(*client.post("/v1/models/diabetes:classify",
                                          {"examples": [{"X": Xr[0].tolist()}]}))
    assert code == 400 and "not a classifier" in message
    code, message = error_of(*client.post("/v1/models/cancer:regress",
                                          {"examples": [{"X": X[0].tolist()}]}))
    assert code == 400 and "is a classifier" in message


@pytest.mark.parametrize("body, code, fragment", [
    (b"", 400, "JSON Parse error: The document is empty"),
    (b"{not json", 400, "JSON Parse error"),
    (b"[]", 400, "Is not object"),
    (b'{"instances": [[1, 2]]}', 400, "expected shape [-1, 30], got [1, 2]"),
    (b'{"instances": [[1, 2], [1]]}', 400, "different lengths"),
    (b'{"instances": [["a"]]}', 400, "is not of expected type: float32"),
    (b'{"instances": []}', 400, "No values in 'instances' array"),
    (b'{"x": 1}', 400, "Missing 'inputs' or 'instances' key"),
    (b'{"inputs": {"Y": [[1]]}}', 400, "Missing named input: X in 'inputs' object."),
])
def test_bad_requests(client, body, code, fragment):
    got, message = error_of(*client.post("/v1/models/cancer:predict", body))
    assert got == code and fragment in message


def test_unknown_models_versions_and_paths(client, cancer):
    _, X, _ = cancer
    doc = {"instances": X[:1].tolist()}
    assert error_of(*client.post("/v1/models/nope:predict", doc)) == (
        404, "Servable not found for request: Latest(nope)")
    assert error_of(*client.post("/v1/models/cancer/versions/9:predict", doc)) == (
        404, "Servable not found for request: Specific(cancer, 9)")
    assert error_of(*client.request("PUT", "/v1/models/cancer:predict", b"{}"))[0] == 400
    assert error_of(*client.post("/v1/models/cancer:explain", doc))[0] == 400
    assert error_of(*client.get("/v2/models/cancer"))[0] == 404
    assert error_of(*client.get("/v1/models/cancer/versions/x"))[0] == 400


@pytest.mark.parametrize("path", [
    "/v1/models/..%2F..%2Fetc:predict",
    "/v1/models/%2e%2e:predict",
    "/v1/models/..:predict",
    "/v1/models/.calipers:predict",
    "/v1/models/cancer%2F..%2F..%2Fcancer:predict",
    "/v1/models/%2Ftmp:predict",
    "/v1/models/cancer/../cancer:predict",
])
def test_path_traversal_never_reaches_files(client, path, cancer):
    _, X, _ = cancer
    status, body, _ = client.post(path, {"instances": X[:1].tolist()})
    assert status in (400, 404)
    assert "predictions" not in json.loads(body)


def test_oversized_bodies_get_413(server, client):
    big = b'{"instances": [' + b"[0.0]," * 300_000 + b"[0.0]]}"
    status, message = error_of(*client.post("/v1/models/cancer:predict", big))
    assert status == 413 and "exceeds the limit of 1000000 bytes" in message

    # chunked, without Content-Length: cut off while streaming
    def chunks():
        for _ in range(200):
            yield b"[" + b"0.0," * 2000 + b"0.0],"

    fresh = Client(server.url)
    fresh.conn.putrequest("POST", "/v1/models/cancer:predict")
    fresh.conn.putheader("Transfer-Encoding", "chunked")
    fresh.conn.endheaders()
    try:
        for chunk in chunks():
            fresh.conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    except (BrokenPipeError, ConnectionResetError):
        pass
    resp = fresh.conn.getresponse()
    assert resp.status == 413
    fresh.close()
    assert client.get("/v1/models/cancer")[0] == 200


def _raw(server, data: bytes, read: bool) -> bytes:
    sock = socket.create_connection((server.host, server.port), timeout=30)
    try:
        sock.sendall(data)
        return sock.recv(65536) if read else b""
    finally:
        sock.close()


def test_client_disconnecting_mid_request(server, client, cancer):
    _, X, _ = cancer
    body = json.dumps({"instances": X[:200].tolist()}).encode()
    head = (f"POST /v1/models/cancer:predict HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    for _ in range(5):
        _raw(server, head + body[: len(body) // 2], read=False)  # gone mid-body
        _raw(server, head + body, read=False)  # gone before the answer
        _raw(server, head[:20], read=False)  # gone mid-headers
    answer = _raw(server, head + body, read=True)
    assert answer.startswith(b"HTTP/1.1 200")
    status, out, _ = client.post("/v1/models/cancer:predict", {"instances": X[:2].tolist()})
    assert status == 200 and len(json.loads(out)["predictions"]) == 2


def test_load_every_answered_request_is_logged(server, cancer):
    _, X, _ = cancer
    n_threads, per_thread = 8, 40
    answered, failures = [], []
    lock = threading.Lock()

    def worker(seed: int) -> None:
        c = Client(server.url)
        rng = np.random.default_rng(seed)
        try:
            for _ in range(per_thread):
                rows = X[rng.integers(0, len(X), size=int(rng.integers(1, 20)))]
                fmt = "instances" if rng.random() < 0.5 else "inputs"
                status, body, headers = c.post("/v1/models/cancer:predict",
                                               {fmt: rows.tolist()})
                with lock:
                    if status == 200:
                        answered.append((headers["x-request-id"], len(rows)))
                    else:
                        failures.append((status, body))
        finally:
            c.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not failures
    assert len(answered) == n_threads * per_thread
    logged = server.app.log.request_ids()
    missing = [rid for rid, _ in answered if rid not in logged]
    assert missing == []
    assert len({rid for rid, _ in answered}) == len(answered)


def test_prometheus_metrics(server, client, cancer):
    _, X, _ = cancer
    client.post("/v1/models/cancer:predict", {"instances": X[:3].tolist()})
    client.post("/v1/models/nope:predict", {"instances": X[:3].tolist()})
    status, body, headers = client.get("/monitoring/prometheus/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    text = body.decode()
    assert 'calipers_serve_requests_total{code="200",method="predict",model="cancer",' \
           'version="1"}' in text
    # an unknown model name counts under one fixed label (a closed set of series)
    assert 'calipers_serve_errors_total{code="404",method="predict",model="(unknown)",' \
           'version=""}' in text
    assert 'model="nope"' not in text
    assert "calipers_serve_request_latency_seconds_bucket" in text
    assert 'calipers_serve_batch_size_bucket{le="4.0",model="cancer",version="1"}' in text


def test_new_versions_are_picked_up_without_restart(server, client, base, cancer, tmp_path):
    from sklearn.linear_model import LogisticRegression

    _, X, y = cancer
    # a half-written version (no manifest yet) and an export's temporary directory
    (base / "cancer" / "5").mkdir()
    (base / "cancer" / "5" / "model.skops").write_bytes(b"partial")
    (base / "cancer" / ".6.tmp-abc").mkdir()
    other = LogisticRegression(max_iter=50, C=0.01).fit(X[:, :30] / 1000, y)
    calipers.export(other, "skops", base / "cancer" / "2", sample=X[:16])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        doc = json.loads(client.get("/v1/models/cancer")[1])
        if len(doc["model_version_status"]) == 2:
            break
        time.sleep(0.05)
    versions = [v["version"] for v in doc["model_version_status"]]
    assert versions == ["2", "1"]  # the half-written 5 and the temporary 6 never show up
    status, body, _ = client.post("/v1/models/cancer/versions/2:predict",
                                  {"instances": X[:3].tolist()})
    assert status == 200
    np.testing.assert_array_equal([r["label"] for r in json.loads(body)["predictions"]],
                                  other.predict(X[:3]))
    # the latest version answers unversioned requests
    status, body, _ = client.post("/v1/models/cancer:predict", {"instances": X[:3].tolist()})
    assert [r["label"] for r in json.loads(body)["predictions"]] == other.predict(X[:3]).tolist()
    # a tampered version is reported, not served; the others keep serving
    calipers.export(other, "skops", base / "cancer" / "3", sample=X[:16])
    model_file = next(p for p in (base / "cancer" / "3").iterdir() if p.name != "manifest.json")
    # tamper before the next scan can load it: write a fresh copy with a changed byte
    data = bytearray(model_file.read_bytes())
    data[-1] ^= 0xFF
    model_file.write_bytes(bytes(data))
    (base / "cancer" / "3" / "manifest.json").touch()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        doc = json.loads(client.get("/v1/models/cancer/versions/3")[1])
        if doc.get("model_version_status", [{}])[0].get("state") == "END":
            break
        time.sleep(0.05)
    entry = doc["model_version_status"][0]
    assert entry["state"] == "END" and entry["status"]["error_code"] == "UNKNOWN"
    assert "ArtifactError" in entry["status"]["error_message"]
    assert client.post("/v1/models/cancer/versions/3:predict",
                       {"instances": X[:1].tolist()})[0] == 404
    import shutil
    shutil.rmtree(base / "cancer" / "3")
    shutil.rmtree(base / "cancer" / "2")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if client.get("/v1/models/cancer")[1] == STATUS_V1:
            break
        time.sleep(0.05)
    assert client.get("/v1/models/cancer")[1] == STATUS_V1


def test_no_answer_without_a_log_row(server, client, cancer, monkeypatch):
    _, X, _ = cancer

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(server.app.log, "record", broken)
    status, message = error_of(*client.post("/v1/models/cancer:predict",
                                            {"instances": X[:2].tolist()}))
    assert status == 500 and "could not write the prediction log: OSError: disk full" in message
    monkeypatch.undo()
    assert client.post("/v1/models/cancer:predict", {"instances": X[:2].tolist()})[0] == 200


def test_versions_come_and_go_under_load(server, base, cancer):
    import shutil

    model, X, _ = cancer
    stop = threading.Event()
    results: list[int] = []

    def worker() -> None:
        c = Client(server.url)
        try:
            while not stop.is_set():
                results.append(c.post("/v1/models/cancer:predict",
                                      {"instances": X[:8].tolist()})[0])
        finally:
            c.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for _ in range(3):
            calipers.export(model, "skops", base / "cancer" / "8", sample=X[:16])
            time.sleep(0.3)
            shutil.rmtree(base / "cancer" / "8")
            time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert results and set(results) == {200}
