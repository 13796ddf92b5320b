"""Softmax and softmax cross-entropy kernels: the book's
Activation_Softmax_Loss_CategoricalCrossentropy in one pass per row.

Design
------
``cdef ... noexcept nogil`` kernels over C-contiguous arrays given by their data pointers and
shapes, float32/float64 by ``cython.floating``, no checks and no allocation. fastbp/losses.py
checks shapes, labels (integers in range, or one-hot rows of the right width) and allocates;
``SoftmaxCrossEntropyStep`` checks each array's dtype, layout and shape once, when bound.

Each row: subtract the row max (so exp never overflows), exponentiate, divide by the sum,
in the book's order of operations; the loss clips the probability of the true class to
[1e-7, 1 - 1e-7] before the log, as the book does.
"""

from cython cimport floating
from fastbp._binding cimport data_of
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


cdef void softmax_ptr(const floating *logits, floating *probs, Py_ssize_t n_samples,
                      Py_ssize_t n_classes) noexcept nogil:
    """probs[i] := exp(logits[i] - max(logits[i])) / Σ exp(logits[i] - max(logits[i]))."""
    # IN:  logits (n_samples, n_classes)
    # OUT: probs (n_samples, n_classes)
    # Three passes: the shifted logits, exp over the whole array (vectorized), then each
    # row's sum and division, in the book's order.
    cdef Py_ssize_t i, j, k, n = n_classes, size = n_samples * n_classes
    cdef floating m, s
    cdef const floating *x
    cdef floating *p
    if size == 0:
        return
    for i in range(n_samples):
        x = logits + i * n
        p = probs + i * n
        m = x[0]
        for j in range(1, n):
            # np.max propagates NaN: so does this (a NaN row stays NaN).
            if x[j] > m or x[j] != x[j]:
                m = x[j]
        for j in range(n):
            p[j] = x[j] - m
    for k in range(size):
        probs[k] = _exp(probs[k])
    for i in range(n_samples):
        p = probs + i * n
        s = 0
        for j in range(n):
            s = s + p[j]
        for j in range(n):
            p[j] = p[j] / s


def softmax(const floating[:, ::1] logits, floating[:, ::1] probs):
    """probs := softmax of each row of logits."""
    if logits.shape[0] == 0 or logits.shape[1] == 0:
        return
    with nogil:
        softmax_ptr(&logits[0, 0], &probs[0, 0], logits.shape[0], logits.shape[1])


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


cdef double sparse_loss_ptr(const floating *logits, const long *labels, floating *probs,
                            Py_ssize_t n_samples, Py_ssize_t n_classes) noexcept nogil:
    """probs := softmax(logits); returns Σ_i -log(clip(probs[i, labels[i]]))."""
    # IN:  logits (n_samples, n_classes), labels (n_samples,)
    # OUT: probs (n_samples, n_classes)
    # The logs are taken LOG_CHUNK at a time (vectorized), the sum in the order of the samples.
    cdef Py_ssize_t t, start, count
    cdef floating chunk[LOG_CHUNK]
    cdef double total = 0
    softmax_ptr(logits, probs, n_samples, n_classes)
    start = 0
    while start < n_samples:
        count = min(<Py_ssize_t> LOG_CHUNK, n_samples - start)
        for t in range(count):
            chunk[t] = _clip(probs[(start + t) * n_classes + labels[start + t]])
        total = _add_minus_logs(chunk, count, total)
        start += count
    return total


cdef double onehot_loss_ptr(const floating *logits, const floating *onehot, floating *probs,
                            Py_ssize_t n_samples, Py_ssize_t n_classes) noexcept nogil:
    """probs := softmax(logits); returns Σ_i -log(Σ_j clip(probs[i, j])·onehot[i, j])."""
    # IN:  logits, onehot (n_samples, n_classes)
    # OUT: probs (n_samples, n_classes)
    cdef Py_ssize_t i, j, t, start, count
    cdef floating c
    cdef floating chunk[LOG_CHUNK]
    cdef double total = 0
    softmax_ptr(logits, probs, n_samples, n_classes)
    start = 0
    while start < n_samples:
        count = min(<Py_ssize_t> LOG_CHUNK, n_samples - start)
        for t in range(count):
            i = (start + t) * n_classes
            c = 0
            for j in range(n_classes):
                c = c + _clip(probs[i + j]) * onehot[i + j]
            chunk[t] = c
        total = _add_minus_logs(chunk, count, total)
        start += count
    return total


cdef void backward_ptr(const floating *dvalues, const long *labels, floating *dinputs,
                       Py_ssize_t n_samples, Py_ssize_t n_classes) noexcept nogil:
    """dinputs := (dvalues - one_hot(labels)) / n_samples."""
    # IN:  dvalues (n_samples, n_classes), labels (n_samples,)
    # OUT: dinputs (n_samples, n_classes)
    # Three passes over the whole (contiguous) array rather than one per row: rows are as
    # short as the number of classes, too short for the division to be vectorized, and the
    # division is most of the work. Each element gets the same operations as in the book.
    cdef Py_ssize_t i, j, size = n_samples * n_classes
    cdef floating count = <floating> n_samples
    if size == 0:
        return
    for j in range(size):
        dinputs[j] = dvalues[j]
    for i in range(n_samples):
        dinputs[i * n_classes + labels[i]] = dinputs[i * n_classes + labels[i]] - 1
    # The book divides by the sample count (not multiplies by its inverse).
    for j in range(size):
        dinputs[j] = dinputs[j] / count


cdef const long *_labels_of(object labels, str name, Py_ssize_t n_samples) except? NULL:
    # The data of a C-contiguous 1-D array of C longs with n_samples elements (NULL if
    # empty); the values were checked by fastbp/losses.py.
    cdef const long[::1] view = labels
    if view.shape[0] != n_samples:
        raise ValueError(f"{name} must have {n_samples} elements, got {view.shape[0]}")
    return NULL if n_samples == 0 else &view[0]


cdef class SoftmaxCrossEntropyStep:
    """The loss's arrays, bound once, for steps without re-binding them.

    fastbp/losses.py validates logits, labels (and one-hot rows) and allocates the outputs,
    binds them here, and calls ``forward()``/``backward()`` while they stay the same
    (fastbp/_snapshot.pyx). Binding checks each array's dtype, layout and shape
    (fastbp/_binding.pxd) and keeps it alive; one set of fields serves both dtypes.
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
            if not (hasattr(logits, "shape") and len(logits.shape) == 2):
                raise ValueError("logits must be a 2-D array")
            n, k = logits.shape
            x = data_of(logits, "logits", self.f64, n, k, False)
            y = data_of(onehot, "onehot", self.f64, n, k, False) if onehot is not None else NULL
            p = data_of(probs, "probs", self.f64, n, k, True)
            lab = _labels_of(labels, "labels", n)
            self.forward_arrays = (logits, labels, onehot, probs)
            self.onehot = onehot is not None
            self.logits, self.y, self.probs, self.labels = x, y, p, lab
            self.n_samples, self.n_classes = n, k
            self.bound_forward = True
            self.generation += 1
        finally:
            self.lock.give()

    def bind_backward(self, dvalues, labels, dinputs):
        """Hold (dvalues, labels, dinputs)."""
        self.lock.take()
        try:
            if not (hasattr(dvalues, "shape") and len(dvalues.shape) == 2):
                raise ValueError("dvalues must be a 2-D array")
            n, k = dvalues.shape
            dv = data_of(dvalues, "dvalues", self.f64, n, k, False)
            dx = data_of(dinputs, "dinputs", self.f64, n, k, True)
            lab = _labels_of(labels, "labels", n)
            self.backward_arrays = (dvalues, labels, dinputs)
            self.dvalues, self.dinputs, self.backward_labels = dv, dx, lab
            self.backward_samples, self.backward_classes = n, k
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
        cdef Py_ssize_t n = self.n_samples, k = self.n_classes
        if self.f64:
            if self.onehot:
                total = onehot_loss_ptr(<const double *> self.logits, <const double *> self.y,
                                        <double *> self.probs, n, k)
            else:
                total = sparse_loss_ptr(<const double *> self.logits, self.labels,
                                        <double *> self.probs, n, k)
        else:
            if self.onehot:
                total = onehot_loss_ptr(<const float *> self.logits, <const float *> self.y,
                                        <float *> self.probs, n, k)
            else:
                total = sparse_loss_ptr(<const float *> self.logits, self.labels,
                                        <float *> self.probs, n, k)
        return total / n if n else NAN

    cdef void _backward(self) noexcept nogil:
        if self.f64:
            backward_ptr(<const double *> self.dvalues, self.backward_labels,
                         <double *> self.dinputs, self.backward_samples, self.backward_classes)
        else:
            backward_ptr(<const float *> self.dvalues, self.backward_labels,
                         <float *> self.dinputs, self.backward_samples, self.backward_classes)
