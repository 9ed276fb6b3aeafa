"""Torch backend metrics: no sync in update, refused batches, state round trips, mixing
numpy and tensors, and the host routing around the device state."""

from __future__ import annotations

import copy
import pickle
import warnings

import calipers_torch
import numpy as np
import pytest
from _torch_metric_utils import assert_same, assert_tensors, cpu_mode, tensors, torch
from calipers_torch._device_state import (
    DeviceBatches,
    DeviceConfusion,
    DeviceHistogram,
    TensorResults,
)

import calipers
from calipers.metrics import Suite

RNG = np.random.default_rng(2024)


def _proba(n, k):
    p = RNG.random((n, k))
    return p / p.sum(axis=1, keepdims=True)


#: (metric name, options, a good batch, the device state kind it gets)
CASES = [
    ("f1", {"task": "multiclass", "num_classes": 3},
     (RNG.integers(0, 3, 50), RNG.integers(0, 3, 50), RNG.random(50)), DeviceConfusion),
    ("accuracy", {"task": "binary", "threshold": 0.3},
     (RNG.integers(0, 2, 50), RNG.random(50).astype(np.float32), None), DeviceConfusion),
    ("mcc", {"task": "multiclass", "num_classes": 3},
     (RNG.integers(0, 3, 50), RNG.random((50, 3)), RNG.random(50)), DeviceConfusion),
    ("jaccard", {"task": "multilabel", "num_labels": 4},
     (RNG.integers(0, 2, (50, 4)), RNG.random((50, 4)), RNG.random(50)), DeviceConfusion),
    ("roc_auc", {"task": "binary", "bins": 50},
     (RNG.integers(0, 2, 50), RNG.random(50), RNG.random(50)), DeviceHistogram),
    ("average_precision", {"task": "multiclass", "num_classes": 3, "bins": 20},
     (RNG.integers(0, 3, 50), _proba(50, 3), None), DeviceHistogram),
    ("roc_auc", {"task": "multilabel", "num_labels": 3, "bins": 20},
     (RNG.integers(0, 2, (50, 3)), RNG.random((50, 3)), RNG.random(50)), DeviceHistogram),
    ("roc_auc", {"task": "multiclass", "num_classes": 3},
     (RNG.integers(0, 3, 50), _proba(50, 3), RNG.random(50)), DeviceBatches),
    ("average_precision", {"task": "binary"},
     (RNG.integers(0, 2, 50), RNG.random(50), None), DeviceBatches),
]
IDS = [f"{c[0]}-{c[1]['task']}-{c[3].__name__}" for c in CASES]


def _value(m):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return m.compute()


def _update(m, batch):
    t = tensors(batch)
    m.update(t[0], t[1], sample_weight=t[2])


@pytest.fixture
def no_sync(monkeypatch):
    """Make every tensor -> host read raise while the block runs."""
    def patch():
        def boom(*args, **kwargs):
            raise AssertionError("a tensor was read back to the host during update")

        for attr in ("item", "cpu", "tolist", "numpy", "__bool__", "__int__", "__float__",
                     "__index__"):
            monkeypatch.setattr(torch.Tensor, attr, boom)

    return patch


@pytest.mark.parametrize(("name", "opts", "batch", "kind"), CASES, ids=IDS)
def test_update_never_reads_the_device(name, opts, batch, kind, no_sync, monkeypatch):
    with cpu_mode("torch"):
        m = calipers.metric(name, **opts)
        ref = calipers.metric(name, **opts)
        t = tensors(batch)
        half = tensors(tuple(None if a is None else a[:20] for a in batch))
        no_sync()
        m.update(t[0], t[1], sample_weight=t[2])
        m.update(half[0], half[1], sample_weight=half[2])
        monkeypatch.undo()
        assert type(m._native) is kind
        ref.update(*batch[:2], sample_weight=batch[2])
        ref.update(*(None if a is None else a[:20] for a in batch[:2]),
                   sample_weight=None if batch[2] is None else batch[2][:20])
        value = _value(m)
        assert_tensors(value)
        assert_same(value, _value(ref))


def test_suite_update_never_reads_the_device(no_sync, monkeypatch):
    with cpu_mode("torch"):
        s, ref = Suite(task="multiclass", num_classes=3), Suite(task="multiclass", num_classes=3)
        y, p, w = RNG.integers(0, 3, 40), RNG.random((40, 3)), RNG.random(40)
        t = tensors((y, p, w))
        no_sync()
        s.update(*t)
        monkeypatch.undo()
        ref.update(y, p, w)
        assert type(s._native) is DeviceConfusion
        assert_same(s.compute(), ref.compute())


def _bad_batches():
    y3, p3 = RNG.integers(0, 3, 30), RNG.integers(0, 3, 30)
    nan_scores = RNG.random(30)
    nan_scores[4] = np.nan
    inf_w = RNG.random(30)
    inf_w[2] = np.inf
    return [
        ("f1", {"task": "multiclass", "num_classes": 3},
         (np.where(np.arange(30) == 7, 3, y3), p3, None), "y_true values outside"),
        ("f1", {"task": "multiclass", "num_classes": 3},
         (y3, np.where(np.arange(30) == 7, -1, p3), None), "y_pred labels outside"),
        ("accuracy", {"task": "binary"},
         (RNG.integers(0, 2, 30), nan_scores, None), "NaN or infinite scores"),
        ("recall", {"task": "binary"},
         (RNG.integers(0, 2, 30), RNG.integers(0, 2, 30), inf_w), "sample weights"),
        ("precision", {"task": "multiclass", "num_classes": 3},
         (y3 + 0.5, p3, None), "not integers"),
        ("f1", {"task": "multilabel", "num_labels": 2},
         (np.full((30, 2), 2), RNG.integers(0, 2, (30, 2)), None), "outside {0, 1}"),
        ("roc_auc", {"task": "binary", "bins": 10},
         (np.full(30, 2), RNG.random(30), None), "outside {0, 1}"),
        ("roc_auc", {"task": "multiclass", "num_classes": 3, "bins": 10},
         (y3, np.where(np.arange(30)[:, None] == 3, np.nan, _proba(30, 3)), None),
         "NaN or infinite scores"),
        ("roc_auc", {"task": "binary"},
         (RNG.integers(0, 2, 30), nan_scores, None), "NaN or infinity"),
        ("roc_auc", {"task": "multiclass", "num_classes": 3},
         (y3, RNG.random((30, 3)) + 1, None), "sum up to 1.0"),
    ]


@pytest.mark.parametrize(("name", "opts", "bad", "reason"), _bad_batches(),
                         ids=lambda v: v if isinstance(v, str) else None)
def test_refused_batch_is_not_counted_and_raises_at_compute(name, opts, bad, reason):
    n = len(bad[0])
    good = (bad[0][:0], bad[1][:0], None)
    if opts["task"] == "multiclass":
        good = (RNG.integers(0, 3, n), _proba(n, 3), None) if name == "roc_auc" else \
            (RNG.integers(0, 3, n), RNG.integers(0, 3, n), None)
    elif opts["task"] == "multilabel":
        good = (RNG.integers(0, 2, (n, 2)), RNG.integers(0, 2, (n, 2)), None)
    else:
        good = (RNG.integers(0, 2, n), RNG.random(n), None)
    with cpu_mode("torch"):
        m, ref = calipers.metric(name, **opts), calipers.metric(name, **opts)
        _update(m, good)
        _update(m, bad)  # no error here: the check runs on the device
        _update(m, good)
        ref.update(*good[:2])
        ref.update(*good[:2])
        with pytest.raises(ValueError, match="1 batch of tensors was refused") as info:
            m.compute()
        assert reason in str(info.value)
        assert m.n_samples == ref.n_samples
        assert_same(_value(m), _value(ref))  # reported once; the good batches remain


@pytest.mark.parametrize("call", ["state_dict", "merge", "pickle", "n_samples"])
def test_refused_batches_raise_at_any_host_call(call):
    with cpu_mode("torch"):
        m = calipers.metric("f1", task="multiclass", num_classes=3)
        for _ in range(2):
            _update(m, (np.array([0, 5]), np.array([0, 1]), None))
        with pytest.raises(ValueError, match="2 batches of tensors were refused"):
            if call == "merge":
                calipers.metric("f1", task="multiclass", num_classes=3).merge(m)
            elif call == "pickle":
                pickle.dumps(m)
            else:
                getattr(m, call)() if call == "state_dict" else m.n_samples  # noqa: B018


@pytest.mark.parametrize(("args", "exc", "match"), [
    ((np.array([0, 1, 2]), np.array([0, 1]), None), ValueError, "differ in length"),
    ((np.array([0, 1]), np.array([0, 1]), np.array([1.0, 2.0, 3.0])), ValueError, "entries"),
    ((np.array([[0, 1]]), np.array([0, 1]), None), ValueError, "1-dimensional"),
    ((np.array([0, 1]), np.array([0.2, 0.5]), None), TypeError, "score matrix"),
    ((np.array([0, 1]), np.array([1 + 1j, 0j]), None), TypeError, "dtype complex"),
])
def test_shape_and_dtype_errors_raise_at_update(args, exc, match):
    with cpu_mode("torch"):
        m, ref = (calipers.metric("f1", task="multiclass", num_classes=3) for _ in range(2))
        good = (np.array([0, 1, 2, 2]), np.array([0, 2, 2, 1]), None)
        _update(m, good)
        ref.update(*good[:2])
        with pytest.raises(exc, match=match):
            _update(m, args)
        assert_same(m.compute(), ref.compute())


def test_eager_checks_raise_the_host_message_at_update():
    old = calipers_torch.set_eager_checks(True)
    try:
        with cpu_mode("torch"):
            m = calipers.metric("f1", task="multiclass", num_classes=3)
            _update(m, (np.array([0, 1]), np.array([0, 1]), None))
            with pytest.raises(ValueError, match="y_true has label 7 at index 1"):
                _update(m, (np.array([0, 7]), np.array([0, 1]), None))
            h = calipers.metric("roc_auc", bins=10)
            with pytest.raises(ValueError, match="NaN or infinity"):
                _update(h, (np.array([0, 1]), np.array([0.1, np.nan]), None))
            assert m.n_samples == 2 and h.n_samples == 0
    finally:
        calipers_torch.set_eager_checks(old)
    assert calipers_torch.set_eager_checks(old) is old
    with pytest.raises(ValueError, match="'core' or 'torch'"):
        calipers_torch.set_cpu_kernels("gpu")


@pytest.mark.parametrize("mode", ["core", "torch"])
@pytest.mark.parametrize(("name", "opts", "batch", "kind"), CASES, ids=IDS)
def test_state_round_trips(name, opts, batch, kind, mode):
    with cpu_mode(mode):
        m, ref = calipers.metric(name, **opts), calipers.metric(name, **opts)
        _update(m, batch)
        ref.update(*batch[:2], sample_weight=batch[2])
        expected = _value(ref)
        for clone in (pickle.loads(pickle.dumps(m)), copy.deepcopy(m)):
            assert_tensors(_value(clone))
            assert_same(_value(clone), expected)
        _update(m, batch)  # pending on the device again
        ref.update(*batch[:2], sample_weight=batch[2])
        host = calipers.metric(name, **opts)
        host.load_state_dict(m.state_dict())
        assert not isinstance(_value(host), torch.Tensor) or name == "none"
        assert_same(_value(host), _value(ref))
        # merges, both ways, with pending device states
        _update(m, batch)
        into_host = calipers.metric(name, **opts)
        into_host.update(*batch[:2], sample_weight=batch[2])
        into_host.merge(m)
        other = calipers.metric(name, **opts)
        _update(other, batch)
        m.merge(other)
        ref.update(*batch[:2], sample_weight=batch[2])
        assert_same(_value(into_host), _value(ref))
        ref.update(*batch[:2], sample_weight=batch[2])
        assert_tensors(_value(m))
        assert_same(_value(m), _value(ref))


@pytest.mark.parametrize(("name", "opts", "batch", "kind"), CASES, ids=IDS)
def test_mixed_numpy_and_tensor_updates(name, opts, batch, kind):
    unweighted = batch[:2] + (None,)
    with cpu_mode("torch"):
        m, ref = calipers.metric(name, **opts), calipers.metric(name, **opts)
        for b, as_tensor in ((unweighted, False), (batch, True), (unweighted, True),
                             (batch, False), (unweighted, False)):
            ref.update(*b[:2], sample_weight=b[2])
            if as_tensor:
                _update(m, b)
            else:
                m.update(*b[:2], sample_weight=b[2])
        assert_tensors(_value(m))
        assert_same(_value(m), _value(ref))
        assert m.n_samples == ref.n_samples


def test_reset_and_load_state_dict():
    with cpu_mode("torch"):
        m = calipers.metric("recall", task="binary")
        _update(m, (np.array([0, 1, 1]), np.array([0, 1, 0]), None))
        m.reset()
        assert "_native" not in m.__dict__
        m.update([0, 1], [1, 1])
        assert m.compute() == 1.0  # a host metric again: plain floats
        _update(m, (np.array([1, 1]), np.array([0, 0]), None))
        ref = calipers.metric("recall", task="binary")
        ref.update([1, 1, 1, 0], [1, 0, 1, 1])
        m.load_state_dict(ref.state_dict())  # pending device counts are dropped
        value = m.compute()
        assert isinstance(value, torch.Tensor) and value.item() == ref.compute()


def test_cpu_tensors_through_the_core_by_default():
    m = calipers.metric("f1", task="binary")
    m.update(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 1]))
    assert type(m._native) is TensorResults
    assert m.compute().dtype == torch.float64
    with pytest.raises(ValueError, match="y_pred has label 2 at index 0"):
        m.update(torch.tensor([0]), torch.tensor([2]))  # the core raises at once


def test_per_class_values_are_1d_tensors():
    with cpu_mode("torch"):
        m = calipers.metric("precision", task="multiclass", num_classes=3, average="none")
        _update(m, (np.array([0, 1, 2, 2]), np.array([0, 2, 2, 1]), None))
        v = m.compute()
        assert v.shape == (3,) and v.dtype == torch.float64
        cm = calipers.metric("confusion_matrix", task="multiclass", num_classes=3)
        _update(cm, (np.array([0, 1, 2, 2]), np.array([0, 2, 2, 1]), None))
        assert cm.compute().dtype == torch.int64


def test_tensors_on_two_devices_are_refused():
    m = calipers.metric("f1", task="binary")
    with pytest.raises(ValueError, match="move them to one device"):
        m.update(torch.tensor([0, 1]), torch.empty(2, dtype=torch.int64, device="meta"))


def test_sync_needs_torch_distributed():
    m = calipers.metric("f1", task="binary")
    m.update(torch.tensor([0, 1]), torch.tensor([0, 1]))
    with pytest.raises(RuntimeError, match="init_process_group"):
        m.sync()
    with pytest.raises(RuntimeError, match="init_process_group"):
        calipers_torch.sync(Suite(task="binary"))


def test_numpy_updates_never_look_for_a_native_backend(monkeypatch):
    import calipers.metrics._base as base

    def fail(values):
        raise AssertionError("numpy input must not look for a native backend")

    monkeypatch.setattr(base, "native_backend", fail)
    m = calipers.metric("f1", task="multiclass", num_classes=3)
    m.update(np.array([0, 1, 2]), [0, 1, 1], sample_weight=None)
    s = Suite(task="binary")
    s.update(np.array([0, 1]), np.array([0.2, 0.9]))
    with pytest.raises(AssertionError, match="native backend"):
        m.update(torch.tensor([0, 1]), torch.tensor([0, 1]))


# -- the host capability, with a third-party native backend ----------------------------


class _Boxed:
    """A foreign array type: numpy data in a box."""

    def __init__(self, a):
        self.a = np.asarray(a)


class _Acc:
    """A device state that counts calls and keeps host-path batches pending."""

    def __init__(self):
        self.pending, self.flushes, self.discards = [], 0, 0
        self.device = "box"

    def flush(self, owner):
        self.flushes += 1
        batches, self.pending = self.pending, []
        for b in batches:
            type(owner).update(owner, *b)

    def discard(self):
        self.discards += 1
        self.pending = []

    def result(self, value):
        return ("boxed", value)


def _fake_backend():
    from calipers.backends import Backend

    class BoxBackend(Backend):
        name = "box"
        native = True

        @classmethod
        def accepts(cls, x):
            return isinstance(x, _Boxed)

        @classmethod
        def to_numpy(cls, x):
            return x.a

        @classmethod
        def native_update(cls, metric, args, kwargs):
            if not isinstance(args[0], _Boxed):
                return False  # the host path: to_numpy
            acc = metric.__dict__.setdefault("_native", _Acc())
            acc.pending.append(tuple(a.a for a in args))
            return True

    return BoxBackend


def test_native_capability_is_generic(monkeypatch):
    from calipers import plugins
    from calipers.backends import Backend, NumpyBackend

    box = _fake_backend()
    real = plugins.classes
    monkeypatch.setattr(plugins, "classes",
                        lambda kind: [NumpyBackend, box] if kind == "backend" else real(kind))
    assert Backend.native_update(None, (), {}) is False
    m = calipers.metric("accuracy")
    m.update(_Boxed([0, 1, 1]), _Boxed([0, 1, 0]))
    assert m._state.n == 0 and len(m._native.pending) == 1  # nothing on the host yet
    m.update([1], [1])  # numpy: straight to the host state
    assert m.compute() == ("boxed", 0.75)
    assert m._native.flushes == 1 and m.n_samples == 4
    m.update(_Boxed([0]), _Boxed([1]))
    assert m.state_dict()["state"]["n"] == 5
    m.update(_Boxed([0]), _Boxed([1]))
    m.load_state_dict(m.state_dict())  # folds first (state_dict), then keeps the device
    assert m._native.discards == 1 and m.compute() == ("boxed", 0.5)
    with pytest.raises(RuntimeError, match=r"calipers\[torch\]"):
        m.sync()  # no distributed backend registered
    m.reset()
    assert "_native" not in m.__dict__ and m._state.n == 0
