# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Single-pass confusion counting kernels.

Every kernel reads its inputs exactly once, accumulates into per-thread private
buffers (OpenMP when available) and reports invalid entries through a counter
instead of raising, so the Python wrapper can name the offending value.

Inputs are contiguous buffers of signed integers (int8/16/32/64; the wrapper views
unsigned and bool arrays as the signed type of the same width, so a value that does
not fit lands outside the valid range and is counted as invalid) or float32/64
scores. Out-of-range or non-finite entries are never used as indices.
"""

from cython.parallel cimport parallel, prange, threadid
from libc.math cimport isfinite
from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memset

cimport openmp_shim as omp

import numpy as np

ctypedef fused label_t:
    int8_t
    int16_t
    int32_t
    int64_t

ctypedef fused label2_t:
    int8_t
    int16_t
    int32_t
    int64_t

ctypedef fused score_t:
    float
    double

# Elements per parallel work item: large enough to amortise scheduling, small enough
# to balance two to a few dozen threads.
cdef enum:
    CHUNK = 65536
# Per-thread histograms are padded to a cache line (8 x 8 bytes) to avoid false sharing.
cdef enum:
    PAD = 8


def max_threads() -> int:
    """Number of threads the kernels use (1 when built without OpenMP)."""
    return omp.omp_get_max_threads()


def openmp_enabled() -> bool:
    """Whether the core was compiled with OpenMP."""
    return bool(omp.CALIPERS_OPENMP)


cdef inline int _nthreads(Py_ssize_t n) noexcept nogil:
    cdef int nt = omp.omp_get_max_threads()
    cdef Py_ssize_t chunks = (n + CHUNK - 1) // CHUNK
    if chunks < nt:
        nt = <int>chunks
    return nt if nt > 0 else 1


cdef inline Py_ssize_t _row(Py_ssize_t cells) noexcept nogil:
    return ((cells + PAD - 1) // PAD) * PAD


cdef int _alloc_buffers(Py_ssize_t size, bint weighted, int64_t** hist,
                        double** whist) except -1:
    """Zeroed per-thread count buffers (and weight buffers when weighted)."""
    hist[0] = <int64_t*>calloc(size, sizeof(int64_t))
    whist[0] = <double*>calloc(size, sizeof(double)) if weighted else NULL
    if hist[0] == NULL or (weighted and whist[0] == NULL):
        free(hist[0])
        free(whist[0])
        raise MemoryError()
    return 0


cdef void _reduce_buffers(int64_t* hist, double* whist, int nt, Py_ssize_t row,
                          Py_ssize_t cells, int64_t* out, double* wout) noexcept nogil:
    """Add the per-thread buffers into the caller's contiguous output; free them."""
    cdef Py_ssize_t c, j
    for c in range(nt):
        for j in range(cells):
            out[j] += hist[c * row + j]
            if whist != NULL:
                wout[j] += whist[c * row + j]
    free(hist)
    free(whist)


# ---------------------------------------------------------------------------
# binary labels: vectorisable sums instead of a histogram
# ---------------------------------------------------------------------------

cdef void _binary_chunk(const label_t* t, const label2_t* p, Py_ssize_t n,
                        int64_t* acc) noexcept nogil:
    # acc = [sum t, sum p, sum t*p, invalid bits]
    cdef int64_t st = 0, sp = 0, stp = 0
    cdef uint64_t bits = 0
    cdef Py_ssize_t i
    cdef int64_t a, b
    for i in range(n):
        a = t[i]
        b = p[i]
        st += a
        sp += b
        stp += a & b
        bits |= <uint64_t>(a | b)
    acc[0] += st
    acc[1] += sp
    acc[2] += stp
    acc[3] |= <int64_t>(bits & ~(<uint64_t>1))


cdef void _binary_chunk_w(const label_t* t, const label2_t* p, const double* w,
                          Py_ssize_t n, double* acc, int64_t* bad) noexcept nogil:
    # acc = [sum w, sum w*t, sum w*p, sum w*t*p]
    cdef double sw = 0, st = 0, sp = 0, stp = 0, wi
    cdef uint64_t bits = 0
    cdef Py_ssize_t i
    cdef int64_t a, b
    for i in range(n):
        a = t[i]
        b = p[i]
        wi = w[i]
        sw += wi
        st += wi * a
        sp += wi * b
        stp += wi * (a & b)
        bits |= <uint64_t>(a | b)
    acc[0] += sw
    acc[1] += st
    acc[2] += sp
    acc[3] += stp
    bad[0] |= <int64_t>(bits & ~(<uint64_t>1))


def binary_labels(const label_t[::1] y_true, const label2_t[::1] y_pred):
    """Return ``(n, sum_true, sum_pred, sum_both, ok)`` for 0/1 labels.

    ``ok`` is False when any entry is outside {0, 1}; the sums are then meaningless.
    """
    cdef Py_ssize_t n = y_true.shape[0]
    cdef Py_ssize_t nchunks = (n + CHUNK - 1) // CHUNK
    cdef int nt = _nthreads(n)
    cdef int64_t* acc
    cdef Py_ssize_t c, start, stop
    cdef int tid
    cdef int64_t st = 0, sp = 0, stp = 0, bits = 0
    if n == 0:
        return 0, 0, 0, 0, True
    acc = <int64_t*>calloc(nt * PAD, sizeof(int64_t))
    if acc == NULL:
        raise MemoryError()
    with nogil, parallel(num_threads=nt):
        tid = threadid()
        for c in prange(nchunks, schedule="static"):
            start = c * CHUNK
            stop = start + CHUNK
            if stop > n:
                stop = n
            _binary_chunk(&y_true[start], &y_pred[start], stop - start, &acc[tid * PAD])
    for c in range(nt):
        st += acc[c * PAD]
        sp += acc[c * PAD + 1]
        stp += acc[c * PAD + 2]
        bits |= acc[c * PAD + 3]
    free(acc)
    return n, st, sp, stp, bits == 0


def binary_labels_weighted(const label_t[::1] y_true, const label2_t[::1] y_pred,
                           const double[::1] weight):
    """Weighted :func:`binary_labels`: ``(sum_w, sum_w_true, sum_w_pred, sum_w_both, ok)``."""
    cdef Py_ssize_t n = y_true.shape[0]
    cdef Py_ssize_t nchunks = (n + CHUNK - 1) // CHUNK
    cdef int nt = _nthreads(n)
    cdef double* acc
    cdef int64_t* bad
    cdef Py_ssize_t c, start, stop
    cdef int tid
    cdef double sw = 0, st = 0, sp = 0, stp = 0
    cdef int64_t bits = 0
    if n == 0:
        return 0.0, 0.0, 0.0, 0.0, True
    acc = <double*>calloc(nt * PAD, sizeof(double))
    bad = <int64_t*>calloc(nt * PAD, sizeof(int64_t))
    if acc == NULL or bad == NULL:
        free(acc)
        free(bad)
        raise MemoryError()
    with nogil, parallel(num_threads=nt):
        tid = threadid()
        for c in prange(nchunks, schedule="static"):
            start = c * CHUNK
            stop = start + CHUNK
            if stop > n:
                stop = n
            _binary_chunk_w(&y_true[start], &y_pred[start], &weight[start], stop - start,
                            &acc[tid * PAD], &bad[tid * PAD])
    for c in range(nt):
        sw += acc[c * PAD]
        st += acc[c * PAD + 1]
        sp += acc[c * PAD + 2]
        stp += acc[c * PAD + 3]
        bits |= bad[c * PAD]
    free(acc)
    free(bad)
    return sw, st, sp, stp, bits == 0


# ---------------------------------------------------------------------------
# labels in a window [lo, lo + k): full k x k matrix
# ---------------------------------------------------------------------------

cdef int64_t _matrix_chunk(const label_t* t, const label2_t* p, Py_ssize_t n,
                           int64_t lo, int64_t k, int64_t* hist) noexcept nogil:
    cdef Py_ssize_t i
    cdef int64_t a, b, nbad = 0
    cdef uint64_t uk = <uint64_t>k
    for i in range(n):
        # Unsigned arithmetic: wraps instead of overflowing for extreme labels.
        a = <int64_t>(<uint64_t><int64_t>t[i] - <uint64_t>lo)
        b = <int64_t>(<uint64_t><int64_t>p[i] - <uint64_t>lo)
        if (<uint64_t>a < uk) & (<uint64_t>b < uk):
            hist[a * k + b] += 1
        else:
            nbad += 1
    return nbad


cdef int64_t _matrix_chunk_w(const label_t* t, const label2_t* p, const double* w,
                             Py_ssize_t n, int64_t lo, int64_t k, int64_t* hist,
                             double* whist) noexcept nogil:
    cdef Py_ssize_t i
    cdef int64_t a, b, j, nbad = 0
    cdef uint64_t uk = <uint64_t>k
    for i in range(n):
        # Unsigned arithmetic: wraps instead of overflowing for extreme labels.
        a = <int64_t>(<uint64_t><int64_t>t[i] - <uint64_t>lo)
        b = <int64_t>(<uint64_t><int64_t>p[i] - <uint64_t>lo)
        if (<uint64_t>a < uk) & (<uint64_t>b < uk):
            j = a * k + b
            hist[j] += 1
            whist[j] += w[i]
        else:
            nbad += 1
    return nbad


# ---------------------------------------------------------------------------
# labels in [lo, lo + k): per-class sums only (true, pred, both), for large k
# ---------------------------------------------------------------------------

cdef int64_t _sums_chunk(const label_t* t, const label2_t* p, const double* w, Py_ssize_t n,
                         int64_t lo, int64_t k, int64_t* hist, double* whist) noexcept nogil:
    # hist rows: [0, k) true, [k, 2k) pred, [2k, 3k) both
    cdef Py_ssize_t i
    cdef int64_t a, b, nbad = 0
    cdef uint64_t uk = <uint64_t>k
    cdef double wi
    for i in range(n):
        # Unsigned arithmetic: wraps instead of overflowing for extreme labels.
        a = <int64_t>(<uint64_t><int64_t>t[i] - <uint64_t>lo)
        b = <int64_t>(<uint64_t><int64_t>p[i] - <uint64_t>lo)
        if (<uint64_t>a < uk) & (<uint64_t>b < uk):
            hist[a] += 1
            hist[k + b] += 1
            hist[2 * k + a] += (a == b)
            if w != NULL:
                wi = w[i]
                whist[a] += wi
                whist[k + b] += wi
                if a == b:
                    whist[2 * k + a] += wi
        else:
            nbad += 1
    return nbad


cdef int _check_out(object counts, object wcounts, object weight, Py_ssize_t rows,
                    Py_ssize_t cols) except -1:
    if cols < 1 or counts.shape[0] != rows or counts.shape[1] != cols:
        raise ValueError(f"counts must be {rows} x {cols} with {cols} >= 1")
    if weight is not None and (wcounts is None or wcounts.shape[0] != rows
                               or wcounts.shape[1] != cols):
        raise ValueError(f"weighted counting needs {rows} x {cols} wcounts")
    return 0


cdef int64_t _pair_kernel(const label_t[::1] y_true, const label2_t[::1] y_pred, int64_t lo,
                          int64_t k, bint sums, int64_t* out, double* wout,
                          const double[::1] weight) except -1:
    # Shared driver of matrix_labels (k x k cells) and sums_labels (3 x k cells).
    cdef Py_ssize_t n = y_true.shape[0]
    cdef Py_ssize_t nchunks = (n + CHUNK - 1) // CHUNK
    cdef int nt = _nthreads(n)
    cdef Py_ssize_t cells = 3 * k if sums else k * k
    cdef Py_ssize_t row = _row(cells)
    cdef int64_t* hist
    cdef double* whist = NULL
    cdef int64_t nbad = 0
    cdef Py_ssize_t c, start, stop
    cdef int tid
    cdef bint weighted = weight is not None
    if y_pred.shape[0] != n:
        raise ValueError("y_true and y_pred differ in length")
    if weighted and weight.shape[0] != n:
        raise ValueError("weight differs in length from y_true")
    if n == 0:
        return 0
    _alloc_buffers(nt * row, weighted, &hist, &whist)
    with nogil, parallel(num_threads=nt):
        tid = threadid()
        for c in prange(nchunks, schedule="static"):
            start = c * CHUNK
            stop = start + CHUNK
            if stop > n:
                stop = n
            if sums:
                nbad += _sums_chunk(&y_true[start], &y_pred[start],
                                    &weight[start] if weighted else <const double*>NULL,
                                    stop - start, lo, k, &hist[tid * row],
                                    &whist[tid * row] if weighted else <double*>NULL)
            elif weighted:
                nbad += _matrix_chunk_w(&y_true[start], &y_pred[start], &weight[start],
                                        stop - start, lo, k, &hist[tid * row],
                                        &whist[tid * row])
            else:
                nbad += _matrix_chunk(&y_true[start], &y_pred[start], stop - start, lo, k,
                                      &hist[tid * row])
    _reduce_buffers(hist, whist, nt, row, cells, out, wout)
    return nbad


def matrix_labels(const label_t[::1] y_true, const label2_t[::1] y_pred, int64_t lo,
                  int64_t k, int64_t[:, ::1] counts, double[:, ::1] wcounts=None,
                  const double[::1] weight=None):
    """Add the pair counts of labels in ``[lo, lo + k)`` to ``counts`` (k x k).

    With ``weight``, also add the weights to ``wcounts``. Returns the number of pairs
    with an entry outside the window (those are not counted).
    """
    _check_out(counts, wcounts, weight, k, k)
    return _pair_kernel(y_true, y_pred, lo, k, False, &counts[0, 0],
                        &wcounts[0, 0] if weight is not None else <double*>NULL, weight)


def sums_labels(const label_t[::1] y_true, const label2_t[::1] y_pred, int64_t lo, int64_t k,
                int64_t[:, ::1] counts, double[:, ::1] wcounts=None,
                const double[::1] weight=None):
    """Add per-class sums to ``counts`` (3 x k: true, pred, both-equal).

    Same contract as :func:`matrix_labels`, in O(k) memory for many classes.
    """
    _check_out(counts, wcounts, weight, 3, k)
    return _pair_kernel(y_true, y_pred, lo, k, True, &counts[0, 0],
                        &wcounts[0, 0] if weight is not None else <double*>NULL, weight)


# ---------------------------------------------------------------------------
# scores: thresholded (binary) and arg-maxed (multiclass)
# ---------------------------------------------------------------------------

cdef int64_t _threshold_chunk(const label_t* t, const score_t* s, const double* w,
                              Py_ssize_t n, double thr, int64_t* hist,
                              double* whist) noexcept nogil:
    # hist: 2 x 2 cells [t * 2 + pred]; entries with a label outside {0, 1} or a
    # non-finite score are counted as invalid and skipped.
    cdef Py_ssize_t i
    cdef int64_t a, b, j, nbad = 0
    cdef double v
    for i in range(n):
        a = <int64_t>t[i]
        v = <double>s[i]
        if (<uint64_t>a < 2) & isfinite(v):
            b = v >= thr
            j = a * 2 + b
            hist[j] += 1
            if w != NULL:
                whist[j] += w[i]
        else:
            nbad += 1
    return nbad


cdef int64_t _argmax_chunk(const label_t* t, const score_t* s, const double* w,
                           Py_ssize_t n, int64_t k, int64_t* hist,
                           double* whist) noexcept nogil:
    # s is row-major n x k; ties go to the lowest class (as numpy.argmax).
    cdef Py_ssize_t i, c
    cdef int64_t a, best, j, nbad = 0
    cdef double v, bv
    cdef bint finite
    cdef uint64_t uk = <uint64_t>k
    for i in range(n):
        a = <int64_t>t[i]
        bv = <double>s[i * k]
        best = 0
        finite = isfinite(bv)
        for c in range(1, k):
            v = <double>s[i * k + c]
            finite = finite & isfinite(v)
            if v > bv:
                bv = v
                best = c
        if (<uint64_t>a < uk) & finite:
            j = a * k + best
            hist[j] += 1
            if w != NULL:
                whist[j] += w[i]
        else:
            nbad += 1
    return nbad


cdef int64_t _score_kernel(const label_t[::1] y_true, const score_t[:, ::1] scores, double threshold,
                  int64_t k, bint argmax, int64_t[:, ::1] counts, double[:, ::1] wcounts,
                  const double[::1] weight) except -1:
    cdef Py_ssize_t n = y_true.shape[0]
    cdef Py_ssize_t nchunks = (n + CHUNK - 1) // CHUNK
    cdef int nt = _nthreads(n)
    cdef Py_ssize_t cells = k * k
    cdef Py_ssize_t row = _row(cells)
    cdef Py_ssize_t width = scores.shape[1]
    cdef int64_t* hist
    cdef double* whist = NULL
    cdef int64_t nbad = 0
    cdef Py_ssize_t c, start, stop
    cdef int tid
    cdef bint weighted = weight is not None
    if scores.shape[0] != n:
        raise ValueError("y_true and scores differ in length")
    if counts.shape[0] != k or counts.shape[1] != k:
        raise ValueError("counts must be k x k")
    if (argmax and width != k) or (not argmax and (k != 2 or width != 1)):
        raise ValueError("scores have the wrong width")
    if weighted and (wcounts is None or wcounts.shape[0] != k or wcounts.shape[1] != k
                     or weight.shape[0] != n):
        raise ValueError("weighted counting needs k x k wcounts and n weights")
    if n == 0:
        return 0
    _alloc_buffers(nt * row, weighted, &hist, &whist)
    with nogil, parallel(num_threads=nt):
        tid = threadid()
        for c in prange(nchunks, schedule="static"):
            start = c * CHUNK
            stop = start + CHUNK
            if stop > n:
                stop = n
            if argmax:
                nbad += _argmax_chunk(&y_true[start], &scores[start, 0],
                                      &weight[start] if weighted else <const double*>NULL,
                                      stop - start, k, &hist[tid * row],
                                      &whist[tid * row] if weighted else <double*>NULL)
            else:
                nbad += _threshold_chunk(&y_true[start], &scores[start, 0],
                                         &weight[start] if weighted else <const double*>NULL,
                                         stop - start, threshold, &hist[tid * row],
                                         &whist[tid * row] if weighted else <double*>NULL)
    _reduce_buffers(hist, whist, nt, row, cells, &counts[0, 0],
                    &wcounts[0, 0] if weighted else <double*>NULL)
    return nbad


def threshold_scores(const label_t[::1] y_true, const score_t[:, ::1] scores, double threshold,
                     int64_t[:, ::1] counts, double[:, ::1] wcounts=None,
                     const double[::1] weight=None):
    """Add the 2 x 2 counts of ``(y_true, scores[:, 0] >= threshold)`` to ``counts``.

    Returns the number of rows with a label outside {0, 1} or a non-finite score.
    """
    return _score_kernel(y_true, scores, threshold, 2, False, counts, wcounts, weight)


def argmax_scores(const label_t[::1] y_true, const score_t[:, ::1] scores,
                  int64_t[:, ::1] counts, double[:, ::1] wcounts=None,
                  const double[::1] weight=None):
    """Add the k x k counts of ``(y_true, argmax(scores, axis=1))`` to ``counts``.

    Returns the number of rows with a label outside [0, k) or a non-finite score.
    """
    return _score_kernel(y_true, scores, 0.0, scores.shape[1], True, counts, wcounts, weight)


# ---------------------------------------------------------------------------
# multilabel: n x L indicator matrices (or scores thresholded)
# ---------------------------------------------------------------------------

cdef int64_t _ml_chunk(const label_t* t, const label2_t* p, const score_t* s, double thr,
                       const double* w, Py_ssize_t n, Py_ssize_t L, int64_t* hist,
                       double* whist, int32_t* per_sample) noexcept nogil:
    # hist: L x 4 cells [label * 4 + t * 2 + pred]; hist[4L] counts exact-match rows,
    # whist likewise weighted. per_sample (n x 3: true, pred, both) when not NULL.
    # A row with any invalid entry is skipped whole.
    cdef Py_ssize_t i, l
    cdef int64_t a, b, nbad = 0, nt_, np_, nb_, wrong
    cdef uint64_t bits
    cdef double v, wi
    cdef bint finite
    for i in range(n):
        bits = 0
        finite = True
        for l in range(L):
            bits |= <uint64_t>t[i * L + l]
            if s != NULL:
                finite = finite & isfinite(<double>s[i * L + l])
            else:
                bits |= <uint64_t>p[i * L + l]
        if (bits > 1) | (not finite):
            nbad += 1
            continue
        nt_ = 0
        np_ = 0
        nb_ = 0
        wrong = 0
        wi = w[i] if w != NULL else 1.0
        for l in range(L):
            a = t[i * L + l]
            if s != NULL:
                b = (<double>s[i * L + l]) >= thr
            else:
                b = p[i * L + l]
            hist[l * 4 + a * 2 + b] += 1
            if w != NULL:
                whist[l * 4 + a * 2 + b] += wi
            nt_ += a
            np_ += b
            nb_ += a & b
            wrong += a ^ b
        if wrong == 0:
            hist[4 * L] += 1
            if w != NULL:
                whist[4 * L] += wi
        if per_sample != NULL:
            per_sample[i * 3] = <int32_t>nt_
            per_sample[i * 3 + 1] = <int32_t>np_
            per_sample[i * 3 + 2] = <int32_t>nb_
    return nbad


cdef int64_t _ml_kernel(const label_t[:, ::1] y_true, const label2_t[:, ::1] y_pred,
               const score_t[:, ::1] scores, double threshold, int64_t[::1] counts,
               double[::1] wcounts, const double[::1] weight, int32_t[:, ::1] per_sample):
    cdef Py_ssize_t n = y_true.shape[0]
    cdef Py_ssize_t L = y_true.shape[1]
    cdef Py_ssize_t nchunks
    cdef int nt
    cdef Py_ssize_t cells = 4 * L + 1
    cdef Py_ssize_t row = _row(cells)
    cdef Py_ssize_t chunk
    cdef int64_t* hist
    cdef double* whist = NULL
    cdef int64_t nbad = 0
    cdef Py_ssize_t c, start, stop
    cdef int tid
    cdef bint weighted = weight is not None
    cdef bint use_scores = scores is not None
    cdef bint keep = per_sample is not None
    cdef const label2_t* pp = NULL
    cdef const score_t* sp = NULL
    if use_scores:
        if scores.shape[0] != n or scores.shape[1] != L:
            raise ValueError("y_true and scores differ in shape")
    elif y_pred is None or y_pred.shape[0] != n or y_pred.shape[1] != L:
        raise ValueError("y_true and y_pred differ in shape")
    if counts.shape[0] != cells:
        raise ValueError("counts must hold 4 * L + 1 cells")
    if weighted and (wcounts is None or wcounts.shape[0] != cells or weight.shape[0] != n):
        raise ValueError("weighted counting needs 4 * L + 1 wcounts and n weights")
    if keep and (per_sample.shape[0] != n or per_sample.shape[1] != 3):
        raise ValueError("per_sample must be n x 3")
    if n == 0 or L == 0:
        return 0
    # Rows per work item so that each item reads about CHUNK elements.
    chunk = CHUNK // L if L < CHUNK else 1
    nchunks = (n + chunk - 1) // chunk
    nt = omp.omp_get_max_threads()
    if nchunks < nt:
        nt = <int>nchunks
    _alloc_buffers(nt * row, weighted, &hist, &whist)
    with nogil, parallel(num_threads=nt):
        tid = threadid()
        for c in prange(nchunks, schedule="static"):
            start = c * chunk
            stop = start + chunk
            if stop > n:
                stop = n
            nbad += _ml_chunk(&y_true[start, 0],
                              <const label2_t*>NULL if use_scores else &y_pred[start, 0],
                              &scores[start, 0] if use_scores else <const score_t*>NULL,
                              threshold,
                              &weight[start] if weighted else <const double*>NULL,
                              stop - start, L, &hist[tid * row],
                              &whist[tid * row] if weighted else <double*>NULL,
                              &per_sample[start, 0] if keep else <int32_t*>NULL)
    _reduce_buffers(hist, whist, nt, row, cells, &counts[0],
                    &wcounts[0] if weighted else <double*>NULL)
    return nbad


def multilabel_labels(const label_t[:, ::1] y_true, const label2_t[:, ::1] y_pred,
                      int64_t[::1] counts, double[::1] wcounts=None,
                      const double[::1] weight=None, int32_t[:, ::1] per_sample=None):
    """Add multilabel counts of two n x L 0/1 matrices to ``counts`` (4 L + 1 cells).

    ``counts[4 l + 2 t + p]`` counts label ``l`` with truth ``t`` and prediction ``p``;
    ``counts[4 L]`` counts rows predicted exactly. ``per_sample`` (n x 3), when given,
    receives each row's number of true, predicted and correctly predicted labels.
    Returns the number of rows skipped for an entry outside {0, 1}.
    """
    cdef float[:, ::1] no_scores = None
    return _ml_kernel(y_true, y_pred, no_scores, 0.0, counts, wcounts, weight, per_sample)


def multilabel_scores(const label_t[:, ::1] y_true, const score_t[:, ::1] scores,
                      double threshold, int64_t[::1] counts, double[::1] wcounts=None,
                      const double[::1] weight=None, int32_t[:, ::1] per_sample=None):
    """:func:`multilabel_labels` with predictions ``scores >= threshold``.

    Rows with a non-finite score or a label outside {0, 1} are skipped and counted.
    """
    cdef int8_t[:, ::1] no_pred = None
    return _ml_kernel(y_true, no_pred, scores, threshold, counts, wcounts, weight, per_sample)
