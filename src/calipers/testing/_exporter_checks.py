"""Conformance checks for exporters: what every ``register_exporter`` class must do.

Each check exports the given model through the host (``calipers.export``), in a
fresh temporary directory of its own, and looks at the artifact the way users and
``calipers serve`` will: ``calipers.load``, ``calipers.verify``, ``manifest.json``.

An exporter is given as its registered name (or one of its format names) or as the
class itself, registered or not, so that a plugin author can check a class before
publishing it. An unregistered class is registered for the duration of each check
only, with :func:`calipers.plugins.registered`: a copy of the plugin registry holds
the class under its ``name`` (shadowing an installed exporter of that name) and the
original is put back afterwards. Other threads using ``calipers.plugins`` during a
check see the copy.

This module holds ``check_exporter_class`` and the entry points; the other rules
live in ``_exporter_artifact_checks`` (what the artifact holds and computes) and
``_exporter_file_checks`` (its files and what is around it), their shared helpers in
``_exporter_target``.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from calipers.testing._common import Check, run_all
from calipers.testing._exporter_artifact_checks import (
    check_export_load_parity,
    check_manifest_complete,
    check_parity_detects_drift,
    check_runner_stable,
)
from calipers.testing._exporter_file_checks import (
    check_artifact_self_contained,
    check_no_overwrite,
    check_tampering_refused,
    check_unsupported_model_refused,
)
from calipers.testing._exporter_target import _call, _registered, _Target

__all__ = ["check_exporter", "exporter_checks"]


def check_exporter_class(t: _Target) -> None:
    """The class passes the host's registration checks and supports the given model."""
    from calipers._registry import InvalidContribution, validate_result
    from calipers.export import Exporter
    from calipers.export._verify import TOLERANCE_KEYS

    rule = "check_exporter_class"
    cls = t.cls
    try:
        validate_result("exporter", [cls])
    except InvalidContribution as exc:
        raise t.fail(rule, f"the host would refuse to register it: {exc}",
                     "subclass calipers.export.Exporter, set `name` and implement export "
                     "and load") from None
    missing = [m for m in ("load", "prepare_inputs", "model_outputs")
               if not callable(getattr(cls, m, None))]
    if missing:
        raise t.fail(rule, f"it lacks {', '.join(missing)}, which calipers.load and "
                     "calipers.verify call", "subclass calipers.export.Exporter")
    if getattr(cls, "load", None) is Exporter.load:
        raise t.fail(rule, "it does not implement load(path, manifest, trusted): its "
                     "artifacts cannot be opened with calipers.load",
                     "implement load() returning a runner with run(inputs) -> {name: array}")
    handles = getattr(cls, "handles", None)
    formats = tuple(handles()) if callable(handles) else (cls.name,)
    if cls.name not in formats:
        raise t.fail(rule, f"handles() returns {formats}, without its name {cls.name!r}",
                     "keep the name among the format names (Exporter.handles does)")
    tolerance = getattr(cls, "tolerance", {})
    if not isinstance(tolerance, Mapping):
        raise t.fail(rule, f"its tolerance is {tolerance!r}, not a dict",
                     f"set tolerance to a dict with keys among {TOLERANCE_KEYS}")
    unknown = sorted(set(tolerance) - set(TOLERANCE_KEYS))
    if unknown:
        raise t.fail(rule, f"its tolerance has unknown key(s) {unknown}, which verify ignores",
                     f"use only {', '.join(TOLERANCE_KEYS)}")
    for key, value in tolerance.items():
        top = 1.0 if key == "min_label_agreement" else math.inf
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not 0 <= value <= top or not math.isfinite(value)):
            raise t.fail(rule, f"its tolerance {key}={value!r} is not a finite number in "
                         f"[0, {top:g}]", f"set tolerance[{key!r}] to a number in [0, {top:g}]")
    instance = _call(t, rule, f"{cls.__qualname__}()",
                     "exporters are constructed without arguments; take options in export()",
                     cls)
    supports = getattr(instance, "supports", None)
    if callable(supports) and not _call(t, rule, "supports(model)",
                                        "supports() must return a bool",
                                        lambda: supports(t.model)):
        raise t.fail(rule, f"supports(model) is False for the model given to the checks "
                     f"({type(t.model).__module__}.{type(t.model).__qualname__})",
                     "pass a model this exporter exports, or make supports() accept it")


_CHECKS: tuple[Callable[[_Target], None], ...] = (
    check_exporter_class,
    check_export_load_parity,
    check_manifest_complete,
    check_runner_stable,
    check_parity_detects_drift,
    check_artifact_self_contained,
    check_tampering_refused,
    check_no_overwrite,
    check_unsupported_model_refused,
)


def _resolve(exporter: Any, model: Any) -> tuple[type, str]:
    """The exporter class and the format to export with."""
    from calipers import plugins
    from calipers.export import exporter_for

    if isinstance(exporter, str):
        try:
            return plugins.get("exporter", exporter), exporter
        except ValueError:
            if exporter in plugins.names("exporter"):
                raise  # a conflict: the message names the plugins
            try:  # a format name: the exporter that would export this model
                return type(exporter_for(exporter, model)), exporter
            except TypeError:  # supports() is False: check_exporter_class reports it
                return type(exporter_for(exporter)), exporter
    if inspect.isclass(exporter):
        name = getattr(exporter, "name", None)
        return exporter, name if isinstance(name, str) and name else exporter.__qualname__
    raise TypeError(
        f"exporter must be an Exporter class or a registered exporter name, got "
        f"{exporter!r:.80}; pass the class itself, not an instance"
    )


def _run_check(fn: Callable[[_Target], None], t: _Target) -> None:
    if fn is check_exporter_class:
        fn(t)
        return
    with _registered(t, fn.__name__):
        fn(t)


def exporter_checks(
    exporter: Any,
    model: Any,
    sample: Any,
    *,
    trusted: bool = False,
    export_options: Mapping[str, Any] | None = None,
    load_options: Mapping[str, Any] | None = None,
    format: str | None = None,
    id: str | None = None,
) -> Iterator[Check]:
    """Yield the conformance checks of an exporter, one :class:`Check` per rule.

    Rules: ``check_exporter_class`` (registrable, supports ``model``),
    ``check_export_load_parity`` (export / load / run reproduce the model within the
    manifest's tolerance; declared output dtypes and shapes; the reference sample;
    ``calipers.verify`` and ``Exporter.verify`` pass), ``check_manifest_complete``,
    ``check_runner_stable`` (same outputs call after call, row by row and for any
    row order), ``check_parity_detects_drift`` (verify fails when any output
    drifts), ``check_artifact_self_contained`` (nothing written beside the artifact
    or into it when loaded), ``check_tampering_refused``, ``check_no_overwrite``,
    ``check_unsupported_model_refused``. Each works in its own temporary directory.

    Parameters
    ----------
    exporter : type or str
        The Exporter class (registered or not: an unregistered one is registered
        under its ``name`` while each check runs, see the module docstring), or a
        registered exporter or format name.
    model : object
        A trained model the exporter supports (keep it small: every check exports it).
    sample : array-like or dict
        Inputs of the model (a few dozen rows): the export sample and the inputs
        parity is checked on.
    trusted : bool, default False
        Passed to ``calipers.load`` and ``calipers.verify`` (pickle needs True).
    export_options : dict, optional
        Exporter options passed to ``calipers.export`` (e.g. ``{"task":
        "classifier"}``).
    load_options : dict, optional
        Further keyword arguments of ``calipers.load``.
    format : str, optional
        The format name to export with (default: the exporter's name, or the name
        given as ``exporter``).
    id : str, optional
        Shown after the exporter's name in failure messages.

    Yields
    ------
    Check
        Call it to run the rule; it raises :class:`CheckFailure` when broken.

    Raises
    ------
    ValueError, TypeError
        At once, for an unknown exporter name or invalid options.
    """
    import calipers

    cls, default_format = _resolve(exporter, model)
    export_options = dict(export_options or {})
    reserved = sorted({"sample", "overwrite", "path", "model", "format"} & set(export_options))
    if reserved:
        raise ValueError(f"export_options must not hold {reserved}: the checks set them")
    loads = {"trusted": trusted, **dict(load_options or {})}
    try:
        inspect.signature(calipers.load).bind("path", **loads)
    except TypeError as exc:
        raise TypeError(f"load_options {dict(load_options or {})!r} do not fit "
                        f"calipers.load: {exc}") from None
    name = getattr(cls, "name", None) or cls.__qualname__
    subject = f"exporter {name!r}" + (f" ({id})" if id else "")
    target = _Target(cls, format or default_format, model, sample, export_options, loads,
                     subject)
    for fn in _CHECKS:
        yield Check(fn.__name__, subject, functools.partial(_run_check, fn, target))


def check_exporter(exporter: Any, model: Any, sample: Any, **kwargs: Any) -> None:
    """Run every exporter check; raise the first :class:`CheckFailure`.

    Takes the arguments of :func:`exporter_checks`.

    Examples
    --------
    >>> check_exporter(MyExporter, model, X_test[:40])          # doctest: +SKIP
    >>> check_exporter("pickle", model, X_test[:40], trusted=True)  # doctest: +SKIP
    """
    run_all(exporter_checks(exporter, model, sample, **kwargs))
