"""The drop-ins prepare each param group's core call once and reuse it.

A step makes exactly one core call per param group, whatever the number of tensors
and their dtypes, and the Python work of a step does not grow with the number of
tensors (counted, not timed: the profiler's call events of one step are the same for
10 and for 200 parameters). Whatever the prepared call was built from and changes
between steps (parameters, their data, state, options, gradients that go missing,
change layout or share memory) makes it follow torch all the same.
"""

from __future__ import annotations

import copy
import gc
import sys
import weakref
from collections import Counter

import pytest

torch = pytest.importorskip("torch")

from calipers_torch import optim as cto  # noqa: E402
from test_torch_optim_parity import CORE_FN, assert_same_state  # noqa: E402

from calipers._core import _optim as core  # noqa: E402

FUSED = {  # every optimizer torch fuses, and RMSprop
    "SGD": {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01},
    "Adam": {"lr": 0.01, "weight_decay": 0.01},
    "AdamW": {"lr": 0.01, "amsgrad": True},
    "Adagrad": {"lr": 0.05, "lr_decay": 0.01},
    "RMSprop": {"lr": 0.01, "centered": True, "momentum": 0.5},
}
NAMES = list(FUSED)


@pytest.fixture
def core_calls(monkeypatch):
    """The core step calls of each step: one list of tensor counts per call."""
    calls: list[int] = []
    for fn in set(CORE_FN.values()):
        real = getattr(core, fn)

        def counted(*args, _real=real, **kwargs):
            calls.append(len(args[0]))  # the plan (or list) of tensors the call updates
            return _real(*args, **kwargs)

        monkeypatch.setattr(core, fn, counted)
    return calls


def _params(n, seed=0, dtypes=(torch.float32,), shape=(3,)):
    gen = torch.Generator().manual_seed(seed)
    return [
        torch.randn(shape, generator=gen, dtype=torch.float64).to(dtypes[i % len(dtypes)])
        .requires_grad_()
        for i in range(n)
    ]


def _pair(name, n=6, groups=None, options=None, **kw):
    """Our optimizer and torch's (foreach=False) on equal copies of n params."""
    a = _params(n, **kw)
    b = [p.detach().clone().requires_grad_() for p in a]
    opts = FUSED[name] if options is None else options

    def grouped(ps):
        if groups is None:
            return ps
        return [{"params": ps[lo:hi], **extra} for (lo, hi), extra in groups]

    ours = getattr(cto, name)(grouped(a), **opts)
    theirs = getattr(torch.optim, name)(grouped(b), foreach=False, **opts)
    return ours, theirs, a, b


def _grads(a, b, gen, skip=()):
    for k, (p, q) in enumerate(zip(a, b, strict=True)):
        if k in skip:
            p.grad = q.grad = None
        else:
            g = torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p.dtype)
            p.grad, q.grad = g.clone(), g.clone()


def _steps(ours, theirs, a, b, n, seed=1, skip=lambda s: ()):
    gen = torch.Generator().manual_seed(seed)
    for s in range(n):
        _grads(a, b, gen, skip(s))
        ours.step()
        theirs.step()


# ---------------------------------------------------------------- one call per group


@pytest.mark.parametrize("name", NAMES)
def test_one_core_call_per_group_and_step_dtypes_mixed(name, core_calls):
    groups = [((0, 40), {}), ((40, 43), {"lr": 0.001})]
    ours, theirs, a, b = _pair(name, 43, groups, dtypes=(torch.float32, torch.float64))
    _steps(ours, theirs, a, b, 6)
    assert core_calls == [40, 3] * 6
    assert_same_state(ours, theirs, a, b, 1e-6)


def _profile_step(opt):
    events: Counter[str] = Counter()

    def profile(frame, event, arg):
        events[event] += 1

    gc.collect()  # a collection inside the step would add calls of its own (finalizers)
    gc.disable()
    sys.setprofile(profile)
    try:
        opt.step()
    finally:
        sys.setprofile(None)
        gc.enable()
    return events


def _events_of_a_step(name, n, grads, nonfinite="propagate"):
    params = _params(n)
    opt = getattr(cto, name)(params, nonfinite=nonfinite, **FUSED[name])
    sets = [[torch.full_like(p, 0.01 * (k + 1)) for p in params] for k in range(2)]

    def give(k):
        for i, (p, g) in enumerate(zip(params, sets[k], strict=True)):
            p.grad = None if grads == "some missing" and i % 3 == 1 else g

    give(0)
    opt.step()  # builds the group's plan
    opt.step()
    give(1 if grads != "same" else 0)
    return _profile_step(opt)


@pytest.mark.parametrize("nonfinite", ["propagate", "raise"])
@pytest.mark.parametrize("grads", ["same", "new tensors", "some missing"])
@pytest.mark.parametrize("name", NAMES)
def test_python_work_of_a_step_does_not_grow_with_the_tensors(name, grads, nonfinite):
    # every Python-level call (of Python functions and of builtins) a step makes,
    # counted by the profiler: the same for 10 and 200 parameters
    small = _events_of_a_step(name, 10, grads, nonfinite)
    large = _events_of_a_step(name, 200, grads, nonfinite)
    assert small["call"] > 0 and small["c_call"] > 0
    # 190 more tensors: any per-tensor Python work adds >= 190 events of a kind; a few
    # events of slack absorb what the interpreter itself may run (weakref callbacks of
    # the dropped gradients, a CI machine's torch build)
    for kind in ("call", "c_call", "return", "c_return"):
        assert abs(large[kind] - small[kind]) <= 4, (kind, large, small)


# ---------------------------------------------------------------- what the plan follows


@pytest.mark.parametrize("name", NAMES)
def test_replaced_param_and_reassigned_data_and_dtype(name):
    ours, theirs, a, b = _pair(name)
    gen = torch.Generator().manual_seed(5)

    def steps(n):
        for _ in range(n):
            _grads(a, b, gen)
            ours.step()
            theirs.step()

    steps(3)
    # a new tensor in the group's list (no state: created at its next step)
    fresh = torch.linspace(-1, 1, 3, dtype=torch.float32)
    a[1] = ours.param_groups[0]["params"][1] = fresh.clone().requires_grad_()
    b[1] = theirs.param_groups[0]["params"][1] = fresh.clone().requires_grad_()
    steps(3)
    # another dtype through .data (new memory), with its state converted as well
    for opt, ps in ((ours, a), (theirs, b)):
        p = ps[2]
        p.data = p.data.double()
        for key, v in opt.state[p].items():
            if torch.is_tensor(v) and v.shape == p.shape:
                opt.state[p][key] = v.double()
    steps(3)
    assert_same_state(ours, theirs, a, b, 1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_state_replaced_reset_or_reloaded(name):
    ours, theirs, a, b = _pair(name)
    gen = torch.Generator().manual_seed(6)
    buffer = {"SGD": "momentum_buffer", "Adagrad": "sum"}.get(name, "square_avg")
    buffer = "exp_avg" if name.startswith("Adam") else buffer
    for s in range(12):
        _grads(a, b, gen)
        if s == 3:  # one buffer replaced in place of the dict
            for opt, p in ((ours, a[0]), (theirs, b[0])):
                opt.state[p][buffer] = torch.full_like(p, 0.5)
        if s == 6 and name != "Adagrad":  # a param's state dropped: torch starts it anew
            for opt, p in ((ours, a[1]), (theirs, b[1])):
                del opt.state[p]
        if s == 8:  # the step counter replaced
            for opt, p in ((ours, a[2]), (theirs, b[2])):
                if "step" in opt.state[p]:
                    opt.state[p]["step"] = torch.tensor(100.0)
        if s == 10:  # a state dict loaded (ours from torch's)
            ours.load_state_dict(copy.deepcopy(theirs.state_dict()))
        ours.step()
        theirs.step()
    assert_same_state(ours, theirs, a, b, 1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_missing_and_odd_gradients_between_reused_steps(name, core_calls):
    ours, theirs, a, b = _pair(name, 6)

    def skip(s):  # params 0 and 2 have no state until their first gradient at step 1
        return {s % 6, (s + 2) % 6} if s % 3 != 2 else ()

    _steps(ours, theirs, a, b, 9, skip=skip)
    # a non-contiguous gradient, one sharing its param's memory, one of another dtype
    gen = torch.Generator().manual_seed(3)
    for p, q in zip(a, b, strict=True):
        p.grad = torch.randn(p.shape, generator=gen).expand(2, 3)[1]
        q.grad = p.grad.clone()
    a[1].grad = torch.randn(6, generator=gen)[::2]
    b[1].grad = a[1].grad.clone()
    a[2].grad = a[2].detach()
    b[2].grad = b[2].detach().clone()
    ours.step()
    theirs.step()
    assert_same_state(ours, theirs, a, b, 1e-6)
    # all through the core, one call per step (Adagrad's state exists from the start)
    assert core_calls == [6 if name == "Adagrad" else 4] + [6] * 9


@pytest.mark.parametrize("name", NAMES)
def test_options_edited_between_steps_take_effect(name):
    ours, theirs, a, b = _pair(name, 4)
    gen = torch.Generator().manual_seed(8)
    for s in range(10):
        _grads(a, b, gen)
        for opt in (ours, theirs):
            group = opt.param_groups[0]
            group["lr"] *= 0.9  # an LR schedule
            if s == 4:
                group["maximize"] = True
                if "betas" in group:
                    group["betas"] = (0.8, 0.99)
                if "weight_decay" in group:
                    group["weight_decay"] = 0.05
        ours.step()
        theirs.step()
    assert_same_state(ours, theirs, a, b, 1e-6)


def test_sgd_momentum_switched_on_and_amsgrad_switched_on():
    ours, theirs, a, b = _pair("SGD", 4, options={"lr": 0.05})
    gen = torch.Generator().manual_seed(9)
    for s in range(6):
        _grads(a, b, gen)
        if s == 3:  # buffers start from the gradient, as torch's first momentum step
            ours.param_groups[0]["momentum"] = theirs.param_groups[0]["momentum"] = 0.9
        ours.step()
        theirs.step()
    assert_same_state(ours, theirs, a, b, 1e-6)
    ours, theirs, a, b = _pair("Adam", 2, options={"lr": 0.01})
    _steps(ours, theirs, a, b, 2)
    for opt in (ours, theirs):
        opt.param_groups[0]["amsgrad"] = True
    _grads(a, b, torch.Generator().manual_seed(1))
    with pytest.raises(KeyError, match="max_exp_avg_sq"):  # torch's own error
        theirs.step()
    with pytest.raises(KeyError, match="max_exp_avg_sq"):
        ours.step()


@pytest.mark.parametrize("name", NAMES)
def test_new_group_gets_its_own_call(name, core_calls):
    ours, theirs, a, b = _pair(name, 4)
    _steps(ours, theirs, a, b, 2)
    extra_a, extra_b = _params(3, seed=4), _params(3, seed=4)
    ours.add_param_group({"params": extra_a, "lr": 0.02})
    theirs.add_param_group({"params": extra_b, "lr": 0.02})
    a, b = a + extra_a, b + extra_b
    _steps(ours, theirs, a, b, 2, seed=2)
    assert core_calls == [4, 4, 4, 3, 4, 3]
    assert_same_state(ours, theirs, a, b, 1e-6)


def test_plan_keeps_no_gradient_alive():
    # zero_grad() frees the gradients: the prepared call must not hold them
    params = _params(3)
    opt = cto.Adam(params, lr=0.01)
    for p in params:
        p.grad = torch.ones_like(p)
    opt.step()
    opt.step()
    refs = [weakref.ref(p.grad) for p in params]
    opt.zero_grad()
    gc.collect()
    assert all(r() is None for r in refs)


def test_raise_policy_checks_reused_plans_before_writing():
    params = _params(5)
    opt = cto.Adam(params, lr=0.01, nonfinite="raise")
    for p in params:
        p.grad = torch.ones_like(p)
    opt.step()
    opt.step()
    before = [p.detach().clone() for p in params]
    params[3].grad = params[3].grad.clone()
    params[3].grad[2] = float("nan")
    with pytest.raises(ValueError, match=r"\['params'\]\[3\] holds a non-finite value \(nan\) "
                                         r"at flat index 2"):
        opt.step()
    assert all(torch.equal(p.detach(), v) for p, v in zip(params, before, strict=True))
    assert all(float(opt.state[p]["step"]) == 2 for p in params)


def test_plans_are_rebuilt_only_when_something_changed(monkeypatch):
    from calipers_torch.optim import _plan

    events: list[str] = []
    init, same = _plan.GroupPlan.__init__, _plan.GroupPlan.same_state_dicts

    def counted_init(self, *args, **kwargs):
        events.append("build")
        init(self, *args, **kwargs)

    def counted_same(self, state):
        events.append("state lookup")
        return same(self, state)

    monkeypatch.setattr(_plan.GroupPlan, "__init__", counted_init)
    monkeypatch.setattr(_plan.GroupPlan, "same_state_dicts", counted_same)
    ours, theirs, a, b = _pair("Adam", 6, groups=[((0, 3), {}), ((3, 6), {"lr": 0.02})])
    gen = torch.Generator().manual_seed(2)
    per_step = []
    for s in range(7):
        # the second group's params get their first gradients at step 2
        _grads(a, b, gen, skip={3, 4, 5} if s < 2 else ())
        if s == 4:  # one of them loses its state: its group alone is rebuilt
            del ours.state[a[4]], theirs.state[b[4]]
        events.clear()
        ours.step()
        theirs.step()
        per_step.append(sorted(events))
    assert per_step == [
        ["build", "build"], [], ["build"], [], ["build", "state lookup", "state lookup"],
        [], [],
    ]
    assert_same_state(ours, theirs, a, b, 1e-6)


@pytest.mark.parametrize("size", [2, 1000])
@pytest.mark.parametrize("name", NAMES)
def test_gradient_resized_behind_torchs_back_raises_torchs_error(name, size):
    # ``.data`` swaps a reused gradient's memory for one of another size: nothing may
    # read it as the parameter's size (neither the core nor torch's fused kernel,
    # which does not check); torch's foreach step reports the mismatch
    params = _params(2, shape=(6,))
    opt = getattr(cto, name)(params, **FUSED[name])
    for p in params:
        p.grad = torch.ones_like(p)
    opt.step()
    opt.step()
    params[1].grad.data = torch.ones(size)
    sizes = rf"(\(6\)|\({size}\))"  # in the order torch's kernel compares them
    with pytest.raises(RuntimeError, match=f"size of tensor a {sizes} must match the size "
                                           f"of tensor b {sizes}"):
        opt.step()
