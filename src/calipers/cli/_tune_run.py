"""Running a tuning spec: build the study and its CV objective, optimize, summarize.

Shared by ``calipers tune`` (tune and print the best) and ``calipers run`` (tune, then
refit and evaluate on the held-out rows).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import IO, Any

from calipers.cli._tune_checks import Errors, spec_error
from calipers.cli._tune_data import Data, is_classifier, load_data, make_estimator
from calipers.cli._tune_spec import SpecError, TuneSpec

__all__ = ["ThreadLimited", "TuneResult", "build_space", "check_spec", "finished_count",
           "format_summary", "tune"]

#: Trial states that use up budget: a study resumed with the same spec runs only the
#: rest of ``n_trials``.
_SPENT = ("COMPLETE", "PRUNED", "FAILED")


@dataclass
class TuneResult:
    """What :func:`tune` did.

    Attributes
    ----------
    spec : TuneSpec
        The spec, with the command line's overrides applied.
    study : calipers.search.Study
    estimator : object
        The unfitted estimator with the fixed parameters.
    data : Data
        The split data.
    n_before, n_run : int
        Finished trials found in the study before, and trials run now.
    seconds : float
        Wall time of the optimization.
    """

    spec: TuneSpec
    study: Any
    estimator: Any
    data: Data
    n_before: int
    n_run: int
    seconds: float


def _state(trial: Any) -> str:
    state = trial.state
    return str(getattr(state, "value", state))


def finished_count(study: Any) -> int:
    """Trials of ``study`` that count against the budget: COMPLETE, PRUNED and FAILED,
    except those failed because their process died ("heartbeat lost": the study
    enqueues their parameters again, and that re-run is the one that counts)."""
    from calipers.search._storage import HEARTBEAT_LOST

    return sum(_state(t) in _SPENT and t.fail_reason != HEARTBEAT_LOST for t in study.trials)


def scoring_of(spec: TuneSpec) -> str | None:
    """The scoring name of ``spec``; ``None`` means the estimator's own ``score`` method
    (accuracy for scikit-learn classifiers, R^2 for regressors)."""
    return spec.scoring or None


def scoring_label(spec: TuneSpec) -> str:
    """How reports name the spec's scoring."""
    return spec.scoring or "score"


def build_space(spec: TuneSpec) -> Any:
    """Return the :class:`calipers.search.SearchSpace` of ``spec.space``.

    Raises
    ------
    SpecError
        Naming each parameter the space rejects (bounds, conditions...), all at once.
    """
    from calipers import search

    err = Errors(spec.source)
    params: dict[str, Any] = {}
    for name, entry in spec.space.items():
        kind = entry["type"]
        cond = entry.get("condition")
        if isinstance(cond, dict):
            parent, values = ((cond["parent"], cond["values"]) if "parent" in cond
                              else next(iter(cond.items())))
            cond = search.Condition(parent, tuple(values if isinstance(values, list)
                                                  else [values]))
        kwargs = {k: v for k, v in entry.items() if k not in ("type", "condition")}
        try:
            if kind == "float":
                params[name] = search.Float(condition=cond, **kwargs)
            elif kind == "int":
                params[name] = search.Int(condition=cond, **kwargs)
            else:
                params[name] = search.Categorical(condition=cond, **kwargs)
        except (TypeError, ValueError) as exc:
            err.add(f"[space] {name}: {exc}")
    err.raise_if_any()
    try:
        return search.SearchSpace(params)
    except (TypeError, ValueError) as exc:
        raise spec_error(spec.source, [f"[space]: {exc}"]) from None


def check_spec(spec: TuneSpec, *, skip: frozenset[str] = frozenset()
               ) -> tuple[list[str], Any, Any]:
    """Check what the form of a spec cannot show, collecting every problem.

    The estimator class imports and takes the fixed params and the space's
    parameter names; the space's bounds and conditions hold; the searcher is
    registered and takes its options; the scoring name is known; the data file
    exists.

    Parameters
    ----------
    spec : TuneSpec
    skip : frozenset of str
        Parts whose form was wrong (``"estimator"``, ``"space"``, ``"space.params"``,
        ``"searcher"``, ``"scoring"``, ``"data"``): not checked again.

    Returns
    -------
    problems : list of str
        Each naming its section and key (without the file name); empty when all is well.
    estimator, space : object or None
        The unfitted estimator and the :class:`~calipers.search.SearchSpace` (None
        when they could not be built).
    """
    from calipers import plugins
    from calipers.search._cv_scoring import check_scoring

    problems: list[str] = []

    def note(exc: SpecError) -> None:
        prefix = f"{spec.source}: "
        problems.extend(p[len(prefix):] if p.startswith(prefix) else p for p in exc.problems)

    estimator = space = None
    if "estimator" not in skip:
        try:
            estimator = make_estimator(spec)
        except SpecError as exc:
            note(exc)
    if "space" not in skip:
        try:
            space = build_space(spec)
        except SpecError as exc:
            if "space.params" in skip:  # only the well-formed parameters are in spec.space:
                # keep their own problems, not the space's (a condition whose parent was
                # left out would be a consequence of the form's problem, not a new one)
                exc.problems = [p for p in exc.problems if "[space]: " not in p]
            note(exc)
        if "space.params" in skip:
            space = None
    if "searcher" not in skip:
        searchers = plugins.names("searcher")
        if spec.searcher not in searchers:
            problems.append(f"[searcher] name {spec.searcher!r} is not a registered searcher "
                            f"(registered: {', '.join(sorted(searchers))})")
        elif space is not None:
            try:
                plugins.get("searcher", spec.searcher)(space, seed=spec.seed,
                                                       **spec.searcher_options)
            except (TypeError, ValueError) as exc:
                problems.append(f"[searcher] options of {spec.searcher!r}: {exc}")
    if "scoring" not in skip:
        try:
            check_scoring(scoring_of(spec))
        except (TypeError, ValueError) as exc:
            problems.append(f"scoring: {exc}")
    if "data" not in skip and spec.path is not None and not spec.path.is_file():
        problems.append(f"[data] path: no such file: {str(spec.path)!r}")
    return problems, estimator, space


def tune(spec: TuneSpec, *, progress: bool | None = None, stream: IO[str] | None = None,
         executor: Any = None) -> TuneResult:
    """Create or resume the spec's study and run the rest of its trial budget.

    Parameters
    ----------
    spec : TuneSpec
        A validated spec (overrides already applied).
    progress : bool, optional
        Show a tqdm bar with the trial count and the best score so far on ``stream``;
        ``None`` shows it only when ``stream`` is a terminal.
    stream : file, optional
        Where the bar goes (default: ``sys.stderr``).
    executor : object, optional
        Passed to ``study.optimize`` (e.g. a dask ``Client``).

    Returns
    -------
    TuneResult

    Raises
    ------
    SpecError
        Listing every problem :func:`check_spec` finds.
    ValueError, TypeError, ImportError, OSError
        On bad data or storage.
    """
    import calipers
    from calipers.search._cv import cross_val_objective
    from calipers.search._cv_split import KFold, StratifiedKFold

    stream = sys.stderr if stream is None else stream
    problems, estimator, space = check_spec(spec)
    if problems:
        raise spec_error(spec.source, problems)
    classifier = is_classifier(estimator)
    data = load_data(spec, classifier)
    stratified = classifier if spec.stratified is None else spec.stratified
    splitter = StratifiedKFold if stratified else KFold
    cv = splitter(n_splits=spec.n_splits, shuffle=spec.shuffle,
                  random_state=spec.cv_seed if spec.shuffle else None)
    objective = cross_val_objective(estimator, data.X_train, data.y_train, cv=cv,
                                    scoring=scoring_of(spec))
    if spec.threads:
        objective = ThreadLimited(objective, spec.threads)
    study = calipers.create_study(
        space=space,
        searcher=spec.searcher,
        searcher_options=spec.searcher_options or None,
        direction="maximize",
        seed=spec.seed,
        storage=spec.storage,
        study_name=spec.study_name,
        load_if_exists=True,
        batch_size=spec.batch_size,
    )
    n_before = finished_count(study)
    todo = max(spec.n_trials - n_before, 0)
    start = time.perf_counter()
    if todo:
        bar = _ProgressBar(spec.n_trials, n_before, study, progress, stream,
                           f"tuning {spec.study_name}")
        try:
            study.optimize(objective, n_trials=todo, timeout=spec.timeout,
                           n_jobs=spec.n_jobs, callbacks=[bar.callback], executor=executor)
        finally:
            bar.close()
    seconds = time.perf_counter() - start
    n_run = finished_count(study) - n_before
    return TuneResult(spec, study, estimator, data, n_before, n_run, seconds)


class ThreadLimited:
    """An objective run with at most ``threads`` OpenMP / BLAS threads (threadpoolctl).

    Small fits (HistGradientBoosting on a few hundred rows) spend more time starting
    and synchronizing OpenMP threads than computing, and on a busy machine the
    spinning threads slow them by tens of times; one thread per trial is the fast
    default. Picklable, so it runs in worker processes too.
    """

    def __init__(self, objective: Any, threads: int) -> None:
        self.objective = objective
        self.threads = threads

    def __call__(self, trial: Any) -> Any:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # pragma: no cover - comes with scikit-learn
            return self.objective(trial)
        with threadpool_limits(limits=self.threads):
            return self.objective(trial)


class _ProgressBar:
    """A tqdm bar over the study's budget; its postfix is the best score so far."""

    def __init__(self, total: int, done: int, study: Any, progress: bool | None,
                 stream: IO[str], desc: str) -> None:
        if progress is None:
            progress = bool(getattr(stream, "isatty", lambda: False)())
        self.bar = None
        if progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=done, desc=desc, unit="trial", file=stream,
                            dynamic_ncols=True)
            best = _best_value(study)
            if best is not None:
                self.bar.set_postfix_str(f"best={best:.6g}")

    def callback(self, study: Any, trial: Any) -> None:
        if self.bar is None:
            return
        self.bar.update(1)
        best = _best_value(study)
        self.bar.set_postfix_str("best=" + ("-" if best is None else f"{best:.6g}"))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _best_value(study: Any) -> float | None:
    try:
        value = study.best_value
    except ValueError:  # no COMPLETE trial yet
        return None
    return None if value is None else float(value)


# -- summary -----------------------------------------------------------------------------


def format_summary(result: TuneResult) -> str:
    """Return the short text report of a tuning: study, trial counts, best score and params."""
    spec, study = result.spec, result.study
    counts: dict[str, int] = {}
    for t in study.trials:
        counts[_state(t)] = counts.get(_state(t), 0) + 1
    total = sum(counts.values())
    states = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items()))
    if result.n_run == 0 and result.n_before >= spec.n_trials:
        this_run = (f"nothing to run: {result.n_before} finished trials of n_trials="
                    f"{spec.n_trials} (raise --n-trials for more)")
    else:
        this_run = f"this run: {result.n_run} in {result.seconds:.1f} s" + (
            f" (resumed after {result.n_before})" if result.n_before else "")
    lines = [
        f"study: {spec.study_name}   storage: {spec.storage}",
        f"trials: {total} ({states})   {this_run}",
    ]
    stratified = spec.stratified if spec.stratified is not None else is_classifier(
        result.estimator)
    cv_text = f"{spec.n_splits}-fold{' stratified' if stratified else ''} CV"
    best = _best_trial(study)
    if best is None:
        lines.append("no trial completed: see `calipers study show` for the failures")
        return "\n".join(lines) + "\n"
    lines.append(f"best trial: #{best.number}   {scoring_label(spec)} ({cv_text} on "
                 f"{len(result.data.y_train)} rows): {_fmt(best.value)}")
    lines.append("")
    lines.extend(format_params(best.params))
    return "\n".join(lines) + "\n"


def format_params(params: dict[str, Any]) -> list[str]:
    """Two aligned columns ``parameter  value``."""
    rows = [("parameter", "value")] + [(k, _fmt(v)) for k, v in params.items()]
    width = max(len(r[0]) for r in rows)
    return [f"{k:<{width}}  {v}" for k, v in rows]


def _best_trial(study: Any) -> Any:
    try:
        return study.best_trial
    except ValueError:
        return None


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.6g}"
    return str(value)
