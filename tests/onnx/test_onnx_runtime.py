"""The onnx plugin's runtime side: session options, the runner, registration, extras."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import calipers
from calipers import plugins

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from calipers_onnx import OnnxExporter, OnnxRunner, configure_runtime  # noqa: E402
from calipers_onnx._runtime import normalize_opsets, session_options  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _linear_model() -> bytes:
    w = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(3, 2), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])], [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    return model.SerializeToString()


def test_runner_runs_and_casts_inputs():
    runner = OnnxRunner(_linear_model())
    assert runner.input_names == ["x"] and runner.output_names == ["y"]
    x = np.arange(6).reshape(2, 3)  # int64: cast to the graph's float32
    out = runner.run({"x": x})
    np.testing.assert_array_equal(out["y"], x @ np.arange(6).reshape(3, 2))
    assert out["y"].dtype == np.float32
    with pytest.raises(ValueError, match="missing \\['x'\\]; unknown \\['z'\\]"):
        runner.run({"z": x})
    with pytest.raises(ValueError, match="input 'x' must be float32"):
        runner.run({"x": np.array([["a", "b", "c"]])})
    runner.close()
    with pytest.raises(ValueError, match="closed"):
        runner.run({"x": x})


def test_session_options_and_defaults():
    old = configure_runtime(intra_op_threads=2, inter_op_threads=1, graph_optimization="basic")
    try:
        options = session_options()
        assert options.intra_op_num_threads == 2 and options.inter_op_num_threads == 1
        assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options = session_options(intra_op_threads=1, graph_optimization="disable")
        assert options.intra_op_num_threads == 1
        assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        runner = OnnxRunner(_linear_model(), intra_op_threads=1, graph_optimization="extended")
        assert runner.session.get_session_options().intra_op_num_threads == 1
    finally:
        configure_runtime(**old)
    assert session_options().graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    with pytest.raises(ValueError, match="intra_op_threads must be an integer"):
        configure_runtime(intra_op_threads=-1)
    with pytest.raises(ValueError, match="graph_optimization must be one of"):
        configure_runtime(graph_optimization="max")
    with pytest.raises(ValueError, match="inter_op_threads"):
        OnnxRunner(_linear_model(), inter_op_threads=1.5)


def test_onnx_models_export_as_they_are(tmp_path):
    model = onnx.load_from_string(_linear_model())
    x = np.random.default_rng(0).standard_normal((20, 3))
    path = calipers.export(model, "onnx", tmp_path / "linear", sample=x, task="regressor")
    with calipers.load(path) as artifact:
        assert artifact.inputs == [{"name": "x", "dtype": "float32", "shape": [None, 3]}]
        assert artifact.outputs == [{"name": "y", "dtype": "float32", "shape": [None, 2]}]
        assert artifact.task == "regressor"
        np.testing.assert_allclose(artifact.run(x)["y"],
                                   x.astype(np.float32) @ np.arange(6).reshape(3, 2), rtol=1e-6)
        with pytest.raises(ValueError, match="shape"):
            artifact.run(np.zeros((2, 4)))
    assert calipers.verify(path, model, x).ok


def test_normalize_opsets_keeps_one_per_domain():
    model = onnx.load_from_string(_linear_model())
    model.opset_import.append(helper.make_opsetid("", 17))
    model.opset_import.append(helper.make_opsetid("ai.onnx.ml", 3))
    normalize_opsets(model, 18)
    assert sorted((o.domain, o.version) for o in model.opset_import) == [
        ("", 18), ("ai.onnx.ml", 3)]
    del model.opset_import[:]
    model.opset_import.append(helper.make_opsetid("ai.onnx.ml", 1))
    normalize_opsets(model, 15)
    assert sorted((o.domain, o.version) for o in model.opset_import) == [
        ("", 15), ("ai.onnx.ml", 1)]


def test_registered_exporter():
    assert plugins.get("exporter", "onnx") is OnnxExporter
    info = {p.name: p for p in plugins.list_plugins(all=True)}["onnx"]
    assert info.status == "ok"
    assert OnnxExporter.handles() == ("onnx",)
    assert calipers.export.exporter_for("onnx").name == "onnx"


def _run(code: str, tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",
                                                            "CALIPERS_DISABLE_PLUGINS")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_plugin_imports_without_its_frameworks(tmp_path):
    report = _run(
        "import json, sys\n"
        "import calipers_onnx\n"
        "from calipers import plugins\n"
        "plugins.get('exporter', 'onnx')\n"
        "heavy = ('onnx', 'onnxruntime', 'skl2onnx', 'torch', 'sklearn')\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))\n",
        tmp_path,
    )
    assert report == []


def test_without_onnxruntime_the_plugin_is_unavailable_and_quantize_says_why(tmp_path):
    from sklearn.linear_model import LogisticRegression

    X = np.random.default_rng(0).random((40, 3))
    model = LogisticRegression().fit(X, (X[:, 0] > 0.5).astype(int))
    calipers.export(model, "onnx", tmp_path / "art", sample=X[:5])
    report = _run(
        "import json, sys\n"
        "sys.modules['onnxruntime'] = None\n"
        "import calipers\n"
        "from calipers import plugins\n"
        "from calipers.errors import ArtifactError\n"
        "info = [p for p in plugins.list_plugins(all=True) if p.name == 'onnx'][0]\n"
        "try:\n"
        "    calipers.quantize('art', 'b')\n"
        "except ArtifactError as exc:\n"
        "    message = str(exc)\n"
        "print(json.dumps({'status': info.status, 'reason': info.reason, 'msg': message}))\n",
        tmp_path,
    )
    assert report["status"] == "unavailable"
    assert report["reason"].endswith("pip install 'calipers[onnx]'")
    assert "written by exporter 'onnx'" in report["msg"]
    assert report["msg"].endswith("pip install 'calipers[onnx]'")
