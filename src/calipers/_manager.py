"""Discovery and loading of plugins (private; the public face is :mod:`calipers.plugins`).

Loading is done one plugin at a time, each step guarded, like conda's
``load_entrypoints()``: pluggy's ``load_setuptools_entrypoints`` lets the first broken
plugin raise out of the host, so it is not used. A failure is recorded on the
plugin's :class:`PluginInfo` and reported by ``calipers plugins``, never raised.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
import re
import sys
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import pluggy

import calipers
from calipers import hookspecs
from calipers._extras import available
from calipers._registry import KINDS, InvalidContribution, Registry, validate_result
from calipers._requirement import canonical_name, unmet_requirement
from calipers.errors import MissingExtraError

logger = logging.getLogger("calipers.plugins")

#: Entry-point group (and pluggy project name).
GROUP = "calipers"
#: Distribution whose plugins are first party (shipped with calipers).
FIRST_PARTY = "calipers"
#: Set to 1 / true / yes / on to load only calipers' own plugins.
DISABLE_ENV = "CALIPERS_DISABLE_PLUGINS"
#: The host's own hookimpl modules: (plugin name, module).
BUILTIN_MODULES: tuple[tuple[str, str], ...] = (
    ("calipers.metrics", "calipers.metrics._builtin"),
    ("calipers.backends", "calipers.backends"),
    ("calipers.search", "calipers.search._builtin"),
    ("calipers.search.bayes", "calipers.search._bayes"),
    ("calipers.export", "calipers.export._builtin"),
)
#: Plugin statuses, from good to bad.
STATUSES = ("ok", "conflict", "unavailable", "incompatible", "broken")


@dataclass
class PluginInfo:
    """What ``calipers plugins`` reports about one plugin.

    Attributes
    ----------
    name : str
        Entry-point name (``"torch"``), or the module name of a host builtin.
    dist : str
        Distribution (pip package) that declares it.
    version : str
        That distribution's version.
    builtin : bool
        Whether it is first party (declared by the ``calipers`` distribution).
    status : str
        ``"ok"``; ``"conflict"`` (loaded, but provides a name that another plugin
        provides too: looking that name up raises ``PluginConflictError``);
        ``"unavailable"`` (an optional dependency is missing; ``reason`` has the pip
        command); ``"incompatible"`` (its distribution requires a calipers version
        other than this one, e.g. ``Requires-Dist: calipers>=0.2``; it was not
        imported; ``reason`` says which version it needs and the pip command);
        ``"broken"`` (its import, registration or a hook failed, or it returned an
        invalid object; ``reason`` has the error). Unavailable, incompatible and
        broken plugins provide nothing.
    reason : str or None
        Why the status is not ``"ok"`` (or a note for an ok plugin that provides
        nothing).
    provides : dict[str, list[str]]
        kind (``"metric"``, ...) -> names this plugin provides.
    """

    name: str
    dist: str
    version: str
    builtin: bool
    status: str = "ok"
    reason: str | None = None
    provides: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dict."""
        return asdict(self)


@dataclass
class _Plugin:
    info: PluginInfo
    key: str | None = None  # name in the PluginManager, once registered
    obj: Any = None
    contributions: dict[str, list[tuple[str, type]]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.info.name} (from {self.info.dist} {self.info.version})"

    def fail(self, status: str, reason: str) -> None:
        if self.info.status in ("ok", "conflict"):
            self.info.status, self.info.reason = status, reason


@dataclass
class Host:
    """Everything loaded: the plugin manager, the plugins, one registry per kind."""

    pm: pluggy.PluginManager
    plugins: list[_Plugin]
    registries: dict[str, Registry]
    #: external entry points skipped because of :data:`DISABLE_ENV`.
    disabled: list[str]


def external_disabled() -> bool:
    """Return whether :data:`DISABLE_ENV` switches external plugins off."""
    return os.environ.get(DISABLE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


_canonical = canonical_name


def _reason(where: str, exc: BaseException) -> str:
    """``"<where>: <Type>: <message> (at file.py:line)"``, locating the innermost frame
    outside the import machinery and this module."""
    text = f"{where}: {type(exc).__name__}: {exc}"
    skip = (os.sep + "importlib" + os.sep, __file__)
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not f.filename.startswith("<") and not any(s in f.filename for s in skip)
    ]
    if frames:
        text += f" (at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno})"
    return text


def _pip_command(requirement: str) -> str:
    return f"pip install '{requirement}'"


def _check_requires(plugin: _Plugin, obj: Any, module: str | None) -> bool:
    """Apply the plugin's ``__calipers_requires__ = {module: extra}``; False if unmet.

    It is read from the loaded object, else from its module (for ``module:attr``
    entry points). An extra that is a bare name means calipers' own extra
    (``calipers[torch]``); a full requirement (``"mypkg[gpu]"``) is used as given.
    Modules are looked up with ``find_spec``, never imported.
    """
    requires = getattr(obj, "__calipers_requires__", None)
    if requires is None and module is not None:
        requires = getattr(sys.modules.get(module), "__calipers_requires__", None)
    if requires is None:
        return True
    if not isinstance(requires, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in requires.items()
    ):
        plugin.fail(
            "broken",
            f"__calipers_requires__ must be a dict {{module: extra}} of strings, got {requires!r}",
        )
        return False
    missing = {module: extra for module, extra in requires.items() if not available(module)}
    if not missing:
        return True
    reqs = sorted(
        {e if re.search(r"[\[\]=<>~! ]", e) else f"calipers[{e}]" for e in missing.values()}
    )
    plugin.fail(
        "unavailable",
        f"requires {', '.join(sorted(missing))}, not installed: "
        + "; ".join(_pip_command(r) for r in reqs),
    )
    return False


def _admit(
    pm: pluggy.PluginManager,
    plugin: _Plugin,
    key: str,
    load: Callable[[], Any],
    module: str | None = None,
) -> None:
    """Import the plugin, check its requirements and register it, recording failures."""
    try:
        obj = load()
    except MissingExtraError as exc:
        plugin.fail("unavailable", str(exc))
        return
    except (Exception, SystemExit) as exc:
        plugin.fail("broken", _reason("import failed", exc))
        return
    if not _check_requires(plugin, obj, module):
        return
    try:
        pm.register(obj, name=key)
    except Exception as exc:
        plugin.fail("broken", _reason("registration failed", exc))
        return
    plugin.key, plugin.obj = key, obj
    unknown = sorted(
        caller.name
        for caller in pm.get_hookcallers(obj) or ()
        if not caller.has_spec()
        and any(i.plugin is obj and not i.optionalhook for i in caller.get_hookimpls())
    )
    if unknown:
        pm.unregister(name=key)
        plugin.key = None
        plugin.fail(
            "broken",
            f"implements unknown hook(s) {', '.join(unknown)}; calipers' hooks are "
            f"{', '.join(KINDS.values())} (a hook of a newer calipers can be marked "
            "@calipers.hookimpl(optionalhook=True))",
        )


def _check_calipers_version(plugin: _Plugin, ep: importlib.metadata.EntryPoint) -> bool:
    """Apply the plugin distribution's requirement on calipers; False (and the plugin
    ``"incompatible"``) if this calipers does not satisfy it. Nothing is imported."""
    dist = getattr(ep, "dist", None)
    try:
        requires = dist.requires if dist is not None else None
    except Exception as exc:  # unreadable metadata: the import will tell more
        logger.debug("cannot read the requirements of %s: %s", plugin.label, exc)
        return True
    unmet = unmet_requirement(requires, FIRST_PARTY, calipers.__version__)
    if unmet is None:
        return True
    plugin.fail("incompatible", unmet.reason(plugin.info.dist))
    return False


def _entry_points() -> list[tuple[importlib.metadata.EntryPoint, str, str]]:
    """Entry points of group ``calipers`` as ``(ep, dist, version)``: first on the
    path wins per (distribution, name); sorted by name for a stable order."""
    seen: set[tuple[str, str]] = set()
    found = []
    for ep in importlib.metadata.entry_points(group=GROUP):
        dist = getattr(ep, "dist", None)
        dist_name = (dist.name if dist is not None else None) or "unknown"
        version = (dist.version if dist is not None else None) or "unknown"
        key = (_canonical(dist_name), ep.name)
        if key not in seen:
            seen.add(key)
            found.append((ep, dist_name, version))
    found.sort(key=lambda t: (t[0].name, _canonical(t[1])))
    return found


def _collect(pm: pluggy.PluginManager, plugins: list[_Plugin]) -> None:
    """Call every plugin's implementation of every hook separately and validate it."""
    by_key = {p.key: p for p in plugins if p.key is not None}
    for kind, hook in KINDS.items():
        for impl in getattr(pm.hook, hook).get_hookimpls():
            plugin = by_key.get(impl.plugin_name)
            if plugin is None or plugin.info.status != "ok":
                continue
            if impl.hookwrapper or impl.wrapper:
                plugin.fail("broken", f"{hook} must be a plain hookimpl, not a wrapper")
                continue
            try:
                pairs = validate_result(kind, impl.function())
            except MissingExtraError as exc:
                plugin.fail("unavailable", f"{hook}: {exc}")
            except InvalidContribution as exc:
                plugin.fail("broken", str(exc))
            except (Exception, SystemExit) as exc:
                plugin.fail("broken", _reason(f"{hook} raised", exc))
            else:
                plugin.contributions.setdefault(kind, []).extend(pairs)
    for plugin in plugins:
        if plugin.info.status != "ok":
            plugin.contributions.clear()
            if plugin.key is not None:
                pm.unregister(name=plugin.key)
                plugin.key = None


def _index(plugins: list[_Plugin], disabled: list[str]) -> dict[str, Registry]:
    registries = {kind: Registry(kind) for kind in KINDS}
    by_label = {p.label: p for p in plugins}
    for plugin in plugins:
        for kind, pairs in plugin.contributions.items():
            plugin.info.provides[kind] = [name for name, _ in pairs]
            for name, cls in pairs:
                registries[kind].add(name, cls, plugin.label)
        api = getattr(plugin.obj, "__calipers_api__", None)
        if plugin.info.status == "ok" and not plugin.contributions and api:
            # A plugin that ships an importable API (e.g. calipers_sklearn.SearchCV)
            # and no registry entries is complete, not misconfigured.
            plugin.info.reason = f"API only: {', '.join(map(str, api))}"
        elif plugin.info.status == "ok" and not plugin.contributions:
            plugin.info.reason = (
                "provides nothing: are its functions decorated with @calipers.hookimpl "
                f"and named {', '.join(KINDS.values())}?"
            )
    for kind, registry in registries.items():
        for name, labels in registry.conflicts.items():
            for label in labels:
                plugin = by_label[label]
                others = " and ".join(repr(x) for x in labels if x != label)
                note = f"{kind} {name!r} is also provided by {others}"
                plugin.info.status = "conflict"
                plugin.info.reason = f"{plugin.info.reason}; {note}" if plugin.info.reason else note
    failed = [p.info.name for p in plugins if p.info.status in ("broken", "unavailable")]
    incompatible = [p.info.name for p in plugins if p.info.status == "incompatible"]
    hint = ""
    if failed:
        hint += (
            f" Some plugins did not load ({', '.join(failed)}): `calipers plugins --all` shows why."
        )
    if incompatible:
        hint += (
            f" Some plugins need another calipers version ({', '.join(incompatible)}; this is "
            f"calipers {calipers.__version__}) and were not loaded: `calipers plugins` shows "
            "which version each needs."
        )
    if disabled:
        hint += f" External plugins are switched off by {DISABLE_ENV}."
    for registry in registries.values():
        registry.hint = hint
    return registries


def load() -> Host:
    """Create the plugin manager and load every plugin; never raises for a plugin."""
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    plugins: list[_Plugin] = []
    for name, module in BUILTIN_MODULES:
        plugin = _Plugin(PluginInfo(name, FIRST_PARTY, calipers.__version__, builtin=True))
        _admit(pm, plugin, name, lambda module=module: importlib.import_module(module))
        plugins.append(plugin)
    disabled: list[str] = []
    off = external_disabled()
    for ep, dist, version in _entry_points():
        builtin = _canonical(dist) == FIRST_PARTY
        if off and not builtin:
            disabled.append(ep.name)
            continue
        plugin = _Plugin(PluginInfo(ep.name, dist, version, builtin=builtin))
        plugins.append(plugin)
        # First-party plugins ship with this very calipers: nothing to check.
        if not builtin and not _check_calipers_version(plugin, ep):
            continue
        key = ep.name if pm.get_plugin(ep.name) is None else f"{dist}:{ep.name}"
        _admit(pm, plugin, key, ep.load, ep.module)
    _collect(pm, plugins)
    registries = _index(plugins, disabled)
    for plugin in plugins:
        info = plugin.info
        if info.status in ("broken", "incompatible"):
            logger.warning(
                "calipers plugin %r (%s) is %s: %s", info.name, info.dist, info.status,
                info.reason,
            )
        elif info.status != "ok":
            logger.debug("calipers plugin %r is %s: %s", info.name, info.status, info.reason)
    return Host(pm, plugins, registries, disabled)
