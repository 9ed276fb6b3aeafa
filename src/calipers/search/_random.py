"""``random``: independent uniform draws from the search space."""

from __future__ import annotations

from typing import Any

from calipers.search import Searcher

__all__ = ["RandomSearcher"]


class RandomSearcher(Searcher):
    """Draws every trial independently with :meth:`SearchSpace.sample`.

    Trial ``number`` gets ``space.sample(self.trial_rng(number))``: the same seed
    and number give the same parameters whatever order the numbers are asked in,
    and whatever was told before (the searcher is not adaptive).

    Parameters
    ----------
    space : SearchSpace or dict
        The search space (see :meth:`SearchSpace.coerce`).
    seed : int, optional
        Seed; ``None`` draws fresh entropy (kept in :attr:`entropy`).

    Examples
    --------
    >>> from calipers.search import Float, RandomSearcher
    >>> searcher = RandomSearcher({"lr": Float(1e-4, 1.0, log=True), "depth": [2, 4]}, seed=0)
    >>> params = searcher.ask()
    >>> searcher.tell(params, 0.5)
    """

    name = "random"
    adaptive = False

    def __init__(self, space: Any, seed: int | None = None) -> None:
        super().__init__(space, seed)

    def _propose(self, number: int) -> dict[str, Any]:
        return self.space.sample(self.trial_rng(number))
