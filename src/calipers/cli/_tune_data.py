"""Data and estimator of a tuning spec: load, split, build (for ``calipers tune`` / ``run``)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from calipers._extras import install_hint
from calipers.cli._tune_spec import DATASETS, SpecError, TuneSpec

__all__ = ["Data", "is_classifier", "load_data", "make_estimator"]


@dataclass
class Data:
    """A spec's data, split into the tuning part and the held-out part.

    Attributes
    ----------
    name : str
        The dataset name or file path, for reports.
    feature_names : list of str
    X_train, y_train : numpy.ndarray
        What the study cross-validates on (and ``calipers run`` refits on).
    X_test, y_test : numpy.ndarray
        Held out: only ``calipers run`` looks at them, after the study.
    """

    name: str
    feature_names: list[str]
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def load_data(spec: TuneSpec, classifier: bool) -> Data:
    """Load the spec's data and split off ``test_size`` of it (stratified for classifiers).

    The split is seeded by the spec's seed, so ``calipers tune`` and ``calipers run``
    with one spec tune on the same rows.

    Raises
    ------
    ValueError
        On a missing column, a non-numeric feature, a target with missing values, or
        too few rows for the split.
    FileNotFoundError
        If the data file does not exist.
    """
    from calipers._extras import require

    require("sklearn", "calipers tune")
    from sklearn.model_selection import train_test_split

    if spec.dataset is not None:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, DATASETS[spec.dataset])()
        X, y = np.asarray(bunch.data, dtype=float), np.asarray(bunch.target)
        names = [str(n) for n in getattr(bunch, "feature_names", range(X.shape[1]))]
        label = spec.dataset
    else:
        X, y, names = _read_table(spec)
        label = str(spec.path)
    stratify = y if classifier else None
    try:
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=spec.test_size, random_state=spec.split_seed, stratify=stratify)
    except ValueError as exc:
        raise ValueError(f"{spec.source}: cannot hold out test_size={spec.test_size} of "
                         f"{label} ({len(y)} rows): {exc}") from None
    return Data(label, names, X_train, y_train, X_test, y_test)


def _read_table(spec: TuneSpec) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from calipers.io import column_dtypes, iter_batches

    assert spec.path is not None and spec.target is not None
    if not spec.path.is_file():
        raise FileNotFoundError(f"{spec.source}: [data] path: no such file: {str(spec.path)!r}")
    dtypes = column_dtypes(spec.path)
    if spec.target not in dtypes:
        raise ValueError(f"{spec.source}: [data] target column {spec.target!r} is not in "
                         f"{spec.path.name} (columns: {', '.join(dtypes)})")
    features = spec.features or [c for c in dtypes if c != spec.target]
    missing = [c for c in features if c not in dtypes]
    if missing:
        raise ValueError(f"{spec.source}: [data] features not in {spec.path.name}: "
                         f"{', '.join(missing)} (columns: {', '.join(dtypes)})")
    if spec.target in features:
        raise ValueError(f"{spec.source}: [data] the target {spec.target!r} is also a feature")
    if not features:
        raise ValueError(f"{spec.source}: [data] {spec.path.name} has no feature columns")
    bad = [c for c in features if dtypes[c].kind not in "biuf"]
    if bad:
        raise ValueError(
            f"{spec.source}: [data] feature columns must be numeric; not numeric: "
            f"{', '.join(bad)} (encode them first, or leave them out with 'features')")
    parts: dict[str, list[np.ndarray]] = {c: [] for c in [*features, spec.target]}
    for batch in iter_batches(spec.path, [*features, spec.target], 65_536,
                              float_columns=features, progress=False):
        for c, v in batch.items():
            parts[c].append(v)
    cols = {c: np.concatenate(v) if v else np.empty(0) for c, v in parts.items()}
    y = cols[spec.target]
    if len(y) == 0:
        raise ValueError(f"{spec.source}: [data] {spec.path.name} has no data rows")
    X = np.column_stack([cols[c] for c in features]).astype(float, copy=False)
    return X, y, list(features)


def make_estimator(spec: TuneSpec) -> Any:
    """Import ``spec.estimator_class`` and build it with the fixed ``params``.

    Raises
    ------
    SpecError
        If the class cannot be imported or built, or a space parameter is not one of
        its parameters (``get_params``).
    """
    module_name, _, cls_name = spec.estimator_class.rpartition(".")
    where = f"{spec.source}: [estimator] class {spec.estimator_class!r}"
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = install_hint(exc)
        raise SpecError(f"{where}: cannot import {module_name!r}: {exc}"
                        + (f"; {hint}" if hint else "")) from None
    cls = getattr(module, cls_name, None)
    if not isinstance(cls, type):
        raise SpecError(f"{where}: {module_name!r} has no class {cls_name!r}")
    try:
        estimator = cls(**spec.estimator_params)
    except TypeError as exc:
        raise SpecError(f"{spec.source}: [estimator] params: {exc}") from None
    if not (hasattr(estimator, "fit") and hasattr(estimator, "get_params")
            and hasattr(estimator, "set_params")):
        raise SpecError(f"{where} is not a scikit-learn style estimator "
                        "(it needs fit, get_params and set_params)")
    known = estimator.get_params(deep=True)
    unknown = [name for name in spec.space if name not in known]
    if unknown:
        raise SpecError(
            f"{spec.source}: [space] {', '.join(map(repr, unknown))} "
            f"{'is not a parameter' if len(unknown) == 1 else 'are not parameters'} of "
            f"{cls_name} (its parameters: {', '.join(sorted(known))})")
    fixed_and_tuned = sorted(set(spec.estimator_params) & set(spec.space))
    if fixed_and_tuned:
        raise SpecError(f"{spec.source}: {', '.join(map(repr, fixed_and_tuned))} is both in "
                        "[estimator] params and in [space]; keep it in one place")
    return estimator


def is_classifier(estimator: Any) -> bool:
    """Return whether ``estimator`` is a classifier (scikit-learn's rule, with a fallback)."""
    try:
        from sklearn.base import is_classifier as sk_is_classifier

        return bool(sk_is_classifier(estimator))
    except ImportError:  # pragma: no cover - sklearn is required to tune
        return getattr(estimator, "_estimator_type", None) == "classifier"
