"""What the core does not take goes through torch's own kernels and still matches torch.

float16/bfloat16, complex, non-contiguous parameters, sparse gradients,
differentiable/capturable groups, AMP's grad scaling, and CUDA tensors (those tests
skip without a GPU). When a group leaves ``fused``/``foreach`` unset, the drop-in
picks torch's fused kernel where torch has one, else foreach: results are then
bitwise those of torch's optimizer run with that flag.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from calipers_torch import optim as cto  # noqa: E402
from test_torch_optim_parity import assert_close, assert_same_state  # noqa: E402

from calipers._core import _optim as core  # noqa: E402

NAMES = ["SGD", "Adam", "AdamW", "Adagrad", "RMSprop"]
HAS_FUSED = {"SGD", "Adam", "AdamW", "Adagrad"}
OPTIONS = {
    "SGD": {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01},
    "Adam": {"lr": 0.01, "weight_decay": 0.01},
    "AdamW": {"lr": 0.01, "amsgrad": True},
    "Adagrad": {"lr": 0.05, "lr_decay": 0.01},
    "RMSprop": {"lr": 0.01, "centered": True, "momentum": 0.5},
}
cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device (torch.cuda.is_available() is False)"
)


@pytest.fixture
def no_core(monkeypatch):
    """Fail if any core step function is called."""
    for fn in ("sgd_step", "adam_step", "adagrad_step", "rmsprop_step"):
        monkeypatch.setattr(core, fn, lambda *a, _fn=fn, **k: pytest.fail(f"core {_fn} called"))


def _make(shapes, dtype, device="cpu", seed=0, transform=None):
    gen = torch.Generator().manual_seed(seed)
    base = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
    if transform is not None:
        base = [transform(b) for b in base]
    return [b.to(device=device, dtype=dtype).requires_grad_() for b in base]


def _twin(params):
    return [p.detach().clone().requires_grad_() for p in params]


def _drive(ours, theirs, a, b, steps=10, seed=1, sparse=False):
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        for p, q in zip(a, b, strict=True):
            g = torch.randn(p.shape, generator=gen, dtype=torch.float64)
            if p.is_complex():
                g = torch.complex(g, torch.randn(p.shape, generator=gen, dtype=torch.float64))
            g = g.to(dtype=p.dtype, device=p.device)
            if sparse:
                g = (g * (torch.arange(p.shape[0], device=p.device) % 2 == 0)[:, None])
                g = g.to_sparse()
            p.grad, q.grad = g.clone(), g.clone()
        ours.step()
        theirs.step()


def _dense(t):
    return t.to_dense() if t.is_sparse else t


def _assert_equal(a, b, ours, theirs):
    for p, q in zip(a, b, strict=True):
        assert torch.equal(p.detach(), q.detach())
        for key, v in theirs.state[q].items():
            w = ours.state[p][key]
            if w is None or v is None:
                assert w is None and v is None
            else:
                assert torch.equal(_dense(w).cpu(), _dense(v).cpu())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", NAMES)
def test_half_precision_uses_torch_fused_or_foreach(name, dtype, no_core):
    a = _make(((3, 4), (5,)), dtype)
    b = _twin(a)
    ours = getattr(cto, name)(a, **OPTIONS[name])
    flag = {"fused": True} if name in HAS_FUSED else {"foreach": True}
    theirs = getattr(torch.optim, name)(b, **OPTIONS[name], **flag)
    _drive(ours, theirs, a, b)
    _assert_equal(a, b, ours, theirs)
    assert ours.param_groups[0].get("fused") is None  # the user's group is untouched


@pytest.mark.parametrize("name", NAMES)
def test_flags_the_user_sets_are_honoured_for_torch_params(name, no_core):
    a = _make(((6,),), torch.float16)
    b = _twin(a)
    ours = getattr(cto, name)(a, foreach=False, **OPTIONS[name])
    theirs = getattr(torch.optim, name)(b, foreach=False, **OPTIONS[name])
    _drive(ours, theirs, a, b)
    _assert_equal(a, b, ours, theirs)


@pytest.mark.parametrize("name", NAMES)
def test_non_contiguous_params_and_complex_params_match_torch(name):
    a = _make(((4, 3), (5, 2)), torch.float32, transform=lambda t: t.t())
    assert not a[0].is_contiguous()
    b = _twin(a)
    a += _make(((3, 3),), torch.float32, seed=5)  # contiguous: in the same group, via the core
    b += _twin(a[2:])
    ours = getattr(cto, name)(a, **OPTIONS[name])
    theirs = getattr(torch.optim, name)(b, foreach=False, **OPTIONS[name])
    _drive(ours, theirs, a, b, steps=20)
    assert_same_state(ours, theirs, a, b, 1e-5)
    # complex: foreach (torch has no fused complex kernel)
    a = _make(((3,), (2, 2)), torch.complex64)
    b = _twin(a)
    ours = getattr(cto, name)(a, **OPTIONS[name])
    theirs = getattr(torch.optim, name)(b, foreach=True, **OPTIONS[name])
    _drive(ours, theirs, a, b)
    _assert_equal(a, b, ours, theirs)


@pytest.mark.parametrize("name", ["SGD", "Adagrad"])
def test_sparse_gradients_go_through_torch(name, no_core):
    options = {"lr": 0.05} if name == "Adagrad" else {"lr": 0.05, "momentum": 0.9}
    a = _make(((6, 3),), torch.float32)
    b = _twin(a)
    ours = getattr(cto, name)(a, **options)
    theirs = getattr(torch.optim, name)(b, foreach=False, **options)
    _drive(ours, theirs, a, b, sparse=True)
    _assert_equal(a, b, ours, theirs)


@pytest.mark.parametrize("name", ["Adam", "RMSprop"])
def test_sparse_gradients_raise_torchs_error(name):
    a = _make(((4, 2),), torch.float32)
    a[0].grad = torch.ones(4, 2).to_sparse()
    with pytest.raises(RuntimeError, match="does not support sparse gradients"):
        getattr(cto, name)(a).step()


@pytest.mark.parametrize("name", NAMES)
def test_differentiable_groups_run_torchs_step(name, no_core):
    # differentiable steps update non-leaf params (autograd records the update)
    a = [p.clone() for p in _make(((3,), (2, 2)), torch.float64)]
    b = [p.clone() for p in _make(((3,), (2, 2)), torch.float64)]
    ours = getattr(cto, name)(a, differentiable=True, **OPTIONS[name])
    theirs = getattr(torch.optim, name)(b, differentiable=True, **OPTIONS[name])
    for p, q in zip(a, b, strict=True):
        p.grad = torch.ones_like(p)
        q.grad = torch.ones_like(q)
    ours.step()
    theirs.step()
    _assert_equal(a, b, ours, theirs)
    assert a[0].grad_fn is not None  # the step was recorded by autograd


def test_capturable_on_cpu_raises_torchs_error():
    a = _make(((3,),), torch.float32)
    a[0].grad = torch.ones(3)
    ours = cto.Adam(a, capturable=True)
    with pytest.raises(AssertionError, match="capturable=True"):
        ours.step()


@pytest.mark.parametrize("name", sorted(HAS_FUSED))
def test_fused_true_on_cpu_runs_the_core_with_torchs_fused_state(name):
    a = _make(((3, 4), (5,)), torch.float32)
    b = _twin(a)
    ours = getattr(cto, name)(a, fused=True, **OPTIONS[name])
    theirs = getattr(torch.optim, name)(b, fused=True, **OPTIONS[name])
    _drive(ours, theirs, a, b, steps=20)
    assert_same_state(ours, theirs, a, b, 1e-5)


def test_amp_grad_scaler_steps_through_torchs_fused_kernel():
    a = _make(((3, 4),), torch.float32)
    b = _twin(a)
    ours = cto.Adam(a, lr=0.01, fused=True)
    theirs = torch.optim.Adam(b, lr=0.01, fused=True)
    scalers = [torch.amp.GradScaler("cpu", init_scale=1024.0) for _ in range(2)]
    for step in range(4):
        for opt, params, scaler in ((ours, a, scalers[0]), (theirs, b, scalers[1])):
            opt.zero_grad()
            loss = (params[0] ** 2).sum() * (float("inf") if step == 1 else 1.0)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
    assert scalers[0].get_scale() == scalers[1].get_scale()
    _assert_equal(a, b, ours, theirs)


# ---------------------------------------------------------------- CUDA


@cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("name", NAMES)
def test_cuda_params_use_torchs_fused_or_foreach_kernels(name, dtype, no_core):
    a = _make(((3, 4), (5,)), dtype, device="cuda")
    b = _twin(a)
    ours = getattr(cto, name)(a, **OPTIONS[name])
    flag = {"fused": True} if name in HAS_FUSED else {"foreach": True}
    theirs = getattr(torch.optim, name)(b, **OPTIONS[name], **flag)
    _drive(ours, theirs, a, b, steps=20)
    _assert_equal(a, b, ours, theirs)
    c = _twin(a)
    ref = getattr(torch.optim, name)(c, foreach=False, **OPTIONS[name])
    d = _twin(a)
    ours.load_state_dict(ours.state_dict())
    ref.load_state_dict(ours.state_dict())
    ref2 = getattr(cto, name)(d, foreach=True, **OPTIONS[name])
    ref2.load_state_dict(ours.state_dict())
    _drive(ref, ref2, c, d, steps=3)  # explicit flags honoured, state loads across
    for p, q in zip(c, d, strict=True):
        assert_close(p.float().cpu(), q.float().cpu(), 1e-2 if dtype == torch.float16 else 1e-5)


@cuda
@pytest.mark.parametrize("name", NAMES)
def test_cuda_and_cpu_params_in_one_group(name):
    a = _make(((3, 4),), torch.float32) + _make(((5,),), torch.float32, device="cuda", seed=2)
    b = _twin(a)
    ours = getattr(cto, name)(a, **OPTIONS[name])
    theirs = getattr(torch.optim, name)(b, foreach=False, **OPTIONS[name])
    _drive(ours, theirs, a, b, steps=20)
    for p, q in zip(a, b, strict=True):
        assert_close(p.cpu(), q.cpu(), 1e-5)


@cuda
def test_cuda_nonfinite_raise_changes_nothing():
    a = _make(((3, 4),), torch.float32, device="cuda")
    opt = cto.Adam(a, nonfinite="raise")
    a[0].grad = torch.ones_like(a[0])
    opt.step()
    before = a[0].detach().clone()
    a[0].grad[1, 2] = float("nan")
    with pytest.raises(ValueError, match=r"non-finite value \(nan\) at flat index 6"):
        opt.step()
    assert torch.equal(before, a[0].detach())
    assert float(opt.state[a[0]]["step"]) == 1.0
