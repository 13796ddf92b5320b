"""Softmax and softmax cross-entropy kernels: the book's
Activation_Softmax_Loss_CategoricalCrossentropy in one pass per row.

Design
------
As in _kernels.pyx: ``cdef ... noexcept nogil`` over C-contiguous typed memoryviews,
float32/float64 by ``cython.floating``, no checks and no allocation. fastbp/losses.py checks
shapes, labels (integers in range, or one-hot rows of the right width) and allocates.

Each row: subtract the row max (so exp never overflows), exponentiate, divide by the sum,
in the book's order of operations; the loss clips the probability of the true class to
[1e-7, 1 - 1e-7] before the log, as the book does.
"""

from cython cimport floating
from fastbp._constants cimport CLIP
from libc.math cimport NAN, exp, expf, log, logf

cdef extern from *:
    """
    /* glibc's vector math library, libmvec: declaring exp and log as SIMD functions lets gcc
       vectorize the loops over whole arrays below with them (glibc's own math.h does so
       only under -ffast-math, which fastbp never uses). setup.py defines FASTBP_LIBMVEC
       where it links libmvec; elsewhere the same loops call the scalar functions. */
    #if defined(FASTBP_LIBMVEC) && defined(__GLIBC__) && defined(__x86_64__) \
        && defined(__GNUC__) && !defined(__clang__)
    __attribute__((__simd__("notinbranch"))) extern double exp(double);
    __attribute__((__simd__("notinbranch"))) extern float expf(float);
    __attribute__((__simd__("notinbranch"))) extern double log(double);
    __attribute__((__simd__("notinbranch"))) extern float logf(float);
    #endif
    """

# Rows of a loss are as short as the number of classes: exp and log run over whole arrays
# (or chunks of this many values, on the stack) so that they can be vectorized.
cdef enum:
    LOG_CHUNK = 256


cdef inline floating _exp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef inline floating _log(floating x) noexcept nogil:
    if floating is float:
        return logf(x)
    else:
        return log(x)


cdef inline floating _clip(floating p) noexcept nogil:
    cdef floating lo = <floating> CLIP, hi = <floating> (1 - CLIP)
    return lo if p < lo else (hi if p > hi else p)


cdef void softmax_kernel(const floating[:, ::1] logits, floating[:, ::1] probs) noexcept nogil:
    """probs[i] := exp(logits[i] - max(logits[i])) / Σ exp(logits[i] - max(logits[i]))."""
    # Three passes: the shifted logits, exp over the whole array (vectorized), then each
    # row's sum and division, in the book's order.
    cdef Py_ssize_t i, j, k, n = logits.shape[1], size = logits.shape[0] * logits.shape[1]
    cdef floating m, s
    cdef const floating *x
    cdef floating *p
    if size == 0:
        return
    for i in range(logits.shape[0]):
        x = &logits[i, 0]
        p = &probs[i, 0]
        m = x[0]
        for j in range(1, n):
            # np.max propagates NaN: so does this (a NaN row stays NaN).
            if x[j] > m or x[j] != x[j]:
                m = x[j]
        for j in range(n):
            p[j] = x[j] - m
    p = &probs[0, 0]
    for k in range(size):
        p[k] = _exp(p[k])
    for i in range(logits.shape[0]):
        p = &probs[i, 0]
        s = 0
        for j in range(n):
            s = s + p[j]
        for j in range(n):
            p[j] = p[j] / s


def softmax(const floating[:, ::1] logits, floating[:, ::1] probs):
    """probs := softmax of each row of logits."""
    with nogil:
        softmax_kernel(logits, probs)


cdef inline double _add_minus_logs(floating *chunk, Py_ssize_t count,
                                   double total) noexcept nogil:
    # total + Σ_t -log(chunk[t]), added one by one in order; the logs in a loop of their own,
    # which libmvec vectorizes.
    cdef Py_ssize_t t
    for t in range(count):
        chunk[t] = _log(chunk[t])
    for t in range(count):
        total += -chunk[t]
    return total


cdef double _sparse_loss(const floating[:, ::1] logits, const long[::1] labels,
                         floating[:, ::1] probs) noexcept nogil:
    # Σ_i -log(clip(probs[i, label_i])), the logs taken LOG_CHUNK at a time (vectorized),
    # the sum in the order of the samples.
    cdef Py_ssize_t i, t, start, count, n = probs.shape[0]
    cdef floating chunk[LOG_CHUNK]
    cdef double total = 0
    softmax_kernel(logits, probs)
    start = 0
    while start < n:
        count = min(<Py_ssize_t> LOG_CHUNK, n - start)
        for t in range(count):
            chunk[t] = _clip(probs[start + t, labels[start + t]])
        total = _add_minus_logs(chunk, count, total)
        start += count
    return total


cdef double _onehot_loss(const floating[:, ::1] logits, const floating[:, ::1] onehot,
                         floating[:, ::1] probs) noexcept nogil:
    # Σ_i -log(Σ_j clip(probs[i, j])·onehot[i, j]), as _sparse_loss.
    cdef Py_ssize_t i, j, t, start, count, n = probs.shape[0]
    cdef floating c
    cdef floating chunk[LOG_CHUNK]
    cdef double total = 0
    softmax_kernel(logits, probs)
    start = 0
    while start < n:
        count = min(<Py_ssize_t> LOG_CHUNK, n - start)
        for t in range(count):
            i = start + t
            c = 0
            for j in range(probs.shape[1]):
                c = c + _clip(probs[i, j]) * onehot[i, j]
            chunk[t] = c
        total = _add_minus_logs(chunk, count, total)
        start += count
    return total


cdef void _backward(const floating[:, ::1] dvalues, const long[::1] labels,
                    floating[:, ::1] dinputs) noexcept nogil:
    # Three passes over the whole (contiguous) array rather than one per row: rows are as
    # short as the number of classes, too short for the division to be vectorized, and the
    # division is most of the work. Each element gets the same operations as in the book.
    cdef Py_ssize_t i, j, n = dvalues.shape[0], size = dvalues.shape[0] * dvalues.shape[1]
    cdef const floating *dv
    cdef floating *d
    cdef floating count = <floating> n
    if size == 0:
        return
    dv = &dvalues[0, 0]
    d = &dinputs[0, 0]
    for j in range(size):
        d[j] = dv[j]
    for i in range(n):
        dinputs[i, labels[i]] = dinputs[i, labels[i]] - 1
    # The book divides by the sample count (not multiplies by its inverse).
    for j in range(size):
        d[j] = d[j] / count


cdef class SoftmaxCrossEntropyStep:
    """The loss's arrays held as memoryviews, for steps without re-binding them.

    fastbp/losses.py validates logits, labels (and one-hot rows) and allocates the outputs,
    binds them here, and calls ``forward()``/``backward()`` while they stay the same
    (fastbp/_snapshot.pyx). Nothing is checked here.
    """
    # (attributes declared in _loss.pxd, for fastbp._train_step.NetworkStep)

    def __cinit__(self, bint float64, CallLock lock=None):
        self.f64 = float64
        # The loss object's lock (fastbp/_calllock.pyx), held while binding or running.
        self.lock = lock if lock is not None else CallLock()

    def bind_forward(self, logits, labels, onehot, probs):
        """Hold (logits, labels, probs), and the one-hot rows if the loss reads them."""
        self.lock.take()
        try:
            self.onehot = onehot is not None
            self.labels = labels
            if self.f64:
                self.logits_d, self.probs_d = logits, probs
                if self.onehot:
                    self.y_d = onehot
            else:
                self.logits_f, self.probs_f = logits, probs
                if self.onehot:
                    self.y_f = onehot
            self.bound_forward = True
            self.generation += 1
        finally:
            self.lock.give()

    def bind_backward(self, dvalues, labels, dinputs):
        self.lock.take()
        try:
            self.backward_labels = labels
            if self.f64:
                self.dvalues_d, self.dinputs_d = dvalues, dinputs
            else:
                self.dvalues_f, self.dinputs_f = dvalues, dinputs
            self.bound_backward = True
            self.generation += 1
        finally:
            self.lock.give()

    def forward(self):
        """probs := softmax(logits); return the mean loss."""
        cdef double loss
        if not self.bound_forward:  # a guard against misuse, not a validation
            raise RuntimeError("SoftmaxCrossEntropyStep.forward before bind_forward")
        self.lock.take()
        with nogil:
            loss = self._forward()
        self.lock.give()
        return loss

    def backward(self):
        """dinputs := (dvalues - one_hot(labels)) / n_samples."""
        if not self.bound_backward:
            raise RuntimeError("SoftmaxCrossEntropyStep.backward before bind_backward")
        self.lock.take()
        with nogil:
            self._backward()
        self.lock.give()

    cdef double _forward(self) noexcept nogil:
        cdef double total
        cdef Py_ssize_t n = self.labels.shape[0]
        if self.f64:
            if self.onehot:
                total = _onehot_loss(self.logits_d, self.y_d, self.probs_d)
            else:
                total = _sparse_loss(self.logits_d, self.labels, self.probs_d)
        else:
            if self.onehot:
                total = _onehot_loss(self.logits_f, self.y_f, self.probs_f)
            else:
                total = _sparse_loss(self.logits_f, self.labels, self.probs_f)
        return total / n if n else NAN

    cdef void _backward(self) noexcept nogil:
        if self.f64:
            _backward(self.dvalues_d, self.backward_labels, self.dinputs_d)
        else:
            _backward(self.dvalues_f, self.backward_labels, self.dinputs_f)
