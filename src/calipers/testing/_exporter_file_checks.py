"""Exporter checks on the files of an artifact and around it.

``check_artifact_self_contained`` (export writes only inside the artifact; loading
and running it writes nothing), ``check_tampering_refused`` (``calipers.load``
refuses a changed, removed or unlisted file), ``check_no_overwrite`` (an existing
artifact is replaced only with ``overwrite=True``) and
``check_unsupported_model_refused`` (no model, no files).
"""

from __future__ import annotations

import functools
import json
import math
import os
import pathlib
from collections.abc import Callable

from calipers.testing._exporter_target import (
    _changes,
    _describe,
    _export,
    _inputs,
    _load,
    _run,
    _snapshot,
    _Target,
    _workdir,
)

#: At most this many files of an artifact are changed and removed in turn (the
#: largest among them) by check_tampering_refused.
_MAX_TAMPERED = 12


class _NotAModel:
    """An object with no model API at all: no exporter may accept it."""


def check_artifact_self_contained(t: _Target) -> None:
    """Export writes only inside the artifact; loading and running it changes nothing."""
    rule = "check_artifact_self_contained"
    with _workdir() as tmp:
        parent = tmp / "parent"
        parent.mkdir()
        path = _export(t, rule, parent / "artifact")

        def stray() -> list[str]:
            return sorted(rel for rel in _snapshot(tmp)
                          if rel not in ("parent", "parent/artifact")
                          and not rel.startswith("parent/artifact/"))

        outside = stray()
        if outside:
            raise t.fail(rule, f"calipers.export wrote {outside} outside the artifact "
                         "directory 'parent/artifact'",
                         "write files only inside the directory export() is given")
        before = _snapshot(path)
        for attempt in ("first", "second"):
            with _load(t, rule, path, f"for the {attempt} time") as artifact:
                _run(t, rule, artifact, _inputs(t, rule, artifact),
                     f"running the artifact after the {attempt} load")
            changes = _changes(before, _snapshot(path))
            if changes:
                raise t.fail(rule, f"loading and running the artifact changed its directory: "
                             f"{changes}", "never write into the artifact from load() or the "
                             "runner (keep caches elsewhere): calipers.load refuses unlisted "
                             "or changed files")
        outside = stray()
        if outside:
            raise t.fail(rule, f"loading the artifact 'parent/artifact' wrote {outside} "
                         "outside it",
                         "never write beside the artifact from load() or the runner")


def check_tampering_refused(t: _Target) -> None:
    """A changed byte, an unlisted file, a removed file: ``calipers.load`` refuses each.

    Every file the exporter wrote (12 of them at most, the largest included) is
    changed (one byte) and removed in turn, an unlisted file is added at the top and
    in a subdirectory, and the manifest is edited; each time ``calipers.load`` must
    raise ArtifactError naming the file.
    The artifact is put back after each change and must then load again.
    """
    import calipers
    from calipers.errors import ArtifactError
    from calipers.export._manifest import MANIFEST_NAME

    rule = "check_tampering_refused"
    with _workdir() as tmp:
        path = _export(t, rule, tmp / "artifact")
        with _load(t, rule, path):
            pass
        files = sorted(json.loads((path / MANIFEST_NAME).read_text(encoding="utf-8"))["files"])
        if len(files) > _MAX_TAMPERED:  # every load hashes every file: keep it linear
            largest = max(files, key=lambda rel: (path / rel).stat().st_size)
            step = math.ceil(len(files) / (_MAX_TAMPERED - 1))
            files = sorted({largest, *files[::step]})

        def refused(change: str, name: str, do: Callable[[], None],
                    undo: Callable[[], None]) -> None:
            do()
            try:
                calipers.load(path, **t.load_options).close()
            except ArtifactError as exc:
                if name not in str(exc):
                    raise t.fail(rule, f"after {change}, calipers.load raised ArtifactError "
                                 f"without naming {name!r}: {exc}",
                                 "write artifacts only through calipers.export") from exc
            except Exception as exc:
                raise t.fail(rule, f"after {change}, calipers.load raised {_describe(exc)} "
                             "instead of ArtifactError",
                             "let calipers.load check the hashes before load() reads files "
                             "(write artifacts only through calipers.export)") from exc
            else:
                raise t.fail(rule, f"calipers.load accepted the artifact after {change}",
                             "write artifacts only through calipers.export, so that every "
                             "file is hashed in the manifest")
            finally:
                undo()

        for rel in files:
            target = path / rel
            size = target.stat().st_size
            if size:
                with open(target, "rb") as f:
                    f.seek(size // 2)
                    original = f.read(1)
                refused(f"changing one byte of {rel!r}", rel,
                        functools.partial(_write_at, target, size // 2, bytes([original[0] ^ 1])),
                        functools.partial(_write_at, target, size // 2, original))
            else:
                refused(f"adding a byte to the empty {rel!r}", rel,
                        functools.partial(_write_at, target, 0, b"\0"),
                        functools.partial(os.truncate, target, 0))
            aside = tmp / "removed"
            refused(f"removing {rel!r}", rel, functools.partial(os.replace, target, aside),
                    functools.partial(os.replace, aside, target))
        subdirs = sorted(p for p in path.rglob("*") if p.is_dir())
        for where in [path, *subdirs[:1]]:
            extra = where / "unlisted.bin"
            rel = extra.relative_to(path).as_posix()
            refused(f"adding the unlisted file {rel!r}", rel,
                    functools.partial(extra.write_bytes, b"\0"), extra.unlink)
        manifest = path / MANIFEST_NAME
        text = manifest.read_text(encoding="utf-8")
        edited = json.loads(text)
        edited["model_type"] = f"{edited.get('model_type')}.edited"
        refused(f"editing {MANIFEST_NAME}", MANIFEST_NAME,
                functools.partial(manifest.write_text, json.dumps(edited), encoding="utf-8"),
                functools.partial(manifest.write_text, text, encoding="utf-8"))
        with _load(t, rule, path, "after every change was undone"):
            pass


def _write_at(file: pathlib.Path, offset: int, data: bytes) -> None:
    with open(file, "r+b") as f:
        f.seek(offset)
        f.write(data)


def check_no_overwrite(t: _Target) -> None:
    """Exporting onto an artifact raises and changes nothing; ``overwrite=True`` replaces it."""
    import calipers

    rule = "check_no_overwrite"
    with _workdir() as tmp:
        path = _export(t, rule, tmp / "artifact")
        before = _snapshot(path)
        try:
            calipers.export(t.model, t.fmt, path, sample=t.sample, **t.export_options)
        except FileExistsError:
            pass
        except Exception as exc:
            raise t.fail(rule, f"exporting onto an existing artifact raised {_describe(exc)} "
                         "instead of FileExistsError",
                         "write artifacts only through calipers.export") from exc
        else:
            raise t.fail(rule, "exporting onto an existing artifact without overwrite=True "
                         "succeeded", "write artifacts only through calipers.export")
        changes = _changes(before, _snapshot(path))
        if changes:
            raise t.fail(rule, f"a refused export changed the existing artifact: {changes}",
                         "write files only inside the directory export() is given")
        leftovers = sorted(p.name for p in tmp.iterdir() if p.name != "artifact")
        if leftovers:
            raise t.fail(rule, f"a refused export left {leftovers} beside the artifact",
                         "write files only inside the directory export() is given")
        stale = path / "stale-from-previous-export.txt"
        stale.write_text("written before the overwrite")
        _export(t, rule, path, overwrite=True)
        if stale.exists():
            raise t.fail(rule, "export with overwrite=True kept a file of the previous "
                         "artifact", "write artifacts only through calipers.export")
        with _load(t, rule, path):
            pass
        leftovers = sorted(p.name for p in tmp.iterdir() if p.name != "artifact")
        if leftovers:
            raise t.fail(rule, f"export with overwrite=True left {leftovers} beside the "
                         "artifact", "write files only inside the directory export() is given")


def check_unsupported_model_refused(t: _Target) -> None:
    """An object that is no model is refused with a TypeError naming its type; nothing is left."""
    import calipers

    rule = "check_unsupported_model_refused"
    with _workdir() as tmp:
        target = tmp / "parent" / "artifact"
        try:
            calipers.export(_NotAModel(), t.fmt, target, sample=t.sample, **t.export_options)
        except TypeError as exc:
            if _NotAModel.__name__ not in str(exc):
                raise t.fail(rule, "exporting an unsupported object raised a TypeError that "
                             f"does not name its type {_NotAModel.__name__!r}: {exc}",
                             "name the model's type (and the supported ones) in the "
                             "TypeError") from exc
        except Exception as exc:
            raise t.fail(rule, f"exporting an unsupported {_NotAModel.__name__} object raised "
                         f"{_describe(exc)} instead of a TypeError naming its type",
                         "return False from supports() for models the exporter cannot "
                         "export, or raise TypeError in export()") from exc
        else:
            raise t.fail(rule, f"calipers.export accepted a {_NotAModel.__name__} object, "
                         "which has no model API at all",
                         "return False from supports() for models the exporter cannot export")
        left = sorted(rel for rel in _snapshot(tmp) if rel != "parent")
        if left:
            raise t.fail(rule, f"the refused export left {left}",
                         "write files only inside the directory export() is given")


