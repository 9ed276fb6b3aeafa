"""calipers_torch.optim is a torch.optim drop-in: state dicts load both ways, LR
schedulers, add_param_group, hooks, closures, validation, pickling, and the
``nonfinite`` policies (a refused step changes nothing)."""

from __future__ import annotations

import copy
import inspect
import pickle

import pytest

torch = pytest.importorskip("torch")

from calipers_torch import optim as cto  # noqa: E402
from test_torch_optim_parity import (  # noqa: E402
    assert_close,
    assert_same_state,
    run_both,
)

from calipers._core import _optim as core  # noqa: E402

NAMES = ["SGD", "Adam", "AdamW", "Adagrad", "RMSprop"]
OPTIONS = {
    "SGD": {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
    "Adam": {"lr": 0.01, "amsgrad": True, "weight_decay": 0.01},
    "AdamW": {"lr": 0.01, "amsgrad": True},
    "Adagrad": {"lr": 0.05, "lr_decay": 0.01, "initial_accumulator_value": 0.1},
    "RMSprop": {"lr": 0.01, "centered": True, "momentum": 0.5, "weight_decay": 0.01},
}


def _params(seed=0, shapes=((3, 4), (5,)), dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=gen, dtype=dtype).requires_grad_() for s in shapes]


def _set_grads(params, gen):
    for p in params:
        p.grad = torch.randn(p.shape, generator=gen, dtype=p.dtype)


def _snapshot(opt, params):
    return [p.detach().clone() for p in params], copy.deepcopy(opt.state_dict())


def _assert_unchanged(before, opt, params):
    values, sd = before
    for v, p in zip(values, params, strict=True):
        assert torch.equal(v, p.detach())
    now = opt.state_dict()
    assert now["param_groups"] == sd["param_groups"]
    assert now["state"].keys() == sd["state"].keys()
    for i, st in sd["state"].items():
        assert now["state"][i].keys() == st.keys()
        for k, v in st.items():
            assert torch.equal(now["state"][i][k], v)


# ---------------------------------------------------------------- drop-in surface


@pytest.mark.parametrize("name", NAMES)
def test_is_the_torch_class_with_its_signature_plus_nonfinite(name):
    ours, theirs = getattr(cto, name), getattr(torch.optim, name)
    assert issubclass(ours, theirs)
    sig, tsig = inspect.signature(ours), inspect.signature(theirs)
    assert list(sig.parameters)[:-1] == list(tsig.parameters)
    assert sig.parameters["nonfinite"].default == "propagate"
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        ours(_params(), lr=-1)
    with pytest.raises(ValueError, match="nonfinite must be one of"):
        ours(_params(), nonfinite="ignore")
    with pytest.raises(ValueError, match="empty parameter list"):
        ours([])


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_loads_both_ways_and_stepping_continues_identically(name):
    gen = torch.Generator().manual_seed(1)
    a, b = _params(), _params()
    ours = getattr(cto, name)(a, **OPTIONS[name])
    theirs = getattr(torch.optim, name)(b, foreach=False, **OPTIONS[name])
    for _ in range(5):
        _set_grads(a, gen)
        for p, q in zip(a, b, strict=True):
            q.grad = p.grad.clone()
        ours.step()
        theirs.step()
    sd_ours, sd_theirs = ours.state_dict(), theirs.state_dict()
    assert set(sd_ours["param_groups"][0]) == set(sd_theirs["param_groups"][0]) | {"nonfinite"}
    assert sd_ours["state"].keys() == sd_theirs["state"].keys()
    for i, st in sd_theirs["state"].items():
        assert sd_ours["state"][i].keys() == st.keys()
        if "step" in st:
            assert sd_ours["state"][i]["step"].dtype == st["step"].dtype
    # ours -> torch, torch -> ours, on fresh copies of the current params
    a2 = [p.detach().clone().requires_grad_() for p in a]
    b2 = [p.detach().clone().requires_grad_() for p in b]
    theirs2 = getattr(torch.optim, name)(b2, foreach=False)
    theirs2.load_state_dict(copy.deepcopy(sd_ours))
    ours2 = getattr(cto, name)(a2)
    ours2.load_state_dict(copy.deepcopy(sd_theirs))
    assert ours2.param_groups[0]["nonfinite"] == "propagate"
    for _ in range(5):
        _set_grads(a, gen)
        for p, q, r, s in zip(a, b, a2, b2, strict=True):
            q.grad, r.grad, s.grad = p.grad.clone(), p.grad.clone(), p.grad.clone()
        for opt in (ours, theirs, ours2, theirs2):
            opt.step()
    assert_same_state(ours2, theirs, a2, b, 1e-5)
    assert_same_state(ours, theirs2, a, b2, 1e-5)


def test_nonfinite_policy_survives_state_dict_and_loads_into_torch():
    a, b = _params(), _params()
    ours = cto.Adam(a, nonfinite="raise")
    again = cto.Adam(b)
    again.load_state_dict(ours.state_dict())
    assert again.param_groups[0]["nonfinite"] == "raise"
    theirs = torch.optim.Adam(_params())
    theirs.load_state_dict(ours.state_dict())  # an unknown group key torch ignores
    for p in theirs.param_groups[0]["params"]:
        p.grad = torch.ones_like(p)
    theirs.step()


@pytest.mark.parametrize(
    "name, make",
    [
        ("SGD", lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5)),
        ("Adam", lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.05, total_steps=60)),
        ("AdamW", lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=20)),
        ("Adagrad", lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=20)),
        ("RMSprop", lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.95)),
    ],
)
def test_lr_scheduler_drives_both_identically(name, make):
    schedulers, lrs = [], set()

    def on_step(s, ours, theirs):
        lrs.add(ours.param_groups[0]["lr"])
        if s == 0:
            schedulers.extend([make(ours), make(theirs)])
        else:  # after the previous optimizer step, as a training loop does
            for sch in schedulers:
                sch.step()
        assert ours.param_groups[0]["lr"] == theirs.param_groups[0]["lr"]
        if "betas" in theirs.param_groups[0]:  # OneCycleLR cycles Adam's beta1
            assert ours.param_groups[0]["betas"] == theirs.param_groups[0]["betas"]

    out = run_both(name, OPTIONS[name], torch.float64, steps=59, on_step=on_step)
    assert_same_state(*out, 1e-10)
    assert len(lrs) > 2  # the schedule did change the lr


@pytest.mark.parametrize("name", NAMES)
def test_add_param_group_follows_torch(name):
    gen = torch.Generator().manual_seed(2)
    a, b = _params(), _params()
    extra_a, extra_b = _params(7, ((6,),), torch.float64), _params(7, ((6,),), torch.float64)
    ours = getattr(cto, name)(a, **OPTIONS[name])
    theirs = getattr(torch.optim, name)(b, foreach=False, **OPTIONS[name])
    for step in range(8):
        if step == 3:
            ours.add_param_group({"params": extra_a, "lr": 0.02})
            theirs.add_param_group({"params": extra_b, "lr": 0.02})
            a, b = a + extra_a, b + extra_b
        _set_grads(a, gen)
        for p, q in zip(a, b, strict=True):
            q.grad = p.grad.clone()
        ours.step()
        theirs.step()
    assert ours.param_groups[1]["nonfinite"] == "propagate"
    assert_same_state(ours, theirs, a, b, 1e-5)


def test_closure_hooks_zero_grad_and_pickle():
    a = _params()
    opt = cto.Adam(a, lr=0.1)
    calls = []
    opt.register_step_pre_hook(lambda o, args, kwargs: calls.append("pre"))
    opt.register_step_post_hook(lambda o, args, kwargs: calls.append("post"))

    def closure():
        assert torch.is_grad_enabled()
        opt.zero_grad()
        loss = sum((p**2).sum() for p in a)
        loss.backward()
        calls.append("closure")
        return loss

    b = [p.detach().clone().requires_grad_() for p in a]
    ref = torch.optim.Adam(b, lr=0.1, foreach=False)

    def ref_closure():
        ref.zero_grad()
        loss = sum((p**2).sum() for p in b)
        loss.backward()
        return loss

    for _ in range(3):
        loss = opt.step(closure)
        assert torch.equal(loss, ref.step(ref_closure))
    assert calls == ["pre", "closure", "post"] * 3
    assert_same_state(opt, ref, a, b, 1e-6)
    opt.zero_grad()
    assert all(p.grad is None for p in a)
    again = pickle.loads(pickle.dumps(opt))
    assert type(again) is cto.Adam and again.param_groups[0]["nonfinite"] == "propagate"


@pytest.mark.parametrize("name", NAMES)
def test_cpu_float_params_go_through_the_core(name, monkeypatch):
    fn = {"AdamW": "adam_step"}.get(name, f"{name.lower()}_step")
    calls = []
    real = getattr(core, fn)
    monkeypatch.setattr(core, fn, lambda *a, **k: (calls.append(len(a[0])), real(*a, **k)))
    a = _params(shapes=((3,), (4, 2), (5,)))
    opt = getattr(cto, name)(a, **OPTIONS[name])
    _set_grads(a, torch.Generator().manual_seed(0))
    opt.step()
    assert calls == [3]  # one call for the whole group


def test_tensor_lr_betas_and_weight_decay_and_decoupled_adam():
    lr = torch.tensor(0.01)
    out = run_both("Adam", {"lr": lr, "betas": (torch.tensor(0.9), torch.tensor(0.99))},
                   torch.float64, steps=20, groups=False)
    assert_same_state(*out, 1e-6)
    out = run_both("SGD", {"lr": lr, "weight_decay": torch.tensor(0.1), "momentum": 0.9},
                   torch.float64, steps=20, groups=False)
    assert_same_state(*out, 1e-6)
    # Adam(decoupled_weight_decay=True) is AdamW
    gen = torch.Generator().manual_seed(3)
    a, b = _params(), _params()
    ours = cto.Adam(a, lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)
    theirs = torch.optim.AdamW(b, lr=0.01, weight_decay=0.1, foreach=False)
    for _ in range(20):
        _set_grads(a, gen)
        for p, q in zip(a, b, strict=True):
            q.grad = p.grad.clone()
        ours.step()
        theirs.step()
    for p, q in zip(a, b, strict=True):
        assert_close(p, q, 1e-5)


# ---------------------------------------------------------------- nonfinite


def _nonfinite_setup(name, policy, where):
    cpu = _params(shapes=((3, 4), (5,)))
    half = _params(5, ((4,),), torch.bfloat16)
    params = cpu + half
    opt = getattr(cto, name)(
        [{"params": cpu}, {"params": half, "lr": 0.02}], nonfinite=policy, **OPTIONS[name]
    )
    gen = torch.Generator().manual_seed(9)
    _set_grads(params, gen)
    opt.step()  # state exists
    _set_grads(params, gen)
    bad = params[{"core": 0, "noncontiguous": 0, "torch": 2}[where]]
    if where == "noncontiguous":
        bad.grad = torch.randn(4, 3, generator=gen).t()
    value = float("nan") if where != "torch" else float("inf")
    if bad.dim() == 2:
        bad.grad[0, 1] = value
    else:
        bad.grad[1] = value
    return opt, params


@pytest.mark.parametrize("where", ["core", "noncontiguous", "torch"])
@pytest.mark.parametrize("name", NAMES)
def test_nonfinite_raise_and_skip_change_nothing(name, where):
    opt, params = _nonfinite_setup(name, "raise", where)
    before = _snapshot(opt, params)
    group, index = (1, 0) if where == "torch" else (0, 0)
    with pytest.raises(ValueError, match=rf"param_groups\[{group}\]\['params'\]\[{index}\] "
                                         rf"holds a non-finite value \((nan|inf)\) at flat "
                                         r"index 1; nothing was updated"):
        opt.step()
    _assert_unchanged(before, opt, params)
    opt, params = _nonfinite_setup(name, "skip", where)
    before = _snapshot(opt, params)
    assert opt.step(lambda: 3.0) == 3.0 and opt.last_step_skipped
    _assert_unchanged(before, opt, params)
    for p in params:  # a finite step afterwards is applied
        p.grad = torch.ones_like(p)
    opt.step()
    assert not opt.last_step_skipped
    assert not torch.equal(before[0][0], params[0].detach())


def test_nonfinite_first_step_creates_no_state_and_propagate_matches_torch():
    a = _params()
    opt = cto.Adam(a, nonfinite="skip")
    for p in a:
        p.grad = torch.full_like(p, float("nan"))
    opt.step()
    assert opt.last_step_skipped and len(opt.state) == 0
    out = run_both("Adam", {"lr": 0.01}, torch.float32, steps=1, groups=False)
    ours, theirs, a, b = out
    for p, q in zip(a, b, strict=True):
        p.grad = torch.full_like(p, float("inf"))
        q.grad = p.grad.clone()
    ours.step()
    theirs.step()
    for p, q in zip(a, b, strict=True):  # propagate (default): NaN flows, as in torch
        assert torch.isnan(p).all() and torch.equal(p.isnan(), q.isnan())


@pytest.mark.parametrize("name", NAMES)
def test_reassigned_param_data_and_reloaded_state_are_followed(name):
    # the drop-in keeps numpy views of params and state between steps: a new
    # ``p.data`` (same or other shape) and state replaced by load_state_dict must be
    # what the next step updates
    def on_step(s, ours, theirs):
        if s == 4:
            for group_o, group_t in zip(ours.param_groups, theirs.param_groups, strict=True):
                for p, q in zip(group_o["params"], group_t["params"], strict=True):
                    fresh = torch.linspace(-1, 1, p.numel(), dtype=p.dtype).reshape(p.shape)
                    p.data, q.data = fresh.clone(), fresh.clone()
        if s == 8:
            ours.load_state_dict(copy.deepcopy(theirs.state_dict()))

    out = run_both(name, OPTIONS[name], torch.float64, steps=12, on_step=on_step)
    assert_same_state(*out, 1e-10)


def test_nonfinite_is_a_per_group_option():
    a, b = _params(), _params(1)
    opt = cto.SGD([{"params": a}, {"params": b, "nonfinite": "raise"}], lr=0.1)
    assert [g["nonfinite"] for g in opt.param_groups] == ["propagate", "raise"]
    for p in a + b:
        p.grad = torch.ones_like(p)
    a[0].grad[0, 0] = float("nan")  # in the propagating group: applied
    opt.step()
    assert torch.isnan(a[0][0, 0]) and torch.isfinite(b[0]).all()
    before = [p.detach().clone() for p in a + b]
    b[1].grad[2] = float("inf")  # in the raising group: nothing is applied
    with pytest.raises(ValueError, match=r"param_groups\[1\]\['params'\]\[1\]"):
        opt.step()
    for v, p in zip(before, a + b, strict=True):
        torch.testing.assert_close(p.detach(), v, rtol=0, atol=0, equal_nan=True)
