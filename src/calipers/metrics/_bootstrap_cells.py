"""Replicate states drawn per state cell: the fast paths of :func:`calipers.metrics.bootstrap`.

A metric qualifies when its state is a sum over samples of a per-sample contribution
that takes few distinct values ("cells"): then resampling the samples and counting
them per cell is one multinomial draw over the cells (no sample weights), or a sum of
the drawn samples' weights per cell (weights). Both are drawn by the compiled core
(:mod:`calipers._core._bootstrap`), and each replicate's state is rebuilt from its
cell counts and handed to the metric's own computation.

Qualifying metrics:

- confusion metrics (:class:`~calipers.metrics.ConfusionMetric`, not overriding
  ``update``): binary / multiclass cells are the k x k (true, predicted) pairs;
  multilabel cells are the distinct (true row, predicted row) patterns, each adding
  one to a 2 x 2 entry per label (and to the exact-match and per-row counts).
- binary score metrics with a histogram state (``bins=B``): cells are
  (bin, label). A sample's bin is found from the metric's own histogram: binning is
  monotone in the score, so the samples sorted by score fill the bins in order.

Every layout is checked against the metric's own state on all the data (the cell
counts must reproduce it exactly); when it does not, the caller falls back to
resampling indices and updating copies of the metric.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from calipers.metrics._base import Metric
from calipers.metrics._state import ConfusionState

__all__ = ["CellSampler", "cell_sampler"]


@dataclass(frozen=True)
class CellSampler:
    """How to draw replicate states of one metric on one data set.

    Attributes
    ----------
    method : {'cells', 'weighted'}
        Multinomial over cells (no weights) or index resampling with weight sums.
    n_cells : int
        Number of cells (bounds the memory of one replicate).
    draw : callable
        ``draw(start, count)``: the states of replicates ``start .. start+count-1``.
    compute : callable
        The metric's value from one such state.
    """

    method: str
    n_cells: int
    draw: Callable[[int, int], list[Any]]
    compute: Callable[[Any], Any]


def cell_sampler(full: Metric, t: np.ndarray, p: np.ndarray, w: np.ndarray | None,
                 seed: int) -> CellSampler | None:
    """A :class:`CellSampler` for ``full`` (updated with all the data), or None.

    Parameters
    ----------
    full : Metric
        The metric, already updated with ``(t, p, w)`` (so the data are validated).
    t, p, w : ndarray
        The data as numpy arrays (``w`` may be None).
    seed : int
        The bootstrap seed.
    """
    for make in (confusion_sampler, histogram_sampler):
        sampler = make(full, t, p, w, seed)
        if sampler is not None:
            return sampler
    return None


def _sampler(cells: np.ndarray, cell_of: np.ndarray, w: np.ndarray | None, seed: int,
             build: Callable[[np.ndarray, np.ndarray | None], Any],
             compute: Callable[[Any], Any]) -> CellSampler:
    from calipers._core import _bootstrap as core

    n_cells = int(cells.shape[0])
    if w is None:
        def draw(start: int, count: int) -> list[Any]:
            reps = core.multinomial_counts(cells, start, count, seed)
            return [build(row, None) for row in reps]

        return CellSampler("cells", n_cells, draw, compute)

    weights = np.ascontiguousarray(w, dtype=np.float64).reshape(-1)
    index = np.ascontiguousarray(cell_of, dtype=np.int64)

    def draw_weighted(start: int, count: int) -> list[Any]:
        counts, sums = core.weighted_cell_sums(index, weights, n_cells, start, count, seed)
        return [build(c, s) for c, s in zip(counts, sums, strict=True)]

    return CellSampler("weighted", n_cells, draw_weighted, compute)


def confusion_sampler(full: Metric, t: np.ndarray, p: np.ndarray, w: np.ndarray | None,
                      seed: int) -> CellSampler | None:
    """Replicates of a confusion metric's :class:`ConfusionState`, or None if not one."""
    from calipers.metrics._confusion_metric import ConfusionMetric

    if not isinstance(full, ConfusionMetric) or type(full).update is not ConfusionMetric.update:
        return None
    state = full._state
    if not isinstance(state, ConfusionState):
        return None
    layout = _layout(state, t, p)
    if layout is None:
        return None
    cell_of, contrib, keys = layout
    cells = np.bincount(cell_of, minlength=contrib.shape[0]).astype(np.int64)
    # The layout must reproduce the metric's own counts exactly, or we do not use it.
    if not np.array_equal(cells @ contrib, state.counts.reshape(-1)):
        return None
    if state.track_samples and _samples(cells, keys, cells.astype(np.float64)) != state.samples:
        return None
    template = ConfusionState(state.task, state.k if state.task == "multiclass" else None,
                              state.k if state.task == "multilabel" else None,
                              state.threshold, state.track_samples)

    def build(counts: np.ndarray, sums: np.ndarray | None) -> ConfusionState:
        return _state_from(template, counts, sums, contrib, keys)

    return _sampler(cells, cell_of, w, seed, build, full.value_of)


def _layout(state: ConfusionState, t: np.ndarray, p: np.ndarray):
    """Each sample's cell, each cell's contribution to the state's counts, sample keys.

    Returns ``(cell_of, contrib, keys)``: ``contrib[c]`` is what one sample of cell ``c``
    adds to ``state.counts.reshape(-1)``; ``keys[c]`` its per-row histogram key
    (multilabel with ``track_samples``) or ``None``.
    """
    k = state.k
    if state.task == "multilabel":
        return _multilabel_layout(state, t, p)
    if p.dtype.kind == "f":
        if state.task == "binary":
            pred = (p.reshape(-1) >= state.threshold) if p.ndim == 2 and p.shape[1] == 1 \
                else p >= state.threshold
        elif p.ndim == 2:
            pred = np.argmax(p, axis=1)
        else:
            return None
    else:
        pred = p
    if t.ndim != 1 or pred.ndim != 1:
        return None
    cell_of = t.astype(np.int64) * k + pred.astype(np.int64)
    return cell_of, np.eye(k * k, dtype=np.int64), None


def _multilabel_layout(state: ConfusionState, t: np.ndarray, p: np.ndarray):
    if t.ndim != 2 or p.shape != t.shape:
        return None
    L = state.k
    tb = t.astype(bool)
    pb = p >= state.threshold if p.dtype.kind == "f" else p.astype(bool)
    codes = np.ascontiguousarray(2 * tb.astype(np.uint8) + pb.astype(np.uint8))
    if L == 0:
        return None
    rows = codes.view(np.dtype((np.void, L))).reshape(-1)
    uniq, cell_of = np.unique(rows, return_inverse=True)
    patterns = uniq.view(np.uint8).reshape(-1, L).astype(np.int64)
    contrib = np.zeros((patterns.shape[0], 4 * L + 1), dtype=np.int64)
    cols = 4 * np.arange(L) + patterns
    np.put_along_axis(contrib, cols, 1, axis=1)
    contrib[:, 4 * L] = np.all((patterns == 0) | (patterns == 3), axis=1)
    keys = None
    if state.track_samples:
        base = L + 1
        ntrue = (patterns >= 2).sum(axis=1)
        npred = (patterns % 2).sum(axis=1)
        ncorrect = (patterns == 3).sum(axis=1)
        keys = (ntrue * base + npred) * base + ncorrect
    return cell_of.reshape(-1).astype(np.int64), contrib, keys


def _samples(counts: np.ndarray, keys: np.ndarray, sums: np.ndarray) -> dict[int, list[float]]:
    out: dict[int, list[float]] = {}
    for key, c, s in zip(keys.tolist(), counts.tolist(), sums.tolist(), strict=True):
        if c:
            slot = out.setdefault(int(key), [0.0, 0.0])
            slot[0] += float(c)
            slot[1] += float(s)
    return out


def _state_from(template: ConfusionState, counts: np.ndarray, sums: np.ndarray | None,
                contrib: np.ndarray, keys: np.ndarray | None) -> ConfusionState:
    state = copy.copy(template)
    shape = template.counts.shape
    state.counts = (counts @ contrib).reshape(shape)
    state.weighted = None if sums is None else (sums @ contrib).reshape(shape)
    state.samples = {} if keys is None else _samples(
        counts, keys, counts.astype(np.float64) if sums is None else sums)
    state.n = int(counts.sum())
    return state


def histogram_sampler(full: Metric, t: np.ndarray, p: np.ndarray, w: np.ndarray | None,
                      seed: int) -> CellSampler | None:
    """Replicates of a binary binned score metric's histogram, or None if not one."""
    try:
        from calipers.metrics._ranking_base import ScoreMetric
        from calipers.metrics._ranking_state import ScoreHistogram
    except ImportError:  # pragma: no cover - the score metrics ship with calipers
        return None
    if not isinstance(full, ScoreMetric) or type(full).update is not ScoreMetric.update:
        return None
    if not isinstance(full._state, ScoreHistogram) or full.task != "binary":
        return None
    plain = full.empty_clone()
    plain.update(t, p)  # counts per (bin, label), whatever the weights
    hist = np.asarray(plain.state_dict()["state"]["hist"])
    if hist.ndim != 3 or hist.shape[0] != 1 or hist.shape[2] != 2:
        return None
    counts = hist[0].astype(np.int64)
    scores = np.asarray(p, dtype=np.float64).reshape(-1)
    labels = np.asarray(t).reshape(-1).astype(np.int64)
    if scores.shape != labels.shape or int(counts.sum()) != scores.size:
        return None
    bins = counts.shape[0]
    order = np.argsort(scores, kind="stable")
    bin_of = np.empty(scores.size, dtype=np.int64)
    bin_of[order] = np.repeat(np.arange(bins, dtype=np.int64), counts.sum(axis=1))
    cell_of = bin_of * 2 + labels
    cells = np.bincount(cell_of, minlength=2 * bins).astype(np.int64)
    if cells.shape[0] != 2 * bins or not np.array_equal(cells, counts.reshape(-1)):
        return None
    same_score_same_bin = np.all(np.diff(bin_of[order])[np.diff(scores[order]) == 0] == 0)
    if not same_score_same_bin:
        return None
    name, options = full.name, full.options
    replica = full.empty_clone()

    def build(counts: np.ndarray, sums: np.ndarray | None) -> dict[str, Any]:
        h = (counts if sums is None else sums).reshape(1, bins, 2)
        return {"name": name, "options": options, "state": {"n": int(counts.sum()), "hist": h}}

    def compute(state: dict[str, Any]) -> Any:
        replica.load_state_dict(state)
        return replica.compute()

    return _sampler(cells, cell_of, w, seed, build, compute)
