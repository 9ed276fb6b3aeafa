"""The count-to-value functions of calipers.metrics._compute, checked on their own.

The streaming metrics call these with counts they accumulated themselves, so each is
checked against scikit-learn from counts built independently here (numpy on the raw
data), not through the functional drop-ins.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

from calipers.metrics import _compute as C

sklearn_metrics = pytest.importorskip("sklearn.metrics")
hypothesis = pytest.importorskip("hypothesis")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402


def _warnings_of(func: Any, *args: Any, **kwargs: Any) -> tuple[Any, list[tuple[str, str]]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = func(*args, **kwargs)
    return value, [(w.category.__name__, str(w.message)) for w in caught]


@st.composite
def multilabel(draw: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    n = draw(st.integers(1, 15))
    n_labels = draw(st.integers(2, 4))
    cells = hnp.arrays(np.int64, (n, n_labels), elements=st.integers(0, 1))
    weights = draw(st.one_of(st.none(), hnp.arrays(np.float64, n, elements=st.floats(0, 3))))
    if weights is not None and not weights.any():
        weights[0] = 1.0
    return draw(cells), draw(cells), weights


@settings(max_examples=80, deadline=None)
@given(case=multilabel(), zero_division=st.sampled_from(["warn", 0, 1, np.nan]),
       beta=st.sampled_from([0.5, 1.0, 2.0]))
def test_samples_prf_matches_sklearn(case: Any, zero_division: Any, beta: float) -> None:
    y_true, y_pred, w = case
    rows = np.stack([y_true.sum(1), y_pred.sum(1), (y_true & y_pred).sum(1)], axis=1)
    for metric, name in [("precision", "precision_score"), ("recall", "recall_score"),
                         ("f-score", "fbeta_score"), ("jaccard", "jaccard_score")]:
        kwargs: dict[str, Any] = {"average": "samples", "sample_weight": w,
                                  "zero_division": zero_division}
        if name == "fbeta_score":
            kwargs["beta"] = beta
        if name == "jaccard_score" and not isinstance(zero_division, str) \
                and np.isnan(zero_division):
            continue  # scikit-learn's jaccard_score does not take NaN
        expected, expected_warn = _warnings_of(getattr(sklearn_metrics, name), y_true, y_pred,
                                               **kwargs)
        values, got_warn = _warnings_of(C.samples_prf, rows, w, beta=beta,
                                        zero_division=zero_division, warn_for=(metric,))
        np.testing.assert_allclose(values[metric], expected, rtol=1e-12)
        assert isinstance(values[metric], float)
        assert got_warn == expected_warn, metric


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
@pytest.mark.parametrize("zero_division", ["warn", 0, 1, np.nan])
def test_prf_from_sums_matches_sklearn(average: str | None, zero_division: Any) -> None:
    y_true = np.array([0, 0, 1, 1, 2, 2, 2, 3])
    y_pred = np.array([0, 1, 1, 1, 2, 0, 4, 3])
    labels = np.array([0, 1, 2, 3, 4, 5])  # 4: never true, 5: absent
    tp = np.array([np.sum((y_true == c) & (y_pred == c)) for c in labels])
    pred = np.array([np.sum(y_pred == c) for c in labels])
    true = np.array([np.sum(y_true == c) for c in labels])
    expected, expected_warn = _warnings_of(
        sklearn_metrics.precision_recall_fscore_support, y_true, y_pred, labels=labels,
        average=average, zero_division=zero_division, beta=0.5)
    got, got_warn = _warnings_of(C.prf_from_sums, tp, pred, true, beta=0.5, average=average,
                                 zero_division=zero_division)
    for e, g in zip(expected[:3], got[:3], strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-12)
        assert type(g) is type(e)
    if average is None:
        np.testing.assert_array_equal(got[3], expected[3])
    else:
        assert got[3] is None
    assert got_warn == expected_warn


def test_prf_from_sums_empty_and_binary() -> None:
    empty = np.zeros(0, dtype=np.int64)
    p, r, f, s = C.prf_from_sums(empty, empty, empty, average="macro")
    assert np.isnan(p) and np.isnan(r) and np.isnan(f) and s is None
    one = np.array([0])
    (p, r, f, _), caught = _warnings_of(C.prf_from_sums, one, one, one, average="binary")
    assert (p, r, f) == (0.0, 0.0, 0.0)
    assert [m for _, m in caught][0].startswith(
        "Precision is ill-defined and being set to 0.0 due to no predicted samples.")


def test_jaccard_from_sums_matches_sklearn() -> None:
    y_true = np.array([0, 0, 1, 2, 2, 1])
    y_pred = np.array([0, 1, 1, 2, 0, 1])
    labels = np.array([0, 1, 2, 3])
    tp = np.array([np.sum((y_true == c) & (y_pred == c)) for c in labels])
    pred = np.array([np.sum(y_pred == c) for c in labels])
    true = np.array([np.sum(y_true == c) for c in labels])
    for average in (None, "micro", "macro", "weighted"):
        expected, expected_warn = _warnings_of(sklearn_metrics.jaccard_score, y_true, y_pred,
                                               labels=labels, average=average)
        got, got_warn = _warnings_of(C.jaccard_from_sums, tp, pred, true, average=average)
        np.testing.assert_allclose(got, expected, rtol=1e-12)
        assert type(got) is type(expected)
        assert got_warn == expected_warn


@settings(max_examples=60, deadline=None)
@given(y=hnp.arrays(np.int64, st.tuples(st.integers(2, 2), st.integers(1, 40)),
                    elements=st.integers(0, 3)))
def test_matrix_metrics_from_counts(y: np.ndarray) -> None:
    y_true, y_pred = y
    classes = np.union1d(y_true, y_pred)
    m = np.array([[np.sum((y_true == a) & (y_pred == b)) for b in classes] for a in classes])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected_mcc = sklearn_metrics.matthews_corrcoef(y_true, y_pred)
        expected_bal = sklearn_metrics.balanced_accuracy_score(y_true, y_pred, adjusted=True)
        expected_kappa = {w: sklearn_metrics.cohen_kappa_score(y_true, y_pred, weights=w)
                          for w in (None, "linear", "quadratic")}
        got_bal = C.balanced_accuracy_from_sums(np.diag(m), m.sum(1), adjusted=True)
        got_kappa = {w: C.cohen_kappa_from_matrix(m, w) for w in expected_kappa}
    got_mcc = C.matthews_from_sums(m.sum(1), m.sum(0), np.trace(m), m.sum())
    np.testing.assert_allclose(got_mcc, expected_mcc, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got_bal, expected_bal, rtol=1e-12)
    for w, value in expected_kappa.items():
        np.testing.assert_allclose(got_kappa[w], value, rtol=1e-12, atol=1e-15)


def test_mcm_and_normalize() -> None:
    mcm = C.mcm_from_sums(np.array([2, 0]), np.array([3, 1]), np.array([2, 2]), 5)
    np.testing.assert_array_equal(mcm, [[[2, 1], [0, 2]], [[2, 1], [2, 0]]])
    cm = np.array([[2, 0], [0, 0]])
    np.testing.assert_array_equal(C.normalize_confusion(cm, "true"), [[1.0, 0.0], [0.0, 0.0]])
    np.testing.assert_array_equal(C.normalize_confusion(cm, "all"), [[1.0, 0.0], [0.0, 0.0]])
    assert C.normalize_confusion(cm, None) is cm


def test_scalar_helpers() -> None:
    assert C.accuracy(3, 4) == 0.75
    assert C.accuracy(3, 4, normalize=False) == 3.0
    with pytest.raises(ZeroDivisionError):
        C.accuracy(0, 0)
    assert C.hamming(2, 4, 2) == 0.25
    assert C.ratio(1, 4) == 0.25 and np.isnan(C.ratio(1, 0))
    assert C.zero_division_value("warn") == 0.0
    assert C.zero_division_value(1) == 1.0
    assert np.isnan(C.zero_division_value(np.nan))
    assert np.isnan(C.zero_division_value(np.float32(1)))  # as scikit-learn
    assert C.nan_average(np.array([1.0, np.nan, 3.0])) == 2.0
    assert C.nan_average(np.array([1.0, 3.0]), np.array([0.0, 0.0])) == 2.0
    assert np.isnan(C.nan_average(np.array([np.nan])))
