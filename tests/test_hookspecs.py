"""The hook contract: every hook is documented in a fixed order and has a real test.

Like datasette's ``test_plugin_hooks_have_tests`` / ``..._are_documented``: adding a
hook to :mod:`calipers.hookspecs` without a docstring in the required form, a
``test_hook_<name>`` in ``tests/test_plugins.py`` and an implementation in the fake
plugin those tests load makes this file fail. The callables each docstring says the
host checks must be exactly the registry's list (``calipers._registry.REQUIRED``);
``tests/test_hookspec_examples.py`` installs and runs each docstring's example.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

import calipers
from calipers import hookspecs
from calipers._registry import KINDS, REQUIRED

TESTS = Path(__file__).parent
FAKE_PLUGIN = TESTS / "fixtures" / "plugins" / "good_and_broken" / "calipers_fakegood.py"

HOOKS = sorted(
    name
    for name, obj in vars(hookspecs).items()
    if inspect.isfunction(obj) and hasattr(obj, "calipers_spec")
)

# Sections every hook docstring has, in this order (pytest's hookspec layout).
SECTIONS = (
    "Not ``firstresult``",
    "Returns\n-------",
    "Each object must have\n---------------------",
    "Examples\n--------",
    ".. versionadded::",
)


def _function_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}


def _hookimpls(path: Path) -> set[str]:
    """Functions of a plugin module decorated with ``@calipers.hookimpl``."""
    tree = ast.parse(path.read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and any(ast.unparse(d).startswith("calipers.hookimpl") for d in node.decorator_list)
    }


def test_the_four_hooks_are_the_registry_kinds():
    assert HOOKS == sorted(KINDS.values())
    assert HOOKS == [
        "register_backend",
        "register_exporter",
        "register_metric",
        "register_searcher",
    ]


def test_hookspec_and_hookimpl_markers_share_the_project_name():
    assert hookspecs.hookspec.project_name == calipers.hookimpl.project_name == "calipers"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_takes_no_arguments_and_collects_all_results(hook):
    spec = getattr(hookspecs, hook)
    assert inspect.signature(spec).parameters == {}
    opts = spec.calipers_spec
    assert not opts.get("firstresult") and not opts.get("historic")


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented_in_order(hook):
    doc = inspect.getdoc(getattr(hookspecs, hook))
    assert doc, f"{hook} has no docstring"
    summary = doc.splitlines()[0]
    assert summary.endswith(".") and len(summary) <= 88, f"{hook}: one-line summary first"
    positions = []
    for section in SECTIONS:
        assert section in doc, f"{hook}'s docstring lacks the section {section!r}"
        positions.append(doc.index(section))
    assert positions == sorted(positions), f"{hook}: sections out of order {SECTIONS}"
    assert positions[0] > len(summary), f"{hook}: summary must come first"


def _host_checks(hook: str) -> str:
    """The paragraph of ``hook``'s docs that lists what the host checks at load."""
    doc = inspect.getdoc(getattr(hookspecs, hook))
    must = doc[doc.index("Each object must have") : doc.index("Examples\n--------")]
    assert "What the host checks when the plugin loads:" in must, hook
    checks = must[must.index("What the host checks") :]
    return checks.split("\n\n")[1]  # the bullet list after the lead-in line


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_documents_what_the_host_validates(hook):
    """What the registry checks (``name`` and the required callables) is in the docs,
    and the list of callables is exactly the registry's: one list, written once."""
    kind = next(k for k, h in KINDS.items() if h == hook)
    checks = _host_checks(hook)
    assert checks.startswith("- ``name``: a non-empty string without surrounding whitespace")
    [callables] = [item for item in checks.split("\n- ") if item.startswith("callable ")]
    documented = re.findall(r"``(\w+)", callables)
    assert sorted(documented) == sorted(REQUIRED[kind]), (
        f"{hook}: the docs say the host checks callables {documented}, the registry checks "
        f"{list(REQUIRED[kind])}"
    )
    assert "no abstract methods left" in checks, hook


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_test_with_a_real_plugin(hook):
    tests = _function_names(TESTS / "test_plugins.py")
    assert f"test_hook_{hook}" in tests, f"tests/test_plugins.py has no test_hook_{hook}"
    assert hook in _hookimpls(FAKE_PLUGIN), f"the fake plugin does not implement {hook}"
