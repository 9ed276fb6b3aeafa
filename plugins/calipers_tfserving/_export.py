"""Keras models and ``tf.Module`` -> a SavedModel with a ``serving_default`` signature.

The SavedModel is written straight into the artifact directory, so a version
directory ``<base>/<name>/<version>/`` written by ``calipers.export`` is what
TensorFlow Serving loads (``saved_model.pb``, ``variables/``, ``assets/``;
``manifest.json`` beside them is ignored by TF Serving). :func:`export_for_serving`
picks the next version, exports through the artifact core (temporary directory,
atomic rename) and adds the model to ``<base>/models.config``.

TensorFlow is imported only when a model is exported.
"""

from __future__ import annotations

import os
import pathlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from calipers_tfserving._config import add_model_config

SIGNATURE = "serving_default"
TASKS = ("classifier", "regressor", "other")
_TF_ROOTS = ("tensorflow", "keras", "tf_keras")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.\-/]*")


def is_tf_model(model: Any) -> bool:
    """Whether ``model`` is a Keras model/layer or a ``tf.Module`` (no TF import)."""
    if isinstance(model, type):
        return False
    roots = {(getattr(k, "__module__", "") or "").split(".")[0] for k in type(model).__mro__}
    return bool(roots.intersection(_TF_ROOTS)) and callable(model)


def is_keras(model: Any) -> bool:
    return any((getattr(k, "__module__", "") or "").split(".")[0] in ("keras", "tf_keras")
               for k in type(model).__mro__)


def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"{what} {name!r} is not a valid TensorFlow name: start with a "
                         "letter; use letters, digits, '_', '.', '-', '/'")
    return name


def _input_specs(inputs: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
    specs = []
    for name, arr in inputs.items():
        _check_name(name, "input name")
        if arr.ndim == 0:
            raise ValueError(f"input {name!r} must have a batch axis, got a scalar")
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"input {name!r} has dtype {arr.dtype}: the tfserving exporter "
                            "takes numeric and boolean inputs")
        specs.append({"name": name, "dtype": arr.dtype.name,
                      "shape": [None, *(int(d) for d in arr.shape[1:])]})
    return specs


def _float32(inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """float64 inputs as float32 (Keras' default compute dtype); others unchanged."""
    return {k: v.astype(np.float32) if v.dtype == np.float64 else v for k, v in inputs.items()}


class ServingFunction:
    """The model call plus output naming: the same TF ops run eagerly and in the graph.

    Parameters
    ----------
    model : keras.Model or tf.Module
        The callable model.
    input_names : list of str
        The signature's input names; one input is passed as a tensor, several
        as a dict keyed by name.
    task : str
        ``"classifier"`` (outputs ``label`` and ``probabilities``), ``"regressor"``
        (``prediction``) or ``"other"`` (the model's own output names).
    classes : list, optional
        Class labels (ints or strings) of a classifier, by output column.
    logits : bool
        Whether a classifier's output holds logits (softmax/sigmoid applied).
    output_names : list of str, optional
        Names for a model returning a tensor or a list of tensors (``task="other"``).
    """

    def __init__(self, model: Any, input_names: list[str], *, task: str,
                 classes: list[Any] | None, logits: bool,
                 output_names: list[str] | None) -> None:
        self.model = model
        self.input_names = input_names
        self.task = task
        self.classes = classes
        self.logits = logits
        self.output_names = output_names

    def raw(self, tensors: Sequence[Any]) -> Any:
        x = tensors[0] if len(tensors) == 1 else dict(zip(self.input_names, tensors, strict=True))
        if is_keras(self.model):
            return self.model(x, training=False)
        return self.model(x)

    def __call__(self, *tensors: Any) -> dict[str, Any]:
        return self.name_outputs(self.raw(tensors))

    def name_outputs(self, raw: Any) -> dict[str, Any]:
        import tensorflow as tf

        if isinstance(raw, Mapping):
            if self.task != "other":
                raise TypeError(f"task={self.task!r} needs a model with one output tensor; this "
                                f"one returns a dict {sorted(raw)}; use task='other'")
            return {_check_name(str(k), "output name"): tf.convert_to_tensor(v)
                    for k, v in raw.items()}
        if isinstance(raw, (list, tuple)):
            if self.task != "other":
                raise TypeError(f"task={self.task!r} needs a model with one output tensor; this "
                                f"one returns {len(raw)}; use task='other'")
            names = self.output_names or [f"output_{i}" for i in range(len(raw))]
            if len(names) != len(raw):
                raise ValueError(f"output_names has {len(names)} names for {len(raw)} outputs")
            return {n: tf.convert_to_tensor(v) for n, v in zip(names, raw, strict=True)}
        raw = tf.convert_to_tensor(raw)
        if self.task == "regressor":
            return {"prediction": raw}
        if self.task == "other":
            return {(self.output_names or ["output"])[0]: raw}
        return self._classify(raw)

    def _classify(self, raw: Any) -> dict[str, Any]:
        import tensorflow as tf

        if raw.shape.rank not in (1, 2):
            raise ValueError(f"a classifier's output must be [batch] or [batch, classes], got "
                             f"shape {raw.shape}")
        binary = raw.shape.rank == 1 or raw.shape[-1] == 1
        if binary:
            p = tf.reshape(raw, [-1])
            if self.logits:
                p = tf.sigmoid(p)
            proba = tf.stack([1 - p, p], axis=1)
            index = tf.cast(p > 0.5, tf.int64)
        else:
            proba = tf.nn.softmax(raw, axis=-1) if self.logits else raw
            index = tf.argmax(proba, axis=-1)
        classes = self.classes if self.classes is not None else [0, 1]
        dtype = tf.string if isinstance(classes[0], str) else tf.int64
        return {"label": tf.gather(tf.constant(classes, dtype=dtype), index),
                "probabilities": proba}

    def eager(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the original model eagerly on numpy inputs; numpy outputs."""
        import tensorflow as tf

        tensors = [tf.convert_to_tensor(inputs[n]) for n in self.input_names]
        return {k: to_numpy(v) for k, v in self(*tensors).items()}


def to_numpy(tensor: Any) -> np.ndarray:
    """A tensor's values; TF strings (bytes) decoded as UTF-8 text."""
    arr = np.asarray(tensor.numpy() if hasattr(tensor, "numpy") else tensor)
    if arr.dtype == object:
        arr = np.vectorize(lambda b: b.decode("utf-8") if isinstance(b, bytes) else b,
                           otypes=[object])(arr) if arr.size else arr
        arr = arr.astype(str)
    return arr


def _classes(classes: Any, n: int) -> list[Any]:
    if classes is None:
        return list(range(n))
    classes = [c.item() if isinstance(c, np.generic) else c for c in classes]
    if len(classes) != n:
        raise ValueError(f"classes has {len(classes)} labels but the model scores {n} classes")
    if all(isinstance(c, str) for c in classes):
        return classes
    if all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return classes
    raise TypeError(f"classes must be all integers or all strings, got {classes!r}")


def build(model: Any, inputs: Mapping[str, np.ndarray], options: Mapping[str, Any]
          ) -> ServingFunction:
    """A :class:`ServingFunction` for ``model`` with its task/classes resolved."""
    task = options.get("task") or "other"
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    output_names = options.get("output_names")
    if output_names is not None:
        output_names = [_check_name(n, "output name") for n in output_names]
    fn = ServingFunction(model, list(inputs), task=task, classes=None,
                         logits=bool(options.get("logits", False)), output_names=output_names)
    if task == "classifier":
        import tensorflow as tf

        first = fn.raw([tf.convert_to_tensor(inputs[n][:1]) for n in fn.input_names])
        if isinstance(first, (Mapping, list, tuple)):
            fn.name_outputs(first)  # raises the task error
        shape = tuple(first.shape)
        n = 2 if len(shape) == 1 or shape[-1] == 1 else int(shape[-1])
        fn.classes = _classes(options.get("classes"), n)
    elif options.get("classes") is not None:
        raise ValueError(f"classes only apply to task='classifier', not {task!r}")
    return fn


def _tensor_specs(structure: Mapping[str, Any]) -> list[dict[str, Any]]:
    specs = []
    for name, spec in structure.items():
        dtype = "str" if spec.dtype.name == "string" else spec.dtype.name
        shape = None if spec.shape.rank is None else list(spec.shape.as_list())
        specs.append({"name": name, "dtype": dtype, "shape": shape})
    return specs


def export_savedmodel(model: Any, path: pathlib.Path, inputs: Mapping[str, np.ndarray],
                      options: Mapping[str, Any]) -> dict[str, Any]:
    """Write the SavedModel into ``path``; return the manifest fields."""
    import tensorflow as tf

    from calipers.export._manifest import library_versions

    fn = build(model, inputs, options)
    specs = _input_specs(inputs)
    signature = [tf.TensorSpec([None, *s["shape"][1:]], tf.as_dtype(s["dtype"]), name=s["name"])
                 for s in specs]
    holder = tf.Module()
    holder.model = model
    serving = tf.function(fn, input_signature=signature).get_concrete_function()
    tf.saved_model.save(holder, str(path), signatures={SIGNATURE: serving})
    kind = type(model)
    libraries = library_versions("tensorflow-cpu", "tensorflow", "keras", "tf-keras")
    libraries["tensorflow"] = tf.__version__  # whichever distribution installed it
    return {
        "inputs": specs,
        "outputs": _tensor_specs(serving.structured_outputs),
        "libraries": libraries,
        "model_type": f"{kind.__module__}.{kind.__qualname__}",
        "task": fn.task,
        "classes": fn.classes,
        "options": {"signature": SIGNATURE, "tags": ["serve"], "logits": fn.logits,
                    "output_names": fn.output_names},
    }


def export_for_serving(
    model: Any,
    base: str | os.PathLike,
    name: str,
    *,
    sample: Any,
    version: int | None = None,
    metrics: Mapping[str, Any] | None = None,
    base_path: str | None = None,
    **options: Any,
) -> pathlib.Path:
    """Export ``model`` as version ``version`` of ``name`` in the TF Serving base ``base``.

    Writes ``<base>/<name>/<version>/`` through ``calipers.export`` (a temporary
    directory renamed into place: TF Serving and ``calipers serve`` never see a
    half-written version) and adds ``name`` to ``<base>/models.config``.

    Parameters
    ----------
    model : keras.Model or tf.Module
        The model.
    base : str or os.PathLike
        The model base directory (created if missing).
    name : str
        The model's name (one path component).
    sample : array-like or dict
        Representative inputs (fix the signature's input names, dtypes, shapes).
    version : int, optional
        The version number; by default one more than the highest existing.
    metrics : dict, optional
        Stored in the manifest.
    base_path : str, optional
        The model's ``base_path`` written into ``models.config`` (e.g.
        ``"/models/<name>"`` when the base is mounted at ``/models`` in a TF
        Serving container); by default the absolute ``<base>/<name>``.
    **options
        Options of the ``tfserving`` exporter (``task``, ``classes``, ``logits``,
        ``output_names``, ``tolerance``).

    Returns
    -------
    pathlib.Path
        The version directory.
    """
    import calipers
    from calipers.export import version_dir

    target = version_dir(base, name, version)
    path = calipers.export(model, "tfserving", target, sample=sample, metrics=metrics, **options)
    add_model_config(base, name, base_path=base_path)
    return path
