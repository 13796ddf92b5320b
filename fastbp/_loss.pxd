# The loss's bound kernels, for fastbp._train_step.NetworkStep to run without the GIL.
# See _loss.pyx.

from fastbp._calllock cimport CallLock


cdef class SoftmaxCrossEntropyStep:
    cdef readonly CallLock lock  # the loss's: held while binding or running
    cdef bint f64, onehot, bound_forward, bound_backward
    cdef readonly unsigned long generation  # counts bind_* calls (see _train_step.NetworkStep)
    cdef const double[:, ::1] logits_d, y_d, dvalues_d
    cdef double[:, ::1] probs_d, dinputs_d
    cdef const float[:, ::1] logits_f, y_f, dvalues_f
    cdef float[:, ::1] probs_f, dinputs_f
    cdef const long[::1] labels, backward_labels

    cdef double _forward(self) noexcept nogil
    cdef void _backward(self) noexcept nogil
