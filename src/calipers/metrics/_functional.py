"""Functional classification metrics: drop-ins for scikit-learn's, counted in one pass.

Each function takes scikit-learn's arguments (same names, defaults and keyword-only
markers), accepts the same inputs, returns the same values and types, warns with the
same texts and raises ``ValueError`` where scikit-learn does. The difference is the
work: labels are counted by the compiled core in one pass, without sorting integer
labels, and every metric is derived from those counts
(:mod:`calipers.metrics._compute`).

This module is the one place callers import from. The metrics live in
:mod:`calipers.metrics._functional_prf` (precision, recall, F-beta, Jaccard) and
:mod:`calipers.metrics._functional_other` (accuracy, confusion matrices, balanced
accuracy, Matthews correlation, Cohen's kappa, Hamming loss); they share parameter
validation (:mod:`calipers.metrics._params`), target checking and counting
(:mod:`calipers.metrics._targets`) and confusion matrices
(:mod:`calipers.metrics._matrices`).
"""

from calipers.metrics._compute import UndefinedMetricWarning
from calipers.metrics._functional_other import (
    accuracy_score,
    balanced_accuracy_score,
    cohen_kappa_score,
    confusion_matrix,
    hamming_loss,
    matthews_corrcoef,
    multilabel_confusion_matrix,
)
from calipers.metrics._functional_prf import (
    f1_score,
    fbeta_score,
    jaccard_score,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
)

__all__ = [
    "UndefinedMetricWarning",
    "accuracy_score",
    "balanced_accuracy_score",
    "cohen_kappa_score",
    "confusion_matrix",
    "f1_score",
    "fbeta_score",
    "hamming_loss",
    "jaccard_score",
    "matthews_corrcoef",
    "multilabel_confusion_matrix",
    "precision_recall_fscore_support",
    "precision_score",
    "recall_score",
]
