"""What every conformance check shares: the failure type, named checks, cases."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Case", "Check", "CheckFailure", "fail"]


class CheckFailure(AssertionError):
    """A conformance check failed.

    The message reads ``"<subject> breaks rule <rule>: <what happened>. Fix: <how>"``.

    Attributes
    ----------
    rule : str
        The name of the broken rule (the check function's name, e.g.
        ``"check_merge_exact"``).
    fix : str
        What to change so that the rule holds.
    """

    def __init__(self, rule: str, subject: str, what: str, fix: str) -> None:
        self.rule = rule
        self.subject = subject
        self.what = what
        self.fix = fix
        super().__init__(f"{subject} breaks rule {rule}: {what}. Fix: {fix}")


def fail(rule: str, subject: str, what: str, fix: str) -> CheckFailure:
    """Build the :class:`CheckFailure` to raise (``raise fail(...)``)."""
    return CheckFailure(rule, subject, what, fix)


@dataclass(frozen=True)
class Check:
    """One named check bound to its subject: call it to run it.

    Attributes
    ----------
    rule : str
        The rule's name (``"check_merge_exact"``): the id pytest shows.
    subject : str
        What is checked (``"metric 'f1'"``).
    run : callable
        Runs the check; raises :class:`CheckFailure` when the rule is broken.
    """

    rule: str
    subject: str
    run: Callable[[], None] = field(repr=False)

    def __call__(self) -> None:
        self.run()


@dataclass(frozen=True)
class Case:
    """An object to check together with what its checks need.

    ``Case("exporter", "onnx", model=est, sample=X)`` is what
    :func:`calipers.testing.parametrize_with_checks` needs for kinds whose checks
    take more than the object (exporters: a model and a sample; backends: a way to
    build their arrays from numpy; metrics: optional data).

    Attributes
    ----------
    kind : {'metric', 'searcher', 'exporter', 'backend'}
    obj : object
        The metric instance, searcher class, exporter class or backend class (or a
        registered name, for the three kinds that are classes).
    kwargs : dict
        Keyword arguments of the matching ``check_<kind>`` function.
    id : str, optional
        The id pytest shows for this object (default: derived from ``obj``).
    """

    kind: str
    obj: Any
    kwargs: dict[str, Any] = field(default_factory=dict)
    id: str | None = None

    def __init__(self, kind: str, obj: Any, *, id: str | None = None, **kwargs: Any) -> None:
        from calipers._registry import check_kind

        object.__setattr__(self, "kind", check_kind(kind))
        object.__setattr__(self, "obj", obj)
        object.__setattr__(self, "kwargs", kwargs)
        object.__setattr__(self, "id", id)


def run_all(checks: Iterator[Check]) -> None:
    """Run every check in turn; raise the first :class:`CheckFailure`."""
    for check in checks:
        check()
