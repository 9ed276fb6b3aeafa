"""``calipers.export(...)`` and ``calipers.load(...)``: writing and opening artifacts.

An artifact is written into a temporary sibling directory
``<parent>/.<name>.tmp-<random>`` and renamed into place, so a reader (``calipers
serve`` watching a model base) never sees a half-written one; a failed export
removes its temporary directory and leaves ``path`` untouched.
"""

from __future__ import annotations

import os
import pathlib
import secrets
import shutil
import tempfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from calipers.errors import ArtifactError
from calipers.export._base import (
    DEFAULT_TOLERANCE,
    Exporter,
    Runner,
    capable_exporters,
    exporter_for,
    has_capability,
)
from calipers.export._drift import drift_entry
from calipers.export._manifest import (
    MANIFEST_NAME,
    REFERENCE_ROWS,
    build_manifest,
    read_manifest,
    tensor_spec,
    write_manifest,
)
from calipers.export._outputs import as_inputs, first_rows, to_array


def _fsync_dir(path: pathlib.Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # platforms that cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _check_target(path: pathlib.Path, overwrite: bool) -> bool:
    """Whether ``path`` exists (and may be replaced); raise if it must not be."""
    if not (path.exists() or path.is_symlink()):
        return False
    if not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    if path.is_symlink() or not path.is_dir() or not (path / MANIFEST_NAME).is_file():
        raise FileExistsError(
            f"{path} exists and is not an artifact directory (no {MANIFEST_NAME}); "
            "refusing to replace it"
        )
    return True


def export_model(
    model: Any,
    format: str,
    path: str | os.PathLike,
    *,
    sample: Any,
    reference: Any = None,
    metrics: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    **options: Any,
) -> pathlib.Path:
    """Export ``model`` as an artifact directory at ``path``.

    Also available as ``calipers.export(model, format, path, sample=X)``.

    Parameters
    ----------
    model : object
        The trained model.
    format : str
        An exporter's name or format (``"skops"``, ``"pickle"``, ``"onnx"``, ...).
    path : str or os.PathLike
        The artifact directory to create.
    sample : array-like or dict
        Representative inputs: they fix the input schema, and their first
        16 rows with the model's outputs are stored as the reference sample.
    reference : array-like, dict or False, optional
        Rows the model's inputs should look like in production (training or
        held-out rows, at least 1000): per-feature quantile-bin histograms of
        them (about 10 bins) go into the manifest's ``"drift"`` entry, which
        ``calipers monitor`` compares served inputs with (PSI). By default the
        ``sample`` is used when it has at least 1000 rows, else the artifact has
        no drift reference; ``False`` never stores one. The ``"drift"`` entry of
        another manifest is accepted as is (a quantized copy keeps its source's).
    metrics : dict, optional
        Metrics the model was evaluated with, stored in the manifest.
    overwrite : bool, default False
        Replace an existing artifact at ``path``.
    **options
        Passed to the exporter.

    Returns
    -------
    pathlib.Path
        ``path``, holding the model file(s) and ``manifest.json``.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False (or it is not an artifact).
    ValueError, TypeError
        For an unknown format, a model the exporter does not support, a
        missing sample, or a ``reference`` of fewer than 1000 rows.
    """
    if sample is None:
        raise ValueError("export needs a sample of inputs (sample=X): it fixes the input schema")
    path = pathlib.Path(path)
    if not path.name or path.name in (".", ".."):
        raise ValueError(f"cannot export to {str(path)!r}: give a directory name")
    replace = _check_target(path, overwrite)
    exporter = exporter_for(format, model)
    parent = path.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=parent))
    try:
        os.chmod(tmp, 0o755)
        try:
            fields = exporter.export(model, tmp, sample, **options)
        except FileExistsError as exc:
            if exc.filename is None or pathlib.Path(exc.filename) != tmp:
                raise
            raise TypeError(
                f"exporter {exporter.name!r} tried to create the artifact directory itself "
                "(calipers 0.1 exporters did); export() must write into the existing "
                "directory it is given and return a dict of manifest fields"
            ) from exc
        if not isinstance(fields, Mapping):
            raise TypeError(
                f"exporter {exporter.name!r}: export() returned {type(fields).__name__}, "
                "expected a dict of manifest fields (inputs, outputs, libraries, ...)"
            )
        manifest = build_manifest(
            _complete(exporter, model, sample, fields, metrics, reference),
            fmt=format,
            exporter=exporter.name,
        )
        write_manifest(tmp, manifest)
        _fsync_dir(tmp)
        if replace:
            _check_target(path, overwrite)
            old = parent / f".{path.name}.old-{secrets.token_hex(4)}"
            os.rename(path, old)
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            if path.exists() or path.is_symlink():
                raise FileExistsError(f"{path} was created by someone else during the export")
            os.rename(tmp, path)
        _fsync_dir(parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _complete(
    exporter: Exporter,
    model: Any,
    sample: Any,
    fields: Mapping[str, Any],
    metrics: Mapping[str, Any] | None,
    reference: Any = None,
) -> dict[str, Any]:
    """The exporter's fields plus input/output specs, tolerance, references and metrics."""
    out = dict(fields)
    names = [spec["name"] for spec in fields["inputs"]] if fields.get("inputs") else None
    prepared = exporter.prepare_inputs(sample, names)
    inputs = first_rows(prepared, REFERENCE_ROWS)
    outputs = {k: to_array(v) for k, v in exporter.model_outputs(model, inputs).items()}
    if not fields.get("inputs"):
        out["inputs"] = [tensor_spec(k, v) for k, v in inputs.items()]
    if not fields.get("outputs"):
        out["outputs"] = [tensor_spec(k, v) for k, v in outputs.items()]
    out["tolerance"] = {
        **DEFAULT_TOLERANCE,
        **getattr(exporter, "tolerance", {}),
        **(fields.get("tolerance") or {}),
    }
    out["reference"] = {"inputs": inputs, "outputs": outputs}
    out["drift"] = drift_entry(
        reference, prepared, lambda x: exporter.prepare_inputs(x, names or list(prepared)),
        (fields.get("options") or {}).get("feature_names"))
    out["metrics"] = dict(metrics or {})
    return out


class Artifact:
    """A loaded artifact: its manifest and a runner for its model.

    Returned by :func:`calipers.load`; use as a context manager or call
    :meth:`close` when done.

    Attributes
    ----------
    path : pathlib.Path
        The artifact directory.
    manifest : dict
        Its checked ``manifest.json``.
    exporter : Exporter or None
        The exporter that wrote (and loaded) it.
    """

    def __init__(
        self,
        path: pathlib.Path,
        manifest: dict[str, Any],
        runner: Runner,
        exporter: Exporter | None = None,
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.exporter = exporter
        self._runner = runner

    @property
    def inputs(self) -> list[dict[str, Any]]:
        """Input specs: ``[{"name", "dtype", "shape"}]`` (``None`` = any size)."""
        return self.manifest["inputs"]

    @property
    def outputs(self) -> list[dict[str, Any]]:
        """Output specs, as :attr:`inputs`."""
        return self.manifest["outputs"]

    @property
    def format(self) -> str:
        return self.manifest["format"]

    @property
    def task(self) -> str:
        return self.manifest.get("task", "other")

    @property
    def classes(self) -> list[Any] | None:
        return self.manifest.get("classes")

    def _conform(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Check each input's rank and fixed dims; cast it to the recorded dtype."""
        specs = {spec["name"]: spec for spec in self.inputs}
        out = {}
        for name, arr in arrays.items():
            spec = specs[name]
            shape = spec.get("shape")
            if shape is not None:
                pairs = zip(shape, arr.shape, strict=False)
                if arr.ndim != len(shape) or any(
                    want is not None and want != got for want, got in pairs
                ):
                    shown = ["None" if d is None else d for d in shape]
                    raise ValueError(
                        f"input {name!r} must have shape [{', '.join(map(str, shown))}], "
                        f"got {list(arr.shape)}"
                    )
            dtype = spec.get("dtype")
            if dtype and dtype not in ("str", "object") and arr.dtype != np.dtype(dtype):
                target = np.dtype(dtype)
                if not np.can_cast(arr.dtype, target, "same_kind"):
                    raise ValueError(
                        f"input {name!r} must have dtype {dtype}, got {arr.dtype} (which "
                        "does not convert safely)"
                    )
                arr = arr.astype(target)
            out[name] = arr
        return out

    def run(self, inputs: Any) -> dict[str, np.ndarray]:
        """Run the model; ``inputs`` is a dict ``{name: array}`` or one array.

        Returns
        -------
        dict[str, numpy.ndarray]
            ``{output name: array}``, in the manifest's output order.

        Raises
        ------
        ValueError
            If the inputs' names, ranks, fixed dimensions or dtypes do not match
            the manifest's input specs.
        """
        names = [spec["name"] for spec in self.inputs]
        arrays = self._conform(as_inputs(inputs, names))
        result = self._runner.run(arrays)
        order = [spec["name"] for spec in self.outputs if spec["name"] in result]
        order += [k for k in result if k not in order]
        return {k: np.asarray(result[k]) for k in order}

    def predict(self, X: Any) -> np.ndarray:
        """Labels for classifiers, the first output (values) for other models."""
        result = self.run(X)
        for name in ("label", "prediction"):
            if name in result:
                return result[name]
        return next(iter(result.values()))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (classifiers exported with a ``probabilities`` output)."""
        if "probabilities" not in [spec["name"] for spec in self.outputs]:
            raise AttributeError(
                f"artifact {self.path} has no 'probabilities' output (outputs: "
                f"{[spec['name'] for spec in self.outputs]})"
            )
        return self.run(X)["probabilities"]

    def close(self) -> None:
        """Release the runner's resources (sessions, files)."""
        close = getattr(self._runner, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> Artifact:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Artifact({str(self.path)!r}, format={self.format!r}, "
                f"model_type={self.manifest.get('model_type')!r})")


def load(path: str | os.PathLike, *, trusted: bool = False) -> Artifact:
    """Open the artifact at ``path`` after checking it was not tampered with.

    ``manifest.json`` and the sha256 of every file are checked (and no file may
    be missing or unlisted) before any model file is deserialized.

    Parameters
    ----------
    path : str or os.PathLike
        An artifact directory written by :func:`calipers.export`.
    trusted : bool, default False
        Whether you trust the artifact's origin. Formats that can run arbitrary
        code when loaded (pickle/joblib) are refused unless True.

    Returns
    -------
    Artifact

    Raises
    ------
    calipers.errors.ArtifactError
        If the artifact is missing, malformed, modified after export, written by
        an exporter that is not installed, or needs ``trusted=True``.
    """
    path = pathlib.Path(path)
    manifest = read_manifest(path)
    exporter = _exporter_of(path, manifest)
    try:
        runner = exporter.load(path, manifest, trusted)
    except NotImplementedError as exc:
        raise ArtifactError(f"artifact {path}: {exc}") from exc
    return Artifact(path, manifest, runner, exporter)


def _exporter_of(path: pathlib.Path, manifest: Mapping[str, Any]) -> Exporter:
    """An instance of the exporter that wrote the artifact, found through the registry."""
    from calipers import plugins

    name = manifest.get("exporter") or manifest.get("format")
    try:
        return plugins.get("exporter", name)()
    except ValueError as exc:
        # The plugin of that name, if it is installed but did not load, says why
        # (e.g. its extra is missing, with the pip command).
        why = [f"plugin {p.name!r} is {p.status}: {p.reason}"
               for p in plugins.list_plugins(all=True)
               if p.name == name and p.status != "ok" and p.reason]
        raise ArtifactError(
            f"artifact {path}: written by exporter {name!r} (format "
            f"{manifest.get('format')!r}), which is not available: "
            f"{'; '.join(why) if why else exc}"
        ) from None


def quantize(path: str | os.PathLike, out: str | os.PathLike, **options: Any) -> dict[str, Any]:
    """Write a quantized copy of the artifact at ``path`` to ``out``; return its report.

    Also available as ``calipers.quantize(path, out, **options)``. The manifest
    (and every file's hash) is checked first; the exporter that wrote the artifact
    is looked up in the registry and, if it has the ``"quantize"`` capability
    (:meth:`Exporter.quantize`), does the work.

    Parameters
    ----------
    path : str or os.PathLike
        An artifact directory written by :func:`calipers.export`.
    out : str or os.PathLike
        The new artifact directory.
    **options
        Passed to the exporter's ``quantize`` (the ``onnx`` exporter: ``mode``,
        ``calibration``, ``eval_data``, ``metrics``, ``overwrite``, ...).

    Returns
    -------
    dict
        The exporter's report (for ``onnx``: sizes, latency and metric deltas).

    Raises
    ------
    calipers.errors.ArtifactError
        If the artifact is missing, malformed or modified after export, its
        exporter is not installed, or its exporter cannot quantize (the message
        names the format and the installed exporters that can).
    """
    path = pathlib.Path(path)
    manifest = read_manifest(path)
    exporter = _exporter_of(path, manifest)
    if not has_capability(type(exporter), "quantize"):
        able = capable_exporters("quantize")
        listed = (
            "the installed exporters that can: " + ", ".join(map(repr, able))
            if able
            else "no installed exporter can (`calipers plugins --all` lists them; the "
            "onnx one needs pip install 'calipers[onnx]')"
        )
        raise ArtifactError(
            f"artifact {path}: format {manifest.get('format')!r} (exporter "
            f"{exporter.name!r}) cannot be quantized: its exporter does not implement "
            f"quantize; {listed}. Export the model in one of their formats to quantize it"
        )
    return exporter.quantize(path, out, **options)
