"""``calipers eval DATA --served URL --model NAME`` against a real ``calipers serve``."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

import calipers
from calipers.cli import eval as cli_eval
from calipers.export import version_dir

pytest.importorskip("uvicorn", reason="calipers serve needs pip install 'calipers[serve]'")
pytest.importorskip("prometheus_client", reason="calipers serve needs 'calipers[serve]'")
pytest.importorskip("skops")
sk = pytest.importorskip("sklearn.metrics")


def run_eval(capsys, *argv):
    parser = argparse.ArgumentParser(prog="calipers")
    cli_eval.add_parser(parser.add_subparsers())
    args = parser.parse_args(["eval", *map(str, argv)])
    rc = cli_eval.run(args)
    out, err = capsys.readouterr()
    return rc, out, err


def eval_json(capsys, *argv):
    rc, out, err = run_eval(capsys, *argv, "--format", "json")
    assert rc == 0, err
    return json.loads(out)


def write_csv(path, columns):
    pacsv.write_csv(pa.table(columns), path)
    return path


@pytest.fixture(scope="module")
def models():
    from sklearn.datasets import load_breast_cancer, load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    out = {}
    for name, load in (("cancer", load_breast_cancer), ("iris", load_iris)):
        X, y = load(return_X_y=True)
        X = X.astype(np.float32)
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y)
        out[name] = (model, X, y)
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory, models):
    from calipers.serve import BackgroundServer

    base = tmp_path_factory.mktemp("served") / "models"
    for name, (model, X, _) in models.items():
        calipers.export(model, "skops", version_dir(base, name), sample=X[:64])
    with BackgroundServer(base, poll_interval=0.1) as srv:
        yield srv


def data_file(tmp_path, X, y, name="data.csv"):
    cols = {f"f{i}": X[:, i] for i in range(X.shape[1])}
    return write_csv(tmp_path / name, {"label": y, **cols})


def test_binary_matches_sklearn_and_a_predictions_file(capsys, tmp_path, server, models):
    model, X, y = models["cancer"]
    path = data_file(tmp_path, X, y)
    got = eval_json(capsys, path, "--y-true", "label", "--served", server.url,
                    "--model", "cancer", "--served-batch-size", "100", "--batch-size", "150")
    assert got["task"] == "binary" and got["n_samples"] == len(y)
    proba = model.predict_proba(X)[:, 1]
    pred = (proba >= 0.5).astype(int)
    m = got["metrics"]
    assert m["accuracy"] == pytest.approx(sk.accuracy_score(y, pred), abs=1e-12)
    assert m["f1"] == pytest.approx(sk.f1_score(y, pred), abs=1e-12)
    assert m["roc_auc"] == pytest.approx(sk.roc_auc_score(y, proba), abs=1e-6)
    assert m["average_precision"] == pytest.approx(
        sk.average_precision_score(y, proba), abs=1e-6)
    # The same numbers as evaluating a predictions file of the in-process model.
    preds = write_csv(tmp_path / "preds.csv", {"y_true": y, "y_score": proba})
    want = eval_json(capsys, preds, "--y-true", "y_true", "--y-score", "y_score")
    assert set(m) == set(want["metrics"])
    for key, value in want["metrics"].items():
        np.testing.assert_allclose(m[key], value, rtol=1e-6, atol=1e-9, err_msg=key)


def test_multiclass_iris_with_string_labels_and_features(capsys, tmp_path, server, models):
    model, X, y = models["iris"]
    names = np.array(["setosa", "versicolor", "virginica"])
    cols = {"species": names[y], "id": np.arange(len(y)),
            **{f"f{i}": X[:, i] for i in range(4)}}
    path = write_csv(tmp_path / "iris.csv", cols)
    got = eval_json(capsys, path, "--y-true", "species", "--served", server.url, "--model",
                    "iris", "--version", "1", "--features", "f0", "f1", "f2", "f3",
                    "--metrics", "accuracy,f1,confusion_matrix")
    assert got["task"] == "multiclass" and got["classes"] == list(names)
    pred = model.predict(X)
    m = got["metrics"]
    assert m["accuracy"] == pytest.approx(sk.accuracy_score(y, pred), abs=1e-12)
    assert m["f1"] == pytest.approx(sk.f1_score(y, pred, average="macro"), abs=1e-12)
    assert m["confusion_matrix"] == sk.confusion_matrix(y, pred).tolist()
    proba = model.predict_proba(X)
    preds = write_csv(tmp_path / "preds.csv", {"y": y, **{f"p{i}": proba[:, i] for i in range(3)}})
    want = eval_json(capsys, preds, "--y-true", "y", "--y-score", "p0", "p1", "p2",
                     "--metrics", "accuracy,f1,confusion_matrix")
    assert m == want["metrics"]


def test_unknown_model_and_bad_features_are_one_line_errors(capsys, tmp_path, server, models):
    _, X, y = models["cancer"]
    path = data_file(tmp_path, X, y)
    rc, out, err = run_eval(capsys, path, "--y-true", "label", "--served", server.url,
                            "--model", "nope")
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("calipers eval: error:")
    assert server.url in err and "nope" in err and "404" in err
    # Too few features: the server's 400 and its message.
    rc, _, err = run_eval(capsys, path, "--y-true", "label", "--served", server.url,
                          "--model", "cancer", "--features", "f0", "f1")
    assert rc == 2 and server.url in err and "400" in err and err.count("\n") == 1
    rc, _, err = run_eval(capsys, path, "--y-true", "label", "--served", server.url,
                          "--model", "cancer", "--features", "f0", "zz")
    assert rc == 2 and "zz" in err


def test_served_with_y_score_is_a_usage_error(capsys, tmp_path):
    with pytest.raises(SystemExit) as info:
        run_eval(capsys, tmp_path / "d.csv", "--y-true", "label", "--y-score", "p",
                 "--served", "http://127.0.0.1:1", "--model", "m")
    assert info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_served_options_need_each_other(capsys, tmp_path, models):
    _, X, y = models["cancer"]
    path = data_file(tmp_path, X[:5], y[:5])
    rc, _, err = run_eval(capsys, path, "--y-true", "label", "--served", "http://127.0.0.1:1")
    assert rc == 2 and "--model" in err
    rc, _, err = run_eval(capsys, path, "--y-true", "label", "--model", "cancer")
    assert rc == 2 and "--served" in err
    rc, _, err = run_eval(capsys, "--served", "http://127.0.0.1:1", "--model", "m")
    assert rc == 2 and "data file" in err


def test_unreachable_server_is_an_error(capsys, tmp_path, models):
    _, X, y = models["cancer"]
    path = data_file(tmp_path, X[:5], y[:5])
    rc, _, err = run_eval(capsys, path, "--y-true", "label", "--served", "http://127.0.0.1:9",
                          "--model", "cancer")
    assert rc == 2 and "127.0.0.1:9" in err


def test_labels_only_model(capsys, tmp_path_factory, tmp_path):
    """A model without probabilities: its labels stand in for --y-pred (string classes)."""
    from sklearn.datasets import load_iris
    from sklearn.svm import LinearSVC

    from calipers.serve import BackgroundServer

    X, y = load_iris(return_X_y=True)
    X = X.astype(np.float32)
    names = np.array(["setosa", "versicolor", "virginica"])
    model = LinearSVC(max_iter=5000).fit(X, names[y])
    base = tmp_path_factory.mktemp("labels") / "models"
    calipers.export(model, "skops", version_dir(base, "svc"), sample=X[:64])
    path = write_csv(tmp_path / "iris.csv",
                     {"species": names[y], **{f"f{i}": X[:, i] for i in range(4)}})
    with BackgroundServer(base, poll_interval=0.1) as srv:
        got = eval_json(capsys, path, "--y-true", "species", "--served", srv.url,
                        "--model", "svc", "--served-batch-size", "7", "--batch-size", "40")
    pred = model.predict(X)
    assert got["task"] == "multiclass" and got["classes"] == list(names)
    assert got["metrics"]["accuracy"] == pytest.approx(sk.accuracy_score(names[y], pred))
    assert got["metrics"]["f1"] == pytest.approx(
        sk.f1_score(names[y], pred, average="macro"))
    assert "roc_auc" not in got["metrics"]


#: ``calipers eval --served`` in a fresh interpreter with every plugin switched off
#: (CALIPERS_DISABLE_PLUGINS) and the tfserving plugin impossible to import.
NO_PLUGIN_EVAL = """
import json, sys
sys.modules["calipers_tfserving"] = None
from calipers.cli.main import main
rc = main(sys.argv[1:])
print(json.dumps({"rc": rc, "plugin": sorted(
    m for m, module in sys.modules.items() if m.startswith("calipers_tfserving") and module)}))
"""


def test_served_needs_no_plugin(tmp_path, server, models):
    """The REST client is the host's: no plugin (and no TensorFlow) is involved."""
    import os
    import subprocess
    import sys

    model, X, y = models["cancer"]
    path = data_file(tmp_path, X, y)
    out = tmp_path / "report.json"
    env = {**os.environ, "CALIPERS_DISABLE_PLUGINS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", NO_PLUGIN_EVAL, "eval", str(path), "--y-true", "label",
         "--served", server.url, "--model", "cancer", "--metrics", "accuracy,roc_auc",
         "--format", "json", "-o", str(out)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {"rc": 0, "plugin": []}
    m = json.loads(out.read_text())["metrics"]
    proba = model.predict_proba(X)[:, 1]
    assert m["accuracy"] == pytest.approx(sk.accuracy_score(y, (proba >= 0.5).astype(int)))
    assert m["roc_auc"] == pytest.approx(sk.roc_auc_score(y, proba), abs=1e-6)


def test_served_grpc_url_names_the_plugin_client(capsys, tmp_path):
    path = write_csv(tmp_path / "d.csv", {"label": [0, 1], "f0": [0.5, 1.5]})
    rc, out, err = run_eval(capsys, path, "--y-true", "label", "--served",
                            "grpc://127.0.0.1:8500", "--model", "m")
    assert rc == 2 and out == "" and err.count("\n") == 1
    assert "grpc://127.0.0.1:8500" in err and "calipers_tfserving.Client" in err
    assert "pip install 'calipers[tfserving]'" in err and "http://host:8501" in err


def test_host_client_refuses_grpc_and_leaves_it_to_the_plugin():
    from calipers.serve.client import Client, eval_predictor

    with pytest.raises(ValueError, match=r"grpc:// URLs need calipers_tfserving\.Client "
                       r"\(pip install 'calipers\[tfserving\]' plus tensorflow-serving-api\)"):
        Client("grpc://127.0.0.1:8500", "m")
    with pytest.raises(ValueError, match="calipers_tfserving.Client"):
        eval_predictor("grpc://127.0.0.1:8500", "m")
    with pytest.raises(ValueError, match="url must look like"):
        Client("ftp://127.0.0.1:8500", "m")


def test_eval_without_served_does_not_import_the_client():
    """Without --served the eval command imports neither the host's REST client nor the
    plugin (the plugin manager loads the first-party plugin package for its metrics,
    which is not ours to change); a whole evaluation never imports TensorFlow."""
    import subprocess
    import sys

    code = (
        "import sys, argparse; from calipers.cli import eval as e\n"
        "p = argparse.ArgumentParser(); e.add_parser(p.add_subparsers())\n"
        "args = p.parse_args(['eval', '-o', '/dev/null'])\n"
        "assert e._prediction_source(args) is None\n"
        "print(sorted(m for m in sys.modules if m.startswith('calipers_tfserving')\n"
        "             or m == 'calipers.serve.client'))\n"
        "assert e.run(args) == 0\n"
        "print(sorted(m for m in sys.modules if m.startswith('tensorflow')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "[]"]


def test_binary_string_labels_and_pos_label_pick_the_right_column(capsys, tmp_path, server,
                                                                   models):
    """sklearn's classes are the sorted labels; --pos-label of the first class scores the
    first probability column (breast cancer: 0 = malignant). Labels must sort in the
    model's class order: that is how the probability columns are matched to them."""
    model, X, y = models["cancer"]
    names = np.array(["malignant", "normal"])  # sorted as the model's classes 0, 1
    cols = {"diagnosis": names[y], "w": np.linspace(0.0, 2.0, len(y)),
            **{f"f{i}": X[:, i] for i in range(X.shape[1])}}
    path = write_csv(tmp_path / "named.csv", cols)
    proba = model.predict_proba(X)
    for pos, column in (("malignant", 0), ("normal", 1)):
        got = eval_json(capsys, path, "--y-true", "diagnosis", "--sample-weight", "w",
                        "--served", server.url, "--model", "cancer", "--pos-label", pos)
        truth = (names[y] == pos).astype(int)
        score = proba[:, column]
        w = cols["w"]
        m = got["metrics"]
        assert got["positive_label"] == pos
        assert m["roc_auc"] == pytest.approx(sk.roc_auc_score(truth, score, sample_weight=w),
                                             abs=1e-6)
        assert m["recall"] == pytest.approx(
            sk.recall_score(truth, (score >= 0.5).astype(int), sample_weight=w), abs=1e-9)
