"""Parity of calipers' ranking and probabilistic score drop-ins with scikit-learn's.

``top_k_accuracy_score``, ``dcg_score``, ``ndcg_score``,
``label_ranking_average_precision_score``, ``log_loss`` and ``brier_score_loss`` on
random (hypothesis) and adversarial inputs. See ``_score_parity`` for what "same
outcome" means. The probabilistic losses accumulate in float64 whatever the input
dtype; scikit-learn computes float32 input in float32, so float32 cases compare to
float32 precision.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

sklearn_metrics = pytest.importorskip("sklearn.metrics")
sp = pytest.importorskip("scipy.sparse")
pytest.importorskip("hypothesis")

from _score_parity import assert_parity, run  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from calipers.metrics import _functional as F  # noqa: E402

NAMES = ["top_k_accuracy_score", "dcg_score", "ndcg_score",
         "label_ranking_average_precision_score", "log_loss", "brier_score_loss"]
SETTINGS = settings(max_examples=int(os.environ.get("CALIPERS_PARITY_EXAMPLES", "40")),
                    deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def matrix(draw: Any, n: int, m: int, values: Any) -> np.ndarray:
    flat = draw(st.lists(values, min_size=n * m, max_size=n * m))
    return np.asarray(flat).reshape(n, m)


@st.composite
def weights_of(draw: Any, n: int) -> np.ndarray | None:
    if draw(st.booleans()):
        return None
    w = np.asarray(draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 3.0]), min_size=n,
                                 max_size=n)))
    if not w.any():
        w[0] = 1.0
    return w


TIED = st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0])
SPREAD = st.floats(-100, 100, allow_nan=False, width=32)


# Signatures: test_functional_parity.test_signature_matches_sklearn checks every
# drop-in, these included.


# ---------------------------------------------------------------------------
# top-k accuracy
# ---------------------------------------------------------------------------


@SETTINGS
@given(data=st.data())
def test_top_k_multiclass(data: Any) -> None:
    n, k_classes = data.draw(st.integers(1, 30)), data.draw(st.integers(3, 6))
    scores = data.draw(matrix(n, k_classes, data.draw(st.sampled_from([TIED, SPREAD]))))
    scores = scores.astype(data.draw(st.sampled_from([np.float64, np.float32])))
    y = np.asarray(data.draw(st.lists(st.integers(0, k_classes - 1), min_size=n, max_size=n)))
    labels = None
    if data.draw(st.booleans()):
        labels = list(range(k_classes))
    elif data.draw(st.booleans()):
        y = np.asarray(list("abcdef"))[y]
        labels = list("abcdef"[:k_classes])
    assert_parity("top_k_accuracy_score", y, scores, k=data.draw(st.integers(1, 7)),
                  normalize=data.draw(st.booleans()), labels=labels,
                  sample_weight=data.draw(weights_of(n)))


@SETTINGS
@given(data=st.data())
def test_top_k_binary(data: Any) -> None:
    n = data.draw(st.integers(1, 30))
    y = np.asarray(data.draw(st.lists(st.sampled_from([3, 8]), min_size=n, max_size=n)))
    scores = np.asarray(data.draw(st.lists(data.draw(st.sampled_from([TIED, SPREAD])),
                                           min_size=n, max_size=n)))
    assert_parity("top_k_accuracy_score", y, scores, k=data.draw(st.integers(1, 3)),
                  normalize=data.draw(st.booleans()),
                  labels=data.draw(st.sampled_from([None, [3, 8]])),
                  sample_weight=data.draw(weights_of(n)))


# ---------------------------------------------------------------------------
# DCG / NDCG / LRAP
# ---------------------------------------------------------------------------


@SETTINGS
@given(data=st.data())
def test_dcg_and_ndcg(data: Any) -> None:
    n, m = data.draw(st.integers(1, 20)), data.draw(st.integers(2, 7))
    gains = data.draw(matrix(n, m, data.draw(st.sampled_from(
        [st.integers(0, 1), st.integers(0, 4), st.floats(0, 10, width=32)]))))
    scores = data.draw(matrix(n, m, data.draw(st.sampled_from([TIED, SPREAD]))))
    kwargs = {"k": data.draw(st.sampled_from([None, 1, 2, 5])),
              "ignore_ties": data.draw(st.booleans()),
              "sample_weight": data.draw(weights_of(n))}
    # Gains with cancelling signs are not drawn: rounding differs relatively there.
    assert_parity("ndcg_score", gains, scores, **kwargs)
    assert_parity("dcg_score", gains, scores,
                  log_base=data.draw(st.sampled_from([2, 10, np.e])), **kwargs)


@SETTINGS
@given(data=st.data())
def test_label_ranking_average_precision(data: Any) -> None:
    n, m = data.draw(st.integers(1, 20)), data.draw(st.integers(1, 7))
    truth = data.draw(matrix(n, m, st.integers(0, 1)))
    scores = data.draw(matrix(n, m, data.draw(st.sampled_from([TIED, SPREAD]))))
    if data.draw(st.booleans()):
        truth = sp.csr_matrix(truth)
    assert_parity("label_ranking_average_precision_score", truth, scores,
                  sample_weight=data.draw(weights_of(n)))


# ---------------------------------------------------------------------------
# log loss / Brier score
# ---------------------------------------------------------------------------


@st.composite
def proba_case(draw: Any) -> dict[str, Any]:
    n, k = draw(st.integers(1, 30)), draw(st.integers(2, 5))
    raw = draw(matrix(n, k, st.sampled_from([0.0, 0.0, 0.1, 0.5, 1.0, 3.0])))
    raw = raw + draw(st.sampled_from([0.0, 1e-3]))
    raw[raw.sum(axis=1) == 0, 0] = 1.0
    proba = raw / raw.sum(axis=1, keepdims=True)
    y = np.asarray(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    return {"n": n, "k": k, "proba": proba, "y": y}


@SETTINGS
@given(case=proba_case(), data=st.data())
def test_multiclass_losses(case: dict[str, Any], data: Any) -> None:
    y, proba, k = case["y"], case["proba"], case["k"]
    labels = data.draw(st.sampled_from([None, list(range(k)), list(range(k))[::-1]]))
    if data.draw(st.booleans()):
        y = np.asarray(list("vwxyz"))[y]
        labels = None if labels is None else [list("vwxyz")[i] for i in labels]
    w = data.draw(weights_of(case["n"]))
    assert_parity("log_loss", y, proba, labels=labels, sample_weight=w,
                  normalize=data.draw(st.booleans()))
    assert_parity("brier_score_loss", y, proba, labels=labels, sample_weight=w,
                  scale_by_half=data.draw(st.sampled_from(["auto", True, False])))


@SETTINGS
@given(data=st.data())
def test_binary_losses(data: Any) -> None:
    n = data.draw(st.integers(1, 30))
    alphabet = data.draw(st.sampled_from([(0, 1), (-1, 1), (2, 5), ("no", "yes"),
                                          (False, True)]))
    bits = np.asarray(data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    y = np.asarray(alphabet)[bits]
    p = np.asarray(data.draw(st.lists(st.sampled_from([0.0, 1e-20, 0.3, 0.5, 0.999999, 1.0]),
                                      min_size=n, max_size=n)))
    w = data.draw(weights_of(n))
    pos_label = data.draw(st.sampled_from([None, alphabet[0], alphabet[1]]))
    column = data.draw(st.booleans())
    if data.draw(st.booleans()):
        assert_parity("brier_score_loss", y, p, pos_label=pos_label, sample_weight=w)
        assert_parity("log_loss", y, p[:, None] if column else p, sample_weight=w)
        return
    # float32: calipers computes in float64 (scikit-learn in float32, which cancels
    # near 0 and 1), so the reference is scikit-learn on the float64 values, clipped
    # to float32's eps for the log loss as calipers clips them.
    p32 = p.astype(np.float32)
    eps = float(np.finfo(np.float32).eps)
    p64 = p32.astype(np.float64)
    _assert_same(F.brier_score_loss, sklearn_metrics.brier_score_loss, (y, p32), (y, p64),
                 {"pos_label": pos_label, "sample_weight": w})
    _assert_same(F.log_loss, sklearn_metrics.log_loss, (y, p32[:, None] if column else p32),
                 (y, np.clip(p64, eps, 1 - eps)), {"sample_weight": w})


def _assert_same(ours: Any, theirs: Any, args: tuple, reference_args: tuple,
                 kwargs: dict) -> None:
    kind, expected, expected_warnings = run(theirs, reference_args, kwargs)
    got_kind, actual, actual_warnings = run(ours, args, kwargs)
    assert got_kind == kind, (args, kwargs, expected, actual)
    if kind == "error":
        assert isinstance(actual, (type(expected), ValueError)), (expected, actual)
        return
    assert isinstance(actual, float)
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=0)
    assert actual_warnings == expected_warnings


# ---------------------------------------------------------------------------
# adversarial cases
# ---------------------------------------------------------------------------

P3 = np.array([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]])
Y3 = np.array([2, 0, 1, 1])
G = np.array([[3, 2, 0, 1], [0, 0, 0, 0], [1, 1, 1, 1]])
R = np.array([[0.5, 0.5, 0.1, 0.9], [0.1, 0.2, 0.3, 0.4], [1.0, 1.0, 1.0, 1.0]])

ADVERSARIAL: list[tuple[str, tuple, dict]] = [
    # top-k
    ("top_k_accuracy_score", (Y3, P3), {"k": 3}),
    ("top_k_accuracy_score", (Y3, np.ones((4, 3))), {"k": 1}),
    ("top_k_accuracy_score", (Y3, np.ones((4, 3))), {"k": 2}),
    ("top_k_accuracy_score", ([0, 1, 1], [0.2, 0.7, 0.9]), {"k": 1}),
    ("top_k_accuracy_score", ([0, 1, 1], [-2, 0.7, 0.9]), {"k": 1}),
    ("top_k_accuracy_score", ([0, 1, 1], np.eye(3)[:, :2]), {"k": 1}),
    ("top_k_accuracy_score", ([0, 1, 1], np.eye(3)), {"k": 1, "labels": [0, 1, 2]}),
    ("top_k_accuracy_score", (Y3, P3), {"labels": [0, 1, 1]}),
    ("top_k_accuracy_score", (Y3, P3), {"labels": [2, 1, 0]}),
    ("top_k_accuracy_score", (Y3, P3), {"labels": [0, 1, 5]}),
    ("top_k_accuracy_score", (Y3, P3), {"labels": [0, 1]}),
    ("top_k_accuracy_score", (Y3, P3[:, 0]), {}),
    ("top_k_accuracy_score", (Y3, P3[:, :2]), {}),
    ("top_k_accuracy_score", ([0.5, 1.5, 2.5, 0.1], P3), {}),
    ("top_k_accuracy_score", (np.eye(4, 3), P3), {}),
    ("top_k_accuracy_score", (Y3, P3), {"k": 0}),
    # dcg / ndcg
    ("ndcg_score", (G, R), {}),
    ("ndcg_score", (G, R), {"k": 2}),
    ("dcg_score", (G, R), {"k": 1, "ignore_ties": True}),
    ("dcg_score", (G, R), {"log_base": 1}),
    ("ndcg_score", (-G, R), {}),
    ("ndcg_score", (G[:, :1], R[:, :1]), {}),
    ("dcg_score", ([1, 2, 3], [1, 2, 3]), {}),
    ("ndcg_score", ([[1, 2, 3]], [[1, 2]]), {}),
    ("dcg_score", (G, R), {"k": 0}),
    ("dcg_score", (G, R), {"log_base": 0}),
    ("ndcg_score", (G, R), {"sample_weight": [1, 2]}),
    # label ranking average precision
    ("label_ranking_average_precision_score", (np.array([[1, 0, 0], [0, 0, 1]]),
                                               np.array([[0.75, 0.5, 1], [1, 0.2, 0.1]])), {}),
    ("label_ranking_average_precision_score", (np.zeros((2, 3), int), np.ones((2, 3))), {}),
    ("label_ranking_average_precision_score", (np.ones((2, 3), int), np.ones((2, 3))), {}),
    ("label_ranking_average_precision_score", (np.array([[1], [0]]), [[0.2], [0.1]]), {}),
    ("label_ranking_average_precision_score", ([1, 0], [0.2, 0.1]), {}),
    ("label_ranking_average_precision_score", (np.eye(3, dtype=int), np.ones((3, 2))), {}),
    ("label_ranking_average_precision_score", (np.array([[0, 2], [2, 0]]),
                                               np.array([[0.1, 0.9], [0.3, 0.3]])), {}),
    # log loss
    ("log_loss", (Y3, P3), {"labels": [2, 0, 1]}),
    ("log_loss", (Y3, P3), {"labels": [0, 1, 2, 3]}),
    ("log_loss", (Y3, P3), {"labels": [0, 1]}),
    ("log_loss", (Y3, P3[:, :2]), {}),
    ("log_loss", ([1, 1, 1, 1], P3), {}),
    ("log_loss", ([1, 1, 1, 1], P3[:, 0]), {"labels": [1]}),
    ("log_loss", (Y3, P3 * 2), {}),
    ("log_loss", (Y3, P3 - 0.5), {}),
    ("log_loss", (Y3, P3 * 0.9), {}),
    ("log_loss", (Y3, P3.astype(np.float32)), {}),
    ("log_loss", (Y3, P3.astype(np.float16)), {}),
    ("log_loss", (Y3,), {"y_pred": P3}),
    ("log_loss", (Y3, P3), {"y_pred": P3}),
    ("log_loss", (np.array([[0, 1, 0], [1, 0, 0]]), P3[:2]), {}),
    ("log_loss", (np.array([[0, 1, 1], [1, 0, 0]]), P3[:2]), {}),
    ("log_loss", ([0.5, 1.5, 2.5, 0.2], P3), {}),
    ("log_loss", ([0, 1], [[0.3, 0.7], [0.5, np.nan]]), {}),
    ("log_loss", ([0, 1, 1], [0, 1, 0.5]), {}),
    # Brier score
    ("brier_score_loss", ([0, 1, 1], [0.1, 0.9, 0.8]), {}),
    ("brier_score_loss", ([0, 1, 1], [[0.1], [0.9], [0.8]]), {}),
    ("brier_score_loss", ([0, 1, 1], [0.1, 0.9, 1.8]), {}),
    ("brier_score_loss", ([0, 1, 1], [0.1, -0.9, 0.8]), {}),
    ("brier_score_loss", (["a", "b", "b"], [0.1, 0.9, 0.8]), {}),
    ("brier_score_loss", ([0, 1, 1], [0.1, 0.9, 0.8]), {"pos_label": 7}),
    ("brier_score_loss", ([0, 1, 2], [0.1, 0.9, 0.8]), {}),
    ("brier_score_loss", ([0.5, 1.5, 0.5], [0.1, 0.9, 0.8]), {}),
    ("brier_score_loss", ([0, 1, 1], [0.1, 0.9, 0.8]), {"sample_weight": [0, 0, 0]}),
    ("brier_score_loss", (Y3, P3), {}),
    ("brier_score_loss", (Y3, P3), {"labels": [0, 1, 2, 3]}),
    ("brier_score_loss", (Y3, P3[:, :2]), {}),
    ("brier_score_loss", ([0, 1, 0, 1], P3[:, :2] / P3[:, :2].sum(1, keepdims=True)), {}),
    ("brier_score_loss", (Y3, P3), {"scale_by_half": "yes"}),
    ("brier_score_loss", ([0, 1, 1], [0.1, 0.9, np.inf]), {}),
]


@pytest.mark.parametrize(("name", "args", "kwargs"), ADVERSARIAL,
                         ids=[f"{i}-{case[0]}" for i, case in enumerate(ADVERSARIAL)])
def test_adversarial(name: str, args: tuple, kwargs: dict) -> None:
    # float16 / float32 probabilities: scikit-learn's losses are rounded to that dtype.
    dtypes = {a.dtype for a in args if isinstance(a, np.ndarray)}
    rtol = 2e-3 if np.dtype(np.float16) in dtypes else \
        2e-6 if np.dtype(np.float32) in dtypes else 1e-12
    assert_parity(name, *args, rtol=rtol, **kwargs)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_scores_raise(name: str, bad: float) -> None:
    truth = np.array([[1, 0, 0], [0, 1, 1]]) if "dcg" in name or "ranking" in name \
        else np.array([0, 1])
    scores = np.array([[0.2, 0.3, 0.5], [0.1, 0.6, 0.3]]) if truth.ndim == 2 or \
        name == "top_k_accuracy_score" else np.array([0.2, 0.6])
    if name == "top_k_accuracy_score":
        truth = np.array([0, 2])
    scores = scores.copy()
    scores.flat[1] = bad
    with pytest.raises(ValueError):
        getattr(F, name)(truth, scores)
    with pytest.raises(ValueError):
        getattr(sklearn_metrics, name)(truth, scores)


def test_torch_tensors() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    y = rng.integers(0, 4, 100)
    p = rng.dirichlet(np.ones(4), 100)
    g = rng.integers(0, 3, (100, 4))
    for name, args in [("top_k_accuracy_score", (y, p)), ("log_loss", (y, p)),
                       ("brier_score_loss", (y, p)), ("ndcg_score", (g, p)),
                       ("dcg_score", (g, p)),
                       ("label_ranking_average_precision_score", (g > 1, p))]:
        expected = getattr(F, name)(*args)
        actual = getattr(F, name)(*(torch.from_numpy(np.asarray(a)) for a in args))
        assert actual == expected, name


def test_float32_losses_accumulate_in_float64() -> None:
    # 2**20 float32 probabilities: the float64 sum stays at the float64 answer.
    rng = np.random.default_rng(13)
    p = rng.random(1 << 20).astype(np.float32)
    y = rng.integers(0, 2, p.shape[0])
    exact = sklearn_metrics.brier_score_loss(y, p.astype(np.float64))
    np.testing.assert_allclose(F.brier_score_loss(y, p), exact, rtol=1e-12)
    exact = sklearn_metrics.log_loss(y, p.astype(np.float64))
    # clipping uses float32's eps, so compare to float32 resolution
    np.testing.assert_allclose(F.log_loss(y, p), exact, rtol=1e-6)
