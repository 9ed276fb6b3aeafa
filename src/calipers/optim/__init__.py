"""Fused optimizers over numpy arrays: ``step(grads)`` updates the parameters in place.

``SGD``, ``Adam``, ``AdamW``, ``Adagrad`` and ``RMSprop`` take torch.optim's option
names and defaults and follow its single-tensor update formulas in the same order of
operations; one fused core pass updates the whole list of parameters, dtypes mixed
(every element read and written once, OpenMP threads over chunks). This package does
not import torch.
"""

from __future__ import annotations

from calipers.optim._base import NONFINITE_POLICIES, Optimizer
from calipers.optim._optimizers import SGD, Adagrad, Adam, AdamW, RMSprop

__all__ = ["NONFINITE_POLICIES", "SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop"]
