# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Bootstrap kernels: replicate states drawn per state cell, in parallel over replicates.

Resampling n samples with replacement and counting them per cell gives the same
distribution as one multinomial draw over the cells, with the observed cell shares as
probabilities. :func:`multinomial_counts` draws it as a chain of conditional binomials
(cell j gets Binomial(remaining draws, c_j / remaining count)), O(cells) per replicate
instead of O(n). With per-sample weights, cells do not suffice: :func:`weighted_cell_sums`
resamples sample indices, counts the draws of each sample and adds count x weight to
the sample's cell, O(n) per replicate.

Random numbers come from a counter-based generator keyed by (seed, replicate): draw i
of replicate r is a fixed function of (seed, r, i), so the result does not depend on
the number of threads or on how the replicates are split into calls.
:func:`resample_indices` yields exactly the indices :func:`weighted_cell_sums` uses.

Nothing here validates input: :mod:`calipers.metrics._bootstrap` does.
"""

from cython.parallel cimport prange
from libc.math cimport fabs, floor, log, pow, sqrt
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free

import numpy as np

cdef extern from *:
    """
    #include <stdint.h>
    /* Lemire's multiply-shift: a uniform 64-bit x mapped to [0, n). */
    static inline uint64_t calipers_bounded(uint64_t x, uint64_t n) {
        return (uint64_t)(((__uint128_t)x * (__uint128_t)n) >> 64);
    }
    #define CALIPERS_GOLDEN 0x9E3779B97F4A7C15ULL
    #define CALIPERS_TAG 0xD1B54A32D192ED03ULL
    #define CALIPERS_MIX1 0xBF58476D1CE4E5B9ULL
    #define CALIPERS_MIX2 0x94D049BB133111EBULL
    """
    uint64_t calipers_bounded(uint64_t x, uint64_t n) noexcept nogil
    uint64_t GOLDEN "CALIPERS_GOLDEN"
    uint64_t TAG "CALIPERS_TAG"
    uint64_t MIX1 "CALIPERS_MIX1"
    uint64_t MIX2 "CALIPERS_MIX2"

cdef enum:
    # Which stream of a replicate: the binomial chain or the index draws (so that the
    # two paths never share counters).
    BINOMIAL_STREAM = 0
    INDEX_STREAM = 1


# ---------------------------------------------------------------------------
# counter-based random numbers
# ---------------------------------------------------------------------------

cdef struct Stream:
    uint64_t key_a
    uint64_t key_b
    uint64_t counter


cdef inline uint64_t _mix(uint64_t z) noexcept nogil:
    # SplitMix64's finaliser: a bijection of 64-bit words with full avalanche.
    z = (z ^ (z >> 30)) * MIX1
    z = (z ^ (z >> 27)) * MIX2
    return z ^ (z >> 31)


cdef inline void _stream(Stream* s, uint64_t seed, uint64_t rep, uint64_t which) noexcept nogil:
    s.key_a = _mix(seed ^ _mix(rep * GOLDEN + which))
    s.key_b = _mix(s.key_a ^ TAG ^ seed)
    s.counter = 0


cdef inline uint64_t _next(Stream* s) noexcept nogil:
    s.counter += 1
    return _mix(_mix(s.key_a + s.counter * GOLDEN) ^ s.key_b)


cdef inline double _uniform(Stream* s) noexcept nogil:
    # 53 random bits in [0, 1)
    return <double>(_next(s) >> 11) * (1.0 / 9007199254740992.0)


# ---------------------------------------------------------------------------
# binomial variates
# ---------------------------------------------------------------------------

cdef inline double _log_factorial(double k) noexcept nogil:
    # log(k!): Stirling's series from 16 on (error below 1e-12), a direct sum below.
    cdef double x, acc = 0.0
    cdef int i
    if k < 16:
        for i in range(2, <int>k + 1):
            acc += log(<double>i)
        return acc
    x = k + 1.0
    return ((x - 0.5) * log(x) - x + 0.91893853320467274
            + 1.0 / (12.0 * x) - 1.0 / (360.0 * x * x * x) + 1.0 / (1260.0 * x * x * x * x * x))


cdef int64_t _binomial_inversion(Stream* s, int64_t n, double p) noexcept nogil:
    # Sequential search of the CDF; expected n * p + 1 steps (used for n * p < 10).
    cdef double q = 1.0 - p
    cdef double ratio = p / q
    cdef double a = (n + 1) * ratio
    cdef double r0 = pow(q, <double>n)
    cdef double r, u
    cdef int64_t x
    cdef int64_t bound = n if n < 110 else 110
    while True:
        r = r0
        u = _uniform(s)
        x = 0
        while u > r:
            u -= r
            x += 1
            if x > bound:
                break
            r *= a / x - ratio
        if x <= bound:
            return x


cdef int64_t _binomial_btrs(Stream* s, int64_t n, double p) noexcept nogil:
    # Hörmann's transformed rejection with squeeze (BTRS, 1993); needs n * p >= 10.
    cdef double spq = sqrt(n * p * (1.0 - p))
    cdef double b = 1.15 + 2.53 * spq
    cdef double a = -0.0873 + 0.0248 * b + 0.01 * p
    cdef double c = n * p + 0.5
    cdef double v_r = 0.92 - 4.2 / b
    cdef double alpha = (2.83 + 5.1 / b) * spq
    cdef double lpq = log(p / (1.0 - p))
    cdef double m = floor((n + 1) * p)
    cdef double h = _log_factorial(m) + _log_factorial(n - m)
    cdef double u, v, us, k
    while True:
        u = _uniform(s) - 0.5
        v = _uniform(s)
        us = 0.5 - fabs(u)
        if us <= 0.0:
            continue
        k = floor((2.0 * a / us + b) * u + c)
        if k < 0 or k > n:
            continue
        if us >= 0.07 and v <= v_r:
            return <int64_t>k
        v = log(v * alpha / (a / (us * us) + b))
        if v <= h - _log_factorial(k) - _log_factorial(n - k) + (k - m) * lpq:
            return <int64_t>k


cdef int64_t _binomial(Stream* s, int64_t n, double p) noexcept nogil:
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    if p > 0.5:
        return n - _binomial(s, n, 1.0 - p)
    if n * p < 10.0:
        return _binomial_inversion(s, n, p)
    return _binomial_btrs(s, n, p)


def binomial(int64_t n, double p, Py_ssize_t size, uint64_t seed):
    """``size`` Binomial(n, p) variates from one stream (to test the sampler)."""
    out = np.empty(size, dtype=np.int64)
    cdef int64_t[::1] o = out
    cdef Stream s
    cdef Py_ssize_t i
    _stream(&s, seed, 0, 0)
    with nogil:
        for i in range(size):
            o[i] = _binomial(&s, n, p)
    return out


# ---------------------------------------------------------------------------
# replicate states
# ---------------------------------------------------------------------------

cdef void _multinomial_row(const int64_t* cells, Py_ssize_t k, int64_t total,
                           uint64_t seed, uint64_t rep, int64_t* out) noexcept nogil:
    cdef Stream s
    cdef int64_t left = total      # draws still to place
    cdef int64_t mass = total      # observed count of the cells not yet visited
    cdef int64_t c, x
    cdef Py_ssize_t j
    _stream(&s, seed, rep, BINOMIAL_STREAM)
    for j in range(k):
        c = cells[j]
        if c <= 0 or left == 0:
            out[j] = 0
            continue
        if c >= mass:
            x = left
        else:
            x = _binomial(&s, left, <double>c / <double>mass)
        out[j] = x
        left -= x
        mass -= c


def multinomial_counts(const int64_t[::1] cells, int64_t rep_start, Py_ssize_t n_reps,
                       uint64_t seed):
    """Replicate cell counts: row r ~ Multinomial(sum(cells), cells / sum(cells)).

    Parameters
    ----------
    cells : int64 array, shape (k,)
        Observed counts per cell (non-negative).
    rep_start : int
        Number of the first replicate (replicate r always gets the same draws).
    n_reps : int
        Number of replicates.
    seed : int
        64-bit seed.

    Returns
    -------
    int64 array, shape (n_reps, k)
    """
    cdef Py_ssize_t k = cells.shape[0]
    out = np.zeros((n_reps, k), dtype=np.int64)
    cdef int64_t[:, ::1] o = out
    cdef int64_t total = 0
    cdef Py_ssize_t j, r
    for j in range(k):
        total += cells[j]
    if k == 0 or n_reps == 0:
        return out
    with nogil:
        for r in prange(n_reps, schedule="static"):
            _multinomial_row(&cells[0], k, total, seed, <uint64_t>(rep_start + r), &o[r, 0])
    return out


cdef int _weighted_row(const int64_t* cell_of, const double* weights, Py_ssize_t n,
                       uint64_t seed, uint64_t rep, int64_t* counts,
                       double* sums) noexcept nogil:
    # Count how often each sample is drawn (random increments into n uint32, which
    # stay in cache far better than gathering cell and weight per draw), then add
    # the samples' cells and weights in one sequential pass.
    cdef Stream s
    cdef Py_ssize_t i
    cdef uint32_t h
    cdef int64_t j
    cdef uint32_t* hits = <uint32_t*>calloc(n, sizeof(uint32_t))
    if hits == NULL:
        return -1
    _stream(&s, seed, rep, INDEX_STREAM)
    for i in range(n):
        hits[calipers_bounded(_next(&s), <uint64_t>n)] += 1
    for i in range(n):
        h = hits[i]
        if h:
            j = cell_of[i]
            counts[j] += h
            sums[j] += h * weights[i]
    free(hits)
    return 0


def weighted_cell_sums(const int64_t[::1] cell_of, const double[::1] weights,
                       Py_ssize_t n_cells, int64_t rep_start, Py_ssize_t n_reps,
                       uint64_t seed):
    """Resample samples with replacement; per replicate and cell, count and sum weights.

    Parameters
    ----------
    cell_of : int64 array, shape (n,)
        The cell of each sample, in ``[0, n_cells)``.
    weights : float64 array, shape (n,)
        Each sample's weight.
    n_cells, rep_start, n_reps, seed
        As in :func:`multinomial_counts`.

    Returns
    -------
    counts : int64 array, shape (n_reps, n_cells)
    sums : float64 array, shape (n_reps, n_cells)
    """
    cdef Py_ssize_t n = cell_of.shape[0]
    counts = np.zeros((n_reps, n_cells), dtype=np.int64)
    sums = np.zeros((n_reps, n_cells), dtype=np.float64)
    cdef int64_t[:, ::1] co = counts
    cdef double[:, ::1] so = sums
    cdef Py_ssize_t r
    cdef int failed = 0
    if n == 0 or n_reps == 0:
        return counts, sums
    if n > 4294967295:
        raise ValueError("weighted_cell_sums takes at most 2**32 - 1 samples")
    with nogil:
        for r in prange(n_reps, schedule="static"):
            if _weighted_row(&cell_of[0], &weights[0], n, seed, <uint64_t>(rep_start + r),
                             &co[r, 0], &so[r, 0]) != 0:
                failed += 1
    if failed:
        raise MemoryError()
    return counts, sums


def resample_indices(Py_ssize_t n, int64_t rep, uint64_t seed):
    """The ``n`` indices (drawn with replacement) of replicate ``rep``.

    The same indices :func:`weighted_cell_sums` draws for that replicate.
    """
    out = np.empty(n, dtype=np.int64)
    cdef int64_t[::1] o = out
    cdef Stream s
    cdef Py_ssize_t i
    _stream(&s, seed, <uint64_t>rep, INDEX_STREAM)
    with nogil:
        for i in range(n):
            o[i] = <int64_t>calipers_bounded(_next(&s), <uint64_t>n)
    return out
