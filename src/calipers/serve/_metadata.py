"""Status and metadata answers, laid out as TensorFlow Serving writes them.

TF Serving prints these protobuf messages with protobuf's JSON printer
(whitespace on, one space of indent per level, every field present, int64 as
strings): :func:`status_json` is byte-compatible with its
``GetModelStatusResponse``; :func:`metadata_json` follows its hand-assembled
``{"model_spec": ..., "metadata": {"signature_def": ...}}`` with a
``serving_default`` signature built from the manifest's input/output specs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from calipers.serve._registry import Version

#: numpy dtype name -> TensorFlow DataType enum name.
TF_DTYPES: dict[str, str] = {
    "float32": "DT_FLOAT", "float64": "DT_DOUBLE", "float16": "DT_HALF",
    "int8": "DT_INT8", "int16": "DT_INT16", "int32": "DT_INT32", "int64": "DT_INT64",
    "uint8": "DT_UINT8", "uint16": "DT_UINT16", "uint32": "DT_UINT32", "uint64": "DT_UINT64",
    "bool": "DT_BOOL", "str": "DT_STRING", "object": "DT_STRING", "string": "DT_STRING",
    "bytes": "DT_STRING", "complex64": "DT_COMPLEX64", "complex128": "DT_COMPLEX128",
}


def _proto_json(obj: Any) -> str:
    # protobuf's printer: "key": value, one-space indent per level.
    return json.dumps(obj, indent=1, ensure_ascii=False)


def status_json(versions: Sequence[Version]) -> bytes:
    """A ``GetModelStatusResponse`` for ``versions``, highest first (as TF lists them)."""
    entries = []
    for entry in sorted(versions, key=lambda v: v.version, reverse=True):
        if entry.available:
            state, code, message = "AVAILABLE", "OK", ""
        else:
            state, code, message = "END", "UNKNOWN", entry.error
        entries.append({"version": str(entry.version), "state": state,
                        "status": {"error_code": code, "error_message": message}})
    return (_proto_json({"model_version_status": entries}) + "\n").encode("utf-8")


def _tensor_info(spec: Mapping[str, Any]) -> dict[str, Any]:
    shape = spec.get("shape")
    info: dict[str, Any] = {
        "dtype": TF_DTYPES.get(str(spec.get("dtype")), "DT_INVALID"),
        "tensor_shape": {
            "dim": [{"size": "-1" if d is None else str(int(d)), "name": ""}
                    for d in (shape or [])],
            "unknown_rank": shape is None,
        },
        "name": f"{spec['name']}:0",
    }
    return info


def signature_def(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The ``SignatureDefMap`` TF Serving would report for this artifact."""
    # Every artifact answers :predict; classify/regress are extra verbs here.
    method = "tensorflow/serving/predict"
    return {"signature_def": {"serving_default": {
        "inputs": {s["name"]: _tensor_info(s) for s in manifest.get("inputs", [])},
        "outputs": {s["name"]: _tensor_info(s) for s in manifest.get("outputs", [])},
        "method_name": method,
        "defaults": {},
    }}}


def metadata_json(entry: Version) -> bytes:
    """A ``GetModelMetadataResponse`` for one loaded version."""
    manifest = entry.manifest
    spec = {"name": entry.name, "signature_name": "", "version": str(entry.version)}
    extra = {key: manifest.get(key) for key in
             ("format", "task", "classes", "model_type", "created", "metrics")}
    text = (
        "{\n"
        f'"model_spec":{_proto_json(spec)},\n'
        f'"metadata": {{"signature_def": {_proto_json(signature_def(manifest))}, '
        f'"calipers": {_proto_json(extra)}}}\n'
        "}\n"
    )
    return text.encode("utf-8")
