"""Streaming score metrics: split-and-merge parity with scikit-learn, states, errors, bins."""

from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pytest

import calipers
from calipers.metrics import UndefinedMetricWarning

skm = pytest.importorskip("sklearn.metrics")

N = 600


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def cuts(n, rng, parts=4):
    """Random cut points (empty batches included) splitting range(n) into ``parts``."""
    inner = np.sort(rng.integers(0, n + 1, parts - 1))
    return np.r_[0, inner, n]


def split_merged(name, options, arrays, weights, rng, parts=4, **kw):
    """Update ``parts`` instances with consecutive slices, merge them into the first."""
    edges = cuts(arrays[0].shape[0], rng, parts)
    metrics = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        m = calipers.metric(name, **options)
        extra = {k: v[a:b] for k, v in kw.items()}
        m.update(*(x[a:b] for x in arrays), None if weights is None else weights[a:b],
                 **extra)
        metrics.append(m)
    return metrics[0].merge(*metrics[1:])


def one_shot(name, options, arrays, weights, **kw):
    m = calipers.metric(name, **options)
    m.update(*arrays, weights, **kw)
    return m


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def close(a, b, rtol=1e-12):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float),
                               rtol=rtol, atol=1e-15)


def data(task, k, rng, n=N, ties=False, dtype=np.float64, proba=False):
    if task == "binary":
        y = rng.integers(0, 2, n)
        s = rng.random(n)
    elif task == "multiclass":
        y = rng.integers(0, k, n)
        s = rng.dirichlet(np.ones(k), n) if proba or not ties else rng.random((n, k))
    else:
        y = rng.integers(0, 2, (n, k))
        s = rng.random((n, k))
    if ties:
        s = np.round(s, 1)
        if task == "multiclass" and proba:
            s = s / s.sum(axis=1, keepdims=True)
    return y, s.astype(dtype)


def weights_for(kind, n, rng):
    if kind is None:
        return None
    w = rng.random(n)
    if kind == "zeros":
        w[rng.random(n) < 0.3] = 0.0
    return w


TASKS = [("binary", 2), ("multiclass", 4), ("multilabel", 3)]


def task_options(task, k):
    if task == "multiclass":
        return {"task": task, "num_classes": k}
    if task == "multilabel":
        return {"task": task, "num_labels": k}
    return {"task": task}


# ---------------------------------------------------------------------------
# exact ROC AUC / average precision / curves
# ---------------------------------------------------------------------------

def sk_roc_auc(task, k, y, s, w, average, multi_class="ovr", max_fpr=None):
    avg = None if average == "none" else average
    if task == "binary":
        return skm.roc_auc_score(y, s, sample_weight=w, max_fpr=max_fpr)
    if task == "multiclass":
        return skm.roc_auc_score(y, s, sample_weight=w, average=avg, multi_class=multi_class,
                                 labels=list(range(k)))
    return skm.roc_auc_score(y, s, sample_weight=w, average=avg, max_fpr=max_fpr)


def averages(task, metric):
    if task == "binary":
        return [None]
    out = ["macro", "weighted", "micro", "none"]
    if task == "multilabel":
        out.append("samples")
    return out


@pytest.mark.parametrize("task,k", TASKS)
@pytest.mark.parametrize("wkind", [None, "zeros"])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_roc_auc_exact_split_merge(task, k, wkind, ties, dtype):
    rng = np.random.default_rng(hash((task, wkind, ties, str(dtype))) % 2**32)
    y, s = data(task, k, rng, ties=ties, dtype=dtype, proba=True)
    w = weights_for(wkind, N, rng)
    for average in averages(task, "roc_auc"):
        opts = {**task_options(task, k), "average": average}
        merged = split_merged("roc_auc", opts, (y, s), w, rng)
        want = sk_roc_auc(task, k, y, s, w, average)
        close(merged.compute(), want)
        close(one_shot("roc_auc", opts, (y, s), w).compute(), want)


def test_roc_auc_ovo_and_partial():
    rng = np.random.default_rng(1)
    y, s = data("multiclass", 4, rng, proba=True)
    for average in ("macro", "weighted"):
        opts = {"task": "multiclass", "num_classes": 4, "average": average, "multi_class": "ovo"}
        close(split_merged("roc_auc", opts, (y, s), None, rng).compute(),
              sk_roc_auc("multiclass", 4, y, s, None, average, multi_class="ovo"))
    yb, sb = data("binary", 2, rng, ties=True)
    w = rng.random(N)
    m = split_merged("roc_auc", {"max_fpr": 0.3}, (yb, sb), w, rng)
    close(m.compute(), skm.roc_auc_score(yb, sb, sample_weight=w, max_fpr=0.3))
    yl, sl = data("multilabel", 3, rng)
    m = split_merged("roc_auc", {"task": "multilabel", "num_labels": 3, "max_fpr": 0.5},
                     (yl, sl), None, rng)
    close(m.compute(), skm.roc_auc_score(yl, sl, max_fpr=0.5))


def test_roc_auc_two_class_multiclass():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, N)
    p1 = rng.random(N)
    s = np.stack([1 - p1, p1], axis=1)
    want = skm.roc_auc_score(y, p1)
    for mc in ("ovr", "ovo"):
        m = split_merged("roc_auc", {"task": "multiclass", "num_classes": 2,
                                     "multi_class": mc}, (y, s), None, rng)
        close(m.compute(), want)


@pytest.mark.parametrize("task,k", TASKS)
@pytest.mark.parametrize("wkind", [None, "zeros"])
@pytest.mark.parametrize("ties", [False, True])
def test_average_precision_exact_split_merge(task, k, wkind, ties):
    rng = np.random.default_rng(hash((task, wkind, ties, "ap")) % 2**32)
    y, s = data(task, k, rng, ties=ties)
    w = weights_for(wkind, N, rng)
    for average in averages(task, "average_precision"):
        if task == "multiclass" and average == "samples":
            continue
        opts = {**task_options(task, k), "average": average}
        avg = None if average == "none" else average
        want = skm.average_precision_score(y, s, sample_weight=w, average=avg) \
            if task != "binary" else skm.average_precision_score(y, s, sample_weight=w)
        close(split_merged("average_precision", opts, (y, s), w, rng).compute(), want)


@pytest.mark.parametrize("drop", [True, False])
@pytest.mark.parametrize("wkind", [None, "zeros"])
def test_curves_exact_split_merge(drop, wkind):
    rng = np.random.default_rng(3)
    y, s = data("binary", 2, rng, ties=True)
    w = weights_for(wkind, N, rng)
    roc = split_merged("roc_curve", {"drop_intermediate": drop}, (y, s), w, rng).compute()
    fpr, tpr, thr = skm.roc_curve(y, s, sample_weight=w, drop_intermediate=drop)
    close(roc.fpr, fpr)
    close(roc.tpr, tpr)
    close(roc.thresholds, thr)
    close(roc.auc, skm.auc(fpr, tpr))
    pr = split_merged("pr_curve", {"drop_intermediate": drop}, (y, s), w, rng).compute()
    p, r, t = skm.precision_recall_curve(y, s, sample_weight=w, drop_intermediate=drop)
    close(pr.precision, p)
    close(pr.recall, r)
    close(pr.thresholds, t)
    close(pr.average_precision, skm.average_precision_score(y, s, sample_weight=w))


def test_curves_per_class_and_micro():
    rng = np.random.default_rng(4)
    y, s = data("multiclass", 3, rng, ties=True)
    onehot = np.eye(3, dtype=int)[y]
    curves = split_merged("roc_curve", {"task": "multiclass", "num_classes": 3},
                          (y, s), None, rng).compute()
    assert len(curves) == 3
    for c, curve in enumerate(curves):
        fpr, tpr, _ = skm.roc_curve(onehot[:, c], s[:, c])
        close(curve.fpr, fpr)
        close(curve.tpr, tpr)
    yl, sl = data("multilabel", 3, rng)
    micro = split_merged("pr_curve", {"task": "multilabel", "num_labels": 3,
                                      "average": "micro"}, (yl, sl), None, rng).compute()
    p, r, _ = skm.precision_recall_curve(yl.ravel(), sl.ravel())
    close(micro.precision, p)
    close(micro.recall, r)


def test_one_class_warns_nan():
    m = calipers.metric("roc_auc")
    m.update([1, 1, 1], [0.2, 0.5, 0.9])
    with pytest.warns(UndefinedMetricWarning, match="Only one class is present"):
        assert np.isnan(m.compute())
    m = calipers.metric("roc_auc", bins=10)
    m.update([0, 0], [0.2, 0.5])
    with pytest.warns(UndefinedMetricWarning, match="Only one class is present"):
        assert np.isnan(m.compute())


# ---------------------------------------------------------------------------
# sums: log loss, Brier, top-k, NDCG
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("task,k", [("binary", 2), ("multiclass", 4)])
@pytest.mark.parametrize("wkind", [None, "zeros"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_proba_metrics_split_merge(task, k, wkind, dtype):
    rng = np.random.default_rng(hash((task, wkind, str(dtype), "proba")) % 2**32)
    y, s = data(task, k, rng, proba=True, dtype=dtype)
    s[:5] = 0.0 if task == "binary" else s[:5]  # clipped log(0)
    w = weights_for(wkind, N, rng)
    opts = task_options(task, k)
    labels = list(range(k))
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    for normalize in (True, False):
        m = split_merged("log_loss", {**opts, "normalize": normalize}, (y, s), w, rng)
        close(m.compute(), skm.log_loss(y, s, sample_weight=w, labels=labels,
                                        normalize=normalize), rtol)
    for half in ("auto", True, False):
        m = split_merged("brier_score", {**opts, "scale_by_half": half}, (y, s), w, rng)
        want = skm.brier_score_loss(y, s, sample_weight=w, scale_by_half=half,
                                    **({"labels": labels} if task != "binary" else {}))
        close(m.compute(), want, rtol)


@pytest.mark.parametrize("wkind", [None, "zeros"])
def test_top_k_split_merge(wkind):
    rng = np.random.default_rng(5)
    y, s = data("multiclass", 5, rng, ties=True)
    w = weights_for(wkind, N, rng)
    for k in (1, 2, 4):
        for normalize in (True, False):
            opts = {"task": "multiclass", "num_classes": 5, "k": k, "normalize": normalize}
            close(split_merged("top_k_accuracy", opts, (y, s), w, rng).compute(),
                  skm.top_k_accuracy_score(y, s, k=k, normalize=normalize, sample_weight=w,
                                           labels=list(range(5))))


def test_top_k_binary_threshold_decided_on_all_data():
    rng = np.random.default_rng(6)
    y = rng.integers(0, 2, 100)
    s = rng.random(100)
    s[60:] = rng.normal(size=40)  # the second part leaves [0, 1]: threshold 0 for all
    for split in ([0, 60, 100], [0, 30, 100]):
        metrics = []
        for a, b in zip(split[:-1], split[1:], strict=True):
            m = calipers.metric("top_k_accuracy", k=1)
            m.update(y[a:b], s[a:b])
            metrics.append(m)
        merged = metrics[0].merge(*metrics[1:])
        close(merged.compute(), skm.top_k_accuracy_score(y, s, k=1))
    first = calipers.metric("top_k_accuracy", k=1)
    first.update(y[:60], s[:60])
    close(first.compute(), skm.top_k_accuracy_score(y[:60], s[:60], k=1))
    with pytest.warns(UndefinedMetricWarning, match="perfect score"):
        m = calipers.metric("top_k_accuracy", k=2)
        m.update(y, s)
        assert m.compute() == 1.0


@pytest.mark.parametrize("k", [None, 1, 3])
@pytest.mark.parametrize("ignore_ties", [False, True])
@pytest.mark.parametrize("wkind", [None, "zeros"])
def test_ndcg_split_merge(k, ignore_ties, wkind):
    rng = np.random.default_rng(7)
    n = 120
    y = rng.integers(0, 4, (n, 6))
    y[:5] = 0  # rows with nothing relevant score 0
    s = rng.integers(0, 3, (n, 6)).astype(float)  # heavy ties
    w = weights_for(wkind, n, rng)
    m = split_merged("ndcg", {"k": k, "ignore_ties": ignore_ties}, (y, s), w, rng)
    close(m.compute(), skm.ndcg_score(y, s, k=k, ignore_ties=ignore_ties, sample_weight=w),
          1e-10)
    yf = rng.random((n, 4))
    sf = rng.random((n, 4))
    close(split_merged("ndcg", {}, (yf, sf), None, rng).compute(), skm.ndcg_score(yf, sf),
          1e-10)


# ---------------------------------------------------------------------------
# map
# ---------------------------------------------------------------------------

def sk_map(y, s, q, w, empty="zero"):
    aps = []
    for query in np.unique(q):
        i = q == query
        pos = y[i] if w is None else y[i] * w[i]
        if not pos.sum() > 0:
            if empty == "skip":
                continue
            aps.append({"zero": 0.0, "one": 1.0}[empty])
            continue
        aps.append(skm.average_precision_score(y[i], s[i],
                                                sample_weight=None if w is None else w[i]))
    return np.mean(aps)


@pytest.mark.parametrize("wkind", [None, "zeros"])
@pytest.mark.parametrize("empty", ["zero", "one", "skip"])
def test_map_split_merge(wkind, empty):
    rng = np.random.default_rng(8)
    y = (rng.random(N) < 0.2).astype(int)
    s = np.round(rng.random(N), 1)
    q = rng.integers(0, 40, N) * 7 - 50  # any integers, queries spread over batches
    w = weights_for(wkind, N, rng)
    m = split_merged("map", {"empty_query": empty}, (y, s), w, rng, query_ids=q)
    close(m.compute(), sk_map(y, s, q, w, empty))
    order = rng.permutation(N)  # item order does not matter
    m2 = one_shot("map", {"empty_query": empty}, (y[order], s[order]),
                  None if w is None else w[order], query_ids=q[order])
    close(m2.compute(), m.compute())


def test_map_empty_rules():
    m = calipers.metric("map", empty_query="error")
    m.update([0, 0, 1], [0.1, 0.2, 0.3], query_ids=[1, 1, 2])
    with pytest.raises(ValueError, match="no relevant items"):
        m.compute()
    m = calipers.metric("map", empty_query="skip")
    m.update([0, 0], [0.1, 0.2], query_ids=[1, 1])
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(m.compute())
    with pytest.raises(TypeError, match="query_ids"):
        m.update([0, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="empty_query"):
        calipers.metric("map", empty_query="neg")


# ---------------------------------------------------------------------------
# state handling
# ---------------------------------------------------------------------------

CASES = [
    ("roc_auc", {}, "binary"),
    ("roc_auc", {"task": "multiclass", "num_classes": 3}, "multiclass"),
    ("average_precision", {"task": "multilabel", "num_labels": 3}, "multilabel"),
    ("roc_curve", {}, "binary"),
    ("pr_curve", {}, "binary"),
    ("log_loss", {"task": "multiclass", "num_classes": 3}, "multiclass"),
    ("brier_score", {}, "binary"),
    ("top_k_accuracy", {"task": "multiclass", "num_classes": 3}, "multiclass"),
    ("ndcg", {}, "ndcg"),
    ("map", {}, "map"),
    ("roc_auc", {"bins": 64}, "binary"),
    ("average_precision", {"task": "multiclass", "num_classes": 3, "bins": 64}, "multiclass"),
]


def batch(kind, rng, n=50):
    if kind == "ndcg":
        return (rng.integers(0, 3, (n, 4)), rng.random((n, 4))), {}
    if kind == "map":
        return (rng.integers(0, 2, n), rng.random(n)), {"query_ids": rng.integers(0, 5, n)}
    y, s = data(kind, 3, rng, n=n, proba=True)
    return (y, s), {}


def value(m):
    out = quiet(m.compute)
    if isinstance(out, list):
        out = out[0]
    if hasattr(out, "fpr"):
        return np.r_[out.fpr, out.tpr]
    if hasattr(out, "precision"):
        return np.r_[out.precision, out.recall]
    return np.asarray(out, dtype=float)


@pytest.mark.parametrize("name,opts,kind", CASES)
def test_state_dict_pickle_copy_reset(name, opts, kind):
    rng = np.random.default_rng(9)
    m = calipers.metric(name, **opts)
    for _ in range(3):
        arrays, kw = batch(kind, rng)
        m.update(*arrays, **kw)
    want = value(m)
    restored = calipers.metric(name, **opts)
    restored.load_state_dict(m.state_dict())
    close(value(restored), want)
    close(value(pickle.loads(pickle.dumps(m))), want)
    close(value(copy.deepcopy(m)), want)
    clone = m.empty_clone()
    assert clone.n_samples == 0 and m.n_samples == 150
    m.reset()
    assert m.n_samples == 0
    with pytest.raises(ValueError, match="not"):
        calipers.metric("f1").load_state_dict(restored.state_dict())


BAD_UPDATES = [
    ("roc_auc", {}, ([0, 2], [0.1, 0.2]), {}, ValueError, "0 or 1"),
    ("roc_auc", {}, ([0, 1], [0.1, np.nan]), {}, ValueError, "NaN"),
    ("roc_auc", {}, ([0, 1], [0.1, np.inf]), {}, ValueError, "infinity"),
    ("roc_auc", {}, ([0, 1], [[0.1, 0.9], [0.2, 0.8]]), {}, ValueError, "shape"),
    ("roc_auc", {}, ([0, 1, 1], [0.1, 0.2]), {}, ValueError, "samples"),
    ("roc_auc", {}, ([0, 1], ["a", "b"]), {}, TypeError, "real numbers"),
    ("roc_auc", {}, (["x", "y"], [0.1, 0.2]), {}, TypeError, "labels"),
    ("roc_auc", {}, ([0, 1], [0.1, 0.2], [1.0]), {}, ValueError, "sample_weight"),
    ("roc_auc", {"task": "multiclass", "num_classes": 3},
     ([0, 1], [[0.2, 0.2, 0.2], [0.1, 0.1, 0.8]]), {}, ValueError, "sum up to 1"),
    ("roc_auc", {"task": "multiclass", "num_classes": 3},
     ([0, 3], [[0.2, 0.2, 0.6], [0.1, 0.1, 0.8]]), {}, ValueError, "num_classes=3"),
    ("roc_auc", {"task": "multiclass", "num_classes": 3, "multi_class": "ovo"},
     ([0, 1], [[0.2, 0.2, 0.6], [0.1, 0.1, 0.8]], [1.0, 2.0]), {}, ValueError, "one-vs-one"),
    ("average_precision", {"task": "multilabel", "num_labels": 2},
     ([[0, 2]], [[0.1, 0.2]]), {}, ValueError, "0/1"),
    ("log_loss", {}, ([0, 1], [0.5, 1.5]), {}, ValueError, "greater than 1"),
    ("brier_score", {}, ([0, 1], [-0.5, 0.5]), {}, ValueError, "less than 0"),
    ("ndcg", {}, ([[0, -1]], [[0.1, 0.2]]), {}, ValueError, "negative"),
    ("ndcg", {}, ([[1]], [[0.1]]), {}, ValueError, "more than 1 document"),
    ("map", {}, ([0, 1], [0.1, 0.2]), {"query_ids": [1]}, ValueError, "query_ids"),
    ("map", {}, ([0, 1], [0.1, 0.2]), {"query_ids": [1.5, 2]}, ValueError, "integer"),
    ("roc_auc", {"bins": 8}, ([0, 1], [0.1, np.nan]), {}, ValueError, "NaN"),
]


@pytest.mark.parametrize("name,opts,args,kw,exc,match", BAD_UPDATES)
def test_failed_update_leaves_state_unchanged(name, opts, args, kw, exc, match):
    rng = np.random.default_rng(10)
    m = calipers.metric(name, **opts)
    kind = {"ndcg": "ndcg", "map": "map"}.get(name, opts.get("task", "binary"))
    k = opts.get("num_classes", opts.get("num_labels", 2))
    if kind in ("ndcg", "map"):
        good, gkw = batch(kind, rng)
    else:
        good, gkw = data(kind, k, rng, n=40, proba=True), {}
    m.update(*good, **gkw)
    before = m.state_dict()
    with pytest.raises(exc, match=match):
        m.update(*args, **kw)
    after = m.state_dict()
    assert after["options"] == before["options"]
    for key, val in before["state"].items():
        if isinstance(val, np.ndarray):
            np.testing.assert_array_equal(after["state"][key], val)
        else:
            assert after["state"][key] == val


BAD_OPTIONS = [
    ("roc_auc", {"task": "ternary"}, "unknown task"),
    ("roc_auc", {"task": "multiclass"}, "num_classes"),
    ("roc_auc", {"average": "macro"}, "task='binary'"),
    ("roc_auc", {"task": "multiclass", "num_classes": 3, "average": "samples"}, "samples"),
    ("roc_auc", {"task": "multiclass", "num_classes": 3, "average": "bogus"}, "average"),
    ("roc_auc", {"multi_class": "ovx"}, "multi_class"),
    ("roc_auc", {"task": "multiclass", "num_classes": 3, "multi_class": "ovo",
                 "average": "micro"}, "ovo"),
    ("roc_auc", {"task": "multiclass", "num_classes": 3, "multi_class": "ovo", "bins": 10},
     "ovo"),
    ("roc_auc", {"max_fpr": 0.0}, "max_fpr"),
    ("roc_auc", {"max_fpr": 0.5, "bins": 10}, "max_fpr"),
    ("roc_auc", {"bins": 1}, "bins"),
    ("roc_auc", {"bins": 2.5}, "bins"),
    ("roc_auc", {"bins": 10, "score_range": (1.0, 0.0)}, "score_range"),
    ("roc_auc", {"bins": 10, "score_range": "01"}, "score_range"),
    ("roc_auc", {"task": "multilabel", "num_labels": 1}, "num_labels >= 2"),
    ("average_precision", {"task": "multilabel", "num_labels": 2, "average": "samples",
                           "bins": 10}, "samples"),
    ("roc_curve", {"task": "multiclass", "num_classes": 3, "average": "macro"}, "average"),
    ("log_loss", {"task": "multilabel"}, "not defined"),
    ("top_k_accuracy", {"task": "multilabel"}, "not defined"),
    ("brier_score", {"scale_by_half": "yes"}, "scale_by_half"),
    ("top_k_accuracy", {"k": 0}, "k must"),
    ("ndcg", {"k": 0}, "k must"),
]


@pytest.mark.parametrize("name,opts,match", BAD_OPTIONS)
def test_bad_options(name, opts, match):
    with pytest.raises(ValueError, match=match):
        calipers.metric(name, **opts)


def test_merge_checks_options_and_empty_compute():
    a = calipers.metric("roc_auc")
    with pytest.raises(ValueError, match="options"):
        a.merge(calipers.metric("roc_auc", bins=10))
    with pytest.raises(TypeError):
        a.merge(calipers.metric("average_precision"))
    with pytest.warns(UndefinedMetricWarning, match="no samples"):
        assert np.isnan(a.compute())
    with pytest.warns(UndefinedMetricWarning, match="no samples"):
        assert np.isnan(calipers.metric("log_loss").compute())
    with pytest.raises(ValueError, match="no samples"):
        calipers.metric("roc_curve").compute()
    with pytest.raises(ValueError, match="exact"):
        a.error_bound()


def test_exact_state_is_compact():
    rng = np.random.default_rng(11)
    y, s = data("multiclass", 5, rng, proba=True, dtype=np.float32)
    m = calipers.metric("roc_auc", task="multiclass", num_classes=5)
    m.update(y, s)
    state = m.state_dict()["state"]
    assert state["y_true"].dtype == np.uint8
    assert state["y_score"].dtype == np.float32
    assert state["sample_weight"] is None
    b = calipers.metric("average_precision")
    b.update(y > 2, s[:, 0])
    assert b.state_dict()["state"]["y_true"].dtype == bool


# ---------------------------------------------------------------------------
# binned
# ---------------------------------------------------------------------------

def test_binned_auc_bound_uniform():
    rng = np.random.default_rng(12)
    n = 200_000
    y = rng.integers(0, 2, n)
    s = np.clip(rng.random(n) * 0.8 + 0.2 * y, 0, 1)
    m = calipers.metric("roc_auc", bins=10_000)
    exact = skm.roc_auc_score(y, s)
    edges = cuts(n, rng, 3)
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        m.update(y[a:b], s[a:b])
    bound = m.error_bound()
    assert bound <= 1e-3
    assert abs(m.compute() - exact) <= bound
    lo, hi = m.bounds()
    assert lo <= exact <= hi


@pytest.mark.parametrize("wkind", [None, "zeros"])
def test_binned_ap_within_interval_and_merge_exact(wkind):
    rng = np.random.default_rng(13)
    y, s = data("binary", 2, rng, n=5000, ties=True)
    w = weights_for(wkind, 5000, rng)
    m = split_merged("average_precision", {"bins": 50}, (y, s), w, rng)
    one = one_shot("average_precision", {"bins": 50}, (y, s), w)
    merged_hist, one_hist = m.state_dict()["state"]["hist"], one.state_dict()["state"]["hist"]
    if w is None:  # counts add exactly; weight sums up to summation order
        np.testing.assert_array_equal(merged_hist, one_hist)
    close(merged_hist, one_hist)
    exact = skm.average_precision_score(y, s, sample_weight=w)
    lo, hi = m.bounds()
    assert lo - 1e-12 <= exact <= hi + 1e-12
    assert abs(m.compute() - exact) <= m.error_bound() + 1e-12


@pytest.mark.parametrize("average", ["macro", "weighted", "micro", "none"])
def test_binned_multiclass_and_multilabel(average):
    rng = np.random.default_rng(14)
    for task, k in TASKS[1:]:
        y, s = data(task, k, rng, n=4000, proba=True)
        opts = {**task_options(task, k), "average": average, "bins": 2000}
        auc = split_merged("roc_auc", opts, (y, s), None, rng)
        ap = split_merged("average_precision", opts, (y, s), None, rng)
        avg = None if average == "none" else average
        kw = {"multi_class": "ovr", "labels": list(range(k))} if task == "multiclass" else {}
        exact_auc = skm.roc_auc_score(y, s, average=avg, **kw)
        yy = np.eye(k, dtype=int)[y] if task == "multiclass" else y
        exact_ap = skm.average_precision_score(yy, s, average=avg)
        assert np.all(np.abs(auc.compute() - exact_auc) <= auc.error_bound() + 1e-12)
        lo, hi = ap.bounds()
        assert np.all(lo - 1e-12 <= exact_ap) and np.all(exact_ap <= hi + 1e-12)


def test_binned_curves():
    rng = np.random.default_rng(15)
    y, s = data("binary", 2, rng, n=3000)
    roc = split_merged("roc_curve", {"bins": 1000}, (y, s), None, rng).compute()
    assert roc.thresholds[0] == np.inf and roc.fpr[0] == 0 and roc.fpr[-1] == 1
    assert abs(roc.auc - skm.roc_auc_score(y, s)) < 1e-2
    pr = split_merged("pr_curve", {"bins": 1000}, (y, s), None, rng).compute()
    assert pr.recall[-1] == 0 and pr.precision[-1] == 1
    assert abs(pr.average_precision - skm.average_precision_score(y, s)) < 1e-2
    curves = one_shot("roc_curve", {"task": "multilabel", "num_labels": 2, "bins": 100},
                      data("multilabel", 2, rng), None).compute()
    assert len(curves) == 2


# ---------------------------------------------------------------------------
# torch and the registry
# ---------------------------------------------------------------------------

def test_torch_tensors():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(16)
    y, s = data("multiclass", 3, rng, proba=True)
    w = rng.random(N)
    for name in ("roc_auc", "average_precision", "log_loss", "brier_score", "top_k_accuracy"):
        opts = {"task": "multiclass", "num_classes": 3}
        a = one_shot(name, opts, (y, s), w)
        b = one_shot(name, opts, (torch.from_numpy(y), torch.from_numpy(s)),
                     torch.from_numpy(w))
        close(b.compute(), a.compute())
    m = calipers.metric("map")
    m.update(torch.tensor([0, 1, 1]), torch.tensor([0.2, 0.3, 0.1]),
             query_ids=torch.tensor([1, 1, 2]))
    close(m.compute(), 1.0)


def test_registered_names():
    from calipers import plugins

    names = ["roc_auc", "average_precision", "roc_curve", "pr_curve", "log_loss",
             "brier_score", "top_k_accuracy", "ndcg", "map"]
    for name in names:
        cls = plugins.get("metric", name)
        assert cls.name == name
        assert getattr(calipers.metrics, cls.__name__) is cls
    m = calipers.metric("roc_auc", task="multiclass", num_classes=10)
    assert m.num_classes == 10


@pytest.mark.parametrize("dtype", [np.int8, np.int64, np.uint8, np.int16, np.uint32, bool])
def test_binned_binary_one_pass_checks(dtype):
    # integer / bool labels with float scores are counted and checked in one pass:
    # the counts match float labels (the full parsing path) for every label dtype, and
    # a bad label or score anywhere (past the first work item too) is refused with the
    # full path's message, the state unchanged
    rng = np.random.default_rng(31)
    n = 3 * 65536 + 17
    y = rng.integers(0, 2, n)
    s = rng.random(n)
    s[:50] = np.linspace(0, 1, 101)[:50]  # scores exactly at bin edges
    w = rng.random(n)
    for kw in ({}, {"sample_weight": w}):
        for sc in (s, s.astype(np.float32)):
            ref32 = calipers.metric("roc_auc", bins=100)
            ref32.update(y.astype(np.float64), sc, **kw)
            m = calipers.metric("roc_auc", bins=100)
            m.update(y.astype(dtype), sc, **kw)
            np.testing.assert_array_equal(m.state_dict()["state"]["hist"],
                                          ref32.state_dict()["state"]["hist"])
    m = calipers.metric("roc_auc", bins=100)
    m.update(y.astype(dtype), s)
    before = m.state_dict()["state"]
    bad_labels = [] if dtype is bool else [2, 255 if np.dtype(dtype).kind == "u" else -1]
    for i in (5, n - 1):
        for v in bad_labels:
            yb = y.astype(dtype)
            yb[i] = v
            with pytest.raises(ValueError,
                               match=rf"y_true has {v} at flat index {i}; binary labels must"):
                m.update(yb, s)
        for v in (np.nan, np.inf, -np.inf):
            sb = s.copy()
            sb[i] = v
            with pytest.raises(ValueError, match="y_score contains NaN or infinity"):
                m.update(y.astype(dtype), sb)
        after = m.state_dict()["state"]
        assert after["n"] == before["n"]
        np.testing.assert_array_equal(after["hist"], before["hist"])
