"""calipers: measure, tune and ship machine-learning models.

``import calipers`` stays light: heavy libraries (torch, sklearn, ...) are imported
only by the plugins and features that need them, and submodules load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import pluggy

__version__ = "0.1.0"

#: Decorator that marks a plugin's hook implementations (``@calipers.hookimpl``).
hookimpl = pluggy.HookimplMarker("calipers")

_LAZY = {
    "metric": ("calipers.metrics", "metric"),
    "metrics": ("calipers.metrics", None),
    "plugins": ("calipers.plugins", None),
    "backends": ("calipers.backends", None),
    "search": ("calipers.search", None),
    "export": ("calipers.export", None),
    "errors": ("calipers.errors", None),
    "evaluate": ("calipers.evaluate", None),
    "optim": ("calipers.optim", None),
    "create_study": ("calipers.search._create", "create_study"),
    "load_study": ("calipers.search._create", "load_study"),
    "load": ("calipers.export._artifact", "load"),
    "verify": ("calipers.export._verify", "verify"),
    "export_model": ("calipers.export._artifact", "export_model"),
    # the exporter that wrote the artifact quantizes it, found through the registry
    "quantize": ("calipers.export._artifact", "quantize"),
}

if TYPE_CHECKING:  # pragma: no cover
    from calipers import backends, errors, evaluate, export, metrics, optim, plugins, search
    from calipers.export._artifact import export_model, load, quantize
    from calipers.export._verify import verify
    from calipers.metrics import metric
    from calipers.search._create import create_study, load_study

__all__ = [
    "__version__",
    "backends",
    "create_study",
    "errors",
    "evaluate",
    "export",
    "export_model",
    "hookimpl",
    "load",
    "load_study",
    "metric",
    "metrics",
    "optim",
    "plugins",
    "quantize",
    "search",
    "verify",
]


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'calipers' has no attribute {name!r}") from None
    mod = importlib.import_module(module)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
