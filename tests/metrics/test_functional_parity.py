"""Parity of calipers' functional metrics with scikit-learn's.

Every case runs the scikit-learn function and the calipers one on the same input and
requires the same outcome: the same value (exactly for counts, to 1e-12 relative for
floats) of the same type and dtype, and the same warnings (category name and text,
in order); or, when scikit-learn raises, an exception of the same kind.
"""

from __future__ import annotations

import inspect
import os
import warnings
from typing import Any

import numpy as np
import pytest

sklearn_metrics = pytest.importorskip("sklearn.metrics")
sp = pytest.importorskip("scipy.sparse")
hypothesis = pytest.importorskip("hypothesis")

from _score_parity import run  # noqa: E402
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

from calipers.metrics import _functional as F  # noqa: E402
from calipers.metrics._params import InvalidParameterError  # noqa: E402

ALL_NAMES = [n for n in F.__all__ if n != "UndefinedMetricWarning"]
# The drop-ins that take labels; the score drop-ins (AUC, curves, log_loss, ...) have
# their own parity tests (test_ranking_parity.py, test_scores_parity.py).
NAMES = [n for n in ALL_NAMES if getattr(F, n).__module__.endswith(("_other", "_prf"))]
SET_WISE = ["precision_score", "recall_score", "f1_score", "fbeta_score", "jaccard_score",
            "precision_recall_fscore_support"]
LABEL_ONLY = ["confusion_matrix", "balanced_accuracy_score", "matthews_corrcoef",
              "cohen_kappa_score"]

# CALIPERS_PARITY_EXAMPLES raises the number of random cases for a longer search.
SETTINGS = settings(max_examples=int(os.environ.get("CALIPERS_PARITY_EXAMPLES", "60")),
                    deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------
# comparing outcomes
# ---------------------------------------------------------------------------


def _assert_same_value(expected: Any, actual: Any, where: str, rtol: float = 1e-12) -> None:
    if isinstance(expected, tuple):
        assert isinstance(actual, tuple) and len(actual) == len(expected), where
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            _assert_same_value(e, a, f"{where}[{i}]", rtol)
        return
    if expected is None:
        assert actual is None, where
        return
    assert type(actual) is type(expected), f"{where}: {type(actual)} != {type(expected)}"
    if isinstance(expected, np.ndarray):
        assert actual.dtype == expected.dtype, f"{where}: {actual.dtype} != {expected.dtype}"
        assert actual.shape == expected.shape, where
        if expected.dtype.kind in "biu":
            np.testing.assert_array_equal(actual, expected, err_msg=where)
        else:
            # Weighted sums are added in another order than scikit-learn's, so entries
            # obtained by subtraction (true negatives) may differ by rounding error
            # relative to the largest entry, not to themselves.
            finite = expected[np.isfinite(expected)]
            scale = float(np.max(np.abs(finite))) if finite.size else 0.0
            np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale,
                                       err_msg=where)
    elif isinstance(expected, float):
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=1e-2 * rtol,
                                   err_msg=where)
    else:
        assert actual == expected, where


def _error_kind(exc: BaseException) -> type:
    for kind in (ZeroDivisionError, ValueError, TypeError):
        if isinstance(exc, kind):
            return kind
    return type(exc)


def assert_parity(name: str, *args: Any, **kwargs: Any) -> Any:
    """Run scikit-learn's and calipers' ``name`` on the same input and compare."""
    where = f"{name}(*{args!r}, **{kwargs!r})"
    sk_kind, sk_out, sk_warn = run(getattr(sklearn_metrics, name), args, kwargs, ignored=())
    ca_kind, ca_out, ca_warn = run(getattr(F, name), args, kwargs, ignored=())
    if sk_kind == "error":
        assert ca_kind == "error", f"{where}: scikit-learn raised {sk_out!r}, we gave {ca_out!r}"
        if type(sk_out).__name__ == "InvalidParameterError":
            assert isinstance(ca_out, InvalidParameterError), f"{where}: {ca_out!r}"
        else:
            assert isinstance(ca_out, _error_kind(sk_out)), f"{where}: {sk_out!r} vs {ca_out!r}"
        return sk_out
    assert ca_kind == "value", f"{where}: calipers raised {ca_out!r}, scikit-learn gave {sk_out!r}"
    # scikit-learn sums float32 weights in float32 in places: compare at that precision.
    weights = kwargs.get("sample_weight")
    rtol = 1e-6 if getattr(weights, "dtype", None) == np.float32 else 1e-12
    _assert_same_value(sk_out, ca_out, where, rtol)
    assert ca_warn == sk_warn, f"{where}: warnings differ"
    return sk_out


# ---------------------------------------------------------------------------
# strategies
# ---------------------------------------------------------------------------

ALPHABETS = {
    "small": np.arange(6),
    "negative": np.array([-7, -3, -1, 0, 2, 11]),
    "huge": np.array([-(2**40), 5, 2**40, 2**40 + 1, 2**41, 2**62]),
    "uint64": np.array([0, 1, 7, 2**63, 2**63 + 5, 2**64 - 1], dtype=np.uint64),
    "bool": np.array([False, True]),
    "float": np.array([-1.0, 0.0, 1.0, 2.0, 3.0, 10.0]),
    "str": np.array(["a", "b", "cat", "dog", "e", "zz"]),
    "object": np.array(["a", "b", "cat", "dog", "e", "zz"], dtype=object),
}
SMALL_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
                np.uint64, np.float32, np.float64]


@st.composite
def label_case(draw: Any, min_size: int = 1, max_size: int = 30) -> dict[str, Any]:
    """Two label arrays over a drawn alphabet, with ties and missing classes."""
    kind = draw(st.sampled_from(sorted(ALPHABETS)))
    alphabet = ALPHABETS[kind]
    order = draw(st.permutations(range(alphabet.shape[0])))
    k = draw(st.integers(1, alphabet.shape[0]))
    values = alphabet[list(order[:k])]
    n = draw(st.integers(min_size, max_size))
    shape = draw(st.sampled_from(["random", "random", "ties", "perfect", "one-class-true"]))
    idx = hnp.arrays(np.int64, n, elements=st.integers(0, k - 1))
    it, ip = draw(idx), draw(idx)
    if shape == "ties":
        it = np.zeros(n, dtype=np.int64)
        ip = np.zeros(n, dtype=np.int64)
    elif shape == "perfect":
        ip = it.copy()
    elif shape == "one-class-true":
        it = np.full(n, it[0] if n else 0, dtype=np.int64)
    y_true, y_pred = values[it], values[ip]
    if kind == "small":
        y_true = y_true.astype(draw(st.sampled_from(SMALL_DTYPES)))
        y_pred = y_pred.astype(draw(st.sampled_from(SMALL_DTYPES)))
    containers = ["array", "array", "list", "column"]
    if kind == "uint64":
        # As lists, small values become int64 and huge ones uint64: see
        # test_int64_with_huge_uint64_is_exact for where scikit-learn loses those.
        containers.remove("list")
    container = draw(st.sampled_from(containers))
    if container == "list":
        y_true, y_pred = y_true.tolist(), y_pred.tolist()
    elif container == "column":
        y_true = y_true.reshape(-1, 1)
    return {"y_true": y_true, "y_pred": y_pred, "values": values, "alphabet": alphabet, "n": n,
            "kind": kind}


@st.composite
def sample_weights(draw: Any, n: int) -> Any:
    kind = draw(st.sampled_from([None, None, "int", "float", "with-zeros", "bool", "signed",
                                 "float32"]))
    if kind is None:
        return None
    if kind == "signed":
        return draw(hnp.arrays(np.int64, n, elements=st.integers(-3, 3))).astype(np.float64)
    if kind == "float32":
        return draw(hnp.arrays(np.float32, n, elements=st.floats(0.0, 4.0, width=32)))
    if kind == "int":
        return draw(hnp.arrays(np.int64, n, elements=st.integers(0, 5)))
    if kind == "bool":
        return draw(hnp.arrays(np.bool_, n))
    w = draw(hnp.arrays(np.float64, n, elements=st.floats(0.0, 10.0, allow_nan=False,
                                                             width=64)))
    if kind == "with-zeros" and n:
        w[: n // 2] = 0.0
    return w


@st.composite
def labels_argument(draw: Any, case: dict[str, Any]) -> Any:
    choice = draw(st.sampled_from(["none", "none", "subset", "superset", "permuted"]))
    values, alphabet = case["values"], case["alphabet"]
    if choice == "none":
        return None
    if choice == "subset":
        size = draw(st.integers(1, values.shape[0]))
        return list(values[:size])
    if choice == "superset":
        extra = [v for v in alphabet if v not in set(values.tolist())][:2]
        return list(values) + extra
    return list(draw(st.permutations(list(values))))


AVERAGES = [None, "binary", "micro", "macro", "weighted", "samples"]
ZERO_DIVISIONS = ["warn", 0, 1, 0.0, 1.0, np.nan]


# ---------------------------------------------------------------------------
# signatures and import weight
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_NAMES)
def test_signature_matches_sklearn(name: str) -> None:
    ours = inspect.signature(getattr(F, name))
    theirs = inspect.signature(getattr(sklearn_metrics, name))
    assert list(ours.parameters) == list(theirs.parameters)
    for p, q in zip(ours.parameters.values(), theirs.parameters.values(), strict=True):
        assert p.kind == q.kind, (name, p.name)
        if isinstance(q.default, float) and np.isnan(q.default):
            assert isinstance(p.default, float) and np.isnan(p.default), (name, p.name)
        else:
            assert p.default == q.default, (name, p.name)


def test_undefined_metric_warning_is_a_user_warning() -> None:
    assert issubclass(F.UndefinedMetricWarning, UserWarning)
    assert F.UndefinedMetricWarning.__name__ == "UndefinedMetricWarning"


def test_import_does_not_load_sklearn_or_scipy() -> None:
    import subprocess
    import sys

    code = ("import sys, calipers.metrics._functional, numpy as np\n"
            "from calipers.metrics._functional import f1_score, confusion_matrix\n"
            "f1_score(np.array([0, 1, 1]), np.array([0, 1, 0]))\n"
            "confusion_matrix(['a', 'b'], ['b', 'b'])\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('sklearn', 'scipy')]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------
# random inputs (hypothesis)
# ---------------------------------------------------------------------------


@SETTINGS
@given(data=st.data())
def test_set_wise_metrics_on_labels(data: Any) -> None:
    case = data.draw(label_case())
    name = data.draw(st.sampled_from(SET_WISE))
    kwargs: dict[str, Any] = {
        "average": data.draw(st.sampled_from(AVERAGES)),
        "labels": data.draw(labels_argument(case)),
        "sample_weight": data.draw(sample_weights(case["n"])),
        "zero_division": data.draw(st.sampled_from(ZERO_DIVISIONS)),
    }
    values = case["values"]
    kwargs["pos_label"] = data.draw(st.sampled_from([1, values[0], values[-1]]))
    if name in ("fbeta_score", "precision_recall_fscore_support"):
        kwargs["beta"] = data.draw(st.sampled_from([0, 0.5, 1, 2.0, np.inf]))
    assert_parity(name, case["y_true"], case["y_pred"], **kwargs)


@SETTINGS
@given(data=st.data())
def test_labels_of_two_alphabets(data: Any) -> None:
    # y_true and y_pred over different label types: numbers of different dtypes mix,
    # strings and numbers do not.
    first, second = data.draw(label_case(max_size=12)), data.draw(label_case(max_size=12))
    # uint64 labels >= 2**63 next to other types: scikit-learn loses them (see
    # test_int64_with_huge_uint64_is_exact).
    assume(("uint64" in (first["kind"], second["kind"])) <= (first["kind"] == second["kind"]))
    n = min(first["n"], second["n"])
    y_true, y_pred = np.asarray(first["y_true"])[:n], np.asarray(second["y_pred"])[:n]
    name = data.draw(st.sampled_from(NAMES))
    kwargs: dict[str, Any] = {}
    if name in SET_WISE:
        kwargs["average"] = data.draw(st.sampled_from(AVERAGES))
        kwargs["labels"] = data.draw(st.sampled_from(
            [None, list(first["values"][:2]), list(second["values"][:2])]))
    if name == "fbeta_score":
        kwargs["beta"] = 1.5
    assert_parity(name, y_true, y_pred, **kwargs)


@SETTINGS
@given(data=st.data())
def test_whole_set_metrics_on_labels(data: Any) -> None:
    case = data.draw(label_case())
    name = data.draw(st.sampled_from(["accuracy_score", "hamming_loss",
                                      "balanced_accuracy_score", "matthews_corrcoef"]))
    kwargs: dict[str, Any] = {"sample_weight": data.draw(sample_weights(case["n"]))}
    if name == "accuracy_score":
        kwargs["normalize"] = data.draw(st.booleans())
    if name == "balanced_accuracy_score":
        kwargs["adjusted"] = data.draw(st.booleans())
    assert_parity(name, case["y_true"], case["y_pred"], **kwargs)


@SETTINGS
@given(data=st.data())
def test_matrix_metrics_on_labels(data: Any) -> None:
    case = data.draw(label_case())
    name = data.draw(st.sampled_from(["confusion_matrix", "multilabel_confusion_matrix",
                                      "cohen_kappa_score"]))
    kwargs: dict[str, Any] = {"labels": data.draw(labels_argument(case)),
                              "sample_weight": data.draw(sample_weights(case["n"]))}
    if name == "confusion_matrix":
        kwargs["normalize"] = data.draw(st.sampled_from([None, "true", "pred", "all"]))
    elif name == "cohen_kappa_score":
        kwargs["weights"] = data.draw(st.sampled_from([None, "linear", "quadratic"]))
        kwargs["replace_undefined_by"] = data.draw(st.sampled_from([np.nan, 0.0, -1.0]))
    assert_parity(name, case["y_true"], case["y_pred"], **kwargs)


@st.composite
def indicator_case(draw: Any) -> dict[str, Any]:
    """Two multilabel indicator matrices, dense or sparse, in various dtypes."""
    n = draw(st.integers(1, 12))
    n_labels = draw(st.integers(2, 5))
    # Mostly 0/1; sometimes other values, which scikit-learn still calls indicators
    # (two values, non-zero meaning positive) or rejects (three values, fractions).
    values = draw(st.sampled_from([(0, 1)] * 6 + [(0, 2), (1, 2), (-1, 1), (0, 0.5),
                                                  (0, 1, 2)]))
    cells = hnp.arrays(np.int8, (n, n_labels), elements=st.integers(0, len(values) - 1))
    y_true, y_pred = draw(cells), draw(cells)
    if draw(st.booleans()):
        y_pred[0] = y_true[0]
    if draw(st.integers(0, 4)) == 0:
        y_true[:, 0] = 0  # a label never true
    dtype = draw(st.sampled_from([np.int64, np.int8, np.uint8, np.bool_, np.float32,
                                  np.float64]))
    if values != (0, 1):
        dtype = np.float64 if 0.5 in values else np.int64
    table = np.array(values, dtype=dtype)
    y_true, y_pred = table[y_true], table[y_pred]
    container = draw(st.sampled_from(["dense", "dense", "list", "csr", "csc", "coo",
                                      "mixed"]))
    if container == "list":
        y_true, y_pred = y_true.tolist(), y_pred.tolist()
    elif container in ("csr", "csc", "coo"):
        make = getattr(sp, f"{container}_matrix")
        y_true, y_pred = make(y_true), make(y_pred)
    elif container == "mixed":
        y_true = sp.csr_array(y_true)
    return {"y_true": y_true, "y_pred": y_pred, "n": n, "n_labels": n_labels}


@SETTINGS
@given(data=st.data())
def test_multilabel_metrics(data: Any) -> None:
    case = data.draw(indicator_case())
    name = data.draw(st.sampled_from(NAMES))
    kwargs: dict[str, Any] = {"sample_weight": data.draw(sample_weights(case["n"]))}
    columns = list(range(case["n_labels"]))
    labels = data.draw(st.sampled_from([None, columns[:1], columns[::-1], columns[1:] + [0, 0]]))
    if name in SET_WISE:
        kwargs["average"] = data.draw(st.sampled_from(AVERAGES))
        kwargs["zero_division"] = data.draw(st.sampled_from(["warn", 0, 1]))
        kwargs["labels"] = labels
        if name in ("fbeta_score", "precision_recall_fscore_support"):
            kwargs["beta"] = data.draw(st.sampled_from([0.5, 1.0, np.inf]))
    elif name == "multilabel_confusion_matrix":
        kwargs["labels"] = labels
        kwargs["samplewise"] = data.draw(st.booleans())
    elif name == "accuracy_score":
        kwargs["normalize"] = data.draw(st.booleans())
    assert_parity(name, case["y_true"], case["y_pred"], **kwargs)


# ---------------------------------------------------------------------------
# adversarial inputs, one by one
# ---------------------------------------------------------------------------

EXPLICIT_ZERO = (np.array([1, 0, 1]), np.array([0, 1, 1]), np.array([0, 2, 3]))

ADVERSARIAL: list[tuple[str, tuple, dict]] = [
    # single class, ties, absent classes
    ("f1_score", ([1, 1, 1], [1, 1, 1]), {}),
    ("f1_score", ([0, 0, 0], [0, 0, 0]), {}),
    ("f1_score", (["a", "a", "a"], ["a", "a", "a"]), {}),
    ("f1_score", (["a", "a"], ["a", "a"]), {"pos_label": "b"}),
    ("precision_score", ([0, 0, 1], [0, 0, 0]), {}),
    ("recall_score", ([0, 0, 0], [0, 1, 0]), {}),
    ("recall_score", ([0, 0, 0], [0, 1, 0]), {"zero_division": np.nan}),
    ("matthews_corrcoef", ([1, 1, 1], [1, 1, 1]), {}),
    ("matthews_corrcoef", ([0, 1, 0, 1], [1, 1, 1, 1]), {}),
    ("balanced_accuracy_score", ([1, 1, 1], [1, 1, 1]), {"adjusted": True}),
    ("balanced_accuracy_score", ([1, 1, 1], [1, 1, 2]), {"adjusted": True}),
    ("cohen_kappa_score", ([1, 1, 1], [1, 1, 1]), {}),
    ("cohen_kappa_score", ([1, 1, 1], [2, 2, 2]), {"labels": [1]}),
    ("cohen_kappa_score", ([1, 2], [1, 2]), {"labels": [3]}),
    ("cohen_kappa_score", ([1, 1], [1, 1]), {"replace_undefined_by": 0}),
    ("multilabel_confusion_matrix", ([0, 1, 2], [1, 2, 0]), {}),
    ("precision_recall_fscore_support", ([0, 1], [1, 0]), {}),
    ("precision_recall_fscore_support", ([0, 1], [1, 0]), {"labels": []}),
    ("precision_recall_fscore_support", ([0, 1], [1, 0]), {"labels": [], "average": "micro"}),
    ("precision_recall_fscore_support", ([0, 1], [1, 0]), {"labels": [], "average": "macro"}),
    ("jaccard_score", ([0, 1], [1, 0]), {"labels": [], "average": "macro"}),
    ("jaccard_score", ([1, 1], [1, 1]), {"average": "weighted", "labels": [2, 3]}),
    ("precision_recall_fscore_support", ([0, 1, 1], [0, 2, 1]),
     {"average": "weighted", "labels": [2, 7]}),
    ("precision_recall_fscore_support", ([1, 2, 0], [1, 2, 1]),
     {"beta": np.inf, "average": "macro", "labels": [0, 1, 2, 5]}),
    # labels= oddities: duplicates, other types, empty, absent from y_true
    ("confusion_matrix", ([1, 2, 3], [1, 2, 3]), {"labels": [1, 1, 3]}),
    ("confusion_matrix", ([1, 2], [1, 2]), {"labels": ["1"]}),
    ("confusion_matrix", ([1.0, 2.0], [1.0, 2.0]), {"labels": [0, 1, 2]}),
    ("confusion_matrix", (np.array([True, False]), np.array([True, True])), {"labels": [0, 1]}),
    ("confusion_matrix", ([0, 1, 1], [0, 1, 1]), {"labels": np.array([], dtype=int)}),
    ("confusion_matrix", ([0, 1, 1], [0, 1, 1]), {"labels": [5]}),
    ("confusion_matrix", ([0, 1, 1], [0, 2, 1]), {"labels": [2]}),
    ("multilabel_confusion_matrix", ([0, 1, 1], [0, 2, 1]), {"labels": [2, 7]}),
    ("f1_score", (["a", "b"], ["a", "b"]), {"labels": [1], "average": "macro"}),
    ("f1_score", (["a", "b"], ["a", "b"]), {"labels": [1, "a"], "average": None}),
    ("f1_score", ([1, 2], [1, 2]), {"labels": ["1"], "average": None}),
    ("f1_score", ([1, 2], [1, 2]), {"labels": [1.0, 2.5], "average": None}),
    ("f1_score", ([1, 2, 3], [1, 2, 3]), {"labels": [1, 1, 3], "average": None}),
    # pos_label
    ("f1_score", (["a", "b", "a"], ["a", "a", "a"]), {}),
    ("f1_score", (["a", "b"], ["a", "a"]), {"pos_label": "a", "average": "macro"}),
    ("f1_score", ([0, 1], [0, 1]), {"pos_label": True, "average": "macro"}),
    ("f1_score", ([0, 1], [0, 1]), {"pos_label": np.int64(2), "average": "macro"}),
    ("f1_score", ([0, 1], [0, 1]), {"zero_division": np.float32(1)}),
    # weights
    ("accuracy_score", ([1, 2], [1, 2]), {"sample_weight": [0, 0]}),
    ("accuracy_score", ([1, 2], [1, 2]), {"sample_weight": [1, -1]}),
    ("hamming_loss", ([1, 2], [1, 3]), {"sample_weight": [1, -1]}),
    ("accuracy_score", ([0, 1], [0, 1]), {"sample_weight": [[1, 2]]}),
    ("accuracy_score", ([0, 1], [0, 1]), {"sample_weight": [1, np.nan]}),
    ("accuracy_score", ([0, 1], [0, 1]), {"sample_weight": [1, np.inf]}),
    ("accuracy_score", ([0, 1], [0, 1]), {"sample_weight": [1, 2, 3]}),
    ("confusion_matrix", ([1, 2], [1, 2]), {"sample_weight": [1, 3]}),
    ("confusion_matrix", ([1, 2], [1, 2]), {"sample_weight": [True, False]}),
    ("confusion_matrix", ([1, 2], [1, 2]), {"sample_weight": np.array([1, 3], np.uint8)}),
    ("confusion_matrix", ([0, 1, 1], [0, 1, 1]), {"normalize": "true",
                                                  "sample_weight": [1, 1, 0]}),
    ("multilabel_confusion_matrix", ([1, 2], [1, 2]), {"sample_weight": np.array([1, 3])}),
    ("f1_score", ([[0, 1], [1, 1]], [[0, 1], [0, 0]]), {"average": "samples",
                                                       "sample_weight": [0, 1]}),
    # empty input
    ("confusion_matrix", ([], []), {}),
    ("confusion_matrix", ([], []), {"labels": [1, 2]}),
    ("accuracy_score", ([], []), {}),
    ("f1_score", (np.array([], dtype=int), np.array([], dtype=int)), {}),
    ("accuracy_score", (np.zeros((0, 3)), np.zeros((0, 3))), {}),
    # invalid targets
    ("f1_score", ([0, 1, 1], [0.5, 1, 1]), {}),
    ("f1_score", ([0, 1, np.nan], [0, 1, 1]), {}),
    ("f1_score", ([0, 1, np.inf], [0, 1, 1]), {}),
    ("accuracy_score", (np.array([1.5, 2.0]), np.array([1.5, 2.0])), {}),
    ("accuracy_score", ([1e20, 2.0], [1e20, 2.0]), {}),
    ("f1_score", ([0, 1, 2], [0, 1, 1]), {"average": "binary"}),
    ("accuracy_score", ([0, 1], [0, 1, 1]), {}),
    ("accuracy_score", (np.array([1, 2, 3], dtype=object), [1, 2, 3]), {}),
    ("accuracy_score", (["a", 1], ["a", "a"]), {}),
    ("accuracy_score", (np.array(["a", 1], dtype=object), np.array(["a", "a"], dtype=object)),
     {}),
    ("accuracy_score", (np.array(["a", "b"], dtype=object), np.array(["a", "a"])), {}),
    ("accuracy_score", (["a", "b"], [1, 2]), {}),
    ("accuracy_score", (np.array([True, False]), np.array(["a", "b"])), {}),
    ("accuracy_score", ([b"a", b"b"], [b"a", b"b"]), {}),
    ("accuracy_score", (np.array([[1, 2], [3]], dtype=object), np.array([1, 2])), {}),
    ("accuracy_score", ([1 + 1j, 2], [1, 2]), {}),
    ("accuracy_score", (np.zeros((2, 2, 2)), np.zeros((2, 2, 2))), {}),
    ("accuracy_score", (np.zeros((3, 0)), np.zeros((3, 0))), {}),
    ("accuracy_score", (np.array([[0], [1]]), np.array([0, 1])), {}),
    ("accuracy_score", ([[0, 1], [1, 0]], [[0, 1, 0], [1, 0, 0]]), {}),
    ("accuracy_score", (np.array([[0, 1, 2]]), np.array([[0, 1, 1]])), {}),
    ("accuracy_score", ([[0, 1], [1, 0]], [0, 1]), {}),
    ("accuracy_score", ([[0.5, 1], [1, 0]], [[0, 1], [1, 0]]), {}),
    ("confusion_matrix", ([[0, 1], [1, 1]], [[0, 1], [1, 0]]), {}),
    ("matthews_corrcoef", ([[0, 1], [1, 1]], [[0, 1], [1, 0]]), {}),
    ("cohen_kappa_score", ([[0, 1], [1, 1]], [[0, 1], [1, 0]]), {}),
    ("balanced_accuracy_score", ([[0, 1], [1, 1]], [[0, 1], [1, 0]]), {}),
    # invalid parameters
    ("accuracy_score", ("ab", "ab"), {}),
    ("accuracy_score", (1, 1), {}),
    ("accuracy_score", ([1, 2], [1, 2]), {"normalize": 1}),
    ("f1_score", ([0, 1, 1], [0, 1, 1]), {"average": "foo"}),
    ("f1_score", ([0, 1, 1], [0, 1, 1]), {"zero_division": 2}),
    ("f1_score", ([0, 1, 1], [0, 1, 1]), {"pos_label": [1]}),
    ("jaccard_score", ([0, 1, 1], [0, 1, 1]), {"zero_division": np.nan}),
    ("fbeta_score", ([0, 1], [0, 1]), {"beta": -1}),
    ("precision_recall_fscore_support", ([1, 2], [1, 2]), {"beta": np.nan}),
    ("precision_recall_fscore_support", ([1, 2], [1, 2]), {"warn_for": "precision"}),
    ("precision_recall_fscore_support", ([1, 2], [1, 2]), {"warn_for": ["precision"]}),
    ("confusion_matrix", ([1, 2], [1, 2]), {"normalize": "rows"}),
    ("confusion_matrix", (sp.csr_matrix([[0, 1], [1, 0]]), sp.csr_matrix([[0, 1], [1, 0]])),
     {}),
    ("cohen_kappa_score", ([1, 2], [1, 2]), {"weights": "cubic"}),
    ("cohen_kappa_score", ([1, 2], [1, 2]), {"replace_undefined_by": 2}),
    ("multilabel_confusion_matrix", ([0, 1], [0, 1]), {"samplewise": True}),
    ("balanced_accuracy_score", ([0, 1], [0, 1]), {"adjusted": "yes"}),
    # multilabel: non-0/1 indicators, sparse, explicit zeros, labels
    ("accuracy_score", ([[1, 2], [2, 1]], [[1, 2], [1, 1]]), {}),
    ("hamming_loss", ([[1, 2], [2, 1]], [[1, 2], [1, 1]]), {}),
    ("f1_score", ([[1, 2], [2, 1]], [[1, 2], [1, 1]]), {"average": None}),
    ("f1_score", ([[0, 2], [2, 0]], [[1, 0], [0, 1]]), {"average": None}),
    ("f1_score", ([[0, 1], [1, 0]], [[0, 1], [1, 1]]), {"average": "binary"}),
    ("accuracy_score", (sp.csr_matrix([[0], [1]]), np.array([[0], [1]])), {}),
    ("accuracy_score", (sp.csr_matrix([[0, 1, 2], [1, 0, 2]]),
                        sp.csr_matrix([[0, 1, 2], [1, 0, 2]])), {}),
    ("accuracy_score", (np.array([[0, 1], [1, 1]], np.float32), sp.csc_matrix([[0, 1], [1, 1]])),
     {"normalize": False}),
    ("multilabel_confusion_matrix", (sp.csr_matrix(EXPLICIT_ZERO, shape=(2, 2)),
                                     np.array([[1, 0], [0, 1]])), {}),
    ("accuracy_score", (sp.csr_matrix(EXPLICIT_ZERO, shape=(2, 2)),
                        np.array([[1, 0], [0, 1]])), {}),
    ("multilabel_confusion_matrix", ([[0, 1], [1, 1]], [[0, 1], [1, 0]]), {"labels": [1, 1]}),
    ("multilabel_confusion_matrix", ([[0, 1], [1, 1]], [[0, 1], [1, 0]]), {"labels": [2]}),
    ("multilabel_confusion_matrix", ([[0, 1], [1, 1]], [[0, 1], [1, 0]]), {"labels": [-1]}),
    ("multilabel_confusion_matrix", ([[0, 1], [1, 1]], [[0, 1], [1, 0]]), {"labels": [1.0]}),
    ("multilabel_confusion_matrix", ([[0, 1], [1, 1]], [[0, 1], [1, 0]]),
     {"samplewise": True, "sample_weight": [1, 2]}),
    ("multilabel_confusion_matrix", ([[0, 1], [1, 1]], [[0, 1], [1, 0]]),
     {"samplewise": True, "sample_weight": [1.0, 2]}),
    ("jaccard_score", ([[0, 1], [1, 1]], [[0, 0], [1, 0]]), {"average": "samples"}),
    ("hamming_loss", ([[0, 1], [1, 1]], [[0, 0], [1, 0]]), {"sample_weight": [2, 0.5]}),
    # extreme label values: mapped, never used as indices
    ("confusion_matrix", (np.array([2**40, 0, 2**40]), np.array([0, 0, 2**40])), {}),
    ("confusion_matrix", (np.array([2**64 - 1, 0], np.uint64), np.array([0, 0], np.uint64)),
     {}),
    ("confusion_matrix", (np.array([-(2**63), 2**63 - 1]), np.array([2**63 - 1, 2**63 - 1])),
     {}),
    ("f1_score", (np.array([2**40, 7]), np.array([7, 7])), {"pos_label": 2**40}),
]


@pytest.mark.parametrize(("name", "args", "kwargs"), ADVERSARIAL,
                         ids=[f"{i}-{case[0]}" for i, case in enumerate(ADVERSARIAL)])
def test_adversarial(name: str, args: tuple, kwargs: dict) -> None:
    assert_parity(name, *args, **kwargs)


@pytest.mark.parametrize("name", NAMES)
def test_length_mismatch_raises(name: str) -> None:
    kwargs = {"beta": 2.0} if name == "fbeta_score" else {}
    error = assert_parity(name, [0, 1, 1], [0, 1], **kwargs)
    assert isinstance(error, ValueError)


@pytest.mark.parametrize("name", NAMES)
def test_continuous_targets_raise(name: str) -> None:
    kwargs = {"beta": 2.0} if name == "fbeta_score" else {}
    error = assert_parity(name, [0.1, 0.7, 1.0], [0, 1, 1], **kwargs)
    assert isinstance(error, ValueError)


@pytest.mark.parametrize("name", SET_WISE)
def test_multiclass_with_binary_average_raises(name: str) -> None:
    kwargs: dict[str, Any] = {"beta": 2.0} if name == "fbeta_score" else {}
    if name == "precision_recall_fscore_support":
        kwargs["average"] = "binary"
    error = assert_parity(name, [0, 1, 2], [0, 2, 1], **kwargs)
    assert isinstance(error, ValueError)


@pytest.mark.parametrize("name", ["f1_score", "precision_score", "jaccard_score"])
def test_absent_pos_label_raises(name: str) -> None:
    error = assert_parity(name, ["x", "y"], ["y", "y"], pos_label="z")
    assert isinstance(error, ValueError)


@pytest.mark.parametrize("average", ["micro", "macro", "weighted", None])
@pytest.mark.parametrize("name", ["f1_score", "jaccard_score", "recall_score"])
def test_many_classes(name: str, average: str | None) -> None:
    # More classes than the core's dense window: counted through sums or a label map.
    rng = np.random.default_rng(5)
    y_true = rng.integers(0, 3000, 5000) * 7
    y_pred = np.where(rng.random(5000) < 0.5, y_true, rng.integers(0, 3000, 5000) * 7)
    assert_parity(name, y_true, y_pred, average=average)


def test_confusion_matrix_label_subset_of_many_classes() -> None:
    rng = np.random.default_rng(6)
    y_true = rng.integers(0, 2000, 4000)
    y_pred = np.where(rng.random(4000) < 0.5, y_true, rng.integers(0, 2000, 4000))
    w = rng.random(4000)
    assert_parity("confusion_matrix", y_true, y_pred, labels=[5, 3, 1999, 4000])
    assert_parity("confusion_matrix", y_true, y_pred, labels=[5, 3, 1999], sample_weight=w)
    assert_parity("cohen_kappa_score", y_true, y_pred, labels=list(range(0, 2000, 3)))


def test_int64_with_huge_uint64_is_exact() -> None:
    # A known divergence: scikit-learn merges int64 and uint64 labels >= 2**63 into a
    # float64 label array whose values no longer equal the labels, so it loses those
    # samples. calipers keeps every label exact.
    y_true = np.array([0, 7, -1])
    y_pred = np.array([2**63 + 5, 2**63 + 6, 7], dtype=np.uint64)
    expected = np.zeros((5, 5), dtype=np.int64)
    expected[1, 3] = expected[2, 4] = expected[0, 2] = 1  # classes: -1 0 7 2**63+5 2**63+6
    np.testing.assert_array_equal(F.confusion_matrix(y_true, y_pred), expected)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert sklearn_metrics.confusion_matrix(y_true, y_pred).sum() < 3
    for y_true, y_pred in [(np.array([0, 7]), np.array([2**63 + 5, 7], dtype=np.uint64)),
                           (np.array([0, 7]), np.array([5, 7], dtype=np.uint64))]:
        got = F.confusion_matrix(y_true, y_pred)
        assert got.sum() == 2 and np.trace(got) == 1
