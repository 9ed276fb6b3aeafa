"""One door: the host reaches plugins only through the registry, never by importing them.

First-party plugins are registered through the same entry points as third-party
ones. A host module that imports one by name (``from calipers_onnx import ...``)
is a side entrance: it closes an import cycle host <-> plugin and lets the host use
what a third party could not provide. What the host needs from a plugin is a
capability the plugin's registered class declares (``calipers.quantize`` asks the
artifact's exporter for its ``quantize`` capability).
"""

from __future__ import annotations

import ast
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import calipers
from calipers import plugins
from calipers.errors import ArtifactError
from calipers.export import Exporter

ROOT = Path(__file__).resolve().parents[1]
HOST = ROOT / "src" / "calipers"

#: Every first-party plugin package: the ones named in the design, plus whatever
#: pyproject.toml declares as an entry point and plugins/ holds, so a new one is
#: covered without editing this list.
NAMED = {
    "calipers_torch",
    "calipers_dask",
    "calipers_sklearn",
    "calipers_onnx",
    "calipers_tfserving",
    "calipers_spark",
}


def _first_party_plugins() -> set[str]:
    found = set(NAMED)
    text = (ROOT / "pyproject.toml").read_text()
    section = re.search(r"^\[project\.entry-points\.calipers\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S)
    assert section, "pyproject.toml has no [project.entry-points.calipers] table"
    for line in section.group(1).splitlines():
        target = re.match(r'\s*[\w.-]+\s*=\s*"([\w.]+)', line)
        if target:
            found.add(target.group(1).split(".")[0])
    found |= {p.name for p in (ROOT / "plugins").iterdir() if (p / "__init__.py").is_file()}
    return found


PLUGIN_PACKAGES = frozenset(_first_party_plugins())


def _top(module: str | None) -> str:
    return (module or "").split(".")[0]


def plugin_imports(source: str, packages: frozenset[str] = PLUGIN_PACKAGES) -> Iterator[str]:
    """``line: statement`` for each import of a package in ``packages`` in ``source``.

    Catches ``import x``, ``import x.y as z``, ``from x(.y) import ...`` (anywhere:
    module level, functions, ``if TYPE_CHECKING`` blocks) and the dynamic forms
    ``importlib.import_module("x...")`` / ``__import__("x...")`` with a literal name.
    """
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if called in ("import_module", "__import__") and isinstance(first, ast.Constant) \
                    and isinstance(first.value, str):
                names = [first.value]
        if any(_top(name) in packages for name in names):
            yield f"{node.lineno}: {ast.unparse(node)}"


def _host_modules() -> list[Path]:
    return sorted(HOST.rglob("*.py"))


def test_the_scan_covers_every_first_party_plugin_and_host_module():
    assert NAMED <= PLUGIN_PACKAGES
    declared = {"calipers_torch", "calipers_dask", "calipers_sklearn", "calipers_onnx",
                "calipers_tfserving"}
    assert declared <= PLUGIN_PACKAGES
    modules = {p.relative_to(HOST).as_posix() for p in _host_modules()}
    assert {"__init__.py", "_manager.py", "export/_artifact.py", "cli/main.py"} <= modules


@pytest.mark.parametrize(
    "source",
    [
        "import calipers_onnx",
        "import calipers_torch.optim as cto",
        "import numpy, calipers_dask",
        "from calipers_onnx import quantize",
        "from calipers_tfserving._backend import eval_predictor",
        "def f():\n    from calipers_sklearn import SearchCV\n",
        "if TYPE_CHECKING:\n    import calipers_spark\n",
        "import importlib\nimportlib.import_module('calipers_onnx._quantize')",
        "__import__('calipers_torch')",
    ],
)
def test_the_scan_finds_every_import_form(source):
    assert list(plugin_imports(source)), source


@pytest.mark.parametrize(
    "source",
    [
        "import calipers",
        "from calipers.export import Exporter",
        "from . import calipers_onnx",  # relative: a host module of that name, not the plugin
        "import calipers_onnxish",
        "x = 'calipers_onnx'",
        "plugins.get('exporter', 'onnx')",
    ],
)
def test_the_scan_ignores_what_is_not_a_plugin_import(source):
    assert list(plugin_imports(source)) == []


#: Side entrances that exist today, each waiting for its capability (strict: the
#: entry must go when the import does). Nothing else is allowed, and this must empty.
KNOWN: dict[str, str] = {}


def _host_params() -> list:
    params = []
    for path in _host_modules():
        rel = path.relative_to(HOST).as_posix()
        marks = [pytest.mark.xfail(reason=KNOWN[rel], strict=True)] if rel in KNOWN else []
        params.append(pytest.param(path, id=rel, marks=marks))
    return params


def test_known_side_entrances_are_real_modules():
    modules = {p.relative_to(HOST).as_posix() for p in _host_modules()}
    assert set(KNOWN) <= modules


@pytest.mark.parametrize("module", _host_params())
def test_no_host_module_imports_a_first_party_plugin(module):
    found = list(plugin_imports(module.read_text()))
    assert not found, (
        f"src/calipers/{module.relative_to(HOST).as_posix()} imports a first-party plugin by "
        f"name ({'; '.join(found)}). The host reaches plugins only through the registry "
        "(calipers.plugins.get / classes) and the capabilities their classes declare"
    )


# -- calipers.quantize goes through the registry: a fake exporter with the capability --

FAKE_EXPORTERS = '''
import json
import pathlib

import numpy as np

import calipers
from calipers.export import Exporter

CALLS = []


class _Runner:
    def __init__(self, factor):
        self.factor = factor

    def run(self, inputs):
        return {"prediction": inputs["X"].sum(axis=1) * self.factor}


class _ScaleExporter(Exporter):
    def export(self, model, path, sample, **options):
        (pathlib.Path(path) / "scale.json").write_text(json.dumps({"factor": model}))
        return {"task": "regressor"}

    def model_outputs(self, model, inputs):
        return {"prediction": np.asarray(inputs["X"]).sum(axis=1) * model}

    def load(self, path, manifest, trusted):
        return _Runner(json.loads((path / "scale.json").read_text())["factor"])


class QuantizingExporter(_ScaleExporter):
    name = "fakeq"
    capabilities = frozenset({"quantize"})

    def quantize(self, path, out, *, bits=8, **options):
        factor = json.loads((path / "scale.json").read_text())["factor"]
        step = 2.0 ** -(bits - 1)
        X = np.asarray(calipers.load(path).manifest["reference"]["inputs"]["X"])
        calipers.export(round(factor / step) * step, "fakeq", out, sample=X, **options)
        CALLS.append((str(path), str(out), bits, options))
        return {"bits": bits, "out": str(out)}


class PlainExporter(_ScaleExporter):
    name = "fakeplain"


@calipers.hookimpl
def register_exporter():
    return [QuantizingExporter, PlainExporter]
'''


@pytest.fixture
def fake_exporters(tmp_path, monkeypatch, fresh_host):
    """A real (fake) distribution with two exporters, one able to quantize."""
    site = tmp_path / "site"
    info = site / "calipers_fakeq-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: calipers-fakeq\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[calipers]\nfakeq = calipers_fakeq\n")
    (site / "calipers_fakeq.py").write_text(textwrap.dedent(FAKE_EXPORTERS))
    monkeypatch.syspath_prepend(str(site))
    plugins.reload()
    yield
    sys.modules.pop("calipers_fakeq", None)


def test_quantize_dispatches_to_the_artifacts_exporter(fake_exporters, tmp_path):
    X = np.arange(12.0).reshape(4, 3)
    src = calipers.export(0.3, "fakeq", tmp_path / "src", sample=X)
    report = calipers.quantize(src, tmp_path / "q", bits=3, metrics={"note": 1.0})
    module = sys.modules["calipers_fakeq"]
    assert report == {"bits": 3, "out": str(tmp_path / "q")}
    assert module.CALLS == [(str(src), str(tmp_path / "q"), 3, {"metrics": {"note": 1.0}})]
    with calipers.load(tmp_path / "q") as quantized:
        assert quantized.manifest["exporter"] == "fakeq"
        np.testing.assert_allclose(quantized.run(X)["prediction"], X.sum(axis=1) * 0.25)
    assert plugins.get("exporter", "fakeq").can("quantize")
    assert not plugins.get("exporter", "fakeplain").can("quantize")


def test_quantize_without_the_capability_names_the_format_and_who_can(fake_exporters, tmp_path):
    X = np.ones((2, 2))
    src = calipers.export(2.0, "fakeplain", tmp_path / "plain", sample=X)
    with pytest.raises(ArtifactError) as raised:
        calipers.quantize(src, tmp_path / "q")
    message = str(raised.value)
    assert f"artifact {src}: format 'fakeplain' (exporter 'fakeplain') cannot be quantized" \
        in message
    able = re.search(r"the installed exporters that can: ([^.]*)\.", message)
    assert able, message
    assert "'fakeq'" in able.group(1).split(", ")
    assert not (tmp_path / "q").exists()


def test_quantize_of_an_artifact_whose_exporter_is_gone(fake_exporters, tmp_path, monkeypatch):
    src = calipers.export(1.0, "fakeq", tmp_path / "src", sample=np.ones((2, 2)))
    monkeypatch.setenv(plugins.DISABLE_ENV, "1")
    plugins.reload()
    with pytest.raises(ArtifactError, match=r"written by exporter 'fakeq'.*not available"):
        calipers.quantize(src, tmp_path / "q")


def test_quantize_checks_the_artifact_before_asking_any_exporter(fake_exporters, tmp_path):
    src = calipers.export(1.0, "fakeq", tmp_path / "src", sample=np.ones((2, 2)))
    (src / "scale.json").write_text('{"factor": 1000}')
    with pytest.raises(ArtifactError, match="sha256"):
        calipers.quantize(src, tmp_path / "q")
    assert sys.modules["calipers_fakeq"].CALLS == []


def test_capability_names_are_checked():
    with pytest.raises(ValueError, match="unknown exporter capability 'quantise'"):
        Exporter.can("quantise")

    class Declares(Exporter):
        name = "declares"
        capabilities = "quantize"  # one name, not a set of letters

        def export(self, model, path, sample, **options):
            return {}

    class Undeclared(Declares):
        capabilities = frozenset()

        def quantize(self, path, out, **options):
            return {}

    assert Declares.can("quantize") and not Undeclared.can("quantize")
    with pytest.raises(NotImplementedError, match="'declares'.*does not implement quantize"):
        Declares().quantize(Path("."), Path("out"))
