"""calipers' first-party TensorFlow Serving plugin: SavedModel export, REST/gRPC client.

- ``calipers.export(model, "tfserving", path, sample=X)`` writes a Keras model or a
  callable ``tf.Module`` as a SavedModel with a ``serving_default`` signature
  (:class:`TFServingExporter`); :func:`export_for_serving` puts it at
  ``<base>/<name>/<version>/`` (TF Serving's layout, next version by default) and
  adds the model to ``<base>/models.config`` (:func:`add_model_config`), so
  ``tensorflow_model_server --model_config_file=<base>/models.config`` and
  ``calipers serve <base>`` both serve it.
- ``calipers.load(path)`` runs it in-process with TensorFlow
  (:class:`SavedModelRunner`), refusing signatures with file-system or Python ops
  unless ``trusted=True``.
- :class:`Client` speaks TF Serving's REST API (status, metadata, predict in row
  and columnar form, classify, regress) to TF Serving or ``calipers serve``: it is
  the host's :class:`calipers.serve.client.Client` plus ``grpc://host:port`` URLs,
  which use gRPC through ``tensorflow-serving-api``.
- :func:`predict_remote`, :func:`score_remote`, :class:`RemoteModel` and
  :func:`write_predictions` score a served model with calipers metrics or write
  the predictions file ``calipers eval`` reads.

The entry point exists whether or not the ``tfserving`` extra is installed: this
module imports only numpy and calipers; TensorFlow is imported when a model is
exported or loaded. The client needs no TensorFlow for REST; it and the remote
scoring helpers are imported on first use (loading the plugin stays cheap).
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

import calipers
from calipers.errors import ArtifactError
from calipers.export import Exporter
from calipers_tfserving._config import CONFIG_NAME, add_model_config, read_models_config
from calipers_tfserving._export import SIGNATURE, export_for_serving, is_tf_model

if TYPE_CHECKING:
    from calipers_tfserving._backend import (
        RemoteModel,
        predict_remote,
        score_remote,
        write_predictions,
    )
    from calipers_tfserving._client import Client, ServingError
    from calipers_tfserving._runner import SavedModelRunner

__all__ = [
    "CONFIG_NAME",
    "SIGNATURE",
    "Client",
    "RemoteModel",
    "SavedModelRunner",
    "ServingError",
    "TFServingExporter",
    "add_model_config",
    "export_for_serving",
    "predict_remote",
    "read_models_config",
    "register_exporter",
    "score_remote",
    "write_predictions",
]

#: module -> calipers extra that installs it (read by the plugin host).
__calipers_requires__ = {"tensorflow": "tfserving"}

#: Input names Keras makes up for unnamed inputs (not worth showing to clients).
_GENERATED = re.compile(r"(keras_tensor|input_layer|input)(_\d+)?")

#: Parity tolerances of SavedModel artifacts: the same float32 kernels, traced.
TF_TOLERANCE: dict[str, float] = {"rtol": 1e-5, "atol": 1e-6, "min_label_agreement": 0.999}


#: Public names imported on first use -> their module (the plugin host loads this
#: module for the exporter; the client and the remote scoring are not needed then).
_LAZY = {
    "SavedModelRunner": "calipers_tfserving._runner",
    "Client": "calipers_tfserving._client",
    "ServingError": "calipers_tfserving._client",
    "RemoteModel": "calipers_tfserving._backend",
    "predict_remote": "calipers_tfserving._backend",
    "score_remote": "calipers_tfserving._backend",
    "write_predictions": "calipers_tfserving._backend",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class TFServingExporter(Exporter):
    """Exports Keras models and callable ``tf.Module`` objects as SavedModels.

    Options of ``calipers.export(model, "tfserving", path, sample=X, **options)``:

    - ``task``: ``"classifier"`` (outputs ``label`` and ``probabilities``; a
      one-column output is the positive class' probability), ``"regressor"``
      (output ``prediction``) or ``"other"`` (default: the model's outputs, named
      by its dict keys, by ``output_names``, or ``output`` / ``output_<i>``).
    - ``classes``: a classifier's labels (ints or strings), one per column.
    - ``logits`` (bool): a classifier's output holds logits (softmax/sigmoid
      applied in the signature).
    - ``output_names``: names of a tensor or list-of-tensors output.
    - ``tolerance``: parity tolerances recorded instead of :data:`TF_TOLERANCE`.

    Inputs take the sample's names (for one array: the Keras ``Input``'s name unless
    Keras made it up, else ``X``), dtypes (float64 as
    float32) and shapes with a free batch axis.
    """

    name: ClassVar[str] = "tfserving"
    formats: ClassVar[tuple[str, ...]] = ("tfserving", "saved_model")
    tolerance: ClassVar[dict[str, float]] = dict(TF_TOLERANCE)

    def __init__(self) -> None:
        # The options of the model exported or the artifact loaded: model_outputs
        # names the original model's outputs with them.
        self._options: dict[str, Any] = {}

    def supports(self, model: Any) -> bool:
        """Whether ``model`` is a Keras model or a callable ``tf.Module``."""
        return is_tf_model(model)

    def prepare_inputs(self, sample: Any, names: list[str] | None = None) -> dict[str, np.ndarray]:
        """Named numpy inputs; float64 as float32 (the signature's dtype)."""
        from calipers_tfserving._export import _float32

        if hasattr(sample, "numpy") and not isinstance(sample, np.ndarray):
            sample = sample.numpy()
        elif isinstance(sample, Mapping):
            sample = {k: v.numpy() if hasattr(v, "numpy") else v for k, v in sample.items()}
        return _float32(super().prepare_inputs(sample, names))

    def export(self, model: Any, path: str | pathlib.Path, sample: Any, **options: Any
               ) -> dict[str, Any]:
        """Write the SavedModel into ``path``; return the manifest fields."""
        from calipers_tfserving._export import export_savedmodel

        if not self.supports(model):
            raise TypeError(
                "the tfserving exporter takes Keras models and callable tf.Module objects, "
                f"not {type(model).__module__}.{type(model).__qualname__}"
            )
        tolerance = options.pop("tolerance", None)
        known = {"task", "classes", "logits", "output_names"}
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(f"unknown option(s) for the tfserving exporter: {unknown}; it takes "
                            f"{sorted(known | {'tolerance'})}")
        names = None
        if not isinstance(sample, Mapping):
            keras_names = [getattr(t, "name", None) for t in getattr(model, "inputs", None) or []]
            if (len(keras_names) == 1 and isinstance(keras_names[0], str)
                    and not _GENERATED.fullmatch(keras_names[0])):
                names = keras_names  # the Keras Input's name, as TF Serving clients see it
        inputs = self.prepare_inputs(sample, names)
        fields = export_savedmodel(model, pathlib.Path(path), inputs, options)
        if tolerance is not None:
            if not isinstance(tolerance, Mapping):
                raise TypeError(f"tolerance must be a dict, got {tolerance!r}")
            fields["tolerance"] = {**self.tolerance, **tolerance}
        self._options = {**fields["options"], "task": fields["task"],
                         "classes": fields["classes"]}
        return fields

    def model_outputs(self, model: Any, inputs: Mapping[str, np.ndarray]
                      ) -> dict[str, np.ndarray]:
        """The original model's outputs, run eagerly, under the signature's names."""
        from calipers_tfserving._export import build

        fn = build(model, dict(inputs), self._options)
        if self._options.get("classes") is not None:
            fn.classes = list(self._options["classes"])
        return fn.eager(inputs)

    def load(self, path: pathlib.Path, manifest: dict[str, Any], trusted: bool) -> Any:
        """A :class:`SavedModelRunner` over the artifact (TensorFlow in-process)."""
        from calipers_tfserving._runner import SavedModelRunner

        if manifest.get("exporter", manifest.get("format")) != self.name:
            raise ArtifactError(f"artifact {path}: written by {manifest.get('exporter')!r}, "
                                "not the tfserving exporter")
        self._options = {**(manifest.get("options") or {}), "task": manifest.get("task"),
                         "classes": manifest.get("classes")}
        return SavedModelRunner(path, manifest, trusted)


@calipers.hookimpl
def register_exporter() -> list[type[Exporter]]:
    """Provide :class:`TFServingExporter` (name ``"tfserving"``)."""
    return [TFServingExporter]
