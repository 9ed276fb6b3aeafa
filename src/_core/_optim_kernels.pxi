# The element loops of src/_core/_optim.pyx, in C (included there): one function per
# optimizer and dtype, each cloned for AVX-512, AVX2 and the baseline.

cdef extern from *:
    """
    /* The element loops, in C so that each can be compiled for several instruction
       sets (GCC's target_clones picks AVX-512, AVX2 or the baseline at load time):
       the Adam/Adagrad/RMSprop loops are compute-bound (sqrt and divisions) on
       baseline SSE2. Multiply-adds are never fused (fp-contract=off), so every clone
       rounds alike. The arrays of one call never overlap (restrict; the wrapper copies
       a gradient that shares memory with its parameter). The loops with a sqrt
       vectorize only with -fno-math-errno (the distutils directive at the top of this
       file): GCC keeps a scalar errno path for sqrt otherwise, and ignores that flag
       in optimize attributes and pragmas. sqrt(-x) is NaN either way. */
    #include <stdint.h>
    #include <math.h>
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
    #define CAL_CLONES __attribute__((target_clones("avx512f", "avx2", "default"), \
        optimize("fp-contract=off")))
    #else
    #define CAL_CLONES
    #endif
    #if defined(__GNUC__) || defined(__clang__)
    #define CAL_R __restrict__
    #define CAL_SQRT_d(x) __builtin_sqrt(x)
    #define CAL_SQRT_f(x) __builtin_sqrtf(x)
    #else
    #define CAL_R
    #define CAL_SQRT_d(x) sqrt(x)
    #define CAL_SQRT_f(x) sqrtf(x)
    #endif
    /* torch's lerp: exact at the end the weight is close to */
    #define CAL_LERP(T, a, b, w) ((w) < (T)0.5 ? (a) + (w) * ((b) - (a)) : (b) - ((b) - (a)) * ((T)1 - (w)))

    /* The loops with a store that depends on an option are written once per value
       of that option (below: constant AMS, CENTERED, BUF), so that they vectorize;
       the other options are branch-free selects. */
    #define CAL_ADAM_LOOP(T, S, AMS) \
        for (int64_t i = 0; i < n; i++) { \
            T gi = maximize ? -g[i] : g[i], pi = p[i], mi = m[i], vi, d; \
            gi = l2 ? gi + wd * pi : gi; \
            pi = dec ? pi * decay : pi; \
            mi = CAL_LERP(T, mi, gi, w1); \
            m[i] = mi; \
            vi = v[i] * b2 + c2 * gi * gi; \
            v[i] = vi; \
            if (AMS) { \
                T vm = vmax[i]; \
                vm = (vm != vm || vm > vi) ? vm : vi; /* torch.maximum keeps NaN */ \
                vmax[i] = vm; \
                vi = vm; \
            } \
            d = CAL_SQRT_##S(vi) / bc2s + eps; \
            p[i] = pi + neg_step * mi / d; /* addcdiv: (value * t1) / t2 */ \
        }
    #define CAL_RMSPROP_LOOP(T, S, CENTERED, BUF) \
        for (int64_t i = 0; i < n; i++) { \
            T gi = maximize ? -g[i] : g[i], pi = p[i], si, avg; \
            gi = l2 ? gi + wd * pi : gi; \
            si = sq[i] * a + c * gi * gi; \
            sq[i] = si; \
            if (CENTERED) { \
                T gai = CAL_LERP(T, ga[i], gi, c); \
                ga[i] = gai; \
                avg = CAL_SQRT_##S(si + (T)(-1) * gai * gai); \
            } else { \
                avg = CAL_SQRT_##S(si); \
            } \
            avg = avg + eps; \
            if (BUF) { \
                T b = buf[i] * mom + gi / avg; \
                buf[i] = b; \
                p[i] = pi + neg_lr * b; \
            } else { \
                p[i] = pi + neg_lr * gi / avg; \
            } \
        }

    #define CAL_KERNELS(T, S) \
    CAL_CLONES static void cal_sgd_##S(T* CAL_R p, const T* CAL_R g, T* CAL_R buf, int64_t n, double lr_, \
            double wd_, double mom_, double damp_, int maximize, int nesterov, int first) { \
        const T wd = (T)wd_, mom = (T)mom_, keep = (T)(1 - damp_), neg_lr = (T)(-lr_); \
        for (int64_t i = 0; i < n; i++) { \
            T gi = maximize ? -g[i] : g[i], pi = p[i]; \
            if (wd != 0) gi = gi + wd * pi; \
            if (mom != 0) { \
                T b = first ? gi : buf[i] * mom + keep * gi; \
                buf[i] = b; \
                gi = nesterov ? gi + mom * b : b; \
            } \
            p[i] = pi + neg_lr * gi; \
        } \
    } \
    CAL_CLONES static void cal_adam_##S(T* CAL_R p, const T* CAL_R g, T* CAL_R m, T* CAL_R v, T* CAL_R vmax, int64_t n, \
            double lr_, double beta1_, double beta2_, double eps_, double wd_, \
            double step_size_, double bc2s_, int maximize, int decoupled, int amsgrad) { \
        const T wd = (T)wd_, decay = (T)(1 - lr_ * wd_), w1 = (T)(1 - beta1_); \
        const T b2 = (T)beta2_, c2 = (T)(1 - beta2_), eps = (T)eps_; \
        const T neg_step = (T)(-step_size_), bc2s = (T)bc2s_; \
        const int l2 = wd_ != 0 && !decoupled, dec = wd_ != 0 && decoupled; \
        if (amsgrad) { \
            CAL_ADAM_LOOP(T, S, 1) \
        } else { \
            CAL_ADAM_LOOP(T, S, 0) \
        } \
    } \
    CAL_CLONES static void cal_adagrad_##S(T* CAL_R p, const T* CAL_R g, T* CAL_R s, int64_t n, double clr_, \
            double eps_, double wd_, int maximize) { \
        const T wd = (T)wd_, eps = (T)eps_, neg_clr = (T)(-clr_); \
        for (int64_t i = 0; i < n; i++) { \
            T gi = maximize ? -g[i] : g[i], pi = p[i], si; \
            if (wd != 0) gi = gi + wd * pi; \
            si = s[i] + gi * gi; \
            s[i] = si; \
            p[i] = pi + neg_clr * gi / (CAL_SQRT_##S(si) + eps); \
        } \
    } \
    CAL_CLONES static void cal_rmsprop_##S(T* CAL_R p, const T* CAL_R g, T* CAL_R sq, T* CAL_R ga, T* CAL_R buf, int64_t n, \
            double lr_, double alpha_, double eps_, double wd_, double mom_, \
            int maximize, int centered) { \
        const T wd = (T)wd_, eps = (T)eps_, neg_lr = (T)(-lr_), a = (T)alpha_; \
        const T c = (T)(1 - alpha_), mom = (T)mom_; \
        const int l2 = wd_ != 0; \
        if (centered) { \
            if (mom_ > 0) { CAL_RMSPROP_LOOP(T, S, 1, 1) } else { CAL_RMSPROP_LOOP(T, S, 1, 0) } \
        } else { \
            if (mom_ > 0) { CAL_RMSPROP_LOOP(T, S, 0, 1) } else { CAL_RMSPROP_LOOP(T, S, 0, 0) } \
        } \
    }

    CAL_KERNELS(float, f)
    CAL_KERNELS(double, d)

    /* The per-tensor scalars of a step, from its step counter, as torch's Python code
       computes them in doubles (a Python float is a C double, ``x ** y`` is pow):
       never contracted into fused multiply-adds, so they are torch's to the bit. */
    #if defined(__GNUC__) && !defined(__clang__)
    #define CAL_EXACT __attribute__((optimize("fp-contract=off")))
    #else
    #define CAL_EXACT
    #endif
    #if defined(__clang__)
    #define CAL_NO_CONTRACT _Pragma("clang fp contract(off)")
    #else
    #define CAL_NO_CONTRACT
    #endif
    /* ``step_t += 1`` in the counter's dtype; then ``step_t.item()`` */
    CAL_EXACT static double cal_count_step(void* s, int dbl) {
        if (dbl) {
            double* d = (double*)s;
            *d = *d + 1.0;
            return *d;
        }
        float* f = (float*)s;
        *f = *f + 1.0f;
        return (double)*f;
    }
    /* Adam: step_size = lr / (1 - beta1 ** step), (1 - beta2 ** step) ** 0.5 */
    CAL_EXACT static void cal_adam_scalars(double lr, double beta1, double beta2, double step,
            double* step_size, double* bc2_sqrt) {
        CAL_NO_CONTRACT
        double bc1 = 1.0 - pow(beta1, step);
        double bc2 = 1.0 - pow(beta2, step);
        *step_size = lr / bc1;
        *bc2_sqrt = pow(bc2, 0.5);
    }
    /* Adagrad: clr = lr / (1 + (step - 1) * lr_decay) */
    CAL_EXACT static double cal_adagrad_clr(double lr, double lr_decay, double step) {
        CAL_NO_CONTRACT
        return lr / (1.0 + (step - 1.0) * lr_decay);
    }

    /* Index of the first NaN/inf in g[:n], or -1: an integer OR over "all exponent
       bits set" (vectorizes, unlike a floating-point test), then a scan only when a
       chunk has one. */
    #define CAL_FIRST_BAD(T, U, EXP, S) \
    CAL_CLONES static int64_t cal_first_bad_##S(const T* CAL_R g, int64_t n) { \
        const U* CAL_R u = (const U*)g; \
        U bad = 0; \
        for (int64_t i = 0; i < n; i++) bad |= (U)((u[i] & EXP) == EXP); \
        if (!bad) return -1; \
        for (int64_t i = 0; i < n; i++) if ((u[i] & EXP) == EXP) return i; \
        return -1; \
    }
    CAL_FIRST_BAD(float, uint32_t, (uint32_t)0x7f800000u, f)
    CAL_FIRST_BAD(double, uint64_t, (uint64_t)0x7ff0000000000000ull, d)
    """
    double cal_count_step(void*, int) noexcept nogil
    void cal_adam_scalars(double, double, double, double, double*, double*) noexcept nogil
    double cal_adagrad_clr(double, double, double) noexcept nogil
    int64_t cal_first_bad_f(const float*, int64_t) noexcept nogil
    int64_t cal_first_bad_d(const double*, int64_t) noexcept nogil
    void cal_sgd_f(float*, const float*, float*, int64_t, double, double, double, double,
                   int, int, int) noexcept nogil
    void cal_sgd_d(double*, const double*, double*, int64_t, double, double, double, double,
                   int, int, int) noexcept nogil
    void cal_adam_f(float*, const float*, float*, float*, float*, int64_t, double, double,
                    double, double, double, double, double, int, int, int) noexcept nogil
    void cal_adam_d(double*, const double*, double*, double*, double*, int64_t, double,
                    double, double, double, double, double, double, int, int,
                    int) noexcept nogil
    void cal_adagrad_f(float*, const float*, float*, int64_t, double, double, double,
                       int) noexcept nogil
    void cal_adagrad_d(double*, const double*, double*, int64_t, double, double, double,
                       int) noexcept nogil
    void cal_rmsprop_f(float*, const float*, float*, float*, float*, int64_t, double, double,
                       double, double, double, int, int) noexcept nogil
    void cal_rmsprop_d(double*, const double*, double*, double*, double*, int64_t, double,
                       double, double, double, double, int, int) noexcept nogil
