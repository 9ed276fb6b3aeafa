"""The models a server serves: artifacts under a base directory, re-scanned while it runs.

Two layouts are served:

- ``<base>/<name>/<version>/`` (TF Serving's): every complete version, i.e. an
  integer directory holding a ``manifest.json`` (exports write a temporary
  directory and rename it into place);
- ``<base>/<name>/`` holding a ``manifest.json`` itself (what
  ``calipers.export(model, fmt, "artifacts/cancer", ...)`` writes): an
  unversioned artifact, served as version 1 of model ``name``.

A version whose load fails (tampered, missing exporter) is reported with its
error in the status and retried only when its manifest changes. Versions whose
directory disappears are unloaded (closed one scan later, so requests already
running on them finish). What a scan found (each model and version served, and
each entry skipped with the reason) is logged on the ``calipers.serve`` logger at
the first scan and again whenever it changes; :meth:`ModelRegistry.discovery`
returns the same lines.
"""

from __future__ import annotations

import logging
import os
import pathlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from calipers.serve._errors import not_found

log = logging.getLogger("calipers.serve")

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_VERSION = re.compile(r"[0-9]+")
_MANIFEST = "manifest.json"
#: How a model directory was laid out (``Version.layout``).
VERSIONED, UNVERSIONED = "versioned", "unversioned"


@dataclass
class Version:
    """One version of a model: its artifact, or the error that kept it from loading."""

    name: str
    version: int
    path: pathlib.Path
    artifact: Any = None
    error: str = ""
    stamp: tuple[int, int] = (0, 0)
    manifest: dict[str, Any] = field(default_factory=dict)
    #: ``"versioned"`` (``<base>/<name>/<version>/``) or ``"unversioned"`` (an artifact
    #: directory ``<base>/<name>/`` served as version 1).
    layout: str = VERSIONED

    @property
    def available(self) -> bool:
        return self.artifact is not None


def _stamp(path: pathlib.Path) -> tuple[int, int]:
    try:
        st = (path / "manifest.json").stat()
    except OSError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)


@dataclass
class _Discovery:
    """What one look at the base found: servable paths, and what was skipped and why."""

    found: dict[str, dict[int, pathlib.Path]] = field(default_factory=dict)
    layout: dict[str, str] = field(default_factory=dict)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (log level, line)

    def skip(self, path: pathlib.Path, why: str, level: int = logging.WARNING) -> None:
        self.skipped.append((level, f"skipped {path}: {why}"))


def _look_into(discovery: _Discovery, model: pathlib.Path) -> None:
    """Find the versions of one model directory (or take it as an unversioned artifact)."""
    name = model.name
    if (model / _MANIFEST).is_file():
        discovery.found[name] = {1: model}
        discovery.layout[name] = UNVERSIONED
        return
    versions: dict[int, pathlib.Path] = {}
    notes = len(discovery.skipped)
    try:
        children = sorted(model.iterdir(), key=lambda p: p.name)
    except OSError as exc:
        discovery.skip(model, f"cannot list it ({exc.strerror or exc})")
        return
    for child in children:
        if child.name.startswith("."):
            continue  # an export in progress (.<version>.tmp-*) or a leftover of one
        if not _VERSION.fullmatch(child.name):
            discovery.skip(child, f"not a version directory (versions are {name}/<integer>/)",
                           logging.INFO)
        elif child.is_symlink():
            discovery.skip(child, "a symbolic link (not followed)")
        elif not child.is_dir():
            discovery.skip(child, "not a directory", logging.INFO)
        elif not (child / _MANIFEST).is_file():
            discovery.skip(child, f"incomplete: no {_MANIFEST} (an export still writing it, "
                           "or not an artifact)")
        elif int(child.name) in versions:
            discovery.skip(child, f"version {int(child.name)} is already "
                           f"{versions[int(child.name)]}")
        else:
            versions[int(child.name)] = child
    if versions:
        discovery.found[name] = versions
        discovery.layout[name] = VERSIONED
    elif len(discovery.skipped) == notes:
        discovery.skip(model, f"no {_MANIFEST} in it and no <version>/{_MANIFEST} under it "
                       "(not an artifact directory nor a model of versioned artifacts)")
    else:
        discovery.skip(model, "no complete version in it (see above)")


def _discover(base: str | os.PathLike) -> _Discovery:
    """Look at ``base`` once: the models and versions to serve, and what is skipped and why."""
    base = pathlib.Path(base)
    discovery = _Discovery()
    try:
        entries = sorted(base.iterdir(), key=lambda p: p.name)
    except OSError as exc:
        discovery.skip(base, f"cannot list the model base ({exc.strerror or exc})")
        return discovery
    if (base / _MANIFEST).is_file():
        discovery.skip(base, f"the model base is itself an artifact directory; serve its parent "
                       f"(calipers serve {base.parent}) to serve it as model {base.name!r}")
    for entry in entries:
        if entry.name.startswith("."):
            continue  # exports in progress (.<name>.tmp-*), the prediction log (.calipers)
        if entry.is_symlink():
            discovery.skip(entry, "a symbolic link (not followed)")
        elif not entry.is_dir():
            discovery.skip(entry, "a file, not a model directory", logging.INFO)
        elif not _NAME.fullmatch(entry.name) or ".." in entry.name:
            discovery.skip(entry, "not a valid model name (letters, digits, '_', '-' and "
                           "'.', not first)")
        else:
            _look_into(discovery, entry)
    return discovery


def log_to_stderr(level: str | int = "info") -> None:
    """Print the ``calipers.serve`` log (what was found, skipped, loaded) on stderr.

    ``calipers serve`` calls this, so the models and versions a scan finds, and
    why anything was skipped, show at start and at every change. Calling it
    again only changes the level.
    """
    level = level.upper() if isinstance(level, str) else level
    if not any(getattr(h, "calipers_console", False) for h in log.handlers):
        handler = logging.StreamHandler()
        handler.calipers_console = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter("%(levelname)-8s %(name)s: %(message)s"))
        log.addHandler(handler)
        log.propagate = False
    log.setLevel(level)


def _close(entries: list[Version]) -> None:
    for entry in entries:
        if entry.artifact is not None:
            try:
                entry.artifact.close()
            except Exception:  # closing is best effort
                pass
            log.info("unloaded %s version %d", entry.name, entry.version)


class ModelRegistry:
    """Artifacts under a model base, loaded and reloaded as versions come and go.

    Parameters
    ----------
    base : str or os.PathLike
        The model base: ``<base>/<name>/<version>/`` artifact directories, or
        ``<base>/<name>/`` artifact directories (served as version 1).
    poll_interval : float, default 2.0
        Seconds between scans of ``base`` once :meth:`start` is called; 0 or
        less scans only at start.
    trusted : bool, default False
        Passed to :func:`calipers.load` (pickle artifacts need it).
    loader : callable, optional
        ``loader(path, trusted=...) -> Artifact``; :func:`calipers.load` by default.
    """

    def __init__(
        self,
        base: str | os.PathLike,
        *,
        poll_interval: float = 2.0,
        trusted: bool = False,
        loader: Callable[..., Any] | None = None,
    ) -> None:
        self.base = pathlib.Path(base)
        self.poll_interval = float(poll_interval)
        self.trusted = trusted
        if loader is None:
            from calipers.export import load as loader
        self._loader = loader
        self._models: dict[str, dict[int, Version]] = {}
        self._lock = threading.Lock()
        self._scan_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Versions replaced or removed by the last scan: closed one scan later, so
        # requests that picked them up just before still finish on an open model.
        self._retired: list[Version] = []
        self._last_report: list[tuple[int, str]] = []

    # -- scanning -------------------------------------------------------------
    def scan(self) -> None:
        """Load new complete versions, retry changed failed ones, drop vanished ones.

        Logs what it found (see :meth:`discovery`) when that differs from the
        last scan's.
        """
        from calipers.export import read_manifest

        with self._scan_lock:
            discovery = _discover(self.base)
            with self._lock:
                current = {name: dict(versions) for name, versions in self._models.items()}
            updated: dict[str, dict[int, Version]] = {}
            closing: list[Version] = []
            for name, versions in discovery.found.items():
                old = current.get(name, {})
                new: dict[int, Version] = {}
                for number, path in sorted(versions.items()):
                    stamp = _stamp(path)
                    have = old.get(number)
                    if have is not None and have.stamp == stamp and have.path == path:
                        new[number] = have
                        continue
                    entry = Version(name, number, path, stamp=stamp,
                                    layout=discovery.layout[name])
                    try:
                        entry.artifact = self._loader(path, trusted=self.trusted)
                        entry.manifest = entry.artifact.manifest
                        log.info("loaded %s version %d from %s", name, number, path)
                    except Exception as exc:  # a bad version must not stop the others
                        entry.error = f"{type(exc).__name__}: {exc}"
                        try:
                            entry.manifest = read_manifest(path)
                        except Exception:
                            entry.manifest = {}
                    new[number] = entry
                    if have is not None:
                        closing.append(have)
                closing.extend(v for n, v in old.items() if n not in new)
                if new:
                    updated[name] = new
            for name, old in current.items():
                if name not in discovery.found:
                    closing.extend(old.values())
            with self._lock:
                self._models = updated
            retired, self._retired = self._retired, closing
            _close(retired)
            self._report(updated, discovery)

    def _report(self, models: dict[str, dict[int, Version]], discovery: _Discovery) -> None:
        lines: list[tuple[int, str]] = []
        for name, versions in sorted(models.items()):
            for number, entry in sorted(versions.items()):
                how = (f"{entry.path}: unversioned artifact, served as version {number}"
                       if entry.layout == UNVERSIONED else str(entry.path))
                if entry.available:
                    lines.append((logging.INFO, f"serving model {name!r} version {number} "
                                                f"({how})"))
                else:
                    lines.append((logging.WARNING, f"not serving model {name!r} version "
                                                   f"{number} ({how}): {entry.error}"))
        if not models:
            lines.append((logging.WARNING, f"no models to serve under {self.base}: expected "
                                           f"<name>/<version>/{_MANIFEST} or <name>/{_MANIFEST}"))
        lines.extend(discovery.skipped)
        if lines != self._last_report:
            for level, line in lines:
                log.log(level, "%s", line)
            self._last_report = lines

    def discovery(self) -> list[str]:
        """What the last scan found: one line per version served (or failed) and per
        entry of the base skipped, with the reason."""
        with self._scan_lock:
            return [line for _, line in self._last_report]

    def start(self) -> None:
        """Scan now, then keep scanning every ``poll_interval`` seconds in a thread."""
        self.scan()
        if self.poll_interval > 0 and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._poll, name="calipers-serve-poll",
                                            daemon=True)
            self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_interval):
            try:
                self.scan()
            except Exception:  # keep polling; the next scan may succeed
                log.exception("scanning %s failed", self.base)

    def stop(self) -> None:
        """Stop polling and close every loaded artifact."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        with self._scan_lock, self._lock:
            models, self._models = self._models, {}
            retired, self._retired = self._retired, []
        _close(retired + [v for versions in models.values() for v in versions.values()])

    # -- lookups --------------------------------------------------------------
    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._models)

    def versions(self, name: str) -> list[Version]:
        """Every known version of ``name`` (ascending), loaded or failed; [] if unknown."""
        with self._lock:
            return [v for _, v in sorted(self._models.get(name, {}).items())]

    def status(self, name: str, version: int | None = None) -> list[Version]:
        """Versions for a status request; NOT_FOUND errors as TF Serving words them."""
        versions = self.versions(name)
        if not versions:
            raise not_found(f"Could not find any versions of model {name}")
        if version is None:
            return versions
        chosen = [v for v in versions if v.version == version]
        if not chosen:
            raise not_found(f"Could not find version {version} of model {name}")
        return chosen

    def get(self, name: str, version: int | None = None) -> Version:
        """The loaded version to serve (the highest loaded one when ``version`` is None)."""
        spec = f"Latest({name})" if version is None else f"Specific({name}, {version})"
        loaded = [v for v in self.versions(name) if v.available]
        if version is not None:
            loaded = [v for v in loaded if v.version == version]
        if not loaded:
            raise not_found(f"Servable not found for request: {spec}")
        return loaded[-1]
