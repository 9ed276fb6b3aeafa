"""scikit-learn estimators and pipelines -> ONNX through skl2onnx.

Conventions of the artifacts (what :class:`calipers_onnx.OnnxExporter` records):

- Classifiers are converted with ``zipmap=False``: outputs ``label`` (the class
  labels, int64 or string) and ``probabilities`` (float32, ``[n, n_classes]``),
  plain tensors. The class labels are in the manifest's ``classes`` and in the
  ONNX model's metadata (``calipers.classes``, JSON). Classifiers without
  ``predict_proba`` (SVC without probability, LinearSVC, RidgeClassifier) give
  ``label`` and ``scores`` (skl2onnx's decision scores) instead.
- Regressors give ``prediction`` (``[n]`` for one target, as ``predict`` does);
  transformers give ``transform``.
- Inputs: one array sample is the input ``X``; a pandas DataFrame (mixed dtypes:
  numbers and strings for a ColumnTransformer) gives one input per column, named
  after the column, shaped ``[n, 1]``. Floating-point inputs are float32 (ONNX
  ML operators compute in float32): the model and the artifact are compared on
  the same float32 values, and the manifest's ``options.input_conversion``
  records each conversion.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from calipers._extras import require
from calipers.export._manifest import jsonable, library_versions, tensor_spec
from calipers.export._outputs import (
    DEFAULT_INPUT,
    estimator_outputs,
    estimator_task,
    model_type,
)
from calipers_onnx._inputs import named_inputs
from calipers_onnx._runtime import graph_specs, normalize_opsets

_convert_lock = threading.Lock()


def is_sklearn_model(model: Any) -> bool:
    """Whether ``model`` is a scikit-learn estimator (judged without importing sklearn)."""
    if not any(c.__module__.split(".")[0] == "sklearn" for c in type(model).__mro__):
        return False
    return hasattr(model, "fit") and (hasattr(model, "predict") or hasattr(model, "transform"))


def onnx_input_types(
    inputs: Mapping[str, np.ndarray], conversions: dict[str, str]
) -> dict[str, np.ndarray]:
    """The arrays as the ONNX graph takes them (named_inputs did floats and strings).

    A single integer matrix is the ``X`` of a numeric estimator: float32. Integer
    columns of a DataFrame stay integers (int64), for encoders of integer
    categories.
    """
    out = {}
    for name, arr in inputs.items():
        if arr.dtype.kind in "iu":
            target = np.float32 if len(inputs) == 1 else np.int64
            if arr.dtype != target:
                conversions[name] = f"{arr.dtype.name} -> {np.dtype(target).name}"
                arr = arr.astype(target)
        out[name] = arr
    return out


def sklearn_outputs(model: Any, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The estimator's outputs (``label``/``probabilities``, ``prediction``...) on inputs.

    Several inputs are the columns of a DataFrame (see the module docstring).
    """
    if len(inputs) == 1:
        x = next(iter(inputs.values()))
    else:
        pd = require("pandas", feature="exporting DataFrame models", extra="sklearn")
        x = pd.DataFrame({name: _unwrap(arr, name) for name, arr in inputs.items()})
    outputs = estimator_outputs(model, x)
    if "probabilities" in outputs:
        outputs["probabilities"] = np.asarray(outputs["probabilities"])
    return outputs


def _unwrap(arr: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim == 2 and arr.shape[1] == 1:
        return arr[:, 0]
    if arr.ndim == 1:
        return arr
    raise ValueError(
        f"input {name!r}: a column input must have shape [n, 1], got {list(arr.shape)}"
    )


def _initial_types(inputs: Mapping[str, np.ndarray]) -> list[tuple[str, Any]]:
    from skl2onnx.common.data_types import (
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )

    kinds = {np.dtype(np.float32): FloatTensorType, np.dtype(np.float64): DoubleTensorType,
             np.dtype(np.int64): Int64TensorType}
    types = []
    for name, arr in inputs.items():
        shape = [None, *arr.shape[1:]]
        if arr.dtype.kind == "O":
            types.append((name, StringTensorType(shape)))
        elif arr.dtype in kinds:
            types.append((name, kinds[arr.dtype](shape)))
        else:
            raise TypeError(f"input {name!r}: dtype {arr.dtype} has no ONNX converter type")
    return types


@contextlib.contextmanager
def _int_tree_flags() -> Iterator[None]:
    """Convert under a fix for skl2onnx passing Python bools as ONNX int attributes.

    skl2onnx (1.20) gives HistGradientBoosting leaves ``missing_tracks_true=False``;
    protobuf 7 refuses bools in integer fields. The flag is cast to int while
    converting; nothing else changes, and skl2onnx is restored afterwards.
    """
    from skl2onnx.common import tree_ensemble

    original = tree_ensemble.add_node

    def add_node(*args: Any, **kwargs: Any) -> Any:
        flag = kwargs.get("nodes_missing_value_tracks_true")
        if isinstance(flag, (bool, np.bool_)):
            kwargs["nodes_missing_value_tracks_true"] = int(flag)
        return original(*args, **kwargs)

    with _convert_lock:
        tree_ensemble.add_node = add_node
        try:
            yield
        finally:
            tree_ensemble.add_node = original


def _classifier_options(model: Any) -> dict[int, dict[str, Any]]:
    """``zipmap=False`` for the model and its final classifier (pipelines)."""
    options = {}
    node = model
    while node is not None:
        if estimator_task(node) == "classifier":
            options[id(node)] = {"zipmap": False}
        steps = getattr(node, "steps", None)
        node = steps[-1][1] if steps else None
    return options


def rename_outputs(onx: Any, mapping: Mapping[str, str]) -> None:
    """Rename graph outputs (and every node reference to them) in place."""
    for value in onx.graph.output:
        if value.name in mapping:
            value.name = mapping[value.name]
    for node in onx.graph.node:
        for i, name in enumerate(node.output):
            if name in mapping:
                node.output[i] = mapping[name]
        for i, name in enumerate(node.input):
            if name in mapping:
                node.input[i] = mapping[name]


def _flatten_output(onx: Any, name: str) -> None:
    """Make output ``name`` (``[n, 1]``) one-dimensional, as ``predict`` returns it."""
    from onnx import TensorProto, helper, numpy_helper

    inner = f"{name}_2d"
    rename_outputs(onx, {name: inner})
    shape = numpy_helper.from_array(np.array([-1], dtype=np.int64), f"{name}_shape")
    onx.graph.initializer.append(shape)
    onx.graph.node.append(helper.make_node("Reshape", [inner, shape.name], [name],
                                           name=f"{name}_flatten"))
    out = next(v for v in onx.graph.output if v.name == inner)
    elem = out.type.tensor_type.elem_type or TensorProto.FLOAT
    out.CopyFrom(helper.make_tensor_value_info(name, elem, [None]))


def _convert(model: Any, inputs: Mapping[str, np.ndarray], opset: int) -> Any:
    """skl2onnx's graph of ``model`` (zipmap off where the converter has the option)."""
    from skl2onnx import convert_sklearn

    options = _classifier_options(model)
    with _int_tree_flags():
        for attempt in range(2):
            try:
                return convert_sklearn(
                    model,
                    initial_types=_initial_types(inputs),
                    options=options,
                    target_opset={"": opset, "ai.onnx.ml": 3},
                )
            except NameError as exc:
                # Converters without a ZipMap (LinearSVC...) refuse the option: their
                # outputs are plain tensors already.
                if attempt or "zipmap" not in str(exc):
                    raise _conversion_error(model, exc) from exc
                options = {}
            except Exception as exc:
                raise _conversion_error(model, exc) from exc
    raise AssertionError("unreachable")  # pragma: no cover


def _conversion_error(model: Any, exc: Exception) -> TypeError:
    return TypeError(f"skl2onnx cannot convert {model_type(model)}: {type(exc).__name__}: "
                     f"{str(exc)[:500]}")


def export_sklearn(
    model: Any, path: pathlib.Path, sample: Any, *, opset: int, file: str, **options: Any
) -> dict[str, Any]:
    """Convert a fitted scikit-learn model to ``path/file``; return the manifest fields."""
    require("skl2onnx", feature="exporting scikit-learn models to ONNX", extra="onnx")
    import onnx

    if options:
        raise TypeError(f"unknown option(s) for ONNX export of scikit-learn models: "
                        f"{sorted(options)}; it takes opset")
    conversions: dict[str, str] = {}
    inputs = onnx_input_types(named_inputs(sample, conversions=conversions), conversions)
    task = estimator_task(model)
    onx = _convert(model, inputs, opset)
    normalize_opsets(onx, opset)
    names = [o.name for o in onx.graph.output]
    classes = getattr(model, "classes_", None) if task == "classifier" else None
    if task == "classifier":
        if names[:2] != ["label", "probabilities"]:
            raise TypeError(f"skl2onnx gave outputs {names} for classifier "
                            f"{model_type(model)}; expected label and probabilities")
        reference = sklearn_outputs(model, {k: v[:2] for k, v in inputs.items()})
        if "probabilities" not in reference:
            # No predict_proba (SVC without probability, LinearSVC, RidgeClassifier):
            # skl2onnx's second output holds decision scores, not probabilities.
            rename_outputs(onx, {"probabilities": "scores"})
    elif len(names) == 1:
        target = "prediction" if hasattr(model, "predict") else "transform"
        rename_outputs(onx, {names[0]: target})
        reference = sklearn_outputs(model, {k: v[:2] for k, v in inputs.items()})
        if target == "prediction" and reference[target].ndim == 1:
            _flatten_output(onx, target)
    meta = {"calipers.task": task, "calipers.model_type": model_type(model)}
    if classes is not None:
        meta["calipers.classes"] = json.dumps(jsonable(classes, "classes_"))
    for key, value in meta.items():
        onx.metadata_props.add(key=key, value=value)
    onnx.save_model(onx, str(path / file))
    return {
        "model_type": model_type(model),
        "task": task,
        "classes": jsonable(classes, "classes_") if classes is not None else None,
        "inputs": [tensor_spec(name, arr) for name, arr in inputs.items()],
        "outputs": graph_specs(onx.graph.output),
        "libraries": library_versions("onnx", "onnxruntime", "skl2onnx", "scikit-learn"),
        "options": {
            "file": file,
            "source": "sklearn",
            "opset": opset,
            "zipmap": False,
            "input_conversion": conversions,
            "input_layout": "X" if list(inputs) == [DEFAULT_INPUT] else "columns",
        },
    }
