"""SearchCV: the numbers of GridSearchCV on the same folds, delegation, Pipeline, clone."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from calipers_sklearn import SearchCV
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.decomposition import PCA
from sklearn.exceptions import FitFailedWarning, NotFittedError
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    KFold,
    StratifiedKFold,
    cross_val_score,
)
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC
from sklearn.tree import DecisionTreeClassifier

import calipers
from calipers.search import Categorical, Float, Int, SearchSpace


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return X[::2], y[::2]  # half the data: quicker, same behaviour


def _assert_same_results(ours, theirs, n_splits, keys=("score",), train=False):
    assert [k for k in ours if "time" not in k] == [k for k in theirs if "time" not in k]
    assert ours["params"] == theirs["params"]
    for key in keys:
        for i in range(n_splits):
            np.testing.assert_allclose(ours[f"split{i}_test_{key}"],
                                       theirs[f"split{i}_test_{key}"], rtol=1e-12)
            if train:
                np.testing.assert_allclose(ours[f"split{i}_train_{key}"],
                                           theirs[f"split{i}_train_{key}"], rtol=1e-12)
        for stat in ("mean", "std"):
            np.testing.assert_allclose(ours[f"{stat}_test_{key}"],
                                       theirs[f"{stat}_test_{key}"], rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(ours[f"rank_test_{key}"], theirs[f"rank_test_{key}"])
        assert ours[f"rank_test_{key}"].dtype == theirs[f"rank_test_{key}"].dtype
    for k in ours:
        if k.startswith("param_"):
            np.testing.assert_array_equal(ours[k].mask, theirs[k].mask)
            assert ours[k].dtype == theirs[k].dtype
            assert ours[k].compressed().tolist() == theirs[k].compressed().tolist()


@pytest.mark.parametrize("scoring", ["f1", "roc_auc", "neg_log_loss", "balanced_accuracy"])
def test_grid_equals_gridsearchcv(cancer, scoring):
    X, y = cancer
    tree = DecisionTreeClassifier(random_state=0)
    space = {"max_depth": Int(1, 4), "criterion": Categorical(["gini", "entropy"]),
             "min_samples_leaf": Int(1, 9, step=4)}
    grid = {"max_depth": [1, 2, 3, 4], "criterion": ["gini", "entropy"],
            "min_samples_leaf": [1, 5, 9]}
    ours = SearchCV(tree, space, searcher="grid", n_trials=None, scoring=scoring,
                    return_train_score=True).fit(X, y)
    theirs = GridSearchCV(tree, grid, scoring=scoring, return_train_score=True).fit(X, y)
    _assert_same_results(ours.cv_results_, theirs.cv_results_, 5, train=True)
    assert ours.best_params_ == theirs.best_params_
    assert ours.best_index_ == theirs.best_index_
    assert ours.best_score_ == pytest.approx(theirs.best_score_, rel=1e-12)
    assert ours.n_splits_ == 5 and ours.refit_time_ >= 0
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert ours.score(X, y) == pytest.approx(theirs.score(X, y), rel=1e-12)
    assert len(ours.study_.trials) == 24
    assert ours.study_.best_value == pytest.approx(theirs.best_score_, rel=1e-12)


def test_grid_multimetric_equals_gridsearchcv(cancer):
    X, y = cancer
    est = make_pipeline(StandardScaler(), LogisticRegression())
    grid = {"logisticregression__C": [0.01, 0.1, 1.0, 10.0]}
    scoring = ["accuracy", "roc_auc", "f1_macro"]
    ours = SearchCV(est, grid, searcher="grid", scoring=scoring, refit="roc_auc",
                    cv=KFold(3, shuffle=True, random_state=0)).fit(X, y)
    theirs = GridSearchCV(est, grid, scoring=scoring, refit="roc_auc",
                          cv=KFold(3, shuffle=True, random_state=0)).fit(X, y)
    _assert_same_results(ours.cv_results_, theirs.cv_results_, 3, keys=scoring)
    assert ours.best_params_ == theirs.best_params_ and ours.multimetric_
    assert ours.score(X, y) == pytest.approx(theirs.score(X, y))
    assert set(ours.scorer_) == set(scoring)


def test_random_candidates_score_as_sklearn(cancer):
    """Random search: each sampled candidate's per-fold scores equal sklearn's
    cross_val_score on the same folds, and the whole table equals GridSearchCV run
    over exactly these candidates (what RandomizedSearchCV does with a fixed list)."""
    X, y = cancer
    est = make_pipeline(StandardScaler(), LogisticRegression())
    space = {"logisticregression__C": Float(1e-3, 1e2, log=True),
             "logisticregression__fit_intercept": Categorical([True, False])}
    ours = SearchCV(est, space, searcher="random", n_trials=6, seed=3, scoring="roc_auc",
                    cv=4).fit(X, y)
    res = ours.cv_results_
    assert len(res["params"]) == 6 and len({p["logisticregression__C"]
                                            for p in res["params"]}) == 6
    for i, params in enumerate(res["params"]):
        expected = cross_val_score(clone(est).set_params(**params), X, y, scoring="roc_auc",
                                   cv=StratifiedKFold(4))
        got = [res[f"split{j}_test_score"][i] for j in range(4)]
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    grid = [{k: [v] for k, v in p.items()} for p in res["params"]]
    theirs = GridSearchCV(est, grid, scoring="roc_auc", cv=4).fit(X, y)
    _assert_same_results(res, theirs.cv_results_, 4)
    # the same seed gives the same candidates
    again = SearchCV(est, space, searcher="random", n_trials=6, seed=3, scoring="roc_auc",
                     cv=4).fit(X, y)
    assert again.cv_results_["params"] == res["params"]


def test_conditional_space_masks_params(cancer):
    X, y = cancer
    est = make_pipeline(StandardScaler(), SVC())
    space = SearchSpace({f"svc__{k}": v for k, v in {
        "kernel": Categorical(["linear", "rbf"]),
        "gamma": Categorical([0.001, 0.01], condition=("svc__kernel", ("rbf",))),
    }.items()})
    ours = SearchCV(est, space, searcher="grid", n_trials=None, scoring="accuracy",
                    cv=3).fit(X, y)
    res = ours.cv_results_
    assert len(res["params"]) == 3
    grid = [{k: [v] for k, v in p.items()} for p in res["params"]]
    theirs = GridSearchCV(est, grid, scoring="accuracy", cv=3).fit(X, y)
    _assert_same_results(res, theirs.cv_results_, 3)
    gamma = res["param_svc__gamma"]
    assert gamma.mask.tolist() == ["gamma" not in str(p) for p in res["params"]]


def test_in_a_pipeline_and_cloned(cancer):
    X, y = cancer
    search = SearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, searcher="grid",
                      scoring="accuracy", cv=3)
    pipe = Pipeline([("scale", StandardScaler()), ("search", search)]).fit(X, y)
    ref = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, scoring="accuracy", cv=3)
    ref_pipe = Pipeline([("scale", StandardScaler()), ("search", ref)]).fit(X, y)
    np.testing.assert_array_equal(pipe.predict(X), ref_pipe.predict(X))
    np.testing.assert_allclose(pipe.predict_proba(X), ref_pipe.predict_proba(X))
    assert pipe.named_steps["search"].best_params_ == ref_pipe.named_steps["search"].best_params_
    # clone: same parameters, not fitted
    fitted = pipe.named_steps["search"]
    c = clone(fitted)
    assert c.get_params(deep=False).keys() == fitted.get_params(deep=False).keys()
    assert c.get_params()["estimator__C"] == 1.0 and not hasattr(c, "cv_results_")
    with pytest.raises(NotFittedError):
        c.predict(X)
    c.set_params(estimator__max_iter=500, cv=4)
    assert c.estimator.max_iter == 500 and c.cv == 4
    # nested: a cloned pipeline with a search inside tunes again
    c2 = clone(pipe).set_params(search__space={"C": [0.5]})
    assert c2.fit(X, y).named_steps["search"].best_params_ == {"C": 0.5}
    # SearchCV as the estimator of a GridSearchCV (meta of a meta)
    outer = GridSearchCV(search, {"cv": [2, 3]}, cv=2).fit(StandardScaler().fit_transform(X), y)
    assert outer.best_params_["cv"] in (2, 3)


def test_delegation_and_attributes():
    X, y = load_iris(return_X_y=True, as_frame=True)
    est = make_pipeline(StandardScaler(), PCA(n_components=2), LogisticRegression())
    s = SearchCV(est, {"pca__n_components": [2, 3]}, searcher="grid", scoring="accuracy",
                 cv=3).fit(X, y)
    assert s.classes_.tolist() == [0, 1, 2]
    assert s.n_features_in_ == 4
    assert s.feature_names_in_.tolist() == list(X.columns)
    for method in ("predict", "predict_proba", "predict_log_proba", "decision_function"):
        np.testing.assert_allclose(getattr(s, method)(X), getattr(s.best_estimator_, method)(X))
    assert not hasattr(s, "transform")  # the pipeline ends in a classifier
    t = SearchCV(make_pipeline(StandardScaler(), PCA()), {"pca__n_components": [1, 2]},
                 searcher="grid", scoring=lambda e, X_, y_=None: -e[-1].n_components_,
                 cv=2).fit(X)
    np.testing.assert_allclose(t.transform(X), t.best_estimator_.transform(X))
    np.testing.assert_allclose(t.inverse_transform(t.transform(X)),
                               t.best_estimator_.inverse_transform(t.transform(X)))
    assert t.best_params_ == {"pca__n_components": 1}
    assert not hasattr(SearchCV(LinearSVC(), {"C": [1.0]}), "predict_proba")
    assert hasattr(SearchCV(LinearSVC(), {"C": [1.0]}), "decision_function")


def test_refit_false_and_callable(cancer):
    X, y = cancer
    s = SearchCV(DecisionTreeClassifier(random_state=0), {"max_depth": [1, 2, 3]},
                 searcher="grid", refit=False, scoring="accuracy", cv=3).fit(X, y)
    assert not hasattr(s, "best_estimator_") and s.best_params_ and hasattr(s, "best_score_")
    with pytest.raises(AttributeError, match="no attribute 'predict'") as info:
        s.predict(X)
    assert "refit=False" in str(info.value.__cause__)
    assert not hasattr(s, "classes_")
    s = SearchCV(DecisionTreeClassifier(random_state=0), {"max_depth": [1, 2, 3]},
                 searcher="grid", refit=lambda r: int(np.argmin(r["mean_test_score"])),
                 scoring="accuracy", cv=3).fit(X, y)
    assert s.best_index_ == int(np.argmin(s.cv_results_["mean_test_score"]))
    assert not hasattr(s, "best_score_") and s.best_estimator_.max_depth == \
        s.best_params_["max_depth"]
    with pytest.raises(IndexError):
        SearchCV(DecisionTreeClassifier(), {"max_depth": [1]}, searcher="grid",
                 refit=lambda r: 5, scoring="accuracy", cv=3).fit(X, y)


class _FailsOnC(ClassifierMixin, BaseEstimator):
    """A small tree (depth 1 for C < 0.5, else 3) that cannot fit with C="bad" (in
    every fold, or with fail_folds="some" where the fold starts with a large X[0, 0])."""

    def __init__(self, C=1.0, fail_folds="all"):
        self.C = C
        self.fail_folds = fail_folds

    def fit(self, X, y):
        if self.C == "bad" and (self.fail_folds == "all" or X[0, 0] > 10):
            raise ValueError("cannot fit with C='bad'")
        depth = 1 if self.C != "bad" and self.C < 0.5 else 3
        self.model_ = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        return self.model_.predict(X)


def test_failed_fits(cancer):
    X, y = cancer
    space = {"C": ["bad", 0.1, 1.0]}
    with pytest.warns(FitFailedWarning, match="5 fits failed out of a total of 15"):
        s = SearchCV(_FailsOnC(), space, searcher="grid", scoring="accuracy").fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = GridSearchCV(_FailsOnC(), space, scoring="accuracy").fit(X, y)
    _assert_same_results(s.cv_results_, theirs.cv_results_, 5)
    states = [str(t.state) for t in s.study_.trials]
    assert states == ["FAILED", "COMPLETE", "COMPLETE"]
    assert s.best_params_ == theirs.best_params_
    # a number as error_score: the trial completes with it
    with pytest.warns(FitFailedWarning, match="set to 0.0"):
        s = SearchCV(_FailsOnC(), space, searcher="grid", scoring="accuracy",
                     error_score=0.0).fit(X, y)
    assert s.cv_results_["mean_test_score"][0] == 0.0
    assert str(s.study_.trials[0].state) == "COMPLETE"
    with pytest.raises(ValueError, match="cannot fit with C='bad'"):
        SearchCV(_FailsOnC(), space, searcher="grid", error_score="raise",
                 scoring="accuracy").fit(X, y)
    with pytest.raises(ValueError, match="All the 5 fits failed"):
        SearchCV(_FailsOnC(), {"C": ["bad"]}, searcher="grid", scoring="accuracy").fit(X, y)


def test_some_folds_fail(cancer):
    X, y = cancer
    X = X.copy()
    X[:40, 0] = 100.0  # these rows make fail_folds="some" fits fail where they lead
    space = {"C": ["bad", 1.0], "fail_folds": ["some"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = SearchCV(_FailsOnC(), space, searcher="grid", scoring="accuracy").fit(X, y)
        theirs = GridSearchCV(_FailsOnC(), space, scoring="accuracy").fit(X, y)
    _assert_same_results(s.cv_results_, theirs.cv_results_, 5)
    assert np.isnan(s.cv_results_["mean_test_score"][0])


def test_fit_params_groups_and_regressor():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    y = X @ [1.0, -2.0, 0.5, 0.0] + rng.normal(size=120)
    w = rng.uniform(0.1, 2.0, size=120)
    groups = np.repeat(np.arange(12), 10)
    ours = SearchCV(Ridge(), {"alpha": [0.1, 1.0, 10.0]}, searcher="grid", scoring=None,
                    cv=GroupKFold(4)).fit(X, y, groups=groups, sample_weight=w)
    theirs = GridSearchCV(Ridge(), {"alpha": [0.1, 1.0, 10.0]}, cv=GroupKFold(4)).fit(
        X, y, groups=groups, sample_weight=w)
    _assert_same_results(ours.cv_results_, theirs.cv_results_, 4)
    np.testing.assert_allclose(ours.best_estimator_.coef_, theirs.best_estimator_.coef_)
    assert ours.score(X, y) == pytest.approx(theirs.score(X, y))


def test_parallel_and_persistent(cancer, tmp_path):
    X, y = cancer
    est = make_pipeline(StandardScaler(), LogisticRegression())
    space = {"logisticregression__C": Float(1e-2, 1e2, log=True)}
    kw = {"searcher": "random", "n_trials": 4, "seed": 11, "scoring": "f1", "cv": 3}
    one = SearchCV(est, space, **kw).fit(X, y)
    url = f"sqlite:///{tmp_path / 'tune.db'}"
    two = SearchCV(est, space, n_jobs=2, storage=url, study_name="cancer", **kw).fit(X, y)
    assert two.cv_results_["params"] == one.cv_results_["params"]
    np.testing.assert_allclose(two.cv_results_["mean_test_score"],
                               one.cv_results_["mean_test_score"], rtol=1e-12)
    loaded = calipers.load_study(study_name="cancer", storage=url)
    assert [t.number for t in loaded.trials] == [0, 1, 2, 3]
    assert loaded.trials[0].user_attrs["cv"]["test_scores"]["score"] == \
        [two.cv_results_[f"split{i}_test_score"][0] for i in range(3)]
    with pytest.raises(ValueError, match="each SearchCV.fit runs a new study"):
        two.fit(X, y)
    # pickling: the database study is loaded again; the in-memory one is dropped
    again = pickle.loads(pickle.dumps(two))
    assert again.study_.study_name == "cancer" and len(again.study_.trials) == 4
    np.testing.assert_array_equal(again.predict(X), two.predict(X))
    mem = pickle.loads(pickle.dumps(one))
    np.testing.assert_array_equal(mem.predict(X), one.predict(X))
    try:
        assert len(mem.study_.trials) == 4  # the in-memory study pickled as is
    except AttributeError as exc:
        assert "storage=" in str(exc)


def test_bad_arguments(cancer):
    X, y = cancer
    with pytest.raises(ValueError, match="not parameters of LogisticRegression"):
        SearchCV(LogisticRegression(), {"D": [1.0]}, searcher="grid").fit(X, y)
    with pytest.raises(ValueError, match="n_trials"):
        SearchCV(LogisticRegression(), {"C": [1.0]}, n_trials=0).fit(X, y)
    with pytest.raises(ValueError, match="error_score"):
        SearchCV(LogisticRegression(), {"C": [1.0]}, error_score="skip").fit(X, y)
    with pytest.raises(ValueError, match="unknown scoring 'f2'.*f1_macro"):
        SearchCV(LogisticRegression(), {"C": [1.0]}, scoring="f2").fit(X, y)
    with pytest.raises(ValueError, match="refit must be set to a scorer key"):
        SearchCV(LogisticRegression(), {"C": [1.0]}, scoring=["f1", "accuracy"]).fit(X, y)
    with pytest.raises(ValueError, match="Float 'C' has no grid"):
        SearchCV(LogisticRegression(), {"C": Float(0.1, 1.0)}, searcher="grid").fit(X, y)
    with pytest.raises(TypeError, match="refit"):
        SearchCV(LogisticRegression(), {"C": [1.0]}, refit=3).fit(X, y)


def test_string_labels_and_dataframe():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X, y = X.iloc[::3], y.iloc[::3]
    labels = pd.Series(np.where(y == 1, "benign", "malignant"), index=y.index)
    est = make_pipeline(StandardScaler(), LogisticRegression())
    grid = {"logisticregression__C": [0.1, 1.0]}
    ours = SearchCV(est, grid, searcher="grid", scoring="roc_auc", cv=3).fit(X, labels)
    theirs = GridSearchCV(est, grid, scoring="roc_auc", cv=3).fit(X, labels)
    _assert_same_results(ours.cv_results_, theirs.cv_results_, 3)
    assert ours.classes_.tolist() == ["benign", "malignant"]


def test_halving_with_a_budget_parameter(cancer):
    """searcher_options reach the searcher: halving sets the budget parameter itself."""
    from sklearn.ensemble import RandomForestClassifier

    X, y = cancer
    s = SearchCV(RandomForestClassifier(random_state=0), {"max_depth": Int(1, 6)},
                 searcher="halving", n_trials=8, seed=0, scoring="roc_auc", cv=3,
                 searcher_options={"budget": "n_estimators", "min_budget": 2,
                                   "max_budget": 8, "eta": 2}).fit(X, y)
    budgets = [p["n_estimators"] for p in s.cv_results_["params"]]
    assert set(budgets) <= {2, 4, 8} and 2 in budgets
    assert s.best_estimator_.n_estimators == s.best_params_["n_estimators"]
    for i, params in enumerate(s.cv_results_["params"][:3]):
        expected = cross_val_score(RandomForestClassifier(random_state=0, **params), X, y,
                                   scoring="roc_auc", cv=3)
        np.testing.assert_allclose([s.cv_results_[f"split{j}_test_score"][i]
                                    for j in range(3)], expected, rtol=1e-12)


def test_default_bayes_searcher_is_seeded(cancer):
    X, y = cancer
    est = make_pipeline(StandardScaler(), LogisticRegression())
    space = {"logisticregression__C": Float(1e-3, 1e2, log=True)}
    a = SearchCV(est, space, n_trials=5, seed=4, cv=3).fit(X, y)
    b = SearchCV(est, space, n_trials=5, seed=4, cv=3).fit(X, y)
    assert a.study_.searcher.name == "bayes" and a.scoring == "f1"
    assert a.cv_results_["params"] == b.cv_results_["params"]
    assert a.best_score_ == max(a.cv_results_["mean_test_score"])
