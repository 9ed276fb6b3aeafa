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

What the host checks, for every hook (a plugin that fails a check is listed by
``calipers plugins`` as ``broken``, with the reason, and provides nothing):

- the hook is a plain ``@calipers.hookimpl`` (not a wrapper); a function named
  like a hook that calipers does not have (``register_metrics``) is an error
  unless marked ``@calipers.hookimpl(optionalhook=True)``;
- it returns ``None`` or an iterable of classes (not one class, not instances);
- each class has ``name``: a non-empty string without surrounding whitespace;
- each class has the callables its hook lists below, and no abstract methods left;
- one hook call returns no two classes with the same ``name``.

Before importing a plugin the host also reads its distribution's requirement on
calipers (``dependencies = ["calipers>=0.2"]``): if this calipers does not satisfy
it, the plugin is not imported and is listed as ``incompatible``.

Each docstring below has the same sections, in this order: summary, firstresult
note, Returns, "Each object must have" (what the host checks, then the contract
that :mod:`calipers.testing` checks), Examples (a complete plugin: its module and
its ``pyproject.toml``), version note. ``tests/test_hookspecs.py`` fails if a hook
loses one of them or has no test with a real plugin, and
``tests/test_hookspec_examples.py`` installs each example with pip and uses it.
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
        and ``calipers.metric(name, **options)`` find them by name.

    Each object must have
    ---------------------
    What the host checks when the plugin loads:

    - ``name``: a non-empty string without surrounding whitespace, unique among all
      installed metrics;
    - callable ``update``, ``compute``, ``reset`` and ``merge``;
    - no abstract methods left (it must be instantiable).

    :class:`~calipers.metrics.Metric` provides ``reset`` and ``merge`` for states
    declared with ``add_state``, so a subclass with a declared state implements
    only ``update`` and ``compute`` (the example below). The plain form works too:
    keep the state in ordinary attributes and override ``reset`` and
    ``merge(self, *others)`` (``state_dict`` / ``load_state_dict`` then raise
    ``TypeError`` until overridden as well).

    Optional ``inputs``: ``"labels"`` (the default) or ``"scores"``, what ``update``'s
    second argument is; ``calipers eval`` passes ``--y-pred`` or the score column.

    The contract the host does not check at load (:func:`calipers.testing.check_metric`
    does): a state that merges exactly, i.e. updating separate instances on any
    split of the data and merging them gives the same ``compute()`` as one instance
    updated with all of it.

    Examples
    --------
    A complete plugin. Its module, ``calipers_positive_rate.py``::

        import numpy as np

        import calipers
        from calipers.metrics import Metric


        class PositiveRate(Metric):
            # The share of predictions that are the positive label 1.

            name = "positive_rate"

            def __init__(self):
                super().__init__()
                # Declared state: reset, merge, state_dict, pickling come free.
                self.add_state("positives", 0, merge="sum")
                self.add_state("total", 0, merge="sum")

            def update(self, y_true, y_pred, sample_weight=None):
                p = np.asarray(y_pred)
                self.positives += int(np.count_nonzero(p == 1))
                self.total += p.size

            def compute(self):
                return self.positives / self.total if self.total else float("nan")


        @calipers.hookimpl
        def register_metric():
            return [PositiveRate]

    and its ``pyproject.toml`` (the entry point is how the host finds the module,
    the dependency on calipers says which calipers versions it works with)::

        [project]
        name = "calipers-positive-rate"
        version = "1.0"
        dependencies = ["calipers>=0.1"]

        [project.entry-points.calipers]
        positive_rate = "calipers_positive_rate"

    After ``pip install .``, ``calipers plugins`` lists it and
    ``calipers.metric("positive_rate")`` builds one.

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
        and ``calipers.create_study(searcher=name, ...)`` find them by name.

    Each object must have
    ---------------------
    What the host checks when the plugin loads:

    - ``name``: a non-empty string without surrounding whitespace, unique among all
      installed searchers;
    - callable ``ask`` (returns the next parameters, a dict) and ``tell`` (records
      the objective value of those parameters, minimized);
    - no abstract methods left.

    :class:`~calipers.search.Searcher` provides ``ask`` and ``tell`` (trial numbers,
    pending parameters, told values, replay of stored trials): a subclass sets
    ``name`` and ``adaptive`` and implements ``_propose(number)``, drawing any
    randomness from ``self.trial_rng(number)`` over ``self.space`` (and
    ``_observe`` if it learns from told values).

    The contract the host does not check at load
    (:func:`calipers.testing.check_searcher` does): a constructor ``(space,
    seed=None)``; the same seed over the same space and the same told values gives
    the same asks; every ask is a valid point of the space.

    Examples
    --------
    A complete plugin. Its module, ``calipers_local_search.py``::

        import math

        import calipers
        from calipers.search import Searcher


        class LocalSearcher(Searcher):
            # Explores with uniform draws, then perturbs the best parameters so far.

            name = "local"
            adaptive = True  # asks depend on told values: a study waits for them

            def _propose(self, number):
                rng = self.trial_rng(number)  # trial number's only source of randomness
                told = [(v, p) for p, v in self.told if math.isfinite(v)]
                if not told or rng.random() < 0.5:
                    return self.space.sample(rng)
                best = min(told, key=lambda pair: pair[0])[1]
                x = self.space.encode(best)  # a point of [0, 1] ** dim
                return self.space.decode(x + rng.normal(0.0, 0.1, size=x.shape))


        @calipers.hookimpl
        def register_searcher():
            return [LocalSearcher]

    and its ``pyproject.toml``::

        [project]
        name = "calipers-local-search"
        version = "1.0"
        dependencies = ["calipers>=0.1"]

        [project.entry-points.calipers]
        local_search = "calipers_local_search"

    After ``pip install .``, ``calipers.create_study(space=..., searcher="local")``
    uses it.

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
        and ``calipers.export(model, name, path, sample=X)`` find them by name.

    Each object must have
    ---------------------
    What the host checks when the plugin loads:

    - ``name``: a non-empty string without surrounding whitespace, unique among all
      installed exporters (and, optionally, ``formats``: other format names it
      answers to);
    - callable ``export`` and ``verify``;
    - no abstract methods left.

    The contract the host relies on when it uses the exporter (exercised by
    :func:`calipers.testing.check_exporter`):

    - ``export(model, path, sample, **options)`` writes the model file(s) into
      ``path``, an empty temporary directory the host created, and returns a dict
      of the manifest fields it knows (inputs, outputs, libraries, task, ...). The
      host adds the reference sample (from ``model_outputs``), the file hashes and
      ``manifest.json``, and renames the directory into place;
    - ``load(path, manifest, trusted)`` returns a runner with
      ``run({input name: array}) -> {output name: array}``; ``calipers.load``
      calls it only after every file's hash was checked;
    - ``verify(path, model, sample)`` checks the artifact reproduces the model's
      outputs on ``sample`` and returns a report dict (the base class
      :class:`calipers.export.Exporter` implements it through ``load``);
    - optionally, capabilities: ``capabilities = frozenset({"quantize"})`` and
      callable ``quantize(path, out, **options) -> dict``, which
      ``calipers.quantize`` calls for the artifacts this exporter wrote.

    Examples
    --------
    A complete plugin, for linear models (``coef_``, ``intercept_``, ``predict``).
    Its module, ``calipers_linear_json.py``::

        import json
        import pathlib

        import numpy as np

        import calipers
        from calipers.export import Exporter


        class LinearRunner:
            # What load returns: runs the stored weights on named inputs.

            def __init__(self, coef, intercept):
                self.coef, self.intercept = coef, intercept

            def run(self, inputs):
                X = np.asarray(inputs["X"], dtype=float)
                return {"prediction": X @ self.coef + self.intercept}


        class LinearJsonExporter(Exporter):
            name = "linear_json"

            def supports(self, model):
                return hasattr(model, "coef_") and hasattr(model, "intercept_")

            def export(self, model, path, sample, **options):
                weights = {"coef": np.asarray(model.coef_, dtype=float).tolist(),
                           "intercept": float(model.intercept_)}
                (pathlib.Path(path) / "weights.json").write_text(json.dumps(weights))
                return {"task": "regressor", "model_type": type(model).__name__}

            def model_outputs(self, model, inputs):
                # The original model's outputs, under the runner's output names.
                return {"prediction": np.asarray(model.predict(inputs["X"]))}

            def load(self, path, manifest, trusted):
                # Reading JSON runs no code: any trust level may load it.
                weights = json.loads((path / "weights.json").read_text())
                return LinearRunner(np.asarray(weights["coef"]), weights["intercept"])


        @calipers.hookimpl
        def register_exporter():
            return [LinearJsonExporter]

    and its ``pyproject.toml``::

        [project]
        name = "calipers-linear-json"
        version = "1.0"
        dependencies = ["calipers>=0.1", "numpy"]

        [project.entry-points.calipers]
        linear_json = "calipers_linear_json"

    After ``pip install .``, ``calipers.export(model, "linear_json", path,
    sample=X)`` writes an artifact and ``calipers.load(path).run(X)`` runs it.

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
        returns them by name; metrics find them by the arrays they are given.

    Each object must have
    ---------------------
    What the host checks when the plugin loads:

    - ``name``: a non-empty string without surrounding whitespace, unique among all
      installed backends;
    - callable ``accepts`` and ``to_numpy``;
    - no abstract methods left.

    The contract (exercised by :func:`calipers.testing.check_backend`):

    - ``accepts(x) -> bool`` claims the array types it handles, cheaply, and
      without importing its library when that library is not imported yet (no
      array of that type can exist then);
    - ``to_numpy(x)`` converts a claimed array to a numpy array, without copying
      when the memory already is on the host;
    - optionally, for arrays split into partitions computed elsewhere (dask):
      ``partitioned = True`` and callable ``map_update(metric, args, kwargs)``. Every
      metric's ``update`` then hands calls whose arguments this backend claims to
      ``map_update``, which updates one ``metric.empty_clone()`` per aligned
      partition and merges them into ``metric``: the same result as the update in
      memory, and ``metric`` unchanged if any partition fails.

    Examples
    --------
    A complete plugin, for a tiny array type it defines itself. Its module,
    ``calipers_box.py``::

        import numpy as np

        import calipers
        from calipers.backends import Backend


        class Box:
            # A minimal array type: numbers in a list, which numpy cannot read itself.

            def __init__(self, values):
                self.values = list(values)


        class BoxBackend(Backend):
            name = "box"

            @classmethod
            def accepts(cls, x):
                # Cheap, and imports nothing: a library's backend first checks that
                # the library is in sys.modules.
                return isinstance(x, Box)

            @classmethod
            def to_numpy(cls, x):
                return np.asarray(x.values)


        @calipers.hookimpl
        def register_backend():
            return [BoxBackend]

    and its ``pyproject.toml``::

        [project]
        name = "calipers-box"
        version = "1.0"
        dependencies = ["calipers>=0.1", "numpy"]

        [project.entry-points.calipers]
        box = "calipers_box"

    After ``pip install .``, every calipers metric takes ``Box`` arrays:
    ``calipers.metric("accuracy").update(Box([0, 1]), Box([0, 0]))``.

    .. versionadded:: 0.1.0
    """
