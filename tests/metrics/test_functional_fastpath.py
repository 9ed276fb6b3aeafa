"""The common path of the functional metrics: one counting pass, no sort, no copies.

1-D integer labels must reach the compiled core without being sorted, de-duplicated
or copied; these tests fail if a full-size ``np.unique``/sort/copy sneaks in, and check
parity with scikit-learn on inputs large enough to span several of the core's
parallel chunks.
"""

from __future__ import annotations

import tracemalloc
from typing import Any

import numpy as np
import pytest

from calipers.metrics import _functional as F

N_LARGE = 2_000_000
CHUNK = 65536  # the core's work item; sizes around multiples of it hit the edges

COMMON_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("f1_score", {}),
    ("f1_score", {"average": "macro"}),
    ("precision_score", {"average": "weighted"}),
    ("recall_score", {"average": "micro"}),
    ("fbeta_score", {"beta": 2.0, "average": None}),
    ("precision_recall_fscore_support", {}),
    ("jaccard_score", {"average": "macro"}),
    ("confusion_matrix", {}),
    ("multilabel_confusion_matrix", {}),
    ("accuracy_score", {}),
    ("hamming_loss", {}),
    ("balanced_accuracy_score", {}),
    ("matthews_corrcoef", {}),
    ("cohen_kappa_score", {}),
]


def _labels(n_classes: int, n: int, dtype: type = np.int64, seed: int = 0):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, n_classes, n).astype(dtype)
    noise = rng.integers(0, n_classes, n).astype(dtype)
    y_pred = np.where(rng.random(n) < 0.7, y_true, noise)
    return y_true, y_pred


def _call(name: str, kwargs: dict[str, Any], y_true: Any, y_pred: Any,
          n_classes: int) -> Any:
    kwargs = dict(kwargs)
    if name in ("f1_score", "precision_score", "recall_score", "jaccard_score",
                "fbeta_score") and "average" not in kwargs and n_classes > 2:
        kwargs["average"] = "macro"
    return getattr(F, name)(y_true, y_pred, **kwargs)


@pytest.fixture
def no_full_size_sort(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any sort-like numpy call on a large array fail the test."""
    def guard(original: Any) -> Any:
        def wrapped(a: Any, *args: Any, **kwargs: Any) -> Any:
            parts = a if isinstance(a, (list, tuple)) else [a]
            size = sum(getattr(x, "size", 1) for x in parts)
            if size > 10_000:
                raise AssertionError(f"{original.__name__} called on {size} elements")
            return original(a, *args, **kwargs)
        return wrapped

    for fname in ("unique", "sort", "argsort", "lexsort", "searchsorted", "concatenate",
                  "intersect1d", "isin"):
        monkeypatch.setattr(np, fname, guard(getattr(np, fname)))


@pytest.mark.parametrize("n_classes", [2, 10])
@pytest.mark.parametrize(("name", "kwargs"), COMMON_CALLS)
def test_integer_labels_are_not_sorted(no_full_size_sort: None, name: str,
                                       kwargs: dict[str, Any], n_classes: int) -> None:
    y_true, y_pred = _labels(n_classes, 100_000)
    _call(name, kwargs, y_true, y_pred, n_classes)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.bool_])
@pytest.mark.parametrize(("name", "kwargs"), COMMON_CALLS)
def test_integer_labels_are_not_copied(name: str, kwargs: dict[str, Any], dtype: type) -> None:
    n_classes = 2 if dtype is np.bool_ else 10
    y_true, y_pred = _labels(n_classes, N_LARGE, dtype)
    _call(name, kwargs, y_true, y_pred, n_classes)  # warm caches and lazy imports
    tracemalloc.start()
    try:
        _call(name, kwargs, y_true, y_pred, n_classes)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # A single copy of either array would be >= 2 MB; the counts are a few KB.
    assert peak < 256 * 1024, f"{name} allocated {peak} bytes for {N_LARGE} labels"


@pytest.mark.parametrize("n", [CHUNK - 1, CHUNK, 3 * CHUNK + 17])
@pytest.mark.parametrize("n_classes", [2, 3, 10])
def test_parity_across_chunks(n: int, n_classes: int) -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    y_true, y_pred = _labels(n_classes, n, seed=n)
    weights = np.random.default_rng(n).random(n)
    np.testing.assert_array_equal(F.confusion_matrix(y_true, y_pred),
                                  metrics.confusion_matrix(y_true, y_pred))
    average = "binary" if n_classes == 2 else "macro"
    for name in ("f1_score", "precision_score", "recall_score", "jaccard_score"):
        for w in (None, weights):
            ours = getattr(F, name)(y_true, y_pred, average=average, sample_weight=w)
            theirs = getattr(metrics, name)(y_true, y_pred, average=average, sample_weight=w)
            assert ours == pytest.approx(theirs, rel=1e-12), name
    for name in ("accuracy_score", "matthews_corrcoef", "cohen_kappa_score",
                 "balanced_accuracy_score", "hamming_loss"):
        for w in (None, weights):
            ours = getattr(F, name)(y_true, y_pred, sample_weight=w)
            theirs = getattr(metrics, name)(y_true, y_pred, sample_weight=w)
            assert ours == pytest.approx(theirs, rel=1e-10, abs=1e-12), name


def test_shifted_and_sparse_integer_labels() -> None:
    # Labels far from 0 and far apart are mapped, never used as matrix indices.
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    for offset, spread in [(-(2**40), 1), (2**40, 5), (0, 2**50), (-(2**62), 2**60)]:
        base = np.array([0, 1, 3, 7], dtype=np.int64) * spread + offset
        y_true = base[rng.integers(0, 4, 50_000)]
        y_pred = base[rng.integers(0, 4, 50_000)]
        np.testing.assert_array_equal(F.confusion_matrix(y_true, y_pred),
                                      metrics.confusion_matrix(y_true, y_pred))
        assert F.f1_score(y_true, y_pred, average=None) == pytest.approx(
            metrics.f1_score(y_true, y_pred, average=None), rel=1e-12)


@pytest.mark.parametrize("average", ["samples", "macro", "micro", None])
def test_dense_multilabel_is_counted_in_one_pass(no_full_size_sort: None,
                                                 average: str | None) -> None:
    rng = np.random.default_rng(7)
    y_true = (rng.random((20_000, 8)) < 0.3).astype(np.int64)
    y_pred = (rng.random((20_000, 8)) < 0.3).astype(np.int64)
    F.f1_score(y_true, y_pred, average=average, zero_division=0)
    F.accuracy_score(y_true, y_pred)
    F.hamming_loss(y_true, y_pred)
    F.multilabel_confusion_matrix(y_true, y_pred, samplewise=average == "samples")
