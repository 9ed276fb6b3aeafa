"""Cheap availability checks for optional dependencies ("extras")."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from calipers.errors import MissingExtraError

# module -> extra that installs it
EXTRAS: dict[str, str] = {
    "sklearn": "sklearn",
    "torch": "torch",
    "onnxruntime": "onnx",
    "skl2onnx": "onnx",
    "tensorflow": "tfserving",
    "dask": "dask",
    "distributed": "dask",
    "matplotlib": "plot",
}


def available(module: str) -> bool:
    """Return whether ``module`` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(module: str, feature: str | None = None, extra: str | None = None) -> ModuleType:
    """Import and return ``module``, or raise :class:`MissingExtraError` naming the extra.

    Parameters
    ----------
    module : str
        Top-level module name, e.g. ``"pyarrow"``.
    feature : str, optional
        What needs it, for the message (e.g. ``"calipers eval"``).
    extra : str, optional
        The pip extra that installs it; defaults to the entry in :data:`EXTRAS`.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(module, extra or EXTRAS.get(module, module), feature) from exc


def install_hint(exc: BaseException) -> str | None:
    """The pip command for a ``ModuleNotFoundError`` of a module an extra installs.

    ``None`` for other errors (and for :class:`MissingExtraError`, which already
    names it).
    """
    if not isinstance(exc, ModuleNotFoundError) or isinstance(exc, MissingExtraError):
        return None
    extra = EXTRAS.get((exc.name or "").split(".")[0])
    if extra is None:
        return None
    return f"pip install 'calipers[{extra}]' (from a checkout: pip install '.[{extra}]')"

