"""calipers' first-party ONNX plugin: the ``onnx`` exporter, its runner, quantization.

``calipers.export(model, "onnx", path, sample=X)`` converts

- scikit-learn estimators and pipelines through skl2onnx (classifiers with
  ``zipmap=False``: outputs ``label`` and ``probabilities``; regressors
  ``prediction``; DataFrames with mixed dtypes as one input per column; float
  inputs as float32), see :mod:`calipers_onnx._sklearn`;
- ``torch.nn.Module`` through ``torch.onnx.export`` (a dynamic batch axis, an
  explicit opset, named outputs), see :mod:`calipers_onnx._torch`;
- ``onnx.ModelProto`` models as they are (task, classes and model_type as
  options).

``calipers.load`` runs the artifact with onnxruntime on ``CPUExecutionProvider``
(:class:`OnnxRunner`, :func:`configure_runtime` for threads and graph
optimization). Loading an ONNX model runs no code from the artifact; tensors
stored outside the model file must lie inside the artifact directory.
``calipers.verify`` defaults to ``rtol=1e-3``, ``atol=1e-5`` on scores and a
label agreement of at least 0.99 (recorded in each manifest's ``tolerance``).
:func:`quantize` writes an int8 copy of an artifact and reports its size, latency
and metrics against the original; :class:`OnnxExporter` declares it as its
``quantize`` capability, which is how ``calipers.quantize`` reaches it (through
the registry, never by importing this package).

The entry point exists whether or not the ``onnx`` extra is installed: this
module imports only numpy and calipers; onnx, onnxruntime, skl2onnx and torch
are imported when a model is exported or loaded.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

import calipers
from calipers.errors import ArtifactError
from calipers.export import Exporter
from calipers_onnx._runtime import OnnxRunner, configure_runtime, graph_specs

__all__ = [
    "DEFAULT_OPSET",
    "OnnxExporter",
    "OnnxRunner",
    "configure_runtime",
    "quantize",
    "register_exporter",
]

#: module -> calipers extra that installs it (read by the plugin host).
__calipers_requires__ = {"onnx": "onnx", "onnxruntime": "onnx", "skl2onnx": "onnx"}

#: The ai.onnx opset of exported graphs unless ``opset=`` says otherwise.
DEFAULT_OPSET = 18
#: Parity tolerances of ONNX artifacts (float32 graphs against float64 models).
ONNX_TOLERANCE: dict[str, float] = {"rtol": 1e-3, "atol": 1e-5, "min_label_agreement": 0.99}


def _is_model_proto(model: Any) -> bool:
    return type(model).__name__ == "ModelProto" and hasattr(model, "graph")


def _check_opset(opset: Any) -> int:
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or opset < 7:
        raise ValueError(f"opset must be an integer >= 7, got {opset!r}")
    return int(opset)


class OnnxExporter(Exporter):
    """Exports scikit-learn models, torch modules and ONNX models as ``model.onnx``.

    Options of ``calipers.export(model, "onnx", path, sample=X, **options)``:

    - ``opset`` (int, default :data:`DEFAULT_OPSET`): the ai.onnx opset.
    - ``tolerance`` (dict): parity tolerances to record instead of
      :data:`ONNX_TOLERANCE`.
    - torch only: ``exporter`` (``"auto"``, ``"dynamo"``, ``"torchscript"``),
      ``output_names`` (default ``output`` or ``output_0``, ``output_1``...).
    - ONNX models only: ``task``, ``classes``, ``model_type``, ``source``
      (JSON-safe provenance, e.g. what :func:`quantize` records).
    """

    name: ClassVar[str] = "onnx"
    formats: ClassVar[tuple[str, ...]] = ("onnx",)
    tolerance: ClassVar[dict[str, float]] = dict(ONNX_TOLERANCE)
    #: :meth:`quantize` (``calipers.quantize`` finds it through the registry).
    capabilities: ClassVar[frozenset[str]] = frozenset({"quantize", "runtime_threads"})
    file_name: ClassVar[str] = "model.onnx"

    def __init__(self) -> None:
        # Output names of the model being exported or the artifact loaded: the
        # names model_outputs gives a torch module's outputs.
        self._output_names: list[str] | None = None
        self._proto_runner: tuple[int, OnnxRunner] | None = None

    def supports(self, model: Any) -> bool:
        """Whether ``model`` is a scikit-learn estimator, a torch module or an ONNX model."""
        from calipers_onnx._sklearn import is_sklearn_model
        from calipers_onnx._torch import is_torch_module

        return is_sklearn_model(model) or is_torch_module(model) or _is_model_proto(model)

    def export(self, model: Any, path: str | pathlib.Path, sample: Any, **options: Any
               ) -> dict[str, Any]:
        """Write ``path/model.onnx``; return the manifest fields (see the class docstring)."""
        from calipers_onnx._sklearn import export_sklearn, is_sklearn_model
        from calipers_onnx._torch import export_torch, is_torch_module

        path = pathlib.Path(path)
        opset = _check_opset(options.pop("opset", DEFAULT_OPSET))
        tolerance = options.pop("tolerance", None)
        if is_torch_module(model):
            fields = export_torch(model, path, sample, opset=opset, file=self.file_name,
                                  **options)
        elif is_sklearn_model(model):
            fields = export_sklearn(model, path, sample, opset=opset, file=self.file_name,
                                    **options)
        elif _is_model_proto(model):
            fields = self._export_proto(model, path, **options)
        else:
            raise TypeError(
                f"the onnx exporter takes scikit-learn estimators, torch.nn.Module and "
                f"onnx.ModelProto models, not {type(model).__module__}."
                f"{type(model).__qualname__}"
            )
        if tolerance is not None:
            if not isinstance(tolerance, Mapping):
                raise TypeError(f"tolerance must be a dict, got {tolerance!r}")
            fields["tolerance"] = {**self.tolerance, **tolerance}
        outputs = fields.get("outputs")
        self._output_names = [spec["name"] for spec in outputs] if outputs else None
        return fields

    def _export_proto(self, model: Any, path: pathlib.Path, *, task: str = "other",
                      classes: Sequence[Any] | None = None, model_type: str | None = None,
                      source: Mapping[str, Any] | None = None, **options: Any
                      ) -> dict[str, Any]:
        import onnx

        from calipers.export._manifest import library_versions

        if options:
            raise TypeError(f"unknown option(s) for ONNX models: {sorted(options)}; it takes "
                            "opset, tolerance, task, classes, model_type and source")
        onnx.save_model(model, str(path / self.file_name))
        return {
            "model_type": model_type or "onnx.ModelProto",
            "task": task,
            "classes": list(classes) if classes is not None else None,
            "inputs": graph_specs(model.graph.input),
            "libraries": library_versions("onnx", "onnxruntime"),
            "options": {"file": self.file_name, "source": dict(source or {"kind": "onnx"})},
        }

    def prepare_inputs(self, sample: Any, names: list[str] | None = None) -> dict[str, np.ndarray]:
        """Named inputs from an array, tensor, tuple, dict or DataFrame (floats as float32)."""
        from calipers_onnx._inputs import named_inputs

        return named_inputs(sample, names)

    def model_outputs(self, model: Any, inputs: Mapping[str, np.ndarray]
                      ) -> dict[str, np.ndarray]:
        """The original model's outputs under the artifact's output names."""
        from calipers_onnx._sklearn import sklearn_outputs
        from calipers_onnx._torch import is_torch_module, torch_outputs

        if is_torch_module(model):
            return torch_outputs(model, inputs, self._output_names)
        if _is_model_proto(model):
            if self._proto_runner is None or self._proto_runner[0] != id(model):
                self._proto_runner = (id(model), OnnxRunner(model.SerializeToString()))
            return self._proto_runner[1].run(inputs)
        return sklearn_outputs(model, inputs)

    def load(self, path: pathlib.Path, manifest: dict[str, Any], trusted: bool) -> OnnxRunner:
        """An onnxruntime session over ``model.onnx`` (ONNX files run no code: any trust)."""
        from calipers_onnx._runtime import load_runner

        if manifest.get("format") != "onnx":
            raise ArtifactError(f"artifact {path}: format {manifest.get('format')!r} is not onnx")
        self._output_names = [spec["name"] for spec in manifest.get("outputs") or []] or None
        return load_runner(path, manifest)

    @classmethod
    def runtime_threads(cls, intra_op_threads: Any = ...) -> int | None:
        """Read (no argument) or set the intra-op threads of onnxruntime sessions
        created from now on; setting returns the previous value (``None``: unset,
        onnxruntime's own default). The ``runtime_threads`` capability that
        ``calipers serve --intra-op-threads`` uses through the registry."""
        if intra_op_threads is ...:
            return configure_runtime()["intra_op_threads"]
        return configure_runtime(intra_op_threads=intra_op_threads)["intra_op_threads"]

    def quantize(self, path: str | pathlib.Path, out: str | pathlib.Path, **options: Any
                 ) -> dict[str, Any]:
        """Write an int8 copy of the ONNX artifact at ``path`` to ``out``; return the report.

        What ``calipers.quantize`` calls for ONNX artifacts: see :func:`quantize`
        (``calipers_onnx._quantize.quantize``) for the options and the report.
        """
        return quantize(path, out, **options)


def quantize(path: str | pathlib.Path, out: str | pathlib.Path, **kwargs: Any) -> dict[str, Any]:
    """Write an int8-quantized copy of the ONNX artifact at ``path`` to ``out``.

    Takes ``mode`` (``"dynamic"`` or ``"static"``), ``calibration``,
    ``eval_data``, ``metrics`` and more: see :func:`calipers_onnx._quantize.quantize`,
    which this calls, for the parameters and the report it returns.
    """
    from calipers_onnx._quantize import quantize as _quantize

    return _quantize(path, out, **kwargs)


@calipers.hookimpl
def register_exporter() -> list[type[Exporter]]:
    """Provide :class:`OnnxExporter` (name ``"onnx"``)."""
    return [OnnxExporter]
