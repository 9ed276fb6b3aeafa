"""Scorers by calipers metric name: the same numbers as scikit-learn's get_scorer."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits, load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import get_scorer, recall_score
from sklearn.multioutput import MultiOutputClassifier
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

from calipers.search._cv_scoring import check_scoring, scorer_names
from calipers.search._cv_scoring import get_scorer as cal_get_scorer

BINARY_ALIASES = [
    "accuracy", "balanced_accuracy", "matthews_corrcoef", "f1", "precision", "recall",
    "jaccard", "roc_auc", "average_precision", "neg_log_loss", "neg_brier_score",
    "top_k_accuracy",
] + [f"{b}_{a}" for b in ("f1", "precision", "recall", "jaccard")
     for a in ("macro", "micro", "weighted")]
MULTICLASS_ALIASES = [
    "accuracy", "balanced_accuracy", "matthews_corrcoef", "roc_auc_ovr", "roc_auc_ovo",
    "roc_auc_ovr_weighted", "roc_auc_ovo_weighted", "neg_log_loss", "neg_brier_score",
    "top_k_accuracy",
] + [f"{b}_{a}" for b in ("f1", "precision", "recall", "jaccard")
     for a in ("macro", "micro", "weighted")]
# sklearn alias -> same scorer under the calipers registry name
REGISTRY_NAMES = {"mcc": "matthews_corrcoef", "log_loss": "neg_log_loss",
                  "brier_score": "neg_brier_score"}


def _split(X, y, seed=0):
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(y))
    cut = len(y) * 2 // 3
    return X[idx[:cut]], y[idx[:cut]], X[idx[cut:]], y[idx[cut:]]


@pytest.fixture(scope="module")
def breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, ytr, Xte, yte = _split(X, y)
    models = {
        "logreg": make_pipeline(StandardScaler(), LogisticRegression(C=0.05)).fit(Xtr, ytr),
        "svc": make_pipeline(StandardScaler(), LinearSVC(C=0.01)).fit(Xtr, ytr),  # no proba
        "tree": DecisionTreeClassifier(max_depth=3, random_state=0).fit(Xtr, ytr),  # ties
    }
    return models, Xte, yte


@pytest.fixture(scope="module")
def multiclass():
    out = {}
    for loader in (load_iris, load_digits):
        X, y = loader(return_X_y=True)
        Xtr, ytr, Xte, yte = _split(X, y, 1)
        out[loader.__name__] = (
            {"logreg": make_pipeline(StandardScaler(), LogisticRegression()).fit(Xtr, ytr),
             "nb": GaussianNB().fit(Xtr, ytr)}, Xte, yte)
    return out


def _both(name, model, X, y, cal_name=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = get_scorer(name)(model, X, y)
        got = cal_get_scorer(cal_name or name)(model, X, y)
    return got, expected


@pytest.mark.parametrize("model", ["logreg", "svc", "tree"])
@pytest.mark.parametrize("name", BINARY_ALIASES)
def test_binary_aliases_match_sklearn(breast_cancer, name, model):
    models, X, y = breast_cancer
    est = models[model]
    if not hasattr(est, "predict_proba") and name in ("neg_log_loss", "neg_brier_score"):
        with pytest.raises(AttributeError, match="predict_proba"):
            cal_get_scorer(name)(est, X, y)
        return
    got, expected = _both(name, est, X, y)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("data", ["load_iris", "load_digits"])
@pytest.mark.parametrize("model", ["logreg", "nb"])
@pytest.mark.parametrize("name", MULTICLASS_ALIASES)
def test_multiclass_aliases_match_sklearn(multiclass, data, model, name):
    models, X, y = multiclass[data]
    got, expected = _both(name, models[model], X, y)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("cal_name, sk_name", sorted(REGISTRY_NAMES.items()))
def test_registry_names_are_sklearn_scorers(breast_cancer, cal_name, sk_name):
    models, X, y = breast_cancer
    got, expected = _both(sk_name, models["logreg"], X, y, cal_name)
    assert got == pytest.approx(expected, rel=1e-12)


def test_string_labels_and_pos_label(breast_cancer):
    """Labels that are strings: proba column / decision sign follow classes_[-1]."""
    X, y = load_breast_cancer(return_X_y=True)
    ys = np.where(y == 1, "benign", "malignant")
    Xtr, ytr, Xte, yte = _split(X, ys)
    for est in (LogisticRegression(max_iter=5000), LinearSVC(C=0.001)):
        est.fit(Xtr, ytr)
        for name in ("roc_auc", "f1_macro", "accuracy"):
            got, expected = _both(name, est, Xte, yte)
            assert got == pytest.approx(expected, rel=1e-12)
    # average_precision's default pos_label=1 is not a class: both refuse
    with pytest.raises(ValueError, match="pos_label"):
        cal_get_scorer("average_precision")(est, Xte, yte)
    from sklearn.metrics import average_precision_score, make_scorer

    for pos in ("malignant", "benign"):  # the second one negates the decision values
        ap = cal_get_scorer("average_precision", pos_label=pos)(est, Xte, yte)
        sk = make_scorer(average_precision_score, pos_label=pos,
                         response_method=("decision_function", "predict_proba"))
        assert ap == pytest.approx(sk(est, Xte, yte), rel=1e-12)


def test_multilabel_scorers():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 6))
    Y = (X[:, :3] + rng.normal(scale=1.0, size=(300, 3)) > 0).astype(int)
    est = MultiOutputClassifier(LogisticRegression()).fit(X[:200], Y[:200])
    for name in ("f1_samples", "f1_macro", "precision_samples", "jaccard_samples",
                 "recall_micro", "accuracy", "roc_auc", "average_precision"):
        got, expected = _both(name, est, X[200:], Y[200:])
        assert got == pytest.approx(expected, rel=1e-12), name


def test_options_override_defaults(breast_cancer):
    models, X, y = breast_cancer
    est = models["logreg"]
    from sklearn.metrics import fbeta_score, make_scorer

    got = cal_get_scorer("fbeta", beta=2)(est, X, y)
    assert got == pytest.approx(make_scorer(fbeta_score, beta=2)(est, X, y))
    got = cal_get_scorer("f1", pos_label=0)(est, X, y)
    from sklearn.metrics import f1_score

    assert got == pytest.approx(f1_score(y, est.predict(X), pos_label=0))
    with pytest.raises(ValueError, match="beta"):
        cal_get_scorer("fbeta")
    with pytest.raises(TypeError, match="bad option"):
        cal_get_scorer("accuracy", average="macro")


def test_sample_weight(breast_cancer):
    models, X, y = breast_cancer
    w = np.random.default_rng(0).uniform(0, 2, size=len(y))
    w[:10] = 0
    for name in ("accuracy", "roc_auc", "neg_log_loss", "f1_weighted"):
        expected = get_scorer(name)(models["logreg"], X, y, sample_weight=w)
        got = cal_get_scorer(name)(models["logreg"], X, y, sample_weight=w)
        assert got == pytest.approx(expected, rel=1e-12)


def test_specificity_through_the_registry(breast_cancer, multiclass):
    models, X, y = breast_cancer
    est = models["logreg"]
    got = cal_get_scorer("specificity")(est, X, y)
    assert got == pytest.approx(recall_score(y, est.predict(X), pos_label=0))
    models, X, y = multiclass["load_iris"]
    est = models["nb"]
    got = cal_get_scorer("specificity", average="macro")(est, X, y)
    pred = est.predict(X)
    spec = [recall_score(y != c, pred != c) for c in np.unique(y)]
    assert got == pytest.approx(np.mean(spec))
    with pytest.raises(ValueError, match="not one number"):
        cal_get_scorer("specificity", average="none")(est, X, y)


def test_losses_are_negated(breast_cancer):
    models, X, y = breast_cancer
    from sklearn.metrics import hamming_loss

    est = models["tree"]
    assert cal_get_scorer("hamming_loss")(est, X, y) == pytest.approx(
        -hamming_loss(y, est.predict(X)))
    assert cal_get_scorer("neg_log_loss").sign == -1
    assert cal_get_scorer("roc_auc").sign == 1


def test_unknown_and_non_scalar_names():
    with pytest.raises(ValueError, match="unknown scoring 'f2'.*valid names:.*f1_macro"):
        cal_get_scorer("f2")
    with pytest.raises(ValueError, match="not one number"):
        cal_get_scorer("roc_curve")
    with pytest.raises(TypeError, match="str"):
        cal_get_scorer(3)
    with pytest.raises(TypeError, match="scoring must be"):
        check_scoring(3.5)
    names = scorer_names()
    assert {"f1", "roc_auc_ovr", "neg_log_loss", "specificity", "mcc"} <= set(names)
    assert "confusion_matrix" not in names and names == sorted(names)


def test_check_scoring_none_and_callable(breast_cancer):
    models, X, y = breast_cancer
    est = models["logreg"]
    assert check_scoring(None)(est, X, y) == est.score(X, y)

    def mine(e, X_, y_):
        return 0.5

    assert check_scoring(mine) is mine


def test_scorer_pickles_and_reprs():
    s = cal_get_scorer("f1_macro", zero_division=0)
    s2 = pickle.loads(pickle.dumps(s))
    assert s2.kwargs == s.kwargs and s2.name == "f1_macro"
    assert repr(s) == "make_scorer('f1_macro', pos_label=None, average='macro', zero_division=0)"
    r = pickle.loads(pickle.dumps(cal_get_scorer("specificity")))
    assert r.name == "specificity"


def test_knn_multiclass_with_ties(multiclass):
    """A classifier with many tied probabilities (k-NN) still matches."""
    X, y = load_digits(return_X_y=True)
    Xtr, ytr, Xte, yte = _split(X, y, 2)
    est = KNeighborsClassifier(n_neighbors=4).fit(Xtr, ytr)
    for name in ("roc_auc_ovr", "roc_auc_ovo_weighted", "top_k_accuracy", "neg_log_loss"):
        got, expected = _both(name, est, Xte, yte)
        assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("data", ["binary", "multiclass"])
def test_every_table_name_matches_sklearn(breast_cancer, multiclass, data):
    """Every name of the table, against scikit-learn's scorer of that name, or (for the
    calipers-only names) sklearn's make_scorer of the same function and response
    method: equal numbers, or both raise ValueError."""
    import sklearn.metrics as skm
    from sklearn.metrics import get_scorer_names, make_scorer

    from calipers.search._cv_scoring import _TABLE

    if data == "binary":
        models, X, y = breast_cancer
        est = models["logreg"]
    else:
        models, X, y = multiclass["load_iris"]
        est = models["nb"]
    for name, (func, method, sign, fixed) in sorted(_TABLE.items()):
        opts = {"beta": 2.0} if name == "fbeta" else {}
        if name in get_scorer_names():
            sk = get_scorer(name)
        else:
            sk = make_scorer(getattr(skm, func), response_method=method,
                             greater_is_better=sign > 0, **fixed, **opts)
        ours = cal_get_scorer(name, **opts)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                expected = sk(est, X, y)
            except ValueError:
                with pytest.raises(ValueError):
                    ours(est, X, y)
                continue
            assert ours(est, X, y) == pytest.approx(expected, rel=1e-12, abs=1e-15), name
