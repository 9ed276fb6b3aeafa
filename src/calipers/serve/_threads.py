"""Thread counts of a server: inference threads, and the runtime's threads per call.

A server runs several inference threads, each calling a model at once; a
runtime that also spreads one call over all cores (onnxruntime's intra-op pool
does by default) then oversubscribes them, and its spinning workers steal the
CPU that parsing and answering the next requests need. So with more than one
inference thread each call gets one intra-op thread unless told otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

#: Inference threads by default: the usable cores, at most this many.
MAX_DEFAULT_INFERENCE_THREADS = 4


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_inference_threads() -> int:
    """``min(4, usable CPUs)``."""
    return min(MAX_DEFAULT_INFERENCE_THREADS, usable_cpus())


def check_threads(inference_threads: int | None,
                  intra_op_threads: int | None) -> tuple[int, int | None]:
    """The inference threads (``None``: :func:`default_inference_threads`) and the
    intra-op threads (``None`` stays: :func:`apply_intra_op_threads` decides).

    Raises ValueError naming the bad value.
    """
    threads = default_inference_threads() if inference_threads is None else inference_threads
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"inference_threads must be a positive integer, got {threads!r}")
    if intra_op_threads is not None and (
            isinstance(intra_op_threads, bool) or not isinstance(intra_op_threads, int)
            or intra_op_threads < 0):
        raise ValueError("intra_op_threads must be an integer >= 0 (0: onnxruntime decides), "
                         f"got {intra_op_threads!r}")
    return threads, intra_op_threads


def apply_intra_op_threads(threads: int | None, *, inference_threads: int) -> Callable[[], None]:
    """Make the runtimes' sessions created from now on use ``threads`` intra-op threads.

    Every installed exporter with the ``runtime_threads`` capability (onnx: see
    :data:`calipers.export._base.CAPABILITIES`) is set, found through the registry.
    ``threads=None`` applies the default: one thread when ``inference_threads`` is
    above 1, unless the process already set its own default for that runtime
    (``calipers_onnx.configure_runtime(intra_op_threads=...)``), which is then
    kept. Returns the function that restores the previous settings.
    """
    from calipers import plugins
    from calipers.export._base import has_capability

    if threads is None and inference_threads == 1:
        return lambda: None
    undo: list[tuple[Any, Any]] = []
    for cls in plugins.classes("exporter"):
        if not has_capability(cls, "runtime_threads"):
            continue
        if threads is None and cls.runtime_threads() is not None:
            continue  # the user's own process-wide setting wins
        undo.append((cls, cls.runtime_threads(1 if threads is None else threads)))

    def restore() -> None:
        for cls, old in undo:
            cls.runtime_threads(old)

    return restore
