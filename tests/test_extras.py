"""Optional-dependency helpers: cheap availability checks and pip-naming errors."""

from __future__ import annotations

import re
import sys

import pytest

from calipers._extras import EXTRAS, available, require
from calipers.errors import MissingExtraError


def test_available_does_not_import():
    assert available("json")
    assert not available("calipers_no_such_module")
    assert "calipers_no_such_module" not in sys.modules


def test_require_returns_the_module():
    import json

    assert require("json") is json


def test_missing_extra_names_the_pip_command():
    with pytest.raises(MissingExtraError) as info:
        require("calipers_no_such_module", feature="the frobnicator", extra="frob")
    assert str(info.value) == (
        "the frobnicator requires calipers_no_such_module: pip install 'calipers[frob]'"
    )
    assert isinstance(info.value, ImportError)
    assert info.value.pip_command == "pip install 'calipers[frob]'"


@pytest.mark.parametrize(("module", "extra"), sorted(EXTRAS.items()))
def test_known_modules_map_to_their_extra(monkeypatch, module, extra):
    # A None entry in sys.modules makes the import fail as if the module were absent,
    # whether or not it is installed here.
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingExtraError, match=re.escape(f"calipers[{extra}]")):
        require(module)
