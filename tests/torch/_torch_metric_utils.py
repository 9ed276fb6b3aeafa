"""Shared helpers of the torch-backend metric tests: data, kernels switch, comparisons."""

from __future__ import annotations

import contextlib
import dataclasses
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import calipers_torch  # noqa: E402
from calipers_torch import _kernels  # noqa: E402

import calipers  # noqa: E402

#: How CPU tensors are counted in a test: the compiled core on views, the torch
#: kernels (bincount on CPU), and the torch kernels with CUDA's index_add_ counting.
MODES = ("core", "torch", "torch-index_add")


@contextlib.contextmanager
def cpu_mode(mode: str = "torch"):
    """CPU tensors counted as ``mode`` says (one of :data:`MODES`) inside the block."""
    old = calipers_torch.set_cpu_kernels("core" if mode == "core" else "torch")
    old_bincount = _kernels.BINCOUNT_ON_CPU
    _kernels.BINCOUNT_ON_CPU = mode != "torch-index_add"
    try:
        yield mode
    finally:
        calipers_torch.set_cpu_kernels(old)
        _kernels.BINCOUNT_ON_CPU = old_bincount


def to_host(x):
    """Tensors (also inside dicts, lists, curves) as numpy / float for comparisons."""
    if isinstance(x, torch.Tensor):
        a = x.detach().cpu().numpy()
        return a.item() if a.ndim == 0 else a
    if isinstance(x, dict):
        return {k: to_host(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(to_host(v) for v in x)
    if dataclasses.is_dataclass(x):
        return {f.name: to_host(getattr(x, f.name)) for f in dataclasses.fields(x)}
    return x


def assert_same(got, ref, rtol=1e-12):
    got, ref = to_host(got), to_host(ref)
    if isinstance(ref, dict):
        assert got.keys() == ref.keys()
        for k in ref:
            assert_same(got[k], ref[k], rtol)
    elif isinstance(ref, (list, tuple)):
        assert len(got) == len(ref)
        for a, b in zip(got, ref, strict=True):
            assert_same(a, b, rtol)
    else:
        np.testing.assert_allclose(np.asarray(got, dtype=np.float64),
                                   np.asarray(ref, dtype=np.float64), rtol=rtol, atol=1e-13,
                                   equal_nan=True)


def assert_tensors(x, device="cpu"):
    """Every number of a computed value is a tensor on ``device`` (float64 for floats)."""
    if isinstance(x, dict):
        for v in x.values():
            assert_tensors(v, device)
    elif isinstance(x, (list, tuple)):
        for v in x:
            assert_tensors(v, device)
    elif dataclasses.is_dataclass(x):
        for f in dataclasses.fields(x):
            assert_tensors(getattr(x, f.name), device)
    elif x is not None:  # optional curve fields
        assert isinstance(x, torch.Tensor), type(x)
        assert x.device.type == torch.device(device).type
        if x.is_floating_point():
            assert x.dtype in (torch.float64, torch.float32)


def compute_warned(m):
    """``(value, warning messages)`` of ``m.compute()``."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        value = m.compute()
    return value, sorted(str(r.message) for r in rec)


def tensors(batch, device="cpu"):
    return tuple(None if a is None else torch.from_numpy(np.ascontiguousarray(a)).to(device)
                 for a in batch)


def both(name, options, batches, device="cpu"):
    """The metric updated with numpy batches and with the same batches as tensors."""
    ref = calipers.metric(name, **options)
    got = calipers.metric(name, **options)
    for b in batches:
        ref.update(*b[:2], sample_weight=b[2])
        t = tensors(b, device)
        got.update(*t[:2], sample_weight=t[2])
    return got, ref


def check_parity(name, options, batches, device="cpu", rtol=1e-12):
    got, ref = both(name, options, batches, device)
    ref_value, ref_warn = compute_warned(ref)
    value, warn = compute_warned(got)
    assert_tensors(value, device)
    assert_same(value, ref_value, rtol)
    assert warn == ref_warn
    return value
