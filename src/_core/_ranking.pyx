# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Ranking kernels: radix sort of float scores and one ranking pass over them.

Scores become order-preserving unsigned integer keys (float64 -> uint64, float32 ->
uint32; -0.0 is first mapped to +0.0 so the two tie). Positives and negatives are
split into two key arrays (weights ride along when weighted; weight-0 samples are
dropped), each array is LSD radix sorted, and one walk over the two sorted arrays,
from the highest score down, groups ties and accumulates exact ROC AUC, average
precision and, on request, the cumulative curve.

The split pass also ORs and ANDs all keys, so digits equal for every key are skipped;
each scatter counts the next digit per destination chunk, so only the first digit
needs a counting pass (8-bit digits: measured faster than 10 or 11 bits here).

Threads (OpenMP, at most ``MAX_SORT_THREADS``; serial below ``PAR_MIN`` keys per
thread): the split and the walk (in key-range segments that no tie group straddles)
run over a few chunks per thread taken dynamically; balanced classes are sorted side
by side, one thread each, in one parallel region; an unbalanced class is sorted pass
by pass over chunks. :func:`rank_columns` instead gives whole columns to threads. On
a machine shared with other busy processes every barrier may wait for a descheduled
thread, so fewer parallel regions are better. All indices are int64.

Buffer layout of one sort (keys; weights alike)::

    [0] sentinel | [1, 1+P) positives | [1+P] sentinel | [2+P, 2+P+N) negatives | spare

The sentinels (key 0, below every finite score's key) let the unweighted walk run
without bounds checks; the spare slot absorbs the branch-free split's last stray write.

The code is one compiled module (the loops inline into the drivers) in four files,
included in this order: ``_ranking_radix.pxi`` (keys, buffers, radix sort),
``_ranking_split.pxi`` (the split pass and the sort of both classes),
``_ranking_walk.pxi`` (the ranking walks) and this file (the entry points).

Nothing here validates input beyond lengths: the wrapper in
:mod:`calipers.metrics._rank_core` checks dtypes, finiteness and contiguity.
"""

from cython.parallel cimport prange, threadid
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc

cimport openmp_shim as omp

import numpy as np

cdef enum:
    RBITS = 8
    RSIZE = 256            # 1 << RBITS buckets per digit
    RMASK = 255
    MAXDIG = 8             # digits of a uint64 key
    SMALL = 256            # keys up to which insertion sort replaces the radix sort
    PAR_MIN = 262144       # keys per thread below which a pass runs serially
    MAX_SORT_THREADS = 8
    CHUNKS_PER_THREAD = 4
    MAX_CHUNKS = 32


# The thresholds, for tests that cross them.
SMALL_SORT = SMALL
PARALLEL_MIN_PER_THREAD = PAR_MIN


cdef inline int _threads_for(int64_t n) noexcept nogil:
    cdef int64_t nt = omp.omp_get_max_threads()
    if nt > MAX_SORT_THREADS:
        nt = MAX_SORT_THREADS
    if nt > n // PAR_MIN:
        nt = n // PAR_MIN
    return <int>nt if nt > 0 else 1


include "_ranking_radix.pxi"
include "_ranking_split.pxi"
include "_ranking_walk.pxi"


# One pair of unweighted sort buffers kept between calls (taken and given back with the
# GIL held): for many mid-sized calls (one-vs-rest columns, bootstrap, per-query
# ranking) mapping and zeroing fresh pages costs as much as a sort pass.
cdef enum:
    CACHE_MAX = 16 << 20   # bytes per buffer
cdef void* _cache_keys = NULL
cdef void* _cache_tmp = NULL
cdef size_t _cache_bytes = 0
cdef bint _cache_busy = False


cdef object _stats(const Walk* walk, bint weighted):
    """The ``stats`` tuple of :func:`rank_binary` from a finished walk."""
    cdef object auc_num
    if weighted:
        auc_num = walk.wnum
    else:
        # the exact integer; the wrapper divides once (correctly rounded)
        auc_num = (int(<uint64_t>(walk.num2 >> 64)) << 64) + int(<uint64_t>walk.num2)
    return (auc_num, walk.ap, walk.tp, walk.fp, walk.P, walk.N)


cdef int64_t _stride_of(Py_ssize_t stride, Py_ssize_t extent, size_t item,
                        str axis) except -1:
    """``stride`` (bytes) in items; the sort reads any positive whole-item stride."""
    if extent > 1 and (stride <= 0 or stride % <Py_ssize_t>item):
        raise ValueError(f"arrays must have positive {axis}strides, multiples of the item size")
    return stride // <Py_ssize_t>item


cdef object _rank(object pos, object scores, object weights, bint curve, key_t dummy):
    cdef const uint8_t[::1] pv = pos
    cdef const double[::1] wv
    cdef const key_t[:] sv      # the scores' bits, strided like the scores
    cdef int64_t n = pv.shape[0]
    cdef int nthreads = _threads_for(n)
    cdef bint weighted = weights is not None
    cdef void* keys
    cdef void* tmp
    cdef double* wbuf
    cdef double* wtmp
    cdef int rc
    cdef Sorted srt
    cdef Walk walk
    cdef int64_t stride
    cdef double[::1] fps_v, tps_v
    cdef key_t[::1] thr_v
    cdef size_t need
    cdef bint cached
    if scores.ndim != 1 or scores.shape[0] != n:
        raise ValueError("pos and scores differ in length")
    sv = scores.view(np.uint64 if key_t is uint64_t else np.uint32)
    stride = _stride_of(sv.strides[0], n, sizeof(key_t), "")
    if weighted:
        wv = weights
        if wv.shape[0] != n:
            raise ValueError("pos and weights differ in length")
    global _cache_keys, _cache_tmp, _cache_bytes, _cache_busy
    need = (<size_t>n + 3) * sizeof(key_t)
    cached = not weighted and not _cache_busy and need <= _cache_bytes
    if cached:
        keys, tmp, wbuf, wtmp = _cache_keys, _cache_tmp, NULL, NULL
        _cache_busy = True
    elif _alloc_sort(n, weighted, sizeof(key_t), &keys, &tmp, &wbuf, &wtmp) < 0:
        raise MemoryError()
    try:
        with nogil:
            rc = _split_sort(&sv[0] if n > 0 else NULL, stride, &pv[0] if n > 0 else NULL,
                             1, &wv[0] if weighted and n > 0 else NULL, n, nthreads,
                             <key_t*>keys, <key_t*>tmp, wbuf, wtmp, &srt)
            if rc == 0:
                # the grouped walk also counts the curve's points
                _walk_sorted(&srt, &walk, curve, _threads_for(srt.P + srt.N), NULL, NULL,
                             <key_t*>NULL)
        if rc < 0:
            raise MemoryError()
        stats = _stats(&walk, weighted)
        if not curve:
            return stats, None
        fps = np.empty(walk.groups, dtype=np.float64)
        tps = np.empty(walk.groups, dtype=np.float64)
        thr = np.empty(walk.groups, dtype=np.uint64 if key_t is uint64_t else np.uint32)
        if walk.groups > 0:
            fps_v = fps
            tps_v = tps
            thr_v = thr
            with nogil:
                _walk_sorted(&srt, &walk, True, 1, &fps_v[0], &tps_v[0], &thr_v[0])
        return stats, (fps, tps, thr)
    finally:
        if cached:
            _cache_busy = False
        elif not weighted and not _cache_busy and _cache_bytes < need <= CACHE_MAX:
            _free_sort(_cache_keys, _cache_tmp, NULL, NULL)
            _cache_keys, _cache_tmp, _cache_bytes = keys, tmp, need
        else:
            _free_sort(keys, tmp, wbuf, wtmp)


cdef struct ColumnsJob:
    const void* scores
    int64_t s_row
    int64_t s_col
    const uint8_t* pos
    int64_t p_row
    int64_t p_col
    const double* w
    int64_t n
    void** keys             # [threads] scratch of each thread
    void** tmp
    double** wbuf
    double** wtmp
    Walk* walks             # [C] outputs
    int* status             # [C] 0, or -1 when out of memory


cdef void _column(ColumnsJob* job, int64_t c, int tid, key_t dummy) noexcept nogil:
    cdef Sorted srt
    cdef key_t* scores = <key_t*>job.scores
    if _split_sort(scores + c * job.s_col, job.s_row, job.pos + c * job.p_col, job.p_row,
                   job.w, job.n, 1, <key_t*>job.keys[tid], <key_t*>job.tmp[tid],
                   job.wbuf[tid], job.wtmp[tid], &srt) < 0:
        job.status[c] = -1
        return
    _walk_sorted(&srt, &job.walks[c], False, 1, NULL, NULL, <key_t*>NULL)
    job.status[c] = 0


cdef object _rank_columns(object pos, object scores, object weights, key_t dummy):
    cdef const uint8_t[:, :] pv = pos
    cdef const key_t[:, :] sv = scores.view(np.uint64 if key_t is uint64_t else np.uint32)
    cdef const double[::1] wv
    cdef int64_t n = sv.shape[0], C = sv.shape[1], c
    cdef int nthreads = omp.omp_get_max_threads(), t, bad = 0
    cdef bint weighted = weights is not None
    cdef ColumnsJob job
    cdef void* keys[MAX_SORT_THREADS]
    cdef void* tmp[MAX_SORT_THREADS]
    cdef double* wbuf[MAX_SORT_THREADS]
    cdef double* wtmp[MAX_SORT_THREADS]
    if pv.shape[0] != n or pv.shape[1] != C:
        raise ValueError("pos and scores differ in shape")
    if C == 0:
        return []
    if nthreads > MAX_SORT_THREADS:
        nthreads = MAX_SORT_THREADS
    if nthreads > C:
        nthreads = <int>C
    if nthreads < 1:
        nthreads = 1
    job.s_row = _stride_of(sv.strides[0], n, sizeof(key_t), "row ")
    job.s_col = _stride_of(sv.strides[1], C, sizeof(key_t), "column ")
    job.p_row = _stride_of(pv.strides[0], n, 1, "row ")
    job.p_col = _stride_of(pv.strides[1], C, 1, "column ")
    if weighted:
        wv = weights
        if wv.shape[0] != n:
            raise ValueError("pos and weights differ in length")
    status = np.zeros(C, dtype=np.intc)
    cdef int[::1] st_v = status
    job.scores = &sv[0, 0] if n > 0 else NULL
    job.pos = &pv[0, 0] if n > 0 else NULL
    job.w = &wv[0] if weighted and n > 0 else NULL
    job.n = n
    job.status = &st_v[0]
    job.walks = <Walk*>malloc(<size_t>C * sizeof(Walk))
    for t in range(nthreads):
        keys[t] = NULL
        tmp[t] = NULL
        wbuf[t] = NULL
        wtmp[t] = NULL
    for t in range(nthreads):
        if _alloc_sort(n, weighted, sizeof(key_t), &keys[t], &tmp[t], &wbuf[t],
                       &wtmp[t]) < 0:
            bad = 1
            break
    job.keys = keys
    job.tmp = tmp
    job.wbuf = wbuf
    job.wtmp = wtmp
    try:
        if bad or job.walks == NULL:
            raise MemoryError()
        with nogil:
            if nthreads == 1:
                for c in range(C):
                    _column(&job, c, 0, <key_t>0)
            else:
                # one column per thread at a time: no barriers inside a column
                for c in prange(C, num_threads=nthreads, schedule="dynamic", chunksize=1):
                    _column(&job, c, threadid(), <key_t>0)
        if (status < 0).any():
            raise MemoryError()
        return [_stats(&job.walks[c], weighted) for c in range(C)]
    finally:
        for t in range(nthreads):
            _free_sort(keys[t], tmp[t], wbuf[t], wtmp[t])
        free(job.walks)


cdef int _key_bits(object scores) except -1:
    """Bits of the scores' keys: 64 for float64, 32 for float32 (else TypeError)."""
    if scores.dtype == np.float64:
        return 64
    if scores.dtype == np.float32:
        return 32
    raise TypeError(f"scores must be float32 or float64, got {scores.dtype}")


def rank_columns(pos, scores, weights):
    """:func:`rank_binary` statistics (no curves) of every column of (n, C) ``scores``.

    ``pos`` is a uint8 (n, C) mask of the positives of each column, ``weights`` float64
    (n,) or None; both arrays may have any positive strides (an F-ordered or C-ordered
    matrix is read in place). Columns are spread over the threads, each sorted by one
    thread. Returns a list of C ``stats`` tuples.
    """
    cdef uint64_t d64 = 0
    cdef uint32_t d32 = 0
    if scores.ndim != 2 or pos.ndim != 2:
        raise ValueError("rank_columns needs 2-D pos and scores")
    if _key_bits(scores) == 64:
        return _rank_columns(pos, scores, weights, d64)
    return _rank_columns(pos, scores, weights, d32)


def rank_binary(pos, scores, weights, bint curve):
    """Sort and walk one binary problem.

    Parameters
    ----------
    pos : uint8 ndarray (n,), C-contiguous; nonzero marks a positive.
    scores : float32 or float64 ndarray (n,), finite; any positive stride that is a
        multiple of the item size (a column of a C-ordered matrix is read in place).
    weights : float64 ndarray (n,) or None; samples of weight 0 are dropped.
    curve : bool; also return the curve arrays.

    Returns
    -------
    stats : ``(auc_num, ap_sum, tp, fp, n_pos, n_neg)``. Unweighted, ``auc_num`` is
        the exact Python int ``2 x ordered pairs + tied pairs``; weighted, the float64
        weight of ordered pairs plus half the tied ones. ``ap_sum`` is
        ``sum_k p_k x precision_k``; ``tp``/``fp`` the total positive/negative weight;
        ``n_pos``/``n_neg`` the samples kept.
    curve : ``(fps, tps, threshold_keys)`` or None; keys are uint64 (float64 scores)
        or uint32 (float32 scores), decreasing.
    """
    cdef uint64_t d64 = 0
    cdef uint32_t d32 = 0
    if _key_bits(scores) == 64:
        return _rank(pos, scores, weights, curve, d64)
    return _rank(pos, scores, weights, curve, d32)
