"""Input checks shared by the score drop-ins (AUC, AP, curves, ranking and probabilistic).

Clean-room equivalents of what scikit-learn runs before its score metrics
(``check_array`` on scores, ``type_of_target`` on the truth, the positive-label
consistency check, ``_average_binary_score``'s averaging), with one difference of
method: the label set of 1-D integer truth comes out of the compiled counting pass
(:func:`calipers.metrics._pairs.pair_counts`) instead of a sort.

Every function takes any array type :func:`calipers.metrics._state.to_numpy`
understands (numpy, lists, torch tensors, ...).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from calipers.metrics._arrays import (
    as_array,
    check_sample_weight,
    common_length,
    is_sparse,
    raise_not_finite,
)
from calipers.metrics._pairs import pair_counts
from calipers.metrics._state import to_numpy
from calipers.metrics._targets import BINARY, MULTICLASS, MULTILABEL, _label_kind, _type_name

__all__ = [
    "as_np",
    "average_scores",
    "check_lengths",
    "check_pos_label",
    "indicator_type",
    "label_classes",
    "score_array",
    "target_type",
    "weights_array",
]


def as_np(x: Any) -> Any:
    """``x`` as a numpy array (sparse matrices and None are returned as they are)."""
    if x is None or is_sparse(x):
        return x
    if isinstance(x, (np.ndarray, list, tuple)):
        return as_array(x)
    return as_array(to_numpy(x))


def check_lengths(**arrays: Any) -> int:
    """Common number of samples of the named arrays (None skipped); ``ValueError`` if not.

    Returns
    -------
    int
        The number of samples.
    """
    return common_length([int(a.shape[0]) if a.ndim else 1 for a in arrays.values()
                          if a is not None])


def score_array(y_score: Any, name: str = "y_score", *, finite: bool = True) -> np.ndarray:
    """``y_score`` checked as scikit-learn's ``check_array(dtype="numeric")`` checks it.

    Numeric dtypes are kept (object arrays become float64); strings, complex numbers,
    sparse matrices, scalars, more than two dimensions and empty input are refused.

    Parameters
    ----------
    y_score : array-like
    name : str
        The argument's name, for the messages.
    finite : bool, default=True
        Also refuse NaN and infinity (callers that convert the scores with
        :func:`calipers.metrics._rank_core.as_scores` leave that check to it).

    Returns
    -------
    ndarray of 1 or 2 dimensions
    """
    if is_sparse(y_score):
        raise TypeError(f"{name} is a sparse matrix; scores must be a dense array")
    arr = as_np(y_score)
    kind = arr.dtype.kind
    if kind in "USV":
        raise ValueError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if kind == "O":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must hold numbers: {exc}") from exc
    elif kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim == 0:
        raise ValueError(f"{name} must be an array of scores, got the scalar {arr!r}")
    if arr.ndim > 2:
        raise ValueError(f"{name} has {arr.ndim} dimensions (shape {arr.shape}); at most 2 "
                         "are allowed")
    if arr.shape[0] == 0 or arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); at least 1 sample is required")
    if finite and arr.dtype.kind == "f":
        raise_not_finite(arr, name)
    return arr


def weights_array(sample_weight: Any, n: int) -> np.ndarray | None:
    """Checked sample weights as float64 (1-D, length ``n``, finite, not all zero), or None."""
    w = check_sample_weight(as_np(sample_weight), n)
    return None if w is None else np.ascontiguousarray(w, dtype=np.float64)


def label_classes(y: np.ndarray, name: str = "y_true") -> tuple[str, np.ndarray | None]:
    """Target type and sorted distinct values of 1-D labels.

    Integer, bool and integer-valued float labels are counted by the compiled core in
    one pass; other labels are sorted. Raises what scikit-learn's typing raises (NaN
    in float labels, bytes, sequences of sequences).

    Returns
    -------
    y_type : str
        ``"binary"``, ``"multiclass"``, ``"continuous"`` or ``"unknown"``.
    classes : ndarray or None
        The distinct labels in ``y``'s dtype (None for continuous / unknown).
    """
    if y.shape[0] == 0:
        raise ValueError(f"{name} is empty; at least 1 sample is required")
    kind, counted = _label_kind(y, name)
    if kind in ("continuous", "unknown"):
        return kind, None
    if kind in ("int", "float"):
        classes = pair_counts(counted, counted, need_matrix=False).classes
        if kind == "float":
            classes = classes.astype(y.dtype)
    else:
        classes = np.unique(y)
    return (BINARY if classes.shape[0] <= 2 else MULTICLASS), classes


def indicator_type(y: np.ndarray, name: str = "y_true") -> str:
    """scikit-learn's target type of a dense 2-D array with more than one column.

    0/1 (and other two-integer) matrices are recognised with min/max passes instead
    of a sort.
    """
    kind = y.dtype.kind
    if kind == "b":
        return MULTILABEL
    if kind in "iu" and y.size and int(y.max()) - int(y.min()) <= 1:
        return MULTILABEL
    if kind == "f" and y.size and bool(((y == 0) | (y == 1)).all()):
        return MULTILABEL
    return _type_name(y, name)


def target_type(y: Any, name: str = "y_true") -> tuple[str, np.ndarray | None]:
    """scikit-learn's ``type_of_target`` of ``y`` and, for 1-D labels, their classes.

    A column vector ``(n, 1)`` is typed as 1-D labels (its classes are returned).
    """
    if is_sparse(y):
        return _type_name(y, name), None
    if y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1):
        return label_classes(y.reshape(-1), name)
    if y.ndim == 2 and y.shape[1] > 1 and y.shape[0]:
        return indicator_type(y, name), None
    return "unknown", None


#: Label sets of which 1 is the positive label without a ``pos_label``.
_CONSISTENT = ([0, 1], [-1, 1], [0], [-1], [1])


def check_pos_label(pos_label: Any, classes: np.ndarray) -> Any:
    """scikit-learn's positive-label consistency check.

    With ``pos_label=None`` the classes must be a subset of ``{0, 1}`` or ``{-1, 1}``
    (then the positive label is 1); otherwise ``ValueError``. A given ``pos_label``
    is returned unchanged.
    """
    if pos_label is not None:
        return pos_label
    ok = classes.dtype.kind not in "OUS" and classes.tolist() in _CONSISTENT
    if not ok:
        values = ", ".join(repr(c) for c in classes.tolist())
        raise ValueError(
            f"y_true takes value in {{{values}}} and pos_label is not specified: either make "
            "y_true take value in {0, 1} or {-1, 1} or pass pos_label explicitly."
        )
    return 1


def average_scores(scores: np.ndarray, average: str | None,
                   average_weight: np.ndarray | None) -> float | np.ndarray:
    """Average per-class (or per-sample) binary scores as scikit-learn does.

    Parameters
    ----------
    scores : ndarray of float64
        One score per class (or per sample for ``"samples"``); NaN where undefined.
    average : {"macro", "weighted", "samples", "micro"} or None
        None returns ``scores``. Otherwise the (weighted) mean; scores whose weight
        is 0 count as 0, so that an undefined class of weight 0 does not make the
        mean NaN.
    average_weight : ndarray or None
        The weights of the mean (class supports for ``"weighted"``, sample weights for
        ``"samples"``).

    Returns
    -------
    float or ndarray
    """
    if average is None:
        return scores
    if average_weight is not None:
        scores = np.where(average_weight == 0, 0.0, scores)
    return float(np.average(scores, weights=average_weight))
