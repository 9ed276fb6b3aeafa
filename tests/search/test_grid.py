"""GridSearcher: ParameterGrid / GridSearchCV order, re-asks, restore, registration."""

from __future__ import annotations

import numpy as np
import pytest
from _space_strategies import plain_grids, spaces
from hypothesis import given, settings
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, ParameterGrid

from calipers import plugins
from calipers.search import Categorical, Float, GridSearcher, Int, SearchSpace


def ask_all(searcher):
    asked = []
    while True:
        try:
            asked.append(searcher.ask())
        except StopIteration:
            return asked


@settings(max_examples=100, deadline=None)
@given(plain_grids())
def test_asks_follow_parameter_grid_then_stop(pair):
    space, param_grid = pair
    searcher = GridSearcher(space, seed=0)
    assert ask_all(searcher) == list(ParameterGrid(param_grid))
    assert searcher.remaining == 0 and searcher.size == len(ParameterGrid(param_grid))
    with pytest.raises(StopIteration, match="all .* points of the grid were asked"):
        searcher.ask()


@settings(max_examples=60, deadline=None)
@given(spaces(grid_only=True, max_params=4))
def test_conditional_grid_asks_every_point_once(space):
    assert ask_all(GridSearcher(space)) == [space.validate(p) for p in space.grid()]


def test_same_order_as_grid_search_cv():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), np.arange(40) % 2
    param_grid = {"C": [0.1, 1.0, 10.0], "fit_intercept": [True, False], "max_iter": [50, 100]}
    cv = GridSearchCV(LogisticRegression(), param_grid, cv=2).fit(X, y)
    assert ask_all(GridSearcher(param_grid)) == list(cv.cv_results_["params"])


def test_forgotten_points_come_back_first():
    searcher = GridSearcher({"a": [1, 2, 3], "b": ["x", "y"]})
    first = [searcher.ask(n) for n in range(4)]
    assert searcher.pending == first
    searcher.tell(first[0], 0.5)
    assert searcher.forget(first[2]) and searcher.forget(first[1], number=1)
    assert not searcher.forget(first[2])  # no longer pending
    assert searcher.pending == [first[3]]
    assert searcher.remaining == 4
    assert [searcher.ask() for _ in range(2)] == [first[2], first[1]]
    assert ask_all(searcher) == [{"a": 3, "b": "x"}, {"a": 3, "b": "y"}]


def test_restore_marks_points_used_by_validated_params():
    searcher = GridSearcher({"n": Int(0, 4, step=2), "k": ["u", "v"]})
    searcher.restore({"k": "v", "n": np.int64(0)}, 1.0, number=0)  # numpy int, other key order
    searcher.restore({"n": 2.0, "k": "u"}, None, number=3)  # still running: pending
    assert searcher.pending == [{"n": 2, "k": "u"}] and searcher.pending_numbers == [3]
    rest = ask_all(searcher)
    assert rest == [{"k": "u", "n": 0}, {"k": "u", "n": 4}, {"k": "v", "n": 2}, {"k": "v", "n": 4}]
    assert searcher.pending_numbers == [3, 4, 5, 6, 7]  # numbers continue after the restored
    # the restored pending trial's worker died: forgetting it gives the point back
    assert searcher.forget({"n": 2, "k": "u"})
    assert searcher.ask() == {"n": 2, "k": "u"}


def test_told_point_that_was_not_asked_is_not_asked_again():
    searcher = GridSearcher({"a": [1, 2, 3]})
    searcher.tell({"a": 2}, 0.0)  # e.g. an enqueued trial
    assert ask_all(searcher) == [{"a": 1}, {"a": 3}]
    assert searcher.told == [({"a": 2}, 0.0)]


def test_grid_ignores_the_seed_and_the_number():
    a, b = GridSearcher({"a": [1, 2]}, seed=1), GridSearcher({"a": [1, 2]}, seed=2)
    assert [a.ask(5), a.ask(0)] == [b.ask(), b.ask()] == [{"a": 1}, {"a": 2}]


def test_errors_and_repr():
    with pytest.raises(ValueError, match="Float 'lr' has no grid; use Categorical or Int"):
        GridSearcher({"lr": Float(0.1, 1.0), "n": [1]})
    with pytest.raises(TypeError, match="unexpected keyword argument 'shuffle'"):
        GridSearcher({"a": [1]}, shuffle=True)
    with pytest.raises(TypeError, match="a list of grids is not a search space"):
        GridSearcher([{"a": [1]}])
    searcher = GridSearcher({"a": [1]})
    with pytest.raises(ValueError, match="parameter 'a': 3 is not one of the choices"):
        searcher.tell({"a": 3}, 1.0)
    assert repr(searcher) == (
        "GridSearcher(space=SearchSpace({'a': Categorical(choices=[1])}), size=1)"
    )
    assert GridSearcher.adaptive is False


def test_registered_as_grid(fresh_host):
    assert plugins.get("searcher", "grid") is GridSearcher
    cls = plugins.get("searcher", "grid")
    space = SearchSpace({"d": Categorical([1, 2]), "e": Int(1, 3)})
    assert len(ask_all(cls(space))) == 6


def test_huge_int_grid_is_lazy():
    searcher = GridSearcher({"n": Int(0, 10**12), "k": [1, 2]})
    assert searcher.size == 2 * (10**12 + 1)
    assert [searcher.ask() for _ in range(2)] == [{"n": 0, "k": 1}, {"n": 1, "k": 1}]
