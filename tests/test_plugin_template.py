"""``calipers plugin new``: the generated distributions install, pass their own tests,
are discovered, and work by name.

The end-to-end tests really install each generated plugin with pip (offline, no
dependencies, into a target folder put on ``PYTHONPATH``) and run everything in
subprocesses, as a plugin author would after ``pip install``.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import calipers
from calipers import plugins
from calipers.cli import main as cli_main
from calipers.cli import plugin as cli_plugin
from calipers.plugin_template import KINDS, new_plugin, plugin_files, plugin_names

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

# -- names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "kind", "name", "module", "cls"),
    [
        ("my-metric", "metric", "my_metric", "calipers_my_metric", "MyMetric"),
        ("calipers-iou", "metric", "iou", "calipers_iou", "Iou"),
        ("Acme.Fancy__Search", "searcher", "acme_fancy_search", "calipers_acme_fancy_search",
         "AcmeFancySearch"),
        ("x2", "backend", "x2", "calipers_x2", "X2"),
        # a class name the template module already uses gets the kind as a suffix
        ("metric", "metric", "metric", "calipers_metric", "MetricMetric"),
        ("list-array", "backend", "list_array", "calipers_list_array", "ListArrayBackend"),
    ],
)
def test_names_derived_from_name(given, kind, name, module, cls):
    names = plugin_names(given, kind)
    assert (names.dist, names.name, names.module, names.cls) == (given, name, module, cls)
    assert names.hook == f"register_{kind}"
    assert names.module.isidentifier() and names.cls.isidentifier()


@pytest.mark.parametrize(
    ("given", "match"),
    [
        ("", "invalid plugin name ''"),
        ("my metric", "invalid plugin name 'my metric': a distribution name has only"),
        ("-metric", "starts and ends with a letter or digit"),
        ("metric-", "starts and ends with a letter or digit"),
        ("naïve", "only ASCII letters"),
        ("3d-iou", "registered name '3d_iou' must start with a letter.*'metric-3d_iou'"),
        ("calipers-9", "registered name '9' must start with a letter"),
        ("calipers", "it names calipers itself"),
        ("Calipers_", "invalid plugin name"),
    ],
)
def test_invalid_names_are_refused_with_the_rule(given, match):
    with pytest.raises(ValueError, match=match):
        plugin_names(given, "metric")


def test_bad_kind_and_non_string_name():
    with pytest.raises(ValueError, match="unknown plugin kind 'metrics'.*'metric'"):
        plugin_names("my-metric", "metrics")
    with pytest.raises(TypeError, match="must be a string"):
        plugin_names(3, "metric")
    assert KINDS == ("metric", "searcher", "exporter", "backend") == cli_plugin.KINDS


# -- the generated files ------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_generated_files(kind):
    names = plugin_names(f"acme-{kind}", kind)
    files = plugin_files(names)
    assert sorted(files) == sorted([
        ".gitignore", "README.md", "pyproject.toml",
        f"src/calipers_acme_{kind}/__init__.py", f"tests/test_acme_{kind}.py",
    ])  # fmt: skip
    assert not any("$" in text for text in files.values())  # every placeholder filled

    meta = tomllib.loads(files["pyproject.toml"])
    assert meta["build-system"]["build-backend"] == "setuptools.build_meta"
    project = meta["project"]
    assert project["name"] == f"acme-{kind}"
    major_minor = ".".join(calipers.__version__.split(".")[:2])
    assert project["dependencies"] == [f"calipers>={major_minor}", "numpy"]
    assert project["entry-points"] == {"calipers": {f"acme_{kind}": f"calipers_acme_{kind}"}}
    assert "pytest>=7" in project["optional-dependencies"]["test"]

    module = files[f"src/calipers_acme_{kind}/__init__.py"]
    tree = ast.parse(module)
    hookimpls = [
        node.name for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and [ast.unparse(d) for d in node.decorator_list] == ["calipers.hookimpl"]
    ]  # fmt: skip
    assert hookimpls == [f"register_{kind}"]
    base = {"metric": "Metric", "searcher": "Searcher", "exporter": "Exporter",
            "backend": "Backend"}[kind]
    [cls] = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == names.cls]
    assert [ast.unparse(b) for b in cls.bases] == [base]
    assert f"name = 'acme_{kind}'" in ast.unparse(cls)
    if kind == "metric":
        assert 'self.add_state("abs_error", 0.0, merge="sum")' in module
    if kind == "searcher":
        assert "def _propose(self, number: int)" in module and "self.trial_rng(number)" in module

    tests = files[f"tests/test_acme_{kind}.py"]
    ast.parse(tests)
    assert "from calipers.testing import" in tests and "parametrize_with_checks" in tests
    assert f"check_{kind}(" in tests

    readme = files["README.md"]
    assert 'pip install -e ".[test]"' in readme and f"pip install acme-{kind}" in readme
    assert "python -m build" in readme and "twine upload" in readme


def test_generated_code_passes_ruff(tmp_path):
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    for kind in KINDS:
        root = new_plugin(f"lint-{kind}", kind, tmp_path)
        # from the plugin's own root, as its author runs it: its src/ module is first party
        result = subprocess.run(
            [ruff, "check", "--isolated", "--no-cache", "--line-length", "100",
             "--select", "E,F,W,I,B,UP,NPY", "."],
            capture_output=True, text=True, cwd=root, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr


# -- where it writes -------------------------------------------------------------------


def test_writes_into_dir_name_and_refuses_a_non_empty_folder(tmp_path):
    path = new_plugin("my-metric", "metric", tmp_path / "new" / "deep")
    assert path == (tmp_path / "new" / "deep" / "my-metric").resolve()
    assert (path / "src" / "calipers_my_metric" / "__init__.py").is_file()
    before = (path / "README.md").read_text()
    (path / "README.md").write_text("mine")
    with pytest.raises(FileExistsError, match="my-metric exists and is not empty"):
        new_plugin("my-metric", "metric", tmp_path / "new" / "deep")
    assert (path / "README.md").read_text() == "mine" != before  # nothing overwritten

    (tmp_path / "empty").mkdir()
    assert new_plugin("empty", "searcher", tmp_path) == (tmp_path / "empty").resolve()
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(FileExistsError, match="a-file exists and is not a folder"):
        new_plugin("a-file", "metric", tmp_path)
    # no temporary folders are left behind, also after a refusal
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "empty", "new"]


def test_default_dir_is_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert new_plugin("here", "backend") == (tmp_path / "here").resolve()


@pytest.mark.usefixtures("fresh_host")
def test_names_of_calipers_own_plugins_are_refused(tmp_path):
    with pytest.raises(ValueError, match="calipers already has a metric named 'accuracy'"):
        new_plugin("accuracy", "metric", tmp_path)
    with pytest.raises(ValueError, match="calipers already has a searcher named 'random'"):
        new_plugin("calipers-random", "searcher", tmp_path)
    with pytest.raises(ValueError, match="clashes with calipers' own plugin 'torch'"):
        new_plugin("calipers-torch", "backend", tmp_path)
    assert list(tmp_path.iterdir()) == []
    new_plugin("random", "metric", tmp_path)  # another kind's name is fine


# -- the command line -------------------------------------------------------------------


def test_cli_plugin_new(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = cli_main.main(["plugin", "new", "my-exporter", "--kind", "exporter", "--dir", "out"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith(
        "Created out/my-exporter: the exporter 'my_exporter' in package calipers_my_exporter"
    )
    assert "pip install -e '.[test]'" in out
    assert (tmp_path / "out" / "my-exporter" / "tests" / "test_my_exporter.py").is_file()

    code = cli_main.main(["plugin", "new", "my-exporter", "--kind", "exporter", "--dir", "out"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("calipers plugin new: error: ") and "is not empty" in err
    assert len(err.strip().splitlines()) == 1

    code = cli_main.main(["plugin", "new", "3d", "--kind", "metric"])
    assert code == 2 and "must start with a letter" in capsys.readouterr().err
    code = cli_main.main(["plugin", "new", "ok-name", "--kind", "optimizer"])
    assert code == 2 and "invalid choice: 'optimizer'" in capsys.readouterr().err
    code = cli_main.main(["plugin", "new", "ok-name"])
    assert code == 2 and "--kind" in capsys.readouterr().err
    assert cli_main.main(["plugin"]) == 2
    assert "usage: calipers plugin new NAME --kind" in capsys.readouterr().err


def test_calipers_help_lists_plugin_new(capsys):
    assert cli_main.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^\s+plugin\s+create a new plugin", out, re.M), out
    assert cli_main.main(["plugin", "new", "--help"]) == 0
    assert "--kind {metric,searcher,exporter,backend}" in capsys.readouterr().out


# -- end to end: generate, pip install, run its tests, discover, use by name -------------

# (NAME, kind): the searcher's NAME also checks that "calipers-" is dropped.
END_TO_END = {
    "metric": "acme-metric",
    "searcher": "calipers-acme-searcher",
    "exporter": "Acme.Exporter",
    "backend": "acme_backend",
}

USE_METRIC = """
import json, calipers
m = calipers.metric("acme_metric")
m.update([0, 1, 1], [0.5, 1.0, 0.0])
m.update([1], [0.0], sample_weight=[2.0])
print(json.dumps({"module": type(m).__module__, "value": m.compute()}))
"""

USE_SEARCHER = """
import json, calipers
from calipers.search import Float, Int
study = calipers.create_study(
    space={"x": Float(-2.0, 2.0), "n": Int(1, 5), "kind": ["a", "b"]},
    searcher="acme_searcher", seed=1,
)
study.optimize(lambda t: t["x"] ** 2 + t["n"], n_trials=5)
print(json.dumps({"module": type(study.searcher).__module__,
                  "params": [t.params for t in study.trials],
                  "states": [t.state.value for t in study.trials],
                  "best": study.best_value}))
"""

USE_EXPORTER = """
import json, sys
import numpy as np
import calipers
from calipers_acme_exporter import LinearModel
from sklearn.linear_model import Ridge

X = np.random.default_rng(0).normal(size=(30, 2))
out = {}
for label, model in (("numpy", LinearModel([2.0, -1.0], 0.5)),
                     ("sklearn", Ridge(alpha=0.5).fit(X, X @ [1.0, 3.0]))):
    path = calipers.export(model, "acme_exporter", sys.argv[1] + "/" + label, sample=X)
    with calipers.load(path) as artifact:
        got = artifact.run(X)["prediction"]
    out[label] = {"files": sorted(p.name for p in path.iterdir()),
                  "max_diff": float(np.max(np.abs(got - model.predict(X)))),
                  "verified": bool(calipers.verify(path, model, X).ok)}
print(json.dumps(out))
"""

USE_BACKEND = """
import json, calipers
from calipers.backends import backend_for
from calipers_acme_backend import ListArray
m = calipers.metric("accuracy")
m.update(ListArray([0, 1, 1, 0, 1]), ListArray([0, 1, 0, 0, 1]))
print(json.dumps({"backend": backend_for(ListArray([1])).__module__, "value": m.compute()}))
"""

USES = {
    "metric": USE_METRIC,
    "searcher": USE_SEARCHER,
    "exporter": USE_EXPORTER,
    "backend": USE_BACKEND,
}


def _canonical(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def _install(source: Path, site: Path) -> dict[str, str]:
    """pip-install ``source`` offline into ``site``; return an environment that finds it."""
    if subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode:
        pytest.skip("pip is not available in this interpreter")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
         "--no-index", "--disable-pip-version-check", "--quiet", "--target", str(site),
         str(source)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    env = {k: v for k, v in os.environ.items() if k != plugins.DISABLE_ENV}
    env["PYTHONPATH"] = str(site)
    return env


@pytest.mark.parametrize("kind", KINDS)
def test_generated_plugin_installs_passes_its_tests_and_works_by_name(kind, tmp_path):
    dist = END_TO_END[kind]
    name = f"acme_{kind}"
    source = new_plugin(dist, kind, tmp_path / "src")
    env = _install(source, tmp_path / "site")
    assert (tmp_path / "site" / f"calipers_{name}" / "__init__.py").is_file()

    # its own tests: the calipers.testing conformance checks and direct use
    tests = _run([sys.executable, "-m", "pytest", str(source / "tests"), "-q",
                  "-p", "no:cacheprovider"], env, tmp_path)  # fmt: skip
    assert tests.returncode == 0, tests.stdout[-6000:] + tests.stderr[-2000:]
    assert re.search(r"\b\d+ passed\b", tests.stdout) and " skipped" not in tests.stdout

    # discovered through its entry point
    listing = _run([sys.executable, "-m", "calipers.cli.main", "plugins", "--json"], env,
                   tmp_path)
    assert listing.returncode == 0, listing.stderr
    [info] = [p for p in json.loads(listing.stdout) if p["name"] == name]
    assert (info["status"], info["reason"], info["builtin"]) == ("ok", None, False)
    assert info["provides"] == {kind: [name]}
    assert _canonical(info["dist"]) == _canonical(dist) and info["version"] == "0.1.0"

    # used by name
    used = _run([sys.executable, "-c", USES[kind], str(tmp_path / "artifacts")], env, tmp_path)
    assert used.returncode == 0, used.stderr
    result = json.loads(used.stdout.splitlines()[-1])
    if kind == "metric":
        assert result["module"] == f"calipers_{name}"
        assert result["value"] == pytest.approx((0.5 + 0.0 + 1.0 + 2.0) / 5)
        _check_eval(env, tmp_path)
    elif kind == "searcher":
        assert result["module"] == f"calipers_{name}"
        assert result["states"] == ["COMPLETE"] * 5
        assert result["params"][0] == {"x": 0.0, "n": 3, "kind": "a"}  # the centre first
        assert len({json.dumps(p, sort_keys=True) for p in result["params"]}) == 5
        assert result["best"] == min(p["x"] ** 2 + p["n"] for p in result["params"])
    elif kind == "exporter":
        for label in ("numpy", "sklearn"):
            assert result[label]["files"] == ["manifest.json", "model.npz"]
            assert result[label]["max_diff"] < 1e-9 and result[label]["verified"]
    else:
        assert result == {"backend": f"calipers_{name}", "value": pytest.approx(0.8)}


def _check_eval(env: dict[str, str], tmp_path: Path) -> None:
    """``calipers eval --metrics <plugin metric>``: the plugin metric gets the scores."""
    y_true = np.array([0, 1, 1, 0, 1, 0])
    y_score = np.array([0.2, 0.9, 0.4, 0.6, 0.7, 0.1])
    csv = tmp_path / "predictions.csv"
    rows = "".join(f"{t},{s}\n" for t, s in zip(y_true, y_score, strict=True))
    csv.write_text("y_true,y_score\n" + rows)
    run = _run(
        [sys.executable, "-m", "calipers.cli.main", "eval", str(csv), "--y-true", "y_true",
         "--y-score", "y_score", "--metrics", "acme_metric,accuracy", "--format", "json"],
        env, tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    metrics = json.loads(run.stdout)["metrics"]
    assert metrics["acme_metric"] == pytest.approx(np.mean(np.abs(y_true - y_score)))
    assert metrics["accuracy"] == pytest.approx(np.mean(y_true == (y_score >= 0.5)))
