"""Metrics on torch CPU tensors: calipers' torch backend vs torchmetrics vs calipers' numpy path.

Run (one process, so every ratio compares side by side)::

    pytest benchmarks/bench_torch_metrics.py --benchmark-max-time=3 \
        --benchmark-json=.benchmarks/torch_metrics.json
    python benchmarks/report.py .benchmarks/torch_metrics.json

Every row builds a fresh metric, updates it with the whole data set and computes
(validation included everywhere: torchmetrics with its default ``validate_args=True``).
Rows: "calipers streaming" is the torch backend as it runs by default (CPU tensors
counted by the compiled core on zero-copy views, result returned as a tensor);
"calipers torch kernels" is the same metric with ``set_cpu_kernels("torch")``: the
device kernels a GPU runs (pure torch ops, deferred checks), here on the CPU;
"calipers numpy" is the same metric fed the numpy arrays. Inputs: N (10M,
``CALIPERS_BENCH_N``) binary int64 labels and predictions (~80% agreement); N/10
samples x 10 classes of float32 scores; N informative float32 binary scores.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import N

import calipers

torch = pytest.importorskip("torch")
calipers_torch = pytest.importorskip("calipers_torch")

SLOW = {"rounds": 3, "iterations": 1, "warmup_rounds": 0}
SLOWEST = {"rounds": 1, "iterations": 1, "warmup_rounds": 0}
FEW_BINS = 200


@pytest.fixture(scope="module", autouse=True)
def _threads():
    torch.set_num_threads(2)


@pytest.fixture(scope="module")
def multiclass_scores() -> tuple[np.ndarray, np.ndarray]:
    n, k = N // 10, 10
    rng = np.random.default_rng(5)
    y = rng.integers(0, k, n, dtype=np.int64)
    logits = rng.standard_normal((n, k)).astype(np.float32)
    logits[np.arange(n), y] += 1.5
    return y, logits


@pytest.fixture(scope="module")
def binary_scores() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(6)
    y = rng.integers(0, 2, N, dtype=np.int64)
    logit = 1.5 * (y - 0.5) + rng.standard_normal(N)
    return y, (1.0 / (1.0 + np.exp(-logit))).astype(np.float32)


def _t(data):
    return tuple(torch.from_numpy(a) for a in data)


def _calipers(data, name, **options):
    m = calipers.metric(name, **options)
    m.update(*data)
    return m.compute()


def _kernels(data, name, **options):
    old = calipers_torch.set_cpu_kernels("torch")
    try:
        return _calipers(data, name, **options)
    finally:
        calipers_torch.set_cpu_kernels(old)


def _tm(metric, data):
    metric.update(*data)
    return metric.compute()


def _check(value, ref):
    assert isinstance(value, torch.Tensor)
    assert value.item() == pytest.approx(ref, rel=1e-12)


# ----------------------------------------------------------------------- binary F1
@pytest.mark.benchmark(group="torch CPU: binary F1, N labels")
class TestBinaryF1:
    def test_calipers_streaming(self, benchmark, binary_labels):
        ref = _calipers(binary_labels, "f1")
        _check(benchmark(_calipers, _t(binary_labels), "f1"), ref)

    def test_calipers_torch_kernels(self, benchmark, binary_labels):
        ref = _calipers(binary_labels, "f1")
        _check(benchmark.pedantic(_kernels, (_t(binary_labels), "f1"), **SLOW), ref)

    def test_calipers_numpy(self, benchmark, binary_labels):
        benchmark(_calipers, binary_labels, "f1")

    def test_torchmetrics(self, benchmark, binary_labels):
        tmc = pytest.importorskip("torchmetrics.classification")
        t = _t(binary_labels)
        out = benchmark.pedantic(lambda: _tm(tmc.BinaryF1Score(), t[::-1]), **SLOW)
        assert out.item() == pytest.approx(_calipers(binary_labels, "f1"), rel=1e-6)


# ---------------------------------------------------------- multiclass accuracy
@pytest.mark.benchmark(group="torch CPU: multiclass accuracy, N/10 x 10 float32 scores")
class TestMulticlassAccuracy:
    opts = {"task": "multiclass", "num_classes": 10}

    def test_calipers_streaming(self, benchmark, multiclass_scores):
        ref = _calipers(multiclass_scores, "accuracy", **self.opts)
        _check(benchmark(_calipers, _t(multiclass_scores), "accuracy", **self.opts), ref)

    def test_calipers_torch_kernels(self, benchmark, multiclass_scores):
        ref = _calipers(multiclass_scores, "accuracy", **self.opts)
        out = benchmark.pedantic(_kernels, (_t(multiclass_scores), "accuracy"),
                                 kwargs=self.opts, **SLOW)
        _check(out, ref)

    def test_calipers_numpy(self, benchmark, multiclass_scores):
        benchmark(_calipers, multiclass_scores, "accuracy", **self.opts)

    def test_torchmetrics(self, benchmark, multiclass_scores):
        tmc = pytest.importorskip("torchmetrics.classification")
        y, s = _t(multiclass_scores)
        out = benchmark.pedantic(
            lambda: _tm(tmc.MulticlassAccuracy(num_classes=10, average="micro"), (s, y)),
            **SLOW)
        ref = _calipers(multiclass_scores, "accuracy", **self.opts)
        assert out.item() == pytest.approx(ref, rel=1e-6)


# ----------------------------------------------------------------- exact AUROC
@pytest.mark.benchmark(group="torch CPU: exact binary AUROC, N float32 scores")
class TestExactAuroc:
    def test_calipers_streaming(self, benchmark, binary_scores):
        ref = _calipers(binary_scores, "roc_auc")
        _check(benchmark.pedantic(_calipers, (_t(binary_scores), "roc_auc"), **SLOW), ref)

    def test_calipers_torch_kernels(self, benchmark, binary_scores):
        ref = _calipers(binary_scores, "roc_auc")
        _check(benchmark.pedantic(_kernels, (_t(binary_scores), "roc_auc"), **SLOW), ref)

    def test_calipers_numpy(self, benchmark, binary_scores):
        benchmark.pedantic(_calipers, (binary_scores, "roc_auc"), **SLOW)

    def test_torchmetrics(self, benchmark, binary_scores):
        tmc = pytest.importorskip("torchmetrics.classification")
        y, s = _t(binary_scores)
        out = benchmark.pedantic(lambda: _tm(tmc.BinaryAUROC(thresholds=None), (s, y)),
                                 **SLOW)
        assert out.item() == pytest.approx(_calipers(binary_scores, "roc_auc"), rel=1e-6)


# ---------------------------------------------------------------- binned AUROC
@pytest.mark.benchmark(group=f"torch CPU: binned AUROC, {FEW_BINS} bins / thresholds")
class TestBinnedAuroc:
    def test_calipers_streaming(self, benchmark, binary_scores):
        ref = _calipers(binary_scores, "roc_auc", bins=FEW_BINS)
        _check(benchmark(_calipers, _t(binary_scores), "roc_auc", bins=FEW_BINS), ref)

    def test_calipers_torch_kernels(self, benchmark, binary_scores):
        ref = _calipers(binary_scores, "roc_auc", bins=FEW_BINS)
        out = benchmark.pedantic(_kernels, (_t(binary_scores), "roc_auc"),
                                 kwargs={"bins": FEW_BINS}, **SLOW)
        _check(out, ref)

    def test_calipers_numpy(self, benchmark, binary_scores):
        benchmark(_calipers, binary_scores, "roc_auc", bins=FEW_BINS)

    def test_torchmetrics(self, benchmark, binary_scores):
        tmc = pytest.importorskip("torchmetrics.classification")
        y, s = _t(binary_scores)
        out = benchmark.pedantic(lambda: _tm(tmc.BinaryAUROC(thresholds=FEW_BINS), (s, y)),
                                 **SLOWEST)
        ref = _calipers(binary_scores, "roc_auc", bins=FEW_BINS)
        assert out.item() == pytest.approx(ref, abs=1e-3)


@pytest.mark.benchmark(group="torch CPU: binned AUROC, 10k bins (calipers only)")
class TestBinnedAuroc10k:
    def test_calipers_streaming(self, benchmark, binary_scores):
        benchmark(_calipers, _t(binary_scores), "roc_auc", bins=10_000)

    def test_calipers_torch_kernels(self, benchmark, binary_scores):
        benchmark.pedantic(_kernels, (_t(binary_scores), "roc_auc"),
                           kwargs={"bins": 10_000}, **SLOW)

    def test_calipers_numpy(self, benchmark, binary_scores):
        benchmark(_calipers, binary_scores, "roc_auc", bins=10_000)


# ------------------------------------------------------- per-update overhead
@pytest.mark.benchmark(group="one update of 1,000 binary labels (routing overhead)")
class TestUpdateOverhead:
    """The numpy fast path (exact type checks only) vs a tensor update (the registry
    finds the native backend, the core counts zero-copy views)."""

    @pytest.fixture(scope="class")
    def small(self):
        rng = np.random.default_rng(7)
        return rng.integers(0, 2, 1000), rng.integers(0, 2, 1000)

    def test_calipers_streaming(self, benchmark, small):
        m = calipers.metric("f1")
        benchmark(m.update, *_t(small))

    def test_calipers_numpy(self, benchmark, small):
        m = calipers.metric("f1")
        benchmark(m.update, *small)

    def test_calipers_torch_kernels(self, benchmark, small):
        m = calipers.metric("f1")
        t = _t(small)
        old = calipers_torch.set_cpu_kernels("torch")
        try:
            benchmark(m.update, *t)
        finally:
            calipers_torch.set_cpu_kernels(old)

    def test_torchmetrics(self, benchmark, small):
        tmc = pytest.importorskip("torchmetrics.classification")
        m = tmc.BinaryF1Score()
        benchmark(m.update, *_t(small)[::-1])
