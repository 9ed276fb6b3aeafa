"""Running a SavedModel artifact in-process (``calipers.load`` -> :class:`SavedModelRunner`).

A SavedModel is a TensorFlow program: its graph can hold ops that read or write
files or call back into Python. Before ``tf.saved_model.load`` runs anything,
:func:`unsafe_ops` reads ``saved_model.pb`` as a protobuf and lists such ops
reachable from the serving signature and from ``__saved_model_init_op`` (which
``tf.saved_model.load`` runs: table and asset initializers), following every
function the graph calls; unless the caller passed ``trusted=True``, an artifact holding any of
them is refused. The artifact core has already checked every file's sha256.
"""

from __future__ import annotations

import pathlib
import re
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from calipers.errors import ArtifactError

INIT_SIGNATURE = "__saved_model_init_op"

#: Ops refused in the serving signature of an untrusted SavedModel: file system
#: access, checkpoint I/O, Python callbacks, readers/datasets, summaries, printing.
UNSAFE_OPS = frozenset({
    "ReadFile", "WriteFile", "MatchingFiles", "DeleteFile", "ImmutableConst",
    "PyFunc", "PyFuncStateless", "EagerPyFunc", "Save", "SaveV2", "SaveSlices", "Restore",
    "RestoreV2", "RestoreSlice", "MergeV2Checkpoints", "ShardedFilename", "Print", "PrintV2",
    "DecodeProtoV2", "LoadAndRemapMatrix", "InitializeTableFromTextFile",
    "InitializeTableFromTextFileV2", "GenerateVocabRemapping",
})
_UNSAFE = re.compile(r"Reader|Dataset|Summary|File|Checkpoint|PyFunc|Iterator|Socket|Http")


def _functions(attr: Any) -> list[str]:
    names = []
    if attr.HasField("func"):
        names.append(attr.func.name)
    if attr.HasField("list"):
        names.extend(f.name for f in attr.list.func)
    return names


def signature_ops(saved_model_pb: bytes, signature: str, tags: tuple[str, ...] = ("serve",)
                  ) -> set[str]:
    """Every op type reachable from ``signature``'s outputs in a ``saved_model.pb``.

    The outputs of the load-time ``__saved_model_init_op`` signature, when the
    graph has one, are followed too: loading runs them.

    Raises
    ------
    ArtifactError
        If the file does not parse, or holds no meta graph with ``tags`` and
        ``signature``.
    """
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    try:
        saved.ParseFromString(saved_model_pb)
    except DecodeError as exc:
        raise ArtifactError(f"saved_model.pb does not parse: {exc}") from None
    graphs = [g for g in saved.meta_graphs if set(tags) <= set(g.meta_info_def.tags)]
    graph = next((g for g in graphs if signature in g.signature_def), None)
    if graph is None:
        raise ArtifactError(f"saved_model.pb has no meta graph tagged {list(tags)} with "
                            f"signature {signature!r}")
    nodes = {node.name: node for node in graph.graph_def.node}
    library = {f.signature.name: f for f in graph.graph_def.library.function}
    ops: set[str] = set()
    seen_nodes: set[str] = set()
    seen_functions: set[str] = set()
    starts = [signature, *([INIT_SIGNATURE] if INIT_SIGNATURE in graph.signature_def else [])]
    node_stack = [info.name.split(":")[0] for name in starts
                  for info in graph.signature_def[name].outputs.values()]
    function_stack: list[str] = []
    while node_stack or function_stack:
        if node_stack:
            name = node_stack.pop().lstrip("^").split(":")[0]
            if name in seen_nodes or name not in nodes:
                continue
            seen_nodes.add(name)
            node = nodes[name]
            ops.add(node.op)
            node_stack.extend(node.input)
            for attr in node.attr.values():
                function_stack.extend(_functions(attr))
            function_stack.append(node.op)  # an op may itself be a library function
            continue
        fname = function_stack.pop()
        if fname in seen_functions or fname not in library:
            continue
        seen_functions.add(fname)
        for node in library[fname].node_def:
            ops.add(node.op)
            function_stack.append(node.op)
            for attr in node.attr.values():
                function_stack.extend(_functions(attr))
    return {op for op in ops if op not in library}


def unsafe_ops(ops: set[str]) -> list[str]:
    """The ops of ``ops`` refused in untrusted artifacts (see :data:`UNSAFE_OPS`)."""
    return sorted(op for op in ops if op in UNSAFE_OPS or _UNSAFE.search(op))


class SavedModelRunner:
    """Runs a SavedModel's signature on named numpy inputs (thread-safe).

    Parameters
    ----------
    path : pathlib.Path
        The artifact directory (``saved_model.pb`` and ``variables/``).
    manifest : dict
        Its checked manifest (input dtypes, the signature name).
    trusted : bool
        Load even when the signature holds file-system or Python ops.

    Raises
    ------
    calipers.errors.ArtifactError
        If the SavedModel is malformed, lacks the signature, or holds unsafe ops
        and ``trusted`` is False.
    """

    def __init__(self, path: pathlib.Path, manifest: Mapping[str, Any], trusted: bool) -> None:
        options = manifest.get("options") or {}
        self.signature_name = options.get("signature", "serving_default")
        tags = tuple(options.get("tags") or ("serve",))
        pb = pathlib.Path(path) / "saved_model.pb"
        if not pb.is_file():
            raise ArtifactError(f"artifact {path}: saved_model.pb is missing")
        if not trusted:
            try:
                ops = signature_ops(pb.read_bytes(), self.signature_name, tags)
            except ArtifactError as exc:
                raise ArtifactError(f"artifact {path}: {exc}") from None
            bad = unsafe_ops(ops)
            if bad:
                raise ArtifactError(
                    f"artifact {path}: its {self.signature_name!r} signature (or load-time "
                    "initializer) uses ops that can "
                    f"touch files or run Python ({', '.join(bad)}); load it with trusted=True "
                    "only if you trust where it came from"
                )
        import tensorflow as tf

        self._tf = tf
        try:
            self._loaded = tf.saved_model.load(str(path), tags=list(tags))
            self._fn = self._loaded.signatures[self.signature_name]
        except KeyError:
            raise ArtifactError(f"artifact {path}: no signature {self.signature_name!r}"
                                ) from None
        except Exception as exc:  # TF raises many types for a broken SavedModel
            raise ArtifactError(f"artifact {path}: TensorFlow cannot load it: "
                                f"{type(exc).__name__}: {exc}") from None
        _, kwargs = self._fn.structured_input_signature
        self._dtypes = {name: spec.dtype for name, spec in kwargs.items()}
        self._lock = threading.Lock()

    @property
    def input_names(self) -> list[str]:
        return list(self._dtypes)

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``{output: array}`` of the signature for ``{input: array}``."""
        from calipers_tfserving._export import to_numpy

        missing = [n for n in self._dtypes if n not in inputs]
        extra = sorted(set(inputs) - set(self._dtypes))
        if missing or extra:
            raise ValueError(f"the signature {self.signature_name!r} takes inputs "
                             f"{self.input_names}; missing {missing}, unknown {extra}")
        tf = self._tf
        tensors = {n: tf.convert_to_tensor(np.asarray(inputs[n]), dtype=self._dtypes[n])
                   for n in self._dtypes}
        fn = self._fn
        if fn is None:
            raise ValueError("this runner was closed")
        result = fn(**tensors)
        return {k: to_numpy(v) for k, v in result.items()}

    def close(self) -> None:
        """Drop the loaded graph (TensorFlow frees it with the last reference)."""
        with self._lock:
            self._fn = None
            self._loaded = None
