"""``manifest.json``: JSON-safe values, tensor specs, file hashes and the integrity checks.

The manifest describes an artifact directory and lists the sha256 of every file in
it. It also carries ``manifest_sha256``, the sha256 of its own canonical JSON (sorted
keys, no whitespace) without that field, so an edited manifest is detected even
when the model files are intact. These are integrity checks (accidental or naive
tampering), not signatures: whoever can rewrite every hash can forge an artifact,
which is why pickles additionally need ``trusted=True`` to load.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import os
import pathlib
import platform
from collections.abc import Mapping
from typing import Any

import numpy as np

from calipers.errors import ArtifactError

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
DIGEST_KEY = "manifest_sha256"
#: Rows of the export sample kept in the manifest as a reference.
REFERENCE_ROWS = 16
TASKS = ("classifier", "regressor", "other")
_CHUNK = 1 << 20


def jsonable(value: Any, where: str = "value") -> Any:
    """Return ``value`` as plain JSON types (numpy scalars and arrays converted).

    Non-finite floats become ``None`` (JSON has no NaN); tuples and sets become
    lists; mapping keys become strings; paths become strings.

    Raises
    ------
    TypeError
        For anything else, naming where in the structure it was found.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.generic):
        return jsonable(value.item(), where)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufUO":
            raise TypeError(f"{where}: arrays of dtype {value.dtype} cannot go into a manifest")
        return jsonable(value.tolist(), where)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        return sorted(jsonable(v, where) for v in value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(
        f"{where}: {type(value).__name__} {value!r:.60} is not JSON-safe; manifests hold "
        "numbers, strings, lists and dicts"
    )


def dtype_name(dtype: np.dtype) -> str:
    """Name of a numpy dtype as the manifest writes it (``"float32"``, ``"str"``, ...)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "US":
        return "str"
    return dtype.name


def tensor_spec(name: str, array: np.ndarray) -> dict[str, Any]:
    """``{"name", "dtype", "shape"}`` of a batch: the first (batch) axis is ``None``."""
    shape = [None, *(int(d) for d in array.shape[1:])] if array.ndim else []
    return {"name": name, "dtype": dtype_name(array.dtype), "shape": shape}


def sha256_file(path: pathlib.Path) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _walk(root: pathlib.Path) -> list[str]:
    """Every entry under ``root`` except the manifest, as relative POSIX paths.

    Raises ArtifactError for symlinks and anything that is not a regular file or
    directory: an artifact never points outside itself.
    """
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = pathlib.Path(dirpath)
        for name in [*dirnames, *filenames]:
            entry = here / name
            rel = entry.relative_to(root).as_posix()
            if entry.is_symlink():
                raise ArtifactError(f"artifact {root}: {rel!r} is a symbolic link; refused")
            if name in filenames:
                if not entry.is_file():
                    raise ArtifactError(f"artifact {root}: {rel!r} is not a regular file")
                if rel != MANIFEST_NAME:
                    found.append(rel)
    return sorted(found)


def hash_files(root: str | os.PathLike) -> dict[str, str]:
    """``{relative POSIX path: sha256}`` of every file under ``root`` but the manifest."""
    root = pathlib.Path(root)
    return {rel: sha256_file(root / rel) for rel in _walk(root)}


def canonical_digest(manifest: Mapping[str, Any]) -> str:
    """sha256 of the manifest's canonical JSON, without its own digest field."""
    body = {k: v for k, v in manifest.items() if k != DIGEST_KEY}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def library_versions(*names: str) -> dict[str, str]:
    """Installed versions of the given distributions, plus python and numpy."""
    import importlib.metadata

    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def build_manifest(fields: Mapping[str, Any], *, fmt: str, exporter: str) -> dict[str, Any]:
    """The manifest (without files and digest) from the exporter's and host's fields."""
    import calipers

    task = fields.get("task", "other")
    if task not in TASKS:
        raise ValueError(f"exporter {exporter!r} returned task {task!r}; expected one of {TASKS}")
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "format": fmt,
        "exporter": exporter,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "calipers_version": calipers.__version__,
        "libraries": dict(fields.get("libraries") or {}),
        "model_type": fields.get("model_type"),
        "task": task,
        "classes": fields.get("classes"),
        "inputs": list(fields.get("inputs") or []),
        "outputs": list(fields.get("outputs") or []),
        "files": {},
        "metrics": dict(fields.get("metrics") or {}),
        "tolerance": dict(fields.get("tolerance") or {}),
        "reference": dict(fields.get("reference") or {}),
        # Per-feature histograms for drift monitoring (export's ``reference=``), or None.
        "drift": fields.get("drift"),
        "options": dict(fields.get("options") or {}),
    }
    return jsonable(manifest, "manifest")


def write_manifest(root: pathlib.Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Hash every file under ``root``, add the digest, write ``manifest.json`` (fsynced)."""
    manifest = dict(manifest)
    manifest.pop(DIGEST_KEY, None)
    manifest["files"] = hash_files(root)
    manifest[DIGEST_KEY] = canonical_digest(manifest)
    target = root / MANIFEST_NAME
    with open(target, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, allow_nan=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    return manifest


def read_manifest(root: str | os.PathLike) -> dict[str, Any]:
    """Read and check ``root/manifest.json`` and every file it lists.

    Nothing is deserialized but the JSON itself: this runs before any model file
    is opened.

    Raises
    ------
    ArtifactError
        If the directory or manifest is missing or malformed, the manifest was
        edited (digest mismatch), a listed file is missing or its sha256 differs,
        or a file exists that the manifest does not list. The message names the
        artifact and the file.
    """
    root = pathlib.Path(root)
    if not root.is_dir():
        raise ArtifactError(f"artifact {root}: no such directory")
    path = root / MANIFEST_NAME
    if not path.is_file() or path.is_symlink():
        raise ArtifactError(f"artifact {root}: {MANIFEST_NAME} is missing; not an artifact")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"artifact {root}: {MANIFEST_NAME} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict):
        raise ArtifactError(f"artifact {root}: {MANIFEST_NAME} must hold a JSON object")
    version = manifest.get("manifest_version")
    if version != MANIFEST_VERSION:
        raise ArtifactError(
            f"artifact {root}: {MANIFEST_NAME} has manifest_version {version!r}; this "
            f"calipers reads version {MANIFEST_VERSION}"
        )
    recorded = manifest.get(DIGEST_KEY)
    try:
        actual = canonical_digest(manifest)
    except ValueError:  # NaN/Infinity literals: never written by calipers
        actual = None
    if recorded != actual:
        raise ArtifactError(
            f"artifact {root}: {MANIFEST_NAME} was modified after export (its "
            f"{DIGEST_KEY} does not match its contents); refusing to load it"
        )
    check_files(root, manifest)
    return manifest


def check_files(root: pathlib.Path, manifest: Mapping[str, Any]) -> None:
    """Compare the files under ``root`` with the manifest's ``files`` (see read_manifest)."""
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise ArtifactError(f"artifact {root}: {MANIFEST_NAME} lists no files")
    for rel in files:
        parts = pathlib.PurePosixPath(rel).parts
        if not rel or rel.startswith("/") or "\\" in rel or ".." in parts or rel == MANIFEST_NAME:
            raise ArtifactError(f"artifact {root}: {MANIFEST_NAME} lists an unsafe path {rel!r}")
    present = _walk(root)
    extra = sorted(set(present) - set(files))
    if extra:
        raise ArtifactError(
            f"artifact {root}: file {extra[0]!r} is not listed in {MANIFEST_NAME}"
            + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else "")
            + "; the artifact was modified after export"
        )
    for rel, expected in sorted(files.items()):
        if rel not in present:
            raise ArtifactError(
                f"artifact {root}: file {rel!r} listed in {MANIFEST_NAME} is missing"
            )
        actual = sha256_file(root / rel)
        if actual != expected:
            raise ArtifactError(
                f"artifact {root}: file {rel!r} does not match its sha256 in {MANIFEST_NAME} "
                f"(expected {str(expected)[:12]}..., found {actual[:12]}...); it was modified "
                "after export"
            )
