"""The searcher under check, and how the searcher checks drive it.

:class:`_Setup` resolves the searcher (a class or a registered name), holds the
options of one :func:`~calipers.testing.searcher_checks` call, and builds searchers
and studies from them lazily; :func:`_ask` and :func:`_tell` call a searcher the way
a study does.
"""

from __future__ import annotations

import inspect
from collections.abc import Collection, Mapping
from typing import Any

from calipers.testing._common import fail
from calipers.testing._searcher_space import default_space, grid_space


class _Setup:
    """The searcher class and options shared by one object's checks (built lazily, so
    that collecting the checks never constructs a searcher)."""

    def __init__(self, searcher: Any, space: Any, options: Mapping[str, Any] | None,
                 seed: int, n_trials: int, batch_size: int, n_jobs: int,
                 extra_params: Collection[str], uses_seed: bool | None) -> None:
        from calipers import plugins

        if isinstance(searcher, str):
            self.cls: Any = plugins.get("searcher", searcher)
        elif inspect.isclass(searcher):
            self.cls = searcher
        else:
            raise TypeError(
                f"searcher_checks takes a searcher class or a registered name, got "
                f"{type(searcher).__name__} {searcher!r:.60}; pass type(obj) for an instance"
            )
        name = getattr(self.cls, "name", "")
        self.subject = f"searcher {name or self.cls.__qualname__!r}"
        try:
            registered = bool(name) and plugins.get("searcher", name) is self.cls
        except Exception:  # noqa: BLE001 (unknown name, or a name in conflict)
            registered = False
        self.registered_name = name if registered else None
        if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 4:
            raise ValueError(f"n_trials must be an int >= 4, got {n_trials!r}")
        self.given_space, self.options, self.seed = space, dict(options or {}), seed
        self.n_trials, self.batch_size, self.n_jobs = n_trials, batch_size, n_jobs
        self.extra_params = frozenset(extra_params)
        self.uses_seed = uses_seed
        self.adaptive = bool(getattr(self.cls, "adaptive", True))
        self._space: Any = None

    def space(self, rule: str) -> Any:
        if self._space is not None:
            return self._space
        from calipers.search import SearchSpace

        if self.given_space is not None:
            self._space = SearchSpace.coerce(self.given_space)
            return self._space
        refused = []
        for candidate in (default_space(), grid_space()):
            try:
                self.cls(candidate, seed=self.seed, **self.options)
            except (TypeError, ValueError) as err:
                refused.append(f"{type(err).__name__}: {err}")
                continue
            self._space = candidate
            return candidate
        raise fail(rule, self.subject,
                   f"its constructor refused both test spaces ({'; '.join(refused)})",
                   "accept cls(space, seed=..., **options), or pass space= (a space it "
                   "supports) and options= to the check")

    def make(self, rule: str, seed: int) -> Any:
        searcher = self.cls(self.space(rule), seed=seed, **self.options)
        # keys the searcher itself declares besides the space's (halving's budget)
        self.extra_params |= frozenset(getattr(searcher, "extra_params", ()))
        return searcher

    def study(self, rule: str, storage: Any = None, study_name: str | None = None) -> Any:
        """A study of this searcher: by registered name (options stored), else an instance."""
        from calipers.search import create_study

        if self.registered_name is not None:
            return create_study(space=self.space(rule), searcher=self.registered_name,
                                seed=self.seed, storage=storage, study_name=study_name,
                                batch_size=self.batch_size, searcher_options=self.options)
        return create_study(space=self.space(rule), searcher=self.make(rule, self.seed),
                            seed=self.seed, storage=storage, study_name=study_name,
                            batch_size=self.batch_size)


def _ask(searcher: Any, number: int) -> Any:
    """``searcher.ask(number)``, or ``None`` when it is exhausted."""
    try:
        return searcher.ask(number)
    except StopIteration:
        return None


def _tell(searcher: Any, params: Any, value: float, number: int) -> None:
    try:
        takes_number = "number" in inspect.signature(searcher.tell).parameters
    except (TypeError, ValueError):
        takes_number = False
    if takes_number:
        searcher.tell(params, value, number=number)
    else:
        searcher.tell(params, value)
