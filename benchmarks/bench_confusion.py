"""Confusion-matrix family on 10M int64 labels: calipers vs the libraries users pick.

Run (one process, so every ratio compares side by side)::

    pytest benchmarks/bench_confusion.py --benchmark-json=.benchmarks/confusion.json
    python benchmarks/report.py .benchmarks/confusion.json

Validation is included everywhere: calipers checks labels inside its counting pass,
torchmetrics runs with its default ``validate_args=True``.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import bandwidth_probe

import calipers
from calipers import metrics as cm

sklearn_metrics = pytest.importorskip("sklearn.metrics")

SLOW = {"rounds": 3, "iterations": 1, "warmup_rounds": 0}


def _torch(y_true: np.ndarray, y_pred: np.ndarray):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(2)
    return torch.from_numpy(y_true), torch.from_numpy(y_pred)


def _streaming(labels: tuple[np.ndarray, np.ndarray], name: str, **options):
    """A fresh streaming metric: update with every label, then compute."""
    m = calipers.metric(name, **options)
    m.update(*labels)
    return m.compute()


def _tm():
    return pytest.importorskip("torchmetrics.functional.classification")


# --------------------------------------------------------------------------- binary
@pytest.mark.benchmark(group="binary confusion matrix")
class TestBinaryConfusion:
    def test_calipers_function(self, benchmark, binary_labels):
        out = benchmark(cm.confusion_matrix, *binary_labels)
        np.testing.assert_array_equal(out.sum(), binary_labels[0].size)

    def test_calipers_streaming(self, benchmark, binary_labels):
        benchmark(_streaming, binary_labels, "confusion_matrix", task="binary")

    def test_bandwidth_probe(self, benchmark, binary_labels):
        benchmark(bandwidth_probe, *binary_labels)

    def test_sklearn(self, benchmark, binary_labels):
        benchmark.pedantic(sklearn_metrics.confusion_matrix, binary_labels, **SLOW)

    def test_torchmetrics(self, benchmark, binary_labels):
        t, p = _torch(*binary_labels)
        benchmark.pedantic(_tm().binary_confusion_matrix, (p, t), **SLOW)

    def test_numpy_bincount(self, benchmark, binary_labels):
        y, p = binary_labels
        benchmark(lambda: np.bincount(y * 2 + p, minlength=4).reshape(2, 2))


@pytest.mark.benchmark(group="binary f1")
class TestBinaryF1:
    def test_calipers_function(self, benchmark, binary_labels):
        ref = sklearn_metrics.f1_score(*binary_labels)
        assert benchmark(cm.f1_score, *binary_labels) == pytest.approx(ref, rel=1e-12)

    def test_calipers_streaming(self, benchmark, binary_labels):
        benchmark(_streaming, binary_labels, "f1", task="binary")

    def test_bandwidth_probe(self, benchmark, binary_labels):
        benchmark(bandwidth_probe, *binary_labels)

    def test_sklearn(self, benchmark, binary_labels):
        benchmark.pedantic(sklearn_metrics.f1_score, binary_labels, **SLOW)

    def test_torchmetrics(self, benchmark, binary_labels):
        t, p = _torch(*binary_labels)
        benchmark.pedantic(_tm().binary_f1_score, (p, t), **SLOW)


# --------------------------------------------------------------------------- 10 classes
@pytest.mark.benchmark(group="10-class confusion matrix")
class TestMulticlassConfusion:
    def test_calipers_function(self, benchmark, multiclass_labels):
        benchmark(cm.confusion_matrix, *multiclass_labels)

    def test_calipers_streaming(self, benchmark, multiclass_labels):
        benchmark(_streaming, multiclass_labels, "confusion_matrix", task="multiclass",
                  num_classes=10)

    def test_bandwidth_probe(self, benchmark, multiclass_labels):
        benchmark(bandwidth_probe, *multiclass_labels)

    def test_sklearn(self, benchmark, multiclass_labels):
        benchmark.pedantic(sklearn_metrics.confusion_matrix, multiclass_labels, **SLOW)

    def test_torchmetrics(self, benchmark, multiclass_labels):
        t, p = _torch(*multiclass_labels)
        benchmark.pedantic(_tm().multiclass_confusion_matrix, (p, t),
                           {"num_classes": 10}, **SLOW)

    def test_numpy_bincount(self, benchmark, multiclass_labels):
        y, p = multiclass_labels
        benchmark(lambda: np.bincount(y * 10 + p, minlength=100).reshape(10, 10))


@pytest.mark.benchmark(group="10-class f1 (macro)")
class TestMulticlassF1:
    def test_calipers_function(self, benchmark, multiclass_labels):
        ref = sklearn_metrics.f1_score(*multiclass_labels, average="macro")
        out = benchmark(cm.f1_score, *multiclass_labels, average="macro")
        assert out == pytest.approx(ref, rel=1e-12)

    def test_calipers_streaming(self, benchmark, multiclass_labels):
        benchmark(_streaming, multiclass_labels, "f1", task="multiclass", num_classes=10,
                  average="macro")

    def test_bandwidth_probe(self, benchmark, multiclass_labels):
        benchmark(bandwidth_probe, *multiclass_labels)

    def test_sklearn(self, benchmark, multiclass_labels):
        benchmark.pedantic(sklearn_metrics.f1_score, multiclass_labels, {"average": "macro"},
                           **SLOW)

    def test_torchmetrics(self, benchmark, multiclass_labels):
        t, p = _torch(*multiclass_labels)
        benchmark.pedantic(_tm().multiclass_f1_score, (p, t),
                           {"num_classes": 10, "average": "macro"}, **SLOW)
