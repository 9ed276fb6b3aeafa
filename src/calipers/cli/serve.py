"""``calipers serve``: serve artifacts over TensorFlow Serving's REST API.

Usage::

    calipers serve BASE [--host 127.0.0.1] [--port 8501] [--poll-interval S]
                   [--max-body-bytes N] [--inference-threads N] [--intra-op-threads N]
                   [--inline-max-ms MS] [--max-concurrency N] [--header-timeout S]
                   [--body-timeout S] [--log PATH | --no-log]
                   [--trusted] [--log-level LEVEL]

BASE holds ``<name>/<version>/`` artifact directories (``calipers.export`` with
``calipers.export.version_dir``). New versions are picked up while serving.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

PROG = "calipers serve"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _nonnegative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _nonnegative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
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
    p.add_argument("--inference-threads", "--workers", dest="inference_threads",
                   type=_positive_int, metavar="N",
                   help="threads parsing requests and running the models (default: the "
                        "usable CPUs, at most 4; --workers is the old name)")
    p.add_argument("--intra-op-threads", type=_nonnegative_int, metavar="N",
                   help="onnxruntime intra-op threads per model call (0: onnxruntime "
                        "decides, one per physical core; default: 1 with more than one "
                        "inference thread, so that concurrent calls do not oversubscribe "
                        "the cores)")
    p.add_argument("--inline-max-ms", type=_nonnegative_float, default=2.0, metavar="MS",
                   help="answer a request on the event loop's thread, without the hand-off "
                        "to an inference thread, while its model's requests take under MS "
                        "milliseconds on average and its body is at most 64 KiB (0: never; "
                        "default 2)")
    p.add_argument("--max-concurrency", type=_positive_int, default=256, metavar="N",
                   help="answer 503 to requests beyond N open connections (or N requests "
                        "in progress) (default 256)")
    p.add_argument("--header-timeout", type=_positive_float, default=10.0, metavar="S",
                   help="close a connection whose request headers are not complete S "
                        "seconds after it opened or after the request's first byte, with "
                        "408 if part of a request came (default 10)")
    p.add_argument("--body-timeout", type=_positive_float, default=60.0, metavar="S",
                   help="answer 408 and close the connection when a request body is not "
                        "complete S seconds after its headers (default 60)")
    p.add_argument("--log", metavar="PATH",
                   help="SQLite prediction log; each request's row is committed before its "
                        "answer, concurrent requests share a commit (default "
                        "BASE/.calipers/predictions.sqlite)")
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
              max_concurrency=args.max_concurrency, header_timeout=args.header_timeout,
              body_timeout=args.body_timeout, poll_interval=args.poll_interval,
              max_body_bytes=args.max_body_bytes, inference_threads=args.inference_threads,
              intra_op_threads=args.intra_op_threads, inline_max_ms=args.inline_max_ms,
              log_path=args.log, prediction_log=not args.no_log, trusted=args.trusted)
    except (FileNotFoundError, ImportError, ValueError, OSError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    return 0
