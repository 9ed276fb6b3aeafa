"""Tampered, untrusted and malformed artifacts are refused before anything is deserialized."""

from __future__ import annotations

import json
import os
import pathlib
from functools import lru_cache

import numpy as np
import pytest

import calipers
from calipers.errors import ArtifactError
from calipers.export import load
from calipers.export._manifest import DIGEST_KEY, canonical_digest, write_manifest

pytest.importorskip("sklearn")
skops_io = pytest.importorskip("skops.io")

import joblib  # noqa: E402
from sklearn.datasets import load_breast_cancer  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402


class ShiftedRidge(Ridge):
    """A type outside scikit-learn: skops must not build it unless trusted."""


class RunsCodeWhenUnpickled:
    """Unpickling it creates ``marker``: a stand-in for arbitrary code."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@lru_cache(maxsize=1)
def _data():
    return load_breast_cancer(return_X_y=True)


@lru_cache(maxsize=1)
def _model():
    X, y = _data()
    return LogisticRegression(solver="newton-cholesky").fit(X, y)


@pytest.fixture
def skops_artifact(tmp_path):
    X, _ = _data()
    return calipers.export(_model(), "skops", tmp_path / "art", sample=X)


@pytest.fixture
def pickle_artifact(tmp_path):
    X, _ = _data()
    return calipers.export(_model(), "pickle", tmp_path / "art", sample=X)


@pytest.fixture
def no_deserializing(monkeypatch):
    """Fail the test if skops or joblib is asked to read a model file."""

    def forbidden(*args, **kwargs):
        raise AssertionError("a model file was deserialized before the checks")

    monkeypatch.setattr(skops_io, "load", forbidden)
    monkeypatch.setattr(skops_io, "loads", forbidden)
    monkeypatch.setattr(skops_io, "get_untrusted_types", forbidden)
    monkeypatch.setattr(joblib, "load", forbidden)


def read(path: pathlib.Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def rewrite(path: pathlib.Path, manifest: dict, *, digest: bool) -> None:
    """Write ``manifest`` back as-is, optionally with a recomputed digest."""
    if digest:
        manifest[DIGEST_KEY] = canonical_digest(manifest)
    (path / "manifest.json").write_text(json.dumps(manifest))


def forge(path: pathlib.Path, **changes) -> None:
    """What a careful attacker does: change fields, rehash every file, redo the digest."""
    manifest = read(path)
    for key, value in changes.items():
        manifest[key] = value
    write_manifest(path, manifest)


def test_untouched_artifact_loads(skops_artifact):
    X, _ = _data()
    np.testing.assert_array_equal(load(skops_artifact).predict(X), _model().predict(X))


def test_a_changed_byte_in_the_model_file(skops_artifact, no_deserializing):
    data = bytearray((skops_artifact / "model.skops").read_bytes())
    data[len(data) // 2] ^= 0x01
    (skops_artifact / "model.skops").write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=r"file 'model.skops' does not match its sha256") as e:
        load(skops_artifact)
    assert str(skops_artifact) in str(e.value)


def test_a_changed_hash_in_the_manifest(skops_artifact, no_deserializing):
    manifest = read(skops_artifact)
    manifest["files"]["model.skops"] = "0" * 64
    rewrite(skops_artifact, manifest, digest=False)
    with pytest.raises(ArtifactError, match="manifest.json was modified after export"):
        load(skops_artifact)
    rewrite(skops_artifact, manifest, digest=True)  # digest made consistent: the file fails
    with pytest.raises(ArtifactError, match="file 'model.skops' does not match its sha256"):
        load(skops_artifact)


@pytest.mark.parametrize("extra", ["notes.txt", "sub/payload.bin", ".hidden"])
def test_an_extra_file(skops_artifact, no_deserializing, extra):
    target = skops_artifact / extra
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(b"x")
    with pytest.raises(ArtifactError, match=f"file '{extra}' is not listed in manifest.json"):
        load(skops_artifact)


def test_a_missing_file(skops_artifact, no_deserializing):
    (skops_artifact / "model.skops").unlink()
    with pytest.raises(ArtifactError, match="file 'model.skops' listed in manifest.json is miss"):
        load(skops_artifact)


@pytest.mark.parametrize("field", ["metrics", "task", "tolerance", "options"])
def test_an_edited_manifest(skops_artifact, no_deserializing, field):
    manifest = read(skops_artifact)
    manifest[field] = {"roc_auc": 1.0} if field != "task" else "regressor"
    rewrite(skops_artifact, manifest, digest=False)
    with pytest.raises(ArtifactError, match="manifest.json was modified after export"):
        load(skops_artifact)


def test_reformatting_the_manifest_is_not_tampering(skops_artifact):
    manifest = read(skops_artifact)
    (skops_artifact / "manifest.json").write_text(json.dumps(manifest, indent=7, sort_keys=True))
    assert load(skops_artifact).manifest == manifest


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
        ('{"manifest_version": 2}', "manifest_version 2"),
        ('{"manifest_version": 1}', "was modified after export"),
        ('{"manifest_version": 1, "x": NaN, "manifest_sha256": "0"}', "modified after export"),
    ],
)
def test_a_malformed_manifest(skops_artifact, no_deserializing, text, message):
    (skops_artifact / "manifest.json").write_text(text)
    with pytest.raises(ArtifactError, match=message):
        load(skops_artifact)


def test_a_manifest_listing_no_files(skops_artifact, no_deserializing):
    manifest = read(skops_artifact)
    manifest["files"] = {}
    rewrite(skops_artifact, manifest, digest=True)
    with pytest.raises(ArtifactError, match="lists no files"):
        load(skops_artifact)


@pytest.mark.parametrize("unsafe", ["../outside", "/etc/passwd", "a/../../b", "manifest.json"])
def test_unsafe_paths_in_the_manifest(skops_artifact, no_deserializing, unsafe):
    manifest = read(skops_artifact)
    manifest["files"][unsafe] = "0" * 64
    rewrite(skops_artifact, manifest, digest=True)
    with pytest.raises(ArtifactError, match="unsafe path"):
        load(skops_artifact)


def test_a_symlink_is_refused(skops_artifact, tmp_path, no_deserializing):
    outside = tmp_path / "outside.bin"
    outside.write_bytes((skops_artifact / "model.skops").read_bytes())
    (skops_artifact / "model.skops").unlink()
    os.symlink(outside, skops_artifact / "model.skops")
    with pytest.raises(ArtifactError, match="'model.skops' is a symbolic link"):
        load(skops_artifact)


def test_pickle_refused_unless_trusted(pickle_artifact, monkeypatch):
    called = []
    monkeypatch.setattr(joblib, "load", lambda *a, **k: called.append(a))
    with pytest.raises(ArtifactError) as e:
        load(pickle_artifact)
    message = str(e.value)
    assert "is a pickle (model.joblib)" in message
    assert "arbitrary code" in message and "trusted=True" in message
    assert "format='skops'" in message and "'onnx'" in message
    assert called == []
    with pytest.raises(ArtifactError, match="pickle"):
        calipers.verify(pickle_artifact, _model(), _data()[0])


def test_pickle_loads_when_trusted(pickle_artifact):
    X, _ = _data()
    artifact = load(pickle_artifact, trusted=True)
    np.testing.assert_array_equal(artifact.predict_proba(X), _model().predict_proba(X))


def test_a_malicious_pickle_never_runs(pickle_artifact, tmp_path):
    marker = tmp_path / "code-ran"
    joblib.dump(RunsCodeWhenUnpickled(str(marker)), pickle_artifact / "model.joblib")
    # swapped file, manifest untouched: the hash check refuses even a trusted load
    with pytest.raises(ArtifactError, match="does not match its sha256"):
        load(pickle_artifact, trusted=True)
    # every hash and the digest forged: still refused without trusted=True
    forge(pickle_artifact)
    with pytest.raises(ArtifactError, match="is a pickle"):
        load(pickle_artifact)
    assert not marker.exists()


def test_skops_loads_only_the_recorded_types(tmp_path, monkeypatch):
    X, y = _data()
    model = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(X, y)
    path = calipers.export(model, "skops", tmp_path / "hgb", sample=X)
    recorded = read(path)["options"]["trusted_types"]
    # a type skops does not trust by default, in scikit-learn: recorded, so it loads
    assert recorded == ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]
    seen = []
    real_loads = skops_io.loads

    def spy(data, trusted=None):
        seen.append(list(trusted))
        return real_loads(data, trusted=trusted)

    monkeypatch.setattr(skops_io, "loads", spy)
    artifact = load(path)
    assert seen == [recorded]
    np.testing.assert_array_equal(artifact.predict_proba(X), model.predict_proba(X))


def test_skops_refuses_types_outside_sklearn_unless_trusted(tmp_path):
    X, y = _data()
    model = ShiftedRidge().fit(X, y)
    with pytest.warns(UserWarning, match="ShiftedRidge.*will need trusted=True"):
        path = calipers.export(model, "skops", tmp_path / "custom", sample=X)
    with pytest.raises(ArtifactError, match="outside scikit-learn.*ShiftedRidge.*trusted=True"):
        load(path)
    np.testing.assert_array_equal(load(path, trusted=True).predict(X), model.predict(X))


def test_a_swapped_skops_file_with_a_forged_manifest(skops_artifact, tmp_path):
    X, y = _data()
    skops_io.dump(ShiftedRidge().fit(X, y), skops_artifact / "model.skops")
    forge(skops_artifact)  # hashes and digest match, trusted_types still the old list
    with pytest.raises(ArtifactError, match="types not recorded in the manifest.*ShiftedRidge"):
        load(skops_artifact)
    options = read(skops_artifact)["options"]
    options["trusted_types"] = skops_io.get_untrusted_types(file=skops_artifact / "model.skops")
    forge(skops_artifact, options=options)  # the type recorded too: still not a safe module
    with pytest.raises(ArtifactError, match="outside scikit-learn"):
        load(skops_artifact)


def test_a_file_that_is_not_skops(skops_artifact):
    (skops_artifact / "model.skops").write_bytes(b"definitely not a zip")
    forge(skops_artifact)
    with pytest.raises(ArtifactError, match="model.skops is not a skops file"):
        load(skops_artifact)


def test_unknown_exporter_in_the_manifest(skops_artifact):
    forge(skops_artifact, exporter="nonesuch", format="nonesuch")
    with pytest.raises(ArtifactError, match="exporter 'nonesuch'.*not available"):
        load(skops_artifact)


@pytest.mark.parametrize("fmt", ["skops", "pickle"])
def test_a_file_swapped_between_the_check_and_the_load(tmp_path, fmt):
    X, _ = _data()
    path = calipers.export(_model(), fmt, tmp_path / "art", sample=X)
    manifest = read(path)  # as calipers.load checked it
    exporter = calipers.plugins.get("exporter", fmt)()
    name = manifest["options"]["file"]
    data = bytearray((path / name).read_bytes())
    data[-10] ^= 0xFF
    (path / name).write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=f"file '{name}' changed while it was being loaded"):
        exporter.load(path, manifest, trusted=True)
