"""Precision, recall, F-beta and Jaccard from counts, with scikit-learn's zero division.

The ratio arithmetic of :mod:`calipers.metrics._compute`: scikit-learn's rule for
undefined ratios (``zero_division`` and the ``UndefinedMetricWarning`` texts), its
NaN-aware averaging, and the per-class and per-sample set-wise metrics built on them.
Inputs are small arrays of counts (int64) or weight sums (float64) that the caller
already trusts.
"""

from __future__ import annotations

import importlib.abc
import sys
import warnings
from collections.abc import Collection
from typing import Any

import numpy as np

__all__ = [
    "PRF_ALL",
    "UndefinedMetricWarning",
    "divide",
    "jaccard_from_sums",
    "mcm_from_sums",
    "nan_average",
    "prf_from_sums",
    "samples_prf",
    "sums_from_mcm",
    "zero_division_value",
]


#: Default ``warn_for`` of :func:`prf_from_sums`: warn about all three metrics.
PRF_ALL = ("precision", "recall", "f-score")


class _WarningBase(UserWarning):
    """A Python-level base, so that the base can be swapped for scikit-learn's class
    (same object layout: see :func:`_adopt_sklearn_warning`)."""


class UndefinedMetricWarning(_WarningBase):
    """A metric is undefined for the data (e.g. precision with no predicted positives).

    The value is then set by the ``zero_division`` (or ``replace_undefined_by``)
    option. Same meaning and texts as scikit-learn's warning of the same name.

    Once scikit-learn is imported (before or after calipers), this class is also a
    subclass of ``sklearn.exceptions.UndefinedMetricWarning``, so warning filters and
    ``pytest.warns`` written for scikit-learn catch calipers' warnings too. calipers
    never imports scikit-learn for this.
    """


def _adopt_sklearn_warning(module: Any) -> None:
    """Make :class:`UndefinedMetricWarning` derive from ``module``'s class of that name."""
    theirs = getattr(module, "UndefinedMetricWarning", None)
    if isinstance(theirs, type) and issubclass(theirs, UserWarning) and \
            not issubclass(UndefinedMetricWarning, theirs):
        try:
            UndefinedMetricWarning.__bases__ = (theirs,)
        except TypeError:  # an incompatible layout: keep calipers' own class
            pass


class _AdoptOnImport(importlib.abc.MetaPathFinder):
    """Runs :func:`_adopt_sklearn_warning` right after ``sklearn.exceptions`` loads,
    without importing it (it only wraps the loader that the other finders return)."""

    NAME = "sklearn.exceptions"

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != self.NAME:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        run = getattr(loader, "exec_module", None)
        if run is None:
            return spec

        def exec_module(module: Any) -> None:
            run(module)
            _adopt_sklearn_warning(module)
            if self in sys.meta_path:
                sys.meta_path.remove(self)

        loader.exec_module = exec_module
        return spec


if "sklearn.exceptions" in sys.modules:
    _adopt_sklearn_warning(sys.modules["sklearn.exceptions"])
elif not any(isinstance(f, _AdoptOnImport) for f in sys.meta_path):
    sys.meta_path.insert(0, _AdoptOnImport())


# ---------------------------------------------------------------------------
# zero division
# ---------------------------------------------------------------------------


def zero_division_value(zero_division: Any) -> float:
    """The value an undefined ratio takes for a ``zero_division`` option.

    Parameters
    ----------
    zero_division : {"warn", 0, 1, np.nan}
        ``"warn"`` gives 0.0; a Python ``int``/``float`` equal to 0 or 1 gives that
        value; anything else (NaN, and, as in scikit-learn, numpy scalars other than
        ``np.float64``) gives NaN.

    Returns
    -------
    numpy.float64
    """
    if isinstance(zero_division, str) and zero_division == "warn":
        return np.float64(0.0)
    if isinstance(zero_division, (int, float)) and zero_division in (0, 1):
        return np.float64(zero_division)
    return np.float64(np.nan)


def _warn_undefined(average: str | None, modifier: str, msg_start: str,
                    result_size: int) -> None:
    # Per label the sentence says "in labels with no ... samples"; per sample
    # ('samples' average) the two words swap.
    what, where = ("label", "sample") if average == "samples" else ("sample", "label")
    reason = "due to" if result_size == 1 else f"in {where}s with"
    warnings.warn(
        f"{msg_start} ill-defined and being set to 0.0 {reason} no {modifier} {what}s. "
        "Use `zero_division` parameter to control this behavior.",
        UndefinedMetricWarning,
        stacklevel=3,
    )


def divide(numerator: np.ndarray, denominator: np.ndarray, *, metric: str, modifier: str,
           average: str | None, warn_for: Collection[str],
           zero_division: Any = "warn") -> np.ndarray:
    """Element-wise ``numerator / denominator`` with scikit-learn's zero-division rule.

    Parameters
    ----------
    numerator, denominator : ndarray of shape (m,)
        Counts or weight sums (any real dtype).
    metric : str
        Name used in the warning (``"precision"``, ``"recall"``, ``"f-score"``,
        ``"jaccard"``); the warning is issued only if it is in ``warn_for``.
    modifier : str
        What is missing, for the warning text (``"predicted"``, ``"true"``, ...).
    average : str or None
        The averaging mode; ``"samples"`` words the warning per sample.
    warn_for : collection of str
        Metrics that warn when undefined.
    zero_division : {"warn", 0, 1, np.nan}
        Value of the undefined entries (``"warn"``: 0.0 and an
        :class:`UndefinedMetricWarning`).

    Returns
    -------
    ndarray of float64, shape (m,)
    """
    numerator = np.asarray(numerator)
    denominator = np.asarray(denominator)
    dtype = np.result_type(numerator.dtype, denominator.dtype, np.float64)
    mask = denominator == 0
    denom = denominator.astype(dtype, copy=True)
    denom[mask] = 1
    result = numerator.astype(dtype) / denom
    if not mask.any():
        return result
    result[mask] = zero_division_value(zero_division)
    if isinstance(zero_division, str) and zero_division == "warn" and metric in warn_for:
        _warn_undefined(average, modifier, f"{metric.capitalize()} is", result.shape[0])
    return result


# ---------------------------------------------------------------------------
# averaging
# ---------------------------------------------------------------------------


def nan_average(values: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Weighted mean that skips NaN entries.

    Empty or all-NaN ``values`` give NaN. When the weights of the kept entries sum to
    zero, the plain mean of the kept entries is returned instead.

    Parameters
    ----------
    values : ndarray of shape (m,)
    weights : ndarray of shape (m,), optional

    Returns
    -------
    float
    """
    values = np.asarray(values)
    if values.shape[0] == 0:
        return float("nan")
    keep = ~np.isnan(values)
    if not keep.any():
        return float("nan")
    if weights is None:
        return float(np.nanmean(values))
    weights = np.asarray(weights)
    kept, kept_w = values[keep], weights[keep]
    try:
        return float(np.average(kept, weights=kept_w))
    except ZeroDivisionError:
        return float(np.average(kept))


# ---------------------------------------------------------------------------
# precision, recall, F-beta, Jaccard
# ---------------------------------------------------------------------------


def mcm_from_sums(tp_sum: np.ndarray, pred_sum: np.ndarray, true_sum: np.ndarray,
                  total: Any) -> np.ndarray:
    """One-vs-rest 2 x 2 matrices ``[[tn, fp], [fn, tp]]`` from per-class sums.

    Parameters
    ----------
    tp_sum, pred_sum, true_sum : ndarray of shape (m,)
        Per class: correctly predicted, predicted and true counts (or weight sums).
    total : int, float or ndarray of shape (m,)
        Number (or weight) of all samples; per-entry for sample-wise matrices.

    Returns
    -------
    ndarray of shape (m, 2, 2)
        In the common dtype of the inputs.
    """
    tp = np.asarray(tp_sum)
    fp = pred_sum - tp
    fn = true_sum - tp
    tn = total - tp - fp - fn
    return np.stack([tn, fp, fn, tp]).T.reshape(-1, 2, 2)


def sums_from_mcm(mcm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class sums from one-vs-rest 2 x 2 matrices; the inverse of :func:`mcm_from_sums`.

    Parameters
    ----------
    mcm : ndarray of shape (m, 2, 2)
        Matrices ``[[tn, fp], [fn, tp]]``.

    Returns
    -------
    tp_sum, pred_sum, true_sum : ndarray of shape (m,)
        ``tp``, ``tp + fp`` and ``tp + fn`` (``tp_sum`` is a view into ``mcm``).
    """
    tp = mcm[:, 1, 1]
    return tp, tp + mcm[:, 0, 1], tp + mcm[:, 1, 0]


def prf_from_sums(tp_sum: np.ndarray, pred_sum: np.ndarray, true_sum: np.ndarray, *,
                  beta: float = 1.0, average: str | None = None,
                  zero_division: Any = "warn", warn_for: Collection[str] = PRF_ALL,
                  weights: np.ndarray | None = None) -> tuple[Any, Any, Any, Any]:
    """Precision, recall, F-beta and support from per-class (or per-sample) sums.

    Parameters
    ----------
    tp_sum, pred_sum, true_sum : ndarray of shape (m,)
        Per class (per sample for ``average="samples"``): true positives, predicted
        positives and true positives + false negatives; counts or weight sums, in the
        order the results should have.
    beta : float, default=1.0
        Weight of recall in the F-score; ``inf`` gives recall, 0 gives precision.
    average : {None, "binary", "micro", "macro", "weighted", "samples"}
        ``None`` returns per-class arrays. ``"micro"`` sums the counts first.
        ``"macro"`` (and ``"binary"``, which expects the single positive class)
        take the NaN-skipping mean; ``"weighted"`` weights it by ``true_sum``;
        ``"samples"`` by ``weights``.
    zero_division : {"warn", 0, 1, np.nan}, default="warn"
        Value of undefined ratios; ``"warn"`` means 0.0 plus a warning.
    warn_for : collection of str
        Which of ``"precision"``, ``"recall"``, ``"f-score"`` warn when undefined.
    weights : ndarray of shape (m,), optional
        Sample weights, used only by ``average="samples"``.

    Returns
    -------
    precision, recall, fbeta : float or ndarray of float64
        Floats when ``average`` is not None.
    support : ndarray or None
        ``true_sum`` when ``average`` is None, else None.
    """
    tp_sum = np.asarray(tp_sum)
    pred_sum = np.asarray(pred_sum)
    true_sum = np.asarray(true_sum)
    if average == "micro":
        tp_sum = np.sum(tp_sum).reshape(1)
        pred_sum = np.sum(pred_sum).reshape(1)
        true_sum = np.sum(true_sum).reshape(1)
    common = {"average": average, "warn_for": warn_for, "zero_division": zero_division}
    precision = divide(tp_sum, pred_sum, metric="precision", modifier="predicted", **common)
    recall = divide(tp_sum, true_sum, metric="recall", modifier="true", **common)
    if np.isposinf(beta):
        fbeta = recall
    elif beta == 0:
        fbeta = precision
    else:
        beta2 = beta**2
        denom = beta2 * true_sum.astype(np.float64) + pred_sum.astype(np.float64)
        fbeta = divide((1 + beta2) * tp_sum.astype(np.float64), denom, metric="f-score",
                       modifier="true nor predicted", **common)
    if average is None:
        return precision, recall, fbeta, true_sum
    avg_weights = {"weighted": true_sum, "samples": weights}.get(average)
    return (nan_average(precision, avg_weights), nan_average(recall, avg_weights),
            nan_average(fbeta, avg_weights), None)


def jaccard_from_sums(tp_sum: np.ndarray, pred_sum: np.ndarray, true_sum: np.ndarray, *,
                      average: str | None = None, zero_division: Any = "warn",
                      weights: np.ndarray | None = None) -> Any:
    """Jaccard index ``tp / (tp + fp + fn)`` from per-class (or per-sample) sums.

    Parameters
    ----------
    tp_sum, pred_sum, true_sum : ndarray of shape (m,)
        As in :func:`prf_from_sums`.
    average : {None, "binary", "micro", "macro", "weighted", "samples"}
        ``None`` returns the per-class array; otherwise a plain (not NaN-skipping)
        mean, weighted by support for ``"weighted"`` (unless all supports are 0) and
        by ``weights`` for ``"samples"``.
    zero_division : {"warn", 0, 1, np.nan}, default="warn"
        Value where ``tp + fp + fn == 0``.
    weights : ndarray of shape (m,), optional
        Sample weights for ``average="samples"``.

    Returns
    -------
    float or ndarray of float64
    """
    tp = np.asarray(tp_sum)
    fp = np.asarray(pred_sum) - tp
    fn = np.asarray(true_sum) - tp
    numerator = tp
    denominator = tp + fp + fn
    if average == "micro":
        numerator = np.sum(numerator, keepdims=True)
        denominator = np.sum(denominator, keepdims=True)
    score = divide(numerator, denominator, metric="jaccard", modifier="true or predicted",
                   average=average, warn_for=("jaccard",), zero_division=zero_division)
    if average is None:
        return score
    avg_weights = None
    if average == "weighted":
        avg_weights = fn + tp
        if not np.any(avg_weights):
            avg_weights = None
    elif average == "samples":
        avg_weights = weights
    return float(np.average(score, weights=avg_weights))


def samples_prf(rows: np.ndarray, weights: np.ndarray | None = None, *, beta: float = 1.0,
                zero_division: Any = "warn",
                warn_for: Collection[str] = PRF_ALL) -> dict[str, float]:
    """Sample-averaged precision, recall, F-beta and Jaccard of multilabel rows.

    Each row is scored on its own label set and the scores are averaged over rows
    (weighted by ``weights``), as scikit-learn's ``average="samples"``. Like
    scikit-learn, a row's counts are multiplied by its weight before dividing, so a
    row of weight 0 is an undefined (zero-division) row.

    Parameters
    ----------
    rows : ndarray of shape (n, 3)
        Per row: number of true labels, of predicted labels, of labels both true and
        predicted.
    weights : ndarray of shape (n,), optional
        Sample weights.
    beta : float, default=1.0
        F-score beta.
    zero_division : {"warn", 0, 1, np.nan}, default="warn"
        Value of undefined per-row ratios.
    warn_for : collection of str
        Which of ``"precision"``, ``"recall"``, ``"f-score"``, ``"jaccard"`` warn
        when undefined for some row.

    Returns
    -------
    dict
        ``{"precision": float, "recall": float, "f-score": float, "jaccard": float}``.
    """
    rows = np.asarray(rows)
    true, pred, both = rows[:, 0], rows[:, 1], rows[:, 2]
    if weights is not None:
        weights = np.asarray(weights)
        true, pred, both = true * weights, pred * weights, both * weights
    fp = pred - both
    fn = true - both
    p, r, f, _ = prf_from_sums(both, both + fp, both + fn, beta=beta, average="samples",
                               zero_division=zero_division, warn_for=warn_for,
                               weights=weights)
    out = {"precision": p, "recall": r, "f-score": f}
    if "jaccard" in warn_for:
        out["jaccard"] = jaccard_from_sums(both, both + fp, both + fn, average="samples",
                                           zero_division=zero_division, weights=weights)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            out["jaccard"] = jaccard_from_sums(both, both + fp, both + fn,
                                               average="samples",
                                               zero_division=zero_division,
                                               weights=weights)
    return out
