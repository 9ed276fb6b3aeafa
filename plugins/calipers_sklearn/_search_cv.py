"""``SearchCV``: a scikit-learn meta-estimator tuned by a calipers study."""

from __future__ import annotations

import copy
import numbers
import pickle
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone, is_classifier
from sklearn.model_selection import check_cv
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted, indexable

from calipers.search._cv import (
    CrossValObjective,
    accepts_sample_weight,
    resolve_scorers,
    warn_or_raise_fit_failures,
)
from calipers.search._storage import DuplicateStudyError
from calipers_sklearn._delegate import DelegateToBest, check_refit
from calipers_sklearn._results import (
    candidate_records,
    format_results,
    restore_params,
)

__all__ = ["SearchCV"]


class SearchCV(DelegateToBest, MetaEstimatorMixin, BaseEstimator):
    """Hyper-parameter search by cross-validation, run as a calipers study.

    Each trial of the study sets the searcher's parameters on a clone of
    ``estimator`` and scores it by cross-validation (the same folds for every
    trial); the study maximizes the mean test score. Then the best parameters are
    refit on the whole data. Works like scikit-learn's ``GridSearchCV`` /
    ``RandomizedSearchCV`` (same ``cv_results_`` keys, delegation of ``predict``
    & co., usable in a ``Pipeline`` and with ``clone``), with calipers' searchers,
    metrics and persistent, parallel studies.

    Parameters
    ----------
    estimator : estimator object
        What to tune (a ``Pipeline`` too: name parameters ``"step__param"``).
    space : SearchSpace or dict
        The search space: a :class:`calipers.search.SearchSpace`, or a dict of name
        -> :class:`~calipers.search.Float` / ``Int`` / ``Categorical``, or of name
        -> list of values (a list means ``Categorical``, like a ``param_grid``).
    searcher : str or Searcher
        A registered searcher (``"grid"``, ``"random"``, ``"bayes"``,
        ``"halving"``, a plugin's) or an instance.
    searcher_options : dict, optional
        Options of a searcher given by name, e.g. ``{"budget": "n_estimators",
        "min_budget": 10, "max_budget": 90}`` for ``"halving"`` (the budget
        parameter is then set by the searcher, not drawn from ``space``).
    n_trials : int or None
        Trials to run. ``None`` runs until the searcher is exhausted (the whole
        grid with ``searcher="grid"``); a grid stops early when it has fewer points.
    cv : int, splitter or iterable
        scikit-learn's ``cv``: an int gives stratified k-fold for classifiers.
    scoring : str, callable, list, dict or None
        A calipers scoring name (``"f1"``, ``"roc_auc"``, ``"f1_macro"``,
        ``"neg_log_loss"``, ... see :func:`calipers_sklearn.make_scorer`), a scorer
        callable, ``None`` for ``estimator.score``, or a list / dict of them (then
        ``refit`` names the one the study optimizes).
    refit : bool, str or callable
        Refit the best parameters on the whole data (``best_estimator_``). With
        several scorers, the name of the scorer to optimize and refit by. A callable
        ``refit(cv_results_) -> index`` picks the candidate (no ``best_score_``).
    n_jobs : int or None
        Trials run in parallel processes (through the study); ``-1`` = all cores.
    storage : None, str or Storage
        Where the study is kept: ``None`` in memory, or an SQLAlchemy URL
        (``"sqlite:///tune.db"``).
    study_name : str, optional
        Name of the study in ``storage``.
    seed : int, optional
        Seed of the searcher (the same seed gives the same trials, any ``n_jobs``).
    batch_size : int, optional
        Trials proposed per round (adaptive searchers see earlier rounds only).
        ``None`` (default): the number of parallel trials, ``n_jobs``, so that
        ``n_jobs > 1`` runs that many trials at once; the same seed and batch size
        give the same trials.
    error_score : 'raise' or float
        Score of a fold whose fit fails (a ``FitFailedWarning`` is issued); with
        ``nan`` (default) such a trial is recorded FAILED in the study. ``'raise'``
        raises the error.
    return_train_score : bool
        Also score the training folds (``split<i>_train_score`` & co.).
    verbose : int
        ``> 0`` shows the study's progress bar.

    Attributes
    ----------
    cv_results_ : dict of numpy arrays
        GridSearchCV's keys, one entry per trial in trial order.
    best_estimator_, best_params_, best_score_, best_index_ :
        The refit estimator, its parameters, mean CV score and index in
        ``cv_results_``.
    scorer_ : callable or dict
    n_splits_ : int
    refit_time_ : float
        Seconds the refit took.
    study_ : calipers.search.Study
        The study that ran the trials.
    multimetric_ : bool
    classes_, n_features_in_, feature_names_in_ :
        From ``best_estimator_``.
    """

    def __init__(self, estimator: Any, space: Any, *, searcher: Any = "bayes",
                 searcher_options: dict[str, Any] | None = None,
                 n_trials: int | None = 30, cv: Any = 5, scoring: Any = "f1",
                 refit: bool | str | Callable[..., int] = True, n_jobs: int | None = 1,
                 storage: Any = None, study_name: str | None = None, seed: int | None = None,
                 batch_size: int | None = None, error_score: Any = np.nan,
                 return_train_score: bool = False, verbose: int = 0) -> None:
        self.estimator = estimator
        self.space = space
        self.searcher = searcher
        self.searcher_options = searcher_options
        self.n_trials = n_trials
        self.cv = cv
        self.scoring = scoring
        self.refit = refit
        self.n_jobs = n_jobs
        self.storage = storage
        self.study_name = study_name
        self.seed = seed
        self.batch_size = batch_size
        self.error_score = error_score
        self.return_train_score = return_train_score
        self.verbose = verbose

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        sub = get_tags(self.estimator)
        tags.estimator_type = sub.estimator_type
        tags.classifier_tags = sub.classifier_tags
        tags.regressor_tags = sub.regressor_tags
        tags.input_tags.pairwise = sub.input_tags.pairwise
        tags.input_tags.sparse = sub.input_tags.sparse
        tags.target_tags = copy.deepcopy(sub.target_tags)
        return tags

    # -- fitting -------------------------------------------------------------------
    def _check_params(self) -> None:
        if self.n_trials is not None and (isinstance(self.n_trials, bool) or not isinstance(
                self.n_trials, numbers.Integral) or self.n_trials < 1):
            raise ValueError(f"n_trials must be a positive int or None, got {self.n_trials!r}")
        if not (self.error_score == "raise" or (isinstance(self.error_score, numbers.Real)
                                               and not isinstance(self.error_score, bool))):
            raise ValueError(
                f"error_score must be 'raise' or a number, got {self.error_score!r}")
        if not (isinstance(self.refit, (bool, str)) or callable(self.refit)):
            raise TypeError(f"refit must be a bool, a scorer name or a callable, got "
                            f"{self.refit!r}")

    def _refit_key(self, scorers: dict[str, Any], multi: bool) -> str:
        if not multi:
            return "score"
        if isinstance(self.refit, str) and self.refit in scorers:
            return self.refit
        raise ValueError(
            "For multi-metric scoring, the parameter refit must be set to a scorer key "
            f"(one of {sorted(scorers)}): SearchCV optimizes that one; got "
            f"refit={self.refit!r}"
        )

    def _check_space(self, space: Any) -> None:
        valid = self.estimator.get_params(deep=True)
        unknown = [name for name in space.names if name not in valid]
        if unknown:
            raise ValueError(
                f"search space parameter(s) {unknown} are not parameters of "
                f"{type(self.estimator).__name__}; valid parameters: {sorted(valid)}"
            )

    def _score_weight(self, scorers: dict[str, Any], sample_weight: Any) -> Any:
        """Weights for the fold scores, as scikit-learn's searches use a
        ``sample_weight`` fit parameter: passed to the scorers that take it."""
        if sample_weight is None:
            return None
        for key, scorer in scorers.items():
            if not accepts_sample_weight(scorer):
                warnings.warn(
                    f"The scoring {key}={scorer} does not support sample_weight, which may "
                    f"lead to statistically incorrect results when fitting {self} with "
                    "sample_weight. ", UserWarning, stacklevel=3)
        return sample_weight

    def fit(self, X: Any, y: Any = None, groups: Any = None, **fit_params: Any) -> SearchCV:
        """Run the study on ``X, y`` and refit the best parameters.

        Parameters
        ----------
        X, y : array-like
            Training data and target.
        groups : array-like, optional
            Group labels for a group splitter (``GroupKFold``, ...).
        **fit_params
            Passed to the estimator's ``fit`` (per-sample arrays are split with the
            folds).
        """
        import calipers
        from calipers.search import SearchSpace

        self._check_params()
        scorers, multi = resolve_scorers(self.scoring)
        refit_key = self._refit_key(scorers, multi)
        if y is None and get_tags(self).target_tags.required:
            raise ValueError(f"{type(self.estimator).__name__} requires y to be passed, but "
                             "the target y is None.")
        X, y = indexable(X, y)
        space = SearchSpace.coerce(self.space)
        self._check_space(space)
        splitter = check_cv(self.cv, y, classifier=is_classifier(self.estimator))
        splits = list(splitter.split(X, y, groups))
        self.n_splits_ = len(splits)
        objective = CrossValObjective(
            self.estimator, X, y, splits, scorers, refit_key=refit_key,
            fit_params=fit_params, error_score=self.error_score,
            return_train_score=self.return_train_score,
            score_weight=self._score_weight(scorers, fit_params.get("sample_weight")))
        try:
            study = calipers.create_study(
                space=space, searcher=self.searcher, direction="maximize", seed=self.seed,
                storage=self.storage, study_name=self.study_name,
                batch_size=self.batch_size, searcher_options=self.searcher_options)
        except DuplicateStudyError as exc:
            raise DuplicateStudyError(
                f"{exc.args[0].split(';')[0]}; each SearchCV.fit runs a new study: choose "
                "another study_name, or leave study_name=None for a fresh one (the old "
                "study stays readable with calipers.load_study)") from None
        catch: tuple[type[BaseException], ...] = () if self.error_score == "raise" \
            else (Exception,)
        n_trials = self.n_trials
        name = self.searcher if isinstance(self.searcher, str) else \
            getattr(self.searcher, "name", None)
        if name == "grid":  # the whole grid at most (no trial that finds it exhausted)
            size = space.grid_size()
            n_trials = size if n_trials is None else min(n_trials, size)
        study.optimize(objective, n_trials=n_trials, n_jobs=self.n_jobs or 1,
                       catch=catch, show_progress=bool(self.verbose))
        self._study = study
        self._store_results(study, space, list(scorers), refit_key)
        self.multimetric_ = multi
        self.scorer_ = scorers if multi else scorers["score"]
        if self.refit:
            self.best_estimator_ = clone(self.estimator).set_params(
                **clone(self.best_params_, safe=False))
            start = time.perf_counter()
            if y is None:
                self.best_estimator_.fit(X, **fit_params)
            else:
                self.best_estimator_.fit(X, y, **fit_params)
            self.refit_time_ = time.perf_counter() - start
            if hasattr(self.best_estimator_, "feature_names_in_"):
                self.feature_names_in_ = self.best_estimator_.feature_names_in_
        return self

    def _store_results(self, study: Any, space: Any, keys: list[str], refit_key: str) -> None:
        # a trial that only found the searcher exhausted is no candidate
        trials = sorted((t for t in study.trials if t.state.finished
                         and not (t.fail_reason == "searcher exhausted" and not t.params)),
                        key=lambda t: t.number)
        if not trials:
            raise ValueError("the study finished no trial; nothing to choose from")
        records = candidate_records(trials, keys, self.n_splits_, self.return_train_score)
        folds = [{"fit_error": e} for r in records for e in r["fit_errors"]]
        warn_or_raise_fit_failures(folds, self.error_score)
        candidates = [restore_params(space, t.params) for t in trials]
        results = format_results(candidates, records, keys, self.n_splits_,
                                 self.return_train_score)
        self.cv_results_ = results
        if callable(self.refit):
            index = self.refit(results)
            if isinstance(index, bool) or not isinstance(index, numbers.Integral):
                raise TypeError("best_index_ returned is not an integer")
            if not 0 <= index < len(candidates):
                raise IndexError("best_index_ index out of range")
        else:
            index = int(results[f"rank_test_{refit_key}"].argmin())
            self.best_score_ = float(results[f"mean_test_{refit_key}"][index])
        self.best_index_ = int(index)
        self.best_params_ = candidates[self.best_index_]

    # -- delegation to best_estimator_ ---------------------------------------------
    def score(self, X: Any, y: Any = None) -> float:
        """Score ``best_estimator_`` on ``X, y`` with ``scoring`` (the refit scorer)."""
        check_refit(self, "score")
        check_is_fitted(self)
        scorer = self.scorer_[self.refit] if self.multimetric_ else self.scorer_
        return scorer(self.best_estimator_, X, y)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "cv_results_")

    # -- the study, across pickling -------------------------------------------------
    @property
    def study_(self) -> Any:
        """The :class:`calipers.search.Study` that ran the trials.

        A pickled ``SearchCV`` keeps its study when the study pickles; otherwise a
        study in a database is loaded again from ``storage`` on first access, and an
        in-memory one is not kept (this attribute then raises ``AttributeError``).
        """
        study = self.__dict__.get("_study")
        if study is not None:
            return study
        ref = self.__dict__.get("_study_ref")
        if ref is None:
            raise AttributeError(f"{type(self).__name__} has no study_ (not fitted)")
        name, storage = ref
        if storage is None:
            raise AttributeError(
                "study_ was in memory and is not kept by pickling; fit with storage= "
                "(e.g. 'sqlite:///tune.db') to keep the study")
        import calipers

        self._study = calipers.load_study(study_name=name, storage=storage)
        return self._study

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        study = state.get("_study")
        if study is not None:
            try:
                pickle.dumps(study)
            except Exception:  # noqa: BLE001 - locks, connections: keep a reference
                del state["_study"]
                url = self.storage if isinstance(self.storage, str) else None
                state["_study_ref"] = (study.study_name, url)
        return state
