"""``torch.nn.Module`` -> ONNX: named inputs and outputs, a dynamic batch axis.

Two exporters of torch can write the graph, both offline:

- ``"dynamo"``: ``torch.onnx.export(..., dynamo=True)`` (torch.export, the
  default exporter since torch 2.9); needs ``onnxscript`` (in the ``onnx``
  extra).
- ``"torchscript"``: the TorchScript tracer (``dynamo=False``), deprecated by
  torch but fast and without extra dependencies.

``exporter="auto"`` (the default) takes ``"dynamo"`` when onnxscript is
installed, else ``"torchscript"``. The opset is always chosen explicitly
(``opset``, default :data:`calipers_onnx.DEFAULT_OPSET`) and axis 0 of every
input and output is the dynamic ``batch`` axis.
"""

from __future__ import annotations

import contextlib
import io
import pathlib
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from calipers._extras import available, require
from calipers.export._manifest import library_versions, tensor_spec
from calipers.export._outputs import model_type
from calipers_onnx._inputs import named_inputs

EXPORTERS = ("auto", "dynamo", "torchscript")
#: Input name of a single-input module.
DEFAULT_TORCH_INPUT = "input"


def is_torch_module(model: Any) -> bool:
    """Whether ``model`` is a ``torch.nn.Module`` (False when torch was never imported)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, torch.nn.Module)


def _param_dtype(model: Any) -> Any:
    torch = sys.modules["torch"]
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


@contextlib.contextmanager
def _eval_mode(model: Any) -> Iterator[None]:
    """Evaluation mode without gradients; the module's training flag is restored."""
    torch = sys.modules["torch"]
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(training)


def _as_tuple(result: Any) -> tuple[Any, ...]:
    torch = sys.modules["torch"]
    if isinstance(result, torch.Tensor):
        return (result,)
    if isinstance(result, (tuple, list)) and all(isinstance(r, torch.Tensor) for r in result):
        return tuple(result)
    raise TypeError(
        f"the module must return a tensor or a tuple of tensors, got {type(result).__name__}"
    )


def torch_outputs(
    model: Any, inputs: Mapping[str, np.ndarray], names: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """Run ``model`` on the named inputs (in order); return named numpy outputs."""
    torch = require("torch", feature="exporting torch modules", extra="torch")
    dtype = _param_dtype(model)
    tensors = []
    for arr in inputs.values():
        t = torch.from_numpy(np.ascontiguousarray(arr))
        tensors.append(t.to(dtype) if t.is_floating_point() else t)
    with _eval_mode(model):
        results = _as_tuple(model(*tensors))
    names = list(names) if names is not None else default_output_names(len(results))
    if len(names) != len(results):
        raise ValueError(f"the module returns {len(results)} outputs but output_names has "
                         f"{len(names)}: {names}")
    return {n: r.detach().cpu().numpy() for n, r in zip(names, results, strict=True)}


def default_output_names(n: int) -> list[str]:
    """``["output"]`` for one output, ``["output_0", "output_1", ...]`` for several."""
    return ["output"] if n == 1 else [f"output_{i}" for i in range(n)]


def _resolve_exporter(exporter: str) -> str:
    if exporter not in EXPORTERS:
        raise ValueError(f"exporter must be one of {EXPORTERS}, got {exporter!r}")
    if exporter == "auto":
        return "dynamo" if available("onnxscript") else "torchscript"
    if exporter == "dynamo" and not available("onnxscript"):
        require("onnxscript", feature="torch's dynamo ONNX exporter", extra="onnx")
    return exporter


def export_torch(
    model: Any,
    path: pathlib.Path,
    sample: Any,
    *,
    opset: int,
    file: str,
    exporter: str = "auto",
    output_names: Sequence[str] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Export a module to ``path/file``; return the manifest fields."""
    torch = require("torch", feature="exporting torch modules", extra="torch")
    import onnx

    if options:
        raise TypeError(f"unknown option(s) for ONNX export of torch modules: {sorted(options)}; "
                        "it takes opset, exporter and output_names")
    kind = _resolve_exporter(exporter)
    inputs = named_inputs(sample, default=DEFAULT_TORCH_INPUT)
    outputs = torch_outputs(model, inputs, output_names)
    dtype = _param_dtype(model)
    args = []
    for arr in inputs.values():
        if len(arr) < 2:  # torch.export specializes a batch of 1: trace with two rows
            arr = np.concatenate([arr, arr])
        t = torch.from_numpy(np.ascontiguousarray(arr))
        args.append(t.to(dtype) if t.is_floating_point() else t)
    in_names, out_names = list(inputs), list(outputs)
    target = path / file
    with _eval_mode(model), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torchscript's deprecation
        warnings.simplefilter("ignore", FutureWarning)
        if kind == "dynamo":
            batch = torch.export.Dim("batch")
            with contextlib.redirect_stdout(io.StringIO()):
                torch.onnx.export(
                    model, tuple(args), str(target), dynamo=True, input_names=in_names,
                    output_names=out_names, opset_version=opset, external_data=False,
                    dynamic_shapes=tuple({0: batch} for _ in args), verbose=False,
                    report=False,
                )
        else:
            axes = {n: {0: "batch"} for n in [*in_names, *out_names]}
            torch.onnx.export(
                model, tuple(args), str(target), dynamo=False, input_names=in_names,
                output_names=out_names, opset_version=opset, dynamic_axes=axes,
                do_constant_folding=True,
            )
    onx = onnx.load(str(target))
    got = [o.name for o in onx.graph.output]
    if got != out_names:
        raise TypeError(f"torch exported outputs {got}, expected {out_names}")
    onx.metadata_props.add(key="calipers.model_type", value=model_type(model))
    onnx.save_model(onx, str(target))
    return {
        "model_type": model_type(model),
        "task": "other",
        "classes": None,
        "inputs": [tensor_spec(name, arr) for name, arr in inputs.items()],
        "outputs": [tensor_spec(name, arr) for name, arr in outputs.items()],
        "libraries": library_versions("onnx", "onnxruntime", "torch",
                                      *(["onnxscript"] if kind == "dynamo" else [])),
        "options": {
            "file": file,
            "source": "torch",
            "opset": opset,
            "torch_exporter": kind,
            "dynamic_axes": {n: {"0": "batch"} for n in [*in_names, *out_names]},
        },
    }
