"""The ``bayes`` searcher: Gaussian-process Bayesian optimization (numpy/scipy only).

Trials start from a Latin hypercube over the space (seeded); after that each trial
fits a GP (Matern-5/2, one length scale per encoded dimension, see
:mod:`calipers.search._gp`) to the told values in the space's encoded unit cube
(log parameters are log-scaled there; categoricals are one-hot blocks; inactive
conditional parameters sit at fixed values) and proposes the point of largest log
expected improvement (:mod:`calipers.search._acquisition`). Pending trials of the
current round are added to the GP at their posterior mean (kriging believer), so a
round of proposals spreads out instead of repeating one point.

Heavy-tailed values (a few observations far worse than the rest, as on
Rosenbrock-like valleys) are log-warped before standardization (:func:`warp_values`),
so the model spends its variance on the region that matters instead of on the
outliers.
"""

from __future__ import annotations

import contextlib
import numbers
from typing import Any

import numpy as np

import calipers
from calipers.search import Searcher

__all__ = ["BayesSearcher"]


_BLAS: list[Any] = []
#: Latin hypercubes drawn for the start-up design (the most spread one is used).
_MAXIMIN_TRIES = 32


def _blas_single_thread() -> contextlib.AbstractContextManager[Any]:
    """Limit BLAS to one thread while the GP works (when threadpoolctl is installed).

    The GP's matrices are at most a few hundred rows: threads buy nothing there,
    and on a loaded machine a multi-threaded BLAS spinning on tiny solves made a
    proposal 20x slower in our measurements.
    """
    if not _BLAS:
        try:
            import scipy.linalg  # noqa: F401  (load scipy's BLAS before scanning)
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _BLAS.append(None)
        else:
            _BLAS.append(ThreadpoolController())
    controller = _BLAS[0]
    if controller is None:
        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")


#: Values are warped when their range exceeds this many times (median - minimum).
_SKEW_RATIO = 20.0


def warp_values(values: np.ndarray) -> np.ndarray:
    """Monotone warp of observed values that tames a heavy upper tail.

    With ``lo`` the minimum and ``m`` the median, values whose range exceeds
    ``_SKEW_RATIO * (m - lo)`` become ``log1p((v - lo) / (m - lo))``: the best half
    keeps a near-linear scale while the tail is compressed logarithmically. Other
    value sets (Branin-like or Hartmann-like spreads) are returned unchanged. The
    order of the values, and so the incumbent, is the same after the warp.
    """
    lo = float(values.min())
    spread = float(np.median(values)) - lo
    if not spread > 0.0 or float(values.max()) - lo < _SKEW_RATIO * spread:
        return values
    return np.log1p((values - lo) / spread)


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"BayesSearcher: {name} must be an int >= {low}, got {value!r}")
    if value < low:
        raise ValueError(f"BayesSearcher: {name} must be an int >= {low}, got {value!r}")
    return int(value)


class BayesSearcher(Searcher):
    """Bayesian optimization with a Gaussian process and log expected improvement.

    Parameters
    ----------
    space : SearchSpace or dict
        The search space (Float, Int, Categorical, conditional parameters).
    seed : int, optional
        Seed; the same seed and the same told values give the same proposals.
    n_startup_trials : int, optional
        Trials numbered below this come from a seeded Latin hypercube (a
        function of the seed and the number only). Default ``min(10, 2 * d + 1)``
        with ``d`` the number of parameters, at least 2.
    n_candidates : int
        Latin-hypercube points scored in the acquisition sweep of each proposal
        (default 1024).
    n_local : int
        Best sweep points refined by L-BFGS-B (default 5; the best observed point
        is refined too).
    acq_max_iter : int
        L-BFGS-B iteration cap of the acquisition refinement (default 60).
    fit_max_iter : int
        L-BFGS-B iteration cap of each GP hyper-parameter fit (default 50); each
        fit starts from the previous fit's hyper-parameters and from a default.

    Notes
    -----
    Heavy-tailed values are log-warped before the GP sees them (see
    :func:`warp_values`): on a 4-d Rosenbrock at 100 trials this took the median
    best regret over 10 seeds from 52 to 2.3.

    Failed trials (``nan``/``inf`` values) count as the worst finite value observed
    so far, so the model learns to avoid their region; until two finite values
    exist, proposals past the start-up stay quasi-random/random.

    Observations enter the model in trial-number order, so the proposals do not
    depend on the order in which a round's results arrive. The hyper-parameter fit
    is warm-started from the previous proposal's fit: a searcher rebuilt with
    :meth:`restore` (a resumed study) can propose slightly different, equally valid
    points than the searcher that ran without interruption.
    """

    name = "bayes"
    adaptive = True

    def __init__(
        self,
        space: Any,
        seed: int | None = None,
        *,
        n_startup_trials: int | None = None,
        n_candidates: int = 1024,
        n_local: int = 5,
        acq_max_iter: int = 60,
        fit_max_iter: int = 50,
    ) -> None:
        super().__init__(space, seed)
        from calipers.search._acquisition import Layout

        if len(self.space) == 0:
            raise ValueError("BayesSearcher needs a search space with at least one parameter")
        if n_startup_trials is None:
            n_startup_trials = max(2, min(10, 2 * len(self.space) + 1))
        self.n_startup_trials = _check_int("n_startup_trials", n_startup_trials, 1)
        self.n_candidates = _check_int("n_candidates", n_candidates, 2)
        self.n_local = _check_int("n_local", n_local, 0)
        self.acq_max_iter = _check_int("acq_max_iter", acq_max_iter, 0)
        self.fit_max_iter = _check_int("fit_max_iter", fit_max_iter, 1)
        self._layout = Layout(self.space)
        # Observations: sort key -> (encoded point, value); the key is the trial
        # number, or a number past every trial number for values told without one.
        self._obs: dict[tuple[int, int], tuple[np.ndarray, float]] = {}
        self._arrivals = 0
        self._theta: np.ndarray | None = None
        self._model_key: tuple | None = None
        self._model: Any = None
        self._startup: np.ndarray | None = None

    # -- learning ----------------------------------------------------------------

    def _observe(self, params: dict[str, Any], value: float, number: int | None) -> None:
        self._arrivals += 1
        key = (0, number) if number is not None else (1, self._arrivals)
        self._obs[key] = (self.space.encode(params), value)

    # -- proposing ---------------------------------------------------------------

    def _startup_point(self, number: int) -> dict[str, Any]:
        if self._startup is None:
            from calipers.search._acquisition import latin_hypercube

            rng = np.random.default_rng(np.random.SeedSequence(self.entropy))
            n, d = self.n_startup_trials, self._layout.n_sweep_dims
            # maximin: of a few Latin hypercubes, the one whose closest pair is farthest
            best, best_gap = None, -1.0
            for _ in range(_MAXIMIN_TRIES):
                u = latin_hypercube(n, d, rng)
                gap = np.inf if n < 2 else float(
                    np.min(((u[:, None] - u[None]) ** 2).sum(-1)[np.triu_indices(n, 1)])
                )
                if gap > best_gap:
                    best, best_gap = u, gap
            self._startup = self._layout.from_unit(best)
        return self.space.decode(self._startup[number])

    def _propose(self, number: int) -> dict[str, Any]:
        with _blas_single_thread():
            return self._propose_point(number)

    def _propose_point(self, number: int) -> dict[str, Any]:
        if number < self.n_startup_trials:
            return self._startup_point(number)
        keys = sorted(self._obs)
        values = np.array([self._obs[k][1] for k in keys], dtype=float)
        finite = np.isfinite(values)
        if finite.sum() < 2:
            return self.space.sample(self.trial_rng(number))
        from calipers.search._acquisition import optimize_acquisition
        from calipers.search._gp import fit_gp, standardize

        x = np.array([self._obs[k][0] for k in keys])
        values = np.where(finite, values, values[finite].max())
        key = (tuple(keys), values.tobytes())
        if key != self._model_key:
            y, _, _ = standardize(warp_values(values))
            self._model = fit_gp(x, y, starts=[self._theta], max_iter=self.fit_max_iter)
            self._theta = self._model.theta
            self._model_key = key
        gp = self._model
        pending = self.pending
        xp = np.array([self.space.encode(p) for p in pending]).reshape(-1, x.shape[1])
        if len(xp):
            gp = gp.condition_on(xp)
        order = np.argsort(gp.y[: len(x)], kind="stable")
        best = self._layout.canonical(
            optimize_acquisition(
                gp,
                self._layout,
                # the incumbent includes the pending points' believed values, so a
                # round's proposals do not pile up where one is already expected
                float(gp.y.min()),
                self.trial_rng(number),
                incumbents=x[order[:4]],
                exclude=np.vstack([x, xp]),
                n_sweep=self.n_candidates,
                n_local=self.n_local,
                max_iter=self.acq_max_iter,
            )[None, :]
        )[0]
        return self.space.decode(best)

    def __repr__(self) -> str:
        return (
            f"BayesSearcher(space={self.space!r}, seed={self.seed!r}, "
            f"n_startup_trials={self.n_startup_trials})"
        )


@calipers.hookimpl
def register_searcher() -> list[type[Searcher]]:
    """The host's ``bayes`` searcher, registered through the same hook as plugins'."""
    return [BayesSearcher]
