"""The Client's gRPC transport against an in-process gRPC server speaking TF Serving's API.

The server implements ``PredictionService`` and ``ModelService`` from
tensorflow-serving-api over a SavedModel artifact loaded with ``calipers.load``.
Skipped (with the reason) when tensorflow-serving-api or grpcio is missing.
"""

from __future__ import annotations

import sys
from concurrent import futures

import calipers_tfserving as tfs
import numpy as np
import pytest

import calipers


@pytest.fixture(scope="module")
def grpc_server(tmp_path_factory, softmax_model, data):
    grpc = pytest.importorskip("grpc", reason="gRPC needs grpcio")
    apis = pytest.importorskip(
        "tensorflow_serving.apis.prediction_service_pb2_grpc",
        reason="gRPC needs pip install --no-deps tensorflow-serving-api")
    import tensorflow as tf
    from tensorflow_serving.apis import (
        get_model_metadata_pb2,
        get_model_status_pb2,
        model_service_pb2_grpc,
        predict_pb2,
    )

    X, _ = data
    base = tmp_path_factory.mktemp("grpc") / "models"
    path = tfs.export_for_serving(softmax_model, base, "iris", sample=X, task="classifier",
                                  classes=["a", "b", "c"])
    artifact = calipers.load(path)

    def not_found(request, context):
        if request.model_spec.name != "iris":
            context.abort(grpc.StatusCode.NOT_FOUND,
                          f"Servable not found for request: Latest({request.model_spec.name})")

    class Prediction(apis.PredictionServiceServicer):
        def Predict(self, request, context):
            not_found(request, context)
            inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
            try:
                outputs = artifact.run(inputs)
            except ValueError as exc:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            response = predict_pb2.PredictResponse()
            response.model_spec.name = "iris"
            response.model_spec.version.value = 1
            for k, v in outputs.items():
                response.outputs[k].CopyFrom(tf.make_tensor_proto(v))
            return response

        def Classify(self, request, context):
            from tensorflow_serving.apis import classification_pb2

            rows = [list(e.features.feature["features"].float_list.value)
                    for e in request.input.example_list.examples]
            proba = artifact.run(np.asarray(rows, np.float32))["probabilities"]
            response = classification_pb2.ClassificationResponse()
            for row in proba:
                item = response.result.classifications.add()
                for label, score in zip("abc", row, strict=True):
                    item.classes.add(label=label, score=float(score))
            return response

        def GetModelMetadata(self, request, context):
            not_found(request, context)
            from tensorflow.core.protobuf import meta_graph_pb2

            sigs = get_model_metadata_pb2.SignatureDefMap()
            sig = sigs.signature_def["serving_default"]
            sig.method_name = "tensorflow/serving/predict"
            info = meta_graph_pb2.TensorInfo(name="serving_default_features:0", dtype=1)
            info.tensor_shape.dim.add(size=-1)
            info.tensor_shape.dim.add(size=4)
            sig.inputs["features"].CopyFrom(info)
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            response.model_spec.name = "iris"
            response.model_spec.version.value = 1
            response.metadata["signature_def"].Pack(sigs)
            return response

    class Models(model_service_pb2_grpc.ModelServiceServicer):
        def GetModelStatus(self, request, context):
            not_found(request, context)
            response = get_model_status_pb2.GetModelStatusResponse()
            status = response.model_version_status.add(version=1)
            status.state = get_model_status_pb2.ModelVersionStatus.AVAILABLE
            return response

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    apis.add_PredictionServiceServicer_to_server(Prediction(), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(Models(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"grpc://127.0.0.1:{port}", artifact
    server.stop(None)
    artifact.close()


def test_grpc_status_metadata_predict_classify(grpc_server, data):
    url, artifact = grpc_server
    X, _ = data
    client = tfs.Client(url, "iris")
    assert client.transport == "grpc"
    assert client.status() == {"model_version_status": [
        {"version": "1", "state": "AVAILABLE",
         "status": {"error_code": "OK", "error_message": ""}}]}
    assert client.versions() == {1: "AVAILABLE"}
    assert client.signature()["inputs"] == {"features": {"dtype": "DT_FLOAT", "shape": [-1, 4]}}
    want = artifact.run(X)
    got = client.predict(X.astype(np.float32))  # one input: its name from the metadata
    np.testing.assert_array_equal(got["probabilities"], want["probabilities"])
    assert got["label"].tolist() == want["label"].tolist()  # DT_STRING as text, like REST
    got = client.predict({"features": X[:3].astype(np.float32)})
    np.testing.assert_array_equal(got["probabilities"], want["probabilities"][:3])
    results = client.classify({"features": X[:2]})
    assert [label for label, _ in results[0]] == ["a", "b", "c"]
    np.testing.assert_allclose([[s for _, s in r] for r in results],
                               want["probabilities"][:2], rtol=1e-6)
    with pytest.raises(tfs.ServingError) as info:
        tfs.Client(url, "nope").status()
    assert info.value.code == "NOT_FOUND" and info.value.status == 404
    assert "Latest(nope)" in info.value.message
    with pytest.raises(tfs.ServingError) as info:
        client.predict({"wrong": X[:2].astype(np.float32)})
    assert info.value.code == "INVALID_ARGUMENT" and info.value.status == 400
    with tfs.Client(url, "iris", version=1) as pinned:
        assert pinned.versions() == {1: "AVAILABLE"}
    with pytest.raises(ValueError, match="closed channel"):
        pinned.status()


def test_grpc_without_tensorflow_serving_api_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_serving", None)
    monkeypatch.setitem(sys.modules, "tensorflow_serving.apis", None)
    with pytest.raises(ImportError, match="pip install --no-deps tensorflow-serving-api"):
        tfs.Client("grpc://127.0.0.1:8500", "m")
