"""Classification metrics (being assembled)."""

from calipers.metrics._base import Metric

__all__ = ["Metric"]
