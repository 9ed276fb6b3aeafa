"""Functional classification metrics: drop-ins for scikit-learn's, counted in one pass.

Each function takes scikit-learn's arguments (same names, defaults and keyword-only
markers), accepts the same inputs, returns the same values and types, warns with the
same texts and raises ``ValueError`` where scikit-learn does. The difference is the
work: labels are counted by the compiled core in one pass, without sorting integer
labels, and every metric is derived from those counts
(:mod:`calipers.metrics._compute`).

The score drop-ins (ROC AUC, average precision, threshold curves, top-k, DCG /
NDCG, label ranking average precision, log loss, Brier score) sort scores through the
ranking core (:mod:`calipers.metrics._rank_core`); they live in
:mod:`calipers.metrics._functional_ranking`, ``_functional_curves``,
``_functional_scores`` and ``_functional_proba``.

This module is the one place callers import from. The metrics live in
:mod:`calipers.metrics._functional_prf` (precision, recall, F-beta, Jaccard) and
:mod:`calipers.metrics._functional_other` (accuracy, confusion matrices, balanced
accuracy, Matthews correlation, Cohen's kappa, Hamming loss); they share parameter
validation (:mod:`calipers.metrics._params`), target checking and counting
(:mod:`calipers.metrics._targets`) and confusion matrices
(:mod:`calipers.metrics._matrices`).
"""

from calipers.metrics._compute import UndefinedMetricWarning
from calipers.metrics._functional_curves import det_curve, precision_recall_curve, roc_curve
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
from calipers.metrics._functional_proba import brier_score_loss, log_loss
from calipers.metrics._functional_ranking import average_precision_score, roc_auc_score
from calipers.metrics._functional_scores import (
    dcg_score,
    label_ranking_average_precision_score,
    ndcg_score,
    top_k_accuracy_score,
)

__all__ = [
    "UndefinedMetricWarning",
    "accuracy_score",
    "average_precision_score",
    "balanced_accuracy_score",
    "brier_score_loss",
    "cohen_kappa_score",
    "confusion_matrix",
    "dcg_score",
    "det_curve",
    "f1_score",
    "fbeta_score",
    "hamming_loss",
    "jaccard_score",
    "label_ranking_average_precision_score",
    "log_loss",
    "matthews_corrcoef",
    "multilabel_confusion_matrix",
    "ndcg_score",
    "precision_recall_curve",
    "precision_recall_fscore_support",
    "precision_score",
    "recall_score",
    "roc_auc_score",
    "roc_curve",
    "top_k_accuracy_score",
]
