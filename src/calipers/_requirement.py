"""Does this calipers satisfy a plugin distribution's requirement on calipers? (private)

A plugin says which calipers it needs the standard way, through its distribution's
dependency on calipers (``dependencies = ["calipers>=0.2"]`` in its pyproject,
``Requires-Dist: calipers>=0.2`` in its METADATA). The plugin host reads those
requirements before importing the plugin (see :mod:`calipers._manager`).

:mod:`packaging` (a dependency of calipers) parses requirements, markers and
specifiers. Without it a small fallback handles the common forms (``name[extras]
op version, ...; marker``); a requirement it cannot read is not held against the
plugin.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

logger = logging.getLogger("calipers.plugins")

_NAME = re.compile(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(\[[^\]]*\])?\s*(.*)$")
_CLAUSE = re.compile(r"\s*(===|==|!=|~=|>=|<=|>|<)\s*([^\s,;]+)\s*$")
_RELEASE = re.compile(r"v?(\d+(?:\.\d+)*)")
#: Operators whose clause fails because the installed version is too old when the
#: installed version is below the clause's version.
_LOWER_BOUNDS = (">=", ">", "~=", "==", "===")


def canonical_name(name: str) -> str:
    """A distribution name in canonical form (PEP 503): ``Calipers_X`` -> ``calipers-x``."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Unmet:
    """A requirement on calipers that the running version does not satisfy."""

    #: The requirement as its distribution states it, e.g. ``"calipers>=0.2"``.
    requirement: str
    #: Its version specifier, e.g. ``">=0.2"``.
    specifier: str
    #: The running calipers version.
    version: str
    #: Whether every failing clause asks for a newer calipers (``pip install -U``
    #: fixes it) rather than an older one.
    too_old: bool

    def reason(self, dist: str) -> str:
        """What ``calipers plugins`` says about the plugin, with the command that fixes it."""
        if self.too_old:
            fix = "pip install -U calipers"
        else:
            fix = (
                f"pip install 'calipers{self.specifier}', or a release of {dist} that "
                f"supports calipers {self.version}"
            )
        return (
            f"needs calipers{self.specifier} (from its requirement {self.requirement!r}), "
            f"this is calipers {self.version}: {fix}"
        )


def unmet_requirement(requires: Iterable[str] | None, name: str, version: str) -> Unmet | None:
    """Return the first requirement on distribution ``name`` that ``version`` does not meet.

    Parameters
    ----------
    requires : iterable of str or None
        A distribution's requirements (``importlib.metadata.Distribution.requires``).
    name : str
        The required distribution (``"calipers"``); names compare in canonical form.
    version : str
        Its running version.

    Returns
    -------
    Unmet or None
        ``None`` when every requirement on ``name`` whose environment marker applies
        (those under an extra, ``; extra == "..."``, never do at load time) is met,
        or when none can be read.
    """
    for text in requires or ():
        try:
            parsed = _parse(text)
        except ImportError:
            parsed = _parse_fallback(text)
        if parsed is None:
            logger.debug("ignoring a requirement that cannot be read: %r", text)
            continue
        req_name, specifier, applies = parsed
        if canonical_name(req_name) != canonical_name(name) or not applies:
            continue
        failing = _failing_clauses(specifier, version)
        if failing:
            too_old = all(op in _LOWER_BOUNDS and _less(version, v) for op, v in failing)
            return Unmet(text.strip(), specifier, version, too_old)
    return None


# -- with packaging ----------------------------------------------------------------------


def _parse(text: str) -> tuple[str, str, bool] | None:
    """``(name, specifier, marker applies)`` with :mod:`packaging`; None if invalid."""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        req = Requirement(text)
    except InvalidRequirement:
        return None
    applies = req.marker is None or req.marker.evaluate({"extra": ""})
    # Shown as written (">=0.1,<1"): packaging's str() sorts the clauses.
    written = _parse_fallback(text)
    specifier = written[1] if written is not None else str(req.specifier)
    return req.name, specifier, applies


def _failing_clauses(specifier: str, version: str) -> list[tuple[str, str]]:
    """The ``(operator, version)`` clauses of ``specifier`` that ``version`` fails."""
    try:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet
        from packaging.version import InvalidVersion, Version
    except ImportError:
        return _failing_fallback(specifier, version)
    try:
        clauses = SpecifierSet(specifier)
        Version(version)
    except (InvalidSpecifier, InvalidVersion):
        return []
    # prereleases=True: a development build of calipers counts as its version.
    return [(c.operator, c.version) for c in clauses if not c.contains(version, prereleases=True)]


def _less(version: str, other: str) -> bool:
    try:
        from packaging.version import InvalidVersion, Version
    except ImportError:
        a, b = _release(version), _release(other.rstrip(".*"))
        return a is not None and b is not None and _pad(a, b)[0] < _pad(a, b)[1]
    try:
        return Version(version) < Version(other.rstrip(".*"))
    except InvalidVersion:
        return False


# -- fallback without packaging ----------------------------------------------------------


def _parse_fallback(text: str) -> tuple[str, str, bool] | None:
    """The common forms only: ``name[extras] (op version, ...) ; marker``."""
    if "@" in text.split(";")[0]:  # a URL requirement: no version to check
        return None
    requirement, _, marker = text.partition(";")
    match = _NAME.match(requirement)
    if match is None:
        return None
    name, _, specifier = match.groups()
    specifier = specifier.strip()
    if specifier.startswith("(") and specifier.endswith(")"):
        specifier = specifier[1:-1]
    specifier = ",".join(part.strip() for part in specifier.split(",") if part.strip())
    if any(_CLAUSE.match(part) is None for part in specifier.split(",") if part):
        return None
    marker = marker.strip()
    # Markers other than extras are not evaluated here: such a requirement is not
    # held against the plugin (applies=False) rather than guessed at.
    return name, specifier, not marker


def _release(version: str) -> tuple[int, ...] | None:
    match = _RELEASE.match(version.strip())
    return tuple(int(p) for p in match.group(1).split(".")) if match else None


def _pad(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    n = max(len(a), len(b))
    return a + (0,) * (n - len(a)), b + (0,) * (n - len(b))


def _satisfies(op: str, version: tuple[int, ...], target: str) -> bool | None:
    """Whether release ``version`` satisfies ``op target``; None if it cannot tell."""
    wildcard = target.endswith(".*")
    want = _release(target[:-2] if wildcard else target)
    if want is None:
        return None
    if wildcard:
        if op not in ("==", "!="):
            return None
        return ((version + (0,) * len(want))[: len(want)] == want) == (op == "==")
    if op == "~=":  # ~=X.Y.Z: >=X.Y.Z and ==X.Y.*
        if len(want) < 2:
            return None
        stem = want[:-1]
        mine, full = _pad(version, want)
        return mine >= full and (version + (0,) * len(stem))[: len(stem)] == stem
    mine, want = _pad(version, want)
    return {
        "==": mine == want,
        "===": mine == want,
        "!=": mine != want,
        ">=": mine >= want,
        "<=": mine <= want,
        ">": mine > want,
        "<": mine < want,
    }[op]


def _failing_fallback(specifier: str, version: str) -> list[tuple[str, str]]:
    mine = _release(version)
    if mine is None:
        return []
    failing = []
    for part in filter(None, specifier.split(",")):
        match = _CLAUSE.match(part)
        if match is None:
            return []
        op, target = match.groups()
        if _satisfies(op, mine, target) is False:
            failing.append((op, target))
    return failing
