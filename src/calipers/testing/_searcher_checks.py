"""Conformance checks for searchers: what every ``register_searcher`` class must do.

Each check builds its own searchers from the class (``cls(space, seed=..., **options)``)
and drives them the way a study does: ``ask(number)``, then ``tell(params, value)``
(with ``number=`` when ``tell`` takes it), in rounds; stored studies go through
:func:`calipers.search.create_study` / :func:`~calipers.search.load_study`. The
objective is a deterministic function of the parameters, so every difference a check
sees comes from the searcher.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
import warnings
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any

from calipers.testing._common import Check, fail, run_all
from calipers.testing._searcher_setup import _ask, _Setup, _tell
from calipers.testing._searcher_space import (
    _canonical,
    default_space,
    grid_space,
    proposal_problem,
)

__all__ = ["check_searcher", "default_space", "grid_space", "searcher_checks"]

_NEVER_SEEDED = (
    "draw every random number from generators seeded by the seed (Searcher.trial_rng("
    "number) or self.rng), never from numpy's or random's module-level functions or an "
    "unseeded np.random.default_rng()"
)


# -- the objective (module level: worker processes import it by name) -----------------
class PlannedFailure(RuntimeError):
    """Raised by the checks' objective for the trials it is told to fail."""


def objective_value(params: Mapping[str, Any]) -> float:
    """A deterministic value in [0, 1) for ``params`` (a hash of their JSON text)."""
    text = json.dumps(dict(params), sort_keys=True, default=repr)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:6], "big") / 2.0**48


def _objective(trial: Any) -> float:
    return objective_value(trial)


def _objective_failing_1(trial: Any) -> float:
    if trial.number == 1:
        raise PlannedFailure("trial 1 fails on purpose (the check's planned failure)")
    return objective_value(trial)


# -- the checks ------------------------------------------------------------------------
def _sequence(setup: _Setup, searcher: Any, stop_at: list[str] | None = None) -> list[str]:
    """Ask/tell ``n_trials`` trials in turn; canonical texts of the proposals.

    With ``stop_at`` (another sequence), stop at the first proposal that differs.
    """
    out: list[str] = []
    for number in range(setup.n_trials):
        params = _ask(searcher, number)
        if params is None:
            break
        out.append(_canonical(params))
        if stop_at is not None and (number >= len(stop_at) or out[-1] != stop_at[number]):
            break
        _tell(searcher, params, objective_value(params), number)
    return out


def _grid_order(setup: _Setup, rule: str, proposals: list[str]) -> bool:
    """Whether ``proposals`` are the first points of the space's grid, in order."""
    space = setup.space(rule)
    try:
        points = space.grid()
        expected = [_canonical(space.validate(next(points))) for _ in proposals]
    except (ValueError, StopIteration):
        return False
    return [_canonical({k: v for k, v in json.loads(p).items() if k in space})
            for p in proposals] == expected


def check_seed_reproducible(setup: _Setup) -> None:
    """Two searchers with one seed, asked and told alike in turn, propose the same
    trials; another seed proposes other trials (unless ``uses_seed=False``, or the
    proposals are the space's grid in order: a grid needs no randomness)."""
    rule = "check_seed_reproducible"
    seed = setup.seed
    a, b = setup.make(rule, seed), setup.make(rule, seed)
    first: list[str] = []
    for number in range(setup.n_trials):  # interleaved: a shared global RNG shows
        pa, pb = _ask(a, number), _ask(b, number)
        if (pa is None) != (pb is None) or _canonical(pa) != _canonical(pb):
            raise fail(rule, setup.subject,
                       f"two searchers with seed={seed}, asked and told the same, proposed "
                       f"{pa!r} and {pb!r} for trial {number}", _NEVER_SEEDED)
        if pa is None:
            break
        first.append(_canonical(pa))
        value = objective_value(pa)
        _tell(a, pa, value, number)
        _tell(b, pb, value, number)
    if setup.uses_seed is False or not first:
        return
    for other in (seed + 1, seed + 2):
        if _sequence(setup, setup.make(rule, other), stop_at=first) != first:
            return
    if setup.uses_seed is None and _grid_order(setup, rule, first):
        return
    raise fail(rule, setup.subject,
               f"seeds {seed}, {seed + 1} and {seed + 2} proposed the same {len(first)} "
               "trials: the seed is ignored",
               f"{_NEVER_SEEDED}; a searcher that uses no randomness by design passes "
               "uses_seed=False to the check")


def check_proposals_in_space(setup: _Setup) -> None:
    """Every proposal lies in the space (see :func:`proposal_problem`), asked in
    rounds of two, told in reverse order, with a failed (``nan``) trial among them."""
    rule = "check_proposals_in_space"
    space = setup.space(rule)
    searcher = setup.make(rule, setup.seed)
    number = 0
    while number < setup.n_trials:
        batch = []
        for _ in range(2):
            params = _ask(searcher, number)
            if params is None:
                break
            problem = proposal_problem(space, params, setup.extra_params)
            if problem:
                raise fail(rule, setup.subject,
                           f"trial {number} proposed {params!r}: {problem}",
                           "propose only assignments the space allows: draw them with "
                           "space.sample(rng) or space.decode(x) (or check them with "
                           "space.validate); name keys you add besides the space's in the "
                           "check's extra_params")
            batch.append((number, params))
            number += 1
        if not batch:
            break
        for n, params in reversed(batch):
            value = math.nan if n == 2 else objective_value(params)
            try:
                _tell(searcher, params, value, n)
            except Exception as err:  # noqa: BLE001 (reported as the rule's failure)
                raise fail(rule, setup.subject,
                           f"tell({params!r}, {value!r}) of trial {n} raised "
                           f"{type(err).__name__}: {err}",
                           "accept back every proposal, told in any order; a nan or inf "
                           "value is a failed trial, worse than any finite value") from err
        if len(batch) < 2:
            break
    if number == 0:
        raise fail(rule, setup.subject, "its first ask() raised StopIteration",
                   "propose at least one trial over a space with parameters")


def _rows(trials: list[Any]) -> list[tuple[Any, ...]]:
    return [(t.number, _canonical(t.params), str(t.state), t.value) for t in trials]


def check_stored_study_resume(setup: _Setup) -> None:
    """A study in SQLite resumed by ``load_study`` keeps every trial exactly once,
    numbers them ``0, 1, ...`` with none left RUNNING, and goes on proposing valid
    trials (those of an uninterrupted study, for a searcher that is not adaptive)."""
    from calipers.search import load_study

    rule = "check_stored_study_resume"
    space = setup.space(rule)
    setup.make(rule, setup.seed)  # learns the searcher's extra_params
    first, second = setup.n_trials // 2, setup.n_trials - setup.n_trials // 2
    with tempfile.TemporaryDirectory(prefix="calipers-check-") as tmp, \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        url = f"sqlite:///{tmp}/study.db"
        study = setup.study(rule, storage=url, study_name="check")
        study.optimize(_objective_failing_1, n_trials=first)
        before = _rows(study.trials)
        study.storage.close()
        instance = None if setup.registered_name else setup.make(rule, setup.seed)
        resumed = load_study(study_name="check", storage=url, searcher=instance)
        try:
            replayed = _rows(resumed.trials)
            resumed.optimize(_objective_failing_1, n_trials=second)
            trials = resumed.trials
        finally:
            resumed.storage.close()

    def broken(what: str) -> Exception:
        return fail(rule, setup.subject, what,
                    "rebuild the searcher's state from restore(params, value, number) for "
                    "every stored trial, and propose by trial number (trial_rng(number)), "
                    "not by how many times this instance was asked")

    if replayed != before:
        raise broken(f"load_study read back {replayed} for the stored trials {before}")
    numbers_ = [t.number for t in trials]
    if numbers_ != list(range(first + second)):
        raise broken(f"after resuming, the trial numbers are {numbers_}, not "
                     f"0..{first + second - 1} once each")
    if _rows(trials[:first]) != before:
        raise broken(f"resuming changed the stored trials {before} into "
                     f"{_rows(trials[:first])}")
    for t in trials:
        if not t.state.finished:
            raise broken(f"trial {t.number} was left {t.state} after optimize returned")
        expected = "FAILED" if t.number == 1 else "COMPLETE"
        if str(t.state) != expected or (expected == "COMPLETE"
                                        and t.value != objective_value(t.params)):
            raise broken(f"trial {t.number} was stored {t.state} with value {t.value!r}; "
                         f"the objective made it {expected}")
        problem = proposal_problem(space, t.params, setup.extra_params)
        if problem:
            raise broken(f"trial {t.number} of the resumed study has {t.params!r}: {problem}")
    if not setup.adaptive:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            reference = setup.study(rule)
            reference.optimize(_objective_failing_1, n_trials=first + second)
        want = [_canonical(t.params) for t in reference.trials]
        got = [_canonical(t.params) for t in trials]
        if got != want:
            n = next(i for i, (g, w) in enumerate(zip(got, want, strict=False)) if g != w)
            raise broken(f"the resumed study proposed {got[n]} for trial {n}; the same "
                         f"study run without a break proposed {want[n]} (a non-adaptive "
                         "searcher's trials depend only on the seed and trial number)")


def check_n_jobs_same_trials(setup: _Setup) -> None:
    """With a fixed seed and ``batch_size``, ``n_jobs=1`` and ``n_jobs=n_jobs`` (worker
    processes) run the same trials: number -> parameters -> value."""
    rule = "check_n_jobs_same_trials"
    runs = {}
    for n_jobs in (1, setup.n_jobs):
        study = setup.study(rule)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            study.optimize(_objective, n_trials=setup.n_trials, n_jobs=n_jobs)
        runs[n_jobs] = _rows(study.trials)
    serial, parallel = runs[1], runs[setup.n_jobs]
    if serial != parallel:
        if len(serial) != len(parallel):
            what = f"{len(parallel)} trials where n_jobs=1 ran {len(serial)}"
        else:
            got, want = next((p, s) for p, s in zip(parallel, serial, strict=True) if p != s)
            what = f"(number, params, state, value) {got} where n_jobs=1 ran {want}"
        raise fail(rule, setup.subject,
                   f"with seed={setup.seed} and batch_size={setup.batch_size}, n_jobs="
                   f"{setup.n_jobs} ran {what}",
                   "make ask(number) depend only on the seed, the number and the values "
                   "told (set adaptive = True if proposals depend on told values: the "
                   "study then asks a round at a time), not on when results arrive")


_CHECKS: tuple[Callable[[_Setup], None], ...] = (
    check_seed_reproducible,
    check_proposals_in_space,
    check_stored_study_resume,
    check_n_jobs_same_trials,
)


def searcher_checks(searcher: Any, *, space: Any = None,
                    options: Mapping[str, Any] | None = None, seed: int = 0,
                    n_trials: int = 6, batch_size: int = 2, n_jobs: int = 2,
                    extra_params: Collection[str] = (), uses_seed: bool | None = None,
                    ) -> Iterator[Check]:
    """Yield the searcher checks (nothing is built until a check runs).

    Parameters
    ----------
    searcher : type or str
        A searcher class (registered or not) or a registered name. Registered
        classes go into studies by name (their options are stored), others as
        instances.
    space : SearchSpace or dict, optional
        The space to search. Default: :func:`default_space` (conditional, log,
        stepped and categorical parameters), or :func:`grid_space` (no Floats) when
        the constructor refuses it. A grid-like searcher needs at least ``n_trials``
        points.
    options : dict, optional
        Keyword options for the constructor (e.g. a fast ``bayes`` configuration).
    seed : int
        The seed of the checks (``seed + 1`` and ``seed + 2`` must differ from it).
    n_trials : int
        Trials per run, at least 4 (keep it small: studies run several times).
    batch_size : int
        The studies' batch size (rounds of an adaptive searcher).
    n_jobs : int
        Worker processes compared with ``n_jobs=1``.
    extra_params : collection of str
        Keys a proposal may hold besides the space's, on top of those the searcher
        declares in its own ``extra_params`` (halving declares its budget's name).
    uses_seed : bool, optional
        ``False``: the searcher uses no randomness by design (different seeds may
        give the same trials). ``None``: only proposals that are the space's grid in
        order may ignore the seed.

    Yields
    ------
    Check
        ``check_seed_reproducible``, ``check_proposals_in_space``,
        ``check_stored_study_resume``, ``check_n_jobs_same_trials``.
    """
    setup = _Setup(searcher, space, options, seed, n_trials, batch_size, n_jobs,
                   extra_params, uses_seed)
    for check in _CHECKS:
        yield Check(check.__name__, setup.subject, _bind(check, setup))


def _bind(check: Callable[[_Setup], None], setup: _Setup) -> Callable[[], None]:
    def run() -> None:
        check(setup)

    return run


def check_searcher(searcher: Any, **kwargs: Any) -> None:
    """Run every searcher check (keyword arguments: :func:`searcher_checks`'s);
    raise the first :class:`~calipers.testing.CheckFailure`."""
    run_all(searcher_checks(searcher, **kwargs))
