"""``calipers plugin new``: create a plugin distribution from a template.

Usage::

    calipers plugin new NAME --kind metric|searcher|exporter|backend [--dir DIR]

writes ``DIR/NAME`` (``DIR`` defaults to the current folder): ``pyproject.toml`` with
the entry point, a package with a working example of the hook, tests that run
calipers' conformance checks, and a README. See :mod:`calipers.plugin_template`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

PROG = "calipers plugin new"
#: The kinds a template exists for (as in calipers.plugin_template.KINDS, which this
#: module does not import at parser-building time to keep ``calipers --help`` fast).
KINDS = ("metric", "searcher", "exporter", "backend")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``plugin`` subcommand (with its ``new`` subcommand); return its parser."""
    parser = subparsers.add_parser(
        "plugin",
        help="create a new plugin package from a template (calipers plugin new)",
        description="Tools for plugin authors.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    new = commands.add_parser(
        "new",
        help="write a ready-to-install plugin distribution",
        description=(
            "Write DIR/NAME: a plugin distribution with pyproject.toml (entry point in "
            "group 'calipers', a 'test' extra), a package with a small working example of "
            "the hook for KIND, tests that run calipers' conformance checks on it, and a "
            "README. The package is calipers_<name in snake case>; the plugin registers "
            "NAME in snake case (without a leading 'calipers_')."
        ),
        epilog="example: calipers plugin new my-metric --kind metric",
    )
    new.add_argument("name", metavar="NAME", help="distribution name, e.g. my-metric")
    new.add_argument(
        "--kind", required=True, choices=KINDS, help="which hook the plugin implements"
    )
    new.add_argument(
        "--dir",
        default=".",
        metavar="DIR",
        help="folder to create NAME in (default: the current folder; created if missing)",
    )
    new.set_defaults(_plugin_command=_run_new)
    return parser


def _run_new(args: argparse.Namespace) -> int:
    from calipers.plugin_template import new_plugin, plugin_names

    try:
        path = new_plugin(args.name, args.kind, args.dir)
    except (ValueError, TypeError, OSError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    names = plugin_names(args.name, args.kind)
    shown = _shown(path)
    print(
        f"Created {shown}: the {names.kind} {names.name!r} in package {names.module} "
        f"(distribution {names.dist}).\n"
        "Next:\n"
        f"  cd {shlex.quote(shown)}\n"
        "  pip install -e '.[test]'\n"
        f"  calipers plugins           # lists {names.name!r} with status ok\n"
        "  pytest"
    )
    return 0


def _shown(path: Path) -> str:
    """``path`` relative to the current folder when it is below it."""
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def run(args: argparse.Namespace) -> int:
    """Run ``calipers plugin <command>``; without a command, print the usage (status 2)."""
    command = getattr(args, "_plugin_command", None)
    if command is None:
        print(f"usage: calipers plugin new NAME --kind {{{','.join(KINDS)}}} [--dir DIR]",
              file=sys.stderr)
        return 2
    return int(command(args))
