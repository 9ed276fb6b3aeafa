"""The exporter contract from a third party's side: a real plugin (a fake installed
distribution on ``sys.path``) with two inputs, float32 outputs, its own format name and
tolerance, going through calipers.export / load / verify."""

from __future__ import annotations

import json
import sys
import textwrap

import numpy as np
import pytest

import calipers
from calipers import plugins
from calipers.errors import ArtifactError, ParityError
from calipers.export import exporter_for, load

pytestmark = pytest.mark.usefixtures("fresh_host")

PLUGIN = '''
"""Linear model y = a @ w + b * c, stored as .npz; two inputs, float32."""
import pathlib

import numpy as np

import calipers
from calipers.export import Exporter

CLOSED = []


class Linear:
    def __init__(self, w, c):
        self.w, self.c = np.asarray(w, dtype=np.float64), float(c)

    def __call__(self, a, b):
        return a @ self.w + b[:, 0] * self.c


class Runner:
    def __init__(self, w, c):
        self.w, self.c = w, c

    def run(self, inputs):
        a, b = inputs["a"], inputs["b"]
        assert a.dtype == np.float32 and b.dtype == np.float32  # conformed by the host
        return {"y": (a @ self.w + b[:, 0] * self.c).astype(np.float32)}

    def close(self):
        CLOSED.append(True)


class LinearExporter(Exporter):
    name = "fakelinear"
    formats = ("npz-linear",)
    tolerance = {"rtol": 1e-3, "atol": 1e-5}

    def supports(self, model):
        return isinstance(model, Linear)

    def export(self, model, path, sample, scale=1.0):
        path = pathlib.Path(path)
        np.savez(path / "weights.npz", w=model.w.astype(np.float32) * scale,
                 c=np.float32(model.c))
        (path / "extra").mkdir()
        (path / "extra" / "README").write_text("weights of a linear model")
        n = model.w.shape[0]
        return {
            "model_type": "fakelinear.Linear",
            "task": "regressor",
            "inputs": [{"name": "a", "dtype": "float32", "shape": [None, n]},
                       {"name": "b", "dtype": "float32", "shape": [None, 1]}],
            "outputs": [{"name": "y", "dtype": "float32", "shape": [None]}],
            "libraries": {"numpy": np.__version__},
            "options": {"scale": scale},
        }

    def load(self, path, manifest, trusted):
        data = np.load(pathlib.Path(path) / "weights.npz")
        return Runner(data["w"], data["c"])

    def model_outputs(self, model, inputs):
        return {"y": model(inputs["a"], inputs["b"])}


class OtherLinearExporter(LinearExporter):
    """Writes the same format under another name."""
    name = "otherlinear"
    formats = ("npz-linear",)

    def supports(self, model):
        return getattr(model, "other", False)


class PathReturningExporter(LinearExporter):
    """Writes into the directory but returns its path (the calipers 0.1 habit)."""
    name = "pathreturning"
    formats = ()

    def export(self, model, path, sample):
        super().export(model, path, sample)
        return pathlib.Path(path)


@calipers.hookimpl
def register_exporter():
    return [LinearExporter, OtherLinearExporter, PathReturningExporter]
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    root = tmp_path / "site"
    info = root / "calipers_fakelinear-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: calipers-fakelinear\n"
                                   "Version: 1.0\n")
    (info / "entry_points.txt").write_text("[calipers]\nfakelinear = calipers_fakelinear\n")
    (root / "calipers_fakelinear.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(root))
    plugins.reload()
    module = __import__("calipers_fakelinear")
    yield module
    sys.modules.pop("calipers_fakelinear", None)


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    return {"a": rng.normal(size=(40, 3)), "b": rng.normal(size=(40, 1))}


def test_third_party_exporter_round_trip(plugin, data, tmp_path):
    model = plugin.Linear([0.5, -1.25, 2.0], 0.75)
    path = calipers.export(model, "npz-linear", tmp_path / "lin", sample=data,
                           metrics={"r2": 0.5})
    manifest = json.loads((path / "manifest.json").read_text())
    assert (manifest["format"], manifest["exporter"]) == ("npz-linear", "fakelinear")
    assert sorted(manifest["files"]) == ["extra/README", "weights.npz"]
    assert manifest["tolerance"] == {"rtol": 1e-3, "atol": 1e-5, "min_label_agreement": 1.0}
    assert manifest["options"] == {"scale": 1.0}
    assert manifest["reference"]["inputs"]["a"] == data["a"][:16].tolist()
    assert manifest["reference"]["outputs"]["y"] == pytest.approx(
        model(data["a"][:16], data["b"][:16]).tolist())
    with load(path) as artifact:
        out = artifact.run(data)  # float64 in, cast to the recorded float32
        assert out["y"].dtype == np.float32
        np.testing.assert_allclose(out["y"], model(data["a"], data["b"]), rtol=1e-5)
        np.testing.assert_array_equal(artifact.predict(data), out["y"])
        with pytest.raises(ValueError, match=r"2 inputs \['a', 'b'\]: pass a dict"):
            artifact.run(data["a"])
        with pytest.raises(ValueError, match=r"missing \['b'\]"):
            artifact.run({"a": data["a"]})
    assert plugin.CLOSED == [True]
    report = calipers.verify(path, model, data)  # float32 artifact within rtol 1e-3
    assert report.ok and 0 < report.max_abs_diff["y"] < 1e-4
    with pytest.raises(ParityError, match="output 'y'"):
        calipers.verify(path, model, data, rtol=0.0, atol=0.0)
    assert plugin.CLOSED == [True, True, True]


def test_exporter_options_and_a_perturbed_export(plugin, data, tmp_path):
    model = plugin.Linear([1.0, 2.0, 3.0], 1.0)
    path = calipers.export(model, "fakelinear", tmp_path / "x", sample=data, scale=1.01)
    assert load(path).manifest["options"] == {"scale": 1.01}
    with pytest.raises(ParityError) as e:
        calipers.verify(path, model, data)
    assert e.value.report.max_rel_diff["y"] > 1e-3


def test_a_tampered_subdirectory_file(plugin, data, tmp_path):
    path = calipers.export(plugin.Linear([1.0, 2.0, 3.0], 1.0), "npz-linear", tmp_path / "x",
                           sample=data)
    (path / "extra" / "README").write_text("changed")
    with pytest.raises(ArtifactError, match="file 'extra/README' does not match its sha256"):
        load(path)


def test_choosing_among_exporters_of_one_format(plugin):
    linear = plugin.Linear([1.0], 0.0)
    assert exporter_for("npz-linear", linear).name == "fakelinear"
    other = plugin.Linear([1.0], 0.0)
    other.other = True  # both support it now: the exporter named after the format wins
    with pytest.raises(ValueError, match="written by several exporters"):
        exporter_for("npz-linear", other)
    assert exporter_for("otherlinear", other).name == "otherlinear"
    with pytest.raises(TypeError, match="does not support"):
        exporter_for("otherlinear", linear)


def test_export_must_return_manifest_fields(plugin, data, tmp_path):
    with pytest.raises(TypeError, match="returned PosixPath, expected a dict of manifest"):
        calipers.export(plugin.Linear([1.0, 2.0, 3.0], 1.0), "pathreturning",
                        tmp_path / "out" / "p", sample=data)
    assert list((tmp_path / "out").iterdir()) == []


def test_a_calipers_0_1_exporter_cannot_write_artifacts(tmp_path, monkeypatch):
    fixtures = __import__("pathlib").Path(__file__).parents[1] / "fixtures" / "plugins"
    monkeypatch.syspath_prepend(str(fixtures / "good_and_broken"))
    plugins.reload()
    try:
        with pytest.raises(TypeError, match="tried to create the artifact directory itself"):
            calipers.export({"w": 1.0}, "fake_json", tmp_path / "legacy", sample=[[1.0]])
        assert list(tmp_path.iterdir()) == []
        # a hand-made artifact naming it: load explains it cannot open it
        art = tmp_path / "art"
        art.mkdir()
        (art / "model.json").write_text("{}")
        from calipers.export._manifest import build_manifest, write_manifest

        write_manifest(art, build_manifest({}, fmt="fake_json", exporter="fake_json"))
        with pytest.raises(ArtifactError, match="does not implement load"):
            load(art)
    finally:
        for name in ("calipers_fakegood", "calipers_fakebroken"):
            sys.modules.pop(name, None)
