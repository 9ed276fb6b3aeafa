"""calipers.optim follows torch.optim (``foreach=False``) step for step.

200 steps of every option combination on a few small tensors. float64 agrees to
~1e-10 relative. float32 agrees within float rounding (rtol 1e-5 after 200 steps),
not bitwise: torch's vectorized CPU kernels round some operations differently in the
last bit (its float sqrt is not correctly rounded; its lerp may fuse a multiply-add),
and those one-ulp differences are carried and mixed over the steps.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from calipers import optim

torch = pytest.importorskip("torch")

STEPS = 200
SIZES = (1, 3, 17)


def _combos(grid: dict[str, list], valid=lambda o: True) -> list[dict]:
    keys = list(grid)
    out = [dict(zip(keys, vals, strict=True)) for vals in itertools.product(*grid.values())]
    return [o for o in out if valid(o)]


CASES = [
    *[
        ("SGD", o)
        for o in _combos(
            {
                "lr": [0.05],
                "momentum": [0.0, 0.9],
                "dampening": [0.0, 0.3],
                "nesterov": [False, True],
                "weight_decay": [0.0, 0.1],
                "maximize": [False, True],
            },
            lambda o: not o["nesterov"] or (o["momentum"] > 0 and o["dampening"] == 0),
        )
    ],
    *[
        (name, o)
        for name in ("Adam", "AdamW")
        for o in _combos(
            {
                "lr": [0.01],
                "betas": [(0.9, 0.999), (0.3, 0.9)],
                "amsgrad": [False, True],
                "weight_decay": [0.0, 0.1],
                "maximize": [False, True],
            }
        )
    ],
    *[
        ("Adagrad", o)
        for o in _combos(
            {
                "lr": [0.05],
                "lr_decay": [0.0, 0.01],
                "initial_accumulator_value": [0.0, 0.1],
                "weight_decay": [0.0, 0.1],
                "eps": [1e-10, 1e-3],
                "maximize": [False, True],
            }
        )
    ],
    *[
        ("RMSprop", o)
        for o in _combos(
            {
                "lr": [0.01],
                "alpha": [0.99, 0.3],
                "centered": [False, True],
                "momentum": [0.0, 0.9],
                "weight_decay": [0.0, 0.1],
                "maximize": [False, True],
            }
        )
    ],
]


def _id(case) -> str:
    name, o = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in o.items() if k != "lr")


def _run_both(name, options, dtype, sizes, steps, seed=0, lr_schedule=None):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(n).astype(dtype) for n in sizes]
    tparams = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    ours = getattr(optim, name)(params, **options)
    theirs = getattr(torch.optim, name)(tparams, foreach=False, **options)
    for s in range(steps):
        if lr_schedule is not None:
            ours.options["lr"] = theirs.param_groups[0]["lr"] = lr_schedule(s)
        grads = [rng.standard_normal(n).astype(dtype) for n in sizes]
        for t, g in zip(tparams, grads, strict=True):
            t.grad = torch.from_numpy(g.copy())
        theirs.step()
        assert ours.step(grads) is True
    return ours, theirs, params, tparams


def _assert_close(ours, theirs, rtol):
    theirs = theirs.detach().numpy()
    scale = max(1.0, float(np.max(np.abs(theirs), initial=0.0)))
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_200_steps_follow_torch(case, dtype, rtol):
    name, options = case
    ours, theirs, params, tparams = _run_both(name, options, dtype, SIZES, STEPS)
    for i, (p, t) in enumerate(zip(params, tparams, strict=True)):
        _assert_close(p, t, rtol)
        tstate = theirs.state[t]
        for key, value in ours.state[i].items():
            if key == "step":  # torch's SGD keeps no step count
                assert value == STEPS
                assert int(tstate.get("step", STEPS)) == STEPS
            elif value is None:
                assert tstate.get(key) is None
            else:
                _assert_close(value, tstate[key], rtol)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adagrad", "RMSprop"])
def test_mixed_sizes_across_work_items_follow_torch(name):
    from calipers._core._optim import ELEMENTS_PER_ITEM as C

    sizes = (0, 1, C - 1, C, C + 1, 2 * C + 5, 5)
    options = {"lr": 0.01, "momentum": 0.9} if name in ("SGD", "RMSprop") else {"lr": 0.01}
    _, _, params, tparams = _run_both(name, options, np.float64, sizes, 5, seed=3)
    for p, t in zip(params, tparams, strict=True):
        _assert_close(p, t, 1e-12)


@pytest.mark.parametrize("name", ["SGD", "Adam", "Adagrad", "RMSprop"])
def test_changing_lr_between_steps_follows_torch(name):
    options = {"lr": 0.01, "momentum": 0.5} if name == "SGD" else {"lr": 0.01}
    _, _, params, tparams = _run_both(
        name, options, np.float64, SIZES, 50, lr_schedule=lambda s: 0.02 * 0.95**s
    )
    for p, t in zip(params, tparams, strict=True):
        _assert_close(p, t, 1e-10)
