"""``calipers serve``: serve artifacts over TensorFlow Serving's REST API.

Usage::

    calipers serve BASE [--host 127.0.0.1] [--port 8501] [--poll-interval S]
                   [--max-body-bytes N] [--workers N] [--max-concurrency N]
                   [--log PATH | --no-log] [--trusted] [--log-level LEVEL]

BASE holds ``<name>/<version>/`` artifact directories (``calipers.export`` with
``calipers.export.version_dir``). New versions are picked up while serving.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

PROG = "calipers serve"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``serve`` subcommand to ``subparsers``."""
    p = subparsers.add_parser(
        "serve",
        help="serve artifacts over TensorFlow Serving's REST API, with monitoring",
        description="Serve every artifact under BASE/<name>/<version>/ over TensorFlow "
                    "Serving's REST API (/v1/models/...), with Prometheus metrics at "
                    "/monitoring/prometheus/metrics, a SQLite prediction log and a "
                    "feedback endpoint at /monitoring/feedback.",
        epilog="examples:\n  calipers serve models/\n"
               "  curl -d '{\"instances\": [[1.0, 2.0]]}' "
               "http://127.0.0.1:8501/v1/models/NAME:predict",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("base", metavar="BASE", help="model base directory")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=8501, help="port (default: 8501)")
    p.add_argument("--poll-interval", type=float, default=2.0, metavar="S",
                   help="seconds between scans for new versions (0: never; default 2)")
    p.add_argument("--max-body-bytes", type=_positive_int, default=16 * 1024 * 1024,
                   metavar="N", help="larger request bodies get HTTP 413 (default 16 MiB)")
    p.add_argument("--workers", type=_positive_int, default=4, metavar="N",
                   help="inference threads (default 4)")
    p.add_argument("--max-concurrency", type=_positive_int, metavar="N",
                   help="answer 503 beyond N concurrent connections")
    p.add_argument("--log", metavar="PATH",
                   help="SQLite prediction log (default BASE/.calipers/predictions.sqlite)")
    p.add_argument("--no-log", action="store_true", help="keep no prediction log")
    p.add_argument("--trusted", action="store_true",
                   help="also load pickle artifacts (they can run code when loaded)")
    p.add_argument("--log-level", default="info",
                   choices=("critical", "error", "warning", "info", "debug"))
    return p


def run(args: argparse.Namespace) -> int:
    """Run the server until interrupted; 1 with a message if it cannot start."""
    try:
        from calipers.serve import serve
    except ImportError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    try:
        serve(args.base, args.host, args.port, log_level=args.log_level,
              max_concurrency=args.max_concurrency, poll_interval=args.poll_interval,
              max_body_bytes=args.max_body_bytes, workers=args.workers,
              log_path=args.log, prediction_log=not args.no_log, trusted=args.trusted)
    except (FileNotFoundError, ImportError, ValueError, OSError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    return 0
