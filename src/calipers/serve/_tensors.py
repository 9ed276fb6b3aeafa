"""JSON <-> numpy in TensorFlow Serving's REST formats.

Predict requests come in the row format (``{"instances": [...]}``, one element
per example, objects keyed by input name for several inputs) or the columnar
format (``{"inputs": ...}``, whole tensors, an object keyed by input name for
several inputs); the answer uses the same format (``"predictions"`` or
``"outputs"``). Binary strings travel as ``{"b64": "<base64>"}``.
Classify/regress requests carry ``"examples"`` (objects of features, with an
optional shared ``"context"``) and are answered with ``"results"``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from calipers.serve._errors import ServeError, invalid
from calipers.serve._parse import MAX_DEPTH, load_json
from calipers.serve._parse import show as _show

__all__ = ["MAX_DEPTH", "classify_results", "decode_examples", "decode_predict", "dumps",
           "encode_predict", "parse_json", "regress_results", "to_array"]

_STRING_DTYPES = ("str", "object", "string", "bytes")
_JSON_TYPE_NAMES = {bool: "Boolean", str: "String", dict: "Object", list: "Array",
                    type(None): "Null", int: "Number", float: "Number"}


def parse_json(body: bytes) -> dict[str, Any]:
    """Parse a request body; TF Serving's messages for empty/invalid/non-object JSON.

    The body must be UTF-8 and nest at most :data:`MAX_DEPTH` levels (see
    :func:`calipers.serve._parse.load_json`).

    Raises
    ------
    ServeError
        INVALID_ARGUMENT for a body that is not a JSON object in UTF-8, or whose
        ``signature_name`` is not a string or not ``serving_default``.
    """
    doc = load_json(body)
    if not isinstance(doc, dict):
        raise invalid(f"JSON Value: {_show(doc)} Is not object")
    signature = doc.get("signature_name")
    if signature is not None and not isinstance(signature, str):
        raise invalid(
            f"JSON Value: {_show(doc)} not formatted correctly. 'signature_name' key must "
            "be a string value."
        )
    if signature not in (None, "", "serving_default"):
        raise invalid(f"Serving signature name: {_show(signature)} not found in signature def")
    return doc


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _decode_b64(value: dict[str, str]) -> bytes:
    try:
        return base64.b64decode(value["b64"], validate=True)
    except (binascii.Error, ValueError):
        raise invalid("Unable to base64 decode") from None


def _strings(value: Any, where: str) -> Any:
    """Nested lists of str / {"b64": ...} -> the same nesting with bytes for b64 values."""
    if isinstance(value, list):
        return [_strings(v, where) for v in value]
    if isinstance(value, str):
        return value
    if _is_b64(value):
        return _decode_b64(value)
    kind = "Object" if isinstance(value, dict) else type(value).__name__
    raise invalid(f"{where}: JSON Value: {_show(value)} Type: {kind} is not of expected type: "
                  "string")


def _leaf_types(value: Any) -> set[type]:
    """The types of the non-list values in nested lists (one linear pass, no recursion)."""
    if not isinstance(value, list):
        return {type(value)}
    found: set[type] = set()
    stack = [value]
    while stack:
        items = stack.pop()
        kinds = set(map(type, items))  # C speed per list, whatever its length
        if list in kinds:
            kinds.discard(list)
            stack.extend(v for v in items if type(v) is list)
        found |= kinds
    return found


def _allowed_leaves(target: np.dtype) -> set[type]:
    if target.kind == "b":
        return {bool}
    if target.kind in "iu":
        return {int}
    if target.kind in "fc":
        return {int, float}
    return set()


def to_array(value: Any, spec: Mapping[str, Any], where: str) -> np.ndarray:
    """Convert one JSON value to an array of the input ``spec``'s dtype.

    The JSON types of the values are checked before numpy sees them: numpy
    would read ``[1, true]`` as ``[1, 1]``, and a string among numbers as a
    fixed-width string array as wide as the longest string (a short body
    asking for gigabytes). Time and memory are linear in the value's size.

    Raises
    ------
    ServeError
        INVALID_ARGUMENT for ragged lists, values of the wrong JSON type
        (strings, booleans, nulls or objects for a numeric input, ...), or
        integers out of the input's range.
    """
    dtype = spec.get("dtype") or "float32"
    if dtype in _STRING_DTYPES:
        data = _strings(value, where)
        try:
            arr = np.asarray(data, dtype=object)
        except ValueError:
            raise invalid(f"{where}: nested lists of different lengths (a tensor must be "
                          "dense)") from None
        if arr.dtype != object:
            arr = arr.astype(object)
        return arr
    target = np.dtype(dtype)
    allowed = _allowed_leaves(target)
    if not _leaf_types(value) <= allowed:
        raise invalid(f"{where}: {_wrong_type(value, allowed)} is not of expected type: {dtype}")
    try:
        arr = np.asarray(value)
    except ValueError:
        raise invalid(f"{where}: nested lists of different lengths, or more than 64 "
                      "dimensions (a tensor must be dense)") from None
    except OverflowError:
        raise invalid(f"{where}: a value is out of range for {dtype}") from None
    if target.kind in "iu" and arr.size:
        info = np.iinfo(target)
        if arr.min() < info.min or arr.max() > info.max:
            raise invalid(f"{where}: a value is out of range for {dtype}")
    try:
        return arr.astype(target, copy=False)
    except (OverflowError, ValueError, TypeError):  # an int beyond float64 in an object array
        raise invalid(f"{where}: a value is out of range for {dtype}") from None


def _wrong_type(value: Any, allowed: set[type]) -> str:
    """Name the first leaf (in document order) whose JSON type is not ``allowed``.

    One pass with a stack of iterators: linear in the size of ``value``.
    """
    stack = [iter((value,))]
    while stack:
        item = next(stack[-1], _END)
        if item is _END:
            stack.pop()
        elif isinstance(item, list):
            stack.append(iter(item))
        elif type(item) not in allowed:
            name = _JSON_TYPE_NAMES.get(type(item), type(item).__name__)
            if isinstance(item, float) and int in allowed:
                name = "Number (not an integer)"
            return f"JSON Value: {_show(item)} Type: {name}"
    return "JSON Value"  # not reached: called only when such a leaf exists


_END = object()


def _check_shape(arr: np.ndarray, spec: Mapping[str, Any], where: str) -> None:
    shape = spec.get("shape")
    if shape is None:
        return
    if arr.ndim != len(shape) or any(
        want is not None and want != got for want, got in zip(shape, arr.shape, strict=False)
    ):
        shown = ", ".join("-1" if d is None else str(d) for d in shape)
        raise invalid(f"{where}: expected shape [{shown}], got {list(arr.shape)}")


def _single_name(specs: Sequence[Mapping[str, Any]], what: str) -> str:
    if len(specs) > 1:
        raise invalid(
            f"{what} is a plain value/list, but expecting an object as multiple input tensors "
            f"required as per tensorinfo_map ({', '.join(s['name'] for s in specs)})"
        )
    return specs[0]["name"]


def decode_predict(
    doc: Mapping[str, Any], specs: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, np.ndarray], str]:
    """A predict request's tensors and its format (``"row"`` or ``"columnar"``).

    Booleans among numbers are always refused (:func:`to_array`), whatever the body's
    encoding looked like.
    """
    has_rows, has_cols = "instances" in doc, "inputs" in doc
    if has_rows and has_cols:
        raise invalid(f"JSON Value: {_show(doc)} Not formatted correctly expecting only one of "
                      "'inputs' or 'instances' keys to exist ")
    if not specs:
        raise invalid("Failed to get input map for signature: DEFAULT")
    by_name = {spec["name"]: spec for spec in specs}
    if has_rows:
        arrays = _decode_rows(doc["instances"], specs, by_name, doc)
        fmt = "row"
    elif has_cols:
        arrays = _decode_columns(doc["inputs"], specs, by_name)
        fmt = "columnar"
    else:
        raise invalid("Missing 'inputs' or 'instances' key")
    for name, arr in arrays.items():
        _check_shape(arr, by_name[name], f"input '{name}'")
    batch = {arr.shape[0] for arr in arrays.values() if arr.ndim}
    if len(batch) > 1:
        raise invalid(f"inputs have different batch sizes: {sorted(batch)}")
    return arrays, fmt


def _is_named(value: Any) -> bool:
    return isinstance(value, dict) and not _is_b64(value)


def _decode_rows(
    instances: Any,
    specs: Sequence[Mapping[str, Any]],
    by_name: Mapping[str, Mapping[str, Any]],
    doc: Mapping[str, Any],
) -> dict[str, np.ndarray]:
    if not isinstance(instances, list):
        raise invalid(f"JSON Value: {_show(doc)} Excepting 'instances' to be an list/array")
    if not instances:
        raise invalid(f"JSON Value: {_show(doc)} No values in 'instances' array")
    if not _is_named(instances[0]):
        name = _single_name(specs, "instances")
        for i, item in enumerate(instances):
            if _is_named(item):
                raise invalid(f"Expecting value/list but got object at item {i} of input list")
        return {name: to_array(instances, by_name[name], "'instances'")}
    columns: dict[str, list[Any]] = {name: [] for name in by_name}
    for i, item in enumerate(instances):
        if not _is_named(item):
            raise invalid(f"Expecting object but got list at item {i} of input list")
        if set(item) != set(by_name):
            raise invalid(
                f"Failed to process element: {i} of 'instances' list. JSON object: "
                f"{_show(item)} keys must be equal to: {','.join(sorted(by_name))}"
            )
        for name, value in item.items():
            columns[name].append(value)
    return {name: to_array(values, by_name[name], f"'instances' key '{name}'")
            for name, values in columns.items()}


def _decode_columns(
    inputs: Any,
    specs: Sequence[Mapping[str, Any]],
    by_name: Mapping[str, Mapping[str, Any]],
) -> dict[str, np.ndarray]:
    if not _is_named(inputs):
        name = _single_name(specs, "inputs")
        return {name: to_array(inputs, by_name[name], "'inputs'")}
    out = {}
    for name, spec in by_name.items():
        if name not in inputs:
            raise invalid(f"Missing named input: {name} in 'inputs' object.")
        out[name] = to_array(inputs[name], spec, f"'inputs' key '{name}'")
    extra = [key for key in inputs if key not in by_name]
    if extra:
        raise invalid(f"Unknown named input(s): {_names(extra)} in 'inputs' object "
                      f"(the model's inputs: {', '.join(by_name)})")
    return out


def _names(keys: Sequence[str], most: int = 5) -> str:
    """A client's keys for a message: the first ``most``, quoted, and how many more."""
    shown = ", ".join(_show(key, 60) for key in keys[:most])
    return shown if len(keys) <= most else f"{shown} and {len(keys) - most} more"


def _jsonable(arr: np.ndarray) -> Any:
    """Nested lists of JSON values; bytes become ``{"b64": ...}``."""
    if arr.dtype.kind in "SO":
        return _b64_leaves(arr.tolist())
    return arr.tolist()


def _b64_leaves(value: Any) -> Any:
    if isinstance(value, list):
        return [_b64_leaves(v) for v in value]
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode("ascii")}
    return value


def encode_predict(outputs: Mapping[str, np.ndarray], fmt: str) -> dict[str, Any]:
    """The predict answer: ``{"predictions": rows}`` or ``{"outputs": tensors}``."""
    if not outputs:
        raise invalid("Cannot convert empty tensor map to JSON")
    if fmt == "columnar":
        if len(outputs) == 1:
            return {"outputs": _jsonable(next(iter(outputs.values())))}
        return {"outputs": {name: _jsonable(arr) for name, arr in outputs.items()}}
    batch = None
    for name, arr in outputs.items():
        if arr.ndim == 0:
            raise invalid(f"Tensor name: {name} has no shape information ")
        if batch is not None and arr.shape[0] != batch:
            raise invalid(f"Tensor name: {name} has inconsistent batch size: {arr.shape[0]} "
                          f"expecting: {batch}")
        batch = arr.shape[0]
    if len(outputs) == 1:
        return {"predictions": _jsonable(next(iter(outputs.values())))}
    columns = {name: _jsonable(arr) for name, arr in outputs.items()}
    return {"predictions": [dict(zip(columns, row, strict=True))
                            for row in zip(*columns.values(), strict=True)]}


def decode_examples(
    doc: Mapping[str, Any],
    specs: Sequence[Mapping[str, Any]],
    feature_names: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """Tensors from a classify/regress request's ``"examples"`` (and ``"context"``).

    Each example is an object. A key equal to an input's name gives that input's
    row; for a one-input model whose input is a row of named features
    (``feature_names``, recorded at export for models fitted on DataFrames), one
    key per feature works too. ``"context"`` holds features shared by every example.
    """
    examples = doc.get("examples")
    if examples is None:
        raise invalid(f"JSON Value: {_show(doc)} When method is classify, key 'examples' is "
                      "expected and was not found")
    if not isinstance(examples, list):
        raise invalid(f"JSON Value: {_show(doc)} Expecting 'examples' value to be an list/array")
    if not examples:
        raise invalid(f"JSON Value: {_show(doc)} 'examples' value is an empty array")
    context = doc.get("context", {})
    if not isinstance(context, dict):
        raise invalid(f"Example must be JSON object but got JSON {type(context).__name__}")
    by_name = {spec["name"]: spec for spec in specs}
    columns: dict[str, list[Any]] = {name: [] for name in by_name}
    for i, example in enumerate(examples):
        if not isinstance(example, dict):
            raise invalid(f"Example must be JSON object but got JSON {_show(example)}")
        # look features up in the example, then the context: merging the two
        # per example would cost len(context) each time (quadratic in the body)
        for name in by_name:
            if name in example or name in context:
                columns[name].append(example[name] if name in example else context[name])
            elif feature_names and len(by_name) == 1:
                missing = [f for f in feature_names if f not in example and f not in context]
                if missing:
                    raise invalid(f"example {i}: missing feature(s) {', '.join(missing[:5])}")
                columns[name].append([_scalar(example[f] if f in example else context[f], f)
                                      for f in feature_names])
            else:
                raise invalid(f"example {i}: missing feature {name!r} (the model's inputs: "
                              f"{', '.join(by_name)})")
    arrays = {name: to_array(values, by_name[name], f"'examples' feature '{name}'")
              for name, values in columns.items()}
    for name, arr in arrays.items():
        _check_shape(arr, by_name[name], f"input '{name}'")
    return arrays


def _scalar(value: Any, name: str) -> Any:
    if isinstance(value, list):
        if len(value) != 1:
            raise invalid(f"Feature: {name} must hold one value, got {len(value)}")
        return value[0]
    return value


def classify_results(
    outputs: Mapping[str, np.ndarray], classes: Sequence[Any] | None
) -> dict[str, Any]:
    """``{"results": [[[label, score], ...] per example]}`` from a classifier's outputs."""
    proba = outputs.get("probabilities")
    if proba is None:
        raise ServeError("FAILED_PRECONDITION",
                         "classify needs a model with a 'probabilities' output; use :predict")
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2:
        raise ServeError("INTERNAL", f"'probabilities' has shape {list(proba.shape)}, "
                                     "expected [batch, classes]")
    labels = [str(c) for c in classes] if classes else [str(i) for i in range(proba.shape[1])]
    if len(labels) != proba.shape[1]:
        raise ServeError("INTERNAL", f"{len(labels)} class labels for {proba.shape[1]} "
                                     "probability columns")
    return {"results": [[[label, score] for label, score in zip(labels, row, strict=True)]
                        for row in proba.tolist()]}


def regress_results(outputs: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """``{"results": [value per example]}`` from a regressor's (first) output."""
    name = "prediction" if "prediction" in outputs else next(iter(outputs))
    values = np.asarray(outputs[name])
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1 or values.dtype.kind not in "iuf":
        raise ServeError("FAILED_PRECONDITION",
                         f"regress needs one number per example; output '{name}' has shape "
                         f"{list(values.shape)} and dtype {values.dtype}; use :predict")
    return {"results": values.astype(np.float64).tolist()}


def dumps(doc: Any) -> bytes:
    """Serialize an answer (NaN and infinities as TF Serving writes them)."""
    return json.dumps(doc, separators=(",", ":")).encode("utf-8")
