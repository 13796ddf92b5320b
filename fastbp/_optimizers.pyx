"""Optimizer updates, one in-place pass over a parameter, its gradient and its state.

Design
------
As in _kernels.pyx: ``cdef``-level loops over C-contiguous typed memoryviews, float32 or
float64, GIL released, no checks and no temporaries; fastbp/optimizers.py checks shapes and
dtypes and owns the state arrays. The formulas and their order of operations are the book's
(Optimizer_SGD, _Adagrad, _RMSprop, _Adam), so results match its numpy code: scalars are
computed in double, as Python does, then used in the array's dtype, as numpy does
(``-lr * grad`` is ``(-lr) * grad``, ``g**2`` is ``g * g``).

``LayerUpdate`` holds a layer's weights, biases, gradients and state as memoryviews, so that
an optimizer step over a whole layer is one call and one release of the GIL; it is the only
Python entry point.
"""

from cython cimport floating
from fastbp._calllock cimport CallLock
from libc.math cimport sqrt, sqrtf


cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef void _sgd(floating[:, ::1] param, const floating[:, ::1] grad,
               double learning_rate) noexcept nogil:
    """param += -lr·grad."""
    cdef Py_ssize_t i, j
    cdef floating neg_lr = <floating> -learning_rate
    for i in range(param.shape[0]):
        for j in range(param.shape[1]):
            param[i, j] = param[i, j] + neg_lr * grad[i, j]


cdef void _sgd_momentum(floating[:, ::1] param, const floating[:, ::1] grad,
                        floating[:, ::1] momentums, double learning_rate,
                        double momentum) noexcept nogil:
    """update := momentum·momentums - lr·grad; momentums := update; param += update."""
    cdef Py_ssize_t i, j
    cdef floating lr = <floating> learning_rate, mu = <floating> momentum, u
    for i in range(param.shape[0]):
        for j in range(param.shape[1]):
            u = mu * momentums[i, j] - lr * grad[i, j]
            momentums[i, j] = u
            param[i, j] = param[i, j] + u


cdef void _adagrad(floating[:, ::1] param, const floating[:, ::1] grad, floating[:, ::1] cache,
                   double learning_rate, double epsilon) noexcept nogil:
    """cache += grad²; param += -lr·grad / (√cache + ε)."""
    cdef Py_ssize_t i, j
    cdef floating neg_lr = <floating> -learning_rate, eps = <floating> epsilon, g
    for i in range(param.shape[0]):
        for j in range(param.shape[1]):
            g = grad[i, j]
            cache[i, j] = cache[i, j] + g * g
            param[i, j] = param[i, j] + neg_lr * g / (_sqrt(cache[i, j]) + eps)


cdef void _rmsprop(floating[:, ::1] param, const floating[:, ::1] grad, floating[:, ::1] cache,
                   double learning_rate, double epsilon, double rho) noexcept nogil:
    """cache := ρ·cache + (1-ρ)·grad²; param += -lr·grad / (√cache + ε)."""
    cdef Py_ssize_t i, j
    cdef floating neg_lr = <floating> -learning_rate, eps = <floating> epsilon
    cdef floating r = <floating> rho, one_minus_r = <floating> (1 - rho), g
    for i in range(param.shape[0]):
        for j in range(param.shape[1]):
            g = grad[i, j]
            cache[i, j] = r * cache[i, j] + one_minus_r * (g * g)
            param[i, j] = param[i, j] + neg_lr * g / (_sqrt(cache[i, j]) + eps)


cdef void _adam(floating[:, ::1] param, const floating[:, ::1] grad, floating[:, ::1] momentums,
                floating[:, ::1] cache, double learning_rate, double epsilon, double beta_1,
                double beta_2, double correction_1, double correction_2) noexcept nogil:
    """m := β1·m + (1-β1)·g; v := β2·v + (1-β2)·g²; param += -lr·(m/c1) / (√(v/c2) + ε)."""
    cdef Py_ssize_t i, j
    cdef floating neg_lr = <floating> -learning_rate, eps = <floating> epsilon
    cdef floating b1 = <floating> beta_1, one_minus_b1 = <floating> (1 - beta_1)
    cdef floating b2 = <floating> beta_2, one_minus_b2 = <floating> (1 - beta_2)
    cdef floating c1 = <floating> correction_1, c2 = <floating> correction_2, g, m, v
    for i in range(param.shape[0]):
        for j in range(param.shape[1]):
            g = grad[i, j]
            m = b1 * momentums[i, j] + one_minus_b1 * g
            momentums[i, j] = m
            v = b2 * cache[i, j] + one_minus_b2 * (g * g)
            cache[i, j] = v
            param[i, j] = param[i, j] + neg_lr * (m / c1) / (_sqrt(v / c2) + eps)


# Codes for fastbp._train_step.NetworkStep.run, which takes the optimizer as a number.
SGD = OPTIMIZER_SGD
SGD_MOMENTUM = OPTIMIZER_SGD_MOMENTUM
ADAGRAD = OPTIMIZER_ADAGRAD
RMSPROP = OPTIMIZER_RMSPROP
ADAM = OPTIMIZER_ADAM


# --- A layer's update over arrays bound once ------------------------------------------------

cdef class LayerUpdate:
    """A layer's weights and biases, their gradients and up to two state arrays each, held as
    memoryviews: one call updates both parameters with the GIL released once.

    fastbp/optimizers.py validates the arrays, binds them, and calls a method while they
    stay the same (fastbp/_snapshot.pyx). Nothing is checked here; state arrays an optimizer
    does not use may be None.
    """
    # (attributes declared in _optimizers.pxd, for fastbp._train_step.NetworkStep)

    def __cinit__(self, bint float64, weights, dweights, biases, dbiases,
                  weight_state_1=None, weight_state_2=None, bias_state_1=None,
                  bias_state_2=None, *, CallLock lock=None):
        self.f64 = float64
        # The layer's lock: two threads' updates of one layer run one after the other.
        self.lock = lock if lock is not None else CallLock()
        # States come in order and in weight/bias pairs; the methods refuse to run an
        # update whose state is not bound (an unbound memoryview has no data).
        if (weight_state_1 is None) != (bias_state_1 is None) or (
                (weight_state_2 is None) != (bias_state_2 is None)) or (
                weight_state_1 is None and weight_state_2 is not None):
            raise ValueError("state arrays are bound in weight/bias pairs, state 1 first")
        self.n_states = (weight_state_1 is not None) + (weight_state_2 is not None)
        if float64:
            self.w_d, self.dw_d, self.b_d, self.db_d = weights, dweights, biases, dbiases
            if weight_state_1 is not None:
                self.w1_d, self.b1_d = weight_state_1, bias_state_1
            if weight_state_2 is not None:
                self.w2_d, self.b2_d = weight_state_2, bias_state_2
        else:
            self.w_f, self.dw_f, self.b_f, self.db_f = weights, dweights, biases, dbiases
            if weight_state_1 is not None:
                self.w1_f, self.b1_f = weight_state_1, bias_state_1
            if weight_state_2 is not None:
                self.w2_f, self.b2_f = weight_state_2, bias_state_2

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
            _sgd(self.w_d, self.dw_d, learning_rate)
            _sgd(self.b_d, self.db_d, learning_rate)
        else:
            _sgd(self.w_f, self.dw_f, learning_rate)
            _sgd(self.b_f, self.db_f, learning_rate)

    cdef void _sgd_momentum(self, double learning_rate, double momentum) noexcept nogil:
        if self.f64:
            _sgd_momentum(self.w_d, self.dw_d, self.w1_d, learning_rate, momentum)
            _sgd_momentum(self.b_d, self.db_d, self.b1_d, learning_rate, momentum)
        else:
            _sgd_momentum(self.w_f, self.dw_f, self.w1_f, learning_rate, momentum)
            _sgd_momentum(self.b_f, self.db_f, self.b1_f, learning_rate, momentum)

    cdef void _adagrad(self, double learning_rate, double epsilon) noexcept nogil:
        if self.f64:
            _adagrad(self.w_d, self.dw_d, self.w1_d, learning_rate, epsilon)
            _adagrad(self.b_d, self.db_d, self.b1_d, learning_rate, epsilon)
        else:
            _adagrad(self.w_f, self.dw_f, self.w1_f, learning_rate, epsilon)
            _adagrad(self.b_f, self.db_f, self.b1_f, learning_rate, epsilon)

    cdef void _rmsprop(self, double learning_rate, double epsilon, double rho) noexcept nogil:
        if self.f64:
            _rmsprop(self.w_d, self.dw_d, self.w1_d, learning_rate, epsilon, rho)
            _rmsprop(self.b_d, self.db_d, self.b1_d, learning_rate, epsilon, rho)
        else:
            _rmsprop(self.w_f, self.dw_f, self.w1_f, learning_rate, epsilon, rho)
            _rmsprop(self.b_f, self.db_f, self.b1_f, learning_rate, epsilon, rho)

    cdef void _adam(self, double learning_rate, double epsilon, double beta_1, double beta_2,
                    double correction_1, double correction_2) noexcept nogil:
        if self.f64:
            _adam(self.w_d, self.dw_d, self.w1_d, self.w2_d, learning_rate, epsilon,
                  beta_1, beta_2, correction_1, correction_2)
            _adam(self.b_d, self.db_d, self.b1_d, self.b2_d, learning_rate, epsilon,
                  beta_1, beta_2, correction_1, correction_2)
        else:
            _adam(self.w_f, self.dw_f, self.w1_f, self.w2_f, learning_rate, epsilon,
                  beta_1, beta_2, correction_1, correction_2)
            _adam(self.b_f, self.db_f, self.b1_f, self.b2_f, learning_rate, epsilon,
                  beta_1, beta_2, correction_1, correction_2)
