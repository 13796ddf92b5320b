"""Optimizer updates, one in-place pass over a parameter, its gradient and its state.

Design
------
As in _kernels.pyx: ``cdef``-level loops over C-contiguous typed memoryviews, float32 or
float64, GIL released, no checks and no temporaries; fastbp/optimizers.py checks shapes and
dtypes and owns the state arrays. The formulas and their order of operations are the book's
(Optimizer_SGD, _Adagrad, _RMSprop, _Adam), so results match its numpy code: scalars are
computed in double, as Python does, then used in the array's dtype, as numpy does
(``-lr * grad`` is ``(-lr) * grad``, ``g**2`` is ``g * g``).
"""

from cython cimport floating
from libc.math cimport sqrt, sqrtf


cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


def sgd(floating[:, ::1] param, const floating[:, ::1] grad, double learning_rate):
    """param += -lr·grad."""
    cdef Py_ssize_t i, j
    cdef floating neg_lr = <floating> -learning_rate
    with nogil:
        for i in range(param.shape[0]):
            for j in range(param.shape[1]):
                param[i, j] = param[i, j] + neg_lr * grad[i, j]


def sgd_momentum(floating[:, ::1] param, const floating[:, ::1] grad,
                 floating[:, ::1] momentums, double learning_rate, double momentum):
    """update := momentum·momentums - lr·grad; momentums := update; param += update."""
    cdef Py_ssize_t i, j
    cdef floating lr = <floating> learning_rate, mu = <floating> momentum, u
    with nogil:
        for i in range(param.shape[0]):
            for j in range(param.shape[1]):
                u = mu * momentums[i, j] - lr * grad[i, j]
                momentums[i, j] = u
                param[i, j] = param[i, j] + u


def adagrad(floating[:, ::1] param, const floating[:, ::1] grad, floating[:, ::1] cache,
            double learning_rate, double epsilon):
    """cache += grad²; param += -lr·grad / (√cache + ε)."""
    cdef Py_ssize_t i, j
    cdef floating neg_lr = <floating> -learning_rate, eps = <floating> epsilon, g
    with nogil:
        for i in range(param.shape[0]):
            for j in range(param.shape[1]):
                g = grad[i, j]
                cache[i, j] = cache[i, j] + g * g
                param[i, j] = param[i, j] + neg_lr * g / (_sqrt(cache[i, j]) + eps)


def rmsprop(floating[:, ::1] param, const floating[:, ::1] grad, floating[:, ::1] cache,
            double learning_rate, double epsilon, double rho):
    """cache := ρ·cache + (1-ρ)·grad²; param += -lr·grad / (√cache + ε)."""
    cdef Py_ssize_t i, j
    cdef floating neg_lr = <floating> -learning_rate, eps = <floating> epsilon
    cdef floating r = <floating> rho, one_minus_r = <floating> (1 - rho), g
    with nogil:
        for i in range(param.shape[0]):
            for j in range(param.shape[1]):
                g = grad[i, j]
                cache[i, j] = r * cache[i, j] + one_minus_r * (g * g)
                param[i, j] = param[i, j] + neg_lr * g / (_sqrt(cache[i, j]) + eps)


def adam(floating[:, ::1] param, const floating[:, ::1] grad, floating[:, ::1] momentums,
         floating[:, ::1] cache, double learning_rate, double epsilon, double beta_1,
         double beta_2, double correction_1, double correction_2):
    """m := β1·m + (1-β1)·g; v := β2·v + (1-β2)·g²; param += -lr·(m/c1) / (√(v/c2) + ε).

    correction_k = 1 - β_k^(iterations + 1), computed by the caller.
    """
    cdef Py_ssize_t i, j
    cdef floating neg_lr = <floating> -learning_rate, eps = <floating> epsilon
    cdef floating b1 = <floating> beta_1, one_minus_b1 = <floating> (1 - beta_1)
    cdef floating b2 = <floating> beta_2, one_minus_b2 = <floating> (1 - beta_2)
    cdef floating c1 = <floating> correction_1, c2 = <floating> correction_2, g, m, v
    with nogil:
        for i in range(param.shape[0]):
            for j in range(param.shape[1]):
                g = grad[i, j]
                m = b1 * momentums[i, j] + one_minus_b1 * g
                momentums[i, j] = m
                v = b2 * cache[i, j] + one_minus_b2 * (g * g)
                cache[i, j] = v
                param[i, j] = param[i, j] + neg_lr * (m / c1) / (_sqrt(v / c2) + eps)
