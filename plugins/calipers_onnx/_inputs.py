"""Named numpy inputs of ONNX artifacts from arrays, tensors, tuples, dicts or DataFrames.

- one array or tensor: the single input (``X`` for scikit-learn models,
  ``input`` for torch modules);
- a tuple or list of arrays / tensors: the inputs in order;
- a dict ``{name: array}``;
- a pandas DataFrame: one ``[n, 1]`` input per column, named after the column
  (mixed dtypes: numbers and strings, as a ColumnTransformer takes them).

Values keep their dtype (strings become object arrays, what onnxruntime takes):
the original model sees the caller's float64 values, and the artifact casts them
to the float32 of its graph (skl2onnx sets tree thresholds so that float32
inputs split as scikit-learn splits the float64 values). At export
(``conversions`` given), floating-point inputs become float32 and each
conversion is recorded.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

from calipers.export._outputs import as_inputs


def is_frame(x: Any) -> bool:
    """Whether ``x`` is a pandas DataFrame (without importing pandas)."""
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(x, pd.DataFrame)


def _numpy(x: Any) -> Any:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return x


def _column(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind == "b":
        raise TypeError(
            f"column {name!r} is boolean; ONNX converters take numbers or strings: cast it "
            "to int or str (in the training data too) before fitting and exporting"
        )
    if arr.dtype.kind in "fiu":
        return arr.reshape(-1, 1)
    if arr.dtype.kind in "OUS":
        return arr.astype(str).astype(object).reshape(-1, 1)
    raise TypeError(f"column {name!r} has dtype {arr.dtype}; expected numbers or strings")


def _frame_inputs(frame: Any, names: list[str] | None) -> dict[str, np.ndarray]:
    columns = [str(c) for c in frame.columns]
    if len(set(columns)) != len(columns):
        raise ValueError(f"DataFrame column names must be unique, got {columns}")
    if names is not None and set(names) != set(columns):
        raise ValueError(f"inputs must be the columns {names}, got {columns}")
    by_name = {str(c): c for c in frame.columns}
    return {n: _column(frame[by_name[n]].to_numpy(), n) for n in (names or columns)}


def named_inputs(
    sample: Any,
    names: list[str] | None = None,
    default: str = "X",
    conversions: dict[str, str] | None = None,
) -> dict[str, np.ndarray]:
    """Named input arrays (see the module docstring), in the order of ``names``.

    Parameters
    ----------
    sample : array-like, tensor, tuple, dict or DataFrame
        The inputs.
    names : list of str, optional
        The model's input names; the inputs must match them.
    default : str, default "X"
        The name of a single input when ``names`` is not given.
    conversions : dict, optional
        Convert floating-point inputs to float32 and record
        ``{name: "float64 -> float32"}`` for each conversion here.

    Raises
    ------
    ValueError
        If the inputs do not match ``names`` or have no batch axis.
    TypeError
        For dtypes that ONNX inputs cannot take.
    """
    if is_frame(sample):
        arrays = _frame_inputs(sample, names)
    else:
        if isinstance(sample, (tuple, list)) and len(sample) > 1 and all(
            hasattr(s, "shape") for s in sample
        ):
            keys = names or [f"{default}_{i}" for i in range(len(sample))]
            if len(keys) != len(sample):
                raise ValueError(f"got {len(sample)} inputs for the model's {len(keys)} {keys}")
            sample = dict(zip(keys, sample, strict=True))
        if isinstance(sample, Mapping):
            sample = {k: _numpy(v) for k, v in sample.items()}
        else:
            sample = _numpy(sample)
        arrays = as_inputs(sample, names or (None if isinstance(sample, Mapping) else [default]))
    order = names or list(arrays)
    out = {}
    for name in order:
        arr = np.asarray(arrays[name])
        if arr.ndim == 0:
            raise ValueError(f"input {name!r} must have a batch axis, got a scalar")
        if arr.dtype.kind == "f" and arr.dtype != np.float32 and conversions is not None:
            conversions[name] = f"{arr.dtype.name} -> float32"
            arr = arr.astype(np.float32)
        elif arr.dtype.kind in "US":
            arr = arr.astype(object)
        elif arr.dtype.kind not in "fiuO":
            raise TypeError(f"input {name!r} has dtype {arr.dtype}; ONNX inputs here are "
                            "numbers or strings")
        out[name] = arr
    return out
