"""The compiled module list in setup.py matches the sources and what calipers imports."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import calipers._core

ROOT = Path(__file__).resolve().parents[1]


def _setup_modules() -> list[str]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "CORE_MODULES" for t in node.targets
        ):
            return list(ast.literal_eval(node.value))
    raise AssertionError("setup.py defines no CORE_MODULES")


def test_setup_lists_every_pyx_and_nothing_else():
    sources = sorted(p.stem for p in (ROOT / "src" / "_core").glob("*.pyx"))
    assert sorted(_setup_modules()) == sources


def test_every_pxi_is_included_by_one_listed_module():
    # .pxi files are parts of a module (textual includes), not modules of their own
    core = ROOT / "src" / "_core"
    included = [
        name
        for mod in _setup_modules()
        for name in re.findall(r'^include "([^"]+)"', (core / f"{mod}.pyx").read_text(), re.M)
    ]
    assert sorted(included) == sorted(p.name for p in core.glob("*.pxi"))


def test_package_imports_the_same_modules():
    assert sorted(calipers._core.MODULES) == sorted(_setup_modules())
    for name in calipers._core.MODULES:
        importlib.import_module(f"calipers._core.{name}")


def test_core_reports_its_threading():
    from calipers._core import _confusion

    assert _confusion.max_threads() >= 1
    assert isinstance(_confusion.openmp_enabled(), bool)
