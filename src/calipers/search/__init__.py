"""Hyper-parameter search: the :class:`Searcher` contract.

A searcher proposes parameters (:meth:`Searcher.ask`) and learns from their
objective values (:meth:`Searcher.tell`). Plugins add searchers with the
``register_searcher`` hook; ``calipers.plugins.get("searcher", name)`` finds them.
This import path is stable for third parties.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import numpy as np

__all__ = ["Searcher"]


class Searcher(abc.ABC):
    """Base class of searchers: ask for parameters, tell their objective value.

    Parameters
    ----------
    space : object
        The search space: what parameters exist and which values they may take.
        The searcher only reads it.
    seed : int, optional
        Seed of :attr:`rng`. The same seed, space and sequence of told values must
        give the same sequence of asked parameters; ``None`` draws fresh entropy.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"random"`` (a class attribute).
    space : object
        The ``space`` given to the constructor.
    seed : int or None
        The ``seed`` given to the constructor.
    rng : numpy.random.Generator
        The only source of randomness a subclass may use (this is what makes a
        searcher seedable).

    Notes
    -----
    The value passed to :meth:`tell` is minimized; a study that maximizes a
    metric negates it before telling. A searcher must accept values told for
    parameters it asked for in any order (trials may finish out of order).
    """

    name: ClassVar[str] = ""

    def __init__(self, space: Any, seed: int | None = None) -> None:
        self.space = space
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    @abc.abstractmethod
    def ask(self) -> dict[str, Any]:
        """Return the next parameters to try, a dict ``{parameter name: value}``.

        Raises
        ------
        StopIteration
            When the searcher has nothing left to propose (e.g. a finished grid).
        """

    @abc.abstractmethod
    def tell(self, params: dict[str, Any], value: float) -> None:
        """Record that ``params`` (returned by :meth:`ask`) scored ``value``.

        ``value`` is the objective to minimize; it may be ``nan`` or ``inf`` for a
        failed trial, which the searcher must treat as worse than any finite value.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}(space={self.space!r}, seed={self.seed!r})"
