"""Exceptions raised by calipers."""

from __future__ import annotations


class CalipersError(Exception):
    """Base class of calipers' own exceptions."""


class MissingExtraError(CalipersError, ImportError):
    """An optional dependency is not installed.

    The message names the missing module and the pip command that installs it.
    """

    def __init__(self, module: str, extra: str, feature: str | None = None) -> None:
        self.module = module
        self.extra = extra
        what = f"{feature} requires {module}" if feature else f"{module} is not installed"
        super().__init__(f"{what}: pip install 'calipers[{extra}]'")
        self.name = module

    @property
    def pip_command(self) -> str:
        return f"pip install 'calipers[{self.extra}]'"


class PluginConflictError(CalipersError, ValueError):
    """Two plugins registered the same name for the same kind of object."""


class ArtifactError(CalipersError, ValueError):
    """An exported artifact is missing, malformed, tampered with or not trusted.

    The message names the artifact's path and the offending file.
    """


class ParityError(CalipersError, ValueError):
    """An artifact does not reproduce its model within the tolerance.

    ``report`` holds the :class:`calipers.export.ParityReport` that failed.
    """

    def __init__(self, message: str, report: object = None) -> None:
        super().__init__(message)
        self.report = report
