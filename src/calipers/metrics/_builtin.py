"""The host's own metrics, registered through the same ``register_metric`` hook."""

from __future__ import annotations

import calipers


@calipers.hookimpl
def register_metric() -> list[type]:
    from calipers.metrics import _classes

    return list(_classes.BUILTIN_METRICS)
