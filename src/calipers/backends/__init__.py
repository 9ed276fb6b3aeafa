"""Array backends: how array types (numpy, torch, dask, ...) reach the metric kernels.

The compiled kernels take contiguous numpy buffers. A :class:`Backend` claims one
family of array types (:meth:`Backend.accepts`) and turns them into numpy arrays
(:meth:`Backend.to_numpy`), so metrics never need to know which library produced
their input. Plugins add backends with the ``register_backend`` hook; the host ships
:class:`NumpyBackend`, which takes anything :func:`numpy.asarray` understands.

:func:`backend_for` picks the backend of a value: the first plugin backend that
accepts it, else numpy.
"""

from __future__ import annotations

import abc
import numbers
from typing import Any, ClassVar

import numpy as np

import calipers

__all__ = ["Backend", "NumpyBackend", "backend_for"]

# Exact types that only numpy can mean; checked first so that the common case does
# not load the plugin registry or ask every plugin backend.
_NUMPY_FAST_TYPES = (np.ndarray, list, tuple)


class Backend(abc.ABC):
    """Base class of array backends.

    A backend is used through its class: every method is a classmethod and a
    backend has no per-instance state. Subclasses set :attr:`name` and implement
    :meth:`accepts` and :meth:`to_numpy`, then are returned from a plugin's
    ``register_backend`` hook.

    Later versions may add optional methods that run metric or optimizer kernels
    natively on the backend's arrays (for instance keeping a metric's state on a
    GPU); a backend that does not define them is served by :meth:`to_numpy`.
    """

    #: Registry name, e.g. ``"torch"``.
    name: ClassVar[str] = ""

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
