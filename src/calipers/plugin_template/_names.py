"""The names of a new plugin: distribution, module, registered name, class; validation."""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass

from calipers._registry import check_kind

__all__ = ["PREFIX", "PluginNames", "plugin_names"]

#: Module-name prefix of calipers plugins (``calipers_torch``, ``calipers_my_metric``).
PREFIX = "calipers_"

# PEP 508 / packaging's rule for a distribution name (ASCII letters, digits, . _ -,
# starting and ending with a letter or digit).
_DIST_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")
_SEPARATORS = re.compile(r"[-_.]+")

#: Names the generated module itself defines or imports: a plugin class may not take them.
_RESERVED_CLASS_NAMES = frozenset(
    {"Any", "Metric", "Searcher", "Exporter", "Backend", "ListArray", "LinearModel",
     "ArtifactError", "Path"}
)


@dataclass(frozen=True)
class PluginNames:
    """Every name derived from the ``NAME`` given to ``calipers plugin new``.

    Attributes
    ----------
    dist : str
        The distribution (pip package) name, exactly as given: ``"my-metric"``.
    name : str
        The registered name (what ``calipers.metric(...)``, ``searcher=``,
        ``calipers.export(..., format)`` use) and the entry-point name: ``NAME`` in
        snake case, without a leading ``calipers_`` (``"my_metric"``).
    module : str
        The import name of the plugin's package: ``"calipers_" + name``
        (``"calipers_my_metric"``).
    cls : str
        The class the template defines: ``name`` in CamelCase (``"MyMetric"``).
    kind : str
        ``"metric"``, ``"searcher"``, ``"exporter"`` or ``"backend"``.
    """

    dist: str
    name: str
    module: str
    cls: str
    kind: str

    @property
    def hook(self) -> str:
        """The hook the plugin implements (``"register_metric"``...)."""
        return f"register_{self.kind}"


def plugin_names(name: str, kind: str) -> PluginNames:
    """Validate ``name`` and derive the plugin's names from it.

    Parameters
    ----------
    name : str
        The distribution name, e.g. ``"my-metric"`` or ``"calipers-iou"``: ASCII
        letters, digits, ``-``, ``_`` and ``.``, starting with a letter.
    kind : {'metric', 'searcher', 'exporter', 'backend'}
        What the plugin provides.

    Returns
    -------
    PluginNames
        ``"my-metric"`` gives module ``calipers_my_metric`` and registered name
        ``my_metric``; ``"calipers-iou"`` gives module ``calipers_iou`` and name ``iou``.

    Raises
    ------
    ValueError
        If ``kind`` is unknown or ``name`` is not a valid distribution name that
        also gives a Python identifier (the message says which rule it breaks).
    """
    check_kind(kind)
    if not isinstance(name, str):
        raise TypeError(f"plugin name must be a string such as 'my-metric', got {name!r}")
    if not _DIST_NAME.fullmatch(name):
        raise ValueError(
            f"invalid plugin name {name!r}: a distribution name has only ASCII letters, "
            "digits, '-', '_' and '.', and starts and ends with a letter or digit "
            "(e.g. 'my-metric')"
        )
    snake = _SEPARATORS.sub("_", name).lower()
    registered = snake[len(PREFIX):] if snake.startswith(PREFIX) else snake
    if not registered or registered == PREFIX.rstrip("_"):
        raise ValueError(
            f"invalid plugin name {name!r}: it names calipers itself; add what the plugin "
            "provides (e.g. 'calipers-iou' or 'my-metric')"
        )
    if not registered[0].isalpha():
        raise ValueError(
            f"invalid plugin name {name!r}: its registered name {registered!r} must start "
            f"with a letter to be a Python identifier (e.g. 'metric-{registered}')"
        )
    if not registered.isidentifier() or keyword.iskeyword(registered):
        raise ValueError(  # unreachable with the rules above, kept as the guarantee
            f"invalid plugin name {name!r}: {registered!r} is not a Python identifier"
        )
    cls = "".join(part[:1].upper() + part[1:] for part in registered.split("_") if part)
    if cls in _RESERVED_CLASS_NAMES:
        cls += kind.capitalize()
    return PluginNames(dist=name, name=registered, module=PREFIX + registered, cls=cls,
                       kind=kind)
