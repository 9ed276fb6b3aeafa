"""The counting core against a numpy oracle, on random, adversarial and fuzzed input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from calipers._core import _confusion as core
from calipers.metrics import _counts, _pairs

INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
              np.uint64]


def oracle(y_true, y_pred, k, w=None):
    y_true = np.asarray(y_true).astype(np.int64)
    y_pred = np.asarray(y_pred).astype(np.int64)
    idx = y_true * k + y_pred
    counts = np.bincount(idx, minlength=k * k).reshape(k, k)
    if w is None:
        return counts, None
    return counts, np.bincount(idx, weights=w, minlength=k * k).reshape(k, k)


@pytest.mark.parametrize("dt_true", INT_DTYPES + [bool])
@pytest.mark.parametrize("dt_pred", [np.int8, np.int64, np.uint32, bool])
@pytest.mark.parametrize("k", [2, 3, 10])
def test_count_labels_dtypes(dt_true, dt_pred, k):
    rng = np.random.default_rng(k)
    kk = 2 if bool in (dt_true, dt_pred) else k
    n = 200_001  # several chunks, odd tail
    t = rng.integers(0, kk, n).astype(dt_true)
    p = rng.integers(0, kk, n).astype(dt_pred)
    counts, weighted = _counts.count_labels(t, p, k)
    np.testing.assert_array_equal(counts, oracle(t, p, k)[0])
    assert weighted is None
    w = rng.random(n)
    counts, weighted = _counts.count_labels(t, p, k, w)
    ref_c, ref_w = oracle(t, p, k, w)
    np.testing.assert_array_equal(counts, ref_c)
    np.testing.assert_allclose(weighted, ref_w, rtol=1e-12)


@pytest.mark.parametrize("order", [">", "<"])
def test_byte_order_and_strides_are_converted(order):
    rng = np.random.default_rng(0)
    t = rng.integers(0, 5, 1000).astype(f"{order}i4")
    p = rng.integers(0, 5, 2000).astype(f"{order}i8")[::2]  # strided
    counts, _ = _counts.count_labels(t, p, 5)
    np.testing.assert_array_equal(counts, oracle(t, p, 5)[0])


@pytest.mark.parametrize("bad", [-1, 2, 127, -128])
@pytest.mark.parametrize("where", ["y_true", "y_pred"])
def test_out_of_range_names_the_value(bad, where):
    t = np.zeros(100_000, dtype=np.int8)
    p = np.ones(100_000, dtype=np.int8)
    arr = t if where == "y_true" else p
    arr[77_777] = bad
    with pytest.raises(ValueError, match=rf"{where} has label {bad} at index 77777"):
        _counts.count_labels(t, p, 2)


def test_unsigned_values_beyond_signed_range_are_rejected():
    t = np.array([0, 1, 255], dtype=np.uint8)
    p = np.array([0, 1, 1], dtype=np.uint8)
    with pytest.raises(ValueError, match="255"):
        _counts.count_labels(t, p, 3)
    t64 = np.array([0, 2**63 + 1], dtype=np.uint64)
    with pytest.raises(ValueError, match=str(2**63 + 1)):
        _counts.count_labels(t64, np.zeros(2, np.uint64), 2)


def test_extreme_int64_labels_do_not_overflow():
    lo, hi = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    t = np.array([lo, hi, 0, 1], dtype=np.int64)
    p = np.array([hi, lo, 1, 1], dtype=np.int64)
    with pytest.raises(ValueError):
        _counts.count_labels(t, p, 2)
    pc = _pairs.pair_counts(t, p)
    np.testing.assert_array_equal(pc.classes, [lo, 0, 1, hi])
    assert pc.matrix.sum() == 4 and pc.matrix[0, 3] == 1 and pc.matrix[3, 0] == 1


def test_threshold_and_argmax():
    rng = np.random.default_rng(3)
    n = 150_000
    t = rng.integers(0, 2, n)
    s = rng.random(n).astype(np.float32)
    s[:10] = 0.5  # ties at the threshold count as positive
    counts, _ = _counts.count_threshold(t, s, 0.5)
    np.testing.assert_array_equal(counts, oracle(t, (s >= 0.5).astype(int), 2)[0])
    scores = rng.random((n, 7))
    scores[:50, 3] = scores[:50, 1]  # ties go to the lowest class, as np.argmax
    y = rng.integers(0, 7, n)
    counts, _ = _counts.count_argmax(y, scores, 7)
    np.testing.assert_array_equal(counts, oracle(y, scores.argmax(1), 7)[0])


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_scores_are_refused(value):
    s = np.full(1000, 0.3)
    s[500] = value
    with pytest.raises(ValueError, match="non-finite score.*row 500"):
        _counts.count_threshold(np.zeros(1000, int), s, 0.5)
    m = np.full((1000, 3), 0.3)
    m[600, 2] = value
    with pytest.raises(ValueError, match="row 600"):
        _counts.count_argmax(np.zeros(1000, int), m, 3)


def test_multilabel_counts_match_oracle():
    rng = np.random.default_rng(5)
    t = rng.integers(0, 2, (40_000, 6))
    p = rng.integers(0, 2, (40_000, 6)).astype(bool)
    w = rng.random(40_000)
    mc = _counts.multilabel_counts(t, p, w, per_sample=True)
    for j in range(6):
        ref = oracle(t[:, j], p[:, j], 2, w)[1]
        np.testing.assert_allclose(mc.mcm[j], ref, rtol=1e-12)
        np.testing.assert_array_equal(mc.plain[4 * j:4 * j + 4].reshape(2, 2),
                                      oracle(t[:, j], p[:, j], 2)[0])
    exact = (t == p).all(axis=1)
    assert mc.exact == pytest.approx(w[exact].sum())
    np.testing.assert_array_equal(mc.per_sample, np.stack(
        [t.sum(1), p.sum(1), (t & p).sum(1)], axis=1))


def test_multilabel_rejects_non_indicators():
    t = np.zeros((10, 3), int)
    t[4, 1] = 2
    with pytest.raises(ValueError, match=r"0/1 entries, got 2 at \(4, 1\)"):
        _counts.multilabel_counts(t, np.zeros((10, 3), int))


def test_empty_inputs():
    counts, _ = _counts.count_labels(np.array([], int), np.array([], int), 3)
    assert counts.sum() == 0
    assert core.binary_labels(np.array([], np.int64), np.array([], np.int64))[-1]


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    k=st.integers(1, 12),
    n=st.integers(0, 3000),
    weighted=st.booleans(),
)
def test_pair_counts_random(data, k, n, weighted):
    dtype = data.draw(st.sampled_from([np.int8, np.int32, np.int64, np.uint16]))
    offset = data.draw(st.sampled_from([0, 0, 5, -3, 2**40, -(2**40)]))
    if np.dtype(dtype).kind == "u" or np.dtype(dtype).itemsize < 8:
        offset = 0 if offset < 0 or abs(offset) > 100 else offset
    vals = data.draw(hnp.arrays(np.int64, (2, n), elements=st.integers(0, k - 1)))
    t = (vals[0] + offset).astype(dtype)
    p = (vals[1] + offset).astype(dtype)
    w = data.draw(hnp.arrays(np.float64, n, elements=st.floats(0, 10))) if weighted else None
    pc = _pairs.pair_counts(t, p, w)
    classes = np.unique(np.concatenate([t, p]))
    np.testing.assert_array_equal(pc.classes, classes)
    assert pc.classes.dtype == classes.dtype
    t_idx = np.searchsorted(classes, t)
    p_idx = np.searchsorted(classes, p)
    ref_c, ref_w = oracle(t_idx, p_idx, len(classes), w)
    np.testing.assert_allclose(pc.matrix, ref_c if w is None else ref_w, rtol=1e-12)
    np.testing.assert_array_equal(pc.in_true, np.isin(classes, t))
    np.testing.assert_array_equal(pc.in_pred, np.isin(classes, p))


def test_pair_counts_many_classes_without_matrix():
    rng = np.random.default_rng(9)
    t = rng.integers(0, 5000, 50_000) * 7
    p = rng.integers(0, 5000, 50_000) * 7
    pc = _pairs.pair_counts(t, p, need_matrix=False)
    classes = np.unique(np.concatenate([t, p]))
    np.testing.assert_array_equal(pc.classes, classes)
    assert pc.matrix is None
    np.testing.assert_array_equal(pc.true_sum, [np.sum(t == c) for c in classes])
    np.testing.assert_array_equal(pc.tp_sum, [np.sum((t == c) & (p == c)) for c in classes])


DTYPES = st.sampled_from(["i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1", "f4", "f8",
                          ">i4", ">f8", "f2", "c8", "U3", "O", "M8[s]"])


@settings(max_examples=150, deadline=None)
@given(
    data=st.data(),
    dt_true=DTYPES,
    dt_pred=DTYPES,
    shape_true=hnp.array_shapes(min_dims=0, max_dims=3, max_side=6),
    shape_pred=hnp.array_shapes(min_dims=0, max_dims=3, max_side=6),
    k=st.integers(-2, 6),
    threshold=st.floats(allow_nan=True, allow_infinity=True),
)
def test_fuzz_wrappers_never_crash(data, dt_true, dt_pred, shape_true, shape_pred, k,
                                   threshold):
    """Random dtypes, shapes and values: a result or a ValueError/TypeError, never a crash."""
    def arr(dt, shape):
        if dt in ("O", "U3", "M8[s]", "c8", "f2"):
            return np.zeros(shape, dtype=dt)
        return data.draw(hnp.arrays(np.dtype(dt), shape))

    t, p = arr(dt_true, shape_true), arr(dt_pred, shape_pred)
    w = data.draw(st.one_of(st.none(), hnp.arrays(np.float64, shape_true)))
    calls = [
        lambda: _counts.count_labels(t, p, k, w),
        lambda: _counts.count_threshold(t, p, threshold, w),
        lambda: _counts.count_argmax(t, p, k, w),
        lambda: _counts.multilabel_counts(t, p, w, per_sample=True),
        lambda: _counts.multilabel_threshold(t, p, threshold, w),
        lambda: _pairs.pair_counts(t, p, w),
    ]
    for call in calls:
        try:
            call()
        except (ValueError, TypeError, OverflowError):
            pass
