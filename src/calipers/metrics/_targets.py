"""Target checking for the functional metrics: the task type and the counts of the labels.

A clean-room equivalent of scikit-learn's ``type_of_target``, ``_check_targets``,
``unique_labels``, ``column_or_1d`` and ``check_consistent_length``, with one
difference of method: for 1-D labels the target type (binary / multiclass) and the
sorted label set come out of the counting pass
(:func:`calipers.metrics._pairs.pair_counts`) instead of a sort, so integer labels
are read once. Multilabel indicator matrices with 0/1 entries are likewise counted
in one pass (:mod:`calipers.metrics._indicators`); anything unusual (other values,
sparse input, odd dtypes) takes a slower path that types the arrays exactly as
scikit-learn does.

scipy is never imported here: sparse input is recognised by its type's module, and
its own methods do the work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from calipers.metrics._arrays import (
    as_array,
    check_sample_weight,
    common_length,
    is_sparse,
    num_samples,
    raise_not_finite,
)
from calipers.metrics._indicators import (
    IndicatorCounts,
    binary_indicator_counts,
    nonzero_indicator_counts,
)
from calipers.metrics._pairs import PairCounts, pair_counts

BINARY = "binary"
MULTICLASS = "multiclass"
MULTILABEL = "multilabel-indicator"

EMPTY_MESSAGE = ("Found empty input array (e.g., `y_true` or `y_pred`) while a minimum of "
                 "1 sample is required.")


# ---------------------------------------------------------------------------
# label typing
# ---------------------------------------------------------------------------


def _as_int64_if_integral(values: np.ndarray) -> np.ndarray | None:
    """Float ``values`` as int64 if every one survives the round trip, else None.

    scikit-learn's test of integer-valued floats.
    """
    with np.errstate(invalid="ignore"):
        as_int = values.astype(np.int64)
        integral = bool(np.all(as_int.astype(values.dtype) == values))
    return as_int if integral else None


def _is_integral(values: np.ndarray) -> bool:
    """Whether float values survive a round trip through int64 (scikit-learn's test)."""
    return _as_int64_if_integral(values) is not None


def _label_kind(y: np.ndarray, name: str) -> tuple[str, np.ndarray]:
    """Kind of a 1-D label array, and the array to count.

    The kind is 'int', 'float' (integer-valued; counted as int64), 'str',
    'continuous' or 'unknown'. Raises what scikit-learn raises while typing:
    ``TypeError`` for bytes labels, ``ValueError`` for NaN/inf in non-integer floats
    and for sequences of sequences.
    """
    kind = y.dtype.kind
    if kind in "biu":
        return "int", y
    if kind == "f":
        as_int = _as_int64_if_integral(y)
        if as_int is not None:
            return "float", as_int
        raise_not_finite(y, name)
        return "continuous", y
    first = y[0] if y.shape[0] else None
    if isinstance(first, bytes):
        raise TypeError("Support for labels represented as bytes is not supported. Convert "
                        "the labels to a string or integer format.")
    if (first is not None and not hasattr(first, "__array__") and isinstance(first, Sequence)
            and not isinstance(first, str)):
        raise ValueError(
            "You appear to be using a legacy multi-label data representation. Sequence of "
            "sequences are no longer supported; use a binary array or sparse matrix "
            "instead - the MultiLabelBinarizer transformer can convert to this format."
        )
    if kind == "U" or (kind == "O" and isinstance(first, str)):
        return "str", y
    return "unknown", y


def _label_type_name(y: np.ndarray, kind: str) -> str:
    """scikit-learn's target type of a 1-D label array of a known kind (error path)."""
    if kind in ("continuous", "unknown"):
        return kind
    return MULTICLASS if np.unique(y).shape[0] > 2 else BINARY


def _dense_indicator_type(y: np.ndarray, name: str) -> str:
    """scikit-learn's type of a dense (n, m) array with m > 1."""
    kind = y.dtype.kind
    if kind in "biuf":
        labels = np.unique(y)
        if labels.shape[0] < 3 and (kind in "biu" or _is_integral(labels)):
            return MULTILABEL
    if kind == "O" and not isinstance(y.flat[0], str):
        return "unknown"
    if kind == "f" and not _is_integral(y):
        raise_not_finite(y, name)
        return "continuous-multioutput"
    return "multiclass-multioutput"


def _sparse_type(y: Any, name: str) -> str:
    """scikit-learn's type of a sparse matrix."""
    original, y = y, y.tocsr()
    data = np.asarray(y.data)
    kind = data.dtype.kind
    if y.shape[1] > 1:
        labels = np.unique(data)
        small = labels.shape[0] == 1 or (labels.shape[0] == 2 and 0 in labels)
        if data.shape[0] == 0 or (small and (kind in "biu" or (kind == "f"
                                                              and _is_integral(labels)))):
            return MULTILABEL
    try:
        # scikit-learn reads the first row of other sparse input; formats without row
        # indexing (COO, DIA, BSR) fail there with a TypeError.
        original[[0], :]
    except TypeError as exc:
        raise TypeError(f"{name} is a sparse {original.format.upper()} matrix that is not a "
                        "multilabel indicator; convert it to CSR or to a dense array") from exc
    except IndexError:
        pass
    if min(y.shape) == 0:
        return "unknown"
    suffix = "-multioutput" if y.shape[1] > 1 else ""
    if kind == "f" and not _is_integral(data):
        raise_not_finite(data, name)
        return "continuous" + suffix
    # scikit-learn's unique values of a sparse matrix are the matrix itself (one
    # object), so only a first row with several stored entries makes it multiclass.
    if suffix and y.indptr[1] - y.indptr[0] > 1:
        return "multiclass" + suffix
    return BINARY


def _type_name(y: Any, name: str) -> str:
    """scikit-learn's target type of any input (used on the slow and error paths)."""
    if is_sparse(y):
        return _sparse_type(y, name)
    if y.ndim == 2 and y.shape[1] > 1:
        return _dense_indicator_type(y, name)
    if y.ndim not in (1, 2) or (y.ndim == 2 and y.shape[1] == 0):
        return "unknown"
    flat = y.reshape(-1)
    return _label_type_name(flat, _label_kind(flat, name)[0])


def _why(y: Any, name: str, type_name: str) -> str:
    """A clause naming what makes ``y`` of an unsupported type (error path only)."""
    if is_sparse(y) or type_name in (BINARY, MULTICLASS, MULTILABEL):
        return ""
    y = np.asarray(y)
    if type_name.startswith("continuous"):
        flat = y.reshape(-1)
        with np.errstate(invalid="ignore"):
            bad = np.flatnonzero(flat.astype(np.int64).astype(flat.dtype) != flat)
        return f"{name} has the non-integer label {flat[bad[0]].item()!r}" if bad.size else ""
    if type_name.endswith("multioutput"):
        return f"{name} has shape {y.shape}, with more than two distinct values"
    if y.ndim not in (1, 2) or y.size == 0:
        return f"{name} has shape {y.shape}"
    return f"{name} holds {type(y.flat[0]).__name__} objects, not labels"


def _raise_type_mix(type_true: str, type_pred: str, y_true: Any = None,
                    y_pred: Any = None) -> None:
    """Raise scikit-learn's error for targets that are not one supported task."""
    types = {type_true, type_pred}
    if types == {BINARY, MULTICLASS}:
        types = {MULTICLASS}
    if len(types) > 1:
        message = (f"Classification metrics can't handle a mix of {type_true} and "
                   f"{type_pred} targets")
    else:
        (only,) = types
        if only in (BINARY, MULTICLASS, MULTILABEL):
            return
        message = f"{only} is not supported"
    reasons = [r for r in (_why(y_true, "y_true", type_true) if y_true is not None else "",
                           _why(y_pred, "y_pred", type_pred) if y_pred is not None else "")
               if r]
    if reasons:
        message += f" ({'; '.join(reasons)})"
    raise ValueError(message)


# ---------------------------------------------------------------------------
# checked targets
# ---------------------------------------------------------------------------


@dataclass
class Targets:
    """Checked and counted targets.

    Attributes
    ----------
    y_type : {"binary", "multiclass", "multilabel-indicator"}
    n : int
        Number of samples.
    sample_weight : ndarray or None
        Validated weights (the caller's numeric dtype).
    pairs : PairCounts or None
        Counts of 1-D labels (binary / multiclass).
    indicator : IndicatorCounts or None
        Counts of multilabel indicators.
    y_true, y_pred : ndarray or sparse matrix
        The arrays as counted (1-D for labels).
    """

    y_type: str
    n: int
    sample_weight: np.ndarray | None
    pairs: PairCounts | None
    indicator: IndicatorCounts | None
    y_true: Any
    y_pred: Any

    @property
    def total(self) -> Any:
        """Number of samples, or the sum of the weights: in float64 for float weights
        of any width (float16 / float32 sums lose digits), as scikit-learn's
        ``np.average`` does."""
        w = self.sample_weight
        if w is None:
            return self.n
        return w.sum(dtype=np.float64) if w.dtype.kind == "f" else w.sum()


def check_targets(y_true: Any, y_pred: Any, sample_weight: Any = None, *,
                  need_matrix: bool = False, per_sample: bool = False) -> Targets:
    """Check that ``y_true`` and ``y_pred`` are one classification task, and count them.

    Raises ``ValueError`` where scikit-learn's ``_check_targets`` does (lengths that
    differ, empty input, continuous or multioutput targets, a mix of target types or
    of string and number labels, NaN or infinite labels, bad sample weights) and
    ``TypeError`` for bytes labels and sparse non-multilabel input.

    Parameters
    ----------
    y_true, y_pred : array-like or sparse matrix
        Labels (1-D or a column) or multilabel indicator matrices.
    sample_weight : array-like of shape (n_samples,), optional
    need_matrix : bool, default=False
        Whether the k x k matrix of 1-D labels is needed (else sums may suffice).
    per_sample : bool, default=False
        Whether multilabel per-row counts are needed.

    Returns
    -------
    Targets
    """
    t, p = as_array(y_true), as_array(y_pred)
    lengths = [num_samples(t, "y_true"), num_samples(p, "y_pred")]
    if sample_weight is not None:
        lengths.append(num_samples(as_array(sample_weight), "sample_weight"))
    n = common_length(lengths)
    if _is_label_shaped(t) and _is_label_shaped(p):
        t1, p1 = t.reshape(-1), p.reshape(-1)
        (kt, tc), (kp, pc_) = _label_kind(t1, "y_true"), _label_kind(p1, "y_pred")
        if n == 0:
            raise ValueError(EMPTY_MESSAGE)
        w = check_sample_weight(sample_weight, n)
        return _label_targets(t1, p1, (kt, kp), (tc, pc_), w, need_matrix)
    if n == 0:
        raise ValueError(EMPTY_MESSAGE)
    # Dense 0/1 matrices (the usual multilabel input) are multilabel indicators by
    # scikit-learn's rules; the counting pass checks the 0/1 values itself. Anything
    # else (including weights the core refuses) is typed first, as scikit-learn does,
    # so that its errors come in its order.
    counts = binary_indicator_counts(t, p, sample_weight, per_sample)
    if counts is not None:
        w = check_sample_weight(sample_weight, n)
        return Targets(MULTILABEL, n, w, None, counts, t, p)
    type_true, type_pred = _type_name(t, "y_true"), _type_name(p, "y_pred")
    w = check_sample_weight(sample_weight, n)
    _raise_type_mix(type_true, type_pred, t, p)
    if type_true != MULTILABEL:
        raise TypeError("Sparse input is only supported when targets are of multilabel type")
    if t.shape[1] != p.shape[1]:
        raise ValueError("Multi-label binary indicator input with different numbers of labels")
    return Targets(MULTILABEL, n, w, None, nonzero_indicator_counts(t, p, w, per_sample), t, p)


def _is_label_shaped(y: Any) -> bool:
    return not is_sparse(y) and (y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1))


def _label_targets(t: np.ndarray, p: np.ndarray, kinds: tuple[str, str],
                   counted: tuple[np.ndarray, np.ndarray], w: np.ndarray | None,
                   need_matrix: bool) -> Targets:
    kt, kp = kinds
    if {kt, kp} & {"continuous", "unknown"}:
        _raise_type_mix(_label_type_name(t, kt), _label_type_name(p, kp), t, p)
    if (kt == "str") != (kp == "str"):
        raise ValueError(
            "Mix of label input types (string and number); "
            f"Got {np.unique(t)} and {np.unique(p)}."
        )
    # Integer-valued floats count on the integer fast path; the classes keep the
    # floating dtype scikit-learn reports.
    float_dtype = np.result_type(t.dtype, p.dtype) if "float" in kinds else None
    tc, pc_ = _exact_integer_pair(*counted)
    weights = None if w is None else w.astype(np.float64, copy=False)
    counts = pair_counts(tc, pc_, weights, need_matrix=need_matrix)
    if float_dtype is not None:
        counts.classes = counts.classes.astype(float_dtype)
    y_type = BINARY if counts.classes.shape[0] <= 2 else MULTICLASS
    return Targets(y_type, t.shape[0], w, counts, None, t, p)


def _exact_integer_pair(t: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer arrays in dtypes that compare exactly.

    uint64 with a signed type promotes to float64, which merges labels above 2**53;
    use int64 or uint64 when the values allow it, else Python integers.
    """
    if t.dtype.kind not in "biu" or p.dtype.kind not in "biu" \
            or np.result_type(t.dtype, p.dtype).kind != "f":
        return t, p
    unsigned_first = t.dtype.kind == "u"
    u, signed = (t, p) if unsigned_first else (p, t)
    if u.shape[0] == 0 or int(u.max()) < 2**63:
        u = u.astype(np.int64)
    elif signed.shape[0] == 0 or int(signed.min()) >= 0:
        signed = signed.astype(np.uint64)
    else:
        u, signed = u.astype(object), signed.astype(object)
    return (u, signed) if unsigned_first else (signed, u)
