"""Template of a metric plugin: a declared-state Metric and its tests."""

from __future__ import annotations

SUMMARY = "a streaming metric with declared state, the weighted mean absolute error"

#: Other names the tests import from the plugin's module.
HELPERS: tuple[str, ...] = ()

USAGE = """\
import calipers

m = calipers.metric("$name")
m.update([0, 1, 1], [0.2, 0.9, 0.4])   # y_true, y_pred (or scores)
m.update([1], [1.0], sample_weight=[2.0])
m.compute()                            # (0.2 + 0.1 + 0.6 + 0) / 5 = 0.18

# On a predictions file, `calipers eval` gives plugin metrics the score column:
#   calipers eval preds.csv --y-true label --y-score score --metrics $name"""

MODULE = '''\
"""$dist: a calipers plugin providing the metric ``$name``.

The example metric is the (weighted) mean absolute error between ``y_true`` and
``y_pred``: replace :meth:`$cls.update` and :meth:`$cls.compute` with your own.
Its state is declared with ``add_state``, so calipers derives ``reset``, ``merge``,
``state_dict`` / ``load_state_dict``, pickling, dask partitions, bootstrap and
``torch.distributed`` sync from it, and rolls the state back when ``update`` raises.
"""

from __future__ import annotations

from typing import Any

import calipers
import numpy as np
from calipers.metrics import Metric

__all__ = ["$cls", "$hook"]
__version__ = "0.1.0"


class $cls(Metric):
    """Weighted mean absolute error, streamed batch by batch.

    ``compute()`` is ``sum(w * |y_true - y_pred|) / sum(w)`` over every batch seen
    (``w`` = 1 without ``sample_weight``), ``nan`` before any sample.

    Examples
    --------
    >>> import calipers
    >>> m = calipers.metric("$name")
    >>> m.update([0, 1, 1], [0.5, 1.0, 0.0])
    >>> m.compute()
    0.5
    """

    name = "$name"
    # What `calipers eval` passes as the second argument of update: the score column
    # ("labels", the default, would pass the predicted labels).
    inputs = "scores"

    def __init__(self) -> None:
        super().__init__()
        # Sums merge exactly: the state of two halves adds up to the whole's.
        self.add_state("abs_error", 0.0, merge="sum")
        self.add_state("weight", 0.0, merge="sum")

    def update(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Add a batch of targets and predictions (or scores), optionally weighted.

        Raises
        ------
        ValueError
            If the arrays differ in length, hold non-finite values, or a weight is
            negative. The state is then left unchanged.
        """
        t = _as_1d(y_true, "y_true")
        p = _as_1d(y_pred, "y_pred")
        if t.shape != p.shape:
            raise ValueError(
                f"y_true and y_pred must have the same length, got {t.size} and {p.size}"
            )
        if sample_weight is None:
            w = np.ones_like(t)
        else:
            w = _as_1d(sample_weight, "sample_weight")
            if w.shape != t.shape:
                raise ValueError(
                    f"sample_weight must have one weight per sample ({t.size}), got {w.size}"
                )
            if np.any(w < 0):
                raise ValueError("sample_weight must be non-negative")
        self.abs_error += float(np.dot(w, np.abs(t - p)))
        self.weight += float(w.sum())

    def compute(self) -> float:
        """The weighted mean absolute error so far (``nan`` before any sample)."""
        return self.abs_error / self.weight if self.weight else float("nan")


def _as_1d(x: Any, what: str) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be numbers, got {x!r:.80}") from None
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{what} must be finite, got nan or inf")
    return a


@calipers.hookimpl
def $hook() -> list[type]:
    """The metrics this plugin provides (calipers calls it once, when it loads plugins)."""
    return [$cls]
'''

TESTS = '''\
"""Tests of the ``$name`` metric: calipers' conformance checks and direct use."""

from __future__ import annotations

import pickle

import calipers
import numpy as np
import pytest
from calipers.testing import check_metric, parametrize_with_checks

from $module import $cls


# One test per conformance rule (exact merges over random splits, pickling,
# state_dict round trips, rollback of a failed update, ...), each named by its rule.
@parametrize_with_checks([$cls()])
def test_conformance(obj, check):
    check()


def test_check_metric_runs_every_rule():
    check_metric($cls())


def test_found_by_name_after_plugin_discovery():
    m = calipers.metric("$name")
    assert type(m).__name__ == "$cls" and type(m).__module__ == "$module"
    m.update([0, 1, 1], [0.5, 1.0, 0.0])
    assert m.compute() == pytest.approx(0.5)


def test_weights_merge_and_pickle():
    a, b, whole = $cls(), $cls(), $cls()
    a.update([0.0, 1.0], [1.0, 1.0], sample_weight=[1.0, 3.0])
    b.update([2.0], [0.0], sample_weight=[4.0])
    whole.update([0.0, 1.0, 2.0], [1.0, 1.0, 0.0], sample_weight=[1.0, 3.0, 4.0])
    assert a.merge(b).compute() == pytest.approx(whole.compute()) == pytest.approx(9 / 8)
    assert pickle.loads(pickle.dumps(a)).compute() == pytest.approx(9 / 8)
    a.reset()
    assert np.isnan(a.compute())


def test_bad_input_raises_and_keeps_the_state():
    m = $cls()
    m.update([1.0], [0.0])
    with pytest.raises(ValueError, match="same length"):
        m.update([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="non-negative"):
        m.update([1.0], [1.0], sample_weight=[-1.0])
    with pytest.raises(ValueError, match="finite"):
        m.update([np.nan], [1.0])
    assert m.compute() == 1.0
'''
