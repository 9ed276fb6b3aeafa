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
import inspect
import json
import math
import numbers
import tempfile
import warnings
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any

from calipers.testing._common import Check, fail, run_all

__all__ = ["check_searcher", "default_space", "grid_space", "searcher_checks"]

_NEVER_SEEDED = (
    "draw every random number from generators seeded by the seed (Searcher.trial_rng("
    "number) or self.rng), never from numpy's or random's module-level functions or an "
    "unseeded np.random.default_rng()"
)


def default_space() -> Any:
    """The checks' default space: a categorical parent, a log Float and a stepped Int
    conditional on it, a log Int conditional on that Int, an unconditional Float and
    stepped Int, and a categorical whose choices ``False``, ``True``, ``0``, ``None``
    must come back exactly (``True`` is not ``1``)."""
    from calipers.search import Categorical, Float, Int, SearchSpace

    return SearchSpace({
        "model": Categorical(["linear", "tree", "none"]),
        "alpha": Float(1e-4, 10.0, log=True, condition=("model", ["linear"])),
        "depth": Int(2, 12, step=2, condition=("model", ["tree"])),
        "leaves": Int(1, 64, log=True, condition=("depth", [8, 10, 12])),
        "shift": Float(-1.0, 1.0),
        "batch": Int(16, 64, step=16),
        "flag": Categorical([False, True, 0, None]),
    })


def grid_space() -> Any:
    """:func:`default_space` without Floats (for searchers that need a finite grid)."""
    from calipers.search import Categorical, Int, SearchSpace

    return SearchSpace({
        "model": Categorical(["linear", "tree", "none"]),
        "alpha": Int(1, 8, log=True, condition=("model", ["linear"])),
        "depth": Int(2, 12, step=2, condition=("model", ["tree"])),
        "leaves": Int(1, 4, log=True, condition=("depth", [8, 10, 12])),
        "batch": Int(16, 64, step=16),
        "flag": Categorical([False, True, 0, None]),
    })


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


def _canonical(params: Any) -> str:
    """Text that tells apart what ``==`` confuses (``True`` and ``1``, ``1`` and ``1.0``)."""
    return json.dumps(params, sort_keys=True, default=repr)


# -- setup ---------------------------------------------------------------------------------
class _Setup:
    """The searcher class and options shared by one object's checks (built lazily, so
    that collecting the checks never constructs a searcher)."""

    def __init__(self, searcher: Any, space: Any, options: Mapping[str, Any] | None,
                 seed: int, n_trials: int, batch_size: int, n_jobs: int,
                 extra_params: Collection[str], uses_seed: bool | None) -> None:
        from calipers import plugins

        if isinstance(searcher, str):
            self.cls: Any = plugins.get("searcher", searcher)
        elif inspect.isclass(searcher):
            self.cls = searcher
        else:
            raise TypeError(
                f"searcher_checks takes a searcher class or a registered name, got "
                f"{type(searcher).__name__} {searcher!r:.60}; pass type(obj) for an instance"
            )
        name = getattr(self.cls, "name", "")
        self.subject = f"searcher {name or self.cls.__qualname__!r}"
        try:
            registered = bool(name) and plugins.get("searcher", name) is self.cls
        except Exception:  # noqa: BLE001 (unknown name, or a name in conflict)
            registered = False
        self.registered_name = name if registered else None
        if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 4:
            raise ValueError(f"n_trials must be an int >= 4, got {n_trials!r}")
        self.given_space, self.options, self.seed = space, dict(options or {}), seed
        self.n_trials, self.batch_size, self.n_jobs = n_trials, batch_size, n_jobs
        self.extra_params = frozenset(extra_params)
        self.uses_seed = uses_seed
        self.adaptive = bool(getattr(self.cls, "adaptive", True))
        self._space: Any = None

    def space(self, rule: str) -> Any:
        if self._space is not None:
            return self._space
        from calipers.search import SearchSpace

        if self.given_space is not None:
            self._space = SearchSpace.coerce(self.given_space)
            return self._space
        refused = []
        for candidate in (default_space(), grid_space()):
            try:
                self.cls(candidate, seed=self.seed, **self.options)
            except (TypeError, ValueError) as err:
                refused.append(f"{type(err).__name__}: {err}")
                continue
            self._space = candidate
            return candidate
        raise fail(rule, self.subject,
                   f"its constructor refused both test spaces ({'; '.join(refused)})",
                   "accept cls(space, seed=..., **options), or pass space= (a space it "
                   "supports) and options= to the check")

    def make(self, rule: str, seed: int) -> Any:
        searcher = self.cls(self.space(rule), seed=seed, **self.options)
        # keys the searcher itself declares besides the space's (halving's budget)
        self.extra_params |= frozenset(getattr(searcher, "extra_params", ()))
        return searcher

    def study(self, rule: str, storage: Any = None, study_name: str | None = None) -> Any:
        """A study of this searcher: by registered name (options stored), else an instance."""
        from calipers.search import create_study

        if self.registered_name is not None:
            return create_study(space=self.space(rule), searcher=self.registered_name,
                                seed=self.seed, storage=storage, study_name=study_name,
                                batch_size=self.batch_size, searcher_options=self.options)
        return create_study(space=self.space(rule), searcher=self.make(rule, self.seed),
                            seed=self.seed, storage=storage, study_name=study_name,
                            batch_size=self.batch_size)


def _ask(searcher: Any, number: int) -> Any:
    """``searcher.ask(number)``, or ``None`` when it is exhausted."""
    try:
        return searcher.ask(number)
    except StopIteration:
        return None


def _tell(searcher: Any, params: Any, value: float, number: int) -> None:
    try:
        takes_number = "number" in inspect.signature(searcher.tell).parameters
    except (TypeError, ValueError):
        takes_number = False
    if takes_number:
        searcher.tell(params, value, number=number)
    else:
        searcher.tell(params, value)


# -- what a proposal may be ----------------------------------------------------------
def _value_problem(name: str, param: Any, value: Any) -> str | None:
    kind = getattr(param, "kind", "")
    if kind in ("float", "int"):
        want = "a float" if kind == "float" else "an int"
        ok_type = (isinstance(value, numbers.Real) and not isinstance(value, bool)
                   and isinstance(value, numbers.Integral) == (kind == "int"))
        if not ok_type:
            return f"{name}={value!r} is a {type(value).__name__}; {param!r} takes {want}"
        if not math.isfinite(value) or not param.low <= value <= param.high:
            return f"{name}={value!r} is outside [{param.low!r}, {param.high!r}]"
        if param.log and not value > 0:
            return f"{name}={value!r} is not > 0 on a log scale"
        step = getattr(param, "step", 1)
        if kind == "int" and (value - param.low) % step:
            return f"{name}={value!r} is not on the grid {param.low}, {param.low + step}, ..."
        return None
    for choice in param.choices:
        if _canonical(choice) == _canonical(value):
            return None
    return f"{name}={value!r} is not one of the choices {list(param.choices)!r}"


def proposal_problem(space: Any, params: Any, extra: Collection[str] = ()) -> str | None:
    """What is wrong with proposal ``params`` in ``space`` (``None``: nothing).

    Keys in ``extra`` (e.g. halving's ``budget``) are allowed besides the space's.
    Checked: a dict; no unknown keys; every active parameter present and every
    inactive one absent (parents before children); Int values ints on their step
    grid, Float values finite floats (``> 0`` when log), both within their bounds;
    categorical values exactly one of the choices (``True`` is not ``1``).
    """
    if not isinstance(params, Mapping):
        return f"ask returned a {type(params).__name__}, not a dict name -> value"
    unknown = [k for k in params if k not in space and k not in extra]
    if unknown:
        return f"{', '.join(map(repr, unknown))} not in the space (it has {space.names})"
    seen: dict[str, Any] = {}
    for name in space.names:
        active = name in space.active(seen)
        if active and name not in params:
            return f"the active parameter {name!r} is missing"
        if not active and name in params:
            cond = space[name].condition
            got = seen.get(cond.parent, "absent")
            return (f"{name!r} is present but inactive: it needs {cond.parent} in "
                    f"{list(cond.values)!r}, and {cond.parent} is {got!r}")
        if active:
            problem = _value_problem(name, space[name], params[name])
            if problem:
                return problem
            seen[name] = params[name]
    return None


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
