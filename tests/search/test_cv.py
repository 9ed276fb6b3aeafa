"""K-fold splitters, cross_validate and cross_val_objective against scikit-learn."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import model_selection as ms
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.tree import DecisionTreeClassifier

from calipers.search import _cv_split
from calipers.search._cv import (
    CrossValObjective,
    clone,
    cross_val_objective,
    cross_validate,
    fit_and_score,
)
from calipers.search._cv_split import KFold, StratifiedKFold, check_cv, take


def _folds(splitter, X, y=None):
    return [(tr.tolist(), te.tolist()) for tr, te in splitter.split(X, y)]


@pytest.fixture(params=["sklearn", "numpy"])
def backend(request, monkeypatch):
    """Run a splitter test with scikit-learn delegation and with the own implementation."""
    if request.param == "numpy":
        monkeypatch.setattr(_cv_split, "_sklearn_available", lambda: False)
    return request.param


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 60), k=st.integers(2, 8), shuffle=st.booleans(),
       seed=st.integers(0, 2**31 - 1))
def test_kfold_numpy_path_equals_sklearn(n, k, shuffle, seed):
    if k > n:
        return
    rs = seed if shuffle else None
    expected = _folds(ms.KFold(k, shuffle=shuffle, random_state=rs), np.zeros(n))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_cv_split, "_sklearn_available", lambda: False)
        got = _folds(KFold(k, shuffle=shuffle, random_state=rs), np.zeros(n))
    assert got == expected
    assert _folds(KFold(k, shuffle=shuffle, random_state=rs), np.zeros(n)) == expected


@settings(max_examples=60, deadline=None)
@given(labels=st.lists(st.sampled_from(["a", "b", "c", 7]), min_size=4, max_size=80),
       k=st.integers(2, 5), shuffle=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_stratified_numpy_path_equals_sklearn(labels, k, shuffle, seed):
    y = np.array([str(v) for v in labels])
    counts = np.unique(y, return_counts=True)[1]
    rs = seed if shuffle else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if np.all(k > counts) or k > len(y):
            with pytest.raises(ValueError):
                list(ms.StratifiedKFold(k).split(y, y))
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(_cv_split, "_sklearn_available", lambda: False)
                with pytest.raises(ValueError):
                    _folds(StratifiedKFold(k), y, y)
            return
        expected = _folds(ms.StratifiedKFold(k, shuffle=shuffle, random_state=rs), y, y)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(_cv_split, "_sklearn_available", lambda: False)
            got = _folds(StratifiedKFold(k, shuffle=shuffle, random_state=rs), y, y)
    assert got == expected


def test_splitter_checks(backend):
    with pytest.raises(ValueError, match="at least one"):
        KFold(1)
    with pytest.raises(ValueError, match="Integral"):
        KFold(2.0)
    with pytest.raises(TypeError, match="shuffle"):
        KFold(3, shuffle=1)
    with pytest.raises(ValueError, match="random_state has no effect"):
        StratifiedKFold(3, random_state=0)
    with pytest.raises(ValueError, match="greater than the number of samples"):
        list(KFold(5).split(np.zeros(3)))
    with pytest.raises(ValueError):
        list(StratifiedKFold(2).split(np.zeros(4), np.array([0.1, 0.5, 0.2, 0.3])))
    with pytest.warns(UserWarning, match="least populated class"):
        list(StratifiedKFold(3).split(np.zeros(7), [0, 0, 0, 0, 0, 1, 1]))
    assert KFold(4).get_n_splits() == 4
    assert repr(KFold(3, shuffle=True, random_state=1)) == \
        "KFold(n_splits=3, shuffle=True, random_state=1)"


def test_random_state_instance_is_consumed_like_sklearn(backend):
    a = _folds(KFold(3, shuffle=True, random_state=np.random.RandomState(5)), np.zeros(20))
    b = _folds(ms.KFold(3, shuffle=True, random_state=np.random.RandomState(5)), np.zeros(20))
    assert a == b


def test_check_cv_rule():
    assert isinstance(check_cv(4, [0, 1, 0, 1], classifier=True), StratifiedKFold)
    assert isinstance(check_cv(4, [0.5, 1.5], classifier=True), KFold)
    assert isinstance(check_cv(None, [0, 1]), KFold)
    assert check_cv(None).n_splits == 5
    splits = [([0, 1], [2]), ([2], [0, 1])]
    cv = check_cv(splits)
    assert cv.get_n_splits() == 2 and [t.tolist() for _, t in cv.split()] == [[2], [0, 1]]
    sk = ms.ShuffleSplit(3, random_state=0)
    assert check_cv(sk) is sk
    with pytest.raises(ValueError, match="Expected cv"):
        check_cv("five")


def test_take_indexes_every_container():
    idx = np.array([2, 0])
    assert take([10, 11, 12], idx) == [12, 10]
    assert take(np.arange(3) * 2, idx).tolist() == [4, 0]
    df = pd.DataFrame({"a": [1, 2, 3]}, index=[5, 6, 7])
    assert take(df, idx)["a"].tolist() == [3, 1]
    import scipy.sparse as sp

    m = sp.coo_matrix(np.eye(3))
    assert take(m, idx).toarray().tolist() == [[0, 0, 1], [1, 0, 0]]
    assert take(None, idx) is None


@pytest.fixture(scope="module")
def cancer():
    return load_breast_cancer(return_X_y=True)


@pytest.mark.parametrize("scoring", ["accuracy", "roc_auc", "f1_macro", "neg_log_loss"])
def test_cross_validate_matches_sklearn(cancer, scoring):
    X, y = cancer
    est = DecisionTreeClassifier(max_depth=3, random_state=0)
    ours = cross_validate(est, X, y, cv=5, scoring=scoring, return_train_score=True)
    theirs = ms.cross_validate(est, X, y, cv=5, scoring=scoring, return_train_score=True)
    np.testing.assert_allclose(ours["test_score"], theirs["test_score"], rtol=1e-12)
    np.testing.assert_allclose(ours["train_score"], theirs["train_score"], rtol=1e-12)
    assert set(ours) == set(theirs)
    assert ours["fit_time"].shape == (5,) and (ours["fit_time"] >= 0).all()


def test_cross_validate_options(cancer):
    X, y = cancer
    est = LogisticRegression(max_iter=50)
    kw = {"cv": ms.KFold(4, shuffle=True, random_state=2),
          "scoring": ["accuracy", "roc_auc"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = cross_validate(est, X, y, return_estimator=True, return_indices=True,
                              n_jobs=2, **kw)
        theirs = ms.cross_validate(est, X, y, return_estimator=True, return_indices=True,
                                   **kw)
    assert set(ours) == set(theirs)
    for key in ("test_accuracy", "test_roc_auc"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-12)
    for a, b in zip(ours["indices"]["test"], theirs["indices"]["test"], strict=True):
        assert a.tolist() == b.tolist()
    assert all(hasattr(e, "coef_") for e in ours["estimator"])
    d = cross_validate(est, X, y, scoring={"acc": "accuracy", "mine": lambda e, X_, y_: 1.0})
    assert set(d) == {"fit_time", "score_time", "test_acc", "test_mine"}
    with pytest.raises(ValueError, match="distinct"):
        cross_validate(est, X, y, scoring=["accuracy", "accuracy"])


def test_cross_validate_fit_params_follow_rows(cancer):
    X, y = cancer
    w = np.random.default_rng(0).uniform(0.1, 3, size=len(y))
    est = DecisionTreeClassifier(max_depth=4, random_state=0)
    ours = cross_validate(est, X, y, fit_params={"sample_weight": w}, scoring="accuracy")
    theirs = ms.cross_validate(est, X, y, params={"sample_weight": w}, scoring="accuracy")
    np.testing.assert_allclose(ours["test_score"], theirs["test_score"])


def test_cross_validate_regressor_default_kfold():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    y = X @ [1.0, 2.0, -1.0] + rng.normal(size=50)
    ours = cross_validate(Ridge(), X, y, scoring=None, cv=3)
    theirs = ms.cross_validate(Ridge(), X, y, scoring=None, cv=3)
    np.testing.assert_allclose(ours["test_score"], theirs["test_score"])


class _Flaky(ClassifierMixin, BaseEstimator):
    """Fails to fit when ``fail`` is set and the fold holds sample 0."""

    def __init__(self, fail=True):
        self.fail = fail

    def fit(self, X, y):
        if self.fail and X[0, 0] == -999:
            raise RuntimeError("boom")
        self.classes_ = np.unique(y)
        self.majority_ = self.classes_[np.argmax(np.bincount(np.searchsorted(self.classes_,
                                                                             y)))]
        return self

    def predict(self, X):
        return np.full(len(X), self.majority_)


def test_error_score_and_fit_failed_warning():
    X = np.arange(40, dtype=float).reshape(20, 2)
    X[0, 0] = -999
    y = np.array([0, 1] * 10)
    with pytest.warns(FitFailedWarning, match="4 fits failed out of a total of 5"):
        out = cross_validate(_Flaky(), X, y, cv=5)
    assert np.isnan(out["test_score"]).sum() == 4
    with pytest.warns(FitFailedWarning, match="will be set to -1.0"):
        out = cross_validate(_Flaky(), X, y, cv=5, error_score=-1.0)
    assert (out["test_score"] == -1).sum() == 4
    with pytest.raises(RuntimeError, match="boom"):
        cross_validate(_Flaky(), X, y, cv=5, error_score="raise")
    Xbad = X.copy()
    Xbad[:, 0] = -999
    with pytest.raises(ValueError, match="All the 5 fits failed"):
        cross_validate(_Flaky(), Xbad, y, cv=5)
    with pytest.raises(ValueError, match="error_score"):
        cross_validate(_Flaky(), X, y, error_score="ignore")


def test_scoring_failure_gets_error_score():
    X = np.arange(40, dtype=float).reshape(20, 2)
    y = np.array([0, 1] * 10)
    with pytest.warns(UserWarning, match="Scoring failed"):
        out = cross_validate(_Flaky(fail=False), X, y, cv=2, scoring="roc_auc")
    assert np.isnan(out["test_score"]).all()  # no predict_proba / decision_function


def test_clone_without_sklearn(monkeypatch):
    from calipers.search import _cv

    monkeypatch.setattr(_cv, "available", lambda m: False)
    est = LogisticRegression(C=3.0)
    c = clone(est)
    assert c is not est and c.get_params() == est.get_params()

    class Plain:
        def __init__(self):
            self.x = [1]

    p = Plain()
    assert clone(p).x == [1] and clone(p).x is not p.x


def test_cross_val_objective(cancer):
    X, y = cancer
    est = DecisionTreeClassifier(random_state=0)
    objective = cross_val_objective(est, X, y, cv=3, scoring="f1")

    class FakeTrial(dict):
        def __init__(self, params):
            super().__init__(params)
            self.params = dict(params)
            self.user_attrs = {}

        def set_user_attr(self, key, value):
            self.user_attrs[key] = value

    trial = FakeTrial({"max_depth": 2})
    value = objective(trial)
    expected = ms.cross_val_score(DecisionTreeClassifier(random_state=0, max_depth=2), X, y,
                                  cv=3, scoring="f1")
    assert value == pytest.approx(expected.mean())
    cv = trial.user_attrs["cv"]
    np.testing.assert_allclose(cv["test_scores"]["score"], expected)
    assert cv["fit_errors"] == [None, None, None] and len(cv["fit_times"]) == 3
    assert objective({"max_depth": 2}) == value  # a plain dict works too
    again = pickle.loads(pickle.dumps(objective))
    assert again({"max_depth": 2}) == value
    assert isinstance(again, CrossValObjective)
    with pytest.raises(ValueError, match="one score"):
        cross_val_objective(est, X, y, scoring=["f1", "accuracy"])


def test_objective_failures_give_nan_or_raise():
    X = np.arange(40, dtype=float).reshape(20, 2)
    X[0, 0] = -999
    y = np.array([0, 1] * 10)
    obj = cross_val_objective(_Flaky(), X, y, cv=4)
    assert np.isnan(obj({}))
    rec = obj.evaluate({})
    assert sum(e is not None for e in rec["fit_errors"]) == 3
    assert "boom" in next(e for e in rec["fit_errors"] if e)
    expected = ms.cross_val_score(_Flaky(fail=False), X, y, cv=4, scoring="accuracy")
    assert obj({"fail": False}) == pytest.approx(expected.mean())
    obj = cross_val_objective(_Flaky(), X, y, cv=4, error_score="raise")
    with pytest.raises(RuntimeError, match="boom"):
        obj({})


def test_fit_and_score_return_estimator():
    X, y = load_iris(return_X_y=True)
    from calipers.search._cv_scoring import get_scorer

    r = fit_and_score(LogisticRegression(max_iter=300), X, y, np.arange(0, 150, 2),
                      np.arange(1, 150, 2), {"score": get_scorer("accuracy")},
                      params={"C": 0.5}, return_estimator=True, return_train_score=True)
    assert r["estimator"].C == 0.5 and r["fit_error"] is None
    assert 0.8 < r["test_scores"]["score"] <= 1 and "train_scores" in r


class _Centroid:
    """A scikit-learn-free classifier: nearest class mean (fit / predict / params)."""

    _estimator_type = "classifier"

    def __init__(self, shrink=0.0):
        self.shrink = shrink

    def get_params(self, deep=True):
        return {"shrink": self.shrink}

    def set_params(self, **params):
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def fit(self, X, y):
        if self.shrink < 0 and len(X) < 12:
            raise ValueError("shrink < 0 needs 12 samples")
        self.classes_ = np.unique(y)
        means = np.array([X[y == c].mean(axis=0) for c in self.classes_])
        self.means_ = means * (1 - self.shrink) + X.mean(axis=0) * self.shrink
        return self

    def predict(self, X):
        d = ((X[:, None, :] - self.means_[None]) ** 2).sum(-1)
        return self.classes_[d.argmin(1)]


def test_cross_validate_without_sklearn(monkeypatch):
    """With scikit-learn 'missing': own splitters, clone from get_params, own
    FitFailedWarning, and the same numbers as scikit-learn computes."""
    from calipers.search import _cv

    X, y = load_iris(return_X_y=True)
    monkeypatch.setattr(_cv, "available", lambda m: False)
    monkeypatch.setattr(_cv_split, "_sklearn_available", lambda: False)
    out = cross_validate(_Centroid(0.2), X, y, cv=4, scoring="f1_macro")
    monkeypatch.undo()
    from sklearn.metrics import f1_score

    expected = [f1_score(y[te], _Centroid(0.2).fit(X[tr], y[tr]).predict(X[te]),
                         average="macro") for tr, te in ms.StratifiedKFold(4).split(X, y)]
    np.testing.assert_allclose(out["test_score"], expected, rtol=1e-12)
    # with scikit-learn present, the same (an estimator sklearn cannot tag is fine)
    again = cross_validate(_Centroid(0.2), X, y, cv=4, scoring="f1_macro")
    np.testing.assert_allclose(again["test_score"], expected, rtol=1e-12)
    monkeypatch.setattr(_cv, "available", lambda m: False)
    idx = np.r_[0:10, 50:60]  # two classes, 20 rows
    folds = [(np.arange(0, 15), np.arange(15, 20)), (np.arange(10), np.arange(10, 20))]
    with pytest.warns(_cv.FitFailedWarning, match="1 fits failed out of a total of 2"):
        out = cross_validate(_Centroid(-1.0), X[idx], y[idx], cv=folds)
    assert np.isnan(out["test_score"][1]) and not np.isnan(out["test_score"][0])
