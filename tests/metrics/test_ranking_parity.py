"""Parity of calipers' AUC / AP / threshold-curve drop-ins with scikit-learn's.

``roc_auc_score``, ``average_precision_score``, ``roc_curve``,
``precision_recall_curve`` and ``det_curve`` on random (hypothesis) and adversarial
inputs: heavy ties, float32 / integer scores, weights with zeros, string labels with
``pos_label``, one class only, multiclass (OvR / OvO, ``labels``) and multilabel
(every average). See ``_score_parity`` for what "same outcome" means.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import pytest

sklearn_metrics = pytest.importorskip("sklearn.metrics")
pytest.importorskip("hypothesis")

from _score_parity import assert_parity  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from calipers.metrics import UndefinedMetricWarning  # noqa: E402
from calipers.metrics import _functional as F  # noqa: E402
from calipers.metrics._functional_ranking import (  # noqa: E402
    _binary_average_precision,
    _binary_roc_auc,
    _ovo_roc_auc,
    _ovr_roc_auc,
)

NAMES = ["roc_auc_score", "average_precision_score", "roc_curve", "precision_recall_curve",
         "det_curve"]
CURVES = ["roc_curve", "precision_recall_curve", "det_curve"]
SETTINGS = settings(max_examples=int(os.environ.get("CALIPERS_PARITY_EXAMPLES", "40")),
                    deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------
# strategies
# ---------------------------------------------------------------------------


@st.composite
def scores_of(draw: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Scores with many ties (a coarse grid), or spread floats, in a drawn dtype."""
    size = int(np.prod(shape))
    kind = draw(st.sampled_from(["grid", "float", "int", "tiny"]))
    if kind == "grid":
        values = draw(st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]),
                               min_size=size, max_size=size))
    elif kind == "int":
        values = draw(st.lists(st.integers(-3, 3), min_size=size, max_size=size))
        return np.asarray(values, dtype=np.int64).reshape(shape)
    elif kind == "tiny":  # distinct in float64, some equal in float32
        values = [1.0 + i * 1e-9 for i in draw(st.lists(st.integers(0, 4), min_size=size,
                                                         max_size=size))]
    else:
        values = draw(st.lists(st.floats(-1e6, 1e6, allow_nan=False, width=32),
                               min_size=size, max_size=size))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    return np.asarray(values, dtype=dtype).reshape(shape)


@st.composite
def weights_of(draw: Any, n: int) -> np.ndarray | None:
    if draw(st.booleans()):
        return None
    w = np.asarray(draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0]), min_size=n,
                                 max_size=n)))
    if not w.any():
        w[0] = 1.0
    return w


@st.composite
def binary_case(draw: Any) -> dict[str, Any]:
    n = draw(st.integers(1, 40))
    bits = np.asarray(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    alphabet = draw(st.sampled_from([(0, 1), (-1, 1), ("neg", "pos"), (False, True),
                                     (0.0, 1.0), (2, 7)]))
    y = np.asarray(alphabet)[bits]
    return {"y": y, "alphabet": alphabet, "scores": draw(scores_of((n,))),
            "weights": draw(weights_of(n)), "n": n}


# Signatures: test_functional_parity.test_signature_matches_sklearn checks every
# drop-in, these included.


# ---------------------------------------------------------------------------
# binary
# ---------------------------------------------------------------------------


@SETTINGS
@given(case=binary_case(), data=st.data())
def test_binary_auc_and_ap(case: dict[str, Any], data: Any) -> None:
    y, s, w = case["y"], case["scores"], case["weights"]
    max_fpr = data.draw(st.sampled_from([None, 1.0, 0.5, 0.1, 0.999]))
    assert_parity("roc_auc_score", y, s, sample_weight=w, max_fpr=max_fpr)
    pos_label = data.draw(st.sampled_from([case["alphabet"][1], case["alphabet"][0], 1]))
    assert_parity("average_precision_score", y, s, sample_weight=w, pos_label=pos_label)


@SETTINGS
@given(case=binary_case(), data=st.data())
def test_binary_curves(case: dict[str, Any], data: Any) -> None:
    y, s, w = case["y"], case["scores"], case["weights"]
    name = data.draw(st.sampled_from(CURVES))
    pos_label = data.draw(st.sampled_from([None, case["alphabet"][1], case["alphabet"][0]]))
    drop = data.draw(st.booleans())
    assert_parity(name, y, s, pos_label=pos_label, sample_weight=w, drop_intermediate=drop)


@SETTINGS
@given(data=st.data())
def test_multiclass_truth_with_pos_label_curves(data: Any) -> None:
    n = data.draw(st.integers(3, 30))
    y = np.asarray(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    s = data.draw(scores_of((n,)))
    name = data.draw(st.sampled_from(CURVES))
    assert_parity(name, y, s, pos_label=data.draw(st.integers(0, 4)),
                  sample_weight=data.draw(weights_of(n)))


# ---------------------------------------------------------------------------
# multiclass
# ---------------------------------------------------------------------------


@st.composite
def multiclass_case(draw: Any) -> dict[str, Any]:
    k = draw(st.integers(3, 5))
    n = draw(st.integers(k, 40))
    codes = np.asarray(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    codes[:3] = [0, 1, 2]  # at least three classes: multiclass truth
    raw = draw(scores_of((n, k)))
    raw = np.abs(raw.astype(np.float64)) + draw(st.sampled_from([0.0, 1.0]))
    raw[raw.sum(axis=1) == 0] = 1.0
    proba = (raw / raw.sum(axis=1, keepdims=True)).astype(draw(
        st.sampled_from([np.float64, np.float32])))
    names = draw(st.sampled_from([None, ["a", "b", "c", "d", "e"]]))
    y = codes if names is None else np.asarray(names)[codes]
    return {"y": y, "proba": proba, "k": k, "n": n, "names": names}


@SETTINGS
@given(case=multiclass_case(), data=st.data())
def test_multiclass_auc(case: dict[str, Any], data: Any) -> None:
    multi_class = data.draw(st.sampled_from(["ovr", "ovo", "raise"]))
    average = data.draw(st.sampled_from(["macro", "weighted", "micro", None, "samples"]))
    weights = data.draw(weights_of(case["n"])) if multi_class == "ovr" else None
    labels = None
    if data.draw(st.booleans()):
        labels = list(range(case["k"])) if case["names"] is None else case["names"][:case["k"]]
    assert_parity("roc_auc_score", case["y"], case["proba"], multi_class=multi_class,
                  average=average, sample_weight=weights, labels=labels)


@SETTINGS
@given(case=multiclass_case(), data=st.data())
def test_multiclass_auc_with_absent_classes(case: dict[str, Any], data: Any) -> None:
    # Columns of classes absent from y_true: labels name them; OvR warns per column.
    k = case["k"]
    y = np.asarray(case["y"])
    present = y if case["names"] is None else np.searchsorted(case["names"], y)
    proba = np.concatenate([case["proba"], np.zeros((case["n"], 1), case["proba"].dtype)],
                           axis=1)
    labels = list(range(k + 1)) if case["names"] is None else case["names"][:k] + ["z"]
    del present
    assert_parity("roc_auc_score", y, proba, labels=labels,
                  multi_class=data.draw(st.sampled_from(["ovr", "ovo"])),
                  average=data.draw(st.sampled_from(["macro", "weighted"])))


@SETTINGS
@given(case=multiclass_case(), data=st.data())
def test_multiclass_average_precision(case: dict[str, Any], data: Any) -> None:
    average = data.draw(st.sampled_from(["macro", "weighted", "micro", None, "samples"]))
    n_present = np.unique(case["y"]).shape[0]
    proba = case["proba"][:, :n_present] if n_present < case["k"] else case["proba"]
    assert_parity("average_precision_score", case["y"], proba, average=average,
                  sample_weight=data.draw(weights_of(case["n"])))


# ---------------------------------------------------------------------------
# multilabel
# ---------------------------------------------------------------------------


@SETTINGS
@given(data=st.data())
def test_multilabel(data: Any) -> None:
    n = data.draw(st.integers(1, 25))
    m = data.draw(st.integers(2, 5))
    t = np.asarray(data.draw(st.lists(st.integers(0, 1), min_size=n * m, max_size=n * m)))
    t = t.reshape(n, m).astype(data.draw(st.sampled_from([np.int64, np.float64, bool])))
    s = data.draw(scores_of((n, m)))
    average = data.draw(st.sampled_from(["macro", "weighted", "micro", None, "samples"]))
    w = data.draw(weights_of(n))
    assert_parity("roc_auc_score", t, s, average=average, sample_weight=w)
    assert_parity("average_precision_score", t, s, average=average, sample_weight=w)


def test_multilabel_minus_one_one() -> None:
    rng = np.random.default_rng(3)
    t = rng.choice([-1, 1], size=(30, 3))
    s = rng.random((30, 3))
    for average in ("macro", "weighted", "micro", None, "samples"):
        assert_parity("roc_auc_score", t, s, average=average)


# ---------------------------------------------------------------------------
# adversarial cases
# ---------------------------------------------------------------------------

Y = np.array([0, 0, 1, 1, 0, 1])
S = np.array([0.1, 0.4, 0.35, 0.8, 0.4, 0.4])
P3 = np.array([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]])
Y3 = np.array([2, 0, 1, 1])

ADVERSARIAL: list[tuple[str, tuple, dict]] = [
    # one class only: NaN with UndefinedMetricWarning (AUC), 0.0 with UserWarning (AP)
    ("roc_auc_score", ([1, 1, 1], [0.1, 0.2, 0.3]), {}),
    ("roc_auc_score", ([0, 0, 0], [0.1, 0.2, 0.3]), {"max_fpr": 0.5}),
    ("average_precision_score", ([0, 0, 0], [0.1, 0.2, 0.3]), {}),
    ("average_precision_score", ([1, 1, 1], [0.1, 0.2, 0.3]), {}),
    ("roc_curve", ([1, 1, 1], [0.1, 0.2, 0.3]), {}),
    ("roc_curve", ([0, 0, 0], [0.1, 0.2, 0.3]), {}),
    ("precision_recall_curve", ([0, 0, 0], [0.1, 0.2, 0.3]), {}),
    ("det_curve", ([0, 0, 0], [0.1, 0.2, 0.3]), {}),
    # a class whose weights are all zero
    ("roc_auc_score", (Y, S), {"sample_weight": [1, 1, 0, 0, 1, 0]}),
    ("roc_auc_score", (Y, S), {"sample_weight": [0, 0, 1, 1, 0, 1], "max_fpr": 0.5}),
    ("roc_curve", (Y, S), {"sample_weight": [1, 1, 0, 0, 1, 0]}),
    ("average_precision_score", (Y, S), {"sample_weight": [1, 1, 0, 0, 1, 0]}),
    # all scores tied
    ("roc_auc_score", (Y, np.zeros(6)), {}),
    ("average_precision_score", (Y, np.zeros(6)), {}),
    ("roc_curve", (Y, np.zeros(6)), {}),
    ("precision_recall_curve", (Y, np.zeros(6)), {"drop_intermediate": True}),
    ("det_curve", (Y, np.zeros(6)), {"drop_intermediate": True}),
    # huge, negative and float32 scores; integer and bool scores
    ("roc_auc_score", (Y, S * 1e300), {}),
    ("roc_curve", (Y, -S), {}),
    ("precision_recall_curve", (Y, S.astype(np.float32)), {}),
    ("precision_recall_curve", (Y, np.array([3, 1, 2, 2, 5, 1])), {}),
    ("precision_recall_curve", (Y, np.array([3, 1, 2, 2, 5, 1], dtype=np.int32)), {}),
    ("roc_curve", (Y, np.array([3, 1, 2, 2, 5, 1], dtype=np.uint8)), {}),
    ("det_curve", (Y, S.astype(np.float16)), {}),
    ("precision_recall_curve", (Y, S.astype(np.float16)), {}),
    # column vectors
    ("roc_auc_score", (Y[:, None], S[:, None]), {}),
    ("roc_curve", (Y, S[:, None]), {}),
    # string labels
    ("roc_auc_score", (np.array(["b", "a", "b", "a", "a", "b"]), S), {}),
    ("roc_curve", (np.array(["b", "a", "b", "a", "a", "b"]), S), {"pos_label": "a"}),
    ("average_precision_score", (np.array(["b", "a", "b", "a", "a", "b"]), S),
     {"pos_label": "b"}),
    # errors
    ("roc_curve", (np.array(["b", "a", "b", "a", "a", "b"]), S), {}),
    ("average_precision_score", (np.array(["b", "a", "b", "a", "a", "b"]), S), {}),
    ("average_precision_score", (Y, S), {"pos_label": 2}),
    ("average_precision_score", (Y3, P3), {"pos_label": 2}),
    ("average_precision_score", (Y3, P3[:, :2]), {}),
    ("roc_auc_score", (Y, np.c_[1 - S, S]), {}),
    ("roc_auc_score", ([], []), {}),
    ("roc_curve", ([], []), {}),
    ("roc_auc_score", (Y, S[:5]), {}),
    ("roc_curve", (Y, S, ), {"sample_weight": np.zeros(6)}),
    ("roc_auc_score", (Y, np.zeros((6, 1, 1))), {}),
    ("roc_auc_score", ([0.5, 0.2, 0.1], [0.1, 0.2, 0.3]), {}),
    ("roc_curve", (np.eye(3, dtype=int), [0.1, 0.2, 0.3]), {}),
    ("roc_auc_score", (Y3, P3), {}),
    ("roc_auc_score", (Y3, P3), {"multi_class": "ovr", "max_fpr": 0.5}),
    ("roc_auc_score", (Y3, P3 * 2), {"multi_class": "ovr"}),
    ("roc_auc_score", (Y3, P3), {"multi_class": "ovo", "average": None}),
    ("roc_auc_score", (Y3, P3), {"multi_class": "ovo", "average": "micro"}),
    ("roc_auc_score", (Y3, P3), {"multi_class": "ovr", "average": "samples"}),
    ("roc_auc_score", (Y3, P3), {"multi_class": "ovo", "sample_weight": [1, 2, 1, 1]}),
    ("roc_auc_score", (Y3, P3), {"multi_class": "ovr", "labels": [0, 1, 1]}),
    ("roc_auc_score", (Y3, P3), {"multi_class": "ovr", "labels": [2, 1, 0]}),
    ("roc_auc_score", (Y3, P3), {"multi_class": "ovr", "labels": [0, 1]}),
    ("roc_auc_score", (Y3, P3), {"multi_class": "ovr", "labels": [0, 1, 3]}),
    ("roc_auc_score", (Y3, P3[:, :2]), {"multi_class": "ovr"}),
    ("roc_auc_score", (Y3, P3[:, 0]), {"multi_class": "ovr"}),
    ("roc_auc_score", (Y, S), {"max_fpr": 0}),
    ("roc_auc_score", (Y, S), {"max_fpr": 1.5}),
    ("roc_auc_score", (Y, S), {"average": "binary"}),
    ("roc_auc_score", (Y, S), {"multi_class": "bad"}),
    ("det_curve", ([0, 1, 2], [0.1, 0.2, 0.3]), {"pos_label": 1}),
    ("roc_curve", ([0, 1, 2], [0.1, 0.2, 0.3]), {"pos_label": 1}),
    ("roc_auc_score", (np.array([[0, 1], [1, 0], [1, 1]]), np.random.default_rng(0).random(3)),
     {}),
    # multiclass truth, binary-looking scores with labels
    ("roc_auc_score", ([0, 0, 1, 1], np.full((4, 3), 1 / 3)),
     {"multi_class": "ovr", "labels": [0, 1, 2], "average": None}),
    ("roc_auc_score", ([0, 0, 1, 1], np.full((4, 3), 1 / 3)),
     {"multi_class": "ovr", "labels": [0, 1, 2], "average": "weighted"}),
    ("roc_auc_score", ([0, 0, 1, 1], np.full((4, 3), 1 / 3)), {"multi_class": "ovr"}),
    # multilabel with a column of one class; weighted with no positives at all
    ("roc_auc_score", (np.array([[0, 1], [0, 0], [0, 1]]), P3[:3, :2]), {"average": None}),
    ("roc_auc_score", (np.zeros((3, 2), int), P3[:3, :2]), {"average": "weighted"}),
    ("average_precision_score", (np.zeros((3, 2), int), P3[:3, :2]), {"average": "weighted"}),
    ("average_precision_score", (np.array([[0, 1], [0, 0], [0, 1]]), P3[:3, :2]),
     {"average": None}),
    ("average_precision_score", (np.array([[0, 1], [1, 0]]), P3[:2, :2]), {"pos_label": 0}),
]


@pytest.mark.parametrize(("name", "args", "kwargs"), ADVERSARIAL,
                         ids=[f"{i}-{case[0]}" for i, case in enumerate(ADVERSARIAL)])
def test_adversarial(name: str, args: tuple, kwargs: dict) -> None:
    assert_parity(name, *args, **kwargs)


@pytest.mark.parametrize("seed", range(8))
def test_negative_weights(seed: int) -> None:
    # scikit-learn accepts weights of both signs; its curve can then go back (auc
    # raises) or a class can weigh <= 0 (warning and NaN).
    rng = np.random.default_rng(seed)
    for _ in range(10):
        y = rng.integers(0, 2, 20)
        s = rng.integers(0, 5, 20) / 4
        w = rng.normal(size=20) + 0.3
        for name, kwargs in [("roc_auc_score", {}), ("roc_auc_score", {"max_fpr": 0.4}),
                             ("average_precision_score", {}), ("roc_curve", {}),
                             ("precision_recall_curve", {})]:
            assert_parity(name, y, s, sample_weight=w, **kwargs)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_scores_raise(name: str, bad: float) -> None:
    s = S.copy()
    s[2] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        getattr(F, name)(Y, s)
    with pytest.raises(ValueError):
        getattr(sklearn_metrics, name)(Y, s)


@pytest.mark.parametrize("name", NAMES)
def test_string_scores_raise_value_error(name: str) -> None:
    with pytest.raises(ValueError):
        getattr(F, name)(Y, np.array(["a"] * 6))


def test_one_class_warning_text() -> None:
    with pytest.warns(UndefinedMetricWarning, match="Only one class is present in y_true"):
        assert np.isnan(F.roc_auc_score([0, 0], [0.1, 0.2]))


def test_ovo_with_one_present_class_is_nan() -> None:
    # scikit-learn averages an empty list of pairs (NaN and a RuntimeWarning).
    with pytest.warns(UndefinedMetricWarning):
        value = F.roc_auc_score([0, 0, 0], np.full((3, 3), 1 / 3), multi_class="ovo",
                                labels=[0, 1, 2])
    assert np.isnan(value)


# ---------------------------------------------------------------------------
# torch input and the private helpers' contracts
# ---------------------------------------------------------------------------


def test_torch_tensors() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    y, s, w = rng.integers(0, 2, 200), rng.random(200).astype(np.float32), rng.random(200)
    tt, ts, tw = torch.from_numpy(y), torch.from_numpy(s), torch.from_numpy(w)
    for name in NAMES:
        expected = getattr(F, name)(y, s, sample_weight=w)
        actual = getattr(F, name)(tt, ts, sample_weight=tw)
        for e, a in zip(np.atleast_1d(expected) if not isinstance(expected, tuple) else expected,
                        np.atleast_1d(actual) if not isinstance(actual, tuple) else actual,
                        strict=True):
            np.testing.assert_array_equal(a, e)
    y3, p3 = rng.integers(0, 3, 100), rng.dirichlet(np.ones(3), 100)
    assert F.roc_auc_score(torch.from_numpy(y3), torch.from_numpy(p3), multi_class="ovr") == \
        F.roc_auc_score(y3, p3, multi_class="ovr")


def test_private_helpers_match_public() -> None:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 500)
    s = np.round(rng.random(500), 2)
    w = rng.integers(0, 3, 500).astype(np.float64)
    pos = y == 1
    for max_fpr in (None, 0.2):
        assert _binary_roc_auc(pos, s, w, max_fpr) == F.roc_auc_score(
            y, s, sample_weight=w, max_fpr=max_fpr)
    assert _binary_average_precision(pos, s, w) == F.average_precision_score(
        y, s, sample_weight=w)
    codes = rng.integers(0, 4, 500)
    p = rng.dirichlet(np.ones(4), 500)
    for average in ("macro", "weighted", "micro", None):
        np.testing.assert_array_equal(
            _ovr_roc_auc(codes, p, 4, average),
            F.roc_auc_score(codes, p, multi_class="ovr", average=average))
    for average in ("macro", "weighted"):
        assert _ovo_roc_auc(codes, p, average) == F.roc_auc_score(
            codes, p, multi_class="ovo", average=average)


def test_large_float32_ties_count_exactly() -> None:
    # Many samples over few float32 scores: counts stay exact.
    rng = np.random.default_rng(11)
    n = 200_000
    s = rng.integers(0, 50, n).astype(np.float32) / 7
    y = rng.integers(0, 2, n)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = F.roc_auc_score(y, s)
    np.testing.assert_allclose(ours, sklearn_metrics.roc_auc_score(y, s), rtol=1e-12)
    np.testing.assert_allclose(F.average_precision_score(y, s),
                               sklearn_metrics.average_precision_score(y, s), rtol=1e-12)


def test_float32_weights_are_summed_in_float64() -> None:
    # sklearn #6842: float32 weights once lost precision in float32 sums. calipers
    # widens them first: the result equals the float64-weight one exactly, and the
    # curve's totals are the float64 sums of the weights.
    rng = np.random.default_rng(12)
    n = 1_000_000
    s = rng.random(n)
    y = rng.integers(0, 2, n)
    w32 = (rng.random(n) * 3).astype(np.float32)
    w64 = w32.astype(np.float64)
    assert F.roc_auc_score(y, s, sample_weight=w32) == F.roc_auc_score(y, s, sample_weight=w64)
    assert F.average_precision_score(y, s, sample_weight=w32) == \
        F.average_precision_score(y, s, sample_weight=w64)
    fpr, tpr, _ = F.roc_curve(y, s, sample_weight=w32, drop_intermediate=False)
    assert fpr.dtype == np.float64 and fpr[-1] == 1.0 and tpr[-1] == 1.0
    from calipers.metrics._rank_core import binary_clf_curve

    fps, tps, _ = binary_clf_curve(y == 1, s, w64)
    np.testing.assert_allclose(tps[-1], w64[y == 1].sum(), rtol=1e-13)
    np.testing.assert_allclose(fps[-1], w64[y == 0].sum(), rtol=1e-13)
