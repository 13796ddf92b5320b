# The pointer kernels a kernel build (_kernels, _kernels_avx2) hands to the functional API's
# fast path: _kernels._functional_kernels() returns a FunctionalKernels in a capsule named
# FUNCTIONAL_KERNELS_NAME. _fastcheck.pyx is built once and calls those of the build fastbp
# chose at import (fastbp/_validation.py). Types only: there is no module of this name.

ctypedef void (*dense_forward_d_t)(const double *, const double *, const double *, double *,
                                   Py_ssize_t, Py_ssize_t, Py_ssize_t, bint) noexcept nogil
ctypedef void (*dense_forward_f_t)(const float *, const float *, const float *, float *,
                                   Py_ssize_t, Py_ssize_t, Py_ssize_t, bint) noexcept nogil
ctypedef void (*relu_forward_d_t)(const double *, double *, Py_ssize_t) noexcept nogil
ctypedef void (*relu_forward_f_t)(const float *, float *, Py_ssize_t) noexcept nogil
ctypedef void (*relu_backward_d_t)(const double *, const double *, double *,
                                   Py_ssize_t) noexcept nogil
ctypedef void (*relu_backward_f_t)(const float *, const float *, float *,
                                   Py_ssize_t) noexcept nogil
# (dvalues, inputs, weights, output or NULL, dz, dinputs, dweights, dbiases, n_samples,
#  n_inputs, n_neurons)
ctypedef void (*dense_backward_d_t)(const double *, const double *, const double *,
                                    const double *, double *, double *, double *, double *,
                                    Py_ssize_t, Py_ssize_t, Py_ssize_t) noexcept nogil
ctypedef void (*dense_backward_f_t)(const float *, const float *, const float *,
                                    const float *, float *, float *, float *, float *,
                                    Py_ssize_t, Py_ssize_t, Py_ssize_t) noexcept nogil

# Whether dense_backward_*_t with an output (the ReLU) writes its dz scratch, for (n_samples,
# n_inputs, n_neurons, float64): the one-pass backward of thin layers never does.
ctypedef bint (*backward_needs_dz_t)(Py_ssize_t, Py_ssize_t, Py_ssize_t, bint) noexcept nogil

cdef struct FunctionalKernels:
    dense_forward_d_t dense_forward_d
    dense_forward_f_t dense_forward_f
    relu_forward_d_t relu_forward_d
    relu_forward_f_t relu_forward_f
    relu_backward_d_t relu_backward_d
    relu_backward_f_t relu_backward_f
    dense_backward_d_t dense_backward_d
    dense_backward_f_t dense_backward_f
    backward_needs_dz_t backward_needs_dz

cdef extern from *:
    """
    #define FASTBP_FUNCTIONAL_KERNELS_NAME "fastbp.FunctionalKernels"
    #ifndef FASTBP_CHECKED_BUILD
    #define FASTBP_CHECKED_BUILD 0
    #endif
    """
    const char *FUNCTIONAL_KERNELS_NAME "FASTBP_FUNCTIONAL_KERNELS_NAME"
    # 1 in the checked build (FASTBP_DEBUG=1 at build time: setup.py defines it).
    const bint FASTBP_CHECKED_BUILD
