"""Search-space parameters and SearchSpace: validation, sampling, activity, storage."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from _space_strategies import spaces
from hypothesis import given, settings
from hypothesis import strategies as st

from calipers.search import Categorical, Condition, Float, Int, SearchSpace


def svm_space() -> SearchSpace:
    return SearchSpace(
        {
            "gamma": Float(1e-4, 1.0, log=True, condition=("kernel", ("rbf", "poly"))),
            "degree": Int(2, 5, condition={"kernel": "poly"}),
            "kernel": ["linear", "rbf", "poly"],
            "C": Float(1e-3, 1e3, log=True),
        }
    )


# -- parameter construction errors --------------------------------------------------


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: Float(1.0, 1.0), ValueError, r"low must be less than high.*low=1\.0, high=1\.0"),
        (lambda: Float(2, 1), ValueError, "low must be less than high"),
        (lambda: Float(0.0, 1.0, log=True), ValueError, r"log=True needs low > 0, got low=0\.0"),
        (lambda: Float(-1.0, 1.0, log=True), ValueError, "log=True needs low > 0"),
        (lambda: Float(0, math.inf), ValueError, "high must be finite, got inf"),
        (lambda: Float("0", 1), TypeError, "low must be a real number, got '0'"),
        (lambda: Float(True, 2), TypeError, "low must be a real number, got True"),
        (lambda: Int(5, 5), ValueError, "low must be less than high, got low=5, high=5"),
        (lambda: Int(0.5, 3), TypeError, "low must be an integer, got 0.5"),
        (lambda: Int(0, 3.0), TypeError, "high must be an integer, got 3.0"),
        (lambda: Int(0, 10, step=3), ValueError, r"step=3 does not divide high - low = 10.*high=9"),
        (lambda: Int(0, 10, step=0), ValueError, "step must be >= 1, got step=0"),
        (lambda: Int(0, 10, log=True), ValueError, "log=True needs low > 0, got low=0"),
        (lambda: Int(1, 9, log=True, step=2), ValueError, "log=True needs step=1"),
        (lambda: Categorical([]), ValueError, "choices must not be empty"),
        (lambda: Categorical("abc"), TypeError, "must be a list or tuple, got 'abc'"),
        (lambda: Categorical({1, 2}), TypeError, "must be a list or tuple"),
        (lambda: Categorical(["a", "b", "a"]), ValueError, r"contain 'a' twice"),
        (lambda: Categorical([1, np.int64(1)]), ValueError, "contain 1 twice"),
        (lambda: Condition("", "a"), TypeError, "non-empty str"),
        (lambda: Condition("k", []), ValueError, "at least one parent value"),
        (lambda: Float(0, 1, condition=["k", "a"]), TypeError, "condition must be None"),
    ],
)
def test_bad_parameters_raise_clear_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_condition_forms_are_equivalent():
    a = Float(0, 1, condition=Condition("k", ("a",)))
    assert Float(0, 1, condition=("k", "a")) == a
    assert Float(0, 1, condition={"k": ["a"]}) == a
    assert Float(0, 1, condition=("k", ["a", "b"])).condition.values == ("a", "b")
    assert Condition("n", np.int64(3)).values == (3,)
    assert type(Condition("n", np.int64(3)).values[0]) is int


def test_categorical_choice_identity_keeps_bools_and_ints_apart():
    c = Categorical([True, 1, "1", None, 1.5])
    assert [c.index(v) for v in (True, 1, "1", None, 1.5)] == [0, 1, 2, 3, 4]
    assert c.validate(np.int64(1)) == 1 and type(c.validate(np.int64(1))) is int
    assert c.validate(np.bool_(True)) is True
    with pytest.raises(ValueError, match=r"parameter 'c': 2 is not one of the choices"):
        c.validate(2, "c")
    # behaves as the sequence of its choices
    assert len(c) == 5 and c[2] == "1" and list(c) == [True, 1, "1", None, 1.5]


def test_parameter_repr_and_equality():
    assert repr(Float(0, 1)) == "Float(low=0.0, high=1.0, log=False)"
    assert repr(Int(1, 9, step=2, condition=("k", "a"))) == (
        "Int(low=1, high=9, log=False, step=2, condition=Condition('k', ('a',)))"
    )
    assert Categorical([1, 2]) != Categorical([1.0, True])
    assert Float(0, 1) != Int(0, 1) and Float(0, 1) != Float(0, 1, log=False, condition=("a", 1))


# -- space construction errors ------------------------------------------------------


@pytest.mark.parametrize(
    "params, error, match",
    [
        (
            {"g": Float(0, 1, condition=("kernal", "rbf")), "kernel": ["rbf"]},
            ValueError,
            r"parameter 'g': condition parent 'kernal' is not in the space \(did you mean 'kernel'",
        ),
        (
            {"g": Float(0, 1, condition=("k", "x")), "k": ["rbf"]},
            ValueError,
            r"parameter 'g': condition value 'x' is not a value of 'k'",
        ),
        (
            {"g": Float(0, 1, condition=("n", 4)), "n": Int(1, 9, step=2)},
            ValueError,
            "condition value 4 is not a value of 'n'",
        ),
        (
            {"g": Float(0, 1, condition=("x", 0.5)), "x": Float(0, 1)},
            ValueError,
            "condition parent 'x' is a Float",
        ),
        (
            {
                "a": Categorical([1, 2], condition=("b", 1)),
                "b": Categorical([1, 2], condition=("a", 1)),
            },
            ValueError,
            "conditions form a cycle: (a -> b -> a|b -> a -> b)",
        ),
        ({"a": Categorical([1, 2], condition=("a", 1))}, ValueError, "cycle: a -> a"),
        ({"c": []}, ValueError, "parameter 'c': Categorical choices must not be empty"),
        ({"c": "abc"}, TypeError, "parameter 'c': expected Float, Int, Categorical or a list"),
        ({"": [1]}, TypeError, "parameter names must be non-empty strings"),
    ],
)
def test_bad_spaces_raise_clear_errors(params, error, match):
    with pytest.raises(error, match=match):
        SearchSpace(params)


def test_coerce():
    space = svm_space()
    assert SearchSpace.coerce(space) is space
    coerced = SearchSpace.coerce({"k": ["a", "b"], "n": range(3), "x": Float(0, 1)})
    assert coerced["k"] == Categorical(["a", "b"]) and coerced["n"] == Categorical([0, 1, 2])
    with pytest.raises(TypeError, match="a list of grids is not a search space"):
        SearchSpace.coerce([{"a": [1]}, {"b": [2]}])
    with pytest.raises(TypeError, match="must be a SearchSpace or a dict"):
        SearchSpace.coerce(3)


def test_names_put_parents_first_and_mapping_protocol():
    space = svm_space()
    assert space.names == ["kernel", "C", "gamma", "degree"]
    assert list(space) == space.names and len(space) == 4
    assert space["C"] == Float(1e-3, 1e3, log=True)
    with pytest.raises(KeyError, match="no parameter 'c'"):
        space["c"]
    assert space.columns == [("kernel", "onehot")] * 3 + [
        ("C", "float"),
        ("gamma", "float"),
        ("degree", "int"),
    ]
    assert space.dim == 6 and space.slice("kernel") == slice(0, 3)
    assert "SearchSpace({'kernel': Categorical(choices=['linear', 'rbf', 'poly'])" in repr(space)


def test_active():
    space = svm_space()
    assert space.active({}) == ["kernel", "C"]
    assert space.active({"kernel": "linear"}) == ["kernel", "C"]
    assert space.active({"kernel": "rbf"}) == ["kernel", "C", "gamma"]
    assert space.active({"kernel": "poly", "C": 1.0}) == ["kernel", "C", "gamma", "degree"]
    assert space.active({"kernel": "nope"}) == ["kernel", "C"]
    # a grandchild is active only through an active parent
    nested = SearchSpace(
        {
            "a": [0, 1],
            "b": Int(0, 2, condition=("a", 1)),
            "c": Categorical(["x"], condition=("b", [0, 2])),
        }
    )
    assert nested.active({"a": 0, "b": 0}) == ["a"]
    assert nested.active({"a": 1, "b": 0}) == ["a", "b", "c"]
    assert nested.active({"a": 1, "b": 1}) == ["a", "b"]


def test_validate_normalizes_and_orders():
    space = svm_space()
    out = space.validate(
        {"C": np.float32(2.0), "kernel": "poly", "degree": np.int64(3), "gamma": 1}
    )
    assert out == {"kernel": "poly", "C": 2.0, "gamma": 1.0, "degree": 3}
    assert list(out) == ["kernel", "C", "gamma", "degree"]
    assert [type(out[k]) for k in out] == [str, float, float, int]
    assert SearchSpace({"n": Int(0, 10, step=2)}).validate({"n": 4.0}) == {"n": 4}


@pytest.mark.parametrize(
    "params, match",
    [
        ({"kernel": "linear", "C": 1.0, "c": 1}, r"unknown parameter\(s\) 'c'; the space has"),
        ({"kernel": "linear"}, r"missing active parameter\(s\) 'C'"),
        ({"kernel": "rbf", "C": 1.0}, r"missing active parameter\(s\) 'gamma'"),
        (
            {"kernel": "linear", "C": 1.0, "gamma": 0.1},
            r"parameter 'gamma' is inactive \(it needs kernel in \['rbf', 'poly'\], "
            r"got kernel='linear'\) but was given",
        ),
        ({"kernel": "linear", "C": 1e4}, r"parameter 'C': 10000.0 is outside \[0.001, 1000.0\]"),
        ({"kernel": "linear", "C": float("nan")}, "parameter 'C': nan is outside"),
        ({"kernel": "linear", "C": "1"}, r"parameter 'C': '1' is not a real number"),
        ({"kernel": "linear", "C": True}, "parameter 'C': True is not a real number"),
        ({"kernel": "sigmoid", "C": 1.0}, "parameter 'kernel': 'sigmoid' is not one of the"),
        (
            {"kernel": "poly", "C": 1.0, "gamma": 0.1, "degree": 2.5},
            "parameter 'degree': 2.5 is not an integer",
        ),
        (
            {"kernel": "poly", "C": 1.0, "gamma": 0.1, "degree": 6},
            r"parameter 'degree': 6 is outside \[2, 5\]",
        ),
    ],
)
def test_validate_errors(params, match):
    with pytest.raises(ValueError, match=match):
        svm_space().validate(params)


def test_validate_off_step_and_type_errors():
    with pytest.raises(ValueError, match="3 is not on the step grid low=0, step=2"):
        SearchSpace({"n": Int(0, 10, step=2)}).validate({"n": 3})
    with pytest.raises(TypeError, match="params must be a mapping"):
        svm_space().validate([("kernel", "linear")])


# -- sampling ------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(spaces(), st.integers(0, 2**32 - 1))
def test_sample_always_validates(space, seed):
    rng = np.random.default_rng(seed)
    for _ in range(5):
        params = space.sample(rng)
        assert space.validate(params) == params
        assert list(params) == space.active(params)
        assert all(type(params[n]) is int for n in params if space[n].kind == "int")
        assert all(type(params[n]) is float for n in params if space[n].kind == "float")


def test_sample_distributions():
    rng = np.random.default_rng(0)
    space = SearchSpace(
        {
            "lin": Float(0, 10),
            "log": Float(1e-3, 1e3, log=True),
            "n": Int(0, 8, step=2),
            "nlog": Int(1, 1000, log=True),
            "c": ["a", "b", "c"],
        }
    )
    draws = [space.sample(rng) for _ in range(6000)]
    lin = np.array([d["lin"] for d in draws])
    logs = np.log10([d["log"] for d in draws])
    assert abs(lin.mean() - 5) < 0.15 and abs(logs.mean()) < 0.06
    assert abs(np.mean(logs < 0) - 0.5) < 0.03  # uniform in log space, not linear
    counts = np.bincount([d["n"] // 2 for d in draws])
    assert len(counts) == 5 and counts.min() > 1050  # each of 5 steps ~1200
    nlog = np.array([d["nlog"] for d in draws])
    # log-uniform over [0.5, 1000.5], rounded: P(n <= 31) = log(31.5/0.5) / log(1000.5/0.5)
    expected = np.log(63) / np.log(2001)
    assert abs(np.mean(nlog <= 31) - expected) < 0.02 and nlog.min() == 1 and nlog.max() > 700
    assert {d["c"] for d in draws} == {"a", "b", "c"}


def test_sample_is_a_function_of_the_rng():
    space = svm_space()
    a = [space.sample(np.random.default_rng(3)) for _ in range(3)]
    assert a[0] == a[1] == a[2]
    assert space.sample(np.random.default_rng(4)) != a[0]


# -- storage -------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(spaces())
def test_to_dict_round_trips_through_json(space):
    data = json.loads(json.dumps(space.to_dict(), allow_nan=False))
    rebuilt = SearchSpace.from_dict(data)
    assert rebuilt == space and rebuilt.names == space.names
    assert rebuilt.to_dict() == space.to_dict()


def test_tuple_choices_survive_json_and_match_lists():
    space = SearchSpace(
        {
            "h": [(10,), (20, 20), [5, (1, 2)]],
            "a": Categorical(["x", "y"], condition=("h", [(20, 20)])),
        }
    )
    rebuilt = SearchSpace.from_dict(json.loads(json.dumps(space.to_dict())))
    assert rebuilt == space and rebuilt["h"].choices == ((10,), (20, 20), [5, (1, 2)])
    assert rebuilt["a"].condition.values == ((20, 20),)
    # params stored as JSON come back with lists for tuples: still the same choice
    assert space.validate({"h": [20, 20], "a": "y"}) == {"h": (20, 20), "a": "y"}
    assert space.validate({"h": (5, [1, 2])}) == {"h": [5, (1, 2)]}
    with pytest.raises(ValueError, match="contain"):
        Categorical([(1, 2), [1, 2]])


def test_to_dict_of_other_choices_compares_but_does_not_rebuild_and_from_dict_checks():
    class Estimator:
        def __repr__(self):
            return "Estimator()"

    space = SearchSpace(
        {
            "est": [Estimator(), None],
            "w": [None, {0: 1, 1: 5}, "balanced"],
            "x": [1.0, float("nan")],
        }
    )
    data = json.loads(json.dumps(space.to_dict(), allow_nan=False))
    assert data["params"][0]["choices"] == [{"repr": "Estimator()"}, None]
    assert data["params"][2]["choices"] == [1.0, {"repr": "nan"}]
    with pytest.raises(ValueError, match=r"parameter 'est': the choice Estimator\(\) was stored"):
        SearchSpace.from_dict(data)
    # dicts with non-str keys survive
    rebuilt = SearchSpace.from_dict({"params": data["params"][1:2]})
    assert rebuilt["w"].choices == (None, {0: 1, 1: 5}, "balanced")
    with pytest.raises(ValueError, match="not a search-space description"):
        SearchSpace.from_dict({"x": 1})
    with pytest.raises(ValueError, match="bad parameter description"):
        SearchSpace.from_dict({"params": [{"name": "x", "type": "complex"}]})
    with pytest.raises(ValueError, match="bad parameter description.*unexpected keyword"):
        SearchSpace.from_dict(
            {"params": [{"name": "x", "type": "float", "low": 0, "high": 1, "sigma": 2}]}
        )
    with pytest.raises(ValueError, match="low must be less than high"):
        SearchSpace.from_dict({"params": [{"name": "x", "type": "float", "low": 1, "high": 0}]})


def test_space_equality():
    assert svm_space() == svm_space()
    assert svm_space() != SearchSpace({"C": Float(1e-3, 1e3, log=True)})
    assert svm_space() != {"C": 1}


def test_public_names_resolve_and_the_package_imports_lazily():
    import subprocess
    import sys

    import calipers.search

    for name in calipers.search.__all__:
        assert getattr(calipers.search, name) is not None
    code = (
        "import sys, calipers.search as s; s.Float; "
        "print(sorted(m for m in ('sklearn', 'scipy', 'sqlalchemy', 'joblib', "
        "'calipers.search._study', 'calipers.search._cv') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
