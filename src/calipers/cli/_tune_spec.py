"""The TOML spec of ``calipers tune`` / ``calipers run``: parsing and validation.

A spec names the data, the estimator, the search space, the searcher, the budget,
the cross-validation and the scoring::

    study_name = "breast-cancer-hgb"        # default: the spec file's stem
    storage = "sqlite:///calipers-study.db" # default; a relative SQLite path is
                                            # relative to the spec's directory
    seed = 0                                # default seed of everything below
    scoring = "roc_auc"                     # a scorer name (greater is better): a calipers
                                            # metric or sklearn alias; default: the
                                            # estimator's own score method

    [data]
    dataset = "breast_cancer"   # bundled: breast_cancer, digits, iris, wine, diabetes
    # path = "train.csv"        # or a CSV / Parquet file (relative to the spec) ...
    # target = "label"          # ... and its target column
    # features = ["a", "b"]     # default: every other column
    test_size = 0.25            # held out by `calipers run`; the study tunes on the rest

    [estimator]
    class = "sklearn.ensemble.HistGradientBoostingClassifier"
    params = { max_iter = 100 }

    [space]
    learning_rate = { type = "float", low = 0.01, high = 0.3, log = true }
    max_leaf_nodes = { type = "int", low = 4, high = 64, log = true }
    loss = { type = "categorical", choices = ["log_loss"] }
    # a conditional parameter: condition = { parent = "kernel", values = ["rbf"] }

    [searcher]
    name = "bayes"              # any registered searcher; other keys are its options

    [budget]
    n_trials = 30
    timeout = 600               # seconds (optional)
    n_jobs = 1                  # trials in parallel processes
    threads = 1                 # OpenMP / BLAS threads per trial (0: the library's default)

    [cv]
    n_splits = 5
    stratified = true           # default: true for classifiers
    shuffle = true
    seed = 0                    # default: the top-level seed

Every key is checked: a wrong type, a bad value or an unknown key is a
:class:`SpecError` (a ``ValueError``) naming the file, the section and the key.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calipers.cli._tune_checks import (
    Errors,
    SpecError,
    check_keys,
    check_param,
    get_bool,
    get_float,
    get_int,
    get_str,
    get_table,
)

__all__ = [
    "DATASETS",
    "DEFAULT_STORAGE_FILE",
    "SpecError",
    "TuneSpec",
    "load_spec",
    "parse_spec",
    "resolve_storage",
]

#: Bundled scikit-learn datasets a spec may name (all ship with scikit-learn; the
#: ones that download, like california_housing, are refused).
DATASETS: dict[str, str] = {
    "breast_cancer": "load_breast_cancer",
    "digits": "load_digits",
    "iris": "load_iris",
    "wine": "load_wine",
    "diabetes": "load_diabetes",
}

#: The SQLite file of a spec without ``storage``, next to the spec.
DEFAULT_STORAGE_FILE = "calipers-study.db"

_TOP = ("study_name", "storage", "seed", "scoring", "data", "estimator", "space",
        "searcher", "budget", "cv")
_DATA = ("dataset", "path", "target", "features", "test_size")
_ESTIMATOR = ("class", "params")
_BUDGET = ("n_trials", "timeout", "n_jobs", "threads")
_CV = ("n_splits", "stratified", "shuffle", "seed")


@dataclass
class TuneSpec:
    """A validated tuning spec (see the module docstring for the file format).

    Attributes
    ----------
    source : str
        Where the spec came from (a path, or ``"<bundled default>"``), for messages.
    base_dir : pathlib.Path
        The directory relative paths (data file, SQLite storage) are resolved against.
    study_name, storage : str
        Study name and SQLAlchemy URL (``storage`` already resolved).
    seed : int
        The top-level seed (searcher seed; default of the data split and CV seeds).
    scoring : str
        Metric name to maximize.
    dataset, path, target, features, test_size, split_seed
        The data section (``dataset`` or ``path`` + ``target``).
    estimator_class : str
        Import path ``"module.Class"``; ``estimator_params`` its fixed parameters.
    space : dict
        Parameter name to its raw table (built by :func:`build_space`).
    searcher, searcher_options
        Registered searcher name and its options.
    n_trials, timeout, n_jobs
        The budget (``n_trials`` is the study's total: a resumed study runs the rest).
    threads : int
        OpenMP / BLAS threads of one trial (0: leave the libraries' defaults). Small
        fits run fastest on one thread; parallelism comes from ``n_jobs``.
    n_splits, stratified, shuffle, cv_seed
        Cross-validation (``stratified`` ``None`` means: when the estimator classifies).
    """

    source: str
    base_dir: Path
    study_name: str
    storage: str
    seed: int
    scoring: str
    estimator_class: str
    space: dict[str, dict[str, Any]]
    searcher: str = "bayes"
    searcher_options: dict[str, Any] = field(default_factory=dict)
    dataset: str | None = None
    path: Path | None = None
    target: str | None = None
    features: list[str] | None = None
    test_size: float = 0.25
    split_seed: int = 0
    estimator_params: dict[str, Any] = field(default_factory=dict)
    n_trials: int = 30
    timeout: float | None = None
    n_jobs: int = 1
    threads: int = 1
    n_splits: int = 5
    stratified: bool | None = None
    shuffle: bool = True
    cv_seed: int = 0
    seed_given: dict[str, bool] = field(default_factory=dict)

    def with_seed(self, seed: int) -> TuneSpec:
        """Return a copy whose top-level seed is ``seed`` (also for the split and CV
        seeds that the spec did not set itself)."""
        import dataclasses

        changes: dict[str, Any] = {"seed": seed}
        if not self.seed_given.get("split"):
            changes["split_seed"] = seed
        if not self.seed_given.get("cv"):
            changes["cv_seed"] = seed
        return dataclasses.replace(self, **changes)


def load_spec(path: str | os.PathLike[str]) -> TuneSpec:
    """Read and validate the TOML spec at ``path``.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    SpecError
        If it is not valid TOML or not a valid spec.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such spec file: {os.fspath(path)!r}")
    toml = _tomllib()
    try:
        with p.open("rb") as f:
            raw = toml.load(f)
    except toml.TOMLDecodeError as exc:
        raise SpecError(f"{p}: not valid TOML: {exc}") from None
    return parse_spec(raw, source=str(p), base_dir=p.resolve().parent, default_name=p.stem)


def _tomllib() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    try:  # pragma: no cover - Python 3.10 only
        import tomli
    except ImportError:  # pragma: no cover
        raise ImportError("reading a TOML spec on Python 3.10 needs tomli: pip install tomli") \
            from None
    return tomli  # pragma: no cover


def parse_spec(raw: Mapping[str, Any], *, source: str, base_dir: Path,
               default_name: str) -> TuneSpec:
    """Validate a spec already parsed from TOML into a :class:`TuneSpec`.

    Parameters
    ----------
    raw : mapping
        The TOML document.
    source : str
        Its name, for error messages.
    base_dir : pathlib.Path
        Directory that relative paths in the spec are resolved against.
    default_name : str
        Study name when the spec has none.
    """
    err = Errors(source)
    check_keys(err, raw, _TOP, "")
    for section in ("data", "estimator", "space"):
        if section not in raw:
            err.fail(f"missing section [{section}]")
    seed = get_int(err, raw, "seed", "", default=0, low=0)
    study_name = get_str(err, raw, "study_name", "", default=default_name)
    storage = resolve_storage(get_str(err, raw, "storage", "", default=None), base_dir)
    scoring = get_str(err, raw, "scoring", "", default=None)

    data = get_table(err, raw, "data")
    check_keys(err, data, _DATA, "data")
    dataset = get_str(err, data, "dataset", "data", default=None)
    path_text = get_str(err, data, "path", "data", default=None)
    target = get_str(err, data, "target", "data", default=None)
    if (dataset is None) == (path_text is None):
        err.fail("[data] needs exactly one of 'dataset' (a bundled dataset: "
                 f"{', '.join(DATASETS)}) or 'path' (a CSV / Parquet file)")
    if dataset is not None:
        if dataset not in DATASETS:
            err.fail(f"[data] dataset {dataset!r} is not bundled; choose one of "
                     f"{', '.join(DATASETS)} (datasets that download are not supported), "
                     "or give 'path' and 'target'")
        if target is not None or "features" in data:
            err.fail("[data] 'target' and 'features' go with 'path', not 'dataset'")
    elif target is None:
        err.fail("[data] 'path' needs 'target': the name of the target column")
    features = data.get("features")
    if features is not None and (
        not isinstance(features, list) or not features
        or not all(isinstance(f, str) for f in features)
    ):
        err.fail(f"[data] features must be a non-empty list of column names, got {features!r}")
    test_size = get_float(err, data, "test_size", "data", default=0.25)
    if not 0.0 < test_size < 1.0:
        err.fail(f"[data] test_size must be in (0, 1), got {test_size!r}")

    est = get_table(err, raw, "estimator")
    check_keys(err, est, _ESTIMATOR, "estimator")
    cls = get_str(err, est, "class", "estimator", default=None)
    if cls is None or "." not in cls.strip("."):
        err.fail("[estimator] class must be an import path like "
                 f"'sklearn.ensemble.HistGradientBoostingClassifier', got {cls!r}")
    params = est.get("params", {})
    if not isinstance(params, dict):
        err.fail(f"[estimator] params must be a table, got {params!r}")

    space = get_table(err, raw, "space")
    if not space:
        err.fail("[space] is empty: give at least one parameter to tune")
    for name, entry in space.items():
        check_param(err, name, entry)

    searcher_table = get_table(err, raw, "searcher", required=False)
    searcher = get_str(err, searcher_table, "name", "searcher", default="bayes")
    options = {k: v for k, v in searcher_table.items() if k != "name"}
    if "seed" in options:
        err.fail("[searcher] seed: set the top-level 'seed' (or pass --seed) instead")

    budget = get_table(err, raw, "budget", required=False)
    check_keys(err, budget, _BUDGET, "budget")
    n_trials = get_int(err, budget, "n_trials", "budget", default=30, low=1)
    timeout = get_float(err, budget, "timeout", "budget", default=None)
    if timeout is not None and not timeout > 0:
        err.fail(f"[budget] timeout must be a positive number of seconds, got {timeout!r}")
    n_jobs = get_int(err, budget, "n_jobs", "budget", default=1, low=-1)
    if n_jobs == 0:
        err.fail("[budget] n_jobs must be a positive integer or -1 (all cores), got 0")
    threads = get_int(err, budget, "threads", "budget", default=1, low=0)

    cv = get_table(err, raw, "cv", required=False)
    check_keys(err, cv, _CV, "cv")
    n_splits = get_int(err, cv, "n_splits", "cv", default=5, low=2)
    stratified = get_bool(err, cv, "stratified", "cv", default=None)
    shuffle = get_bool(err, cv, "shuffle", "cv", default=True)
    cv_seed = get_int(err, cv, "seed", "cv", default=seed, low=0)

    return TuneSpec(
        source=source,
        base_dir=base_dir,
        study_name=study_name,
        storage=storage,
        seed=seed,
        scoring=scoring or "",
        estimator_class=cls,
        estimator_params=dict(params),
        space={k: dict(v) for k, v in space.items()},
        searcher=searcher,
        searcher_options=options,
        dataset=dataset,
        path=None if path_text is None else (base_dir / path_text),
        target=target,
        features=None if features is None else list(features),
        test_size=test_size,
        split_seed=seed,
        n_trials=n_trials,
        timeout=timeout,
        n_jobs=n_jobs,
        threads=threads,
        n_splits=n_splits,
        stratified=stratified,
        shuffle=shuffle,
        cv_seed=cv_seed,
        seed_given={"cv": "seed" in cv, "split": False},
    )


def resolve_storage(url: str | None, base_dir: Path) -> str:
    """Return the SQLAlchemy URL of a spec's ``storage``.

    ``None`` gives ``sqlite:///<base_dir>/calipers-study.db``; a relative SQLite
    path (``sqlite:///study.db``) is made relative to ``base_dir``; other URLs are
    returned unchanged. A plain path without ``://`` is taken as a SQLite file.
    """
    if url is None:
        return f"sqlite:///{(base_dir / DEFAULT_STORAGE_FILE).as_posix()}"
    if "://" not in url:
        url = f"sqlite:///{url}"
    prefix = "sqlite:///"
    if url.startswith(prefix):
        rest = url[len(prefix):]
        if rest and rest != ":memory:" and not rest.startswith("/"):
            return prefix + (base_dir / rest).as_posix()
    return url


def build_space(spec: TuneSpec) -> Any:
    """Return the :class:`calipers.search.SearchSpace` of ``spec.space``.

    Raises
    ------
    SpecError
        Naming the parameter when the space rejects it (bounds, conditions...).
    """
    from calipers import search

    err = Errors(spec.source)
    params: dict[str, Any] = {}
    for name, entry in spec.space.items():
        kind = entry["type"]
        cond = entry.get("condition")
        if isinstance(cond, dict):
            parent, values = ((cond["parent"], cond["values"]) if "parent" in cond
                              else next(iter(cond.items())))
            cond = search.Condition(parent, tuple(values if isinstance(values, list)
                                                  else [values]))
        kwargs = {k: v for k, v in entry.items() if k not in ("type", "condition")}
        try:
            if kind == "float":
                params[name] = search.Float(condition=cond, **kwargs)
            elif kind == "int":
                params[name] = search.Int(condition=cond, **kwargs)
            else:
                params[name] = search.Categorical(condition=cond, **kwargs)
        except (TypeError, ValueError) as exc:
            err.fail(f"[space] {name}: {exc}")
    try:
        return search.SearchSpace(params)
    except (TypeError, ValueError) as exc:
        err.fail(f"[space]: {exc}")
        raise  # unreachable: fail raises
