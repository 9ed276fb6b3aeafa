"""The built-in skops and pickle exporters: parity with scikit-learn on breast-cancer."""

from __future__ import annotations

import json
import warnings
from functools import cache, lru_cache

import numpy as np
import pytest

import calipers
from calipers.export import load
from calipers.export._manifest import write_manifest

pytest.importorskip("sklearn")
pytest.importorskip("skops")

from sklearn.datasets import load_breast_cancer, load_iris  # noqa: E402
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

FORMATS = ["skops", "pickle"]


@lru_cache(maxsize=1)
def _data():
    return load_breast_cancer(return_X_y=True)


@cache
def _fitted(kind: str):
    X, y = _data()
    if kind == "logreg":
        return LogisticRegression(solver="newton-cholesky").fit(X, y)
    if kind == "pipeline":
        return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    # a regressor: mean radius from the other 29 features
    return HistGradientBoostingRegressor(max_iter=30, random_state=0).fit(X[:, 1:], X[:, 0])


def _inputs(kind: str) -> np.ndarray:
    X, _ = _data()
    return X[:, 1:] if kind == "regressor" else X


def _load(path, fmt):
    return load(path, trusted=(fmt == "pickle"))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("kind", "model_type", "task"),
    [
        ("logreg", "sklearn.linear_model.LogisticRegression", "classifier"),
        ("pipeline", "sklearn.pipeline.Pipeline", "classifier"),
        ("regressor", "sklearn.ensemble.HistGradientBoostingRegressor", "regressor"),
    ],
)
def test_parity_on_breast_cancer(tmp_path, fmt, kind, model_type, task):
    model, X = _fitted(kind), _inputs(kind)
    rng = np.random.default_rng(0)
    sample = X[rng.permutation(len(X))[:100]]
    path = calipers.export(model, fmt, tmp_path / "art", sample=sample, metrics={"n": len(X)})
    manifest = json.loads((path / "manifest.json").read_text())
    assert (manifest["model_type"], manifest["task"]) == (model_type, task)
    assert manifest["inputs"] == [{"name": "X", "dtype": "float64", "shape": [None, X.shape[1]]}]
    artifact = _load(path, fmt)
    if task == "classifier":
        assert manifest["classes"] == [0, 1]
        np.testing.assert_array_equal(artifact.predict(X), model.predict(X))
        np.testing.assert_array_equal(artifact.predict_proba(X), model.predict_proba(X))
    else:
        assert manifest["classes"] is None
        assert [o["name"] for o in manifest["outputs"]] == ["prediction"]
        np.testing.assert_array_equal(artifact.predict(X), model.predict(X))
    # held-out style rows, adversarial ones included: extremes, zeros, one row
    probe = np.vstack([X.min(axis=0) * 10, X.max(axis=0) * 10, np.zeros(X.shape[1]), X[:7]])
    report = calipers.verify(path, model, probe, trusted=(fmt == "pickle"))
    assert report.ok and report.n == len(probe)
    assert all(v == 0.0 for v in report.max_abs_diff.values())
    assert calipers.verify(path, model, X[:1], trusted=(fmt == "pickle")).n == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_string_labels_and_multiclass(tmp_path, fmt):
    X, y = _data()
    names = np.array(["malignant", "benign"])[y]
    clf = LogisticRegression(solver="newton-cholesky").fit(X, names)
    path = calipers.export(clf, fmt, tmp_path / "str", sample=X)
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["classes"] == ["benign", "malignant"]
    assert manifest["outputs"][0] == {"name": "label", "dtype": "str", "shape": [None]}
    assert manifest["reference"]["outputs"]["label"] == clf.predict(X[:16]).tolist()
    np.testing.assert_array_equal(_load(path, fmt).predict(X), clf.predict(X))
    assert calipers.verify(path, clf, X, trusted=(fmt == "pickle")).label_agreement == 1.0

    Xi, yi = load_iris(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(Xi, yi)
    path = calipers.export(forest, fmt, tmp_path / "iris", sample=Xi)
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["classes"] == [0, 1, 2]
    assert manifest["outputs"][1] == {"name": "probabilities", "dtype": "float64",
                                      "shape": [None, 3]}
    np.testing.assert_array_equal(_load(path, fmt).predict_proba(Xi), forest.predict_proba(Xi))


def test_a_transformer(tmp_path):
    X, _ = _data()
    scaler = StandardScaler().fit(X)
    path = calipers.export(scaler, "skops", tmp_path / "scaler", sample=X)
    artifact = load(path)
    assert artifact.task == "other"
    assert artifact.outputs == [{"name": "transform", "dtype": "float64", "shape": [None, 30]}]
    np.testing.assert_array_equal(artifact.predict(X), scaler.transform(X))
    assert calipers.verify(path, scaler, X).ok


def test_a_plain_python_model_through_pickle(tmp_path):
    X, _ = _data()
    model = _Threshold(15.0)
    path = calipers.export(model, "pickle", tmp_path / "plain", sample=X)
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["task"] == "other"
    assert manifest["model_type"].endswith("._Threshold")
    artifact = load(path, trusted=True)
    np.testing.assert_array_equal(artifact.predict(X), model.predict(X))


class _Threshold:
    def __init__(self, cut: float) -> None:
        self.cut = cut

    def predict(self, X):
        return (np.asarray(X)[:, 0] > self.cut).astype(np.int64)


def test_options_are_recorded_and_checked(tmp_path):
    X, _ = _data()
    model = _fitted("logreg")
    path = calipers.export(model, "skops", tmp_path / "z", sample=X, compression="deflated")
    assert load(path).manifest["options"]["compression"] == "deflated"
    path = calipers.export(model, "joblib", tmp_path / "j", sample=X, compress=3)
    manifest = load(path, trusted=True).manifest
    assert (manifest["format"], manifest["exporter"]) == ("joblib", "pickle")
    assert manifest["options"] == {"file": "model.joblib", "compress": 3}
    assert "joblib" in manifest["libraries"]
    with pytest.raises(ValueError, match="compression must be"):
        calipers.export(model, "skops", tmp_path / "a", sample=X, compression="lzma")
    with pytest.raises(ValueError, match=r"compress must be an integer in \[0, 9\]"):
        calipers.export(model, "pickle", tmp_path / "b", sample=X, compress=10)
    with pytest.raises(TypeError, match=r"unknown option\(s\) for the pickle exporter"):
        calipers.export(model, "pickle", tmp_path / "c", sample=X, compression="deflated")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["j", "z"]


def test_version_drift_warns(tmp_path):
    X, _ = _data()
    path = calipers.export(_fitted("logreg"), "skops", tmp_path / "old", sample=X)
    manifest = json.loads((path / "manifest.json").read_text())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load(path)  # same version: no warning
    manifest["libraries"]["scikit-learn"] = "0.24.2"
    write_manifest(path, manifest)
    with pytest.warns(UserWarning, match="exported with scikit-learn 0.24.2"):
        load(path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_model_fitted_on_a_dataframe(tmp_path, fmt):
    pd = pytest.importorskip("pandas")
    data = load_breast_cancer(as_frame=True)
    frame, y = data.data, data.target
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "X does not have valid feature names"
        path = calipers.export(model, fmt, tmp_path / "df", sample=frame)
        artifact = _load(path, fmt)
        manifest = artifact.manifest
        assert manifest["options"]["feature_names"] == list(frame.columns)
        assert manifest["inputs"] == [{"name": "X", "dtype": "float64", "shape": [None, 30]}]
        values = frame.to_numpy()
        # a frame rebuilt from an array is C-ordered, the original F-ordered: ulp-level
        np.testing.assert_allclose(artifact.predict_proba(values), model.predict_proba(frame),
                                   rtol=1e-12, atol=1e-15)
        assert calipers.verify(path, model, frame, trusted=(fmt == "pickle")).ok
    assert isinstance(frame, pd.DataFrame)
