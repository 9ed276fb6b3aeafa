"""numpy <-> JSON on the client side of TensorFlow Serving's REST API.

Requests carry numbers (``NaN``/``Infinity`` tokens included), strings, booleans
and ``{"b64": ...}`` for bytes; answers are decoded back into numpy arrays (bytes
as ``object`` arrays). The server side of the same mapping is
:mod:`calipers.serve._tensors`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import numpy as np


def to_json(value: Any, where: str) -> Any:
    """numpy values as JSON-ready Python values (bytes as ``{"b64": ...}``).

    ``where`` names the request field in the error for a value with no JSON form.
    """
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "SOV":
            return [to_json(v, where) for v in value.tolist()] if value.ndim else \
                to_json(value.item(), where)
        if value.dtype.kind not in "biufU":
            raise TypeError(f"{where}: arrays of dtype {value.dtype} have no JSON form")
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item() if not isinstance(value, np.bytes_) else to_json(bytes(value), where)
    if isinstance(value, (bytes, bytearray)):
        return {"b64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Mapping):
        return {str(k): to_json(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v, where) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "numpy"):  # tensors
        return to_json(np.asarray(value.numpy()), where)
    if hasattr(value, "__array__"):
        return to_json(np.asarray(value), where)
    raise TypeError(f"{where}: {type(value).__name__} has no JSON form")


def _decode(value: Any) -> Any:
    """``{"b64": ...}`` objects back to bytes, recursively."""
    if isinstance(value, dict):
        if set(value) == {"b64"} and isinstance(value["b64"], str):
            return base64.b64decode(value["b64"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _has_bytes(value: Any) -> bool:
    if isinstance(value, bytes):
        return True
    if isinstance(value, list):
        return any(_has_bytes(v) for v in value)
    return False


def to_array(value: Any) -> np.ndarray:
    """A JSON tensor value as a numpy array (bytes stay ``object``)."""
    value = _decode(value)
    return np.asarray(value, dtype=object) if _has_bytes(value) else np.asarray(value)


def rows(inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Named batches -> one object per row (TF Serving's row format, several inputs)."""
    arrays = {k: np.asarray(v) if not isinstance(v, list) else v for k, v in inputs.items()}
    sizes = {k: len(v) for k, v in arrays.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"the row format ('instances') needs every input to have the same "
                         f"0-th dimension, got {sizes}; use columnar=True")
    n = next(iter(sizes.values()), 0)
    return [{k: v[i] for k, v in arrays.items()} for i in range(n)]


def outputs(value: Any, columnar: bool) -> np.ndarray | dict[str, np.ndarray]:
    """A predict answer's ``"outputs"`` / ``"predictions"`` as arrays.

    One output (TF Serving omits its name) is an array; several are
    ``{output name: array}`` (the row format answers with one object per row).
    """
    if columnar:
        if isinstance(value, dict):
            return {k: to_array(v) for k, v in value.items()}
        return to_array(value)
    if isinstance(value, list) and value and all(
            isinstance(v, dict) and set(v) != {"b64"} for v in value):
        names = list(value[0])
        return {n: to_array([row[n] for row in value]) for n in names}
    return to_array(value)
