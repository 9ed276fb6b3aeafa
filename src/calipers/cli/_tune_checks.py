"""Checks of the values in a tuning spec (see :mod:`calipers.cli._tune_spec`).

Each helper reads one key of one table and reports a problem naming the section and
the key, with what was expected and what was found. Problems are collected by an
:class:`Errors`: a problem stops only the check that found it (one ``with
err.check(...)`` block), so one :class:`SpecError` lists every problem of the spec.
"""

from __future__ import annotations

import contextlib
import difflib
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NoReturn

__all__ = ["PARAM_KEYS", "Errors", "SpecError", "check_keys", "check_param", "get_bool",
           "get_float", "get_int", "get_str", "get_table", "spec_error"]

PARAM_KEYS = {
    "float": ("type", "low", "high", "log", "condition"),
    "int": ("type", "low", "high", "log", "step", "condition"),
    "categorical": ("type", "choices", "condition"),
}


class SpecError(ValueError):
    """A tuning spec is malformed; the message names the file, section and key.

    Attributes
    ----------
    problems : list of str
        Every problem found, each naming its section and key (without the file
        name). One problem reads ``"<file>: <problem>"``; several read
        ``"<file>: N problems:"`` followed by one ``"  - <problem>"`` line each.
    """

    def __init__(self, message: str, problems: Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems) if problems is not None else [message]


class _Stop(SpecError):
    """Raised by :meth:`Errors.fail` to stop the current check (caught by
    :meth:`Errors.check`; outside one it is an ordinary one-problem SpecError)."""


def spec_error(source: str, problems: Sequence[str]) -> SpecError:
    """A :class:`SpecError` listing ``problems`` of the spec ``source``."""
    if len(problems) == 1:
        return SpecError(f"{source}: {problems[0]}", problems)
    lines = "\n".join(f"  - {p}" for p in problems)
    return SpecError(f"{source}: {len(problems)} problems:\n{lines}", problems)


class Errors:
    """Collects the problems of the spec ``source``.

    ``fail(message)`` records a problem and stops the current ``with check(part)``
    block (``part`` is then in :attr:`bad`: a section, or a top-level key);
    ``add(message)`` records one and goes on; :meth:`raise_if_any` raises one
    :class:`SpecError` listing them all.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []
        self.bad: set[str] = set()

    def add(self, message: str, part: str = "") -> None:
        self.problems.append(message)
        if part:
            self.bad.add(part)

    def fail(self, message: str) -> NoReturn:
        self.problems.append(message)
        raise _Stop(f"{self.source}: {message}", [message])

    @contextlib.contextmanager
    def check(self, part: str = "") -> Iterator[None]:
        """One independent check: a :meth:`fail` inside ends it, and marks ``part`` bad."""
        try:
            yield
        except _Stop:
            if part:
                self.bad.add(part)

    def raise_if_any(self) -> None:
        if self.problems:
            raise spec_error(self.source, self.problems)


def _where(section: str, key: str) -> str:
    return f"[{section}] {key}" if section else key


def check_keys(err: Errors, table: Mapping[str, Any], allowed: tuple[str, ...],
                section: str) -> None:
    """Record every unknown key of ``table`` (the other keys are still checked)."""
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            where = f"[{section}]" if section else "the top level"
            err.add(f"unknown key {key!r} in {where}{hint} (allowed: {', '.join(allowed)})")


def get_table(err: Errors, raw: Mapping[str, Any], name: str,
           required: bool = True) -> dict[str, Any]:
    value = raw.get(name, {} if not required else None)
    if not isinstance(value, dict):
        err.fail(f"[{name}] must be a table (a [{name}] section), got {value!r}")
    return value


def get_str(err: Errors, table: Mapping[str, Any], key: str, section: str,
         default: Any) -> Any:
    value = table.get(key, default)
    if value is not default and (not isinstance(value, str) or not value.strip()):
        err.fail(f"{_where(section, key)} must be a non-empty string, got {value!r}")
    return value


def get_int(err: Errors, table: Mapping[str, Any], key: str, section: str, default: Any,
         low: int) -> Any:
    value = table.get(key, default)
    if value is default:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        err.fail(f"{_where(section, key)} must be an integer >= {low}, got {value!r}")
    return value


def get_float(err: Errors, table: Mapping[str, Any], key: str, section: str,
           default: Any) -> Any:
    value = table.get(key, default)
    if value is default:
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value):
        err.fail(f"{_where(section, key)} must be a finite number, got {value!r}")
    return float(value)


def get_bool(err: Errors, table: Mapping[str, Any], key: str, section: str,
          default: Any) -> Any:
    value = table.get(key, default)
    if value is not default and not isinstance(value, bool):
        err.fail(f"{_where(section, key)} must be true or false, got {value!r}")
    return value


def check_param(err: Errors, name: str, entry: Any) -> None:
    where = f"[space] {name}"
    if not isinstance(entry, dict):
        err.fail(f"{where} must be a table like {{ type = \"float\", low = 0.01, high = 1.0 }}, "
                 f"got {entry!r}")
    kind = entry.get("type")
    if kind not in PARAM_KEYS:
        err.fail(f"{where}: type must be one of \"float\", \"int\", \"categorical\", "
                 f"got {kind!r}")
    for key in entry:
        if key not in PARAM_KEYS[kind]:
            close = difflib.get_close_matches(key, PARAM_KEYS[kind], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            err.fail(f"{where}: unknown key {key!r} for type {kind!r}{hint} "
                     f"(allowed: {', '.join(PARAM_KEYS[kind])})")
    if kind == "categorical":
        choices = entry.get("choices")
        if not isinstance(choices, list):
            err.fail(f"{where}: categorical needs choices = [...], got {choices!r}")
    else:
        for key in ("low", "high"):
            if key not in entry:
                err.fail(f"{where}: {kind} needs {key!r}")
            v = entry[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                err.fail(f"{where}: {key} must be a number, got {v!r}")
        if "log" in entry and not isinstance(entry["log"], bool):
            err.fail(f"{where}: log must be true or false, got {entry['log']!r}")
    cond = entry.get("condition")
    if cond is not None:
        ok = isinstance(cond, dict) and (
            set(cond) == {"parent", "values"} and isinstance(cond["parent"], str)
            or (len(cond) == 1 and "parent" not in cond and "values" not in cond)
        )
        if not ok:
            err.fail(f"{where}: condition must be {{ parent = \"name\", values = [...] }} "
                     f"(or {{ name = [...] }}), got {cond!r}")
