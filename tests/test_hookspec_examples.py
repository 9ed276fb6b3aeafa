"""Each hook's documented example is a working plugin: installed with pip, listed, used.

The Examples section of every hook in :mod:`calipers.hookspecs` holds two literal
blocks: the plugin module and its ``pyproject.toml``. This file takes them out of
the docstrings as they are, writes each as its own distribution, installs all four
with a real ``pip install --target`` (offline, no build isolation), and in a fresh
interpreter with only that directory added checks that ``calipers plugins --json``
lists each one as ok and that each works when looked up by name. An example that
drifts from the API breaks here, not in a user's hands.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from calipers import hookspecs, plugins
from calipers._registry import KINDS

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: calipers depends on tomli there
    import tomli as tomllib

HOOKS = {hook: kind for kind, hook in KINDS.items()}

#: Completes the documented pyproject into a buildable one (setuptools, one module).
BUILD = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

"""


@dataclass(frozen=True)
class Example:
    hook: str
    module: str  # the module's import name, from the entry point
    entry_point: str
    dist: str
    source: str
    pyproject: str


def literal_blocks(text: str) -> list[tuple[str, str]]:
    """``(introducing paragraph, dedented block)`` for each reST ``::`` literal block."""
    lines = text.splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        if not lines[i].rstrip().endswith("::"):
            i += 1
            continue
        intro_start = i
        while intro_start > 0 and lines[intro_start - 1].strip():
            intro_start -= 1
        intro = " ".join(line.strip() for line in lines[intro_start : i + 1])
        indent = len(lines[i]) - len(lines[i].lstrip())
        j = i + 1
        body: list[str] = []
        while j < len(lines) and (
            not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent
        ):
            body.append(lines[j])
            j += 1
        blocks.append((intro, textwrap.dedent("\n".join(body)).strip("\n") + "\n"))
        i = j
    return blocks


def example(hook: str) -> Example:
    """The example plugin of ``hook``, as its docstring shows it."""
    doc = inspect.getdoc(getattr(hookspecs, hook))
    section = doc[doc.index("Examples\n--------") : doc.index(".. versionadded::")]
    blocks = literal_blocks(section)
    assert len(blocks) == 2, f"{hook}: expected a module and a pyproject block, got {blocks}"
    (module_intro, source), (_, pyproject) = blocks
    ast.parse(source)  # a SyntaxError names the line
    project = tomllib.loads(pyproject)
    [(entry_point, module)] = project["project"]["entry-points"]["calipers"].items()
    assert f"``{module}.py``" in module_intro, (
        f"{hook}: the text introducing the module does not name {module}.py"
    )
    return Example(hook, module, entry_point, project["project"]["name"], source, pyproject)


EXAMPLES = {hook: example(hook) for hook in HOOKS}


def test_every_hook_has_an_example_that_implements_it():
    for hook, ex in EXAMPLES.items():
        tree = ast.parse(ex.source)
        impls = [
            node.name
            for node in tree.body
            if isinstance(node, ast.FunctionDef)
            and any(ast.unparse(d) == "calipers.hookimpl" for d in node.decorator_list)
        ]
        assert impls == [hook], f"{hook}'s example implements {impls}"
        deps = tomllib.loads(ex.pyproject)["project"]["dependencies"]
        assert any(d.replace(" ", "").startswith("calipers>=") for d in deps), (
            f"{hook}'s example does not say which calipers it needs: {deps}"
        )


def test_literal_blocks_are_read_as_written():
    text = "Intro ``m.py``::\n\n    a = 1\n\n    if a:\n        b = 2\n\nafter\nNext::\n\n  x\n"
    assert literal_blocks(text) == [
        ("Intro ``m.py``::", "a = 1\n\nif a:\n    b = 2\n"),
        ("after Next::", "x\n"),
    ]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """Every example built and installed by pip into one ``--target`` directory."""
    pip = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True)
    if pip.returncode != 0:
        pytest.skip("pip is not available in this interpreter")
    root = tmp_path_factory.mktemp("hook_examples")
    sources = []
    for ex in EXAMPLES.values():
        package = root / "src" / ex.dist
        package.mkdir(parents=True)
        (package / f"{ex.module}.py").write_text(ex.source)
        (package / "pyproject.toml").write_text(
            BUILD + ex.pyproject + f'\n[tool.setuptools]\npy-modules = ["{ex.module}"]\n'
        )
        sources.append(str(package))
    target = root / "site"
    install = subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
            "--no-index", "--disable-pip-version-check", "--target", str(target), *sources,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    return target


def run_python(site: Path, code: str) -> str:
    """Run ``code`` in a fresh interpreter that has ``site`` on its path; return stdout."""
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop(plugins.DISABLE_ENV, None)
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        cwd=site.parent,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def listing(site) -> dict[str, dict]:
    """``calipers plugins --json`` in a fresh interpreter, by entry-point name."""
    out = run_python(site, "from calipers.cli.main import main; raise SystemExit(main(["
                     "'plugins', '--json']))")
    return {p["name"]: p for p in json.loads(out)}


@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_example_is_listed_as_ok(hook, listing):
    ex = EXAMPLES[hook]
    assert ex.entry_point in listing, sorted(listing)
    entry = listing[ex.entry_point]
    assert (entry["status"], entry["reason"], entry["dist"], entry["builtin"]) == (
        "ok", None, ex.dist, False
    ), entry
    assert list(entry["provides"]) == [HOOKS[hook]]


def _provided(listing: dict[str, dict], hook: str) -> str:
    [name] = listing[EXAMPLES[hook].entry_point]["provides"][HOOKS[hook]]
    return name


def test_metric_example_by_name(site, listing):
    name = _provided(listing, "register_metric")
    out = run_python(site, f"""
        import json, math, pickle
        import calipers

        a, b, whole = (calipers.metric({name!r}) for _ in range(3))
        a.update([0, 1, 1], [1, 0, 1])
        b.update([1], [1])
        whole.update([0, 1, 1, 1], [1, 0, 1, 1])
        merged = a.merge(b)
        copy = pickle.loads(pickle.dumps(merged))
        restored = calipers.metric({name!r})
        restored.load_state_dict(merged.state_dict())
        before_reset = whole.compute()
        whole.reset()
        print(json.dumps({{
            "module": type(a).__module__, "merged": merged.compute(), "whole": before_reset,
            "copy": copy.compute(), "restored": restored.compute(),
            "reset_is_nan": math.isnan(whole.compute()),
        }}))
    """)
    assert json.loads(out) == {
        "module": EXAMPLES["register_metric"].module,
        "merged": 0.75,
        "whole": 0.75,
        "copy": 0.75,
        "restored": 0.75,
        "reset_is_nan": True,
    }


def test_searcher_example_by_name(site, listing):
    name = _provided(listing, "register_searcher")
    out = run_python(site, f"""
        import json
        import calipers
        from calipers import plugins
        from calipers.search import Float

        space = {{"x": Float(-2.0, 2.0), "kind": ["a", "b"]}}

        def asks(seed):
            searcher = plugins.get("searcher", {name!r})(space, seed=seed)
            out = []
            for _ in range(12):
                params = searcher.ask()
                searcher.tell(params, (params["x"] - 0.5) ** 2 + (params["kind"] == "b"))
                out.append(params)
            return out

        study = calipers.create_study(space=space, searcher={name!r}, seed=3)
        study.optimize(lambda t: (t["x"] - 0.5) ** 2 + (t["kind"] == "b"), n_trials=25)
        first = asks(7)
        print(json.dumps({{
            "searcher": type(study.searcher).__module__,
            "trials": len(study.trials), "best": study.best_value,
            "first_value": study.trials[0].value,
            "same_seed_same_asks": first == asks(7), "other_seed_differs": first != asks(8),
            "in_space": all(-2 <= p["x"] <= 2 and p["kind"] in "ab" for p in first),
        }}))
    """)
    result = json.loads(out)
    assert result["searcher"] == EXAMPLES["register_searcher"].module
    assert result["trials"] == 25 and result["best"] <= result["first_value"]
    assert result["best"] < 0.25  # it found the better kind and moved toward x = 0.5
    assert result["same_seed_same_asks"] and result["other_seed_differs"]
    assert result["in_space"]


def test_exporter_example_by_name(site, listing):
    name = _provided(listing, "register_exporter")
    out = run_python(site, f"""
        import json
        import numpy as np
        import calipers

        class Line:  # any model with coef_, intercept_ and predict
            coef_ = np.array([2.0, -1.0, 0.5])
            intercept_ = 0.25

            def predict(self, X):
                return np.asarray(X) @ self.coef_ + self.intercept_

        X = np.random.default_rng(0).normal(size=(20, 3))
        path = calipers.export(Line(), {name!r}, "artifact", sample=X)
        with calipers.load(path) as artifact:
            got = artifact.run(X)["prediction"]
            manifest = artifact.manifest
        report = calipers.verify(path, Line(), X)
        print(json.dumps({{
            "exporter": manifest["exporter"], "task": manifest["task"],
            "files": sorted(manifest["files"]),
            "max_diff": float(np.abs(got - Line().predict(X)).max()), "verified": report.ok,
        }}))
    """)
    assert json.loads(out) == {
        "exporter": name,
        "task": "regressor",
        "files": ["weights.json"],
        "max_diff": pytest.approx(0.0, abs=1e-12),
        "verified": True,
    }


def test_backend_example_by_name(site, listing):
    name = _provided(listing, "register_backend")
    module = EXAMPLES["register_backend"].module
    out = run_python(site, f"""
        import json
        import calipers
        from calipers import plugins
        from calipers.backends import backend_for
        from {module} import Box

        y_true, y_pred = Box([0, 1, 1, 0, 1]), Box([0, 1, 0, 0, 1])
        metric = calipers.metric("accuracy")
        metric.update(y_true, y_pred)
        print(json.dumps({{
            "backend": backend_for(y_true).name,
            "registered": plugins.get("backend", {name!r}) is backend_for(y_true),
            "accuracy": float(metric.compute()),
        }}))
    """)
    assert json.loads(out) == {"backend": name, "registered": True, "accuracy": 0.8}
