"""Parameter validation of the functional metrics, as scikit-learn's.

Each functional metric checks its arguments before it looks at the data: every
parameter has a few accepted kinds of value (:class:`Constraint`), and a value that
none accepts raises :class:`InvalidParameterError` with scikit-learn's message. The
constraint sets shared by several metrics (targets, ``average``, ``zero_division``,
``labels``, ``pos_label``, ``sample_weight``, ``beta``) are defined here once.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from calipers.metrics._arrays import is_sparse


class InvalidParameterError(ValueError, TypeError):
    """A parameter has a type or value the function does not accept.

    Both a ``ValueError`` and a ``TypeError``, like scikit-learn's exception of the
    same name, so code catching either keeps working.
    """


# ---------------------------------------------------------------------------
# constraints
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Constraint:
    """One accepted kind of value for a parameter, with its description."""

    accepts: Callable[[Any], bool]
    text: str


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

    Parameters
    ----------
    func : str
        Name of the checking function, for the message.
    params : dict
        Parameter name to ``(value, constraints)``, checked in order.

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
# constraint sets shared by the functional metrics
# ---------------------------------------------------------------------------

#: ``y_true`` / ``y_pred`` of metrics that take multilabel (and sparse) input.
Y = (ARRAY_LIKE, SPARSE)
#: ``y_true`` / ``y_pred`` of metrics of 1-D labels only.
Y_DENSE = (ARRAY_LIKE,)
#: ``labels`` and ``sample_weight``.
OPTIONAL_ARRAY = (ARRAY_LIKE, NONE)
POS_LABEL = (REAL, STR, BOOLEAN, NONE)
AVERAGE = (str_options("micro", "macro", "samples", "weighted", "binary"), NONE)
ZERO_DIVISION = (real_options(0.0, 1.0), NAN, str_options("warn"))
#: F-beta's ``beta``: any non-negative real, infinity included.
BETA = (real_interval(0.0, math.inf),)


def set_wise_params(y_true: Any, y_pred: Any, labels: Any, pos_label: Any, average: Any,
                    sample_weight: Any, zero_division: Any,
                    zero_division_options: tuple = ZERO_DIVISION) -> dict[str, tuple]:
    """The :func:`validate` entries of the per-class metrics' common parameters.

    Returns
    -------
    dict
        ``y_true``, ``y_pred``, ``labels``, ``pos_label``, ``average``,
        ``sample_weight`` and ``zero_division``, in that order, each with its
        constraints.
    """
    return {
        "y_true": (y_true, Y),
        "y_pred": (y_pred, Y),
        "labels": (labels, OPTIONAL_ARRAY),
        "pos_label": (pos_label, POS_LABEL),
        "average": (average, AVERAGE),
        "sample_weight": (sample_weight, OPTIONAL_ARRAY),
        "zero_division": (zero_division, zero_division_options),
    }
