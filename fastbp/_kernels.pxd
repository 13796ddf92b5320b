# Kernels of fastbp, for other Cython modules to cimport; the design is described on top of
# _kernels.pyx. Every 2-D array is C-contiguous; shapes are taken from the memoryviews and are
# NOT checked here: callers (fastbp/_validation.py) guarantee them.

from cython cimport floating


cdef void gemm(bint trans_a, bint trans_b, int m, int n, int k,
               floating alpha, const floating *A, int lda,
               const floating *B, int ldb,
               floating beta, floating *C, int ldc) noexcept nogil

cdef void dense_forward_kernel(const floating[:, ::1] X, const floating[:, ::1] W,
                               const floating[:, ::1] b, floating[:, ::1] out,
                               bint relu) noexcept nogil

cdef void relu_forward_kernel(const floating[:, ::1] X, floating[:, ::1] out) noexcept nogil

cdef void dense_forward_ptr(const floating *X, const floating *W, const floating *b,
                            floating *out, Py_ssize_t n_samples, Py_ssize_t n_inputs,
                            Py_ssize_t n_neurons, bint relu) noexcept nogil

cdef void relu_forward_ptr(const floating *x, floating *out, Py_ssize_t size) noexcept nogil
