"""The second half of ``calipers run``: refit the best trial, evaluate it on held-out rows."""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from calipers.cli._tune_data import is_classifier
from calipers.cli._tune_run import TuneResult, format_summary, scoring_label, scoring_of

__all__ = ["RunReport", "evaluate_best"]


@dataclass
class RunReport:
    """What ``calipers run`` prints (``text``) and writes as ``report.json`` (``data``).

    ``failed`` says why shipping failed (export error, parity out of tolerance);
    ``calipers run`` then exits with status 1 after writing every report.
    """

    text: str
    data: dict[str, Any]
    files: list[str]
    failed: str | None = None


def evaluate_best(result: TuneResult, out: Path, *, ship_format: str | None = "onnx"
                  ) -> RunReport:
    """Refit the study's best parameters, evaluate the held-out rows, ship, and report.

    Writes ``predictions.csv``, ``best_params.json``, ``report.txt``, ``report.json``
    and ``report.html`` into ``out`` and, unless ``ship_format`` is None, the
    artifact (``out/model/<name>/<version>/``) and its quantized copies (see
    :mod:`calipers.cli._run_ship`).

    Raises
    ------
    ValueError
        If no trial of the study completed (nothing to refit).
    """
    spec, study, data = result.spec, result.study, result.data
    try:
        best = study.best_trial
    except ValueError:
        raise ValueError(
            f"no trial of study {spec.study_name!r} completed, so there is nothing to refit; "
            f"see `calipers study show {_db_hint(spec.storage)}` for the failures") from None
    model = _refit(result, best.params)
    classifier = is_classifier(result.estimator)
    scoring = scoring_label(spec)
    held_out_score = _held_out_score(model, data.X_test, data.y_test, scoring_of(spec))

    files = []
    pred_path = out / "predictions.csv"
    y_pred = model.predict(data.X_test)
    columns = {"y_true": data.y_test, "y_pred": y_pred}
    proba = _positive_proba(model, data.X_test) if classifier else None
    if proba is not None:
        columns["y_score"] = proba
    _write_csv(pred_path, columns)
    files.append(str(pred_path))
    params_path = out / "best_params.json"
    params_path.write_text(json.dumps(best.params, indent=2, default=_json_default) + "\n",
                           encoding="utf-8")
    files.append(str(params_path))

    lines = [format_summary(result).rstrip("\n"), ""]
    lines.append(f"held out: {len(data.y_test)} rows ({spec.test_size:.0%} of {data.name}); "
                 f"refit on {len(data.y_train)} rows")
    lines.append(f"held-out {scoring}: {_fmt(held_out_score)}")
    held_out: dict[str, Any] = {
        "rows": int(len(data.y_test)), "train_rows": int(len(data.y_train)),
        "score": held_out_score if math.isfinite(held_out_score) else None, "eval": None}
    if classifier:
        from calipers.evaluate import format_table

        report = _evaluate_file(pred_path)
        held_out["eval"] = report.to_dict()
        lines.append("")
        lines.append(format_table(report).rstrip("\n"))
        metrics = {k: v for k, v in held_out["eval"]["metrics"].items()
                   if isinstance(v, float)}
    else:
        metrics = held_out["metrics"] = regression_metrics(data.y_test, y_pred)
        lines.append("held-out " + ", ".join(f"{k}: {_fmt(v)}" for k, v in metrics.items()))
    data_out: dict[str, Any] = {
        "study_name": spec.study_name,
        "storage": spec.storage,
        "estimator": spec.estimator_class,
        "data": data.name,
        "n_trials": len(study.trials),
        "n_run": result.n_run,
        "tune_seconds": round(result.seconds, 3),
        "scoring": scoring,
        "best_trial": best.number,
        "cv_score": best.value,
        "best_params": json.loads(json.dumps(best.params, default=_json_default)),
        "held_out": held_out,
        "importances": _importances(study),
    }
    failed = None
    if ship_format is not None:
        from calipers.cli._run_ship import ship

        shipped = ship(model, study_name=spec.study_name, out=out, X_train=data.X_train,
                       X_test=data.X_test, y_test=data.y_test,
                       task="classifier" if classifier else "regressor", metrics=metrics,
                       fmt=ship_format)
        data_out["ship"], failed = shipped.data, shipped.failed
        lines += ["", *shipped.lines]
    data_out["versions"] = library_versions()

    from calipers.report import render_figures, write_html_report

    figures, notes = render_figures(model=model, X_test=data.X_test, y_test=data.y_test,
                                    study=study, classifier=classifier)
    data_out["notes"] = notes
    files += [str(out / "report.txt"), str(out / "report.json"), str(out / "report.html")]
    lines += [f"note: {n}" for n in notes]
    lines.append("")
    lines.append(f"written to {out}/: " + ", ".join(Path(f).name for f in files))
    text = "\n".join(lines) + "\n"
    (out / "report.txt").write_text(text, encoding="utf-8")
    (out / "report.json").write_text(json.dumps(data_out, indent=2) + "\n", encoding="utf-8")
    write_html_report(out / "report.html", data_out, figures, notes)
    data_out["files"] = files
    return RunReport(text, data_out, files, failed)


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Mean absolute error, root mean squared error and R^2 of held-out predictions."""
    y = np.asarray(y_true, dtype=np.float64)
    err = np.asarray(y_pred, dtype=np.float64).reshape(y.shape) - y
    ss_tot = float(np.sum((y - y.mean()) ** 2)) if len(y) else 0.0
    return {"mean_absolute_error": float(np.mean(np.abs(err))) if len(y) else math.nan,
            "root_mean_squared_error": float(np.sqrt(np.mean(err ** 2))) if len(y) else math.nan,
            "r2": 1.0 - float(np.sum(err ** 2)) / ss_tot if ss_tot > 0 else math.nan}


def library_versions() -> dict[str, str]:
    """Versions of python, calipers and the installed libraries a run can use."""
    import platform
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("calipers", "numpy", "scikit-learn", "skops", "onnx", "onnxruntime",
                 "skl2onnx", "matplotlib"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def _importances(study: Any) -> dict[str, Any] | None:
    from calipers.cli._study_plot import param_importances

    try:
        values, method = param_importances(study)
    except ValueError:  # fewer than 3 complete trials
        return None
    return {"method": method, "values": values}


def _refit(result: TuneResult, params: dict[str, Any]) -> Any:
    from sklearn.base import clone

    model = clone(result.estimator).set_params(**params)
    if result.spec.threads:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=result.spec.threads):
            return model.fit(result.data.X_train, result.data.y_train)
    return model.fit(result.data.X_train, result.data.y_train)


def _held_out_score(model: Any, X: np.ndarray, y: np.ndarray, scoring: str | None) -> float:
    from calipers.search._cv_scoring import check_scoring

    return float(check_scoring(scoring)(model, X, y))


def _positive_proba(model: Any, X: np.ndarray) -> np.ndarray | None:
    classes = getattr(model, "classes_", None)
    if classes is None or len(classes) != 2 or not hasattr(model, "predict_proba"):
        return None
    return np.asarray(model.predict_proba(X))[:, 1]


def _write_csv(path: Path, columns: dict[str, np.ndarray]) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    pacsv.write_csv(pa.table({k: np.asarray(v) for k, v in columns.items()}), path)


def _evaluate_file(path: Path) -> Any:
    from calipers.cli import eval as cli_eval
    from calipers.evaluate import evaluate

    parser = argparse.ArgumentParser(prog="calipers")
    cli_eval.add_parser(parser.add_subparsers())
    args = parser.parse_args(["eval", str(path), "--no-progress"])
    return evaluate(args)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def _db_hint(storage: str) -> str:
    return storage[len("sqlite:///"):] if storage.startswith("sqlite:///") else storage


def _fmt(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.6f}"

