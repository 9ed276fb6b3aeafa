"""``import calipers`` stays light, and so does loading the first-party plugins."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import pytest

import calipers

# Libraries only plugins and optional features may import.
HEAVY = ("torch", "tensorflow", "onnxruntime", "sklearn", "dask", "pyarrow", "pandas", "scipy")
BUDGET_S = 0.3


def run_python(code: str, tmp_path, **extra_env: str) -> dict:
    """Run ``code`` in a fresh interpreter (outside the repo); return its JSON output."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CALIPERS_DISABLE_PLUGINS")
    }
    env.update(extra_env)
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


IMPORT_PROBE = f"""
import json, sys, time
start = time.perf_counter()
import calipers
seconds = time.perf_counter() - start
print(json.dumps({{"seconds": seconds, "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""


def test_import_calipers_imports_no_heavy_library_and_is_fast(tmp_path):
    runs = [run_python(IMPORT_PROBE, tmp_path) for _ in range(3)]
    assert [r["heavy"] for r in runs] == [[], [], []]
    best = min(r["seconds"] for r in runs)
    assert best < BUDGET_S, f"import calipers took {best:.3f} s (best of 3), budget {BUDGET_S} s"


LOAD_PROBE = """
import json, sys
from calipers import plugins
infos = {p.name: p.status for p in plugins.list_plugins(all=True)}
heavy = [m for m in ("torch", "tensorflow", "onnxruntime", "sklearn") if m in sys.modules]
print(json.dumps({"infos": infos, "heavy": heavy}))
"""


def test_loading_all_plugins_imports_no_framework(tmp_path):
    """First-party plugins' entry points exist with or without their extras, so their
    modules must import cheaply and defer the framework to use time."""
    report = run_python(LOAD_PROBE, tmp_path)
    assert report["heavy"] == []
    assert report["infos"]["torch"] in ("ok", "unavailable")
    assert report["infos"]["calipers.backends"] == "ok"


NO_TORCH_PROBE = """
import json, sys
import numpy as np
sys.modules["torch"] = None  # as if torch were not installed
import calipers_torch
from calipers import plugins
torch_info = [p for p in plugins.list_plugins(all=True) if p.name == "torch"][0]
print(json.dumps({
    "accepts_numpy": calipers_torch.TorchBackend.accepts(np.zeros(2)),
    "status": torch_info.status,
    "reason": torch_info.reason,
}))
"""


def test_torch_plugin_imports_and_reports_unavailable_without_torch(tmp_path):
    report = run_python(NO_TORCH_PROBE, tmp_path)
    assert report["accepts_numpy"] is False
    assert report["status"] == "unavailable"
    assert report["reason"].endswith("pip install 'calipers[torch]'")


@pytest.mark.parametrize("name", ["plugins", "backends", "search", "export", "errors"])
def test_submodules_are_lazy_attributes(name):
    assert getattr(calipers, name) is importlib.import_module(f"calipers.{name}")
