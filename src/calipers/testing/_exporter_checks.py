"""Conformance checks for exporters: what every ``register_exporter`` class must do.

Each check exports the given model through the host (``calipers.export``), in a
fresh temporary directory of its own, and looks at the artifact the way users and
``calipers serve`` will: ``calipers.load``, ``calipers.verify``, ``manifest.json``.

An exporter is given as its registered name (or one of its format names) or as the
class itself, registered or not, so that a plugin author can check a class before
publishing it. An unregistered class is registered for the duration of each check
only: the checks swap in a copy of the plugin registry holding the class under its
``name`` (shadowing an installed exporter of that name) and put the original back
afterwards. Other threads using ``calipers.plugins`` during a check see the copy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import inspect
import json
import math
import os
import pathlib
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from calipers.testing._common import Check, CheckFailure, fail, run_all

__all__ = ["check_exporter", "exporter_checks"]

#: What a snapshot records for a directory (it has no bytes to hash).
_DIR = "<directory>"
#: The fields the host writes into every manifest.
_MANIFEST_FIELDS = (
    "manifest_version", "format", "exporter", "created", "calipers_version", "libraries",
    "model_type", "task", "classes", "inputs", "outputs", "files", "metrics", "tolerance",
    "reference", "options", "manifest_sha256",
)
#: At most this many files of an artifact are changed and removed in turn (the
#: largest among them) by check_tampering_refused.
_MAX_TAMPERED = 12
_registration_lock = threading.RLock()


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


class _NotAModel:
    """An object with no model API at all: no exporter may accept it."""


# --------------------------------------------------------------------------- helpers


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
    an unregistered class must be findable for the checks to go through the host.
    A copy of the host's exporter registry with the class added is swapped in and
    the original put back; nothing registered is modified.
    """
    from calipers import plugins
    from calipers._registry import InvalidContribution, Registry, validate_result

    try:
        validate_result("exporter", [t.cls])
    except InvalidContribution as exc:
        raise t.fail(rule, f"the class cannot be registered: {exc}",
                     "make it pass check_exporter_class first") from None
    with _registration_lock:
        host = plugins._get_host()
        registry = host.registries["exporter"]
        if registry.classes.get(t.cls.name) is t.cls:
            yield
            return
        label = f"calipers.testing (checking {t.cls.__module__}.{t.cls.__qualname__})"
        scoped = Registry(
            "exporter",
            classes={**{k: v for k, v in registry.classes.items() if k != t.cls.name},
                     t.cls.name: t.cls},
            providers={**registry.providers, t.cls.name: label},
            conflicts={k: v for k, v in registry.conflicts.items() if k != t.cls.name},
            hint=registry.hint,
        )
        swapped = dataclasses.replace(host, registries={**host.registries, "exporter": scoped})
        plugins._host = swapped
        try:
            yield
        finally:
            if plugins._host is swapped:  # unless someone called plugins.reload() meanwhile
                plugins._host = host


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


# --------------------------------------------------------------------------- checks


def check_exporter_class(t: _Target) -> None:
    """The class passes the host's registration checks and supports the given model."""
    from calipers._registry import InvalidContribution, validate_result
    from calipers.export import Exporter
    from calipers.export._verify import TOLERANCE_KEYS

    rule = "check_exporter_class"
    cls = t.cls
    try:
        validate_result("exporter", [cls])
    except InvalidContribution as exc:
        raise t.fail(rule, f"the host would refuse to register it: {exc}",
                     "subclass calipers.export.Exporter, set `name` and implement export "
                     "and load") from None
    missing = [m for m in ("load", "prepare_inputs", "model_outputs")
               if not callable(getattr(cls, m, None))]
    if missing:
        raise t.fail(rule, f"it lacks {', '.join(missing)}, which calipers.load and "
                     "calipers.verify call", "subclass calipers.export.Exporter")
    if getattr(cls, "load", None) is Exporter.load:
        raise t.fail(rule, "it does not implement load(path, manifest, trusted): its "
                     "artifacts cannot be opened with calipers.load",
                     "implement load() returning a runner with run(inputs) -> {name: array}")
    handles = getattr(cls, "handles", None)
    formats = tuple(handles()) if callable(handles) else (cls.name,)
    if cls.name not in formats:
        raise t.fail(rule, f"handles() returns {formats}, without its name {cls.name!r}",
                     "keep the name among the format names (Exporter.handles does)")
    tolerance = getattr(cls, "tolerance", {})
    if not isinstance(tolerance, Mapping):
        raise t.fail(rule, f"its tolerance is {tolerance!r}, not a dict",
                     f"set tolerance to a dict with keys among {TOLERANCE_KEYS}")
    unknown = sorted(set(tolerance) - set(TOLERANCE_KEYS))
    if unknown:
        raise t.fail(rule, f"its tolerance has unknown key(s) {unknown}, which verify ignores",
                     f"use only {', '.join(TOLERANCE_KEYS)}")
    for key, value in tolerance.items():
        top = 1.0 if key == "min_label_agreement" else math.inf
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not 0 <= value <= top or not math.isfinite(value)):
            raise t.fail(rule, f"its tolerance {key}={value!r} is not a finite number in "
                         f"[0, {top:g}]", f"set tolerance[{key!r}] to a number in [0, {top:g}]")
    instance = _call(t, rule, f"{cls.__qualname__}()",
                     "exporters are constructed without arguments; take options in export()",
                     cls)
    supports = getattr(instance, "supports", None)
    if callable(supports) and not _call(t, rule, "supports(model)",
                                        "supports() must return a bool",
                                        lambda: supports(t.model)):
        raise t.fail(rule, f"supports(model) is False for the model given to the checks "
                     f"({type(t.model).__module__}.{type(t.model).__qualname__})",
                     "pass a model this exporter exports, or make supports() accept it")


def check_export_load_parity(t: _Target) -> None:
    """Export, load, run: the artifact reproduces the model within its declared tolerance.

    Also: the runner returns every declared output with its declared dtype and shape,
    the artifact reproduces the manifest's reference sample on its own, and both
    ``calipers.verify`` and the exporter's ``verify`` pass.
    """
    import calipers
    from calipers.errors import ParityError

    rule = "check_export_load_parity"
    tol_fix = ("make load() return a runner computing what the model computes; if the "
               "format loses precision (float32, quantization), declare it in the "
               "Exporter's `tolerance`")
    with _workdir() as tmp:
        path = _export(t, rule, tmp / "artifact")
        with _load(t, rule, path) as artifact:
            inputs = _inputs(t, rule, artifact)
            n = _rows(inputs)
            got = _run(t, rule, artifact, inputs)
            for spec in artifact.outputs:
                name, shape = spec["name"], spec.get("shape")
                if name not in got:
                    raise t.fail(rule, f"the manifest declares output {name!r} but the runner "
                                 f"returned only {sorted(got)}",
                                 "return every declared output from run(), under its name")
                arr = got[name]
                if not _dtype_matches(spec.get("dtype"), arr):
                    raise t.fail(rule, f"output {name!r} is declared {spec.get('dtype')} but "
                                 f"the runner returned {arr.dtype}",
                                 "declare the dtype the runner returns in export()'s outputs")
                if shape is not None and (
                        arr.ndim != len(shape)
                        or any(w is not None and w != g for w, g in zip(shape, arr.shape,
                                                                        strict=False))
                        or (shape and shape[0] is None and n is not None and len(arr) != n)):
                    raise t.fail(rule, f"output {name!r} is declared with shape {shape} but "
                                 f"the runner returned shape {list(arr.shape)} for {n} rows",
                                 "declare the shape the runner returns (None for the batch "
                                 "axis) in export()'s outputs")
            want = _model_outputs(t, rule, artifact, inputs)
            tol = _tolerance(artifact)
            report = _compare(got, want, tol)
            if not report.ok:
                raise t.fail(rule, f"the loaded artifact does not reproduce the model on the "
                             f"{report.n}-row sample within the tolerance in its manifest "
                             f"({_tolerance_text(tol)}): " + "; ".join(report.failures),
                             tol_fix)
            reference = artifact.manifest.get("reference") or {}
            if reference.get("inputs") and reference.get("outputs"):
                ref_in = _arrays(reference["inputs"], artifact.inputs, cast=True)
                ref_got = _run(t, rule, artifact, ref_in,
                               "running the artifact on its manifest's reference inputs")
                ref_want = _arrays(reference["outputs"], artifact.outputs, cast=False)
                report = _compare(ref_got, ref_want, tol)
                if not report.ok:
                    raise t.fail(rule, "the artifact does not reproduce the reference outputs "
                                 "stored in its own manifest: " + "; ".join(report.failures),
                                 "make model_outputs and the runner agree on output names, "
                                 "dtypes and values")
        try:
            if set(t.load_options) <= {"trusted"}:
                calipers.verify(path, t.model, t.sample, trusted=t.trusted)
            else:
                with calipers.load(path, **t.load_options) as artifact:
                    calipers.verify(artifact, t.model, t.sample)
        except ParityError as exc:
            raise t.fail(rule, f"calipers.verify failed: {exc}", tol_fix) from exc
        except Exception as exc:
            raise t.fail(rule, f"calipers.verify raised {_describe(exc)}",
                         "calipers.verify must run on every artifact the exporter writes") from exc
        result = _call(t, rule, f"{t.cls.__qualname__}().verify(path, model, sample)",
                       "verify() must return a dict with 'ok' (Exporter.verify does)",
                       lambda: t.cls().verify(path, t.model, t.sample, trusted=t.trusted))
        if not isinstance(result, Mapping) or result.get("ok") is not True:
            raise t.fail(rule, f"{t.cls.__qualname__}().verify(path, model, sample) returned "
                         f"{result!r:.300}, not a dict with ok=True",
                         "return calipers.export.ParityReport.to_dict() plus 'ok' (inherit "
                         "Exporter.verify)")


def check_manifest_complete(t: _Target) -> None:
    """``manifest.json`` holds every field the host promises, consistent with the artifact."""
    import calipers
    from calipers.export._manifest import (
        DIGEST_KEY,
        MANIFEST_NAME,
        MANIFEST_VERSION,
        REFERENCE_ROWS,
        TASKS,
        canonical_digest,
        hash_files,
    )
    from calipers.export._verify import TOLERANCE_KEYS

    rule = "check_manifest_complete"
    export_fix = "return it from export() in the dict of manifest fields"
    with _workdir() as tmp:
        path = _export(t, rule, tmp / "artifact")
        manifest = json.loads((path / MANIFEST_NAME).read_text(encoding="utf-8"))

        def bad(what: str, fix: str = export_fix) -> CheckFailure:
            return t.fail(rule, f"{MANIFEST_NAME}: {what}", fix)

        missing = [k for k in _MANIFEST_FIELDS if k not in manifest]
        if missing:
            raise bad(f"lacks {missing}", "write artifacts only through calipers.export")
        expected = {"manifest_version": MANIFEST_VERSION, "format": t.fmt,
                    "exporter": t.cls.name, "calipers_version": calipers.__version__}
        for key, value in expected.items():
            if manifest[key] != value:
                raise bad(f"{key} is {manifest[key]!r}, expected {value!r}",
                          "write artifacts only through calipers.export")
        try:
            datetime.datetime.fromisoformat(str(manifest["created"]))
        except ValueError:
            raise bad(f"created is {manifest['created']!r}, not an ISO time",
                      "write artifacts only through calipers.export") from None
        libraries = manifest["libraries"]
        if (not isinstance(libraries, dict) or not libraries or not all(
                isinstance(k, str) and isinstance(v, str) and v for k, v in libraries.items())):
            raise bad(f"libraries is {libraries!r}: it must name the libraries (and their "
                      "versions) needed to load the artifact",
                      "return 'libraries': {distribution: version} from export(), e.g. "
                      "{'onnxruntime': importlib.metadata.version('onnxruntime')}")
        if not isinstance(manifest["model_type"], str) or not manifest["model_type"]:
            raise bad(f"model_type is {manifest['model_type']!r}",
                      "return 'model_type' (the model's dotted class name) from export()")
        task, classes = manifest["task"], manifest["classes"]
        if task not in TASKS:
            raise bad(f"task is {task!r}, not one of {TASKS}")
        for key in ("inputs", "outputs"):
            specs = manifest[key]
            if not isinstance(specs, list) or not specs:
                raise bad(f"{key} is {specs!r}: it must list the artifact's {key}",
                          f"return '{key}': [{{'name', 'dtype', 'shape'}}, ...] from export() "
                          "(or let the host derive them from the sample and model_outputs)")
            for i, spec in enumerate(specs):
                shape = spec.get("shape") if isinstance(spec, dict) else None
                if (not isinstance(spec, dict) or not isinstance(spec.get("name"), str)
                        or not spec["name"] or not isinstance(spec.get("dtype"), str)
                        or not (shape is None or isinstance(shape, list) and all(
                            d is None or isinstance(d, int) and d >= 0 for d in shape))):
                    raise bad(f"{key}[{i}] is {spec!r}: a spec is {{'name': str, 'dtype': "
                              "str, 'shape': [int or None, ...] or None}")
                if spec["dtype"] not in ("str", "object"):
                    try:
                        np.dtype(spec["dtype"])
                    except TypeError:
                        raise bad(f"{key}[{i}] has dtype {spec['dtype']!r}, not a numpy dtype "
                                  "name, 'str' or 'object'") from None
            names = [spec["name"] for spec in specs]
            if len(set(names)) != len(names):
                raise bad(f"{key} repeats names: {names}")
        files = manifest["files"]
        present = hash_files(path)
        if not isinstance(files, dict) or not files:
            raise bad(f"files is {files!r}: no model file is listed",
                      "write the model file(s) into the directory export() is given")
        if files != present:
            raise bad("files does not list exactly the artifact's files with their sha256: "
                      + _changes(files, present), "write artifacts only through calipers.export")
        if manifest[DIGEST_KEY] != canonical_digest(manifest):
            raise bad(f"{DIGEST_KEY} does not match the manifest",
                      "write artifacts only through calipers.export")
        tolerance = manifest["tolerance"]
        if not isinstance(tolerance, dict) or set(tolerance) != set(TOLERANCE_KEYS):
            raise bad(f"tolerance is {tolerance!r}; its keys must be exactly {TOLERANCE_KEYS}",
                      "give only rtol, atol and min_label_agreement in the Exporter's "
                      "`tolerance` or export()'s 'tolerance'")
        for key, value in tolerance.items():
            top = 1.0 if key == "min_label_agreement" else math.inf
            if (isinstance(value, bool) or not isinstance(value, (int, float))
                    or not 0 <= value <= top or not math.isfinite(value)):
                raise bad(f"tolerance {key} is {value!r}, not a finite number in [0, {top:g}]")
        reference = manifest["reference"]
        if not isinstance(reference, dict) or set(reference) != {"inputs", "outputs"}:
            raise bad(f"reference is {reference!r:.200}, not {{'inputs': ..., 'outputs': ...}}",
                      "write artifacts only through calipers.export")
        rows = _rows(_call(t, rule, "prepare_inputs(sample)",
                           "prepare_inputs must accept the sample given to calipers.export",
                           lambda: t.cls().prepare_inputs(
                               t.sample, [s["name"] for s in manifest["inputs"]])))
        for key in ("inputs", "outputs"):
            names = [spec["name"] for spec in manifest[key]]
            if sorted(reference[key]) != sorted(names):
                raise bad(f"the reference {key} are named {sorted(reference[key])} but the "
                          f"artifact's {key} are {names}",
                          "name model_outputs' outputs (and prepare_inputs' inputs) exactly "
                          "like the outputs (inputs) export() declares")
            for name, values in reference[key].items():
                if rows is not None and isinstance(values, list) and len(values) != min(
                        rows, REFERENCE_ROWS):
                    raise bad(f"reference {key} {name!r} has {len(values)} rows, expected "
                              f"{min(rows, REFERENCE_ROWS)} (the sample's first rows)",
                              "give the outputs of model_outputs one row per input row")
        if task == "classifier":
            if not isinstance(classes, list) or not classes or len(
                    {json.dumps(c) for c in classes}) != len(classes):
                raise bad(f"task is 'classifier' but classes is {classes!r}",
                          "return 'classes': the distinct class labels, from export()")
            labels = reference["outputs"].get("label")
            if isinstance(labels, list):
                known = {str(c) for c in classes}
                unknown = sorted({str(v) for v in np.asarray(labels).ravel().tolist()} - known)
                if unknown:
                    raise bad(f"reference labels {unknown} are not among classes {classes}",
                              "return the model's class labels as 'classes' from export()")
        for key in ("metrics", "options"):
            if not isinstance(manifest[key], dict):
                raise bad(f"{key} is {manifest[key]!r}, not a dict")


def check_runner_stable(t: _Target) -> None:
    """The runner is a pure function of each row, and so is the model side.

    The same inputs twice give the same outputs; each row's outputs do not depend on
    the other rows of the batch (reversed order, one row at a time); and
    ``model_outputs`` gives the same outputs twice (no dropout or other randomness).
    """
    rule = "check_runner_stable"
    pure = ("compute each row's outputs from that row alone: no statistics over the batch, "
            "no state kept between rows or calls, no randomness")
    with _workdir() as tmp:
        path = _export(t, rule, tmp / "artifact")
        with _load(t, rule, path) as artifact:
            tol = _tolerance(artifact)

            def same(got: Mapping[str, Any], want: Mapping[str, Any], what: str, fix: str
                     ) -> None:
                report = _compare(got, want, tol)
                if not report.ok:
                    raise t.fail(rule, f"{what}: " + "; ".join(report.failures), fix)

            inputs = _inputs(t, rule, artifact)
            first = _run(t, rule, artifact, inputs)
            again = _run(t, rule, artifact, inputs, "running the artifact a second time")
            same(again, first, "two runs of the loaded artifact on the same inputs differ "
                 "beyond its tolerance ('model' below is the first run)", pure)
            want = _model_outputs(t, rule, artifact, inputs)
            same(_model_outputs(t, rule, artifact, inputs), want,
                 "model_outputs gives different outputs for the same inputs twice "
                 "('artifact' below is the second call)",
                 "run the model in inference mode in model_outputs (e.g. torch's eval(): no "
                 "dropout, no batch statistics)")
            n = _rows(inputs)
            if not n or n < 2:
                return
            per_row = [k for k, v in first.items() if v.ndim and len(v) == n]
            order = np.arange(n)[::-1]
            flipped = _run(t, rule, artifact, {k: v[order] for k, v in inputs.items()},
                           "running the artifact on the sample in reverse order")
            same({k: np.asarray(flipped[k])[order] for k in per_row if k in flipped},
                 {k: first[k] for k in per_row},
                 "reversing the order of the sample's rows changes the rows' outputs "
                 "('model' below is the run in the original order)", pure)
            for i in range(min(n, 3)):
                one = _run(t, rule, artifact, {k: v[i:i + 1] for k, v in inputs.items()},
                           f"running the artifact on row {i} alone")
                same({k: one[k] for k in per_row if k in one},
                     {k: first[k][i:i + 1] for k in per_row},
                     f"row {i} run alone gives other outputs than within the whole sample "
                     "('model' below)", pure)


class _Perturbing:
    """A runner giving the artifact's outputs with one of them moved off tolerance."""

    def __init__(self, artifact: Any, name: str, tol: Mapping[str, float]) -> None:
        self.artifact, self.name, self.tol = artifact, name, tol

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = dict(self.artifact.run(inputs))
        out[self.name] = _perturb(np.asarray(out[self.name]), self.tol)
        return out


def _perturb(arr: np.ndarray, tol: Mapping[str, float]) -> np.ndarray:
    """Every value of ``arr`` moved: floats by 4x their tolerance, labels to other labels."""
    if arr.dtype.kind in "fc":
        a = np.nan_to_num(arr.astype(np.complex128 if arr.dtype.kind == "c" else np.float64))
        size = np.abs(a)
        return a + 4 * (tol["atol"] + tol["rtol"] * size) + 1e-6 * (1 + size)
    if arr.dtype.kind == "b":
        return ~arr
    if arr.dtype.kind in "iu":
        return np.where(arr == np.iinfo(arr.dtype).max, arr - 1, arr + 1)
    return np.array([f"{v}~" for v in arr.ravel().tolist()], dtype=object).reshape(arr.shape)


def check_parity_detects_drift(t: _Target) -> None:
    """``calipers.verify`` notices when any one output of the artifact drifts.

    Each output in turn is moved beyond the recorded tolerance (labels changed to
    other labels); verify must then fail on that output. This fails when an output
    is never compared (``model_outputs`` does not return it) or a tolerance makes
    the comparison vacuous (``min_label_agreement`` 0).
    """
    from calipers.export import Artifact, verify

    rule = "check_parity_detects_drift"
    with _workdir() as tmp:
        path = _export(t, rule, tmp / "artifact")
        with _load(t, rule, path) as artifact:
            tol = _tolerance(artifact)
            compared = _model_outputs(t, rule, artifact, _inputs(t, rule, artifact))
            for spec in artifact.outputs:
                name = spec["name"]
                if name not in compared:
                    raise t.fail(rule, f"output {name!r} of the artifact is never compared: "
                                 f"model_outputs returns only {sorted(compared)}",
                                 "return every artifact output from model_outputs, under the "
                                 "artifact's output names")
                drifted = Artifact(path, artifact.manifest, _Perturbing(artifact, name, tol),
                                   artifact.exporter)
                report = _call(t, rule, f"calipers.verify with output {name!r} perturbed",
                               "verify must compare outputs, not fail on them",
                               lambda d=drifted: verify(d, t.model, t.sample,
                                                        raise_on_fail=False))
                if report.ok or not any(f"output {name!r}" in line for line in report.failures):
                    raise t.fail(rule, f"calipers.verify passed although every value of output "
                                 f"{name!r} was moved beyond the tolerance "
                                 f"({_tolerance_text(tol)})",
                                 "record a tolerance that parity can fail (min_label_agreement "
                                 "> 0 for label outputs) and compare every output")


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
            with _load(t, rule, path) as artifact:
                _run(t, rule, artifact, _inputs(t, rule, artifact),
                     f"running the artifact after the {attempt} load")
        changes = _changes(before, _snapshot(path))
        if changes:
            raise t.fail(rule, f"loading and running the artifact changed its directory: "
                         f"{changes}", "never write into the artifact from load() or the "
                         "runner (keep caches elsewhere): calipers.load refuses unlisted or "
                         "changed files")
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


# --------------------------------------------------------------------------- entry points

_CHECKS: tuple[Callable[[_Target], None], ...] = (
    check_exporter_class,
    check_export_load_parity,
    check_manifest_complete,
    check_runner_stable,
    check_parity_detects_drift,
    check_artifact_self_contained,
    check_tampering_refused,
    check_no_overwrite,
    check_unsupported_model_refused,
)


def _resolve(exporter: Any, model: Any) -> tuple[type, str]:
    """The exporter class and the format to export with."""
    from calipers import plugins
    from calipers.export import exporter_for

    if isinstance(exporter, str):
        try:
            return plugins.get("exporter", exporter), exporter
        except ValueError:
            if exporter in plugins.names("exporter"):
                raise  # a conflict: the message names the plugins
            try:  # a format name: the exporter that would export this model
                return type(exporter_for(exporter, model)), exporter
            except TypeError:  # supports() is False: check_exporter_class reports it
                return type(exporter_for(exporter)), exporter
    if inspect.isclass(exporter):
        name = getattr(exporter, "name", None)
        return exporter, name if isinstance(name, str) and name else exporter.__qualname__
    raise TypeError(
        f"exporter must be an Exporter class or a registered exporter name, got "
        f"{exporter!r:.80}; pass the class itself, not an instance"
    )


def _run_check(fn: Callable[[_Target], None], t: _Target) -> None:
    if fn is check_exporter_class:
        fn(t)
        return
    with _registered(t, fn.__name__):
        fn(t)


def exporter_checks(
    exporter: Any,
    model: Any,
    sample: Any,
    *,
    trusted: bool = False,
    export_options: Mapping[str, Any] | None = None,
    load_options: Mapping[str, Any] | None = None,
    format: str | None = None,
    id: str | None = None,
) -> Iterator[Check]:
    """Yield the conformance checks of an exporter, one :class:`Check` per rule.

    Rules: ``check_exporter_class`` (registrable, supports ``model``),
    ``check_export_load_parity`` (export / load / run reproduce the model within the
    manifest's tolerance; declared output dtypes and shapes; the reference sample;
    ``calipers.verify`` and ``Exporter.verify`` pass), ``check_manifest_complete``,
    ``check_runner_stable`` (same outputs call after call, row by row and for any
    row order), ``check_parity_detects_drift`` (verify fails when any output
    drifts), ``check_artifact_self_contained`` (nothing written beside the artifact
    or into it when loaded), ``check_tampering_refused``, ``check_no_overwrite``,
    ``check_unsupported_model_refused``. Each works in its own temporary directory.

    Parameters
    ----------
    exporter : type or str
        The Exporter class (registered or not: an unregistered one is registered
        under its ``name`` while each check runs, see the module docstring), or a
        registered exporter or format name.
    model : object
        A trained model the exporter supports (keep it small: every check exports it).
    sample : array-like or dict
        Inputs of the model (a few dozen rows): the export sample and the inputs
        parity is checked on.
    trusted : bool, default False
        Passed to ``calipers.load`` and ``calipers.verify`` (pickle needs True).
    export_options : dict, optional
        Exporter options passed to ``calipers.export`` (e.g. ``{"task":
        "classifier"}``).
    load_options : dict, optional
        Further keyword arguments of ``calipers.load``.
    format : str, optional
        The format name to export with (default: the exporter's name, or the name
        given as ``exporter``).
    id : str, optional
        Shown after the exporter's name in failure messages.

    Yields
    ------
    Check
        Call it to run the rule; it raises :class:`CheckFailure` when broken.

    Raises
    ------
    ValueError, TypeError
        At once, for an unknown exporter name or invalid options.
    """
    import calipers

    cls, default_format = _resolve(exporter, model)
    export_options = dict(export_options or {})
    reserved = sorted({"sample", "overwrite", "path", "model", "format"} & set(export_options))
    if reserved:
        raise ValueError(f"export_options must not hold {reserved}: the checks set them")
    loads = {"trusted": trusted, **dict(load_options or {})}
    try:
        inspect.signature(calipers.load).bind("path", **loads)
    except TypeError as exc:
        raise TypeError(f"load_options {dict(load_options or {})!r} do not fit "
                        f"calipers.load: {exc}") from None
    name = getattr(cls, "name", None) or cls.__qualname__
    subject = f"exporter {name!r}" + (f" ({id})" if id else "")
    target = _Target(cls, format or default_format, model, sample, export_options, loads,
                     subject)
    for fn in _CHECKS:
        yield Check(fn.__name__, subject, functools.partial(_run_check, fn, target))


def check_exporter(exporter: Any, model: Any, sample: Any, **kwargs: Any) -> None:
    """Run every exporter check; raise the first :class:`CheckFailure`.

    Takes the arguments of :func:`exporter_checks`.

    Examples
    --------
    >>> check_exporter(MyExporter, model, X_test[:40])          # doctest: +SKIP
    >>> check_exporter("pickle", model, X_test[:40], trusted=True)  # doctest: +SKIP
    """
    run_all(exporter_checks(exporter, model, sample, **kwargs))
