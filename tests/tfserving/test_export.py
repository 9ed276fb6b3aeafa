"""The tfserving exporter: SavedModel + serving_default, TF Serving's layout, runner, safety."""

from __future__ import annotations

import json
import shutil

import calipers_tfserving as tfs
import numpy as np
import pytest
import tensorflow as tf

import calipers
from calipers.errors import ArtifactError
from calipers.export import list_versions


def _signature(path):
    loaded = tf.saved_model.load(str(path))
    return loaded, loaded.signatures["serving_default"]


def test_keras_softmax_classifier_matches_keras_through_tf_saved_model_load(
        tmp_path, softmax_model, data):
    X, _ = data
    path = calipers.export(softmax_model, "tfserving", tmp_path / "m", sample=X,
                           task="classifier", classes=["a", "b", "c"])
    names = sorted(p.name for p in path.iterdir())
    assert {"saved_model.pb", "variables", "manifest.json"} <= set(names)
    _, fn = _signature(path)
    _, kwargs = fn.structured_input_signature
    assert list(kwargs) == ["features"]  # the Keras Input's name
    assert kwargs["features"].shape.as_list() == [None, 4]
    got = fn(features=tf.constant(X, tf.float32))
    want = softmax_model(X.astype(np.float32)).numpy()
    np.testing.assert_allclose(got["probabilities"].numpy(), want, rtol=0, atol=1e-5)
    labels = np.array(["a", "b", "c"])[want.argmax(axis=1)]
    assert [s.decode() for s in got["label"].numpy()] == labels.tolist()
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["exporter"] == "tfserving"
    assert manifest["task"] == "classifier" and manifest["classes"] == ["a", "b", "c"]
    assert manifest["inputs"] == [{"name": "features", "dtype": "float32", "shape": [None, 4]}]
    assert {o["name"]: o["dtype"] for o in manifest["outputs"]} == {
        "label": "str", "probabilities": "float32"}
    assert "tensorflow" in manifest["libraries"] and "keras" in manifest["libraries"]
    with calipers.load(path) as artifact:
        assert artifact.predict(X).tolist() == labels.tolist()
        np.testing.assert_allclose(artifact.predict_proba(X), want, atol=1e-5)
    report = calipers.verify(path, softmax_model, X)
    assert report.ok and report.max_abs_diff["probabilities"] <= 1e-5
    assert report.label_agreement == 1.0


def test_sigmoid_output_becomes_two_probability_columns(tmp_path, sigmoid_model, data):
    X, y = data
    path = calipers.export(sigmoid_model, "tfserving", tmp_path / "b", sample=X,
                           task="classifier")
    p = sigmoid_model(X.astype(np.float32)).numpy()[:, 0]
    with calipers.load(path) as artifact:
        proba = artifact.predict_proba(X)
        np.testing.assert_allclose(proba[:, 1], p, atol=1e-6)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
        assert artifact.predict(X).tolist() == (p > 0.5).astype(int).tolist()
        assert artifact.classes == [0, 1]
        assert {o["name"]: o["dtype"] for o in artifact.outputs} == {
            "label": "int64", "probabilities": "float32"}
        assert artifact.inputs[0]["name"] == "X"  # Keras' made-up input name is not used
        assert (artifact.predict(X) == y).mean() > 0.8  # it learned something


def test_logits_option_applies_softmax(tmp_path, data):
    import keras

    keras.utils.set_random_seed(5)
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(3)])
    X, _ = data
    path = calipers.export(model, "tfserving", tmp_path / "l", sample=X, task="classifier",
                           logits=True, classes=[10, 20, 30])
    want = tf.nn.softmax(model(X.astype(np.float32))).numpy()
    with calipers.load(path) as artifact:
        np.testing.assert_allclose(artifact.predict_proba(X), want, atol=1e-6)
        assert artifact.predict(X).tolist() == np.array([10, 20, 30])[want.argmax(1)].tolist()
    calipers.verify(path, model, X)


def test_regressor_and_multi_input_dict_model(tmp_path, regressor_model, data):
    import keras

    X, _ = data
    path = calipers.export(regressor_model, "tfserving", tmp_path / "r", sample=X,
                           task="regressor")
    with calipers.load(path) as artifact:
        assert [o["name"] for o in artifact.outputs] == ["prediction"]
        np.testing.assert_allclose(artifact.predict(X), regressor_model(X.astype(np.float32)),
                                   atol=1e-5)
    keras.utils.set_random_seed(4)
    a, b = keras.Input(shape=(3,), name="a"), keras.Input(shape=(2,), name="b")
    merged = keras.layers.Concatenate()([a, b])
    model = keras.Model({"a": a, "b": b},
                        {"y": keras.layers.Dense(1)(merged), "z": keras.layers.Dense(2)(merged)})
    sample = {"a": X[:, :3], "b": X[:, 3:] * np.ones((1, 2))}
    path = calipers.export(model, "tfserving", tmp_path / "d", sample=sample)
    _, fn = _signature(path)
    got = fn(a=tf.constant(sample["a"], tf.float32), b=tf.constant(sample["b"], tf.float32))
    want = model({k: v.astype(np.float32) for k, v in sample.items()})
    for key in ("y", "z"):
        np.testing.assert_allclose(got[key].numpy(), want[key].numpy(), atol=1e-5)
    report = calipers.verify(path, model, sample)
    assert report.ok and set(report.max_abs_diff) == {"y", "z"}


def test_list_input_model_takes_a_dict_sample_by_input_name(tmp_path, data):
    import keras

    keras.utils.set_random_seed(6)
    a, b = keras.Input(shape=(3,), name="a"), keras.Input(shape=(2,), name="b")
    model = keras.Model([a, b], keras.layers.Dense(2, activation="softmax")(
        keras.layers.Concatenate()([a, b])))
    X, _ = data
    sample = {"b": X[:, 3:] * np.ones((1, 2)), "a": X[:, :3]}
    path = calipers.export(model, "tfserving", tmp_path / "l", sample=sample,
                           task="classifier")
    report = calipers.verify(path, model, sample)
    assert report.ok and report.max_abs_diff["probabilities"] <= 1e-5
    with calipers.load(path) as artifact:
        assert sorted(s["name"] for s in artifact.inputs) == ["a", "b"]


def test_tf_module_with_output_names(tmp_path, data):
    class Affine(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(np.arange(8, dtype=np.float32).reshape(4, 2))

        def __call__(self, x):
            y = tf.matmul(x, self.w)
            return [y, tf.reduce_sum(y, axis=1)]

    X, _ = data
    module = Affine()
    path = calipers.export(module, "saved_model", tmp_path / "t", sample=X,
                           output_names=["scores", "total"])
    with calipers.load(path) as artifact:
        out = artifact.run(X)
        np.testing.assert_allclose(out["scores"], X.astype(np.float32) @ module.w.numpy(),
                                   rtol=1e-6)
        np.testing.assert_allclose(out["total"], out["scores"].sum(axis=1), rtol=1e-6)
    assert calipers.verify(path, module, X).ok


def test_export_for_serving_layout_versions_and_models_config(tmp_path, softmax_model, data):
    X, _ = data
    base = tmp_path / "models"
    first = tfs.export_for_serving(softmax_model, base, "iris", sample=X[:8],
                                   task="classifier")
    second = tfs.export_for_serving(softmax_model, base, "iris", sample=X[:8],
                                    task="classifier", metrics={"accuracy": 0.5})
    assert first == base / "iris" / "1" and second == base / "iris" / "2"
    assert list_versions(base, "iris") == [1, 2]
    assert not [p for p in (base / "iris").iterdir() if p.name.startswith(".")]
    tfs.export_for_serving(softmax_model, base, "other", sample=X[:8],
                           base_path="/models/other")
    text = (base / "models.config").read_text()
    assert text.startswith("model_config_list {\n  config {\n    name: \"iris\"\n")
    assert tfs.read_models_config(base) == [
        {"name": "iris", "base_path": str((base / "iris").resolve()),
         "model_platform": "tensorflow"},
        {"name": "other", "base_path": "/models/other", "model_platform": "tensorflow"},
    ]
    assert json.loads((second / "manifest.json").read_text())["metrics"] == {"accuracy": 0.5}
    # A TF Serving version directory is a plain SavedModel.
    _, fn = _signature(second)
    assert set(fn.structured_outputs) == {"label", "probabilities"}


def test_tampered_or_unsafe_saved_models_are_refused(tmp_path, softmax_model, data):
    X, _ = data
    path = calipers.export(softmax_model, "tfserving", tmp_path / "m", sample=X)
    variables = next((path / "variables").glob("*.data-*"))
    blob = bytearray(variables.read_bytes())
    blob[-1] ^= 0xFF
    variables.write_bytes(bytes(blob))
    with pytest.raises(ArtifactError, match="does not match its sha256"):
        calipers.load(path)

    class Reader(tf.Module):
        def __call__(self, x):
            leaked = tf.strings.length(tf.io.read_file(str(tmp_path / "m" / "manifest.json")))
            return x + tf.cast(leaked, x.dtype) * 0

    unsafe = calipers.export(Reader(), "tfserving", tmp_path / "u", sample=X)
    with pytest.raises(ArtifactError, match=r"ReadFile.*trusted=True"):
        calipers.load(unsafe)
    with calipers.load(unsafe, trusted=True) as artifact:
        np.testing.assert_allclose(artifact.run(X)["output"], X.astype(np.float32))


def test_load_time_initializers_are_checked_too(tmp_path, data):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("0\n1\n2\n3\n")

    class Lookup(tf.Module):
        def __init__(self):
            super().__init__()
            self.vocab = tf.saved_model.Asset(str(vocab))
            init = tf.lookup.TextFileInitializer(
                self.vocab, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
                tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER)
            self.table = tf.lookup.StaticHashTable(init, default_value=-1)

        def __call__(self, x):
            keys = tf.strings.as_string(tf.cast(x, tf.int64))
            return self.table.lookup(keys)

    X = np.array([[0, 3], [2, 9]], dtype=np.int64)
    path = calipers.export(Lookup(), "tfserving", tmp_path / "t", sample=X)
    with pytest.raises(ArtifactError, match="InitializeTableFromTextFile"):
        calipers.load(path)
    with calipers.load(path, trusted=True) as artifact:
        assert artifact.run(X)["output"].tolist() == [[0, 3], [2, -1]]


def test_bad_models_and_options(tmp_path, softmax_model, regressor_model, data):
    X, _ = data
    with pytest.raises(TypeError, match="does not support"):
        calipers.export(object(), "tfserving", tmp_path / "x", sample=X)
    with pytest.raises(TypeError, match="unknown option"):
        calipers.export(softmax_model, "tfserving", tmp_path / "x", sample=X, opset=3)
    with pytest.raises(ValueError, match="classes has 2 labels but the model scores 3"):
        calipers.export(softmax_model, "tfserving", tmp_path / "x", sample=X,
                        task="classifier", classes=[0, 1])
    with pytest.raises(ValueError, match="task must be one of"):
        calipers.export(softmax_model, "tfserving", tmp_path / "x", sample=X, task="ranker")
    with pytest.raises(ValueError, match="classes only apply"):
        calipers.export(regressor_model, "tfserving", tmp_path / "x", sample=X, classes=[0])
    with pytest.raises(TypeError, match="numeric and boolean"):
        calipers.export(softmax_model, "tfserving", tmp_path / "x",
                        sample=np.array([["a"] * 4]))
    assert not (tmp_path / "x").exists()
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    # a broken artifact (no saved_model.pb, manifest rewritten to match) is refused
    path = calipers.export(regressor_model, "tfserving", tmp_path / "r", sample=X)
    copy = tmp_path / "copy"
    shutil.copytree(path, copy)
    (copy / "saved_model.pb").write_bytes(b"not a protobuf")
    from calipers.export._manifest import read_manifest, write_manifest

    manifest = dict(json.loads((copy / "manifest.json").read_text()))
    write_manifest(copy, manifest)
    read_manifest(copy)  # hashes consistent again: the runner itself must refuse it
    with pytest.raises(ArtifactError, match="saved_model.pb"):
        calipers.load(copy)


def test_plugin_imports_without_tensorflow_and_is_registered():
    import subprocess
    import sys

    code = ("import sys, calipers, calipers_tfserving as t; from calipers import plugins; "
            "assert plugins.get('exporter', 'tfserving') is t.TFServingExporter; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert tfs.__calipers_requires__ == {"tensorflow": "tfserving"}
