"""The backend conformance checks: the first-party backends pass them, and each check
fails on a backend that breaks its rule (with a message naming the rule)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from calipers.backends import Backend
from calipers.testing import Case, CheckFailure, check_backend, parametrize_with_checks
from calipers.testing._backend_checks import backend_checks as backend_checks_

HAVE_DASK = importlib.util.find_spec("dask") is not None
HAVE_TORCH = importlib.util.find_spec("torch") is not None


def dask_from_numpy(x):
    import dask.array as da

    return da.from_array(x, chunks=7)  # 20 samples -> 3 partitions


def torch_from_numpy(x):
    import torch

    return torch.from_numpy(x)


CASES = [Case("backend", "numpy", id="numpy", from_numpy=np.asarray)]
if HAVE_DASK:
    CASES.append(Case("backend", "dask", id="dask", from_numpy=dask_from_numpy))
if HAVE_TORCH:
    CASES.append(Case("backend", "torch", id="torch", from_numpy=torch_from_numpy))


@pytest.fixture(autouse=True)
def _sync_dask():
    """dask's synchronous scheduler: no thread pool for 3-partition arrays."""
    if not HAVE_DASK:
        yield
        return
    import dask

    with dask.config.set(scheduler="synchronous"):
        yield


@parametrize_with_checks(CASES)
def test_first_party_backends_conform(obj, check):
    check()


def _rules(backend, from_numpy):
    return [c.rule for c in backend_checks_(backend, from_numpy)]


BASIC = ["check_capabilities_implemented", "check_accepts_own_arrays",
         "check_numpy_round_trip", "check_accepts_only_own_types"]


def test_only_the_capabilities_a_backend_has_are_checked():
    assert _rules("numpy", np.asarray) == BASIC
    if HAVE_DASK:
        assert _rules("dask", dask_from_numpy) == BASIC + [
            "check_partitioned_update_matches_memory",
            "check_partitioned_failure_leaves_metric_unchanged"]
    if HAVE_TORCH:
        assert _rules("torch", torch_from_numpy) == BASIC + [
            "check_native_update_matches_numpy", "check_native_failure_leaves_state_unchanged"]


@pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
def test_torch_device_kernels_on_cpu_conform():
    # the kernels a GPU runs (refusals reported at the next compute), here on CPU tensors
    import calipers_torch

    old = calipers_torch.set_cpu_kernels("torch")
    try:
        check_backend("torch", torch_from_numpy)
    finally:
        calipers_torch.set_cpu_kernels(old)


def _rule(backend, from_numpy, rule):
    (check,) = [c for c in backend_checks_(backend, from_numpy) if c.rule == rule]
    check()


# -- a third-party backend over a toy array type, and broken variants of it ------------
class Box:
    """A toy array library: a box around a numpy array."""

    def __init__(self, data):
        self.data = data


class BoxBackend(Backend):
    name = "box"

    @classmethod
    def accepts(cls, x):
        return isinstance(x, Box)

    @classmethod
    def to_numpy(cls, x):
        return np.asarray(x.data)


class PlusOne(BoxBackend):
    @classmethod
    def to_numpy(cls, x):
        return np.asarray(x.data) + 1


class IntsToFloat32(BoxBackend):
    @classmethod
    def to_numpy(cls, x):
        return x.data.astype(np.float32) if x.data.dtype.kind == "i" else x.data


class ThroughFloat64(BoxBackend):
    """Same dtype back, but 2**53 + 1 does not survive the trip through float64."""

    @classmethod
    def to_numpy(cls, x):
        return x.data.astype(np.float64).astype(x.data.dtype)


class Flattens(BoxBackend):
    @classmethod
    def to_numpy(cls, x):
        return x.data.ravel()


class NoBools(BoxBackend):
    @classmethod
    def accepts(cls, x):
        return isinstance(x, Box) and x.data.dtype != bool


class RaisesOnForeign(BoxBackend):
    @classmethod
    def accepts(cls, x):
        return x.data is not None and isinstance(x, Box)  # AttributeError on most values


class ClaimsNumpy(BoxBackend):
    @classmethod
    def accepts(cls, x):
        return isinstance(x, (Box, np.ndarray))


class PartitionedWithoutMapUpdate(BoxBackend):
    partitioned = True


def test_a_correct_third_party_backend_passes():
    check_backend(BoxBackend, Box)


@pytest.mark.parametrize(("broken", "says"), [
    (PlusOne, "where x has"), (IntsToFloat32, "dtype float32 instead of int64"),
    (ThroughFloat64, "9007199254740992"), (Flattens, "shape (15,) instead of (5, 3)"),
])
def test_a_backend_changing_values_fails_the_round_trip(broken, says):
    with pytest.raises(CheckFailure, match="check_numpy_round_trip") as info:
        _rule(broken, Box, "check_numpy_round_trip")
    assert says in info.value.what
    with pytest.raises(CheckFailure, match="check_numpy_round_trip"):
        check_backend(broken, Box)


def test_a_backend_not_claiming_its_bool_arrays_fails():
    with pytest.raises(CheckFailure, match="check_accepts_own_arrays.*bool array"):
        _rule(NoBools, Box, "check_accepts_own_arrays")


@pytest.mark.parametrize(("broken", "says"), [
    (RaisesOnForeign, "raised AttributeError"), (ClaimsNumpy, "returned True for a ndarray"),
])
def test_a_backend_misjudging_foreign_values_fails(broken, says):
    with pytest.raises(CheckFailure, match="check_accepts_only_own_types") as info:
        _rule(broken, Box, "check_accepts_only_own_types")
    assert says in info.value.what


def test_the_numpy_backend_must_claim_numpy_input():
    from calipers.backends import NumpyBackend

    class PickyNumpy(NumpyBackend):
        @classmethod
        def accepts(cls, x):
            return isinstance(x, np.ndarray)

    with pytest.raises(CheckFailure, match="check_accepts_only_own_types.*does not claim"):
        _rule(PickyNumpy, np.asarray, "check_accepts_only_own_types")


def test_a_capability_without_its_method_fails():
    with pytest.raises(CheckFailure, match="check_capabilities_implemented.*map_update"):
        _rule(PartitionedWithoutMapUpdate, Box, "check_capabilities_implemented")


def test_bad_arguments_are_refused_up_front():
    with pytest.raises(TypeError, match="class or a registered name"):
        list(backend_checks_(BoxBackend(), Box))
    with pytest.raises(TypeError, match="from_numpy must turn"):
        list(backend_checks_(BoxBackend, "Box"))
    with pytest.raises(ValueError, match="rtol and atol"):
        list(backend_checks_(BoxBackend, Box, rtol=-1))


# -- broken partitioned backends -------------------------------------------------------
def _blockwise(cls, args, kwargs, i):
    def block(a):
        return a.blocks[i].compute() if cls.accepts(a) else a

    return [block(a) for a in args], {k: block(v) for k, v in kwargs.items()}


def _dask_backend():
    pytest.importorskip("dask")
    from calipers_dask import DaskBackend

    return DaskBackend


def test_a_partitioned_backend_merging_as_it_goes_fails():
    class MergesAsItGoes(_dask_backend()):
        name = "test-merges-as-it-goes"

        @classmethod
        def map_update(cls, metric, args, kwargs):
            for i in range(args[0].numblocks[0]):
                part = metric.empty_clone()
                a, kw = _blockwise(cls, args, kwargs, i)
                part.update(*a, **kw)
                metric.merge(part)  # partitions before a failing one stay merged

    _rule(MergesAsItGoes, dask_from_numpy, "check_partitioned_update_matches_memory")
    with pytest.raises(CheckFailure, match="check_partitioned_failure_leaves_metric_unchanged"
                       ) as info:
        _rule(MergesAsItGoes, dask_from_numpy,
              "check_partitioned_failure_leaves_metric_unchanged")
    assert "changed the metric" in info.value.what


def test_a_partitioned_backend_dropping_a_partition_fails():
    class DropsLast(_dask_backend()):
        name = "test-drops-last"

        @classmethod
        def map_update(cls, metric, args, kwargs):
            for i in range(args[0].numblocks[0] - 1):
                a, kw = _blockwise(cls, args, kwargs, i)
                metric.update(*a, **kw)

    with pytest.raises(CheckFailure, match="check_partitioned_update_matches_memory"):
        _rule(DropsLast, dask_from_numpy, "check_partitioned_update_matches_memory")
    with pytest.raises(CheckFailure, match="check_partitioned_failure.*raised nothing"):
        _rule(DropsLast, dask_from_numpy, "check_partitioned_failure_leaves_metric_unchanged")


# -- broken native backends ------------------------------------------------------------
def _torch_backend():
    pytest.importorskip("torch")
    from calipers_torch import TorchBackend

    return TorchBackend


def test_a_native_backend_ignoring_weights_fails():
    class Weightless(_torch_backend()):
        name = "test-weightless"

        @classmethod
        def native_update(cls, metric, args, kwargs):
            kwargs = {k: v for k, v in kwargs.items() if k != "sample_weight"}
            return super().native_update(metric, args, kwargs)

    with pytest.raises(CheckFailure, match="check_native_update_matches_numpy") as info:
        _rule(Weightless, torch_from_numpy, "check_native_update_matches_numpy")
    assert "with sample_weight" in info.value.what


def test_a_native_backend_counting_part_of_a_bad_batch_fails():
    class RowByRow(_torch_backend()):
        name = "test-row-by-row"

        @classmethod
        def native_update(cls, metric, args, kwargs):
            for i in range(len(args[0])):
                row = slice(i, i + 1)
                super().native_update(metric, tuple(a[row] for a in args),
                                      {k: v[row] for k, v in kwargs.items()})
            return True

    _rule(RowByRow, torch_from_numpy, "check_native_update_matches_numpy")
    with pytest.raises(CheckFailure, match="check_native_failure_leaves_state_unchanged"
                       ) as info:
        _rule(RowByRow, torch_from_numpy, "check_native_failure_leaves_state_unchanged")
    assert "changed the metric" in info.value.what


def test_a_native_backend_swallowing_a_bad_batch_fails():
    class Swallows(_torch_backend()):
        name = "test-swallows"

        @classmethod
        def native_update(cls, metric, args, kwargs):
            try:
                return super().native_update(metric, args, kwargs)
            except ValueError:
                return True  # pretends the batch was counted

    with pytest.raises(CheckFailure, match="check_native_failure.*raised nothing"):
        _rule(Swallows, torch_from_numpy, "check_native_failure_leaves_state_unchanged")
