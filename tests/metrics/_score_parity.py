"""Shared comparison of a calipers score drop-in with scikit-learn's (test helper).

Same outcome means: the same value (to ``rtol`` for floats; tuples of arrays with the
same shapes and dtypes), the same warnings (category name and text, in order;
numpy's RuntimeWarnings aside), or, when scikit-learn raises, an exception of the
same class or a ``ValueError`` (calipers refuses some inputs with a clearer
``ValueError`` where scikit-learn fails with another error).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from calipers.metrics import _functional as F

IGNORED_WARNINGS = ("RuntimeWarning", "DeprecationWarning")


def run(func: Any, args: tuple, kwargs: dict, ignored: tuple[str, ...] = IGNORED_WARNINGS
        ) -> tuple[str, Any, list[tuple[str, str]]]:
    """``("value", result, warnings)`` or ``("error", exception, warnings)`` of a call;
    warnings as (category name, text), those of the ``ignored`` categories left out."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            outcome = ("value", func(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - any exception is compared
            outcome = ("error", exc)
    seen = [(w.category.__name__, str(w.message)) for w in caught
            if w.category.__name__ not in ignored]
    return (*outcome, seen)


def assert_same_value(expected: Any, actual: Any, where: str, rtol: float) -> None:
    if isinstance(expected, tuple):
        assert isinstance(actual, tuple) and len(actual) == len(expected), where
        for e, a in zip(expected, actual, strict=True):
            assert_same_value(e, a, where, rtol)
        return
    if isinstance(expected, np.ndarray):
        assert isinstance(actual, np.ndarray), (where, type(actual))
        assert actual.shape == expected.shape, (where, actual.shape, expected.shape)
        assert actual.dtype == expected.dtype, (where, actual.dtype, expected.dtype)
        if expected.dtype.kind in "fc":
            np.testing.assert_allclose(actual, expected, rtol=rtol, atol=0, err_msg=where)
        else:
            np.testing.assert_array_equal(actual, expected, err_msg=where)
        return
    assert isinstance(actual, (float, int, np.floating, np.integer)), (where, type(actual))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=0, err_msg=where)


def assert_parity(name: str, *args: Any, rtol: float = 1e-12, **kwargs: Any) -> Any:
    """Run ``name`` from sklearn.metrics and calipers; require the same outcome.

    Returns calipers' value, or its exception.
    """
    import sklearn.metrics

    kind, expected, expected_warnings = run(getattr(sklearn.metrics, name), args, kwargs)
    got_kind, actual, actual_warnings = run(getattr(F, name), args, kwargs)
    where = f"{name}(args={args!r}, kwargs={kwargs!r})"
    if kind == "error":
        assert got_kind == "error", f"{where}: sklearn raised {expected!r}, calipers returned " \
            f"{actual!r}"
        assert isinstance(actual, (type(expected), ValueError)), (where, expected, actual)
        return actual
    assert got_kind == "value", f"{where}: sklearn returned {expected!r}, calipers raised " \
        f"{actual!r}"
    assert_same_value(expected, actual, where, rtol)
    assert actual_warnings == expected_warnings, (where, expected_warnings, actual_warnings)
    return actual
