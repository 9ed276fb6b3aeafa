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

Nothing here validates input beyond lengths: the wrapper in
:mod:`calipers.metrics._rank_core` checks dtypes, finiteness and contiguity.
"""

from cython.parallel cimport prange, threadid
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc

cimport openmp_shim as omp

import numpy as np

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

    /* Unweighted AUC and AP over one segment of the two sorted (ascending) key
       arrays, highest key first, without branches on the data. The segment holds
       np positives pk[ip - np + 1 .. ip] and nn negatives nk[jn - nn + 1 .. jn]; the
       key just below each (pk[ip - np], nk[jn - nn], a sentinel 0 at the very end)
       is below every key of the segment. tp0 / fp0 count the positives / negatives
       above the segment, n_neg all negatives.
       Ties are taken negatives first, so when a positive of key k is taken the
       negatives taken are exactly those >= k: its doubled AUC credit is
       2 (n_neg - fp) plus the negatives tied with it, and a run of positives of key
       k adds run x T / (T + F), T the positives taken when the run ends and F the
       negatives taken at its start. */
    #define CALIPERS_WALK(NAME, KT)                                                  \
    static void NAME(const KT* pk, int64_t ip, int64_t np, const KT* nk, int64_t jn, \
                     int64_t nn, int64_t tp0, int64_t fp0, int64_t n_neg,            \
                     calipers_u128* num2_out, double* ap_out) {                      \
        int64_t i = ip, j = jn, s, steps = np + nn;                                  \
        int64_t tp = tp0, fp = fp0, nrun = 0, run_p = 0, run_f = 0;                  \
        KT last_kn = 0, last_kp = 0;                                                 \
        calipers_u128 num2 = 0;                                                      \
        double ap = 0.0;                                                             \
        for (s = 0; s < steps; s++) {                                                \
            KT kp = pk[i], kn = nk[j];                                               \
            int64_t tk = kp > kn, tn = 1 - tk;                                       \
            KT mn = (KT)0 - (KT)tn, mp = (KT)0 - (KT)tk;                             \
            nrun = tk * nrun + tn * ((int64_t)(kn == last_kn) * nrun + 1);           \
            last_kn = (kn & mn) | (last_kn & ~mn);                                   \
            fp += tn;                                                                \
            j -= tn;                                                                 \
            int64_t eq = (int64_t)(last_kn == kp) * nrun;                            \
            num2 += (uint64_t)(tk * (2 * (n_neg - fp) + eq));                        \
            int64_t newp = tk & (int64_t)(kp != last_kp);                            \
            int64_t den = tp + run_f;                                                \
            den += den == 0;                                                         \
            ap += (double)(newp & (run_p > 0)) * ((double)run_p * ((double)tp / (double)den)); \
            run_p = run_p * (1 - newp) + tk;                                         \
            run_f += newp * (fp - run_f);                                            \
            last_kp = (kp & mp) | (last_kp & ~mp);                                   \
            tp += tk;                                                                \
            i -= tk;                                                                 \
        }                                                                            \
        if (run_p > 0) ap += (double)run_p * ((double)tp / (double)(tp + run_f));    \
        *num2_out = num2;                                                            \
        *ap_out = ap;                                                                \
    }                                                                                \
    /* number of keys <= k in the ascending array a[0 .. n) */                       \
    static int64_t NAME##_count_le(const KT* a, int64_t n, KT k) {                   \
        int64_t lo = 0, hi = n;                                                      \
        while (lo < hi) {                                                            \
            int64_t mid = lo + (hi - lo) / 2;                                        \
            if (a[mid] <= k) lo = mid + 1; else hi = mid;                            \
        }                                                                            \
        return lo;                                                                   \
    }
    CALIPERS_WALK(calipers_walk64, uint64_t)
    CALIPERS_WALK(calipers_walk32, uint32_t)
    /* Order-preserving keys: flip all bits of negatives, the sign bit of positives.
       Every finite score's key is > 0, so 0 serves as a sentinel. */
    static inline uint64_t calipers_key64(double x) {
        uint64_t u;
        if (x == 0.0) x = 0.0;  /* -0.0 -> +0.0: scikit-learn treats them as one tie */
        memcpy(&u, &x, 8);
        u = (u >> 63) ? ~u : (u | 0x8000000000000000ULL);
        return u + (u == 0);  /* only one NaN maps to 0: keep 0 for the sentinels */
    }
    static inline uint32_t calipers_key32(float x) {
        uint32_t u;
        if (x == 0.0f) x = 0.0f;
        memcpy(&u, &x, 4);
        u = (u >> 31) ? ~u : (u | 0x80000000U);
        return u + (u == 0);
    }
    """
    ctypedef unsigned long long u128 "calipers_u128"
    uint64_t calipers_key64(double x) noexcept nogil
    uint32_t calipers_key32(float x) noexcept nogil
    void* calipers_big_alloc(size_t bytes) noexcept nogil
    void calipers_walk64(const uint64_t* pk, int64_t ip, int64_t n_p, const uint64_t* nk,
                         int64_t jn, int64_t nn, int64_t tp0, int64_t fp0, int64_t n_neg,
                         u128* num2_out, double* ap_out) noexcept nogil
    void calipers_walk32(const uint32_t* pk, int64_t ip, int64_t n_p, const uint32_t* nk,
                         int64_t jn, int64_t nn, int64_t tp0, int64_t fp0, int64_t n_neg,
                         u128* num2_out, double* ap_out) noexcept nogil
    int64_t calipers_walk64_count_le(const uint64_t* a, int64_t n, uint64_t k) noexcept nogil
    int64_t calipers_walk32_count_le(const uint32_t* a, int64_t n, uint32_t k) noexcept nogil

ctypedef fused key_t:
    uint32_t
    uint64_t

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


def max_threads() -> int:
    """Number of threads the kernels may use (1 when built without OpenMP)."""
    return omp.omp_get_max_threads()


def openmp_enabled() -> bool:
    """Whether the core was compiled with OpenMP."""
    return bool(omp.CALIPERS_OPENMP)


cdef inline int _ndig(key_t dummy) noexcept nogil:
    if key_t is uint64_t:
        return 8
    else:
        return 4


cdef inline int _threads_for(int64_t n) noexcept nogil:
    cdef int64_t nt = omp.omp_get_max_threads()
    if nt > MAX_SORT_THREADS:
        nt = MAX_SORT_THREADS
    if nt > n // PAR_MIN:
        nt = n // PAR_MIN
    return <int>nt if nt > 0 else 1


# ---------------------------------------------------------------------------
# split: keys (and weights) of positives and negatives into their regions
# ---------------------------------------------------------------------------

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
    void* keys              # the layout above
    double* wbuf
    uint64_t* bits          # [nt][4]: OR and AND of positives' keys, of negatives' keys
    uint64_t* first         # [nt][2]: first positive / negative key of the chunk
    double* wfirst          # [nt][2]


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


# ---------------------------------------------------------------------------
# LSD radix sort (ascending keys, optional float64 payload)
# ---------------------------------------------------------------------------

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


cdef void _scatter(Pass* ps, int c, key_t dummy) noexcept nogil:
    # Stable scatter of chunk c by the current digit; unless this is the last pass,
    # also counts the next digit per destination chunk (no counting pass needed).
    cdef const key_t* src = <const key_t*>ps.src
    cdef key_t* dst = <key_t*>ps.dst
    cdef int64_t* off = ps.offs + <int64_t>c * RSIZE
    cdef int64_t* nh
    cdef int64_t i, p, lo = ps.bounds[c], hi = ps.bounds[c + 1]
    cdef key_t k
    cdef int sh = ps.shift, nsh = ps.next_shift, cs = ps.cshift
    cdef int64_t nc = ps.nchunks
    cdef const double* ws = ps.wsrc
    cdef double* wd = ps.wdst
    if nsh < 0:
        if ws == NULL:
            for i in range(lo, hi):
                k = src[i]
                p = off[(k >> sh) & RMASK]
                off[(k >> sh) & RMASK] = p + 1
                dst[p] = k
        else:
            for i in range(lo, hi):
                k = src[i]
                p = off[(k >> sh) & RMASK]
                off[(k >> sh) & RMASK] = p + 1
                dst[p] = k
                wd[p] = ws[i]
        return
    nh = ps.nexthist + c * nc * RSIZE
    for i in range(nc * RSIZE):
        nh[i] = 0
    if ws == NULL:
        for i in range(lo, hi):
            k = src[i]
            p = off[(k >> sh) & RMASK]
            off[(k >> sh) & RMASK] = p + 1
            dst[p] = k
            nh[(p >> cs) * RSIZE + <int64_t>((k >> nsh) & RMASK)] += 1
    else:
        for i in range(lo, hi):
            k = src[i]
            p = off[(k >> sh) & RMASK]
            off[(k >> sh) & RMASK] = p + 1
            dst[p] = k
            wd[p] = ws[i]
            nh[(p >> cs) * RSIZE + <int64_t>((k >> nsh) & RMASK)] += 1


cdef inline int _nchunks(int nt) noexcept nogil:
    # Several work items per thread, taken dynamically: a thread that loses its core
    # to another process (a shared machine) delays one small chunk, not a whole half.
    if nt <= 1:
        return 1
    return CHUNKS_PER_THREAD * nt if CHUNKS_PER_THREAD * nt < MAX_CHUNKS else MAX_CHUNKS


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


# ---------------------------------------------------------------------------
# the ranking walk over the two sorted arrays (highest score first)
# ---------------------------------------------------------------------------

cdef struct Walk:
    u128 num2              # unweighted: 2 x (ordered pairs) + tied pairs
    double wnum            # weighted: weight of ordered pairs + half the tied pairs
    double ap              # sum over thresholds of p_k x precision_k (divide by P)
    double tp
    double fp
    int64_t groups


cdef inline int64_t _count_le(const key_t* a, int64_t n, key_t k) noexcept nogil:
    if key_t is uint64_t:
        return calipers_walk64_count_le(a, n, k)
    else:
        return calipers_walk32_count_le(a, n, k)


cdef void _walk_counts(const key_t* pk, int64_t P, const key_t* nk, int64_t N,
                       Walk* out, int nthreads) noexcept nogil:
    """Unweighted AUC and AP (``pk[-1] == nk[-1] == 0``), in key-range segments.

    Segment boundaries are keys of the larger array at equal ranks, so no tie group
    straddles two segments; each segment starts from the counts above it.
    """
    cdef int nt = _nchunks(nthreads)
    cdef int64_t tops_p[MAX_CHUNKS + 1]   # positives with key > boundary t
    cdef int64_t tops_n[MAX_CHUNKS + 1]
    cdef u128 nums[MAX_CHUNKS]
    cdef double aps[MAX_CHUNKS]
    cdef const key_t* big = pk if P >= N else nk
    cdef int64_t nbig = P if P >= N else N
    cdef int64_t le_p, le_n
    cdef int t, s
    cdef key_t k
    cdef u128 num2 = 0
    cdef double ap = 0
    tops_p[0] = 0
    tops_n[0] = 0
    for t in range(1, nt):
        # boundary t: segment t - 1 holds keys > k, segment t keys <= k
        k = big[nbig - 1 - (<int64_t>t * nbig) // nt]
        le_p = _count_le(pk, P, k)
        le_n = _count_le(nk, N, k)
        tops_p[t] = P - le_p
        tops_n[t] = N - le_n
        if tops_p[t] < tops_p[t - 1] or tops_n[t] < tops_n[t - 1]:
            tops_p[t] = tops_p[t - 1]
            tops_n[t] = tops_n[t - 1]
    tops_p[nt] = P
    tops_n[nt] = N
    if nt == 1:
        _walk_segment(pk, P, nk, N, 0, 0, tops_p, tops_n, &nums[0], &aps[0])
    else:
        for s in prange(nt, num_threads=nthreads, schedule="dynamic", chunksize=1):
            _walk_segment(pk, P, nk, N, s, 0, tops_p, tops_n, &nums[s], &aps[s])
    for t in range(nt):
        num2 += nums[t]
        ap += aps[t]
    out.num2 = num2
    out.ap = ap
    out.tp = <double>P
    out.fp = <double>N
    out.wnum = 0
    out.groups = -1


cdef void _walk_segment(const key_t* pk, int64_t P, const key_t* nk, int64_t N, int t,
                        int dummy, const int64_t* tops_p, const int64_t* tops_n,
                        u128* num2, double* ap) noexcept nogil:
    cdef int64_t seg_p = tops_p[t + 1] - tops_p[t]
    cdef int64_t seg_n = tops_n[t + 1] - tops_n[t]
    if key_t is uint64_t:
        calipers_walk64(pk, P - 1 - tops_p[t], seg_p, nk, N - 1 - tops_n[t], seg_n, tops_p[t],
                        tops_n[t], N, num2, ap)
    else:
        calipers_walk32(pk, P - 1 - tops_p[t], seg_p, nk, N - 1 - tops_n[t], seg_n, tops_p[t],
                        tops_n[t], N, num2, ap)


cdef void _walk(const key_t* pk, int64_t P, const key_t* nk, int64_t N,
                const double* pw, const double* nw, Walk* out,
                double* fps, double* tps, key_t* thr) noexcept nogil:
    """Group-by-threshold walk: weighted sums and the curve arrays."""
    cdef int64_t i = P - 1, j = N - 1, g = 0
    cdef int64_t p, q, itp = 0, ifp = 0
    cdef double wp, wq, tp = 0, fp = 0, ap = 0, wnum = 0, ps
    cdef u128 num2 = 0
    cdef key_t k
    cdef bint weighted = pw != NULL
    while i >= 0 or j >= 0:
        if i >= 0 and (j < 0 or pk[i] >= nk[j]):
            k = pk[i]
        else:
            k = nk[j]
        p = 0
        wp = 0
        while i >= 0 and pk[i] == k:
            if weighted:
                wp += pw[i]
            i -= 1
            p += 1
        q = 0
        wq = 0
        while j >= 0 and nk[j] == k:
            if weighted:
                wq += nw[j]
            j -= 1
            q += 1
        if weighted:
            wnum += wq * (tp + 0.5 * wp)
            tp += wp
            fp += wq
        else:
            num2 += <u128>q * <u128>(2 * itp + p)
            itp += p
            ifp += q
            tp = <double>itp
            fp = <double>ifp
        if p > 0:
            ps = tp + fp
            if ps != 0:
                ap += (wp if weighted else <double>p) * (tp / ps)
        if fps != NULL:
            fps[g] = fp
            tps[g] = tp
            thr[g] = k
        g += 1
    out.num2 = num2
    out.wnum = wnum
    out.ap = ap
    out.tp = tp
    out.fp = fp
    out.groups = g


# ---------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------

cdef struct Sorted:
    int64_t P
    int64_t N
    void* pk                # positives' keys, ascending, pk[-1] == 0
    void* nk                # negatives' keys, ascending, nk[-1] == 0
    double* pw              # their weights (NULL unweighted)
    double* nw


cdef int _split_sort(const void* scores, int64_t stride, const uint8_t* pos,
                     int64_t pstride, const double* w, int64_t n, int nthreads,
                     key_t* keys, key_t* tmp, double* wbuf, double* wtmp,
                     Sorted* out) noexcept nogil:
    """Split by class into ``keys`` (n + 3 slots; ``tmp``, ``wbuf``, ``wtmp`` alike)
    and sort both classes. Returns -1 when out of memory, else 0."""
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
    cdef bint weighted = w != NULL
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
                res[0] = _lsd(keys + 1, tmp + 1, wbuf + 1 if weighted else NULL,
                              wtmp + 1 if weighted else NULL, P, orp, andp, 1)
            else:
                res[1] = _lsd(keys + 2 + P, tmp + 2 + P,
                              wbuf + 2 + P if weighted else NULL,
                              wtmp + 2 + P if weighted else NULL, N, orn, andn, 1)
        rp = res[0]
        rn = res[1]
    else:
        rp = _lsd(keys + 1, tmp + 1, wbuf + 1 if weighted else NULL,
                  wtmp + 1 if weighted else NULL, P, orp, andp,
                  _threads_for(P) if nthreads > 1 else 1)
        rn = _lsd(keys + 2 + P, tmp + 2 + P, wbuf + 2 + P if weighted else NULL,
                  wtmp + 2 + P if weighted else NULL, N, orn, andn,
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
    if weighted:
        out.pw = (wbuf if rp == 0 else wtmp) + 1
        out.nw = (wbuf if rn == 0 else wtmp) + 2 + P
    return 0


cdef int _alloc_sort(int64_t n, bint weighted, size_t key_size, void** keys, void** tmp,
                     double** wbuf, double** wtmp) noexcept nogil:
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


# One pair of unweighted sort buffers kept between calls (taken and given back with the
# GIL held): for many mid-sized calls (one-vs-rest columns, bootstrap, per-query
# ranking) mapping and zeroing fresh pages costs as much as a sort pass.
cdef enum:
    CACHE_MAX = 16 << 20   # bytes per buffer
cdef void* _cache_keys = NULL
cdef void* _cache_tmp = NULL
cdef size_t _cache_bytes = 0
cdef bint _cache_busy = False


cdef object _auc_num(Walk* walk, bint weighted):
    if weighted:
        return walk.wnum
    # the exact integer; the wrapper divides once (correctly rounded)
    return (int(<uint64_t>(walk.num2 >> 64)) << 64) + int(<uint64_t>walk.num2)


cdef int64_t _stride_of(object arr, size_t item) except -1:
    cdef Py_ssize_t st = arr.strides[0] if arr.ndim >= 1 else 0
    if arr.shape[0] > 1 and (st <= 0 or st % <Py_ssize_t>item):
        raise ValueError("arrays must have positive strides, multiples of the item size")
    return st // <Py_ssize_t>item


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
    stride = _stride_of(sv, sizeof(key_t))
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
                if weighted or curve:
                    # the grouped walk also counts the curve's points
                    _walk(<key_t*>srt.pk, srt.P, <key_t*>srt.nk, srt.N, srt.pw, srt.nw,
                          &walk, NULL, NULL, NULL)
                else:
                    _walk_counts(<key_t*>srt.pk, srt.P, <key_t*>srt.nk, srt.N, &walk,
                                 _threads_for(srt.P + srt.N))
        if rc < 0:
            raise MemoryError()
        stats = (_auc_num(&walk, weighted), walk.ap, walk.tp, walk.fp, srt.P, srt.N)
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
                _walk(<key_t*>srt.pk, srt.P, <key_t*>srt.nk, srt.N, srt.pw, srt.nw, &walk,
                      &fps_v[0], &tps_v[0], &thr_v[0])
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
    uint64_t* num_hi        # [C] outputs
    uint64_t* num_lo
    double* wnum
    double* ap
    double* tp
    double* fp
    int64_t* npos
    int64_t* nneg
    int* status


cdef void _column(ColumnsJob* job, int64_t c, int tid, key_t dummy) noexcept nogil:
    cdef Sorted srt
    cdef Walk walk
    cdef key_t* keys = <key_t*>job.keys[tid]
    cdef key_t* scores = <key_t*>job.scores
    if _split_sort(scores + c * job.s_col, job.s_row, job.pos + c * job.p_col, job.p_row,
                   job.w, job.n, 1, keys, <key_t*>job.tmp[tid], job.wbuf[tid],
                   job.wtmp[tid], &srt) < 0:
        job.status[c] = -1
        return
    if job.w != NULL:
        _walk(<key_t*>srt.pk, srt.P, <key_t*>srt.nk, srt.N, srt.pw, srt.nw, &walk,
              NULL, NULL, NULL)
    else:
        _walk_counts(<key_t*>srt.pk, srt.P, <key_t*>srt.nk, srt.N, &walk, 1)
    job.num_hi[c] = <uint64_t>(walk.num2 >> 64)
    job.num_lo[c] = <uint64_t>walk.num2
    job.wnum[c] = walk.wnum
    job.ap[c] = walk.ap
    job.tp[c] = walk.tp
    job.fp[c] = walk.fp
    job.npos[c] = srt.P
    job.nneg[c] = srt.N
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
    if n > 1 and (sv.strides[0] <= 0 or sv.strides[0] % <Py_ssize_t>sizeof(key_t)
                  or pv.strides[0] <= 0):
        raise ValueError("arrays must have positive row strides, multiples of the item size")
    if C > 1 and (sv.strides[1] <= 0 or sv.strides[1] % <Py_ssize_t>sizeof(key_t)
                  or pv.strides[1] <= 0):
        raise ValueError("arrays must have positive column strides")
    if weighted:
        wv = weights
        if wv.shape[0] != n:
            raise ValueError("pos and weights differ in length")
    num_hi = np.zeros(C, dtype=np.uint64)
    num_lo = np.zeros(C, dtype=np.uint64)
    out_f = np.zeros((4, C), dtype=np.float64)
    out_i = np.zeros((2, C), dtype=np.int64)
    status = np.zeros(C, dtype=np.intc)
    cdef uint64_t[::1] hi_v = num_hi, lo_v = num_lo
    cdef double[:, ::1] f_v = out_f
    cdef int64_t[:, ::1] i_v = out_i
    cdef int[::1] st_v = status
    job.scores = &sv[0, 0] if n > 0 else NULL
    job.s_row = sv.strides[0] // <Py_ssize_t>sizeof(key_t)
    job.s_col = sv.strides[1] // <Py_ssize_t>sizeof(key_t)
    job.pos = &pv[0, 0] if n > 0 else NULL
    job.p_row = pv.strides[0]
    job.p_col = pv.strides[1]
    job.w = &wv[0] if weighted and n > 0 else NULL
    job.n = n
    job.num_hi = &hi_v[0]
    job.num_lo = &lo_v[0]
    job.wnum = &f_v[0, 0]
    job.ap = &f_v[1, 0]
    job.tp = &f_v[2, 0]
    job.fp = &f_v[3, 0]
    job.npos = &i_v[0, 0]
    job.nneg = &i_v[1, 0]
    job.status = &st_v[0]
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
        if bad:
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
    finally:
        for t in range(nthreads):
            _free_sort(keys[t], tmp[t], wbuf[t], wtmp[t])
    result = []
    for c in range(C):
        if weighted:
            auc_num = out_f[0, c]
        else:
            auc_num = (int(num_hi[c]) << 64) + int(num_lo[c])
        result.append((auc_num, float(out_f[1, c]), float(out_f[2, c]), float(out_f[3, c]),
                       int(out_i[0, c]), int(out_i[1, c])))
    return result


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
    if scores.dtype == np.float64:
        return _rank_columns(pos, scores, weights, d64)
    if scores.dtype == np.float32:
        return _rank_columns(pos, scores, weights, d32)
    raise TypeError(f"scores must be float32 or float64, got {scores.dtype}")


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
    if scores.dtype == np.float64:
        return _rank(pos, scores, weights, curve, d64)
    if scores.dtype == np.float32:
        return _rank(pos, scores, weights, curve, d32)
    raise TypeError(f"scores must be float32 or float64, got {scores.dtype}")
