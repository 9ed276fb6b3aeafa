"""Fixtures shared by the test modules."""

from __future__ import annotations

import pytest

from calipers import plugins


@pytest.fixture
def fresh_host(monkeypatch):
    """Plugins unloaded and the disable switch unset, before and after the test."""
    monkeypatch.delenv(plugins.DISABLE_ENV, raising=False)
    plugins.reload()
    yield
    plugins.reload()
