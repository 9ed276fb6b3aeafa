"""``grid``: every combination of the search space, in ParameterGrid order."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

from calipers.search import Searcher

__all__ = ["GridSearcher"]


class GridSearcher(Searcher):
    """Proposes each point of :meth:`SearchSpace.grid` once, in order.

    The order is scikit-learn's ``ParameterGrid`` order (names sorted, the last
    varying fastest), so the trials match a ``GridSearchCV`` over the same grid.
    Each :meth:`ask` returns the next point not used yet (the trial ``number`` does
    not change which); a point whose pending trial is :meth:`forget`-ten is asked
    again before any new point; :meth:`restore` and :meth:`tell` mark points used
    (matched by their validated parameters). When every point is used, :meth:`ask`
    raises ``StopIteration``.

    Parameters
    ----------
    space : SearchSpace or dict
        The search space: Int and Categorical parameters only (a Float has no
        grid). A dict of lists is a scikit-learn ``param_grid``.
    seed : int, optional
        Accepted for the common searcher signature; a grid uses no randomness.

    Raises
    ------
    ValueError
        If the space has a Float parameter.
    """

    name = "grid"
    adaptive = False

    def __init__(self, space: Any, seed: int | None = None) -> None:
        super().__init__(space, seed)
        #: number of points in the grid
        self.size = self.space.grid_size()
        self._points: Iterator[dict[str, Any]] = self.space.grid()
        self._used: set[tuple[Any, ...]] = set()
        self._again: deque[dict[str, Any]] = deque()

    @property
    def remaining(self) -> int:
        """Points not used yet."""
        return self.size - len(self._used)

    def _propose(self, number: int) -> dict[str, Any]:
        while self._again:
            params = self._again.popleft()
            key = self.space.key(params)
            if key not in self._used:
                self._used.add(key)
                return params
        for params in self._points:
            key = self.space.key(params)
            if key not in self._used:
                self._used.add(key)
                return self.space.validate(params)
        raise StopIteration(f"all {self.size} points of the grid were asked")

    def _observe(self, params: dict[str, Any], value: float, number: int | None) -> None:
        self._used.add(self.space.key(params))

    def _restored(self, params: dict[str, Any], number: int) -> None:
        self._used.add(self.space.key(params))

    def _forgotten(self, params: dict[str, Any], number: int) -> None:
        key = self.space.key(params)
        if key in self._used and not any(self.space.key(p) == key for p in self.pending):
            self._used.discard(key)
            self._again.append(params)

    def __repr__(self) -> str:
        return f"GridSearcher(space={self.space!r}, size={self.size})"
