"""SearchSpace.grid (scikit-learn ParameterGrid order) and encode/decode."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from _space_strategies import plain_grids, spaces
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.model_selection import ParameterGrid

from calipers.search import Categorical, Float, Int, SearchSpace


@settings(max_examples=200, deadline=None)
@given(plain_grids())
def test_grid_equals_sklearn_parameter_grid_in_order(pair):
    space, param_grid = pair
    ours = list(space.grid())
    theirs = list(ParameterGrid(param_grid))
    assert len(ours) == len(theirs) == space.grid_size()
    for a, b in zip(ours, theirs, strict=True):
        assert a == b
        assert [type(v) for v in a.values()] == [type(b[k]) for k in a]  # 1 stays int, True bool
        assert list(a) == sorted(a)


def test_grid_small_example_order():
    space = SearchSpace({"b": [1, 2], "a": Int(0, 4, step=2)})
    assert list(space.grid()) == [
        {"a": 0, "b": 1},
        {"a": 0, "b": 2},
        {"a": 2, "b": 1},
        {"a": 2, "b": 2},
        {"a": 4, "b": 1},
        {"a": 4, "b": 2},
    ]


def _brute_force(space):
    """Every distinct valid assignment, by filtering the product with 'absent' markers."""
    absent = object()
    names = sorted(space.names)
    domains = [[*space[n].grid_values(n), absent] for n in names]
    found = []
    for combo in itertools.product(*domains):
        params = {n: v for n, v in zip(names, combo, strict=True) if v is not absent}
        try:
            space.validate(params)
        except ValueError:
            continue
        found.append(params)
    return found


@settings(max_examples=150, deadline=None)
@given(spaces(grid_only=True, max_params=4))
def test_conditional_grid_has_each_valid_assignment_once(space):
    grid = list(space.grid())
    assert len(grid) == space.grid_size()
    keys = [tuple(sorted((k, repr(v)) for k, v in p.items())) for p in grid]
    assert len(set(keys)) == len(keys)  # no duplicates
    for params in grid:
        assert space.validate(params) == params  # only active parameters, all of them
        assert list(params) == sorted(params)
    assert grid == _brute_force(space)  # complete, and in ParameterGrid order


def test_conditional_grid_example():
    space = SearchSpace(
        {
            "kernel": ["linear", "poly"],
            "degree": Int(2, 3, condition=("kernel", "poly")),
            "C": [1, 10],
        }
    )
    assert list(space.grid()) == [
        {"C": 1, "degree": 2, "kernel": "poly"},
        {"C": 1, "degree": 3, "kernel": "poly"},
        {"C": 1, "kernel": "linear"},
        {"C": 10, "degree": 2, "kernel": "poly"},
        {"C": 10, "degree": 3, "kernel": "poly"},
        {"C": 10, "kernel": "linear"},
    ]
    assert space.grid_size() == 6


def test_float_has_no_grid():
    space = SearchSpace({"n": [1, 2], "lr": Float(1e-3, 1.0, log=True)})
    with pytest.raises(ValueError, match="Float 'lr' has no grid; use Categorical or Int"):
        list(space.grid())
    with pytest.raises(ValueError, match="Float 'lr' has no grid"):
        space.grid_size()


def test_empty_space():
    space = SearchSpace({})
    assert list(space.grid()) == [{}] == list(ParameterGrid({}))
    assert space.sample(np.random.default_rng(0)) == {} and space.dim == 0
    assert space.decode(np.zeros(0)) == {} and space.encode({}).shape == (0,)


# -- encoding ------------------------------------------------------------------------


def _same_assignment(space, a, b):
    assert list(a) == list(b)
    for name in a:
        if space[name].kind == "float":
            assert b[name] == pytest.approx(a[name], rel=1e-12, abs=1e-12 * abs(space[name].high))
        else:
            assert b[name] == a[name] and type(b[name]) is type(a[name])


@settings(max_examples=200, deadline=None)
@given(spaces(), st.integers(0, 2**32 - 1))
def test_decode_inverts_encode(space, seed):
    rng = np.random.default_rng(seed)
    for _ in range(5):
        params = space.sample(rng)
        x = space.encode(params)
        assert x.shape == (space.dim,) and np.all((x >= 0) & (x <= 1))
        back = space.decode(x)
        _same_assignment(space, params, back)
        assert space.validate(back) == back


@settings(max_examples=150, deadline=None)
@given(spaces(), st.integers(0, 2**32 - 1))
def test_decode_of_any_point_is_valid(space, seed):
    x = np.random.default_rng(seed).uniform(-0.5, 1.5, size=space.dim)
    params = space.decode(x)
    assert space.validate(params) == params


def test_encoding_layout():
    space = SearchSpace(
        {
            "k": ["a", "b", "c"],
            "x": Float(0, 10),
            "lr": Float(1e-4, 1.0, log=True),
            "n": Int(0, 8, step=2),
            "m": Int(1, 100, log=True),
            "g": Int(0, 4, condition=("k", "c")),
            "h": Categorical([1, 2], condition=("k", "c")),
        }
    )
    x = space.encode({"k": "b", "x": 2.5, "lr": 1e-2, "n": 6, "m": 10})
    np.testing.assert_allclose(x, [0, 1, 0, 0.25, 0.5, 0.75, 0.5, 0.5, 0, 0], atol=1e-12)
    assert space.columns[-4:] == [("m", "int"), ("g", "int"), ("h", "onehot"), ("h", "onehot")]
    assert space.decode([0.2, 0.1, 0.9, 0.25, 0.5, 0.7, 0.5, 0.6, 0.3, 0.31]) == {
        "k": "c",
        "x": 2.5,
        "lr": pytest.approx(1e-2),
        "n": 6,
        "m": 10,
        "g": 2,
        "h": 2,
    }
    with pytest.raises(ValueError, match=r"shape \(10,\), got shape \(3,\)"):
        space.decode([0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="finite"):
        space.decode([np.nan] * 10)
    with pytest.raises(ValueError, match="missing active"):
        space.encode({"k": "b"})
