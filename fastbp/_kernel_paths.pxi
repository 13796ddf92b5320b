# Part of fastbp/_kernels.pyx, which includes it after its cimports.
# Which path a product takes (thresholds), the thin-layer C kernels' declarations, and the small
# inline helpers the kernels share.

# The kernels for thin layers, in C with vector extensions. FASTBP_THIN_KERNELS is 1 in
# the x86-64-v3 build only: compiled for SSE2 (the baseline build) they lose to OpenBLAS.
# Elsewhere the declarations below are empty stubs that no path reaches.
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

# Every shape takes BLAS for its products and plain loops for the rest (the generic path),
# except a thin layer, with at most THIN_MAX inputs or neurons, which takes the special
# paths below where the build has them. Each was measured to earn its place
# (docs/design.md, "Kernel paths"); the limits are constants.
cdef enum:
    THIN_MAX = 3
    # The forward pass of a layer with 1-3 inputs (the spiral's 2→64), and the backward
    # product dX = dZ·Wᵀ of a layer with 1-3 neurons, in one pass that writes each output
    # once (fastbp_thin_input_forward), where a BLAS product and the bias/ReLU epilogue
    # pass twice over an output too large for L1.
    PATH_THIN_INPUTS = 1
    # The forward product and dW of a layer with 1-3 neurons (the spiral's 64→3) as dot
    # products, with the bias and ReLU applied as each output is made
    # (fastbp_thin_output_forward).
    PATH_THIN_OUTPUTS = 2
    # The backward pass of a layer with 1-3 inputs as one blocked pass
    # (fastbp_thin_backward_rows): dz is never stored, and each block of rows is read from
    # L2 once, where the generic path writes dz and reads it back for two BLAS products.
    PATH_THIN_BACKWARD = 4
    PATHS_ALL = 7

# The special paths taken: all that the build has. Tests and benchmarks narrow it through
# fastbp._testing.kernel_paths (_set_paths), the one switch; nothing else writes it.
cdef int PATHS = PATHS_ALL if FASTBP_THIN_KERNELS else 0


cdef inline bint _path(int path) noexcept nogil:
    # A constant False where the build has no thin kernels, so that the C compiler drops
    # the branch.
    return FASTBP_THIN_KERNELS and (PATHS & path) != 0

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


# Wᵀ of a layer with 1-3 neurons is copied to the stack for _thin_dinputs: at most this many
# inputs (3 × 1024 doubles, 24 KiB).
cdef enum:
    THIN_TRANSPOSE_MAX = 1024


cdef inline void _product_row(const floating *x, const floating *W, floating *out,
                              Py_ssize_t n_inputs, Py_ssize_t n_neurons) noexcept nogil:
    # out := x·W for one row, 1-3 inputs, in one pass; each element summed in the input's
    # order, as fastbp_thin_input_forward's lanes do.
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
    # out := X·W for X with 1-3 columns: fastbp_thin_input_forward without bias (b = NULL),
    # whose lanes compute each element as _product_row does.
    if floating is double:
        fastbp_thin_input_forward_d(X, W, NULL, out, n_samples, n_neurons, n_inputs, False)
    else:
        fastbp_thin_input_forward_f(X, W, NULL, out, n_samples, n_neurons, n_inputs, False)
