"""Torch backend metrics: parity with the numpy path for every confusion and ranking
metric, on CPU tensors through the core and through the device kernels."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from _torch_metric_utils import (
    MODES,
    assert_same,
    assert_tensors,
    check_parity,
    compute_warned,
    cpu_mode,
    torch,
)

import calipers
from calipers import plugins
from calipers.metrics._confusion_metric import ConfusionMetric

K, L = 4, 3


def _confusion_names() -> list[str]:
    names = []
    for name in plugins.names("metric"):
        cls = plugins.get("metric", name)
        if isinstance(cls, type) and issubclass(cls, ConfusionMetric):
            names.append(name)
    return sorted(names)


def _combos():
    out = []
    for name in _confusion_names():
        cls = plugins.get("metric", name)
        for task in cls.tasks:
            avgs = [None] if not cls.uses_average else [None, *cls.averages]
            for avg in avgs:
                opts = {"task": task}
                if task == "multiclass":
                    opts["num_classes"] = K
                if task == "multilabel":
                    opts["num_labels"] = L
                if avg is not None:
                    opts["average"] = avg
                try:
                    calipers.metric(name, **opts)
                except ValueError:
                    continue
                out.append(pytest.param(name, opts, id=f"{name}-{task}-{avg}"))
    return out


def _weights(n, rng):
    w = rng.random(n) * 3
    w[rng.random(n) < 0.2] = 0.0
    return w


def confusion_batches(task, kind, rng, n=60):
    """A few batches of one data kind: the first unweighted, later ones weighted for
    the weighted kinds, with an empty batch in the middle."""
    def one(m, weighted):
        if task == "binary":
            y = rng.integers(0, 2, m)
            if kind == "one_class":
                y = np.ones(m, dtype=np.int64)
            if kind.startswith("scores"):
                # scores on and around the thresholds 0.5 and 0.3 (float32 rounding)
                grid = np.array([0.3, np.nextafter(np.float32(0.3), np.float32(0)), 0.5,
                                 0.2, 0.9, 0.0, 1.0], dtype=np.float64)
                p = rng.choice(grid, m).astype(np.float32 if kind == "scores32" else np.float64)
            elif kind == "bool":
                y, p = y.astype(bool), rng.integers(0, 2, m).astype(bool)
            else:
                p = rng.integers(0, 2, m)
        elif task == "multiclass":
            y = rng.integers(0, K, m)
            if kind == "one_class":
                y = np.full(m, 2)
            if kind.startswith("scores"):
                p = np.round(rng.random((m, K)), 1)  # many ties: the first max wins
                p = p.astype(np.float32 if kind == "scores32" else np.float64)
            else:
                p = rng.integers(0, K, m).astype(np.int8 if kind == "bool" else np.int64)
        else:
            y = rng.integers(0, 2, (m, L))
            if kind == "one_class":
                y = np.ones((m, L), dtype=np.int64)
            if kind.startswith("scores"):
                p = rng.choice(np.array([0.3, 0.5, 0.1, 0.7]), (m, L))
                p = p.astype(np.float32 if kind == "scores32" else np.float64)
            else:
                p = rng.integers(0, 2, (m, L))
                if kind == "bool":
                    y, p = y.astype(bool), p.astype(bool)
        return y, p, (_weights(m, rng) if weighted else None)

    weighted = kind in ("weights", "scores32")
    return [one(n, False), one(0, weighted), one(n, weighted), one(n // 2, weighted)]


KINDS = ("labels", "bool", "scores", "scores32", "weights", "one_class")


@pytest.mark.parametrize(("name", "opts"), _combos())
@pytest.mark.parametrize("mode", MODES)
def test_confusion_parity(name, opts, mode):
    with cpu_mode(mode):
        rng = np.random.default_rng(zlib.crc32(f"{name}{opts}".encode()))
        for kind in KINDS:
            for threshold in ((0.5, 0.3) if kind.startswith("scores") else (0.5,)):
                o = dict(opts)
                if opts["task"] != "multiclass" and threshold != 0.5:
                    o["threshold"] = threshold
                check_parity(name, o, confusion_batches(opts["task"], kind, rng))


@pytest.mark.parametrize("mode", MODES)
def test_float_labels_and_float16_scores(mode):
    with cpu_mode(mode):
        rng = np.random.default_rng(5)
        y = rng.integers(0, K, 80)
        batches = [(y.astype(np.float64), rng.integers(0, K, 80).astype(np.int16), None)]
        check_parity("f1", {"task": "multiclass", "num_classes": K}, batches)
        s16 = rng.random(80).astype(np.float16)
        check_parity("recall", {"task": "binary", "threshold": 0.3},
                     [(rng.integers(0, 2, 80), s16, None)])


@pytest.mark.parametrize("mode", MODES)
def test_suite_parity(mode):
    with cpu_mode(mode):
        rng = np.random.default_rng(7)
        for task, opts in (("binary", {}), ("multiclass", {"num_classes": K}),
                           ("multilabel", {"num_labels": L})):
            for kind in ("labels", "scores32", "weights"):
                batches = confusion_batches(task, kind, rng)
                ref = calipers.metrics.Suite(task=task, **opts)
                got = calipers.metrics.Suite(task=task, **opts)
                for b in batches:
                    ref.update(b[0], b[1], b[2])
                    got.update(*(None if a is None else torch.from_numpy(a) for a in b))
                value, warn = compute_warned(got)
                ref_value, ref_warn = compute_warned(ref)
                assert_tensors(value)
                assert_same(value, ref_value)
                assert warn == ref_warn


# -- ranking metrics -----------------------------------------------------------------


def ranking_batches(task, kind, rng, n=80, bins=None, lo=0.0, hi=1.0):
    def one(m, weighted):
        if task == "binary":
            y = np.ones(m, dtype=np.int64) if kind == "one_class" else rng.integers(0, 2, m)
            s = rng.random(m)
        elif task == "multiclass":
            y = np.full(m, 1) if kind == "one_class" else rng.integers(0, K, m)
            s = rng.random((m, K))
            s /= s.sum(axis=1, keepdims=True)
        else:
            y = rng.integers(0, 2, (m, L))
            s = rng.random((m, L))
        if kind == "ties":
            s = np.round(s, 1) + 0.05
            if task == "multiclass":  # rows still sum to 1; equal entries stay tied
                s /= s.sum(axis=1, keepdims=True)
        if kind == "edges" and bins:
            # scores exactly on bin edges, and outside the range (clamped to the edge bins)
            edges = calipers.metrics._rank_core.bin_edges(bins, lo, hi)
            pool = np.concatenate([edges, [lo - 0.5, hi, hi + 0.25, lo]])
            s = rng.choice(pool, s.shape)
        if kind == "float32":
            s = s.astype(np.float32)
        return y, s, (_weights(m, rng) if weighted else None)

    weighted = kind in ("weights", "float32")
    return [one(n, False), one(0, weighted), one(n, weighted)]


def _ranking_combos():
    out = []
    for name in ("roc_auc", "average_precision", "roc_curve", "pr_curve"):
        for task in ("binary", "multiclass", "multilabel"):
            averages = [None] if task == "binary" else [None, "micro", "macro", "weighted",
                                                        "none"]
            if name.endswith("curve") and task != "binary":
                averages = [None, "micro"]
            for avg in averages:
                for bins, rng_ in ((None, (0.0, 1.0)), (10, (0.0, 1.0)), (1000, (0.0, 1.0)),
                                   (7, (-0.3, 0.8))):
                    opts = {"task": task, "bins": bins}
                    if bins is not None:
                        opts["score_range"] = rng_
                    if task == "multiclass":
                        opts["num_classes"] = K
                    if task == "multilabel":
                        opts["num_labels"] = L
                    if avg is not None:
                        opts["average"] = avg
                    try:
                        calipers.metric(name, **opts)
                    except ValueError:
                        continue
                    out.append(pytest.param(name, opts, id=f"{name}-{task}-{avg}-{bins}"
                                            f"-{rng_[0]}"))
    return out


@pytest.mark.parametrize(("name", "opts"), _ranking_combos())
@pytest.mark.parametrize("mode", MODES)
def test_ranking_parity(name, opts, mode):
    with cpu_mode(mode):
        rng = np.random.default_rng(zlib.crc32(f"{name}{opts}".encode()))
        lo, hi = opts.get("score_range", (0.0, 1.0))
        for kind in ("random", "ties", "edges", "float32", "weights", "one_class"):
            batches = ranking_batches(opts["task"], kind, rng, bins=opts["bins"], lo=lo, hi=hi)
            if opts["task"] == "multiclass" and opts["bins"] is None and kind == "edges":
                continue  # exact multiclass needs rows summing to 1
            check_parity(name, opts, batches)


def test_roc_auc_bounds_are_tensors():
    with cpu_mode("torch"):
        rng = np.random.default_rng(3)
        y, s = rng.integers(0, 2, 500), rng.random(500)
        m = calipers.metric("roc_auc", bins=20)
        ref = calipers.metric("roc_auc", bins=20)
        m.update(torch.from_numpy(y), torch.from_numpy(s))
        ref.update(y, s)
        lo, hi = m.bounds()
        assert isinstance(lo, torch.Tensor) and isinstance(hi, torch.Tensor)
        assert (lo.item(), hi.item()) == ref.bounds()
        assert m.error_bound().item() == ref.error_bound()


@pytest.mark.parametrize("mode", MODES)
def test_other_metrics_fall_back_and_return_tensors(mode):
    with cpu_mode(mode):
        rng = np.random.default_rng(11)
        y = rng.integers(0, K, 90)
        p = rng.random((90, K))
        p /= p.sum(axis=1, keepdims=True)
        for name, opts in (("log_loss", {"task": "multiclass", "num_classes": K}),
                           ("top_k_accuracy", {"task": "multiclass", "num_classes": K, "k": 2}),
                           ("f1", {"task": "multilabel", "num_labels": L, "average": "samples"})):
            if name == "f1":
                batches = confusion_batches("multilabel", "weights", rng)
            else:
                batches = [(y, p, None), (y[:40], p[:40], _weights(40, rng))]
            check_parity(name, opts, batches)


@pytest.mark.parametrize(("bins", "lo", "hi"), [(10, 0.0, 1.0), (10_000, 0.0, 1.0),
                                                (7, -0.3, 0.8), (1000, -5.0, 3.0),
                                                (3, 0.0, 1e-3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bin_index_is_the_host_binning_rule(bins, lo, hi, dtype):
    """The last bin whose float64 lower edge is <= the score (compared in float64),
    bin 0 below the range, the last bin at and above ``hi``: on the edges, one ulp
    either side of them, outside the range and at random."""
    from calipers_torch import _kernels

    rng = np.random.default_rng(bins)
    e = calipers.metrics._rank_core.bin_edges(bins, lo, hi)
    pool = np.concatenate([e, np.nextafter(e, -np.inf), np.nextafter(e, np.inf),
                           [lo - 1, hi, hi + 1, np.nextafter(hi, -np.inf)],
                           rng.uniform(lo - 0.1, hi + 0.1, 1000)]).astype(dtype)
    g = _kernels.guarded_edges(e, torch.from_numpy(pool).dtype, torch.device("cpu"))
    got = _kernels.bin_index(torch.from_numpy(pool), lo, hi, g).numpy()
    ref = np.clip(np.searchsorted(e, pool.astype(np.float64), side="right") - 1, 0, bins - 1)
    np.testing.assert_array_equal(got, ref)
