"""The four hooks a calipers plugin can implement.

A plugin is a module (or any object) with functions decorated by
``@calipers.hookimpl`` and named after the hooks below, declared in its package
metadata as::

    [project.entry-points.calipers]
    myplugin = "myplugin_module"

Every hook takes no arguments and returns an iterable of classes. The host calls
each plugin's implementation separately, validates every class it returns, and
indexes it by its ``name`` attribute (see :mod:`calipers.plugins`). Two plugins
giving the same name for the same kind is an error that names both plugins:
nothing is ever silently overridden.

Each docstring below has the same sections, in this order: summary, firstresult
note, Returns, "Each object must have", version note. ``tests/test_hookspecs.py``
fails if a hook loses one of them or has no test with a real plugin.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    from calipers.backends import Backend
    from calipers.export import Exporter
    from calipers.metrics._base import Metric
    from calipers.search import Searcher

__all__ = [
    "hookspec",
    "register_backend",
    "register_exporter",
    "register_metric",
    "register_searcher",
]

#: Marks the hook specifications of project ``"calipers"`` (pairs with ``calipers.hookimpl``).
hookspec = pluggy.HookspecMarker("calipers")


@hookspec
def register_metric() -> Iterable[type[Metric]]:
    """Register metric classes, such as ``f1`` or ``roc_auc``.

    Not ``firstresult``: the host calls every plugin's implementation and keeps all
    the classes they return.

    Returns
    -------
    Iterable[type[Metric]]
        The metric classes this plugin provides, usually subclasses of
        :class:`calipers.metrics.Metric`. ``calipers.plugins.get("metric", name)``
        returns them by name.

    Each object must have
    ---------------------
    - ``name``: a non-empty string without surrounding whitespace, unique among all
      installed metrics;
    - callable ``update``, ``merge``, ``compute`` and ``reset``;
    - no abstract methods left (it must be instantiable);
    - a state that merges exactly: updating separate instances on any split of the
      data and merging them gives the same ``compute()`` as one instance.

    .. versionadded:: 0.1.0
    """


@hookspec
def register_searcher() -> Iterable[type[Searcher]]:
    """Register hyper-parameter searcher classes, such as ``grid`` or ``random``.

    Not ``firstresult``: the host calls every plugin's implementation and keeps all
    the classes they return.

    Returns
    -------
    Iterable[type[Searcher]]
        The searcher classes this plugin provides, usually subclasses of
        :class:`calipers.search.Searcher`. ``calipers.plugins.get("searcher", name)``
        returns them by name.

    Each object must have
    ---------------------
    - ``name``: a non-empty string, unique among all installed searchers;
    - callable ``ask`` (returns the next parameters, a dict) and ``tell`` (records
      the objective value of those parameters);
    - a constructor ``(space, seed=None)``: the same seed over the same space and
      the same told values gives the same sequence of asks.

    .. versionadded:: 0.1.0
    """


@hookspec
def register_exporter() -> Iterable[type[Exporter]]:
    """Register model exporter classes, such as ``onnx`` or ``tfserving``.

    Not ``firstresult``: the host calls every plugin's implementation and keeps all
    the classes they return.

    Returns
    -------
    Iterable[type[Exporter]]
        The exporter classes this plugin provides, usually subclasses of
        :class:`calipers.export.Exporter`. ``calipers.plugins.get("exporter", name)``
        returns them by name.

    Each object must have
    ---------------------
    - ``name``: a non-empty string, unique among all installed exporters (and,
      optionally, ``formats``: other format names it answers to);
    - callable ``export(model, path, sample, **options)``: writes the model file(s)
      into ``path``, an empty temporary directory the host created, and returns the
      manifest fields it knows (inputs, outputs, libraries, task, ...). The host adds
      the reference sample, the file hashes and ``manifest.json``, and renames the
      directory into place;
    - callable ``load(path, manifest, trusted)``: returns a runner with
      ``run({input name: array}) -> {output name: array}``; called by
      ``calipers.load`` only after every file's hash was checked;
    - callable ``verify(path, model, sample)``: checks the artifact reproduces the
      model's outputs on ``sample`` and returns a report dict (the base class
      :class:`calipers.export.Exporter` implements it through ``load``).

    .. versionadded:: 0.1.0
    """


@hookspec
def register_backend() -> Iterable[type[Backend]]:
    """Register array backends: how an array type (torch, dask, ...) reaches the kernels.

    Not ``firstresult``: the host calls every plugin's implementation and keeps all
    the classes they return. :func:`calipers.backends.backend_for` asks them in
    registration order and falls back to the built-in ``numpy`` backend.

    Returns
    -------
    Iterable[type[Backend]]
        The backend classes this plugin provides, usually subclasses of
        :class:`calipers.backends.Backend`. ``calipers.plugins.get("backend", name)``
        returns them by name.

    Each object must have
    ---------------------
    - ``name``: a non-empty string, unique among all installed backends;
    - callable ``accepts(x) -> bool``: claims the array types it handles, cheaply,
      and without importing its library when that library is not imported yet
      (no array of that type can exist then);
    - callable ``to_numpy(x)``: converts a claimed array to a numpy array, without
      copying when the memory already is on the host;
    - optionally, for arrays split into partitions computed elsewhere (dask):
      ``partitioned = True`` and callable ``map_update(metric, args, kwargs)``. Every
      metric's ``update`` then hands calls whose arguments this backend claims to
      ``map_update``, which updates one ``metric.empty_clone()`` per aligned
      partition and merges them into ``metric``: the same result as the update in
      memory, and ``metric`` unchanged if any partition fails.

    .. versionadded:: 0.1.0
    """
