"""``calipers.verify``: does an artifact reproduce its model? A parity report per output."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from calipers.errors import ParityError
from calipers.export._manifest import jsonable

TOLERANCE_KEYS = ("rtol", "atol", "min_label_agreement")


@dataclass
class ParityReport:
    """How closely an artifact's outputs match the original model's.

    Attributes
    ----------
    n : int
        Rows compared.
    ok : bool
        Every numeric output within tolerance and every label output agreeing at
        least ``min_label_agreement`` of the time.
    max_abs_diff : dict[str, float]
        Per numeric output: ``max |artifact - model|`` (0 when NaNs coincide,
        ``inf`` when only one side is NaN).
    max_rel_diff : dict[str, float]
        Per numeric output: ``max |artifact - model| / |model|`` (``inf`` where the
        model gives exactly 0 and the artifact does not).
    label_agreement : float or None
        The lowest agreement rate over label outputs (a row agrees when all its
        values are equal); None if there is no label output.
    label_agreements : dict[str, float]
        Agreement rate per label output.
    tolerance : dict[str, float]
        ``rtol``, ``atol`` and ``min_label_agreement`` used: a numeric output
        passes when ``|artifact - model| <= atol + rtol * |model|`` everywhere.
    passed_by : dict[str, str]
        Per numeric output, which tolerance made it pass: ``"exact"`` (no
        difference), ``"rtol"`` (``rtol * |model|`` alone covers every difference),
        ``"atol"`` (``atol`` alone does, ``rtol`` alone would not: a large max
        relative diff then comes from model values near 0), ``"atol+rtol"``
        (neither alone would pass), or ``"failed"``.
    allowance_used : dict[str, float]
        Per numeric output, ``max |artifact - model| / (atol + rtol * |model|)``:
        at most 1 when it passes.
    failures : list[str]
        One line per failed check.
    """

    n: int
    ok: bool
    max_abs_diff: dict[str, float] = field(default_factory=dict)
    max_rel_diff: dict[str, float] = field(default_factory=dict)
    label_agreement: float | None = None
    label_agreements: dict[str, float] = field(default_factory=dict)
    tolerance: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    passed_by: dict[str, str] = field(default_factory=dict)
    allowance_used: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-safe types (non-finite numbers become ``None``)."""
        return jsonable(asdict(self), "report")

    def __str__(self) -> str:
        tol = self.tolerance
        shown = (f" (rtol {tol['rtol']:g}, atol {tol['atol']:g}, min label agreement "
                 f"{tol['min_label_agreement']:g})" if tol else "")
        lines = [f"parity on {self.n} rows: {'ok' if self.ok else 'FAILED'}{shown}"]
        for name, diff in self.max_abs_diff.items():
            verdict = _verdict(self.passed_by.get(name, ""), tol,
                               self.allowance_used.get(name))
            lines.append(
                f"  {name}: max abs diff {diff:.3g}, max rel diff "
                f"{self.max_rel_diff[name]:.3g}" + (f"; {verdict}" if verdict else "")
            )
        for name, rate in self.label_agreements.items():
            lines.append(f"  {name}: label agreement {rate:.6g}")
        lines.extend(f"  failed: {line}" for line in self.failures)
        return "\n".join(lines)


def _verdict(passed_by: str, tol: Mapping[str, float], used: float | None) -> str:
    """Which tolerance a numeric output passed by, in words (why "ok" next to a big diff)."""
    if not passed_by or not tol:
        return ""
    if passed_by == "exact":
        return "ok: identical"
    rtol, atol = f"rtol {tol['rtol']:g}", f"atol {tol['atol']:g}"
    share = "" if used is None else f"; worst element at {used:.0%} of atol + rtol * |model|"
    if passed_by == "rtol":
        return f"ok by {rtol}: |diff| <= rtol * |model| everywhere ({share[2:]})"
    if passed_by == "atol":
        return (f"ok by {atol}: |diff| <= atol everywhere, {rtol} alone would fail (the "
                f"large relative diffs are at model values near 0{share})")
    if passed_by == "atol+rtol":
        return f"ok by {atol} + {rtol} * |model| (neither alone would pass{share})"
    return f"FAILED: exceeds {atol} + {rtol} * |model|"


def _is_label(name: str, expected: np.ndarray) -> bool:
    return name == "label" or expected.dtype.kind not in "fc"


def _compare_labels(name: str, got: np.ndarray, want: np.ndarray) -> float:
    if want.dtype.kind in "USO" or got.dtype.kind in "USO":
        got, want = got.astype(str), want.astype(str)
    equal = got == want
    rows = equal.reshape(len(equal), -1).all(axis=1) if equal.ndim > 1 else equal
    return float(rows.mean()) if len(rows) else 1.0


@dataclass
class _NumericParity:
    max_abs: float
    max_rel: float
    first_bad: int  # flat index of the first element out of tolerance, or -1
    passed_by: str  # "exact", "rtol", "atol", "atol+rtol" or "failed"
    allowance_used: float  # max diff / (atol + rtol * |model|)


def _compare_numbers(got: np.ndarray, want: np.ndarray, rtol: float, atol: float
                     ) -> _NumericParity:
    a = got.astype(np.float64, copy=False)
    b = want.astype(np.float64, copy=False)
    both_nan = np.isnan(a) & np.isnan(b)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        diff = np.where(both_nan, 0.0, np.abs(a - b))
        diff = np.where(np.isnan(diff), np.inf, diff)
        rel = np.where(diff == 0, 0.0, diff / np.abs(b))
        rel = np.where(np.isnan(rel), np.inf, rel)
        allowance = atol + rtol * np.abs(b)
        bad = ~(diff <= allowance) & ~both_nan
        used = np.where(diff == 0, 0.0, diff / allowance)
        used = np.where(np.isnan(used), np.inf, used)
    max_abs = float(diff.max()) if diff.size else 0.0
    max_rel = float(rel.max()) if rel.size else 0.0
    first = int(np.flatnonzero(bad.ravel())[0]) if bad.any() else -1
    if first >= 0:
        passed_by = "failed"
    elif max_abs == 0:
        passed_by = "exact"
    elif bool(np.all((diff <= rtol * np.abs(b)) | both_nan)):
        passed_by = "rtol"
    elif max_abs <= atol:
        passed_by = "atol"
    else:
        passed_by = "atol+rtol"
    return _NumericParity(max_abs, max_rel, first, passed_by,
                          float(used.max()) if used.size else 0.0)


def compare_outputs(
    got: Mapping[str, Any], want: Mapping[str, Any], tolerance: Mapping[str, float]
) -> ParityReport:
    """Compare an artifact's outputs ``got`` with the model's ``want`` (same names).

    Outputs the model has and the artifact lacks fail; extra artifact outputs are
    ignored.
    """
    tol = {k: float(tolerance[k]) for k in TOLERANCE_KEYS}
    first = next(iter(want.values()), None)
    report = ParityReport(n=int(len(np.asarray(first))) if first is not None else 0, ok=True,
                          tolerance=tol)
    for name, expected in want.items():
        expected = np.asarray(expected)
        if name not in got:
            report.failures.append(f"output {name!r}: missing from the artifact's outputs "
                                   f"{sorted(got)}")
            continue
        actual = np.asarray(got[name])
        if actual.shape != expected.shape:
            report.failures.append(f"output {name!r}: shape {list(actual.shape)} differs from "
                                   f"the model's {list(expected.shape)}")
            continue
        if _is_label(name, expected):
            rate = _compare_labels(name, actual, expected)
            report.label_agreements[name] = rate
            if rate < tol["min_label_agreement"]:
                report.failures.append(
                    f"output {name!r}: label agreement {rate:.6g} < min_label_agreement "
                    f"{tol['min_label_agreement']:g}"
                )
            continue
        parity = _compare_numbers(actual, expected, tol["rtol"], tol["atol"])
        max_abs, max_rel = parity.max_abs, parity.max_rel
        report.max_abs_diff[name] = max_abs
        report.max_rel_diff[name] = max_rel
        report.passed_by[name] = parity.passed_by
        report.allowance_used[name] = parity.allowance_used
        if parity.first_bad >= 0:
            index = np.unravel_index(parity.first_bad, expected.shape)
            report.failures.append(
                f"output {name!r}: max abs diff {max_abs:.3g} (max rel {max_rel:.3g}) exceeds "
                f"atol {tol['atol']:g} + rtol {tol['rtol']:g} * |expected| (first at index "
                f"{tuple(int(i) for i in index)}: artifact {actual[index]!r}, model "
                f"{expected[index]!r})"
            )
    if report.label_agreements:
        report.label_agreement = min(report.label_agreements.values())
    report.ok = not report.failures
    return report


def verify(
    path: str | os.PathLike | Any,
    model: Any,
    X: Any,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    min_label_agreement: float | None = None,
    raise_on_fail: bool = True,
    trusted: bool = False,
) -> ParityReport:
    """Check that the artifact at ``path`` reproduces ``model`` on inputs ``X``.

    Parameters
    ----------
    path : str, os.PathLike or calipers.export.Artifact
        An artifact directory (loaded with :func:`calipers.load`) or a loaded one.
    model : object
        The model it was exported from.
    X : array-like or dict
        Inputs to run through both (at least one row).
    rtol, atol, min_label_agreement : float, optional
        Tolerances; by default the ones recorded in the manifest.
    raise_on_fail : bool, default True
        Raise :class:`~calipers.errors.ParityError` when the check fails.
    trusted : bool, default False
        Passed to :func:`calipers.load` (pickle artifacts need it).

    Returns
    -------
    ParityReport

    Raises
    ------
    calipers.errors.ParityError
        If a check fails and ``raise_on_fail``; ``.report`` holds the report.
    calipers.errors.ArtifactError
        If the artifact cannot be loaded (tampered, untrusted, ...).
    """
    from calipers import plugins
    from calipers.export._artifact import Artifact, load

    artifact = path if isinstance(path, Artifact) else load(path, trusted=trusted)
    try:
        manifest = artifact.manifest
        given = {"rtol": rtol, "atol": atol, "min_label_agreement": min_label_agreement}
        tolerance = _tolerance(manifest.get("tolerance") or {}, given)
        exporter = artifact.exporter or plugins.get("exporter", manifest["exporter"])()
        inputs = exporter.prepare_inputs(X, [spec["name"] for spec in artifact.inputs])
        rows = {len(v) if v.ndim else 0 for v in inputs.values()}
        if rows == {0}:
            raise ValueError("verify needs at least one row of inputs, got 0")
        got = artifact.run(inputs)  # first: its input checks give the clearer message
        want = exporter.model_outputs(model, inputs)
    finally:
        if artifact is not path:
            artifact.close()
    report = compare_outputs(got, want, tolerance)
    if raise_on_fail and not report.ok:
        where = pathlib.Path(artifact.path)
        raise ParityError(
            f"artifact {where} does not reproduce the model on {report.n} rows: "
            + "; ".join(report.failures),
            report,
        )
    return report


def _tolerance(recorded: Mapping[str, Any], given: Mapping[str, float | None]) -> dict[str, float]:
    from calipers.export._base import DEFAULT_TOLERANCE

    tol = {**DEFAULT_TOLERANCE, **{k: v for k, v in recorded.items() if v is not None}}
    tol.update({k: v for k, v in given.items() if v is not None})
    for key in TOLERANCE_KEYS:
        value = tol[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ValueError(f"{key} must be a number >= 0, got {value!r}")
    if tol["min_label_agreement"] > 1:
        raise ValueError(
            f"min_label_agreement must be in [0, 1], got {tol['min_label_agreement']!r}"
        )
    return {k: float(tol[k]) for k in TOLERANCE_KEYS}
