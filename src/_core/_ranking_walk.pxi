# Included by _ranking.pyx (one compiled module: these loops inline into its drivers).
#
# The ranking walk over the two sorted key arrays, highest score first: exact AUC,
# average precision and, on request, the cumulative curve.

cdef extern from *:
    """
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
    """
    void calipers_walk64(const uint64_t* pk, int64_t ip, int64_t n_p, const uint64_t* nk,
                         int64_t jn, int64_t nn, int64_t tp0, int64_t fp0, int64_t n_neg,
                         u128* num2_out, double* ap_out) noexcept nogil
    void calipers_walk32(const uint32_t* pk, int64_t ip, int64_t n_p, const uint32_t* nk,
                         int64_t jn, int64_t nn, int64_t tp0, int64_t fp0, int64_t n_neg,
                         u128* num2_out, double* ap_out) noexcept nogil
    int64_t calipers_walk64_count_le(const uint64_t* a, int64_t n, uint64_t k) noexcept nogil
    int64_t calipers_walk32_count_le(const uint32_t* a, int64_t n, uint32_t k) noexcept nogil


cdef struct Walk:
    u128 num2              # unweighted: 2 x (ordered pairs) + tied pairs
    double wnum            # weighted: weight of ordered pairs + half the tied pairs
    double ap              # sum over thresholds of p_k x precision_k (divide by P)
    double tp
    double fp
    int64_t groups
    int64_t P              # samples kept of each class
    int64_t N


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
    out.P = P
    out.N = N


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
    out.P = P
    out.N = N


cdef inline void _walk_sorted(Sorted* srt, Walk* walk, bint grouped, int nthreads,
                              double* fps, double* tps, key_t* thr) noexcept nogil:
    """The walk a sort needs: grouped when weighted or when the curve is counted
    (``fps``/``tps``/``thr`` filled unless NULL), else the branch-free one."""
    if grouped or srt.pw != NULL:
        _walk(<key_t*>srt.pk, srt.P, <key_t*>srt.nk, srt.N, srt.pw, srt.nw, walk,
              fps, tps, thr)
    else:
        _walk_counts(<key_t*>srt.pk, srt.P, <key_t*>srt.nk, srt.N, walk, nthreads)
