"""Defects a fuzzer found in the metric functions (issue 13), and a parity fuzz over
the weights and layouts that exposed them: huge, subnormal, float16 and zero weights;
empty, big-endian and non-contiguous inputs."""

from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn import metrics as sk

import calipers
from calipers import metrics as cm
from calipers.metrics import UndefinedMetricWarning

# -- 1. huge weights: products of weights overflowed, AUC came out NaN -----------------


@pytest.mark.parametrize("w", [1e155, 1e200, 1e300, 1.7e308])
def test_roc_auc_with_huge_weights(w):
    assert cm.roc_auc_score([0, 1], [0.2, 0.8], sample_weight=[w, w]) == 1.0
    for bins in (None, 100):
        m = calipers.metric("roc_auc", bins=bins)
        m.update(np.array([0, 1]), np.array([0.2, 0.8]), sample_weight=np.array([w, w]))
        assert m.compute() == 1.0
        m = calipers.metric("average_precision", bins=bins)
        m.update(np.array([0, 1]), np.array([0.2, 0.8]), sample_weight=np.array([w, w]))
        assert m.compute() == 1.0


@pytest.mark.parametrize("scale", [1e155, 1e300, 1e-310, 1e-320, 1.0])
def test_scale_of_the_weights_does_not_matter(scale):
    rng = np.random.default_rng(0)
    y, s = rng.integers(0, 2, 300), rng.random(300)
    ws = (rng.random(300) + 0.5) * scale
    # the same weights at a normal scale: an exact power-of-two shift (subnormals too)
    shift = -int(np.floor(np.log2(scale)))
    w = np.ldexp(ws, shift)
    base_auc = sk.roc_auc_score(y, s, sample_weight=w)
    base_ap = sk.average_precision_score(y, s, sample_weight=w)
    assert cm.roc_auc_score(y, s, sample_weight=ws) == pytest.approx(base_auc, rel=1e-12)
    assert cm.average_precision_score(y, s, sample_weight=ws) == pytest.approx(base_ap,
                                                                              rel=1e-12)
    y3, p3 = rng.integers(0, 3, 300), rng.dirichlet([1, 1, 1], 300)
    assert cm.roc_auc_score(y3, p3, multi_class="ovr", sample_weight=ws) == pytest.approx(
        sk.roc_auc_score(y3, p3, multi_class="ovr", sample_weight=w), rel=1e-12)
    for name in ("roc_auc", "average_precision"):
        for bins in (None, 64):
            a, b = calipers.metric(name, bins=bins), calipers.metric(name, bins=bins)
            a.update(y, s, sample_weight=w)
            b.update(y, s, sample_weight=ws)
            assert b.compute() == pytest.approx(a.compute(), rel=1e-12)


# -- 2. float16 weights were summed in float16 -----------------------------------------


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_accuracy_sums_weights_in_float64(dtype):
    w = np.array([0.1, 0.2, 0.3], dtype=dtype)
    got = cm.accuracy_score([0, 1, 1], [0, 1, 0], sample_weight=w)
    assert got == sk.accuracy_score([0, 1, 1], [0, 1, 0], sample_weight=w)
    exact = float((Fraction(float(w[0])) + Fraction(float(w[1])))
                  / sum(Fraction(float(v)) for v in w))
    assert got == pytest.approx(exact, rel=1e-15)


# -- 3. subnormal weights: AP was off by 1e-6 relative ---------------------------------


def _exact_ap(y, s, w):
    """scikit-learn's AP (sum over thresholds of recall step x precision) in fractions."""
    order = sorted(set(s.tolist()), reverse=True)
    wf = [Fraction(float(v)) for v in w]
    total_pos = sum(f for f, t in zip(wf, y, strict=True) if t)
    tp = fp = Fraction(0)
    ap, prev_recall = Fraction(0), Fraction(0)
    for thr in order:
        for f, t, v in zip(wf, y, s, strict=True):
            if v == thr:
                tp, fp = (tp + f, fp) if t else (tp, fp + f)
        recall = tp / total_pos
        ap += (recall - prev_recall) * (tp / (tp + fp))
        prev_recall = recall
    return float(ap)


@pytest.mark.parametrize("scale", [1e-320, 1e-310, 1e-300, 1.0])
def test_average_precision_with_subnormal_weights_is_exact(scale):
    rng = np.random.default_rng(1)
    y, s = rng.integers(0, 2, 60), rng.integers(0, 20, 60) / 20
    w = (rng.random(60) + 0.5) * scale
    exact = _exact_ap(y, s, w)
    assert cm.average_precision_score(y, s, sample_weight=w) == pytest.approx(exact, rel=1e-13)
    assert cm.roc_auc_score(y, s, sample_weight=w) == pytest.approx(
        sk.roc_auc_score(y, s, sample_weight=w / scale), rel=1e-13)


# -- 4 and 5. streaming metrics on no data / zero weights ------------------------------

SAMPLES = [(name, {"task": "multilabel", "num_labels": 3, "average": "samples"})
           for name in ("f1", "precision", "recall", "jaccard", "fbeta")]
EMPTY_CASES = SAMPLES + [
    ("f1", {}), ("precision", {}), ("accuracy", {}), ("mcc", {}),
    ("f1", {"task": "multiclass", "num_classes": 3}),
    ("recall", {"task": "multiclass", "num_classes": 3, "average": "none"}),
    ("jaccard", {"task": "multilabel", "num_labels": 3}),
]


@pytest.mark.parametrize(("name", "opts"), EMPTY_CASES)
@pytest.mark.parametrize("how", ["nothing", "empty batch", "zero weights"])
def test_streaming_metric_without_samples_warns_and_gives_nan(name, opts, how):
    m = calipers.metric(name, **opts)
    shape = (4, 3) if opts.get("task") == "multilabel" else (4,)
    y = np.zeros(shape, dtype=np.int64)
    y.flat[::2] = 1
    if how == "empty batch":
        m.update(y[:0], y[:0])
    elif how == "zero weights":
        m.update(y, y, sample_weight=np.zeros(4))
    with pytest.warns(UndefinedMetricWarning, match=f"{name} has (no samples|only zero)"):
        value = m.compute()
    assert np.all(np.isnan(value))
    if opts.get("average") == "none":
        assert np.shape(value) == (3,)
    # the drop-in refuses the same input, as scikit-learn does
    fn = {"f1": cm.f1_score, "precision": cm.precision_score, "recall": cm.recall_score,
          "jaccard": cm.jaccard_score, "accuracy": cm.accuracy_score}.get(name)
    if fn is not None and how != "nothing":
        w = None if how == "empty batch" else np.zeros(4)
        t = y[:0] if how == "empty batch" else y
        kw = {} if fn is cm.accuracy_score else {"average": opts.get("average", "binary")
                                                  if opts.get("average") != "none" else None}
        with pytest.raises(ValueError):
            fn(t, t, sample_weight=w, **kw)


def test_confusion_matrix_of_nothing_is_zeros():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert calipers.metric("confusion_matrix").compute().sum() == 0


def test_suite_and_bootstrap_share_the_empty_rule():
    s = cm.Suite(task="binary", metrics=("f1", "accuracy"))
    with pytest.warns(UndefinedMetricWarning):
        out = s.compute()
    assert all(np.isnan(v) for v in out.values())


# -- the parity fuzz over weights and layouts ----------------------------------------

WEIGHTS = st.sampled_from(["none", "huge", "subnormal", "float16", "zeros_some", "ones"])


def _weights(kind, rng, n):
    if kind == "none":
        return None
    if kind == "huge":
        return (rng.random(n) + 0.1) * 1e250
    if kind == "subnormal":
        return (rng.random(n) + 0.1) * 1e-315
    if kind == "float16":
        return (rng.random(n) + 0.1).astype(np.float16)
    if kind == "zeros_some":
        w = rng.random(n) + 0.1
        w[rng.random(n) < 0.3] = 0
        return w
    return np.ones(n)


def _layout(a, kind):
    if kind == "big-endian":
        return a.astype(a.dtype.newbyteorder(">"))
    if kind == "strided":
        return np.repeat(a, 2)[::2]
    return a


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 60), wkind=WEIGHTS,
       layout=st.sampled_from(["plain", "big-endian", "strided"]),
       ties=st.booleans())
def test_parity_fuzz_weights_and_layouts(seed, n, wkind, layout, ties):
    rng = np.random.default_rng(seed)
    y = _layout(rng.integers(0, 2, n), layout)
    s = rng.random(n)
    if ties:
        s = np.round(s * 4) / 4
    s = _layout(s, layout)
    p = _layout((rng.random(n) < 0.5).astype(np.int64), layout)
    w = _weights(wkind, rng, n)
    if w is not None:
        w = _layout(w, layout)
    cases = [(cm.roc_auc_score, sk.roc_auc_score, (y, s)),
             (cm.average_precision_score, sk.average_precision_score, (y, s)),
             (cm.accuracy_score, sk.accuracy_score, (y, p)),
             (cm.f1_score, sk.f1_score, (y, p))]
    for ours, theirs, args in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                want = theirs(*args, sample_weight=w)
            except (ValueError, IndexError):  # sklearn's AP crashes on empty input
                with pytest.raises(ValueError):
                    ours(*args, sample_weight=w)
                continue
            got = ours(*args, sample_weight=w)
        if wkind in ("huge", "subnormal") and ours in (cm.roc_auc_score,
                                                       cm.average_precision_score):
            # scikit-learn itself loses these (NaN / rounding): compare with the weights
            # brought to a normal scale, which the result does not depend on
            shift = -830 if wkind == "huge" else 1046  # exact power-of-two shifts
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                want = theirs(*args, sample_weight=np.ldexp(w.astype(np.float64), shift))
        if np.isnan(want):
            assert np.isnan(got)
        else:
            assert got == pytest.approx(want, rel=1e-9, abs=1e-12)
