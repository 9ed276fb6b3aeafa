"""Classification metrics: streaming classes and scikit-learn drop-in functions.

Streaming (``update`` / ``merge`` / ``compute``), registered by name::

    m = calipers.metric("f1", task="multiclass", num_classes=10)
    for y_true, y_pred in batches:
        m.update(y_true, y_pred)
    m.compute()

Several metrics from one shared state in one pass: :class:`Suite`.

Drop-ins for ``sklearn.metrics`` with the same signatures, results and warnings:
``accuracy_score``, ``precision_score``, ``f1_score``, ``confusion_matrix``, ...
"""

from calipers.metrics._base import Metric
from calipers.metrics._classes import (
    BUILTIN_METRICS,
    F1,
    Accuracy,
    BalancedAccuracy,
    CohenKappa,
    ConfusionMatrix,
    FBeta,
    HammingLoss,
    Jaccard,
    MatthewsCorrCoef,
    Precision,
    Recall,
    Specificity,
)
from calipers.metrics._compute import UndefinedMetricWarning
from calipers.metrics._confusion_metric import AVERAGES, ConfusionMetric
from calipers.metrics._functional import *  # noqa: F403
from calipers.metrics._functional import __all__ as _functional_all
from calipers.metrics._state import ConfusionState
from calipers.metrics._suite import DEFAULT_METRICS, Suite, metric

__all__ = [
    "AVERAGES",
    "BUILTIN_METRICS",
    "DEFAULT_METRICS",
    "Accuracy",
    "BalancedAccuracy",
    "CohenKappa",
    "ConfusionMatrix",
    "ConfusionMetric",
    "ConfusionState",
    "F1",
    "FBeta",
    "HammingLoss",
    "Jaccard",
    "MatthewsCorrCoef",
    "Metric",
    "Precision",
    "Recall",
    "Specificity",
    "Suite",
    "UndefinedMetricWarning",
    "metric",
    *_functional_all,
]
