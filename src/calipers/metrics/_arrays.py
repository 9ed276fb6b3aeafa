"""Input arrays of the functional metrics: sparse detection, conversion, lengths, weights.

Clean-room equivalents of the array checks scikit-learn runs before typing targets
(``check_array``'s complex and finiteness checks, ``_num_samples`` and
``_check_sample_weight``), with scikit-learn's messages.

scipy is never imported here: sparse input is recognised by its type's module, and
its own methods do the work.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def is_sparse(x: Any) -> bool:
    """Whether ``x`` is a scipy sparse matrix or array (without importing scipy)."""
    return type(x).__module__.startswith("scipy.sparse") and hasattr(x, "tocsr")


def _reject_complex(arr: np.ndarray) -> None:
    if arr.dtype.kind == "c":
        raise ValueError(f"Complex data not supported\n{arr}\n")


def raise_not_finite(values: np.ndarray, name: str) -> None:
    """Raise scikit-learn's ``ValueError`` if the float ``values`` hold NaN or infinity.

    Parameters
    ----------
    values : ndarray of floats
    name : str
        The argument's name, for the message (``"y_true"``, ``"sample_weight"``, ...).
    """
    if np.isfinite(values).all():
        return
    if np.isnan(values).any():
        raise ValueError(f"Input {name} contains NaN.")
    raise ValueError(
        f"Input {name} contains infinity or a value too large for {values.dtype!r}."
    )


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
    _reject_complex(arr)
    return arr


def num_samples(x: Any, name: str) -> int:
    """Length of the first axis; a 0-d array is a ``TypeError``."""
    shape = getattr(x, "shape", None)
    if shape is not None and len(shape) == 0:
        raise TypeError(f"{name} should have at least 1 dimension, got scalar {x!r}")
    return int(shape[0]) if shape is not None else len(x)


def common_length(lengths: list[int]) -> int:
    """The one length of ``lengths`` (numbers of samples); scikit-learn's ``ValueError``
    when they differ."""
    if len(set(lengths)) > 1:
        raise ValueError(f"Found input variables with inconsistent numbers of samples: {lengths}")
    return lengths[0]


def check_sample_weight(sample_weight: Any, n: int) -> np.ndarray | None:
    """Validated sample weights: 1-D, numeric, finite, not all zero.

    Numeric dtypes are kept (integer weights give integer confusion matrices, as in
    scikit-learn); other dtypes are converted to float64.

    Parameters
    ----------
    sample_weight : array-like of shape (n,) or None
    n : int
        Number of samples.

    Returns
    -------
    ndarray of shape (n,), or None
        None when ``sample_weight`` is None.
    """
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight)
    _reject_complex(w)
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
    if w.dtype.kind == "f":
        raise_not_finite(w, "sample_weight")
    if not w.any():
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return w
