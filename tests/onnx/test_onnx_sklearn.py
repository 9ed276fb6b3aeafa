"""scikit-learn -> ONNX through the onnx plugin: parity with scikit-learn's own outputs."""

from __future__ import annotations

import json
import warnings
from functools import lru_cache

import numpy as np
import pytest

import calipers
from calipers.errors import ArtifactError, ParityError

pytest.importorskip("sklearn")
pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from calipers_onnx import OnnxExporter  # noqa: E402
from calipers_onnx._runtime import check_external_data  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris  # noqa: E402
from sklearn.ensemble import (  # noqa: E402
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import (  # noqa: E402
    LogisticRegression,
    Ridge,
    RidgeClassifier,  # noqa: E402
)
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: E402
from sklearn.svm import SVC, LinearSVC  # noqa: E402


@lru_cache(maxsize=1)
def _cancer():
    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    X, y = X[order], y[order]
    return X[:400], X[400:], y[:400], y[400:]


@lru_cache(maxsize=1)
def _tuned_hgb():
    X_train, _, y_train, _ = _cancer()
    search = GridSearchCV(
        HistGradientBoostingClassifier(random_state=0),
        {"max_iter": [30, 60], "learning_rate": [0.1, 0.3]}, cv=3, scoring="roc_auc",
    )
    return search.fit(X_train, y_train).best_estimator_


def test_tuned_breast_cancer_hgb_probabilities_within_1e5_of_sklearn(tmp_path):
    X_train, X_test, y_train, y_test = _cancer()
    model = _tuned_hgb()
    path = calipers.export(model, "onnx", tmp_path / "hgb", sample=X_test,
                           metrics={"roc_auc": 0.99})
    with calipers.load(path) as artifact:
        proba = artifact.predict_proba(X_test)
        labels = artifact.predict(X_test)
        assert proba.dtype == np.float32 and proba.shape == (len(X_test), 2)
        np.testing.assert_allclose(proba, model.predict_proba(X_test), rtol=0, atol=1e-5)
        np.testing.assert_array_equal(labels, model.predict(X_test))
        # The whole data set too, and a batch of one row.
        X_all = np.vstack([X_train, X_test])
        assert np.abs(artifact.predict_proba(X_all) - model.predict_proba(X_all)).max() < 1e-5
        np.testing.assert_allclose(artifact.predict_proba(X_test[:1]),
                                   model.predict_proba(X_test[:1]), atol=1e-5)
    report = calipers.verify(path, model, X_test)
    assert report.ok and report.label_agreement == 1.0
    assert report.max_abs_diff["probabilities"] < 1e-5
    assert report.tolerance == {"rtol": 1e-3, "atol": 1e-5, "min_label_agreement": 0.99}


def test_classifier_manifest_fields(tmp_path):
    _, X_test, _, _ = _cancer()
    path = calipers.export(_tuned_hgb(), "onnx", tmp_path / "hgb", sample=X_test)
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["format"] == "onnx" and manifest["exporter"] == "onnx"
    assert manifest["task"] == "classifier" and manifest["classes"] == [0, 1]
    assert manifest["model_type"] == "sklearn.ensemble.HistGradientBoostingClassifier"
    assert manifest["inputs"] == [{"name": "X", "dtype": "float32", "shape": [None, 30]}]
    assert manifest["outputs"] == [
        {"name": "label", "dtype": "int64", "shape": [None]},
        {"name": "probabilities", "dtype": "float32", "shape": [None, 2]},
    ]
    assert manifest["tolerance"] == {"rtol": 1e-3, "atol": 1e-5, "min_label_agreement": 0.99}
    options = manifest["options"]
    assert options["zipmap"] is False and options["opset"] == 18
    assert options["input_conversion"] == {"X": "float64 -> float32"}
    assert set(manifest["files"]) == {"model.onnx"}
    for lib in ("onnx", "onnxruntime", "skl2onnx", "scikit-learn"):
        assert lib in manifest["libraries"]
    # Reference sample: the model's own outputs on the first 16 rows.
    reference = manifest["reference"]
    assert len(reference["inputs"]["X"]) == 16
    assert reference["outputs"]["label"] == _tuned_hgb().predict(X_test[:16]).tolist()
    model = onnx.load(str(path / "model.onnx"))
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["calipers.classes"]) == [0, 1]
    assert meta["calipers.task"] == "classifier"
    assert [o.name for o in model.graph.output] == ["label", "probabilities"]
    assert {o.domain: o.version for o in model.opset_import}[""] == 18
    assert sum(o.domain == "" for o in model.opset_import) == 1


CLASSIFIERS = {
    "gradient_boosting": lambda: GradientBoostingClassifier(n_estimators=30, random_state=0),
    "random_forest": lambda: RandomForestClassifier(n_estimators=25, random_state=0),
    "logistic": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
    "svc": lambda: make_pipeline(StandardScaler(), SVC(probability=True, random_state=0)),
    "mlp": lambda: make_pipeline(
        StandardScaler(), MLPClassifier(hidden_layer_sizes=(16,), max_iter=400, random_state=0)
    ),
}


@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
def test_classifiers_match_sklearn(name, tmp_path):
    X_train, X_test, y_train, _ = _cancer()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLP convergence
        model = CLASSIFIERS[name]().fit(X_train, y_train)
    path = calipers.export(model, "onnx", tmp_path / name, sample=X_train)
    with calipers.load(path) as artifact:
        out = artifact.run(X_test)
        assert list(out) == ["label", "probabilities"]
        np.testing.assert_allclose(out["probabilities"], model.predict_proba(X_test), atol=1e-4)
        assert np.mean(out["label"] == model.predict(X_test)) >= 0.99
    assert calipers.verify(path, model, X_test).ok


def test_multiclass_string_labels(tmp_path):
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, names)
    path = calipers.export(model, "onnx", tmp_path / "iris", sample=X)
    with calipers.load(path) as artifact:
        assert artifact.classes == ["setosa", "versicolor", "virginica"]
        labels = artifact.predict(X)
        assert labels.dtype.kind in "OU"
        np.testing.assert_array_equal(labels.astype(str), model.predict(X))
        np.testing.assert_allclose(artifact.predict_proba(X), model.predict_proba(X), atol=1e-5)
    assert calipers.verify(path, model, X).label_agreement == 1.0


REGRESSORS = {
    "hist_gradient_boosting": lambda: HistGradientBoostingRegressor(max_iter=40, random_state=0),
    "gradient_boosting": lambda: GradientBoostingRegressor(n_estimators=30, random_state=0),
    "random_forest": lambda: RandomForestRegressor(n_estimators=20, random_state=0),
    "ridge": lambda: make_pipeline(StandardScaler(), Ridge()),
}


@pytest.mark.parametrize("name", sorted(REGRESSORS))
def test_regressors_match_sklearn(name, tmp_path):
    X, y = load_diabetes(return_X_y=True)
    model = REGRESSORS[name]().fit(X[:300], y[:300])
    path = calipers.export(model, "onnx", tmp_path / name, sample=X[:300])
    with calipers.load(path) as artifact:
        assert artifact.task == "regressor" and artifact.classes is None
        assert artifact.outputs == [{"name": "prediction", "dtype": "float32", "shape": [None]}]
        pred = artifact.predict(X[300:])
        expected = model.predict(X[300:])
        assert pred.shape == expected.shape
        np.testing.assert_allclose(pred, expected, rtol=1e-4, atol=1e-3)
    assert calipers.verify(path, model, X[300:]).ok


def _frame():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(3)
    n = 300
    frame = pd.DataFrame({
        "age": rng.normal(40, 12, n),
        "income": rng.lognormal(10, 1, n),
        "city": rng.choice(["paris", "lyon", "nice"], n).astype(object),
        "rooms": rng.integers(1, 6, n).astype(np.int64),
    })
    logit = 0.05 * (frame["age"] - 40) + (frame["city"] == "nice") * 1.5 - 0.3 * frame["rooms"]
    y = (logit + rng.normal(0, 1, n) > -1).astype(int).to_numpy()
    pre = ColumnTransformer([
        ("num", StandardScaler(), ["age", "income"]),
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["city", "rooms"]),
    ])
    return frame, y, pre


def test_column_transformer_with_mixed_dtypes_one_input_per_column(tmp_path):
    frame, y, pre = _frame()
    model = make_pipeline(pre, LogisticRegression(max_iter=1000)).fit(frame, y)
    path = calipers.export(model, "onnx", tmp_path / "mixed", sample=frame)
    with calipers.load(path) as artifact:
        assert artifact.inputs == [
            {"name": "age", "dtype": "float32", "shape": [None, 1]},
            {"name": "income", "dtype": "float32", "shape": [None, 1]},
            {"name": "city", "dtype": "object", "shape": [None, 1]},
            {"name": "rooms", "dtype": "int64", "shape": [None, 1]},
        ]
        assert artifact.manifest["options"]["input_layout"] == "columns"
        feed = {c: frame[[c]].to_numpy() for c in frame.columns}
        feed["city"] = feed["city"].astype(str)  # strings as numpy str arrays work too
        out = artifact.run(feed)
        np.testing.assert_allclose(out["probabilities"], model.predict_proba(frame), atol=1e-5)
        np.testing.assert_array_equal(out["label"], model.predict(frame))
    report = calipers.verify(path, model, frame)
    assert report.ok and report.n == len(frame)


def test_tree_pipeline_on_a_frame(tmp_path):
    # Numbers pass straight to the trees (a float32 scaler in front of them would
    # move values across split thresholds: verify reports that as a parity failure).
    frame, y, _ = _frame()
    pre = ColumnTransformer([
        ("num", "passthrough", ["age", "income"]),
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["city", "rooms"]),
    ])
    model = make_pipeline(pre, HistGradientBoostingClassifier(max_iter=30, random_state=0))
    model.fit(frame, y)
    path = calipers.export(model, "onnx", tmp_path / "mixed_hgb", sample=frame)
    report = calipers.verify(path, model, frame)
    assert report.max_abs_diff["probabilities"] < 1e-5


def test_boolean_columns_are_refused_with_a_hint(tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": [0.1, 0.2, 0.3, 0.4], "b": [True, False, True, False]})
    model = LogisticRegression().fit(frame.astype(float), [0, 1, 0, 1])
    with pytest.raises(TypeError, match="column 'b' is boolean"):
        calipers.export(model, "onnx", tmp_path / "bool", sample=frame)
    assert not (tmp_path / "bool").exists()


def test_options_and_unsupported_models(tmp_path):
    X_train, X_test, y_train, _ = _cancer()
    model = LogisticRegression(max_iter=3000).fit(X_train, y_train)
    with pytest.raises(TypeError, match="unknown option"):
        calipers.export(model, "onnx", tmp_path / "a", sample=X_test, zipmap=True)
    with pytest.raises(ValueError, match="opset must be an integer"):
        calipers.export(model, "onnx", tmp_path / "b", sample=X_test, opset="18")
    with pytest.raises(TypeError, match="does not support"):
        calipers.export(object(), "onnx", tmp_path / "c", sample=X_test)
    assert OnnxExporter().supports(model) and not OnnxExporter().supports(np.zeros(3))
    path = calipers.export(model, "onnx", tmp_path / "d", sample=X_test, opset=15,
                           tolerance={"atol": 1e-4})
    manifest = calipers.load(path).manifest
    assert manifest["options"]["opset"] == 15
    assert manifest["tolerance"]["atol"] == 1e-4 and manifest["tolerance"]["rtol"] == 1e-3


def test_parity_failure_is_loud(tmp_path):
    X_train, X_test, y_train, _ = _cancer()
    model = LogisticRegression(max_iter=3000).fit(X_train, y_train)
    path = calipers.export(model, "onnx", tmp_path / "lr", sample=X_test)
    other = LogisticRegression(max_iter=3000, C=1e-4).fit(X_train, y_train)
    with pytest.raises(ParityError, match="probabilities"):
        calipers.verify(path, other, X_test)
    report = calipers.verify(path, other, X_test, raise_on_fail=False)
    assert not report.ok and report.max_abs_diff["probabilities"] > 1e-3


def test_tampered_onnx_model_is_refused(tmp_path):
    _, X_test, _, _ = _cancer()
    path = calipers.export(_tuned_hgb(), "onnx", tmp_path / "hgb", sample=X_test)
    data = bytearray((path / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (path / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="sha256"):
        calipers.load(path)


def _model_reading(location: str):
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((2, 2), np.float32), "w")
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "16")):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])], [weight],
    )
    return helper.make_model(graph)


@pytest.mark.parametrize("location", ["../secret.bin", "/etc/passwd", "sub/../../x.bin"])
def test_external_data_outside_the_artifact_is_refused(location, tmp_path):
    root = tmp_path / "artifact"
    root.mkdir()
    onnx.save_model(_model_reading(location), str(root / "model.onnx"))
    with pytest.raises(ArtifactError, match="outside the artifact"):
        check_external_data(root, root / "model.onnx")


def test_external_data_inside_the_artifact_is_allowed(tmp_path):
    root = tmp_path / "artifact"
    root.mkdir()
    onnx.save_model(_model_reading("weights.bin"), str(root / "model.onnx"))
    check_external_data(root, root / "model.onnx")


def test_hist_gradient_boosting_with_missing_values_and_multiclass(tmp_path):
    X_train, X_test, y_train, _ = _cancer()
    rng = np.random.default_rng(5)
    holes = np.where(rng.random(X_train.shape) < 0.1, np.nan, X_train)
    model = HistGradientBoostingClassifier(max_iter=40, random_state=0).fit(holes, y_train)
    path = calipers.export(model, "onnx", tmp_path / "nan", sample=holes)
    test_holes = np.where(rng.random(X_test.shape) < 0.2, np.nan, X_test)
    report = calipers.verify(path, model, test_holes)
    assert report.max_abs_diff["probabilities"] < 1e-5 and report.label_agreement == 1.0
    X, y = load_iris(return_X_y=True)
    multi = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X, y)
    path = calipers.export(multi, "onnx", tmp_path / "iris", sample=X)
    with calipers.load(path) as artifact:
        assert artifact.outputs[1]["shape"] == [None, 3] and artifact.classes == [0, 1, 2]
    assert calipers.verify(path, multi, X).max_abs_diff["probabilities"] < 1e-5


@pytest.mark.parametrize("make", [SVC, LinearSVC, RidgeClassifier])
def test_classifiers_without_predict_proba_give_scores(make, tmp_path):
    X_train, X_test, y_train, _ = _cancer()
    # skl2onnx 1.20 cannot convert a Pipeline ending in LinearSVC: a bare one here.
    model = make(max_iter=20000) if make is LinearSVC else make_pipeline(StandardScaler(), make())
    model.fit(X_train, y_train)
    path = calipers.export(model, "onnx", tmp_path / "m", sample=X_test)
    with calipers.load(path) as artifact:
        assert [spec["name"] for spec in artifact.outputs] == ["label", "scores"]
        np.testing.assert_array_equal(artifact.predict(X_test), model.predict(X_test))
        with pytest.raises(AttributeError, match="no 'probabilities' output"):
            artifact.predict_proba(X_test)
        scores = artifact.run(X_test)["scores"]
        decision = model.decision_function(X_test)
        # skl2onnx's layout: one column, or (-d, d) / (d, -d) for two classes.
        assert min(np.abs(np.abs(scores[:, -1]) - np.abs(decision)).max(), 1.0) < 1e-4
    assert calipers.verify(path, model, X_test).label_agreement == 1.0
