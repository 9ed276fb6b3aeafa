"""The host's own exporters, ``skops`` and ``pickle``, for scikit-learn-style estimators.

Registered through the same ``register_exporter`` hook as plugins. skops is
scikit-learn's safe format: loading it builds only the types recorded at export,
and a type outside scikit-learn, numpy and scipy needs ``trusted=True``. A pickle
(joblib) can run any code when loaded, so it is always refused without
``trusted=True``.
"""

from __future__ import annotations

import abc
import hashlib
import importlib.metadata
import io
import pathlib
import warnings
from typing import Any, ClassVar

import numpy as np

import calipers
from calipers._extras import require
from calipers.errors import ArtifactError
from calipers.export._base import Exporter
from calipers.export._manifest import jsonable, library_versions
from calipers.export._outputs import (
    DEFAULT_INPUT,
    estimator_outputs,
    estimator_task,
    feature_names,
    model_type,
)

#: Modules whose types a skops artifact may hold without ``trusted=True``.
SAFE_TYPE_PREFIXES = ("sklearn.", "numpy.", "scipy.")


class _EstimatorRunner:
    """Runs a deserialized estimator under the output names of the manifest."""

    def __init__(self, model: Any, manifest: dict[str, Any]) -> None:
        self.model = model
        self.task = manifest.get("task") or estimator_task(model)
        self.input = manifest["inputs"][0]["name"] if manifest.get("inputs") else DEFAULT_INPUT
        self.outputs = [spec["name"] for spec in manifest.get("outputs") or []]

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        result = estimator_outputs(self.model, inputs[self.input], self.task)
        return {k: result[k] for k in self.outputs if k in result} if self.outputs else result

    def close(self) -> None:
        self.model = None


def _distributions(model: Any) -> list[str]:
    """Distributions providing the model's top-level module (for the manifest)."""
    top = type(model).__module__.split(".")[0]
    if top in ("sklearn", "builtins", "__main__"):
        return []
    return list(importlib.metadata.packages_distributions().get(top, []))


def _warn_version_drift(path: pathlib.Path, manifest: dict[str, Any]) -> None:
    recorded = (manifest.get("libraries") or {}).get("scikit-learn")
    if recorded is None:
        return
    try:
        installed = importlib.metadata.version("scikit-learn")
    except importlib.metadata.PackageNotFoundError:
        return
    if installed != recorded:
        warnings.warn(
            f"artifact {path} was exported with scikit-learn {recorded} and is loaded with "
            f"{installed}; its outputs may differ: check them with calipers.verify",
            UserWarning,
            stacklevel=4,
        )


def _read_verified(path: pathlib.Path, manifest: dict[str, Any], name: str) -> bytes:
    """The bytes of ``path/name``, checked against the manifest's sha256 once more.

    The model is then deserialized from these very bytes, so the file cannot be
    swapped between the check in :func:`calipers.load` and the load.
    """
    data = (path / name).read_bytes()
    if hashlib.sha256(data).hexdigest() != (manifest.get("files") or {}).get(name):
        raise ArtifactError(f"artifact {path}: file {name!r} changed while it was being loaded")
    return data


class _EstimatorExporter(Exporter):
    """Shared part of the skops and pickle exporters: one file, one input ``X``."""

    #: The model file inside the artifact.
    file_name: ClassVar[str] = ""
    #: Distributions whose versions go into the manifest.
    libraries: ClassVar[tuple[str, ...]] = ()
    tolerance: ClassVar[dict[str, float]] = {"rtol": 1e-7, "atol": 1e-12,
                                             "min_label_agreement": 1.0}

    def supports(self, model: Any) -> bool:
        return hasattr(model, "predict") or hasattr(model, "transform")

    def prepare_inputs(self, sample: Any, names: list[str] | None = None) -> dict[str, np.ndarray]:
        inputs = super().prepare_inputs(sample, names)
        if len(inputs) != 1:
            raise TypeError(
                f"exporter {self.name!r} exports estimators with one input X; got inputs "
                f"{sorted(inputs)}"
            )
        return inputs

    @abc.abstractmethod
    def _write(self, model: Any, file: pathlib.Path, options: dict[str, Any]) -> dict[str, Any]:
        """Write the model file; return the options to record (JSON-safe)."""

    def export(self, model: Any, path: str | pathlib.Path, sample: Any, **options: Any
               ) -> dict[str, Any]:
        """Write ``model`` to ``path/<file_name>``; return the manifest fields."""
        if not self.supports(model):
            raise TypeError(
                f"exporter {self.name!r} exports estimators with predict or transform; "
                f"{type(model).__module__}.{type(model).__qualname__} has neither"
            )
        path = pathlib.Path(path)
        recorded = self._write(model, path / self.file_name, dict(options))
        task = estimator_task(model)
        names = feature_names(model)
        classes = getattr(model, "classes_", None) if task == "classifier" else None
        return {
            "model_type": model_type(model),
            "task": task,
            "classes": jsonable(classes, "classes_") if classes is not None else None,
            "libraries": library_versions(*self.libraries, *_distributions(model)),
            "options": {"file": self.file_name, **recorded,
                        **({"feature_names": names} if names is not None else {})},
        }


class SkopsExporter(_EstimatorExporter):
    """scikit-learn estimators in skops' safe format (``model.skops``).

    Options: ``compression`` (``"stored"``, default, or ``"deflated"``).
    """

    name = "skops"
    file_name = "model.skops"
    libraries = ("scikit-learn", "skops")

    def _write(self, model: Any, file: pathlib.Path, options: dict[str, Any]) -> dict[str, Any]:
        import zipfile

        require("skops", feature="the skops exporter", extra="sklearn")
        import skops.io as sio

        compression = options.pop("compression", "stored")
        if options:
            raise TypeError(f"unknown option(s) for the skops exporter: {sorted(options)}; "
                            "it takes compression")
        modes = {"stored": zipfile.ZIP_STORED, "deflated": zipfile.ZIP_DEFLATED}
        if compression not in modes:
            raise ValueError(f"compression must be 'stored' or 'deflated', got {compression!r}")
        sio.dump(model, file, compression=modes[compression])
        types = sorted(sio.get_untrusted_types(file=file))
        outside = [t for t in types if not t.startswith(SAFE_TYPE_PREFIXES)]
        if outside:
            warnings.warn(
                f"the skops artifact holds types outside scikit-learn, numpy and scipy "
                f"({', '.join(outside)}): loading it will need trusted=True",
                UserWarning,
                stacklevel=4,
            )
        return {"compression": compression, "trusted_types": types}

    def load(self, path: pathlib.Path, manifest: dict[str, Any], trusted: bool) -> _EstimatorRunner:
        """Load ``model.skops`` trusting only the types recorded in the manifest."""
        require("skops", feature="loading skops artifacts", extra="sklearn")
        import skops.io as sio

        data = _read_verified(path, manifest, self.file_name)
        recorded = list((manifest.get("options") or {}).get("trusted_types") or [])
        try:
            found = sio.get_untrusted_types(data=data)
        except Exception as exc:
            raise ArtifactError(f"artifact {path}: {self.file_name} is not a skops file: "
                                f"{exc}") from None
        if not trusted:
            unrecorded = [t for t in found if t not in recorded]
            if unrecorded:
                raise ArtifactError(
                    f"artifact {path}: {self.file_name} holds types not recorded in the "
                    f"manifest ({', '.join(unrecorded)}); refusing to load it"
                )
            outside = [t for t in found if not t.startswith(SAFE_TYPE_PREFIXES)]
            if outside:
                raise ArtifactError(
                    f"artifact {path}: {self.file_name} holds types outside scikit-learn, "
                    f"numpy and scipy ({', '.join(outside)}); pass trusted=True only if you "
                    "trust where the artifact came from"
                )
        _warn_version_drift(path, manifest)
        try:
            model = sio.loads(data, trusted=found)
        except Exception as exc:
            raise ArtifactError(f"artifact {path}: cannot load {self.file_name}: "
                                f"{type(exc).__name__}: {exc}") from exc
        return _EstimatorRunner(model, manifest)


class PickleExporter(_EstimatorExporter):
    """Any picklable estimator, through joblib (``model.joblib``).

    Loading runs arbitrary code from the file, so :func:`calipers.load` refuses
    it unless ``trusted=True``. Options: ``compress`` (joblib's 0-9, default 0).
    """

    name = "pickle"
    formats = ("joblib",)
    file_name = "model.joblib"
    libraries = ("scikit-learn", "joblib")

    def _write(self, model: Any, file: pathlib.Path, options: dict[str, Any]) -> dict[str, Any]:
        import joblib

        compress = options.pop("compress", 0)
        if options:
            raise TypeError(f"unknown option(s) for the pickle exporter: {sorted(options)}; "
                            "it takes compress")
        if isinstance(compress, bool) or not isinstance(compress, int) or not 0 <= compress <= 9:
            raise ValueError(f"compress must be an integer in [0, 9], got {compress!r}")
        joblib.dump(model, file, compress=compress)
        return {"compress": compress}

    def load(self, path: pathlib.Path, manifest: dict[str, Any], trusted: bool) -> _EstimatorRunner:
        """Unpickle ``model.joblib``; refused unless ``trusted``."""
        if not trusted:
            raise ArtifactError(
                f"artifact {path} is a pickle ({self.file_name}): loading it can run "
                "arbitrary code. Pass trusted=True only if you trust where it came from; "
                "for scikit-learn models prefer format='skops' (safe to load) or 'onnx'"
            )
        import joblib

        _warn_version_drift(path, manifest)
        data = _read_verified(path, manifest, self.file_name)
        try:
            model = joblib.load(io.BytesIO(data))
        except Exception as exc:
            raise ArtifactError(f"artifact {path}: cannot load {self.file_name}: "
                                f"{type(exc).__name__}: {exc}") from exc
        return _EstimatorRunner(model, manifest)


@calipers.hookimpl
def register_exporter() -> list[type]:
    return [SkopsExporter, PickleExporter]
