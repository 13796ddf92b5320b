# Part of fastbp/_kernels.pyx, which includes it after its cimports.
# ``DenseStep``: one layer's arrays bound once, stepped forward and backward.

# --- A dense layer's step over arrays bound once ---------------------------------------------

# How much of a layer's backward step NetworkStep has done before calling _backward_parts.
cdef enum:
    DONE_NOTHING = 0
    DONE_MASK = 1  # the ReLU mask into dz and the bias sums
    DONE_ALL = 2   # everything but the regularization terms


cdef class DenseStep:
    """A Dense (+ReLU) layer's arrays held as typed memoryviews, stepped without re-binding.

    Acquiring a memoryview costs a fixed time an array, and a layer step passes nine: on the
    book's spiral layer that is as long as the arithmetic. ``fastbp.layers`` validates the
    arrays once, binds them here, and calls ``forward()``/``backward()`` while they stay the
    same objects (fastbp/_snapshot.pyx tells it so). Nothing is checked here.

    Dispatch by dtype happens once, at construction: each method picks the float64 or the
    float32 views with one test.

    Each method holds ``lock``, the layer's (fastbp/_calllock.pyx), while it binds or runs:
    another thread's call on the same layer waits, and never re-binds arrays that a kernel
    is using.
    """
    cdef bint f64, relu, bound_forward, bound_backward
    cdef readonly CallLock lock
    # Counts the bind_* calls: a NetworkStep built on these bindings checks it is unchanged.
    cdef readonly unsigned long generation
    cdef const double[:, ::1] X_d, W_d, b_d, dY_d
    cdef double[:, ::1] out_d, dz_d, dX_d, dW_d, db_d
    cdef const float[:, ::1] X_f, W_f, b_f, dY_f
    cdef float[:, ::1] out_f, dz_f, dX_f, dW_f, db_f

    def __cinit__(self, bint float64, bint relu, CallLock lock=None):
        self.f64 = float64
        self.relu = relu
        self.lock = lock if lock is not None else CallLock()

    def bind_forward(self, inputs, weights, biases, out):
        """Hold (inputs, weights, biases, out) for ``forward``; all 2-D, C-contiguous."""
        self.lock.take()
        try:
            if self.f64:
                self.X_d, self.W_d, self.b_d, self.out_d = inputs, weights, biases, out
            else:
                self.X_f, self.W_f, self.b_f, self.out_f = inputs, weights, biases, out
            self.bound_forward = True
            self.generation += 1
        finally:
            self.lock.give()

    def bind_backward(self, dvalues, dz, dinputs, dweights, dbiases):
        """Hold (dvalues, dz, dinputs, dweights, dbiases) for ``backward``; dz only with ReLU."""
        self.lock.take()
        try:
            if self.f64:
                self.dY_d, self.dX_d, self.dW_d, self.db_d = dvalues, dinputs, dweights, dbiases
                if self.relu:
                    self.dz_d = dz
            else:
                self.dY_f, self.dX_f, self.dW_f, self.db_f = dvalues, dinputs, dweights, dbiases
                if self.relu:
                    self.dz_f = dz
            self.bound_backward = True
            self.generation += 1
        finally:
            self.lock.give()

    def forward(self):
        """out := inputs·weights + biases (then ReLU), on the bound arrays."""
        if not self.bound_forward:  # a guard against misuse, not a validation
            raise RuntimeError("DenseStep.forward before bind_forward")
        self.lock.take()
        with nogil:
            self._forward()
        self.lock.give()

    def backward(self, double weight_l1, double weight_l2, double bias_l1, double bias_l2):
        """dinputs, dweights, dbiases from dvalues, plus the L1/L2 terms, on the bound arrays."""
        if not (self.bound_forward and self.bound_backward):
            raise RuntimeError("DenseStep.backward before bind_forward and bind_backward")
        self.lock.take()
        with nogil:
            self._backward(weight_l1, weight_l2, bias_l1, bias_l2)
        self.lock.give()

    cdef void _forward(self) noexcept nogil:
        if self.f64:
            dense_forward_kernel(self.X_d, self.W_d, self.b_d, self.out_d, self.relu)
        else:
            dense_forward_kernel(self.X_f, self.W_f, self.b_f, self.out_f, self.relu)

    cdef void _backward(self, double weight_l1, double weight_l2, double bias_l1,
                        double bias_l2) noexcept nogil:
        self._backward_parts(weight_l1, weight_l2, bias_l1, bias_l2, DONE_NOTHING, True)

    cdef void _backward_parts(self, double weight_l1, double weight_l2, double bias_l1,
                              double bias_l2, int done, bint dinputs) noexcept nogil:
        # The backward step in the order of the book's layer: mask and bias sums (dz is
        # bound, and read, only with ReLU), dW, dX, then the regularization terms. A layer
        # with 1-3 inputs takes one blocked pass instead (thin_backward_kernel), which
        # leaves dz unwritten. NetworkStep may have done the mask and bias sums already
        # (done: DONE_MASK, from the fused kernel of the layer above), or all but the
        # regularization (DONE_ALL), or not need dX (dinputs false).
        if done != DONE_ALL:
            if self.f64:
                if self._thin_backward():
                    thin_backward_kernel(self.dY_d, self.X_d, self.W_d, self.out_d, self.relu,
                                         self.dX_d, self.dW_d, self.db_d, dinputs)
                elif self.relu:
                    if done != DONE_MASK:
                        relu_mask_column_sums_kernel(self.dY_d, self.out_d, self.dz_d,
                                                     self.db_d)
                    dweights_kernel(self.dz_d, self.X_d, self.dW_d)
                    if dinputs:
                        dinputs_kernel(self.dz_d, self.W_d, self.dX_d)
                else:
                    column_sums_kernel(self.dY_d, self.db_d)
                    dweights_kernel(self.dY_d, self.X_d, self.dW_d)
                    if dinputs:
                        dinputs_kernel(self.dY_d, self.W_d, self.dX_d)
            else:
                if self._thin_backward():
                    thin_backward_kernel(self.dY_f, self.X_f, self.W_f, self.out_f, self.relu,
                                         self.dX_f, self.dW_f, self.db_f, dinputs)
                elif self.relu:
                    if done != DONE_MASK:
                        relu_mask_column_sums_kernel(self.dY_f, self.out_f, self.dz_f,
                                                     self.db_f)
                    dweights_kernel(self.dz_f, self.X_f, self.dW_f)
                    if dinputs:
                        dinputs_kernel(self.dz_f, self.W_f, self.dX_f)
                else:
                    column_sums_kernel(self.dY_f, self.db_f)
                    dweights_kernel(self.dY_f, self.X_f, self.dW_f)
                    if dinputs:
                        dinputs_kernel(self.dY_f, self.W_f, self.dX_f)
        if self.f64:
            _regularize(self.W_d, self.dW_d, self.b_d, self.db_d,
                        weight_l1, weight_l2, bias_l1, bias_l2)
        else:
            _regularize(self.W_f, self.dW_f, self.b_f, self.db_f,
                        weight_l1, weight_l2, bias_l1, bias_l2)

    cdef bint _thin_backward(self) noexcept nogil:
        if self.f64:
            return _thin_backward_path(self.X_d.shape[0], self.W_d.shape[0], self.W_d.shape[1],
                                       True)
        return _thin_backward_path(self.X_f.shape[0], self.W_f.shape[0], self.W_f.shape[1],
                                   False)

    cdef bint _feeds_relu_mask_of(self, DenseStep below):
        """Whether below is a bound ReLU layer whose dvalues are this layer's dinputs array
        (the same memory), of the same dtype: then NetworkStep may fuse the two."""
        if not (below.relu and below.f64 == self.f64 and below.bound_backward
                and self.bound_backward):
            return False
        if self.f64:
            return (self.dX_d.shape[0] == below.dY_d.shape[0] != 0
                    and self.dX_d.shape[1] == below.dY_d.shape[1] != 0
                    and &self.dX_d[0, 0] == &below.dY_d[0, 0])
        return (self.dX_f.shape[0] == below.dY_f.shape[0] != 0
                and self.dX_f.shape[1] == below.dY_f.shape[1] != 0
                and &self.dX_f[0, 0] == &below.dY_f[0, 0])

    cdef bint _thin_dinputs(self) noexcept nogil:
        if self.f64:
            return _thin_dinputs_path(self.X_d.shape[0], self.W_d.shape[0], self.W_d.shape[1])
        return _thin_dinputs_path(self.X_f.shape[0], self.W_f.shape[0], self.W_f.shape[1])

    cdef int _dinputs_into_relu_mask(self, DenseStep below, bint below_dinputs) noexcept nogil:
        # This layer's dX straight into below's backward step; this layer's dinputs is not
        # written. Returns how much of below's step is done (see DONE_*): with 1-3 inputs
        # below, all of it (thin_dinputs_thin_backward_kernel; below's dX only if
        # below_dinputs); else its mask into dz and its bias sums
        # (thin_dinputs_relu_mask_column_sums_kernel).
        if self.f64:
            if below._thin_backward():
                thin_dinputs_thin_backward_kernel(self.dz_d if self.relu else self.dY_d,
                                                  self.W_d, below.out_d, below.X_d, below.W_d,
                                                  below.dX_d, below.dW_d, below.db_d,
                                                  below_dinputs)
                return DONE_ALL
            thin_dinputs_relu_mask_column_sums_kernel(self.dz_d if self.relu else self.dY_d,
                                                      self.W_d, below.out_d, below.dz_d,
                                                      below.db_d)
        else:
            if below._thin_backward():
                thin_dinputs_thin_backward_kernel(self.dz_f if self.relu else self.dY_f,
                                                  self.W_f, below.out_f, below.X_f, below.W_f,
                                                  below.dX_f, below.dW_f, below.db_f,
                                                  below_dinputs)
                return DONE_ALL
            thin_dinputs_relu_mask_column_sums_kernel(self.dz_f if self.relu else self.dY_f,
                                                      self.W_f, below.out_f, below.dz_f,
                                                      below.db_f)
        return DONE_MASK


cdef inline void _regularize(const floating[:, ::1] W, floating[:, ::1] dW,
                             const floating[:, ::1] b, floating[:, ::1] db,
                             double weight_l1, double weight_l2, double bias_l1,
                             double bias_l2) noexcept nogil:
    if weight_l1 != 0 or weight_l2 != 0:
        regularization_grad_kernel(W, dW, <floating> weight_l1, <floating> weight_l2)
    if bias_l1 != 0 or bias_l2 != 0:
        regularization_grad_kernel(b, db, <floating> bias_l1, <floating> bias_l2)
