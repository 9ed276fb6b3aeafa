"""Single-number metrics from counts: accuracy, Hamming loss, balanced accuracy, MCC, kappa.

The rest of :mod:`calipers.metrics._compute`: scores of a whole confusion matrix (or
of its sums), and its normalisation, with scikit-learn's results, warnings and
return types. Inputs are counts or weight sums the caller already trusts.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from calipers.metrics._compute_prf import UndefinedMetricWarning

__all__ = [
    "accuracy",
    "balanced_accuracy_from_sums",
    "cohen_kappa_from_matrix",
    "hamming",
    "matthews_from_sums",
    "normalize_confusion",
    "ratio",
]


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
