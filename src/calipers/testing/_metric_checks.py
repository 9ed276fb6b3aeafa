"""Conformance checks for metrics: exact merges, round trips, failed updates, dask.

Every check takes a metric instance (its options are kept; the instance itself is
never changed: checks work on :meth:`~calipers.metrics.Metric.empty_clone` copies)
and batches of data for its ``update``: generated from the metric's ``task`` /
``num_classes`` / ``num_labels`` by default, or given by ``data``.
"""

from __future__ import annotations

import copy
import pickle
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from calipers.testing._common import Check, fail, run_all
from calipers.testing._metric_compare import compute, diff
from calipers.testing._metric_data import (
    N_ROWS,
    Batch,
    as_batch,
    default_data,
    failing_variants,
    rows,
    split,
)
from calipers.testing._metric_worker import WORKER

__all__ = ["check_metric", "default_data", "metric_checks"]

# -- the checks ---------------------------------------------------------------------


class _Subject:
    """The metric under check, its data, and helpers the checks share."""

    def __init__(self, metric: Any, data: Callable[..., Any] | None, seed: int) -> None:
        self.metric = metric
        self.label = f"metric {getattr(metric, 'name', type(metric).__name__)!r}"
        self.data = data or default_data(metric)
        self.seed = seed

    def batch(self, seed: int, n: int = N_ROWS) -> Batch:
        return as_batch(self.data(np.random.default_rng([self.seed, seed]), n))

    def parts(self, seed: int) -> list[Batch]:
        """One batch of ``N_ROWS`` cut into uneven parts (one empty, one single row)."""
        whole = self.batch(seed)
        rng = np.random.default_rng([self.seed, seed, 1])
        return [rows(whole, idx, N_ROWS) for idx in split(rng, N_ROWS)]

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
        d = diff(got, want, exact)
        if d is not None:
            raise fail(rule, self.label, f"{what} ({d})", fix)


def _check_merge_exact(s: _Subject) -> None:
    rule = "check_merge_exact"
    for seed in range(3):
        want = compute(s.whole(seed))
        parts = [s.updated([b]) for b in s.parts(seed)]
        merged = parts[0].merge(*parts[1:])
        if merged is None:
            raise fail(rule, s.label, "merge() returned None",
                       "return self from merge(), as Metric.merge does")
        s.expect(rule, compute(merged), want,
                 "metrics updated on separate batches (one empty, one of a single row) and "
                 "merged do not compute the same value as one metric updated with all rows",
                 "keep a state that adds up exactly (counts, sums, every sample) instead of "
                 "per-batch results such as averages; declare it with add_state")
        streamed = s.updated(s.parts(seed))
        s.expect(rule, compute(streamed), want,
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
    s.expect(rule, compute(a), compute(b),
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
    s.expect(rule, compute(back), compute(m), "a pickled and unpickled copy computes "
             "another value", "keep the whole state in instance attributes")
    more = s.parts(5)
    s.expect(rule, compute(s.updated(more, into=back)), compute(s.updated(more, into=m)),
             "an unpickled copy updated further differs from the original updated the same",
             "restore every attribute update() uses when unpickling (__setstate__)")


def _check_copy_independent(s: _Subject) -> None:
    rule = "check_copy_independent"
    m = s.whole(6)
    before = compute(m)
    for how, dup in (("copy.deepcopy", copy.deepcopy), ("empty_clone", lambda x: x.empty_clone())):
        other = dup(m)
        s.updated(s.parts(7), into=other)
        s.expect(rule, compute(m), before,
                 f"updating a {how} of the metric changed the original",
                 "do not share mutable state (arrays, lists) between copies; copy default "
                 "values (add_state does) instead of reusing one object")
    clone = m.empty_clone()
    s.expect(rule, compute(s.updated([s.batch(8)], into=clone)), compute(s.whole(8)),
             "empty_clone() carries data over from the original",
             "empty_clone must return a metric with the same options and an empty state")


def _check_state_dict_roundtrip(s: _Subject) -> None:
    rule = "check_state_dict_roundtrip"
    m = s.whole(9)
    sd = m.state_dict()
    frozen = copy.deepcopy(sd)
    back = s.fresh()
    back.load_state_dict(sd)
    s.expect(rule, compute(back), compute(m),
             "load_state_dict(state_dict()) into an empty metric computes another value",
             "state_dict must return the whole state and load_state_dict restore it")
    share = "return copies from state_dict and keep copies in load_state_dict"
    s.updated(s.parts(10), into=m)
    s.expect(rule, compute(back), compute(s.whole(9)),
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
        remote = WORKER.call(pickle.dumps((m, more)))
    except Exception as exc:
        raise fail(rule, s.label, f"the metric could not be updated in another process: "
                   f"{type(exc).__name__}: {exc}",
                   "define the metric class at the top level of an importable module and "
                   "keep its state picklable") from exc
    s.expect(rule, compute(remote), compute(s.updated(more, into=m)),
             "a metric pickled to another process and updated there computes another value",
             "keep the whole state in the instance (no globals or class-level state)")


def _check_failed_update_unchanged(s: _Subject) -> None:
    rule = "check_failed_update_unchanged"
    first, then = s.batch(13), s.batch(14, n=N_ROWS // 2)
    want = compute(s.updated([first, then]))
    for what, bad in failing_variants(s.batch(15), N_ROWS):
        m = s.updated([first])
        before = compute(m)
        try:
            s.updated([bad], into=m)
        except Exception:  # noqa: BLE001 - any refusal is fine; what matters is the state
            pass
        else:
            continue  # accepted: this rule is about refused batches only
        s.expect(rule, compute(m), before,
                 f"an update that raised (batch with {what}) changed the state",
                 "validate the whole batch before changing the state, or declare the "
                 "state with add_state (a failed update then rolls it back)", exact=True)
        s.expect(rule, compute(s.updated([then], into=m)), want,
                 f"after an update that raised (batch with {what}), further updates give "
                 "another value than without it", "leave no partial batch in the state")


def _check_reset(s: _Subject) -> None:
    rule = "check_reset"
    m = s.whole(16)
    m.reset()
    s.expect(rule, compute(s.updated([s.batch(17)], into=m)), compute(s.whole(17)),
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
    s.expect(rule, compute(target), compute(s.updated(s.parts(18) + s.parts(19))),
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
    s.expect(rule, compute(m), compute(s.whole(20)),
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
