"""calipers_sklearn.make_scorer inside scikit-learn's own model selection, and the plugin."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from calipers_sklearn import make_scorer
from calipers_sklearn._scorer import get_scorer_names
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import get_scorer
from sklearn.model_selection import GridSearchCV, cross_val_score, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


@pytest.fixture(scope="module")
def data():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X)[::2], y[::2]


@pytest.mark.parametrize("name", ["f1", "roc_auc", "neg_log_loss", "average_precision",
                                  "balanced_accuracy", "jaccard_weighted"])
def test_in_cross_val_score(data, name):
    X, y = data
    est = LogisticRegression(C=0.1)
    ours = cross_val_score(est, X, y, scoring=make_scorer(name), cv=4)
    theirs = cross_val_score(est, X, y, scoring=name, cv=4)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_in_gridsearchcv_single_and_multi(data):
    X, y = data
    grid = {"C": [0.01, 0.1, 1.0]}
    ours = GridSearchCV(LogisticRegression(), grid, scoring=make_scorer("neg_log_loss"),
                        cv=3).fit(X, y)
    theirs = GridSearchCV(LogisticRegression(), grid, scoring="neg_log_loss", cv=3).fit(X, y)
    np.testing.assert_allclose(ours.cv_results_["mean_test_score"],
                               theirs.cv_results_["mean_test_score"], rtol=1e-12)
    assert ours.best_score_ < 0 and ours.best_params_ == theirs.best_params_
    multi = {"auc": make_scorer("roc_auc"), "mcc": make_scorer("mcc")}
    ours = GridSearchCV(LogisticRegression(), grid, scoring=multi, refit="auc", cv=3).fit(X, y)
    theirs = GridSearchCV(LogisticRegression(), grid, cv=3, refit="auc",
                          scoring={"auc": "roc_auc", "mcc": "matthews_corrcoef"}).fit(X, y)
    for key in ("mean_test_auc", "mean_test_mcc"):
        np.testing.assert_allclose(ours.cv_results_[key], theirs.cv_results_[key], rtol=1e-12)


def test_sample_weight_reaches_the_scorer(data):
    """GridSearchCV passes a sample_weight fit parameter to scorers that accept it."""
    X, y = data
    w = np.random.default_rng(0).uniform(0.1, 3.0, size=len(y))
    grid = {"C": [0.1, 1.0]}
    ours = GridSearchCV(LogisticRegression(), grid, scoring=make_scorer("accuracy"),
                        cv=3).fit(X, y, sample_weight=w)
    theirs = GridSearchCV(LogisticRegression(), grid, scoring="accuracy", cv=3).fit(
        X, y, sample_weight=w)
    np.testing.assert_allclose(ours.cv_results_["mean_test_score"],
                               theirs.cv_results_["mean_test_score"], rtol=1e-12)


def test_multiclass_with_options():
    X, y = load_iris(return_X_y=True)
    est = make_pipeline(StandardScaler(), LogisticRegression(C=0.05))
    ours = cross_validate(est, X, y, cv=3, scoring={
        "f": make_scorer("f1", average="macro"), "k": make_scorer("top_k_accuracy", k=1),
        "ovo": make_scorer("roc_auc_ovo")})
    np.testing.assert_allclose(ours["test_f"], cross_val_score(est, X, y, cv=3,
                                                               scoring="f1_macro"))
    np.testing.assert_allclose(ours["test_k"], cross_val_score(est, X, y, cv=3,
                                                               scoring="accuracy"))
    np.testing.assert_allclose(ours["test_ovo"], cross_val_score(est, X, y, cv=3,
                                                                 scoring="roc_auc_ovo"))


def test_names_and_errors(data):
    names = get_scorer_names()
    assert "f1_macro" in names and "specificity" in names and names == sorted(names)
    with pytest.raises(ValueError, match="unknown scoring 'r2'.*valid names"):
        make_scorer("r2")
    X, y = data
    est = LogisticRegression().fit(X, y)
    # every alias calipers shares with scikit-learn gives sklearn's number here too
    shared = sorted(set(names) & set(__import__("sklearn.metrics").metrics.get_scorer_names()))
    assert len(shared) >= 30
    for name in shared:
        if name in ("roc_auc_ovr", "roc_auc_ovo", "roc_auc_ovr_weighted",
                    "roc_auc_ovo_weighted", "f1_samples", "precision_samples",
                    "recall_samples", "jaccard_samples"):
            continue  # multiclass / multilabel only (tests/search/test_cv_scoring.py)
        assert make_scorer(name)(est, X, y) == pytest.approx(get_scorer(name)(est, X, y),
                                                             rel=1e-12), name


PROBE = """
import json, sys
sys.modules["sklearn"] = None  # as if scikit-learn were not installed
import calipers_sklearn
from calipers import plugins
info = [p for p in plugins.list_plugins(all=True) if p.name == "sklearn"][0]
print(json.dumps({"status": info.status, "reason": info.reason,
                  "all": calipers_sklearn.__all__}))
"""

LIGHT = """
import json, sys
import calipers_sklearn
from calipers import plugins
plugins.list_plugins(all=True)
print(json.dumps({"sklearn": "sklearn" in sys.modules,
                  "status": [p.status for p in plugins.list_plugins(all=True)
                             if p.name == "sklearn"][0]}))
"""


def _run(code):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_plugin_is_unavailable_without_sklearn():
    report = _run(PROBE)
    assert report["status"] == "unavailable"
    assert report["reason"].endswith("pip install 'calipers[sklearn]'")
    assert report["all"] == ["SearchCV", "make_scorer"]


def test_plugin_imports_without_loading_sklearn():
    report = _run(LIGHT)
    assert report == {"sklearn": False, "status": "ok"}
