"""Ranking metrics on float64 scores: calipers vs scikit-learn and torchmetrics.

Run (one process, so every ratio compares side by side)::

    pytest benchmarks/bench_ranking.py --benchmark-max-time=3 \
        --benchmark-json=.benchmarks/ranking.json
    python benchmarks/report.py .benchmarks/ranking.json

Inputs: N (10M by default, ``CALIPERS_BENCH_N``) binary labels with informative float64
scores in (0, 1); N/10 samples x 10 classes of softmax scores for one-vs-rest AUC.
The "np.sort floor" row sorts the same scores with numpy: a comparison sort is the
usual floor of exact AUC, which calipers' radix sort is meant to beat.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import N, bandwidth_probe

import calipers
from calipers import metrics as cm

sklearn_metrics = pytest.importorskip("sklearn.metrics")

SLOW = {"rounds": 3, "iterations": 1, "warmup_rounds": 0}
SLOWEST = {"rounds": 1, "iterations": 1, "warmup_rounds": 0}
BINS = 10_000


@pytest.fixture(scope="module")
def binary_scores() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, N, dtype=np.int64)
    logit = 1.5 * (y - 0.5) + rng.standard_normal(N)
    return y, 1.0 / (1.0 + np.exp(-logit))


@pytest.fixture(scope="module")
def multiclass_scores() -> tuple[np.ndarray, np.ndarray]:
    n, k = N // 10, 10
    rng = np.random.default_rng(4)
    y = rng.integers(0, k, n, dtype=np.int64)
    logits = rng.standard_normal((n, k))
    logits[np.arange(n), y] += 1.5
    p = np.exp(logits)
    return y, p / p.sum(axis=1, keepdims=True)


def _torch(*arrays: np.ndarray):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(2)
    return tuple(torch.from_numpy(a) for a in arrays)


def _tm():
    return pytest.importorskip("torchmetrics.functional.classification")


def _streaming(data: tuple[np.ndarray, ...], name: str, **options) -> object:
    m = calipers.metric(name, **options)
    m.update(*data)
    return m.compute()


# ------------------------------------------------------------------ exact ROC AUC
@pytest.mark.benchmark(group="exact binary ROC AUC")
class TestExactRocAuc:
    def test_calipers_function(self, benchmark, binary_scores):
        ref = sklearn_metrics.roc_auc_score(*binary_scores)
        assert benchmark(cm.roc_auc_score, *binary_scores) == pytest.approx(ref, rel=1e-12)

    def test_calipers_streaming(self, benchmark, binary_scores):
        benchmark(_streaming, binary_scores, "roc_auc", task="binary")

    def test_np_sort_floor(self, benchmark, binary_scores):
        benchmark.pedantic(np.sort, (binary_scores[1],), **SLOW)

    def test_sklearn(self, benchmark, binary_scores):
        benchmark.pedantic(sklearn_metrics.roc_auc_score, binary_scores, **SLOW)

    def test_torchmetrics(self, benchmark, binary_scores):
        y, s = _torch(*binary_scores)
        benchmark.pedantic(_tm().binary_auroc, (s, y), **SLOW)


# ------------------------------------------------------------- average precision
@pytest.mark.benchmark(group="average precision")
class TestAveragePrecision:
    def test_calipers_function(self, benchmark, binary_scores):
        ref = sklearn_metrics.average_precision_score(*binary_scores)
        out = benchmark(cm.average_precision_score, *binary_scores)
        assert out == pytest.approx(ref, rel=1e-12)

    def test_calipers_streaming(self, benchmark, binary_scores):
        benchmark(_streaming, binary_scores, "average_precision", task="binary")

    def test_sklearn(self, benchmark, binary_scores):
        benchmark.pedantic(sklearn_metrics.average_precision_score, binary_scores, **SLOW)

    def test_torchmetrics(self, benchmark, binary_scores):
        y, s = _torch(*binary_scores)
        benchmark.pedantic(_tm().binary_average_precision, (s, y), **SLOW)


# -------------------------------------------------------------------- binned AUC
@pytest.mark.benchmark(group="binned ROC AUC (calipers 10k bins, torchmetrics 200 thresholds)")
class TestBinnedRocAuc:
    def test_calipers_streaming(self, benchmark, binary_scores):
        exact = sklearn_metrics.roc_auc_score(*binary_scores)
        m = calipers.metric("roc_auc", task="binary", bins=BINS)

        def run() -> float:
            m.reset()
            m.update(*binary_scores)
            return m.compute()

        value = benchmark(run)
        assert abs(value - exact) <= m.error_bound() <= 1e-3

    def test_bandwidth_probe(self, benchmark, binary_scores):
        benchmark(bandwidth_probe, *binary_scores)

    def test_torchmetrics_200_thresholds(self, benchmark, binary_scores):
        y, s = _torch(*binary_scores)
        benchmark.pedantic(_tm().binary_auroc, (s, y), {"thresholds": 200}, **SLOWEST)


# ----------------------------------------------------------- multiclass OvR AUC
@pytest.mark.benchmark(group="10-class OvR ROC AUC (N/10 x 10 scores)")
class TestOvrRocAuc:
    def test_calipers_function(self, benchmark, multiclass_scores):
        y, p = multiclass_scores
        ref = sklearn_metrics.roc_auc_score(y, p, multi_class="ovr")
        out = benchmark(cm.roc_auc_score, y, p, multi_class="ovr")
        assert out == pytest.approx(ref, rel=1e-12)

    def test_calipers_streaming(self, benchmark, multiclass_scores):
        benchmark(_streaming, multiclass_scores, "roc_auc", task="multiclass", num_classes=10)

    def test_sklearn(self, benchmark, multiclass_scores):
        y, p = multiclass_scores
        benchmark.pedantic(sklearn_metrics.roc_auc_score, (y, p), {"multi_class": "ovr"},
                           **SLOW)

    def test_torchmetrics(self, benchmark, multiclass_scores):
        y, p = _torch(*multiclass_scores)
        benchmark.pedantic(_tm().multiclass_auroc, (p, y), {"num_classes": 10}, **SLOW)
