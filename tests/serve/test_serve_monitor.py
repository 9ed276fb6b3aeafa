"""Monitoring: feedback -> live metrics, PSI drift, `calipers monitor`, `calipers serve` CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from _serve_client import Client, make_base
from hypothesis import given, settings
from hypothesis import strategies as st

import calipers
from calipers.cli.main import main
from calipers.serve import BackgroundServer, default_log_path, free_port, psi, summarize
from calipers.serve._summary import format_summary


def test_psi_values():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=2000)
    assert psi(ref, ref) == pytest.approx(0.0, abs=1e-12)
    assert psi(ref, rng.normal(size=2000)) < 0.05
    assert psi(ref, rng.normal(loc=1.5, size=2000)) > 0.25
    # by hand: two distinct reference values -> bins {0}, {1}, other
    p = np.array([0.5, 0.5, 1e-4])
    q = np.array([0.25, 0.75, 1e-4])
    assert psi([0, 0, 1, 1], [0, 1, 1, 1]) == pytest.approx(np.sum((q - p) * np.log(q / p)))
    q = np.array([0.5, 1e-4, 0.5])  # unseen values land in the "other" bin
    assert psi([0, 0, 1, 1], [0, 7, 0, 9]) == pytest.approx(np.sum((q - p) * np.log(q / p)))
    assert np.isnan(psi([np.nan], [1.0]))
    assert np.isnan(psi([1.0], []))
    with pytest.raises(ValueError, match="bins must be positive"):
        psi([1.0], [1.0], bins=0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=60),
       st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=60),
       st.integers(1, 12))
def test_psi_is_nonnegative_and_zero_on_itself(ref, cur, bins):
    assert psi(ref, cur, bins) >= -1e-12
    assert psi(ref, ref, bins) == pytest.approx(0.0, abs=1e-9)


@pytest.fixture
def fresh(tmp_path, cancer, diabetes):
    base = make_base(tmp_path, cancer, diabetes)
    with BackgroundServer(base, poll_interval=0) as srv:
        c = Client(srv.url)
        yield base, srv, c
        c.close()


def test_feedback_feeds_live_metrics(fresh, cancer, diabetes):
    from sklearn.metrics import (
        accuracy_score,
        f1_score,
        log_loss,
        mean_absolute_error,
        r2_score,
        roc_auc_score,
    )

    base, srv, client = fresh
    model, X, y = cancer
    rng = np.random.default_rng(1)
    ids, rows = [], []
    for _ in range(6):
        idx = rng.integers(0, len(X), size=25)
        status, _, headers = client.post("/v1/models/cancer:predict",
                                         {"instances": X[idx].tolist()})
        assert status == 200
        ids.append(headers["x-request-id"])
        rows.append(idx)
    # labels for the first five requests (one in the batch form), deliberately noisy
    truth = [y[idx].copy() for idx in rows]
    truth[0][:5] = 1 - truth[0][:5]
    for rid, labels in zip(ids[:3], truth[:3], strict=True):
        status, body, _ = client.post("/monitoring/feedback",
                                      {"request_id": rid, "labels": labels.tolist()})
        assert (status, json.loads(body)) == (200, {"accepted": 25})
    status, body, _ = client.post("/monitoring/feedback", {"feedback": [
        {"request_id": rid, "labels": labels.tolist()}
        for rid, labels in zip(ids[3:5], truth[3:5], strict=True)]})
    assert (status, json.loads(body)) == (200, {"accepted": 50})
    # bad feedback
    assert client.post("/monitoring/feedback", {"request_id": "nope", "labels": [1]})[0] == 404
    assert client.post("/monitoring/feedback", {"request_id": ids[5], "labels": [1]})[0] == 400
    assert client.post("/monitoring/feedback", {"labels": [1]})[0] == 400
    assert client.post("/monitoring/feedback", b"{nope")[0] == 400
    bad_id = client.post("/v1/models/cancer:predict", {"instances": [[1]]})[2]["x-request-id"]
    status, body, _ = client.post("/monitoring/feedback", {"request_id": bad_id, "labels": [1]})
    assert status == 400 and "failed" in json.loads(body)["error"]

    reg, Xr, yr = diabetes
    status, _, headers = client.post("/v1/models/diabetes:regress",
                                     {"examples": [{"X": r} for r in Xr[:30].tolist()]})
    assert status == 200
    client.post("/monitoring/feedback", {"request_id": headers["x-request-id"],
                                         "labels": yr[:30].tolist()})

    summary = summarize(default_log_path(base), base)
    by_key = {(e["model"], e["version"]): e for e in summary["models"]}
    entry = by_key[("cancer", 1)]
    assert entry["requests"] == 7 and entry["by_status"] == {"200": 6, "400": 1}
    assert entry["examples"] == 150 and entry["feedback"] == 125
    labelled = np.concatenate(rows[:5])
    y_true = np.concatenate(truth[:5])
    proba = model.predict_proba(X[labelled])
    live = entry["live_metrics"]
    assert live["accuracy"] == pytest.approx(accuracy_score(y_true, model.predict(X[labelled])))
    assert live["f1_macro"] == pytest.approx(
        f1_score(y_true, model.predict(X[labelled]), average="macro"))
    assert live["roc_auc"] == pytest.approx(roc_auc_score(y_true, proba[:, 1]), rel=1e-6)
    assert live["log_loss"] == pytest.approx(log_loss(y_true, proba), rel=1e-4)
    assert set(entry["latency_ms"]) == {"p50", "p90", "p99"}
    assert entry["latency_ms"]["p50"] <= entry["latency_ms"]["p99"]
    # the artifact's 64-row sample is no drift reference: no PSI, no verdict
    assert entry["psi"] == {} and entry["drift"]["status"] == "no reference"
    reg_entry = by_key[("diabetes", 1)]
    pred = reg.predict(Xr[:30])
    assert reg_entry["live_metrics"]["mae"] == pytest.approx(mean_absolute_error(yr[:30], pred))
    assert reg_entry["live_metrics"]["r2"] == pytest.approx(r2_score(yr[:30], pred))
    text = format_summary(summary)
    assert "cancer version 1: 7 request(s) (200: 6, 400: 1), 150 example(s)" in text
    assert "live metrics (125 labelled): accuracy" in text and "PSI per feature" not in text
    assert "drift: no reference: the manifest has no drift histograms" in text


def test_feedback_labels_are_checked_against_the_model(fresh, cancer, diabetes):
    base, srv, client = fresh
    _, X, _ = cancer
    _, Xr, yr = diabetes

    def predict(model, rows):
        status, _, headers = client.post(f"/v1/models/{model}:predict",
                                         {"instances": rows.tolist()})
        assert status == 200
        return headers["x-request-id"]

    def feedback(rid, labels):
        body = labels if isinstance(labels, bytes) else json.dumps(
            {"request_id": rid, "labels": labels}).encode()
        status, answer, _ = client.post("/monitoring/feedback", body)
        return status, json.loads(answer)

    rid = predict("cancer", X[:2])  # a binary classifier: classes [0, 1]
    deep = b'{"request_id": "%s", "labels": [%s1%s, 0]}' % (rid.encode(), b"[" * 980,
                                                          b"]" * 980)
    for labels, reason in [(["cat", 0], 'label 0 ("cat") is not a class of model cancer '
                                        'version 1; its classes are 0, 1'),
                           ([None, 1], "label 0 (null) is not a class"),
                           ([0, 7], "label 1 (7) is not a class"),
                           ([True, 0], "label 0 (true) is not a class"),
                           (["1", 0], 'label 0 ("1") is not a class'),
                           ([[1], 0], "label 0 ([1]) is not a class"),
                           ([[[[[1]]]], 0], "label 0 ([[[[1]]]]) is not a class"),
                           ([{"a": 1}, 0], "is not a class"),
                           (deep, "nest")]:
        status, answer = feedback(rid, labels)
        assert status == 400, (labels, answer)
        assert reason in answer["error"], answer
    assert feedback(rid, [1, 0.0]) == (200, {"accepted": 2})  # by value: 0.0 is class 0

    rid = predict("diabetes", Xr[:3])  # a regressor: numbers only
    for labels in (["cat", 1, 2], [None, 1, 2], [True, 1, 2], [[1.0], 1, 2], [1, 2, 10**400]):
        status, answer = feedback(rid, labels)
        assert status == 400 and "is not a finite number; model diabetes version 1 is a " \
            "regressor" in answer["error"], (labels, answer)
    assert feedback(rid, yr[:3].tolist()) == (200, {"accepted": 3})
    assert feedback(rid, [1, 2, 3]) == (200, {"accepted": 3})
    summary = summarize(default_log_path(base), base)
    assert {e["model"]: e["feedback"] for e in summary["models"]} == {"cancer": 2,
                                                                      "diabetes": 3}


def _drift_data(n, rng, shift=0.0):
    """Rows of 6 features: normal, skewed, discrete and binary columns."""
    X = np.column_stack([rng.normal(size=(n, 3)), rng.exponential(size=n),
                         rng.integers(0, 4, size=n), rng.random(n) < 0.2]).astype(np.float64)
    X[:, 1] += shift
    return X


def test_in_distribution_windows_never_flag_and_a_shift_does():
    from calipers.export._drift import build_reference
    from calipers.serve._summary import drift

    rng = np.random.default_rng(12)
    reference = build_reference({"X": _drift_data(1000, rng)})
    flagged, drifted, worst = 0, 0, 0.0
    for _ in range(100):  # 100 windows of in-distribution traffic, 500 rows each
        verdict = drift(reference, {"X": _drift_data(500, rng)})
        assert verdict["status"] in ("ok", "watch") and len(verdict["psi"]) == 6
        flagged += bool(verdict["flags"])
        drifted += verdict["status"] == "drift"
        worst = max(worst, *verdict["psi"].values())
    # family-wise false-alarm rate 0.001 per window: no DRIFT ever, at most one "watch"
    assert drifted == 0 and flagged <= 1, (flagged, worst)
    assert worst < 0.25
    for window in (200, 500):  # one feature shifted by 1 std is flagged, and only it
        verdict = drift(reference, {"X": _drift_data(window, rng, shift=1.0)})
        assert verdict["status"] == "drift" and verdict["flags"] == {"X[1]": "DRIFT"}
        assert verdict["psi"]["X[1]"] > 0.25 > max(
            v for k, v in verdict["psi"].items() if k != "X[1]")
    small = drift(reference, {"X": _drift_data(199, rng, shift=5.0)})
    assert small["status"] == "insufficient data" and small["psi"] == small["flags"] == {}
    assert small["message"] == "insufficient data: 199 row(s) logged, a verdict needs 200"
    none = drift(None, {"X": _drift_data(500, rng, shift=5.0)})
    assert none["status"] == "no reference" and none["flags"] == {}
    # the old 16-row parity sample is not a drift reference
    assert drift({"inputs": {"X": [[0.0] * 6] * 16}}, {"X": _drift_data(500, rng)})[
        "status"] == "no reference"


def test_psi_flags_drift_of_one_feature(tmp_path):
    from sklearn.linear_model import LogisticRegression

    from calipers.export import version_dir

    rng = np.random.default_rng(5)
    X = _drift_data(3000, rng)
    model = LogisticRegression(max_iter=1000).fit(X, (X[:, 0] + X[:, 1] > 0).astype(int))
    base = tmp_path / "models"
    calipers.export(model, "skops", version_dir(base, "m"), sample=X[:100],
                    reference=X[:2000])
    with BackgroundServer(base, poll_interval=0) as srv:
        client = Client(srv.url)

        def post(rows):
            for chunk in np.array_split(rows, 4):
                assert client.post("/v1/models/m:predict", {"inputs": chunk.tolist()})[0] == 200

        post(X[2000:2100])
        assert summarize(default_log_path(base), base)["models"][0]["drift"]["status"] == \
            "insufficient data"
        post(X[2100:2500])  # held-out rows of the same distribution
        entry = summarize(default_log_path(base), base)["models"][0]
        assert entry["drift"]["status"] == "ok" and entry["drift"]["rows"] == 500
        assert entry["drift"]["reference_rows"] == 2000 and len(entry["psi"]) == 6
        shifted = _drift_data(400, rng, shift=1.0)
        post(shifted)
        entry = summarize(default_log_path(base), base, limit=4)["models"][0]  # shifted only
        client.close()
    assert entry["drift"]["status"] == "drift" and entry["drift"]["flags"] == {"X[1]": "DRIFT"}
    assert max(entry["psi"], key=entry["psi"].get) == "X[1]"
    text = format_summary({"models": [entry]})
    assert "drift: 1 feature(s) drifted, 0 to watch (400 rows vs 2000 reference rows)" in text
    assert re.search(r"X\[1\]\s+\d+\.\d+  DRIFT", text)


def test_monitor_cli(fresh, cancer, capsys):
    base, srv, client = fresh
    _, X, _ = cancer
    client.post("/v1/models/cancer:predict", {"instances": X[:4].tolist()})
    assert main(["monitor", str(base)]) == 0
    out = capsys.readouterr().out
    assert "cancer version 1: 1 request(s) (200: 1), 4 example(s)" in out
    assert "latency ms: p50" in out
    assert main(["monitor", str(base), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["models"][0]["examples"] == 4
    assert "drift: no reference" in out
    assert main(["monitor", str(base), "--min-rows", "2", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["models"][0]["drift"]["min_rows"] == 2
    assert main(["monitor", str(base / "nowhere")]) == 1
    assert "no prediction log" in capsys.readouterr().err


def test_serve_cli_in_a_subprocess(tmp_path, cancer, diabetes):
    base = make_base(tmp_path, cancer, diabetes)
    port = free_port()
    log = tmp_path / "log.sqlite"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from calipers.cli.main import main; "
         "sys.exit(main())", "serve", str(base), "--port", str(port), "--log", str(log),
         "--poll-interval", "0.2", "--log-level", "warning"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            client = Client(f"http://127.0.0.1:{port}")
            try:
                status, body, _ = client.get("/v1/models/diabetes")
                break
            except OSError:
                client.close()
                assert proc.poll() is None, proc.stdout.read().decode()
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert status == 200 and json.loads(body)["model_version_status"][0]["version"] == "1"
        _, X, _ = cancer
        assert client.post("/v1/models/cancer:predict", {"inputs": X[:2].tolist()})[0] == 200
        client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    assert log.is_file()
    assert summarize(log, base)["models"][0]["examples"] == 2


def test_serve_cli_errors(tmp_path, capsys):
    assert main(["serve", str(tmp_path / "missing")]) == 1
    assert "is not a directory" in capsys.readouterr().err


def test_log_blobs_round_trip():
    from calipers.serve._monitor import pack, unpack

    arrays = {
        "x": np.arange(12, dtype=np.float32).reshape(3, 4) / 7,
        "label": np.array([0, 1, 1], dtype=np.int64),
        "flag": np.array([True, False]),
        "empty": np.zeros((0, 5)),
        "text": np.array(["a", "b"], dtype=object),
        "raw": np.array([b"\x00\xff"], dtype=object),
        "scalar": np.float64(2.5),
    }
    back = unpack(pack(arrays))
    assert list(back) == list(arrays)
    for name, arr in arrays.items():
        if name == "raw":
            assert back[name].tolist() == ["\x00\xff"]  # bytes kept as latin-1 text
            continue
        assert back[name].shape == np.shape(arr)
        np.testing.assert_array_equal(back[name], arr)
        if np.asarray(arr).dtype.kind != "O":
            assert back[name].dtype == np.asarray(arr).dtype
    assert pack(None) is None and unpack(None) == {}


def test_missing_extra_names_the_install(tmp_path, monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_server_libs(name, *args, **kwargs):
        if name.split(".")[0] in ("uvicorn", "prometheus_client"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_server_libs)
    assert main(["serve", str(tmp_path), "--no-log"]) == 1
    assert "pip install 'calipers[serve]'" in capsys.readouterr().err
