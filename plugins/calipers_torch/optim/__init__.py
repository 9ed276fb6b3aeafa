"""torch.optim drop-ins whose CPU step runs in calipers' fused core.

``SGD``, ``Adam``, ``AdamW``, ``Adagrad`` and ``RMSprop`` subclass their
``torch.optim`` namesakes: same constructor, options, param groups, LR schedulers,
hooks and ``state_dict`` format (a state dict of ours loads into torch's optimizer
and back). ``step()`` updates CPU float32/float64 parameters with one fused,
multi-threaded core call per param group (dtypes mixed, in place on the tensors'
memory), prepared at the group's first step and reused while its parameters and
state stay the same: the Python work of a step does not grow with the number of
tensors. Every other parameter (CUDA, half precision, complex, sparse gradients,
non-contiguous) goes through torch's own fused or foreach kernels.

One option is added, ``nonfinite`` (``"propagate"`` by default, which is what torch
does): ``"raise"`` or ``"skip"`` check the gradients before anything is written and
refuse the step, leaving parameters, state and step counts unchanged.
"""

from __future__ import annotations

from calipers_torch.optim._base import NONFINITE_POLICIES
from calipers_torch.optim._optimizers import SGD, Adagrad, Adam, AdamW, RMSprop

__all__ = ["NONFINITE_POLICIES", "SGD", "Adagrad", "Adam", "AdamW", "RMSprop"]
