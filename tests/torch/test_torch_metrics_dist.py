"""Torch backend metrics across processes (torch.distributed, gloo on CPU) and on CUDA."""

from __future__ import annotations

import pickle
import warnings

import calipers_torch
import numpy as np
import pytest
from _declared_metrics import PlainPositiveRate, PositiveRate, ScoreStats
from _torch_metric_utils import assert_same, assert_tensors, check_parity, to_host, torch

import calipers
from calipers.metrics import Suite

WORLD = 2

#: (key, metric name, options, how the data is drawn)
DIST_CASES = [
    ("f1_weighted", "f1", {"task": "multiclass", "num_classes": 4}, "labels"),
    ("acc_scores", "accuracy", {"task": "binary", "threshold": 0.3}, "binary"),
    ("jaccard_ml", "jaccard", {"task": "multilabel", "num_labels": 3}, "multilabel"),
    ("f1_samples", "f1", {"task": "multilabel", "num_labels": 3, "average": "samples"},
     "multilabel"),
    ("auc_binned", "roc_auc", {"task": "binary", "bins": 100}, "binary"),
    ("ap_binned_mc", "average_precision", {"task": "multiclass", "num_classes": 4, "bins": 50},
     "proba"),
    ("auc_exact", "roc_auc", {"task": "binary"}, "binary"),
    ("auc_exact_mc", "roc_auc", {"task": "multiclass", "num_classes": 4}, "proba"),
    ("log_loss", "log_loss", {"task": "multiclass", "num_classes": 4}, "proba"),
]


def _data(kind, seed, n=97):
    """Four uneven batches per kind (the same on every process: each takes its own)."""
    rng = np.random.default_rng(seed)
    out = []
    for m in (n, 0, n // 3, 2 * n):
        w = rng.random(m) if seed % 2 else None
        if kind == "labels":
            out.append((rng.integers(0, 4, m), rng.integers(0, 4, m), w))
        elif kind == "binary":
            out.append((rng.integers(0, 2, m), rng.random(m).astype(np.float32), w))
        elif kind == "multilabel":
            out.append((rng.integers(0, 2, (m, 3)), rng.random((m, 3)), w))
        else:
            p = rng.random((m, 4))
            out.append((rng.integers(0, 4, m), p / p.sum(axis=1, keepdims=True), w))
    return out


def _t(a):
    return None if a is None else torch.from_numpy(np.ascontiguousarray(a))


def _worker(rank, world, init_file, out_dir):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world)
    calipers_torch.set_cpu_kernels("torch")
    warnings.simplefilter("ignore")
    results = {}
    for i, (key, name, opts, kind) in enumerate(DIST_CASES):
        m = calipers.metric(name, **opts)
        for j, b in enumerate(_data(kind, i)):
            if j % world == rank:
                m.update(_t(b[0]), _t(b[1]), sample_weight=_t(b[2]))
        m.sync()
        results[key] = to_host(m.compute())
        results[key + ":tensor"] = isinstance(m.compute(), torch.Tensor)
    s = Suite(task="multiclass", num_classes=4)
    for j, b in enumerate(_data("labels", 1)):
        if j % world == rank:
            s.update(_t(b[0]), _t(b[1]), _t(b[2]))
    calipers_torch.sync(s)
    results["suite"] = to_host(s.compute())
    # plugin-style metrics: declared states (every merge rule) and the plain form
    t, p, _ = _data("binary", 7)[0]
    for cls in (ScoreStats, PositiveRate, PlainPositiveRate):
        m = cls()
        half = slice(0, 40) if rank == 0 else slice(40, None)
        m.update(t[half], p[half] if cls is ScoreStats else (p[half] > 0.5).astype(int))
        m.sync()
        results[cls.name] = m.compute()
    # a batch refused on rank 1 only: every rank raises, none hangs
    m = calipers.metric("recall", task="binary")
    m.update(torch.tensor([0, 1]), torch.tensor([0, 1 if rank == 0 else 3]))
    try:
        m.sync()
        results["refused"] = None
    except ValueError as exc:
        results["refused"] = str(exc)
    with open(f"{out_dir}/rank{rank}.pkl", "wb") as f:
        pickle.dump(results, f)
    dist.destroy_process_group()


def _reference(name, opts, kind, seed):
    m = calipers.metric(name, **opts)
    for b in _data(kind, seed):
        m.update(b[0], b[1], sample_weight=b[2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return m.compute()


def test_sync_two_processes_gloo(tmp_path):
    import torch.distributed as dist
    import torch.multiprocessing as mp

    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    mp.spawn(_worker, args=(WORLD, str(tmp_path / "init"), str(tmp_path)), nprocs=WORLD,
             join=True)
    ranks = []
    for r in range(WORLD):
        with open(tmp_path / f"rank{r}.pkl", "rb") as f:
            ranks.append(pickle.load(f))
    for i, (key, name, opts, kind) in enumerate(DIST_CASES):
        ref = _reference(name, opts, kind, i)
        for res in ranks:
            assert res[key + ":tensor"], key
            assert_same(res[key], ref, rtol=1e-11)
    suite = Suite(task="multiclass", num_classes=4)
    for b in _data("labels", 1):
        suite.update(*b)
    for res in ranks:
        assert_same(res["suite"], suite.compute(), rtol=1e-11)
    t, p, _ = _data("binary", 7)[0]
    for cls in (ScoreStats, PositiveRate, PlainPositiveRate):
        ref = cls()
        ref.update(t, p if cls is ScoreStats else (p > 0.5).astype(int))
        want = ref.compute()
        for res in ranks:
            got = res[cls.name]
            if isinstance(want, dict):
                assert got.keys() == want.keys()
                for k in want:
                    np.testing.assert_allclose(got[k], want[k], rtol=1e-15)
            else:
                assert got == want
    assert ranks[0]["refused"] is not None and "another process" in ranks[0]["refused"]
    assert "1 batch of tensors was refused" in ranks[1]["refused"]


# -- CUDA ----------------------------------------------------------------------------

cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                          reason="no CUDA device here: the CUDA paths are tested on a GPU "
                                 "machine")


@cuda
@pytest.mark.parametrize(("name", "opts", "kind"), [
    ("f1", {"task": "multiclass", "num_classes": 4}, "labels"),
    ("mcc", {"task": "multiclass", "num_classes": 4}, "proba"),
    ("accuracy", {"task": "binary", "threshold": 0.3}, "binary"),
    ("jaccard", {"task": "multilabel", "num_labels": 3}, "multilabel"),
    ("roc_auc", {"task": "binary", "bins": 100}, "binary"),
    ("average_precision", {"task": "multiclass", "num_classes": 4, "bins": 50}, "proba"),
    ("roc_auc", {"task": "multilabel", "num_labels": 3, "bins": 30}, "multilabel"),
    ("roc_auc", {"task": "multiclass", "num_classes": 4}, "proba"),
    ("pr_curve", {"task": "binary"}, "binary"),
])
def test_cuda_parity_device_and_no_sync(name, opts, kind):
    batches = _data(kind, 3)
    value = check_parity(name, opts, batches, device="cuda")
    assert_tensors(value, "cuda")
    m = calipers.metric(name, **opts)
    first = [_t(a).cuda() if a is not None else None for a in batches[0]]
    m.update(first[0], first[1], sample_weight=first[2])  # copies bin edges once
    rest = [[_t(a).cuda() if a is not None else None for a in b] for b in batches[1:]]
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for b in rest:
            m.update(b[0], b[1], sample_weight=b[2])
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert m._native.device.type == "cuda"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_same(m.compute(), value)


@cuda
def test_cuda_refused_batch_and_wrong_device():
    m = calipers.metric("f1", task="multiclass", num_classes=3)
    m.update(torch.tensor([0, 1, 2], device="cuda"), torch.tensor([0, 1, 1], device="cuda"))
    m.update(torch.tensor([0, 9], device="cuda"), torch.tensor([0, 1], device="cuda"))
    with pytest.raises(ValueError, match="1 batch of tensors was refused"):
        m.compute()
    assert m.compute().device.type == "cuda"
    with pytest.raises(ValueError, match="state is on cuda"):
        m.update(torch.tensor([0]), torch.tensor([0]))
