"""The host's own searchers, registered through the same ``register_searcher`` hook."""

from __future__ import annotations

import calipers


@calipers.hookimpl
def register_searcher() -> list[type]:
    from calipers.search._grid import GridSearcher
    from calipers.search._halving import HalvingSearcher
    from calipers.search._random import RandomSearcher

    return [GridSearcher, RandomSearcher, HalvingSearcher]
