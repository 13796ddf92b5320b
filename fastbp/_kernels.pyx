"""Compiled kernels of fastbp: dense layer and ReLU, forward and backward.

Design
------
* Kernels are ``cdef ... noexcept nogil`` functions over typed memoryviews, generic over
  ``cython.floating`` (float32 and float64). They never check, raise or allocate: the Python
  layer (``fastbp/_validation.py``, ``fastbp/functional.py``) checks dtypes, shapes, contiguity
  and aliasing, and allocates every output, before any of them runs. They are compiled with
  bounds checking off (see setup.py); FASTBP_DEBUG=1 at build time turns it back on.
* Every 2-D array is C-contiguous (row-major). Outputs are written, never read, unless a
  docstring says ``+=``.
* Matrix products go through BLAS (``fastbp/_blas.pyx``: scipy.linalg.cython_blas, the
  OpenBLAS that scipy ships, with the row-major operand swap). Products small enough that BLAS's call overhead
  outweighs the arithmetic run as plain loops instead (``SMALL_PRODUCT``).
* Bias and ReLU are applied in one pass over the product, while a row is hot in cache (the
  "epilogue"), not as separate numpy operations over the whole array.
* ReLU is ``x < 0 ? 0 : x``: a select, not a branch, and it keeps NaN as np.maximum(0, x) does.
  Its backward zeroes the gradient where the input is ``<= 0``, as the book's
  ``dinputs[inputs <= 0] = 0`` does, so a NaN input lets its gradient through.
* Thin layers, with 1-3 inputs (the spiral's 2→64) or 1-3 neurons (its 64→3), take
  register-blocked kernels written in C with GCC/Clang vector extensions
  (``_thin_kernels.h``): a one-pass backward that never stores the masked gradient, and a
  dot-product forward and dW. gcc does not vectorize those sums from Cython loops. With FMA
  (the x86-64-v3 build) they fuse multiply and add, so there the two builds agree to
  rounding, not bit for bit; everything else is compiled without contraction.
* The memoryview kernels are thin wrappers over ``*_ptr`` kernels that take data pointers
  and shapes; the functional API's fast path (fastbp/_fastcheck.pyx) calls those directly,
  through the capsule of ``_functional_kernels()``, to skip acquiring memoryviews.
* The ``def`` functions at the bottom are the Python entry points: they take memoryviews,
  release the GIL and call one kernel (besides ``_functional_kernels``, above).
"""

from cpython.pycapsule cimport PyCapsule_New
from cython cimport floating
from libc.math cimport NAN, pow

from fastbp._functional_kernels cimport (
    FASTBP_CHECKED_BUILD,
    FUNCTIONAL_KERNELS_NAME,
    FunctionalKernels,
)
from fastbp._blas cimport gemm
from fastbp._calllock cimport CallLock
from fastbp._constants cimport MAX_NETWORK_LAYERS
from fastbp._loss cimport SoftmaxCrossEntropyStep
from fastbp._optimizers cimport OPTIMIZER_ADAM, LayerUpdate

# Products with at most this many multiply-adds (m·n·k) run as plain loops: below it, a BLAS
# call costs more than its arithmetic. The book's spiral layer (300×2→64, 300×64→3) is below.
cdef Py_ssize_t SMALL_PRODUCT = 512

# Forward products with at most this many inputs run as one pass of loops at any size: with
# three inputs or fewer each output row is written once, while a BLAS product followed by the
# bias/ReLU epilogue passes twice over an output array too large for L1. The same holds for
# the backward product dX = dZ·Wᵀ of a layer with that many neurons (at most 3). With AVX2
# the one pass beats BLAS up to 3 inputs; with SSE2 only (the baseline build), for one input.
cdef extern from *:
    """
    #if defined(__AVX2__)
    #define FASTBP_THIN_INPUTS 3
    #else
    #define FASTBP_THIN_INPUTS 1
    #endif
    """
    const Py_ssize_t FASTBP_THIN_INPUTS

cdef Py_ssize_t THIN_INPUTS = FASTBP_THIN_INPUTS

# The kernels for thin layers, in C with vector extensions (FASTBP_THIN_KERNELS is 0 for a
# compiler without them: then the thresholds below stay 0 and nothing calls them).
cdef extern from "_thin_kernels.h":
    const bint FASTBP_THIN_KERNELS
    void fastbp_thin_backward_rows_d(const double *dY, const double *out, const double *X,
                                     const double *W, double *dX, double *dW, double *db,
                                     double *px, Py_ssize_t rows, Py_ssize_t k,
                                     Py_ssize_t N) noexcept nogil
    void fastbp_thin_backward_rows_f(const float *dY, const float *out, const float *X,
                                     const float *W, float *dX, float *dW, float *db,
                                     float *px, Py_ssize_t rows, Py_ssize_t k,
                                     Py_ssize_t N) noexcept nogil
    void fastbp_thin_output_forward_d(const double *A, const double *B, const double *bias,
                                      double *out, Py_ssize_t rows, Py_ssize_t n,
                                      Py_ssize_t k, bint relu) noexcept nogil
    void fastbp_thin_output_forward_f(const float *A, const float *B, const float *bias,
                                      float *out, Py_ssize_t rows, Py_ssize_t n,
                                      Py_ssize_t k, bint relu) noexcept nogil
    void fastbp_thin_input_forward_d(const double *X, const double *W, const double *b,
                                     double *out, Py_ssize_t rows, Py_ssize_t N,
                                     Py_ssize_t k, bint relu) noexcept nogil
    void fastbp_thin_input_forward_f(const float *X, const float *W, const float *b,
                                     float *out, Py_ssize_t rows, Py_ssize_t N,
                                     Py_ssize_t k, bint relu) noexcept nogil

# The THIN_INPUTS forward of a layer with 1-3 inputs runs as fastbp_thin_input_forward:
# the same expression per element as _dense_row (so the same bits), in vector lanes that
# gcc does not version per row; so does dX = dZ·Wᵀ of a layer with 1-3 neurons (without
# bias, _product_rows). What is left of the forward is writing the output.
cdef bint THIN_FORWARD_VECTORS = FASTBP_THIN_KERNELS

# The forward product of a layer with at most this many neurons (at most 3: the spiral's
# 64→3) runs as dot products in vector lanes (fastbp_thin_output_forward), with the bias and
# ReLU applied as each output is made, instead of OpenBLAS followed by an epilogue pass.
cdef Py_ssize_t THIN_OUTPUT_NEURONS = 3 if FASTBP_THIN_KERNELS else 0

# The backward pass of a layer with at most this many inputs (and at most 3) runs as one
# blocked pass (fastbp_thin_backward_rows): dz is never stored, and each block of rows is
# read from L2 once, where the separate path writes dz and reads it back for two BLAS
# products.
cdef Py_ssize_t THIN_BACKWARD_INPUTS_D = 3 if FASTBP_THIN_KERNELS else 0
cdef Py_ssize_t THIN_BACKWARD_INPUTS_F = 3 if FASTBP_THIN_KERNELS else 0

# A block of the thin backward pass: its rows of dvalues and output fill 16 KiB of L1, and
# at most THIN_SCRATCH values (16 KiB of float64), so that the rows of dvalues that
# thin_dinputs_thin_backward_kernel computes ahead of the pass fit a stack array. dX's
# partial sums take k ≤ 3 vectors a row, and only when the block has at least two vectors
# of columns (n_neurons ≥ 2·lanes): THIN_PARTIALS = 3/2·THIN_SCRATCH values then suffice.
cdef enum:
    THIN_BLOCK_BYTES = 16384
    THIN_SCRATCH = 2048
    THIN_PARTIALS = 3072  # 3 * THIN_SCRATCH / 2 (a literal: in the checked build, // is a call)

# In the checked build (FASTBP_DEBUG=1: FASTBP_CHECKED_BUILD, see _functional_kernels.pxd)
# the memoryview kernels that hand raw pointers to a *_ptr kernel first check that every
# array has the shape the kernel will index, so that a mismatch is reported instead of read
# or written past an array's end, or with the wrong row stride.
cdef inline bint _has_shape(const floating[:, ::1] a, Py_ssize_t rows,
                            Py_ssize_t cols) noexcept nogil:
    # False after reporting a mismatch (a ValueError through sys.unraisablehook: the kernels
    # are noexcept); the caller must then stop.
    if a.shape[0] == rows and a.shape[1] == cols:
        return True
    with gil:
        raise ValueError(f"checked build: a kernel was handed an array of shape "
                         f"({a.shape[0]}, {a.shape[1]}) where it indexes ({rows}, {cols})")


cdef inline bint _is_small(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k) noexcept nogil:
    # m·n first: with each factor below 2**31, neither product can overflow 64 bits.
    return m * n <= SMALL_PRODUCT and m * n * k <= SMALL_PRODUCT


cdef inline const floating *_cdata(const floating[:, ::1] a) noexcept nogil:
    # An empty view has no element [0, 0]; BLAS is never handed a pointer it would read then.
    return NULL if a.shape[0] == 0 or a.shape[1] == 0 else &a[0, 0]


cdef inline floating *_data(floating[:, ::1] a) noexcept nogil:
    return NULL if a.shape[0] == 0 or a.shape[1] == 0 else &a[0, 0]


cdef inline void _bias_relu_rows(floating *out, const floating *b, Py_ssize_t n_rows,
                                 Py_ssize_t n_cols, bint relu) noexcept nogil:
    # out[i, :] := out[i, :] + b, then max(·, 0). The bias comes after the product, as in
    # the reference np.dot(X, W) + b, so both round alike.
    cdef Py_ssize_t i, j
    cdef floating v
    cdef floating *row
    for i in range(n_rows):
        row = out + i * n_cols
        if relu:
            for j in range(n_cols):
                v = row[j] + b[j]
                row[j] = 0 if v < 0 else v
        else:
            for j in range(n_cols):
                row[j] = row[j] + b[j]


cdef inline void _axpy(floating a, const floating *x, floating *y, Py_ssize_t n) noexcept nogil:
    # y += a·x
    cdef Py_ssize_t j
    for j in range(n):
        y[j] += a * x[j]


cdef inline floating _dot(const floating *x, const floating *y, Py_ssize_t n) noexcept nogil:
    # Σ x·y with four partial sums: one running sum would wait on the latency of every add,
    # and several let the compiler vectorize without reordering anything itself.
    cdef floating s0 = 0, s1 = 0, s2 = 0, s3 = 0
    cdef Py_ssize_t j = 0
    while j + 4 <= n:
        s0 += x[j] * y[j]
        s1 += x[j + 1] * y[j + 1]
        s2 += x[j + 2] * y[j + 2]
        s3 += x[j + 3] * y[j + 3]
        j += 4
    while j < n:
        s0 += x[j] * y[j]
        j += 1
    return (s0 + s1) + (s2 + s3)


cdef inline void _dense_row(const floating *x, const floating *W, const floating *b,
                            floating *out, Py_ssize_t n_inputs, Py_ssize_t n_neurons,
                            bint relu) noexcept nogil:
    # out := x·W + b for one sample, then max(out, 0) if relu. Up to four inputs are summed
    # in one pass over the row, held in registers: a thin layer (the spiral's 2→64) is then a
    # single pass that writes each output once, where a BLAS product plus an epilogue passes
    # twice over an output that has left L1. Each element is the same expression in every
    # build, so vectorization does not change the rounding.
    cdef Py_ssize_t j, k
    cdef floating v, x0, x1, x2, x3
    cdef const floating *w0
    cdef const floating *w1
    cdef const floating *w2
    cdef const floating *w3
    if n_inputs <= 3:
        x0 = x[0]
        w0 = W
        if n_inputs == 1:
            for j in range(n_neurons):
                v = x0 * w0[j] + b[j]
                out[j] = 0 if relu and v < 0 else v
        elif n_inputs == 2:
            x1 = x[1]
            w1 = W + n_neurons
            for j in range(n_neurons):
                v = (x0 * w0[j] + x1 * w1[j]) + b[j]
                out[j] = 0 if relu and v < 0 else v
        else:
            x1 = x[1]
            x2 = x[2]
            w1 = W + n_neurons
            w2 = W + 2 * n_neurons
            for j in range(n_neurons):
                v = ((x0 * w0[j] + x1 * w1[j]) + x2 * w2[j]) + b[j]
                out[j] = 0 if relu and v < 0 else v
        return
    # Four inputs a pass, accumulating in the row (L1), then bias and ReLU.
    k = 0
    while k + 4 <= n_inputs:
        x0 = x[k]
        x1 = x[k + 1]
        x2 = x[k + 2]
        x3 = x[k + 3]
        w0 = W + k * n_neurons
        w1 = w0 + n_neurons
        w2 = w1 + n_neurons
        w3 = w2 + n_neurons
        if k == 0:
            for j in range(n_neurons):
                out[j] = ((x0 * w0[j] + x1 * w1[j]) + x2 * w2[j]) + x3 * w3[j]
        else:
            for j in range(n_neurons):
                out[j] = out[j] + (((x0 * w0[j] + x1 * w1[j]) + x2 * w2[j]) + x3 * w3[j])
        k += 4
    while k < n_inputs:
        x0 = x[k]
        w0 = W + k * n_neurons
        for j in range(n_neurons):
            out[j] = out[j] + x0 * w0[j]
        k += 1
    _bias_relu_rows(out, b, 1, n_neurons, relu)


# Wᵀ of a layer with 1-3 neurons is copied to the stack for _thin_dinputs: at most this many
# inputs (3 × 1024 doubles, 24 KiB).
cdef enum:
    THIN_TRANSPOSE_MAX = 1024


cdef inline void _product_row(const floating *x, const floating *W, floating *out,
                              Py_ssize_t n_inputs, Py_ssize_t n_neurons) noexcept nogil:
    # out := x·W for one row, 1-3 inputs, in one pass: _dense_row without bias and ReLU.
    cdef Py_ssize_t j
    cdef floating x0 = x[0], x1, x2
    cdef const floating *w0 = W
    cdef const floating *w1 = W + n_neurons
    cdef const floating *w2 = W + 2 * n_neurons
    if n_inputs == 1:
        for j in range(n_neurons):
            out[j] = x0 * w0[j]
    elif n_inputs == 2:
        x1 = x[1]
        for j in range(n_neurons):
            out[j] = x0 * w0[j] + x1 * w1[j]
    else:
        x1 = x[1]
        x2 = x[2]
        for j in range(n_neurons):
            out[j] = (x0 * w0[j] + x1 * w1[j]) + x2 * w2[j]


cdef void _thin_dinputs(const floating *dZ, const floating *w, floating *dX,
                        Py_ssize_t n_samples, Py_ssize_t n_inputs,
                        Py_ssize_t n_neurons) noexcept nogil:
    """dX := dZ·Wᵀ for W with 1-3 columns (n_neurons) and at most THIN_TRANSPOSE_MAX rows."""
    cdef Py_ssize_t i, j, k
    cdef floating wt[3 * THIN_TRANSPOSE_MAX]
    for j in range(n_neurons):
        for k in range(n_inputs):
            wt[j * n_inputs + k] = w[k * n_neurons + j]
    _product_rows(dZ, wt, dX, n_samples, n_neurons, n_inputs)


cdef inline void _product_rows(const floating *X, const floating *W, floating *out,
                               Py_ssize_t n_samples, Py_ssize_t n_inputs,
                               Py_ssize_t n_neurons) noexcept nogil:
    # out := X·W for X with 1-3 columns, row by row: _product_row, or the same values from
    # fastbp_thin_input_forward's vector lanes (no bias: b = NULL).
    cdef Py_ssize_t i
    if THIN_FORWARD_VECTORS:
        if floating is double:
            fastbp_thin_input_forward_d(X, W, NULL, out, n_samples, n_neurons, n_inputs, False)
        else:
            fastbp_thin_input_forward_f(X, W, NULL, out, n_samples, n_neurons, n_inputs, False)
    else:
        for i in range(n_samples):
            _product_row(X + i * n_inputs, W, out + i * n_neurons, n_inputs, n_neurons)


cdef void dense_forward_kernel(const floating[:, ::1] X, const floating[:, ::1] W,
                               const floating[:, ::1] b, floating[:, ::1] out,
                               bint relu) noexcept nogil:
    """out := X·W + b; then out := max(out, 0) if relu."""
    # IN:  X (n_samples, n_inputs), W (n_inputs, n_neurons), b (1, n_neurons)
    # OUT: out (n_samples, n_neurons)
    cdef Py_ssize_t n_samples = X.shape[0], n_inputs = X.shape[1], n_neurons = W.shape[1]
    if FASTBP_CHECKED_BUILD and not (_has_shape(W, n_inputs, n_neurons)
                                     and _has_shape(b, 1, n_neurons)
                                     and _has_shape(out, n_samples, n_neurons)):
        return
    dense_forward_ptr(_cdata(X), _cdata(W), _cdata(b), _data(out), n_samples, n_inputs,
                      n_neurons, relu)


cdef void dense_forward_ptr(const floating *X, const floating *W, const floating *b,
                            floating *out, Py_ssize_t n_samples, Py_ssize_t n_inputs,
                            Py_ssize_t n_neurons, bint relu) noexcept nogil:
    """dense_forward_kernel over C-contiguous arrays given by their data and shapes."""
    # For callers that hold no memoryviews (the functional API's fast path, _fastcheck.pyx):
    # acquiring one costs more than a tiny product.
    cdef Py_ssize_t i
    if n_samples == 0 or n_neurons == 0:
        return
    if n_inputs != 0 and n_inputs <= THIN_INPUTS and n_inputs <= 3 and THIN_FORWARD_VECTORS:
        if floating is double:
            fastbp_thin_input_forward_d(X, W, b, out, n_samples, n_neurons, n_inputs, relu)
        else:
            fastbp_thin_input_forward_f(X, W, b, out, n_samples, n_neurons, n_inputs, relu)
    elif n_inputs != 0 and (n_inputs <= THIN_INPUTS or _is_small(n_samples, n_neurons, n_inputs)):
        for i in range(n_samples):
            _dense_row(X + i * n_inputs, W, b, out + i * n_neurons, n_inputs, n_neurons, relu)
    elif n_inputs != 0 and n_neurons <= THIN_OUTPUT_NEURONS and n_neurons <= 3 \
            and n_inputs <= THIN_TRANSPOSE_MAX:
        _thin_output_forward(X, W, b, out, n_samples, n_inputs, n_neurons, relu)
    else:
        gemm(False, False, <int> n_samples, <int> n_neurons, <int> n_inputs,
             <floating> 1, X, <int> n_inputs, W, <int> n_neurons,
             <floating> 0, out, <int> n_neurons)
        _bias_relu_rows(out, b, n_samples, n_neurons, relu)


cdef void _thin_output_forward(const floating *X, const floating *W, const floating *b,
                               floating *out, Py_ssize_t n_samples, Py_ssize_t n_inputs,
                               Py_ssize_t n_neurons, bint relu) noexcept nogil:
    # out := X·W + b (then ReLU) for W with 1-3 columns and at most THIN_TRANSPOSE_MAX rows:
    # Wᵀ is copied to the stack so that each output is a dot product of contiguous rows.
    cdef Py_ssize_t j, k
    cdef floating wt[3 * THIN_TRANSPOSE_MAX]
    for j in range(n_neurons):
        for k in range(n_inputs):
            wt[j * n_inputs + k] = W[k * n_neurons + j]
    if floating is double:
        fastbp_thin_output_forward_d(X, wt, b, out, n_samples, n_inputs, n_neurons, relu)
    else:
        fastbp_thin_output_forward_f(X, wt, b, out, n_samples, n_inputs, n_neurons, relu)


cdef void relu_forward_kernel(const floating[:, ::1] X, floating[:, ::1] out) noexcept nogil:
    """out := max(X, 0), NaN kept."""
    if FASTBP_CHECKED_BUILD and not _has_shape(out, X.shape[0], X.shape[1]):
        return
    relu_forward_ptr(_cdata(X), _data(out), X.shape[0] * X.shape[1])


cdef void relu_forward_ptr(const floating *x, floating *out, Py_ssize_t size) noexcept nogil:
    """relu_forward_kernel over ``size`` contiguous values."""
    cdef Py_ssize_t j
    for j in range(size):
        out[j] = 0 if x[j] < 0 else x[j]


cdef void relu_backward_kernel(const floating[:, ::1] dY, const floating[:, ::1] X,
                               floating[:, ::1] dX) noexcept nogil:
    """dX := dY where X > 0 (or NaN), else 0; the book's dinputs[inputs <= 0] = 0."""
    if FASTBP_CHECKED_BUILD and not (_has_shape(dY, X.shape[0], X.shape[1])
                                     and _has_shape(dX, X.shape[0], X.shape[1])):
        return
    relu_backward_ptr(_cdata(dY), _cdata(X), _data(dX), X.shape[0] * X.shape[1])


cdef void relu_backward_ptr(const floating *dy, const floating *x, floating *dx,
                            Py_ssize_t size) noexcept nogil:
    """relu_backward_kernel over ``size`` contiguous values."""
    cdef Py_ssize_t j
    cdef floating g
    for j in range(size):
        g = dy[j]  # read unconditionally: a conditional read compiles to a masked load
        dx[j] = 0 if x[j] <= 0 else g


cdef void column_sums_kernel(const floating[:, ::1] dY, floating[:, ::1] db) noexcept nogil:
    """db := Σ_i dY[i, :]."""
    if FASTBP_CHECKED_BUILD and not (_has_shape(dY, dY.shape[0], db.shape[1])
                                     and _has_shape(db, 1, db.shape[1])):
        return
    column_sums_ptr(_cdata(dY), _data(db), dY.shape[0], db.shape[1])


cdef void column_sums_ptr(const floating *dY, floating *s, Py_ssize_t n_samples,
                          Py_ssize_t n) noexcept nogil:
    """column_sums_kernel on (n_samples, n) values."""
    cdef Py_ssize_t i, j
    cdef const floating *row
    cdef floating s0 = 0, s1 = 0, s2 = 0
    if n == 0:
        return
    if n <= 3:
        # 1-3 columns: the sums in registers, as in relu_mask_column_sums_ptr.
        for i in range(n_samples):
            row = dY + i * n
            s0 += row[0]
            if n > 1:
                s1 += row[1]
            if n > 2:
                s2 += row[2]
        s[0] = s0
        if n > 1:
            s[1] = s1
        if n > 2:
            s[2] = s2
        return
    for j in range(n):
        s[j] = 0
    # Row after row, like np.sum(dY, axis=0) on a C-contiguous array: same order of additions.
    for i in range(n_samples):
        row = dY + i * n
        for j in range(n):
            s[j] += row[j]


cdef void relu_mask_column_sums_kernel(const floating[:, ::1] dY, const floating[:, ::1] output,
                                       floating[:, ::1] dZ, floating[:, ::1] db) noexcept nogil:
    """dZ := dY where output > 0 (or NaN), else 0; db := Σ_i dZ[i, :]. One pass."""
    # output = max(z, 0), so output <= 0 exactly where z <= 0: the book's mask, taken from the
    # layer's output because the pre-activation z is never stored.
    if FASTBP_CHECKED_BUILD and not (_has_shape(dY, dY.shape[0], db.shape[1])
                                     and _has_shape(output, dY.shape[0], db.shape[1])
                                     and _has_shape(dZ, dY.shape[0], db.shape[1])
                                     and _has_shape(db, 1, db.shape[1])):
        return
    relu_mask_column_sums_ptr(_cdata(dY), _cdata(output), _data(dZ), _data(db), dY.shape[0],
                              db.shape[1])


cdef void relu_mask_column_sums_ptr(const floating *dY, const floating *output, floating *dZ,
                                    floating *s, Py_ssize_t n_samples,
                                    Py_ssize_t n) noexcept nogil:
    """relu_mask_column_sums_kernel on (n_samples, n) values."""
    cdef Py_ssize_t i, j
    cdef const floating *dy
    cdef const floating *o
    cdef floating *dz
    cdef floating g, s0 = 0, s1 = 0, s2 = 0
    if n == 0:
        return
    if n <= 3:
        # A layer with 1-3 neurons (the spiral's 64→3): the sums in registers. Through s[j]
        # gcc stores each of them every row (s might alias dZ), a third of this loop's time.
        # The same additions in the same order as below.
        for i in range(n_samples):
            dy = dY + i * n
            o = output + i * n
            dz = dZ + i * n
            g = dy[0]
            g = 0 if o[0] <= 0 else g
            dz[0] = g
            s0 += g
            if n > 1:
                g = dy[1]
                g = 0 if o[1] <= 0 else g
                dz[1] = g
                s1 += g
            if n > 2:
                g = dy[2]
                g = 0 if o[2] <= 0 else g
                dz[2] = g
                s2 += g
        s[0] = s0
        if n > 1:
            s[1] = s1
        if n > 2:
            s[2] = s2
        return
    for j in range(n):
        s[j] = 0
    for i in range(n_samples):
        dy = dY + i * n
        o = output + i * n
        dz = dZ + i * n
        for j in range(n):
            g = dy[j]  # read unconditionally: a conditional read compiles to a masked load
            g = 0 if o[j] <= 0 else g
            dz[j] = g
            s[j] += g


cdef inline bint _thin_dinputs_path(Py_ssize_t n_samples, Py_ssize_t n_inputs,
                                    Py_ssize_t n_neurons) noexcept nogil:
    # Whether dX = dZ·Wᵀ runs as _thin_dinputs: the one test, for dinputs_kernel and for the
    # fused kernel of NetworkStep, so both always take the same path.
    return (n_samples != 0 and n_inputs != 0 and n_neurons != 0
            and not _is_small(n_samples, n_inputs, n_neurons)
            and n_neurons <= THIN_INPUTS and n_neurons <= 3 and n_inputs <= THIN_TRANSPOSE_MAX)


cdef void _thin_output_dweights(const floating *dZ, const floating *X, floating *dW,
                                Py_ssize_t n_samples, Py_ssize_t n_inputs,
                                Py_ssize_t n_neurons) noexcept nogil:
    # dW := Xᵀ·dZ for dZ with 1-3 columns: the sums of _thin_kernels.h with the roles of
    # its operands swapped (each row of X is a "gradient", each row of dZ its 1-3
    # "inputs"), into dWᵀ on the stack, then transposed. No bias sums (db NULL).
    cdef Py_ssize_t i = 0, j, k, rows, block = _thin_block_rows(n_inputs, sizeof(floating))
    cdef floating dwt[3 * THIN_TRANSPOSE_MAX]
    for k in range(n_neurons * n_inputs):
        dwt[k] = 0
    while i < n_samples:
        rows = block if block < n_samples - i else n_samples - i
        _thin_backward_rows(X + i * n_inputs, <const floating *> NULL, dZ + i * n_neurons,
                            <const floating *> NULL, <floating *> NULL, dwt,
                            <floating *> NULL, <floating *> NULL, rows, n_neurons, n_inputs)
        i += rows
    for k in range(n_inputs):
        for j in range(n_neurons):
            dW[k * n_neurons + j] = dwt[j * n_inputs + k]


cdef void dweights_kernel(const floating[:, ::1] dZ, const floating[:, ::1] X,
                          floating[:, ::1] dW) noexcept nogil:
    """dW := Xᵀ·dZ."""
    # IN:  dZ (n_samples, n_neurons), X (n_samples, n_inputs)
    # OUT: dW (n_inputs, n_neurons)
    if FASTBP_CHECKED_BUILD and not (_has_shape(X, dZ.shape[0], X.shape[1])
                                     and _has_shape(dW, X.shape[1], dZ.shape[1])):
        return
    dweights_ptr(_cdata(dZ), _cdata(X), _data(dW), dZ.shape[0], X.shape[1], dZ.shape[1])


cdef void dweights_ptr(const floating *dZ, const floating *X, floating *dW,
                       Py_ssize_t n_samples, Py_ssize_t n_inputs,
                       Py_ssize_t n_neurons) noexcept nogil:
    """dweights_kernel over C-contiguous arrays given by their data and shapes."""
    cdef Py_ssize_t i, j, k
    if n_inputs == 0 or n_neurons == 0:
        return
    if (n_samples != 0 and n_neurons <= THIN_OUTPUT_NEURONS and n_neurons <= 3
            and n_inputs <= THIN_TRANSPOSE_MAX and not _is_small(n_inputs, n_neurons, n_samples)):
        _thin_output_dweights(dZ, X, dW, n_samples, n_inputs, n_neurons)
    elif _is_small(n_inputs, n_neurons, n_samples):
        # dW is small enough to stay in L1 while every sample adds its outer product.
        for k in range(n_inputs * n_neurons):
            dW[k] = 0
        for i in range(n_samples):
            for k in range(n_inputs):
                _axpy(X[i * n_inputs + k], dZ + i * n_neurons, dW + k * n_neurons, n_neurons)
    else:
        gemm(True, False, <int> n_inputs, <int> n_neurons, <int> n_samples,
             <floating> 1, X, <int> n_inputs, dZ, <int> n_neurons,
             <floating> 0, dW, <int> n_neurons)


cdef void dinputs_kernel(const floating[:, ::1] dZ, const floating[:, ::1] W,
                         floating[:, ::1] dX) noexcept nogil:
    """dX := dZ·Wᵀ."""
    # IN:  dZ (n_samples, n_neurons), W (n_inputs, n_neurons)
    # OUT: dX (n_samples, n_inputs)
    if FASTBP_CHECKED_BUILD and not (_has_shape(W, W.shape[0], dZ.shape[1])
                                     and _has_shape(dX, dZ.shape[0], W.shape[0])):
        return
    dinputs_ptr(_cdata(dZ), _cdata(W), _data(dX), dZ.shape[0], W.shape[0], dZ.shape[1])


cdef void dinputs_ptr(const floating *dZ, const floating *W, floating *dX,
                      Py_ssize_t n_samples, Py_ssize_t n_inputs,
                      Py_ssize_t n_neurons) noexcept nogil:
    """dinputs_kernel over C-contiguous arrays given by their data and shapes."""
    cdef Py_ssize_t i, k
    if n_samples == 0 or n_inputs == 0:
        return
    if n_neurons == 0:
        for k in range(n_samples * n_inputs):
            dX[k] = 0
    elif _thin_dinputs_path(n_samples, n_inputs, n_neurons):
        # A layer with 1-3 neurons (the spiral's 64→3): dX = dZ·Wᵀ is a thin product,
        # one pass per row over Wᵀ's rows, as in the forward pass (_product_row).
        _thin_dinputs(dZ, W, dX, n_samples, n_inputs, n_neurons)
    elif _is_small(n_samples, n_inputs, n_neurons):
        # Rows of dZ and of W are both contiguous: one dot product per element of dX.
        for i in range(n_samples):
            for k in range(n_inputs):
                dX[i * n_inputs + k] = _dot(dZ + i * n_neurons, W + k * n_neurons, n_neurons)
    else:
        gemm(False, True, <int> n_samples, <int> n_inputs, <int> n_neurons,
             <floating> 1, dZ, <int> n_neurons, W, <int> n_neurons,
             <floating> 0, dX, <int> n_inputs)


cdef void backward_products_kernel(const floating[:, ::1] dZ, const floating[:, ::1] X,
                                   const floating[:, ::1] W,
                                   floating[:, ::1] dX, floating[:, ::1] dW) noexcept nogil:
    """dW := Xᵀ·dZ; dX := dZ·Wᵀ."""
    dweights_kernel(dZ, X, dW)
    dinputs_kernel(dZ, W, dX)


cdef inline bint _thin_backward_path(Py_ssize_t n_samples, Py_ssize_t n_inputs,
                                     Py_ssize_t n_neurons, bint f64) noexcept nogil:
    # Whether a layer's backward pass runs as thin_backward_ptr: one test for every caller.
    return (n_samples != 0 and 1 <= n_neurons <= THIN_SCRATCH and 1 <= n_inputs <= 3
            and n_inputs <= (THIN_BACKWARD_INPUTS_D if f64 else THIN_BACKWARD_INPUTS_F))


cdef inline Py_ssize_t _thin_block_rows(Py_ssize_t n_neurons, Py_ssize_t itemsize) noexcept nogil:
    # At least 1: n_neurons <= THIN_SCRATCH (_thin_backward_path).
    cdef Py_ssize_t rows = THIN_BLOCK_BYTES // (2 * n_neurons * itemsize)
    if rows * n_neurons > THIN_SCRATCH:
        rows = THIN_SCRATCH // n_neurons
    return rows if rows > 0 else 1


cdef inline void _thin_backward_rows(const floating *dY, const floating *output,
                                     const floating *X, const floating *W, floating *dX,
                                     floating *dW, floating *db, floating *px, Py_ssize_t rows,
                                     Py_ssize_t n_inputs, Py_ssize_t n_neurons) noexcept nogil:
    if floating is double:
        fastbp_thin_backward_rows_d(dY, output, X, W, dX, dW, db, px, rows, n_inputs,
                                    n_neurons)
    else:
        fastbp_thin_backward_rows_f(dY, output, X, W, dX, dW, db, px, rows, n_inputs,
                                    n_neurons)


cdef void thin_backward_ptr(const floating *dY, const floating *output, const floating *X,
                            const floating *W, floating *dX, floating *dW, floating *db,
                            Py_ssize_t n_samples, Py_ssize_t n_inputs,
                            Py_ssize_t n_neurons) noexcept nogil:
    """db := Σ_i g_i; dW := Xᵀ·g; dX := g·Wᵀ (unless dX is NULL), where g is dY masked by
    output > 0 (or NaN), or dY itself if output is NULL. For _thin_backward_path shapes."""
    # IN:  dY, output (n_samples, n_neurons), X (n_samples, n_inputs), W (n_inputs, n_neurons)
    # OUT: dX (n_samples, n_inputs), dW (n_inputs, n_neurons), db (1, n_neurons)
    cdef Py_ssize_t i = 0, k, rows, block = _thin_block_rows(n_neurons, sizeof(floating))
    cdef floating px[THIN_PARTIALS]
    if FASTBP_CHECKED_BUILD and not (1 <= n_inputs <= 3 and 1 <= n_neurons <= THIN_SCRATCH):
        # px and the blocks of rows are sized for these shapes only (_thin_backward_path).
        with gil:
            raise ValueError("checked build: thin_backward_ptr handed a layer that is not "
                             "thin")
    for k in range(n_neurons):
        db[k] = 0
    for k in range(n_inputs * n_neurons):
        dW[k] = 0
    while i < n_samples:
        rows = block if block < n_samples - i else n_samples - i
        _thin_backward_rows(dY + i * n_neurons,
                            output + i * n_neurons if output != NULL else NULL,
                            X + i * n_inputs, W,
                            dX + i * n_inputs if dX != NULL else NULL,
                            dW, db, px, rows, n_inputs, n_neurons)
        i += rows


cdef void thin_backward_kernel(const floating[:, ::1] dY, const floating[:, ::1] X,
                               const floating[:, ::1] W, const floating[:, ::1] output,
                               bint relu, floating[:, ::1] dX, floating[:, ::1] dW,
                               floating[:, ::1] db, bint dinputs) noexcept nogil:
    """thin_backward_ptr on memoryviews; output is read only if relu, dX written only if
    dinputs. The caller checks _thin_backward_path."""
    cdef Py_ssize_t n_samples = dY.shape[0], n_inputs = X.shape[1], n_neurons = dY.shape[1]
    if FASTBP_CHECKED_BUILD and not (_has_shape(X, n_samples, n_inputs)
                                     and _has_shape(W, n_inputs, n_neurons)
                                     and (not relu or _has_shape(output, n_samples, n_neurons))
                                     and (not dinputs or _has_shape(dX, n_samples, n_inputs))
                                     and _has_shape(dW, n_inputs, n_neurons)
                                     and _has_shape(db, 1, n_neurons)):
        return
    thin_backward_ptr(_cdata(dY), _cdata(output) if relu else NULL, _cdata(X), _cdata(W),
                      _data(dX) if dinputs else NULL, _data(dW), _data(db),
                      n_samples, n_inputs, n_neurons)


cdef void dense_backward_ptr(const floating *dY, const floating *X, const floating *W,
                             const floating *output, floating *dz, floating *dX, floating *dW,
                             floating *db, Py_ssize_t n_samples, Py_ssize_t n_inputs,
                             Py_ssize_t n_neurons) noexcept nogil:
    """The functional dense_backward (output NULL) or dense_relu_backward: db (through the
    ReLU mask into dz first, if output), then dW and dX, as the def entry points do. dz may
    be NULL where _backward_needs_dz is false."""
    # With dz NULL the caller saw the one-pass path (_backward_needs_dz): take it even if a
    # threshold hook changed since, rather than write through NULL.
    if (_thin_backward_path(n_samples, n_inputs, n_neurons, floating is double)
            or (output != NULL and dz == NULL)):
        thin_backward_ptr(dY, output, X, W, dX, dW, db, n_samples, n_inputs, n_neurons)
        return
    if output != NULL:
        relu_mask_column_sums_ptr(dY, output, dz, db, n_samples, n_neurons)
        dY = dz
    else:
        column_sums_ptr(dY, db, n_samples, n_neurons)
    dweights_ptr(dY, X, dW, n_samples, n_inputs, n_neurons)
    dinputs_ptr(dY, W, dX, n_samples, n_inputs, n_neurons)


cdef void thin_dinputs_relu_mask_column_sums_kernel(
        const floating[:, ::1] dZ, const floating[:, ::1] W, const floating[:, ::1] output,
        floating[:, ::1] dZ_below, floating[:, ::1] db_below) noexcept nogil:
    """dZ_below := dZ·Wᵀ where output > 0 (or NaN), else 0; db_below := Σ_i dZ_below[i, :].

    dinputs_kernel (on its thin path) followed by relu_mask_column_sums_kernel of the ReLU
    layer below, without storing dZ·Wᵀ: each row of the product is masked and summed while
    it is in L1, instead of being written out and read back from L2. Every element gets
    the same operations in the same order as in those two kernels, so the results are the
    same bit for bit. For NetworkStep; the caller checks _thin_dinputs_path.
    """
    # IN:  dZ (n_samples, n_neurons ≤ 3), W (n_inputs, n_neurons), output (n_samples, n_inputs)
    # OUT: dZ_below (n_samples, n_inputs), db_below (1, n_inputs)
    cdef Py_ssize_t n_samples = dZ.shape[0], n_neurons = dZ.shape[1], n_inputs = W.shape[0]
    cdef Py_ssize_t i, j, k
    cdef floating wt[3 * THIN_TRANSPOSE_MAX]
    cdef const floating *w = &W[0, 0]
    cdef const floating *o
    cdef floating *dz
    cdef floating *s = &db_below[0, 0]
    cdef floating g
    for j in range(n_neurons):
        for k in range(n_inputs):
            wt[j * n_inputs + k] = w[k * n_neurons + j]
    for k in range(n_inputs):
        s[k] = 0
    for i in range(n_samples):
        dz = &dZ_below[i, 0]
        o = &output[i, 0]
        _product_row(&dZ[i, 0], wt, dz, n_neurons, n_inputs)
        for k in range(n_inputs):
            g = dz[k]  # read unconditionally: a conditional read compiles to a masked load
            g = 0 if o[k] <= 0 else g
            dz[k] = g
            s[k] += g


cdef void thin_dinputs_thin_backward_kernel(
        const floating[:, ::1] dZ, const floating[:, ::1] W, const floating[:, ::1] output,
        const floating[:, ::1] X_below, const floating[:, ::1] W_below,
        floating[:, ::1] dX_below, floating[:, ::1] dW_below, floating[:, ::1] db_below,
        bint dinputs) noexcept nogil:
    """dinputs_kernel (on its thin path) followed by the thin backward pass of the ReLU
    layer below (thin_backward_kernel), without storing dZ·Wᵀ: it is computed a block of
    rows at a time into a scratch array in L1, each value as _thin_dinputs computes it, then
    handed to the blocked pass. The results are those of the two kernels, bit for bit.
    For NetworkStep; the caller checks _thin_dinputs_path and, below, _thin_backward_path."""
    # IN:  dZ (n_samples, n_neurons ≤ 3), W (n_inputs, n_neurons), output (n_samples, n_inputs),
    #      X_below (n_samples, k ≤ 3), W_below (k, n_inputs)
    # OUT: dX_below (n_samples, k) if dinputs, dW_below (k, n_inputs), db_below (1, n_inputs)
    cdef Py_ssize_t n_samples = dZ.shape[0], n_neurons = dZ.shape[1], n_inputs = W.shape[0]
    cdef Py_ssize_t k = X_below.shape[1]
    cdef Py_ssize_t i = 0, j, r, rows, block = _thin_block_rows(n_inputs, sizeof(floating))
    cdef floating wt[3 * THIN_TRANSPOSE_MAX]
    cdef floating scratch[THIN_SCRATCH]
    cdef floating px[THIN_PARTIALS]
    cdef const floating *w = &W[0, 0]
    cdef floating *dX
    if FASTBP_CHECKED_BUILD and not (k <= 3 and n_neurons <= 3
                                     and n_inputs <= THIN_TRANSPOSE_MAX):
        with gil:
            raise ValueError("checked build: thin_dinputs_thin_backward_kernel handed a "
                             "layer that is not thin")
    if FASTBP_CHECKED_BUILD and not (_has_shape(W, n_inputs, n_neurons)
                                     and _has_shape(output, n_samples, n_inputs)
                                     and _has_shape(X_below, n_samples, k)
                                     and _has_shape(W_below, k, n_inputs)
                                     and (not dinputs or _has_shape(dX_below, n_samples, k))
                                     and _has_shape(dW_below, k, n_inputs)
                                     and _has_shape(db_below, 1, n_inputs)):
        return
    dX = &dX_below[0, 0] if dinputs else NULL
    for j in range(n_neurons):
        for r in range(n_inputs):
            wt[j * n_inputs + r] = w[r * n_neurons + j]
    for j in range(n_inputs):
        db_below[0, j] = 0
    for j in range(k):
        for r in range(n_inputs):
            dW_below[j, r] = 0
    while i < n_samples:
        rows = block if block < n_samples - i else n_samples - i
        _product_rows(&dZ[i, 0], wt, scratch, rows, n_neurons, n_inputs)
        _thin_backward_rows(scratch, &output[i, 0], &X_below[i, 0], &W_below[0, 0],
                            dX + i * k if dinputs else NULL, &dW_below[0, 0],
                            &db_below[0, 0], px, rows, k, n_inputs)
        i += rows


cdef void regularization_grad_kernel(const floating[:, ::1] param, floating[:, ::1] grad,
                                     floating l1, floating l2) noexcept nogil:
    """grad += l1·sign(param) + 2·l2·param, with sign(0) = +1 as in the book."""
    cdef Py_ssize_t i, j, n = param.shape[1]
    cdef const floating *p
    cdef floating *g
    if n == 0:
        return
    for i in range(param.shape[0]):
        p = &param[i, 0]
        g = &grad[i, 0]
        # Two additions, in the book's order, each only when its term is on.
        if l1 != 0:
            for j in range(n):
                g[j] += -l1 if p[j] < 0 else l1
        if l2 != 0:
            for j in range(n):
                g[j] += 2 * l2 * p[j]


# --- Python entry points: memoryviews in, GIL released, one kernel. No checks here. ---------
# All arrays are 2-D and C-contiguous; biases and dbiases are (1, n_neurons).

def dense_forward(const floating[:, ::1] inputs, const floating[:, ::1] weights,
                  const floating[:, ::1] biases, floating[:, ::1] out, bint relu):
    """out := inputs·weights + biases, then max(out, 0) if relu."""
    with nogil:
        dense_forward_kernel(inputs, weights, biases, out, relu)


def relu_forward(const floating[:, ::1] inputs, floating[:, ::1] out):
    """out := max(inputs, 0)."""
    with nogil:
        relu_forward_kernel(inputs, out)


def relu_backward(const floating[:, ::1] dvalues, const floating[:, ::1] inputs,
                  floating[:, ::1] dinputs):
    """dinputs := dvalues where inputs > 0, else 0."""
    with nogil:
        relu_backward_kernel(dvalues, inputs, dinputs)


def dense_backward(const floating[:, ::1] dvalues, const floating[:, ::1] inputs,
                   const floating[:, ::1] weights, floating[:, ::1] dinputs,
                   floating[:, ::1] dweights, floating[:, ::1] dbiases):
    """dbiases := Σ dvalues; dweights := inputsᵀ·dvalues; dinputs := dvalues·weightsᵀ."""
    with nogil:
        if _thin_backward_path(dvalues.shape[0], inputs.shape[1], dvalues.shape[1],
                               floating is double):
            thin_backward_kernel(dvalues, inputs, weights, dvalues, False, dinputs, dweights,
                                 dbiases, True)
        else:
            column_sums_kernel(dvalues, dbiases)
            backward_products_kernel(dvalues, inputs, weights, dinputs, dweights)


def dense_relu_backward(const floating[:, ::1] dvalues, const floating[:, ::1] inputs,
                        const floating[:, ::1] weights, const floating[:, ::1] output,
                        floating[:, ::1] dz, floating[:, ::1] dinputs,
                        floating[:, ::1] dweights, floating[:, ::1] dbiases):
    """dz := dvalues masked by output > 0, dbiases := Σ dz (one pass); then the products.
    dz is scratch: with 1-3 inputs one blocked pass does it all and leaves dz as it was
    (thin_backward_kernel)."""
    with nogil:
        if _thin_backward_path(dvalues.shape[0], inputs.shape[1], dvalues.shape[1],
                               floating is double):
            thin_backward_kernel(dvalues, inputs, weights, output, True, dinputs, dweights,
                                 dbiases, True)
        else:
            relu_mask_column_sums_kernel(dvalues, output, dz, dbiases)
            backward_products_kernel(dz, inputs, weights, dinputs, dweights)


def regularization_grad(const floating[:, ::1] param, floating[:, ::1] grad,
                        double l1, double l2):
    """grad += l1·sign(param) + 2·l2·param."""
    with nogil:
        regularization_grad_kernel(param, grad, <floating> l1, <floating> l2)


cdef bint _backward_needs_dz(Py_ssize_t n_samples, Py_ssize_t n_inputs, Py_ssize_t n_neurons,
                             bint f64) noexcept nogil:
    # dense_backward_ptr with an output writes dz unless the layer takes the one-pass path.
    return not _thin_backward_path(n_samples, n_inputs, n_neurons, f64)


cdef FunctionalKernels _FUNCTIONAL
_FUNCTIONAL.dense_forward_d = dense_forward_ptr[double]
_FUNCTIONAL.dense_forward_f = dense_forward_ptr[float]
_FUNCTIONAL.relu_forward_d = relu_forward_ptr[double]
_FUNCTIONAL.relu_forward_f = relu_forward_ptr[float]
_FUNCTIONAL.relu_backward_d = relu_backward_ptr[double]
_FUNCTIONAL.relu_backward_f = relu_backward_ptr[float]
_FUNCTIONAL.dense_backward_d = dense_backward_ptr[double]
_FUNCTIONAL.dense_backward_f = dense_backward_ptr[float]
_FUNCTIONAL.backward_needs_dz = _backward_needs_dz


def _functional_kernels():
    """This module's FunctionalKernels (see _kernels.pxd) in a capsule, for the functional
    API's checked fast path (fastbp/_fastcheck.pyx), which calls them on plain arrays."""
    return PyCapsule_New(<void *> &_FUNCTIONAL, FUNCTIONAL_KERNELS_NAME, NULL)


def _set_thin_inputs(Py_ssize_t n):
    """Set THIN_INPUTS (loops for forward products with that many inputs or fewer) and return
    the old value. For benchmarks and tests."""
    global THIN_INPUTS
    old = THIN_INPUTS
    THIN_INPUTS = n
    return old


def _set_thin_forward_vectors(bint on):
    """Set THIN_FORWARD_VECTORS (fastbp_thin_input_forward for the THIN_INPUTS forward, else
    _dense_row's loops) and return the old value. For benchmarks and tests only."""
    global THIN_FORWARD_VECTORS
    old = THIN_FORWARD_VECTORS
    THIN_FORWARD_VECTORS = on and FASTBP_THIN_KERNELS
    return old


def _set_thin_backward_inputs(Py_ssize_t n_float64, Py_ssize_t n_float32):
    """Set THIN_BACKWARD_INPUTS of each dtype (the one-pass backward for layers with that many
    inputs or fewer, at most 3) and return the old pair. For benchmarks and tests; both stay
    0 in a build without vector extensions."""
    global THIN_BACKWARD_INPUTS_D, THIN_BACKWARD_INPUTS_F
    old = (THIN_BACKWARD_INPUTS_D, THIN_BACKWARD_INPUTS_F)
    THIN_BACKWARD_INPUTS_D = n_float64 if FASTBP_THIN_KERNELS else 0
    THIN_BACKWARD_INPUTS_F = n_float32 if FASTBP_THIN_KERNELS else 0
    return old


def _set_thin_outputs(Py_ssize_t n):
    """Set THIN_OUTPUT_NEURONS (the dot-product forward for layers with that many neurons or
    fewer, at most 3) and return the old value. For benchmarks and tests; stays 0 in a build
    without vector extensions."""
    global THIN_OUTPUT_NEURONS
    old = THIN_OUTPUT_NEURONS
    THIN_OUTPUT_NEURONS = n if FASTBP_THIN_KERNELS else 0
    return old


def _set_small_product(Py_ssize_t n):
    """Set SMALL_PRODUCT (the loops/BLAS switch) and return the old value. For benchmarks."""
    global SMALL_PRODUCT
    old = SMALL_PRODUCT
    SMALL_PRODUCT = n
    return old


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


# --- A whole training step over bound arrays ---------------------------------------------------

cdef class NetworkStep:
    """One training step of Dense/DenseReLU layers, softmax cross-entropy and an optimizer,
    with the GIL released once.

    Python between the steps of a layer-by-layer loop costs little on one thread, but with
    several threads each release and re-acquisition of the GIL hands it over, and on small
    layers the hand-overs can cost more than the kernels (docs/threads.md). Model.train
    runs its first step layer by layer, which validates and binds every array
    (DenseStep, SoftmaxCrossEntropyStep, LayerUpdate), then hands those bindings here.
    Nothing is checked here; the step is exactly the layer-by-layer one, in the same order.
    """
    cdef DenseStep l0, l1, l2, l3
    cdef LayerUpdate u0, u1, u2, u3
    cdef SoftmaxCrossEntropyStep loss
    # The locks of the layers, the loss and the updates, each once, by address: run holds
    # them all, taken in this one order (fastbp/_calllock.pyx).
    cdef tuple locks
    cdef int n_layers
    cdef double reg[MAX_NETWORK_LAYERS][4]
    # fuse[i]: layer i's dinputs feed the ReLU mask of layer i - 1 (_feeds_relu_mask_of).
    cdef bint fuse[MAX_NETWORK_LAYERS]
    # The generations of the bindings this step was built on (layers, then the loss).
    cdef unsigned long generations[MAX_NETWORK_LAYERS + 1]

    def __init__(self, layers, loss, updates, regularizers):
        """layers: DenseSteps, first to last; updates: their LayerUpdates; regularizers:
        (weight_l1, weight_l2, bias_l1, bias_l2) of each layer."""
        cdef int i, j
        n = len(layers)
        if not 1 <= n <= MAX_NETWORK_LAYERS or len(updates) != n or len(regularizers) != n:
            raise ValueError(f"NetworkStep takes 1 to {MAX_NETWORK_LAYERS} layers, each with "
                             "an update and its regularizers")
        layers = list(layers) + [None] * (MAX_NETWORK_LAYERS - n)
        updates = list(updates) + [None] * (MAX_NETWORK_LAYERS - n)
        if loss is None or any(x is None for x in layers[:n] + updates[:n]):
            raise ValueError("NetworkStep needs a loss, and a layer and an update per slot")
        if len({id(x) for x in layers[:n]}) != n:
            raise ValueError("a DenseStep holds one binding: each layer must be distinct")
        self.l0, self.l1, self.l2, self.l3 = layers
        self.u0, self.u1, self.u2, self.u3 = updates
        self.loss = loss
        self.n_layers = n
        for i in range(n):
            if not (<DenseStep> layers[i]).bound_forward or not (<DenseStep> layers[i]).bound_backward:
                raise ValueError("every DenseStep must be bound")
            self.generations[i] = (<DenseStep> layers[i]).generation
            for j in range(4):
                self.reg[i][j] = regularizers[i][j]
            self.fuse[i] = i > 0 and (<DenseStep> layers[i])._feeds_relu_mask_of(layers[i - 1])
        self.generations[MAX_NETWORK_LAYERS] = self.loss.generation
        found = {id(self.loss.lock): self.loss.lock}
        for i in range(n):
            for lock in ((<DenseStep> layers[i]).lock, (<LayerUpdate> updates[i]).lock):
                found[id(lock)] = lock
        self.locks = tuple(found[key] for key in sorted(found))

    def valid(self):
        """False once any layer or the loss has bound other arrays since this step was built
        (e.g. a predict() run from a print hook): the step must then be built again."""
        cdef int i
        if self.loss.generation != self.generations[MAX_NETWORK_LAYERS]:
            return False
        for i in range(self.n_layers):
            if self._layer_generation(i) != self.generations[i]:
                return False
        return True

    cdef unsigned long _layer_generation(self, int i):
        if i == 0:
            return self.l0.generation
        if i == 1:
            return self.l1.generation
        if i == 2:
            return self.l2.generation
        return self.l3.generation

    def run(self, Py_ssize_t steps, int optimizer, double learning_rate, double decay,
            double current_learning_rate, Py_ssize_t iterations, double p1=0, double p2=0,
            double p3=0, *, bint full_last=True, counters=None):
        """``steps`` training steps in one call; return the last one's mean loss.

        Each step takes its learning rate and Adam's corrections the way the optimizer's
        pre_update_params() and fastbp.model compute them from ``iterations`` (the count
        before the first of these steps), with the same double arithmetic: the learning
        rate is ``learning_rate * (1 / (1 + decay·it))`` if decay is set, else
        ``current_learning_rate``; Adam's corrections are ``1 - beta**(it + 1)``. p1..p3
        are the optimizer's own parameters in the order of its LayerUpdate method (SGD
        momentum: momentum; Adagrad: epsilon; RMSprop: epsilon, rho; Adam: epsilon, beta_1,
        beta_2, and the corrections are computed here). The caller updates the optimizer's
        counters afterwards (fastbp.model._network_run).

        All but the last step, and the last one unless ``full_last``, are partial: they skip
        what no later step reads, the first layer's dinputs and the dinputs of a layer with
        1-3 neurons above a ReLU layer, which go straight into that layer's backward: its
        whole one-pass backward if it has 1-3 inputs (thin_dinputs_thin_backward_kernel),
        else its mask and bias sums (thin_dinputs_relu_mask_column_sums_kernel). A ReLU layer
        that itself takes the one-pass backward writes its dinputs instead (it stores no
        mask to feed). Those skipped arrays are then stale; every other array, and the
        parameters, are bit for bit those of full steps.

        ``counters`` (the optimizer, or None): its ``iterations`` and ``current_learning_rate``
        are set here, as the steps' pre_update_params/post_update_params leave them, before
        run returns to Python, where a KeyboardInterrupt could separate them from the weights.
        """
        cdef Py_ssize_t taken = 0
        if steps < 1 or iterations < 0:
            raise ValueError("run takes steps >= 1 and iterations >= 0")
        try:
            for lock in self.locks:
                (<CallLock> lock).take()
                taken += 1
            return self._run(steps, optimizer, learning_rate, decay, current_learning_rate,
                             iterations, p1, p2, p3, full_last, counters)
        finally:
            while taken:
                taken -= 1
                (<CallLock> self.locks[taken]).give()

    cdef _run(self, Py_ssize_t steps, int optimizer, double learning_rate, double decay,
              double current_learning_rate, Py_ssize_t iterations, double p1, double p2,
              double p3, bint full_last, counters):
        # run, with every lock held.
        cdef double loss = NAN
        cdef Py_ssize_t it
        cdef double lr = current_learning_rate, c1 = 0, c2 = 0
        if not self.valid():
            raise RuntimeError("a layer or the loss was bound to other arrays since this "
                               "NetworkStep was built")
        self._check_updates(optimizer)
        with nogil:
            for it in range(iterations, iterations + steps):
                if decay != 0:
                    lr = learning_rate * (1. / (1. + decay * <double> it))
                if optimizer == OPTIMIZER_ADAM:
                    # Python's float ** int converts the int and calls C's pow: the same.
                    c1 = 1 - pow(p2, <double> (it + 1))
                    c2 = 1 - pow(p3, <double> (it + 1))
                    loss = self._step(optimizer, lr, p1, p2, p3, c1, c2,
                                      full_last and it == iterations + steps - 1)
                else:
                    loss = self._step(optimizer, lr, p1, p2, p3, 0, 0,
                                      full_last and it == iterations + steps - 1)
        if counters is not None:
            counters.iterations = iterations + steps
            if decay != 0:
                counters.current_learning_rate = lr
        return loss

    cdef _check_updates(self, int optimizer):
        # Each update must have the state arrays this optimizer reads (else it would read
        # an unbound memoryview): checked with the GIL, before anything runs.
        self.u0.check(optimizer)
        if self.n_layers > 1:
            self.u1.check(optimizer)
        if self.n_layers > 2:
            self.u2.check(optimizer)
        if self.n_layers > 3:
            self.u3.check(optimizer)

    cdef int _backward_layer(self, DenseStep layer, DenseStep below, int i, int done,
                             bint full) noexcept nogil:
        # Layer i's backward (below is layer i - 1, unused for i = 0), after ``done`` of it
        # was done by the layer above. Returns how much of below's step it also did.
        # A ReLU layer on the thin backward path leaves its dz unwritten, and the fused
        # kernels read it: such a layer writes its dX instead.
        cdef bint fused = (not full and self.fuse[i] and layer._thin_dinputs()
                           and not (layer.relu and layer._thin_backward()))
        layer._backward_parts(self.reg[i][0], self.reg[i][1], self.reg[i][2], self.reg[i][3],
                              done, full or (i > 0 and not fused))
        if fused:
            # below's dX is read only by the layer below it (never by a fused kernel: those
            # read dz), and the first layer's is not needed before the last step.
            return layer._dinputs_into_relu_mask(below, i - 1 > 0)
        return DONE_NOTHING

    cdef double _step(self, int optimizer, double lr, double p1, double p2, double p3,
                      double p4, double p5, bint full) noexcept nogil:
        # Unrolled over the four layer slots: an attribute can be used without the GIL, a
        # list of layers cannot.
        cdef int n = self.n_layers
        cdef double loss
        cdef int done = DONE_NOTHING  # how much of the next layer's step is done
        self.l0._forward()
        if n > 1:
            self.l1._forward()
        if n > 2:
            self.l2._forward()
        if n > 3:
            self.l3._forward()
        loss = self.loss._forward()
        self.loss._backward()
        if n > 3:
            done = self._backward_layer(self.l3, self.l2, 3, DONE_NOTHING, full)
        if n > 2:
            done = self._backward_layer(self.l2, self.l1, 2, done, full)
        if n > 1:
            done = self._backward_layer(self.l1, self.l0, 1, done, full)
        self._backward_layer(self.l0, self.l0, 0, done, full)
        self.u0._apply(optimizer, lr, p1, p2, p3, p4, p5)
        if n > 1:
            self.u1._apply(optimizer, lr, p1, p2, p3, p4, p5)
        if n > 2:
            self.u2._apply(optimizer, lr, p1, p2, p3, p4, p5)
        if n > 3:
            self.u3._apply(optimizer, lr, p1, p2, p3, p4, p5)
        return loss
