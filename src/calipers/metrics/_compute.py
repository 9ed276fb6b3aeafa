"""Metric values from counts: the arithmetic shared by functional and streaming metrics.

Every function here takes small arrays of counts (per class, per label or per sample;
int64 counts or float64 weight sums) and returns the metric the way scikit-learn
computes it: the same zero-division rules, the same ``UndefinedMetricWarning`` texts,
the same averaging (NaN-aware where scikit-learn's is) and the same return types
(Python ``float`` for averages, float64 arrays per class). Nothing here looks at
labels or validates user input; callers pass counts they already trust.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection
from typing import Any

import numpy as np

__all__ = [
    "UndefinedMetricWarning",
    "accuracy",
    "balanced_accuracy_from_sums",
    "cohen_kappa_from_matrix",
    "divide",
    "hamming",
    "jaccard_from_sums",
    "matthews_from_sums",
    "mcm_from_sums",
    "nan_average",
    "normalize_confusion",
    "prf_from_sums",
    "ratio",
    "samples_prf",
    "zero_division_value",
]

#: Default ``warn_for`` of :func:`prf_from_sums`: warn about all three metrics.
PRF_ALL = ("precision", "recall", "f-score")


class UndefinedMetricWarning(UserWarning):
    """A metric is undefined for the data (e.g. precision with no predicted positives).

    The value is then set by the ``zero_division`` (or ``replace_undefined_by``)
    option. Same meaning and texts as scikit-learn's warning of the same name.
    """


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


# ---------------------------------------------------------------------------
# single-number metrics
# ---------------------------------------------------------------------------


def ratio(numerator: Any, denominator: Any) -> float:
    """``numerator / denominator`` as a float; NaN (no warning) when the denominator is 0.

    Parameters
    ----------
    numerator, denominator : int or float

    Returns
    -------
    float
    """
    if denominator == 0:
        return float("nan")
    return float(numerator) / float(denominator)


def accuracy(n_correct: Any, total: Any, *, normalize: bool = True) -> float:
    """Accuracy from the number (or weight) of correct samples and of all samples.

    Parameters
    ----------
    n_correct : int or float
    total : int or float
        Number of samples or sum of the sample weights.
    normalize : bool, default=True
        False returns ``n_correct`` itself.

    Returns
    -------
    float

    Raises
    ------
    ZeroDivisionError
        When normalising and ``total`` is 0 (weights that sum to zero).
    """
    if not normalize:
        return float(n_correct)
    if total == 0:
        raise ZeroDivisionError("Weights sum to zero, can't be normalized")
    return float(n_correct / total)


def hamming(n_wrong: Any, total: Any, n_outputs: int = 1) -> float:
    """Hamming loss: wrong entries over ``total * n_outputs``.

    Parameters
    ----------
    n_wrong : int or float
        Number (or weight) of wrongly predicted entries.
    total : int or float
        Number of samples or sum of the sample weights.
    n_outputs : int, default=1
        Labels per sample (multilabel), 1 for single-label targets.

    Returns
    -------
    float

    Raises
    ------
    ZeroDivisionError
        When ``total`` is 0 (weights that sum to zero).
    """
    if total == 0:
        raise ZeroDivisionError("Weights sum to zero, can't be normalized")
    return float(n_wrong) / (n_outputs * float(total))


def balanced_accuracy_from_sums(tp_sum: np.ndarray, true_sum: np.ndarray, *,
                                adjusted: bool = False) -> float:
    """Mean per-class recall over the classes with non-zero support.

    Parameters
    ----------
    tp_sum, true_sum : ndarray of shape (k,)
        Diagonal and row sums of the confusion matrix (all classes of the union of
        true and predicted labels).
    adjusted : bool, default=False
        Rescale so that chance scores 0 and perfect scores 1.

    Returns
    -------
    float
        Warns ``UserWarning("y_pred contains classes not in y_true")`` when a class
        has zero support (it is left out of the mean).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        per_class = np.asarray(tp_sum) / np.asarray(true_sum)
    if np.any(np.isnan(per_class)):
        warnings.warn("y_pred contains classes not in y_true", stacklevel=2)
        per_class = per_class[~np.isnan(per_class)]
    score = np.mean(per_class)
    if adjusted:
        n_classes = per_class.shape[0]
        chance = 1 / n_classes
        score -= chance
        score /= 1 - chance
    return float(score)


def matthews_from_sums(true_sum: np.ndarray, pred_sum: np.ndarray, n_correct: Any,
                       n_total: Any) -> float:
    """Matthews correlation coefficient (Gorodkin's R_K) from confusion-matrix sums.

    Parameters
    ----------
    true_sum, pred_sum : ndarray of shape (k,)
        Row and column sums of the confusion matrix.
    n_correct : int or float
        Its trace.
    n_total : int or float
        Its total.

    Returns
    -------
    float
        0.0 when either marginal is constant (the coefficient is undefined).
    """
    t = np.asarray(true_sum, dtype=np.float64)
    p = np.asarray(pred_sum, dtype=np.float64)
    n_correct = np.float64(n_correct)
    n = np.float64(n_total)
    cov_tp = n_correct * n - np.dot(t, p)
    cov_pp = n**2 - np.dot(p, p)
    cov_tt = n**2 - np.dot(t, t)
    denom = cov_pp * cov_tt
    if denom == 0:
        return 0.0
    return float(cov_tp / np.sqrt(denom))


def cohen_kappa_from_matrix(matrix: np.ndarray, weights: str | None = None, *,
                            replace_undefined_by: Any = np.nan) -> Any:
    """Cohen's kappa from a k x k confusion matrix (rows: first rater).

    Parameters
    ----------
    matrix : ndarray of shape (k, k)
        Counts or weight sums.
    weights : {None, "linear", "quadratic"}, default=None
        Disagreement weights: 1 off the diagonal, ``|i - j|`` or ``(i - j) ** 2``.
    replace_undefined_by : float, default=np.nan
        Returned (as given) with an :class:`UndefinedMetricWarning` when kappa is
        undefined: an empty matrix total, or zero expected disagreement.

    Returns
    -------
    float
        Or ``replace_undefined_by`` unchanged.
    """
    confusion = np.asarray(matrix, dtype=np.float64)
    k = confusion.shape[0]
    sum0 = confusion.sum(axis=0)
    sum1 = confusion.sum(axis=1)
    total = sum0.sum()
    if total == 0:
        warnings.warn(
            "`y2` contains no labels that are present in both `y1` and `labels`."
            "`cohen_kappa_score` is undefined and set to the value defined by "
            f"the `replace_undefined_by` param, which is set to {replace_undefined_by}.",
            UndefinedMetricWarning, stacklevel=2,
        )
        return replace_undefined_by
    expected = np.outer(sum0, sum1) / total
    idx = np.arange(k, dtype=np.float64)
    if weights is None:
        w = np.ones((k, k))
        np.fill_diagonal(w, 0)
    elif weights == "linear":
        w = np.abs(idx[None, :] - idx[:, None])
    else:
        w = (idx[None, :] - idx[:, None]) ** 2
    observed = np.sum(w * confusion)
    chance = np.sum(w * expected)
    if chance == 0:
        warnings.warn(
            "`y1`, `y2` and `labels` have only one label in common. "
            "`cohen_kappa_score` is undefined and set to the value defined by the "
            f"the `replace_undefined_by` param, which is set to {replace_undefined_by}.",
            UndefinedMetricWarning, stacklevel=2,
        )
        return replace_undefined_by
    return float(1 - observed / chance)


def normalize_confusion(matrix: np.ndarray, normalize: str | None) -> np.ndarray:
    """Normalise a confusion matrix over rows, columns or all entries.

    Parameters
    ----------
    matrix : ndarray of shape (k, k)
    normalize : {None, "true", "pred", "all"}
        ``"true"``: each row sums to 1; ``"pred"``: each column; ``"all"``: the
        whole matrix. Rows/columns summing to 0 become 0 (not NaN).

    Returns
    -------
    ndarray
        ``matrix`` itself when ``normalize`` is None, else float64.
    """
    if normalize is None:
        return matrix
    with np.errstate(all="ignore"):
        if normalize == "true":
            out = matrix / matrix.sum(axis=1, keepdims=True)
        elif normalize == "pred":
            out = matrix / matrix.sum(axis=0, keepdims=True)
        else:
            out = matrix / matrix.sum()
    return np.nan_to_num(out)

