# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# distutils: extra_compile_args = -fno-math-errno
"""Fused optimizer steps: one pass per element over a whole list of parameter arrays.

A :class:`Plan` is a prepared multi-tensor call: the parameters, the optimizer's
state buffers and step counters of one param group (float32 and float64 mixed), cut
into work items of ``STEP_CHUNK`` elements that OpenMP threads update independently.
It is built once and reused step after step: each step only hands it the gradients
(numpy arrays, or raw addresses from a caller that checked the tensors behind them;
a missing gradient skips its tensor) and calls one step function with that step's
hyper-parameters. Every element is read and written once.

The step counters are the optimizer's own (torch's ``state["step"]`` tensors: one
float32 or float64 element each): the step function counts them, as torch's
``step_t += 1``, and derives the per-tensor scalars that depend on the step (Adam's
bias corrections, Adagrad's decayed learning rate) with torch's formulas, once per
tensor, in C. Nothing per element but the update itself.

The arithmetic follows torch.optim's single-tensor code in its order of operations,
in the parameters' own precision (float32 math for float32, as torch's CPU kernels).

The element loops themselves are C, in ``_optim_kernels.pxi``.

Nothing here validates input beyond what memory safety needs (sizes, dtypes,
contiguity of the arrays a plan holds): :mod:`calipers.optim` and the torch drop-ins
check the rest. :meth:`Plan.first_nonfinite` and :func:`first_nonfinite` are the
read-only checks that let the caller refuse or skip a step before anything is
written.
"""

from cython.parallel cimport prange
from libc.stdint cimport int64_t, intptr_t, uint8_t
from libc.stdlib cimport calloc, free

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
    void** p          # parameters
    void** g          # gradients
    uint8_t* active   # per tensor: has a gradient this call (else it sits the call out)
    void** s1         # state buffers (NULL lists where the plan has none)
    void** s2
    void** s3
    void** steps      # step counters, one element each (NULL list when none)
    uint8_t* dbl      # per tensor: float64 (1) or float32 (0)
    uint8_t* step_dbl
    int64_t* size
    int* item_t       # tensor of each work item
    int64_t* item_lo  # element range of each work item
    int64_t* item_hi
    double* ta        # per-tensor scalars (meaning depends on the optimizer)
    double* tb
    uint8_t* tflag
    # per-call scalars
    double lr, beta1, beta2, eps, wd, momentum, dampening, alpha, lr_decay
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
    if not j.active[t]:
        return
    cdef int64_t lo = j.item_lo[item], n = j.item_hi[item] - j.item_lo[item]
    cdef bint d = j.dbl[t]
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


cdef void* _calloc(int64_t n, size_t size) except NULL:
    cdef void* out = calloc(max(n, 1), size)
    if out == NULL:
        raise MemoryError()
    return out


cdef int _dtype_flag(cnp.ndarray a, str what) except -1:
    cdef int typ = cnp.PyArray_TYPE(a)
    if typ == cnp.NPY_FLOAT64:
        return 1
    if typ == cnp.NPY_FLOAT32:
        return 0
    raise ValueError(f"{what} has dtype {a.dtype}; the kernels take float32 or float64")


cdef class Plan:
    """A prepared multi-tensor step over one group of parameters.

    Parameters
    ----------
    params : list of numpy.ndarray
        Writeable C-contiguous float32/float64 arrays (dtypes may be mixed).
    s1, s2, s3 : list of numpy.ndarray, optional
        The optimizer's state buffers, one per parameter with its size and dtype
        (which list holds which buffer is the step function's docstring).
    steps : list of numpy.ndarray, optional
        Step counters: one writeable float32/float64 element per parameter.

    The plan holds references to every array it was given and updates them in
    place (a plan over a read-only array can only check gradients). Gradients are
    handed in per step (:meth:`set_grads`, :meth:`set_grad_addresses`); a parameter
    without one sits the step out (its counter is not counted either).
    """

    cdef Job job
    cdef int64_t total
    cdef bint writeable   # every array it holds: a plan over read-only ones only checks
    cdef list _keep
    cdef list _grads

    def __cinit__(self, list params, list s1=None, list s2=None, list s3=None,
                  list steps=None):
        cdef Job* j = &self.job
        cdef int nt = len(params), t, it
        cdef int64_t n, lo, nitems = 0
        cdef cnp.ndarray a
        j.ntensors = nt
        # tuples: the caller may change its lists, the arrays must outlive the plan
        self._keep = [None if x is None else tuple(x) for x in (params, s1, s2, s3, steps)]
        self._grads = None
        self.total = 0
        self.writeable = True
        j.size = <int64_t*>_calloc(nt, sizeof(int64_t))
        j.dbl = <uint8_t*>_calloc(nt, sizeof(uint8_t))
        j.p = <void**>_calloc(nt, sizeof(void*))
        j.g = <void**>_calloc(nt, sizeof(void*))
        j.active = <uint8_t*>_calloc(nt, sizeof(uint8_t))
        j.ta = <double*>_calloc(nt, sizeof(double))
        j.tb = <double*>_calloc(nt, sizeof(double))
        j.tflag = <uint8_t*>_calloc(nt, sizeof(uint8_t))
        for t in range(nt):
            a = params[t]
            if not cnp.PyArray_IS_C_CONTIGUOUS(a):
                raise ValueError(f"params[{t}] is not C-contiguous")
            self.writeable &= cnp.PyArray_ISWRITEABLE(a)
            j.dbl[t] = _dtype_flag(a, f"params[{t}]")
            j.size[t] = cnp.PyArray_SIZE(a)
            j.p[t] = cnp.PyArray_DATA(a)
            self.total += j.size[t]
            nitems += (j.size[t] + STEP_CHUNK - 1) // STEP_CHUNK
        if s1 is not None:
            j.s1 = self._buffers(s1, "s1")
        if s2 is not None:
            j.s2 = self._buffers(s2, "s2")
        if s3 is not None:
            j.s3 = self._buffers(s3, "s3")
        if steps is not None:
            if len(steps) != nt:
                raise ValueError(f"steps: expected {nt} arrays, got {len(steps)}")
            j.steps = <void**>_calloc(nt, sizeof(void*))
            j.step_dbl = <uint8_t*>_calloc(nt, sizeof(uint8_t))
            for t in range(nt):
                a = steps[t]
                if cnp.PyArray_SIZE(a) != 1:
                    raise ValueError(f"steps[{t}] has {a.size} elements, not one")
                self.writeable &= cnp.PyArray_ISWRITEABLE(a)
                j.step_dbl[t] = _dtype_flag(a, f"steps[{t}]")
                j.steps[t] = cnp.PyArray_DATA(a)
        j.nitems = <int>nitems
        j.item_t = <int*>_calloc(nitems, sizeof(int))
        j.item_lo = <int64_t*>_calloc(nitems, sizeof(int64_t))
        j.item_hi = <int64_t*>_calloc(nitems, sizeof(int64_t))
        it = 0
        for t in range(nt):
            n = j.size[t]
            lo = 0
            while lo < n:
                j.item_t[it] = t
                j.item_lo[it] = lo
                j.item_hi[it] = min(lo + STEP_CHUNK, n)
                lo += STEP_CHUNK
                it += 1

    def __dealloc__(self):
        cdef Job* j = &self.job
        free(j.p)
        free(j.g)
        free(j.active)
        free(j.s1)
        free(j.s2)
        free(j.s3)
        free(j.steps)
        free(j.dbl)
        free(j.step_dbl)
        free(j.size)
        free(j.item_t)
        free(j.item_lo)
        free(j.item_hi)
        free(j.ta)
        free(j.tb)
        free(j.tflag)

    cdef void** _buffers(self, list arrays, str what) except NULL:
        cdef int nt = self.job.ntensors, t
        cdef cnp.ndarray a
        if len(arrays) != nt:
            raise ValueError(f"{what}: expected {nt} arrays, got {len(arrays)}")
        cdef void** out = <void**>_calloc(nt, sizeof(void*))
        try:
            for t in range(nt):
                a = arrays[t]
                self._check_like(a, t, f"{what}[{t}]")
                self.writeable &= cnp.PyArray_ISWRITEABLE(a)
                out[t] = cnp.PyArray_DATA(a)
        except BaseException:
            free(out)
            raise
        return out

    cdef int _check_like(self, cnp.ndarray a, int t, str what) except -1:
        if (cnp.PyArray_SIZE(a) != self.job.size[t] or not cnp.PyArray_IS_C_CONTIGUOUS(a)
                or _dtype_flag(a, what) != self.job.dbl[t]):
            raise ValueError(f"{what}: size, dtype or layout differs from params[{t}]")
        return 0

    @property
    def ntensors(self) -> int:
        """The number of parameters."""
        return self.job.ntensors

    @property
    def nelements(self) -> int:
        """Their total number of elements."""
        return self.total

    def set_grads(self, list grads) -> None:
        """The gradients of the next step: numpy arrays (checked against their
        parameters) or None (that parameter skips the step).

        A gradient must not share memory with its parameter (the loops assume no
        overlap: pass a copy).
        """
        cdef Job* j = &self.job
        cdef int t
        cdef cnp.ndarray a
        if len(grads) != j.ntensors:
            raise ValueError(f"grads: expected {j.ntensors}, got {len(grads)}")
        for t in range(j.ntensors):  # all checked before any is taken
            if grads[t] is not None:
                self._check_like(grads[t], t, f"grads[{t}]")
        for t in range(j.ntensors):
            a = grads[t]
            j.active[t] = a is not None
            j.g[t] = NULL if a is None else cnp.PyArray_DATA(a)
        self._grads = list(grads)

    def set_grad_addresses(self, list addresses) -> list:
        """The gradients of the next step as data addresses (None: skip that parameter).

        Unchecked: each address must point at a contiguous gradient of its
        parameter's size and dtype, kept alive by the caller until the step has run.
        Returns the positions whose gradient overlaps its parameter's memory; those
        are set to skip (the caller copies them and sets the copies with
        :meth:`set_grad_address`).
        """
        cdef Job* j = &self.job
        cdef int t
        cdef intptr_t a, p, nbytes
        cdef list overlapping = []
        cdef object address
        if len(addresses) != j.ntensors:
            raise ValueError(f"addresses: expected {j.ntensors}, got {len(addresses)}")
        for t in range(j.ntensors):
            address = addresses[t]
            j.active[t] = address is not None
            if address is None:
                continue
            a = address
            p = <intptr_t>j.p[t]
            nbytes = j.size[t] * (8 if j.dbl[t] else 4)
            if a < p + nbytes and p < a + nbytes:
                overlapping.append(t)
                j.active[t] = False
            j.g[t] = <void*>a
        self._grads = None
        return overlapping

    def set_grad_address(self, int t, intptr_t address) -> None:
        """Set one gradient address (as :meth:`set_grad_addresses`, for position ``t``)."""
        if not 0 <= t < self.job.ntensors:
            raise IndexError(f"position {t} out of range for {self.job.ntensors} tensors")
        self.job.g[t] = <void*>address
        self.job.active[t] = True

    def __len__(self) -> int:
        return self.job.ntensors

    def mark_first(self, list positions) -> None:
        """Mark tensors whose momentum buffer the next :func:`sgd_step` initializes
        (torch's first step with momentum: the buffer becomes the gradient)."""
        cdef int t
        for t in positions:
            if not 0 <= t < self.job.ntensors:
                raise IndexError(f"position {t} out of range for {self.job.ntensors} tensors")
            self.job.tflag[t] = 1

    def first_nonfinite(self):
        """``(position, flat index)`` of the first NaN/inf among the set gradients, or
        None. Read-only and parallel."""
        return _first_bad(&self.job, _threads(self))


cdef object _first_bad(Job* j, int nt):
    cdef int64_t[::1] found = np.full(max(j.nitems, 1), -1, dtype=np.int64)
    cdef int item, t
    cdef void* g
    with nogil:
        for item in prange(j.nitems, num_threads=nt, schedule="static"):
            t = j.item_t[item]
            if not j.active[t]:
                continue
            g = _at(j.g, t, j.item_lo[item], j.dbl[t])
            if j.dbl[t]:
                found[item] = cal_first_bad_d(<double*>g, j.item_hi[item] - j.item_lo[item])
            else:
                found[item] = cal_first_bad_f(<float*>g, j.item_hi[item] - j.item_lo[item])
    for item in range(j.nitems):
        if found[item] >= 0:
            return int(j.item_t[item]), int(j.item_lo[item] + found[item])
    return None


cdef int _threads(Plan plan) noexcept:
    # Threads for one call: no more than its work items, one for small totals.
    cdef int nt = omp.omp_get_max_threads()
    if nt > plan.job.nitems:
        nt = plan.job.nitems
    if plan.total < SERIAL_BELOW or nt < 1:
        nt = 1
    return nt


cdef void _count(Job* j, int k) noexcept nogil:
    # Count the steps of the tensors taking part; the per-tensor scalars from them.
    cdef int t
    cdef double step = 0
    for t in range(j.ntensors):
        if not j.active[t]:
            continue
        if j.steps != NULL:
            step = cal_count_step(j.steps[t], j.step_dbl[t])
        if k == K_ADAM:
            cal_adam_scalars(j.lr, j.beta1, j.beta2, step, &j.ta[t], &j.tb[t])
        elif k == K_ADAGRAD:
            j.ta[t] = cal_adagrad_clr(j.lr, j.lr_decay, step)


cdef int _run(Plan plan, int k) except -1:
    cdef Job* j = &plan.job
    cdef int nt = _threads(plan)
    cdef int item
    if not plan.writeable:
        raise ValueError("the plan holds a read-only array: a step writes its parameters, "
                         "state buffers and step counters in place")
    with nogil:
        _count(j, k)
        if nt == 1:
            for item in range(j.nitems):
                _run_item(j, k, item)
        else:
            for item in prange(j.nitems, num_threads=nt, schedule="static"):
                _run_item(j, k, item)
    return 0


cdef int _need(void* lst, str what) except -1:
    if lst == NULL:
        raise ValueError(f"this step needs {what}, and the plan was built without them")
    return 0


# ---------------------------------------------------------------- entry points

def sgd_step(Plan plan, *, double lr, double momentum, double dampening,
             double weight_decay, bint nesterov, bint maximize) -> None:
    """SGD on the plan's tensors; ``s1`` holds the momentum buffers (needed only with
    momentum). Tensors marked by :meth:`Plan.mark_first` start their buffer from the
    gradient, as torch does on a buffer's first step; the marks are then cleared."""
    cdef Job* j = &plan.job
    cdef int t
    if momentum != 0:
        _need(j.s1, "momentum buffers (s1)")
    j.lr = lr
    j.momentum = momentum
    j.dampening = dampening
    j.wd = weight_decay
    j.nesterov = nesterov
    j.maximize = maximize
    _run(plan, K_SGD)
    for t in range(j.ntensors):
        j.tflag[t] = 0


def adam_step(Plan plan, *, double lr, double beta1, double beta2, double eps,
              double weight_decay, bint decoupled, bint amsgrad, bint maximize) -> None:
    """Adam (``decoupled`` False) or AdamW (True) on the plan's tensors.

    ``s1``: exp_avg, ``s2``: exp_avg_sq, ``s3``: max_exp_avg_sq (only with amsgrad),
    ``steps``: counted, then ``lr / (1 - beta1**step)`` and ``(1 - beta2**step)**0.5``
    per tensor, as torch computes them.
    """
    cdef Job* j = &plan.job
    _need(j.s1, "exp_avg (s1)")
    _need(j.s2, "exp_avg_sq (s2)")
    _need(j.steps, "step counters")
    if amsgrad:
        _need(j.s3, "max_exp_avg_sq (s3)")
    j.lr = lr
    j.beta1 = beta1
    j.beta2 = beta2
    j.eps = eps
    j.wd = weight_decay
    j.decoupled = decoupled
    j.amsgrad = amsgrad
    j.maximize = maximize
    _run(plan, K_ADAM)


def adagrad_step(Plan plan, *, double lr, double lr_decay, double eps,
                 double weight_decay, bint maximize) -> None:
    """Adagrad on the plan's tensors; ``s1``: sum, ``steps``: counted, then
    ``lr / (1 + (step - 1) * lr_decay)`` per tensor."""
    cdef Job* j = &plan.job
    _need(j.s1, "sums (s1)")
    _need(j.steps, "step counters")
    j.lr = lr
    j.lr_decay = lr_decay
    j.eps = eps
    j.wd = weight_decay
    j.maximize = maximize
    _run(plan, K_ADAGRAD)


def rmsprop_step(Plan plan, *, double lr, double alpha, double eps, double weight_decay,
                 double momentum, bint centered, bint maximize) -> None:
    """RMSprop on the plan's tensors; ``s1``: square_avg, ``s2``: grad_avg (only when
    centered), ``s3``: momentum buffers (only with momentum > 0); ``steps``, when the
    plan has them, are counted (RMSprop's math does not use them)."""
    cdef Job* j = &plan.job
    _need(j.s1, "square averages (s1)")
    if centered:
        _need(j.s2, "gradient averages (s2)")
    if momentum > 0:
        _need(j.s3, "momentum buffers (s3)")
    j.lr = lr
    j.alpha = alpha
    j.eps = eps
    j.wd = weight_decay
    j.momentum = momentum
    j.centered = centered
    j.maximize = maximize
    _run(plan, K_RMSPROP)


def first_nonfinite(list grads):
    """``(position, flat index)`` of the first NaN/inf in ``grads`` (C-contiguous
    float32/float64 arrays, dtypes may be mixed; flat C order), or None.

    Read-only and parallel: the check the caller runs before a step it must be able
    to refuse without having written anything.
    """
    cdef Plan plan = Plan(grads)  # read-only arrays are fine: this plan never steps
    plan.set_grads(grads)
    return plan.first_nonfinite()
