"""calipers.quantize: int8 copies of ONNX artifacts and their size/latency/metric report."""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from functools import lru_cache

import numpy as np
import pytest

import calipers
from calipers.errors import ArtifactError

pytest.importorskip("sklearn")
pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")

import calipers_onnx  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.metrics import accuracy_score, roc_auc_score  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


@lru_cache(maxsize=1)
def _cancer():
    X, y = load_breast_cancer(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    X, y = X[order], y[order]
    return X[:400], X[400:], y[:400], y[400:]


@lru_cache(maxsize=2)
def _model(kind: str):
    X_train, _, y_train, _ = _cancer()
    if kind == "mlp":
        est = MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=500, random_state=0)
    else:
        est = LogisticRegression(max_iter=2000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_pipeline(StandardScaler(), est).fit(X_train, y_train)


def _finite(value) -> bool:
    return value is not None and math.isfinite(value)


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_quantized_mlp_report_and_artifact(mode, tmp_path):
    X_train, X_test, _, y_test = _cancer()
    model = _model("mlp")
    src = calipers.export(model, "onnx", tmp_path / "src", sample=X_test)
    report = calipers.quantize(src, tmp_path / "q", mode=mode, calibration=X_train,
                               eval_data=(X_test, y_test))
    json.dumps(report)  # JSON-safe
    assert report["mode"] == mode and report["quantized_ops"] > 0
    assert report["size_bytes"]["source"] == (src / "model.onnx").stat().st_size
    assert report["size_bytes"]["quantized"] == (tmp_path / "q" / "model.onnx").stat().st_size
    for key in ("size_ratio", "latency_ratio"):
        assert _finite(report[key]) and report[key] > 0
    assert report["size_ratio"] < 1  # int8 weights
    assert _finite(report["latency_ms"]["source"]) and _finite(report["latency_ms"]["quantized"])
    assert report["latency_rows"] == len(X_test) and report["repeats"] == 7
    # Metrics: calipers' numbers equal scikit-learn's on the same outputs.
    with calipers.load(src) as source, calipers.load(tmp_path / "q") as quantized:
        out_s, out_q = source.run(X_test), quantized.run(X_test)
    assert report["metrics"]["source"]["accuracy"] == pytest.approx(
        accuracy_score(y_test, out_s["label"]), abs=1e-12)
    assert report["metrics"]["quantized"]["roc_auc"] == pytest.approx(
        roc_auc_score(y_test, out_q["probabilities"][:, 1]), abs=1e-12)
    deltas = report["metric_deltas"]
    assert set(deltas) == {"accuracy", "roc_auc"}
    assert all(_finite(v) and abs(v) < 0.05 for v in deltas.values())
    agreement = report["agreement"]
    assert agreement["label_agreement"] >= 0.95
    assert agreement["max_abs_diff"]["probabilities"] == pytest.approx(
        float(np.abs(out_q["probabilities"] - out_s["probabilities"]).max()))
    # The new artifact: hashes checked on load, provenance and metrics recorded.
    manifest = calipers.load(tmp_path / "q").manifest
    source = manifest["options"]["source"]
    src_manifest = json.loads((src / "manifest.json").read_text())
    assert source["kind"] == "quantized" and source["mode"] == mode
    assert source["source_model_sha256"] == hashlib.sha256(
        (src / "model.onnx").read_bytes()).hexdigest()
    assert source["source_manifest_sha256"] == src_manifest["manifest_sha256"]
    assert manifest["task"] == "classifier" and manifest["classes"] == [0, 1]
    assert manifest["metrics"] == report["metrics"]["quantized"]
    assert manifest["tolerance"] == {"rtol": 0.0, "atol": 0.1, "min_label_agreement": 0.95}
    assert calipers.verify(tmp_path / "q", model, X_test).ok


def test_logistic_regression_has_nothing_to_quantize(tmp_path):
    X_train, X_test, _, y_test = _cancer()
    src = calipers.export(_model("logreg"), "onnx", tmp_path / "src", sample=X_test)
    report = calipers_onnx.quantize(src, tmp_path / "q", eval_data=(X_test, y_test),
                                    metrics=("accuracy", "roc_auc", "f1", "log_loss"))
    assert report["quantized_ops"] == 0
    assert set(report["metric_deltas"]) == {"accuracy", "roc_auc", "f1", "log_loss"}
    assert all(abs(v) < 1e-6 for v in report["metric_deltas"].values())
    assert report["agreement"]["label_agreement"] == 1.0
    static = calipers.quantize(src, tmp_path / "qs", mode="static", calibration=X_train)
    assert "metrics" not in static and _finite(static["size_ratio"])


def test_multiclass_and_regressor_metrics(tmp_path):
    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = make_pipeline(StandardScaler(), MLPClassifier(max_iter=300, random_state=0))
        clf.fit(X, y)
    src = calipers.export(clf, "onnx", tmp_path / "iris", sample=X)
    report = calipers.quantize(src, tmp_path / "iris_q", eval_data=(X, y),
                               metrics=["accuracy", "roc_auc", "f1"])
    assert set(report["metrics"]["source"]) == {"accuracy", "roc_auc", "f1"}
    assert all(_finite(v) for v in report["metric_deltas"].values())
    Xd, yd = load_diabetes(return_X_y=True)
    reg = make_pipeline(StandardScaler(), Ridge()).fit(Xd, yd)
    src = calipers.export(reg, "onnx", tmp_path / "reg", sample=Xd)
    report = calipers.quantize(src, tmp_path / "reg_q", eval_data=(Xd, yd))
    assert set(report["metrics"]["source"]) == {"mean_absolute_error", "mean_squared_error", "r2"}
    assert report["metrics"]["source"]["r2"] == pytest.approx(reg.score(Xd, yd), abs=1e-5)


def test_quantize_errors(tmp_path):
    X_train, X_test, y_train, y_test = _cancer()
    src = calipers.export(_model("logreg"), "onnx", tmp_path / "src", sample=X_test)
    with pytest.raises(ValueError, match="needs calibration"):
        calipers.quantize(src, tmp_path / "a", mode="static")
    with pytest.raises(ValueError, match="mode must be one of"):
        calipers.quantize(src, tmp_path / "a", mode="fp16")
    with pytest.raises(ValueError, match="weight_type"):
        calipers.quantize(src, tmp_path / "a", weight_type="int4")
    with pytest.raises(ValueError, match="unknown metric 'r2'"):
        calipers.quantize(src, tmp_path / "a", eval_data=(X_test, y_test), metrics=["r2"])
    with pytest.raises(ValueError, match="pair"):
        calipers.quantize(src, tmp_path / "a", eval_data=X_test)
    calipers.quantize(src, tmp_path / "b")
    with pytest.raises(FileExistsError):
        calipers.quantize(src, tmp_path / "b")
    calipers.quantize(src, tmp_path / "b", overwrite=True)
    skops_path = calipers.export(_model("logreg"), "skops", tmp_path / "skops", sample=X_test)
    # calipers.quantize asks the exporter that wrote the artifact: skops cannot.
    with pytest.raises(ArtifactError, match=r"format 'skops' \(exporter 'skops'\) cannot be "
                       r"quantized.*exporters that can: 'onnx'"):
        calipers.quantize(skops_path, tmp_path / "c")
    with pytest.raises(ArtifactError, match="takes ONNX artifacts"):
        calipers_onnx.quantize(skops_path, tmp_path / "c")  # the plugin's own check
    (src / "model.onnx").write_bytes(b"tampered")
    with pytest.raises(ArtifactError, match="sha256"):
        calipers.quantize(src, tmp_path / "d")
    assert not (tmp_path / "a").exists() and not (tmp_path / "d").exists()


def test_quantize_is_the_onnx_exporters_capability_found_through_the_registry(tmp_path):
    """calipers.quantize reaches the onnx plugin through the registry, by capability."""
    from calipers import plugins
    from calipers.export import Exporter

    cls = plugins.get("exporter", "onnx")
    assert cls is calipers_onnx.OnnxExporter and cls.can("quantize")
    assert not Exporter.can("quantize") and not plugins.get("exporter", "skops").can("quantize")
    _, X_test, _, _ = _cancer()
    src = calipers.export(_model("logreg"), "onnx", tmp_path / "src", sample=X_test)
    report = cls().quantize(src, tmp_path / "q", repeats=1)
    assert report["out"] == str(tmp_path / "q") and report["repeats"] == 1
    assert calipers.load(tmp_path / "q").manifest["options"]["source"]["kind"] == "quantized"
