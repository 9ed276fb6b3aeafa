"""torch.nn.Module -> ONNX through the onnx plugin: parity, dynamic batch, names, opset."""

from __future__ import annotations

import json

import numpy as np
import pytest

import calipers
from calipers._extras import available

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


def _mlp(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(30, 32), torch.nn.ReLU(), torch.nn.Dropout(0.2),
        torch.nn.Linear(32, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2),
    )


def _inputs(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 30)).astype(np.float32)


def _expected(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def test_torchscript_mlp_within_1e5_with_a_dynamic_batch(tmp_path):
    model = _mlp()
    model.train()  # export must use eval mode (dropout off) and restore the flag
    path = calipers.export(model, "onnx", tmp_path / "mlp", sample=torch.randn(8, 30),
                           exporter="torchscript")
    assert model.training
    with calipers.load(path) as artifact:
        assert artifact.inputs == [{"name": "input", "dtype": "float32", "shape": [None, 30]}]
        assert artifact.outputs == [{"name": "output", "dtype": "float32", "shape": [None, 2]}]
        for n in (1, 7, 257):
            x = _inputs(n, seed=n)
            got = artifact.run(x)["output"]
            assert got.shape == (n, 2)
            np.testing.assert_allclose(got, _expected(model, x), rtol=0, atol=1e-5)
        # float64 inputs are cast to the graph's float32
        x = _inputs(5).astype(np.float64)
        np.testing.assert_allclose(artifact.predict(x), _expected(model, x.astype(np.float32)),
                                   atol=1e-5)
    report = calipers.verify(path, model, _inputs(100))
    assert report.ok and report.max_abs_diff["output"] < 1e-5
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["task"] == "other" and manifest["classes"] is None
    assert manifest["model_type"].startswith("torch.nn.") and manifest["model_type"].endswith(
        "Sequential")
    options = manifest["options"]
    assert options["opset"] == 18 and options["torch_exporter"] == "torchscript"
    assert options["dynamic_axes"] == {"input": {"0": "batch"}, "output": {"0": "batch"}}
    assert "torch" in manifest["libraries"]
    graph = onnx.load(str(path / "model.onnx"))
    assert {o.domain: o.version for o in graph.opset_import}[""] == 18
    dims = graph.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and dims[1].dim_value == 30


@pytest.mark.skipif(not available("onnxscript"), reason="the dynamo exporter needs onnxscript")
def test_dynamo_mlp_within_1e5(tmp_path):
    model = _mlp(seed=4)
    # A sample of one row: torch.export would specialize the batch to 1.
    path = calipers.export(model, "onnx", tmp_path / "mlp", sample=_inputs(1),
                           exporter="dynamo", opset=18)
    with calipers.load(path) as artifact:
        assert artifact.manifest["options"]["torch_exporter"] == "dynamo"
        for n in (1, 3, 64):
            x = _inputs(n, seed=10 + n)
            np.testing.assert_allclose(artifact.run(x)["output"], _expected(model, x), atol=1e-5)
    assert calipers.verify(path, model, _inputs(50)).ok


class TwoHeads(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(2)
        self.dense = torch.nn.Linear(4, 3)
        self.embed = torch.nn.Embedding(10, 3)

    def forward(self, x, ids):
        h = self.dense(x) + self.embed(ids).sum(dim=1)
        return torch.softmax(h, dim=1), h.argmax(dim=1)


def test_two_inputs_two_outputs_with_names(tmp_path):
    model = TwoHeads()
    rng = np.random.default_rng(0)
    sample = {"x": rng.standard_normal((6, 4)).astype(np.float32),
              "ids": rng.integers(0, 10, (6, 2)).astype(np.int64)}
    path = calipers.export(model, "onnx", tmp_path / "two", sample=sample,
                           exporter="torchscript", output_names=["scores", "top"])
    with calipers.load(path) as artifact:
        assert [s["name"] for s in artifact.inputs] == ["x", "ids"]
        assert artifact.inputs[1]["dtype"] == "int64"
        assert [s["name"] for s in artifact.outputs] == ["scores", "top"]
        feed = {"x": rng.standard_normal((9, 4)).astype(np.float32),
                "ids": rng.integers(0, 10, (9, 2))}
        out = artifact.run(feed)
        with torch.no_grad():
            scores, top = model(torch.from_numpy(feed["x"]), torch.from_numpy(feed["ids"]))
        np.testing.assert_allclose(out["scores"], scores.numpy(), atol=1e-6)
        np.testing.assert_array_equal(out["top"], top.numpy())
    report = calipers.verify(path, model, feed)
    assert report.ok and report.label_agreements == {"top": 1.0}


def test_bad_torch_options(tmp_path):
    model = _mlp()
    with pytest.raises(ValueError, match="exporter must be one of"):
        calipers.export(model, "onnx", tmp_path / "a", sample=_inputs(4), exporter="jit")
    with pytest.raises(ValueError, match="returns 1 outputs but output_names has 2"):
        calipers.export(model, "onnx", tmp_path / "b", sample=_inputs(4),
                        exporter="torchscript", output_names=["a", "b"])
    with pytest.raises(TypeError, match="unknown option"):
        calipers.export(model, "onnx", tmp_path / "c", sample=_inputs(4), dynamic=False)
    with pytest.raises(ValueError, match="batch axis"):
        calipers.export(model, "onnx", tmp_path / "d", sample=np.float32(1.0),
                        exporter="torchscript")
    assert not any(tmp_path.iterdir())  # failed exports leave nothing behind


def test_dict_returning_module_is_refused(tmp_path):
    class DictOut(torch.nn.Module):
        def forward(self, x):
            return {"y": x * 2}

    with pytest.raises(TypeError, match="tensor or a tuple of tensors"):
        calipers.export(DictOut(), "onnx", tmp_path / "d", sample=_inputs(3),
                        exporter="torchscript")
