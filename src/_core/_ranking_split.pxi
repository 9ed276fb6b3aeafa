# Included by _ranking.pyx (one compiled module: these loops inline into its drivers).
#
# The split pass: keys (and weights) of positives and negatives into their regions of
# one buffer, in parallel input chunks, then both classes radix sorted.


cdef struct SplitJob:
    const void* scores
    int64_t stride          # of scores, in elements (> 0)
    const uint8_t* pos
    int64_t pstride         # of pos, in elements
    const double* w
    int nt
    int64_t P
    int64_t* in_bounds      # [nt + 1] input chunk bounds
    int64_t* npos           # [nt] positives kept per input chunk
    int64_t* nneg           # [nt] negatives kept per input chunk
    void* keys              # the layout in the module docstring
    double* wbuf
    uint64_t* bits          # [nt][4]: OR and AND of positives' keys, of negatives' keys
    uint64_t* first         # [nt][2]: first positive / negative key of the chunk
    double* wfirst          # [nt][2]


cdef struct Sorted:
    int64_t P
    int64_t N
    void* pk                # positives' keys, ascending, pk[-1] == 0
    void* nk                # negatives' keys, ascending, nk[-1] == 0
    double* pw              # their weights (NULL unweighted)
    double* nw


cdef void _count_chunk(SplitJob* job, int t) noexcept nogil:
    cdef int64_t i, p = 0, q = 0
    cdef int64_t lo = job.in_bounds[t], hi = job.in_bounds[t + 1]
    cdef const uint8_t* pos = job.pos
    cdef const double* w = job.w
    cdef int64_t ps = job.pstride
    if w == NULL:
        for i in range(lo, hi):
            p += pos[i * ps] != 0
        q = hi - lo - p
    else:
        for i in range(lo, hi):
            p += (pos[i * ps] != 0) & (w[i] != 0)
            q += (pos[i * ps] == 0) & (w[i] != 0)
    job.npos[t] = p
    job.nneg[t] = q


cdef void _split_chunk(SplitJob* job, int t, key_t dummy) noexcept nogil:
    # Branch-free: every key is written to both cursors and only one advances, so
    # the write one past this chunk's last positive (negative) may clobber the next
    # chunk's first one; the first keys are kept here and restored afterwards.
    cdef int64_t i, lo = job.in_bounds[t], hi = job.in_bounds[t + 1]
    cdef int64_t a = 1, b = 2 + job.P, a0, b0
    cdef int j
    cdef key_t k, mp, mn
    cdef key_t orp = 0, andp = <key_t>(-1), orn = 0, andn = <key_t>(-1)
    cdef key_t fp = 0, fn = 0
    cdef double wi = 1, fwp = 0, fwn = 0
    cdef key_t* keys = <key_t*>job.keys
    cdef double* wb = job.wbuf
    cdef const double* w = job.w
    cdef const uint8_t* pos = job.pos
    cdef const double* sd = <const double*>job.scores
    cdef const float* sf = <const float*>job.scores
    cdef int64_t st = job.stride, ps = job.pstride
    cdef int64_t isp, isn
    for j in range(t):
        a += job.npos[j]
        b += job.nneg[j]
    a0 = a
    b0 = b
    for i in range(lo, hi):
        if key_t is uint64_t:
            k = calipers_key64(sd[i * st])
        else:
            k = calipers_key32(sf[i * st])
        isp = pos[i * ps] != 0
        if w != NULL:
            wi = w[i]
            isn = (1 - isp) & (wi != 0)
            isp = isp & (wi != 0)
            wb[a] = wi
            wb[b] = wi
            fwp = wi if a == a0 else fwp
            fwn = wi if b == b0 else fwn
        else:
            isn = 1 - isp
        keys[a] = k
        keys[b] = k
        fp = k if a == a0 else fp
        fn = k if b == b0 else fn
        mp = <key_t>(-isp)
        mn = <key_t>(-isn)
        orp |= k & mp
        andp &= k | ~mp
        orn |= k & mn
        andn &= k | ~mn
        a += isp
        b += isn
    job.bits[4 * t] = orp
    job.bits[4 * t + 1] = andp
    job.bits[4 * t + 2] = orn
    job.bits[4 * t + 3] = andn
    job.first[2 * t] = fp
    job.first[2 * t + 1] = fn
    job.wfirst[2 * t] = fwp
    job.wfirst[2 * t + 1] = fwn


cdef void _restore_firsts(SplitJob* job, key_t dummy) noexcept nogil:
    cdef int64_t a = 1, b = 2 + job.P
    cdef int t
    cdef key_t* keys = <key_t*>job.keys
    for t in range(job.nt):
        if job.npos[t] > 0:
            keys[a] = <key_t>job.first[2 * t]
            if job.wbuf != NULL:
                job.wbuf[a] = job.wfirst[2 * t]
        if job.nneg[t] > 0:
            keys[b] = <key_t>job.first[2 * t + 1]
            if job.wbuf != NULL:
                job.wbuf[b] = job.wfirst[2 * t + 1]
        a += job.npos[t]
        b += job.nneg[t]


cdef inline int _sort_class(key_t* keys, key_t* tmp, double* wbuf, double* wtmp,
                            int64_t at, int64_t n, uint64_t orbits, uint64_t andbits,
                            int nt) noexcept nogil:
    # one class's region [at, at + n) of the buffers (weights NULL when unweighted)
    return _lsd(keys + at, tmp + at, wbuf + at if wbuf != NULL else NULL,
                wtmp + at if wtmp != NULL else NULL, n, orbits, andbits, nt)


cdef int _split_sort(const void* scores, int64_t stride, const uint8_t* pos,
                     int64_t pstride, const double* w, int64_t n, int nthreads,
                     key_t* keys, key_t* tmp, double* wbuf, double* wtmp,
                     Sorted* out) noexcept nogil:
    """Split by class into ``keys`` (n + 3 slots; ``tmp``, ``wbuf``, ``wtmp`` alike;
    the weight buffers NULL unweighted) and sort both classes. Returns -1 when out
    of memory, else 0."""
    cdef int nt = _nchunks(nthreads)     # input chunks
    cdef SplitJob job
    cdef int64_t t, P = 0, N = 0
    cdef int64_t in_bounds[MAX_CHUNKS + 1]
    cdef int64_t npos[MAX_CHUNKS]
    cdef int64_t nneg[MAX_CHUNKS]
    cdef uint64_t bits[4 * MAX_CHUNKS]
    cdef uint64_t first[2 * MAX_CHUNKS]
    cdef double wfirst[2 * MAX_CHUNKS]
    cdef uint64_t orp = 0, andp = <uint64_t>(-1), orn = 0, andn = <uint64_t>(-1)
    cdef int rp, rn
    cdef int res[2]
    job.scores = scores
    job.stride = stride
    job.pos = pos
    job.pstride = pstride
    job.w = w
    job.nt = nt
    for t in range(nt + 1):
        in_bounds[t] = (t * n) // nt
    job.in_bounds = in_bounds
    job.npos = npos
    job.nneg = nneg
    job.bits = bits
    job.first = first
    job.wfirst = wfirst
    if nt == 1:
        _count_chunk(&job, 0)
    else:
        for t in prange(nt, num_threads=nthreads, schedule="dynamic", chunksize=1):
            _count_chunk(&job, <int>t)
    for t in range(nt):
        P += npos[t]
        N += nneg[t]
    job.P = P
    job.keys = keys
    job.wbuf = wbuf
    if nt == 1:
        _split_chunk(&job, 0, <key_t>0)
    else:
        for t in prange(nt, num_threads=nthreads, schedule="dynamic", chunksize=1):
            _split_chunk(&job, <int>t, <key_t>0)
    _restore_firsts(&job, <key_t>0)
    for t in range(nt):
        orp |= bits[4 * t]
        andp &= bits[4 * t + 1]
        orn |= bits[4 * t + 2]
        andn &= bits[4 * t + 3]
    if nthreads > 1 and 3 * P >= N and 3 * N >= P and P + N > 2 * PAR_MIN:
        # balanced classes: each sorted by one thread, both at once (one parallel
        # region instead of one per pass: nothing waits at barriers)
        for t in prange(2, num_threads=2, schedule="static", chunksize=1):
            if t == 0:
                res[0] = _sort_class(keys, tmp, wbuf, wtmp, 1, P, orp, andp, 1)
            else:
                res[1] = _sort_class(keys, tmp, wbuf, wtmp, 2 + P, N, orn, andn, 1)
        rp = res[0]
        rn = res[1]
    else:
        rp = _sort_class(keys, tmp, wbuf, wtmp, 1, P, orp, andp,
                         _threads_for(P) if nthreads > 1 else 1)
        rn = _sort_class(keys, tmp, wbuf, wtmp, 2 + P, N, orn, andn,
                         _threads_for(N) if nthreads > 1 else 1) if rp >= 0 else -1
    if rp < 0 or rn < 0:
        return -1
    keys[0] = 0
    tmp[0] = 0
    keys[1 + P] = 0
    tmp[1 + P] = 0
    out.P = P
    out.N = N
    out.pk = (keys if rp == 0 else tmp) + 1
    out.nk = (keys if rn == 0 else tmp) + 2 + P
    out.pw = NULL
    out.nw = NULL
    if wbuf != NULL:
        out.pw = (wbuf if rp == 0 else wtmp) + 1
        out.nw = (wbuf if rn == 0 else wtmp) + 2 + P
    return 0
