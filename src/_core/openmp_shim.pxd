# Lets the kernels call omp_get_max_threads() whether or not OpenMP is available,
# the way scikit-learn's _openmp_helpers.pxd does.
cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define CALIPERS_OPENMP 1
    #else
    #define CALIPERS_OPENMP 0
    static inline int omp_get_max_threads(void) { return 1; }
    #endif
    """
    bint CALIPERS_OPENMP
    int omp_get_max_threads() noexcept nogil
