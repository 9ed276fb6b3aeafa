"""Declared metric state (``Metric.add_state``) and the plain form (own reset/merge).

The metrics come from ``tests/_declared_metrics.py``, written as a plugin author would.
"""

from __future__ import annotations

import copy
import inspect
import pickle
import threading

import numpy as np
import pytest
from _declared_metrics import PlainPositiveRate, PositiveRate, ScoreStats

from calipers._registry import validate_result
from calipers.metrics import Metric, bootstrap


def _batches(seed, n=200, parts=5):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 2, n)
    s = rng.random(n)
    cuts = np.sort(rng.integers(0, n + 1, parts - 1))
    return t, s, np.split(np.arange(n), cuts)


def _same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_positive_rate_is_at_most_15_lines():
    assert len(inspect.getsource(PositiveRate).rstrip().splitlines()) <= 15


def test_declared_metric_gets_merge_state_dict_pickle_copy_for_free():
    t, s, parts = _batches(0)
    whole = ScoreStats()
    whole.update(t, s)
    pieces = []
    for idx in parts:
        m = ScoreStats()
        m.update(t[idx], s[idx])
        pieces.append(m)
    merged = pieces[0].merge(*pieces[1:])
    _same(merged.compute(), whole.compute())
    # reset
    merged.reset()
    assert merged.hist.sum() == 0 and merged.scores == [] and merged.high == -np.inf
    # state_dict round trip into a fresh metric, as a copy
    sd = whole.state_dict()
    assert sd["name"] == "score_stats" and set(sd["state"]) == {"hist", "high", "low",
                                                                "scores", "labels"}
    other = ScoreStats()
    other.load_state_dict(sd)
    _same(other.compute(), whole.compute())
    sd["state"]["hist"][0, 0] += 100  # the loaded state is private
    _same(other.compute(), whole.compute())
    # pickle, deepcopy, empty_clone
    _same(pickle.loads(pickle.dumps(whole)).compute(), whole.compute())
    _same(copy.deepcopy(whole).compute(), whole.compute())
    clone = whole.empty_clone()
    assert clone.bins == whole.bins and clone.hist.sum() == 0 and clone.scores == []
    assert whole.hist.sum() == len(t)


def test_merge_rules():
    a, b = ScoreStats(), ScoreStats()
    a.update([0, 1], [0.1, 0.9])
    b.update([1], [0.95])
    b.update([], [])
    a.merge(b)
    out = a.compute()
    assert out["high"] == 0.95 and out["low"] == 0.1
    np.testing.assert_array_equal(out["labels"], [0, 1])
    assert out["median"] == 0.9
    assert out["hist"].sum() == 3
    assert len(a.scores) == 3  # cat keeps batches (the empty one too), in merge order


def test_failed_update_rolls_every_declared_state_back():
    m = ScoreStats()
    m.update([0, 1, 1], [0.2, 0.6, 0.7])
    before = m.state_dict()
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        m.update([0, 2], [0.5, 0.99])  # changes every state, then raises
    after = m.state_dict()
    assert len(after["state"]["scores"]) == len(before["state"]["scores"])
    for k in ("hist", "high", "low", "labels"):
        np.testing.assert_array_equal(after["state"][k], before["state"][k])
    with pytest.raises(ValueError, match="shape"):
        m.update([0, 1], [0.5])
    _same(m.compute(), ScoreStats().merge(_loaded(before)).compute())


def _loaded(sd):
    m = ScoreStats()
    m.load_state_dict(sd)
    return m


def test_load_state_dict_refuses_bad_states_and_changes_nothing():
    m = ScoreStats()
    m.update([0, 1], [0.3, 0.8])
    good = m.state_dict()
    bad_shape = copy.deepcopy(good)
    bad_shape["state"]["hist"] = np.zeros((3, 4), dtype=np.int64)
    missing = copy.deepcopy(good)
    del missing["state"]["low"]
    other = copy.deepcopy(good)
    other["name"] = "f1"
    for bad, match in ((bad_shape, "shape"), (missing, "exactly"), (other, "not 'score_stats'")):
        with pytest.raises(ValueError, match=match):
            m.load_state_dict(bad)
        _same(m.compute(), _loaded(good).compute())


def test_merge_checks_options_and_shapes():
    with pytest.raises(ValueError, match="shapes"):
        ScoreStats(bins=4).merge(ScoreStats(bins=5))
    with pytest.raises(TypeError, match="cannot merge"):
        ScoreStats().merge(PositiveRate())


@pytest.mark.parametrize(("name", "default", "merge", "match"), [
    ("_hidden", 0, "sum", "identifier"),
    ("class", 0, "sum", "identifier"),
    ("update", 0, "sum", "already an attribute"),
    ("x", 0, "mean", "merge must be one of"),
    ("x", [np.zeros(1)], "cat", "default must be"),
    ("x", np.array(["a"]), "sum", "numeric"),
    ("x", "text", "sum", "default must be a number"),
])
def test_add_state_validates(name, default, merge, match):
    m = PositiveRate()
    with pytest.raises(ValueError, match=match):
        m.add_state(name, default, merge=merge)


def test_add_state_twice_is_an_error():
    m = PositiveRate()
    with pytest.raises(ValueError, match="declared twice"):
        m.add_state("total", 0)


def test_plain_form_merges_and_says_what_needs_a_declared_state():
    a, b = PlainPositiveRate(), PlainPositiveRate()
    a.update([0, 1], [1, 1])
    b.update([1], [0])
    assert a.merge(b).compute() == pytest.approx(2 / 3)
    assert pickle.loads(pickle.dumps(a)).compute() == pytest.approx(2 / 3)
    assert a.empty_clone().total == 0 and a.total == 3
    for call in (a.state_dict, lambda: a.load_state_dict({})):
        with pytest.raises(TypeError, match=r"declares no state.*self\.add_state"):
            call()


def test_undeclared_metric_without_reset_or_merge_names_the_fix():
    class Bare(Metric):
        name = "bare"

        def update(self, y_true, y_pred, sample_weight=None):
            self.n = getattr(self, "n", 0) + len(y_true)

        def compute(self):
            return self.n

    for call in (Bare().reset, lambda: Bare().merge(Bare())):
        with pytest.raises(TypeError, match=r"Bare declares no state.*add_state.*override"):
            call()


def test_host_accepts_both_documented_forms():
    pairs = validate_result("metric", [PositiveRate, ScoreStats, PlainPositiveRate])
    assert [n for n, _ in pairs] == ["positive_rate", "score_stats", "plain_positive_rate"]


def test_concurrent_merges_are_exact():
    t, s, _ = _batches(1, n=1600)
    target = PositiveRate()
    parts = []
    for i in range(16):
        m = PositiveRate()
        m.update(t[i * 100:(i + 1) * 100], (s[i * 100:(i + 1) * 100] > 0.5).astype(int))
        parts.append(m)
    threads = [threading.Thread(target=target.merge, args=(p,)) for p in parts]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert (target.positives, target.total) == (int((s > 0.5).sum()), 1600)


def test_bootstrap_of_a_declared_metric():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    res = bootstrap(PositiveRate(), y, y, n=200, seed=5)
    assert res.method == "index"
    assert res.value == pytest.approx(y.mean())
    assert res.low < res.value < res.high
    again = bootstrap(PositiveRate(), y, y, n=200, seed=5)
    np.testing.assert_array_equal(res.replicates, again.replicates)


def test_dask_partitions_give_the_in_memory_numbers():
    da = pytest.importorskip("dask.array")
    import dask

    t, s, _ = _batches(4, n=500)
    with dask.config.set(scheduler="synchronous"):
        for cls in (ScoreStats, PositiveRate, PlainPositiveRate):
            y_pred = s if cls is ScoreStats else (s > 0.5).astype(np.int64)
            m, ref = cls(), cls()
            ref.update(t, y_pred)
            m.update(da.from_array(t, chunks=97), da.from_array(y_pred, chunks=97))
            got, want = m.compute(), ref.compute()
            if isinstance(want, dict):
                got["median"], want["median"] = [got["median"]], [want["median"]]
                _same(got, want)
            else:
                assert got == pytest.approx(want, rel=1e-15)
            # a failing partition leaves the metric unchanged
            bad_t = t.copy()
            bad_t[-1] = 7 if cls is ScoreStats else bad_t[-1]
            bad_p = y_pred.astype(np.float64)
            bad_p[-1] = np.nan if cls is PlainPositiveRate else bad_p[-1]
            if cls is PositiveRate:
                continue  # accepts any input: nothing to refuse
            before = m.compute()
            with pytest.raises(ValueError):
                m.update(da.from_array(bad_t, chunks=97), da.from_array(bad_p, chunks=97))
            after = m.compute()
            if isinstance(before, dict):
                before["median"], after["median"] = [before["median"]], [after["median"]]
                _same(after, before)
            else:
                assert after == before
