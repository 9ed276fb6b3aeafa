"""Exporter checks on what an artifact holds and computes.

``check_export_load_parity`` (the loaded artifact reproduces the model),
``check_manifest_complete`` (every promised manifest field, consistent with the
artifact), ``check_runner_stable`` (the runner is a pure function of each row) and
``check_parity_detects_drift`` (``calipers.verify`` notices a drifting output).
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from calipers.testing._common import CheckFailure
from calipers.testing._exporter_target import (
    _arrays,
    _call,
    _changes,
    _compare,
    _describe,
    _dtype_matches,
    _export,
    _inputs,
    _load,
    _model_outputs,
    _rows,
    _run,
    _Target,
    _tolerance,
    _tolerance_text,
    _workdir,
)

#: The fields the host writes into every manifest.
_MANIFEST_FIELDS = (
    "manifest_version", "format", "exporter", "created", "calipers_version", "libraries",
    "model_type", "task", "classes", "inputs", "outputs", "files", "metrics", "tolerance",
    "reference", "options", "manifest_sha256",
)


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
                                 "the reference outputs are model_outputs on the sample's "
                                 "first rows: make the runner reproduce them on every call "
                                 "(same names, dtypes and values)")
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


