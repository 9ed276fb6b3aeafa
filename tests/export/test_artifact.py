"""calipers.export / calipers.load: artifact layout, manifest, atomic writes, versions."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import pathlib
import types
from functools import lru_cache

import numpy as np
import pytest

import calipers
from calipers import plugins
from calipers.errors import ArtifactError
from calipers.export import Artifact, Exporter, export_model, list_versions, load, version_dir
from calipers.export._builtin import PickleExporter, SkopsExporter
from calipers.export._manifest import DIGEST_KEY, canonical_digest, jsonable, tensor_spec

sklearn = pytest.importorskip("sklearn")
pytest.importorskip("skops")

from sklearn.datasets import load_breast_cancer  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402

CONTRACT_KEYS = {
    "manifest_version", "format", "created", "calipers_version", "libraries", "model_type",
    "task", "classes", "inputs", "outputs", "files", "metrics", "tolerance", "reference",
    "options",
}


@lru_cache(maxsize=1)
def _data() -> tuple[np.ndarray, np.ndarray]:
    return load_breast_cancer(return_X_y=True)


@lru_cache(maxsize=1)
def _logreg() -> LogisticRegression:
    X, y = _data()
    return LogisticRegression(solver="newton-cholesky").fit(X, y)


@pytest.fixture
def data():
    return _data()


@pytest.fixture
def model():
    return _logreg()


def manifest_of(path: pathlib.Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def test_export_writes_model_file_and_manifest_only(tmp_path, model, data):
    X, _ = data
    path = calipers.export(model, "skops", tmp_path / "art", sample=X)
    assert path == tmp_path / "art"
    assert sorted(p.name for p in path.iterdir()) == ["manifest.json", "model.skops"]
    assert [p.name for p in tmp_path.iterdir()] == ["art"]  # no temporary directory left


def test_manifest_contents(tmp_path, model, data):
    X, _ = data
    metrics = {"roc_auc": np.float64(0.99), "n": np.int64(569), "curve": np.array([0.5, 1.0]),
               "undefined": float("nan"), "pair": (np.float32(0.25), 1)}
    path = calipers.export(model, "skops", tmp_path / "art", sample=X, metrics=metrics)
    text = (path / "manifest.json").read_text()

    def no_constants(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    manifest = json.loads(text, parse_constant=no_constants)
    assert CONTRACT_KEYS <= set(manifest)
    assert manifest["manifest_version"] == 1
    assert manifest["format"] == "skops" and manifest["exporter"] == "skops"
    assert manifest["calipers_version"] == calipers.__version__
    created = datetime.datetime.fromisoformat(manifest["created"])
    assert created.utcoffset() == datetime.timedelta(0)
    assert abs((datetime.datetime.now(datetime.timezone.utc) - created).total_seconds()) < 3600
    import skops

    libraries = manifest["libraries"]
    assert libraries["scikit-learn"] == sklearn.__version__
    assert libraries["skops"] == skops.__version__
    assert libraries["numpy"] == np.__version__ and "python" in libraries
    assert manifest["model_type"] == "sklearn.linear_model.LogisticRegression"
    assert manifest["task"] == "classifier"
    assert manifest["classes"] == [0, 1]
    assert manifest["inputs"] == [{"name": "X", "dtype": "float64", "shape": [None, 30]}]
    assert manifest["outputs"] == [
        {"name": "label", "dtype": "int64", "shape": [None]},
        {"name": "probabilities", "dtype": "float64", "shape": [None, 2]},
    ]
    digest = hashlib.sha256((path / "model.skops").read_bytes()).hexdigest()
    assert manifest["files"] == {"model.skops": digest}
    assert manifest["metrics"] == {"roc_auc": 0.99, "n": 569, "curve": [0.5, 1.0],
                                   "undefined": None, "pair": [0.25, 1]}
    assert set(manifest["tolerance"]) == {"rtol", "atol", "min_label_agreement"}
    reference = manifest["reference"]
    assert reference["inputs"] == {"X": X[:16].tolist()}
    assert reference["outputs"]["label"] == model.predict(X[:16]).tolist()
    assert reference["outputs"]["probabilities"] == model.predict_proba(X[:16]).tolist()
    assert manifest["options"]["file"] == "model.skops"
    assert manifest[DIGEST_KEY] == canonical_digest(manifest)


def test_reference_sample_keeps_all_rows_of_a_small_sample(tmp_path, model, data):
    X, _ = data
    path = calipers.export(model, "skops", tmp_path / "art", sample=X[:3])
    assert manifest_of(path)["reference"]["inputs"]["X"] == X[:3].tolist()


def test_export_is_the_package_and_callable(tmp_path, model, data):
    X, _ = data
    import calipers.export as export_pkg

    assert isinstance(calipers.export, types.ModuleType)
    assert calipers.export is export_pkg
    assert calipers.export.Exporter is Exporter
    assert calipers.export_model is export_model
    assert calipers.load is load
    assert calipers.verify is calipers.export.verify
    a = calipers.export(model, "skops", tmp_path / "a", sample=X)
    b = export_model(model, "skops", tmp_path / "b", sample=X)
    np.testing.assert_array_equal(load(a).predict_proba(X), load(b).predict_proba(X))
    with pytest.raises(TypeError):
        calipers.export(model, "skops")  # path is required


def test_existing_path_refused_unless_overwrite(tmp_path, model, data):
    X, y = data
    path = calipers.export(model, "skops", tmp_path / "art", sample=X)
    before = manifest_of(path)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        calipers.export(model, "pickle", path, sample=X)
    assert manifest_of(path) == before
    other = LogisticRegression(C=0.01, solver="newton-cholesky").fit(X, y)
    calipers.export(other, "pickle", path, sample=X, overwrite=True)
    assert manifest_of(path)["format"] == "pickle"
    assert sorted(p.name for p in path.iterdir()) == ["manifest.json", "model.joblib"]
    assert [p.name for p in tmp_path.iterdir()] == ["art"]
    np.testing.assert_array_equal(load(path, trusted=True).predict(X), other.predict(X))


def test_overwrite_refuses_what_is_not_an_artifact(tmp_path, model, data):
    X, _ = data
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    (tmp_path / "file").write_text("mine")
    for target in ("notes", "file"):
        with pytest.raises(FileExistsError, match="not an artifact"):
            calipers.export(model, "skops", tmp_path / target, sample=X, overwrite=True)
    assert (tmp_path / "notes" / "keep.txt").read_text() == "mine"
    assert (tmp_path / "file").read_text() == "mine"


def test_export_creates_missing_parents(tmp_path, model, data):
    X, _ = data
    path = calipers.export(model, "skops", tmp_path / "a" / "b" / "art", sample=X)
    assert (path / "manifest.json").is_file()


@pytest.mark.parametrize("exc", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_crash_mid_write_leaves_nothing(tmp_path, model, data, monkeypatch, exc):
    X, _ = data

    def half_write(self, model, file, options):
        file.write_bytes(b"PK\x03\x04 half a zip")
        raise exc

    monkeypatch.setattr(SkopsExporter, "_write", half_write)
    with pytest.raises(type(exc)):
        calipers.export(model, "skops", tmp_path / "art", sample=X)
    assert list(tmp_path.iterdir()) == []


def test_crash_while_overwriting_keeps_the_old_artifact(tmp_path, model, data, monkeypatch):
    X, _ = data
    path = calipers.export(model, "skops", tmp_path / "art", sample=X)
    before = manifest_of(path)

    def half_write(self, model, file, options):
        file.write_bytes(b"half")
        raise OSError("no space left on device")

    monkeypatch.setattr(SkopsExporter, "_write", half_write)
    with pytest.raises(OSError, match="no space"):
        calipers.export(model, "skops", path, sample=X, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["art"]
    assert manifest_of(path) == before
    np.testing.assert_array_equal(load(path).predict(X), model.predict(X))


def test_failure_after_the_model_file_leaves_nothing(tmp_path, data):
    X, _ = data
    unfitted = LogisticRegression()  # writes fine, fails computing the reference outputs
    with pytest.raises(sklearn.exceptions.NotFittedError):
        calipers.export(unfitted, "skops", tmp_path / "art", sample=X)
    assert list(tmp_path.iterdir()) == []


def test_a_version_in_progress_is_not_listed(tmp_path, model, data, monkeypatch):
    X, _ = data
    seen = {}
    write = SkopsExporter._write

    def spying_write(self, model, file, options):
        seen["during"] = list_versions(tmp_path, "cancer")
        seen["dir"] = file.parent.name
        return write(self, model, file, options)

    monkeypatch.setattr(SkopsExporter, "_write", spying_write)
    calipers.export(model, "skops", version_dir(tmp_path, "cancer"), sample=X)
    assert seen["during"] == []
    assert seen["dir"].startswith(".1.tmp-")
    assert list_versions(tmp_path, "cancer") == [1]


def test_bad_arguments(tmp_path, model, data):
    X, _ = data
    with pytest.raises(ValueError, match="sample"):
        calipers.export(model, "skops", tmp_path / "a", sample=None)
    with pytest.raises(ValueError, match="unknown exporter 'skopz'; did you mean 'skops'"):
        calipers.export(model, "skopz", tmp_path / "a", sample=X)
    with pytest.raises(TypeError, match="format must be a string"):
        calipers.export(model, 3, tmp_path / "a", sample=X)
    with pytest.raises(TypeError, match="does not support builtins.object"):
        calipers.export(object(), "skops", tmp_path / "a", sample=X)
    with pytest.raises(TypeError, match="unknown option"):
        calipers.export(model, "skops", tmp_path / "a", sample=X, level=3)
    with pytest.raises(TypeError, match="one input X"):
        calipers.export(model, "skops", tmp_path / "a", sample={"a": X, "b": X})
    assert list(tmp_path.iterdir()) == []


def test_format_alias_and_registration():
    assert plugins.get("exporter", "skops") is SkopsExporter
    assert plugins.get("exporter", "pickle") is PickleExporter
    assert calipers.export.exporter_for("joblib").name == "pickle"
    assert "joblib" in PickleExporter.handles()
    listed = {p.name: p for p in plugins.list_plugins(all=True)}
    assert listed["calipers.export"].status == "ok"
    assert listed["calipers.export"].provides == {"exporter": ["skops", "pickle"]}


def test_loaded_artifact(tmp_path, model, data):
    X, _ = data
    path = calipers.export(model, "skops", tmp_path / "art", sample=X, metrics={"f1": 0.9})
    with load(path) as artifact:
        assert isinstance(artifact, Artifact)
        assert artifact.path == path
        assert artifact.manifest == manifest_of(path)
        assert artifact.inputs == [{"name": "X", "dtype": "float64", "shape": [None, 30]}]
        assert [o["name"] for o in artifact.outputs] == ["label", "probabilities"]
        assert (artifact.format, artifact.task, artifact.classes) == ("skops", "classifier",
                                                                       [0, 1])
        assert isinstance(artifact.exporter, SkopsExporter)
        out = artifact.run({"X": X})
        assert list(out) == ["label", "probabilities"]
        np.testing.assert_array_equal(out["label"], model.predict(X))
        np.testing.assert_array_equal(artifact.run(X)["probabilities"], model.predict_proba(X))
        np.testing.assert_array_equal(artifact.predict(X), model.predict(X))
        np.testing.assert_array_equal(artifact.predict_proba(X), model.predict_proba(X))
        # JSON-style lists and float32 / int inputs are converted to the recorded dtype
        np.testing.assert_array_equal(artifact.predict(X[:4].tolist()), model.predict(X[:4]))
        np.testing.assert_allclose(artifact.predict_proba(X[:4].astype(np.float32)),
                                   model.predict_proba(X[:4].astype(np.float32)))
        ints = np.rint(X[:4]).astype(np.int64)
        np.testing.assert_array_equal(artifact.predict(ints), model.predict(ints.astype(float)))
        assert "model_type='sklearn.linear_model.LogisticRegression'" in repr(artifact)


def test_run_checks_inputs(tmp_path, model, data):
    X, _ = data
    artifact = load(calipers.export(model, "skops", tmp_path / "art", sample=X))
    with pytest.raises(ValueError, match=r"shape \[None, 30\], got \[5, 29\]"):
        artifact.run(X[:5, :29])
    with pytest.raises(ValueError, match=r"shape \[None, 30\], got \[30\]"):
        artifact.run(X[0])
    with pytest.raises(ValueError, match=r"missing \['X'\]; unknown \['x'\]"):
        artifact.run({"x": X})
    with pytest.raises(ValueError, match="dtype float64, got <U"):
        artifact.run(X[:2].astype(str))
    artifact.close()


def test_regressor_has_no_predict_proba(tmp_path, data):
    X, y = data
    reg = Ridge().fit(X, y)
    artifact = load(calipers.export(reg, "skops", tmp_path / "art", sample=X))
    assert artifact.task == "regressor" and artifact.classes is None
    assert [o["name"] for o in artifact.outputs] == ["prediction"]
    np.testing.assert_array_equal(artifact.predict(X), reg.predict(X))
    with pytest.raises(AttributeError, match="no 'probabilities' output"):
        artifact.predict_proba(X)


def test_version_dir_and_list_versions(tmp_path):
    assert list_versions(tmp_path, "m") == []
    assert version_dir(tmp_path, "m") == tmp_path / "m" / "1"
    for name in ("1", "2", "10"):
        (tmp_path / "m" / name).mkdir(parents=True)
        (tmp_path / "m" / name / "manifest.json").write_text("{}")
    (tmp_path / "m" / "11").mkdir()  # incomplete: no manifest
    (tmp_path / "m" / ".12.tmp-abcd").mkdir()  # an export in progress
    (tmp_path / "m" / "latest").mkdir()
    (tmp_path / "m" / "13").write_text("a file")
    assert list_versions(tmp_path, "m") == [1, 2, 10]
    assert version_dir(tmp_path, "m") == tmp_path / "m" / "14"
    assert version_dir(tmp_path, "m", 5) == tmp_path / "m" / "5"
    assert version_dir(tmp_path, "m", np.int64(7)) == tmp_path / "m" / "7"
    for bad in (0, -1, True, "3", 2.0):
        with pytest.raises(ValueError, match="positive integer"):
            version_dir(tmp_path, "m", bad)
    for bad in ("", ".", "..", "../m", "a/b", "a\\b", ".hidden", "a..b", "/abs"):
        with pytest.raises(ValueError, match="invalid model name"):
            version_dir(tmp_path, bad)
        with pytest.raises(ValueError, match="invalid model name"):
            list_versions(tmp_path, bad)


def test_jsonable_and_specs():
    assert jsonable({1: np.bool_(True), "a": {np.str_("k"): np.uint8(3)}}) == {
        "1": True, "a": {"k": 3}}
    assert jsonable(np.array([[1.5, np.inf], [np.nan, -0.0]])) == [[1.5, None], [None, -0.0]]
    assert jsonable({3, 1, 2}) == [1, 2, 3]
    assert jsonable(pathlib.Path("a") / "b") == os.path.join("a", "b")
    with pytest.raises(TypeError, match=r"m\['x'\]: object"):
        jsonable({"x": object()}, "m")
    with pytest.raises(TypeError, match="complex128"):
        jsonable(np.array([1j]))
    assert tensor_spec("p", np.zeros((5, 3), np.float32)) == {
        "name": "p", "dtype": "float32", "shape": [None, 3]}
    assert tensor_spec("l", np.array(["a", "b"])) == {"name": "l", "dtype": "str",
                                                       "shape": [None]}


def test_load_of_something_that_is_not_an_artifact(tmp_path):
    with pytest.raises(ArtifactError, match="no such directory"):
        load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArtifactError, match="manifest.json is missing"):
        load(tmp_path / "empty")
    assert issubclass(ArtifactError, ValueError)


def test_importing_the_export_api_stays_light(tmp_path):
    import subprocess
    import sys

    code = (
        "import json, sys, calipers\n"
        "calipers.load, calipers.verify, calipers.export_model, calipers.export.Exporter\n"
        "import calipers.export._builtin\n"
        "heavy = ('sklearn', 'skops', 'joblib', 'torch', 'onnxruntime', 'pandas', 'scipy')\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120, check=True)
    assert json.loads(out.stdout.splitlines()[-1]) == []
