"""How the metric checks compare two results: structure first, then values."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["ATOL", "RTOL", "compute", "diff"]

#: rtol / atol of "the same number" (merges may add in another order).
RTOL, ATOL = 1e-9, 1e-12


# -- comparing results ------------------------------------------------------------


def _to_host(x: Any) -> Any:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor
        return x.detach().cpu().numpy()
    return x


def _fields(x: Any) -> Any:
    """A dataclass result (a curve) as a dict of its fields."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: getattr(x, f.name) for f in dataclasses.fields(x)}
    return x


def diff(a: Any, b: Any, exact: bool, where: str = "value") -> str | None:
    """Where ``a`` and ``b`` differ (None when they agree)."""
    a, b = _fields(_to_host(a)), _fields(_to_host(b))
    if isinstance(a, Mapping) or isinstance(b, Mapping):
        if not (isinstance(a, Mapping) and isinstance(b, Mapping)) or set(a) != set(b):
            return f"{where}: keys {sorted(map(str, a))} vs {sorted(map(str, b))}" \
                if isinstance(a, Mapping) and isinstance(b, Mapping) else f"{where}: types differ"
        for k in a:
            d = diff(a[k], b[k], exact, f"{where}[{k!r}]")
            if d:
                return d
        return None
    if isinstance(a, (tuple, list)) and not isinstance(a, str):
        if not isinstance(b, (tuple, list)) or len(a) != len(b):
            return f"{where}: {len(a)} items vs {b!r:.80}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            d = diff(x, y, exact, f"{where}[{i}]")
            if d:
                return d
        return None
    try:
        x, y = np.asarray(a), np.asarray(b)
    except Exception:  # not array-like: compare as objects
        return None if a == b else f"{where}: {a!r:.80} vs {b!r:.80}"
    if x.dtype == object or y.dtype == object:
        return None if a == b else f"{where}: {a!r:.80} vs {b!r:.80}"
    if x.shape != y.shape:
        return f"{where}: shape {x.shape} vs {y.shape}"
    if x.dtype.kind in "biufc" and y.dtype.kind in "biufc":
        if exact:
            same = np.array_equal(x, y, equal_nan=x.dtype.kind in "fc" or y.dtype.kind in "fc")
        else:
            same = np.allclose(x, y, rtol=RTOL, atol=ATOL, equal_nan=True)
        if not same:
            return f"{where}: {np.array2string(x, threshold=8)} vs " \
                   f"{np.array2string(y, threshold=8)}"
        return None
    return None if np.array_equal(x, y) else f"{where}: {a!r:.80} vs {b!r:.80}"


def compute(metric: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return metric.compute()
