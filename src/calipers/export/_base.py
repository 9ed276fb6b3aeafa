"""The :class:`Exporter` base class (re-exported as ``calipers.export.Exporter``)."""

from __future__ import annotations

import abc
import pathlib
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from calipers.export._outputs import as_inputs, estimator_outputs

#: Parity tolerances used when neither the exporter nor the manifest gives them.
DEFAULT_TOLERANCE: dict[str, float] = {"rtol": 1e-7, "atol": 1e-12, "min_label_agreement": 1.0}
#: Optional exporter operations (:attr:`Exporter.capabilities`) -> what each does.
CAPABILITIES: dict[str, str] = {
    "quantize": "writes a quantized copy of an artifact (calipers.quantize)",
    "runtime_threads": "reads or sets the intra-op threads of the sessions its runtime "
    "creates from now on (calipers serve --intra-op-threads): runtime_threads() -> current, "
    "runtime_threads(n) -> previous; None means the runtime's own default",
}


@runtime_checkable
class Runner(Protocol):
    """What :meth:`Exporter.load` returns: runs the loaded model on named inputs.

    ``close()`` is optional; :meth:`calipers.export.Artifact.close` calls it when
    present.
    """

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Return ``{output name: array}`` for ``{input name: array}``."""


class Exporter(abc.ABC):
    """Base class of exporters (``skops``, ``pickle``, ``onnx``, ``tfserving``, ...).

    Subclasses set :attr:`name` (and :attr:`formats` if they handle format names
    other than their own name) and implement :meth:`export` and :meth:`load`.
    They are constructed without arguments; per-export options are keyword
    arguments of :meth:`export`.

    ``calipers.export(model, format, path, sample=X)`` creates a temporary
    directory, calls :meth:`export` to write the model file(s) into it, adds the
    reference sample (:meth:`prepare_inputs`, :meth:`model_outputs`) and
    ``manifest.json``, and renames the directory into place. ``calipers.load``
    checks the hashes and then calls :meth:`load`. :meth:`verify` compares the
    artifact with the model through those two.
    """

    #: Registry name, e.g. ``"onnx"``.
    name: ClassVar[str] = ""
    #: Format names this exporter writes (its :attr:`name` is always one of them).
    formats: ClassVar[tuple[str, ...]] = ()
    #: Parity tolerances recorded in the manifest (``rtol``, ``atol``,
    #: ``min_label_agreement``); missing keys come from :data:`DEFAULT_TOLERANCE`.
    tolerance: ClassVar[dict[str, float]] = {}
    #: Optional operations this exporter implements on its artifacts, from
    #: :data:`CAPABILITIES` (``"quantize"``: :meth:`quantize`). The host asks
    #: :meth:`can` before calling one, and names the exporters that can when the
    #: exporter of an artifact cannot.
    capabilities: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def can(cls, capability: str) -> bool:
        """Return whether this exporter implements the optional operation ``capability``.

        Raises
        ------
        ValueError
            If ``capability`` is not one of :data:`CAPABILITIES`.
        """
        return has_capability(cls, capability)

    @classmethod
    def handles(cls) -> tuple[str, ...]:
        """Every format name this exporter answers to."""
        return (cls.name, *(f for f in cls.formats if f != cls.name))

    def supports(self, model: Any) -> bool:
        """Return whether this exporter can export ``model`` (default: anything)."""
        return True

    @abc.abstractmethod
    def export(
        self, model: Any, path: str | pathlib.Path, sample: Any, **options: Any
    ) -> dict[str, Any] | pathlib.Path:
        """Write ``model``'s file(s) into the directory ``path``.

        Parameters
        ----------
        model : object
            The trained model, of a type this exporter supports.
        path : str or pathlib.Path
            An existing, empty (temporary) directory. Write files only inside it.
        sample : array-like or dict
            Representative inputs: they fix the input schema.
        **options
            Exporter-specific options.

        Returns
        -------
        dict
            The manifest fields the exporter knows, any of: ``inputs``,
            ``outputs`` (lists of ``{"name", "dtype", "shape"}``), ``libraries``
            (``{distribution: version}``), ``options`` (JSON-safe), ``model_type``,
            ``task``, ``classes``, ``tolerance``. The host fills in the rest
            (hashes, versions, time, reference sample). Exporters written for
            calipers 0.1 returned the artifact path instead; they still work when
            called directly, but ``calipers.export`` needs the dict.

        Raises
        ------
        TypeError
            If this exporter does not support ``type(model)``; the message names
            the type and the supported ones.
        """

    def load(self, path: pathlib.Path, manifest: dict[str, Any], trusted: bool) -> Runner:
        """Deserialize the artifact at ``path`` and return a :class:`Runner`.

        Called by :func:`calipers.load` after every file's hash was checked.

        Parameters
        ----------
        path : pathlib.Path
            The artifact directory.
        manifest : dict
            Its checked manifest.
        trusted : bool
            Whether the caller trusts the artifact's origin. Formats that can run
            arbitrary code when loaded must refuse to load when it is False.

        Raises
        ------
        calipers.errors.ArtifactError
            If the artifact cannot be loaded safely or is malformed.
        """
        raise NotImplementedError(
            f"exporter {self.name!r} ({type(self).__name__}) does not implement "
            "load(path, manifest, trusted); its artifacts cannot be opened with calipers.load"
        )

    def quantize(
        self, path: pathlib.Path, out: str | pathlib.Path, **options: Any
    ) -> dict[str, Any]:
        """Write a quantized copy of the artifact at ``path`` as a new artifact at ``out``.

        Optional capability: an exporter that implements it also lists
        ``"quantize"`` in :attr:`capabilities`. :func:`calipers.quantize` reads
        the artifact's manifest (checking every file's hash), finds the exporter
        that wrote it through the registry and calls this.

        Parameters
        ----------
        path : pathlib.Path
            An artifact this exporter wrote (its hashes were checked).
        out : str or pathlib.Path
            The new artifact directory; write it with :func:`calipers.export`
            (``overwrite`` is one of ``options`` when the exporter takes it).
        **options
            Exporter-specific options (the ``onnx`` exporter: ``mode``,
            ``calibration``, ``eval_data``, ``metrics``, ...).

        Returns
        -------
        dict
            A JSON-safe report of what quantization changed (sizes, latency,
            metrics, ...), as the exporter defines it.

        Raises
        ------
        NotImplementedError
            From this base: the exporter cannot quantize.
        """
        raise NotImplementedError(
            f"exporter {self.name!r} ({type(self).__name__}) does not implement "
            "quantize(path, out, **options)"
        )

    def prepare_inputs(self, sample: Any, names: list[str] | None = None) -> dict[str, np.ndarray]:
        """Turn a sample (one array, or a dict of them) into named numpy arrays."""
        return as_inputs(sample, names)

    def model_outputs(self, model: Any, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the original ``model`` on named inputs; return its named outputs.

        The names must be the artifact's output names: this is what the
        manifest's reference sample and :func:`calipers.verify` compare with. The
        default handles scikit-learn-style estimators with one input
        (``label``/``probabilities`` for classifiers, ``prediction`` otherwise).
        """
        if len(inputs) != 1:
            raise TypeError(
                f"exporter {self.name!r}: the default model_outputs takes one input, got "
                f"{sorted(inputs)}; override model_outputs for multi-input models"
            )
        return estimator_outputs(model, next(iter(inputs.values())))

    def verify(
        self, path: str | pathlib.Path, model: Any, sample: Any, *, trusted: bool = False
    ) -> dict[str, Any]:
        """Check that the artifact at ``path`` reproduces ``model`` on ``sample``.

        Returns
        -------
        dict
            :meth:`calipers.export.ParityReport.to_dict` plus ``"ok"`` and
            ``"max_abs_diff"`` (the largest over all numeric outputs). It does not
            raise on a mismatch: the caller decides what a failed parity means.
        """
        from calipers.export._verify import verify

        report = verify(path, model, sample, trusted=trusted, raise_on_fail=False)
        result = report.to_dict()
        result["max_abs_diff_per_output"] = result.pop("max_abs_diff")
        result["max_abs_diff"] = max(report.max_abs_diff.values(), default=0.0)
        return result

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def exporter_for(fmt: str, model: Any = None) -> Exporter:
    """Return an instance of the exporter registered for format ``fmt``.

    When several exporters handle ``fmt``, the ones that support ``model`` are
    kept, then the one whose name is ``fmt``.

    Raises
    ------
    ValueError
        If no exporter handles ``fmt`` (the message lists the available ones), or
        several do and none is preferred.
    TypeError
        If the exporter does not support ``model``.
    """
    from calipers import plugins

    if not isinstance(fmt, str):
        raise TypeError(f"format must be a string such as 'skops' or 'onnx', got {fmt!r}")
    candidates = [cls for cls in plugins.classes("exporter") if fmt in _handles(cls)]
    if not candidates:
        plugins.get("exporter", fmt)  # raises: unknown name, with close matches and hints
    instances = [cls() for cls in candidates]
    if model is not None and len(instances) > 1:
        instances = [e for e in instances if e.supports(model)] or instances
    if len(instances) > 1:
        named = [e for e in instances if e.name == fmt]
        if not named:
            names = ", ".join(repr(e.name) for e in instances)
            raise ValueError(f"format {fmt!r} is written by several exporters ({names}); "
                             "pass one of their names as the format")
        instances = named
    exporter = instances[0]
    if model is not None and hasattr(exporter, "supports") and not exporter.supports(model):
        raise TypeError(
            f"exporter {exporter.name!r} does not support {type(model).__module__}."
            f"{type(model).__qualname__} models"
        )
    return exporter


def _handles(cls: type) -> tuple[str, ...]:
    handles = getattr(cls, "handles", None)
    return tuple(handles()) if callable(handles) else (cls.name,)


def has_capability(cls: Any, capability: str) -> bool:
    """Whether the exporter class ``cls`` declares ``capability`` and has it callable.

    Works for any exporter class, not only :class:`Exporter` subclasses: one that
    does not declare :attr:`Exporter.capabilities` has none.

    Raises
    ------
    ValueError
        If ``capability`` is not one of :data:`CAPABILITIES`.
    """
    if capability not in CAPABILITIES:
        raise ValueError(
            f"unknown exporter capability {capability!r}; expected one of "
            f"{', '.join(map(repr, CAPABILITIES))}"
        )
    declared = getattr(cls, "capabilities", ())
    if isinstance(declared, str):  # ``capabilities = "quantize"``: one name, not letters
        declared = (declared,)
    return capability in declared and callable(getattr(cls, capability, None))


def capable_exporters(capability: str) -> list[str]:
    """Names of the installed exporters that declare ``capability``, in registry order."""
    from calipers import plugins

    return [cls.name for cls in plugins.classes("exporter") if has_capability(cls, capability)]
