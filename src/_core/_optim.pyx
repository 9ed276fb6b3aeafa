# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# distutils: extra_compile_args = -fno-math-errno
"""Fused optimizer steps: one pass per element over a whole list of parameter arrays.

Each step function takes lists of C-contiguous arrays of one dtype (float32 or
float64): parameters, gradients and the optimizer's state buffers, all of equal
lengths per tensor. The tensors are cut into work items of ``STEP_CHUNK`` elements
that OpenMP threads update independently; every element is read and written once.
Per-tensor scalars that depend on the step count (Adam's bias corrections, Adagrad's
decayed learning rate, SGD's "first step" flag) are computed once per tensor by the
caller and passed as arrays: nothing per element but the update itself.

The arithmetic follows torch.optim's single-tensor code in its order of operations,
in the parameters' own precision (float32 math for float32, as torch's CPU kernels).

The element loops themselves are C, in ``_optim_kernels.pxi``.

Nothing here validates input beyond lengths: :mod:`calipers.optim` checks shapes,
dtypes, contiguity and writeability. :func:`first_nonfinite` is the read-only check
that lets the caller refuse or skip a step before anything is written.
"""

from cython.parallel cimport prange
from libc.stdint cimport int64_t, uint8_t
from libc.stdlib cimport free, malloc

cimport numpy as cnp
cimport openmp_shim as omp

import numpy as np

cnp.import_array()

include "_optim_kernels.pxi"


cdef enum:
    STEP_CHUNK = 32768        # elements per work item
    SERIAL_BELOW = 131072     # total elements under which one thread does it all

# The work item size, for tests that cross it.
ELEMENTS_PER_ITEM = STEP_CHUNK


cdef struct Job:
    int ntensors
    int nitems
    bint dbl
    void** p          # parameters
    void** g          # gradients
    void** s1         # state buffers (NULL lists where unused)
    void** s2
    void** s3
    int* item_t       # tensor of each work item
    int64_t* item_lo  # element range of each work item
    int64_t* item_hi
    double* ta        # per-tensor scalars (meaning depends on the optimizer)
    double* tb
    uint8_t* tflag
    # per-call scalars
    double lr, beta1, beta2, eps, wd, momentum, dampening, alpha
    bint maximize, decoupled, amsgrad, nesterov, centered


def max_threads() -> int:
    """Number of threads the kernels use (1 when built without OpenMP)."""
    return omp.omp_get_max_threads()


# ---------------------------------------------------------------- dispatch

cdef enum Kind:
    K_SGD, K_ADAM, K_ADAGRAD, K_RMSPROP


cdef inline void* _at(void** ptrs, int t, int64_t lo, bint dbl) noexcept nogil:
    if ptrs == NULL or ptrs[t] == NULL:
        return NULL
    if dbl:
        return <void*>((<double*>ptrs[t]) + lo)
    return <void*>((<float*>ptrs[t]) + lo)


cdef void _run_item(const Job* j, int k, int item) noexcept nogil:
    cdef int t = j.item_t[item]
    cdef int64_t lo = j.item_lo[item], n = j.item_hi[item] - j.item_lo[item]
    cdef bint d = j.dbl
    cdef void* p = _at(j.p, t, lo, d)
    cdef void* g = _at(j.g, t, lo, d)
    cdef void* s1 = _at(j.s1, t, lo, d)
    cdef void* s2 = _at(j.s2, t, lo, d)
    cdef void* s3 = _at(j.s3, t, lo, d)
    if k == K_SGD:
        if d:
            cal_sgd_d(<double*>p, <double*>g, <double*>s1, n, j.lr, j.wd, j.momentum,
                      j.dampening, j.maximize, j.nesterov, j.tflag[t])
        else:
            cal_sgd_f(<float*>p, <float*>g, <float*>s1, n, j.lr, j.wd, j.momentum,
                      j.dampening, j.maximize, j.nesterov, j.tflag[t])
    elif k == K_ADAM:
        if d:
            cal_adam_d(<double*>p, <double*>g, <double*>s1, <double*>s2, <double*>s3, n,
                       j.lr, j.beta1, j.beta2, j.eps, j.wd, j.ta[t], j.tb[t], j.maximize,
                       j.decoupled, j.amsgrad)
        else:
            cal_adam_f(<float*>p, <float*>g, <float*>s1, <float*>s2, <float*>s3, n,
                       j.lr, j.beta1, j.beta2, j.eps, j.wd, j.ta[t], j.tb[t], j.maximize,
                       j.decoupled, j.amsgrad)
    elif k == K_ADAGRAD:
        if d:
            cal_adagrad_d(<double*>p, <double*>g, <double*>s1, n, j.ta[t], j.eps, j.wd,
                          j.maximize)
        else:
            cal_adagrad_f(<float*>p, <float*>g, <float*>s1, n, j.ta[t], j.eps, j.wd,
                          j.maximize)
    else:
        if d:
            cal_rmsprop_d(<double*>p, <double*>g, <double*>s1, <double*>s2, <double*>s3, n,
                          j.lr, j.alpha, j.eps, j.wd, j.momentum, j.maximize, j.centered)
        else:
            cal_rmsprop_f(<float*>p, <float*>g, <float*>s1, <float*>s2, <float*>s3, n,
                          j.lr, j.alpha, j.eps, j.wd, j.momentum, j.maximize, j.centered)


cdef class _Lists:
    # Owns the C arrays of one call: pointers, work items, per-tensor scalars.
    cdef Job job
    cdef int64_t total

    def __cinit__(self):
        self.job.p = self.job.g = self.job.s1 = self.job.s2 = self.job.s3 = NULL
        self.job.item_t = NULL
        self.job.item_lo = self.job.item_hi = NULL
        self.job.ta = self.job.tb = NULL
        self.job.tflag = NULL

    def __dealloc__(self):
        free(self.job.p)
        free(self.job.g)
        free(self.job.s1)
        free(self.job.s2)
        free(self.job.s3)
        free(self.job.item_t)
        free(self.job.item_lo)
        free(self.job.item_hi)
        free(self.job.ta)
        free(self.job.tb)
        free(self.job.tflag)


cdef void** _pointers(list arrays, int nt, int64_t* sizes, bint dbl, str what) except? NULL:
    cdef void** out = <void**>malloc(max(nt, 1) * sizeof(void*))
    cdef int t
    cdef cnp.ndarray a
    if out == NULL:
        raise MemoryError()
    if len(arrays) != nt:
        free(out)
        raise ValueError(f"{what}: expected {nt} arrays, got {len(arrays)}")
    for t in range(nt):
        a = arrays[t]
        if (cnp.PyArray_SIZE(a) != sizes[t] or not cnp.PyArray_IS_C_CONTIGUOUS(a)
                or cnp.PyArray_TYPE(a) != (cnp.NPY_FLOAT64 if dbl else cnp.NPY_FLOAT32)):
            free(out)
            raise ValueError(f"{what}[{t}]: size, dtype or layout differs from the params")
        out[t] = cnp.PyArray_DATA(a)
    return out


cdef _Lists _prepare(list params, list grads, list s1, list s2, list s3):
    cdef _Lists L = _Lists()
    cdef Job* j = &L.job
    cdef int nt = len(params), t, it
    cdef int64_t n, lo, nitems = 0
    cdef cnp.ndarray a
    cdef int64_t* sizes = <int64_t*>malloc(max(nt, 1) * sizeof(int64_t))
    if sizes == NULL:
        raise MemoryError()
    try:
        j.ntensors = nt
        j.dbl = nt > 0 and (<cnp.ndarray>params[0]).dtype == np.float64
        L.total = 0
        for t in range(nt):
            a = params[t]
            sizes[t] = cnp.PyArray_SIZE(a)
            L.total += sizes[t]
            nitems += (sizes[t] + STEP_CHUNK - 1) // STEP_CHUNK
        j.p = _pointers(params, nt, sizes, j.dbl, "params")
        j.g = _pointers(grads, nt, sizes, j.dbl, "grads")
        if s1 is not None:
            j.s1 = _pointers(s1, nt, sizes, j.dbl, "state")
        if s2 is not None:
            j.s2 = _pointers(s2, nt, sizes, j.dbl, "state")
        if s3 is not None:
            j.s3 = _pointers(s3, nt, sizes, j.dbl, "state")
        j.nitems = <int>nitems
        j.item_t = <int*>malloc(max(nitems, 1) * sizeof(int))
        j.item_lo = <int64_t*>malloc(max(nitems, 1) * sizeof(int64_t))
        j.item_hi = <int64_t*>malloc(max(nitems, 1) * sizeof(int64_t))
        j.ta = <double*>malloc(max(nt, 1) * sizeof(double))
        j.tb = <double*>malloc(max(nt, 1) * sizeof(double))
        j.tflag = <uint8_t*>malloc(max(nt, 1) * sizeof(uint8_t))
        if (j.item_t == NULL or j.item_lo == NULL or j.item_hi == NULL or j.ta == NULL
                or j.tb == NULL or j.tflag == NULL):
            raise MemoryError()
        it = 0
        for t in range(nt):
            n = sizes[t]
            lo = 0
            while lo < n:
                j.item_t[it] = t
                j.item_lo[it] = lo
                j.item_hi[it] = min(lo + STEP_CHUNK, n)
                lo += STEP_CHUNK
                it += 1
    finally:
        free(sizes)
    return L


cdef void _per_tensor(double* out, object values, int nt) except *:
    cdef int t
    cdef const double[::1] v = np.ascontiguousarray(values, dtype=np.float64)
    if v.shape[0] != nt:
        raise ValueError(f"expected {nt} per-tensor values, got {v.shape[0]}")
    for t in range(nt):
        out[t] = v[t]


cdef int _threads(_Lists L) noexcept:
    # Threads for one call: no more than its work items, one for small totals.
    cdef int nt = omp.omp_get_max_threads()
    if nt > L.job.nitems:
        nt = L.job.nitems
    if L.total < SERIAL_BELOW or nt < 1:
        nt = 1
    return nt


cdef void _run(_Lists L, int k) noexcept:
    cdef Job* j = &L.job
    cdef int nt = _threads(L)
    cdef int item
    with nogil:
        if nt == 1:
            for item in range(j.nitems):
                _run_item(j, k, item)
        else:
            for item in prange(j.nitems, num_threads=nt, schedule="static"):
                _run_item(j, k, item)


# ---------------------------------------------------------------- entry points

def sgd_step(list params, list grads, list bufs, first, *, double lr, double momentum,
             double dampening, double weight_decay, bint nesterov, bint maximize) -> None:
    """SGD on every tensor; ``bufs`` (momentum buffers) is ignored when momentum is 0.

    ``first[t]`` true makes tensor t's buffer a copy of its (decayed) gradient, as
    torch does on a buffer's first step.
    """
    cdef _Lists L = _prepare(params, grads, bufs if momentum != 0 else None, None, None)
    cdef int t
    L.job.lr = lr
    L.job.momentum = momentum
    L.job.dampening = dampening
    L.job.wd = weight_decay
    L.job.nesterov = nesterov
    L.job.maximize = maximize
    flags = np.ascontiguousarray(first, dtype=np.uint8)
    if flags.shape[0] != len(params):
        raise ValueError(f"expected {len(params)} first-step flags, got {flags.shape[0]}")
    for t in range(len(params)):
        L.job.tflag[t] = flags[t]
    _run(L, K_SGD)


def adam_step(list params, list grads, list exp_avgs, list exp_avg_sqs, list max_exp_avg_sqs,
              step_sizes, bias_correction2_sqrts, *, double lr, double beta1, double beta2,
              double eps, double weight_decay, bint decoupled, bint amsgrad,
              bint maximize) -> None:
    """Adam (``decoupled`` False) or AdamW (True) on every tensor.

    ``step_sizes[t] = lr / (1 - beta1**step_t)`` and
    ``bias_correction2_sqrts[t] = (1 - beta2**step_t) ** 0.5``, computed by the caller
    once per tensor; ``max_exp_avg_sqs`` is used only with ``amsgrad``.
    """
    cdef _Lists L = _prepare(params, grads, exp_avgs, exp_avg_sqs,
                             max_exp_avg_sqs if amsgrad else None)
    cdef int nt = len(params)
    _per_tensor(L.job.ta, step_sizes, nt)
    _per_tensor(L.job.tb, bias_correction2_sqrts, nt)
    L.job.lr = lr
    L.job.beta1 = beta1
    L.job.beta2 = beta2
    L.job.eps = eps
    L.job.wd = weight_decay
    L.job.decoupled = decoupled
    L.job.amsgrad = amsgrad
    L.job.maximize = maximize
    _run(L, K_ADAM)


def adagrad_step(list params, list grads, list sums, clrs, *, double eps,
                 double weight_decay, bint maximize) -> None:
    """Adagrad on every tensor; ``clrs[t] = lr / (1 + (step_t - 1) * lr_decay)``."""
    cdef _Lists L = _prepare(params, grads, sums, None, None)
    _per_tensor(L.job.ta, clrs, len(params))
    L.job.eps = eps
    L.job.wd = weight_decay
    L.job.maximize = maximize
    _run(L, K_ADAGRAD)


def rmsprop_step(list params, list grads, list square_avgs, list grad_avgs, list bufs, *,
                 double lr, double alpha, double eps, double weight_decay, double momentum,
                 bint centered, bint maximize) -> None:
    """RMSprop on every tensor; ``grad_avgs`` used only when centered, ``bufs`` only
    with momentum > 0."""
    cdef _Lists L = _prepare(params, grads, square_avgs, grad_avgs if centered else None,
                             bufs if momentum > 0 else None)
    L.job.lr = lr
    L.job.alpha = alpha
    L.job.eps = eps
    L.job.wd = weight_decay
    L.job.momentum = momentum
    L.job.centered = centered
    L.job.maximize = maximize
    _run(L, K_RMSPROP)


def first_nonfinite(list grads):
    """``(tensor, index)`` of the first NaN/inf in ``grads`` (flat C order), or None.

    Read-only and parallel: the check the caller runs before a step it must be able
    to refuse without having written anything.
    """
    cdef _Lists L = _prepare(grads, grads, None, None, None)
    cdef Job* j = &L.job
    cdef int64_t[::1] found = np.full(max(j.nitems, 1), -1, dtype=np.int64)
    cdef int nt = _threads(L)
    cdef int item
    with nogil:
        for item in prange(j.nitems, num_threads=nt, schedule="static"):
            if j.dbl:
                found[item] = cal_first_bad_d(
                    <double*>_at(j.g, j.item_t[item], j.item_lo[item], True),
                    j.item_hi[item] - j.item_lo[item])
            else:
                found[item] = cal_first_bad_f(
                    <float*>_at(j.g, j.item_t[item], j.item_lo[item], False),
                    j.item_hi[item] - j.item_lo[item])
    for item in range(j.nitems):
        if found[item] >= 0:
            return int(j.item_t[item]), int(j.item_lo[item] + found[item])
    return None
