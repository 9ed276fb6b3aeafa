"""calipers.verify: parity reports, tolerances, ParityError on a perturbed model."""

from __future__ import annotations

import copy
import json
from functools import lru_cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import calipers
from calipers.errors import ParityError
from calipers.export import ParityReport, load
from calipers.export._verify import compare_outputs

pytest.importorskip("sklearn")
pytest.importorskip("skops")

from sklearn.datasets import load_breast_cancer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

TOL = {"rtol": 1e-3, "atol": 1e-5, "min_label_agreement": 0.99}


@lru_cache(maxsize=1)
def _data():
    return load_breast_cancer(return_X_y=True)


@lru_cache(maxsize=1)
def _model():
    X, y = _data()
    return LogisticRegression(solver="newton-cholesky").fit(X, y)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    X, _ = _data()
    return calipers.export(_model(), "skops", tmp_path_factory.mktemp("v") / "art", sample=X)


def perturbed(model, coef=0.0, intercept=0.0):
    other = copy.deepcopy(model)
    other.coef_ = other.coef_ + coef
    other.intercept_ = other.intercept_ + intercept
    return other


def test_exact_artifact_passes(artifact):
    X, _ = _data()
    report = calipers.verify(artifact, _model(), X)
    assert isinstance(report, ParityReport)
    assert report.ok and report.n == len(X) and report.failures == []
    assert report.max_abs_diff == {"probabilities": 0.0}
    assert report.max_rel_diff == {"probabilities": 0.0}
    assert report.label_agreement == 1.0 and report.label_agreements == {"label": 1.0}
    assert report.tolerance == load(artifact).manifest["tolerance"]
    assert "parity on 569 rows: ok" in str(report)


def test_perturbed_model_fails_loudly(artifact):
    X, _ = _data()
    model = perturbed(_model(), coef=1e-4)
    with pytest.raises(ParityError) as e:
        calipers.verify(artifact, model, X)
    message = str(e.value)
    assert str(artifact) in message and "output 'probabilities': max abs diff" in message
    report = e.value.report
    assert not report.ok
    expected = np.abs(model.predict_proba(X) - _model().predict_proba(X)).max()
    assert report.max_abs_diff["probabilities"] == pytest.approx(expected, rel=1e-12)
    assert report.max_abs_diff["probabilities"] > 1e-6
    # the same, without raising
    quiet = calipers.verify(artifact, model, X, raise_on_fail=False)
    assert not quiet.ok and quiet.max_abs_diff == report.max_abs_diff
    # loose enough tolerances accept it
    loose = calipers.verify(artifact, model, X, rtol=1.0, atol=1.0, min_label_agreement=0.0)
    assert loose.ok and loose.tolerance == {"rtol": 1.0, "atol": 1.0, "min_label_agreement": 0.0}


def test_label_disagreement(artifact):
    X, _ = _data()
    model = perturbed(_model(), intercept=3.0)  # moves the decision boundary
    report = calipers.verify(artifact, model, X, rtol=1e9, atol=1e9, raise_on_fail=False)
    expected = float(np.mean(model.predict(X) == _model().predict(X)))
    assert expected < 1.0
    assert report.label_agreement == pytest.approx(expected)
    assert not report.ok
    assert any("output 'label': label agreement" in f for f in report.failures)
    ok = calipers.verify(artifact, model, X, rtol=1e9, atol=1e9, min_label_agreement=expected)
    assert ok.ok


def test_verify_accepts_a_loaded_artifact_and_leaves_it_open(artifact):
    X, _ = _data()
    loaded = load(artifact)
    assert calipers.verify(loaded, _model(), X[:50]).n == 50
    assert loaded.predict(X[:3]).shape == (3,)  # still usable


def test_exporter_verify_returns_a_dict(artifact):
    X, _ = _data()
    exporter = calipers.plugins.get("exporter", "skops")()
    good = exporter.verify(artifact, _model(), X)
    assert good["ok"] is True and good["max_abs_diff"] == 0.0
    bad = exporter.verify(artifact, perturbed(_model(), coef=1e-4), X)
    assert bad["ok"] is False and bad["max_abs_diff"] > 1e-6
    assert bad["max_abs_diff_per_output"] == {"probabilities": bad["max_abs_diff"]}
    json.dumps(bad, allow_nan=False)


def test_bad_arguments(artifact):
    X, _ = _data()
    with pytest.raises(ValueError, match="at least one row"):
        calipers.verify(artifact, _model(), X[:0])
    for kwargs in ({"rtol": -1.0}, {"atol": float("nan")}, {"min_label_agreement": 1.5},
                   {"rtol": "1e-3"}):
        with pytest.raises(ValueError, match="must be"):
            calipers.verify(artifact, _model(), X, **kwargs)
    with pytest.raises(ValueError, match="shape"):
        calipers.verify(artifact, _model(), X[:, :5])


def test_compare_edge_cases():
    nan, inf = float("nan"), float("inf")
    want = {"p": np.array([[0.0, 1.0], [nan, 2.0]]), "label": np.array(["a", "b"])}
    same = compare_outputs({"p": want["p"].copy(), "label": np.array(["a", "b"], dtype=object)},
                           want, TOL)
    assert same.ok and same.max_abs_diff == {"p": 0.0} and same.label_agreement == 1.0

    got = {"p": np.array([[1e-9, 1.0], [0.5, 2.0]]), "label": np.array(["a", "c"])}
    report = compare_outputs(got, want, TOL)
    assert report.max_abs_diff["p"] == inf  # NaN on one side only
    assert report.max_rel_diff["p"] == inf  # and 1e-9 where the model gives exactly 0
    assert report.label_agreement == 0.5 and not report.ok
    assert json.loads(json.dumps(report.to_dict(), allow_nan=False))["max_abs_diff"] == {
        "p": None}

    shape = compare_outputs({"p": np.zeros((2, 3)), "label": want["label"]}, want, TOL)
    assert not shape.ok and "shape [2, 3] differs from the model's [2, 2]" in shape.failures[0]
    missing = compare_outputs({"label": want["label"]}, want, TOL)
    assert not missing.ok and "'p': missing from the artifact's outputs" in missing.failures[0]
    extra = compare_outputs({**want, "more": np.ones(2)}, want, TOL)
    assert extra.ok  # outputs only the artifact has are not compared

    # float labels are compared as labels; multi-output labels agree per row
    labels = compare_outputs({"label": np.array([[1.0, 0.0], [1.0, 1.0]])},
                             {"label": np.array([[1.0, 0.0], [1.0, 0.0]])}, TOL)
    assert labels.label_agreements == {"label": 0.5} and labels.max_abs_diff == {}
    ints = compare_outputs({"k": np.array([1, 2, 3])}, {"k": np.array([1, 2, 4])}, TOL)
    assert ints.label_agreements == {"k": pytest.approx(2 / 3)}


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 6).flatmap(
        lambda n: st.tuples(
            hnp.arrays(np.float64, (n, 2), elements=st.floats(-1e3, 1e3) | st.just(float("nan"))),
            hnp.arrays(np.float64, (n, 2), elements=st.floats(-1e-2, 1e-2)),
            hnp.arrays(np.bool_, (n, 2)),
        )
    ),
    st.sampled_from([0.0, 1e-6, 1e-3]),
    st.sampled_from([0.0, 1e-8, 1e-4]),
)
def test_numeric_check_matches_numpy_allclose(arrays, rtol, atol):
    want, noise, keep = arrays
    got = np.where(keep, want, want + noise)
    got = np.where(np.isnan(want) & ~keep, 0.0, got)  # some NaNs on one side only
    report = compare_outputs({"p": got}, {"p": want},
                             {"rtol": rtol, "atol": atol, "min_label_agreement": 1.0})
    assert report.ok == bool(np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True))
    diff = np.abs(got - want)
    one_nan = np.isnan(got) != np.isnan(want)
    expected = np.inf if one_nan.any() else float(np.nanmax(diff, initial=0.0))
    assert report.max_abs_diff["p"] == expected


def test_the_report_says_which_tolerance_passed_each_output():
    # a max rel diff of 4 next to "ok": the values are near 0 and atol covers them
    near_zero = compare_outputs({"p": np.array([1e-6, 0.5 + 1e-6, 2.0])},
                                {"p": np.array([2e-7, 0.5, 2.0])}, TOL)
    assert near_zero.ok and near_zero.max_rel_diff["p"] == pytest.approx(4.0)
    assert near_zero.passed_by == {"p": "atol"}
    assert near_zero.allowance_used["p"] == pytest.approx(8e-7 / (1e-5 + 1e-3 * 2e-7))
    text = str(near_zero)
    assert "parity on 3 rows: ok (rtol 0.001, atol 1e-05, min label agreement 0.99)" in text
    assert ("p: max abs diff 1e-06, max rel diff 4; ok by atol 1e-05: |diff| <= atol "
            "everywhere, rtol 0.001 alone would fail") in text
    assert near_zero.to_dict()["passed_by"] == {"p": "atol"}

    relative = compare_outputs({"p": np.array([100.05, -3.0])}, {"p": np.array([100.0, -3.0])},
                               TOL)
    assert relative.passed_by == {"p": "rtol"}
    assert "ok by rtol 0.001: |diff| <= rtol * |model| everywhere (worst element at 50%" \
        in str(relative)
    both = compare_outputs({"p": np.array([100.05, 1e-6])}, {"p": np.array([100.0, 0.0])}, TOL)
    assert both.passed_by == {"p": "atol+rtol"}
    assert "ok by atol 1e-05 + rtol 0.001 * |model| (neither alone would pass" in str(both)
    same = compare_outputs({"p": np.array([1.0, np.nan])}, {"p": np.array([1.0, np.nan])}, TOL)
    assert same.passed_by == {"p": "exact"} and "max rel diff 0; ok: identical" in str(same)
    bad = compare_outputs({"p": np.array([1.1])}, {"p": np.array([1.0])}, TOL)
    assert bad.passed_by == {"p": "failed"} and not bad.ok
    assert "FAILED: exceeds atol 1e-05 + rtol 0.001 * |model|" in str(bad)


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(np.float64, 5, elements=st.floats(-1e3, 1e3)),
       hnp.arrays(np.float64, 5, elements=st.floats(-1e-2, 1e-2)),
       st.sampled_from([0.0, 1e-6, 1e-3]), st.sampled_from([0.0, 1e-8, 1e-4]))
def test_passed_by_names_a_tolerance_that_alone_passes(want, noise, rtol, atol):
    got = want + noise
    report = compare_outputs({"p": got}, {"p": want},
                             {"rtol": rtol, "atol": atol, "min_label_agreement": 1.0})
    way = report.passed_by["p"]
    assert (way == "failed") == (not report.ok)
    assert report.ok == (report.allowance_used["p"] <= 1.0)
    if way == "rtol":
        assert np.allclose(got, want, rtol=rtol, atol=0.0)
    elif way == "atol":
        assert np.allclose(got, want, rtol=0.0, atol=atol)
        assert not np.allclose(got, want, rtol=rtol, atol=0.0)
    elif way == "atol+rtol":
        assert not np.allclose(got, want, rtol=rtol, atol=0.0)
        assert not np.allclose(got, want, rtol=0.0, atol=atol)
