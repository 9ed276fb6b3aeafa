"""Inputs as named arrays, and the outputs of scikit-learn-style estimators.

The naming convention the built-in exporters (and verify) use for estimators:
classifiers give ``"label"`` (``predict``) and ``"probabilities"``
(``predict_proba``, when the estimator has it and it returns one array);
regressors and other estimators with ``predict`` give ``"prediction"``;
transformers without ``predict`` give ``"transform"``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

#: Name of the single input of estimator artifacts.
DEFAULT_INPUT = "X"


def to_array(x: Any) -> np.ndarray:
    """``x`` as a numpy array: array-likes directly, other array types via their backend."""
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (list, tuple)) or hasattr(x, "__array__"):
        return np.asarray(x)
    from calipers.metrics._state import to_numpy

    return to_numpy(x)


def as_inputs(x: Any, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Named input arrays from a dict ``{name: array}`` or one array.

    Parameters
    ----------
    x : dict or array-like
        The inputs; a single array is the input of a one-input model.
    names : list of str, optional
        The model's input names. A single array needs exactly one name; a dict
        must hold every name (extra keys are an error).

    Raises
    ------
    ValueError
        If the inputs do not match ``names``.
    """
    if isinstance(x, Mapping):
        arrays = {str(k): to_array(v) for k, v in x.items()}
        if names is not None:
            missing = [n for n in names if n not in arrays]
            extra = sorted(set(arrays) - set(names))
            if missing or extra:
                raise ValueError(
                    f"inputs must be named {names}; "
                    + (f"missing {missing}" if missing else "")
                    + ("; " if missing and extra else "")
                    + (f"unknown {extra}" if extra else "")
                )
        return arrays
    if names is not None and len(names) != 1:
        raise ValueError(
            f"this model has {len(names)} inputs {names}: pass a dict {{name: array}}"
        )
    return {names[0] if names else DEFAULT_INPUT: to_array(x)}


def first_rows(arrays: Mapping[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """The first ``n`` rows (batch axis 0) of each array."""
    return {k: v[:n] if v.ndim else v for k, v in arrays.items()}


def estimator_task(model: Any) -> str:
    """``"classifier"``, ``"regressor"`` or ``"other"`` for a scikit-learn-style model.

    scikit-learn's own tags decide; objects without them are classifiers when they
    have ``classes_`` and ``predict``, else ``"other"``.
    """
    try:
        from sklearn.base import is_classifier, is_regressor

        if is_classifier(model):
            return "classifier"
        return "regressor" if is_regressor(model) else "other"
    except (ImportError, AttributeError, TypeError):  # not a scikit-learn estimator
        pass
    return "classifier" if hasattr(model, "classes_") and hasattr(model, "predict") else "other"


def model_type(model: Any) -> str:
    """Dotted name of the model's class through the shortest public module exposing it.

    ``sklearn.linear_model._logistic.LogisticRegression`` ->
    ``sklearn.linear_model.LogisticRegression``.
    """
    cls = type(model)
    parts = cls.__module__.split(".")
    for i in range(1, len(parts)):
        if parts[i - 1].startswith("_"):
            break
        module = sys.modules.get(".".join(parts[:i]))
        if getattr(module, cls.__qualname__, None) is cls:
            return f"{'.'.join(parts[:i])}.{cls.__qualname__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def feature_names(model: Any) -> list[str] | None:
    """The column names the model was fitted with (``feature_names_in_``), if any."""
    names = getattr(model, "feature_names_in_", None)
    return None if names is None else [str(n) for n in names]


def with_feature_names(model: Any, x: Any) -> Any:
    """``x`` as a DataFrame with the model's fitted column names, when it has them.

    A model fitted on a DataFrame warns (or fails, with string column selectors)
    when given a bare array; artifacts take arrays, so the names are put back.
    """
    names = feature_names(model)
    if names is None or not isinstance(x, np.ndarray) or x.ndim != 2 or x.shape[1] != len(names):
        return x
    try:
        import pandas as pd
    except ImportError:  # fitted on another kind of frame: sklearn may warn, still works
        return x
    return pd.DataFrame(x, columns=names)


def estimator_outputs(model: Any, x: np.ndarray, task: str | None = None) -> dict[str, np.ndarray]:
    """The model's outputs on ``x`` under the convention of this module.

    Raises
    ------
    TypeError
        If the model has neither ``predict`` nor ``transform``.
    """
    task = task or estimator_task(model)
    x = with_feature_names(model, x)
    if hasattr(model, "predict"):
        prediction = np.asarray(model.predict(x))
        if task != "classifier":
            return {"prediction": prediction}
        outputs = {"label": prediction}
        if hasattr(model, "predict_proba"):
            try:
                proba = model.predict_proba(x)
            except AttributeError:  # e.g. SVC(probability=False) hides it at call time
                proba = None
            if isinstance(proba, np.ndarray):
                outputs["probabilities"] = proba
        return outputs
    if hasattr(model, "transform"):
        return {"transform": np.asarray(model.transform(x))}
    raise TypeError(
        f"{type(model).__name__} has neither predict nor transform; cannot export it "
        "as an estimator"
    )
