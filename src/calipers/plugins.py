"""The plugin host: finds plugins, loads them safely, and looks up what they provide.

A plugin is a module with ``@calipers.hookimpl`` functions implementing the hooks
of :mod:`calipers.hookspecs`, declared by its distribution as an entry point::

    [project.entry-points.calipers]
    myplugin = "myplugin_module"

On first use the host creates a :class:`pluggy.PluginManager` (project
``"calipers"``), registers its own built-in hook modules, then imports the entry
points of group ``calipers`` one by one. A plugin whose import, registration or
hook fails is recorded as ``"broken"``; one whose optional dependency is missing
(its import raised :class:`calipers.errors.MissingExtraError`, or its module-level
``__calipers_requires__ = {"module": "extra"}`` names a module that is not
installed) is ``"unavailable"``, with the ``pip install`` command that fixes it.
A plugin whose distribution requires another calipers version (its dependency on
calipers, e.g. ``dependencies = ["calipers>=0.2"]`` in its pyproject, which is
``Requires-Dist: calipers>=0.2`` in its installed metadata) is not imported at all:
it is ``"incompatible"``, with the version it needs and the pip command. None of
these stops the others from working; ``calipers plugins`` lists them all, and
looking up a name they would have provided says that some plugins did not load.

Every class a hook returns is validated and indexed by kind and ``name``. Two
plugins providing one name is never resolved silently: looking that name up raises
:class:`calipers.errors.PluginConflictError` naming both plugins.

Environment
-----------
CALIPERS_DISABLE_PLUGINS
    ``1`` (or ``true``, ``yes``, ``on``) loads only calipers' own plugins and
    skips every external one: the way to rule out a broken third-party install.
    Read when plugins are (re)loaded.

A class no plugin provides (one being written, or a variant of an installed one)
can be put under its name for the duration of a ``with`` block by
:func:`registered`, e.g. to run :mod:`calipers.testing` on it before publishing.

Examples
--------
>>> from calipers import plugins
>>> plugins.get("backend", "numpy").name
'numpy'
>>> "numpy" in plugins.names("backend")
True
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import threading
from collections.abc import Iterator

import pluggy

from calipers._manager import DISABLE_ENV, STATUSES, Host, PluginInfo, load
from calipers._registry import KINDS as _HOOKS
from calipers._registry import InvalidContribution, Registry, check_kind, validate_result

__all__ = [
    "DISABLE_ENV",
    "KINDS",
    "STATUSES",
    "PluginInfo",
    "classes",
    "disabled_plugins",
    "get",
    "get_manager",
    "list_plugins",
    "names",
    "registered",
    "reload",
]

#: The kinds of objects plugins provide, in hook order.
KINDS: tuple[str, ...] = tuple(_HOOKS)

_lock = threading.RLock()
_host: Host | None = None
_loading_thread: int | None = None
#: Held for the whole of a registered() block: blocks in different threads take turns.
_scope_lock = threading.RLock()


def _get_host() -> Host:
    global _host, _loading_thread
    host = _host
    if host is not None:
        return host
    with _lock:
        if _host is not None:
            return _host
        if _loading_thread == threading.get_ident():
            raise RuntimeError(
                "calipers.plugins was used while plugins are being loaded (from a "
                "plugin's import or hook); look names up when they are needed, not "
                "at import time"
            )
        _loading_thread = threading.get_ident()
        try:
            _host = load()
        finally:
            _loading_thread = None
        return _host


def get_manager() -> pluggy.PluginManager:
    """Return the plugin manager, loading all plugins on the first call.

    Thread-safe: concurrent first calls load plugins once. Only plugins that loaded
    and passed validation are registered in it.

    Returns
    -------
    pluggy.PluginManager
        Project name ``"calipers"``, hookspecs from :mod:`calipers.hookspecs`.
    """
    return _get_host().pm


def get(kind: str, name: str) -> type:
    """Return the class of the given kind registered under ``name``.

    Parameters
    ----------
    kind : {"metric", "searcher", "exporter", "backend"}
        Which registry to look in.
    name : str
        The class's ``name`` attribute, e.g. ``"f1"``.

    Returns
    -------
    type
        The class (not an instance).

    Raises
    ------
    ValueError
        If ``kind`` is unknown, or no plugin provides ``name``; the message lists
        close matches and the available names, and names the plugins that did not
        load (broken, unavailable, or incompatible with this calipers version).
    calipers.errors.PluginConflictError
        If several plugins provide ``name``; the message names them.
    """
    check_kind(kind)
    return _get_host().registries[kind].get(name)


def names(kind: str) -> list[str]:
    """Return the sorted names registered for ``kind``.

    Names provided by several plugins are included; :func:`get` raises
    :class:`~calipers.errors.PluginConflictError` for them.
    """
    check_kind(kind)
    return _get_host().registries[kind].names()


def classes(kind: str) -> list[type]:
    """Return the usable classes of ``kind`` in registration order.

    The host's built-ins come first, then plugins by entry-point name. Names in
    conflict are left out. :func:`calipers.backends.backend_for` asks backends in
    this order.
    """
    check_kind(kind)
    return list(_get_host().registries[kind].classes.values())


def list_plugins(all: bool = False) -> list[PluginInfo]:
    """Return what is known about each plugin, in load order.

    Parameters
    ----------
    all : bool, default False
        Include first-party plugins (the host's built-ins and the plugins shipped in
        the ``calipers`` distribution). By default only external ones are listed.

    Returns
    -------
    list[PluginInfo]
        Copies: changing them does not change the host's state.
    """
    return [
        dataclasses.replace(p.info, provides={k: list(v) for k, v in p.info.provides.items()})
        for p in _get_host().plugins
        if all or not p.info.builtin
    ]


def disabled_plugins() -> list[str]:
    """Return the entry-point names skipped because ``CALIPERS_DISABLE_PLUGINS`` is set."""
    return list(_get_host().disabled)


def reload() -> None:
    """Forget every loaded plugin; the next call discovers and loads them again.

    Use it after installing a plugin in a running process, or in tests after
    changing ``sys.path`` or ``CALIPERS_DISABLE_PLUGINS``. Modules already imported
    stay in :data:`sys.modules` (a changed plugin file is not re-imported).
    """
    global _host
    with _lock:
        _host = None
        importlib.invalidate_caches()


@contextlib.contextmanager
def registered(kind: str, cls: type) -> Iterator[type]:
    """Make ``cls`` the class of ``kind`` registered under ``cls.name`` inside the block.

    While the block runs, :func:`get`, :func:`names` and :func:`classes` (and all
    that is built on them, such as ``calipers.load`` finding an artifact's exporter
    by the name in its manifest) see ``cls`` under ``cls.name``: added if no plugin
    provides that name, replacing the installed class (or a conflict over the name)
    otherwise. On exit, by exception too, the registry seen before the block is put
    back. Nothing registered is modified: the block works on a copy of the registry
    of ``kind``. If ``cls`` is already the class registered under its name, the
    block runs with the registry as it is.

    Parameters
    ----------
    kind : {"metric", "searcher", "exporter", "backend"}
        Which registry to put ``cls`` in.
    cls : type
        A class passing the checks the host makes on what a plugin's hook returns
        for ``kind`` (a ``name``, the required methods, not abstract).

    Yields
    ------
    type
        ``cls``.

    Raises
    ------
    ValueError
        If ``kind`` is unknown.
    TypeError
        If the host would refuse to register ``cls``; the message says why.

    Notes
    -----
    Not thread-local: the registry is the process's, so other threads using
    :mod:`calipers.plugins` while the block runs see ``cls`` too. Blocks in
    different threads run one after another (a second one waits for the first to
    end), so never wait inside a block for another thread that enters one. Worker
    processes load their plugins afresh and do not see ``cls``. A :func:`reload`
    inside the block ends it early: the reloaded registry is kept on exit.

    Examples
    --------
    >>> from calipers.backends import NumpyBackend
    >>> class TracingNumpy(NumpyBackend):
    ...     name = "numpy"
    >>> with registered("backend", TracingNumpy):
    ...     get("backend", "numpy") is TracingNumpy
    True
    >>> get("backend", "numpy") is NumpyBackend
    True
    """
    global _host
    check_kind(kind)
    try:
        validate_result(kind, [cls])
    except InvalidContribution as exc:
        raise TypeError(str(exc)) from None
    name = cls.name  # type: ignore[attr-defined]  # validate_result checked it
    with _scope_lock:
        host = _get_host()
        registry = host.registries[kind]
        if registry.classes.get(name) is cls:
            yield cls
            return
        scoped = Registry(
            kind,
            classes={**{k: v for k, v in registry.classes.items() if k != name}, name: cls},
            providers={**registry.providers,
                       name: f"calipers.plugins.registered ({cls.__module__}."
                             f"{cls.__qualname__})"},
            conflicts={k: v for k, v in registry.conflicts.items() if k != name},
            hint=registry.hint,
        )
        swapped = dataclasses.replace(host, registries={**host.registries, kind: scoped})
        with _lock:
            _host = swapped
        try:
            yield cls
        finally:
            with _lock:
                if _host is swapped:  # not if reload() ran meanwhile
                    _host = host
