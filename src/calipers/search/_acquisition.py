"""Log expected improvement and its optimization over an encoded space (private).

The acquisition is the logarithm of expected improvement below the best
standardized value, computed stably for improvements many standard deviations away
(the log of ``h(z) = z Phi(z) + phi(z)`` goes through ``erfcx`` for negative ``z``),
with an analytic gradient.

It is optimized in the searcher's encoded unit cube: a Latin-hypercube sweep (plus
perturbations of the best observed points) evaluated in one vectorized pass; then
the best few sweep points are refined together by L-BFGS-B over the numeric columns
(one-hot blocks fixed, inactive columns fixed); then each result is decoded and
re-encoded (Int rounded, one-hot argmax, inactive parameters reset) and re-scored;
a last pass tries every other choice of each categorical parameter.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import erfcx, log_ndtr, ndtr

from calipers.search._gp import GaussianProcess

__all__ = [
    "Layout",
    "latin_hypercube",
    "log_ei",
    "log_ei_grad",
    "log_h",
    "optimize_acquisition",
]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT_HALF_PI = math.sqrt(0.5 * math.pi)
# Beyond this |z|, 1 - |z| Phi(z) / phi(z) ~ 1 / z**2 is below float precision.
_Z_ASYMPTOTIC = 1e6
#: One in this many sweep points is a perturbation of an incumbent.
_NEAR_DIV = 8


def latin_hypercube(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points of ``[0, 1)^d`` with one point in each of the ``n`` strata per axis.

    (numpy only: ``scipy.stats.qmc`` would cost a ``scipy.stats`` import, seconds on
    a loaded machine, for the first proposal.)
    """
    strata = rng.permuted(np.tile(np.arange(n), (d, 1)), axis=1).T
    return (strata + rng.random((n, d))) / n


def log_h(z: np.ndarray) -> np.ndarray:
    """``log(z Phi(z) + phi(z))``, accurate from large positive to very negative ``z``."""
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    hi = z > -1.0
    zh = z[hi]
    out[hi] = np.log(zh * ndtr(zh) + np.exp(-0.5 * zh * zh - _LOG_SQRT_2PI))
    lo = ~hi
    zl = z[lo]
    a = np.abs(zl)
    with np.errstate(divide="ignore", invalid="ignore"):
        # h(z) = phi(z) (1 - |z| Phi(z) / phi(z)), where for z < 0
        # Phi(z) / phi(z) = sqrt(pi / 2) erfcx(|z| / sqrt(2)) stays finite.
        t = a * _SQRT_HALF_PI * erfcx(a / math.sqrt(2.0))
        mid = -0.5 * zl * zl - _LOG_SQRT_2PI + np.log1p(-t)
    far = a > _Z_ASYMPTOTIC
    mid[far] = -0.5 * zl[far] ** 2 - _LOG_SQRT_2PI - 2.0 * np.log(a[far])
    out[lo] = mid
    return out


def log_ei(mean: np.ndarray, var: np.ndarray, best: float) -> np.ndarray:
    """Log expected improvement below ``best`` (minimization) of a normal posterior."""
    sd = np.sqrt(var)
    return np.log(sd) + log_h((best - mean) / sd)


def log_ei_grad(
    mean: np.ndarray, var: np.ndarray, dmean: np.ndarray, dvar: np.ndarray, best: float
) -> tuple[np.ndarray, np.ndarray]:
    """Log EI and its gradient from the posterior moments and their gradients."""
    sd = np.sqrt(var)
    z = (best - mean) / sd
    lh = log_h(z)
    # d log h / dz = Phi(z) / h(z)
    ratio = np.exp(log_ndtr(z) - lh)
    dlogsd = 0.5 * dvar / var[:, None]
    dz = -dmean / sd[:, None] - z[:, None] * dlogsd
    return np.log(sd) + lh, dlogsd + ratio[:, None] * dz


class Layout:
    """Which encoded columns are numeric and which form one-hot blocks.

    Built from ``space.columns`` (a list of ``(param_name, kind)``, kind ``"float"``,
    ``"int"`` or ``"onehot"``).
    """

    def __init__(self, space: Any) -> None:
        self.space = space
        columns = list(space.columns)
        self.dim = len(columns)
        self.numeric = np.array(
            [i for i, (_, kind) in enumerate(columns) if kind != "onehot"], dtype=np.intp
        )
        blocks: dict[str, list[int]] = {}
        for i, (name, kind) in enumerate(columns):
            if kind == "onehot":
                blocks.setdefault(name, []).append(i)
        self.blocks = [np.array(v, dtype=np.intp) for v in blocks.values()]
        self.conditional = any(
            getattr(space[name], "condition", None) is not None for name in space.names
        )

    @property
    def n_sweep_dims(self) -> int:
        """Dimensions of a point drawn in parameter space (one per categorical)."""
        return len(self.numeric) + len(self.blocks)

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Encoded points from points of ``[0, 1)^n_sweep_dims`` (categoricals by floor)."""
        x = np.zeros((u.shape[0], self.dim))
        x[:, self.numeric] = u[:, : len(self.numeric)]
        rows = np.arange(u.shape[0])
        for j, block in enumerate(self.blocks):
            idx = np.minimum((u[:, len(self.numeric) + j] * len(block)).astype(np.intp),
                             len(block) - 1)
            x[rows, block[idx]] = 1.0
        return x

    def canonical(self, x: np.ndarray) -> np.ndarray:
        """``encode(decode(row))`` for each row: Int rounded, inactive reset."""
        space = self.space
        return np.array([space.encode(space.decode(row)) for row in x], dtype=float).reshape(
            x.shape
        )

    def active_mask(self, x: np.ndarray) -> np.ndarray:
        """Boolean mask of the numeric columns that are active in canonical points."""
        if not self.conditional:
            return np.ones((x.shape[0], len(self.numeric)), dtype=bool)
        columns = self.space.columns
        out = np.zeros((x.shape[0], len(self.numeric)), dtype=bool)
        for r, row in enumerate(x):
            active = set(self.space.active(self.space.decode(row)))
            out[r] = [columns[i][0] in active for i in self.numeric]
        return out


def _refine(
    gp: GaussianProcess, layout: Layout, starts: np.ndarray, best: float, max_iter: int
) -> np.ndarray:
    """L-BFGS-B on the numeric columns of all ``starts`` at once (their sum of log EI)."""
    num = layout.numeric
    if len(num) == 0:
        return starts
    q = starts.shape[0]
    active = layout.active_mask(starts)
    x0 = starts[:, num]
    lo = np.where(active, 0.0, x0).ravel()
    hi = np.where(active, 1.0, x0).ravel()
    base = starts.copy()

    def fun(v: np.ndarray) -> tuple[float, np.ndarray]:
        x = base.copy()
        x[:, num] = v.reshape(q, len(num))
        mean, var, dmean, dvar = gp.predict_grad(x)
        val, grad = log_ei_grad(mean, var, dmean, dvar, best)
        g = grad[:, num] * active
        return -float(val.sum()), -g.ravel()

    res = minimize(
        fun, x0.ravel(), jac=True, method="L-BFGS-B", bounds=list(zip(lo, hi, strict=True)),
        options={"maxiter": max_iter},
    )
    out = base
    v = np.clip(res.x, lo, hi) if np.all(np.isfinite(res.x)) else x0.ravel()
    out[:, num] = v.reshape(q, len(num))
    return out


def _categorical_pass(
    score: Callable[[np.ndarray], np.ndarray], layout: Layout, x: np.ndarray, val: float
) -> tuple[np.ndarray, float]:
    """Try every other choice of each categorical parameter of ``x``; keep the best."""
    for block in layout.blocks:
        if not x[block].any():  # inactive categorical
            continue
        trials = np.repeat(x[None, :], len(block), axis=0)
        trials[:, block] = np.eye(len(block))
        if layout.conditional:
            trials = layout.canonical(trials)
        vals = score(trials)
        i = int(np.argmax(vals))
        if vals[i] > val:
            x, val = trials[i], float(vals[i])
    return x, val


def optimize_acquisition(
    gp: GaussianProcess,
    layout: Layout,
    best: float,
    rng: np.random.Generator,
    *,
    incumbents: np.ndarray,
    exclude: np.ndarray,
    n_sweep: int = 1024,
    n_local: int = 5,
    max_iter: int = 100,
) -> np.ndarray:
    """Return the encoded point of largest log EI found (canonical: decodes exactly).

    Parameters
    ----------
    gp : GaussianProcess
        The fitted model (already conditioned on pending points).
    layout : Layout
        Column layout of the encoded space.
    best : float
        Best standardized observed value (the improvement threshold).
    rng : numpy.random.Generator
        Source of the sweep's randomness.
    incumbents : numpy.ndarray
        Encoded best observed points, best first; perturbations of them join the
        sweep and the best one is always refined.
    exclude : numpy.ndarray
        Encoded points already observed or pending; a candidate equal to one of them
        is skipped when another candidate exists.
    """
    def score(x: np.ndarray) -> np.ndarray:
        mean, var = gp.predict(x)
        return log_ei(mean, var, best)

    sweep = layout.from_unit(latin_hypercube(n_sweep, layout.n_sweep_dims, rng))
    if len(incumbents) and len(layout.numeric):
        k = min(len(incumbents), 4)
        per = max(1, n_sweep // (_NEAR_DIV * k))
        near = np.repeat(incumbents[:k], per, axis=0)
        sd = rng.choice([0.002, 0.01, 0.05], size=(len(near), 1))
        near[:, layout.numeric] = np.clip(
            near[:, layout.numeric] + sd * rng.standard_normal((len(near), len(layout.numeric))),
            0.0, 1.0,
        )
        sweep = np.vstack([sweep, near])
    if layout.conditional:
        sweep = layout.canonical(sweep)
    vals = score(sweep)
    vals[~np.isfinite(vals)] = -np.inf
    order = np.argsort(-vals, kind="stable")[:n_local]
    starts = sweep[order]
    if len(incumbents):
        starts = np.vstack([incumbents[:1], starts])
    refined = _refine(gp, layout, starts, best, max_iter)
    # Int columns rounded, inactive columns reset: what will really be evaluated.
    cands = layout.canonical(np.vstack([refined, starts]))
    cvals = score(cands)
    cvals[~np.isfinite(cvals)] = -np.inf

    def new(x: np.ndarray) -> bool:
        return not len(exclude) or np.min(np.max(np.abs(exclude - x), axis=1)) > 1e-12

    for i in np.argsort(-cvals, kind="stable"):
        x, _ = _categorical_pass(score, layout, cands[i].copy(), float(cvals[i]))
        if new(x):
            return x
    # Every candidate is a point already tried (a small discrete space): take the
    # sweep's best untried point.
    for i in np.argsort(-vals, kind="stable"):
        x = layout.canonical(sweep[i : i + 1])[0]
        if new(x):
            return x
    return cands[int(np.argmax(cvals))]
