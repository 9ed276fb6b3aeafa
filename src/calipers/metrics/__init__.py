"""Classification metrics: streaming classes and scikit-learn drop-in functions.

Streaming (``update`` / ``merge`` / ``compute``), registered by name::

    m = calipers.metric("f1", task="multiclass", num_classes=10)
    for y_true, y_pred in batches:
        m.update(y_true, y_pred)
    m.compute()

Several metrics from one shared state in one pass: :class:`Suite`.

Score metrics (``roc_auc``, ``average_precision``, ``roc_curve``, ``pr_curve``,
``log_loss``, ``brier_score``, ``top_k_accuracy``, ``ndcg``, ``map``) take scores::

    m = calipers.metric("roc_auc", task="multiclass", num_classes=10)  # exact
    m = calipers.metric("roc_auc", bins=10_000)  # bounded memory, m.error_bound()

Drop-ins for ``sklearn.metrics`` with the same signatures, results and warnings:
``accuracy_score``, ``precision_score``, ``f1_score``, ``confusion_matrix``, ...
"""

from calipers.metrics._base import Metric
from calipers.metrics._bootstrap import BootstrapResult, bootstrap
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
from calipers.metrics._curves import PrCurve, RocCurve
from calipers.metrics._functional import *  # noqa: F403
from calipers.metrics._functional import __all__ as _functional_all
from calipers.metrics._ranking_base import ScoreMetric
from calipers.metrics._ranking_builtin import SCORE_METRICS
from calipers.metrics._ranking_map import MeanAveragePrecision
from calipers.metrics._ranking_metrics import (
    AveragePrecision,
    PrCurveMetric,
    RocAuc,
    RocCurveMetric,
)
from calipers.metrics._score_metrics import BrierScore, LogLoss, TopKAccuracy
from calipers.metrics._score_ndcg import Ndcg
from calipers.metrics._state import ConfusionState
from calipers.metrics._suite import DEFAULT_METRICS, Suite, metric

__all__ = [
    "BootstrapResult",
    "PrCurve",
    "RocCurve",
    "bootstrap",
    "AVERAGES",
    "BUILTIN_METRICS",
    "DEFAULT_METRICS",
    "Accuracy",
    "AveragePrecision",
    "BalancedAccuracy",
    "BrierScore",
    "CohenKappa",
    "ConfusionMatrix",
    "ConfusionMetric",
    "ConfusionState",
    "F1",
    "FBeta",
    "HammingLoss",
    "Jaccard",
    "LogLoss",
    "MatthewsCorrCoef",
    "MeanAveragePrecision",
    "Metric",
    "Ndcg",
    "PrCurveMetric",
    "Precision",
    "Recall",
    "RocAuc",
    "RocCurveMetric",
    "SCORE_METRICS",
    "ScoreMetric",
    "Specificity",
    "Suite",
    "TopKAccuracy",
    "UndefinedMetricWarning",
    "metric",
    *_functional_all,
]
