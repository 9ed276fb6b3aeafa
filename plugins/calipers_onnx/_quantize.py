"""``calipers.quantize``: an int8 copy of an ONNX artifact, and what it costs and saves.

onnxruntime.quantization does the work:

- ``mode="dynamic"``: weights are int8 ahead of time, activations are
  quantized on the fly (MatMul / Gemm / attention-style graphs: MLPs, torch
  linear stacks). No calibration data.
- ``mode="static"``: weights and activations are int8 with scales measured on
  calibration inputs (QDQ format, MinMax calibration), so ``calibration=X`` is
  required.

Operators onnxruntime cannot quantize (tree ensembles, ``LinearClassifier`` and
the other ai.onnx.ml operators) stay in float32: their size and latency ratios
are then about 1, and ``quantized_ops`` in the report is 0.

The new artifact is written like any other (temporary directory, hashes,
reference sample of its own outputs); its manifest's ``options.source`` records
the source artifact's model sha256, manifest digest and the quantization mode,
and its ``metrics`` are the quantized model's metrics on ``eval_data``.
"""

from __future__ import annotations

import os
import pathlib
import statistics
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from calipers._extras import require
from calipers.errors import ArtifactError
from calipers.export._manifest import jsonable, read_manifest
from calipers_onnx._inputs import named_inputs
from calipers_onnx._runtime import OnnxRunner, check_external_data, normalize_opsets

MODES = ("dynamic", "static")
#: Parity tolerances recorded for quantized artifacts (int8 is not float32).
QUANTIZED_TOLERANCE = {"rtol": 0.0, "atol": 0.1, "min_label_agreement": 0.95}
_QUANT_OPS = ("QuantizeLinear", "DynamicQuantizeLinear", "MatMulInteger", "ConvInteger",
              "QLinearMatMul", "QLinearConv", "DynamicQuantizeMatMul", "MatMulIntegerToFloat")


def _quant_type(name: str, what: str) -> Any:
    from onnxruntime.quantization import QuantType

    types = {"int8": QuantType.QInt8, "uint8": QuantType.QUInt8}
    if name not in types:
        raise ValueError(f"{what} must be 'int8' or 'uint8', got {name!r}")
    return types[name]


def _batches(arrays: Mapping[str, np.ndarray], size: int) -> Iterator[dict[str, np.ndarray]]:
    n = len(next(iter(arrays.values())))
    for start in range(0, n, size):
        yield {k: v[start:start + size] for k, v in arrays.items()}


def _calibration_reader(runner: OnnxRunner, calibration: Any, batch_size: int) -> Any:
    """A ``CalibrationDataReader`` that yields ``calibration`` in batches."""
    from onnxruntime.quantization import CalibrationDataReader

    feed = runner.feed(named_inputs(calibration, runner.input_names, conversions={}))
    rows = {len(v) for v in feed.values()}
    if rows == {0}:
        raise ValueError("calibration data must have at least one row, got 0")

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = _batches(feed, batch_size)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

        def rewind(self) -> None:
            self._it = _batches(feed, batch_size)

    return _Reader()


def _median_ms(runner: OnnxRunner, feed: Mapping[str, np.ndarray], repeats: int) -> float:
    runner.session.run(runner.output_names, dict(feed))  # warm-up (allocations, caches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        runner.session.run(runner.output_names, dict(feed))
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def _classifier_metrics(names: Sequence[str], y: np.ndarray, outputs: Mapping[str, np.ndarray],
                        classes: list[Any]) -> dict[str, float]:
    from calipers import metrics as cm

    labels = outputs["label"]
    proba = outputs.get("probabilities")
    binary = len(classes) == 2
    avg = {"average": "binary", "pos_label": classes[1]} if binary else {"average": "macro"}
    label_fns = {
        "accuracy": lambda: cm.accuracy_score(y, labels),
        "balanced_accuracy": lambda: cm.balanced_accuracy_score(y, labels),
        "f1": lambda: cm.f1_score(y, labels, **avg),
        "precision": lambda: cm.precision_score(y, labels, **avg),
        "recall": lambda: cm.recall_score(y, labels, **avg),
        "matthews_corrcoef": lambda: cm.matthews_corrcoef(y, labels),
        "cohen_kappa": lambda: cm.cohen_kappa_score(y, labels),
    }
    score_fns = {
        "roc_auc": lambda: (cm.roc_auc_score(y == classes[1], proba[:, 1]) if binary else
                            cm.roc_auc_score(y, proba, multi_class="ovr", labels=classes)),
        "average_precision": lambda: cm.average_precision_score(y == classes[1], proba[:, 1]),
        "log_loss": lambda: cm.log_loss(y, proba, labels=classes),
        "brier_score": lambda: cm.brier_score_loss(y == classes[1], proba[:, 1]),
    }
    result = {}
    for name in names:
        if name in label_fns:
            result[name] = float(label_fns[name]())
        elif name in score_fns:
            if proba is None:
                raise ValueError(f"metric {name!r} needs the artifact's probabilities output")
            if name in ("average_precision", "brier_score") and not binary:
                raise ValueError(f"metric {name!r} is computed for binary classifiers only")
            result[name] = float(score_fns[name]())
        else:
            raise ValueError(f"unknown metric {name!r} for a classifier; choose from "
                             f"{sorted([*label_fns, *score_fns])}")
    return result


def _regressor_metrics(names: Sequence[str], y: np.ndarray, pred: np.ndarray
                       ) -> dict[str, float]:
    y = np.asarray(y, dtype=np.float64)
    err = np.asarray(pred, dtype=np.float64).reshape(y.shape) - y
    fns = {
        "mean_absolute_error": lambda: float(np.mean(np.abs(err))),
        "mean_squared_error": lambda: float(np.mean(err ** 2)),
        "r2": lambda: float(1 - np.sum(err ** 2) / np.sum((y - y.mean()) ** 2)),
    }
    unknown = [n for n in names if n not in fns]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown} for a regressor; choose from {sorted(fns)}")
    return {n: fns[n]() for n in names}


def _metrics(manifest: Mapping[str, Any], names: Sequence[str], y: Any,
             outputs: Mapping[str, np.ndarray]) -> dict[str, float]:
    task = manifest.get("task")
    if task == "classifier":
        classes = list(manifest.get("classes") or [])
        y = np.asarray(y)
        if np.asarray(outputs["label"]).dtype.kind in "OUS":
            y = y.astype(str)
        return _classifier_metrics(names, y, outputs, classes)
    if task == "regressor":
        if tuple(names) == ("accuracy", "roc_auc"):  # the classifier default
            names = ("mean_absolute_error", "mean_squared_error", "r2")
        return _regressor_metrics(names, y, outputs["prediction"])
    raise ValueError(f"eval_data needs a classifier or regressor artifact, this one's task is "
                     f"{task!r}")


def _agreement(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> dict[str, Any]:
    diffs, labels = {}, {}
    for name, want in a.items():
        got, want = np.asarray(b[name]), np.asarray(want)
        if name == "label" or want.dtype.kind not in "fc":
            labels[name] = float(np.mean(got == want)) if len(want) else 1.0
        else:
            diffs[name] = float(np.max(np.abs(got - want))) if want.size else 0.0
    return {"max_abs_diff": diffs, "label_agreement": min(labels.values()) if labels else None}


def quantize(
    path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    mode: str = "dynamic",
    calibration: Any = None,
    eval_data: tuple[Any, Any] | None = None,
    metrics: Sequence[str] = ("accuracy", "roc_auc"),
    overwrite: bool = False,
    per_channel: bool = False,
    weight_type: str = "int8",
    activation_type: str = "uint8",
    calibration_batch_size: int = 64,
    tolerance: Mapping[str, float] | None = None,
    repeats: int = 7,
) -> dict[str, Any]:
    """Write an int8-quantized copy of the ONNX artifact at ``path`` to ``out``.

    Parameters
    ----------
    path : str or os.PathLike
        An ONNX artifact (its hashes are checked first).
    out : str or os.PathLike
        The new artifact directory.
    mode : {"dynamic", "static"}, default "dynamic"
        See the module docstring.
    calibration : array-like, dict or DataFrame, optional
        Inputs to calibrate activation ranges on (required for ``"static"``).
    eval_data : (X, y), optional
        Held-out data: both models' metrics on it, and the latency is timed on X.
    metrics : sequence of str, default ("accuracy", "roc_auc")
        Classifier metrics (computed with calipers metrics): ``accuracy``,
        ``balanced_accuracy``, ``f1``, ``precision``, ``recall``,
        ``matthews_corrcoef``, ``cohen_kappa``, ``roc_auc``,
        ``average_precision``, ``log_loss``, ``brier_score``. Regressors:
        ``mean_absolute_error``, ``mean_squared_error``, ``r2`` (the default
        becomes these three).
    overwrite : bool, default False
        Replace an existing artifact at ``out``.
    per_channel : bool, default False
        Per-channel weight scales.
    weight_type, activation_type : {"int8", "uint8"}
        Quantized types (activations: static mode only).
    calibration_batch_size : int, default 64
        Rows per calibration batch.
    tolerance : dict, optional
        Parity tolerances recorded in the new manifest (default
        :data:`QUANTIZED_TOLERANCE`).
    repeats : int, default 7
        Timed runs per model; the latency is their median (after one warm-up).

    Returns
    -------
    dict
        ``mode``, ``source``, ``out``, ``size_bytes`` (``source``, ``quantized``),
        ``size_ratio`` (quantized / source), ``latency_ms`` and
        ``latency_ratio`` (median in-process ``session.run`` time on
        ``latency_rows`` rows), ``quantized_ops``, ``agreement`` (label
        agreement and max abs differences of the quantized vs the source
        outputs), and with ``eval_data``: ``metrics`` (``source``,
        ``quantized``) and ``metric_deltas`` (quantized - source).

    Raises
    ------
    calipers.errors.ArtifactError
        If ``path`` is not an intact ONNX artifact.
    ValueError
        For a bad mode, missing calibration data, or unknown metrics.
    """
    require("onnxruntime", feature="calipers.quantize", extra="onnx")
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        quantize_dynamic,
        quantize_static,
    )

    from calipers.export._artifact import export_model

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "static" and calibration is None:
        raise ValueError("mode='static' needs calibration=X: inputs to measure activation "
                         "ranges on (use mode='dynamic' without calibration data)")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")
    if isinstance(calibration_batch_size, bool) or not isinstance(calibration_batch_size, int) \
            or calibration_batch_size < 1:
        raise ValueError(f"calibration_batch_size must be an integer >= 1, got "
                         f"{calibration_batch_size!r}")
    if isinstance(metrics, str):
        metrics = (metrics,)
    wtype = _quant_type(weight_type, "weight_type")
    atype = _quant_type(activation_type, "activation_type")
    path = pathlib.Path(path)
    manifest = read_manifest(path)
    if manifest.get("format") != "onnx":
        raise ArtifactError(f"artifact {path}: format {manifest.get('format')!r}; "
                            "calipers_onnx.quantize takes ONNX artifacts (calipers.quantize "
                            "takes any artifact whose exporter can quantize)")
    name = (manifest.get("options") or {}).get("file", "model.onnx")
    if name not in manifest["files"] or "/" in str(name):
        raise ArtifactError(f"artifact {path}: its model file {name!r} is not one of its files")
    file = path / name
    check_external_data(path, file)
    source = OnnxRunner(file)
    names = source.input_names
    if eval_data is not None:
        if not isinstance(eval_data, (tuple, list)) or len(eval_data) != 2:
            raise ValueError("eval_data must be a pair (X, y)")
        timing_x = eval_data[0]
    elif calibration is not None:
        timing_x = calibration
    else:
        timing_x = {k: np.asarray(v) for k, v in manifest["reference"]["inputs"].items()}
    with tempfile.TemporaryDirectory(prefix="calipers-quantize-") as scratch:
        target = pathlib.Path(scratch) / "model.onnx"
        original = onnx.load(str(file))
        normalize_opsets(original, (manifest.get("options") or {}).get("opset") or 18)
        if mode == "dynamic":
            quantize_dynamic(original, target, per_channel=per_channel, weight_type=wtype)
        else:
            reader = _calibration_reader(source, calibration, calibration_batch_size)
            quantize_static(original, target, reader, quant_format=QuantFormat.QDQ,
                            per_channel=per_channel, activation_type=atype, weight_type=wtype,
                            calibrate_method=CalibrationMethod.MinMax)
        model = onnx.load(str(target))
    quantized = OnnxRunner(model.SerializeToString())
    feed = source.feed(named_inputs(timing_x, names, conversions={}))
    out_source, out_quant = source.run(feed), quantized.run(feed)
    report: dict[str, Any] = {"mode": mode, "source": str(path), "out": str(pathlib.Path(out))}
    size_q, size_s = len(model.SerializeToString()), file.stat().st_size
    report["size_bytes"] = {"source": size_s, "quantized": size_q}
    report["size_ratio"] = size_q / size_s
    lat_s, lat_q = _median_ms(source, feed, repeats), _median_ms(quantized, feed, repeats)
    report["latency_ms"] = {"source": lat_s, "quantized": lat_q}
    report["latency_ratio"] = lat_q / lat_s if lat_s > 0 else float("nan")
    report["latency_rows"] = len(next(iter(feed.values())))
    report["repeats"] = repeats
    report["quantized_ops"] = sum(node.op_type in _QUANT_OPS for node in model.graph.node)
    report["agreement"] = _agreement(out_source, out_quant)
    metrics_q: dict[str, float] = {}
    if eval_data is not None:
        metrics_s = _metrics(manifest, metrics, eval_data[1], out_source)
        metrics_q = _metrics(manifest, metrics, eval_data[1], out_quant)
        report["metrics"] = {"source": metrics_s, "quantized": metrics_q}
        report["metric_deltas"] = {k: metrics_q[k] - metrics_s[k] for k in metrics_s}
    provenance = {
        "kind": "quantized",
        "mode": mode,
        "source_model_sha256": manifest["files"][file.name],
        "source_manifest_sha256": manifest.get("manifest_sha256"),
        "source_model_type": manifest.get("model_type"),
        "per_channel": bool(per_channel),
        "weight_type": weight_type,
        "activation_type": activation_type if mode == "static" else None,
        "quantized_ops": report["quantized_ops"],
    }
    export_model(
        model, "onnx", out, sample=timing_x, metrics=metrics_q, overwrite=overwrite,
        task=manifest.get("task", "other"), classes=manifest.get("classes"),
        model_type=manifest.get("model_type"), source=provenance,
        tolerance={**QUANTIZED_TOLERANCE, **(tolerance or {})},
        reference=manifest.get("drift") or False,  # the source's drift reference
    )
    source.close()
    quantized.close()
    return jsonable(report, "quantize report")
