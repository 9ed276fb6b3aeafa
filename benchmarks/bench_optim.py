"""One optimizer step on 10M float32 parameters: calipers vs torch (fused, foreach,
single-tensor) and numpy; and the torch drop-ins on the parameter lists of real
models (``LISTS``) against torch's fused and foreach steps.

Run (one process, so every ratio compares side by side)::

    pytest benchmarks/bench_optim.py --benchmark-json=.benchmarks/optim.json

The parameters are 10 arrays of N/10 elements (one multi-tensor call). Every
implementation owns its parameters and state and has taken one step before timing
(torch allocates its state lazily). "calipers step" runs with the default
``nonfinite="raise"`` (a read-only check of the gradients, then the fused update);
"calipers propagate" is the fused update alone. "calipers torch drop in" is
``calipers_torch.optim``'s ``step()`` on CPU tensors with ``.grad`` set (torch's
default ``nonfinite="propagate"``): the same fused update behind torch's optimizer
API. The bandwidth probe reads as many bytes as the step moves (reads plus writes,
e.g. 28 bytes per parameter for Adam).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import N, bandwidth_probe

from calipers import optim

torch = pytest.importorskip("torch")
torch.set_num_threads(2)

PARTS = 10
SLOW = {"rounds": 3, "iterations": 1, "warmup_rounds": 0}

# name: (options, bytes moved per float32 parameter, torch has a fused CPU kernel)
CASES = {
    "SGD momentum": ("SGD", {"lr": 1e-3, "momentum": 0.9}, 20, True),
    "Adam": ("Adam", {"lr": 1e-3}, 28, True),
    "AdamW": ("AdamW", {"lr": 1e-3}, 28, True),
    "Adagrad": ("Adagrad", {"lr": 1e-2}, 20, True),
    "RMSprop": ("RMSprop", {"lr": 1e-2}, 20, False),
}


def _arrays(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(N // PARTS, dtype=np.float32) for _ in range(PARTS)]


@pytest.fixture(scope="module")
def grads() -> list[np.ndarray]:
    return [g * 1e-3 for g in _arrays(1)]


def _calipers(case: str, grads, nonfinite: str):
    name, options, _, _ = CASES[case]
    opt = getattr(optim, name)(_arrays(0), nonfinite=nonfinite, **options)
    opt.step(grads)
    return lambda: opt.step(grads)


def _torch(case: str, grads, **impl):
    name, options, _, _ = CASES[case]
    params = [torch.from_numpy(p).requires_grad_() for p in _arrays(0)]
    for p, g in zip(params, grads, strict=True):
        p.grad = torch.from_numpy(g)
    opt = getattr(torch.optim, name)(params, **options, **impl)
    opt.step()
    return opt.step


def _dropin(case: str, grads):
    """calipers_torch.optim's drop-in: torch tensors sharing the arrays' memory."""
    from calipers_torch import optim as cto

    name, options, _, _ = CASES[case]
    params = [torch.from_numpy(p).requires_grad_() for p in _arrays(0)]
    for p, g in zip(params, grads, strict=True):
        p.grad = torch.from_numpy(g)
    opt = getattr(cto, name)(params, **options)
    opt.step()
    return opt.step


# Parameter lists of real models (issue 12): many tensors of mixed sizes, CNN-like
# layers, and one large tensor. name: list of shapes.
LISTS = {
    "200 tensors, 1M params": [(100, 99), (100,)] * 100,  # 100 weights + 100 biases
    "150 x 256x256": [(256, 256)] * 150,
    "1 x 10M": [(10_000_000,)],
}


def list_tensors(shapes, seed: int, dtype=None) -> list:
    """float32 tensors of ``shapes``, standard normal (``seed``)."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=gen, dtype=dtype or torch.float32) for s in shapes]


def list_step(case: str, shapes, impl: str, fresh_grads: bool = False):
    """One ``step()`` of ``impl`` ("calipers", "fused" or "foreach") over ``shapes``.

    Every implementation owns its parameters, gradients (scaled by 1e-3) and state,
    and has taken one step before timing. With ``fresh_grads`` each call first gives
    every parameter another gradient tensor (two sets, alternating), as
    ``zero_grad()`` + ``backward()`` do; the assignment is inside the timed call.
    """
    from calipers_torch import optim as cto

    name, options, _, _ = CASES[case]
    params = [t.requires_grad_() for t in list_tensors(shapes, 0)]
    grads = [[g * 1e-3 for g in list_tensors(shapes, s)] for s in (1, 2)]
    for p, g in zip(params, grads[0], strict=True):
        p.grad = g
    if impl == "calipers":
        opt = getattr(cto, name)(params, **options)
    else:
        opt = getattr(torch.optim, name)(params, **options, **{impl: True})
    opt.step()
    if not fresh_grads:
        return opt.step
    turn = [0]

    def step():
        turn[0] ^= 1
        for p, g in zip(params, grads[turn[0]], strict=True):
            p.grad = g
        opt.step()

    return step


def _numpy(case: str, grads):
    """The same update with in-place numpy ufuncs (one temporary per array)."""
    name, options, _, _ = CASES[case]
    params = _arrays(0)
    tmp = [np.empty_like(p) for p in params]
    s1 = [np.zeros_like(p) for p in params]
    s2 = [np.zeros_like(p) for p in params]
    lr, step = options["lr"], [0]

    def sgd():
        for p, g, b, t in zip(params, grads, s1, tmp, strict=True):
            b *= 0.9
            b += g
            np.multiply(b, -lr, out=t)
            p += t

    def adam():
        step[0] += 1
        b1, b2, eps = 0.9, 0.999, 1e-8
        step_size = lr / (1 - b1 ** step[0])
        bc2 = (1 - b2 ** step[0]) ** 0.5
        for p, g, m, v, t in zip(params, grads, s1, s2, tmp, strict=True):
            if name == "AdamW":
                p *= 1 - lr * 1e-2
            m *= b1
            np.multiply(g, 1 - b1, out=t)
            m += t
            v *= b2
            np.multiply(g, g, out=t)
            t *= 1 - b2
            v += t
            np.sqrt(v, out=t)
            t /= bc2
            t += eps
            np.divide(m, t, out=t)
            t *= -step_size
            p += t

    def adagrad():
        for p, g, s, t in zip(params, grads, s1, tmp, strict=True):
            np.multiply(g, g, out=t)
            s += t
            np.sqrt(s, out=t)
            t += 1e-10
            np.divide(g, t, out=t)
            t *= -lr
            p += t

    def rmsprop():
        for p, g, s, t in zip(params, grads, s1, tmp, strict=True):
            s *= 0.99
            np.multiply(g, g, out=t)
            t *= 0.01
            s += t
            np.sqrt(s, out=t)
            t += 1e-8
            np.divide(g, t, out=t)
            t *= -lr
            p += t

    fn = {"SGD": sgd, "Adam": adam, "AdamW": adam, "Adagrad": adagrad, "RMSprop": rmsprop}
    return fn[name]


def _probe(case: str, grads):
    nbytes = CASES[case][2] * N
    arrays = [np.empty(a.size, np.float32) for a in grads]
    for a in arrays:
        a.fill(1.0)
    reps = nbytes // sum(a.nbytes for a in arrays)
    return lambda: bandwidth_probe(*(arrays * reps))


def _cases(fused_only: bool = False) -> list[str]:
    return [c for c in CASES if CASES[c][3] or not fused_only]


@pytest.mark.parametrize("case", _cases())
class TestOptimizerStep:
    def test_calipers_step(self, benchmark, case, grads):
        benchmark.group = f"{case} step, 10M float32"
        benchmark(_calipers(case, grads, "raise"))

    def test_calipers_propagate(self, benchmark, case, grads):
        benchmark.group = f"{case} step, 10M float32"
        benchmark(_calipers(case, grads, "propagate"))

    def test_calipers_torch_drop_in(self, benchmark, case, grads):
        benchmark.group = f"{case} step, 10M float32"
        benchmark(_dropin(case, grads))

    def test_bandwidth_probe(self, benchmark, case, grads):
        benchmark.group = f"{case} step, 10M float32"
        benchmark(_probe(case, grads))

    def test_torch_fused(self, benchmark, case, grads):
        if not CASES[case][3]:
            pytest.skip(f"torch has no fused CPU {CASES[case][0]}")
        benchmark.group = f"{case} step, 10M float32"
        benchmark(_torch(case, grads, fused=True))

    def test_torch_foreach(self, benchmark, case, grads):
        benchmark.group = f"{case} step, 10M float32"
        benchmark(_torch(case, grads, foreach=True))

    def test_torch_single_tensor(self, benchmark, case, grads):
        benchmark.group = f"{case} step, 10M float32"
        benchmark.pedantic(_torch(case, grads, foreach=False), **SLOW)

    def test_numpy(self, benchmark, case, grads):
        benchmark.group = f"{case} step, 10M float32"
        benchmark.pedantic(_numpy(case, grads), **SLOW)


@pytest.mark.parametrize("impl", ["calipers", "fused", "foreach"])
@pytest.mark.parametrize("shapes", list(LISTS))
@pytest.mark.parametrize("case", _cases(fused_only=True))
def test_parameter_lists(benchmark, case, shapes, impl):
    benchmark.group = f"{case} step, {shapes}"
    benchmark(list_step(case, LISTS[shapes], impl))
