# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Score histograms: one pass counting scores into B equal bins of ``[lo, hi]``.

Per column and class (negatives, positives), int64 counts and, when weighted, float64
weight sums; OpenMP threads count chunks of samples into private copies that are
summed at the end. Bins are decided against the exact lower edges the caller passes
(the thresholds the binned curves report), so ``score >= edge`` holds exactly for the
samples counted at and above an edge. The state of the binned ranking metrics.

Nothing here validates input beyond shapes: the wrapper in
:mod:`calipers.metrics._rank_core` checks dtypes, ranges and contiguity.
:func:`histogram_binary_checked` is the one-pass variant for binary labels read in
their own integer dtype: it also counts labels outside {0, 1} and non-finite scores,
for the caller to refuse the batch (the streaming binned metrics' fast path).
"""

from cython.parallel cimport prange, threadid
from libc.float cimport DBL_MAX
from libc.math cimport fabs
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t

cimport openmp_shim as omp

import numpy as np

ctypedef fused score_t:
    float
    double

cdef enum:
    HIST_CHUNK = 65536     # samples per work item

# The work item size, for tests that cross it.
SAMPLES_PER_ITEM = HIST_CHUNK


cdef inline int64_t _bin(double x, const double* edges, double lo, double inv,
                         int64_t B) noexcept nogil:
    # The last bin whose lower edge is <= x (bin 0 when none is): bin i is
    # [edges[i], edges[i+1]), the last one closed, out-of-range scores clamp to the
    # edge bins. The multiply guesses; the comparisons with the very edges the
    # thresholds report settle it.
    cdef double f = (x - lo) * inv
    cdef int64_t b
    if not (f > 0):
        b = 0
    elif f >= <double>B:
        b = B - 1
    else:
        b = <int64_t>f
    # ``edges`` is :func:`_guarded` (``-inf`` first, NaN after the last): the loops
    # stop at bin 0 and bin B - 1 without testing b.
    while x < edges[b]:
        b -= 1
    while x >= edges[b + 1]:
        b += 1
    return b


def _guarded(edges_in, double lo, double hi):
    # Check the lower edges and range, and return the kernel's copy of the edges:
    # edges[0] becomes -inf (no score is below bin 0's edge: out-of-range ones clamp
    # there) and a NaN follows the last (no score is >= it), so "the last bin whose
    # edge is <= x, else 0" needs no bounds tests.
    cdef const double[::1] edges = np.ascontiguousarray(edges_in, dtype=np.float64)
    cdef Py_ssize_t B = edges.shape[0]
    if B < 1:
        raise ValueError(f"bins must be >= 1, got {B}")
    if not (hi > lo):
        raise ValueError(f"the histogram range needs lo < hi, got ({lo}, {hi})")
    out = np.empty(B + 1, dtype=np.float64)
    out[:B] = edges
    out[0] = -np.inf
    out[B] = np.nan
    return out


cdef int _threads(int64_t nchunks, int64_t cells) noexcept:
    # Threads for a histogram of ``cells`` cells over ``nchunks`` work items: at most
    # 256 (the callers' per-thread arrays), no more than the work items, and one when
    # the per-thread copies would not stay small next to the data.
    cdef int nt = omp.omp_get_max_threads()
    if nt > 256:
        nt = 256
    if nt > nchunks:
        nt = <int>nchunks
    if nt > 1 and cells * 8 * nt > (1 << 26):
        nt = 1
    return nt if nt > 0 else 1


cdef struct HistJob:
    const void* scores      # (n, C) row-major
    const uint8_t* ind      # (n, C) indicators, or NULL
    const uint8_t* pos      # (n,) binary labels, or NULL
    const int64_t* labels   # (n,) class of each row, or NULL
    const double* w
    int64_t n
    int64_t C
    int64_t B
    const double* edges
    double lo
    double inv
    bint f32
    int64_t* hist           # [nt][C][B][2]
    double* whist
    int64_t* bad            # [nt]
    int64_t nchunks


cdef inline void _hist_binary(const score_t* sc, const uint8_t* pos, const double* w,
                              int64_t lo_i, int64_t hi_i, const double* edges, double lo,
                              double inv, int64_t B, int64_t* h, double* wh,
                              bint weighted) noexcept nogil:
    # Called with a literal ``weighted``: one loop per case, no test inside it.
    cdef int64_t i, cell
    for i in range(lo_i, hi_i):
        cell = 2 * _bin(sc[i], edges, lo, inv, B) + (pos[i] != 0)
        h[cell] += 1
        if weighted:
            wh[cell] += w[i]


cdef int64_t _hist_matrix(const score_t* sc, const uint8_t* ind, const int64_t* labels,
                          const double* w, int64_t lo_i, int64_t hi_i, int64_t C,
                          const double* edges, double lo, double inv, int64_t B,
                          int64_t* h, double* wh) noexcept nogil:
    cdef int64_t i, c, y = -1, cell, nbad = 0, is_pos
    cdef double wi = 1
    for i in range(lo_i, hi_i):
        if labels != NULL:
            y = labels[i]
            if y < 0 or y >= C:
                nbad += 1
                continue
        if w != NULL:
            wi = w[i]
        for c in range(C):
            if ind != NULL:
                is_pos = ind[i * C + c] != 0
            else:
                is_pos = y == c
            cell = (c * B + _bin(sc[i * C + c], edges, lo, inv, B)) * 2 + is_pos
            h[cell] += 1
            if wh != NULL:
                wh[cell] += wi
    return nbad


cdef int64_t _hist_items(const HistJob* job, int64_t lo_i, int64_t hi_i, int64_t* h,
                         double* wh, score_t dummy) noexcept nogil:
    """Count rows [lo_i, hi_i) into ``h`` / ``wh``; returns the rows of bad labels."""
    cdef const score_t* sc = <const score_t*>job.scores
    if job.pos == NULL:
        return _hist_matrix(sc, job.ind, job.labels, job.w, lo_i, hi_i, job.C, job.edges,
                            job.lo, job.inv, job.B, h, wh)
    if wh == NULL:
        _hist_binary(sc, job.pos, job.w, lo_i, hi_i, job.edges, job.lo, job.inv, job.B, h,
                     wh, False)
    else:
        _hist_binary(sc, job.pos, job.w, lo_i, hi_i, job.edges, job.lo, job.inv, job.B, h,
                     wh, True)
    return 0


cdef void _hist_chunk(HistJob* job, int64_t chunk, int tid) noexcept nogil:
    # struct fields are read once: stores into the counts may alias them
    cdef int64_t lo_i = chunk * HIST_CHUNK, hi_i = lo_i + HIST_CHUNK
    cdef int64_t C = job.C, B = job.B
    cdef int64_t* h = job.hist + <int64_t>tid * C * B * 2
    cdef double* wh = NULL
    if job.whist != NULL:
        wh = job.whist + <int64_t>tid * C * B * 2
    if hi_i > job.n:
        hi_i = job.n
    if job.f32:
        job.bad[tid] += _hist_items(job, lo_i, hi_i, h, wh, <float>0)
    else:
        job.bad[tid] += _hist_items(job, lo_i, hi_i, h, wh, <double>0)


def histogram(scores, pos, indicators, labels, weights, edges_in, double lo, double hi):
    """Histogram scores into the bins of lower ``edges`` (equal bins of ``[lo, hi]``).

    ``scores`` is a C-contiguous float32/float64 array of shape (n,) or (n, C). Exactly
    one of ``pos`` (uint8 (n,), binary), ``indicators`` (uint8 (n, C), multilabel) and
    ``labels`` (int64 (n,), class index per row, one-vs-rest) is given. Returns
    ``(counts, weighted_counts_or_None, n_bad_labels)``, counts of shape (C, bins, 2)
    with ``[..., 0]`` negatives and ``[..., 1]`` positives.
    """
    cdef HistJob job
    cdef int64_t n = scores.shape[0]
    cdef int64_t C = scores.shape[1] if scores.ndim == 2 else 1
    cdef int64_t cells, t, nbad = 0, nchunks
    cdef int nt
    cdef int64_t[::1] hv
    cdef double[::1] whv
    cdef const unsigned char[::1] sv = scores.reshape(-1).view(np.uint8)
    cdef const uint8_t[::1] pv
    cdef const uint8_t[::1] iv
    cdef const int64_t[::1] lv
    cdef const double[::1] wv
    cdef int64_t bad[256]
    cdef const double[::1] edges = _guarded(edges_in, lo, hi)
    cdef int64_t bins = edges.shape[0] - 1
    if (pos is None) + (indicators is None) + (labels is None) != 2:
        raise ValueError("give exactly one of pos, indicators, labels")
    job.f32 = scores.dtype == np.float32
    if <int64_t>sv.shape[0] != n * C * (4 if job.f32 else 8):
        raise ValueError("scores must be C-contiguous float32 or float64")
    job.pos = NULL
    job.ind = NULL
    job.labels = NULL
    job.w = NULL
    if pos is not None:
        pv = pos
        if pv.shape[0] != n or C != 1:
            raise ValueError("pos must have one entry per score of a 1-D scores")
        job.pos = &pv[0] if n else NULL
    elif indicators is not None:
        iv = indicators.reshape(-1)
        if iv.shape[0] != n * C:
            raise ValueError("indicators must have the shape of scores")
        job.ind = &iv[0] if iv.shape[0] else NULL
    else:
        lv = labels
        if lv.shape[0] != n:
            raise ValueError("labels must have one entry per row of scores")
        job.labels = &lv[0] if n else NULL
    if weights is not None:
        wv = weights
        if wv.shape[0] != n:
            raise ValueError("weights must have one entry per row of scores")
        job.w = &wv[0] if n else NULL
    cells = C * bins * 2
    nchunks = (n + HIST_CHUNK - 1) // HIST_CHUNK
    nt = _threads(nchunks, cells)
    counts = np.zeros((nt, C, bins, 2), dtype=np.int64)
    wcounts = np.zeros((nt, C, bins, 2), dtype=np.float64) if weights is not None else None
    hv = counts.reshape(-1)
    job.hist = &hv[0]
    job.whist = NULL
    if wcounts is not None:
        whv = wcounts.reshape(-1)
        job.whist = &whv[0]
    for t in range(nt):
        bad[t] = 0
    job.bad = bad
    job.scores = &sv[0] if sv.shape[0] else NULL
    job.n = n
    job.C = C
    job.B = bins
    job.lo = lo
    job.edges = &edges[0]
    job.inv = <double>bins / (hi - lo)
    job.nchunks = nchunks
    with nogil:
        if nt == 1:
            for t in range(nchunks):
                _hist_chunk(&job, t, 0)
        else:
            for t in prange(nchunks, num_threads=nt, schedule="static"):
                _hist_chunk(&job, t, threadid())
    for t in range(nt):
        nbad += bad[t]
    counts = counts.sum(axis=0) if nt > 1 else counts[0]
    if wcounts is not None:
        wcounts = wcounts.sum(axis=0) if nt > 1 else wcounts[0]
    return counts, wcounts, nbad


# ---------------------------------------------------------------------------
# binary labels in their own integer dtype, checked as they are counted
# ---------------------------------------------------------------------------

ctypedef fused label_t:
    uint8_t
    uint16_t
    uint32_t
    uint64_t

cdef struct CheckedJob:
    const void* scores      # (n,) float32 / float64
    const void* labels      # (n,) unsigned view of the labels' integer dtype
    const double* w
    int64_t n
    int64_t B
    const double* edges
    double lo
    double inv
    int64_t* hist           # [nt][B][2]
    double* whist
    int64_t* bad            # [nt][2]: labels outside {0, 1}, non-finite scores


cdef inline void _count_checked(const score_t* sc, const label_t* y, const double* w,
                                int64_t lo_i, int64_t hi_i, const double* edges,
                                double lo, double inv, int64_t B, int64_t* h, double* wh,
                                int64_t* bad, bint weighted) noexcept nogil:
    # Called with a literal ``weighted``. A bad label or score still lands in a valid
    # cell (``y & 1``; NaN in bin 0, +-inf in the edge bins): the caller drops the
    # whole histogram when ``bad`` is non-zero, so nothing here needs a branch.
    cdef int64_t i, cell, nlab = 0, nnan = 0
    cdef label_t yi
    cdef double x
    for i in range(lo_i, hi_i):
        x = sc[i]
        yi = y[i]
        nlab += yi > 1
        nnan += not (fabs(x) <= DBL_MAX)
        cell = 2 * _bin(x, edges, lo, inv, B) + <int64_t>(yi & 1)
        h[cell] += 1
        if weighted:
            wh[cell] += w[i]
    bad[0] += nlab
    bad[1] += nnan


cdef void _checked_items(const CheckedJob* job, int64_t lo_i, int64_t hi_i, int64_t* h,
                         double* wh, int64_t* bad, const score_t* sc,
                         const label_t* y) noexcept nogil:
    if wh == NULL:
        _count_checked(sc, y, job.w, lo_i, hi_i, job.edges, job.lo, job.inv, job.B, h, wh,
                       bad, False)
    else:
        _count_checked(sc, y, job.w, lo_i, hi_i, job.edges, job.lo, job.inv, job.B, h, wh,
                       bad, True)


cdef void _checked_scores(const CheckedJob* job, int64_t lo_i, int64_t hi_i, int64_t* h,
                          double* wh, int64_t* bad, const score_t* sc,
                          int label_size) noexcept nogil:
    if label_size == 1:
        _checked_items(job, lo_i, hi_i, h, wh, bad, sc, <const uint8_t*>job.labels)
    elif label_size == 2:
        _checked_items(job, lo_i, hi_i, h, wh, bad, sc, <const uint16_t*>job.labels)
    elif label_size == 4:
        _checked_items(job, lo_i, hi_i, h, wh, bad, sc, <const uint32_t*>job.labels)
    else:
        _checked_items(job, lo_i, hi_i, h, wh, bad, sc, <const uint64_t*>job.labels)


cdef void _checked_chunk(const CheckedJob* job, int64_t chunk, int tid, bint f32,
                         int label_size) noexcept nogil:
    cdef int64_t lo_i = chunk * HIST_CHUNK, hi_i = lo_i + HIST_CHUNK
    cdef int64_t* h = job.hist + <int64_t>tid * job.B * 2
    cdef double* wh = NULL
    cdef int64_t* bad = job.bad + 2 * tid
    if job.whist != NULL:
        wh = job.whist + <int64_t>tid * job.B * 2
    if hi_i > job.n:
        hi_i = job.n
    if f32:
        _checked_scores(job, lo_i, hi_i, h, wh, bad, <const float*>job.scores, label_size)
    else:
        _checked_scores(job, lo_i, hi_i, h, wh, bad, <const double*>job.scores, label_size)


_UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def histogram_binary_checked(scores, labels, weights, edges_in, double lo, double hi):
    """Histogram 1-D scores against binary labels read in their own integer dtype.

    ``scores``: C-contiguous float32/float64 (n,); ``labels``: C-contiguous bool or
    integer (n,) of native byte order, any width (no conversion copy); ``weights``:
    float64 (n,) or None. Labels outside {0, 1} (negative ones included) and NaN /
    infinite scores are counted, not refused: the caller must discard the counts when
    either count is non-zero. Returns ``(counts, weighted_counts_or_None, n_bad_labels,
    n_nonfinite_scores)``, counts of shape (bins, 2) as :func:`histogram`.
    """
    cdef CheckedJob job
    cdef int64_t n = scores.shape[0]
    cdef int64_t t, nchunks, nbad_lab = 0, nbad_sc = 0
    cdef int nt, label_size
    cdef bint f32
    cdef int64_t[::1] hv
    cdef double[::1] whv
    cdef const unsigned char[::1] sv
    cdef const unsigned char[::1] lv
    cdef const double[::1] wv
    cdef int64_t bad[512]
    cdef const double[::1] edges = _guarded(edges_in, lo, hi)
    cdef int64_t bins = edges.shape[0] - 1
    if scores.ndim != 1 or labels.ndim != 1 or labels.shape[0] != n:
        raise ValueError("scores and labels must be 1-D of the same length")
    if labels.dtype.kind not in "biu" or not labels.dtype.isnative:
        raise ValueError(f"labels must be native bool or integers, got {labels.dtype}")
    f32 = scores.dtype == np.float32
    if not f32 and scores.dtype != np.float64:
        raise ValueError("scores must be C-contiguous float32 or float64")
    label_size = labels.dtype.itemsize
    sv = scores.view(np.uint8)
    lv = labels.view(_UNSIGNED[label_size]).view(np.uint8)
    job.w = NULL
    if weights is not None:
        wv = weights
        if wv.shape[0] != n:
            raise ValueError("weights must have one entry per row of scores")
        job.w = &wv[0] if n else NULL
    nchunks = (n + HIST_CHUNK - 1) // HIST_CHUNK
    nt = _threads(nchunks, bins * 2)
    counts = np.zeros((nt, bins, 2), dtype=np.int64)
    wcounts = np.zeros((nt, bins, 2), dtype=np.float64) if weights is not None else None
    hv = counts.reshape(-1)
    job.hist = &hv[0]
    job.whist = NULL
    if wcounts is not None:
        whv = wcounts.reshape(-1)
        job.whist = &whv[0]
    for t in range(2 * nt):
        bad[t] = 0
    job.bad = bad
    job.scores = &sv[0] if n else NULL
    job.labels = &lv[0] if n else NULL
    job.n = n
    job.B = bins
    job.lo = lo
    job.edges = &edges[0]
    job.inv = <double>bins / (hi - lo)
    with nogil:
        if nt == 1:
            for t in range(nchunks):
                _checked_chunk(&job, t, 0, f32, label_size)
        else:
            for t in prange(nchunks, num_threads=nt, schedule="static"):
                _checked_chunk(&job, t, threadid(), f32, label_size)
    for t in range(nt):
        nbad_lab += bad[2 * t]
        nbad_sc += bad[2 * t + 1]
    counts = counts.sum(axis=0) if nt > 1 else counts[0]
    if wcounts is not None:
        wcounts = wcounts.sum(axis=0) if nt > 1 else wcounts[0]
    return counts, wcounts, nbad_lab, nbad_sc
