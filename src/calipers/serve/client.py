"""A client for TensorFlow Serving's REST API, and scoring a served model with it.

Works unchanged against ``tensorflow_model_server --rest_api_port`` and ``calipers
serve``, and needs nothing beyond numpy (no TensorFlow)::

    from calipers.serve.client import Client, predict_remote

    client = Client("http://127.0.0.1:8501", "iris")
    client.status()                      # {"model_version_status": [...]}
    client.predict(X)                    # {"instances": X} -> "predictions"
    client.predict({"X": X}, columnar=True)  # {"inputs": ...} -> "outputs"
    client.classify([{"X": row} for row in X])  # "results": [[label, score], ...]
    predict_remote(client, X, batch_size=256)   # a whole dataset, in batches

The JSON mapping is TF Serving's: numbers (``NaN``/``Infinity`` tokens included),
strings, booleans, and ``{"b64": ...}`` for bytes. A one-output model answers
without output names (an array here); several outputs come back as a dict.
Errors come back as :class:`ServingError` with the HTTP status and the server's
``"error"`` message.

This client speaks REST (``http://``, ``https://``). TF Serving's gRPC port
(``grpc://host:8500``) is spoken by ``calipers_tfserving.Client``, a subclass that
adds the gRPC transport (``pip install 'calipers[tfserving]'`` plus
``tensorflow-serving-api``). ``calipers eval DATA --served URL --model NAME``
scores a served model through :func:`eval_predictor`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from calipers.serve._client_json import to_array
from calipers.serve._client_rest import HTTP_CODES, Client, ServingError

__all__ = [
    "HTTP_CODES",
    "LABEL_NAMES",
    "PROBA_NAMES",
    "Client",
    "ServingError",
    "eval_predictor",
    "iter_batches",
    "predict_remote",
    "split_outputs",
    "to_array",
]

#: Output names read as class probabilities / as labels (or values), in this order.
PROBA_NAMES = ("probabilities", "probs", "scores", "output_probabilities")
LABEL_NAMES = ("label", "labels", "classes", "prediction", "predictions")


# -- a dataset through a served model ---------------------------------------------------


def iter_batches(X: Any, batch_size: int) -> Iterator[tuple[int, Any]]:
    """``(first row, batch)`` pairs over ``X`` (an array or ``{input: array}``).

    Raises
    ------
    ValueError
        For a ``batch_size`` that is not a positive integer, inputs of different
        lengths, or an ``X`` without a batch axis.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if isinstance(X, Mapping):
        arrays = {k: np.asarray(v) for k, v in X.items()}
        sizes = {len(v) for v in arrays.values()}
        if len(sizes) != 1:
            raise ValueError(f"every input needs the same number of rows, got "
                             f"{ {k: len(v) for k, v in arrays.items()} }")
        n = sizes.pop()
        for start in range(0, n, batch_size):
            yield start, {k: v[start:start + batch_size] for k, v in arrays.items()}
        return
    arr = np.asarray(X)
    if arr.ndim == 0:
        raise ValueError("X must have a batch axis (one row per example)")
    for start in range(0, len(arr), batch_size):
        yield start, arr[start:start + batch_size]


def predict_remote(
    server: Client | str,
    X: Any,
    *,
    model: str | None = None,
    version: int | None = None,
    batch_size: int = 256,
    columnar: bool = False,
    timeout: float = 30.0,
) -> np.ndarray | dict[str, np.ndarray]:
    """Predict ``X`` with a served model, ``batch_size`` rows per request.

    Parameters
    ----------
    server : Client or str
        A :class:`Client` (or subclass), or the server URL (then ``model`` is
        required).
    X : array-like or dict
        The inputs (a dict ``{input: batch}`` for several inputs).
    model, version : optional
        With a URL: the model and version to ask.
    batch_size : int, default 256
        Rows per request.
    columnar : bool, default False
        Use the columnar ``{"inputs": ...}`` format instead of rows.
    timeout : float, default 30
        Seconds per request (with a URL).

    Returns
    -------
    numpy.ndarray or dict[str, numpy.ndarray]
        As :meth:`Client.predict`, over all rows.
    """
    client = Client.coerce(server, model, version, timeout=timeout)
    parts: list[Any] = []
    for _, batch in iter_batches(X, batch_size):
        parts.append(client.predict(batch, columnar=columnar))
    if not parts:
        raise ValueError("X has no rows")
    if isinstance(parts[0], dict):
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return np.concatenate(parts)


def split_outputs(outputs: np.ndarray | Mapping[str, np.ndarray]
                  ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(labels, probabilities)`` from a served model's outputs; either may be None.

    A dict is read by :data:`LABEL_NAMES` / :data:`PROBA_NAMES`; a lone 2-D float
    output with several columns is probabilities, any other lone output labels
    (or values).

    Raises
    ------
    ValueError
        If a dict holds neither a label nor a probability output.
    """
    if not isinstance(outputs, Mapping):
        arr = np.asarray(outputs)
        if arr.dtype.kind == "f" and arr.ndim == 2 and arr.shape[1] > 1:
            return None, arr
        return arr, None
    proba = next((np.asarray(outputs[n]) for n in PROBA_NAMES if n in outputs), None)
    labels = next((np.asarray(outputs[n]) for n in LABEL_NAMES if n in outputs), None)
    if proba is None and labels is None:
        raise ValueError(f"cannot tell labels or probabilities among the outputs "
                         f"{sorted(outputs)}; expected one of {LABEL_NAMES + PROBA_NAMES}")
    return labels, proba


def eval_predictor(url: str, model: str, version: int | None = None, *,
                   batch_size: int = 256, timeout: float = 30.0
                   ) -> Callable[[np.ndarray], tuple[np.ndarray | None, np.ndarray | None]]:
    """The ``calipers eval --served`` source: features -> (labels, probabilities).

    Parameters
    ----------
    url, model, version
        The server's REST address (TF Serving or ``calipers serve``) and the model
        to ask.
    batch_size : int, default 256
        Rows per ``:predict`` request (row format).
    timeout : float, default 30
        Seconds per request.

    Returns
    -------
    callable
        ``predict(X) -> (labels or None, probabilities or None)``, recognised by
        :func:`split_outputs`. A request the server refuses raises ``ValueError``
        naming the URL, the model and the server's message.

    Raises
    ------
    ValueError
        For a bad URL (a ``grpc://`` one included: REST only), model, version,
        ``batch_size`` or ``timeout``.
    """
    client = Client(url, model, version, timeout=timeout)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")

    def predict(X: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        try:
            return split_outputs(predict_remote(client, X, batch_size=batch_size))
        except ServingError as exc:
            raise ValueError(f"the model server at {url} answered for model {model!r}: "
                             f"{exc}") from None

    return predict
