"""Metric values from counts: the arithmetic shared by functional and streaming metrics.

Every function here takes small arrays of counts (per class, per label or per sample;
int64 counts or float64 weight sums) and returns the metric the way scikit-learn
computes it: the same zero-division rules, the same ``UndefinedMetricWarning`` texts,
the same averaging (NaN-aware where scikit-learn's is) and the same return types
(Python ``float`` for averages, float64 arrays per class). Nothing here looks at
labels or validates user input; callers pass counts they already trust.

This module is the one place callers import from; the functions live in
:mod:`calipers.metrics._compute_prf` (zero division, averaging, precision, recall,
F-beta, Jaccard) and :mod:`calipers.metrics._compute_other` (accuracy, Hamming loss,
balanced accuracy, Matthews correlation, Cohen's kappa, confusion normalisation).
"""

from calipers.metrics._compute_other import (
    accuracy,
    balanced_accuracy_from_sums,
    cohen_kappa_from_matrix,
    hamming,
    matthews_from_sums,
    normalize_confusion,
    ratio,
)
from calipers.metrics._compute_prf import (
    PRF_ALL,
    UndefinedMetricWarning,
    _warn_undefined,  # noqa: F401  (re-exported: this module has always defined it)
    divide,
    jaccard_from_sums,
    mcm_from_sums,
    nan_average,
    prf_from_sums,
    samples_prf,
    sums_from_mcm,
    zero_division_value,
)

__all__ = [
    "PRF_ALL",
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
    "sums_from_mcm",
    "zero_division_value",
]
