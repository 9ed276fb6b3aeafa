"""Bootstrap confidence intervals for any metric, vectorized in the core where the state allows.

Three ways to draw the replicates, chosen automatically (the result says which):

``"cells"``
    Metrics whose state is integer counts over a few cells: the confusion metrics
    (k x k matrix; multilabel: per distinct (true row, predicted row) pattern) and
    binary binned score metrics (``bins=B``: per (bin, label)). Resampling n samples
    with replacement and counting them per cell is distributed as one multinomial
    draw over the cells, which the core draws
    (:func:`calipers._core._bootstrap.multinomial_counts`) in O(cells) per replicate
    whatever n, in parallel over replicates; the metric is then computed from each
    replicate's state (:mod:`calipers.metrics._bootstrap_cells`).
``"weighted"``
    The same metrics with sample weights: weights are per sample, so the core
    resamples sample indices and sums each drawn sample's weight into its cell, O(n)
    per replicate, in parallel over replicates.
``"index"``
    Any other metric (exact ROC AUC / average precision, multiclass or multilabel
    score metrics, top-k, plugin metrics, metrics given per-sample ``update``
    keywords): each replicate resamples the sample indices and updates a fresh copy
    of the metric. Correct for every metric, but O(n) Python-level work per replicate
    plus the metric's own cost (an exact AUC sorts every replicate: 1000 replicates of
    1M samples take minutes); for large n prefer ``bins=`` for AUC / AP, whose
    binary histogram state takes the cell path.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from calipers.metrics._base import Metric
from calipers.metrics._bootstrap_cells import CellSampler, cell_sampler
from calipers.metrics._compute import UndefinedMetricWarning
from calipers.metrics._state import to_numpy

__all__ = ["BootstrapResult", "bootstrap"]

# Replicate states computed per core call: bounds the (reps x cells) buffers.
_CHUNK_ELEMENTS = 1 << 22


def _replicate_values(n: int, shape: tuple[int, ...], sampler: CellSampler,
                      undefined: list[int]) -> np.ndarray:
    out = np.empty((n, *shape), dtype=np.float64)
    chunk = max(1, min(n, _CHUNK_ELEMENTS // max(1, sampler.n_cells)))
    for start in range(0, n, chunk):
        count = min(chunk, n - start)
        for i, state in enumerate(sampler.draw(start, count)):
            out[start + i] = _quiet(lambda s=state: sampler.compute(s), shape, undefined)
    return out


@dataclass(frozen=True)
class BootstrapResult:
    """A metric's value with a bootstrap percentile confidence interval.

    Attributes
    ----------
    value : float or ndarray
        The metric on all the data.
    low, high : float or ndarray
        The ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of the
        replicate values (numpy's default linear interpolation), NaN replicates left
        out; elementwise for array-valued metrics. NaN when every replicate is NaN.
    replicates : ndarray of float64, shape (n, ...)
        The metric on each bootstrap replicate.
    std : float or ndarray
        Standard deviation of the replicate values (``ddof=1``, NaN left out): the
        bootstrap standard error.
    confidence : float
        The confidence level.
    n : int
        Number of replicates.
    seed : int
        The seed used (drawn from the OS when ``seed=None`` was given), so that the
        result can be reproduced.
    method : {'cells', 'weighted', 'index'}
        How the replicates were drawn (see :mod:`calipers.metrics._bootstrap`).
    n_nan : int
        Replicates whose value is (partly) NaN, e.g. a replicate with one class only
        for a metric undefined there.
    """

    value: Any
    low: Any
    high: Any
    replicates: np.ndarray
    std: Any
    confidence: float
    n: int
    seed: int
    method: str
    n_nan: int

    def __repr__(self) -> str:
        return (f"BootstrapResult(value={self.value!r}, low={self.low!r}, high={self.high!r}, "
                f"confidence={self.confidence}, n={self.n}, method={self.method!r})")


def bootstrap(metric: Metric | str, y_true: Any, y_pred: Any, sample_weight: Any = None, *,
              n: int = 1000, seed: int | None = None, confidence: float = 0.95,
              **update_kwargs: Any) -> BootstrapResult:
    """Bootstrap confidence interval of a metric: resample the samples, recompute.

    Parameters
    ----------
    metric : Metric or str
        A metric instance (its options are used; it is not modified) or a registered
        name (built with its default options).
    y_true, y_pred : array-like
        What the metric's ``update`` takes (``y_pred`` may be scores).
    sample_weight : array-like, optional
        Per-sample weights, resampled with their samples.
    n : int, default=1000
        Number of bootstrap replicates (at least 1).
    seed : int, optional
        Seed (0 <= seed < 2**64). The same seed gives the same replicates whatever the
        number of threads. ``None``: a fresh seed from the OS, reported in the result.
    confidence : float, default=0.95
        Confidence level of the interval, in (0, 1).
    **update_kwargs
        Passed to ``update``. Arrays with one entry per sample (e.g. query ids) are
        resampled with the samples; anything else is passed as it is.

    Returns
    -------
    BootstrapResult
        Value, percentile interval, replicate values and their standard deviation.

    Notes
    -----
    The interval is the percentile bootstrap: the quantiles of the metric over ``n``
    resamples of the data with replacement (of the same size as the data). It assumes
    the samples are independent and may undercover for small samples or metrics that
    saturate (e.g. accuracy near 1).

    A replicate where the metric is undefined gives what the metric gives there: NaN
    (e.g. ROC AUC of a replicate with one class only) or ``zero_division``'s value for
    confusion metrics; a replicate whose ``compute`` raises ``ValueError`` counts as
    NaN. NaN replicates are left out of the interval and the standard
    deviation and counted in ``n_nan``; one :class:`UndefinedMetricWarning` says how
    many replicates were undefined (instead of one warning per replicate).

    Examples
    --------
    >>> import numpy as np
    >>> from calipers.metrics import bootstrap
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 500)
    >>> p = np.where(rng.random(500) < 0.8, y, 1 - y)
    >>> r = bootstrap("accuracy", y, p, n=200, seed=1)
    >>> bool(r.low < r.value < r.high)
    True
    """
    base = _as_metric(metric)
    n = _check_n(n)
    confidence = _check_confidence(confidence)
    seed = _check_seed(seed)
    t = to_numpy(y_true)
    p = to_numpy(y_pred)
    w = None if sample_weight is None else to_numpy(sample_weight)
    size = _n_samples(t)
    if size == 0:
        raise ValueError("bootstrap needs at least one sample, got empty y_true")

    full = _fresh(base)
    full.update(t, p, w, **update_kwargs)
    value = full.compute()
    shape = _value_shape(base, value)

    undefined = [0]
    sampler = None if update_kwargs else cell_sampler(full, t, p, w, seed)
    if sampler is not None:
        method = sampler.method
        values = _replicate_values(n, shape, sampler, undefined)
    else:
        method = "index"
        values = _index_values(base, t, p, w, update_kwargs, size, n, shape, seed, undefined)
    return _result(base, value, values, confidence, seed, method, undefined[0])


# -- arguments ----------------------------------------------------------------------------


def _as_metric(metric: Metric | str) -> Metric:
    if isinstance(metric, str):
        from calipers.metrics._suite import metric as build

        return build(metric)
    if not isinstance(metric, Metric):
        raise TypeError(
            f"metric must be a calipers Metric or a registered name, got {type(metric).__name__}"
        )
    return metric


def _check_n(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n (the number of bootstrap replicates) must be an integer >= 1, "
                         f"got {n!r}")
    return int(n)


def _check_confidence(confidence: Any) -> float:
    try:
        c = float(confidence)
    except (TypeError, ValueError):
        raise TypeError(f"confidence must be a number in (0, 1), got {confidence!r}") from None
    if not 0.0 < c < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return c


def _check_seed(seed: Any) -> int:
    if seed is None:
        return int(np.random.SeedSequence().entropy) & ((1 << 64) - 1)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer or None, got {type(seed).__name__}")
    if not 0 <= seed < 1 << 64:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    return int(seed)


def _n_samples(t: np.ndarray) -> int:
    if t.ndim == 0:
        raise ValueError("y_true must be an array of samples, got a scalar")
    return int(t.shape[0])


def _fresh(metric: Metric) -> Metric:
    return metric.empty_clone()


def _value_shape(metric: Metric, value: Any) -> tuple[int, ...]:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or isinstance(value, (str, bytes, dict)):
        raise TypeError(
            f"bootstrap needs a metric whose value is a number or an array of numbers; "
            f"{type(metric).__name__} returns {type(value).__name__}"
        )
    return arr.shape


# -- the index path ---------------------------------------------------------------------


def _index_values(base: Metric, t: np.ndarray, p: np.ndarray, w: np.ndarray | None,
                  update_kwargs: dict[str, Any], size: int, n: int, shape: tuple[int, ...],
                  seed: int, undefined: list[int]) -> np.ndarray:
    from calipers._core import _bootstrap as core

    per_sample = {k: to_numpy(v) for k, v in update_kwargs.items() if _is_per_sample(v, size)}
    out = np.empty((n, *shape), dtype=np.float64)
    for r in range(n):
        idx = core.resample_indices(size, r, seed)
        m = _fresh(base)
        kwargs = {**update_kwargs, **{k: v[idx] for k, v in per_sample.items()}}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            m.update(t[idx], p[idx], None if w is None else w[idx], **kwargs)
        out[r] = _quiet(m.compute, shape, undefined)
    return out


def _is_per_sample(value: Any, size: int) -> bool:
    if isinstance(value, (str, bytes)) or np.isscalar(value) or value is None:
        return False
    try:
        arr = to_numpy(value)
    except (TypeError, ValueError):
        return False
    return arr.ndim >= 1 and arr.shape[0] == size


def _quiet(compute: Callable[[], Any], shape: tuple[int, ...], undefined: list[int]) -> Any:
    """One replicate's value; undefined-metric warnings counted, not shown."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = compute()
        except ValueError:
            # e.g. a metric that refuses a replicate with one class only
            value = np.nan
    if any(issubclass(c.category, (UndefinedMetricWarning, RuntimeWarning)) for c in caught):
        undefined[0] += 1
    for c in caught:
        if not issubclass(c.category, (UndefinedMetricWarning, RuntimeWarning)):
            warnings.warn_explicit(c.message, c.category, c.filename, c.lineno)
    arr = np.asarray(value, dtype=np.float64)
    return arr if arr.shape == shape else np.full(shape, np.nan)


# -- the result -------------------------------------------------------------------------


def _result(metric: Metric, value: Any, values: np.ndarray, confidence: float, seed: int,
            method: str, undefined: int) -> BootstrapResult:
    n = values.shape[0]
    nan_rows = np.isnan(values.reshape(n, -1)).any(axis=1) if values.size else np.zeros(n, bool)
    n_nan = int(nan_rows.sum())
    name = metric.name or type(metric).__name__
    if n_nan:
        warnings.warn(
            f"{n_nan} of {n} bootstrap replicates of {name} are NaN (e.g. a replicate with "
            "one class only); they are left out of the interval and the standard deviation",
            UndefinedMetricWarning, stacklevel=3)
    elif undefined:
        warnings.warn(
            f"{undefined} of {n} bootstrap replicates of {name} are undefined (e.g. a "
            "replicate without some class) and got the metric's value for that case "
            "(its zero_division option)", UndefinedMetricWarning, stacklevel=3)
    tail = (1.0 - confidence) / 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN
        low, high = np.nanquantile(values, [tail, 1.0 - tail], axis=0)
        std = np.nanstd(values, axis=0, ddof=1) if n > 1 else np.full(values.shape[1:], np.nan)

    def out(x: np.ndarray) -> Any:
        x = np.asarray(x, dtype=np.float64)
        return float(x) if x.ndim == 0 else x

    return BootstrapResult(value=value, low=out(low), high=out(high), replicates=values,
                           std=out(std), confidence=confidence, n=n, seed=seed, method=method,
                           n_nan=n_nan)
