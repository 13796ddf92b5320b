# Part of fastbp/_kernels.pyx, which includes it after its cimports.
# The dense and ReLU kernels, forward and backward: ``cdef ... noexcept nogil`` over typed
# memoryviews, each a thin wrapper over a ``*_ptr`` kernel over raw pointers.

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
    if n_samples == 0 or n_neurons == 0:
        return
    if n_inputs != 0 and n_inputs <= THIN_MAX and _path(PATH_THIN_INPUTS):
        if floating is double:
            fastbp_thin_input_forward_d(X, W, b, out, n_samples, n_neurons, n_inputs, relu)
        else:
            fastbp_thin_input_forward_f(X, W, b, out, n_samples, n_neurons, n_inputs, relu)
    elif (n_inputs != 0 and n_neurons <= THIN_MAX and n_inputs <= THIN_TRANSPOSE_MAX
            and _path(PATH_THIN_OUTPUTS)):
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
    return (n_samples != 0 and n_inputs != 0 and 1 <= n_neurons <= THIN_MAX
            and n_inputs <= THIN_TRANSPOSE_MAX and _path(PATH_THIN_INPUTS))


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
    if n_inputs == 0 or n_neurons == 0:
        return
    if (n_samples != 0 and n_neurons <= THIN_MAX and n_inputs <= THIN_TRANSPOSE_MAX
            and _path(PATH_THIN_OUTPUTS)):
        _thin_output_dweights(dZ, X, dW, n_samples, n_inputs, n_neurons)
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
    cdef Py_ssize_t k
    if n_samples == 0 or n_inputs == 0:
        return
    if n_neurons == 0:
        for k in range(n_samples * n_inputs):
            dX[k] = 0
    elif _thin_dinputs_path(n_samples, n_inputs, n_neurons):
        # A layer with 1-3 neurons (the spiral's 64→3): dX = dZ·Wᵀ is a thin product,
        # one pass per row over Wᵀ's rows, as in the forward pass (_product_row).
        _thin_dinputs(dZ, W, dX, n_samples, n_inputs, n_neurons)
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
    return (n_samples != 0 and 1 <= n_neurons <= THIN_SCRATCH and 1 <= n_inputs <= THIN_MAX
            and _path(PATH_THIN_BACKWARD))


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
                             Py_ssize_t n_neurons, bint mask_done) noexcept nogil:
    """A dense layer's backward step: db (through the ReLU mask into dz first, if output),
    then dW, then dX; or one blocked pass for a thin layer (thin_backward_ptr), which leaves
    dz unwritten. dX is not written if NULL. With mask_done, dz and db already hold the
    mask and the sums (dinputs_into_relu_ptr of the layer above did them)."""
    # IN:  dY, output (n_samples, n_neurons), X (n_samples, n_inputs), W (n_inputs, n_neurons)
    # OUT: dz (n_samples, n_neurons), dX (n_samples, n_inputs), dW (n_inputs, n_neurons),
    #      db (1, n_neurons)
    # With dz NULL the caller saw the one-pass path (_backward_needs_dz): take it even if the
    # paths' switch (fastbp._testing) changed since, rather than write through NULL.
    if (_thin_backward_path(n_samples, n_inputs, n_neurons, floating is double)
            or (output != NULL and dz == NULL)):
        thin_backward_ptr(dY, output, X, W, dX, dW, db, n_samples, n_inputs, n_neurons)
        return
    if output != NULL:
        if not mask_done:
            relu_mask_column_sums_ptr(dY, output, dz, db, n_samples, n_neurons)
        dY = dz
    else:
        column_sums_ptr(dY, db, n_samples, n_neurons)
    dweights_ptr(dY, X, dW, n_samples, n_inputs, n_neurons)
    if dX != NULL:
        dinputs_ptr(dY, W, dX, n_samples, n_inputs, n_neurons)


cdef int dinputs_into_relu_ptr(const floating *dZ, const floating *W, Py_ssize_t n_samples,
                               Py_ssize_t n_inputs, Py_ssize_t n_neurons,
                               const floating *output, const floating *X_below,
                               const floating *W_below, floating *dz_below,
                               floating *dX_below, floating *dW_below, floating *db_below,
                               Py_ssize_t k) noexcept nogil:
    """A layer's dX = dZ·Wᵀ (on its thin path, _thin_dinputs_path) fed straight into the
    backward step of the ReLU layer below, without storing it: all of that step if it is
    thin (thin_dinputs_thin_backward_ptr; its dX only if dX_below is not NULL), else its
    mask into dz_below and its bias sums (thin_dinputs_relu_mask_column_sums_ptr). Returns
    DONE_ALL or DONE_MASK. For NetworkStep."""
    # IN:  dZ (n_samples, n_neurons ≤ 3), W (n_inputs, n_neurons), output (n_samples, n_inputs),
    #      X_below (n_samples, k), W_below (k, n_inputs)
    # OUT: dz_below (n_samples, n_inputs) or dX_below (n_samples, k), dW_below (k, n_inputs),
    #      db_below (1, n_inputs)
    if _thin_backward_path(n_samples, k, n_inputs, floating is double):
        thin_dinputs_thin_backward_ptr(dZ, W, output, X_below, W_below, dX_below, dW_below,
                                       db_below, n_samples, n_inputs, n_neurons, k)
        return DONE_ALL
    thin_dinputs_relu_mask_column_sums_ptr(dZ, W, output, dz_below, db_below, n_samples,
                                           n_inputs, n_neurons)
    return DONE_MASK


cdef void thin_dinputs_relu_mask_column_sums_ptr(
        const floating *dZ, const floating *W, const floating *output, floating *dZ_below,
        floating *db_below, Py_ssize_t n_samples, Py_ssize_t n_inputs,
        Py_ssize_t n_neurons) noexcept nogil:
    """dZ_below := dZ·Wᵀ where output > 0 (or NaN), else 0; db_below := Σ_i dZ_below[i, :].

    dinputs_ptr (on its thin path) followed by relu_mask_column_sums_ptr of the ReLU layer
    below, without storing dZ·Wᵀ: each row of the product is masked and summed while it is
    in L1, instead of being written out and read back from L2. Every element gets the same
    operations in the same order as in those two kernels, so the results are the same bit
    for bit. The caller checks _thin_dinputs_path.
    """
    # IN:  dZ (n_samples, n_neurons ≤ 3), W (n_inputs, n_neurons), output (n_samples, n_inputs)
    # OUT: dZ_below (n_samples, n_inputs), db_below (1, n_inputs)
    cdef Py_ssize_t i, j, k
    cdef floating wt[3 * THIN_TRANSPOSE_MAX]
    cdef const floating *o
    cdef floating *dz
    cdef floating g
    for j in range(n_neurons):
        for k in range(n_inputs):
            wt[j * n_inputs + k] = W[k * n_neurons + j]
    for k in range(n_inputs):
        db_below[k] = 0
    for i in range(n_samples):
        dz = dZ_below + i * n_inputs
        o = output + i * n_inputs
        _product_row(dZ + i * n_neurons, wt, dz, n_neurons, n_inputs)
        for k in range(n_inputs):
            g = dz[k]  # read unconditionally: a conditional read compiles to a masked load
            g = 0 if o[k] <= 0 else g
            dz[k] = g
            db_below[k] += g


cdef void thin_dinputs_thin_backward_ptr(
        const floating *dZ, const floating *W, const floating *output,
        const floating *X_below, const floating *W_below, floating *dX_below,
        floating *dW_below, floating *db_below, Py_ssize_t n_samples, Py_ssize_t n_inputs,
        Py_ssize_t n_neurons, Py_ssize_t k) noexcept nogil:
    """dinputs_ptr (on its thin path) followed by the thin backward pass of the ReLU layer
    below (thin_backward_ptr), without storing dZ·Wᵀ: it is computed a block of rows at a
    time into a scratch array in L1, each value as _thin_dinputs computes it, then handed to
    the blocked pass. The results are those of the two kernels, bit for bit. The caller
    checks _thin_dinputs_path and, below, _thin_backward_path."""
    # IN:  dZ (n_samples, n_neurons ≤ 3), W (n_inputs, n_neurons), output (n_samples, n_inputs),
    #      X_below (n_samples, k ≤ 3), W_below (k, n_inputs)
    # OUT: dX_below (n_samples, k) unless NULL, dW_below (k, n_inputs), db_below (1, n_inputs)
    cdef Py_ssize_t i = 0, j, r, rows, block = _thin_block_rows(n_inputs, sizeof(floating))
    cdef floating wt[3 * THIN_TRANSPOSE_MAX]
    cdef floating scratch[THIN_SCRATCH]
    cdef floating px[THIN_PARTIALS]
    if FASTBP_CHECKED_BUILD and not (k <= 3 and n_neurons <= 3
                                     and n_inputs <= THIN_TRANSPOSE_MAX):
        with gil:
            raise ValueError("checked build: thin_dinputs_thin_backward_ptr handed a "
                             "layer that is not thin")
    for j in range(n_neurons):
        for r in range(n_inputs):
            wt[j * n_inputs + r] = W[r * n_neurons + j]
    for j in range(n_inputs):
        db_below[j] = 0
    for j in range(k * n_inputs):
        dW_below[j] = 0
    while i < n_samples:
        rows = block if block < n_samples - i else n_samples - i
        _product_rows(dZ + i * n_neurons, wt, scratch, rows, n_neurons, n_inputs)
        _thin_backward_rows(scratch, output + i * n_inputs, X_below + i * k, W_below,
                            dX_below + i * k if dX_below != NULL else NULL, dW_below,
                            db_below, px, rows, k, n_inputs)
        i += rows


cdef void regularization_grad_kernel(const floating[:, ::1] param, floating[:, ::1] grad,
                                     floating l1, floating l2) noexcept nogil:
    """grad += l1·sign(param) + 2·l2·param, with sign(0) = +1 as in the book."""
    if FASTBP_CHECKED_BUILD and not _has_shape(grad, param.shape[0], param.shape[1]):
        return
    regularization_grad_ptr(_cdata(param), _data(grad), param.shape[0] * param.shape[1],
                            l1, l2)


cdef void regularization_grad_ptr(const floating *param, floating *grad, Py_ssize_t size,
                                  floating l1, floating l2) noexcept nogil:
    """regularization_grad_kernel over C-contiguous arrays of ``size`` elements."""
    cdef Py_ssize_t j
    # Two additions, in the book's order, each only when its term is on.
    if l1 != 0:
        for j in range(size):
            grad[j] += -l1 if param[j] < 0 else l1
    if l2 != 0:
        for j in range(size):
            grad[j] += 2 * l2 * param[j]
