"""Running ONNX models through onnxruntime: session options, the artifact runner.

Sessions run on ``CPUExecutionProvider`` only (no CUDA build is assumed). The
number of threads and the graph optimization level come from the process-wide
defaults (:func:`configure_runtime`), which per-runner arguments override.
"""

from __future__ import annotations

import os
import pathlib
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from calipers._extras import require
from calipers.errors import ArtifactError

#: Graph optimization levels by name (onnxruntime's GraphOptimizationLevel).
GRAPH_OPTIMIZATION = ("disable", "basic", "extended", "all")

_defaults: dict[str, Any] = {
    "intra_op_threads": None,
    "inter_op_threads": None,
    "graph_optimization": "all",
}
_lock = threading.Lock()
_NUMERIC = {
    "tensor(float)": np.dtype(np.float32),
    "tensor(double)": np.dtype(np.float64),
    "tensor(int64)": np.dtype(np.int64),
    "tensor(int32)": np.dtype(np.int32),
}


def _check_threads(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0 (0: onnxruntime decides), got {value!r}")
    return int(value)


def _check_level(value: Any) -> str:
    if value not in GRAPH_OPTIMIZATION:
        raise ValueError(f"graph_optimization must be one of {GRAPH_OPTIMIZATION}, got {value!r}")
    return value


_KEEP: Any = object()  # "argument not given": keep the setting


def configure_runtime(
    *,
    intra_op_threads: int | None = _KEEP,
    inter_op_threads: int | None = _KEEP,
    graph_optimization: str | None = _KEEP,
) -> dict[str, Any]:
    """Set the process-wide onnxruntime session defaults; return the previous ones.

    Parameters
    ----------
    intra_op_threads, inter_op_threads : int or None, optional
        Thread counts of new sessions (0 lets onnxruntime choose: as many
        intra-op threads as physical cores). ``None`` unsets a setting
        (onnxruntime's own default); leaving an argument out keeps it as it is.
        With several threads calling one session at once (a server), one
        intra-op thread each avoids oversubscribing the cores.
    graph_optimization : {"disable", "basic", "extended", "all"} or None, optional
        Graph optimization level of new sessions (``None``: the default, ``"all"``).

    Returns
    -------
    dict
        The settings before the call (``configure_runtime()`` changes nothing and
        returns the current ones); ``configure_runtime(**old)`` restores them.
    """
    with _lock:
        old = dict(_defaults)
        if intra_op_threads is not _KEEP:
            _defaults["intra_op_threads"] = _check_threads("intra_op_threads", intra_op_threads)
        if inter_op_threads is not _KEEP:
            _defaults["inter_op_threads"] = _check_threads("inter_op_threads", inter_op_threads)
        if graph_optimization is not _KEEP:
            _defaults["graph_optimization"] = (
                "all" if graph_optimization is None else _check_level(graph_optimization))
    return old


def session_options(
    intra_op_threads: int | None = None,
    inter_op_threads: int | None = None,
    graph_optimization: str | None = None,
) -> Any:
    """An ``onnxruntime.SessionOptions`` from the defaults and the given overrides."""
    ort = require("onnxruntime", feature="running ONNX models", extra="onnx")
    intra = _check_threads("intra_op_threads", intra_op_threads)
    inter = _check_threads("inter_op_threads", inter_op_threads)
    level = _check_level(graph_optimization or _defaults["graph_optimization"])
    options = ort.SessionOptions()
    intra = intra if intra is not None else _defaults["intra_op_threads"]
    inter = inter if inter is not None else _defaults["inter_op_threads"]
    if intra is not None:
        options.intra_op_num_threads = intra
    if inter is not None:
        options.inter_op_num_threads = inter
    levels = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    options.graph_optimization_level = levels[level]
    return options


def check_external_data(root: pathlib.Path, file: pathlib.Path) -> None:
    """Refuse a model whose tensors live in files outside the artifact directory.

    ONNX can keep large tensors in side files named inside the model; a name
    that is absolute or climbs out of the artifact would make onnxruntime read
    an arbitrary file. Only the model's structure is parsed (no tensor data).
    """
    import onnx

    try:
        model = onnx.load(str(file), load_external_data=False)
    except Exception as exc:
        raise ArtifactError(f"artifact {root}: {file.name} is not an ONNX model: {exc}") from None
    base = root.resolve()
    for tensor in _tensors(model.graph):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        target = (file.parent / location).resolve()
        if not location or os.path.isabs(location) or base not in (target, *target.parents):
            raise ArtifactError(
                f"artifact {root}: {file.name} reads tensor {tensor.name!r} from "
                f"{location!r}, outside the artifact; refusing to load it"
            )


def _tensors(graph: Any) -> Iterator[Any]:
    """Every TensorProto of a graph: initializers and node attributes, subgraphs too."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from _tensors(attr.g)
            for sub in attr.graphs:
                yield from _tensors(sub)


def normalize_opsets(onx: Any, default: int) -> None:
    """One opset per domain (the highest), and an ai.onnx one, in place.

    skl2onnx can list the ai.onnx domain twice, and graphs of ai.onnx.ml
    operators only may list none; onnxruntime.quantization wants exactly one.
    """
    versions: dict[str, int] = {}
    for entry in onx.opset_import:
        domain = "" if entry.domain == "ai.onnx" else entry.domain
        versions[domain] = max(versions.get(domain, 0), int(entry.version))
    versions.setdefault("", int(default))
    del onx.opset_import[:]
    for domain, version in versions.items():
        entry = onx.opset_import.add()
        entry.domain, entry.version = domain, version


def graph_specs(values: Any) -> list[dict[str, Any]]:
    """``[{"name", "dtype", "shape"}]`` of ONNX graph inputs or outputs."""
    from onnx import helper

    specs = []
    for value in values:
        tensor = value.type.tensor_type
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.elem_type))
        shape = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
        specs.append({"name": value.name, "dtype": "object" if dtype.kind == "O" else dtype.name,
                      "shape": shape})
    return specs


class OnnxRunner:
    """Runs an ONNX model with onnxruntime on ``CPUExecutionProvider``.

    Parameters
    ----------
    model : str, pathlib.Path or bytes
        The ``.onnx`` file (or its bytes).
    intra_op_threads, inter_op_threads, graph_optimization
        Session settings; unset ones come from :func:`configure_runtime`.

    Attributes
    ----------
    input_names, output_names : list of str
        The graph's inputs and outputs, in order.
    """

    def __init__(
        self,
        model: str | os.PathLike | bytes,
        *,
        intra_op_threads: int | None = None,
        inter_op_threads: int | None = None,
        graph_optimization: str | None = None,
    ) -> None:
        ort = require("onnxruntime", feature="running ONNX models", extra="onnx")
        options = session_options(intra_op_threads, inter_op_threads, graph_optimization)
        source = model if isinstance(model, bytes) else os.fspath(model)
        self.session = ort.InferenceSession(
            source, sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self._types = {i.name: i.type for i in self.session.get_inputs()}

    def feed(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        missing = [n for n in self.input_names if n not in inputs]
        extra = sorted(set(inputs) - set(self.input_names))
        if missing or extra:
            raise ValueError(
                f"the ONNX model takes inputs {self.input_names}; "
                + (f"missing {missing}" if missing else "")
                + ("; " if missing and extra else "")
                + (f"unknown {extra}" if extra else "")
            )
        feed = {}
        for name in self.input_names:
            arr = np.asarray(inputs[name])
            kind = self._types[name]
            if kind == "tensor(string)":
                if arr.dtype.kind != "O":
                    arr = arr.astype(object)  # onnxruntime takes strings as object arrays
            elif kind in _NUMERIC and arr.dtype != _NUMERIC[kind]:
                if not np.can_cast(arr.dtype, _NUMERIC[kind], "same_kind"):
                    raise ValueError(f"input {name!r} must be {_NUMERIC[kind].name}, got "
                                     f"{arr.dtype}")
                arr = arr.astype(_NUMERIC[kind])
            feed[name] = np.ascontiguousarray(arr)
        return feed

    def run(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Return ``{output name: array}`` for ``{input name: array}``."""
        if self.session is None:
            raise ValueError("this ONNX runner was closed")
        results = self.session.run(self.output_names, self.feed(inputs))
        return dict(zip(self.output_names, results, strict=True))

    def close(self) -> None:
        """Drop the onnxruntime session."""
        self.session = None


def load_runner(path: pathlib.Path, manifest: Mapping[str, Any]) -> OnnxRunner:
    """The runner of the artifact at ``path`` (hashes already checked by the host)."""
    require("onnxruntime", feature="loading ONNX artifacts", extra="onnx")
    options = manifest.get("options") or {}
    name = options.get("file", "model.onnx")
    if not isinstance(name, str) or "/" in name or "\\" in name or name.startswith("."):
        raise ArtifactError(f"artifact {path}: bad model file name {name!r} in the manifest")
    file = path / name
    if not file.is_file():
        raise ArtifactError(f"artifact {path}: model file {name!r} is missing")
    check_external_data(path, file)
    try:
        return OnnxRunner(file)
    except Exception as exc:
        raise ArtifactError(
            f"artifact {path}: onnxruntime cannot load {name}: {type(exc).__name__}: {exc}"
        ) from exc
