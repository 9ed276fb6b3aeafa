"""A SavedModel served by ``calipers serve``: the REST client, remote scoring, calipers eval."""

from __future__ import annotations

import json

import calipers_tfserving as tfs
import numpy as np
import pytest

import calipers

pytest.importorskip("uvicorn", reason="calipers serve needs pip install 'calipers[serve]'")
pytest.importorskip("prometheus_client", reason="calipers serve needs 'calipers[serve]'")


@pytest.fixture(scope="module")
def served(tmp_path_factory, sigmoid_model, regressor_model, data):
    from calipers.serve import BackgroundServer

    X, _ = data
    root = tmp_path_factory.mktemp("remote")
    base = root / "models"
    tfs.export_for_serving(sigmoid_model, base, "binary", sample=X, task="classifier",
                           classes=[0, 1])
    tfs.export_for_serving(regressor_model, base, "reg", sample=X, task="regressor")
    with BackgroundServer(base, poll_interval=0, log_path=root / "log.sqlite") as server:
        yield server, base


def test_client_against_calipers_serve_matches_in_process(served, data):
    server, base = served
    X, _ = data
    client = tfs.Client(server.url, "binary")
    assert client.versions() == {1: "AVAILABLE"}
    assert client.signature()["inputs"] == {"X": {"dtype": "DT_FLOAT", "shape": [-1, 4]}}
    with calipers.load(base / "binary" / "1") as artifact:
        want = artifact.run(X)
    for columnar in (False, True):
        got = client.predict(X, columnar=columnar)
        np.testing.assert_allclose(got["probabilities"], want["probabilities"], rtol=1e-6)
        np.testing.assert_array_equal(got["label"], want["label"])
    results = client.classify({"X": X[:5]})
    np.testing.assert_allclose([[s for _, s in row] for row in results],
                               want["probabilities"][:5], rtol=1e-6)
    assert [label for label, _ in results[0]] == ["0", "1"]
    reg = tfs.Client(server.url, "reg", version=1)
    with calipers.load(base / "reg" / "1") as artifact:
        values = artifact.predict(X)
    np.testing.assert_allclose(reg.regress({"X": X}), values.reshape(-1), rtol=1e-6)
    with pytest.raises(tfs.ServingError) as info:
        tfs.Client(server.url, "binary", version=7).predict(X)
    assert info.value.status == 404
    with pytest.raises(tfs.ServingError) as info:
        client.predict(np.ones((2, 3)))
    assert info.value.status == 400


def test_predict_and_score_remote_stream_batches(served, data):
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    server, base = served
    X, y = data
    with calipers.load(base / "binary" / "1") as artifact:
        want = artifact.run(X)
    got = tfs.predict_remote(server.url, X, model="binary", batch_size=10)
    np.testing.assert_allclose(got["probabilities"], want["probabilities"], rtol=1e-6)
    client = tfs.Client(server.url, "binary")
    scores = tfs.score_remote(client, X, y, metrics=["accuracy", "f1", "roc_auc"],
                              batch_size=7)
    assert scores["n"] == len(y)
    assert scores["accuracy"] == pytest.approx(accuracy_score(y, want["label"]))
    assert scores["f1"] == pytest.approx(f1_score(y, want["label"]))
    assert scores["roc_auc"] == pytest.approx(roc_auc_score(y, want["probabilities"][:, 1]))
    remote = tfs.RemoteModel(client, batch_size=9)
    np.testing.assert_array_equal(remote.predict(X), want["label"])
    np.testing.assert_allclose(remote.predict_proba(X), want["probabilities"], rtol=1e-6)
    with pytest.raises(ValueError, match="y_true has 3 labels for 64 rows"):
        tfs.score_remote(client, X, y[:3])
    with pytest.raises(ValueError, match="holds 5"):
        tfs.score_remote(client, X, np.full(len(y), 5))
    with pytest.raises(ValueError, match="batch_size"):
        tfs.predict_remote(client, X, batch_size=0)
    with pytest.raises(ValueError, match="model name"):
        tfs.predict_remote(server.url, X)


def test_calipers_eval_reads_the_remote_predictions(served, data, tmp_path, capsys):
    from sklearn.metrics import accuracy_score, roc_auc_score

    from calipers.cli.main import main

    server, _ = served
    X, y = data
    outputs = tfs.predict_remote(server.url, X, model="binary")
    path = tmp_path / "preds.csv"
    tfs.write_predictions(path, y, outputs)
    header = path.read_text().splitlines()[0]
    assert header == "y_true,y_pred,y_score"
    code = main(["eval", str(path), "--y-true", "y_true", "--y-score", "y_score",
                 "--format", "json", "--no-progress"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    text = json.dumps(report)
    assert str(round(accuracy_score(y, outputs["label"]), 6))[:6] in text
    metrics = report.get("metrics", report)
    auc = metrics["roc_auc"]
    auc = auc["value"] if isinstance(auc, dict) else auc
    assert auc == pytest.approx(roc_auc_score(y, outputs["probabilities"][:, 1]))


def test_models_config_lists_both_served_models(served):
    _, base = served
    assert [c["name"] for c in tfs.read_models_config(base)] == ["binary", "reg"]


def test_module_cli_writes_predictions_for_calipers_eval(served, data, tmp_path, capsys):
    from calipers_tfserving.__main__ import main

    server, base = served
    X, y = data
    source = tmp_path / "data.csv"
    lines = ["f0,f1,f2,f3,label"] + [",".join(map(repr, row.tolist())) + f",{t}"
                                     for row, t in zip(X, y, strict=True)]
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "preds.csv"
    assert main(["predict", server.url, "binary", str(source), "--y-true", "label",
                 "--batch-size", "20", "-o", str(out)]) == 0
    assert "calipers eval" in capsys.readouterr().out
    with calipers.load(base / "binary" / "1") as artifact:
        want = artifact.run(X)
    rows = [line.split(",") for line in out.read_text().splitlines()[1:]]
    assert [int(r[0]) for r in rows] == y.tolist()
    assert [int(r[1]) for r in rows] == want["label"].tolist()
    np.testing.assert_allclose([float(r[2]) for r in rows], want["probabilities"][:, 1],
                               rtol=1e-6)
    assert main(["predict", server.url, "binary", str(source), "--y-true", "nope",
                 "-o", str(out)]) == 2
    assert "no column 'nope'" in capsys.readouterr().err
    assert main(["predict", server.url, "missing", str(source), "--y-true", "label",
                 "-o", str(out)]) == 2
    assert "NOT_FOUND" in capsys.readouterr().err
