"""Model export: the :class:`Exporter` contract.

An exporter writes a model to a self-describing artifact directory and checks that
the artifact reproduces the model. Plugins add exporters with the
``register_exporter`` hook; ``calipers.plugins.get("exporter", name)`` finds them.
This import path is stable for third parties.
"""

from __future__ import annotations

import abc
import pathlib
from typing import Any, ClassVar

__all__ = ["Exporter"]


class Exporter(abc.ABC):
    """Base class of exporters (``onnx``, ``tfserving``, ...).

    Subclasses set :attr:`name` and implement :meth:`export` and :meth:`verify`.
    They are constructed without arguments; options go in the subclass's
    constructor as keyword arguments with defaults.
    """

    #: Registry name, e.g. ``"onnx"``.
    name: ClassVar[str] = ""

    @abc.abstractmethod
    def export(self, model: Any, path: str | pathlib.Path, sample: Any) -> pathlib.Path:
        """Write ``model`` as an artifact directory at ``path`` and return its path.

        Parameters
        ----------
        model : object
            The trained model, of a type this exporter supports.
        path : str or pathlib.Path
            The artifact directory to create.
        sample : array-like
            A few representative inputs: they fix the input schema recorded in the
            manifest and are what :meth:`verify` compares on.

        Returns
        -------
        pathlib.Path
            The artifact directory. It holds the model file(s) and a
            ``manifest.json`` with the files' hashes, the input schema and the
            versions of the libraries involved.

        Raises
        ------
        TypeError
            If this exporter does not support ``type(model)``; the message names
            the type and the supported ones.
        """

    @abc.abstractmethod
    def verify(self, path: str | pathlib.Path, model: Any, sample: Any) -> dict[str, Any]:
        """Check that the artifact at ``path`` reproduces ``model`` on ``sample``.

        Parameters
        ----------
        path : str or pathlib.Path
            An artifact directory written by :meth:`export`.
        model : object
            The model it was exported from.
        sample : array-like
            Inputs to run through both.

        Returns
        -------
        dict
            A report with at least ``"ok"`` (bool: outputs agree within the
            exporter's tolerance) and ``"max_abs_diff"`` (float). It does not raise
            on a mismatch: the caller decides what a failed parity means.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
