"""Cross-validation scored by calipers metrics, and the study objective built on it.

:func:`cross_validate` is scikit-learn's ``cross_validate`` (same keys, same folds,
same failure handling) with scoring by calipers metric names
(:mod:`calipers.search._cv_scoring`). :func:`cross_val_objective` turns an
estimator and data into ``objective(trial) -> float`` for
:meth:`calipers.search.Study.optimize`: each trial clones the estimator, sets the
trial's parameters, and returns the mean test score over the folds; the per-fold
scores and times go to the trial's user attributes (``"cv"``), which
``calipers_sklearn.SearchCV`` turns into ``cv_results_``.

scikit-learn is not required: estimators only need ``fit`` and the methods their
scoring calls (``get_params`` / ``set_params`` to clone and set parameters).
"""

from __future__ import annotations

import copy
import inspect
import numbers
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from calipers._extras import available, require
from calipers.search._cv_scoring import check_scoring
from calipers.search._cv_split import check_cv, num_samples, take

__all__ = ["CrossValObjective", "FitFailedWarning", "cross_val_objective", "cross_validate",
           "fit_and_score"]


class FitFailedWarning(RuntimeWarning):
    """Some fits failed and got ``error_score`` (used when scikit-learn is not installed;
    with it, scikit-learn's own ``FitFailedWarning`` is raised)."""


def _fit_failed_warning() -> type[Warning]:
    if available("sklearn"):
        from sklearn.exceptions import FitFailedWarning as SkFitFailedWarning

        return SkFitFailedWarning
    return FitFailedWarning


def clone(estimator: Any) -> Any:
    """An unfitted copy of ``estimator`` with the same parameters.

    scikit-learn's ``clone`` when it is installed; otherwise the estimator is rebuilt
    from ``get_params()`` (or deep-copied when it has none).
    """
    if available("sklearn") and hasattr(estimator, "get_params"):
        from sklearn.base import clone as sk_clone

        return sk_clone(estimator)
    if hasattr(estimator, "get_params"):
        params = {k: copy.deepcopy(v) for k, v in estimator.get_params(deep=False).items()}
        return type(estimator)(**params)
    return copy.deepcopy(estimator)


def _is_classifier(estimator: Any) -> bool:
    if available("sklearn"):
        from sklearn.base import is_classifier

        try:
            return bool(is_classifier(estimator))
        except Exception:  # an estimator sklearn cannot inspect
            pass
    return getattr(estimator, "_estimator_type", None) == "classifier"


def _check_error_score(error_score: Any) -> None:
    if not (error_score == "raise" or (isinstance(error_score, numbers.Number)
                                      and not isinstance(error_score, bool))):
        raise ValueError(f"error_score must be 'raise' or a number, got {error_score!r}")


def accepts_sample_weight(scorer: Callable[..., Any]) -> bool:
    """Whether a scorer takes ``sample_weight`` (scikit-learn's test for it)."""
    accept = getattr(scorer, "_accept_sample_weight", None)
    if callable(accept):
        return bool(accept())
    try:
        return "sample_weight" in inspect.signature(scorer).parameters
    except (TypeError, ValueError):
        return False


def _score(scorers: dict[str, Callable[..., float]], estimator: Any, X: Any, y: Any,
           error_score: Any, sample_weight: Any = None) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, scorer in scorers.items():
        kwargs = {} if sample_weight is None or not accepts_sample_weight(scorer) \
            else {"sample_weight": sample_weight}
        try:
            value = scorer(estimator, X, y, **kwargs) if y is not None \
                else scorer(estimator, X, **kwargs)
        except Exception:
            if error_score == "raise":
                raise
            value = error_score
            warnings.warn(
                f"Scoring failed. The score on this train-test partition for these "
                f"parameters will be set to {error_score}. Details: \n"
                f"{traceback.format_exc()}", UserWarning, stacklevel=3)
        if hasattr(value, "item"):
            value = value.item()
        if not isinstance(value, numbers.Number):
            raise ValueError(f"scoring must return a number, got {value!r} "
                             f"({type(value).__name__}) instead. (scorer={key})")
        out[key] = float(value)
    return out


def fit_and_score(estimator: Any, X: Any, y: Any, train: np.ndarray, test: np.ndarray,
                  scorers: dict[str, Callable[..., float]], *, params: Mapping[str, Any]
                  | None = None, fit_params: Mapping[str, Any] | None = None,
                  error_score: Any = np.nan, return_train_score: bool = False,
                  return_estimator: bool = False, score_weight: Any = None) -> dict[str, Any]:
    """Clone, set ``params``, fit on ``train`` and score on ``test`` (one fold).

    ``score_weight`` (per-sample weights of all rows) weights the scores of scorers
    that take ``sample_weight``, split with the rows (as scikit-learn's searches do
    with a ``sample_weight`` fit parameter).

    Returns a dict with ``test_scores`` / ``train_scores`` (dicts by scorer key),
    ``fit_time``, ``score_time``, ``fit_error`` (traceback text or None) and
    ``estimator`` when asked. A failed fit gets ``error_score`` for every score, or
    re-raises with ``error_score="raise"``.
    """
    est = clone(estimator)
    if params:
        est.set_params(**dict(params))
    fit_params = dict(fit_params or {})
    # per-sample fit params (sample_weight, ...) follow the training rows
    n = num_samples(X)
    fit_params = {k: take(v, train) if _per_sample(v, n) else v for k, v in fit_params.items()}
    X_train, X_test = take(X, train), take(X, test)
    y_train, y_test = take(y, train), take(y, test)
    result: dict[str, Any] = {"fit_error": None}
    start = time.perf_counter()
    try:
        if y_train is None:
            est.fit(X_train, **fit_params)
        else:
            est.fit(X_train, y_train, **fit_params)
    except Exception:
        if error_score == "raise":
            raise
        result["fit_time"] = time.perf_counter() - start
        result["score_time"] = 0.0
        result["fit_error"] = traceback.format_exc()
        result["test_scores"] = {k: float(error_score) for k in scorers}
        if return_train_score:
            result["train_scores"] = dict(result["test_scores"])
    else:
        result["fit_time"] = time.perf_counter() - start
        start = time.perf_counter()
        result["test_scores"] = _score(scorers, est, X_test, y_test, error_score,
                                       take(score_weight, test))
        result["score_time"] = time.perf_counter() - start
        if return_train_score:
            result["train_scores"] = _score(scorers, est, X_train, y_train, error_score,
                                            take(score_weight, train))
    if return_estimator:
        result["estimator"] = est
    return result


def _per_sample(value: Any, n: int) -> bool:
    try:
        return not isinstance(value, (str, bytes)) and hasattr(value, "__len__") \
            and num_samples(value) == n
    except TypeError:
        return False


def warn_or_raise_fit_failures(results: Sequence[Mapping[str, Any]], error_score: Any) -> None:
    """scikit-learn's handling of failed fits: all failed -> ValueError, some -> warning."""
    errors = [r["fit_error"] for r in results if r["fit_error"] is not None]
    if not errors:
        return
    line = "-" * 80 + "\n"
    summary = "\n".join(f"{line}{count} fits failed with the following error:\n{err}"
                        for err, count in Counter(errors).items())
    if len(errors) == len(results):
        raise ValueError(
            f"\nAll the {len(results)} fits failed.\nIt is very likely that your model is "
            "misconfigured.\nYou can try to debug the error by setting error_score='raise'."
            f"\n\nBelow are more details about the failures:\n{summary}")
    warnings.warn(
        f"\n{len(errors)} fits failed out of a total of {len(results)}.\nThe score on these "
        f"train-test partitions for these parameters will be set to {error_score}.\nIf "
        "these failures are not expected, you can try to debug them by setting "
        f"error_score='raise'.\n\nBelow are more details about the failures:\n{summary}",
        _fit_failed_warning(), stacklevel=3)


def resolve_scorers(scoring: Any) -> tuple[dict[str, Callable[..., float]], bool]:
    """``scoring`` as ``({key: scorer}, multimetric)``: one scorer is keyed ``"score"``;
    a list / tuple / set of names is keyed by name; a dict maps keys to names or
    callables."""
    if scoring is None or isinstance(scoring, str) or callable(scoring):
        return {"score": check_scoring(scoring)}, False
    if isinstance(scoring, Mapping):
        if not scoring:
            raise ValueError("scoring dict is empty")
        return {str(k): check_scoring(v) for k, v in scoring.items()}, True
    if isinstance(scoring, (list, tuple, set, frozenset)):
        names = list(scoring)
        if not names or not all(isinstance(n, str) for n in names) or \
                len(set(names)) != len(names):
            raise ValueError(f"scoring list must hold distinct metric names, got {scoring!r}")
        return {n: check_scoring(n) for n in names}, True
    raise TypeError(f"scoring must be a name, a callable, a list or a dict, got {scoring!r}")


def _parallel(n_jobs: int | None, calls: list[tuple[Callable[..., Any], tuple, dict]]
              ) -> list[Any]:
    if n_jobs in (None, 1) or len(calls) <= 1:
        return [fn(*args, **kwargs) for fn, args, kwargs in calls]
    joblib = require("joblib", "cross_validate(n_jobs=...)", "sklearn")
    return joblib.Parallel(n_jobs=n_jobs)(
        joblib.delayed(fn)(*args, **kwargs) for fn, args, kwargs in calls)


def cross_validate(estimator: Any, X: Any, y: Any = None, *, cv: Any = 5,
                   scoring: Any = "accuracy", groups: Any = None, n_jobs: int | None = 1,
                   return_train_score: bool = False, return_estimator: bool = False,
                   return_indices: bool = False, fit_params: Mapping[str, Any] | None = None,
                   error_score: Any = np.nan) -> dict[str, Any]:
    """Evaluate ``estimator`` by cross-validation, scored by calipers metrics.

    Parameters
    ----------
    estimator : object
        Has ``fit`` (and ``get_params`` / ``set_params`` to be cloned).
    X, y : array-like
        Data and target (numpy, pandas, sparse or lists).
    cv : int, splitter or iterable of (train, test)
        An int gives :class:`StratifiedKFold` for classifiers with a class target,
        :class:`KFold` otherwise (scikit-learn's rule).
    scoring : str, callable, list, dict or None
        A name from :func:`calipers.search.scorer_names` (``"f1"``, ``"roc_auc"``,
        ``"f1_macro"``, ``"neg_log_loss"``, ...), a scorer callable, ``None``
        (``estimator.score``), or a list / dict of them (keys ``test_<name>``).
    groups : array-like, optional
        Group labels for group-aware splitters.
    n_jobs : int
        Folds run in parallel with joblib when not 1.
    return_train_score, return_estimator, return_indices : bool
        Add ``train_score``, ``estimator``, ``indices`` (as scikit-learn).
    fit_params : dict, optional
        Passed to ``fit``; per-sample arrays are split with the rows.
    error_score : 'raise' or float
        Score of a failed fit (with a ``FitFailedWarning``); 'raise' re-raises.

    Returns
    -------
    dict
        ``fit_time``, ``score_time``, ``test_score`` (or ``test_<name>`` for several
        scorers), and the optional keys; arrays of one value per fold.
    """
    _check_error_score(error_score)
    scorers, multi = resolve_scorers(scoring)
    splitter = check_cv(cv, y, classifier=_is_classifier(estimator))
    splits = list(splitter.split(X, y, groups))
    calls = [(fit_and_score, (estimator, X, y, train, test, scorers),
              {"fit_params": fit_params, "error_score": error_score,
               "return_train_score": return_train_score,
               "return_estimator": return_estimator}) for train, test in splits]
    results = _parallel(n_jobs, calls)
    warn_or_raise_fit_failures(results, error_score)
    out: dict[str, Any] = {
        "fit_time": np.array([r["fit_time"] for r in results]),
        "score_time": np.array([r["score_time"] for r in results]),
    }
    if return_estimator:
        out["estimator"] = [r["estimator"] for r in results]
    if return_indices:
        out["indices"] = {"train": [tr for tr, _ in splits], "test": [te for _, te in splits]}
    for key in scorers:
        suffix = f"_{key}" if multi else "_score"
        out["test" + suffix] = np.array([r["test_scores"][key] for r in results])
        if return_train_score:
            out["train" + suffix] = np.array([r["train_scores"][key] for r in results])
    return out


class CrossValObjective:
    """``objective(trial) -> float``: the mean cross-validated score of the trial's params.

    ``score_weight`` (per-sample weights, optional) weights the fold scores of the
    scorers that take ``sample_weight``.

    Picklable (it runs in worker processes). The folds are fixed at construction, so
    every trial is scored on the same splits. After scoring, the trial (when it has
    ``set_user_attr``) gets the user attribute ``"cv"``: a dict with per-fold
    ``test_scores`` / ``train_scores`` (lists, one per fold, by scorer key),
    ``fit_times``, ``score_times`` and ``fit_errors`` (per fold: the traceback text
    of a failed fit, or None).

    A failed fit scores ``error_score``: with the default ``nan`` the trial's mean
    is ``nan`` and the study records it FAILED; ``error_score="raise"`` re-raises.
    No warning is issued here (trials may run in other processes): the caller
    reports failures from the records (``SearchCV`` warns ``FitFailedWarning``).
    """

    def __init__(self, estimator: Any, X: Any, y: Any, splits: Sequence[tuple[Any, Any]],
                 scorers: dict[str, Callable[..., float]], *, refit_key: str = "score",
                 fit_params: Mapping[str, Any] | None = None, error_score: Any = np.nan,
                 return_train_score: bool = False, score_weight: Any = None) -> None:
        _check_error_score(error_score)
        if refit_key not in scorers:
            raise ValueError(f"refit_key {refit_key!r} is not among the scorers "
                             f"{sorted(scorers)}")
        self.estimator = estimator
        self.X, self.y = X, y
        self.splits = [(np.asarray(tr), np.asarray(te)) for tr, te in splits]
        self.scorers = scorers
        self.refit_key = refit_key
        self.fit_params = dict(fit_params or {})
        self.error_score = error_score
        self.return_train_score = return_train_score
        self.score_weight = score_weight

    def evaluate(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Cross-validate ``params``; return the ``"cv"`` record described above."""
        results = [fit_and_score(self.estimator, self.X, self.y, train, test, self.scorers,
                                 params=params, fit_params=self.fit_params,
                                 error_score=self.error_score,
                                 return_train_score=self.return_train_score,
                                 score_weight=self.score_weight)
                   for train, test in self.splits]
        record: dict[str, Any] = {
            "test_scores": {k: [r["test_scores"][k] for r in results] for k in self.scorers},
            "fit_times": [r["fit_time"] for r in results],
            "score_times": [r["score_time"] for r in results],
            "fit_errors": [r["fit_error"] for r in results],
        }
        if self.return_train_score:
            record["train_scores"] = {k: [r["train_scores"][k] for r in results]
                                      for k in self.scorers}
        return record

    def __call__(self, trial: Any) -> float:
        params = trial.params if hasattr(trial, "params") else trial
        record = self.evaluate(dict(params))
        if hasattr(trial, "set_user_attr"):
            trial.set_user_attr("cv", record)
        return float(np.mean(record["test_scores"][self.refit_key]))


def cross_val_objective(estimator: Any, X: Any, y: Any = None, *, cv: Any = 5,
                        scoring: Any = "accuracy", groups: Any = None,
                        fit_params: Mapping[str, Any] | None = None,
                        error_score: Any = np.nan, return_train_score: bool = False
                        ) -> CrossValObjective:
    """Build the objective of a study: the mean CV score of a trial's parameters.

    The folds are drawn once here (``cv`` as in :func:`cross_validate`), so all
    trials see the same splits. Use it with ``direction="maximize"``: scores are
    "greater is better" (losses negated)::

        study = calipers.create_study(space=space, direction="maximize")
        study.optimize(cross_val_objective(clf, X, y, cv=5, scoring="f1"), n_trials=30)

    Returns
    -------
    CrossValObjective
    """
    scorers, multi = resolve_scorers(scoring)
    if multi:
        raise ValueError("cross_val_objective optimizes one score; pass one scoring name")
    splitter = check_cv(cv, y, classifier=_is_classifier(estimator))
    splits = list(splitter.split(X, y, groups))
    return CrossValObjective(estimator, X, y, splits, scorers, fit_params=fit_params,
                             error_score=error_score, return_train_score=return_train_score)
