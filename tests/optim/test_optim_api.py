"""calipers.optim without torch: input errors, non-finite policies, state, multi-tensor."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from calipers._core._optim import ELEMENTS_PER_ITEM as CHUNK

from calipers import optim

OPTIONS = {
    "SGD": {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
    "Adam": {"lr": 0.01, "amsgrad": True, "weight_decay": 0.01},
    "AdamW": {"lr": 0.01, "amsgrad": True},
    "Adagrad": {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1},
    "RMSprop": {"lr": 0.01, "centered": True, "momentum": 0.5, "weight_decay": 0.01},
}
NAMES = list(OPTIONS)
SIZES = (0, 1, 7, CHUNK - 1, CHUNK + 1, 2 * CHUNK + 3)


def _params(dtype=np.float64, sizes=SIZES, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n).astype(dtype) for n in sizes]


def _grads(params, rng):
    return [rng.standard_normal(p.shape).astype(p.dtype) for p in params]


def _snapshot(opt):
    return [p.copy() for p in opt.params], opt.state_dict()


def _assert_same(a, b):
    (pa, sa), (pb, sb) = a, b
    for x, y in zip(pa, pb, strict=True):
        np.testing.assert_array_equal(x, y)
    assert sa["options"] == sb["options"]
    assert sa["state"].keys() == sb["state"].keys()
    for i in sa["state"]:
        assert sa["state"][i].keys() == sb["state"][i].keys()
        for k, v in sa["state"][i].items():
            if isinstance(v, np.ndarray):
                np.testing.assert_array_equal(v, sb["state"][i][k])
            else:
                assert v == sb["state"][i][k]


def test_import_does_not_load_torch():
    code = "import sys, calipers; calipers.optim.Adam; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_one_call_over_a_list_equals_one_call_per_array(name, dtype):
    # mixed sizes, incl. empty, size 1 and sizes crossing the work-item size
    rng = np.random.default_rng(1)
    together = _params(dtype)
    alone = [p.copy() for p in together]
    opt = getattr(optim, name)(together, **OPTIONS[name])
    opts = [getattr(optim, name)([p], **OPTIONS[name]) for p in alone]
    for _ in range(4):
        grads = _grads(together, rng)
        opt.step(grads)
        for o, g in zip(opts, grads, strict=True):
            o.step([g])
    for a, b in zip(together, alone, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_mixed_dtypes_and_none_grads(name):
    rng = np.random.default_rng(2)
    p32, p64, skipped = _params(np.float32, (5,)), _params(np.float64, (9,)), np.ones(3)
    before = skipped.copy()
    opt = getattr(optim, name)([*p32, *p64, skipped], **OPTIONS[name])
    ref32 = getattr(optim, name)([p32[0].copy()], **OPTIONS[name])
    for _ in range(3):
        g32, g64 = _grads(p32, rng)[0], _grads(p64, rng)[0]
        opt.step([g32, g64, None])
        ref32.step([g32])
    np.testing.assert_array_equal(p32[0], ref32.params[0])
    np.testing.assert_array_equal(skipped, before)
    assert opt.state[2] == {} and opt.state[0]["step"] == 3


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_continues_identically(name):
    rng = np.random.default_rng(3)
    a = getattr(optim, name)(_params(), **OPTIONS[name])
    for _ in range(5):
        a.step(_grads(a.params, rng))
    sd = a.state_dict()
    b = getattr(optim, name)([p.copy() for p in a.params])
    b.load_state_dict(sd)
    for arr in (v for st in sd["state"].values() for v in st.values()):
        if isinstance(arr, np.ndarray):
            arr += 1.0  # the optimizers hold copies, not the dict's arrays
    for _ in range(5):
        g = _grads(a.params, rng)
        a.step(g)
        b.step(g)
    _assert_same(_snapshot(a), _snapshot(b))


@pytest.mark.parametrize("name", NAMES)
def test_zero_state_is_a_fresh_optimizer(name):
    rng = np.random.default_rng(4)
    params = _params()
    opt = getattr(optim, name)(params, **OPTIONS[name])
    opt.step(_grads(params, rng))
    opt.zero_state()
    fresh = getattr(optim, name)([p.copy() for p in params], **OPTIONS[name])
    g = _grads(params, rng)
    opt.step(g)
    fresh.step(g)
    _assert_same(_snapshot(opt), _snapshot(fresh))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name", NAMES)
def test_nonfinite_raise_and_skip_change_nothing(name, bad, dtype):
    rng = np.random.default_rng(5)
    opt = getattr(optim, name)(_params(dtype), **OPTIONS[name])
    opt.step(_grads(opt.params, rng))
    before = _snapshot(opt)
    grads = _grads(opt.params, rng)
    grads[4][CHUNK] = bad  # the fifth array's second work item
    match = rf"grads\[4\] holds a non-finite value .* index {CHUNK};"
    with pytest.raises(ValueError, match=match):
        opt.step(grads)
    _assert_same(_snapshot(opt), before)
    opt.nonfinite = "skip"
    assert opt.step(grads) is False
    _assert_same(_snapshot(opt), before)


@pytest.mark.parametrize("name", NAMES)
def test_nonfinite_propagate_applies_the_step(name):
    opt = getattr(optim, name)(_params(np.float32, (4, 6)), nonfinite="propagate", **OPTIONS[name])
    grads = [np.ones(4, np.float32), np.ones(6, np.float32)]
    grads[1][2] = np.nan
    assert opt.step(grads) is True
    assert np.isnan(opt.params[1][2]) and np.isfinite(opt.params[0]).all()
    assert opt.state[1]["step"] == 1


def test_bad_params():
    with pytest.raises(ValueError, match="not C-contiguous"):
        optim.SGD([np.zeros(10)[::2]])
    ro = np.zeros(3)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        optim.Adam([ro])
    with pytest.raises(TypeError, match="dtype int64"):
        optim.Adam([np.zeros(3, np.int64)])
    with pytest.raises(TypeError, match="numpy array"):
        optim.Adam([[1.0, 2.0]])
    p = np.zeros(3)
    with pytest.raises(ValueError, match="same array"):
        optim.Adam([p, p])


def test_bad_options():
    p = [np.zeros(3)]
    with pytest.raises(TypeError, match="unknown options"):
        optim.Adam(p, momentum=0.9)
    with pytest.raises(ValueError, match="Invalid lr"):
        optim.SGD(p, lr=-1.0)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD(p, nesterov=True)
    with pytest.raises(ValueError, match="beta parameter at index 1"):
        optim.Adam(p, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="nonfinite must be one of"):
        optim.RMSprop(p, nonfinite="ignore")
    with pytest.raises(ValueError, match="AdamW always decouples"):
        optim.AdamW(p, decoupled_weight_decay=False)
    opt = optim.Adagrad(p)
    opt.options["lr"] = float("nan")
    with pytest.raises(ValueError, match="Invalid lr"):
        opt.step([np.ones(3)])


def test_bad_grads_change_nothing():
    params = [np.zeros((2, 3)), np.zeros(4, np.float32)]
    opt = optim.Adam(params, lr=0.1)
    with pytest.raises(ValueError, match="2 params"):
        opt.step([np.ones((2, 3))])
    with pytest.raises(ValueError, match=r"shape \(6,\), params\[0\] has \(2, 3\)"):
        opt.step([np.ones(6), np.ones(4, np.float32)])
    with pytest.raises(TypeError, match="dtype float64, params\\[1\\] has float32"):
        opt.step([np.ones((2, 3)), np.ones(4)])
    assert opt.state == [{}, {}] and not params[0].any()
    # non-contiguous gradients are accepted (copied)
    opt.step([np.ones((3, 2)).T, np.ones(8, np.float32)[::2]])
    assert (params[0] < 0).all() and (params[1] < 0).all()


def test_load_state_dict_checks_and_changes_nothing_on_error():
    opt = optim.Adam([np.zeros(3)])
    opt.step([np.ones(3)])
    sd = opt.state_dict()
    other = optim.Adam([np.zeros(4)])
    with pytest.raises(ValueError, match="shape"):
        other.load_state_dict(sd)
    assert other.state == [{}]
    with pytest.raises(ValueError, match="parameter 5"):
        opt.load_state_dict({"options": {}, "state": {5: {"step": 1}}})
    with pytest.raises(ValueError, match="lacks"):
        opt.load_state_dict({"state": {}})
    with pytest.raises(ValueError, match="momentum"):
        opt.load_state_dict({"options": {"momentum": 0.9}, "state": {}})


@pytest.mark.parametrize("name", NAMES)
def test_gradient_that_is_its_parameter(name):
    a, b = _params(sizes=(CHUNK + 9,), seed=6)[0], None
    b = a.copy()
    oa = getattr(optim, name)([a], **OPTIONS[name])
    ob = getattr(optim, name)([b], **OPTIONS[name])
    for _ in range(3):
        ob.step([b.copy()])
        oa.step([a])  # the gradient is the parameter itself (copied before the step)
    np.testing.assert_array_equal(a, b)
