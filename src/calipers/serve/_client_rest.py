"""The REST transport of :mod:`calipers.serve.client`: :class:`Client` and its errors."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from calipers.serve._client_json import outputs, rows, to_json

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


class Client:
    """TF Serving REST client for one model (``http://`` or ``https://``).

    Parameters
    ----------
    url : str
        The server: ``http://host:8501``. A ``grpc://`` URL needs
        ``calipers_tfserving.Client`` (this class raises ``ValueError`` for one).
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
        if self.transport == "grpc":
            self._open_grpc(parsed.netloc)

    def _open_grpc(self, target: str) -> None:
        """Open the gRPC transport to ``target`` (``host:port``); REST-only here."""
        raise ValueError(
            f"{self.url!r}: grpc:// URLs need calipers_tfserving.Client (pip install "
            "'calipers[tfserving]' plus tensorflow-serving-api); "
            "calipers.serve.client.Client speaks REST: give the server's REST port as "
            "http://host:8501"
        )

    @classmethod
    def coerce(cls, server: Client | str, model: str | None = None,
               version: int | None = None, *, timeout: float = 30.0) -> Client:
        """``server`` as a client: a :class:`Client` as is, a URL as a new ``cls``.

        Raises
        ------
        ValueError
            If a client for another model is given with ``model``, or a URL without
            ``model``.
        """
        if isinstance(server, Client):
            if model is not None and model != server.model:
                raise ValueError(f"the client is for model {server.model!r}, not {model!r}")
            return server
        if model is None:
            raise ValueError("give the model name (model=...) with a URL")
        return cls(server, model, version, timeout=timeout)

    def close(self) -> None:
        """Release the connection (REST clients hold none between requests)."""

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.url!r}, {self.model!r}"
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
        return self.request("GET", self._path())

    def versions(self) -> dict[int, str]:
        """``{version: state}`` from :meth:`status` (``"AVAILABLE"``, ``"LOADING"``...)."""
        return {int(v["version"]): v["state"]
                for v in self.status().get("model_version_status", [])}

    def metadata(self) -> dict[str, Any]:
        """The model's metadata (``model_spec`` and ``metadata.signature_def``)."""
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
        body: dict[str, Any] = {}
        if signature_name is not None:
            body["signature_name"] = signature_name
        if columnar:
            body["inputs"] = to_json(inputs, "inputs")
        elif isinstance(inputs, Mapping):
            body["instances"] = to_json(rows(inputs), "instances")
        else:
            body["instances"] = to_json(inputs, "instances")
        answer = self.request("POST", self._path("predict"), body)
        key = "outputs" if columnar else "predictions"
        if key not in answer:
            raise ServingError(502, f"the answer has no {key!r} key: {sorted(answer)}",
                               "INTERNAL")
        return outputs(answer[key], columnar)

    @staticmethod
    def _examples(examples: Any) -> list[dict[str, Any]]:
        if isinstance(examples, Mapping):
            return to_json(rows(examples), "examples")
        if isinstance(examples, Sequence) and not isinstance(examples, (str, bytes)) and all(
                isinstance(e, Mapping) for e in examples):
            return to_json(list(examples), "examples")
        raise TypeError("examples must be a list of {feature: value} objects or a dict "
                        "{feature: batch} (one example per row)")

    def _send_examples(self, verb: str, body: dict[str, Any]) -> list[Any]:
        """POST a classify/regress ``body``; return its ``"results"``."""
        answer = self.request("POST", self._path(verb), body)
        if "results" not in answer:
            raise ServingError(502, f"the answer has no 'results' key: {sorted(answer)}",
                               "INTERNAL")
        return answer["results"]

    def _classify_regress(self, verb: str, examples: Any, context: Mapping[str, Any] | None,
                          signature_name: str | None) -> list[Any]:
        body: dict[str, Any] = {"examples": self._examples(examples)}
        if context:
            body["context"] = to_json(dict(context), "context")
        if signature_name is not None:
            body["signature_name"] = signature_name
        return self._send_examples(verb, body)

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
