"""calipers' conformance kit: the checks every metric, searcher, exporter and backend
passes, first-party and third-party alike.

Like scikit-learn's ``check_estimator`` / ``parametrize_with_checks``: run every
check on one object, or let pytest show one test per (object, check)::

    from calipers.testing import check_metric, parametrize_with_checks

    check_metric(MyMetric())            # raises CheckFailure naming the broken rule

    @parametrize_with_checks([MyMetric(), MySearcher])
    def test_conformance(obj, check):
        check()

Every check is a named function; a failure is a :class:`CheckFailure` whose message
names the rule, what happened and how to fix it.

- :func:`check_metric` (:func:`metric_checks`): ``check_merge_exact`` (merges over
  random splits, empty and one-row batches included, equal one update),
  ``check_merge_order``, ``check_pickle_roundtrip``, ``check_copy_independent``,
  ``check_state_dict_roundtrip`` (when the metric has a state_dict),
  ``check_across_processes``, ``check_failed_update_unchanged``, ``check_reset``,
  ``check_concurrent_merges``, ``check_dask_partitions`` (when dask is installed).
- :func:`check_searcher` (:func:`searcher_checks`): ``check_seed_reproducible``,
  ``check_proposals_in_space``, ``check_stored_study_resume``,
  ``check_n_jobs_same_trials`` (the same trials for any ``n_jobs`` at a fixed batch
  size).
- :func:`check_exporter` (:func:`exporter_checks`): ``check_exporter_class``,
  ``check_export_load_parity``, ``check_manifest_complete``, ``check_runner_stable``,
  ``check_parity_detects_drift``, ``check_artifact_self_contained``,
  ``check_tampering_refused``, ``check_no_overwrite``,
  ``check_unsupported_model_refused``.
- :func:`check_backend` (:func:`backend_checks`): ``check_capabilities_implemented``,
  ``check_accepts_own_arrays``, ``check_numpy_round_trip``,
  ``check_accepts_only_own_types``; for a partitioned backend
  ``check_partitioned_update_matches_memory`` and
  ``check_partitioned_failure_leaves_metric_unchanged``; for a native one
  ``check_native_update_matches_numpy`` and
  ``check_native_failure_leaves_state_unchanged``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from calipers.testing._backend_checks import backend_checks, check_backend
from calipers.testing._common import Case, Check, CheckFailure
from calipers.testing._exporter_checks import check_exporter, exporter_checks
from calipers.testing._metric_checks import check_metric, metric_checks
from calipers.testing._searcher_checks import check_searcher, searcher_checks

__all__ = [
    "Case",
    "Check",
    "CheckFailure",
    "backend_checks",
    "check_backend",
    "check_exporter",
    "check_metric",
    "check_searcher",
    "checks_for",
    "exporter_checks",
    "metric_checks",
    "parametrize_with_checks",
    "searcher_checks",
]

_CHECKS = {
    "metric": metric_checks,
    "searcher": searcher_checks,
    "exporter": exporter_checks,
    "backend": backend_checks,
}


def _as_case(obj: Any) -> Case:
    if isinstance(obj, Case):
        return obj
    import inspect

    from calipers.metrics import Metric
    from calipers.search import Searcher

    if isinstance(obj, Metric):
        return Case("metric", obj)
    if inspect.isclass(obj) and issubclass(obj, Searcher):
        return Case("searcher", obj)
    raise TypeError(
        f"cannot tell which checks apply to {obj!r}: pass a Metric instance, a Searcher "
        "class, or a calipers.testing.Case(kind, obj, **kwargs) (exporters need a model "
        "and a sample, backends a from_numpy function)"
    )


def checks_for(obj: Any) -> Iterator[Check]:
    """The checks that apply to ``obj`` (a Metric, a Searcher class or a :class:`Case`)."""
    case = _as_case(obj)
    return _CHECKS[case.kind](case.obj, **case.kwargs)


def parametrize_with_checks(objects: Iterable[Any]) -> Any:
    """A pytest ``parametrize`` mark: one test per (object, check).

    Parameters
    ----------
    objects : iterable
        Metric instances, Searcher classes, or :class:`Case` objects (needed for
        exporters and backends, and for metrics with their own data).

    Returns
    -------
    pytest.MarkDecorator
        Parametrizes the test's ``obj`` and ``check`` arguments; call ``check()`` in
        the test. Test ids read ``<object>-<rule>``.
    """
    import pytest

    params = []
    for obj in objects:
        case = _as_case(obj)
        for check in _CHECKS[case.kind](case.obj, **case.kwargs):
            label = case.id or check.subject
            params.append(pytest.param(case.obj, check, id=f"{label}-{check.rule}"))
    return pytest.mark.parametrize(("obj", "check"), params)
