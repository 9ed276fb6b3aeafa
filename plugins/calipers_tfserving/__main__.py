"""``python -m calipers_tfserving predict``: a served model's predictions for ``calipers eval``.

Usage::

    python -m calipers_tfserving predict URL MODEL DATA.csv --y-true COL
        [--features COL ...] [--input NAME] [--version V] [--batch-size N]
        [--columnar] [--timeout S] -o preds.csv
    calipers eval preds.csv --y-true y_true --y-score y_score

DATA.csv holds one example per row: numeric feature columns (default: every column
but ``--y-true``) and the true label. The features go to the server as one input
(``--input NAME``, default: the signature's only input), in batches; the answers
and the labels are written as ``y_true``, ``y_pred``, ``y_score`` columns
(:func:`calipers_tfserving.write_predictions`).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence

import numpy as np

from calipers.serve.client import ServingError
from calipers_tfserving._backend import predict_remote, write_predictions
from calipers_tfserving._client import Client

PROG = "python -m calipers_tfserving"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("predict", help="predict a CSV with a served model; write preds.csv")
    p.add_argument("url", help="the server, e.g. http://127.0.0.1:8501 or grpc://host:8500")
    p.add_argument("model", help="the model name")
    p.add_argument("data", help="CSV file: feature columns and the true label")
    p.add_argument("--y-true", required=True, metavar="COL", help="the true-label column")
    p.add_argument("--features", nargs="+", metavar="COL",
                   help="feature columns, in the model's order (default: all but --y-true)")
    p.add_argument("--input", metavar="NAME",
                   help="the signature input to send the features as (default: its only one)")
    p.add_argument("--version", type=int, help="a fixed model version (default: latest)")
    p.add_argument("--batch-size", type=int, default=256, help="rows per request (256)")
    p.add_argument("--columnar", action="store_true", help="send {'inputs': ...} (columns)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per request (30)")
    p.add_argument("-o", "--output", required=True, metavar="PATH", help="predictions CSV")
    return parser


def _read(path: str, y_col: str, features: Sequence[str] | None
          ) -> tuple[np.ndarray, np.ndarray]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{path} has no rows")
    columns = list(rows[0])
    if y_col not in columns:
        raise ValueError(f"{path} has no column {y_col!r} (columns: {', '.join(columns)})")
    features = list(features) if features else [c for c in columns if c != y_col]
    missing = [c for c in features if c not in columns]
    if missing:
        raise ValueError(f"{path} has no column(s) {', '.join(missing)}")
    try:
        X = np.asarray([[float(r[c]) for c in features] for r in rows], dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"{path}: feature values must be numbers ({exc})") from None
    labels = [r[y_col] for r in rows]
    try:
        y = np.asarray([int(v) for v in labels])
    except ValueError:
        y = np.asarray(labels)
    return X, y


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit status (2 on bad input or a server error)."""
    args = _parser().parse_args(argv)
    try:
        X, y = _read(args.data, args.y_true, args.features)
        client = Client(args.url, args.model, args.version, timeout=args.timeout)
        name = args.input
        if name is None:
            inputs = list(client.signature()["inputs"])
            if len(inputs) != 1:
                raise ValueError(f"model {args.model!r} has inputs {inputs}; pass --input NAME")
            name = inputs[0]
        outputs = predict_remote(client, {name: X}, batch_size=args.batch_size,
                                 columnar=args.columnar)
        write_predictions(args.output, y, outputs)
    except (ValueError, TypeError, OSError, KeyError, ServingError, ImportError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(y)} predictions to {args.output}; score them with: calipers eval "
          f"{args.output} --y-true y_true --y-score y_score")
    return 0


if __name__ == "__main__":
    sys.exit(main())
