"""calipers.testing's metric checks: every built-in metric passes them; each
deliberately broken metric fails the rule it breaks, with a message naming it."""

from __future__ import annotations

import numpy as np
import pytest
from _broken_metrics import (
    AverageOfAverages,
    GlobalStore,
    HalfBatch,
    LastWins,
    LeakyReset,
    RacyMerge,
    SharedDefault,
    SharedStateDict,
    Unpicklable,
)
from _declared_metrics import PlainPositiveRate, PositiveRate, ScoreStats

import calipers
from calipers import plugins
from calipers.metrics import BUILTIN_METRICS, SCORE_METRICS
from calipers.testing import (
    Case,
    CheckFailure,
    check_metric,
    metric_checks,
    parametrize_with_checks,
)

TASKS = (("binary", {}), ("multiclass", {"num_classes": 4}), ("multilabel", {"num_labels": 3}))


def _builtin_cases():
    """Every built-in metric on every task it supports, plus option variants."""
    out = []
    for cls in BUILTIN_METRICS + SCORE_METRICS:
        if cls.name in ("ndcg", "map"):
            out.append(cls())
            continue
        for task, opts in TASKS:
            try:
                out.append(cls(task, **opts))
            except (ValueError, TypeError):
                continue  # the metric is not defined for this task
    out += [
        calipers.metric("f1", task="multilabel", num_labels=3, average="samples"),
        calipers.metric("precision", task="multiclass", num_classes=4, average="none"),
        calipers.metric("roc_auc", bins=64),
        calipers.metric("average_precision", task="multiclass", num_classes=4, bins=32),
        calipers.metric("roc_auc", task="multilabel", num_labels=3, average="micro"),
        calipers.metric("top_k_accuracy", task="multiclass", num_classes=4, k=2),
        calipers.metric("ndcg", k=2),
        calipers.metric("map", empty_query="skip"),
    ]
    return out


BUILTIN = _builtin_cases()


def _id(m):
    opts = getattr(m, "options", {})
    return f"{m.name}[{','.join(f'{k}={v}' for k, v in sorted(opts.items()))}]"


def test_every_registered_metric_is_covered():
    covered = {m.name for m in BUILTIN}
    registered = set(plugins.names("metric"))
    assert registered - covered == set(), "add these metrics to the conformance run"


@parametrize_with_checks([Case("metric", m, id=_id(m)) for m in BUILTIN])
def test_builtin_metrics_conform(obj, check):
    check()


@parametrize_with_checks([PositiveRate(), ScoreStats(), PlainPositiveRate()])
def test_plugin_style_metrics_conform(obj, check):
    check()


def test_check_ids_name_the_metric_and_rule():
    rules = [c.rule for c in metric_checks(PositiveRate())]
    assert rules[:3] == ["check_merge_exact", "check_merge_order", "check_pickle_roundtrip"]
    assert "check_state_dict_roundtrip" in rules
    # the plain form has no state_dict: that check does not apply to it
    assert "check_state_dict_roundtrip" not in [c.rule for c in
                                                 metric_checks(PlainPositiveRate())]


@pytest.mark.parametrize(("metric", "rule"), [
    (AverageOfAverages(), "check_merge_exact"),
    (HalfBatch(), "check_failed_update_unchanged"),
    (LeakyReset(), "check_reset"),
    (Unpicklable(), "check_pickle_roundtrip"),
    (SharedDefault(), "check_copy_independent"),
    (LastWins(), "check_merge_order"),
    (RacyMerge(), "check_concurrent_merges"),
    (SharedStateDict(), "check_state_dict_roundtrip"),
    (GlobalStore(), "check_across_processes"),
], ids=lambda x: x if isinstance(x, str) else x.name)
def test_broken_metric_fails_the_rule_it_breaks(metric, rule):
    (check,) = [c for c in metric_checks(metric) if c.rule == rule]
    with pytest.raises(CheckFailure, match=rf"breaks rule {rule}: .+\. Fix: .+") as info:
        check()
    assert info.value.rule == rule and info.value.fix
    # and check_metric, which runs everything, fails too
    with pytest.raises(CheckFailure):
        check_metric(metric)


def test_custom_data():
    calls = []

    def data(rng, n):
        calls.append(n)
        return {"y_true": rng.integers(0, 2, n), "y_pred": rng.integers(0, 2, n)}

    check_metric(PositiveRate(), data, processes=False, dask=False)
    assert calls and all(n > 0 for n in calls)
    with pytest.raises(TypeError, match="data\\(rng, n\\) must return"):
        check_metric(PositiveRate(), lambda rng, n: [1, 2])


def test_checks_leave_the_metric_unchanged():
    m = PositiveRate()
    m.update(np.array([1, 0]), np.array([1, 1]))
    check_metric(m, processes=False)
    assert (m.positives, m.total) == (2, 2)


def test_not_a_metric():
    with pytest.raises(TypeError, match="needs a metric instance"):
        list(metric_checks(object()))
