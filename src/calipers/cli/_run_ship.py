"""The shipping half of ``calipers run``: export the refitted model, check parity, quantize.

:func:`ship` writes

- ``DIR/model/<name>/<version>/``: the artifact, in the serving layout of
  ``calipers serve`` (``calipers serve DIR/model`` serves it); ``<name>`` is the
  study's name made safe for a path, ``<version>`` the next free integer;
- for ONNX: ``DIR/model-quantized/<name>-int8-dynamic/<version>/`` (dynamic
  quantization) and, when that quantized some operators (the model has MatMul /
  Gemm / Conv to quantize), ``<name>-int8-static/<version>/`` calibrated on the
  training rows. Tree ensembles and linear models in ai.onnx.ml operators have
  nothing onnxruntime quantizes: the report says so (``quantized_ops`` 0).

The manifest's drift reference (per-feature histograms ``calipers monitor``
compares served inputs with) is built from the training and held-out rows
together when they are at least 1000; with fewer, the artifact has none and the
summary says so.

Parity is checked on the held-out rows with the artifact's own tolerances; a
failed check makes :attr:`ShipResult.failed` true (``calipers run`` then exits
with status 1 after writing its reports). Without the extra a format needs, the
steps are skipped with one note naming the ``pip install`` that enables them.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from calipers._extras import available

__all__ = ["FORMATS", "ShipResult", "model_name", "ship"]

#: Export formats ``calipers run --export-format`` offers, with the modules each needs
#: and the extra that installs them.
FORMATS: dict[str, tuple[tuple[str, ...], str]] = {
    "onnx": (("onnx", "onnxruntime", "skl2onnx"), "onnx"),
    "skops": (("skops",), "sklearn"),
}


@dataclass
class ShipResult:
    """What :func:`ship` did.

    Attributes
    ----------
    data : dict
        JSON-safe: ``format``, ``name``, ``version``, ``path``, ``serve`` (the
        command that serves it), ``parity`` (``ParityReport.to_dict()``),
        ``quantized`` (one ``calipers.quantize`` report per mode, or a note),
        ``seconds``; or ``skipped`` (the note) when the extra is missing.
    lines : list of str
        The summary printed by ``calipers run``.
    failed : str or None
        Why shipping failed (export error or parity out of tolerance), else None.
    """

    data: dict[str, Any]
    lines: list[str] = field(default_factory=list)
    failed: str | None = None


def model_name(study_name: str) -> str:
    """The study's name as a model name (letters, digits, ``_``, ``-``, ``.``; no leading dot)."""
    name = re.sub(r"[^A-Za-z0-9_.\-]+", "-", study_name).lstrip(".-")
    name = re.sub(r"\.{2,}", ".", name)
    return name or "model"


def missing_note(fmt: str) -> str | None:
    """The one-line note for a format whose extra is not installed, else None."""
    from calipers._extras import available

    modules, extra = FORMATS[fmt]
    missing = [m for m in modules if not available(m)]
    if not missing:
        return None
    return (f"export, parity check and quantization skipped: the {fmt} format needs "
            f"{', '.join(missing)}: pip install \"calipers[{extra}]\"")


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    # onnxruntime.quantization logs a pre-processing hint through the root logger
    # (which writes to stderr); it is advice for image models, not for this run.
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def ship(model: Any, *, study_name: str, out: Path, X_train: np.ndarray, X_test: np.ndarray,
         y_test: np.ndarray, task: str, metrics: dict[str, float], fmt: str = "onnx"
         ) -> ShipResult:
    """Export ``model``, verify it on the held-out rows and (ONNX) quantize it.

    Parameters
    ----------
    model : estimator
        The refitted best model.
    study_name : str
        Gives the model's name in ``out/model``.
    out : pathlib.Path
        ``calipers run``'s output directory.
    X_train : ndarray
        The reference sample of the manifest and the static calibration data.
    X_test, y_test : ndarray
        The held-out rows: parity and the quantized models' metric deltas. With
        ``X_train``, the rows of the drift reference.
    task : {"classifier", "regressor"}
    metrics : dict
        Held-out metrics stored in the manifest.
    fmt : {"onnx", "skops"}

    Returns
    -------
    ShipResult
    """
    import calipers
    from calipers.export import version_dir

    if fmt not in FORMATS:
        raise ValueError(f"export format must be one of {sorted(FORMATS)}, got {fmt!r}")
    note = missing_note(fmt)
    if note is not None:
        return ShipResult({"format": fmt, "skipped": note}, [note])
    start = time.perf_counter()
    name = model_name(study_name)
    base = out / "model"
    path = version_dir(base, name)
    version = int(path.name)
    data: dict[str, Any] = {"format": fmt, "name": name, "version": version, "path": str(path),
                            "serve": f"calipers serve {base}"}
    result = ShipResult(data)
    reference, data["drift_reference"] = _drift_rows(X_train, X_test)
    try:
        with _quiet_root_logger():
            calipers.export(model, fmt, path, sample=X_train, reference=reference,
                            metrics=metrics)
    except (ValueError, TypeError, LookupError, RuntimeError, ImportError, OSError) as exc:
        data["error"] = f"{type(exc).__name__}: {exc}"
        result.failed = f"export to {fmt} failed: " + " ".join(data["error"].split())
        result.lines.append(result.failed)
        return result
    parity = calipers.verify(path, model, X_test, raise_on_fail=False)
    data["parity"] = parity.to_dict()
    serve = f"calipers serve {base}"
    if not (available("uvicorn") and available("prometheus_client")):
        serve += " (after pip install 'calipers[serve]')"
    result.lines.append(f"exported: {path} ({fmt}); serve it with: {serve}")
    result.lines.append(_parity_line(parity))
    result.lines.append(data["drift_reference"])
    if not parity.ok:
        result.failed = "parity check failed: " + "; ".join(parity.failures)
    elif fmt == "onnx":
        data["quantized"] = _quantize_all(path, out, name, version, X_train, X_test, y_test,
                                          task, result.lines)
    data["seconds"] = round(time.perf_counter() - start, 3)
    return result


def _drift_rows(X_train: np.ndarray, X_test: np.ndarray) -> tuple[Any, str]:
    """The rows of the drift reference (or False) and the summary line saying so."""
    from calipers.export._drift import REFERENCE_MIN_ROWS

    try:
        rows = np.concatenate([np.asarray(X_train), np.asarray(X_test)])
    except ValueError:  # column counts differ: cannot happen for one data set's split
        rows = np.asarray(X_train)
    if len(rows) < REFERENCE_MIN_ROWS:
        return False, (f"drift reference: none ({len(rows)} training and held-out rows; "
                       f"per-feature histograms need {REFERENCE_MIN_ROWS}), so `calipers "
                       "monitor` reports 'no reference' instead of PSI")
    return rows, (f"drift reference: per-feature histograms of {len(rows)} training and "
                  "held-out rows in the manifest (`calipers monitor` compares served inputs "
                  "with them)")


def _parity_line(parity: Any) -> str:
    parts = [f"max abs diff {name} {diff:.3g}" for name, diff in parity.max_abs_diff.items()]
    if parity.label_agreement is not None:
        parts.append(f"label agreement {parity.label_agreement:.6g}")
    tol = parity.tolerance
    return (f"parity on {parity.n} held-out rows: {'ok' if parity.ok else 'FAILED'} ("
            + ", ".join(parts) + f"; rtol {tol['rtol']:g}, atol {tol['atol']:g})")


def _quantize_all(path: Path, out: Path, name: str, version: int, X_train: np.ndarray,
                  X_test: np.ndarray, y_test: np.ndarray, task: str, lines: list[str]
                  ) -> list[dict[str, Any]]:
    import calipers
    from calipers.export import read_manifest, version_dir

    manifest = read_manifest(path)
    outputs = {o["name"] for o in manifest["outputs"]}
    if task == "classifier" and len(manifest.get("classes") or ()) == 2:
        metric_names: tuple[str, ...] = (("accuracy", "roc_auc") if "probabilities" in outputs
                                         else ("accuracy",))
    elif task == "classifier":
        # Multiclass ROC AUC refuses int8 probabilities that no longer sum to 1.
        metric_names = ("accuracy", "balanced_accuracy", "f1")
    else:
        metric_names = ("mean_absolute_error", "mean_squared_error", "r2")
    reports = []
    for mode in ("dynamic", "static"):
        target = version_dir(out / "model-quantized", f"{name}-int8-{mode}", version)
        try:
            with _quiet_root_logger():
                report = calipers.quantize(
                    path, target, mode=mode, overwrite=True, eval_data=(X_test, y_test),
                    metrics=metric_names, calibration=X_train if mode == "static" else None)
        except (ValueError, TypeError, RuntimeError, OSError) as exc:
            note = " ".join(f"{mode} quantization failed: {type(exc).__name__}: {exc}".split())
            reports.append({"mode": mode, "error": note})
            lines.append(note)
            break
        reports.append(report)
        lines.append(_quantize_line(report))
        if report["quantized_ops"] == 0:
            note = ("static quantization skipped: dynamic quantization found no operator "
                    "onnxruntime quantizes (tree ensembles and ai.onnx.ml models stay float32)")
            reports.append({"mode": "static", "skipped": note})
            lines.append(note)
            break
    return reports


def _quantize_line(report: dict[str, Any]) -> str:
    deltas = ", ".join(f"{k} {'n/a' if v is None else format(v, '+.3g')}"
                       for k, v in (report.get("metric_deltas") or {}).items())
    return (f"int8 {report['mode']}: {report['out']} ({report['quantized_ops']} quantized ops; "
            f"size x{_num(report['size_ratio'])}, latency x{_num(report['latency_ratio'])}"
            + (f"; metric deltas {deltas}" if deltas else "") + ")")


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
