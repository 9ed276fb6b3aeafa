"""Template of a backend plugin: a Backend for a tiny array type, and its tests."""

from __future__ import annotations

SUMMARY = "a backend for `ListArray`, a tiny array type defined by the plugin itself"

#: Other names the tests import from the plugin's module.
HELPERS: tuple[str, ...] = ("ListArray",)

USAGE = """\
import calipers
from $module import ListArray

m = calipers.metric("accuracy")
m.update(ListArray([0, 1, 1, 0]), ListArray([0, 1, 0, 0]))  # found through the backend
m.compute()                                                  # 0.75"""

MODULE = '''\
"""$dist: a calipers plugin providing the array backend ``$name``.

Every calipers metric accepts arrays of any type a backend claims. The example
backend claims :class:`ListArray`, a tiny array type defined here (a stand-in for
your library's array), and hands metrics its values as a numpy array. Replace
:class:`ListArray` with your array type: ``accepts`` must stay cheap and must not
import your library when it is not imported yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import calipers
import numpy as np
from calipers.backends import Backend

__all__ = ["$cls", "ListArray", "$hook"]
__version__ = "0.1.0"


class ListArray:
    """A minimal array type: values kept in (nested) Python lists.

    It deliberately has no ``__array__``: numpy does not know it, only the backend
    does. ``shape`` and ``dtype`` are what a real array library would have.

    Parameters
    ----------
    values : sequence or nested sequences
        The values, e.g. ``[0, 1, 1]`` or ``[[0.1, 0.9], [0.8, 0.2]]``.
    dtype : numpy dtype, optional
        Their dtype (default: numpy's choice for ``values``).
    """

    def __init__(self, values: Sequence[Any], dtype: Any = None) -> None:
        data = np.asarray(values, dtype=dtype)
        if data.dtype == object:
            raise TypeError("ListArray holds numbers, booleans or strings, not objects")
        self.values: Any = data.tolist()
        self.shape: tuple[int, ...] = data.shape
        self.dtype = data.dtype

    @classmethod
    def from_numpy(cls, array: np.ndarray) -> ListArray:
        """Build a ListArray holding ``array``'s values and dtype."""
        array = np.asarray(array)
        return cls(array.tolist(), dtype=array.dtype)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d ListArray")
        return self.shape[0]

    def __repr__(self) -> str:
        return f"ListArray({self.values!r}, dtype={self.dtype.name!r})"


class $cls(Backend):
    """Hands :class:`ListArray` values to calipers metrics as numpy arrays."""

    name = "$name"

    @classmethod
    def accepts(cls, x: Any) -> bool:
        """Whether ``x`` is a :class:`ListArray` (runs on every metric update: cheap)."""
        return isinstance(x, ListArray)

    @classmethod
    def to_numpy(cls, x: Any) -> np.ndarray:
        """``x``'s values as a new numpy array of its dtype and shape."""
        return np.asarray(x.values, dtype=x.dtype).reshape(x.shape)


@calipers.hookimpl
def $hook() -> list[type]:
    """The backends this plugin provides (calipers calls it once, when it loads plugins)."""
    return [$cls]
'''

TESTS = '''\
"""Tests of the ``$name`` backend: calipers' conformance checks and direct use."""

from __future__ import annotations

import calipers
import numpy as np
import pytest
from calipers.backends import backend_for
from calipers.testing import Case, check_backend, parametrize_with_checks

from $module import $imports


# One test per conformance rule (numpy round trips, metric updates with the
# backend's arrays give numpy's numbers...), each named by its rule.
@parametrize_with_checks([Case("backend", $cls, from_numpy=ListArray.from_numpy)])
def test_conformance(obj, check):
    check()


def test_check_backend_runs_every_rule():
    check_backend($cls, ListArray.from_numpy)


def test_claims_its_arrays_only():
    assert backend_for(ListArray([1, 2, 3])) is $cls
    assert backend_for(np.zeros(3)) is not $cls
    assert "$name" in calipers.plugins.names("backend")


def test_round_trip_keeps_values_dtype_and_shape():
    for array in (np.array([0.5, -1.0]), np.arange(6, dtype=np.int32).reshape(2, 3)):
        back = $cls.to_numpy(ListArray.from_numpy(array))
        assert back.dtype == array.dtype and back.shape == array.shape
        np.testing.assert_array_equal(back, array)


def test_a_metric_updated_with_list_arrays():
    y_true, y_pred = [0, 1, 1, 0, 1], [0, 1, 0, 0, 1]
    m = calipers.metric("accuracy")
    m.update(ListArray(y_true), ListArray(y_pred))
    reference = calipers.metric("accuracy")
    reference.update(np.array(y_true), np.array(y_pred))
    assert m.compute() == pytest.approx(reference.compute()) == pytest.approx(0.8)
'''
