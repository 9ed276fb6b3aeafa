"""``calipers plugin new``: write a ready-to-install plugin distribution from a template.

::

    from calipers.plugin_template import new_plugin

    path = new_plugin("my-metric", "metric", "plugins/")   # -> plugins/my-metric

writes::

    my-metric/
        pyproject.toml               PEP 621 metadata, the entry point, a `test` extra
        README.md                    install, test, publish
        src/calipers_my_metric/__init__.py   the @calipers.hookimpl and a working example
        tests/test_my_metric.py      calipers.testing conformance checks + direct use

Names: the distribution is ``NAME`` as given; the package is ``calipers_`` + NAME in
snake case; the plugin registers NAME in snake case without a leading ``calipers_``
(``my-metric`` -> ``calipers.metric("my_metric")``; ``calipers-iou`` -> ``iou``).
See :func:`plugin_names`.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import tempfile
from pathlib import Path

import calipers
from calipers.plugin_template import _backend, _exporter, _metric, _searcher
from calipers.plugin_template._common import PYPROJECT, README, render
from calipers.plugin_template._names import PluginNames, plugin_names

__all__ = ["KINDS", "PluginNames", "new_plugin", "plugin_files", "plugin_names"]

_TEMPLATES = {
    "metric": _metric,
    "searcher": _searcher,
    "exporter": _exporter,
    "backend": _backend,
}

#: The kinds of plugin a template exists for.
KINDS: tuple[str, ...] = tuple(_TEMPLATES)

_GITIGNORE = "__pycache__/\n*.egg-info/\nbuild/\ndist/\n.pytest_cache/\n"


def _calipers_requirement() -> str:
    """The lowest calipers a new plugin asks for: this one's ``major.minor``."""
    return ".".join(calipers.__version__.split(".")[:2])


def plugin_files(names: PluginNames) -> dict[str, str]:
    """Return the generated distribution's files: ``{relative path: text}``.

    Parameters
    ----------
    names : PluginNames
        From :func:`plugin_names`.
    """
    template = _TEMPLATES[names.kind]
    test_requires = ['"pytest>=7"']
    extra_note = ""
    if names.kind == "exporter":  # its tests also export a scikit-learn model
        test_requires.append('"scikit-learn"')
        extra_note = " and scikit-learn"
    usage = render(template.USAGE, names)
    fields = {
        "calipers_version": _calipers_requirement(),
        "summary": template.SUMMARY,
        "test_requires": ", ".join(test_requires),
        "test_extra_note": extra_note,
        "usage": usage,
    }
    return {
        "pyproject.toml": render(PYPROJECT, names, **fields),
        "README.md": render(README, names, **fields),
        ".gitignore": _GITIGNORE,
        f"src/{names.module}/__init__.py": render(template.MODULE, names),
        f"tests/test_{names.name}.py": render(
            template.TESTS, names, imports=_import_list(names.cls, *template.HELPERS)
        ),
    }


def _import_list(*names: str) -> str:
    """``names`` in isort's order (constants, classes, then the rest), comma-separated,
    so that the generated tests pass ``ruff check`` / ``isort`` as written."""

    def key(name: str) -> tuple[int, str]:
        kind = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
        return kind, name

    return ", ".join(sorted(names, key=key))


def _check_free(names: PluginNames) -> None:
    """Refuse names that would clash with calipers' own plugins once installed."""
    own = [ep for ep in importlib.metadata.entry_points(group="calipers")
           if ep.dist is not None and ep.dist.name == "calipers"]
    for ep in own:
        if names.name == ep.name or names.module == ep.value.split(":")[0]:
            raise ValueError(
                f"plugin name {names.dist!r} clashes with calipers' own plugin {ep.name!r} "
                f"(module {ep.value}); choose another name"
            )
    from calipers import plugins

    builtin = {n for info in plugins.list_plugins(all=True) if info.builtin
               for n in info.provides.get(names.kind, [])}
    if names.name in builtin:
        raise ValueError(
            f"calipers already has a {names.kind} named {names.name!r}: a plugin giving the "
            f"same name would conflict with it; choose another name "
            f"(e.g. {names.dist + '-plus'!r})"
        )


def new_plugin(name: str, kind: str, directory: str | os.PathLike[str] = ".") -> Path:
    """Write a new plugin distribution into ``directory/name``.

    Parameters
    ----------
    name : str
        The distribution name, e.g. ``"my-metric"`` (see :func:`plugin_names` for
        the module and registered names derived from it).
    kind : {'metric', 'searcher', 'exporter', 'backend'}
        Which hook the plugin implements; the template holds a small working example
        of it and tests that run calipers' conformance checks on it.
    directory : str or os.PathLike, default "."
        Where to create the ``name`` folder (created if missing).

    Returns
    -------
    pathlib.Path
        The new distribution's folder (absolute).

    Raises
    ------
    ValueError
        For an unknown ``kind``, an invalid ``name``, or a name that clashes with one
        of calipers' own plugins or built-in names of that kind.
    FileExistsError
        If ``directory/name`` exists and is not an empty folder. Nothing is written.
    """
    names = plugin_names(name, kind)
    target = Path(directory) / name
    if target.exists() or target.is_symlink():
        if not target.is_dir() or target.is_symlink():
            raise FileExistsError(f"{target} exists and is not a folder; choose another "
                                  "name or --dir")
        if any(target.iterdir()):
            raise FileExistsError(f"{target} exists and is not empty; refusing to write into "
                                  "it: remove it or choose another --dir")
    _check_free(names)
    files = plugin_files(names)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build the tree next to the target and move it into place: all files or none.
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=target.parent))
    try:
        os.chmod(tmp, 0o755)
        for relative, text in files.items():
            path = tmp / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        if target.exists():
            target.rmdir()  # empty (checked above); rmdir refuses if that changed since
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target.resolve()

