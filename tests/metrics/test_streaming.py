"""Streaming metrics: parity with scikit-learn, exact merges, state handling, errors."""

from __future__ import annotations

import copy
import pickle
import threading
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import calipers
from calipers.metrics import Suite

skm = pytest.importorskip("sklearn.metrics")

PRF = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score,
       "jaccard": skm.jaccard_score}


def sk_average(task, average):
    if average is None:
        return "binary" if task == "binary" else "macro"
    return None if average == "none" else average


def specificity_oracle(y, p, k, average, w, zero_division):
    mcm = skm.multilabel_confusion_matrix(y, p, labels=list(range(k)), sample_weight=w)
    tn, fp = mcm[:, 0, 0], mcm[:, 0, 1]
    if average == "binary":
        tn, fp = tn[1:], fp[1:]
    if average == "micro":
        tn, fp = np.array([tn.sum()]), np.array([fp.sum()])
    neg = tn + fp
    zd = 0.0 if zero_division == "warn" else zero_division
    with np.errstate(all="ignore"):
        vals = np.where(neg == 0, zd, tn / np.where(neg == 0, 1, neg))
    if average in ("binary", "micro"):
        return vals[0]
    if average in (None, "none"):
        return vals
    if average == "weighted":
        support = mcm[:, 1, 0] + mcm[:, 1, 1]
        return 0.0 if support.sum() == 0 else np.average(vals, weights=support)
    return vals.mean()


def oracle(name, task, k, y, p, w, average, zero_division, **kw):
    labels = list(range(k))
    avg = sk_average(task, average)
    if name in PRF:
        return PRF[name](y, p, labels=labels, average=avg, sample_weight=w,
                         zero_division=zero_division)
    if name == "fbeta":
        return skm.fbeta_score(y, p, beta=kw["beta"], labels=labels, average=avg,
                               sample_weight=w, zero_division=zero_division)
    if name == "accuracy":
        return skm.accuracy_score(y, p, sample_weight=w)
    if name == "hamming_loss":
        return skm.hamming_loss(y, p, sample_weight=w)
    if name == "balanced_accuracy":
        return skm.balanced_accuracy_score(y, p, sample_weight=w)
    if name == "mcc":
        return skm.matthews_corrcoef(y, p, sample_weight=w)
    if name == "cohen_kappa":
        return skm.cohen_kappa_score(y, p, labels=labels, sample_weight=w)
    if name == "confusion_matrix":
        return skm.confusion_matrix(y, p, labels=labels, sample_weight=w)
    if name == "specificity":
        return specificity_oracle(y, p, k, average if average else sk_average(task, average),
                                  w, zero_division)
    raise AssertionError(name)


def assert_same(ours, ref):
    ref = np.asarray(ref, dtype=np.float64)
    ours = np.asarray(ours, dtype=np.float64)
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12, equal_nan=True)


NAMES = ["accuracy", "precision", "recall", "f1", "fbeta", "specificity",
         "balanced_accuracy", "mcc", "cohen_kappa", "jaccard", "hamming_loss",
         "confusion_matrix"]


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(NAMES),
    k=st.integers(2, 6),
    n=st.integers(1, 300),
    binary=st.booleans(),
    average=st.sampled_from([None, "micro", "macro", "weighted", "none"]),
    zero_division=st.sampled_from(["warn", 0.0, 1.0, np.nan]),
    weighted=st.booleans(),
    n_batches=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_parity_and_merge(name, k, n, binary, average, zero_division, weighted, n_batches,
                          seed):
    rng = np.random.default_rng(seed)
    task = "binary" if binary else "multiclass"
    k = 2 if binary else k
    # few distinct values, so absent classes and one-class inputs are common
    used = rng.choice(k, size=rng.integers(1, k + 1), replace=False)
    y = rng.choice(used, n)
    p = np.where(rng.random(n) < 0.5, y, rng.choice(used, n))
    w = rng.choice([0.0, 0.5, 1.0, 3.0], n) if weighted else None
    if w is not None:
        w[rng.integers(n)] = 1.0  # sklearn refuses all-zero weights
    if name == "jaccard" and not isinstance(zero_division, str) and np.isnan(zero_division):
        zero_division = 1.0  # sklearn's jaccard_score takes no nan
    cls = calipers.plugins.get("metric", name)
    opts = {"num_classes": k} if task == "multiclass" else {}
    if cls.uses_average:
        opts["average"] = average
        opts["zero_division"] = zero_division
    if name == "fbeta":
        opts["beta"] = 0.5
    metric = calipers.metric(name, task=task, **opts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = oracle(name, task, k, y, p, w, average, zero_division, beta=0.5)
        # one-shot
        metric.update(y, p, w)
        one = metric.compute()
        assert_same(one, ref)
        # split into batches on several instances, then merge
        cuts = np.sort(rng.integers(0, n + 1, n_batches - 1))
        parts = []
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, n], strict=True):
            m = calipers.metric(name, task=task, **opts)
            m.update(y[lo:hi], p[lo:hi], None if w is None else w[lo:hi])
            parts.append(m)
        merged = parts[0].merge(*parts[1:])
        assert_same(merged.compute(), ref)


@pytest.mark.parametrize("name", ["precision", "recall", "f1", "jaccard"])
@pytest.mark.parametrize("average", ["micro", "macro", "weighted", "samples", "none"])
def test_multilabel_parity(name, average):
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, (500, 5))
    y[:, 4] = 0  # a label never true
    p = rng.integers(0, 2, (500, 5))
    p[:20] = 0  # rows with no prediction (zero division in 'samples')
    w = rng.random(500)
    m = calipers.metric(name, task="multilabel", num_labels=5, average=average,
                        zero_division=0.0)
    m.update(y[:250], p[:250], w[:250])
    m2 = calipers.metric(name, task="multilabel", num_labels=5, average=average,
                         zero_division=0.0)
    m2.update(y[250:], p[250:], w[250:])
    m.merge(m2)
    ref = PRF[name](y, p, average=None if average == "none" else average, sample_weight=w,
                    zero_division=0.0)
    assert_same(m.compute(), ref)


def test_multilabel_scores_accuracy_hamming():
    rng = np.random.default_rng(8)
    y = rng.integers(0, 2, (300, 4))
    s = rng.random((300, 4))
    p = (s >= 0.3).astype(int)
    suite = Suite(["accuracy", "hamming_loss", "confusion_matrix", "mcc"], task="multilabel",
                  num_labels=4, threshold=0.3)
    suite.update(y, s)
    out = suite.compute()
    assert out["accuracy"] == pytest.approx(skm.accuracy_score(y, p))
    assert out["hamming_loss"] == pytest.approx(skm.hamming_loss(y, p))
    np.testing.assert_array_equal(out["confusion_matrix"], skm.multilabel_confusion_matrix(y, p))
    assert out["mcc"] == pytest.approx(skm.matthews_corrcoef(y.ravel(), p.ravel()))


def test_scores_thresholded_and_argmaxed():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 1000)
    s = rng.random(1000).astype(np.float32)
    m = calipers.metric("f1", task="binary", threshold=0.7)
    m.update(y, s)
    assert m.compute() == pytest.approx(skm.f1_score(y, (s >= 0.7).astype(int)))
    y3 = rng.integers(0, 4, 1000)
    s3 = rng.random((1000, 4))
    m = calipers.metric("recall", task="multiclass", num_classes=4, average="weighted")
    m.update(y3, s3)
    assert m.compute() == pytest.approx(skm.recall_score(y3, s3.argmax(1), average="weighted"))


def test_suite_equals_separate_metrics_and_one_state():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 2000)
    p = rng.integers(0, 3, 2000)
    names = ["accuracy", "precision", "recall", "f1", "mcc", "cohen_kappa", "confusion_matrix"]
    suite = Suite(names, task="multiclass", num_classes=3, average="weighted")
    suite.update(y, p)
    out = suite.compute()
    assert list(out) == names
    for name in names:
        m = calipers.metric(name, task="multiclass", num_classes=3,
                            **({"average": "weighted"} if name in PRF else {}))
        m.update(y, p)
        assert_same(out[name], m.compute())
    # one pass: the suite keeps a single state
    assert suite.n_samples == 2000


def test_suite_same_name_twice_gets_distinct_keys():
    suite = Suite([calipers.metric("f1", task="multiclass", num_classes=3, average="micro"),
                   calipers.metric("f1", task="multiclass", num_classes=3, average="macro")],
                  task="multiclass", num_classes=3)
    suite.update([0, 1, 2, 2], [0, 2, 2, 1])
    out = suite.compute()
    assert set(out) == {"f1[average=micro]", "f1[average=macro]"}


def test_failed_update_leaves_state_unchanged():
    m = calipers.metric("f1", task="multiclass", num_classes=3, average="macro")
    m.update([0, 1, 2], [0, 1, 1])
    before = m.state_dict()
    bad_batches = [
        ([0, 1, 3], [0, 1, 1]),          # out of range
        ([0, 1, -1], [0, 1, 1]),         # negative
        ([0, 1], [0, 1, 1]),             # length mismatch
        ([[0, 1]], [[0, 1]]),            # wrong ndim
        (np.array([0, None, 1], dtype=object), [0, 1, 1]),  # object with None
        ([0, 1, 2], np.array([[0.1, 0.2, np.nan]] * 3)),  # NaN score
    ]
    for y, p in bad_batches:
        with pytest.raises((ValueError, TypeError)):
            m.update(y, p)
        after = m.state_dict()
        np.testing.assert_array_equal(after["state"]["counts"], before["state"]["counts"])
        assert after["state"]["n"] == before["state"]["n"]


def test_bad_options():
    with pytest.raises(ValueError, match="unknown average"):
        calipers.metric("f1", task="binary", average="mean")
    with pytest.raises(ValueError, match="num_classes"):
        calipers.metric("f1", task="multiclass")
    with pytest.raises(ValueError, match="unknown task"):
        calipers.metric("f1", task="regression")
    with pytest.raises(ValueError, match="f1"):
        calipers.metric("f2")  # unknown name, close match suggested
    with pytest.raises(ValueError, match="samples"):
        calipers.metric("f1", task="multiclass", num_classes=3, average="samples")
    with pytest.raises(ValueError, match="zero_division"):
        calipers.metric("precision", task="binary", zero_division=2)


def test_pickle_copy_and_state_dict_roundtrip():
    m = calipers.metric("cohen_kappa", task="multiclass", num_classes=4, weights="quadratic")
    m.update([0, 1, 2, 3, 3], [0, 2, 2, 3, 1], [1.0, 2.0, 1.0, 0.5, 1.0])
    value = m.compute()
    assert pickle.loads(pickle.dumps(m)).compute() == value
    assert copy.deepcopy(m).compute() == value
    fresh = calipers.metric("cohen_kappa", task="multiclass", num_classes=4, weights="quadratic")
    fresh.load_state_dict(m.state_dict())
    assert fresh.compute() == value
    other = calipers.metric("cohen_kappa", task="multiclass", num_classes=5)
    with pytest.raises(ValueError):
        other.load_state_dict(m.state_dict())
    with pytest.raises(ValueError):
        other.merge(m)


def test_merge_is_thread_safe():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 80_000)
    p = rng.integers(0, 5, 80_000)
    target = calipers.metric("confusion_matrix", task="multiclass", num_classes=5)
    parts = []
    for i in range(16):
        m = calipers.metric("confusion_matrix", task="multiclass", num_classes=5)
        m.update(y[i * 5000:(i + 1) * 5000], p[i * 5000:(i + 1) * 5000])
        parts.append(m)
    threads = [threading.Thread(target=target.merge, args=(part,)) for part in parts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    np.testing.assert_array_equal(target.compute(), skm.confusion_matrix(y, p))


def test_huge_counts_stay_exact():
    m = calipers.metric("confusion_matrix", task="binary")
    state = m.state_dict()
    state["state"]["counts"] = np.array([[2**60, 3], [5, 2**61]], dtype=np.int64)
    state["state"]["n"] = 2**60 + 2**61 + 8
    m.load_state_dict(state)
    m.update([1, 0], [1, 0])
    np.testing.assert_array_equal(m.compute(), [[2**60 + 1, 3], [5, 2**61 + 1]])


def test_torch_tensors_are_accepted():
    torch = pytest.importorskip("torch")
    y = torch.tensor([0, 1, 1, 0, 1])
    p = torch.tensor([0.2, 0.8, 0.4, 0.6, 0.9])
    m = calipers.metric("f1", task="binary")
    m.update(y, p)
    assert m.compute() == pytest.approx(skm.f1_score(y.numpy(), (p.numpy() >= 0.5)))


def test_specificity_zero_division_warns_like_sklearn_ratios():
    from calipers.metrics import UndefinedMetricWarning

    m = calipers.metric("specificity", task="binary")
    m.update([1, 1], [1, 0])  # no negative samples
    with pytest.warns(UndefinedMetricWarning, match="Specificity is ill-defined"):
        assert m.compute() == 0.0
    m = calipers.metric("specificity", task="binary", zero_division=1)
    m.update([1, 1], [1, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert m.compute() == 1.0
