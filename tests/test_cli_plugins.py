"""``calipers plugins`` and the ``calipers`` command; a third-party plugin installed by pip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import calipers
from calipers import plugins
from calipers.cli import main as cli_main

FIXTURES = Path(__file__).parent / "fixtures" / "plugins"
FIELDS = {"name", "dist", "version", "builtin", "status", "reason", "provides"}


# Every test starts and ends with plugins unloaded and the env switch unset.
pytestmark = pytest.mark.usefixtures("fresh_host")


@pytest.fixture
def fake_plugins(monkeypatch):
    """The committed fake distributions (one good plugin, one whose import fails)."""
    monkeypatch.syspath_prepend(str(FIXTURES / "good_and_broken"))
    plugins.reload()
    yield
    sys.modules.pop("calipers_fakegood", None)


def run_main(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli_main.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def row(out: str, name: str) -> str:
    [line] = [line for line in out.splitlines() if line.split()[0] == name]
    return line


def test_table_lists_external_plugins_with_status(capsys, fake_plugins):
    code, out, err = run_main(capsys, "plugins")
    assert code == 0  # a report: broken plugins do not make it fail
    assert out.splitlines()[0].split() == ["NAME", "DIST", "VERSION", "PROVIDES", "STATUS"]
    good = row(out, "fakegood")
    assert "calipers-fakegood" in good and " 1.0 " in good
    assert "metric: fake_accuracy; searcher: fake_random; exporter: fake_json" in good
    assert good.endswith("backend: fakearray  ok")
    broken = row(out, "fakebroken")
    assert "broken: import failed: RuntimeError: calipers_fakebroken cannot start: boom" in broken
    assert "calipers.backends" not in out and "(builtin)" not in out
    assert err == ""  # the table reports the broken plugin; no duplicate warning


def test_all_adds_first_party_plugins(capsys, fake_plugins):
    code, out, _ = run_main(capsys, "plugins", "--all")
    assert code == 0
    assert "backend: numpy" in row(out, "calipers.backends")
    assert "(builtin)" in row(out, "torch")
    assert "fakegood" in out


def test_unavailable_plugin_shows_the_pip_command(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    plugins.reload()
    code, out, _ = run_main(capsys, "plugins", "--all")
    assert code == 0
    assert row(out, "torch").endswith(
        "unavailable: requires torch, not installed: pip install 'calipers[torch]'"
    )


def test_json_is_a_list_of_objects(capsys, fake_plugins):
    code, out, _ = run_main(capsys, "plugins", "--json")
    assert code == 0
    listed = json.loads(out)
    assert [p["name"] for p in listed] == ["fakebroken", "fakegood"]
    assert all(set(p) == FIELDS for p in listed)
    good = listed[1]
    assert good["status"] == "ok" and good["reason"] is None and good["builtin"] is False
    assert good["provides"]["metric"] == ["fake_accuracy"]
    assert listed[0]["status"] == "broken" and "boom" in listed[0]["reason"]

    _, out_all, _ = run_main(capsys, "plugins", "--json", "--all")
    assert {"calipers.backends", "torch"} <= {p["name"] for p in json.loads(out_all)}


def test_disabled_external_plugins_are_hidden_and_noted(capsys, monkeypatch, fake_plugins):
    monkeypatch.setenv(plugins.DISABLE_ENV, "1")
    plugins.reload()
    code, out, err = run_main(capsys, "plugins")
    assert code == 0
    assert out.startswith("No external plugins installed")
    assert "2 external plugin(s) skipped because CALIPERS_DISABLE_PLUGINS is set" in err
    assert "fakebroken, fakegood" in err
    _, out_json, _ = run_main(capsys, "plugins", "--json")
    assert json.loads(out_json) == []


def test_incompatible_plugin_shows_the_version_it_needs(capsys, monkeypatch, tmp_path):
    info = tmp_path / "calipers_later-2.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: calipers-later\nVersion: 2.0\n"
        "Requires-Dist: calipers>=99\nRequires-Dist: calipers<0; extra == 'old'\n"
    )
    (info / "entry_points.txt").write_text("[calipers]\nlater = calipers_later\n")
    (tmp_path / "calipers_later.py").write_text("raise AssertionError('imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.reload()
    reason = (
        f"needs calipers>=99 (from its requirement 'calipers>=99'), this is calipers "
        f"{calipers.__version__}: pip install -U calipers"
    )
    code, out, err = run_main(capsys, "plugins")
    assert code == 0 and err == ""  # reported in the table, not warned about as well
    line = row(out, "later")
    assert "calipers-later" in line and " 2.0 " in line
    assert line.split()[3] == "-"  # provides nothing
    assert line.endswith(f"  incompatible: {reason}")
    _, out_json, _ = run_main(capsys, "plugins", "--json")
    [listed] = json.loads(out_json)
    assert (listed["status"], listed["reason"], listed["provides"]) == (
        "incompatible", reason, {}
    )
    assert "calipers_later" not in sys.modules
    code, help_text, _ = run_main(capsys, "plugins", "--help")
    assert code == 0 and "incompatible" in " ".join(help_text.split())


def test_version_help_and_no_command(capsys):
    code, out, _ = run_main(capsys, "--version")
    assert code == 0 and out.strip() == f"calipers {calipers.__version__}"
    code, out, _ = run_main(capsys, "--help")
    assert code == 0 and "plugins" in out
    code, _, err = run_main(capsys)
    assert code == 2 and "usage: calipers" in err
    code, _, err = run_main(capsys, "plugins", "--bogus")
    assert code == 2 and "unrecognized arguments: --bogus" in err


def test_a_failing_subcommand_module_does_not_take_plugins_down(capsys, monkeypatch, tmp_path):
    (tmp_path / "calipers_cli_exploding.py").write_text("raise RuntimeError('half-written')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli_main.SUBCOMMANDS, "explode", "calipers_cli_exploding")
    monkeypatch.setitem(cli_main.SUBCOMMANDS, "absent", "calipers_cli_not_there")
    assert run_main(capsys, "plugins")[0] == 0
    code, _, err = run_main(capsys, "explode")
    assert code == 1
    assert "calipers explode is unavailable in this install: RuntimeError: half-written" in err
    code, _, err = run_main(capsys, "absent")  # a module not shipped: no such command
    assert code == 2 and "invalid choice: 'absent'" in err


def test_module_entry_point_in_a_subprocess(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(FIXTURES / "good_and_broken")}
    env.pop(plugins.DISABLE_ENV, None)
    result = subprocess.run(
        [sys.executable, "-m", "calipers.cli.main", "plugins", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    statuses = {p["name"]: p["status"] for p in json.loads(result.stdout)}
    assert statuses == {"fakebroken": "broken", "fakegood": "ok"}


# -- a third-party plugin really installed with pip --------------------------------------

PLUGIN_PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "calipers-exact-match"
version = "0.4.2"
dependencies = []

[project.entry-points.calipers]
exactmatch = "calipers_exact_match"

[tool.setuptools]
packages = ["calipers_exact_match"]
"""

PLUGIN_MODULE = """\
import numpy as np

import calipers
from calipers.metrics import Metric


class ExactMatch(Metric):
    name = "exact_match_ratio"

    def __init__(self):
        super().__init__()
        self.reset()

    def update(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
        self.hits += int((y_true == y_pred).sum())
        self.total += y_true.size

    def compute(self):
        return self.hits / self.total

    def reset(self):
        self.hits = self.total = 0

    def _merge_state(self, other):
        self.hits += other.hits
        self.total += other.total

    def state_dict(self):
        return {"hits": self.hits, "total": self.total}

    def load_state_dict(self, state):
        self.hits, self.total = state["hits"], state["total"]


@calipers.hookimpl
def register_metric():
    return [ExactMatch]
"""

USE_IT = """\
from calipers import plugins

cls = plugins.get("metric", "exact_match_ratio")
a, b = cls(), cls()
a.update([1, 2, 3], [1, 0, 3])
b.update([4], [4])
print(type(a).__module__, a.merge(b).compute())
"""


def test_third_party_plugin_installed_with_pip(tmp_path):
    pip = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True)
    if pip.returncode != 0:
        pytest.skip("pip is not available in this interpreter")
    package = tmp_path / "src"
    (package / "calipers_exact_match").mkdir(parents=True)
    (package / "pyproject.toml").write_text(PLUGIN_PYPROJECT)
    (package / "calipers_exact_match" / "__init__.py").write_text(PLUGIN_MODULE)
    site = tmp_path / "site"
    install = subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
            "--no-index", "--disable-pip-version-check", "--target", str(site), str(package),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    assert (site / "calipers_exact_match-0.4.2.dist-info" / "entry_points.txt").is_file()

    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop(plugins.DISABLE_ENV, None)
    script = Path(sys.executable).with_name("calipers")  # the console script, if installed
    command = [str(script)] if script.exists() else [sys.executable, "-m", "calipers.cli.main"]
    listing = subprocess.run(
        [*command, "plugins", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert listing.returncode == 0, listing.stderr
    assert json.loads(listing.stdout) == [
        {
            "name": "exactmatch",
            "dist": "calipers-exact-match",
            "version": "0.4.2",
            "builtin": False,
            "status": "ok",
            "reason": None,
            "provides": {"metric": ["exact_match_ratio"]},
        }
    ]

    used = subprocess.run(
        [sys.executable, "-c", USE_IT],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert used.returncode == 0, used.stderr
    assert used.stdout.split() == ["calipers_exact_match", "0.75"]

    table = subprocess.run(
        [*command, "plugins"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert "exactmatch  calipers-exact-match  0.4.2" in table.stdout
    assert table.stdout.rstrip().endswith("metric: exact_match_ratio  ok")
    hidden = subprocess.run(
        [*command, "plugins", "--json"],
        capture_output=True,
        text=True,
        env={**env, plugins.DISABLE_ENV: "1"},
        cwd=tmp_path,
        timeout=120,
    )
    assert json.loads(hidden.stdout) == []
