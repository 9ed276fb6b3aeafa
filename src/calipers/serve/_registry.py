"""The models a server serves: ``<base>/<name>/<version>/`` artifacts, re-scanned while it runs.

Only complete versions are loaded (:func:`calipers.export.list_versions`:
integer directories holding a ``manifest.json``; exports write a temporary
directory and rename it into place). A version whose load fails (tampered,
missing exporter) is reported with its error in the status and retried only
when its manifest changes. Versions whose directory disappears are unloaded
(closed one scan later, so requests already running on them finish).
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

    @property
    def available(self) -> bool:
        return self.artifact is not None


def _stamp(path: pathlib.Path) -> tuple[int, int]:
    try:
        st = (path / "manifest.json").stat()
    except OSError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)


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
        The model base: ``<base>/<name>/<version>/`` artifact directories.
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

    # -- scanning -------------------------------------------------------------
    def _model_names(self) -> list[str]:
        try:
            entries = list(self.base.iterdir())
        except OSError:
            return []
        return sorted(e.name for e in entries
                      if _NAME.fullmatch(e.name) and ".." not in e.name and e.is_dir()
                      and not e.is_symlink())

    def scan(self) -> None:
        """Load new complete versions, retry changed failed ones, drop vanished ones."""
        from calipers.export import list_versions, read_manifest

        with self._scan_lock:
            found: dict[str, list[int]] = {}
            for name in self._model_names():
                try:
                    found[name] = list_versions(self.base, name)
                except (OSError, ValueError):
                    continue
            with self._lock:
                current = {name: dict(versions) for name, versions in self._models.items()}
            updated: dict[str, dict[int, Version]] = {}
            closing: list[Version] = []
            for name, versions in found.items():
                old = current.get(name, {})
                new: dict[int, Version] = {}
                for number in versions:
                    path = self.base / name / str(number)
                    stamp = _stamp(path)
                    have = old.get(number)
                    if have is not None and have.stamp == stamp:
                        new[number] = have
                        continue
                    entry = Version(name, number, path, stamp=stamp)
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
                        log.warning("could not load %s version %d: %s", name, number,
                                    entry.error)
                    new[number] = entry
                    if have is not None:
                        closing.append(have)
                closing.extend(v for n, v in old.items() if n not in new)
                if new:
                    updated[name] = new
            for name, old in current.items():
                if name not in found:
                    closing.extend(old.values())
            with self._lock:
                self._models = updated
            retired, self._retired = self._retired, closing
            _close(retired)

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
