"""The Metric contract that every registered metric follows (built-in or plugin)."""

from __future__ import annotations

import abc
import copy
import functools
import threading
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from calipers.backends import NATIVE_ATTR, PLAIN_TYPES, native_backend, partitioned_backend
from calipers.metrics._declared import (
    DECLARED_ATTR,
    StateSpec,
    check_loaded,
    fresh,
    merge_values,
    snapshot,
    state_copy,
)


def _route_partitioned(update: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a metric's ``update`` so that partitioned arrays (dask) and native arrays
    (torch tensors) go to their backend, and a failed update of a metric with
    declared states rolls them back.

    Calls whose arguments all have an exact type in
    :data:`calipers.backends.PLAIN_TYPES` (numpy input, options) run ``update``
    directly, without any registry lookup. A native backend that declines the call
    (:meth:`~calipers.backends.Backend.native_update` returns ``False``) leaves it to
    ``update``, which converts the arrays with ``to_numpy``. A metric that declared
    its states (:meth:`Metric.add_state`) is updated under its lock, and an
    exception restores every declared state (see :func:`_transactional`).
    """
    if getattr(update, "__calipers_routed__", False):
        return update
    guarded = _transactional(update)

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
                if DECLARED_ATTR not in self.__dict__:  # the built-ins' direct path
                    return update(self, *args, **kwargs)
                return guarded(self, *args, **kwargs)
        values = (*args, *kwargs.values())
        backend = partitioned_backend(values)
        if backend is not None:
            return backend.map_update(self, args, kwargs)
        backend = native_backend(values)
        if backend is not None and backend.native_update(self, args, kwargs):
            return None
        return guarded(self, *args, **kwargs)

    routed.__calipers_routed__ = True  # type: ignore[attr-defined]
    return routed


def _transactional(update: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a metric's ``update`` so that, for a metric with declared states, the
    update runs under the metric's lock and an exception rolls every declared state
    back to what it was (a failed update leaves the state unchanged)."""

    @functools.wraps(update)
    def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
        specs = self.__dict__.get(DECLARED_ATTR)
        if not specs:
            return update(self, *args, **kwargs)
        state = self.__dict__
        with self._lock:
            saved = [(name, snapshot(state[name])) for name in specs]
            try:
                return update(self, *args, **kwargs)
            except BaseException:
                for name, value in saved:
                    setattr(self, name, value)
                raise

    return guarded


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

    Subclasses set ``name`` (the registry key) and implement :meth:`update` and
    :meth:`compute`. The state is either

    - **declared** with :meth:`add_state` in ``__init__`` (the usual way): the base
      class then derives :meth:`reset`, :meth:`merge` (thread-safe, exact),
      :meth:`state_dict` / :meth:`load_state_dict`, pickling and copying,
      :meth:`empty_clone`, dask partition merges, bootstrap replicates and
      ``torch.distributed`` :meth:`sync`, and a failed :meth:`update` (one that
      raises) leaves every declared state as it was; or
    - **plain** attributes, with :meth:`reset` and :meth:`merge` (or
      :meth:`_merge_state`) overridden; :meth:`state_dict` and
      :meth:`load_state_dict` then raise ``TypeError`` until they are overridden too.

    Any derived method can still be overridden.

    :attr:`inputs` says what :meth:`update`'s second argument is: ``"labels"`` (the
    default: predicted labels) or ``"scores"`` (scores or probabilities);
    ``calipers eval`` passes the ``--y-pred`` column or the score column accordingly.

    The state must merge exactly: for any split of the data into batches, updating
    separate instances and merging them gives the same :meth:`compute` as one
    instance updated with all of it. :func:`calipers.testing.check_metric` checks it.

    Examples
    --------
    >>> import numpy as np
    >>> from calipers.metrics import Metric
    >>> class PositiveRate(Metric):
    ...     name = "positive_rate"
    ...
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.add_state("positives", 0, merge="sum")
    ...         self.add_state("total", 0, merge="sum")
    ...
    ...     def update(self, y_true, y_pred, sample_weight=None):
    ...         p = np.asarray(y_pred)
    ...         self.positives += int(np.count_nonzero(p == 1))
    ...         self.total += p.size
    ...
    ...     def compute(self):
    ...         return self.positives / self.total if self.total else float("nan")
    >>> a, b = PositiveRate(), PositiveRate()
    >>> a.update([0, 1], [1, 1]); b.update([1], [0])
    >>> a.merge(b).compute()
    0.6666666666666666

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
    #: What :meth:`update`'s second argument is: ``"labels"`` or ``"scores"``.
    inputs: ClassVar[str] = "labels"
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

    # -- declared state ------------------------------------------------------
    def add_state(self, name: str, default: Any, merge: str | Callable[[Any, Any], Any] = "sum"
                  ) -> None:
        """Declare one piece of the metric's state; call it in ``__init__``.

        The attribute ``self.<name>`` is set to a fresh copy of ``default`` and is
        reset to one by :meth:`reset`. :meth:`update` changes it (``self.n += 1``,
        ``self.counts += ...``, ``self.scores.append(...)``), :meth:`compute` reads it.

        Parameters
        ----------
        name : str
            Attribute name: a Python identifier not starting with ``_`` that the
            class does not already use.
        default : int, float, bool, numpy scalar or array, or []
            The empty state. ``merge="cat"`` needs an empty list: the state is a list
            of arrays that :meth:`update` appends to.
        merge : {'sum', 'max', 'min', 'cat'} or callable
            How two states combine: elementwise sum, maximum or minimum (the shapes
            must agree), concatenation of the lists (``cat``, in merge order), or
            ``merge(mine, theirs) -> combined`` (it must not modify its arguments,
            and must be a module-level function for pickling and ``sync``).

        Raises
        ------
        ValueError
            For a bad name, a name declared twice, a default of the wrong kind or an
            unknown merge rule.
        """
        spec = StateSpec.make(type(self), name, default, merge)
        specs = self.__dict__.setdefault(DECLARED_ATTR, {})
        if name in specs:
            raise ValueError(f"state {name!r} is declared twice in {type(self).__name__}")
        specs[name] = spec
        setattr(self, name, fresh(spec.default))

    def _declared(self, what: str) -> dict[str, StateSpec]:
        """The declared states, or a ``TypeError`` naming the fix when there are none."""
        specs = self.__dict__.get(DECLARED_ATTR)
        if not specs:
            cls = type(self).__name__
            raise TypeError(
                f"{cls} declares no state, so {what} cannot be derived: call "
                f"self.add_state(name, default, merge=...) in {cls}.__init__ for every "
                f"piece of state, or override {what} in {cls}"
            )
        return specs

    def reset(self) -> None:
        """Return every declared state to its default, keeping the options."""
        specs = self._declared("reset()")
        with self._lock:
            drop_native(self, fold=True)
            for name, spec in specs.items():
                setattr(self, name, fresh(spec.default))

    def _merge_state(self, other: Metric) -> None:
        """Add ``other``'s declared states to this one's, by each state's merge rule."""
        specs = self._declared("merge()")
        self._check_same_options(other)
        theirs = other.__dict__.get(DECLARED_ATTR) or {}
        if list(theirs) != list(specs):
            raise ValueError(
                f"cannot merge {type(self).__name__} states: declared {list(specs)} here, "
                f"{list(theirs)} in the other metric"
            )
        merged = {name: merge_values(name, spec.merge, getattr(self, name),
                                     getattr(other, name))
                  for name, spec in specs.items()}
        for name, value in merged.items():  # all or nothing
            setattr(self, name, value)

    def _check_same_options(self, other: Metric) -> None:
        mine, theirs = getattr(self, "options", None), getattr(other, "options", None)
        if isinstance(mine, Mapping) and mine != theirs:
            raise ValueError(f"cannot merge {self.name} with options {theirs} into {mine}")

    def state_dict(self) -> dict[str, Any]:
        """Return ``{"name", "state": {declared state: value}}`` (plus ``"options"``
        when the metric has an ``options`` mapping), as copies."""
        specs = self._declared("state_dict()")
        with self._lock:
            flush_native(self)
            out: dict[str, Any] = {"name": self.name}
            options = getattr(self, "options", None)
            if isinstance(options, Mapping):
                out["options"] = dict(options)
            out["state"] = {name: state_copy(getattr(self, name)) for name in specs}
            return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Replace the declared states with those of a :meth:`state_dict`.

        Raises ``ValueError`` (and changes nothing) for another metric's state, other
        options, missing or extra states, or a value of the wrong shape or kind.
        """
        specs = self._declared("load_state_dict()")
        if state.get("name") != self.name:
            raise ValueError(f"state is for metric {state.get('name')!r}, not {self.name!r}")
        options = getattr(self, "options", None)
        if isinstance(options, Mapping) and state.get("options") != dict(options):
            raise ValueError(
                f"state has options {state.get('options')}, this metric has {dict(options)}"
            )
        values = state.get("state")
        if not isinstance(values, Mapping) or set(values) != set(specs):
            got = sorted(values) if isinstance(values, Mapping) else values
            raise ValueError(f"state must hold exactly {sorted(specs)}, got {got}")
        loaded = {name: check_loaded(name, spec, values[name]) for name, spec in specs.items()}
        with self._lock:
            drop_native(self, fold=False)
            for name, value in loaded.items():
                setattr(self, name, value)

    # -- shared behaviour --------------------------------------------------
    def empty_clone(self) -> Metric:
        """Return a new metric with the same options and an empty state.

        Partitioned backends and :func:`calipers.metrics.bootstrap` build one per
        partition / replicate. A metric with an ``options`` property (a mapping of its
        constructor's keyword arguments, as every built-in metric has) is rebuilt
        from it, without copying its state; a metric with declared states is copied
        without them (they start from their defaults); otherwise the metric is
        copied and the copy reset.
        """
        options = getattr(self, "options", None)
        if isinstance(options, Mapping):
            return type(self)(**options)
        specs = self.__dict__.get(DECLARED_ATTR)
        if specs:
            # Copy everything but the declared states, which start empty.
            with self._lock:
                state = self.__getstate__()
            state.pop(NATIVE_ATTR, None)
            for name in specs:
                state.pop(name, None)
            clone = type(self).__new__(type(self))
            clone.__setstate__(copy.deepcopy(state))
            for name, spec in specs.items():
                setattr(clone, name, fresh(spec.default))
            return clone
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
