"""The GP core of the bayes searcher: kernel, posterior, likelihood, log EI."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

from calipers.search._acquisition import log_ei, log_ei_grad, log_h
from calipers.search._gp import (
    MIN_NOISE,
    GaussianProcess,
    _neg_objective,
    default_theta,
    fit_gp,
    matern52,
    standardize,
)


def _matern_direct(a, b, ls, scale):
    out = np.empty((len(a), len(b)))
    for i, u in enumerate(a):
        for k, v in enumerate(b):
            r = math.sqrt(sum(((u[j] - v[j]) / ls[j]) ** 2 for j in range(len(u))))
            out[i, k] = scale * (1 + math.sqrt(5) * r + 5 * r * r / 3) * math.exp(-math.sqrt(5) * r)
    return out


def _theta(ls, scale, noise):
    return np.concatenate([np.log(1.0 / np.asarray(ls) ** 2), [math.log(scale)],
                           [math.log(noise - MIN_NOISE)]])


def _data(n=12, d=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, d))
    y = np.sin(3 * x[:, 0]) + x[:, 1] ** 2 - 0.5 * x[:, -1]
    return x, standardize(y)[0]


def test_matern_matches_the_formula():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(size=(5, 3)), rng.uniform(size=(4, 3))
    ls = np.array([0.3, 1.0, 2.5])
    np.testing.assert_allclose(matern52(a, b, ls, 1.7), _matern_direct(a, b, ls, 1.7), rtol=1e-12)
    np.testing.assert_allclose(np.diag(matern52(a, a, ls)), 1.0)


def test_posterior_matches_direct_numpy_formula():
    x, y = _data()
    ls, scale, noise = np.array([0.4, 0.8, 1.5]), 1.3, 1e-3
    gp = GaussianProcess(x, y, _theta(ls, scale, noise))
    xq = np.random.default_rng(2).uniform(size=(7, 3))
    k = _matern_direct(x, x, ls, scale) + noise * np.eye(len(x))
    kq = _matern_direct(xq, x, ls, scale)
    kinv = np.linalg.inv(k)
    mean, var = gp.predict(xq)
    np.testing.assert_allclose(mean, kq @ kinv @ y, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(var, scale - np.einsum("ij,jk,ik->i", kq, kinv, kq),
                               rtol=1e-8, atol=1e-10)
    m2, v2, _, _ = gp.predict_grad(xq)
    np.testing.assert_allclose(m2, mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(v2, var, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gp.lengthscales, ls)


def test_predict_grad_matches_finite_differences():
    x, y = _data(n=15)
    gp = GaussianProcess(x, y, _theta([0.3, 0.5, 0.9], 1.0, 1e-4))
    xq = np.random.default_rng(3).uniform(0.1, 0.9, size=(4, 3))
    _, _, dmean, dvar = gp.predict_grad(xq)
    h = 1e-6
    for j in range(3):
        e = np.zeros(3)
        e[j] = h
        mp, vp = gp.predict(xq + e)
        mm, vm = gp.predict(xq - e)
        np.testing.assert_allclose(dmean[:, j], (mp - mm) / (2 * h), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(dvar[:, j], (vp - vm) / (2 * h), rtol=1e-5, atol=1e-7)


def test_likelihood_value_and_gradient():
    x, y = _data(n=10)
    d, n = x.shape[1], len(x)
    sqd = np.moveaxis((x[:, None] - x[None]) ** 2, 2, 0).reshape(d, -1)
    theta = _theta([0.5, 0.7, 1.1], 0.8, 1e-2)
    f, g = _neg_objective(theta, sqd, y)
    # the value: -(log N(y; 0, K) + log prior)
    k = _matern_direct(x, x, [0.5, 0.7, 1.1], 0.8) + 1e-2 * np.eye(n)
    _, logdet = np.linalg.slogdet(k)
    lml = -0.5 * y @ np.linalg.solve(k, y) - 0.5 * logdet - 0.5 * n * math.log(2 * math.pi)
    f0, _ = _neg_objective(theta, sqd, np.zeros(n))
    lml0 = -0.5 * logdet - 0.5 * n * math.log(2 * math.pi)
    np.testing.assert_allclose(f - f0, -(lml - lml0), rtol=1e-9)
    h = 1e-6
    for i in range(len(theta)):
        e = np.zeros_like(theta)
        e[i] = h
        fd = (_neg_objective(theta + e, sqd, y)[0] - _neg_objective(theta - e, sqd, y)[0]) / (2 * h)
        assert g[i] == pytest.approx(fd, rel=1e-5, abs=1e-6)


def test_fit_finds_the_relevant_dimension():
    rng = np.random.default_rng(4)
    x = rng.uniform(size=(30, 2))
    y = standardize(np.sin(6 * x[:, 0]))[0]  # x1 is irrelevant
    gp = fit_gp(x, y)
    assert gp.lengthscales[1] > 3 * gp.lengthscales[0]
    mean, _ = gp.predict(np.array([[0.25, 0.9], [0.25, 0.1]]))
    assert abs(mean[0] - mean[1]) < 0.05
    # warm start from the previous fit gives (nearly) the same optimum
    gp2 = fit_gp(x, y, starts=[gp.theta])
    np.testing.assert_allclose(gp2.lengthscales, gp.lengthscales, rtol=0.05)


def test_duplicate_points_do_not_break_the_cholesky():
    x = np.array([[0.5, 0.5]] * 5 + [[0.1, 0.2], [0.9, 0.3]])
    y = standardize(np.array([1.0] * 5 + [2.0, 0.0]))[0]
    gp = fit_gp(x, y)
    mean, var = gp.predict(x)
    assert np.all(np.isfinite(mean)) and np.all(var > 0)


def test_standardize_constant_targets():
    y, mean, std = standardize(np.array([3.0, 3.0, 3.0]))
    assert std == 1.0 and mean == 3.0
    np.testing.assert_array_equal(y, 0.0)


def test_kriging_believer_keeps_the_mean_and_shrinks_the_variance():
    x, y = _data(n=8, d=2)
    gp = fit_gp(x, y)
    xp = np.array([[0.37, 0.61]])
    gp2 = gp.condition_on(xp)
    xq = np.array([[0.37, 0.61], [0.38, 0.6], [0.9, 0.05]])
    m1, v1 = gp.predict(xq)
    m2, v2 = gp2.predict(xq)
    np.testing.assert_allclose(m2, m1, atol=1e-6)
    assert v2[0] < 1e-3 * v1[0] and v2[1] < v1[1]
    assert gp.condition_on(np.empty((0, 2))) is gp


@pytest.mark.parametrize("z", [-1e8, -1e5, -300.0, -40.0, -10.0, -3.0, -1.0 - 1e-9, -1.0,
                               -0.5, 0.0, 0.7, 5.0, 40.0])
def test_log_h_is_accurate(z):
    mpmath.mp.dps = 60
    zz = mpmath.mpf(z)
    exact = mpmath.log(zz * mpmath.ncdf(zz) + mpmath.npdf(zz))
    assert log_h(np.array([z]))[0] == pytest.approx(float(exact), rel=1e-9)


def test_log_ei_gradient_matches_finite_differences_even_far_from_improvement():
    x, y = _data(n=12, d=2)
    gp = fit_gp(x, y)
    xq = np.array([[0.2, 0.3], [0.6, 0.9], [0.45, 0.5]])
    for best in (float(y.min()), float(y.min()) - 10.0):
        mean, var, dmean, dvar = gp.predict_grad(xq)
        val, grad = log_ei_grad(mean, var, dmean, dvar, best)
        np.testing.assert_allclose(val, log_ei(mean, var, best), rtol=1e-12)
        assert np.all(np.isfinite(val)) and np.all(np.isfinite(grad))
        h = 1e-6
        for j in range(2):
            e = np.zeros(2)
            e[j] = h
            fp = log_ei(*gp.predict(xq + e), best)
            fm = log_ei(*gp.predict(xq - e), best)
            np.testing.assert_allclose(grad[:, j], (fp - fm) / (2 * h), rtol=1e-4, atol=1e-6)


def test_default_theta_is_inside_the_bounds():
    from calipers.search._gp import _bounds

    t = default_theta(4)
    for v, (lo, hi) in zip(t, _bounds(4), strict=True):
        assert lo <= v <= hi
