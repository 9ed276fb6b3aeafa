"""Gaussian-process regression for the ``bayes`` searcher (private).

A zero-mean GP on standardized targets with a Matern-5/2 kernel with one length
scale per input dimension (ARD), a signal variance and a noise variance. The
hyper-parameters maximize the log marginal likelihood plus weak log priors
(scipy's L-BFGS-B with an analytic gradient, from the previous fit and a default
start); everything is vectorized over points and dimensions.

Parameterization: ``theta = [log w_1 .. log w_d, log s, log(noise - MIN_NOISE)]``
with ``w_j = 1 / l_j**2`` the inverse squared length scales and ``s`` the signal
variance, so that ``k(x, x') = s * m(r)`` with ``r**2 = sum_j w_j (x_j - x'_j)**2``
and ``m(r) = (1 + sqrt5 r + 5/3 r**2) exp(-sqrt5 r)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_solve, cholesky, get_lapack_funcs, solve_triangular
from scipy.optimize import minimize

__all__ = ["GaussianProcess", "fit_gp", "matern52", "standardize"]

SQRT5 = math.sqrt(5.0)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_POTRF, _POTRS, _POTRI = get_lapack_funcs(("potrf", "potrs", "potri"), dtype=np.float64)
#: Smallest noise variance (of the standardized targets); keeps the Cholesky stable
#: for deterministic objectives.
MIN_NOISE = 1e-6
#: Bounds of log w (length scales from about 0.005 to 30 on the unit cube), log s and
#: log(noise - MIN_NOISE).
LOG_W_BOUNDS = (math.log(1e-3), math.log(4e4))
LOG_S_BOUNDS = (math.log(1e-2), math.log(1e2))
LOG_NOISE_BOUNDS = (math.log(1e-9), math.log(2.0))
#: Jitter added to the kernel diagonal, multiplied by 10 on each failed Cholesky.
#: Log prior on each inverse squared length scale w: -(PRIOR_W_LONG / w + PRIOR_W_SHORT * w),
#: largest at w = 5 (length scale 0.45 of the unit cube).
PRIOR_W_LONG = 0.5
PRIOR_W_SHORT = 0.02
JITTER = (0.0, 1e-9, 1e-7, 1e-5, 1e-3)


def standardize(y: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Return ``((y - mean) / std, mean, std)``; ``std`` is 1 for constant ``y``."""
    mean = float(np.mean(y))
    std = float(np.std(y))
    if not np.isfinite(std) or std < 1e-12 * max(1.0, abs(mean)):
        std = 1.0
    return (y - mean) / std, mean, std


def _matern_terms(r2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``m(r)`` and ``dm/d(r**2)`` of the Matern-5/2 correlation, from ``r**2``."""
    r = np.sqrt(r2)
    e = np.exp(-SQRT5 * r)
    m = (1.0 + SQRT5 * r + (5.0 / 3.0) * r2) * e
    dm = (-5.0 / 6.0) * (1.0 + SQRT5 * r) * e
    return m, dm


def _scaled_r2(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted squared distances ``sum_j w_j (a_ij - b_kj)**2`` by matrix products."""
    sw = np.sqrt(w)
    a = a * sw
    b = b * sw
    r2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(r2, 0.0)


def matern52(a: np.ndarray, b: np.ndarray, lengthscales: np.ndarray, scale: float = 1.0):
    """Matern-5/2 kernel matrix ``k(a_i, b_k)`` with per-dimension length scales."""
    w = 1.0 / np.asarray(lengthscales, dtype=float) ** 2
    diff = np.asarray(a, float)[:, None, :] - np.asarray(b, float)[None, :, :]
    return scale * _matern_terms((diff * diff) @ w)[0]


def _log_prior(theta: np.ndarray, d: int) -> tuple[float, np.ndarray]:
    """Weak log prior on ``theta`` and its gradient.

    - ``w`` (inverse squared length scale): ``-(PRIOR_W_LONG / w + PRIOR_W_SHORT * w)``,
      which is largest at ``w = sqrt(PRIOR_W_LONG / PRIOR_W_SHORT)`` and penalizes very
      long length scales (a dimension declared irrelevant on little evidence makes
      the search miss basins) as well as very short ones (over-fitting).
    - ``log s``: normal around 0 (the targets are standardized), sd 1.5.
    - noise: an exponential prior of rate 30 on the noise variance (most objectives
      the searcher sees are deterministic or nearly so).
    """
    lw, ls, ln = theta[:d], theta[d], theta[d + 1]
    w = np.exp(lw)
    sd_s, rate = 1.5, 30.0
    zn = math.exp(ln)
    lp = -float(np.sum(PRIOR_W_LONG / w + PRIOR_W_SHORT * w)) - 0.5 * (ls / sd_s) ** 2 - rate * zn
    grad = np.empty_like(theta)
    grad[:d] = PRIOR_W_LONG / w - PRIOR_W_SHORT * w
    grad[d] = -ls / sd_s**2
    grad[d + 1] = -rate * zn
    return lp, grad


def _cholesky(k: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of ``k``, adding jitter to the diagonal if needed."""
    n = k.shape[0]
    for jitter in JITTER:
        try:
            return cholesky(k + jitter * np.eye(n), lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            continue
    raise np.linalg.LinAlgError("GP kernel matrix is not positive definite")


def _neg_objective(theta: np.ndarray, sqd: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Negative (log marginal likelihood + log prior) and its gradient.

    ``sqd`` holds the per-dimension squared differences of the inputs, flattened:
    shape ``(d, n * n)``. LAPACK is called directly (potrf/potrs/potri): this runs
    tens of times per proposal on small matrices, where wrapper overhead counts.
    """
    d, n = sqd.shape[0], y.shape[0]
    w = np.exp(theta[:d])
    s = math.exp(theta[d])
    zn = math.exp(theta[d + 1])
    m, dm = _matern_terms((w @ sqd).reshape(n, n))
    k = s * m
    k.flat[:: n + 1] += MIN_NOISE + zn
    chol, info = _POTRF(k, lower=1, clean=1, overwrite_a=0)
    if info != 0:
        try:
            chol = _cholesky(k)
        except np.linalg.LinAlgError:
            return 1e10, np.zeros_like(theta)
    alpha, _ = _POTRS(chol, y, lower=1)
    lml = -0.5 * float(y @ alpha) - float(np.sum(np.log(np.diag(chol)))) - _HALF_LOG_2PI * n
    kinv, _ = _POTRI(chol, lower=1)
    kinv = np.tril(kinv) + np.tril(kinv, -1).T
    wmat = np.outer(alpha, alpha)
    wmat -= kinv  # dLML/dK = W / 2
    grad = np.empty_like(theta)
    grad[:d] = (0.5 * s) * w * (sqd @ (wmat * dm).ravel())
    grad[d] = 0.5 * s * float(np.vdot(wmat, m))
    grad[d + 1] = 0.5 * zn * float(np.trace(wmat))
    lp, glp = _log_prior(theta, d)
    return -(lml + lp), -(grad + glp)


def default_theta(d: int) -> np.ndarray:
    """The default start of the hyper-parameter search."""
    log_w = 0.5 * math.log(PRIOR_W_LONG / PRIOR_W_SHORT)
    return np.concatenate([np.full(d, log_w), [0.0, math.log(1e-4)]])


def _bounds(d: int) -> list[tuple[float, float]]:
    return [LOG_W_BOUNDS] * d + [LOG_S_BOUNDS, LOG_NOISE_BOUNDS]


@dataclass
class GaussianProcess:
    """A fitted GP: training inputs, standardized targets and hyper-parameters.

    Attributes
    ----------
    x : numpy.ndarray
        Training inputs, shape ``(n, d)``.
    y : numpy.ndarray
        Standardized training targets, shape ``(n,)``.
    theta : numpy.ndarray
        Hyper-parameters (see the module docstring).
    """

    x: np.ndarray
    y: np.ndarray
    theta: np.ndarray

    def __post_init__(self) -> None:
        d, n = self.x.shape[1], self.x.shape[0]
        self.w = np.exp(self.theta[:d])
        self.scale = math.exp(self.theta[d])
        self.noise = MIN_NOISE + math.exp(self.theta[d + 1])
        k = self.scale * _matern_terms(_scaled_r2(self.x, self.x, self.w))[0]
        k.flat[:: n + 1] += self.noise
        self.chol = _cholesky(k)
        self.alpha = cho_solve((self.chol, True), self.y, check_finite=False)

    @property
    def lengthscales(self) -> np.ndarray:
        """Per-dimension length scales ``1 / sqrt(w)``."""
        return 1.0 / np.sqrt(self.w)

    def predict(self, xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance of the latent function at the rows of ``xq``."""
        kq = self.scale * _matern_terms(_scaled_r2(xq, self.x, self.w))[0]
        mean = kq @ self.alpha
        v = solve_triangular(self.chol, kq.T, lower=True, check_finite=False)
        var = self.scale - np.einsum("ij,ij->j", v, v)
        return mean, np.maximum(var, 1e-12 * self.scale)

    def predict_grad(
        self, xq: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Mean, variance and their gradients (shape ``(q, d)``) at the rows of ``xq``."""
        diff = xq[:, None, :] - self.x[None, :, :]
        m, dm = _matern_terms((diff * diff) @ self.w)
        kq = self.scale * m
        mean = kq @ self.alpha
        v = solve_triangular(self.chol, kq.T, lower=True, check_finite=False)
        var = self.scale - np.einsum("ij,ij->j", v, v)
        kinv_k = solve_triangular(self.chol.T, v, lower=False, check_finite=False).T
        # dk/dx = s * dm/dr2 * 2 w (x - x_i)
        dk = (2.0 * self.scale) * dm[:, :, None] * diff * self.w
        dmean = np.einsum("qnd,n->qd", dk, self.alpha)
        dvar = -2.0 * np.einsum("qnd,qn->qd", dk, kinv_k)
        floor = 1e-12 * self.scale
        small = var < floor
        dvar[small] = 0.0
        return mean, np.maximum(var, floor), dmean, dvar

    def condition_on(self, xp: np.ndarray) -> GaussianProcess:
        """The GP with the points ``xp`` added at their posterior mean (kriging believer).

        The mean is unchanged; the variance shrinks around ``xp``, which spreads the
        points of one round. The hyper-parameters are kept.
        """
        if len(xp) == 0:
            return self
        mean, _ = self.predict(xp)
        return GaussianProcess(np.vstack([self.x, xp]), np.concatenate([self.y, mean]), self.theta)


def fit_gp(
    x: np.ndarray,
    y: np.ndarray,
    *,
    starts: list[np.ndarray | None] | None = None,
    max_iter: int = 200,
    n_optimized: int = 1,
) -> GaussianProcess:
    """Fit the GP hyper-parameters to standardized targets ``y`` at inputs ``x``.

    Parameters
    ----------
    x : numpy.ndarray
        Inputs, shape ``(n, d)`` (the searcher's encoded unit cube).
    y : numpy.ndarray
        Standardized targets, shape ``(n,)``.
    starts : list of numpy.ndarray, optional
        Starting hyper-parameter vectors (e.g. the previous fit; ``None`` entries are
        skipped); the default start (:func:`default_theta`) is always a candidate.
    max_iter : int
        L-BFGS-B iteration cap per optimized start.
    n_optimized : int
        How many of the candidate starts are optimized: the candidates are ranked by
        their objective and the best ``n_optimized`` run L-BFGS-B; the best optimum
        wins. One (the default) makes a warm-started fit cost a single optimization.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    d = x.shape[1]
    diff = x[:, None, :] - x[None, :, :]
    sqd = np.ascontiguousarray(np.moveaxis(diff * diff, 2, 0).reshape(d, -1))
    bounds = _bounds(d)
    lo = np.array([b[0] for b in bounds])
    hi = np.array([b[1] for b in bounds])
    candidates = [np.clip(s, lo, hi) for s in (starts or []) if s is not None and len(s) == d + 2]
    candidates.append(default_theta(d))
    if len(candidates) > n_optimized:
        scores = [_neg_objective(c, sqd, y)[0] for c in candidates]
        candidates = [candidates[i] for i in np.argsort(scores, kind="stable")[:n_optimized]]
    best_theta, best_f = None, math.inf
    for start in candidates:
        res = minimize(
            _neg_objective,
            start,
            args=(sqd, y),
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": max_iter},
        )
        f = float(res.fun)
        if np.all(np.isfinite(res.x)) and f < best_f:
            best_theta, best_f = res.x, f
    if best_theta is None:
        best_theta = default_theta(d)
    return GaussianProcess(x, y, np.asarray(best_theta, dtype=float))
