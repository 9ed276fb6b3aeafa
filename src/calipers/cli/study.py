"""``calipers study``: look into a stored study.

Usage::

    calipers study show DB [--study-name NAME] [--sort number|value] [--limit N]
                           [--format table|json]
    calipers study plot DB [--study-name NAME] --out history.png

DB is a SQLite file (``calipers-study.db``) or any SQLAlchemy URL. ``show`` prints
one row per trial (number, state, value, duration, parameters); when DB holds
several studies and no ``--study-name`` is given it lists them instead. ``plot``
draws the optimization history (every trial's value and the best so far) and the
parameter importances (see :mod:`calipers.cli._study_plot`) into one PNG; it needs
matplotlib (``pip install 'calipers[plot]'``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from calipers.cli.eval import _one_line, _positive_int

__all__ = ["StudyView", "add_parser", "format_trials", "open_study", "run", "storage_url"]

PROG = "calipers study"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``study`` subcommand (with ``show`` and ``plot``) to ``subparsers``."""
    p = subparsers.add_parser(
        "study",
        help="show the trials of a stored study, or plot its history and importances",
        description="Look into a study stored by `calipers tune` / `calipers run`.",
        epilog=(
            "examples:\n"
            "  calipers study show calipers-study.db\n"
            "  calipers study show calipers-study.db --sort value --limit 10\n"
            "  calipers study plot calipers-study.db --out history.png"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(title="actions", metavar="ACTION", dest="action", required=True)
    show = sub.add_parser("show", help="a table of the trials (or of the studies in DB)")
    plot = sub.add_parser("plot", help="optimization history and parameter importances as PNG")
    for q in (show, plot):
        q.add_argument("db", metavar="DB", help="SQLite file or SQLAlchemy URL of the storage")
        q.add_argument("--study-name", metavar="NAME",
                       help="the study (needed when DB holds several)")
    show.add_argument("--sort", choices=("number", "value"), default="number",
                      help="row order: trial number, or best value first")
    show.add_argument("--limit", type=_positive_int, metavar="N", help="show only N rows")
    show.add_argument("--format", choices=("table", "json"), default="table")
    plot.add_argument("--out", required=True, metavar="PNG", help="the picture to write")
    return p


def storage_url(db: str) -> str:
    """Return the SQLAlchemy URL of DB: a URL as given, a path as an existing SQLite file.

    Raises
    ------
    FileNotFoundError
        If DB is a path that does not exist (so that a typo never creates an empty
        database).
    """
    if "://" in db:
        if db.startswith("sqlite:///"):
            path = db[len("sqlite:///"):]
            if path and path != ":memory:" and not Path(path).is_file():
                raise FileNotFoundError(f"no such study database: {path!r}")
        return db
    path = Path(db)
    if not path.is_file():
        raise FileNotFoundError(f"no such study database: {db!r}")
    return f"sqlite:///{path.resolve().as_posix()}"


class StudyView:
    """A read-only view of a stored study: what ``show`` and ``plot`` need.

    Read straight from the storage, without :func:`calipers.load_study`: looking at
    a study never writes to it (no stale-trial recovery while another process may
    be running it) and does not need its searcher to be installed.
    """

    def __init__(self, storage: Any, name: str) -> None:
        from calipers.search import SearchSpace

        info = storage.get_study(name)
        self.study_name = info.study_name
        self.direction = info.direction
        self.space = SearchSpace.from_dict(info.space)
        trials, _ = storage.read_trials(info.study_id, 0)
        self.trials = sorted(trials, key=lambda t: t.number)

    @property
    def best_trial(self) -> Any:
        """The COMPLETE trial with the best value (lowest number on ties)."""
        complete = [t for t in self.trials if _state(t) == "COMPLETE" and t.value is not None
                    and not math.isnan(t.value)]
        if not complete:
            raise ValueError(f"study {self.study_name!r} has no COMPLETE trial")
        sign = -1.0 if self.direction == "maximize" else 1.0
        return min(complete, key=lambda t: (sign * t.value, t.number))

    @property
    def best_value(self) -> float:
        return float(self.best_trial.value)


def open_study(db: str, study_name: str | None) -> tuple[StudyView | None, list[str]]:
    """Read a study from DB; return ``(study or None, names of the studies in DB)``.

    ``None`` comes back when DB holds several studies and ``study_name`` is not given.

    Raises
    ------
    ValueError
        If DB holds no study, or ``study_name`` is not one of them (listing them).
    """
    from calipers.search._storage import get_storage

    storage = get_storage(storage_url(db))
    try:
        names = storage.study_names()
        if not names:
            raise ValueError(f"{db} holds no study")
        if study_name is None:
            if len(names) > 1:
                return None, names
            study_name = names[0]
        if study_name not in names:
            raise ValueError(f"{db} has no study named {study_name!r}; its studies: "
                             f"{', '.join(names)}")
        return StudyView(storage, study_name), names
    finally:
        storage.close()


def run(args: argparse.Namespace) -> int:
    """Run ``calipers study show|plot``: 0 on success, 2 on bad input."""
    prog = f"{PROG} {args.action}"
    try:
        study, names = open_study(args.db, args.study_name)
        if study is None:
            text = format_studies(args.db, names)
            if args.action == "plot":
                raise ValueError(f"{args.db} holds {len(names)} studies "
                                 f"({', '.join(names)}); choose one with --study-name")
        elif args.action == "show":
            text = (format_trials(study, args.sort, args.limit) if args.format == "table"
                    else json.dumps(trials_json(study, args.sort, args.limit), indent=2)
                    + "\n")
        else:
            from calipers.cli._study_plot import plot_study

            written = plot_study(study, args.out)
            text = f"wrote {written}\n"
    except (ValueError, TypeError, OSError, ImportError, KeyError) as exc:
        msg = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"{prog}: error: {_one_line(msg)}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


# -- formatting --------------------------------------------------------------------------


def format_studies(db: str, names: list[str]) -> str:
    """The listing shown when DB holds several studies."""
    from calipers.search._storage import get_storage

    storage = get_storage(storage_url(db))
    rows = [("study", "trials", "complete", "direction", "best value")]
    try:
        for name in names:
            study = StudyView(storage, name)
            complete = sum(_state(t) == "COMPLETE" for t in study.trials)
            best = _fmt(study.best_value) if complete else "-"
            rows.append((name, str(len(study.trials)), str(complete), study.direction, best))
    finally:
        storage.close()
    lines = [f"{db} holds {len(names)} studies; show one with --study-name NAME", ""]
    lines += _align(rows, right=(1, 2, 4))
    return "\n".join(lines) + "\n"


def _ordered(study: Any, sort: str, limit: int | None) -> list[Any]:
    trials = sorted(study.trials, key=lambda t: t.number)
    if sort == "value":
        sign = -1.0 if str(study.direction) == "maximize" else 1.0

        def key(t: Any) -> tuple[int, float, int]:
            ok = _state(t) == "COMPLETE" and t.value is not None and math.isfinite(t.value)
            return (0 if ok else 1, sign * t.value if ok else 0.0, t.number)

        trials.sort(key=key)
    return trials[:limit] if limit else trials


def format_trials(study: Any, sort: str = "number", limit: int | None = None) -> str:
    """A table of the study's trials: number, state, value, duration and each parameter."""
    names = list(study.space.names) if getattr(study, "space", None) is not None else []
    trials = _ordered(study, sort, limit)
    for t in trials:
        names += [k for k in t.params if k not in names]
    rows = [("number", "state", "value", "duration_s", *names)]
    for t in trials:
        rows.append((
            str(t.number),
            _state(t),
            "-" if t.value is None else _fmt(t.value),
            "-" if t.duration is None else f"{t.duration.total_seconds():.2f}",
            *("" if n not in t.params else _fmt(t.params[n]) for n in names),
        ))
    head = f"study: {study.study_name}   direction: {study.direction}   trials: " \
           f"{len(study.trials)}"
    complete = [t for t in study.trials if _state(t) == "COMPLETE"]
    if complete:
        best = study.best_trial
        head += f"   best: #{best.number} = {_fmt(best.value)}"
    lines = [head, "", *_align(rows, right=(0, 2, 3))]
    if limit and len(study.trials) > limit:
        lines.append(f"({len(study.trials) - limit} more; drop --limit to see all)")
    return "\n".join(lines) + "\n"


def trials_json(study: Any, sort: str = "number", limit: int | None = None) -> dict[str, Any]:
    """The ``--format json`` output of ``show``."""
    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return v.item() if hasattr(v, "item") else v

    return {
        "study_name": study.study_name,
        "direction": str(study.direction),
        "trials": [
            {
                "number": t.number,
                "state": _state(t),
                "value": clean(t.value),
                "duration_s": None if t.duration is None else t.duration.total_seconds(),
                "params": {k: clean(v) for k, v in t.params.items()},
                "fail_reason": t.fail_reason,
            }
            for t in _ordered(study, sort, limit)
        ],
    }


def _state(trial: Any) -> str:
    return str(getattr(trial.state, "value", trial.state))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def _align(rows: list[tuple[str, ...]], right: tuple[int, ...] = ()) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(f"{c:>{w}}" if i in right else f"{c:<{w}}"
                  for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
        for r in rows
    ]
