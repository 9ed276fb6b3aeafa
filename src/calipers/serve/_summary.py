"""What ``calipers monitor`` prints: traffic, latency, live metrics, drift.

Everything comes from the prediction log and the artifacts' manifests, so it
works while the server runs or after it stopped:

- request counts (by HTTP status) and examples per model version;
- latency quantiles (p50/p90/p99, ms) of successful requests;
- live metrics from feedback: accuracy, macro F1 (and ROC AUC and log loss for
  binary classifiers with probabilities) or MAE/RMSE/R^2 for regressors,
  computed with calipers metrics;
- drift: PSI (population stability index) per input feature of the logged
  inputs against the per-feature quantile-bin histograms the manifest holds
  (``calipers.export(..., reference=X_train)``, at least 1000 rows). No verdict
  without such a reference ("no reference") or on fewer than ``min_rows``
  logged rows ("insufficient data"). A feature is flagged only when its PSI is
  over the usual threshold (0.25 drift, 0.1 watch) *and* over the PSI that
  sampling noise alone reaches at these sample sizes (two-sample chi-square
  bound, family-wise false-alarm rate 0.001 per window), so in-distribution
  traffic does not cry wolf on small windows.
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

from calipers.export._drift import (
    bin_counts,
    feature_columns,
    is_reference,
    reference_counts,
)
from calipers.serve._monitor import unpack

_EPS = 1e-4
#: PSI over which a feature is reported as drifted / worth watching (rule of thumb).
PSI_DRIFT = 0.25
PSI_WATCH = 0.1
#: Fewest logged rows a drift verdict is given on.
MIN_ROWS = 200
#: Chance that a window of in-distribution traffic flags any feature at all.
FALSE_ALARM = 1e-3


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
    return _psi_counts(np.bincount(assign(ref), minlength=n_bins),
                       np.bincount(assign(cur), minlength=n_bins))


def _psi_counts(ref: np.ndarray, cur: np.ndarray) -> float:
    """PSI of two histograms over the same bins (shares floored at 1e-4)."""
    p = np.maximum(ref / ref.sum(), _EPS)
    q = np.maximum(cur / cur.sum(), _EPS)
    return float(np.sum((q - p) * np.log(q / p)))


def _noise_level(ref: np.ndarray, cur: np.ndarray, tail: float) -> float:
    """The PSI that sampling noise alone exceeds with probability ``tail``.

    For two samples of one distribution, PSI (Jeffreys divergence of the binned
    shares) is about ``(1/n_ref + 1/n_cur) * chi2(bins - 1)``.
    """
    from scipy.stats import chi2

    dof = max(int(np.count_nonzero((ref + cur) > 0)) - 1, 1)
    return float((1.0 / ref.sum() + 1.0 / cur.sum()) * chi2.isf(tail, dof))


def drift(reference: Mapping[str, Any] | None, current: Mapping[str, np.ndarray],
          names: list[str] | None = None, *, min_rows: int = MIN_ROWS,
          false_alarm: float = FALSE_ALARM) -> dict[str, Any]:
    """Drift verdict of logged inputs against a manifest's drift reference.

    Parameters
    ----------
    reference : dict or None
        The manifest's ``"drift"`` entry (per-feature histograms written by
        ``calipers.export(..., reference=...)``); None or anything else: no verdict.
    current : dict[str, numpy.ndarray]
        The logged inputs, as named model inputs (batch axis first).
    names : list of str, optional
        The manifest's ``feature_names`` (how features are labelled).
    min_rows : int, default 200
        Fewest rows a verdict is given on.
    false_alarm : float, default 0.001
        Chance that in-distribution traffic flags any feature of one window: a
        feature is flagged only when its PSI is over the threshold and over the
        PSI that noise reaches with probability ``false_alarm / n_features``.

    Returns
    -------
    dict
        ``status`` (``"no reference"``, ``"insufficient data"``, ``"ok"``,
        ``"watch"`` or ``"drift"``), ``rows``, ``min_rows``, ``reference_rows``,
        ``psi`` ``{feature: PSI}`` and ``flags`` ``{feature: "DRIFT" | "watch"}``
        (both empty without a verdict), ``noise`` ``{feature: PSI noise level}``
        and ``message`` (one line saying why).
    """
    if not 0 < false_alarm < 1:
        raise ValueError(f"false_alarm must be in (0, 1), got {false_alarm!r}")
    rows = max((int(a.shape[0]) for a in current.values() if a.ndim), default=0)
    out: dict[str, Any] = {"status": "", "rows": rows, "min_rows": int(min_rows),
                           "reference_rows": None, "psi": {}, "flags": {}, "noise": {},
                           "message": ""}
    if reference is None or not is_reference(reference):
        out["status"] = "no reference"
        out["message"] = ("no reference: the manifest has no drift histograms (export with "
                          "calipers.export(..., reference=X_train), at least 1000 rows)")
        return out
    out["reference_rows"] = int(reference.get("rows") or 0)
    if rows < min_rows:
        out["status"] = "insufficient data"
        out["message"] = (f"insufficient data: {rows} row(s) logged, a verdict needs "
                          f"{min_rows}")
        return out
    columns = feature_columns(current, names)
    features = {label: spec for label, spec in reference["features"].items()
                if label in columns}
    tail = false_alarm / max(len(features), 1)
    for label, spec in features.items():
        ref, cur = reference_counts(spec), bin_counts(spec, columns[label])
        if ref.sum() == 0 or cur.sum() == 0:
            continue
        value, noise = _psi_counts(ref, cur), _noise_level(ref, cur, tail)
        out["psi"][label], out["noise"][label] = value, noise
        if value > max(PSI_DRIFT, noise):
            out["flags"][label] = "DRIFT"
        elif value > max(PSI_WATCH, noise):
            out["flags"][label] = "watch"
    drifted = sum(flag == "DRIFT" for flag in out["flags"].values())
    watched = len(out["flags"]) - drifted
    out["status"] = "drift" if drifted else ("watch" if watched else "ok")
    against = f"{rows} rows vs {out['reference_rows']} reference rows"
    out["message"] = (f"{drifted} feature(s) drifted, {watched} to watch ({against})"
                      if out["flags"] else
                      f"ok: no feature over its PSI threshold ({against}, "
                      f"{len(out['psi'])} feature(s))")
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
              min_rows: int = MIN_ROWS, limit: int = 100_000) -> dict[str, Any]:
    """Monitoring summary per model version from a prediction log.

    Parameters
    ----------
    log_path : str or os.PathLike
        The server's SQLite prediction log.
    base : str or os.PathLike, optional
        The model base (for the manifests' drift references, classes and task);
        without it there is no drift verdict and metrics assume a classifier.
    min_rows : int, default 200
        Fewest logged rows of a version a drift verdict is given on.
    limit : int, default 100000
        Use at most this many of the latest successful requests per version.

    Returns
    -------
    dict
        ``{"models": [{"model", "version", "requests", "by_status", "examples",
        "latency_ms", "feedback", "live_metrics", "psi", "drift"}, ...]}``:
        ``drift`` as :func:`drift` returns it, ``psi`` its ``psi``.
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
                "psi": {}, "drift": {}})
            entry["requests"] += count
            entry["by_status"][str(status)] = count
            if status == 200:
                entry["examples"] += n
        for (model, version), entry in report.items():
            if version is None:
                continue
            _fill(conn, entry, model, version, base, min_rows, limit)
    finally:
        conn.close()
    return {"models": list(report.values())}


def _fill(conn: sqlite3.Connection, entry: dict[str, Any], model: str, version: int,
          base: str | os.PathLike | None, min_rows: int, limit: int) -> None:
    latencies = np.array([r[0] for r in conn.execute(
        "SELECT latency_ms FROM predictions WHERE model=? AND version=? AND status=200",
        (model, version))], dtype=np.float64)
    if latencies.size:
        q = np.quantile(latencies, [0.5, 0.9, 0.99])
        entry["latency_ms"] = {"p50": float(q[0]), "p90": float(q[1]), "p99": float(q[2])}
    manifest = _manifest(base, model, version)
    names = (manifest.get("options") or {}).get("feature_names")
    rows = conn.execute(
        "SELECT inputs FROM predictions WHERE model=? AND version=? AND status=200 "
        "AND inputs IS NOT NULL ORDER BY ts DESC LIMIT ?", (model, version, limit)).fetchall()
    current = _stack([r[0] for r in rows]) if rows else {}
    entry["drift"] = drift(manifest.get("drift"), current, names, min_rows=min_rows)
    entry["psi"] = entry["drift"]["psi"]
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


def _manifest(base: str | os.PathLike | None, model: str, version: int) -> dict[str, Any]:
    """The manifest of a served version: ``<base>/<model>/<version>/`` or, for a model
    served from an unversioned artifact directory as version 1, ``<base>/<model>/``."""
    if base is None:
        return {}
    root = pathlib.Path(base) / model
    for path in (root / str(version) / "manifest.json",
                 *((root / "manifest.json",) if version == 1 else ())):
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(manifest, dict):
            return manifest
    return {}


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
        verdict = e.get("drift") or {}
        if verdict:
            lines.append(f"  drift: {verdict['message']}")
        if e["psi"]:
            flags = verdict.get("flags") or {}
            worst = sorted(e["psi"].items(), key=lambda kv: -np.nan_to_num(kv[1], nan=-1))
            lines.append("  PSI per feature (flagged over 0.25 drift / 0.1 watch and over "
                         "the sampling noise of these row counts):")
            for label, value in worst:
                flag = f"  {flags[label]}" if label in flags else ""
                lines.append(f"    {label:<28} {value:8.4f}{flag}")
    return "\n".join(lines) if lines else "no requests logged yet"
