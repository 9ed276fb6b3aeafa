"""The core's prepared multi-tensor call (``calipers._core._optim.Plan``).

One plan over float32 and float64 tensors, reused over steps, with gradients handed
in per step as arrays or addresses (a missing gradient skips its tensor and its step
counter); the step functions count the step counters and refuse plans that lack what
they need. Compared with one-tensor plans and with the numpy API's own results.
"""

from __future__ import annotations

import numpy as np
import pytest

from calipers import optim
from calipers._core import _optim as core

ADAM = {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0,
        "decoupled": False, "amsgrad": False, "maximize": False}


def _arrays(sizes, dtypes, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n).astype(d) for n, d in zip(sizes, dtypes, strict=True)]


def _adam_plan(params, step_dtype=np.float32):
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    steps = [np.zeros(1, step_dtype) for _ in params]
    return core.Plan(params, m, v, None, steps=steps), m, v, steps


SIZES = (5, 0, core.ELEMENTS_PER_ITEM + 3, 1)
DTYPES = (np.float32, np.float64, np.float32, np.float64)


def test_one_mixed_dtype_plan_reused_equals_one_plan_per_tensor():
    together = _arrays(SIZES, DTYPES, 0)
    alone = [p.copy() for p in together]
    plan, *_ = _adam_plan(together)
    singles = [_adam_plan([p])[0] for p in alone]
    rng = np.random.default_rng(1)
    for s in range(6):
        grads = [rng.standard_normal(p.shape).astype(p.dtype) for p in together]
        if s % 2:
            grads[0] = None  # tensor 0 sits this step out
        plan.set_grads(grads)
        core.adam_step(plan, **ADAM)
        for single, g in zip(singles, grads, strict=True):
            single.set_grads([g])
            core.adam_step(single, **ADAM)
    for a, b in zip(together, alone, strict=True):
        np.testing.assert_array_equal(a, b)
    assert len(plan) == plan.ntensors == 4
    assert plan.nelements == sum(SIZES)


def test_step_counters_count_only_the_tensors_that_step():
    params = _arrays((3, 4), (np.float32, np.float64), 0)
    plan, _, _, steps = _adam_plan(params, step_dtype=np.float64)
    grads = [np.ones_like(p) for p in params]
    for s in range(5):
        plan.set_grads([grads[0], None if s < 2 else grads[1]])
        core.adam_step(plan, **ADAM)
    assert [float(c[0]) for c in steps] == [5.0, 3.0]
    # float32 counters count in float32, as torch's ``step_t += 1``
    counter = np.array([2.0**24], np.float32)
    plan = core.Plan([np.zeros(2, np.float32)], [np.zeros(2, np.float32)], steps=[counter])
    plan.set_grads([np.ones(2, np.float32)])
    core.adagrad_step(plan, lr=0.1, lr_decay=0.0, eps=1e-10, weight_decay=0.0, maximize=False)
    assert counter[0] == np.float32(2.0**24)


def test_gradient_addresses_and_overlap():
    params = _arrays((6, 6), (np.float64, np.float64), 2)
    twin = [p.copy() for p in params]
    plan, *_ = _adam_plan(params)
    ref, *_ = _adam_plan(twin)
    grads = [np.full(6, 0.5), params[1]]  # the second shares its param's memory
    overlapping = plan.set_grad_addresses([g.ctypes.data for g in grads])
    assert overlapping == [1]  # set to skip: the caller copies it
    copy = params[1].copy()
    plan.set_grad_address(1, copy.ctypes.data)
    core.adam_step(plan, **ADAM)
    ref.set_grads([grads[0], twin[1].copy()])
    core.adam_step(ref, **ADAM)
    for a, b in zip(params, twin, strict=True):
        np.testing.assert_array_equal(a, b)
    plan.set_grad_addresses([None, None])  # nothing steps
    before = [p.copy() for p in params]
    core.adam_step(plan, **ADAM)
    for a, b in zip(params, before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_sgd_first_marks_apply_to_one_call():
    p, buf = np.zeros(4), np.full(4, 7.0)
    plan = core.Plan([p], [buf])
    plan.set_grads([np.ones(4)])
    plan.mark_first([0])
    kw = {"lr": 0.1, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0,
          "nesterov": False, "maximize": False}
    core.sgd_step(plan, **kw)
    np.testing.assert_array_equal(buf, np.ones(4))  # the buffer became the gradient
    core.sgd_step(plan, **kw)
    np.testing.assert_allclose(buf, np.full(4, 1.9))  # then momentum as usual


def test_first_nonfinite_over_the_set_gradients():
    params = _arrays((4, 5, 6), (np.float32, np.float64, np.float32), 3)
    plan, *_ = _adam_plan(params)
    grads = [np.zeros_like(p) for p in params]
    grads[0][1] = np.nan
    grads[2][3] = np.inf
    plan.set_grads(grads)
    assert plan.first_nonfinite() == (0, 1)
    plan.set_grads([None, grads[1], grads[2]])
    assert plan.first_nonfinite() == (2, 3)
    assert core.first_nonfinite([grads[1], grads[2]]) == (1, 3)  # dtypes mixed


def test_plans_refuse_what_they_cannot_step():
    p = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match=r"s1\[0\]: size, dtype or layout differs"):
        core.Plan([p], [np.zeros(3, np.float64)])
    with pytest.raises(ValueError, match=r"params\[0\] is not C-contiguous"):
        core.Plan([np.zeros((3, 4))[:, 0]])
    with pytest.raises(ValueError, match=r"steps\[0\] has 2 elements"):
        core.Plan([p], steps=[np.zeros(2, np.float32)])
    with pytest.raises(ValueError, match=r"params\[0\] has dtype int64"):
        core.Plan([np.zeros(3, np.int64)])
    plan = core.Plan([p], [np.zeros(3, np.float32)])
    with pytest.raises(ValueError, match=r"needs exp_avg_sq \(s2\)"):
        core.adam_step(plan, **ADAM)
    with pytest.raises(ValueError, match=r"grads\[0\]: size, dtype or layout differs"):
        plan.set_grads([np.zeros(4, np.float32)])
    frozen = np.zeros(3, np.float32)
    frozen.flags.writeable = False
    plan = core.Plan([frozen], [np.zeros(3, np.float32)])
    plan.set_grads([np.ones(3, np.float32)])
    with pytest.raises(ValueError, match="read-only"):
        core.sgd_step(plan, lr=0.1, momentum=0.9, dampening=0.0, weight_decay=0.0,
                      nesterov=False, maximize=False)
    assert not frozen.any()
    assert plan.first_nonfinite() is None  # checking a read-only plan is fine


def test_numpy_api_makes_one_core_call_for_mixed_dtypes(monkeypatch):
    calls = []
    real = core.adam_step
    monkeypatch.setattr(core, "adam_step", lambda plan, **k: (calls.append(len(plan)),
                                                              real(plan, **k)))
    params = _arrays((3, 4, 5), (np.float32, np.float64, np.float32), 4)
    opt = optim.Adam(params, lr=0.01)
    opt.step([np.ones_like(p) for p in params])
    opt.step([np.ones_like(params[0]), None, np.ones_like(params[2])])
    assert calls == [3, 2]


def test_plan_keeps_its_arrays_alive():
    import weakref

    params = [np.zeros(4)]
    buffers = [np.zeros(4)]
    refs = [weakref.ref(params[0]), weakref.ref(buffers[0])]
    plan = core.Plan(params, buffers)
    params[0] = buffers[0] = None  # the caller's lists change: the plan keeps its own
    assert all(r() is not None for r in refs)
    plan.set_grads([np.ones(4)])
    core.sgd_step(plan, lr=0.5, momentum=0.0, dampening=0.0, weight_decay=0.0,
                  nesterov=False, maximize=False)
    np.testing.assert_array_equal(refs[0](), np.full(4, -0.5))
    del plan
    assert all(r() is None for r in refs)
