"""The compiled ranking core behind _rank_core: parity with scikit-learn, exact counts,
out-of-bounds safety, and the binned path's bounds."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix_at_thresholds,
    roc_auc_score,
)

from calipers._core import _histogram, _ranking
from calipers.metrics import _rank_core as rc
from calipers.metrics._rank_binned import harmonic_diff

# Sizes around the kernel's boundaries: insertion sort up to SMALL_SORT keys per class,
# parallel passes from PARALLEL_MIN_PER_THREAD keys per thread.
SMALL = _ranking.SMALL_SORT
PAR = _ranking.PARALLEL_MIN_PER_THREAD
SIZES = [0, 1, 2, 3, 17, SMALL - 1, SMALL, SMALL + 1, SMALL + 2, 2 * SMALL + 1, 65_537,
         PAR + 1]


def _sk(y, s, w):
    """scikit-learn's AUC, AP and (fps, tps, thresholds), or None where it is undefined."""
    keep = np.ones(len(y), bool) if w is None else w != 0
    if not keep.any():
        return None
    _, fps, _, tps, thr = confusion_matrix_at_thresholds(y, s, sample_weight=w)
    two = len(np.unique(y[keep])) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        auc = roc_auc_score(y, s, sample_weight=w) if two else float("nan")
        ap = average_precision_score(y, s, sample_weight=w) if y[keep].any() else float("nan")
    return auc, ap, fps, tps, thr


def _check(y, s, w=None):
    y = np.asarray(y)
    fps, tps, thr = rc.binary_clf_curve(y, s, w)
    auc, ap = rc.binary_auc_ap(y, s, w)
    assert thr.dtype == np.asarray(s).dtype
    assert fps.dtype == tps.dtype == np.float64
    ref = _sk(y, s, w)
    if ref is None:
        assert fps.size == tps.size == thr.size == 0
        assert math.isnan(auc) and math.isnan(ap)
        return
    r_auc, r_ap, r_fps, r_tps, r_thr = ref
    np.testing.assert_array_equal(thr, r_thr)
    if w is None:
        np.testing.assert_array_equal(fps, r_fps)
        np.testing.assert_array_equal(tps, r_tps)
    else:
        np.testing.assert_allclose(fps, r_fps, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(tps, r_tps, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(auc, r_auc, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(ap, r_ap, rtol=1e-11, atol=1e-13)
    np.testing.assert_equal(rc.binary_auc(y, s, w), auc)
    np.testing.assert_equal(rc.binary_ap(y, s, w), ap)


def _scores(rng, kind, n):
    if kind == "uniform":
        return rng.random(n)
    if kind == "ties":
        return rng.integers(0, 7, n) / 7.0
    if kind == "constant":
        return np.full(n, 0.25)
    if kind == "signed_zero":
        return rng.choice(np.array([-0.0, 0.0, 1.0, -1.0]), n)
    if kind == "subnormal":
        return rng.choice(np.array([5e-324, -5e-324, 1e-310, -1e-310, 0.0, 2.2e-308]), n)
    if kind == "huge":
        return rng.standard_normal(n) * 1e300
    if kind == "negative":
        return -rng.exponential(size=n) - 10.0
    if kind == "extremes":
        return rng.choice(np.array([np.finfo(np.float64).max, -np.finfo(np.float64).max,
                                    np.finfo(np.float64).tiny, 0.5]), n)
    raise AssertionError(kind)


KINDS = ["uniform", "ties", "constant", "signed_zero", "subnormal", "huge", "negative",
         "extremes"]


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("kind", ["uniform", "ties"])
def test_parity_across_sizes(n, kind):
    rng = np.random.default_rng(n)
    s = _scores(rng, kind, n)
    y = (rng.random(n) < 0.4).astype(np.int64)
    _check(y, s)
    _check(y, s.astype(np.float32))


# sklearn's own finiteness check overflows summing +-1.8e308 scores
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [2, 50, 1000, 70_000])
@pytest.mark.parametrize("weighted", [False, True])
def test_parity_adversarial(kind, n, weighted):
    rng = np.random.default_rng(abs(hash((kind, n, weighted))) % 2**32)
    s = _scores(rng, kind, n)
    y = rng.random(n) < rng.uniform(0.05, 0.95)
    w = None
    if weighted:
        w = rng.random(n) * 3
        w[rng.random(n) < 0.3] = 0.0
    _check(y, s, w)
    if kind not in ("huge", "extremes", "subnormal"):  # those do not fit float32
        _check(y, s.astype(np.float32), w)


@pytest.mark.parametrize("kind,dtype,weighted,share", [("uniform", np.float64, False, 0.5),
                                                       ("ties", np.float32, False, 0.5),
                                                       ("uniform", np.float64, True, 0.5),
                                                       ("ties", np.float64, False, 0.1),
                                                       ("uniform", np.float32, True, 0.9)])
def test_parity_parallel_paths(kind, dtype, weighted, share):
    """Above two threads' parallel threshold: balanced classes sort side by side,
    unbalanced ones pass by pass in chunks; split and walk segments run in parallel
    too. On a single-thread build this runs the serial path on the same data."""
    rng = np.random.default_rng(7)
    n = 4 * PAR + 3
    s = _scores(rng, kind, n).astype(dtype)
    y = rng.random(n) < share
    w = np.where(rng.random(n) < 0.1, 0.0, rng.random(n)) if weighted else None
    _check(y, s, w)


def test_strided_scores_read_in_place_or_copied():
    rng = np.random.default_rng(9)
    m = rng.random((3000, 7))
    y = rng.random(3000) < 0.4
    for col in (m[:, 3], m[::-1, 2], m.astype(np.float32)[:, 6], m[::2, 1],
                np.broadcast_to(np.float64(0.5), (3000,))):
        yy = y[: col.shape[0]]
        compact = np.ascontiguousarray(col)
        np.testing.assert_equal(rc.binary_auc_ap(yy, col), rc.binary_auc_ap(yy, compact))
        for a, b in zip(rc.binary_clf_curve(yy, col), rc.binary_clf_curve(yy, compact),
                        strict=True):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="stride"):
        _ranking.rank_binary(np.zeros(3, np.uint8), m[::-1, 0][:3], None, False)


def test_one_class_and_empty():
    s = np.array([0.3, 0.1, 0.2])
    assert math.isnan(rc.binary_auc(np.zeros(3, bool), s))
    assert math.isnan(rc.binary_ap(np.zeros(3, bool), s))
    assert math.isnan(rc.binary_auc(np.ones(3, bool), s))
    assert rc.binary_ap(np.ones(3, bool), s) == 1.0
    fps, tps, thr = rc.binary_clf_curve(np.zeros(0, bool), np.zeros(0))
    assert fps.shape == tps.shape == thr.shape == (0,)
    # every weight zero: nothing left
    assert rc.binary_clf_curve([1, 0], [0.5, 0.2], np.zeros(2))[0].size == 0


def test_signed_zeros_are_one_tie():
    assert rc.binary_auc([0, 1], [-0.0, 0.0]) == 0.5
    assert rc.binary_auc([1, 0], np.array([-0.0, 0.0], np.float32)) == 0.5
    fps, tps, thr = rc.binary_clf_curve([0, 1, 1], [-0.0, 0.0, 1.0])
    assert thr.tolist() == [1.0, 0.0] and fps.tolist() == [0.0, 1.0]


def test_weight_zero_samples_are_dropped():
    y = np.array([1, 0, 1, 0])
    s = np.array([0.9, 0.8, 0.7, 0.1])
    w = np.array([1.0, 0.0, 2.0, 1.0])
    fps, tps, thr = rc.binary_clf_curve(y, s, w)
    assert thr.tolist() == [0.9, 0.7, 0.1]
    assert tps.tolist() == [1.0, 3.0, 3.0] and fps.tolist() == [0.0, 0.0, 1.0]


def test_pos_mask_forms_agree():
    rng = np.random.default_rng(3)
    s = rng.random(500)
    y = rng.random(500) < 0.5
    ref = rc.binary_auc_ap(y, s)
    assert rc.binary_auc_ap(y.astype(np.int8), s) == ref
    assert rc.binary_auc_ap(y.astype(float), s) == ref
    assert rc.binary_auc_ap(list(y), list(s)) == ref


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.lists(
        st.tuples(
            st.booleans(),
            st.sampled_from([-2.0, -0.0, 0.0, 1e-320, 0.1, 0.5, 0.5000000000000001, 3.0]),
            st.sampled_from([0.0, 0.5, 1.0, 2.0, 1e-3]),
        ),
        min_size=1,
        max_size=60,
    ),
    weighted=st.booleans(),
    f32=st.booleans(),
)
def test_hypothesis_parity(data, weighted, f32):
    y = np.array([d[0] for d in data], dtype=np.int64)
    s = np.array([d[1] for d in data], dtype=np.float32 if f32 else np.float64)
    w = np.array([d[2] for d in data]) if weighted else None
    _check(y, s, w)


def _reference(pos, s, w):
    # the numpy reference: stable argsort, cumulative sums at distinct scores
    s = np.where(s == 0, np.zeros(1, s.dtype), s)
    if w is not None:
        keep = w != 0
        pos, s, w = pos[keep], s[keep], w[keep]
    order = np.argsort(s, kind="stable")[::-1]
    pos, s = pos[order], s[order]
    w = np.ones(s.size) if w is None else w[order]
    if s.size == 0:
        return np.zeros(0), np.zeros(0), s
    idx = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    return np.cumsum(~pos * w)[idx], np.cumsum(pos * w)[idx], s[idx]


@pytest.mark.parametrize("seed", range(40))
def test_fuzz_no_out_of_bounds_reads(seed):
    """Random shapes, strides and dtypes, the arrays cut out of NaN-padded buffers: a
    kernel reading past its input would meet NaN keys or foreign labels and differ
    from the compact copies' and the numpy reference's results."""
    rng = np.random.default_rng(seed)
    n = int(rng.choice([0, 1, 2, 5, 100, 256, 257, 1000, 70_000]))
    dtype = rng.choice([np.float32, np.float64])
    step = int(rng.integers(1, 4))
    pad = 7
    buf = np.full(pad + n * step + pad, np.nan, dtype=dtype)
    vals = rng.integers(0, 50, n) / 49.0 if rng.random() < 0.5 else rng.standard_normal(n)
    buf[pad:pad + n * step:step] = vals
    s = buf[pad:pad + n * step:step]
    lbuf = np.ones(pad + n * step + pad, dtype=bool)
    lbuf[pad:pad + n * step:step] = rng.random(n) < 0.5
    y = lbuf[pad:pad + n * step:step]
    w = None
    if rng.random() < 0.5:
        wbuf = np.full(pad + n * step + pad, np.inf)
        wbuf[pad:pad + n * step:step] = np.where(rng.random(n) < 0.2, 0.0, rng.random(n))
        w = wbuf[pad:pad + n * step:step]
    got = rc.binary_clf_curve(y, s, w)
    sc, yc = np.array(s), np.array(y)
    wc = None if w is None else np.array(w)
    compact = rc.binary_clf_curve(yc, sc, wc)
    ref = _reference(yc, sc, wc)
    for a, b, r in zip(got, compact, ref, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, r, rtol=1e-12)
    np.testing.assert_equal(rc.binary_auc_ap(y, s, w), rc.binary_auc_ap(yc, sc, wc))
    edges_in = rc.binned_hist(y, s, w, bins=int(rng.integers(1, 40)), lo=-1.0, hi=1.0)
    assert np.isfinite(edges_in).all()
    np.testing.assert_allclose(edges_in.sum(), n if w is None else wc.sum())


@pytest.mark.parametrize("dtype,bits", [(np.float64, np.uint64), (np.float32, np.uint32)])
def test_core_survives_nan_bit_patterns(dtype, bits):
    """The wrapper refuses NaN, but the kernel must still stay in bounds: the all-ones
    NaN would map to the sentinel key 0."""
    rng = np.random.default_rng(4)
    n = 3000
    raw = rng.random(n).astype(dtype)
    raw[::3] = np.array([-1], dtype=np.int64).astype(bits).view(dtype)[0]  # all bits set
    pos = (rng.random(n) < 0.5).view(np.uint8)
    # the branch-free walk (no curve) against the bounds-checked grouped walk
    fast, _ = _ranking.rank_binary(pos, raw, None, False)
    grouped, _ = _ranking.rank_binary(pos, raw, None, True)
    assert fast == grouped
    assert fast[2:] == (pos.sum(), n - pos.sum(), pos.sum(), n - pos.sum())
    weighted, _ = _ranking.rank_binary(pos, raw, np.ones(n), False)
    assert weighted[0] * 2 == fast[0]


def test_concurrent_calls_share_nothing():
    """The kernels release the GIL and one pair of buffers is kept between calls:
    calls from several Python threads at once must not see each other's data."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(21)
    tasks = []
    for k in range(12):
        n = int(rng.choice([300, 5000, 200_000]))
        s = rng.integers(0, 1000, n) / 999.0 if k % 2 else rng.random(n)
        tasks.append((rng.random(n) < 0.3, s.astype(np.float32) if k % 3 == 0 else s))
    expected = [rc.binary_auc_ap(y, s) for y, s in tasks]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            got = list(pool.map(lambda t: rc.binary_auc_ap(*t), tasks))
            assert got == expected


def test_core_rejects_mismatched_lengths():
    with pytest.raises(ValueError):
        _ranking.rank_binary(np.zeros(3, np.uint8), np.zeros(4), None, False)
    with pytest.raises(ValueError):
        _ranking.rank_binary(np.zeros(3, np.uint8), np.zeros(3), np.zeros(2), False)
    with pytest.raises(TypeError):
        _ranking.rank_binary(np.zeros(3, np.uint8), np.zeros(3, np.int32), None, False)
    with pytest.raises(ValueError, match="expected"):
        rc.binary_auc(np.zeros(3, bool), np.zeros(4))
    with pytest.raises(ValueError, match="1-D"):
        rc.binary_auc(np.zeros(3, bool), np.zeros((3, 1)))


def test_float32_counts_exact_above_2_pow_24():
    """2**25 float32 scores: sklearn #34975 lost counts past 2**24 in float32."""
    n = 2**25
    rng = np.random.default_rng(0)
    levels = rng.integers(0, 1000, n, dtype=np.int16)
    s = (levels.astype(np.float32) / np.float32(1000)).astype(np.float32)
    y = rng.random(n, dtype=np.float32) < 0.75
    fps, tps, thr = rc.binary_clf_curve(y, s)
    pos = np.bincount(levels[y], minlength=1000)[::-1].astype(np.int64)
    neg = np.bincount(levels[~y], minlength=1000)[::-1].astype(np.int64)
    P, N = int(pos.sum()), int(neg.sum())
    assert P > 2**24
    np.testing.assert_array_equal(tps, np.cumsum(pos))
    np.testing.assert_array_equal(fps, np.cumsum(neg))
    assert tps[-1] == P and fps[-1] == N and thr.size == 1000
    # the exact AUC as a fraction of Python ints, rounded once
    neg_below = N - np.cumsum(neg)
    num2 = sum(2 * int(p) * int(b) + int(p) * int(q) for p, q, b in zip(pos, neg, neg_below,
                                                                          strict=True))
    assert rc.binary_auc(y, s) == num2 / (2 * P * N)
    stats = rc.binary_stats(y, s)
    assert type(stats["auc_num"]) is int and stats["auc_num"] == num2
    assert (stats["n_pos"], stats["n_neg"]) == (P, N)


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("f32", [False, True])
def test_columns_equal_per_column_calls(order, weighted, f32):
    rng = np.random.default_rng(12)
    n, c = 20_000, 6
    s = np.asarray(rng.integers(0, 40, (n, c)) / 39.0, order=order)
    if f32:
        s = s.astype(np.float32)
    lab = rng.integers(0, c, n)
    pos = lab[:, None] == np.arange(c)
    pos[:, 5] = False  # one column without positives: NaN like the 1-D calls
    w = np.where(rng.random(n) < 0.2, 0.0, rng.random(n)) if weighted else None
    auc, ap = rc.binary_auc_ap_columns(pos, s, w)
    for k in range(c):
        one = rc.binary_auc_ap(pos[:, k], np.ascontiguousarray(s[:, k]), w)
        np.testing.assert_equal((auc[k], ap[k]), one)
        if k < 5:
            sk = _sk(pos[:, k], s[:, k], w)
            np.testing.assert_allclose((auc[k], ap[k]), sk[:2], rtol=1e-11)
    assert math.isnan(auc[5]) and math.isnan(ap[5])


def test_columns_edge_shapes_and_errors():
    assert [a.shape for a in rc.binary_auc_ap_columns(np.zeros((5, 0)), np.zeros((5, 0)))] == [
        (0,), (0,)]
    auc, ap = rc.binary_auc_ap_columns(np.zeros((0, 3)), np.zeros((0, 3)))
    assert np.isnan(auc).all() and np.isnan(ap).all()
    m = np.random.default_rng(0).random((50, 4))
    y = m > 0.5
    np.testing.assert_equal(rc.binary_auc_ap_columns(y[::-1], m[::-1]),
                            rc.binary_auc_ap_columns(y, m))
    with pytest.raises(ValueError, match="shape"):
        rc.binary_auc_ap_columns(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="2-D"):
        rc.binary_auc_ap_columns(np.zeros(5), np.zeros(5))
    with pytest.raises(ValueError, match="weights"):
        rc.binary_auc_ap_columns(np.zeros((5, 2)), np.zeros((5, 2)), np.ones(4))


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------

def test_as_scores():
    assert rc.as_scores(np.zeros(3, np.float32)).dtype == np.float32
    assert rc.as_scores([1, 2]).dtype == np.float64
    assert rc.as_scores(np.zeros(2, np.float16)).dtype == np.float64
    assert rc.as_scores(np.zeros((4, 2), order="F")).flags.c_contiguous
    for bad in ([0.1, np.nan], [np.inf, 0.0], np.array([-np.inf], np.float32)):
        with pytest.raises(ValueError, match="NaN or infinity"):
            rc.as_scores(bad, "y_prob")
    with pytest.raises(TypeError, match="real numbers"):
        rc.as_scores(np.array([1j]))
    with pytest.raises(TypeError):
        rc.as_scores(np.array(["a"]))


# ---------------------------------------------------------------------------
# binned path
# ---------------------------------------------------------------------------

def _ref_hist(pos, s, w, bins, lo, hi):
    e = rc.bin_edges(bins, lo, hi)
    b = np.clip(np.searchsorted(e, s, side="right") - 1, 0, bins - 1)
    out = np.zeros((bins, 2))
    np.add.at(out, (b, np.asarray(pos, bool).astype(int)), 1.0 if w is None else w)
    return out


@pytest.mark.parametrize("bins", [1, 2, 7, 100, 10_000])
@pytest.mark.parametrize("f32", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_histogram_matches_edges(bins, f32, weighted):
    rng = np.random.default_rng(bins)
    n = 150_000
    s = rng.uniform(-0.2, 1.2, n)
    s[:1000] = rc.bin_edges(bins)[rng.integers(0, bins, 1000)]  # exactly on edges
    s[1000:1010] = [0.0, 1.0, -0.0, 1e-300, -5.0, 7.0, 0.999999999, 1 - 1e-17, 0.5, 0.25]
    if f32:
        s = s.astype(np.float32)
    y = rng.random(n) < 0.3
    w = rng.random(n) if weighted else None
    h = rc.binned_hist(y, s, w, bins=bins)
    assert h.shape == (bins, 2)
    assert h.dtype == (np.float64 if weighted else np.int64)
    np.testing.assert_allclose(h, _ref_hist(y, s.astype(np.float64), w, bins, 0.0, 1.0),
                               rtol=1e-12)


@pytest.mark.parametrize("delta", [-1, 0, 1, 65_536 + 5])
def test_histogram_sizes_across_work_items(delta):
    rng = np.random.default_rng(abs(delta))
    n = _histogram.SAMPLES_PER_ITEM + delta
    s = rng.random((n, 3))
    lab = rng.integers(0, 3, n)
    y = lab == 1
    w = rng.random(n)
    np.testing.assert_allclose(rc.binned_hist(y, s[:, 1], w, bins=17),
                               _ref_hist(y, s[:, 1], w, 17, 0.0, 1.0), rtol=1e-12)
    hm = rc.binned_hist_multiclass(lab, s, bins=17)
    for k in range(3):
        np.testing.assert_array_equal(hm[k], _ref_hist(lab == k, s[:, k], None, 17, 0.0, 1.0))


def test_histogram_threshold_side():
    # a score on an edge is in the bin above it: "score >= edge" is positive there
    h = rc.binned_hist([1, 0, 1], [0.5, 0.49999, 1.0], bins=2)
    assert h.tolist() == [[1, 0], [0, 2]]
    fps, tps, thr = rc.binned_clf_curve(h)
    assert thr.tolist() == [0.5, 0.0] and tps.tolist() == [2.0, 2.0]
    assert fps.tolist() == [0.0, 1.0]


def test_histogram_merges_by_addition():
    rng = np.random.default_rng(5)
    s = rng.random(100_000)
    y = rng.random(100_000) < 0.5
    w = rng.random(100_000)
    for weights in (None, w):
        whole = rc.binned_hist(y, s, weights, bins=333, lo=0.1, hi=0.9)
        parts = sum(rc.binned_hist(y[a:b], s[a:b], None if weights is None else weights[a:b],
                                   bins=333, lo=0.1, hi=0.9)
                    for a, b in [(0, 17), (17, 60_000), (60_000, 100_000)])
        np.testing.assert_allclose(parts, whole, rtol=1e-12)
        if weights is None:
            np.testing.assert_array_equal(parts, whole)


def test_multiclass_and_multilabel_histograms():
    rng = np.random.default_rng(11)
    n, c = 90_000, 5
    s = rng.random((n, c)).astype(np.float32)
    lab = rng.integers(0, c, n).astype(np.uint8)
    ind = rng.random((n, c)) < 0.3
    w = rng.random(n)
    for weights in (None, w):
        hm = rc.binned_hist_multiclass(lab, s, weights, bins=64)
        hl = rc.binned_hist_multilabel(ind, np.asfortranarray(s), weights, bins=64)
        assert hm.shape == hl.shape == (c, 64, 2)
        for k in range(c):
            np.testing.assert_array_equal(hm[k], rc.binned_hist(lab == k, s[:, k], weights,
                                                                bins=64))
            np.testing.assert_array_equal(hl[k], rc.binned_hist(ind[:, k], s[:, k], weights,
                                                                bins=64))
    with pytest.raises(ValueError, match="outside"):
        rc.binned_hist_multiclass(np.array([0, 5]), np.zeros((2, 5)), bins=4)
    with pytest.raises(ValueError, match="outside"):
        rc.binned_hist_multiclass(np.array([0, -1]), np.zeros((2, 5)), bins=4)
    with pytest.raises(TypeError):
        rc.binned_hist_multiclass(np.array([0.5, 1.0]), np.zeros((2, 5)), bins=4)
    with pytest.raises(ValueError, match="shape"):
        rc.binned_hist_multilabel(np.zeros((2, 4)), np.zeros((2, 5)), bins=4)


def test_histogram_argument_errors():
    with pytest.raises(ValueError, match="bins"):
        rc.binned_hist([1], [0.5], bins=0)
    with pytest.raises(ValueError, match="lo < hi"):
        rc.binned_hist([1], [0.5], lo=1.0, hi=1.0)
    with pytest.raises(ValueError, match="lo < hi"):
        rc.binned_hist([1], [0.5], lo=0.0, hi=np.inf)
    with pytest.raises(ValueError, match="weights"):
        rc.binned_hist([1, 0], [0.5, 0.1], [1.0], bins=3)
    with pytest.raises(ValueError, match="shape"):
        rc.binned_auc(np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"^scores must be 1-D"):
        rc.binned_hist([1, 0], np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"^multiclass scores must be 2-D \(n, C\)"):
        rc.binned_hist_multiclass([1, 0], np.zeros(2))
    with pytest.raises(ValueError, match=r"^multilabel scores must be 2-D \(n, L\)"):
        rc.binned_hist_multilabel([1, 0], np.zeros(2))


def test_binned_auc_bound_10k_bins_uniform():
    rng = np.random.default_rng(2)
    n = 1_000_000
    y = rng.random(n) < 0.4
    s = np.clip(rng.random(n) + 0.1 * y, 0, 1)
    h = rc.binned_hist(y, s, bins=10_000)
    auc, bound = rc.binned_auc(h)
    exact = rc.binary_auc(y, s)
    assert bound <= 1e-3
    assert abs(auc - exact) <= bound
    a, lower, upper = rc.binned_auc_interval(h)
    assert a == auc and lower <= exact <= upper


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("weighted", [False, True])
def test_binned_bounds_hold(seed, weighted):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 5000))
    bins = int(rng.choice([1, 3, 10, 50, 1000]))
    if seed % 3 == 0:
        s = rng.integers(0, 9, n) / 8.0  # ties, some on edges
    else:
        s = rng.beta(0.5, 0.5, n)
    y = rng.random(n) < rng.uniform(0.02, 0.98)
    if not y.any():
        y[0] = True
    if y.all():
        y[-1] = False
    w = rng.random(n) * (rng.random(n) > 0.1) if weighted else None
    if w is not None and (w[y].sum() == 0 or w[~y].sum() == 0):
        w[y.argmax()], w[(~y).argmax()] = 1.0, 1.0
    h = rc.binned_hist(y, s, w, bins=bins)
    auc, lower, upper = rc.binned_auc_interval(h)
    exact = roc_auc_score(y, s, sample_weight=w)
    assert lower - 1e-12 <= exact <= upper + 1e-12
    assert abs(auc - exact) <= (upper - lower) / 2 + 1e-12
    ap, ap_lo, ap_hi = rc.binned_ap(h)
    exact_ap = average_precision_score(y, s, sample_weight=w)
    assert ap_lo - 1e-12 <= exact_ap <= ap_hi + 1e-12
    assert ap_lo - 1e-12 <= ap <= ap_hi + 1e-12


def test_binned_ap_point_is_sklearn_with_bins_as_ties():
    rng = np.random.default_rng(8)
    s = rng.random(20_000)
    y = rng.random(20_000) < 0.3
    bins = 37
    h = rc.binned_hist(y, s, bins=bins)
    snapped = rc.bin_edges(bins)[np.clip(np.searchsorted(rc.bin_edges(bins), s, "right") - 1,
                                         0, bins - 1)]
    ap, lower, upper = rc.binned_ap(h)
    assert ap == pytest.approx(average_precision_score(y, snapped), rel=1e-12)
    auc, _ = rc.binned_auc(h)
    assert auc == pytest.approx(roc_auc_score(y, snapped), rel=1e-12)
    fps, tps, thr = rc.binned_clf_curve(h)
    _, r_fps, _, r_tps, r_thr = confusion_matrix_at_thresholds(y, snapped)
    np.testing.assert_array_equal(fps, r_fps)
    np.testing.assert_array_equal(tps, r_tps)
    np.testing.assert_array_equal(thr, r_thr)


def test_binned_ap_bounds_are_attained():
    # one bin: positives all first (tied) gives the upper bound, negatives first the lower
    h = np.array([[3, 4]])
    ap, lower, upper = rc.binned_ap(h)
    assert upper == pytest.approx(1.0)
    assert lower == pytest.approx(sum(j / (3 + j) for j in range(1, 5)) / 4)
    assert ap == pytest.approx(4 / 7)
    assert average_precision_score([0, 0, 0, 1, 1, 1, 1], [7, 6, 5, 4, 3, 2, 1]) == (
        pytest.approx(lower))
    assert math.isnan(rc.binned_ap(np.array([[3, 0]]))[0])
    assert all(math.isnan(v) for v in rc.binned_auc(np.array([[0, 5]])))


def test_harmonic_diff():
    a = np.array([0.0, 0.0, 3.0, 1e6, 12.5, 0.0, 7.0])
    p = np.array([0, 1, 40, 100_000, 33, 5000, 32])
    got = harmonic_diff(a, p)
    for ai, pi, gi in zip(a, p, got, strict=True):
        exact = math.fsum(1.0 / (ai + j) for j in range(1, int(pi) + 1))
        assert gi == pytest.approx(exact, rel=1e-13, abs=1e-300)


def test_binned_hist_checked_counts_bad_input():
    from calipers._core._histogram import SAMPLES_PER_ITEM

    rng = np.random.default_rng(77)
    n = 2 * SAMPLES_PER_ITEM + 5
    y = rng.integers(0, 2, n)
    s = rng.uniform(-0.2, 1.2, n)
    s[:1000] = rc.bin_edges(64, 0.2, 0.9)[rng.integers(0, 64, 1000)]  # exactly on edges
    s[1000:1004] = [0.2, 0.9, -1e30, 1e30]
    w = rng.random(n)
    for dt in (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64,
               np.uint64, bool, np.dtype(">i4")):
        for sc in (s, s.astype(np.float32)):
            for wt in (None, w):
                hist, nb, nn = rc.binned_hist_checked(y.astype(dt), sc, wt, bins=64,
                                                      lo=0.2, hi=0.9)
                assert (nb, nn) == (0, 0)
                np.testing.assert_allclose(
                    hist, _ref_hist(y, sc.astype(np.float64), wt, 64, 0.2, 0.9), rtol=1e-12)
    yb = y.copy()
    yb[[0, SAMPLES_PER_ITEM, n - 1]] = [2, -1, 7]
    sb = s.copy()
    sb[[3, n - 2]] = [np.nan, -np.inf]
    assert rc.binned_hist_checked(yb, sb, bins=8)[1:] == (3, 2)
    assert rc.binned_hist_checked(yb.astype(np.int8), sb.astype(np.float32), bins=8)[1:] == (3, 2)
    assert rc.binned_hist_checked(yb.astype(np.uint8), s, bins=8)[1:] == (3, 0)
    with pytest.raises(TypeError):
        rc.binned_hist_checked(y.astype(np.float64), s)
    with pytest.raises(ValueError):
        rc.binned_hist_checked(y[:-1], s)
