"""The README's Plugins section, run literally: its metric module, its pyproject and
its conformance test file become a real distribution that is installed, listed and
used by name, and whose tests pass."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _section_blocks() -> dict[str, str]:
    """The Plugins section's code blocks, keyed by the file name in their first line."""
    text = README.read_text()
    section = text[text.index("## Plugins\n"):]
    section = section[: section.index("\n## ", 1)]
    blocks = {}
    for lang, body in re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S):
        first = body.splitlines()[0]
        name = first.lstrip("# ").split()[0]
        if lang == "toml":
            name = "pyproject.toml"
        blocks[name] = body
    return blocks


def _run(args, cwd, env=None, timeout=300):
    out = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=timeout)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    blocks = _section_blocks()
    assert set(blocks) == {"positive_rate.py", "pyproject.toml",
                           "tests/test_positive_rate.py"}
    root = tmp_path_factory.mktemp("readme_plugin")
    dist = root / "positive-rate"
    dist.mkdir()
    (dist / "tests").mkdir()
    for name, body in blocks.items():
        (dist / name).write_text(body)
    site = root / "site"
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
          "--no-index", "--disable-pip-version-check", "--target", str(site), str(dist)],
         cwd=root)
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("CALIPERS_DISABLE_PLUGINS", None)
    return dist, site, env


def test_the_example_runs_as_written(installed):
    dist, _, _ = installed
    assert _run([sys.executable, "positive_rate.py"], cwd=dist).strip() == "0.6"


def test_the_conformance_test_file_passes(installed):
    dist, _, env = installed
    out = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                "tests/test_positive_rate.py"], cwd=dist, env={**env, "PYTHONPATH": str(dist)})
    assert re.search(r"\b1\d passed|\b[2-9] passed", out), out  # one test per rule


def test_installed_plugin_is_listed_and_used_by_name(installed, tmp_path):
    _, site, env = installed
    listing = json.loads(_run([sys.executable, "-m", "calipers.cli.main", "plugins",
                               "--json"], cwd=tmp_path, env=env))
    (row,) = [p for p in listing if p["name"] == "positive_rate"]
    assert row["status"] == "ok" and row["provides"] == {"metric": ["positive_rate"]}
    code = ("import calipers\n"
            "m = calipers.metric('positive_rate')\n"
            "m.update([0, 1, 1, 0], [1, 1, 0, 1])\n"
            "print(m.compute())\n")
    assert _run([sys.executable, "-c", code], cwd=tmp_path, env=env).strip() == "0.75"
    data = tmp_path / "preds.csv"
    data.write_text("y_true,y_pred\n0,1\n1,1\n1,0\n0,1\n")
    out = json.loads(_run([sys.executable, "-m", "calipers.cli.main", "eval", str(data),
                           "--y-true", "y_true", "--y-pred", "y_pred", "--metrics",
                           "positive_rate,accuracy", "--format", "json"],
                          cwd=tmp_path, env=env))
    assert out["metrics"]["positive_rate"] == pytest.approx(0.75)
