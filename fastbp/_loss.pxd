# The loss's bound kernels, for fastbp._train_step.NetworkStep to run without the GIL.
# See _loss.pyx.

from fastbp._calllock cimport CallLock


cdef class SoftmaxCrossEntropyStep:
    cdef readonly CallLock lock  # the loss's: held while binding or running
    cdef bint f64, onehot, bound_forward, bound_backward
    cdef readonly unsigned long generation  # counts bind_* calls (see _train_step.NetworkStep)
    cdef tuple forward_arrays, backward_arrays  # the bound arrays, kept alive
    # Their data (float64 or float32; NULL where empty or not bound) and shapes.
    cdef const void *logits
    cdef const void *y
    cdef void *probs
    cdef const void *dvalues
    cdef void *dinputs
    cdef const long *labels
    cdef const long *backward_labels
    cdef Py_ssize_t n_samples, n_classes, backward_samples, backward_classes

    cdef double _forward(self) noexcept nogil
    cdef void _backward(self) noexcept nogil
