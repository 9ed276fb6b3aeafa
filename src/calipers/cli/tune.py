"""``calipers tune``: tune an estimator's hyper-parameters from a TOML spec.

Usage::

    calipers tune SPEC.toml [--storage URL] [--study-name NAME] [--n-trials N]
                  [--n-jobs N] [--batch-size N] [--timeout S] [--seed S]
                  [--dask ADDRESS] [--progress | --no-progress]

The spec (see :mod:`calipers.cli._tune_spec`) names the data, the estimator, the
search space, the searcher, the budget, the cross-validation and the scoring. The
study is stored (default: ``calipers-study.db`` next to the spec) and resumed when
it exists: ``n_trials`` is the study's total, so running the command again after an
interruption runs only the missing trials. A progress bar shows the trial count and
the best score so far; at the end the best trial's score and parameters are printed.

With ``--n-jobs N`` (or ``--dask``) an adaptive searcher such as ``bayes`` proposes N
trials per round (the cluster's threads with ``--dask``), so they run at the same time;
``--batch-size`` (or ``[searcher] batch_size``) sets the round size instead: the same
seed and batch size give the same trials for any ``--n-jobs``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from calipers._extras import install_hint
from calipers.cli.eval import _checked, _one_line, _positive_int, _seed

__all__ = ["add_parser", "add_tuning_arguments", "apply_overrides", "dask_executor", "run"]

PROG = "calipers tune"

_n_jobs = _checked(int, lambda v: v >= 1 or v == -1, "a positive integer or -1")
_seconds = _checked(float, lambda v: v > 0, "a positive number of seconds")


def add_tuning_arguments(p: argparse.ArgumentParser) -> None:
    """The options ``calipers tune`` and ``calipers run`` share (they override the spec)."""
    g = p.add_argument_group("overrides of the spec")
    g.add_argument("--storage", metavar="URL",
                   help="SQLAlchemy URL of the study database, e.g. sqlite:///study.db or "
                   "postgresql+psycopg://user@host/db (a plain path means a SQLite file; "
                   "default: the spec's, else calipers-study.db next to the spec)")
    g.add_argument("--study-name", metavar="NAME", help="default: the spec's, else its stem")
    g.add_argument("--n-trials", type=_positive_int, metavar="N",
                   help="the study's total number of trials (a resumed study runs the rest)")
    g.add_argument("--n-jobs", type=_n_jobs, metavar="N",
                   help="trials run in parallel processes (-1: one per core)")
    g.add_argument("--batch-size", type=_positive_int, metavar="N",
                   help="trials an adaptive searcher (bayes, halving) proposes per round, "
                   "each round seeing the results of the rounds before (default: the "
                   "spec's [searcher] batch_size, else one per parallel slot: --n-jobs, or "
                   "the --dask cluster's threads). Smaller rounds lose less to parallelism "
                   "per trial; the same seed and batch size give the same trials")
    g.add_argument("--timeout", type=_seconds, metavar="S", help="stop after S seconds")
    g.add_argument("--dask", metavar="ADDRESS",
                   help="run the trials on the dask cluster whose scheduler is at ADDRESS "
                   "(e.g. tcp://host:8786; needs pip install 'calipers[dask]'); the study "
                   "is still asked and written here")
    g.add_argument("--seed", type=_seed, metavar="S",
                   help="seed of the searcher, the held-out split and the CV folds "
                   "(those the spec does not set itself)")
    bar = p.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="always show the progress bar on stderr (default: on a terminal)")
    bar.add_argument("--no-progress", dest="progress", action="store_false")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``tune`` subcommand to an argparse ``subparsers`` object."""
    p = subparsers.add_parser(
        "tune",
        help="tune hyper-parameters from a TOML spec (cross-validated, stored, resumable)",
        description=(
            "Tune an estimator's hyper-parameters as SPEC.toml describes: data, estimator, "
            "space, searcher, budget, cv, scoring, storage. The study is stored and resumed "
            "when it exists, so an interrupted run continues where it stopped."
        ),
        epilog=(
            "examples:\n"
            "  calipers tune spec.toml\n"
            "  calipers tune spec.toml --n-trials 100 --n-jobs 2   # bayes: rounds of 2\n"
            "  calipers tune spec.toml --storage postgresql+psycopg://me@db/studies\n"
            "then: calipers study show calipers-study.db; calipers study plot "
            "calipers-study.db --out history.png"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("spec", metavar="SPEC", help="the TOML spec")
    add_tuning_arguments(p)
    return p


def apply_overrides(spec: Any, args: argparse.Namespace) -> Any:
    """Return ``spec`` with the command line's ``--storage/--study-name/...`` applied."""
    from calipers.cli._tune_spec import resolve_storage

    if getattr(args, "seed", None) is not None:
        spec = spec.with_seed(args.seed)
    changes: dict[str, Any] = {}
    if getattr(args, "storage", None):
        changes["storage"] = resolve_storage(args.storage, Path.cwd())
    for key in ("study_name", "n_trials", "n_jobs", "batch_size", "timeout"):
        value = getattr(args, key, None)
        if value is not None:
            changes[key] = value
    return dataclasses.replace(spec, **changes) if changes else spec


def run(args: argparse.Namespace) -> int:
    """Run ``calipers tune``: 0 on success, 2 on a bad spec / data / storage, 1 on a failure
    inside the study (the message says which)."""
    from calipers.cli._tune_run import format_summary, tune
    from calipers.cli._tune_spec import load_spec

    def work() -> Any:
        spec = apply_overrides(load_spec(args.spec), args)
        with dask_executor(getattr(args, "dask", None)) as executor:
            return tune(spec, progress=args.progress, executor=executor)

    code, result = guarded(PROG, work)
    if code:
        return code
    sys.stdout.write(format_summary(result))
    return 0


def guarded(prog: str, work: Callable[[], Any]) -> tuple[int, Any]:
    """``(0, work())``; on bad input (spec, data, storage) one error line on stderr (a
    spec with several problems: a line naming the file, then one line per problem) and
    ``(2, None)``; on Ctrl-C a note that finished trials are stored and ``(130, None)``.

    The error handling ``calipers tune`` and ``calipers run`` share.
    """
    from calipers.cli._tune_checks import SpecError

    try:
        return 0, work()
    except SpecError as exc:
        several = len(exc.problems) > 1
        head = str(exc).split("\n", 1)[0] if several else str(exc)  # "<file>: N problems:"
        lines = [f"{prog}: error: {_one_line(head)}"]
        lines += [f"  - {_one_line(p)}" for p in exc.problems] if several else []
        print("\n".join(lines), file=sys.stderr)
        return 2, None
    except (ValueError, TypeError, OSError, ImportError, KeyError) as exc:
        print(f"{prog}: error: {_one_line(_message(exc))}", file=sys.stderr)
        return 2, None
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; finished trials are stored: run the same command "
              "to resume", file=sys.stderr)
        return 130, None


@contextlib.contextmanager
def dask_executor(address: str | None) -> Iterator[Any]:
    """``None``, or the registered dask backend's executor (``DaskExecutor``) on a
    client connected to ``address`` (closed afterwards)."""
    if not address:
        yield None
        return
    from calipers._extras import require

    distributed = require("distributed", "--dask")
    from calipers import plugins

    backend = plugins.get("backend", "dask")  # through the registry, like any plugin
    try:
        client = distributed.Client(address, timeout=30)
    except OSError as exc:
        raise OSError(f"cannot reach the dask scheduler at {address!r}: {exc}") from None
    with client, backend.executor(client) as executor:
        yield executor


def _message(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, KeyError) and len(exc.args) == 1 and text.startswith("'"):
        text = str(exc.args[0])
    hint = install_hint(exc)
    if hint is not None:  # a bare "No module named 'sklearn'": name the extra
        text = f"{text}: {hint}"
    return text
