"""Drift references: per-feature quantile histograms built at export and kept in the manifest."""

from __future__ import annotations

import json
from functools import lru_cache

import numpy as np
import pytest

import calipers
from calipers.errors import ArtifactError
from calipers.export._drift import (
    MAX_FEATURES,
    REFERENCE_MIN_ROWS,
    bin_counts,
    build_reference,
    feature_columns,
    reference_counts,
)
from calipers.export._manifest import DIGEST_KEY, canonical_digest

pytest.importorskip("sklearn")
pytest.importorskip("skops")

from sklearn.linear_model import LogisticRegression  # noqa: E402


@lru_cache(maxsize=1)
def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=(1500, 3)), rng.integers(0, 3, size=1500)])
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return X, y


@lru_cache(maxsize=1)
def _model() -> LogisticRegression:
    X, y = _data()
    return LogisticRegression().fit(X, y)


def manifest_of(path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def test_quantile_bins_values_and_missing():
    rng = np.random.default_rng(1)
    x = rng.normal(size=2000)
    x[:20] = np.nan
    codes = rng.integers(0, 3, size=2000).astype(float)
    ref = build_reference({"X": np.column_stack([x, codes])})
    assert ref["method"] == "quantile-bins" and ref["rows"] == 2000 and ref["bins"] == 10
    cont, disc = ref["features"]["X[0]"], ref["features"]["X[1]"]
    # ten quantile bins: nine inner edges, each bin about a tenth of the finite values
    assert len(cont["edges"]) == 9 and len(cont["counts"]) == 10 and cont["missing"] == 20
    assert sum(cont["counts"]) == 1980 and max(cont["counts"]) - min(cont["counts"]) <= 2
    assert cont["edges"] == sorted(cont["edges"])
    np.testing.assert_allclose(cont["edges"], np.quantile(x[20:], np.arange(1, 10) / 10))
    # three distinct values: one bin each plus one for anything else
    assert disc["values"] == [0.0, 1.0, 2.0] and disc["missing"] == 0
    assert disc["counts"] == [*np.bincount(codes.astype(int)).tolist(), 0]
    # the same rows land in the same bins; unseen values go to "other", NaN last
    np.testing.assert_array_equal(bin_counts(cont, x), reference_counts(cont))
    np.testing.assert_array_equal(bin_counts(disc, [0, 1, 7, 2.5, np.nan]), [1, 1, 0, 2, 1])
    json.dumps(ref, allow_nan=False)


def test_feature_labels_follow_the_inputs():
    cols = feature_columns({"X": np.zeros((4, 2)), "age": np.ones(4),
                            "text": np.array(["a"] * 4, dtype=object)})
    assert list(cols) == ["X[0]", "X[1]", "age"]  # strings have no histogram
    assert list(feature_columns({"X": np.zeros((4, 2))}, ["height", "weight"])) == [
        "height", "weight"]


def test_a_reference_needs_enough_rows_and_numbers():
    with pytest.raises(ValueError, match=r"at least 1000 rows, got 999.*reference=False"):
        build_reference({"X": np.zeros((999, 2))})
    with pytest.raises(ValueError, match="needs numeric inputs"):
        build_reference({"s": np.array(["a"] * 1000, dtype=object)})
    with pytest.raises(ValueError, match=f"at most {MAX_FEATURES} features"):
        build_reference({"img": np.zeros((1000, 3, 32, 32), dtype=np.float32)})
    with pytest.raises(ValueError, match="bins must be an integer >= 2"):
        build_reference({"X": np.zeros((1000, 1))}, bins=1)


def test_export_stores_the_reference_in_the_hashed_manifest(tmp_path):
    X, _ = _data()
    path = calipers.export(_model(), "skops", tmp_path / "a", sample=X[:50], reference=X)
    drift = manifest_of(path)["drift"]
    assert drift["rows"] == len(X) == 1500 and set(drift["features"]) == {
        "X[0]", "X[1]", "X[2]", "X[3]"}
    assert drift["features"]["X[3]"]["values"] == [0.0, 1.0, 2.0]
    assert drift == build_reference({"X": X})
    with calipers.load(path) as artifact:
        assert artifact.manifest["drift"] == drift
    # the histograms are part of the manifest's digest: editing them is tampering
    doc = manifest_of(path)
    doc["drift"]["features"]["X[0]"]["counts"][0] += 100
    (path / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(ArtifactError, match="modified after export"):
        calipers.load(path)


def test_default_reference_comes_from_a_large_sample_only(tmp_path):
    X, _ = _data()
    big = calipers.export(_model(), "skops", tmp_path / "big", sample=X)
    assert manifest_of(big)["drift"]["rows"] == 1500
    small = calipers.export(_model(), "skops", tmp_path / "small",
                            sample=X[:REFERENCE_MIN_ROWS - 1])
    assert manifest_of(small)["drift"] is None
    off = calipers.export(_model(), "skops", tmp_path / "off", sample=X, reference=False)
    assert manifest_of(off)["drift"] is None
    with pytest.raises(ValueError, match="at least 1000 rows, got 200"):
        calipers.export(_model(), "skops", tmp_path / "few", sample=X, reference=X[:200])
    assert not (tmp_path / "few").exists()
    with pytest.raises(TypeError, match="got True"):
        calipers.export(_model(), "skops", tmp_path / "true", sample=X, reference=True)
    # another manifest's reference is kept as is (a quantized copy keeps its source's)
    kept = calipers.export(_model(), "skops", tmp_path / "kept", sample=X[:20],
                           reference=manifest_of(big)["drift"])
    assert manifest_of(kept)["drift"] == manifest_of(big)["drift"]
    bad_cuts = json.loads(json.dumps(manifest_of(big)["drift"]))
    bad_cuts["features"]["X[0]"]["edges"].reverse()
    with pytest.raises(ValueError, match=r"feature 'X\[0\]' needs ascending numeric cut"):
        calipers.export(_model(), "skops", tmp_path / "cuts", sample=X, reference=bad_cuts)
    broken = dict(manifest_of(big)["drift"], rows=0)
    with pytest.raises(ValueError, match="'rows' must be a positive integer"):
        calipers.export(_model(), "skops", tmp_path / "broken", sample=X, reference=broken)


def test_old_manifests_without_a_reference_still_load(tmp_path):
    X, _ = _data()
    path = calipers.export(_model(), "skops", tmp_path / "old", sample=X[:16])
    doc = manifest_of(path)
    del doc["drift"]  # written before drift references existed
    doc[DIGEST_KEY] = canonical_digest(doc)
    (path / "manifest.json").write_text(json.dumps(doc))
    with calipers.load(path) as artifact:
        assert "drift" not in artifact.manifest
        np.testing.assert_array_equal(artifact.predict(X[:5]), _model().predict(X[:5]))


def test_calipers_run_ship_uses_training_and_held_out_rows(tmp_path):
    from calipers.cli import _run_ship

    X, y = _data()
    kwargs = dict(study_name="drift", task="classifier", metrics={}, fmt="skops")
    shipped = _run_ship.ship(_model(), out=tmp_path / "a", X_train=X[:1100], X_test=X[1100:],
                             y_test=y[1100:], **kwargs)
    drift = calipers.load(shipped.data["path"]).manifest["drift"]
    assert drift == build_reference({"X": X})
    assert any("per-feature histograms of 1500 training and held-out rows" in line
               for line in shipped.lines)
    few = _run_ship.ship(_model(), out=tmp_path / "b", X_train=X[:600], X_test=X[600:800],
                         y_test=y[600:800], **kwargs)
    assert calipers.load(few.data["path"]).manifest["drift"] is None
    assert "drift reference: none (800 training and held-out rows" in few.data["drift_reference"]
    assert few.failed is None
