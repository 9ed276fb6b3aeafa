"""Template of a searcher plugin: a Searcher implementing ``_propose`` and its tests."""

from __future__ import annotations

SUMMARY = "a searcher that proposes the centre of the space first, then seeded random draws"

#: Other names the tests import from the plugin's module.
HELPERS: tuple[str, ...] = ()

USAGE = """\
import calipers
from calipers.search import Float

study = calipers.create_study(
    space={"lr": Float(1e-4, 1.0, log=True), "depth": [2, 4, 8]},
    searcher="$name",
    direction="minimize",
    seed=0,
)
study.optimize(lambda trial: (trial["lr"] - 0.01) ** 2 + trial["depth"], n_trials=20)
study.best_params"""

MODULE = '''\
"""$dist: a calipers plugin providing the searcher ``$name``.

The example searcher proposes the centre of the search space first (a sensible
baseline), then independent random draws. Replace :meth:`$cls._propose` with your
own strategy; learn from results in ``_observe`` (and set ``adaptive = True``) if it
needs them.
"""

from __future__ import annotations

from typing import Any

import calipers
import numpy as np
from calipers.search import Searcher

__all__ = ["$cls", "$hook"]
__version__ = "0.1.0"


class $cls(Searcher):
    """Centre first, then random: trial 0 is the middle of every range.

    The centre is the midpoint of each numeric range (in log space for log
    parameters) and the first choice of each categorical. Every later trial
    ``number`` draws from ``self.trial_rng(number)`` only, so the parameters of a
    trial depend on (seed, number) alone: the same for any order of asking, any
    ``n_jobs``, and after a study is resumed.

    Parameters
    ----------
    space : SearchSpace or dict
        The search space.
    seed : int, optional
        Seed; ``None`` draws fresh entropy (kept in ``self.entropy``).

    Examples
    --------
    >>> from calipers.search import Float
    >>> searcher = $cls({"x": Float(0.0, 2.0), "kind": ["a", "b"]}, seed=0)
    >>> searcher.ask()
    {'x': 1.0, 'kind': 'a'}
    """

    name = "$name"
    #: Proposals do not depend on told values: a study may ask many at once.
    adaptive = False

    def __init__(self, space: Any, seed: int | None = None) -> None:
        super().__init__(space, seed)

    def _propose(self, number: int) -> dict[str, Any]:
        if number == 0:
            # The encoded space is the unit cube; decode maps its middle to the centre.
            return self.space.decode(np.full(self.space.dim, 0.5))
        return self.space.sample(self.trial_rng(number))


@calipers.hookimpl
def $hook() -> list[type]:
    """The searchers this plugin provides (calipers calls it once, when it loads plugins)."""
    return [$cls]
'''

TESTS = '''\
"""Tests of the ``$name`` searcher: calipers' conformance checks and direct use."""

from __future__ import annotations

import calipers
import pytest
from calipers.search import Float, Int
from calipers.testing import check_searcher, parametrize_with_checks

from $module import $cls

SPACE = {"lr": Float(1e-4, 1.0, log=True), "depth": Int(1, 9), "loss": ["l1", "l2"]}


# One test per conformance rule (seeded reproducibility, proposals inside the space,
# stored studies and resume, the same trials for any n_jobs...), named by its rule.
@parametrize_with_checks([$cls])
def test_conformance(obj, check):
    check()


def test_check_searcher_runs_every_rule():
    check_searcher($cls)


def test_study_by_name_runs_trials():
    study = calipers.create_study(space=SPACE, searcher="$name", seed=0)
    study.optimize(lambda trial: (trial["lr"] - 0.01) ** 2 + trial["depth"], n_trials=6)
    assert len(study.trials) == 6
    assert type(study.searcher).__module__ == "$module"
    assert study.trials[0].params == {"depth": 5, "loss": "l1", "lr": pytest.approx(0.01)}
    assert study.best_value == min(t.value for t in study.trials)


def test_seeded_and_inside_the_space():
    first = [$cls(SPACE, seed=3).ask(n) for n in range(1, 8)]
    again = $cls(SPACE, seed=3)
    assert [again.ask(n) for n in reversed(range(1, 8))][::-1] == first
    for params in first:
        assert 1e-4 <= params["lr"] <= 1.0 and 1 <= params["depth"] <= 9
        assert params["loss"] in ("l1", "l2")
    assert first != [$cls(SPACE, seed=4).ask(n) for n in range(1, 8)]
'''
