"""What the exporter checks share: the exporter under check and how they drive it.

:class:`_Target` holds the exporter class, the format, the model, the sample and the
options of one :func:`~calipers.testing.exporter_checks` call. The helpers go through
the host the way users do (``calipers.export``, ``calipers.load``, the runner) and
turn whatever goes wrong into a :class:`~calipers.testing.CheckFailure` of the rule
being checked; others look at artifact directories (snapshots, changes) and at the
manifest's reference sample.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import tempfile
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from calipers.testing._common import CheckFailure, fail

#: What a snapshot records for a directory (it has no bytes to hash).
_DIR = "<directory>"


@dataclasses.dataclass(frozen=True)
class _Target:
    """What every check needs: the exporter class, format, model, sample and options."""

    cls: type
    fmt: str
    model: Any
    sample: Any
    export_options: dict[str, Any]
    load_options: dict[str, Any]
    subject: str

    @property
    def trusted(self) -> bool:
        return bool(self.load_options.get("trusted", False))

    def fail(self, rule: str, what: str, fix: str) -> CheckFailure:
        return fail(rule, self.subject, what, fix)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


@contextlib.contextmanager
def _workdir() -> Iterator[pathlib.Path]:
    with tempfile.TemporaryDirectory(prefix="calipers-exporter-check-") as tmp:
        yield pathlib.Path(tmp)


@contextlib.contextmanager
def _registered(t: _Target, rule: str) -> Iterator[None]:
    """Make ``t.cls`` the exporter registered under its name while the block runs.

    ``calipers.load`` finds an artifact's exporter by the name in its manifest, so
    an unregistered class must be findable for the checks to go through the host;
    :func:`calipers.plugins.registered` puts it there for the block only.
    """
    from calipers import plugins

    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(plugins.registered("exporter", t.cls))
        except TypeError as exc:
            raise t.fail(rule, f"the class cannot be registered: {exc}",
                         "make it pass check_exporter_class first") from None
        yield


def _export(t: _Target, rule: str, path: pathlib.Path, **extra: Any) -> pathlib.Path:
    import calipers

    try:
        return calipers.export(t.model, t.fmt, path, sample=t.sample, **t.export_options,
                               **extra)
    except Exception as exc:
        shown = "".join(f", {k}={v!r}" for k, v in {**t.export_options, **extra}.items())
        raise t.fail(
            rule,
            f"calipers.export(model, {t.fmt!r}, path, sample=sample{shown}) raised "
            f"{_describe(exc)}",
            "export() must write the model file(s) into the directory it is given (and "
            "nowhere else) and return a dict of manifest fields; see "
            "calipers.export.Exporter.export",
        ) from exc


def _load(t: _Target, rule: str, path: pathlib.Path, when: str = "of a fresh artifact"
          ) -> Any:
    import calipers

    try:
        return calipers.load(path, **t.load_options)
    except Exception as exc:
        raise t.fail(
            rule,
            f"calipers.load(path, {_kwargs_text(t.load_options)}) {when} raised "
            f"{_describe(exc)}",
            "load(path, manifest, trusted) must open every artifact export() wrote and "
            "return a runner with run(inputs) -> {output name: array}",
        ) from exc


def _kwargs_text(kwargs: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def _call(t: _Target, rule: str, what: str, fix: str, fn: Callable[[], Any]) -> Any:
    """``fn()``, with any exception turned into this rule's failure."""
    try:
        return fn()
    except CheckFailure:
        raise
    except Exception as exc:
        raise t.fail(rule, f"{what} raised {_describe(exc)}", fix) from exc


def _inputs(t: _Target, rule: str, artifact: Any) -> dict[str, np.ndarray]:
    names = [spec["name"] for spec in artifact.inputs]
    return _call(
        t, rule, f"prepare_inputs(sample, {names})",
        "prepare_inputs must turn the sample given to calipers.export into the artifact's "
        "named inputs",
        lambda: artifact.exporter.prepare_inputs(t.sample, names),
    )


def _run(t: _Target, rule: str, artifact: Any, inputs: Mapping[str, np.ndarray],
         what: str = "running the loaded artifact on the sample") -> dict[str, np.ndarray]:
    return _call(t, rule, what, "the runner's run(inputs) must accept the artifact's inputs",
                 lambda: artifact.run(dict(inputs)))


def _model_outputs(t: _Target, rule: str, artifact: Any, inputs: Mapping[str, np.ndarray]
                   ) -> dict[str, np.ndarray]:
    return _call(
        t, rule, "model_outputs(model, inputs)",
        "model_outputs must run the original model on the named inputs and name its outputs "
        "like the artifact's",
        lambda: artifact.exporter.model_outputs(t.model, dict(inputs)),
    )


def _tolerance(artifact: Any) -> dict[str, float]:
    from calipers.export._verify import _tolerance as recorded_tolerance

    return recorded_tolerance(artifact.manifest.get("tolerance") or {}, {})


def _tolerance_text(tol: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in tol.items())


def _compare(got: Mapping[str, Any], want: Mapping[str, Any], tol: Mapping[str, float]) -> Any:
    from calipers.export._verify import compare_outputs

    return compare_outputs(got, want, tol)


def _rows(arrays: Mapping[str, np.ndarray]) -> int | None:
    """The common batch size of ``arrays`` (None if one is a scalar or sizes differ)."""
    sizes = {len(v) if v.ndim else None for v in arrays.values()}
    return sizes.pop() if len(sizes) == 1 else None


def _snapshot(root: pathlib.Path) -> dict[str, str]:
    """``{relative path: sha256 or _DIR}`` of every entry under ``root``."""
    from calipers.export._manifest import sha256_file

    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = pathlib.Path(dirpath)
        for name in dirnames:
            found[(here / name).relative_to(root).as_posix()] = _DIR
        for name in filenames:
            entry = here / name
            rel = entry.relative_to(root).as_posix()
            found[rel] = "<link>" if entry.is_symlink() else sha256_file(entry)
    return found


def _changes(before: Mapping[str, str], after: Mapping[str, str]) -> str:
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    parts = [f"{label} {names}" for label, names in
             (("added", added), ("removed", removed), ("changed", changed)) if names]
    return "; ".join(parts)


def _arrays(values: Mapping[str, Any], specs: list[dict[str, Any]], cast: bool
            ) -> dict[str, np.ndarray]:
    """JSON lists of a manifest's reference as arrays (``None`` read as NaN)."""
    dtypes = {spec["name"]: spec.get("dtype") for spec in specs}
    out = {}
    for name, value in values.items():
        arr = np.asarray(value)
        dtype = dtypes.get(name)
        if arr.dtype == object:
            with contextlib.suppress(TypeError, ValueError):
                arr = np.array(value, dtype=np.float64)
        if cast and dtype not in (None, "str", "object") and arr.dtype.kind in "biuf":
            arr = arr.astype(np.dtype(dtype))
        out[name] = arr
    return out


def _dtype_matches(spec: str | None, arr: np.ndarray) -> bool:
    from calipers.export._manifest import dtype_name

    if not spec:
        return True
    if spec in ("str", "object"):
        return arr.dtype.kind in "USO"
    return dtype_name(arr.dtype) == spec

