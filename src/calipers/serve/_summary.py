"""What ``calipers monitor`` prints: traffic, latency, live metrics, drift.

Everything comes from the prediction log and the artifacts' manifests, so it
works while the server runs or after it stopped:

- request counts (by HTTP status) and examples per model version;
- latency quantiles (p50/p90/p99, ms) of successful requests;
- live metrics from feedback: accuracy, macro F1 (and ROC AUC and log loss for
  binary classifiers with probabilities) or MAE/RMSE/R^2 for regressors,
  computed with calipers metrics;
- PSI (population stability index) per input feature of the logged inputs
  against the manifest's reference sample (at most one bin per 4 reference rows).
"""

from __future__ import annotations

import json
import os
import pathlib
import sqlite3
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from calipers.serve._monitor import unpack

_EPS = 1e-4


def psi(reference: Any, current: Any, bins: int = 10) -> float:
    """Population stability index of ``current`` against ``reference``.

    Bins are the reference's distinct values when it has at most ``bins`` of them
    (plus one bin for anything else), its quantiles otherwise. Each bin's share
    is floored at 1e-4; ``PSI = sum((cur - ref) * ln(cur / ref))``. Non-finite
    values are ignored. NaN if either side has no finite value.

    Parameters
    ----------
    reference, current : array-like
        1-D samples of one feature.
    bins : int, default 10
        Number of quantile bins.
    """
    if bins < 1:
        raise ValueError(f"bins must be positive, got {bins}")
    ref = np.asarray(reference, dtype=np.float64).ravel()
    cur = np.asarray(current, dtype=np.float64).ravel()
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if ref.size == 0 or cur.size == 0:
        return float("nan")
    values = np.unique(ref)
    if values.size <= bins:
        def assign(x: np.ndarray) -> np.ndarray:
            pos = np.clip(np.searchsorted(values, x), 0, values.size - 1)
            return np.where(values[pos] == x, pos, values.size)

        n_bins = values.size + 1
    else:
        inner = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))

        def assign(x: np.ndarray) -> np.ndarray:
            return np.searchsorted(inner, x, side="right")

        n_bins = inner.size + 1
    p = np.maximum(np.bincount(assign(ref), minlength=n_bins) / ref.size, _EPS)
    q = np.maximum(np.bincount(assign(cur), minlength=n_bins) / cur.size, _EPS)
    return float(np.sum((q - p) * np.log(q / p)))


def _features(arrays: Mapping[str, np.ndarray], names: list[str] | None) -> dict[str, Any]:
    """``{feature label: 1-D column}`` for the numeric inputs."""
    out = {}
    for name, arr in arrays.items():
        if arr.dtype.kind not in "biuf" or arr.ndim == 0:
            continue
        flat = arr.reshape(arr.shape[0], -1) if arr.ndim > 1 else arr[:, None]
        labels = (names if names and len(arrays) == 1 and len(names) == flat.shape[1]
                  else [f"{name}[{j}]" if flat.shape[1] > 1 or arr.ndim > 1 else name
                        for j in range(flat.shape[1])])
        for j, label in enumerate(labels):
            out[str(label)] = flat[:, j]
    return out


def _stack(blobs: list[bytes]) -> dict[str, np.ndarray]:
    """Concatenate the logged arrays of several requests along the batch axis."""
    out: dict[str, list[np.ndarray]] = {}
    for blob in blobs:
        for name, arr in unpack(blob).items():
            out.setdefault(name, []).append(arr if arr.ndim else arr[None])
    result = {}
    for name, arrays in out.items():
        try:
            result[name] = np.concatenate(arrays)
        except ValueError:  # shapes differ across requests: not comparable
            continue
    return result


def _classifier_metrics(y_true: list[Any], outputs: dict[str, np.ndarray],
                        classes: list[Any] | None) -> dict[str, float]:
    from calipers.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

    labels = [str(c) for c in classes] if classes else None
    proba = outputs.get("probabilities")
    if "label" in outputs:
        pred = [str(v) for v in np.asarray(outputs["label"]).ravel().tolist()]
    elif proba is not None and labels:
        pred = [labels[i] for i in np.argmax(proba, axis=1)]
    else:
        pred = [str(v) for v in next(iter(outputs.values())).ravel().tolist()]
    # 1.0 from a JSON client means class 1
    true = [str(int(v)) if isinstance(v, float) and v.is_integer() else str(v) for v in y_true]
    vocab = labels or sorted(set(true) | set(pred))
    index = {label: i for i, label in enumerate(vocab)}
    extra = len(vocab)  # labels the model does not know count as wrong
    t = np.array([index.get(v, extra) for v in true])
    p = np.array([index.get(v, extra) for v in pred])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = {"accuracy": float(accuracy_score(t, p)),
               "f1_macro": float(f1_score(t, p, average="macro",
                                          labels=sorted(set(t.tolist()) | set(p.tolist())),
                                          zero_division=0))}
        if proba is not None and labels and len(labels) == 2 and np.all(t < 2):
            proba = np.asarray(proba, dtype=np.float64)
            out["roc_auc"] = (float(roc_auc_score(t, proba[:, 1]))
                              if len(set(t.tolist())) == 2 else float("nan"))
            out["log_loss"] = float(log_loss(t, proba, labels=[0, 1]))
    return out


def _regressor_metrics(y_true: list[Any], outputs: dict[str, np.ndarray]) -> dict[str, float]:
    name = "prediction" if "prediction" in outputs else next(iter(outputs))
    pred = np.asarray(outputs[name], dtype=np.float64).ravel()
    true = np.asarray(y_true, dtype=np.float64).ravel()
    err = pred - true
    ss_tot = float(np.sum((true - true.mean()) ** 2))
    return {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err ** 2))),
            "r2": (1.0 - float(np.sum(err ** 2)) / ss_tot) if ss_tot > 0 else float("nan")}


def summarize(log_path: str | os.PathLike, base: str | os.PathLike | None = None, *,
              bins: int = 10, limit: int = 100_000) -> dict[str, Any]:
    """Monitoring summary per model version from a prediction log.

    Parameters
    ----------
    log_path : str or os.PathLike
        The server's SQLite prediction log.
    base : str or os.PathLike, optional
        The model base (for the manifests' reference samples, classes and task);
        without it there are no PSI values and metrics assume a classifier.
    bins : int, default 10
        PSI bins.
    limit : int, default 100000
        Use at most this many of the latest successful requests per version.

    Returns
    -------
    dict
        ``{"models": [{"model", "version", "requests", "by_status", "examples",
        "latency_ms", "feedback", "live_metrics", "psi"}, ...]}``.
    """
    path = pathlib.Path(log_path)
    if not path.is_file():
        raise FileNotFoundError(f"no prediction log at {path}")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        groups = conn.execute(
            "SELECT model, version, status, COUNT(*), COALESCE(SUM(n), 0) FROM predictions "
            "GROUP BY model, version, status ORDER BY model, version").fetchall()
        report: dict[tuple[str, Any], dict[str, Any]] = {}
        for model, version, status, count, n in groups:
            entry = report.setdefault((model, version), {
                "model": model, "version": version, "requests": 0, "by_status": {},
                "examples": 0, "latency_ms": {}, "feedback": 0, "live_metrics": {},
                "psi": {}})
            entry["requests"] += count
            entry["by_status"][str(status)] = count
            if status == 200:
                entry["examples"] += n
        for (model, version), entry in report.items():
            if version is None:
                continue
            _fill(conn, entry, model, version, base, bins, limit)
    finally:
        conn.close()
    return {"models": list(report.values())}


def _fill(conn: sqlite3.Connection, entry: dict[str, Any], model: str, version: int,
          base: str | os.PathLike | None, bins: int, limit: int) -> None:
    latencies = np.array([r[0] for r in conn.execute(
        "SELECT latency_ms FROM predictions WHERE model=? AND version=? AND status=200",
        (model, version))], dtype=np.float64)
    if latencies.size:
        q = np.quantile(latencies, [0.5, 0.9, 0.99])
        entry["latency_ms"] = {"p50": float(q[0]), "p90": float(q[1]), "p99": float(q[2])}
    manifest: dict[str, Any] = {}
    if base is not None:
        try:
            manifest = json.loads((pathlib.Path(base) / model / str(version) /
                                   "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            manifest = {}
    names = (manifest.get("options") or {}).get("feature_names")
    rows = conn.execute(
        "SELECT inputs FROM predictions WHERE model=? AND version=? AND status=200 "
        "AND inputs IS NOT NULL ORDER BY ts DESC LIMIT ?", (model, version, limit)).fetchall()
    reference = (manifest.get("reference") or {}).get("inputs")
    if rows and reference:
        current = _features(_stack([r[0] for r in rows]), names)
        ref = _features({k: np.asarray(v) for k, v in reference.items()}, names)
        # The reference sample is small (16 rows): keep about 4 of its rows per bin.
        n_ref = min((len(col) for col in ref.values()), default=0)
        use = min(bins, max(2, n_ref // 4))
        entry["psi"] = {label: psi(ref[label], col, use)
                        for label, col in current.items() if label in ref}
    fed = conn.execute(
        "SELECT p.outputs, f.labels FROM predictions p JOIN feedback f "
        "ON p.request_id = f.request_id WHERE p.model=? AND p.version=? AND p.status=200",
        (model, version)).fetchall()
    if not fed:
        return
    y_true: list[Any] = []
    for _, labels in fed:
        y_true.extend(json.loads(labels))
    stacked = _stack([out for out, _ in fed])
    entry["feedback"] = len(y_true)
    if manifest.get("task") == "regressor":
        entry["live_metrics"] = _regressor_metrics(y_true, stacked)
    else:
        entry["live_metrics"] = _classifier_metrics(y_true, stacked, manifest.get("classes"))


def format_summary(summary: Mapping[str, Any]) -> str:
    """The text ``calipers monitor`` prints."""
    lines = []
    for e in summary["models"]:
        version = "-" if e["version"] is None else e["version"]
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(e["by_status"].items()))
        lines.append(f"{e['model']} version {version}: {e['requests']} request(s) "
                     f"({statuses}), {e['examples']} example(s)")
        if e["latency_ms"]:
            lat = e["latency_ms"]
            lines.append(f"  latency ms: p50 {lat['p50']:.2f}  p90 {lat['p90']:.2f}  "
                         f"p99 {lat['p99']:.2f}")
        if e["live_metrics"]:
            shown = "  ".join(f"{k} {v:.4f}" for k, v in e["live_metrics"].items())
            lines.append(f"  live metrics ({e['feedback']} labelled): {shown}")
        if e["psi"]:
            worst = sorted(e["psi"].items(), key=lambda kv: -np.nan_to_num(kv[1], nan=-1))
            lines.append("  PSI per feature (>0.25 drift, 0.1-0.25 watch):")
            for label, value in worst:
                flag = "  DRIFT" if value > 0.25 else ("  watch" if value > 0.1 else "")
                lines.append(f"    {label:<28} {value:8.4f}{flag}")
    return "\n".join(lines) if lines else "no requests logged yet"
