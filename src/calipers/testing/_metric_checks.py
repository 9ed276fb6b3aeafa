"""Conformance checks for metrics: exact merges, round trips, failed updates, dask.

Every check takes a metric instance (its options are kept; the instance itself is
never changed: checks work on :meth:`~calipers.metrics.Metric.empty_clone` copies)
and batches of data for its ``update``: generated from the metric's ``task`` /
``num_classes`` / ``num_labels`` by default, or given by ``data``.
"""

from __future__ import annotations

import atexit
import copy
import dataclasses
import inspect
import os
import pickle
import struct
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from calipers.testing._common import Check, fail, run_all

__all__ = ["check_metric", "default_data", "metric_checks"]

#: rtol / atol of "the same number" (merges may add in another order).
RTOL, ATOL = 1e-9, 1e-12
#: Rows of data per check, cut into uneven batches (one empty, one of a single row).
N_ROWS = 120

Batch = tuple[tuple[Any, ...], dict[str, Any]]


# -- data -------------------------------------------------------------------------


def default_data(metric: Any) -> Callable[[np.random.Generator, int], Batch]:
    """The data the checks feed ``metric`` when none is given.

    From the metric's ``task`` attribute (binary when it has none): binary 0/1
    labels with scores in [0, 1]; multiclass labels in ``[0, num_classes)`` with
    probability rows; multilabel 0/1 indicators with scores, both of shape
    ``(n, num_labels)``. Sample weights are added when ``update`` takes
    ``sample_weight``. ``ndcg`` gets relevances and scores of shape (n, 4), ``map``
    query ids.

    Returns
    -------
    callable
        ``data(rng, n) -> (args, kwargs)`` for one batch of ``n`` rows.
    """
    name = getattr(metric, "name", "")
    task = getattr(metric, "task", "binary")
    weighted = "sample_weight" in inspect.signature(metric.update).parameters

    def data(rng: np.random.Generator, n: int) -> Batch:
        kwargs: dict[str, Any] = {}
        if name == "ndcg":
            args: tuple[Any, ...] = (rng.integers(0, 4, (n, 4)), rng.random((n, 4)))
        elif task == "multiclass":
            k = int(getattr(metric, "num_classes", None) or 3)
            p = rng.random((n, k)) + 0.05
            args = (rng.integers(0, k, n), p / p.sum(axis=1, keepdims=True))
        elif task == "multilabel":
            k = int(getattr(metric, "num_labels", None) or 3)
            args = (rng.integers(0, 2, (n, k)), rng.random((n, k)))
        else:
            args = (rng.integers(0, 2, n), rng.random(n))
        if name == "map":
            kwargs["query_ids"] = rng.integers(0, 6, n)
        if weighted:
            kwargs["sample_weight"] = rng.random(n) + 0.1
        return args, kwargs

    return data


def _as_batch(value: Any) -> Batch:
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], tuple) \
            and isinstance(value[1], Mapping):
        return value[0], dict(value[1])
    if isinstance(value, Mapping):
        return (), dict(value)
    if isinstance(value, tuple):
        return value, {}
    raise TypeError(
        "data(rng, n) must return a tuple of update's positional arguments, a dict of its "
        f"keyword arguments, or (args, kwargs); got {type(value).__name__}"
    )


def _rows(batch: Batch, index: np.ndarray, n: int) -> Batch:
    """The rows ``index`` of every array argument with ``n`` rows."""
    def take(x: Any) -> Any:
        if isinstance(x, np.ndarray) and x.ndim and x.shape[0] == n:
            return x[index]
        return x

    args, kwargs = batch
    return tuple(take(a) for a in args), {k: take(v) for k, v in kwargs.items()}


def _split(rng: np.random.Generator, n: int, parts: int = 6) -> list[np.ndarray]:
    """Consecutive pieces of ``range(n)``: an empty one, the first row alone, then
    ``parts - 2`` uneven ones."""
    cuts = np.sort(rng.integers(0, n - 1, parts - 3))
    return [np.arange(0), np.arange(1), *np.split(np.arange(1, n), cuts)]


# -- comparing results ------------------------------------------------------------


def _to_host(x: Any) -> Any:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor
        return x.detach().cpu().numpy()
    return x


def _fields(x: Any) -> Any:
    """A dataclass result (a curve) as a dict of its fields."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: getattr(x, f.name) for f in dataclasses.fields(x)}
    return x


def _diff(a: Any, b: Any, exact: bool, where: str = "value") -> str | None:
    """Where ``a`` and ``b`` differ (None when they agree)."""
    a, b = _fields(_to_host(a)), _fields(_to_host(b))
    if isinstance(a, Mapping) or isinstance(b, Mapping):
        if not (isinstance(a, Mapping) and isinstance(b, Mapping)) or set(a) != set(b):
            return f"{where}: keys {sorted(map(str, a))} vs {sorted(map(str, b))}" \
                if isinstance(a, Mapping) and isinstance(b, Mapping) else f"{where}: types differ"
        for k in a:
            d = _diff(a[k], b[k], exact, f"{where}[{k!r}]")
            if d:
                return d
        return None
    if isinstance(a, (tuple, list)) and not isinstance(a, str):
        if not isinstance(b, (tuple, list)) or len(a) != len(b):
            return f"{where}: {len(a)} items vs {b!r:.80}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            d = _diff(x, y, exact, f"{where}[{i}]")
            if d:
                return d
        return None
    try:
        x, y = np.asarray(a), np.asarray(b)
    except Exception:  # not array-like: compare as objects
        return None if a == b else f"{where}: {a!r:.80} vs {b!r:.80}"
    if x.dtype == object or y.dtype == object:
        return None if a == b else f"{where}: {a!r:.80} vs {b!r:.80}"
    if x.shape != y.shape:
        return f"{where}: shape {x.shape} vs {y.shape}"
    if x.dtype.kind in "biufc" and y.dtype.kind in "biufc":
        if exact:
            same = np.array_equal(x, y, equal_nan=x.dtype.kind in "fc" or y.dtype.kind in "fc")
        else:
            same = np.allclose(x, y, rtol=RTOL, atol=ATOL, equal_nan=True)
        if not same:
            return f"{where}: {np.array2string(x, threshold=8)} vs " \
                   f"{np.array2string(y, threshold=8)}"
        return None
    return None if np.array_equal(x, y) else f"{where}: {a!r:.80} vs {b!r:.80}"


def _compute(metric: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return metric.compute()


# -- the cross-process round trip ---------------------------------------------------
# One worker process (a fresh interpreter with this one's sys.path), kept for every
# check: length-prefixed pickles over its stdin / stdout. A plain subprocess, not
# multiprocessing, so that scripts without a ``__main__`` guard can run the checks.


class _Worker:
    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
            self._proc = subprocess.Popen(
                [sys.executable, "-c", "from calipers.testing._metric_checks import _serve; "
                 "_serve()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
            atexit.register(self.close)
        return self._proc

    def call(self, payload: bytes) -> Any:
        """Send a pickled job; return the unpickled answer (re-raising its error)."""
        with self._lock:
            proc = self._start()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                _send(proc.stdin, payload)
                answer = _receive(proc.stdout)
            except (OSError, EOFError):
                self.close()
                raise RuntimeError("the worker process died") from None
        ok, value = pickle.loads(answer)
        if not ok:
            raise value
        return value

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


def _send(stream: Any, data: bytes) -> None:
    stream.write(struct.pack("<Q", len(data)))
    stream.write(data)
    stream.flush()


def _receive(stream: Any) -> bytes:
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError
    (size,) = struct.unpack("<Q", head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return data


def _serve() -> None:
    """The worker's loop: unpickle (metric, batches), update, answer the metric."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            payload = _receive(stdin)
        except EOFError:
            return
        try:
            metric, batches = pickle.loads(payload)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for args, kwargs in batches:
                    metric.update(*args, **kwargs)
            answer = pickle.dumps((True, metric))
        except Exception as exc:  # noqa: BLE001 - sent back to the caller
            answer = pickle.dumps((False, RuntimeError(f"{type(exc).__name__}: {exc}")))
        _send(stdout, answer)


_WORKER = _Worker()


# -- the checks ---------------------------------------------------------------------


class _Subject:
    """The metric under check, its data, and helpers the checks share."""

    def __init__(self, metric: Any, data: Callable[..., Any] | None, seed: int) -> None:
        self.metric = metric
        self.label = f"metric {getattr(metric, 'name', type(metric).__name__)!r}"
        self.data = data or default_data(metric)
        self.seed = seed

    def batch(self, seed: int, n: int = N_ROWS) -> Batch:
        return _as_batch(self.data(np.random.default_rng([self.seed, seed]), n))

    def parts(self, seed: int) -> list[Batch]:
        """One batch of ``N_ROWS`` cut into uneven parts (one empty, one single row)."""
        whole = self.batch(seed)
        rng = np.random.default_rng([self.seed, seed, 1])
        return [_rows(whole, idx, N_ROWS) for idx in _split(rng, N_ROWS)]

    def fresh(self) -> Any:
        return self.metric.empty_clone()

    def updated(self, batches: list[Batch], into: Any = None) -> Any:
        m = self.fresh() if into is None else into
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for args, kwargs in batches:
                m.update(*args, **kwargs)
        return m

    def whole(self, seed: int) -> Any:
        return self.updated([self.batch(seed)])

    def expect(self, rule: str, got: Any, want: Any, what: str, fix: str,
               exact: bool = False) -> None:
        d = _diff(got, want, exact)
        if d is not None:
            raise fail(rule, self.label, f"{what} ({d})", fix)


def _check_merge_exact(s: _Subject) -> None:
    rule = "check_merge_exact"
    for seed in range(3):
        want = _compute(s.whole(seed))
        parts = [s.updated([b]) for b in s.parts(seed)]
        merged = parts[0].merge(*parts[1:])
        if merged is None:
            raise fail(rule, s.label, "merge() returned None",
                       "return self from merge(), as Metric.merge does")
        s.expect(rule, _compute(merged), want,
                 "metrics updated on separate batches (one empty, one of a single row) and "
                 "merged do not compute the same value as one metric updated with all rows",
                 "keep a state that adds up exactly (counts, sums, every sample) instead of "
                 "per-batch results such as averages; declare it with add_state")
        streamed = s.updated(s.parts(seed))
        s.expect(rule, _compute(streamed), want,
                 "updating one metric batch by batch differs from one update with all rows",
                 "make update() add each batch to the state, whatever its size (an empty "
                 "batch adds nothing)")


def _check_merge_order(s: _Subject) -> None:
    rule = "check_merge_order"
    forward = [s.updated([b]) for b in s.parts(3)]
    backward = [s.updated([b]) for b in s.parts(3)][::-1]
    a = forward[0].merge(*forward[1:])
    b = backward[0]
    for other in backward[1:]:
        b.merge(other)
    s.expect(rule, _compute(a), _compute(b),
             "merging the same parts in another order gives another value",
             "make merging commutative and associative (sums, max, min, or concatenation "
             "whose result compute() does not depend on the order)")


def _check_pickle_roundtrip(s: _Subject) -> None:
    rule = "check_pickle_roundtrip"
    m = s.whole(4)
    try:
        back = pickle.loads(pickle.dumps(m))
    except Exception as exc:
        raise fail(rule, s.label, f"pickling failed: {type(exc).__name__}: {exc}",
                   "keep only picklable values in the metric (no lambdas, locks, open "
                   "files); Metric's own lock is handled for you") from exc
    s.expect(rule, _compute(back), _compute(m), "a pickled and unpickled copy computes "
             "another value", "keep the whole state in instance attributes")
    more = s.parts(5)
    s.expect(rule, _compute(s.updated(more, into=back)), _compute(s.updated(more, into=m)),
             "an unpickled copy updated further differs from the original updated the same",
             "restore every attribute update() uses when unpickling (__setstate__)")


def _check_copy_independent(s: _Subject) -> None:
    rule = "check_copy_independent"
    m = s.whole(6)
    before = _compute(m)
    for how, dup in (("copy.deepcopy", copy.deepcopy), ("empty_clone", lambda x: x.empty_clone())):
        other = dup(m)
        s.updated(s.parts(7), into=other)
        s.expect(rule, _compute(m), before,
                 f"updating a {how} of the metric changed the original",
                 "do not share mutable state (arrays, lists) between copies; copy default "
                 "values (add_state does) instead of reusing one object")
    clone = m.empty_clone()
    s.expect(rule, _compute(s.updated([s.batch(8)], into=clone)), _compute(s.whole(8)),
             "empty_clone() carries data over from the original",
             "empty_clone must return a metric with the same options and an empty state")


def _check_state_dict_roundtrip(s: _Subject) -> None:
    rule = "check_state_dict_roundtrip"
    m = s.whole(9)
    sd = m.state_dict()
    frozen = copy.deepcopy(sd)
    back = s.fresh()
    back.load_state_dict(sd)
    s.expect(rule, _compute(back), _compute(m),
             "load_state_dict(state_dict()) into an empty metric computes another value",
             "state_dict must return the whole state and load_state_dict restore it")
    share = "return copies from state_dict and keep copies in load_state_dict"
    s.updated(s.parts(10), into=m)
    s.expect(rule, _compute(back), _compute(s.whole(9)),
             "updating a metric changed another metric loaded from its state_dict", share)
    s.expect(rule, sd, frozen, "updating a metric changed the state_dict it returned "
             "earlier", share, exact=True)
    s.updated(s.parts(10), into=back)
    s.expect(rule, sd, frozen, "updating a metric changed the state_dict it was loaded "
             "from", share, exact=True)


def _check_across_processes(s: _Subject) -> None:
    rule = "check_across_processes"
    m = s.whole(11)
    more = s.parts(12)
    try:
        remote = _WORKER.call(pickle.dumps((m, more)))
    except Exception as exc:
        raise fail(rule, s.label, f"the metric could not be updated in another process: "
                   f"{type(exc).__name__}: {exc}",
                   "define the metric class at the top level of an importable module and "
                   "keep its state picklable") from exc
    s.expect(rule, _compute(remote), _compute(s.updated(more, into=m)),
             "a metric pickled to another process and updated there computes another value",
             "keep the whole state in the instance (no globals or class-level state)")


def _failing_variants(batch: Batch, n: int) -> Iterator[tuple[str, Batch]]:
    """Malformed versions of a batch whose problem is in its last row."""
    args, kwargs = batch
    values = [*args, *kwargs.values()]
    arrays = [i for i, v in enumerate(values) if isinstance(v, np.ndarray) and v.ndim
              and v.shape[0] == n]

    def rebuild(new: list[Any]) -> Batch:
        return tuple(new[: len(args)]), dict(zip(kwargs, new[len(args):], strict=True))

    if len(arrays) >= 2:
        new = list(values)
        new[arrays[1]] = values[arrays[1]][:-1]
        yield "arrays of different lengths", rebuild(new)
    floats = [i for i in arrays if values[i].dtype.kind == "f"]
    if floats:
        new = [v.copy() if i in floats else v for i, v in enumerate(values)]
        for i in floats:
            new[i][-1] = np.nan
        yield "NaN in the last row", rebuild(new)
    ints = [i for i in arrays if values[i].dtype.kind in "iu"]
    for bad in (10**6, -1):
        if ints:
            new = [v.copy() if i in ints else v for i, v in enumerate(values)]
            for i in ints:
                if bad < 0 and new[i].dtype.kind == "u":
                    continue
                new[i][-1] = bad
            yield f"label {bad} in the last row", rebuild(new)


def _check_failed_update_unchanged(s: _Subject) -> None:
    rule = "check_failed_update_unchanged"
    first, then = s.batch(13), s.batch(14, n=N_ROWS // 2)
    want = _compute(s.updated([first, then]))
    for what, bad in _failing_variants(s.batch(15), N_ROWS):
        m = s.updated([first])
        before = _compute(m)
        try:
            s.updated([bad], into=m)
        except Exception:  # noqa: BLE001 - any refusal is fine; what matters is the state
            pass
        else:
            continue  # accepted: this rule is about refused batches only
        s.expect(rule, _compute(m), before,
                 f"an update that raised (batch with {what}) changed the state",
                 "validate the whole batch before changing the state, or declare the "
                 "state with add_state (a failed update then rolls it back)", exact=True)
        s.expect(rule, _compute(s.updated([then], into=m)), want,
                 f"after an update that raised (batch with {what}), further updates give "
                 "another value than without it", "leave no partial batch in the state")


def _check_reset(s: _Subject) -> None:
    rule = "check_reset"
    m = s.whole(16)
    m.reset()
    s.expect(rule, _compute(s.updated([s.batch(17)], into=m)), _compute(s.whole(17)),
             "after reset(), the metric still remembers data from before",
             "reset() must return every piece of state to empty, keeping the options")


def _check_concurrent_merges(s: _Subject) -> None:
    rule = "check_concurrent_merges"
    parts = [s.updated([b]) for b in s.parts(18)] + [s.updated([b]) for b in s.parts(19)]
    target = s.fresh()
    errors: list[BaseException] = []

    def merge(part: Any) -> None:
        try:
            target.merge(part)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=merge, args=(p,)) for p in parts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise fail(rule, s.label, f"a merge from another thread raised "
                   f"{type(errors[0]).__name__}: {errors[0]}",
                   "guard merge with the metric's lock (Metric.merge does)")
    s.expect(rule, _compute(target), _compute(s.updated(s.parts(18) + s.parts(19))),
             f"{len(parts)} threads merging into one metric at once lose or double data",
             "do every merge under self._lock (Metric.merge does; an overridden merge must "
             "too)")


def _dask_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("dask") is not None


def _check_dask_partitions(s: _Subject) -> None:
    rule = "check_dask_partitions"
    import dask
    import dask.array as da

    args, kwargs = s.batch(20)

    def chunked(x: Any) -> Any:
        if isinstance(x, np.ndarray) and x.ndim and x.shape[0] == N_ROWS:
            return da.from_array(x, chunks=(37, *x.shape[1:]))
        return x

    m = s.fresh()
    with dask.config.set(scheduler="synchronous"):
        try:
            m.update(*map(chunked, args), **{k: chunked(v) for k, v in kwargs.items()})
        except Exception as exc:
            raise fail(rule, s.label, f"update with dask arrays raised {type(exc).__name__}: "
                       f"{exc}", "derive the metric from calipers.metrics.Metric (its update "
                       "routes dask arrays to the dask backend) and make empty_clone and "
                       "merge work") from exc
    s.expect(rule, _compute(m), _compute(s.whole(20)),
             "updating with dask arrays (4 partitions) differs from the same numpy arrays",
             "make merge exact: each partition updates an empty_clone() that is merged in")


_CHECKS: tuple[Callable[[_Subject], None], ...] = (
    _check_merge_exact, _check_merge_order, _check_pickle_roundtrip, _check_copy_independent,
    _check_state_dict_roundtrip, _check_across_processes, _check_failed_update_unchanged,
    _check_reset, _check_concurrent_merges, _check_dask_partitions,
)


def _has_state_dict(metric: Any) -> bool:
    try:
        metric.empty_clone().state_dict()
    except TypeError as exc:  # the plain form: no declared state, no override
        return "declares no state" not in str(exc)
    return True


def metric_checks(metric: Any, data: Callable[..., Any] | None = None, *, seed: int = 0,
                  processes: bool = True, dask: bool | str = "auto") -> Iterator[Check]:
    """Yield the conformance checks of a metric, one :class:`Check` per rule.

    Parameters
    ----------
    metric : Metric
        The metric (with the options to check). It is not modified.
    data : callable, optional
        ``data(rng, n)`` returns one batch of ``n`` rows for ``update``: a tuple of
        positional arguments, a dict of keyword arguments, or ``(args, kwargs)``.
        Arrays whose first dimension is ``n`` are cut into rows. Default:
        :func:`default_data`.
    seed : int
        Seed of the generated data.
    processes : bool
        Include ``check_across_processes`` (spawns one worker process, reused).
    dask : bool or 'auto'
        Include ``check_dask_partitions``; 'auto': when dask is installed.

    Yields
    ------
    Check
        ``check_merge_exact``, ``check_merge_order``, ``check_pickle_roundtrip``,
        ``check_copy_independent``, ``check_state_dict_roundtrip`` (when the metric
        has a state_dict: declared states or its own), ``check_across_processes``,
        ``check_failed_update_unchanged``, ``check_reset``,
        ``check_concurrent_merges`` and ``check_dask_partitions``.
    """
    for attr in ("update", "compute", "merge", "reset", "empty_clone"):
        if not callable(getattr(metric, attr, None)):
            raise TypeError(
                f"metric_checks needs a metric instance with {attr}(); got {metric!r}. "
                "Derive from calipers.metrics.Metric"
            )
    subject = _Subject(metric, data, seed)
    use_dask = _dask_available() if dask == "auto" else bool(dask)
    for check in _CHECKS:
        rule = check.__name__[1:]
        if rule == "check_state_dict_roundtrip" and not _has_state_dict(metric):
            continue
        if rule == "check_across_processes" and not processes:
            continue
        if rule == "check_dask_partitions" and not use_dask:
            continue
        yield Check(rule, subject.label, _bind(check, subject))


def _bind(check: Callable[[_Subject], None], subject: _Subject) -> Callable[[], None]:
    def run() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check(subject)

    return run


def check_metric(metric: Any, data: Callable[..., Any] | None = None, **kwargs: Any) -> None:
    """Run every metric check (see :func:`metric_checks`); raise the first failure.

    Raises
    ------
    CheckFailure
        Naming the broken rule, what happened and how to fix it.
    """
    run_all(metric_checks(metric, data, **kwargs))
