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
    batch_size = 4              # proposals per round of an adaptive searcher (bayes,
                                # halving); default: one per parallel slot (n_jobs)

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

Every key is checked: a wrong type, a bad value or an unknown key is reported
naming the section and the key, and all the problems of a spec are reported
together, in one :class:`SpecError` (a ``ValueError``) naming the file.
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
        Parameter name to its raw table (built by
        :func:`calipers.cli._tune_run.build_space`).
    searcher, searcher_options
        Registered searcher name and its options.
    batch_size : int or None
        Trials an adaptive searcher proposes per round (``[searcher] batch_size``);
        ``None``: one per parallel slot (``n_jobs``, or the dask cluster's threads).
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
    batch_size: int | None = None
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

    Raises
    ------
    SpecError
        Listing every problem at once (``problems``): each key of the wrong form,
        and then what :func:`calipers.cli._tune_run.check_spec` finds in the parts
        that are well formed (an estimator class that does not import, a space
        parameter it does not have, an unregistered searcher or bad option, an
        unknown scoring, a missing data file), so one run shows them all. A spec
        of the right form is checked that way when it is tuned.
    """
    err = Errors(source)

    def value(getter: Any, table: Mapping[str, Any], key: str, section: str, default: Any,
              part: str | None = None, **kwargs: Any) -> Any:
        """``getter``'s value, or ``default`` when it reported a problem."""
        with err.check(part if part is not None else (section or key)):
            return getter(err, table, key, section, default, **kwargs)
        return default

    def section_of(name: str) -> dict[str, Any]:
        """The table ``name`` ({} when absent or not a table, which is reported)."""
        with err.check(name):
            return get_table(err, raw, name, required=False)
        return {}

    check_keys(err, raw, _TOP, "")
    for section in ("data", "estimator", "space"):
        if section not in raw:
            err.add(f"missing section [{section}]", section)
    seed = value(get_int, raw, "seed", "", 0, low=0)
    study_name = value(get_str, raw, "study_name", "", default_name)
    storage = resolve_storage(value(get_str, raw, "storage", "", None), base_dir)
    scoring = value(get_str, raw, "scoring", "", None)

    data = section_of("data")
    check_keys(err, data, _DATA, "data")
    before = len(err.problems)
    dataset = value(get_str, data, "dataset", "data", None)
    path_text = value(get_str, data, "path", "data", None)
    target = value(get_str, data, "target", "data", None)
    if isinstance(raw.get("data"), dict) and len(err.problems) == before:  # no cascade
        _check_data_source(err, data, dataset, path_text, target)
    features = data.get("features")
    if features is not None and (
        not isinstance(features, list) or not features
        or not all(isinstance(f, str) for f in features)
    ):
        err.add(f"[data] features must be a non-empty list of column names, got {features!r}",
                "data")
        features = None
    test_size = value(get_float, data, "test_size", "data", 0.25)
    if not 0.0 < test_size < 1.0:
        err.add(f"[data] test_size must be in (0, 1), got {test_size!r}", "data")
        test_size = 0.25

    est = section_of("estimator")
    check_keys(err, est, _ESTIMATOR, "estimator")
    before = len(err.problems)
    cls = value(get_str, est, "class", "estimator", None)
    if isinstance(raw.get("estimator"), dict) and len(err.problems) == before and (
            cls is None or "." not in cls.strip(".")):
        err.add("[estimator] class must be an import path like "
                f"'sklearn.ensemble.HistGradientBoostingClassifier', got {cls!r}", "estimator")
    params = est.get("params", {})
    if not isinstance(params, dict):
        err.add(f"[estimator] params must be a table, got {params!r}", "estimator")
        params = {}

    space_table = section_of("space")
    space: dict[str, dict[str, Any]] = {}
    if "space" in raw and isinstance(raw["space"], dict) and not space_table:
        err.add("[space] is empty: give at least one parameter to tune", "space")
    for name, entry in space_table.items():
        with err.check("space.params"):  # a bad parameter: the others are still checked
            check_param(err, name, entry)
            space[name] = dict(entry)

    searcher_table = section_of("searcher")
    searcher = value(get_str, searcher_table, "name", "searcher", "bayes")
    batch_size = value(get_int, searcher_table, "batch_size", "searcher", None, low=1,
                       part="batch_size")
    options = {k: v for k, v in searcher_table.items() if k not in ("name", "batch_size")}
    if "seed" in options:
        err.add("[searcher] seed: set the top-level 'seed' (or pass --seed) instead")
        del options["seed"]

    budget = section_of("budget")
    check_keys(err, budget, _BUDGET, "budget")
    n_trials = value(get_int, budget, "n_trials", "budget", 30, low=1)
    timeout = value(get_float, budget, "timeout", "budget", None)
    if timeout is not None and not timeout > 0:
        err.add(f"[budget] timeout must be a positive number of seconds, got {timeout!r}",
                "budget")
        timeout = None
    n_jobs = value(get_int, budget, "n_jobs", "budget", 1, low=-1)
    if n_jobs == 0:
        err.add("[budget] n_jobs must be a positive integer or -1 (all cores), got 0", "budget")
        n_jobs = 1
    threads = value(get_int, budget, "threads", "budget", 1, low=0)

    cv = section_of("cv")
    check_keys(err, cv, _CV, "cv")
    n_splits = value(get_int, cv, "n_splits", "cv", 5, low=2)
    stratified = value(get_bool, cv, "stratified", "cv", None)
    shuffle = value(get_bool, cv, "shuffle", "cv", True)
    cv_seed = value(get_int, cv, "seed", "cv", seed, low=0)

    spec = TuneSpec(
        source=source,
        base_dir=base_dir,
        study_name=study_name,
        storage=storage,
        seed=seed,
        scoring=scoring or "",
        estimator_class=cls or "",
        estimator_params=dict(params),
        space=space,
        searcher=searcher,
        searcher_options=options,
        batch_size=batch_size,
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
    if err.problems:
        _check_the_rest(err, spec)
        err.raise_if_any()
    return spec


def _check_data_source(err: Errors, data: Mapping[str, Any], dataset: str | None,
                       path_text: str | None, target: str | None) -> None:
    if (dataset is None) == (path_text is None):
        err.add("[data] needs exactly one of 'dataset' (a bundled dataset: "
                f"{', '.join(DATASETS)}) or 'path' (a CSV / Parquet file)", "data")
    elif dataset is not None:
        if dataset not in DATASETS:
            err.add(f"[data] dataset {dataset!r} is not bundled; choose one of "
                    f"{', '.join(DATASETS)} (datasets that download are not supported), "
                    "or give 'path' and 'target'", "data")
        if target is not None or "features" in data:
            err.add("[data] 'target' and 'features' go with 'path', not 'dataset'", "data")
    elif target is None:
        err.add("[data] 'path' needs 'target': the name of the target column", "data")


def _check_the_rest(err: Errors, spec: TuneSpec) -> None:
    """Add what :func:`~calipers.cli._tune_run.check_spec` finds in the well-formed parts
    of a spec that already has problems, so that they are all reported together."""
    from calipers.cli._tune_run import check_spec

    try:
        problems, _, _ = check_spec(spec, skip=frozenset(err.bad))
    except Exception:  # noqa: BLE001 (e.g. an estimator module failing at import: the
        return  # problems of the form are reported in any case; tune reports the rest)
    err.problems.extend(p for p in problems if p not in err.problems)


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
