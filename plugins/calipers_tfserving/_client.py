"""TF Serving client over REST and gRPC: the host's REST client plus a ``grpc://`` transport.

The REST API (status, metadata, predict in row and columnar form, classify,
regress) is :class:`calipers.serve.client.Client`, which needs no TensorFlow and
which ``calipers eval --served`` uses. This subclass adds TF Serving's gRPC port
(``grpc://host:8500``) through ``tensorflow-serving-api``
(:mod:`calipers_tfserving._grpc`); answers are shaped as the REST API's so both
transports return the same things::

    client = Client("grpc://127.0.0.1:8500", "iris")
    client.predict(X)                    # as over REST
"""

from __future__ import annotations

from typing import Any

import numpy as np

from calipers.serve import client as rest
from calipers.serve.client import ServingError

__all__ = ["Client", "ServingError"]


class Client(rest.Client):
    """TF Serving client for one model: REST (``http://``, ``https://``) or ``grpc://``.

    Parameters
    ----------
    url : str
        The server: ``http://host:8501`` (REST) or ``grpc://host:8500`` (gRPC:
        needs ``tensorflow-serving-api`` and TensorFlow).
    model : str
        The model name.
    version : int, optional
        A fixed version; by default the server's latest.
    label : str, optional
        A version label (TF Serving's ``/labels/<label>``); not with ``version``.
    timeout : float, default 30
        Seconds per request.

    Over REST every method is :class:`calipers.serve.client.Client`'s.
    """

    #: The gRPC transport of a ``grpc://`` client (None over REST).
    _grpc: Any = None

    def _open_grpc(self, target: str) -> None:
        from calipers_tfserving._grpc import GrpcTransport

        self._grpc = GrpcTransport(target, self.model, self.version, self.label, self.timeout)

    def close(self) -> None:
        """Close the gRPC channel (REST clients hold no connection between requests)."""
        if self._grpc is not None:
            self._grpc.close()

    def status(self) -> dict[str, Any]:
        """The model's version status (``GetModelStatusResponse`` as TF Serving's JSON)."""
        if self._grpc is not None:
            return self._grpc.status()
        return super().status()

    def metadata(self) -> dict[str, Any]:
        """The model's metadata (``model_spec`` and ``metadata.signature_def``)."""
        if self._grpc is not None:
            return self._grpc.metadata()
        return super().metadata()

    def predict(self, inputs: Any, *, columnar: bool = False,
                signature_name: str | None = None) -> np.ndarray | dict[str, np.ndarray]:
        """Run the model on a batch (see :meth:`calipers.serve.client.Client.predict`).

        Over gRPC ``columnar`` makes no difference: tensors always travel whole.
        """
        if self._grpc is not None:
            return self._grpc.predict(inputs, signature_name)
        return super().predict(inputs, columnar=columnar, signature_name=signature_name)

    def _send_examples(self, verb: str, body: dict[str, Any]) -> list[Any]:
        if self._grpc is not None:
            return self._grpc.classify_regress(verb, body)
        return super()._send_examples(verb, body)
