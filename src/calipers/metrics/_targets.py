"""Input checking for the functional metrics: parameters, sample weights and targets.

A clean-room equivalent of scikit-learn's parameter validation, ``type_of_target``,
``_check_targets``, ``unique_labels``, ``column_or_1d`` and
``check_consistent_length``, with one difference of method: for 1-D labels the target
type (binary / multiclass) and the sorted label set come out of the counting pass
(:func:`calipers.metrics._counts.pair_counts`) instead of a sort, so integer labels
are read once. Multilabel indicator matrices with 0/1 entries are likewise counted
in one pass; anything unusual (other values, sparse input, odd dtypes) takes a slower
path that types the arrays exactly as scikit-learn does.

scipy is never imported here: sparse input is recognised by its type's module, and
its own methods do the work.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from calipers.metrics._counts import PairCounts, multilabel_counts, pair_counts

BINARY = "binary"
MULTICLASS = "multiclass"
MULTILABEL = "multilabel-indicator"

EMPTY_MESSAGE = ("Found empty input array (e.g., `y_true` or `y_pred`) while a minimum of "
                 "1 sample is required.")


class InvalidParameterError(ValueError, TypeError):
    """A parameter has a type or value the function does not accept.

    Both a ``ValueError`` and a ``TypeError``, like scikit-learn's exception of the
    same name, so code catching either keeps working.
    """


# ---------------------------------------------------------------------------
# parameter constraints
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Constraint:
    """One accepted kind of value for a parameter, with its description."""

    accepts: Callable[[Any], bool]
    text: str


def is_sparse(x: Any) -> bool:
    """Whether ``x`` is a scipy sparse matrix or array (without importing scipy)."""
    return type(x).__module__.startswith("scipy.sparse") and hasattr(x, "tocsr")


def _is_array_like(x: Any) -> bool:
    if is_sparse(x):
        return False
    has_len = hasattr(x, "__len__") or hasattr(x, "shape") or hasattr(x, "__array__")
    return has_len and not np.isscalar(x)


def _is_nan(x: Any) -> bool:
    return (not isinstance(x, numbers.Integral) and isinstance(x, numbers.Real)
            and math.isnan(x))


ARRAY_LIKE = Constraint(_is_array_like, "an array-like")
SPARSE = Constraint(is_sparse, "a sparse array or matrix")
NONE = Constraint(lambda v: v is None, "None")
BOOLEAN = Constraint(lambda v: isinstance(v, (bool, np.bool_)),
                     "an instance of 'bool' or an instance of 'numpy.bool'")
NAN = Constraint(_is_nan, "numpy.nan")
REAL = Constraint(lambda v: isinstance(v, numbers.Real), "an instance of 'float'")
STR = Constraint(lambda v: isinstance(v, str), "an instance of 'str'")


def str_options(*values: str) -> Constraint:
    """Accept one of the strings ``values``."""
    text = ", ".join(repr(v) for v in values)
    return Constraint(lambda v: isinstance(v, str) and v in values, f"a str among {{{text}}}")


def real_options(*values: float) -> Constraint:
    """Accept a real number equal to one of ``values``."""
    text = ", ".join(repr(v) for v in values)
    return Constraint(lambda v: isinstance(v, numbers.Real) and v in values,
                      f"a float among {{{text}}}")


def real_interval(low: float, high: float) -> Constraint:
    """Accept a real number in the closed interval ``[low, high]`` (NaN excluded)."""
    def accepts(v: Any) -> bool:
        return isinstance(v, numbers.Real) and not _is_nan(v) and low <= v <= high

    return Constraint(accepts, f"a float in the range [{float(low)}, {float(high)}]")


def instance_of(*types: type) -> Constraint:
    """Accept instances of any of ``types``."""
    text = ", ".join(f"an instance of {t.__name__!r}" for t in types)
    return Constraint(lambda v: isinstance(v, types), text)


def validate(func: str, params: dict[str, tuple[Any, Sequence[Constraint]]]) -> None:
    """Check each parameter against its constraints (any one must accept it).

    Raises
    ------
    InvalidParameterError
        Naming the function, the parameter, what it accepts and the value given.
    """
    for name, (value, constraints) in params.items():
        if any(c.accepts(value) for c in constraints):
            continue
        texts = [c.text for c in constraints]
        joined = texts[0] if len(texts) == 1 else f"{', '.join(texts[:-1])} or {texts[-1]}"
        raise InvalidParameterError(
            f"The {name!r} parameter of {func} must be {joined}. Got {value!r} instead."
        )


# ---------------------------------------------------------------------------
# arrays and sample weights
# ---------------------------------------------------------------------------


def as_array(y: Any) -> Any:
    """``y`` as a numpy array (sparse input is returned as is).

    Ragged nested sequences become object arrays (which the typing then rejects with
    scikit-learn's message); complex data is rejected.
    """
    if is_sparse(y):
        return y
    if isinstance(y, np.ndarray):
        arr = y
    else:
        try:
            arr = np.asarray(y)
        except ValueError:
            arr = np.asarray(y, dtype=object)
    if arr.dtype.kind == "c":
        raise ValueError(f"Complex data not supported\n{arr}\n")
    return arr


def num_samples(x: Any, name: str) -> int:
    """Length of the first axis; a 0-d array is a ``TypeError``."""
    shape = getattr(x, "shape", None)
    if shape is not None and len(shape) == 0:
        raise TypeError(f"{name} should have at least 1 dimension, got scalar {x!r}")
    return int(shape[0]) if shape is not None else len(x)


def check_sample_weight(sample_weight: Any, n: int) -> np.ndarray | None:
    """Validated sample weights: 1-D, numeric, finite, not all zero.

    Numeric dtypes are kept (integer weights give integer confusion matrices, as in
    scikit-learn); other dtypes are converted to float64.
    """
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight)
    if w.dtype.kind == "c":
        raise ValueError(f"Complex data not supported\n{w}\n")
    if w.dtype.kind not in "biuf":
        try:
            if w.dtype.kind != "O":
                raise TypeError(w.dtype)
            w = w.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"sample_weight must be numeric, got dtype {w.dtype}") from exc
    if w.ndim != 1:
        raise ValueError(
            f"Sample weights must be 1D array or scalar, got {w.ndim}D array. Expected "
            f"either a scalar value or a 1D array of length {n}."
        )
    if w.shape[0] != n:
        raise ValueError(f"sample_weight.shape == {w.shape}, expected {(n,)}!")
    if w.dtype.kind == "f" and not np.isfinite(w).all():
        if np.isnan(w).any():
            raise ValueError("Input sample_weight contains NaN.")
        raise ValueError(
            f"Input sample_weight contains infinity or a value too large for {w.dtype!r}."
        )
    if not w.any():
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return w


# ---------------------------------------------------------------------------
# label typing
# ---------------------------------------------------------------------------


def _is_integral(values: np.ndarray) -> bool:
    """Whether float values survive a round trip through int64 (scikit-learn's test)."""
    with np.errstate(invalid="ignore"):
        return bool(np.all(values.astype(np.int64).astype(values.dtype) == values))


def _raise_not_finite(values: np.ndarray, name: str) -> None:
    if np.isnan(values).any():
        raise ValueError(f"Input {name} contains NaN.")
    if not np.isfinite(values).all():
        raise ValueError(
            f"Input {name} contains infinity or a value too large for {values.dtype!r}."
        )


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
        # scikit-learn's test: values that survive a round trip through int64.
        with np.errstate(invalid="ignore"):
            as_int = y.astype(np.int64)
            integral = bool(np.all(as_int.astype(y.dtype) == y))
        if integral:
            return "float", as_int
        _raise_not_finite(y, name)
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
        _raise_not_finite(y, name)
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
        _raise_not_finite(data, name)
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
class IndicatorCounts:
    """Counts of two multilabel indicator matrices (entries are positive when non-zero).

    Attributes
    ----------
    tp_sum, pred_sum, true_sum : ndarray of shape (L,)
        Per label; int64 counts, or float64 weight sums when weighted.
    exact : int or float
        Number (or weight) of rows predicted exactly.
    n_wrong : int or float
        Number (or weight, per row) of entries predicted wrongly.
    per_sample : ndarray of shape (n, 3), or None
        Per row: true, predicted and correctly predicted labels (when asked for).
    y_true, y_pred : ndarray or scipy sparse matrix
        The matrices, for counts over a subset of the columns.
    positives : ndarray of int64, shape (3, L)
        Unweighted ``tp_sum``, ``pred_sum`` and ``true_sum``.
    """

    tp_sum: np.ndarray
    pred_sum: np.ndarray
    true_sum: np.ndarray
    exact: Any
    n_wrong: Any
    per_sample: np.ndarray | None
    y_true: Any
    y_pred: Any
    positives: np.ndarray

    @property
    def n_labels(self) -> int:
        """Number of columns."""
        return int(self.y_true.shape[1])

    def rows(self, columns: np.ndarray | None = None) -> np.ndarray:
        """Per-row [true, predicted, both] counts over ``columns`` (default: all)."""
        if columns is None and self.per_sample is not None:
            return self.per_sample
        t, p = self.y_true, self.y_pred
        if columns is not None:
            t, p = t[:, columns], p[:, columns]
        if is_sparse(t):
            both = t.multiply(p).tocsr()
            cols = [np.diff(m.tocsr().indptr) for m in (t, p, both)]
        else:
            t, p = t != 0, p != 0
            cols = [t.sum(axis=1), p.sum(axis=1), (t & p).sum(axis=1)]
        return np.stack(cols, axis=1).astype(np.intp)


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
        """Number of samples, or the sum of the weights (as scikit-learn sums them)."""
        return self.n if self.sample_weight is None else self.sample_weight.sum()


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
    if len(set(lengths)) > 1:
        raise ValueError(
            f"Found input variables with inconsistent numbers of samples: {lengths}"
        )
    n = lengths[0]
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
    counts = _binary_indicator_counts(t, p, sample_weight, per_sample)
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
    return Targets(MULTILABEL, n, w, None, _nonzero_indicator_counts(t, p, w, per_sample), t, p)


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


# ---------------------------------------------------------------------------
# multilabel counting
# ---------------------------------------------------------------------------


def _binary_indicator_counts(t: Any, p: Any, sample_weight: Any,
                             per_sample: bool) -> IndicatorCounts | None:
    """One-pass counts of two dense (n, L > 1) 0/1 matrices; None if they are not."""
    if is_sparse(t) or is_sparse(p) or t.ndim != 2 or t.shape != p.shape \
            or t.shape[1] < 2 or t.dtype.kind not in "biuf" or p.dtype.kind not in "biuf":
        return None
    try:
        weights = None if sample_weight is None else np.asarray(sample_weight, np.float64)
        mc = multilabel_counts(t, p, weights, per_sample=per_sample)
    except (TypeError, ValueError):
        return None  # entries other than 0/1, or odd weights: typed the slow way
    fp, fn, tp = mc.mcm[:, 0, 1], mc.mcm[:, 1, 0], mc.mcm[:, 1, 1]
    plain = mc.plain[: 4 * t.shape[1]].reshape(-1, 2, 2)
    n_tp = plain[:, 1, 1]
    rows = None if mc.per_sample is None else mc.per_sample.astype(np.intp)
    return IndicatorCounts(tp_sum=tp.copy(), pred_sum=tp + fp, true_sum=tp + fn,
                           exact=mc.exact, n_wrong=(fp + fn).sum(), per_sample=rows,
                           y_true=t, y_pred=p,
                           positives=np.stack([n_tp, n_tp + plain[:, 0, 1],
                                               n_tp + plain[:, 1, 0]]))


def _nonzero_indicator_counts(t: Any, p: Any, w: np.ndarray | None,
                              per_sample: bool) -> IndicatorCounts:
    """Counts of indicator matrices of any values (positive: non-zero), dense or sparse."""
    weights = None if w is None else w.astype(np.float64, copy=False)
    if is_sparse(t) or is_sparse(p):
        t, p = _as_csr(t, p), _as_csr(p, t)
        # As scikit-learn: an entry stored in a sparse matrix counts as a label even if
        # its value is an explicit 0; products and differences drop zeros.
        wrong_rows = np.diff((t != p).tocsr().indptr)
        masks = (t.multiply(p).tocsr(), p, t)
        col_sums = _sparse_col_sums
    else:
        tb, pb = t != 0, p != 0
        wrong_rows = (t != p).sum(axis=1)
        masks = (tb & pb, pb, tb)
        col_sums = _dense_col_sums
    positives = np.stack([col_sums(m, None) for m in masks])
    sums = positives if weights is None else [col_sums(m, weights) for m in masks]
    if weights is None:
        exact, n_wrong = int(np.sum(wrong_rows == 0)), int(wrong_rows.sum())
    else:
        exact = float(np.dot(wrong_rows == 0, weights))
        n_wrong = float(np.dot(wrong_rows, weights))
    counts = IndicatorCounts(tp_sum=sums[0], pred_sum=sums[1], true_sum=sums[2], exact=exact,
                             n_wrong=n_wrong, per_sample=None, y_true=t, y_pred=p,
                             positives=positives)
    if per_sample:
        counts.per_sample = counts.rows()
    return counts


def _as_csr(x: Any, other: Any) -> Any:
    if is_sparse(x):
        return x.tocsr()
    # ``other`` is sparse: build the same kind of sparse container from the dense one.
    return type(other.tocsr())(x)


def _dense_col_sums(mask: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    if weights is None:
        return mask.sum(axis=0).astype(np.int64)
    return np.dot(weights, mask)


def _sparse_col_sums(m: Any, weights: np.ndarray | None) -> np.ndarray:
    """Stored entries per column of a CSR matrix (weighted by row)."""
    if weights is None:
        return np.bincount(m.indices, minlength=m.shape[1]).astype(np.int64)
    return np.bincount(m.indices, weights=np.repeat(weights, np.diff(m.indptr)),
                       minlength=m.shape[1])


# ---------------------------------------------------------------------------
# matching requested labels to counted classes
# ---------------------------------------------------------------------------


def label_positions(classes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Index in ``classes`` (unique values) of each of ``labels``, -1 where absent.

    Values are compared after numpy's type promotion of the two arrays (so an
    integer label matches the string class of its digits, as scikit-learn's
    per-class metrics do); when the dtypes do not promote or do not sort, Python
    equality decides.
    """
    labels = np.asarray(labels)
    out = np.full(labels.shape[0], -1, dtype=np.intp)
    if classes.shape[0] == 0 or labels.shape[0] == 0:
        return out
    try:
        common = np.result_type(classes.dtype, labels.dtype)
        c, lab = classes.astype(common), labels.astype(common)
        order = np.argsort(c, kind="stable")
        sorted_c = c[order]
        idx = np.minimum(np.searchsorted(sorted_c, lab), sorted_c.shape[0] - 1)
        hit = sorted_c[idx] == lab
    except (TypeError, ValueError):
        return positions_by_equality(classes, labels)
    out[hit] = order[idx[hit]]
    return out


def positions_by_equality(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Index in ``keys`` of each of ``values`` by Python ``==`` and hash (``1 != '1'``).

    A key that occurs twice maps to its last position; absent values give -1.
    """
    index = {k: i for i, k in enumerate(np.asarray(keys).tolist())}
    return np.array([index.get(v, -1) for v in np.asarray(values).tolist()], dtype=np.intp)
