"""The Metric contract that every registered metric follows (built-in or plugin)."""

from __future__ import annotations

import abc
import copy
import functools
import threading
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from calipers.backends import NATIVE_ATTR, PLAIN_TYPES, native_backend, partitioned_backend


def _route_partitioned(update: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a metric's ``update`` so that partitioned arrays (dask) and native arrays
    (torch tensors) go to their backend.

    Calls whose arguments all have an exact type in
    :data:`calipers.backends.PLAIN_TYPES` (numpy input, options) run ``update``
    directly, without any registry lookup. A native backend that declines the call
    (:meth:`~calipers.backends.Backend.native_update` returns ``False``) leaves it to
    ``update``, which converts the arrays with ``to_numpy``.
    """
    if getattr(update, "__calipers_routed__", False):
        return update

    @functools.wraps(update)
    def routed(self: Any, *args: Any, **kwargs: Any) -> Any:
        for x in args:
            if type(x) not in PLAIN_TYPES:
                break
        else:
            for x in kwargs.values():
                if type(x) not in PLAIN_TYPES:
                    break
            else:
                return update(self, *args, **kwargs)
        values = (*args, *kwargs.values())
        backend = partitioned_backend(values)
        if backend is not None:
            return backend.map_update(self, args, kwargs)
        backend = native_backend(values)
        if backend is not None and backend.native_update(self, args, kwargs):
            return None
        return update(self, *args, **kwargs)

    routed.__calipers_routed__ = True  # type: ignore[attr-defined]
    return routed


def flush_native(obj: Any) -> None:
    """Fold ``obj``'s device state (a native backend's, if any) into its host state."""
    acc = obj.__dict__.get(NATIVE_ATTR)
    if acc is not None:
        with obj._lock:
            acc.flush(obj)


def drop_native(obj: Any, fold: bool) -> None:
    """Forget ``obj``'s device state: entirely (``reset``), or only its contents,
    keeping the device it returns results on (``load_state_dict``: ``fold=False``)."""
    if fold:
        obj.__dict__.pop(NATIVE_ATTR, None)
        return
    acc = obj.__dict__.get(NATIVE_ATTR)
    if acc is not None:
        acc.discard()


def native_result(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a method that reads the state (``compute``...): with a native backend's
    device state, fold it in first and return the value as that backend's arrays."""
    if getattr(method, "__calipers_native__", False):
        return method

    @functools.wraps(method)
    def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
        acc = self.__dict__.get(NATIVE_ATTR)
        if acc is None:
            return method(self, *args, **kwargs)
        with self._lock:
            acc.flush(self)
            return acc.result(method(self, *args, **kwargs))

    wrapped.__calipers_native__ = True  # type: ignore[attr-defined]
    return wrapped


class Locked:
    """Mixin for objects guarded by ``self._lock``: pickling and copying drop the lock
    and give the copy a fresh one (a lock cannot be pickled or shared)."""

    _lock: threading.RLock

    def __getstate__(self) -> dict[str, Any]:
        flush_native(self)  # a copy or pickle carries the whole state on the host
        state = self.__dict__.copy()
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()


class Metric(Locked, abc.ABC):
    """A streaming metric: a small mergeable state plus a final computation.

    Subclasses set ``name`` (the registry key) and implement :meth:`update`,
    :meth:`compute`, :meth:`reset`, :meth:`_merge_state`, :meth:`state_dict` and
    :meth:`load_state_dict`. The base class gives thread-safe :meth:`merge`, pickling
    and copying.

    The state must merge exactly: for any split of the data into batches, updating
    separate instances and merging them gives the same :meth:`compute` as one
    instance updated with all of it.

    Partitioned arrays: every subclass's ``update`` accepts, for any of its array
    arguments (positional or keyword), arrays of a partitioned backend (e.g. dask
    arrays or a dask DataFrame's columns, with the ``dask`` plugin). Such a call is
    handed to the backend's :meth:`~calipers.backends.Backend.map_update`, which
    updates an :meth:`empty_clone` per partition and merges them in, with the same
    numbers as in memory. The base class wraps each subclass's ``update`` for this
    at class creation; numpy input takes the direct path (exact type checks only).

    Native arrays: a backend with native updates (torch: see
    :class:`calipers.backends.Backend`) may keep the state on its device; then the
    methods named in :attr:`_native_results` (``compute``) return its arrays, and
    :meth:`sync` merges the state across processes.
    """

    #: Registry name, e.g. ``"f1"``.
    name: ClassVar[str] = ""
    #: Methods that read the state and return values: wrapped at class creation so
    #: that a native backend's device state is folded in and the value converted.
    _native_results: ClassVar[tuple[str, ...]] = ("compute",)

    def __init__(self) -> None:
        self._lock = threading.RLock()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        update = cls.__dict__.get("update")
        if callable(update) and not getattr(update, "__isabstractmethod__", False):
            cls.update = _route_partitioned(update)  # type: ignore[method-assign]
        for name in cls._native_results:
            method = cls.__dict__.get(name)
            if callable(method) and not getattr(method, "__isabstractmethod__", False):
                setattr(cls, name, native_result(method))

    # -- to implement ------------------------------------------------------
    @abc.abstractmethod
    def update(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Add a batch. A failed update (an exception) leaves the state unchanged."""

    @abc.abstractmethod
    def compute(self) -> Any:
        """Return the metric's value from the state accumulated so far."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Return to the empty state, keeping the options."""

    @abc.abstractmethod
    def _merge_state(self, other: Metric) -> None:
        """Add ``other``'s state to this one (``other`` already checked compatible)."""

    @abc.abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Return the state and options as plain Python / numpy values."""

    @abc.abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Replace the state with one returned by :meth:`state_dict`."""

    # -- shared behaviour --------------------------------------------------
    def empty_clone(self) -> Metric:
        """Return a new metric with the same options and an empty state.

        Partitioned backends and :func:`calipers.metrics.bootstrap` build one per
        partition / replicate. A metric with an ``options`` property (a mapping of its
        constructor's keyword arguments, as every built-in metric has) is rebuilt
        from it, without copying its state; otherwise the metric is copied and the
        copy reset.
        """
        options = getattr(self, "options", None)
        if isinstance(options, Mapping):
            return type(self)(**options)
        with self._lock:
            clone = copy.deepcopy(self)
        clone.reset()
        return clone

    def merge(self, *others: Metric) -> Metric:
        """Add the states of ``others`` into this metric and return it.

        Merging is thread-safe: several threads may merge into one metric at once.
        """
        for other in others:
            if other is self:
                raise ValueError("cannot merge a metric into itself")
            if type(other) is not type(self):
                raise TypeError(
                    f"cannot merge {type(other).__name__} into {type(self).__name__}"
                )
            # Snapshot other's state under its own lock, then merge under ours, so
            # two threads merging a<-b and b<-a cannot deadlock.
            with other._lock:
                snapshot = copy.deepcopy(other)
            with self._lock:
                flush_native(self)
                self._merge_state(snapshot)
        return self

    def sync(self, group: Any = None) -> Metric:
        """Merge this metric's state over the processes of a distributed job.

        Every process calls it; afterwards each holds the state of all of them
        (as if one metric had seen every process's data). Delegated to the backend
        that holds the metric's device state (torch: over ``torch.distributed``),
        else to the installed distributed backend.

        Parameters
        ----------
        group : optional
            The backend's process group (torch: a ``ProcessGroup``); ``None``: all.

        Raises
        ------
        RuntimeError
            If no distributed backend is installed, or it is not initialized.
        """
        from calipers.backends import distributed_backend

        distributed_backend(self).sync(self, group)
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Metric:
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        new.__setstate__(copy.deepcopy(self.__getstate__(), memo))
        return new

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class OptionsMetric(Metric):
    """A metric with constructor ``options`` and one state object in ``self._state``.

    The one way the built-in metrics do their option and state round trips:
    :meth:`reset`, merging (options must be equal), :meth:`state_dict` (``name``,
    ``options`` and the state object's own ``state_dict()``), :meth:`load_state_dict`
    (name and options checked; the state is loaded into a fresh :meth:`_new_state`
    and swapped in, so a bad state leaves the metric unchanged) and a repr of the
    options. Subclasses implement :attr:`options` and :meth:`_new_state`; the state
    object has ``reset``, ``merge``, ``state_dict``, ``load_state_dict`` and ``n``.
    A metric whose state is not such an object overrides the four methods and uses
    :meth:`_check_mergeable` / :meth:`_check_state` for the checks.
    """

    _state: Any

    @property
    @abc.abstractmethod
    def options(self) -> dict[str, Any]:
        """The constructor options (enough to build an identical empty metric)."""

    def _new_state(self) -> Any:
        """An empty state object for these options."""
        raise NotImplementedError  # pragma: no cover - every registered subclass overrides

    def _check_mergeable(self, other: OptionsMetric) -> None:
        if other.options != self.options:
            raise ValueError(
                f"cannot merge {self.name} with options {other.options} into {self.options}"
            )

    def _check_state(self, state: Mapping[str, Any]) -> None:
        """Refuse a :meth:`state_dict` of another metric or of other options."""
        if state.get("name") != self.name:
            raise ValueError(f"state is for metric {state.get('name')!r}, not {self.name!r}")
        if state["options"] != self.options:
            raise ValueError(
                f"state has options {state['options']}, this metric has {self.options}"
            )

    def reset(self) -> None:
        with self._lock:
            drop_native(self, fold=True)
            self._state.reset()

    def _merge_state(self, other: Metric) -> None:
        assert isinstance(other, OptionsMetric)
        self._check_mergeable(other)
        self._state.merge(other._state)

    def state_dict(self) -> dict[str, Any]:
        with self._lock:
            flush_native(self)
            return {"name": self.name, "options": self.options,
                    "state": self._state.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._check_state(state)
        fresh = self._new_state()
        fresh.load_state_dict(state["state"])
        with self._lock:
            drop_native(self, fold=False)
            self._state = fresh

    @property
    def n_samples(self) -> int:
        """Number of samples seen so far."""
        flush_native(self)
        return self._state.n

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({opts})"
