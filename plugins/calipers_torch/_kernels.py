"""Device kernels of the torch backend: one batch's confusion counts or score histogram.

Pure torch ops on the tensors' device: no ``.item()``, ``.cpu()``, ``.tolist()`` or
``bool(tensor)``, so an update on a GPU never waits for it. Each kernel returns the
batch's delta (the same numbers the compiled core counts on the host) and a vector
of device flags, one per :data:`REASONS`, saying why the batch must be refused; the
caller masks the delta to zero when any flag is set. Shapes and dtypes are checked
on the host (they are known without a sync): a kernel returns ``None`` for input it
has no kernel for, and the host path then runs (and raises its own error).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

#: Why a batch is refused on the device (index into the flag vector).
REASONS = (
    "y_true values outside {range}",
    "y_pred labels outside {range}",
    "float labels that are not integers (or NaN / infinity)",
    "NaN or infinite scores",
    "NaN or infinite sample weights",
)
R_TRUE, R_PRED, R_FRAC, R_SCORE, R_WEIGHT = range(len(REASONS))

#: Count with ``torch.bincount`` on CPU (no sync to worry about there); elsewhere
#: ``index_add_`` (bincount on CUDA reads the maximum back to the host).
BINCOUNT_ON_CPU = True


class Delta(NamedTuple):
    """One batch's contribution: counts (int64), weight sums (float64 or None), its
    sample count and the refusal flags (bool, one per reason)."""

    counts: torch.Tensor
    weighted: torch.Tensor | None
    n: int
    flags: torch.Tensor


class _Flags:
    """Collects 0-d bool device tensors per reason, stacked into one vector at the end."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.items: dict[int, torch.Tensor] = {}

    def add(self, reason: int, bad: torch.Tensor) -> None:
        old = self.items.get(reason)
        self.items[reason] = bad if old is None else old | bad

    def vector(self) -> torch.Tensor:
        false = torch.zeros((), dtype=torch.bool, device=self.device)
        return torch.stack([self.items.get(r, false) for r in range(len(REASONS))])


def _is_real(x: torch.Tensor) -> bool:
    return not x.is_complex() and x.dtype not in (torch.quint8, torch.qint8, torch.qint32)


def as_labels(x: torch.Tensor, flags: _Flags) -> torch.Tensor | None:
    """Labels as int64 (bool, any integer, or integral floats: flagged otherwise)."""
    if x.is_complex() or not _is_real(x):
        return None
    if x.is_floating_point():
        if x.numel():
            flags.add(R_FRAC, ~(torch.isfinite(x) & (x == torch.trunc(x))).all())
        return torch.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0).long()
    return x.long()


def check_range(t: torch.Tensor, k: int, flags: _Flags, reason: int) -> None:
    """Flag labels outside ``[0, k)`` (one min/max pass)."""
    if t.numel():
        lo, hi = torch.aminmax(t)
        flags.add(reason, (lo < 0) | (hi >= k))


def as_scores(x: torch.Tensor, flags: _Flags) -> torch.Tensor | None:
    """Scores as float32 / float64 (other real dtypes widened to float64), finiteness
    flagged (NaN propagates through min/max, so one pass sees NaN and infinity)."""
    if x.is_complex() or not _is_real(x):
        return None
    if x.dtype not in (torch.float32, torch.float64):
        x = x.to(torch.float64)
    if x.numel():
        lo, hi = torch.aminmax(x)
        flags.add(R_SCORE, ~(torch.isfinite(lo) & torch.isfinite(hi)))
    return x


def as_weights(w: torch.Tensor | None, n: int, flags: _Flags) -> torch.Tensor | None | bool:
    """Weights as float64 of shape (n,), finiteness flagged; ``False``: host path."""
    if w is None:
        return None
    if w.is_complex() or not _is_real(w) or w.ndim != 1 or w.shape[0] != n:
        return False
    w = w.to(torch.float64)
    if n:
        lo, hi = torch.aminmax(w)
        flags.add(R_WEIGHT, ~(torch.isfinite(lo) & torch.isfinite(hi)))
    return w


def float32_at_least(values: np.ndarray) -> np.ndarray:
    """The smallest float32 >= each float64 value: ``s >= v`` equals ``s >= v32`` for
    every float32 ``s``, so float32 scores compare with float64 thresholds / bin
    edges exactly as the host core does (in double), without widening them."""
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(over="ignore"):
        v32 = v.astype(np.float32)
        low = v32.astype(np.float64) < v
        v32[low] = np.nextafter(v32[low], np.float32(np.inf))
    return v32


def at_least(s: torch.Tensor, threshold: float) -> torch.Tensor:
    """``s >= threshold`` with the threshold compared in float64 (as the host)."""
    if s.dtype == torch.float32:
        threshold = float(float32_at_least(np.array([threshold]))[0])
    return s >= threshold


def bincount(idx: torch.Tensor, size: int, weights: torch.Tensor | None = None
             ) -> torch.Tensor:
    """Counts (int64) or weight sums (float64) of flat cell indices in ``[0, size)``;
    indices outside are clamped (their batch is refused and masked anyway)."""
    idx = idx.reshape(-1).clamp(0, size - 1)
    if weights is not None:
        weights = weights.reshape(-1)
    if BINCOUNT_ON_CPU and idx.device.type == "cpu":
        out = torch.bincount(idx, weights=weights, minlength=size)
        return out if weights is not None else out.to(torch.int64)
    if weights is None:
        out = torch.zeros(size, dtype=torch.int64, device=idx.device)
        return out.index_add_(0, idx, torch.ones(1, dtype=torch.int64,
                                                 device=idx.device).expand(idx.numel()))
    out = torch.zeros(size, dtype=torch.float64, device=idx.device)
    return out.index_add_(0, idx, weights)


# ---------------------------------------------------------------------------
# confusion counts
# ---------------------------------------------------------------------------


def confusion(task: str, k: int, threshold: float, y_true: torch.Tensor,
              y_pred: torch.Tensor, weight: torch.Tensor | None) -> Delta | None:
    """The batch's :class:`~calipers.metrics._state.ConfusionState` counts: a (k, k)
    matrix (binary / multiclass) or the flat multilabel layout ``4 l + 2 t + p`` plus
    the exact-match count. ``None``: shapes or dtypes the host must handle."""
    flags = _Flags(y_true.device)
    t = as_labels(y_true, flags)
    if t is None:
        return None
    if task == "multilabel":
        return _multilabel(k, threshold, t, y_pred, weight, flags)
    if t.ndim != 1:
        return None
    n = t.shape[0]
    if y_pred.is_floating_point():
        s = as_scores(y_pred, flags)
        if task == "binary":
            if s.ndim == 2 and s.shape[1] == 1:
                s = s[:, 0]
            if s.ndim != 1 or s.shape[0] != n:
                return None
            p = at_least(s, threshold).long()
        else:
            if s.ndim != 2 or s.shape != (n, k):
                return None
            p = s.argmax(dim=1)  # ties: the first maximum, as the core
    else:
        p = as_labels(y_pred, flags)
        if p is None or p.shape != (n,):
            return None
        check_range(p, k, flags, R_PRED)
    check_range(t, k, flags, R_TRUE)
    w = as_weights(weight, n, flags)
    if w is False:
        return None
    idx = t * k + p
    counts = bincount(idx, k * k).reshape(k, k)
    weighted = None if w is None else bincount(idx, k * k, w).reshape(k, k)
    return Delta(counts, weighted, n, flags.vector())


def _multilabel(L: int, threshold: float, t: torch.Tensor, y_pred: torch.Tensor,
                weight: torch.Tensor | None, flags: _Flags) -> Delta | None:
    if t.ndim != 2 or t.shape[1] != L or y_pred.shape != t.shape:
        return None
    n = t.shape[0]
    if y_pred.is_floating_point():
        s = as_scores(y_pred, flags)
        p = at_least(s, threshold).long()
    else:
        p = as_labels(y_pred, flags)
        if p is None:
            return None
        check_range(p, 2, flags, R_PRED)
    check_range(t, 2, flags, R_TRUE)
    w = as_weights(weight, n, flags)
    if w is False:
        return None
    cells = 4 * torch.arange(L, device=t.device) + 2 * t + p
    exact = (t == p).all(dim=1)
    counts = torch.cat([bincount(cells, 4 * L), exact.sum().reshape(1)])
    weighted = None
    if w is not None:
        weighted = torch.cat([bincount(cells, 4 * L, w[:, None].expand(n, L)),
                              (w * exact).sum().reshape(1)])
    return Delta(counts, weighted, n, flags.vector())


# ---------------------------------------------------------------------------
# score histograms
# ---------------------------------------------------------------------------


def score_shapes(task: str, k: int, t: torch.Tensor, s: torch.Tensor) -> torch.Tensor | None:
    """``s`` in the task's shape ((n,) binary, (n, k) otherwise) when ``t`` and ``s``
    have the shapes the host accepts, else ``None`` (the host raises)."""
    if task == "multilabel":
        return s if t.ndim == 2 and s.shape == t.shape and t.shape[1] == k else None
    if t.ndim != 1:
        return None
    if task == "binary":
        if s.ndim == 2 and s.shape[1] == 1:
            s = s[:, 0]
        return s if s.ndim == 1 and s.shape[0] == t.shape[0] else None
    return s if s.ndim == 2 and s.shape == (t.shape[0], k) else None


def guarded_edges(edges: np.ndarray, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The lower bin edges for :func:`bin_index`, as the host kernel guards them:
    ``-inf`` for bin 0 (everything below the range lands there), then the edges,
    then NaN (no score is >= it: the last bin is closed and takes what lies above).
    float32: :func:`float32_at_least` of the float64 edges."""
    g = np.concatenate([[-np.inf], np.asarray(edges, np.float64)[1:], [np.nan]])
    if dtype == torch.float32:
        g = float32_at_least(g)
    return torch.from_numpy(g).to(device)


def bin_index(s: torch.Tensor, lo: float, hi: float, guarded: torch.Tensor) -> torch.Tensor:
    """Bin of each score: the last bin whose lower edge is <= the score (bin 0 when
    none is), as the host kernel: a float64 multiply guesses (at most one bin off),
    then one comparison with each neighbouring edge corrects the guess."""
    bins = guarded.shape[0] - 1
    f = (s.to(torch.float64) - lo).mul_(bins / (hi - lo))
    b = f.floor_().clamp_(0, bins - 1).long().clamp_(0, bins - 1)  # NaN: 0 (refused)
    b.sub_((s < torch.take(guarded, b)).long())
    b.add_((s >= torch.take(guarded, b + 1)).long())
    return b


def histogram(task: str, k: int, edges: dict[torch.dtype, torch.Tensor],
              score_range: tuple[float, float], y_true: torch.Tensor, y_score: torch.Tensor,
              weight: torch.Tensor | None) -> Delta | None:
    """The batch's :class:`~calipers.metrics._ranking_state.ScoreHistogram` delta,
    shape (k, bins, 2) (k = 1 for binary). ``edges`` maps a score dtype to its
    :func:`guarded_edges` on the device: a score lands in the last bin whose edge is
    <= it, else bin 0, exactly as the host kernel; scores above the range land in
    the last bin."""
    flags = _Flags(y_true.device)
    t = as_labels(y_true, flags)
    s = None if t is None else as_scores(y_score, flags)
    s = None if s is None else score_shapes(task, k, t, s)
    if s is None:
        return None
    n = t.shape[0]
    check_range(t, k if task == "multiclass" else 2, flags, R_TRUE)
    w = as_weights(weight, n, flags)
    if w is False:
        return None
    g = edges[s.dtype]
    bins = g.shape[0] - 1
    b = bin_index(s, *score_range, g)
    if task == "binary":
        cells, kk = 2 * b + t, 1
    else:
        kk = k
        cols = torch.arange(k, device=t.device)
        pos = (t[:, None] == cols) if task == "multiclass" else t
        cells = (cols * bins + b) * 2 + pos
        if w is not None:
            w = w[:, None].expand(n, k)
    size = kk * bins * 2
    counts = bincount(cells, size).reshape(kk, bins, 2)
    weighted = None if w is None else bincount(cells, size, w).reshape(kk, bins, 2)
    return Delta(counts, weighted, n, flags.vector())
