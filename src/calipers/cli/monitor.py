"""``calipers monitor``: what a ``calipers serve`` prediction log says.

Usage::

    calipers monitor BASE [--log PATH] [--min-rows N] [--format table|json]

Prints request counts, latency quantiles, live metrics from feedback and a drift
verdict with the PSI per input feature (against the per-feature histograms each
manifest holds, written by ``calipers.export(..., reference=X_train)``) per model
version. Without such a reference the verdict is "no reference"; on fewer than N
logged rows (default 200) it is "insufficient data".
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

PROG = "calipers monitor"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``monitor`` subcommand to ``subparsers``."""
    p = subparsers.add_parser(
        "monitor",
        help="request counts, latency, live metrics and drift of a `calipers serve` base",
        description="Summarize the prediction log of `calipers serve BASE`.",
    )
    p.add_argument("base", metavar="BASE", help="the model base given to `calipers serve`")
    p.add_argument("--log", metavar="PATH",
                   help="prediction log (default BASE/.calipers/predictions.sqlite)")
    p.add_argument("--min-rows", type=_positive_int, default=200, metavar="N",
                   help="fewest logged rows a drift verdict is given on (default 200)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    return p


def run(args: argparse.Namespace) -> int:
    """Print the summary; 1 with a message when there is no log."""
    from calipers.serve._monitor import default_log_path
    from calipers.serve._summary import format_summary, summarize

    log = args.log or default_log_path(args.base)
    try:
        summary = summarize(log, args.base, min_rows=args.min_rows)
    except (FileNotFoundError, ValueError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    if args.format == "json":
        print(json.dumps(summary, indent=2))
    else:
        print(format_summary(summary))
    return 0
