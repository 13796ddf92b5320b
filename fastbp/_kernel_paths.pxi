# Part of fastbp/_kernels.pyx, which includes it after its cimports.
# Which path a product takes (thresholds), the thin-layer C kernels' declarations, and the small
# inline helpers the kernels share.

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
# thin_dinputs_thin_backward_ptr computes ahead of the pass fit a stack array. dX's
# partial sums take k ≤ 3 vectors a row, and only when the block has at least two vectors
# of columns (n_neurons ≥ 2·lanes): THIN_PARTIALS = 3/2·THIN_SCRATCH values then suffice.
cdef enum:
    THIN_BLOCK_BYTES = 16384
    THIN_SCRATCH = 2048
    THIN_PARTIALS = 3072  # 3 * THIN_SCRATCH / 2 (a literal: in the checked build, // is a call)

# In the checked build (FASTBP_DEBUG=1: FASTBP_CHECKED_BUILD, see _kernel_table.pxd)
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
