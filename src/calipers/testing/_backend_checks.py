"""Conformance checks for backends: what every ``register_backend`` class must do.

The checks call the backend's classmethods directly (``accepts``, ``to_numpy``,
``map_update``, ``native_update``), so a backend that is not registered is checked
as it is, not through whichever registered backend claims its arrays. The caller
gives ``from_numpy``, which turns a numpy array into the backend's array type. The
metric checks use the built-in ``f1`` and ``roc_auc`` (binary, with and without
``sample_weight``) and compare with the same metric updated with numpy arrays.
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from calipers.testing._common import Check, fail, run_all

__all__ = ["backend_checks", "check_backend"]

#: (metric name, which array is its second argument)
_METRICS = (("f1", "y_pred"), ("roc_auc", "y_score"))


def _samples() -> list[tuple[str, np.ndarray]]:
    """Arrays a backend must carry exactly: the common dtypes, values that a lossy cast
    changes (2**53 + 1, 1e300, nan), 2-D (C and Fortran order) and empty arrays."""
    rng = np.random.default_rng(0)
    return [
        ("int64", np.array([0, -3, 2**53 + 1, 2**62, 7], dtype=np.int64)),
        ("float64", np.array([0.1, -2.5, 1e300, 5e-324, np.nan, np.inf], dtype=np.float64)),
        ("float32", np.array([0.1, -2.5, 3.4e38, np.nan], dtype=np.float32)),
        ("bool", np.array([True, False, True])),
        ("2-D float64", rng.normal(size=(5, 3))),
        ("2-D int64 (Fortran order)", np.asfortranarray(rng.integers(-9, 9, size=(4, 2)))),
        ("empty float64", np.zeros(0)),
    ]


def _data() -> dict[str, np.ndarray]:
    """40 binary samples (both classes in each half), scores and weights."""
    rng = np.random.default_rng(7)
    y_true = np.tile([0, 1], 20).astype(np.int64)
    rng.shuffle(y_true[:20])
    rng.shuffle(y_true[20:])
    return {
        "y_true": y_true,
        "y_pred": np.where(rng.random(40) < 0.8, y_true, 1 - y_true).astype(np.int64),
        "y_score": np.clip(0.35 * y_true + 0.65 * rng.random(40), 0.0, 1.0),
        "sample_weight": rng.uniform(0.5, 2.0, 40),
    }


class _Setup:
    def __init__(self, backend: Any, from_numpy: Callable[[np.ndarray], Any],
                 rtol: float, atol: float) -> None:
        from calipers import plugins
        from calipers.backends import Backend

        if isinstance(backend, str):
            backend = plugins.get("backend", backend)
        if not inspect.isclass(backend):
            raise TypeError(
                f"backend_checks takes a backend class or a registered name, got "
                f"{type(backend).__name__} {backend!r:.60}"
            )
        if not callable(from_numpy):
            raise TypeError(
                f"from_numpy must turn a numpy array into the backend's array, got "
                f"{from_numpy!r:.60}"
            )
        self.backend, self.from_numpy, self.rtol, self.atol = backend, from_numpy, rtol, atol
        self.base = Backend
        self.subject = f"backend {getattr(backend, 'name', '') or backend.__qualname__!r}"

    @property
    def is_numpy(self) -> bool:
        return getattr(self.backend, "name", "") == "numpy"


def _show(x: np.ndarray) -> str:
    text = np.array2string(x, threshold=8, precision=17, separator=", ", max_line_width=10**6)
    return f"{x.dtype} {' '.join(text.split())}"


def _fmt(value: Any) -> str:
    """A metric value for a message (0-d arrays as their number)."""
    if isinstance(value, np.ndarray):
        return repr(value.item()) if value.ndim == 0 else _show(value)
    return repr(value)


def _numeric(value: Any, backend: Any) -> Any:
    """A metric value as numpy (backend arrays converted, containers walked)."""
    if isinstance(value, Mapping):
        return {k: _numeric(v, backend) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_numeric(v, backend) for v in value]
    if backend.accepts(value):
        return np.asarray(backend.to_numpy(value))
    return np.asarray(value)


def _close(a: Any, b: Any, rtol: float, atol: float) -> bool:
    if isinstance(a, Mapping) or isinstance(b, Mapping):
        return (isinstance(a, Mapping) and isinstance(b, Mapping) and a.keys() == b.keys()
                and all(_close(a[k], b[k], rtol, atol) for k in a))
    if isinstance(a, list) or isinstance(b, list):
        return (isinstance(a, list) and isinstance(b, list) and len(a) == len(b)
                and all(_close(x, y, rtol, atol) for x, y in zip(a, b, strict=True)))
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "biuf" and b.dtype.kind in "biuf":
        return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))
    return bool(np.array_equal(a, b))


def _same_state(a: Any, b: Any) -> bool:
    """Exact equality of two ``state_dict`` results (nested dicts, lists, arrays)."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same_state(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_state(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and a.dtype == b.dtype and bool(
            np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    return type(a) is type(b) and (a == b or (a != a and b != b))


# -- the checks ------------------------------------------------------------------------
def check_capabilities_implemented(s: _Setup) -> None:
    """A non-empty ``name``; ``accepts`` and ``to_numpy`` callable on the class; every
    capability flag (``partitioned``, ``native``, ``distributed``) backed by its method
    (``map_update``, ``native_update``, ``sync``) overriding :class:`Backend`'s."""
    rule = "check_capabilities_implemented"
    b = s.backend
    name = getattr(b, "name", None)
    if not isinstance(name, str) or not name or name != name.strip():
        raise fail(rule, s.subject, f"its name is {name!r}",
                   "set the class attribute name to a non-empty string, e.g. 'mylib'")
    for method in ("accepts", "to_numpy"):
        if not callable(getattr(b, method, None)) or getattr(
                getattr(b, method), "__isabstractmethod__", False):
            raise fail(rule, s.subject, f"{method} is not implemented",
                       f"implement {method} as a classmethod (backends are used as classes)")
    for flag, method in (("partitioned", "map_update"), ("native", "native_update"),
                         ("distributed", "sync")):
        impl = getattr(b, method, None)
        inherited = getattr(impl, "__func__", None) is getattr(s.base, method).__func__
        if getattr(b, flag, False) and (inherited or not callable(impl)):
            raise fail(rule, s.subject, f"it sets {flag} = True but keeps Backend.{method}",
                       f"implement the classmethod {method}, or set {flag} = False")


def check_accepts_own_arrays(s: _Setup) -> None:
    """``accepts(from_numpy(x))`` is ``True`` for every sample array (all dtypes, 2-D,
    Fortran order, empty)."""
    rule = "check_accepts_own_arrays"
    for label, x in _samples():
        y = s.from_numpy(x)
        claimed = s.backend.accepts(y)
        if claimed is not True and claimed is not np.True_:
            raise fail(rule, s.subject,
                       f"accepts(from_numpy(x)) returned {claimed!r} for a {label} array "
                       f"({type(y).__module__}.{type(y).__qualname__})",
                       "return True (a bool) for every array of the backend's own type")


def check_numpy_round_trip(s: _Setup) -> None:
    """``to_numpy(from_numpy(x))`` is a numpy array with ``x``'s shape, dtype and values
    (nan where ``x`` has nan), for int64, float64, float32, bool, 2-D and empty ``x``."""
    rule = "check_numpy_round_trip"
    for label, x in _samples():
        got = s.backend.to_numpy(s.from_numpy(x.copy()))
        problem = None
        if not isinstance(got, np.ndarray):
            problem = f"a {type(got).__module__}.{type(got).__qualname__}, not a numpy array"
        elif got.shape != x.shape:
            problem = f"shape {got.shape} instead of {x.shape}"
        elif got.dtype != x.dtype:
            problem = f"dtype {got.dtype} instead of {x.dtype}: {_show(got)}"
        elif not np.array_equal(got, x, equal_nan=x.dtype.kind == "f"):
            same = got == x
            if x.dtype.kind == "f":
                same |= np.isnan(got) & np.isnan(x)
            bad = tuple(int(i) for i in np.argwhere(~same)[0])
            problem = f"{got[bad].item()!r} at index {bad} where x has {x[bad].item()!r}"
        if problem:
            raise fail(rule, s.subject,
                       f"to_numpy(from_numpy(x)) for the {label} array x = {_show(x)} "
                       f"returned {problem}",
                       "return the array's own values, shape and dtype (np.asarray of the "
                       "host data; never cast, offset or reshape)")


def check_accepts_only_own_types(s: _Setup) -> None:
    """``accepts`` returns a bool and never raises on foreign values (``None``, str,
    bytes, dict, numbers, ``object()``); a backend other than ``numpy`` claims none of
    them nor numpy arrays, lists or tuples (it would take numpy's input), and the
    ``numpy`` backend claims numpy arrays, lists, tuples and numbers."""
    rule = "check_accepts_only_own_types"
    numpy_like = [np.arange(3), [1, 2], (1, 2), np.float64(1.5), 3, 2.5]
    foreign = [None, "text", b"bytes", {"a": 1}, True, object()]
    for value in numpy_like + foreign:
        try:
            claimed = s.backend.accepts(value)
        except Exception as err:  # noqa: BLE001 (the rule is that it does not raise)
            raise fail(rule, s.subject,
                       f"accepts({value!r:.40}) raised {type(err).__name__}: {err}",
                       "return False for values of other types: test isinstance against "
                       "the library's array types before touching attributes") from err
        if not isinstance(claimed, (bool, np.bool_)):
            raise fail(rule, s.subject,
                       f"accepts({value!r:.40}) returned {type(claimed).__name__} "
                       f"{claimed!r:.40}", "return a bool")
        numpyish = any(value is v for v in numpy_like)
        if s.is_numpy and numpyish and not claimed:
            raise fail(rule, s.subject, f"the numpy backend does not claim {value!r}",
                       "claim everything np.asarray converts: arrays, lists, tuples, numbers")
        if not s.is_numpy and claimed:
            raise fail(rule, s.subject,
                       f"accepts({value!r:.40}) returned True for a "
                       f"{type(value).__name__}, which is not the backend's own array type",
                       "claim only the library's own array types; numpy arrays, lists and "
                       "scalars belong to the numpy backend (backend_for asks plugin "
                       "backends first, so a wider accepts takes every numpy call)")


def _split(s: _Setup, second: str, weighted: bool, bad: bool = False
           ) -> tuple[tuple[Any, ...], tuple[Any, ...], dict[str, Any], dict[str, Any]]:
    """Head (numpy) and tail (backend arrays) arguments of an update; with ``bad``,
    the tail's last label is 2 (out of range for a binary metric)."""
    d = _data()
    if bad:
        d["y_true"][-1] = 2
    head = (d["y_true"][:20], d[second][:20])
    tail = (s.from_numpy(d["y_true"][20:].copy()), s.from_numpy(d[second][20:].copy()))
    head_kw = {"sample_weight": d["sample_weight"][:20]} if weighted else {}
    tail_kw = {"sample_weight": s.from_numpy(d["sample_weight"][20:].copy())} if weighted else {}
    return head, tail, head_kw, tail_kw


def _reference(name: str, second: str, weighted: bool) -> Any:
    import calipers

    d = _data()
    ref = calipers.metric(name)
    ref.update(d["y_true"], d[second], **({"sample_weight": d["sample_weight"]}
                                           if weighted else {}))
    return ref.compute()


def _cases() -> Iterator[tuple[str, str, bool]]:
    for name, second in _METRICS:
        for weighted in (False, True):
            yield name, second, weighted


def _label(name: str, weighted: bool) -> str:
    return f"{name!r}" + (" with sample_weight" if weighted else "")


def _native(s: _Setup, metric: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """What a metric's update does with a native backend's arrays: ``native_update``,
    else the host path on ``to_numpy`` copies."""
    if not s.backend.native_update(metric, args, kwargs):
        metric.update(*(s.backend.to_numpy(a) if s.backend.accepts(a) else a for a in args),
                      **{k: s.backend.to_numpy(v) if s.backend.accepts(v) else v
                         for k, v in kwargs.items()})


def _update_matches(s: _Setup, rule: str, run: Callable[..., None], how: str, fix: str) -> None:
    import calipers

    for name, second, weighted in _cases():
        head, tail, head_kw, tail_kw = _split(s, second, weighted)
        metric = calipers.metric(name)
        metric.update(*head, **head_kw)
        run(s, metric, tail, tail_kw)
        got, want = _numeric(metric.compute(), s.backend), _reference(name, second, weighted)
        if not _close(got, want, s.rtol, s.atol):
            raise fail(rule, s.subject,
                       f"{_label(name, weighted)} updated with 20 numpy samples, then {how} "
                       f"with 20 of its arrays computed {_fmt(got)}; all 40 in memory give "
                       f"{_fmt(np.asarray(want))}", fix)


def _failure_unchanged(s: _Setup, rule: str, run: Callable[..., None], how: str,
                       fix: str) -> None:
    import calipers

    for name, second, weighted in _cases():
        head, tail, head_kw, tail_kw = _split(s, second, weighted, bad=True)
        metric = calipers.metric(name)
        metric.update(*head, **head_kw)
        state, value = metric.state_dict(), _numeric(metric.compute(), s.backend)
        try:
            run(s, metric, tail, tail_kw)
            raised = False
        except Exception:  # noqa: BLE001 (any error is the refusal the rule wants)
            raised = True
        try:
            after = _numeric(metric.compute(), s.backend)
        except ValueError as err:  # a refusal may be reported at the next host-side read
            if raised:
                raise fail(rule, s.subject,
                           f"{how} of {_label(name, weighted)} raised, and then compute() "
                           f"raised too ({err})", fix) from err
            raised = True
            try:
                after = _numeric(metric.compute(), s.backend)
            except ValueError as again:
                raise fail(rule, s.subject,
                           f"after {how} of {_label(name, weighted)} with a bad label, "
                           f"compute() raised twice ({again})",
                           "report a refused batch once, then compute from the other "
                           "batches") from again
        if not raised:
            raise fail(rule, s.subject,
                       f"{how} of {_label(name, weighted)} with label 2 in its last sample "
                       "raised nothing (the numpy path raises ValueError)", fix)
        if not (_same_state(metric.state_dict(), state) and _close(after, value, 0, 0)):
            raise fail(rule, s.subject,
                       f"{how} of {_label(name, weighted)} failed on label 2 in its last "
                       f"sample but changed the metric: compute() {_fmt(value)} -> {_fmt(after)}",
                       fix)


def _partitioned(s: _Setup, metric: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    s.backend.map_update(metric, args, kwargs)


def check_partitioned_update_matches_memory(s: _Setup) -> None:
    """``map_update`` with the backend's arrays (into a metric already holding numpy
    samples) gives the ``compute()`` of one in-memory update (``f1``, ``roc_auc``,
    with and without weights)."""
    _update_matches(s, "check_partitioned_update_matches_memory", _partitioned,
                    "map_update",
                    "update one metric.empty_clone() per partition with every argument's "
                    "matching partition (sample_weight included) and merge all of them "
                    "into the metric")


def check_partitioned_failure_leaves_metric_unchanged(s: _Setup) -> None:
    """A ``map_update`` whose last partition fails raises and leaves the metric's
    ``state_dict()`` and ``compute()`` as they were."""
    _failure_unchanged(s, "check_partitioned_failure_leaves_metric_unchanged", _partitioned,
                       "map_update",
                       "merge the partition states into the metric only after every "
                       "partition succeeded, and let the partition's error propagate")


def check_native_update_matches_numpy(s: _Setup) -> None:
    """``native_update`` with the backend's arrays (mixed with a numpy update) gives
    the ``compute()`` of the numpy path, up to ``rtol`` / ``atol``."""
    _update_matches(s, "check_native_update_matches_numpy", _native, "native_update",
                    "compute on the device what the host path computes (same counts, "
                    "sample_weight applied), or return False for calls without a kernel")


def check_native_failure_leaves_state_unchanged(s: _Setup) -> None:
    """A ``native_update`` with a bad label raises (at the update, or at the next
    ``compute()``) and leaves ``state_dict()`` and ``compute()`` as they were."""
    _failure_unchanged(s, "check_native_failure_leaves_state_unchanged", _native,
                       "native_update",
                       "refuse the whole batch: check it before adding to the state (or "
                       "count it into a scratch state added only when valid), and raise at "
                       "the update or at the next flush")


def backend_checks(backend: Any, from_numpy: Callable[[np.ndarray], Any], *,
                   rtol: float = 1e-9, atol: float = 1e-12) -> Iterator[Check]:
    """Yield the backend checks that apply to ``backend``.

    Parameters
    ----------
    backend : type or str
        A backend class (registered or not) or a registered name.
    from_numpy : callable
        ``from_numpy(x) -> array`` of the backend's type holding numpy array ``x``
        (numpy: ``np.asarray``; dask: ``lambda x: da.from_array(x, chunks=7)``,
        small chunks so that updates span several partitions; torch:
        ``torch.from_numpy``).
    rtol, atol : float
        Tolerances of the native comparison with the numpy path.

    Yields
    ------
    Check
        ``check_capabilities_implemented``, ``check_accepts_own_arrays``,
        ``check_numpy_round_trip``, ``check_accepts_only_own_types``; for a
        partitioned backend ``check_partitioned_update_matches_memory`` and
        ``check_partitioned_failure_leaves_metric_unchanged``; for a native one
        ``check_native_update_matches_numpy`` and
        ``check_native_failure_leaves_state_unchanged``.
    """
    for tol in (rtol, atol):
        if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not tol >= 0:
            raise ValueError(f"rtol and atol must be numbers >= 0, got {tol!r}")
    s = _Setup(backend, from_numpy, float(rtol), float(atol))
    checks: list[Callable[[_Setup], None]] = [
        check_capabilities_implemented,
        check_accepts_own_arrays,
        check_numpy_round_trip,
        check_accepts_only_own_types,
    ]
    if getattr(s.backend, "partitioned", False):
        checks += [check_partitioned_update_matches_memory,
                   check_partitioned_failure_leaves_metric_unchanged]
    if getattr(s.backend, "native", False):
        checks += [check_native_update_matches_numpy,
                   check_native_failure_leaves_state_unchanged]
    for check in checks:
        yield Check(check.__name__, s.subject, _bind(check, s))


def _bind(check: Callable[[_Setup], None], s: _Setup) -> Callable[[], None]:
    def run() -> None:
        check(s)

    return run


def check_backend(backend: Any, from_numpy: Callable[[np.ndarray], Any], **kwargs: Any) -> None:
    """Run every backend check that applies (keyword arguments: :func:`backend_checks`'s);
    raise the first :class:`~calipers.testing.CheckFailure`."""
    run_all(backend_checks(backend, from_numpy, **kwargs))
