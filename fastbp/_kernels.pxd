# Kernels of fastbp, for other Cython modules to cimport; the design is described on top of
# _kernels.pyx. Every 2-D array is C-contiguous; shapes are taken from the memoryviews and are
# NOT checked here: callers (fastbp/_validation.py) guarantee them.

from cython cimport floating


cdef void dense_forward_kernel(const floating[:, ::1] X, const floating[:, ::1] W,
                               const floating[:, ::1] b, floating[:, ::1] out,
                               bint relu) noexcept nogil

cdef void relu_forward_kernel(const floating[:, ::1] X, floating[:, ::1] out) noexcept nogil

cdef void relu_backward_kernel(const floating[:, ::1] dY, const floating[:, ::1] X,
                               floating[:, ::1] dX) noexcept nogil

cdef void column_sums_kernel(const floating[:, ::1] dY, floating[:, ::1] db) noexcept nogil

cdef void relu_mask_column_sums_kernel(const floating[:, ::1] dY, const floating[:, ::1] output,
                                       floating[:, ::1] dZ, floating[:, ::1] db) noexcept nogil

cdef void backward_products_kernel(const floating[:, ::1] dZ, const floating[:, ::1] X,
                                   const floating[:, ::1] W,
                                   floating[:, ::1] dX, floating[:, ::1] dW) noexcept nogil

cdef void regularization_grad_kernel(const floating[:, ::1] param, floating[:, ::1] grad,
                                     floating l1, floating l2) noexcept nogil
