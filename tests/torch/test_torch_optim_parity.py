"""calipers_torch.optim follows torch.optim (``foreach=False``) step for step.

200 steps of every option combination of tests/optim/test_optim_parity.py (the same
grid), on CPU float32 and float64 parameters of several shapes in two param groups
with different options, where some parameters have no gradient on some steps.
float64 agrees to ~1e-10 relative, float32 within float rounding (see that module's
docstring for why float32 is not bitwise). The state (keys, step tensors and their
dtype, buffers) must match torch's as well, and the core must have done the work.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from calipers_torch import optim as cto  # noqa: E402

from calipers._core import _optim as core  # noqa: E402


def _numpy_parity_module():
    path = Path(__file__).parents[1] / "optim" / "test_optim_parity.py"
    spec = importlib.util.spec_from_file_location("_calipers_numpy_optim_parity", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_GRID = _numpy_parity_module()
CASES, _id = _GRID.CASES, _GRID._id
STEPS = 200
SHAPES = ((3, 4), (17,), (1,), (2, 3, 5))
CORE_FN = {"SGD": "sgd_step", "Adam": "adam_step", "AdamW": "adam_step",
           "Adagrad": "adagrad_step", "RMSprop": "rmsprop_step"}


def _second_group(options: dict) -> dict:
    """Different options for a second param group: half the lr, the other maximize."""
    return {**options, "lr": options["lr"] * 0.5, "maximize": not options.get("maximize", False)}


def _has_grad(step: int, k: int) -> bool:
    return (step + k) % 4 != 0  # each param misses a gradient every fourth step


def run_both(name, options, dtype, steps=STEPS, seed=0, shapes=SHAPES, groups=True,
             ours_kw=None, theirs_kw=None, on_step=None):
    """Step calipers' and torch's optimizer side by side on equal params and grads."""
    gen = torch.Generator().manual_seed(seed)
    base = [torch.randn(s, generator=gen, dtype=torch.float64).to(dtype) for s in shapes]
    ours_p = [b.clone().requires_grad_() for b in base]
    theirs_p = [b.clone().requires_grad_() for b in base]

    def param_groups(ps):
        if not groups:
            return ps
        half = len(ps) // 2
        return [{"params": ps[:half]}, {"params": ps[half:], **_second_group(options)}]

    ours = getattr(cto, name)(param_groups(ours_p), **options, **(ours_kw or {}))
    theirs = getattr(torch.optim, name)(
        param_groups(theirs_p), **options, **(theirs_kw or {"foreach": False})
    )
    for s in range(steps):
        for k, (a, b) in enumerate(zip(ours_p, theirs_p, strict=True)):
            if _has_grad(s, k):
                g = torch.randn(a.shape, generator=gen, dtype=torch.float64).to(dtype)
                a.grad, b.grad = g.clone(), g.clone()
            else:
                a.grad = b.grad = None
        if on_step is not None:
            on_step(s, ours, theirs)
        ours.step()
        theirs.step()
    return ours, theirs, ours_p, theirs_p


def assert_close(a, b, rtol):
    a = a.detach().double().numpy()
    b = b.detach().double().numpy()
    scale = max(1.0, float(np.max(np.abs(b), initial=0.0)))
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale)


def assert_same_state(ours, theirs, ours_p, theirs_p, rtol):
    for a, b in zip(ours_p, theirs_p, strict=True):
        assert_close(a, b, rtol)
        sa, sb = ours.state.get(a, {}), theirs.state.get(b, {})
        assert sa.keys() == sb.keys()
        for key, va in sa.items():
            vb = sb[key]
            if key == "step":
                assert va.dtype == vb.dtype and va.device == vb.device
                assert float(va) == float(vb)
            elif va is None:
                assert vb is None
            else:
                assert va.dtype == vb.dtype and va.shape == vb.shape
                assert_close(va, vb, rtol)


@pytest.fixture
def core_calls(monkeypatch):
    """Count the core's step calls (they still run)."""
    calls: dict[str, int] = {}
    for fn in set(CORE_FN.values()):
        real = getattr(core, fn)

        def counted(*args, _real=real, _fn=fn, **kwargs):
            calls[_fn] = calls.get(_fn, 0) + 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(core, fn, counted)
    return calls


@pytest.mark.parametrize("dtype, rtol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_200_steps_follow_torch(case, dtype, rtol, core_calls):
    name, options = case
    ours, theirs, ours_p, theirs_p = run_both(name, options, dtype)
    assert_same_state(ours, theirs, ours_p, theirs_p, rtol)
    # one core call per group and step (every group has a param with a grad each step)
    assert core_calls == {CORE_FN[name]: 2 * STEPS}
    assert ours.state_dict()["param_groups"][1]["maximize"] == (not options["maximize"])


@pytest.mark.parametrize("name", list(CORE_FN))
def test_mixed_dtypes_in_one_group_one_core_call(name, core_calls):
    options = {"lr": 0.01, "momentum": 0.9} if name in ("SGD", "RMSprop") else {"lr": 0.01}
    gen = torch.Generator().manual_seed(4)
    base = [torch.randn(5, generator=gen, dtype=torch.float64) for _ in range(4)]
    dtypes = (torch.float32, torch.float64, torch.float32, torch.float64)
    ours_p = [b.to(d).requires_grad_() for b, d in zip(base, dtypes, strict=True)]
    theirs_p = [p.detach().clone().requires_grad_() for p in ours_p]
    ours = getattr(cto, name)(ours_p, **options)
    theirs = getattr(torch.optim, name)(theirs_p, foreach=False, **options)
    for _ in range(10):
        for a, b in zip(ours_p, theirs_p, strict=True):
            a.grad = torch.randn(a.shape, generator=gen, dtype=a.dtype)
            b.grad = a.grad.clone()
        ours.step()
        theirs.step()
    assert_same_state(ours, theirs, ours_p, theirs_p, 1e-6)
    assert core_calls == {CORE_FN[name]: 10}  # float32 and float64 in one call per step


@pytest.mark.parametrize("name", list(CORE_FN))
def test_across_core_work_items_follow_torch(name):
    c = core.ELEMENTS_PER_ITEM
    shapes = ((0,), (1,), (c - 1,), (c,), (c + 1,), (2 * c + 5,), (5,))
    options = {"lr": 0.01, "momentum": 0.9} if name in ("SGD", "RMSprop") else {"lr": 0.01}
    out = run_both(name, options, torch.float64, steps=5, seed=3, shapes=shapes)
    assert_same_state(*out, 1e-12)


@pytest.mark.parametrize("name", list(CORE_FN))
def test_default_dtype_float64_step_tensors_as_torch(name):
    # torch keeps ``step`` in float64 when that is the default dtype
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        out = run_both(name, {"lr": 0.01}, torch.float64, steps=5, groups=False)
    finally:
        torch.set_default_dtype(previous)
    assert_same_state(*out, 1e-12)
