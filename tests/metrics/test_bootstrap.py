"""Bootstrap confidence intervals: the core's samplers, the three paths, the intervals."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import calipers
from calipers._core import _bootstrap as core
from calipers.metrics import F1, Accuracy, Metric, UndefinedMetricWarning
from calipers.metrics._bootstrap import BootstrapResult, bootstrap

stats = pytest.importorskip("scipy.stats")


# -- helpers ---------------------------------------------------------------------------


class IndexF1(F1):
    """F1 whose update is overridden: bootstrap must take the generic index path."""

    name = "index_f1"

    def update(self, y_true, y_pred, sample_weight=None):
        super().update(y_true, y_pred, sample_weight)


class IndexAccuracy(Accuracy):
    name = "index_accuracy"

    def update(self, y_true, y_pred, sample_weight=None):
        super().update(y_true, y_pred, sample_weight)


class MeanError(Metric):
    """A plugin-style metric: mean of (y_pred - y_true), optionally per-sample offsets."""

    name = "mean_error"

    def __init__(self):
        super().__init__()
        self.reset()

    def update(self, y_true, y_pred, sample_weight=None, *, offset=None, scale=1.0):
        d = (np.asarray(y_pred, float) - np.asarray(y_true, float)) * scale
        if offset is not None:
            assert len(offset) == len(d)
            d = d + np.asarray(offset, float)
        self.total += float(d.sum())
        self.count += d.size

    def compute(self):
        return self.total / self.count if self.count else float("nan")

    def reset(self):
        self.total, self.count = 0.0, 0

    def _merge_state(self, other):
        self.total += other.total
        self.count += other.count

    def state_dict(self):
        return {"total": self.total, "count": self.count}

    def load_state_dict(self, state):
        self.total, self.count = state["total"], state["count"]


class DictMetric(MeanError):
    name = "dict_metric"

    def compute(self):
        return {"a": 1.0}


def binary_data(n, acc=0.8, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.where(rng.random(n) < acc, y, 1 - y)
    return y, p


def chi2_pvalue(draws, pmf, support):
    observed = np.array([(draws == k).sum() for k in support], dtype=float)
    expected = pmf * draws.size
    keep = expected >= 5
    obs, exp = observed[keep], expected[keep]
    rest_o = draws.size - obs.sum()
    rest_e = draws.size - exp.sum()
    if rest_e >= 5:
        obs, exp = np.append(obs, rest_o), np.append(exp, rest_e)
    return stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue


# -- the core's samplers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "p"),
    [(30, 0.2), (5, 0.5), (1, 0.3), (200, 0.3), (1000, 0.02), (1000, 0.97), (10**6, 0.4)],
)
def test_binomial_sampler_matches_the_binomial_distribution(n, p):
    draws = core.binomial(n, p, 100_000, 12345)
    assert draws.min() >= 0 and draws.max() <= n
    mean, var = n * p, n * p * (1 - p)
    assert abs(draws.mean() - mean) < 5 * np.sqrt(var / draws.size) + 1e-12
    assert draws.var() == pytest.approx(var, rel=0.05)
    lo, hi = stats.binom.ppf([1e-6, 1 - 1e-6], n, p).astype(int)
    support = np.arange(lo, hi + 1)
    assert chi2_pvalue(draws, stats.binom.pmf(support, n, p), support) > 1e-4


@pytest.mark.parametrize(("n", "p", "value"), [(0, 0.5, 0), (10, 0.0, 0), (10, 1.0, 10)])
def test_binomial_sampler_degenerate_cases(n, p, value):
    assert (core.binomial(n, p, 100, 1) == value).all()


def test_multinomial_counts_are_multinomial():
    cells = np.array([5, 0, 100, 1000, 3, 0], dtype=np.int64)
    total = int(cells.sum())
    reps = core.multinomial_counts(cells, 0, 50_000, 7)
    assert reps.shape == (50_000, 6) and reps.dtype == np.int64
    assert (reps.sum(axis=1) == total).all()
    assert (reps[:, [1, 5]] == 0).all()
    share = cells / total
    np.testing.assert_allclose(reps.mean(axis=0), total * share,
                               atol=5 * np.sqrt(total * share.max() / 50_000))
    cov = np.cov(reps.T)
    expected = total * (np.diag(share) - np.outer(share, share))
    np.testing.assert_allclose(cov, expected, atol=0.05 * expected.max())


def test_replicates_depend_only_on_seed_and_number():
    cells = np.array([40, 7, 3, 50], dtype=np.int64)
    a = core.multinomial_counts(cells, 0, 100, 99)
    np.testing.assert_array_equal(a, core.multinomial_counts(cells, 0, 100, 99))
    np.testing.assert_array_equal(a[30:40], core.multinomial_counts(cells, 30, 10, 99))
    assert not np.array_equal(a, core.multinomial_counts(cells, 0, 100, 98))
    c1, s1 = core.weighted_cell_sums(np.arange(10) % 3, np.linspace(0, 1, 10), 3, 0, 20, 5)
    c2, s2 = core.weighted_cell_sums(np.arange(10) % 3, np.linspace(0, 1, 10), 3, 5, 4, 5)
    np.testing.assert_array_equal(c1[5:9], c2)
    np.testing.assert_array_equal(s1[5:9], s2)


def test_same_results_for_any_thread_count():
    code = (
        "import numpy as np, hashlib; from calipers._core import _bootstrap as b; "
        "c = b.multinomial_counts(np.arange(50, dtype=np.int64), 0, 4000, 3); "
        "k, s = b.weighted_cell_sums(np.arange(999) % 7, np.ones(999), 7, 0, 500, 3); "
        "print(hashlib.sha256(c.tobytes() + k.tobytes() + s.tobytes()).hexdigest())"
    )
    out = set()
    for threads in ("1", "2", "3"):
        env = {**os.environ, "OMP_NUM_THREADS": threads}
        res = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                             capture_output=True, text=True)
        out.add(res.stdout.strip())
    assert len(out) == 1


def test_weighted_cell_sums_use_resample_indices():
    rng = np.random.default_rng(1)
    cell_of = rng.integers(0, 5, 300)
    w = rng.random(300)
    counts, sums = core.weighted_cell_sums(cell_of, w, 5, 0, 8, 42)
    for r in range(8):
        idx = core.resample_indices(300, r, 42)
        assert idx.min() >= 0 and idx.max() < 300
        np.testing.assert_array_equal(counts[r], np.bincount(cell_of[idx], minlength=5))
        np.testing.assert_allclose(sums[r], np.bincount(cell_of[idx], w[idx], minlength=5),
                                   rtol=1e-12)


# -- the paths agree --------------------------------------------------------------------


@pytest.mark.parametrize(("fast", "slow"), [(F1(), IndexF1()), (Accuracy(), IndexAccuracy())])
def test_cell_path_and_index_path_agree_in_distribution(fast, slow):
    y, p = binary_data(500, 0.8, seed=2)
    a = bootstrap(fast, y, p, n=2000, seed=1)
    b = bootstrap(slow, y, p, n=2000, seed=2)
    assert (a.method, b.method) == ("cells", "index")
    assert a.value == b.value
    se = np.hypot(a.std, b.std) / np.sqrt(2000)
    assert abs(a.replicates.mean() - b.replicates.mean()) < 5 * se
    assert a.std == pytest.approx(b.std, rel=0.1)
    assert a.low == pytest.approx(b.low, abs=3 * a.std / 10)
    assert a.high == pytest.approx(b.high, abs=3 * a.std / 10)


def test_weighted_path_equals_the_index_path_for_the_same_seed():
    y, p = binary_data(400, 0.75, seed=3)
    w = np.random.default_rng(3).random(400)
    w[::7] = 0.0
    a = bootstrap(F1(), y, p, w, n=300, seed=11)
    b = bootstrap(IndexF1(), y, p, w, n=300, seed=11)
    assert (a.method, b.method) == ("weighted", "index")
    np.testing.assert_allclose(a.replicates, b.replicates, rtol=1e-12, atol=1e-15)
    assert a.value == pytest.approx(calipers.metrics.f1_score(y, p, sample_weight=w))


def test_multiclass_scores_and_multilabel_use_cells():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 600)
    scores = rng.random((600, 3)) + np.eye(3)[y] * 0.5
    m = calipers.metric("f1", task="multiclass", num_classes=3, average="none")
    r = bootstrap(m, y, scores, n=500, seed=3)
    assert r.method == "cells" and r.replicates.shape == (500, 3)
    assert r.low.shape == r.high.shape == r.std.shape == (3,)
    assert (r.low <= r.value).all() and (r.value <= r.high).all()
    slow = bootstrap(IndexF1("multiclass", num_classes=3, average="none"), y, scores, n=500,
                     seed=4)
    np.testing.assert_allclose(r.replicates.mean(0), slow.replicates.mean(0),
                               atol=5 * r.std.max() / np.sqrt(250))

    yl = rng.integers(0, 2, (400, 4))
    sl = rng.random((400, 4)) * 0.7 + yl * 0.3
    for avg in ("macro", "samples"):
        ml = calipers.metric("f1", task="multilabel", num_labels=4, average=avg,
                             zero_division=0)
        fast = bootstrap(ml, yl, sl, n=800, seed=5)
        assert fast.method == "cells"
        assert fast.value == pytest.approx(
            calipers.metrics.f1_score(yl, sl >= 0.5, average=avg, zero_division=0))
        slow = bootstrap(IndexF1("multilabel", num_labels=4, average=avg, zero_division=0), yl,
                         sl, n=800, seed=6)
        assert abs(fast.replicates.mean() - slow.replicates.mean()) < \
            5 * np.hypot(fast.std, slow.std) / np.sqrt(800)
        assert fast.std == pytest.approx(slow.std, rel=0.15)
    wl = rng.random(400)
    ml = calipers.metric("accuracy", task="multilabel", num_labels=4)
    a = bootstrap(ml, yl, sl, wl, n=50, seed=8)
    b = bootstrap(IndexAccuracy("multilabel", num_labels=4), yl, sl, wl, n=50, seed=8)
    assert a.method == "weighted"
    np.testing.assert_allclose(a.replicates, b.replicates, rtol=1e-12)


def test_confusion_matrix_replicates_keep_the_total():
    y, p = binary_data(200, seed=5)
    r = bootstrap(calipers.metric("confusion_matrix"), y, p, n=100, seed=1)
    assert r.replicates.shape == (100, 2, 2)
    assert (r.replicates.sum(axis=(1, 2)) == 200).all()


# -- intervals --------------------------------------------------------------------------


def test_intervals_cover_the_truth_at_about_the_nominal_rate():
    truth, hits, trials = 0.7, 0, 150
    for i in range(trials):
        y, p = binary_data(300, truth, seed=1000 + i)
        r = bootstrap("accuracy", y, p, n=300, seed=i)
        hits += r.low <= truth <= r.high
    # binomial(150, 0.95): 0.88..0.99 holds with probability > 0.998
    assert 0.88 <= hits / trials <= 0.99


def test_plugin_metric_interval_and_standard_error():
    rng = np.random.default_rng(6)
    y = np.zeros(2000)
    p = rng.normal(0.3, 1.0, 2000)
    r = bootstrap(MeanError(), y, p, n=1000, seed=2, confidence=0.9)
    assert r.method == "index"
    assert r.value == pytest.approx(p.mean())
    assert r.std == pytest.approx(p.std() / np.sqrt(2000), rel=0.1)
    q = np.quantile(r.replicates, [0.05, 0.95])
    assert (r.low, r.high) == (q[0], q[1])


def test_per_sample_update_keywords_are_resampled():
    y = np.zeros(50)
    p = np.zeros(50)
    offset = np.arange(50, dtype=float)
    r = bootstrap(MeanError(), y, p, n=200, seed=3, offset=offset, scale=2.0)
    assert r.value == pytest.approx(offset.mean())
    assert r.std > 1.0  # the offsets were resampled, not repeated as they are
    for k, rep in enumerate(r.replicates[:5]):
        idx = core.resample_indices(50, k, 3)
        assert rep == pytest.approx(offset[idx].mean())


def test_deterministic_for_a_seed_and_reports_a_drawn_seed():
    y, p = binary_data(300, seed=7)
    a = bootstrap("f1", y, p, n=200, seed=5)
    b = bootstrap("f1", y, p, n=200, seed=5)
    np.testing.assert_array_equal(a.replicates, b.replicates)
    c = bootstrap("f1", y, p, n=200, seed=6)
    assert not np.array_equal(a.replicates, c.replicates)
    d = bootstrap("f1", y, p, n=200)
    np.testing.assert_array_equal(d.replicates,
                                  bootstrap("f1", y, p, n=200, seed=d.seed).replicates)
    assert isinstance(a, BootstrapResult) and a.n == 200 and a.confidence == 0.95
    assert "BootstrapResult(value=" in repr(a)


def test_metric_is_not_modified():
    y, p = binary_data(100, seed=8)
    m = calipers.metric("f1")
    m.update([0, 1], [1, 1])
    before = m.state_dict()
    bootstrap(m, y, p, n=50, seed=1)
    after = m.state_dict()
    np.testing.assert_array_equal(before["state"]["counts"], after["state"]["counts"])
    assert m.n_samples == 2


def test_nan_replicates_are_left_out_and_reported():
    y = np.zeros(30, dtype=int)
    y[0] = 1
    p = y.copy()
    m = calipers.metric("f1", zero_division=np.nan)
    with pytest.warns(UndefinedMetricWarning, match="bootstrap replicates of f1 are NaN"):
        r = bootstrap(m, y, p, n=400, seed=4)
    # a replicate without the one positive has no positives at all: f1 is NaN there
    assert 0 < r.n_nan < 400
    assert np.isnan(r.replicates).sum() == r.n_nan
    assert r.low == r.high == 1.0 and r.std == 0.0
    allnan = calipers.metric("f1", zero_division=np.nan)
    with pytest.warns(UndefinedMetricWarning):
        r = bootstrap(allnan, np.zeros(10, int), np.zeros(10, int), n=20, seed=1)
    assert r.n_nan == 20 and np.isnan(r.low) and np.isnan(r.high) and np.isnan(r.std)


def test_replicate_warnings_are_summarized_once():
    y = np.zeros(30, dtype=int)
    y[0] = 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = bootstrap("f1", y, y, n=200, seed=4)  # zero_division='warn': 0 where undefined
    msgs = [str(w.message) for w in caught if issubclass(w.category, UndefinedMetricWarning)]
    assert len(msgs) == 1 and "of 200 bootstrap replicates of f1 are undefined" in msgs[0]
    assert r.n_nan == 0 and r.low == 0.0


def test_one_replicate():
    y, p = binary_data(50, seed=9)
    r = bootstrap("accuracy", y, p, n=1, seed=0)
    assert r.replicates.shape == (1,) and r.low == r.high and np.isnan(r.std)


# -- bad arguments ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n": 0}, ValueError, "integer >= 1"),
        ({"n": 2.5}, ValueError, "integer >= 1"),
        ({"n": True}, ValueError, "integer >= 1"),
        ({"confidence": 1.0}, ValueError, r"\(0, 1\)"),
        ({"confidence": 0}, ValueError, r"\(0, 1\)"),
        ({"confidence": "high"}, TypeError, "confidence"),
        ({"seed": -1}, ValueError, "seed"),
        ({"seed": 2**64}, ValueError, "seed"),
        ({"seed": 1.5}, TypeError, "seed"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, error, match):
    y, p = binary_data(20)
    with pytest.raises(error, match=match):
        bootstrap("accuracy", y, p, **kwargs)


def test_bad_metric_and_data_are_rejected():
    y, p = binary_data(20)
    with pytest.raises(TypeError, match="Metric or a registered name"):
        bootstrap(42, y, p)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no-such-metric|unknown|not registered"):
        bootstrap("no-such-metric", y, p)
    with pytest.raises(ValueError, match="at least one sample"):
        bootstrap("accuracy", np.array([], int), np.array([], int))
    with pytest.raises(TypeError, match="number or an array"):
        bootstrap(DictMetric(), np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError):
        bootstrap("accuracy", np.array([0, 2, 1]), np.array([0, 1, 1]))  # label 2 in binary
    with pytest.raises(ValueError):
        bootstrap("accuracy", y, p[:10])


# -- score metrics ----------------------------------------------------------------------


def _index_variant(m: Metric) -> Metric:
    """The same metric, but with an overridden update: bootstrap takes the index path."""
    cls = type(m)

    def update(self, *args, **kwargs):
        return cls.update(self, *args, **kwargs)

    sub = type(f"Index{cls.__name__}", (cls,), {"update": update, "name": f"index_{cls.name}"})
    clone = m.empty_clone()
    clone.__class__ = sub
    return clone


def _scores(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return y, rng.random(n) * 0.7 + 0.3 * y, rng.random(n)


def test_exact_auc_replicates_are_sklearn_on_the_resampled_indices():
    sk = pytest.importorskip("sklearn.metrics")
    y, s, _ = _scores(300, 10)
    r = bootstrap(calipers.metric("roc_auc"), y, s, n=20, seed=9)
    assert r.method == "index"
    assert r.value == pytest.approx(sk.roc_auc_score(y, s), rel=1e-12)
    for k in range(20):
        idx = core.resample_indices(300, k, 9)
        assert r.replicates[k] == pytest.approx(sk.roc_auc_score(y[idx], s[idx]), rel=1e-12)


@pytest.mark.parametrize("name", ["roc_auc", "average_precision"])
def test_binned_score_metrics_use_cells_and_agree_with_the_index_path(name):
    y, s, w = _scores(1000, 11)
    m = calipers.metric(name, bins=200)
    fast = bootstrap(m, y, s, n=1500, seed=1)
    slow = bootstrap(_index_variant(m), y, s, n=1500, seed=2)
    assert (fast.method, slow.method) == ("cells", "index")
    assert fast.value == slow.value
    assert abs(fast.replicates.mean() - slow.replicates.mean()) < \
        5 * np.hypot(fast.std, slow.std) / np.sqrt(1500)
    assert fast.std == pytest.approx(slow.std, rel=0.1)
    # weights: the same indices as the index path, so the same replicates
    a = bootstrap(m, y, s.astype(np.float32), w, n=100, seed=3)
    b = bootstrap(_index_variant(m), y, s.astype(np.float32), w, n=100, seed=3)
    assert (a.method, b.method) == ("weighted", "index")
    np.testing.assert_allclose(a.replicates, b.replicates, rtol=1e-10)


def test_one_class_replicates_of_auc_are_nan():
    y = np.zeros(12, dtype=int)
    y[0] = 1
    s = np.linspace(0, 1, 12)
    with pytest.warns(UndefinedMetricWarning, match="are NaN"):
        r = bootstrap(calipers.metric("roc_auc", bins=10), y, s, n=200, seed=2)
    assert r.method == "cells"
    assert 0 < r.n_nan < 200  # a replicate without the positive has one class only
    assert np.isfinite(r.low) and np.isfinite(r.high)
