""":func:`create_study` and :func:`load_study` (also ``calipers.create_study`` / ``load_study``)."""

from __future__ import annotations

import json
import uuid
import warnings
from collections.abc import Mapping
from typing import Any

from calipers.search._storage import DuplicateStudyError, Storage, StudyInfo, dumps, get_storage
from calipers.search._study import Study

__all__ = ["create_study", "load_study"]

_DIRECTIONS = ("minimize", "maximize")


def create_study(
    *,
    space: Any,
    searcher: Any = "random",
    direction: str = "minimize",
    seed: int | None = None,
    storage: str | Storage | None = None,
    study_name: str | None = None,
    load_if_exists: bool = False,
    batch_size: int | None = None,
    searcher_options: Mapping[str, Any] | None = None,
    heartbeat_interval: float = 5.0,
    heartbeat_grace: float = 60.0,
    max_retries: int = 3,
) -> Study:
    """Create a study (or resume one with ``load_if_exists=True``).

    Parameters
    ----------
    space : SearchSpace or dict
        The parameters to search (coerced with ``SearchSpace.coerce``).
    searcher : str or Searcher
        A registered searcher name (``"random"``, ``"grid"``, ``"bayes"``,
        ``"halving"``, ...) or a Searcher instance.
    direction : {"minimize", "maximize"}
        What to do with the objective. Stored values are the objective's own;
        only the searcher sees them negated when maximizing.
    seed : int, optional
        Searcher seed. ``None`` draws one; it is stored, so a resumed study goes on
        with the same random stream.
    storage : None, str or Storage
        ``None`` keeps the study in memory; an SQLAlchemy URL
        (``"sqlite:///study.db"``, ``"postgresql+psycopg://user:pw@host/db"``) or a
        Storage persists every trial.
    study_name : str, optional
        Name in the storage (a unique one is generated when None).
    load_if_exists : bool
        Resume the stored study of that name instead of raising
        :class:`DuplicateStudyError`. Its space and direction must match.
    batch_size : int, optional
        Trials per round of an adaptive searcher (``bayes``, ``halving``): the
        proposals of round ``r`` see the results of rounds ``< r`` only, and those
        of one round spread out around each other (bayes: kriging believer), so a
        round's trials can run at the same time. ``None`` (the default) resolves,
        in each :meth:`Study.optimize` call, to its number of parallel slots:
        ``n_jobs``, or the executor's worker threads, 1 for a serial run. So a
        parallel run is parallel by default. The same seed and the same batch size
        (given, or resolved) give the same trials for any ``n_jobs``; with
        ``n_jobs=-1`` the resolved size is the machine's core count, so give it
        explicitly for trials that do not depend on the machine. Larger rounds
        cost regret per trial (each proposal knows fewer results; see the README).
        The value given here (``None`` included) is stored; a study resumed with
        ``load_if_exists=True`` uses a ``batch_size`` passed then, else the
        stored one. Non-adaptive searchers (``random``, ``grid``) ignore it.
    searcher_options : dict, optional
        Keyword options for the searcher class.
    heartbeat_interval, heartbeat_grace : float
        Seconds between heartbeats of running trials, and the age after which a
        RUNNING trial's process is presumed dead: the trial is marked FAILED and its
        parameters enqueued again (at most ``max_retries`` times per parameter set).
    """
    if direction not in _DIRECTIONS:
        raise ValueError(f"direction must be 'minimize' or 'maximize', got {direction!r}")
    check_batch_size(batch_size)
    from calipers.search._space import SearchSpace

    space = SearchSpace.coerce(space)
    options = dict(searcher_options or {})
    dumps(options)  # options must be storable: fail before anything is written
    name = _check_name(study_name) if study_name is not None else f"study-{uuid.uuid4().hex}"
    store = get_storage(storage)
    live = _make_searcher(searcher, space, seed, options)
    spec = {
        "name": live.name,
        "class": f"{type(live).__module__}.{type(live).__qualname__}",
        "seed": seed,
        "entropy": int(getattr(live, "entropy", seed if seed is not None else 0)),
        "options": options,
        "batch_size": batch_size,
    }
    try:
        info = store.create_study(name, direction, space.to_dict(), spec)
    except DuplicateStudyError:
        if not load_if_exists:
            raise
        info = store.get_study(name)
        _check_match(info, space, direction, store)
        stored = info.searcher
        if isinstance(searcher, str) and searcher != stored.get("name"):
            raise ValueError(
                f"study {name!r} in {store.url} uses searcher {stored.get('name')!r}, not "
                f"{searcher!r}; pass searcher={stored.get('name')!r} or another study_name"
            ) from None
        if seed is not None and stored.get("seed") not in (None, seed):
            warnings.warn(
                f"study {name!r} was created with seed={stored.get('seed')!r}; it goes on "
                f"with that seed, not seed={seed!r}",
                RuntimeWarning,
                stacklevel=2,
            )
        if isinstance(searcher, str):
            live = _stored_searcher(info, space)
    return Study(
        store,
        info,
        live,
        heartbeat_interval=heartbeat_interval,
        heartbeat_grace=heartbeat_grace,
        max_retries=max_retries,
        batch_size=batch_size,
    )


def load_study(
    *,
    study_name: str,
    storage: str | Storage,
    searcher: Any = None,
    heartbeat_interval: float = 5.0,
    heartbeat_grace: float = 60.0,
    max_retries: int = 3,
    batch_size: int | None = None,
) -> Study:
    """Open a stored study to inspect it or go on optimizing.

    Trials left RUNNING by a dead process (heartbeat older than ``heartbeat_grace``)
    are marked FAILED and their parameters enqueued again. The searcher is rebuilt
    from the stored name, seed and options and replays every finished trial; pass
    ``searcher=`` (an instance) for one that is not registered. ``batch_size``
    overrides the stored one for this process's runs (see :func:`create_study`).

    Raises
    ------
    UnknownStudyError
        No study of that name (the message lists the stored ones).
    """
    if storage is None:
        raise ValueError("load_study needs the storage the study was created in (a URL)")
    check_batch_size(batch_size)
    store = get_storage(storage)
    info = store.get_study(_check_name(study_name))
    from calipers.search._space import SearchSpace

    space = SearchSpace.from_dict(info.space)
    if searcher is None or isinstance(searcher, str):
        if isinstance(searcher, str) and searcher != info.searcher.get("name"):
            raise ValueError(
                f"study {study_name!r} uses searcher {info.searcher.get('name')!r}, "
                f"not {searcher!r}"
            )
        live = _stored_searcher(info, space)
    else:
        live = searcher
        _check_match(info, live.space, info.direction, store)
    return Study(
        store,
        info,
        live,
        heartbeat_interval=heartbeat_interval,
        heartbeat_grace=heartbeat_grace,
        max_retries=max_retries,
        batch_size=batch_size,
    )


def check_batch_size(batch_size: Any) -> None:
    """Raise ``ValueError`` unless ``batch_size`` is None or a positive int."""
    if batch_size is None:
        return
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(
            f"batch_size must be a positive int, or None for one per parallel slot "
            f"(n_jobs), got {batch_size!r}"
        )


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name or len(name) > 512:
        raise ValueError(f"study_name must be a non-empty str of <= 512 characters, got {name!r}")
    return name


def _make_searcher(searcher: Any, space: Any, seed: Any, options: dict[str, Any]) -> Any:
    if isinstance(searcher, str):
        from calipers import plugins

        cls = plugins.get("searcher", searcher)
        return cls(space, seed=seed, **options)
    if not (callable(getattr(searcher, "ask", None)) and callable(getattr(searcher, "tell", None))):
        raise TypeError(
            "searcher must be a registered name such as 'random' or a Searcher instance, "
            f"got {type(searcher).__name__} {searcher!r:.60}"
        )
    if options:
        raise TypeError("searcher_options apply only when searcher is given by name")
    if seed is not None and getattr(searcher, "seed", seed) != seed:
        raise ValueError(
            f"seed={seed!r} differs from the searcher instance's seed "
            f"{getattr(searcher, 'seed', None)!r}; seed the instance instead"
        )
    return searcher


def _stored_searcher(info: StudyInfo, space: Any) -> Any:
    spec = info.searcher
    from calipers import plugins

    name = spec.get("name") or ""
    try:
        cls = plugins.get("searcher", name)
    except (KeyError, LookupError, ValueError) as err:
        raise ValueError(
            f"study {info.study_name!r} was created with searcher {name!r} "
            f"({spec.get('class')}), which is not registered here ({err}); pass "
            "searcher=<instance> to load_study"
        ) from err
    return cls(space, seed=spec.get("entropy", spec.get("seed")), **spec.get("options", {}))


def _check_match(info: StudyInfo, space: Any, direction: str, store: Storage) -> None:
    stored = info.space
    given = json.loads(dumps(space.to_dict()))
    if stored != given:
        raise ValueError(
            f"study {info.study_name!r} in {store.url} was created with another search "
            f"space:\n  stored: {_short(stored)}\n  given:  {_short(given)}\nuse the stored "
            "space (or load_study), or another study_name"
        )
    if direction != info.direction:
        raise ValueError(
            f"study {info.study_name!r} in {store.url} is {info.direction!r}, "
            f"not {direction!r}"
        )


def _short(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True)
    return text if len(text) <= 300 else text[:297] + "..."
