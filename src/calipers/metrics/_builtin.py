"""The host's own metrics, registered through the same ``register_metric`` hook."""

from __future__ import annotations

import calipers


@calipers.hookimpl
def register_metric() -> list[type]:
    from calipers.metrics import _classes, _ranking_builtin

    return [*_classes.BUILTIN_METRICS, *_ranking_builtin.SCORE_METRICS]
