"""The gRPC transport of :class:`calipers_tfserving.Client` (``grpc://host:8500`` URLs).

Uses ``tensorflow-serving-api`` (the ``PredictionService`` and ``ModelService``
stubs and messages) and TensorFlow's tensor protos; answers are shaped as the REST
API's JSON so both transports return the same things.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from calipers.serve.client import ServingError

#: gRPC status code name -> the HTTP status TF Serving's REST API uses for it.
GRPC_HTTP = {"OK": 200, "CANCELLED": 499, "UNKNOWN": 500, "INVALID_ARGUMENT": 400,
             "DEADLINE_EXCEEDED": 504, "NOT_FOUND": 404, "ALREADY_EXISTS": 409,
             "PERMISSION_DENIED": 403, "RESOURCE_EXHAUSTED": 429,
             "FAILED_PRECONDITION": 400, "ABORTED": 409, "OUT_OF_RANGE": 400,
             "UNIMPLEMENTED": 501, "INTERNAL": 500, "UNAVAILABLE": 503, "DATA_LOSS": 500,
             "UNAUTHENTICATED": 401}


def _require() -> Any:
    try:
        import grpc
        from tensorflow_serving.apis import (  # noqa: F401
            classification_pb2,
            get_model_metadata_pb2,
            get_model_status_pb2,
            inference_pb2,
            input_pb2,
            model_service_pb2_grpc,
            predict_pb2,
            prediction_service_pb2_grpc,
            regression_pb2,
        )
    except ImportError as exc:
        raise ImportError(
            "grpc:// URLs need tensorflow-serving-api and TensorFlow: pip install "
            "'calipers[tfserving]' and then pip install --no-deps "
            "tensorflow-serving-api (its own dependency on the full tensorflow package "
            f"would replace tensorflow-cpu); missing: {exc.name or exc}"
        ) from exc
    return grpc


def _feature(value: Any, name: str) -> Any:
    from tensorflow.core.example import feature_pb2

    values = list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value]
    values = [v.item() if isinstance(v, np.generic) else v for v in values]
    if all(isinstance(v, bool) or isinstance(v, int) for v in values):
        return feature_pb2.Feature(int64_list=feature_pb2.Int64List(value=values))
    if all(isinstance(v, (int, float)) for v in values):
        return feature_pb2.Feature(float_list=feature_pb2.FloatList(value=values))
    if all(isinstance(v, (str, bytes)) for v in values):
        raw = [v.encode("utf-8") if isinstance(v, str) else v for v in values]
        return feature_pb2.Feature(bytes_list=feature_pb2.BytesList(value=raw))
    raise TypeError(f"feature {name!r}: values must be all numbers or all strings/bytes")


def _example(features: Mapping[str, Any]) -> Any:
    import base64

    from tensorflow.core.example import example_pb2, feature_pb2

    def unwrap(v: Any) -> Any:
        if isinstance(v, dict) and set(v) == {"b64"}:
            return base64.b64decode(v["b64"])
        if isinstance(v, list):
            return [unwrap(x) for x in v]
        return v

    return example_pb2.Example(features=feature_pb2.Features(
        feature={k: _feature(unwrap(v), k) for k, v in features.items()}))


class GrpcTransport:
    """One channel to a TF Serving gRPC port, for one model."""

    def __init__(self, target: str, model: str, version: int | None, label: str | None,
                 timeout: float) -> None:
        grpc = _require()
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        self._grpc = grpc
        self.model = model
        self.version = version
        self.label = label
        self.timeout = timeout
        self._channel = grpc.insecure_channel(target)
        self._predict = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)
        self._input_names: list[str] | None = None

    def close(self) -> None:
        self._channel.close()

    def _spec(self, spec: Any, signature_name: str | None = None) -> None:
        spec.name = self.model
        if self.version is not None:
            spec.version.value = self.version
        elif self.label is not None:
            spec.version_label = self.label
        if signature_name:
            spec.signature_name = signature_name

    def _call(self, method: Any, request: Any) -> Any:
        try:
            return method(request, timeout=self.timeout)
        except self._grpc.RpcError as exc:
            code = exc.code().name if exc.code() is not None else "UNKNOWN"
            raise ServingError(GRPC_HTTP.get(code, 500), exc.details() or "", code) from None

    def status(self) -> dict[str, Any]:
        from tensorflow_serving.apis import get_model_status_pb2

        request = get_model_status_pb2.GetModelStatusRequest()
        self._spec(request.model_spec)
        response = self._call(self._models.GetModelStatus, request)
        states = get_model_status_pb2.ModelVersionStatus.State
        return {"model_version_status": [
            {"version": str(v.version), "state": states.Name(v.state),
             "status": {"error_code": _code_name(v.status.error_code),
                        "error_message": v.status.error_message}}
            for v in response.model_version_status]}

    def metadata(self) -> dict[str, Any]:
        from google.protobuf.json_format import MessageToDict
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._spec(request.model_spec)
        response = self._call(self._predict.GetModelMetadata, request)
        sigs = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(sigs)
        spec = response.model_spec
        return {"model_spec": {"name": spec.name, "signature_name": spec.signature_name,
                               "version": str(spec.version.value)},
                "metadata": {"signature_def": MessageToDict(
                    sigs, preserving_proto_field_name=True)}}

    def _names(self, signature_name: str | None) -> list[str]:
        if self._input_names is None or signature_name:
            defs = self.metadata()["metadata"]["signature_def"]["signature_def"]
            sig = defs.get(signature_name or "serving_default")
            if sig is None:
                raise ServingError(400, f"Serving signature name: \"{signature_name}\" not "
                                        "found in signature def", "INVALID_ARGUMENT")
            names = sorted(sig.get("inputs", {}))
            if signature_name:
                return names
            self._input_names = names
        return self._input_names

    def predict(self, inputs: Any, signature_name: str | None) -> Any:
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        if not isinstance(inputs, Mapping):
            names = self._names(signature_name)
            if len(names) != 1:
                raise ValueError(f"model {self.model!r} has inputs {names}: pass a dict")
            inputs = {names[0]: inputs}
        request = predict_pb2.PredictRequest()
        self._spec(request.model_spec, signature_name)
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(np.asarray(value)))
        response = self._call(self._predict.Predict, request)
        outputs = {k: _text(k, tf.make_ndarray(v)) for k, v in response.outputs.items()}
        if len(outputs) == 1:
            return next(iter(outputs.values()))
        return outputs

    def classify_regress(self, verb: str, body: Mapping[str, Any]) -> list[Any]:
        from tensorflow_serving.apis import classification_pb2, input_pb2, regression_pb2

        examples = [_example(e) for e in body["examples"]]
        request = (classification_pb2.ClassificationRequest() if verb == "classify"
                   else regression_pb2.RegressionRequest())
        self._spec(request.model_spec, body.get("signature_name"))
        if body.get("context"):
            request.input.CopyFrom(input_pb2.Input(
                example_list_with_context=input_pb2.ExampleListWithContext(
                    examples=examples, context=_example(body["context"]))))
        else:
            request.input.CopyFrom(input_pb2.Input(
                example_list=input_pb2.ExampleList(examples=examples)))
        if verb == "classify":
            response = self._call(self._predict.Classify, request)
            return [[[c.label, c.score] for c in item.classes]
                    for item in response.result.classifications]
        response = self._call(self._predict.Regress, request)
        return [r.value for r in response.result.regressions]


def _text(name: str, arr: np.ndarray) -> np.ndarray:
    """DT_STRING outputs as text, as the REST API writes them (``*_bytes`` names stay bytes)."""
    if arr.dtype != object or name.endswith("_bytes"):
        return arr
    try:
        return np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(arr).astype(str)
    except UnicodeDecodeError:
        return arr


def _code_name(code: int) -> str:
    from tensorflow.core.protobuf import error_codes_pb2

    try:
        return error_codes_pb2.Code.Name(code)
    except ValueError:
        return str(code)
