"""``calipers run``: tune, refit the best, evaluate on held-out rows, export, verify, quantize.

Usage::

    calipers run [SPEC.toml] [--out DIR] [--format table|json] [--no-ship]
                 [--export-format onnx|skops] [tuning overrides]

Without SPEC the bundled default runs (``calipers/data/default_tune.toml``: a
HistGradientBoostingClassifier on scikit-learn's breast-cancer data, the ``bayes``
searcher, 30 trials of 5-fold stratified CV scored by ROC AUC; its study is kept in
``DIR/calipers-study.db``). The steps:

1. tune as ``calipers tune`` does, on the rows left after holding out the spec's
   ``test_size`` (a stored study is resumed; a finished one is not re-run);
2. refit the estimator with the best parameters on those rows;
3. predict the held-out rows and evaluate the predictions with calipers' metrics,
   as ``calipers eval`` does (classifiers; regressors: MAE, RMSE, R^2);
4. unless ``--no-ship``: export the refitted model (``--export-format``, default
   ONNX) to ``DIR/model/<name>/<version>/`` (``calipers serve DIR/model`` serves
   it), check its parity with the model on the held-out rows (a failure exits with
   status 1, after the reports are written) and, for ONNX, write int8 copies to
   ``DIR/model-quantized/`` with their size, latency and metric deltas (see
   :mod:`calipers.cli._run_ship`). Without the format's extra these steps are
   skipped with a note naming the ``pip install``.

DIR (default ``calipers-run``) receives ``report.txt`` (what is printed),
``report.json``, ``report.html`` (one self-contained page: metrics, ROC / PR /
confusion-matrix pictures, tuning history and importances, parity and quantization,
versions; pictures need the ``plot`` extra), ``predictions.csv`` (held-out labels,
predictions and, for binary classifiers, the positive class's probability) and
``best_params.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from calipers.cli.eval import _one_line
from calipers.cli.tune import add_tuning_arguments, apply_overrides, dask_executor, guarded

__all__ = ["DEFAULT_SPEC", "add_parser", "default_spec_path", "run"]

PROG = "calipers run"
#: File name of the bundled spec inside :mod:`calipers.data`.
DEFAULT_SPEC = "default_tune.toml"


def default_spec_path() -> Path:
    """Return the path of the bundled default spec."""
    import importlib.resources

    path = Path(str(importlib.resources.files("calipers.data").joinpath(DEFAULT_SPEC)))
    if not path.is_file():
        raise FileNotFoundError(f"the bundled spec {DEFAULT_SPEC!r} is missing from "
                                f"{path.parent}; reinstall calipers")
    return path


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``run`` subcommand to an argparse ``subparsers`` object."""
    p = subparsers.add_parser(
        "run",
        help="tune -> refit the best -> evaluate on held-out rows -> export, verify, quantize "
        "(default: a bundled demo)",
        description=(
            "Tune the estimator of SPEC (as `calipers tune`), refit the best parameters on "
            "the training rows and evaluate on the held-out rows with calipers' metrics; then "
            "export the model to DIR/model/<name>/<version>/ (served by `calipers serve "
            "DIR/model`), check its parity on the held-out rows, quantize it (ONNX) and "
            "write DIR/report.html. "
            "Without SPEC: the bundled breast-cancer / gradient-boosting / bayes spec."
        ),
        epilog=(
            "examples:\n"
            "  calipers run\n"
            "  calipers run spec.toml --out results --n-trials 50\n"
            "  calipers run --no-ship                 # stop after the held-out evaluation\n"
            "the bundled spec, to copy and edit: python -c \"import calipers.cli.run as r; "
            "print(r.default_spec_path())\""
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("spec", nargs="?", metavar="SPEC",
                   help="the TOML spec (default: the bundled breast-cancer spec)")
    p.add_argument("--out", default="calipers-run", metavar="DIR",
                   help="directory for report.txt, report.json, report.html, predictions.csv, "
                   "best_params.json, model/ and model-quantized/ (created; default: "
                   "calipers-run)")
    p.add_argument("--format", choices=("table", "json"), default="table",
                   help="what is printed (both are written to DIR)")
    p.add_argument("--no-ship", action="store_true",
                   help="stop after the held-out evaluation: no export, parity check or "
                   "quantization")
    p.add_argument("--export-format", choices=("onnx", "skops"), default="onnx",
                   help="artifact format of the exported model (default: onnx, needs "
                   "pip install 'calipers[onnx]'; skops: scikit-learn's safe format, not "
                   "quantized)")
    add_tuning_arguments(p)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``calipers run``: 0 on success, 1 when export or parity failed (after the
    reports are written), 2 on bad input (one error line on stderr)."""
    from calipers.cli._run_report import evaluate_best
    from calipers.cli._tune_run import tune

    out = Path(args.out)

    def work() -> Any:
        spec = apply_overrides(_load(args.spec, out), args)
        out.mkdir(parents=True, exist_ok=True)
        with dask_executor(getattr(args, "dask", None)) as executor:
            result = tune(spec, progress=args.progress, executor=executor)
        return evaluate_best(result, out,
                             ship_format=None if args.no_ship else args.export_format)

    code, report = guarded(PROG, work)
    if code:
        return code
    text = report.text if args.format == "table" else json.dumps(report.data, indent=2) + "\n"
    sys.stdout.write(text)
    if report.failed:
        print(f"{PROG}: error: {_one_line(report.failed)} (see {out / 'report.html'})",
              file=sys.stderr)
        return 1
    return 0


def _load(spec_path: str | None, out: Path) -> Any:
    from calipers.cli._tune_spec import _tomllib, load_spec, parse_spec

    if spec_path is not None:
        return load_spec(spec_path)
    path = default_spec_path()
    with path.open("rb") as f:
        raw = _tomllib().load(f)
    # The bundled spec lives in the installed package: its study goes into --out.
    return parse_spec(raw, source=f"<bundled {DEFAULT_SPEC}>", base_dir=out.resolve(),
                      default_name="default")
