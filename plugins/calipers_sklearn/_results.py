"""``cv_results_`` from a study's trials, with the keys and numbers of GridSearchCV's."""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["candidate_records", "format_results", "rank_min", "restore_params"]


def _json_form(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value, default=lambda o: list(o)
                                     if isinstance(o, (tuple, set, frozenset)) else o.item()))
    except Exception:  # noqa: BLE001 - not JSON-able: only identity can match
        return _NO_MATCH


_NO_MATCH = object()


def restore_params(space: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """The stored (JSON) params with each categorical value replaced by its choice
    object (a tuple stays a tuple, an estimator choice is the estimator itself)."""
    from calipers.search import Categorical

    out: dict[str, Any] = {}
    for name, value in params.items():
        param = space[name] if name in space.names else None
        if isinstance(param, Categorical):
            for choice in param.choices:
                if choice is value or (type(choice) is type(value) and choice == value) \
                        or _json_form(choice) == value:
                    value = choice
                    break
        out[name] = value
    return out


def candidate_records(trials: Sequence[Any], keys: Sequence[str], n_splits: int,
                      train: bool) -> list[dict[str, Any]]:
    """One record per finished trial: its CV record (``"cv"`` user attribute), or
    nan scores when the trial failed before cross-validating (its reason is kept as
    the fit error of every fold)."""
    records = []
    for t in trials:
        rec = t.user_attrs.get("cv")
        if not isinstance(rec, Mapping):
            nan = [float("nan")] * n_splits
            reason = getattr(t, "fail_reason", None) or f"trial {t.number} has no CV record"
            rec = {"test_scores": dict.fromkeys(keys, nan),
                   "fit_times": [0.0] * n_splits, "score_times": [0.0] * n_splits,
                   "fit_errors": [reason] * n_splits}
            if train:
                rec["train_scores"] = dict.fromkeys(keys, nan)
        records.append(rec)
    return records


def rank_min(means: np.ndarray) -> np.ndarray:
    """Rank, 1 = best, ties get the lowest rank ('min'), nan ranked with the worst
    (scikit-learn's rule for cv_results_)."""
    means = np.asarray(means, dtype=np.float64)
    if means.size == 0 or np.isnan(means).all():
        return np.ones(means.shape, dtype=np.int32)
    filled = np.where(np.isnan(means), np.nanmin(means) - 1, means)
    order = np.sort(-filled)
    return (np.searchsorted(order, -filled, side="left") + 1).astype(np.int32)


def _param_arrays(candidates: Sequence[Mapping[str, Any]]) -> dict[str, np.ma.MaskedArray]:
    """``param_<name>`` masked arrays: masked where the parameter is not set."""
    n = len(candidates)
    names: list[str] = []
    for params in candidates:
        names.extend(k for k in params if k not in names)
    out = {}
    for name in sorted(names):
        present = {i: p[name] for i, p in enumerate(candidates) if name in p}
        try:
            arr = np.array(list(present.values()))
        except ValueError:
            dtype = np.dtype(object)
        else:
            dtype = arr.dtype if arr.dtype.kind != "U" and arr.ndim == 1 else np.dtype(object)
        ma = np.ma.MaskedArray(np.empty(n, dtype=dtype), mask=True)
        for i, value in present.items():
            ma[i] = value
        out[f"param_{name}"] = ma
    return out


def format_results(candidates: list[dict[str, Any]], records: Sequence[Mapping[str, Any]],
                   keys: Sequence[str], n_splits: int, train: bool) -> dict[str, Any]:
    """GridSearchCV's ``cv_results_`` dict (same keys and order) from the records."""
    n = len(candidates)
    results: dict[str, Any] = {}

    def store(key: str, rows: list[list[float]], splits: bool = False,
              rank: bool = False) -> None:
        array = np.array(rows, dtype=np.float64).reshape(n, n_splits)
        if splits:
            for i in range(n_splits):
                results[f"split{i}_{key}"] = array[:, i]
        means = array.mean(axis=1) if n else np.zeros(0)
        results[f"mean_{key}"] = means
        if key.startswith(("train_", "test_")) and not np.isfinite(means).all():
            warnings.warn(f"One or more of the {key.split('_')[0]} scores are non-finite: "
                          f"{means}", UserWarning, stacklevel=4)
        results[f"std_{key}"] = np.sqrt(((array - means[:, None]) ** 2).mean(axis=1)) \
            if n else np.zeros(0)
        if rank:
            results[f"rank_{key}"] = rank_min(means)

    store("fit_time", [list(r["fit_times"]) for r in records])
    store("score_time", [list(r["score_times"]) for r in records])
    results.update(_param_arrays(candidates))
    results["params"] = candidates
    for key in keys:
        store(f"test_{key}", [list(r["test_scores"][key]) for r in records], splits=True,
              rank=True)
        if train:
            store(f"train_{key}", [list(r["train_scores"][key]) for r in records],
                  splits=True)
    return results
