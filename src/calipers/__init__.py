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
}

if TYPE_CHECKING:  # pragma: no cover
    from calipers import backends, errors, evaluate, export, metrics, optim, plugins, search
    from calipers.export._artifact import export_model, load
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


def quantize(path: Any, out: Any, **options: Any) -> dict[str, Any]:
    """Write a quantized copy of an artifact and report what it changed.

    The exporter that wrote the artifact does the work, if it has the
    ``"quantize"`` capability (:meth:`calipers.export.Exporter.quantize`); it is
    found through the plugin registry from the artifact's manifest, like
    :func:`calipers.load` finds it. calipers' ``onnx`` exporter can (``pip install
    'calipers[onnx]'``): it writes an int8 copy and reports its size, latency and
    metrics against the original; its options are ``mode``, ``calibration``,
    ``eval_data``, ``metrics``, ``overwrite``, ... (see the onnx plugin's
    documentation).

    Parameters
    ----------
    path : str or os.PathLike
        An artifact directory written by :func:`calipers.export`.
    out : str or os.PathLike
        The new artifact directory.
    **options
        Passed to the exporter's ``quantize``.

    Returns
    -------
    dict
        The exporter's JSON-safe report.

    Raises
    ------
    calipers.errors.ArtifactError
        If the artifact is not intact, its exporter is not installed, or its
        exporter cannot quantize (the message names the exporters that can).
    """
    from calipers.export._artifact import quantize as quantize_artifact

    return quantize_artifact(path, out, **options)


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
