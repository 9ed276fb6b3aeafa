"""``calipers`` command: argument parsing and dispatch to the subcommand modules."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

import calipers

#: subcommand -> module with ``add_parser(subparsers)`` and ``run(args) -> int``.
SUBCOMMANDS: dict[str, str] = {
    "plugins": "calipers.cli.plugins",
    "plugin": "calipers.cli.plugin",
    "eval": "calipers.cli.eval",
    "tune": "calipers.cli.tune",
    "study": "calipers.cli.study",
    "run": "calipers.cli.run",
    "serve": "calipers.cli.serve",
    "monitor": "calipers.cli.monitor",
}

_RUN = "_calipers_run"


def _unavailable(name: str, error: BaseException) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        print(
            f"calipers {name} is unavailable in this install: {type(error).__name__}: {error}",
            file=sys.stderr,
        )
        return 1

    return run


def build_parser() -> argparse.ArgumentParser:
    """Return the ``calipers`` argument parser with every subcommand that imports.

    A subcommand module that is not there is left out; one that fails to import
    still gets a subcommand, which reports the error when run, so that a problem
    in one subcommand never takes ``calipers plugins`` down with it.
    """
    parser = argparse.ArgumentParser(
        prog="calipers",
        description="Measure, tune and ship machine-learning models.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {calipers.__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name, module_name in SUBCOMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # not part of this install (yet)
            sub = subparsers.add_parser(name, help="(unavailable: see `calipers " + name + "`)")
            sub.set_defaults(**{_RUN: _unavailable(name, exc)})
            continue
        except Exception as exc:
            sub = subparsers.add_parser(name, help="(unavailable: see `calipers " + name + "`)")
            sub.set_defaults(**{_RUN: _unavailable(name, exc)})
            continue
        sub = module.add_parser(subparsers)
        sub.set_defaults(**{_RUN: module.run})
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``calipers`` command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; defaults to ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status: 0 on success, 2 on a usage error (this function returns
        it rather than exiting, also for ``--help`` and ``--version``).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors: argparse exits
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    run = getattr(args, _RUN, None)
    if run is None:
        parser.print_help(sys.stderr)
        return 2
    return int(run(args))


if __name__ == "__main__":
    sys.exit(main())
