"""The TOML spec of ``calipers tune`` / ``calipers run``: parsing and validation.

A spec names the data, the estimator, the search space, the searcher, the budget,
the cross-validation and the scoring::

    study_name = "breast-cancer-hgb"        # default: the spec file's stem
    storage = "sqlite:///calipers-study.db" # default; a relative SQLite path is
                                            # relative to the spec's directory
    seed = 0                                # default seed of everything below
    scoring = "roc_auc"                     # a calipers metric name (greater is better)

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

import difflib
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
_PARAM_KEYS = {
    "float": ("type", "low", "high", "log", "condition"),
    "int": ("type", "low", "high", "log", "step", "condition"),
    "categorical": ("type", "choices", "condition"),
}


class SpecError(ValueError):
    """A tuning spec is malformed; the message names the file, section and key."""


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
    err = _Errors(source)
    _check_keys(err, raw, _TOP, "")
    for section in ("data", "estimator", "space"):
        if section not in raw:
            err.fail(f"missing section [{section}]")
    seed = _int(err, raw, "seed", "", default=0, low=0)
    study_name = _str(err, raw, "study_name", "", default=default_name)
    storage = resolve_storage(_str(err, raw, "storage", "", default=None), base_dir)
    scoring = _str(err, raw, "scoring", "", default=None)

    data = _table(err, raw, "data")
    _check_keys(err, data, _DATA, "data")
    dataset = _str(err, data, "dataset", "data", default=None)
    path_text = _str(err, data, "path", "data", default=None)
    target = _str(err, data, "target", "data", default=None)
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
    test_size = _float(err, data, "test_size", "data", default=0.25)
    if not 0.0 < test_size < 1.0:
        err.fail(f"[data] test_size must be in (0, 1), got {test_size!r}")

    est = _table(err, raw, "estimator")
    _check_keys(err, est, _ESTIMATOR, "estimator")
    cls = _str(err, est, "class", "estimator", default=None)
    if cls is None or "." not in cls.strip("."):
        err.fail("[estimator] class must be an import path like "
                 f"'sklearn.ensemble.HistGradientBoostingClassifier', got {cls!r}")
    params = est.get("params", {})
    if not isinstance(params, dict):
        err.fail(f"[estimator] params must be a table, got {params!r}")

    space = _table(err, raw, "space")
    if not space:
        err.fail("[space] is empty: give at least one parameter to tune")
    for name, entry in space.items():
        _check_param(err, name, entry)

    searcher_table = _table(err, raw, "searcher", required=False)
    searcher = _str(err, searcher_table, "name", "searcher", default="bayes")
    options = {k: v for k, v in searcher_table.items() if k != "name"}
    if "seed" in options:
        err.fail("[searcher] seed: set the top-level 'seed' (or pass --seed) instead")

    budget = _table(err, raw, "budget", required=False)
    _check_keys(err, budget, _BUDGET, "budget")
    n_trials = _int(err, budget, "n_trials", "budget", default=30, low=1)
    timeout = _float(err, budget, "timeout", "budget", default=None)
    if timeout is not None and not timeout > 0:
        err.fail(f"[budget] timeout must be a positive number of seconds, got {timeout!r}")
    n_jobs = _int(err, budget, "n_jobs", "budget", default=1, low=-1)
    if n_jobs == 0:
        err.fail("[budget] n_jobs must be a positive integer or -1 (all cores), got 0")
    threads = _int(err, budget, "threads", "budget", default=1, low=0)

    cv = _table(err, raw, "cv", required=False)
    _check_keys(err, cv, _CV, "cv")
    n_splits = _int(err, cv, "n_splits", "cv", default=5, low=2)
    stratified = _bool(err, cv, "stratified", "cv", default=None)
    shuffle = _bool(err, cv, "shuffle", "cv", default=True)
    cv_seed = _int(err, cv, "seed", "cv", default=seed, low=0)

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

    err = _Errors(spec.source)
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


# -- checking helpers --------------------------------------------------------------------


class _Errors:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, message: str) -> Any:
        raise SpecError(f"{self.source}: {message}")


def _where(section: str, key: str) -> str:
    return f"[{section}] {key}" if section else key


def _check_keys(err: _Errors, table: Mapping[str, Any], allowed: tuple[str, ...],
                section: str) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            where = f"[{section}]" if section else "the top level"
            err.fail(f"unknown key {key!r} in {where}{hint} (allowed: {', '.join(allowed)})")


def _table(err: _Errors, raw: Mapping[str, Any], name: str,
           required: bool = True) -> dict[str, Any]:
    value = raw.get(name, {} if not required else None)
    if not isinstance(value, dict):
        err.fail(f"[{name}] must be a table (a [{name}] section), got {value!r}")
    return value


def _str(err: _Errors, table: Mapping[str, Any], key: str, section: str,
         default: Any) -> Any:
    value = table.get(key, default)
    if value is not default and (not isinstance(value, str) or not value.strip()):
        err.fail(f"{_where(section, key)} must be a non-empty string, got {value!r}")
    return value


def _int(err: _Errors, table: Mapping[str, Any], key: str, section: str, default: Any,
         low: int) -> Any:
    value = table.get(key, default)
    if value is default:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        err.fail(f"{_where(section, key)} must be an integer >= {low}, got {value!r}")
    return value


def _float(err: _Errors, table: Mapping[str, Any], key: str, section: str,
           default: Any) -> Any:
    value = table.get(key, default)
    if value is default:
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value):
        err.fail(f"{_where(section, key)} must be a finite number, got {value!r}")
    return float(value)


def _bool(err: _Errors, table: Mapping[str, Any], key: str, section: str,
          default: Any) -> Any:
    value = table.get(key, default)
    if value is not default and not isinstance(value, bool):
        err.fail(f"{_where(section, key)} must be true or false, got {value!r}")
    return value


def _check_param(err: _Errors, name: str, entry: Any) -> None:
    where = f"[space] {name}"
    if not isinstance(entry, dict):
        err.fail(f"{where} must be a table like {{ type = \"float\", low = 0.01, high = 1.0 }}, "
                 f"got {entry!r}")
    kind = entry.get("type")
    if kind not in _PARAM_KEYS:
        err.fail(f"{where}: type must be one of \"float\", \"int\", \"categorical\", "
                 f"got {kind!r}")
    for key in entry:
        if key not in _PARAM_KEYS[kind]:
            close = difflib.get_close_matches(key, _PARAM_KEYS[kind], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            err.fail(f"{where}: unknown key {key!r} for type {kind!r}{hint} "
                     f"(allowed: {', '.join(_PARAM_KEYS[kind])})")
    if kind == "categorical":
        choices = entry.get("choices")
        if not isinstance(choices, list):
            err.fail(f"{where}: categorical needs choices = [...], got {choices!r}")
    else:
        for key in ("low", "high"):
            if key not in entry:
                err.fail(f"{where}: {kind} needs {key!r}")
            v = entry[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                err.fail(f"{where}: {key} must be a number, got {v!r}")
        if "log" in entry and not isinstance(entry["log"], bool):
            err.fail(f"{where}: log must be true or false, got {entry['log']!r}")
    cond = entry.get("condition")
    if cond is not None:
        ok = isinstance(cond, dict) and (
            set(cond) == {"parent", "values"} and isinstance(cond["parent"], str)
            or (len(cond) == 1 and "parent" not in cond and "values" not in cond)
        )
        if not ok:
            err.fail(f"{where}: condition must be {{ parent = \"name\", values = [...] }} "
                     f"(or {{ name = [...] }}), got {cond!r}")
