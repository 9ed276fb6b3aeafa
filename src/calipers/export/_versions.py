"""A versioned model base for serving: ``<base>/<name>/<version>/`` (TF Serving's layout).

Only complete versions count: integer-named directories holding a
``manifest.json``. Temporary directories of exports in progress
(``.<version>.tmp-...``) are never listed.
"""

from __future__ import annotations

import operator
import os
import pathlib
import re

from calipers.export._manifest import MANIFEST_NAME

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_VERSION = re.compile(r"[0-9]+")


def check_model_name(name: str) -> str:
    """Return ``name`` if it is a safe model name (one path component), else raise.

    Raises
    ------
    ValueError
        If ``name`` is empty, starts with a dot, or holds characters other than
        letters, digits, ``_``, ``-`` and ``.`` (so no path separators or ``..``).
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise ValueError(
            f"invalid model name {name!r}: use letters, digits, '_', '-' and '.' "
            "(not first), with no path separators"
        )
    return name


def list_versions(base: str | os.PathLike, name: str) -> list[int]:
    """Complete versions of model ``name`` under ``base``, ascending.

    Parameters
    ----------
    base : str or os.PathLike
        The model base directory.
    name : str
        The model's name (a directory under ``base``).

    Returns
    -------
    list[int]
        Versions whose directory ``<base>/<name>/<version>/`` holds a
        ``manifest.json``; empty if the model does not exist.
    """
    root = pathlib.Path(base) / check_model_name(name)
    if not root.is_dir():
        return []
    versions = []
    for entry in root.iterdir():
        if (_VERSION.fullmatch(entry.name) and entry.is_dir() and not entry.is_symlink()
                and (entry / MANIFEST_NAME).is_file()):
            versions.append(int(entry.name))
    return sorted(versions)


def version_dir(base: str | os.PathLike, name: str, version: int | None = None) -> pathlib.Path:
    """Directory for version ``version`` of model ``name``: ``<base>/<name>/<version>``.

    Parameters
    ----------
    base : str or os.PathLike
        The model base directory.
    name : str
        The model's name.
    version : int, optional
        A positive version number; by default the next one (one more than the
        highest existing directory whose name is a number, complete or not, or 1).

    Returns
    -------
    pathlib.Path
        The (not yet created) directory; pass it to ``calipers.export``.
    """
    root = pathlib.Path(base) / check_model_name(name)
    if version is None:
        taken = [int(e.name) for e in root.iterdir() if _VERSION.fullmatch(e.name)] \
            if root.is_dir() else []
        version = max(taken, default=0) + 1
    else:
        try:
            number = None if isinstance(version, bool) else operator.index(version)
        except TypeError:
            number = None
        if number is None or number < 1:
            raise ValueError(f"version must be a positive integer, got {version!r}")
        version = number
    return root / str(version)
