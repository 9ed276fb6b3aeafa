# Included by _ranking.pyx (one compiled module: these loops inline into its drivers).
#
# Order-preserving integer keys of float scores, the sort buffers, and an LSD radix
# sort of ascending keys with an optional float64 payload (the weights).

cdef extern from *:
    """
    #include <stdint.h>
    #include <stdlib.h>
    #include <string.h>
    #include <sys/mman.h>
    typedef unsigned __int128 calipers_u128;

    /* Large buffers on 2 MiB boundaries, advised into transparent huge pages: first
       touching 4 KiB pages one fault at a time costs as much as a sort pass. */
    static void* calipers_big_alloc(size_t bytes) {
        void* p = NULL;
        if (bytes < ((size_t)4 << 20)) return malloc(bytes ? bytes : 1);
        if (posix_memalign(&p, (size_t)2 << 20, bytes) != 0) return NULL;
    #ifdef MADV_HUGEPAGE
        madvise(p, bytes, MADV_HUGEPAGE);
    #endif
        return p;
    }

    /* Order-preserving keys: flip all bits of negatives, the sign bit of positives.
       -0.0 is first mapped to +0.0 (scikit-learn treats them as one tie). Every
       finite score's key is > 0; the one NaN pattern that would map to 0 maps to 1,
       so 0 serves as a sentinel. */
    #define CALIPERS_KEY(NAME, FT, UT, SIGN)                                         \
    static inline UT NAME(FT x) {                                                    \
        UT u;                                                                        \
        if (x == (FT)0) x = (FT)0;                                                   \
        memcpy(&u, &x, sizeof(UT));                                                  \
        u = (u & SIGN) ? ~u : (u | SIGN);                                            \
        return u + (u == 0);                                                         \
    }
    CALIPERS_KEY(calipers_key64, double, uint64_t, 0x8000000000000000ULL)
    CALIPERS_KEY(calipers_key32, float, uint32_t, 0x80000000U)
    """
    ctypedef unsigned long long u128 "calipers_u128"
    uint64_t calipers_key64(double x) noexcept nogil
    uint32_t calipers_key32(float x) noexcept nogil
    void* calipers_big_alloc(size_t bytes) noexcept nogil

ctypedef fused key_t:
    uint32_t
    uint64_t


cdef inline int _ndig(key_t dummy) noexcept nogil:
    if key_t is uint64_t:
        return 8
    else:
        return 4


cdef inline int _nchunks(int nt) noexcept nogil:
    # Several work items per thread, taken dynamically: a thread that loses its core
    # to another process (a shared machine) delays one small chunk, not a whole half.
    if nt <= 1:
        return 1
    return CHUNKS_PER_THREAD * nt if CHUNKS_PER_THREAD * nt < MAX_CHUNKS else MAX_CHUNKS


cdef int _alloc_sort(int64_t n, bint weighted, size_t key_size, void** keys, void** tmp,
                     double** wbuf, double** wtmp) noexcept nogil:
    """Buffers of one sort: keys and scratch (n + 3 slots each), weights alike."""
    cdef size_t slots = <size_t>n + 3
    keys[0] = calipers_big_alloc(slots * key_size)
    tmp[0] = calipers_big_alloc(slots * key_size)
    wbuf[0] = NULL
    wtmp[0] = NULL
    if weighted:
        wbuf[0] = <double*>calipers_big_alloc(slots * sizeof(double))
        wtmp[0] = <double*>calipers_big_alloc(slots * sizeof(double))
    if keys[0] == NULL or tmp[0] == NULL or (weighted and (wbuf[0] == NULL or wtmp[0] == NULL)):
        _free_sort(keys[0], tmp[0], wbuf[0], wtmp[0])
        return -1
    return 0


cdef void _free_sort(void* keys, void* tmp, double* wbuf, double* wtmp) noexcept nogil:
    free(keys)
    free(tmp)
    free(wbuf)
    free(wtmp)


cdef void _insertion(key_t* k, double* w, int64_t n) noexcept nogil:
    cdef int64_t i, j
    cdef key_t x
    cdef double y = 0
    for i in range(1, n):
        x = k[i]
        if w != NULL:
            y = w[i]
        j = i - 1
        while j >= 0 and k[j] > x:
            k[j + 1] = k[j]
            if w != NULL:
                w[j + 1] = w[j]
            j -= 1
        k[j + 1] = x
        if w != NULL:
            w[j + 1] = y


cdef struct Pass:
    void* src
    void* dst
    double* wsrc
    double* wdst
    int shift
    int next_shift          # -1: last pass
    int nchunks
    int cshift              # chunks are 1 << cshift keys: chunk of index p is p >> cshift
    int64_t* bounds         # [nchunks + 1], the same for source and destination
    int64_t* offs           # [nchunks][RSIZE] write cursors
    int64_t* hist           # [nchunks][RSIZE] counts of the current digit
    int64_t* nexthist       # [nchunks (writer)][nchunks (destination)][RSIZE]


cdef void _count_digit(Pass* ps, int c, key_t dummy) noexcept nogil:
    cdef const key_t* src = <const key_t*>ps.src
    cdef int64_t* h = ps.hist + <int64_t>c * RSIZE
    cdef int64_t i
    cdef int sh = ps.shift
    for i in range(RSIZE):
        h[i] = 0
    for i in range(ps.bounds[c], ps.bounds[c + 1]):
        h[(src[i] >> sh) & RMASK] += 1


cdef inline void _scatter_run(const key_t* src, key_t* dst, const double* ws, double* wd,
                              int64_t* off, int64_t* nh, int64_t lo, int64_t hi, int sh,
                              int nsh, int cs, bint weighted, bint count_next) noexcept nogil:
    # Called with literal flags only: one loop per case, no test left inside it.
    cdef int64_t i, p
    cdef key_t k
    for i in range(lo, hi):
        k = src[i]
        p = off[(k >> sh) & RMASK]
        off[(k >> sh) & RMASK] = p + 1
        dst[p] = k
        if weighted:
            wd[p] = ws[i]
        if count_next:
            nh[(p >> cs) * RSIZE + <int64_t>((k >> nsh) & RMASK)] += 1


cdef void _scatter(Pass* ps, int c, key_t dummy) noexcept nogil:
    # Stable scatter of chunk c by the current digit; unless this is the last pass,
    # also counts the next digit per destination chunk (no counting pass needed).
    cdef const key_t* src = <const key_t*>ps.src
    cdef key_t* dst = <key_t*>ps.dst
    cdef int64_t* off = ps.offs + <int64_t>c * RSIZE
    cdef int64_t* nh
    cdef int64_t i, lo = ps.bounds[c], hi = ps.bounds[c + 1]
    cdef int sh = ps.shift, nsh = ps.next_shift, cs = ps.cshift
    cdef int64_t nc = ps.nchunks
    cdef const double* ws = ps.wsrc
    cdef double* wd = ps.wdst
    if nsh < 0:
        if ws == NULL:
            _scatter_run(src, dst, ws, wd, off, NULL, lo, hi, sh, nsh, cs, False, False)
        else:
            _scatter_run(src, dst, ws, wd, off, NULL, lo, hi, sh, nsh, cs, True, False)
        return
    nh = ps.nexthist + c * nc * RSIZE
    for i in range(nc * RSIZE):
        nh[i] = 0
    if ws == NULL:
        _scatter_run(src, dst, ws, wd, off, nh, lo, hi, sh, nsh, cs, False, True)
    else:
        _scatter_run(src, dst, ws, wd, off, nh, lo, hi, sh, nsh, cs, True, True)


cdef int _lsd(key_t* a, key_t* b, double* wa, double* wb, int64_t n, uint64_t orbits,
              uint64_t andbits, int nt) noexcept nogil:
    """Sort ``a`` (payload ``wa``) ascending, using ``b``/``wb`` as scratch.

    ``orbits``/``andbits`` are the OR and AND of all keys: digits where they agree
    are the same in every key and skipped. Returns 0 when the result is in ``a``, 1
    when in ``b``, -1 when out of memory.
    """
    cdef int nd = _ndig(<key_t>0)
    cdef int active[MAXDIG]
    cdef int nact = 0, d, j, c, x, s, nch, target
    cdef uint64_t varying = orbits ^ andbits
    cdef int64_t run, v
    cdef Pass ps
    cdef int64_t* mem
    cdef int where = 0
    cdef int64_t bounds[MAX_CHUNKS + 1]
    if n <= 1:
        return 0
    if n <= SMALL:
        _insertion(a, wa, n)
        return 0
    for d in range(nd):
        if (varying >> (d * RBITS)) & RMASK:
            active[nact] = d
            nact += 1
    if nact == 0:
        return 0
    # power-of-two chunks, so a destination's chunk is a shift away
    target = _nchunks(nt)
    ps.cshift = 0
    while (<int64_t>target << ps.cshift) < n:
        ps.cshift += 1
    nch = <int>((n + (<int64_t>1 << ps.cshift) - 1) >> ps.cshift)
    mem = <int64_t*>malloc(<size_t>(2 + nch) * nch * RSIZE * sizeof(int64_t))
    if mem == NULL:
        return -1
    for c in range(nch + 1):
        v = <int64_t>c << ps.cshift
        bounds[c] = v if v < n else n
    ps.nchunks = nch
    ps.bounds = bounds
    ps.offs = mem
    ps.hist = mem + nch * RSIZE
    ps.nexthist = mem + 2 * nch * RSIZE
    ps.src = a
    ps.shift = active[0] * RBITS
    if nt == 1:
        _count_digit(&ps, 0, <key_t>0)
    else:
        for s in prange(nch, num_threads=nt, schedule="dynamic", chunksize=1):
            _count_digit(&ps, s, <key_t>0)
    for x in range(nact):
        # write cursors: bucket-major, then chunk order (keeps the sort stable)
        run = 0
        for j in range(RSIZE):
            for c in range(nch):
                ps.offs[<int64_t>c * RSIZE + j] = run
                run += ps.hist[<int64_t>c * RSIZE + j]
        ps.src = a if where == 0 else b
        ps.dst = b if where == 0 else a
        ps.wsrc = wa if where == 0 else wb
        ps.wdst = wb if where == 0 else wa
        ps.shift = active[x] * RBITS
        ps.next_shift = active[x + 1] * RBITS if x + 1 < nact else -1
        if nt == 1:
            _scatter(&ps, 0, <key_t>0)
        else:
            for s in prange(nch, num_threads=nt, schedule="dynamic", chunksize=1):
                _scatter(&ps, s, <key_t>0)
        where = 1 - where
        if ps.next_shift >= 0:
            for c in range(nch):
                for j in range(RSIZE):
                    v = 0
                    for s in range(nch):
                        v += ps.nexthist[(<int64_t>s * nch + c) * RSIZE + j]
                    ps.hist[<int64_t>c * RSIZE + j] = v
    free(mem)
    return where
