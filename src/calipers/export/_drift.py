"""Drift references: per-feature quantile-bin histograms, built at export, kept in the manifest.

``calipers monitor`` compares the inputs a server logged with these histograms
(PSI per feature). A reference is built from at least :data:`REFERENCE_MIN_ROWS`
rows (training or held-out rows): fewer rows make the reference's own sampling
noise look like drift. Each numeric feature gets

- ``{"edges": [...], "counts": [...], "missing": m}``: about ``bins`` quantile
  bins; ``edges`` are the inner cut points (a value ``x`` falls in bin
  ``searchsorted(edges, x, side="right")``), ``counts`` has one more entry; or
- ``{"values": [...], "counts": [...], "missing": m}`` for a feature with at most
  ``bins`` distinct values: one bin per value plus a last one for any other value.

``missing`` counts non-finite values (NaN, inf), compared as one more bin. The
reference is a plain JSON mapping stored under the manifest's ``"drift"`` key, so
it is covered by the manifest's digest like everything else in it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

#: Fewest rows a drift reference is built from.
REFERENCE_MIN_ROWS = 1000
#: Quantile bins per feature.
DEFAULT_BINS = 10
#: Most features a reference holds (a flattened image has thousands: no histograms then).
MAX_FEATURES = 1024
#: The ``method`` of the references this module writes.
METHOD = "quantile-bins"


def feature_columns(arrays: Mapping[str, np.ndarray],
                    names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """``{feature label: 1-D column}`` of the numeric inputs, flattened per row.

    Labels are ``"<input>[<j>]"`` for the ``j``-th value of a row of a
    multi-valued input and ``"<input>"`` for a 1-D input; a model with one
    input and ``names`` (``feature_names`` recorded at export) of the right
    length uses those instead. Export and ``calipers monitor`` both label
    features with this function, so their labels match.
    """
    out = {}
    for name, arr in arrays.items():
        arr = np.asarray(arr)
        if arr.dtype.kind not in "biuf" or arr.ndim == 0:
            continue
        flat = arr.reshape(arr.shape[0], -1) if arr.ndim > 1 else arr[:, None]
        labels = (list(names) if names and len(arrays) == 1 and len(names) == flat.shape[1]
                  else [f"{name}[{j}]" if flat.shape[1] > 1 or arr.ndim > 1 else name
                        for j in range(flat.shape[1])])
        for j, label in enumerate(labels):
            out[str(label)] = flat[:, j]
    return out


def _rows(arrays: Mapping[str, np.ndarray]) -> int:
    return max((int(np.shape(a)[0]) for a in arrays.values() if np.ndim(a)), default=0)


def _histogram(column: np.ndarray, bins: int) -> dict[str, Any]:
    column = np.asarray(column, dtype=np.float64)
    finite = column[np.isfinite(column)]
    missing = int(column.size - finite.size)
    values = np.unique(finite)
    if values.size <= bins:
        counts = [int(np.count_nonzero(finite == v)) for v in values] + [0]
        return {"values": values.tolist(), "counts": counts, "missing": missing}
    edges = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    counts = np.bincount(np.searchsorted(edges, finite, side="right"), minlength=edges.size + 1)
    return {"edges": edges.tolist(), "counts": counts.tolist(), "missing": missing}


def build_reference(arrays: Mapping[str, np.ndarray], names: Sequence[str] | None = None, *,
                    bins: int = DEFAULT_BINS,
                    min_rows: int = REFERENCE_MIN_ROWS) -> dict[str, Any]:
    """Per-feature quantile-bin histograms of ``arrays`` (named model inputs).

    Parameters
    ----------
    arrays : dict[str, numpy.ndarray]
        The reference rows as the model's named inputs (batch axis first).
    names : sequence of str, optional
        Feature names of a one-input model (see :func:`feature_columns`).
    bins : int, default 10
        Quantile bins per feature.
    min_rows : int, default :data:`REFERENCE_MIN_ROWS`
        Fewest rows accepted.

    Returns
    -------
    dict
        ``{"method", "bins", "rows", "features": {label: histogram}}``.

    Raises
    ------
    ValueError
        With fewer than ``min_rows`` rows, no numeric feature, or more than
        :data:`MAX_FEATURES` features.
    """
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
        raise ValueError(f"drift reference bins must be an integer >= 2, got {bins!r}")
    rows = _rows(arrays)
    if rows < min_rows:
        raise ValueError(
            f"a drift reference needs at least {min_rows} rows, got {rows}: pass more "
            "training or held-out rows as reference=, or reference=False for none "
            "(`calipers monitor` then reports 'no reference' instead of PSI)"
        )
    columns = feature_columns(arrays, names)
    if not columns:
        raise ValueError(
            f"a drift reference needs numeric inputs; the inputs {sorted(arrays)} have none "
            "(pass reference=False)"
        )
    if len(columns) > MAX_FEATURES:
        raise ValueError(
            f"a drift reference holds at most {MAX_FEATURES} features, the inputs have "
            f"{len(columns)} (pass reference=False)"
        )
    features = {label: _histogram(column, bins) for label, column in columns.items()}
    return {"method": METHOD, "bins": bins, "rows": rows, "features": features}


def drift_entry(reference: Any, sample: Mapping[str, np.ndarray],
                prepare: Callable[[Any], Mapping[str, np.ndarray]],
                feature_names: Sequence[str] | None = None) -> dict[str, Any] | None:
    """The manifest's ``"drift"`` entry for ``calipers.export(..., reference=...)``.

    Parameters
    ----------
    reference : array-like, dict, False or None
        Rows to build the reference from; None: the ``sample`` when it has at
        least :data:`REFERENCE_MIN_ROWS` rows (else no reference); False: none;
        a reference another manifest holds: kept as is.
    sample : dict[str, numpy.ndarray]
        The export sample as named inputs.
    prepare : callable
        Turns ``reference`` rows into named inputs (the exporter's ``prepare_inputs``).
    feature_names : sequence of str, optional
        The model's feature names (see :func:`feature_columns`).
    """
    if reference is False:
        return None
    if reference is None:
        if _rows(sample) < REFERENCE_MIN_ROWS:
            return None
        try:
            return build_reference(sample, feature_names)
        except ValueError:  # e.g. no numeric input: the sample was not meant as a reference
            return None
    if reference is True:
        raise TypeError("reference must be rows of inputs (array-like or dict), False or "
                        "None; got True")
    if is_reference(reference):
        return check_reference(reference, "reference")
    return build_reference(prepare(reference), feature_names)


def is_reference(value: Any) -> bool:
    """Whether ``value`` is a reference :func:`build_reference` wrote (e.g. another manifest's)."""
    return (isinstance(value, Mapping) and value.get("method") == METHOD
            and isinstance(value.get("features"), Mapping))


def check_reference(value: Mapping[str, Any], where: str = "drift reference") -> dict[str, Any]:
    """``value`` if it is a well-formed reference, else raise ValueError saying what is wrong."""
    if not is_reference(value):
        raise ValueError(f"{where}: not a {METHOD!r} drift reference")
    rows = value.get("rows")
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise ValueError(f"{where}: 'rows' must be a positive integer, got {rows!r}")
    for label, spec in value["features"].items():
        cuts = spec.get("edges", spec.get("values")) if isinstance(spec, Mapping) else None
        counts = spec.get("counts") if isinstance(spec, Mapping) else None
        if (not isinstance(cuts, list) or not isinstance(counts, list)
                or len(counts) != len(cuts) + 1 or any(
                    isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in counts)):
            raise ValueError(
                f"{where}: feature {label!r} needs 'edges' or 'values' and one more "
                "non-negative integer 'counts' entry than cut points"
            )
        if any(isinstance(c, bool) or not isinstance(c, (int, float)) for c in cuts) or (
                cuts != sorted(cuts)):
            raise ValueError(f"{where}: feature {label!r} needs ascending numeric cut points, "
                             f"got {cuts!r:.80}")
    return dict(value)


def bin_counts(spec: Mapping[str, Any], column: np.ndarray) -> np.ndarray:
    """Counts of ``column`` in a reference feature's bins, non-finite values last.

    Returns an array shaped like the reference's ``counts + [missing]``.
    """
    column = np.asarray(column, dtype=np.float64).ravel()
    finite = column[np.isfinite(column)]
    missing = column.size - finite.size
    if "values" in spec:
        values = np.asarray(spec["values"], dtype=np.float64)
        if values.size:
            pos = np.clip(np.searchsorted(values, finite), 0, values.size - 1)
            index = np.where(values[pos] == finite, pos, values.size)
        else:
            index = np.zeros(finite.size, dtype=np.intp)
        n_bins = values.size + 1
    else:
        edges = np.asarray(spec["edges"], dtype=np.float64)
        index = np.searchsorted(edges, finite, side="right")
        n_bins = edges.size + 1
    counts = np.bincount(index, minlength=n_bins)
    return np.append(counts, missing).astype(np.float64)


def reference_counts(spec: Mapping[str, Any]) -> np.ndarray:
    """A reference feature's ``counts + [missing]``, as floats."""
    return np.asarray([*spec["counts"], spec.get("missing", 0)], dtype=np.float64)
