"""The ``calipers`` command line (entry point :func:`calipers.cli.main.main`).

Each subcommand lives in its own module exposing ``add_parser(subparsers)`` and
``run(args) -> int``; :mod:`calipers.cli.main` imports them only when building the
parser, so ``import calipers`` never pays for the CLI.
"""
