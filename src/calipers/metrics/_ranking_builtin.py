"""The built-in streaming score metrics, in registration order."""

from __future__ import annotations

from calipers.metrics._base import Metric
from calipers.metrics._ranking_map import MeanAveragePrecision
from calipers.metrics._ranking_metrics import (
    AveragePrecision,
    PrCurveMetric,
    RocAuc,
    RocCurveMetric,
)
from calipers.metrics._score_metrics import BrierScore, LogLoss, TopKAccuracy
from calipers.metrics._score_ndcg import Ndcg

__all__ = ["SCORE_METRICS"]

SCORE_METRICS: tuple[type[Metric], ...] = (
    RocAuc, AveragePrecision, RocCurveMetric, PrCurveMetric, LogLoss, BrierScore,
    TopKAccuracy, Ndcg, MeanAveragePrecision,
)
