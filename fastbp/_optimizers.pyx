"""Optimizer updates, one in-place pass over a parameter, its gradient and its state.

Design
------
``cdef ... noexcept nogil`` kernels over C-contiguous arrays given by their data pointers
and sizes, float32 or float64 by ``cython.floating``, with no checks and no temporaries;
fastbp/optimizers.py checks shapes and dtypes and owns the state arrays. The formulas and
their order of operations are the book's (Optimizer_SGD, _Adagrad, _RMSprop, _Adam), so
results match its numpy code: scalars are computed in double, as Python does, then used in
the array's dtype, as numpy does (``-lr * grad`` is ``(-lr) * grad``, ``g**2`` is ``g * g``).
Each element is updated on its own, so a parameter is one flat loop whatever its shape.

``LayerUpdate`` holds a layer's weights, biases, gradients and state, so that an optimizer
step over a whole layer is one call and one release of the GIL; it is the only Python entry
point.
"""

from cython cimport floating
from fastbp._binding cimport data_of
from fastbp._calllock cimport CallLock
from libc.math cimport sqrt, sqrtf


cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef void sgd_ptr(floating *param, const floating *grad, Py_ssize_t size,
                  double learning_rate) noexcept nogil:
    """param += -lr·grad."""
    cdef Py_ssize_t i
    cdef floating neg_lr = <floating> -learning_rate
    for i in range(size):
        param[i] = param[i] + neg_lr * grad[i]


cdef void sgd_momentum_ptr(floating *param, const floating *grad, floating *momentums,
                           Py_ssize_t size, double learning_rate,
                           double momentum) noexcept nogil:
    """update := momentum·momentums - lr·grad; momentums := update; param += update."""
    cdef Py_ssize_t i
    cdef floating lr = <floating> learning_rate, mu = <floating> momentum, u
    for i in range(size):
        u = mu * momentums[i] - lr * grad[i]
        momentums[i] = u
        param[i] = param[i] + u


cdef void adagrad_ptr(floating *param, const floating *grad, floating *cache, Py_ssize_t size,
                      double learning_rate, double epsilon) noexcept nogil:
    """cache += grad²; param += -lr·grad / (√cache + ε)."""
    cdef Py_ssize_t i
    cdef floating neg_lr = <floating> -learning_rate, eps = <floating> epsilon, g
    for i in range(size):
        g = grad[i]
        cache[i] = cache[i] + g * g
        param[i] = param[i] + neg_lr * g / (_sqrt(cache[i]) + eps)


cdef void rmsprop_ptr(floating *param, const floating *grad, floating *cache, Py_ssize_t size,
                      double learning_rate, double epsilon, double rho) noexcept nogil:
    """cache := ρ·cache + (1-ρ)·grad²; param += -lr·grad / (√cache + ε)."""
    cdef Py_ssize_t i
    cdef floating neg_lr = <floating> -learning_rate, eps = <floating> epsilon
    cdef floating r = <floating> rho, one_minus_r = <floating> (1 - rho), g
    for i in range(size):
        g = grad[i]
        cache[i] = r * cache[i] + one_minus_r * (g * g)
        param[i] = param[i] + neg_lr * g / (_sqrt(cache[i]) + eps)


cdef void adam_ptr(floating *param, const floating *grad, floating *momentums, floating *cache,
                   Py_ssize_t size, double learning_rate, double epsilon, double beta_1,
                   double beta_2, double correction_1, double correction_2) noexcept nogil:
    """m := β1·m + (1-β1)·g; v := β2·v + (1-β2)·g²; param += -lr·(m/c1) / (√(v/c2) + ε)."""
    cdef Py_ssize_t i
    cdef floating neg_lr = <floating> -learning_rate, eps = <floating> epsilon
    cdef floating b1 = <floating> beta_1, one_minus_b1 = <floating> (1 - beta_1)
    cdef floating b2 = <floating> beta_2, one_minus_b2 = <floating> (1 - beta_2)
    cdef floating c1 = <floating> correction_1, c2 = <floating> correction_2, g, m, v
    for i in range(size):
        g = grad[i]
        m = b1 * momentums[i] + one_minus_b1 * g
        momentums[i] = m
        v = b2 * cache[i] + one_minus_b2 * (g * g)
        cache[i] = v
        param[i] = param[i] + neg_lr * (m / c1) / (_sqrt(v / c2) + eps)


# Codes for fastbp._train_step.NetworkStep.run, which takes the optimizer as a number.
SGD = OPTIMIZER_SGD
SGD_MOMENTUM = OPTIMIZER_SGD_MOMENTUM
ADAGRAD = OPTIMIZER_ADAGRAD
RMSPROP = OPTIMIZER_RMSPROP
ADAM = OPTIMIZER_ADAM


# --- A layer's update over arrays bound once ------------------------------------------------

cdef class LayerUpdate:
    """A layer's weights and biases, their gradients and up to two state arrays each, bound
    once: one call updates both parameters with the GIL released once.

    fastbp/optimizers.py validates the arrays, binds them, and calls a method while they
    stay the same (fastbp/_snapshot.pyx). Here each array's dtype, layout and shape is
    checked once, at construction (fastbp/_binding.pxd); state arrays an optimizer does not
    use may be None. The arrays are kept alive here, and one set of fields serves both
    dtypes: the pointers are untyped and each update picks its kernels with one test.
    """
    # (attributes declared in _optimizers.pxd, for fastbp._train_step.NetworkStep)

    def __cinit__(self, bint float64, weights, dweights, biases, dbiases,
                  weight_state_1=None, weight_state_2=None, bias_state_1=None,
                  bias_state_2=None, *, CallLock lock=None):
        self.f64 = float64
        # The layer's lock: two threads' updates of one layer run one after the other.
        self.lock = lock if lock is not None else CallLock()
        # States come in order and in weight/bias pairs; the methods refuse to run an
        # update whose state is not bound.
        if (weight_state_1 is None) != (bias_state_1 is None) or (
                (weight_state_2 is None) != (bias_state_2 is None)) or (
                weight_state_1 is None and weight_state_2 is not None):
            raise ValueError("state arrays are bound in weight/bias pairs, state 1 first")
        if not (hasattr(weights, "shape") and len(weights.shape) == 2
                and hasattr(biases, "shape") and len(biases.shape) == 2):
            raise ValueError("weights and biases must be 2-D arrays")
        wr, wc = weights.shape
        br, bc = biases.shape
        self.w = data_of(weights, "weights", float64, wr, wc, True)
        self.dw = data_of(dweights, "dweights", float64, wr, wc, False)
        self.b = data_of(biases, "biases", float64, br, bc, True)
        self.db = data_of(dbiases, "dbiases", float64, br, bc, False)
        self.w_size = wr * wc
        self.b_size = br * bc
        self.n_states = 0
        if weight_state_1 is not None:
            self.w1 = data_of(weight_state_1, "weight_state_1", float64, wr, wc, True)
            self.b1 = data_of(bias_state_1, "bias_state_1", float64, br, bc, True)
            self.n_states = 1
        if weight_state_2 is not None:
            self.w2 = data_of(weight_state_2, "weight_state_2", float64, wr, wc, True)
            self.b2 = data_of(bias_state_2, "bias_state_2", float64, br, bc, True)
            self.n_states = 2
        self.arrays = (weights, dweights, biases, dbiases, weight_state_1, weight_state_2,
                       bias_state_1, bias_state_2)

    cdef int required_states(self, int optimizer) noexcept:
        """State arrays ``optimizer`` (an OPTIMIZER_* code) needs; -1 for an unknown code."""
        if optimizer == OPTIMIZER_SGD:
            return 0
        if optimizer in (OPTIMIZER_SGD_MOMENTUM, OPTIMIZER_ADAGRAD, OPTIMIZER_RMSPROP):
            return 1
        if optimizer == OPTIMIZER_ADAM:
            return 2
        return -1

    def check(self, int optimizer):
        """Raise unless ``optimizer``'s update can run on what is bound."""
        cdef int needed = self.required_states(optimizer)
        if needed < 0:
            raise ValueError(f"unknown optimizer code {optimizer}")
        if needed > self.n_states:
            raise RuntimeError(f"this update needs {needed} state arrays per parameter, "
                               f"{self.n_states} are bound")

    def sgd(self, double learning_rate):
        self.check(OPTIMIZER_SGD)
        self.lock.take()
        with nogil:
            self._sgd(learning_rate)
        self.lock.give()

    def sgd_momentum(self, double learning_rate, double momentum):
        """State 1: the momentums."""
        self.check(OPTIMIZER_SGD_MOMENTUM)
        self.lock.take()
        with nogil:
            self._sgd_momentum(learning_rate, momentum)
        self.lock.give()

    def adagrad(self, double learning_rate, double epsilon):
        """State 1: the cache."""
        self.check(OPTIMIZER_ADAGRAD)
        self.lock.take()
        with nogil:
            self._adagrad(learning_rate, epsilon)
        self.lock.give()

    def rmsprop(self, double learning_rate, double epsilon, double rho):
        """State 1: the cache."""
        self.check(OPTIMIZER_RMSPROP)
        self.lock.take()
        with nogil:
            self._rmsprop(learning_rate, epsilon, rho)
        self.lock.give()

    def adam(self, double learning_rate, double epsilon, double beta_1, double beta_2,
             double correction_1, double correction_2):
        """State 1: the momentums; state 2: the cache."""
        self.check(OPTIMIZER_ADAM)
        self.lock.take()
        with nogil:
            self._adam(learning_rate, epsilon, beta_1, beta_2, correction_1, correction_2)
        self.lock.give()

    cdef void _apply(self, int optimizer, double lr, double p1, double p2, double p3,
                     double p4, double p5) noexcept nogil:
        """The update named by ``optimizer`` (OPTIMIZER_*), parameters as for its method."""
        if optimizer == OPTIMIZER_SGD:
            self._sgd(lr)
        elif optimizer == OPTIMIZER_SGD_MOMENTUM:
            self._sgd_momentum(lr, p1)
        elif optimizer == OPTIMIZER_ADAGRAD:
            self._adagrad(lr, p1)
        elif optimizer == OPTIMIZER_RMSPROP:
            self._rmsprop(lr, p1, p2)
        else:
            self._adam(lr, p1, p2, p3, p4, p5)

    cdef void _sgd(self, double learning_rate) noexcept nogil:
        if self.f64:
            sgd_ptr(<double *> self.w, <const double *> self.dw, self.w_size, learning_rate)
            sgd_ptr(<double *> self.b, <const double *> self.db, self.b_size, learning_rate)
        else:
            sgd_ptr(<float *> self.w, <const float *> self.dw, self.w_size, learning_rate)
            sgd_ptr(<float *> self.b, <const float *> self.db, self.b_size, learning_rate)

    cdef void _sgd_momentum(self, double learning_rate, double momentum) noexcept nogil:
        if self.f64:
            sgd_momentum_ptr(<double *> self.w, <const double *> self.dw, <double *> self.w1,
                             self.w_size, learning_rate, momentum)
            sgd_momentum_ptr(<double *> self.b, <const double *> self.db, <double *> self.b1,
                             self.b_size, learning_rate, momentum)
        else:
            sgd_momentum_ptr(<float *> self.w, <const float *> self.dw, <float *> self.w1,
                             self.w_size, learning_rate, momentum)
            sgd_momentum_ptr(<float *> self.b, <const float *> self.db, <float *> self.b1,
                             self.b_size, learning_rate, momentum)

    cdef void _adagrad(self, double learning_rate, double epsilon) noexcept nogil:
        if self.f64:
            adagrad_ptr(<double *> self.w, <const double *> self.dw, <double *> self.w1,
                        self.w_size, learning_rate, epsilon)
            adagrad_ptr(<double *> self.b, <const double *> self.db, <double *> self.b1,
                        self.b_size, learning_rate, epsilon)
        else:
            adagrad_ptr(<float *> self.w, <const float *> self.dw, <float *> self.w1,
                        self.w_size, learning_rate, epsilon)
            adagrad_ptr(<float *> self.b, <const float *> self.db, <float *> self.b1,
                        self.b_size, learning_rate, epsilon)

    cdef void _rmsprop(self, double learning_rate, double epsilon, double rho) noexcept nogil:
        if self.f64:
            rmsprop_ptr(<double *> self.w, <const double *> self.dw, <double *> self.w1,
                        self.w_size, learning_rate, epsilon, rho)
            rmsprop_ptr(<double *> self.b, <const double *> self.db, <double *> self.b1,
                        self.b_size, learning_rate, epsilon, rho)
        else:
            rmsprop_ptr(<float *> self.w, <const float *> self.dw, <float *> self.w1,
                        self.w_size, learning_rate, epsilon, rho)
            rmsprop_ptr(<float *> self.b, <const float *> self.db, <float *> self.b1,
                        self.b_size, learning_rate, epsilon, rho)

    cdef void _adam(self, double learning_rate, double epsilon, double beta_1, double beta_2,
                    double correction_1, double correction_2) noexcept nogil:
        if self.f64:
            adam_ptr(<double *> self.w, <const double *> self.dw, <double *> self.w1,
                     <double *> self.w2, self.w_size, learning_rate, epsilon, beta_1, beta_2,
                     correction_1, correction_2)
            adam_ptr(<double *> self.b, <const double *> self.db, <double *> self.b1,
                     <double *> self.b2, self.b_size, learning_rate, epsilon, beta_1, beta_2,
                     correction_1, correction_2)
        else:
            adam_ptr(<float *> self.w, <const float *> self.dw, <float *> self.w1,
                     <float *> self.w2, self.w_size, learning_rate, epsilon, beta_1, beta_2,
                     correction_1, correction_2)
            adam_ptr(<float *> self.b, <const float *> self.db, <float *> self.b1,
                     <float *> self.b2, self.b_size, learning_rate, epsilon, beta_1, beta_2,
                     correction_1, correction_2)
