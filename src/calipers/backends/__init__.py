"""Array backends: how array types (numpy, torch, dask, ...) reach the metric kernels.

The compiled kernels take contiguous numpy buffers. A :class:`Backend` claims one
family of array types (:meth:`Backend.accepts`) and turns them into numpy arrays
(:meth:`Backend.to_numpy`), so metrics never need to know which library produced
their input. Plugins add backends with the ``register_backend`` hook; the host ships
:class:`NumpyBackend`, which takes anything :func:`numpy.asarray` understands.

:func:`backend_for` picks the backend of a value: the first plugin backend that
accepts it, else numpy.

A backend may also be *partitioned* (:attr:`Backend.partitioned`): its arrays are
split into partitions that live elsewhere (dask, and other out-of-core or
distributed array libraries). Then :class:`calipers.metrics.Metric` does not convert
the arrays at all: it hands the whole ``update`` call to
:meth:`Backend.map_update`, which updates an empty clone of the metric per
partition and merges the partition states into the metric.
:func:`partitioned_backend` finds the backend that claims a call's arguments.

A backend may also be *native* (:attr:`Backend.native`): it keeps a metric's state
where its arrays live (torch: on the tensors' device) and updates it there
(:meth:`Backend.native_update`), folding it into the host state only when the host
needs it. :func:`native_backend` finds the native backend that claims a call's arguments.
"""

from __future__ import annotations

import abc
import numbers
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import numpy as np

import calipers

__all__ = [
    "Backend",
    "NumpyBackend",
    "backend_for",
    "distributed_backend",
    "native_backend",
    "native_state",
    "partitioned_backend",
    ]

#: Attribute of a metric (or Suite) that holds a native backend's device state.
NATIVE_ATTR = "_native"

# Exact types that only numpy can mean; checked first so that the common case does
# not load the plugin registry or ask every plugin backend.
_NUMPY_FAST_TYPES = (np.ndarray, list, tuple)
#: Exact types of ``update`` arguments that no partitioned backend can claim: numpy
#: input and plain options. :func:`partitioned_backend` skips them without asking.
PLAIN_TYPES: frozenset[type] = frozenset(
    {np.ndarray, list, tuple, type(None), bool, int, float, str, dict}
)


class Backend(abc.ABC):
    """Base class of array backends.

    A backend is used through its class: every method is a classmethod and a
    backend has no per-instance state. Subclasses set :attr:`name` and implement
    :meth:`accepts` and :meth:`to_numpy`, then are returned from a plugin's
    ``register_backend`` hook.

    Optional capability, partitioned updates: a backend whose arrays are split
    into partitions computed elsewhere (dask) sets :attr:`partitioned` to ``True``
    and implements :meth:`map_update`. Every metric's ``update`` then routes a call
    whose array arguments this backend claims to ``map_update(metric, args,
    kwargs)`` instead of converting them with :meth:`to_numpy`; the backend updates
    one empty clone of the metric (:meth:`calipers.metrics.Metric.empty_clone`) per
    partition and merges those states into the metric. Its contract: the result
    equals ``metric.update`` on the whole arrays in memory, and a failure in any
    partition leaves ``metric`` unchanged. A backend that is not partitioned
    (the default) is served by :meth:`to_numpy`.

    Optional capability, native updates: a backend that can keep a metric's state
    where its arrays live (torch tensors on a GPU) sets :attr:`native` to ``True``
    and implements :meth:`native_update`. Every metric's ``update`` (and
    :class:`calipers.metrics.Suite`'s) routes a call with an argument this backend
    claims to ``native_update(metric, args, kwargs)``; a ``False`` return (a metric
    or input it has no kernel for) falls back to :meth:`to_numpy` and the host path.
    Its contract:

    - Device state. It is an object stored in the metric's ``_native`` attribute
      (:data:`NATIVE_ATTR`) next to the host state, with three methods:
      ``flush(metric)`` folds the device state into the host state (a few small
      device-to-host copies) and empties it, raising ``ValueError`` for batches
      it refused since the last flush; ``discard()`` drops the device state
      without folding it (``load_state_dict`` replaced the state); ``result(value)``
      turns a value computed on the host into the backend's arrays.
    - The host flushes it whenever it reads the state: ``compute`` (whose value
      then goes through ``result``: a metric updated with tensors returns tensors),
      ``state_dict``, ``merge`` (both sides), pickling / copying, ``n_samples`` and
      ``sync``. ``reset`` deletes the device state (the metric is a host metric
      again until its next native update). A numpy ``update`` adds to the host
      state directly: states are sums, so the order of the two does not matter.
    - The numbers equal the host path's on the same data, and a failed
      ``native_update`` leaves both states unchanged.
    - Optional distributed sync: a backend with :attr:`distributed` true implements
      :meth:`sync`, which :meth:`calipers.metrics.Metric.sync` calls.
    """

    #: Registry name, e.g. ``"torch"``.
    name: ClassVar[str] = ""
    #: Whether the backend runs whole metric updates partition by partition
    #: (:meth:`map_update`); ``False``: its arrays are converted by :meth:`to_numpy`.
    partitioned: ClassVar[bool] = False
    #: Whether the backend updates metric states where its arrays live
    #: (:meth:`native_update`); ``False``: its arrays are converted by :meth:`to_numpy`.
    native: ClassVar[bool] = False
    #: Whether :meth:`sync` merges metric states across processes.
    distributed: ClassVar[bool] = False

    @classmethod
    @abc.abstractmethod
    def accepts(cls, x: Any) -> bool:
        """Return whether this backend handles ``x``.

        Must be cheap (it runs on every metric update) and must not import the
        backend's library when it is not imported yet: an array of that library
        cannot exist then, so the answer is ``False``.
        """

    @classmethod
    @abc.abstractmethod
    def to_numpy(cls, x: Any) -> np.ndarray:
        """Return ``x`` (which :meth:`accepts` claimed) as a numpy array.

        Returns a view sharing ``x``'s memory when it already lives in host memory
        in a numpy-compatible layout, and a copy otherwise (e.g. GPU memory).
        """

    @classmethod
    def map_update(cls, metric: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        """Run ``metric.update(*args, **kwargs)`` partition by partition.

        Only called on a backend with :attr:`partitioned` true, when it claims at
        least one of the arguments. Implementations build one empty clone of
        ``metric`` per partition (``metric.empty_clone()``: same options, no data),
        update it with that partition of every claimed argument, and merge all the
        partition states into ``metric`` only once every partition succeeded.

        Parameters
        ----------
        metric : Metric
            The metric being updated (anything with ``update``, ``merge`` and
            ``empty_clone``).
        args, kwargs
            The arguments of the ``update`` call, as given.

        Raises
        ------
        NotImplementedError
            From this base: the backend is not partitioned.
        """
        raise NotImplementedError(
            f"backend {cls.name!r} is not partitioned: its arrays reach metrics "
            "through to_numpy"
        )

    @classmethod
    def native_update(cls, metric: Any, args: tuple[Any, ...],
                      kwargs: Mapping[str, Any]) -> bool:
        """Run ``metric.update(*args, **kwargs)`` on the backend's own device.

        Only called on a backend with :attr:`native` true, when it claims at least
        one of the arguments. Returns ``True`` when the update was done (the device
        state lives in ``metric._native``, see the class docstring), ``False`` to
        have the host run its own path (arrays converted by :meth:`to_numpy`).
        This base returns ``False``.
        """
        return False

    @classmethod
    def executor(cls, client: Any) -> Any:
        """Return an executor that runs a study's trials on ``client``'s cluster.

        Optional capability of a backend for a cluster library (dask): what
        ``calipers tune --dask ADDRESS`` passes to ``study.optimize(executor=...)``,
        an object with ``submit(fn, *args) -> future`` (and optionally
        ``nthreads()``). Usable as a context manager when it has ``close()``.

        Raises
        ------
        NotImplementedError
            From this base: the backend runs no trials.
        """
        raise NotImplementedError(f"backend {cls.name!r} cannot run a study's trials")

    @classmethod
    def sync(cls, metric: Any, group: Any = None) -> Any:
        """Merge ``metric``'s state over every process of ``group``; return ``metric``.

        Only on a backend with :attr:`distributed` true: afterwards every process
        holds the state of all of them.

        Raises
        ------
        NotImplementedError
            From this base: the backend has no distributed sync.
        """
        raise NotImplementedError(f"backend {cls.name!r} has no distributed sync")


class NumpyBackend(Backend):
    """The built-in backend: numpy arrays, lists, tuples, scalars, ``__array__`` objects.

    It is the fallback of :func:`backend_for`, so it claims anything numpy can
    convert: objects with ``__array__``, ``__array_interface__`` or
    ``__array_struct__`` (pandas, pyarrow, ...) included.
    """

    name: ClassVar[str] = "numpy"

    @classmethod
    def accepts(cls, x: Any) -> bool:
        """Return whether numpy can convert ``x`` (arrays, sequences, scalars)."""
        if isinstance(x, (np.ndarray, np.generic, list, tuple, numbers.Number)):
            return True
        t = type(x)
        return (
            hasattr(t, "__array__")
            or hasattr(t, "__array_interface__")
            or hasattr(t, "__array_struct__")
        )

    @classmethod
    def to_numpy(cls, x: Any) -> np.ndarray:
        """Return ``np.asarray(x)`` (no copy when ``x`` is already an ndarray)."""
        return np.asarray(x)


@calipers.hookimpl
def register_backend() -> list[type[Backend]]:
    """The host's own backend, registered through the same hook as plugins'."""
    return [NumpyBackend]


def backend_for(x: Any) -> type[Backend]:
    """Return the backend class that handles ``x``.

    Plugin backends are asked first, in registration order; the first whose
    ``accepts(x)`` is true wins. Otherwise :class:`NumpyBackend` handles ``x``.

    Parameters
    ----------
    x : object
        An array-like: numpy array, list, torch tensor, ...

    Returns
    -------
    type[Backend]
        The backend class; call ``backend_for(x).to_numpy(x)`` to get an ndarray.

    Raises
    ------
    TypeError
        If no backend, numpy included, can handle ``x``.
    """
    if type(x) in _NUMPY_FAST_TYPES:
        return NumpyBackend
    from calipers import plugins

    for backend in plugins.classes("backend"):
        if backend is not NumpyBackend and backend.accepts(x):
            return backend
    if NumpyBackend.accepts(x):
        return NumpyBackend
    names = plugins.names("backend")
    raise TypeError(
        f"no calipers backend accepts a value of type {type(x).__module__}."
        f"{type(x).__qualname__}; installed backends: {', '.join(names)}. Pass a numpy "
        "array, or install a plugin whose register_backend hook claims this type "
        "(`calipers plugins` lists the installed ones)."
    )


def partitioned_backend(values: Iterable[Any]) -> type[Backend] | None:
    """Return the partitioned backend that claims any of ``values``, or ``None``.

    Values of an exact type in :data:`PLAIN_TYPES` (numpy arrays, lists, scalars,
    ``None``...) are skipped without asking any backend, so a call with numpy
    input never loads the plugin registry.

    Parameters
    ----------
    values : iterable
        The arguments of an ``update`` call (positional and keyword values).

    Returns
    -------
    type[Backend] or None
        The one partitioned backend claiming some of the values; ``None`` when no
        value is claimed by a partitioned backend.

    Raises
    ------
    TypeError
        If values are claimed by two different partitioned backends.
    """
    found: type[Backend] | None = None
    backends: list[type[Backend]] | None = None
    for x in values:
        if type(x) in PLAIN_TYPES:
            continue
        if backends is None:
            from calipers import plugins

            backends = [b for b in plugins.classes("backend") if b.partitioned]
            if not backends:
                return None
        for backend in backends:
            if backend.accepts(x):
                if found is not None and found is not backend:
                    raise TypeError(
                        f"one update mixes arrays of the partitioned backends "
                        f"{found.name!r} and {backend.name!r}; convert them to one kind"
                    )
                found = backend
                break
    return found


def native_backend(values: Iterable[Any]) -> type[Backend] | None:
    """Return the first native backend that claims any of ``values``, or ``None``.

    Values of an exact type in :data:`PLAIN_TYPES` are skipped without asking any
    backend (numpy input never loads the plugin registry).
    """
    backends: list[type[Backend]] | None = None
    for x in values:
        if type(x) in PLAIN_TYPES:
            continue
        if backends is None:
            from calipers import plugins

            backends = [b for b in plugins.classes("backend") if b.native]
            if not backends:
                return None
        for backend in backends:
            if backend.accepts(x):
                return backend
    return None


def native_state(obj: Any) -> Any:
    """The native backend's device state of a metric (or Suite), or ``None``."""
    return obj.__dict__.get(NATIVE_ATTR)


def distributed_backend(obj: Any) -> type[Backend]:
    """The backend that syncs ``obj``: the owner of its device state, else the one
    distributed backend installed. ``RuntimeError`` when there is none."""
    acc = native_state(obj)
    owner = getattr(acc, "backend", None)
    if owner is not None and owner.distributed:
        return owner
    from calipers import plugins

    found = [b for b in plugins.classes("backend") if b.distributed]
    if not found:
        raise RuntimeError(
            "sync needs a distributed backend and none is installed: "
            "pip install 'calipers[torch]' (torch.distributed)"
        )
    return found[0]
