"""Label values in a predictions file: their kind, parsing, display and codes 0..k-1."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "LABEL_KINDS",
    "LabelEncoder",
    "as_kind",
    "common_kind",
    "display",
    "parse_label",
    "preview",
    "python_value",
]

#: numpy dtype kinds that are integer labels as they are: bool, signed, unsigned.
LABEL_KINDS = "biu"


def python_value(value: Any) -> Any:
    """Return the Python scalar a numpy scalar holds; any other value as it is.

    Parameters
    ----------
    value : object
        A numpy scalar (``np.int64(3)``) or any other value.

    Returns
    -------
    object
        ``value.item()`` for a numpy scalar, else ``value``.
    """
    return value.item() if isinstance(value, np.generic) else value


class LabelEncoder:
    """Map label values to codes 0..k-1 (the order of ``classes``).

    Parameters
    ----------
    classes : numpy.ndarray
        The classes; a value's code is its index here.
    kind : str
        ``"int"``, ``"float"`` or ``"str"``: values are cast to it (:func:`as_kind`)
        before they are looked up.
    """

    def __init__(self, classes: np.ndarray, kind: str) -> None:
        self.classes = classes
        self.kind = kind
        self.sorter = np.argsort(classes, kind="stable")
        self.sorted = classes[self.sorter]

    def encode(self, values: np.ndarray, column: str, rows_before: int) -> np.ndarray:
        """Return the code of each value.

        Parameters
        ----------
        values : numpy.ndarray
            One batch of a label column.
        column : str
            The column's name, for the error message.
        rows_before : int
            Rows read before this batch, so that the error names the row in the file.

        Returns
        -------
        numpy.ndarray
            The index in ``classes`` of each value.

        Raises
        ------
        ValueError
            If a value is not one of the classes.
        """
        v = as_kind(values, self.kind)
        idx = np.searchsorted(self.sorted, v)
        np.minimum(idx, len(self.sorted) - 1, out=idx)
        found = self.sorted[idx] == v
        if not found.all():
            bad = np.unique(v[~found])
            first = rows_before + int(np.argmin(found)) + 1
            shown = ", ".join(repr(python_value(b)) for b in bad[:5]) + (
                ", ..." if len(bad) > 5 else ""
            )
            known = ", ".join(repr(python_value(c)) for c in self.classes[:20])
            raise ValueError(
                f"column {column!r} has labels outside the classes [{known}]: {shown} "
                f"(first in row {first}); fix --labels or the data"
            )
        return self.sorter[idx]


def as_kind(values: np.ndarray, kind: str) -> np.ndarray:
    """Cast label values to one kind, without a copy where they already have it.

    Parameters
    ----------
    values : numpy.ndarray
        Label values.
    kind : str
        ``"int"`` (int64), ``"float"`` (float64) or ``"str"`` (numpy unicode).

    Returns
    -------
    numpy.ndarray
        The values as that kind.
    """
    if kind == "int":
        return values.astype(np.int64, copy=False)
    if kind == "float":
        return values.astype(np.float64, copy=False)
    return values if values.dtype.kind == "U" else values.astype(str)


def common_kind(dtypes: Sequence[np.dtype]) -> str:
    """Return the kind that the values of all of ``dtypes`` can be compared as.

    Parameters
    ----------
    dtypes : sequence of numpy.dtype
        The dtypes of the label columns.

    Returns
    -------
    str
        ``"int"`` if all are bool or integer, ``"float"`` if all are numbers, else ``"str"``.
    """
    kinds = {d.kind for d in dtypes}
    if kinds <= set(LABEL_KINDS):
        return "int"
    if kinds <= set(LABEL_KINDS + "f"):
        return "float"
    return "str"


def parse_label(text: str, kind: str, is_bool: bool, what: str) -> Any:
    """Parse a label given on the command line as the kind of the label columns.

    Parameters
    ----------
    text : str
        The label as typed (``"1"``, ``"true"``, ``"cat"``).
    kind : str
        ``"int"``, ``"float"`` or ``"str"``: the kind of the label columns.
    is_bool : bool
        Whether the label columns hold booleans (then ``true``/``false``/``1``/``0``).
    what : str
        What the text is (``"--pos-label"``), for the error message.

    Returns
    -------
    object
        The label: ``int``, ``float`` or ``str`` (booleans as 0/1).

    Raises
    ------
    ValueError
        If the text is not a label of that kind.
    """
    if kind == "str":
        return text
    try:
        if is_bool:
            return {"true": 1, "1": 1, "false": 0, "0": 0}[text.strip().lower()]
        return int(text) if kind == "int" else float(text)
    except (KeyError, ValueError):
        holds = "booleans" if is_bool else ("integers" if kind == "int" else "numbers")
        raise ValueError(f"{what} {text!r} is not valid: the label columns hold {holds}") from None


def display(value: Any, is_bool: bool) -> Any:
    """Return a class as it is reported: a Python scalar, a ``bool`` for boolean columns.

    Parameters
    ----------
    value : object
        A class value.
    is_bool : bool
        Whether the label columns hold booleans.

    Returns
    -------
    object
        The value to show.
    """
    value = python_value(value)
    return bool(value) if is_bool else value


def preview(values: Sequence[Any], n: int = 8) -> str:
    """Return the first ``n`` values as a comma-separated list of reprs, for messages.

    Parameters
    ----------
    values : sequence
        Labels.
    n : int, default 8
        How many to show; more are summarized as ``..., (N in all)``.

    Returns
    -------
    str
        For example ``'a', 'b', ... (12 in all)``.
    """
    shown = ", ".join(repr(python_value(v)) for v in list(values)[:n])
    return shown + (f", ... ({len(values)} in all)" if len(values) > n else "")
