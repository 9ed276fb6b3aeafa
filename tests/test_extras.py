"""Optional-dependency helpers: cheap availability checks and pip-naming errors."""

from __future__ import annotations

import pytest

from calipers._extras import available, require
from calipers.errors import MissingExtraError


def test_available_does_not_import():
    import sys

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


@pytest.mark.skipif(available("onnxruntime"), reason="onnxruntime is installed")
def test_known_modules_map_to_their_extra():
    with pytest.raises(MissingExtraError, match=r"calipers\[onnx\]"):
        require("onnxruntime")
