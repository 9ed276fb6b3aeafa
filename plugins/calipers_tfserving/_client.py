"""A client for TensorFlow Serving's REST API (and gRPC through tensorflow-serving-api).

Works unchanged against ``tensorflow_model_server --rest_api_port`` and ``calipers
serve``::

    client = Client("http://127.0.0.1:8501", "iris")
    client.status()                      # {"model_version_status": [...]}
    client.predict(X)                    # {"instances": X} -> "predictions"
    client.predict({"X": X}, columnar=True)  # {"inputs": ...} -> "outputs"
    client.classify([{"X": row} for row in X])  # "results": [[label, score], ...]

The JSON mapping is TF Serving's: numbers (``NaN``/``Infinity`` tokens included),
strings, booleans, and ``{"b64": ...}`` for bytes. A one-output model answers
without output names (an array here); several outputs come back as a dict.
Errors come back as :class:`ServingError` with the HTTP status and the server's
``"error"`` message.
"""

from __future__ import annotations

import base64
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: HTTP status -> the gRPC code TF Serving maps to it.
HTTP_CODES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
              404: "NOT_FOUND", 409: "ALREADY_EXISTS", 413: "INVALID_ARGUMENT",
              429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL",
              501: "UNIMPLEMENTED", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


class ServingError(RuntimeError):
    """A request the model server refused or failed.

    Attributes
    ----------
    status : int
        The HTTP status (gRPC: the HTTP status TF Serving maps the code to).
    code : str
        The gRPC-style code (``"INVALID_ARGUMENT"``, ``"NOT_FOUND"``...).
    message : str
        The server's error message.
    """

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        self.status = status
        self.code = code or HTTP_CODES.get(status, "UNKNOWN")
        self.message = message
        super().__init__(f"{self.code} (HTTP {status}): {message}")


# -- JSON <-> numpy ----------------------------------------------------------------------


def _plain(value: Any, where: str) -> Any:
    """numpy values as JSON-ready Python values (bytes as ``{"b64": ...}``)."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "SO" or value.dtype.kind == "V":
            return [_plain(v, where) for v in value.tolist()] if value.ndim else \
                _plain(value.item(), where)
        if value.dtype.kind not in "biufU":
            raise TypeError(f"{where}: arrays of dtype {value.dtype} have no JSON form")
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item() if not isinstance(value, np.bytes_) else _plain(bytes(value), where)
    if isinstance(value, (bytes, bytearray)):
        return {"b64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, where) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "numpy"):  # tensors
        return _plain(np.asarray(value.numpy()), where)
    if hasattr(value, "__array__"):
        return _plain(np.asarray(value), where)
    raise TypeError(f"{where}: {type(value).__name__} has no JSON form")


def _decode(value: Any) -> Any:
    """``{"b64": ...}`` objects back to bytes, recursively."""
    if isinstance(value, dict):
        if set(value) == {"b64"} and isinstance(value["b64"], str):
            return base64.b64decode(value["b64"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def to_array(value: Any) -> np.ndarray:
    """A JSON tensor value as a numpy array (bytes stay ``object``)."""
    value = _decode(value)
    arr = np.asarray(value, dtype=object) if _has_bytes(value) else np.asarray(value)
    return arr


def _has_bytes(value: Any) -> bool:
    if isinstance(value, bytes):
        return True
    if isinstance(value, list):
        return any(_has_bytes(v) for v in value)
    return False


def _rows(inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Named batches -> one object per row (TF Serving's row format, several inputs)."""
    arrays = {k: np.asarray(v) if not isinstance(v, list) else v for k, v in inputs.items()}
    sizes = {k: len(v) for k, v in arrays.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"the row format ('instances') needs every input to have the same "
                         f"0-th dimension, got {sizes}; use columnar=True")
    n = next(iter(sizes.values()), 0)
    return [{k: v[i] for k, v in arrays.items()} for i in range(n)]


class Client:
    """TF Serving client for one model: REST (``http://``, ``https://``) or ``grpc://``.

    Parameters
    ----------
    url : str
        The server: ``http://host:8501`` (REST) or ``grpc://host:8500``.
    model : str
        The model name.
    version : int, optional
        A fixed version; by default the server's latest.
    label : str, optional
        A version label (TF Serving's ``/labels/<label>``); not with ``version``.
    timeout : float, default 30
        Seconds per request.
    """

    def __init__(self, url: str, model: str, version: int | None = None, *,
                 label: str | None = None, timeout: float = 30.0) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https", "grpc") or not parsed.netloc:
            raise ValueError(f"url must look like http://host:8501 or grpc://host:8500, "
                             f"got {url!r}")
        if not isinstance(model, str) or not model or "/" in model or ":" in model:
            raise ValueError(f"invalid model name {model!r}")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)
                                    or version < 0):
            raise ValueError(f"version must be a non-negative integer, got {version!r}")
        if version is not None and label is not None:
            raise ValueError("give a version or a label, not both")
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        self.url = url.rstrip("/")
        self.model = model
        self.version = version
        self.label = label
        self.timeout = float(timeout)
        self.transport = "grpc" if parsed.scheme == "grpc" else "rest"
        self._grpc: Any = None
        if self.transport == "grpc":
            from calipers_tfserving._grpc import GrpcTransport

            self._grpc = GrpcTransport(parsed.netloc, model, version, label, self.timeout)

    def close(self) -> None:
        """Close the gRPC channel (REST clients hold no connection between requests)."""
        if self._grpc is not None:
            self._grpc.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Client({self.url!r}, {self.model!r}"
                + (f", version={self.version}" if self.version is not None else "") + ")")

    # -- REST plumbing ------------------------------------------------------------------

    def _path(self, verb: str | None = None, metadata: bool = False) -> str:
        path = f"{self.url}/v1/models/{urllib.parse.quote(self.model, safe='')}"
        if self.version is not None:
            path += f"/versions/{self.version}"
        elif self.label is not None:
            path += f"/labels/{urllib.parse.quote(self.label, safe='')}"
        if metadata:
            path += "/metadata"
        if verb:
            path += f":{verb}"
        return path

    def request(self, method: str, url: str, body: Any = None) -> Any:
        """Send one request; return the decoded JSON answer.

        Raises
        ------
        ServingError
            For an HTTP error status (with the server's ``"error"`` message).
        ConnectionError
            If the server cannot be reached.
        """
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            data = json.dumps(body, allow_nan=True).encode("utf-8")
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                message = json.loads(raw.decode("utf-8")).get("error", "")
            except (ValueError, AttributeError, UnicodeDecodeError):
                message = raw.decode("utf-8", "replace")[:500]
            raise ServingError(exc.code, message or str(exc.reason)) from None
        except urllib.error.URLError as exc:
            raise ConnectionError(f"cannot reach the model server at {self.url}: "
                                  f"{exc.reason}") from None
        try:
            return json.loads(payload.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ServingError(502, f"the server answered with invalid JSON: {exc}",
                               "INTERNAL") from None

    # -- API ----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The model's version status (``GetModelStatusResponse`` as TF Serving's JSON)."""
        if self._grpc is not None:
            return self._grpc.status()
        return self.request("GET", self._path())

    def versions(self) -> dict[int, str]:
        """``{version: state}`` from :meth:`status` (``"AVAILABLE"``, ``"LOADING"``...)."""
        return {int(v["version"]): v["state"]
                for v in self.status().get("model_version_status", [])}

    def metadata(self) -> dict[str, Any]:
        """The model's metadata (``model_spec`` and ``metadata.signature_def``)."""
        if self._grpc is not None:
            return self._grpc.metadata()
        return self.request("GET", self._path(metadata=True))

    def signature(self, name: str = "serving_default") -> dict[str, Any]:
        """A signature's inputs and outputs: ``{"inputs": {n: {"dtype", "shape"}}, ...}``.

        Shapes are lists of ints (``-1`` for a free dimension), ``None`` when the
        rank is unknown.
        """
        defs = self.metadata()["metadata"]["signature_def"]["signature_def"]
        if name not in defs:
            raise KeyError(f"model {self.model!r} has no signature {name!r}; it has "
                           f"{sorted(defs)}")

        def spec(info: Mapping[str, Any]) -> dict[str, Any]:
            shape = info.get("tensor_shape") or {}
            dims = None if shape.get("unknown_rank") else [
                int(d.get("size", -1)) for d in shape.get("dim", [])]
            return {"dtype": info.get("dtype"), "shape": dims}

        sig = defs[name]
        return {"inputs": {k: spec(v) for k, v in sig.get("inputs", {}).items()},
                "outputs": {k: spec(v) for k, v in sig.get("outputs", {}).items()},
                "method_name": sig.get("method_name")}

    def predict(self, inputs: Any, *, columnar: bool = False,
                signature_name: str | None = None) -> np.ndarray | dict[str, np.ndarray]:
        """Run the model on a batch.

        Parameters
        ----------
        inputs : array-like or dict
            One batch (a one-input model) or ``{input name: batch}``.
        columnar : bool, default False
            Send ``{"inputs": ...}`` (answer ``"outputs"``) instead of the row
            format ``{"instances": ...}`` (answer ``"predictions"``). The row
            format needs every input to share its 0-th dimension.
        signature_name : str, optional
            The signature (default: the server's ``serving_default``).

        Returns
        -------
        numpy.ndarray or dict[str, numpy.ndarray]
            An array when the model has one output (TF Serving omits its name),
            else ``{output name: array}``.
        """
        if self._grpc is not None:
            return self._grpc.predict(inputs, signature_name)
        body: dict[str, Any] = {}
        if signature_name is not None:
            body["signature_name"] = signature_name
        if columnar:
            body["inputs"] = _plain(inputs, "inputs")
        elif isinstance(inputs, Mapping):
            body["instances"] = _plain(_rows(inputs), "instances")
        else:
            body["instances"] = _plain(inputs, "instances")
        answer = self.request("POST", self._path("predict"), body)
        key = "outputs" if columnar else "predictions"
        if key not in answer:
            raise ServingError(502, f"the answer has no {key!r} key: {sorted(answer)}",
                               "INTERNAL")
        return self._outputs(answer[key], columnar)

    @staticmethod
    def _outputs(value: Any, columnar: bool) -> np.ndarray | dict[str, np.ndarray]:
        if columnar:
            if isinstance(value, dict):
                return {k: to_array(v) for k, v in value.items()}
            return to_array(value)
        if isinstance(value, list) and value and all(
                isinstance(v, dict) and set(v) != {"b64"} for v in value):
            names = list(value[0])
            return {n: to_array([row[n] for row in value]) for n in names}
        return to_array(value)

    def _examples(self, examples: Any) -> list[dict[str, Any]]:
        if isinstance(examples, Mapping):
            return _plain(_rows(examples), "examples")
        if isinstance(examples, Sequence) and not isinstance(examples, (str, bytes)) and all(
                isinstance(e, Mapping) for e in examples):
            return _plain(list(examples), "examples")
        raise TypeError("examples must be a list of {feature: value} objects or a dict "
                        "{feature: batch} (one example per row)")

    def _classify_regress(self, verb: str, examples: Any, context: Mapping[str, Any] | None,
                          signature_name: str | None) -> list[Any]:
        body: dict[str, Any] = {"examples": self._examples(examples)}
        if context:
            body["context"] = _plain(dict(context), "context")
        if signature_name is not None:
            body["signature_name"] = signature_name
        if self._grpc is not None:
            return self._grpc.classify_regress(verb, body)
        answer = self.request("POST", self._path(verb), body)
        if "results" not in answer:
            raise ServingError(502, f"the answer has no 'results' key: {sorted(answer)}",
                               "INTERNAL")
        return answer["results"]

    def classify(self, examples: Any, *, context: Mapping[str, Any] | None = None,
                 signature_name: str | None = None) -> list[list[tuple[str, float]]]:
        """Classify examples: per example, ``[(label, score), ...]``.

        ``examples`` is a list of ``{feature: value}`` objects (TF Serving's
        Example form) or a dict ``{feature: batch}``; ``context`` holds features
        shared by all.
        """
        results = self._classify_regress("classify", examples, context, signature_name)
        return [[(str(label), float(score)) for label, score in row] for row in results]

    def regress(self, examples: Any, *, context: Mapping[str, Any] | None = None,
                signature_name: str | None = None) -> np.ndarray:
        """Regress examples (as :meth:`classify`): one float per example."""
        results = self._classify_regress("regress", examples, context, signature_name)
        return np.asarray([math.nan if v is None else float(v) for v in results])
