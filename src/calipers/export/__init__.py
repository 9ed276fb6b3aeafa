"""Model export: artifacts, loading with hash checks, parity checks, the :class:`Exporter` contract.

``calipers.export`` is this package and, called, :func:`export_model`::

    path = calipers.export(model, "skops", "artifacts/model", sample=X_test)
    artifact = calipers.load(path)            # checks every file's sha256 first
    artifact.predict(X_test)
    calipers.verify(path, model, X_test)      # ParityReport; ParityError if off

Exporters come from plugins through the ``register_exporter`` hook;
``calipers.plugins.get("exporter", name)`` finds them. ``from calipers.export import
Exporter`` is stable for third parties. The built-in exporters are ``skops`` and
``pickle`` (``joblib``).
"""

from __future__ import annotations

import sys
import types
from typing import Any

from calipers.export._artifact import Artifact, export_model, exporter_for, load
from calipers.export._base import DEFAULT_TOLERANCE, Exporter, Runner
from calipers.export._manifest import MANIFEST_NAME, read_manifest
from calipers.export._verify import ParityReport, verify
from calipers.export._versions import check_model_name, list_versions, version_dir

__all__ = [
    "DEFAULT_TOLERANCE",
    "MANIFEST_NAME",
    "Artifact",
    "Exporter",
    "ParityReport",
    "Runner",
    "check_model_name",
    "export_model",
    "exporter_for",
    "list_versions",
    "load",
    "read_manifest",
    "verify",
    "version_dir",
]


class _ExportModule(types.ModuleType):
    """This package's module type: calling it calls :func:`export_model`."""

    def __call__(self, model: Any, format: str, path: Any, **kwargs: Any) -> Any:
        return export_model(model, format, path, **kwargs)


sys.modules[__name__].__class__ = _ExportModule
