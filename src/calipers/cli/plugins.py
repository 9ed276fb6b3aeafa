"""``calipers plugins``: list the installed plugins, what they provide, and their status.

It is a report: the exit status is 0 even when some plugin is broken or incompatible.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from calipers import plugins
from calipers.plugins import PluginInfo

COLUMNS = ("NAME", "DIST", "VERSION", "PROVIDES", "STATUS")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``plugins`` subcommand to ``subparsers`` and return its parser."""
    parser = subparsers.add_parser(
        "plugins",
        help="list installed plugins and their status",
        description=(
            "List the installed calipers plugins: what each provides and whether it "
            "loaded (ok), cannot load until an extra is installed (unavailable, with "
            "the pip command), needs another calipers version (incompatible: not "
            "imported; with the version it needs and the pip command), failed (broken, "
            "with the error), or provides a name another plugin provides too "
            "(conflict). Set "
            f"{plugins.DISABLE_ENV}=1 to load none of the external plugins."
        ),
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="also list calipers' own (first-party) plugins",
    )
    parser.add_argument(
        "--json", action="store_true", help="print a JSON list of objects instead of a table"
    )
    return parser


def _provides(info: PluginInfo) -> str:
    return "; ".join(f"{kind}: {', '.join(names)}" for kind, names in info.provides.items()) or "-"


def _status(info: PluginInfo) -> str:
    if not info.reason:
        return info.status
    if info.status == "ok":
        return f"ok ({info.reason})"
    return f"{info.status}: {info.reason}"


def format_table(infos: list[PluginInfo]) -> str:
    """Return ``infos`` as an aligned text table (the status column is not padded)."""
    rows = [COLUMNS] + [
        (
            i.name + (" (builtin)" if i.builtin else ""),
            i.dist,
            i.version,
            _provides(i),
            _status(i),
        )
        for i in infos
    ]
    widths = [max(len(row[c]) for row in rows) for c in range(len(COLUMNS) - 1)]
    return "\n".join(
        "  ".join(
            [*(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)), row[-1]]
        ).rstrip()
        for row in rows
    )


def run(args: argparse.Namespace) -> int:
    """Print the plugin report; return 0 (even when a plugin is broken)."""
    # The table reports broken plugins itself: silence the host's load-time warnings.
    logger = logging.getLogger("calipers.plugins")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        infos = plugins.list_plugins(all=args.all)
    finally:
        logger.setLevel(level)
    if args.json:
        print(json.dumps([i.to_dict() for i in infos], indent=2))
    elif infos:
        print(format_table(infos))
    else:
        print("No external plugins installed (`calipers plugins --all` lists calipers' own).")
    disabled = plugins.disabled_plugins()
    if disabled:
        print(
            f"{len(disabled)} external plugin(s) skipped because {plugins.DISABLE_ENV} is "
            f"set: {', '.join(disabled)}",
            file=sys.stderr,
        )
    return 0
