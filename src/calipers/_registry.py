"""Validation and name index of the classes that plugins' hooks return (private).

One :class:`Registry` per kind ("metric", "searcher", "exporter", "backend"). It is
built once from every plugin's validated contributions and then only read.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from calipers.errors import PluginConflictError

#: kind -> the hook that provides it.
KINDS: dict[str, str] = {
    "metric": "register_metric",
    "searcher": "register_searcher",
    "exporter": "register_exporter",
    "backend": "register_backend",
}

#: kind -> callables each class of that kind must have (besides a ``name`` string).
REQUIRED: dict[str, tuple[str, ...]] = {
    "metric": ("update", "merge", "compute", "reset"),
    "searcher": ("ask", "tell"),
    "exporter": ("export", "verify"),
    "backend": ("accepts", "to_numpy"),
}


class InvalidContribution(Exception):
    """A hook returned something that breaks the contract (the message says what)."""


def check_kind(kind: str) -> str:
    """Return ``kind`` or raise ``ValueError`` listing the valid kinds."""
    if kind not in KINDS:
        raise ValueError(
            f"unknown plugin kind {kind!r}; expected one of {', '.join(map(repr, KINDS))}"
        )
    return kind


def _describe(obj: Any) -> str:
    if inspect.isclass(obj):
        return f"class {obj.__module__}.{obj.__qualname__}"
    text = repr(obj)
    return text if len(text) <= 80 else text[:77] + "..."


def validate_result(kind: str, result: Any) -> list[tuple[str, type]]:
    """Check one hook call's return value; return its ``(name, class)`` pairs.

    Raises
    ------
    InvalidContribution
        If ``result`` is not an iterable of classes, a class lacks ``name`` or a
        required callable, is abstract, or two of its classes share a name.
    """
    hook = KINDS[kind]
    if result is None:
        return []
    if inspect.isclass(result) or isinstance(result, (str, bytes)):
        raise InvalidContribution(
            f"{hook} must return an iterable of classes, got {_describe(result)}; "
            "return a list, e.g. [MyClass]"
        )
    if not isinstance(result, Iterable):
        raise InvalidContribution(
            f"{hook} must return an iterable of classes, got {_describe(result)}"
        )
    pairs: list[tuple[str, type]] = []
    seen: dict[str, type] = {}
    for obj in result:
        if not inspect.isclass(obj):
            raise InvalidContribution(
                f"{hook} returned {_describe(obj)}, which is not a class; return the "
                f"{kind} class itself, not an instance"
            )
        name = getattr(obj, "name", None)
        if not isinstance(name, str) or not name or name != name.strip():
            raise InvalidContribution(
                f"{kind} {_describe(obj)} has name {name!r}; set the class attribute "
                "`name` to a non-empty string without surrounding whitespace"
            )
        missing = [attr for attr in REQUIRED[kind] if not callable(getattr(obj, attr, None))]
        if missing:
            raise InvalidContribution(
                f"{kind} {_describe(obj)} ({name!r}) lacks callable "
                f"{', '.join(missing)}; a {kind} must have {', '.join(REQUIRED[kind])}"
            )
        if inspect.isabstract(obj):
            abstract = ", ".join(sorted(getattr(obj, "__abstractmethods__", ())))
            raise InvalidContribution(
                f"{kind} {_describe(obj)} ({name!r}) is abstract: implement {abstract}"
            )
        if name in seen:
            if seen[name] is obj:
                continue
            raise InvalidContribution(
                f"{hook} returned two {kind}s named {name!r}: {_describe(seen[name])} "
                f"and {_describe(obj)}"
            )
        seen[name] = obj
        pairs.append((name, obj))
    return pairs


@dataclass
class Registry:
    """The classes of one kind, by name, with the plugin that provided each."""

    kind: str
    #: name -> class, in registration order (conflicting names excluded).
    classes: dict[str, type] = field(default_factory=dict)
    #: name -> plugin that provided it.
    providers: dict[str, str] = field(default_factory=dict)
    #: name -> every plugin that provided it, when more than one did.
    conflicts: dict[str, list[str]] = field(default_factory=dict)
    #: a note appended to "unknown name" errors (e.g. plugins that failed to load).
    hint: str = ""

    def add(self, name: str, cls: type, plugin: str) -> None:
        """Index ``cls`` under ``name``; a second provider turns the name into a conflict."""
        if name in self.conflicts:
            self.conflicts[name].append(plugin)
        elif name in self.providers:
            self.conflicts[name] = [self.providers.pop(name), plugin]
            del self.classes[name]
        else:
            self.classes[name] = cls
            self.providers[name] = plugin

    def names(self) -> list[str]:
        """All names, sorted; conflicting ones included (looking them up raises)."""
        return sorted([*self.classes, *self.conflicts])

    def conflict_error(self, name: str) -> PluginConflictError:
        plugins = self.conflicts[name]
        listed = " and ".join(repr(p) for p in plugins)
        return PluginConflictError(
            f"{self.kind} {name!r} is provided by more than one plugin: {listed}. calipers "
            "never lets one silently override another: uninstall one of them, or set "
            "CALIPERS_DISABLE_PLUGINS=1 to use only calipers' own plugins"
        )

    def get(self, name: str) -> type:
        """Return the class named ``name``.

        Raises
        ------
        PluginConflictError
            If several plugins provide ``name``.
        ValueError
            If no plugin provides ``name``; lists the close matches and all names.
        """
        cls = self.classes.get(name)
        if cls is not None:
            return cls
        if name in self.conflicts:
            raise self.conflict_error(name)
        available = self.names()
        close = difflib.get_close_matches(str(name), available, n=3)
        guess = f"; did you mean {' or '.join(map(repr, close))}?" if close else "."
        listed = ", ".join(available) if available else "none"
        raise ValueError(
            f"unknown {self.kind} {name!r}{guess} Available {self.kind}s: {listed}.{self.hint}"
        )
