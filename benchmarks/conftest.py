"""Shared inputs for the benchmark suites (generated once per session)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

N = int(os.environ.get("CALIPERS_BENCH_N", 10_000_000))


def labels(num_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """int64 labels with ~80% agreement, like a real classifier's output."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, num_classes, N, dtype=np.int64)
    wrong = rng.random(N) < 0.2
    y_pred = np.where(wrong, rng.integers(0, num_classes, N, dtype=np.int64), y_true)
    return y_true, y_pred


@pytest.fixture(scope="session")
def binary_labels() -> tuple[np.ndarray, np.ndarray]:
    return labels(2, 0)


@pytest.fixture(scope="session")
def multiclass_labels() -> tuple[np.ndarray, np.ndarray]:
    return labels(10, 1)


def bandwidth_probe(*arrays: np.ndarray, threads: int = 2) -> None:
    """Read every byte of ``arrays`` once with ``threads`` threads (numpy drops the GIL).

    This is the floor for a kernel that must read the same bytes: its time divided by
    the kernel's time is the share of the bandwidth limit the kernel reaches.
    """
    chunks = []
    for a in arrays:
        if a.dtype.kind == "f":  # read float bytes as integers of the same width
            a = a.view(f"u{a.dtype.itemsize}")
        bounds = np.linspace(0, a.shape[0], threads + 1, dtype=np.int64)
        chunks += [a[bounds[i]:bounds[i + 1]] for i in range(threads)]
    list(_pool(threads).map(np.bitwise_or.reduce, chunks))


_POOLS: dict[int, ThreadPoolExecutor] = {}


def _pool(threads: int) -> ThreadPoolExecutor:
    if threads not in _POOLS:
        _POOLS[threads] = ThreadPoolExecutor(threads)
    return _POOLS[threads]


_SLOW_ANCHORS = ("sklearn", "torchmetrics")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the slow anchors last: the threads and freed memory they leave behind
    (torch's thread pool, hundreds of MB returned to the OS) slow whatever runs next
    on a 2-core machine, which would otherwise be the next group's calipers rows."""
    items.sort(key=lambda item: any(a in item.name for a in _SLOW_ANCHORS))
