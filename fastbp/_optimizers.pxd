# A layer's bound optimizer update, for fastbp._train_step.NetworkStep to run without the GIL.
# See _optimizers.pyx.

cdef enum:
    OPTIMIZER_SGD = 0
    OPTIMIZER_SGD_MOMENTUM = 1
    OPTIMIZER_ADAGRAD = 2
    OPTIMIZER_RMSPROP = 3
    OPTIMIZER_ADAM = 4


from fastbp._calllock cimport CallLock


cdef class LayerUpdate:
    cdef readonly CallLock lock  # the layer's: held while an update runs
    cdef bint f64
    cdef int n_states  # state arrays bound per parameter: 0, 1 or 2
    cdef tuple arrays  # the bound arrays, kept alive
    # Their data (float64 or float32; NULL where empty or not bound) and sizes.
    cdef void *w
    cdef void *dw
    cdef void *w1
    cdef void *w2
    cdef void *b
    cdef void *db
    cdef void *b1
    cdef void *b2
    cdef Py_ssize_t w_size, b_size

    cdef int required_states(self, int optimizer) noexcept
    cdef void _apply(self, int optimizer, double lr, double p1, double p2, double p3,
                     double p4, double p5) noexcept nogil
    cdef void _sgd(self, double learning_rate) noexcept nogil
    cdef void _sgd_momentum(self, double learning_rate, double momentum) noexcept nogil
    cdef void _adagrad(self, double learning_rate, double epsilon) noexcept nogil
    cdef void _rmsprop(self, double learning_rate, double epsilon, double rho) noexcept nogil
    cdef void _adam(self, double learning_rate, double epsilon, double beta_1, double beta_2,
                    double correction_1, double correction_2) noexcept nogil
