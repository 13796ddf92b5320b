# The pointer kernels a kernel build (_kernels, _kernels_avx2) hands to the modules compiled
# once: _kernels._kernel_table() returns a KernelTable in a capsule named KERNEL_TABLE_NAME.
# The functional API's fast path (_fastcheck.pyx) and the training step (_train_step.pyx)
# call those of the build fastbp chose at import (fastbp/_validation.py). Types only: there
# is no module of this name.
#
# Every kernel takes C-contiguous arrays by their data pointers and shapes, checks nothing
# and never raises; a pointer to an empty array may be NULL.

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
# (dvalues, inputs, weights, output or NULL, dz, dinputs or NULL, dweights, dbiases,
#  n_samples, n_inputs, n_neurons, mask_done)
ctypedef void (*dense_backward_d_t)(const double *, const double *, const double *,
                                    const double *, double *, double *, double *, double *,
                                    Py_ssize_t, Py_ssize_t, Py_ssize_t, bint) noexcept nogil
ctypedef void (*dense_backward_f_t)(const float *, const float *, const float *,
                                    const float *, float *, float *, float *, float *,
                                    Py_ssize_t, Py_ssize_t, Py_ssize_t, bint) noexcept nogil
# (dz, weights, n_samples, n_inputs, n_neurons of the layer above; output, inputs, weights,
#  dz, dinputs or NULL, dweights, dbiases, n_inputs of the ReLU layer below) -> DONE_*
ctypedef int (*dinputs_into_relu_d_t)(const double *, const double *, Py_ssize_t, Py_ssize_t,
                                      Py_ssize_t, const double *, const double *,
                                      const double *, double *, double *, double *, double *,
                                      Py_ssize_t) noexcept nogil
ctypedef int (*dinputs_into_relu_f_t)(const float *, const float *, Py_ssize_t, Py_ssize_t,
                                      Py_ssize_t, const float *, const float *,
                                      const float *, float *, float *, float *, float *,
                                      Py_ssize_t) noexcept nogil
# (param, grad, size, l1, l2)
ctypedef void (*regularization_grad_d_t)(const double *, double *, Py_ssize_t, double,
                                         double) noexcept nogil
ctypedef void (*regularization_grad_f_t)(const float *, float *, Py_ssize_t, float,
                                         float) noexcept nogil
# Whether a layer of (n_samples, n_inputs, n_neurons) takes the one-pass backward
# (thin_backward_ptr; float64 or not), which never writes dz; and whether its dinputs
# product takes the thin path, which dinputs_into_relu fuses with the layer below.
ctypedef bint (*thin_backward_path_t)(Py_ssize_t, Py_ssize_t, Py_ssize_t, bint) noexcept nogil
ctypedef bint (*thin_dinputs_path_t)(Py_ssize_t, Py_ssize_t, Py_ssize_t) noexcept nogil

cdef struct KernelTable:
    dense_forward_d_t dense_forward_d
    dense_forward_f_t dense_forward_f
    relu_forward_d_t relu_forward_d
    relu_forward_f_t relu_forward_f
    relu_backward_d_t relu_backward_d
    relu_backward_f_t relu_backward_f
    dense_backward_d_t dense_backward_d
    dense_backward_f_t dense_backward_f
    dinputs_into_relu_d_t dinputs_into_relu_d
    dinputs_into_relu_f_t dinputs_into_relu_f
    regularization_grad_d_t regularization_grad_d
    regularization_grad_f_t regularization_grad_f
    thin_backward_path_t thin_backward_path
    thin_dinputs_path_t thin_dinputs_path

# How much of a ReLU layer's backward step dinputs_into_relu did (NetworkStep).
cdef enum:
    DONE_NOTHING = 0
    DONE_MASK = 1  # the ReLU mask into dz and the bias sums
    DONE_ALL = 2   # everything but the regularization terms

cdef extern from *:
    """
    #define FASTBP_KERNEL_TABLE_NAME "fastbp.KernelTable"
    #ifndef FASTBP_CHECKED_BUILD
    #define FASTBP_CHECKED_BUILD 0
    #endif
    """
    const char *KERNEL_TABLE_NAME "FASTBP_KERNEL_TABLE_NAME"
    # 1 in the checked build (FASTBP_DEBUG=1 at build time: setup.py defines it).
    const bint FASTBP_CHECKED_BUILD
