/* The body of _thin_kernels.h, included once per dtype with FASTBP_T (the element type),
 * FASTBP_V (a 32-byte vector of it), FASTBP_VI (the integer vector of its comparisons),
 * FASTBP_LANES and FASTBP_NAME defined. */

#define T FASTBP_T
#define V FASTBP_V
#define VI FASTBP_VI
#define L FASTBP_LANES

static inline V FASTBP_NAME(fastbp_load)(const T *p)
{
    V v;
    memcpy(&v, p, sizeof v);  /* an unaligned load */
    return v;
}

static inline void FASTBP_NAME(fastbp_store)(T *p, V v)
{
    memcpy(p, &v, sizeof v);
}

static inline V FASTBP_NAME(fastbp_splat)(T x)
{
#if FASTBP_LANES == 8
    V v = {x, x, x, x, x, x, x, x};  /* a broadcast (a loop of lane stores is not one) */
#else
    V v = {x, x, x, x};
#endif
    return v;
}

/* dY masked by out > 0 (or NaN) if relu, as the scalar 0 if o <= 0 else dy. */
static inline __attribute__((always_inline)) V FASTBP_NAME(fastbp_grad)(
        const T *dy, const T *o, const int relu)
{
    V g = FASTBP_NAME(fastbp_load)(dy);
    if (relu) {
        V zero = {0};
        g = (V)((VI)g & ~(VI)(FASTBP_NAME(fastbp_load)(o) <= zero));
    }
    return g;
}

static inline __attribute__((always_inline)) T FASTBP_NAME(fastbp_grad1)(
        const T *dy, const T *o, const int relu)
{
    T g = *dy;
    return relu && *o <= 0 ? 0 : g;
}

/* out[i, j] := A[i, :]·B[j, :] (+ bias[j] unless bias is NULL; then max(., 0), NaN kept,
 * if relu) for i < rows, j < K <= 3: A is rows × n, B is K × n. Two vectors of partial sums
 * per output, then their lanes, then the last columns, in a fixed order. */
static inline __attribute__((always_inline)) void FASTBP_NAME(fastbp_rows_dot_k)(
        const T *A, const T *B, const T *bias, T *out, ptrdiff_t rows, ptrdiff_t n,
        const int K, const int relu)
{
    ptrdiff_t i, c, j;
    V zero = {0};
    for (i = 0; i < rows; i++) {
        const T *a = A + i * n;
        V p00 = zero, p01 = zero, p10 = zero, p11 = zero, p20 = zero, p21 = zero;
        T r[3];
        for (c = 0; c + 2 * L <= n; c += 2 * L) {
            V a0 = FASTBP_NAME(fastbp_load)(a + c);
            V a1 = FASTBP_NAME(fastbp_load)(a + c + L);
            p00 = FASTBP_NAME(fastbp_madd)(a0, FASTBP_NAME(fastbp_load)(B + c), p00);
            p01 = FASTBP_NAME(fastbp_madd)(a1, FASTBP_NAME(fastbp_load)(B + c + L), p01);
            if (K > 1) {
                p10 = FASTBP_NAME(fastbp_madd)(a0, FASTBP_NAME(fastbp_load)(B + n + c), p10);
                p11 = FASTBP_NAME(fastbp_madd)(a1, FASTBP_NAME(fastbp_load)(B + n + c + L),
                                               p11);
            }
            if (K > 2) {
                p20 = FASTBP_NAME(fastbp_madd)(a0, FASTBP_NAME(fastbp_load)(B + 2 * n + c),
                                               p20);
                p21 = FASTBP_NAME(fastbp_madd)(a1, FASTBP_NAME(fastbp_load)(B + 2 * n + c + L),
                                               p21);
            }
        }
        FASTBP_NAME(fastbp_lane_sums)(p00 + p01, p10 + p11, &r[0], &r[1]);
        if (K > 2)
            FASTBP_NAME(fastbp_lane_sums)(p20 + p21, p20 + p21, &r[2], &r[2]);
        for (; c < n; c++)
            for (j = 0; j < K; j++)
                r[j] += a[c] * B[j * n + c];
        for (j = 0; j < K; j++) {
            T v = bias != NULL ? r[j] + bias[j] : r[j];
            out[i * K + j] = relu && v < 0 ? 0 : v;
        }
    }
}

static inline __attribute__((always_inline)) void FASTBP_NAME(fastbp_thin_rows_k)(
        const T *dY, const T *out, const T *X, const T *W, T *dX, T *dW, T *db, T *px,
        ptrdiff_t rows, ptrdiff_t N, const int K, const int relu)
{
    ptrdiff_t i, c, j;
    V zero = {0};
    T unused;
    /* Columns in blocks of two vectors: g = dY masked, then
     *   db += Σ_i g_i, dW[j, :] += Σ_i X[i, j]·g_i, the sums in registers over the rows;
     *   for dX, px[i, j] += g_i·W[j, block] as one vector of partial sums per row and input,
     *   kept in px (rows × K vectors, in L1) across the blocks: g is used while it is in a
     *   register, and neither stored nor read again. Both vectors of the block go into px
     *   as two chained multiply-adds (one operation fewer than a product summed first and
     *   then added). */
    const int blocks = N >= 2 * L;
    for (c = 0; c + 2 * L <= N; c += 2 * L) {
        const int first = c == 0;  /* px starts here: no zeroing pass (gcc unswitches) */
        V s0 = zero, s1 = zero;  /* db may be NULL: no sums (gcc unswitches the loop) */
        if (db != NULL) {
            s0 = FASTBP_NAME(fastbp_load)(db + c);
            s1 = FASTBP_NAME(fastbp_load)(db + c + L);
        }
        V a00 = FASTBP_NAME(fastbp_load)(dW + c), a01 = FASTBP_NAME(fastbp_load)(dW + c + L);
        V a10 = a00, a11 = a01, a20 = a00, a21 = a01;
        V w00 = zero, w01 = zero, w10 = zero, w11 = zero, w20 = zero, w21 = zero;
        if (K > 1) {
            a10 = FASTBP_NAME(fastbp_load)(dW + N + c);
            a11 = FASTBP_NAME(fastbp_load)(dW + N + c + L);
        }
        if (K > 2) {
            a20 = FASTBP_NAME(fastbp_load)(dW + 2 * N + c);
            a21 = FASTBP_NAME(fastbp_load)(dW + 2 * N + c + L);
        }
        if (dX != NULL) {
            w00 = FASTBP_NAME(fastbp_load)(W + c);
            w01 = FASTBP_NAME(fastbp_load)(W + c + L);
            if (K > 1) {
                w10 = FASTBP_NAME(fastbp_load)(W + N + c);
                w11 = FASTBP_NAME(fastbp_load)(W + N + c + L);
            }
            if (K > 2) {
                w20 = FASTBP_NAME(fastbp_load)(W + 2 * N + c);
                w21 = FASTBP_NAME(fastbp_load)(W + 2 * N + c + L);
            }
        }
        for (i = 0; i < rows; i++) {
            const T *dy = dY + i * N + c, *o = out + i * N + c;
            V g0 = FASTBP_NAME(fastbp_grad)(dy, o, relu);
            V g1 = FASTBP_NAME(fastbp_grad)(dy + L, o + L, relu);
            V x0 = FASTBP_NAME(fastbp_splat)(X[i * K]);
            if (db != NULL) {
                s0 += g0;
                s1 += g1;
            }
            a00 = FASTBP_NAME(fastbp_madd)(x0, g0, a00);
            a01 = FASTBP_NAME(fastbp_madd)(x0, g1, a01);
            if (K > 1) {
                V x1 = FASTBP_NAME(fastbp_splat)(X[i * K + 1]);
                a10 = FASTBP_NAME(fastbp_madd)(x1, g0, a10);
                a11 = FASTBP_NAME(fastbp_madd)(x1, g1, a11);
            }
            if (K > 2) {
                V x2 = FASTBP_NAME(fastbp_splat)(X[i * K + 2]);
                a20 = FASTBP_NAME(fastbp_madd)(x2, g0, a20);
                a21 = FASTBP_NAME(fastbp_madd)(x2, g1, a21);
            }
            if (dX != NULL) {
                T *q = px + i * K * L;
                V p0 = first ? zero : FASTBP_NAME(fastbp_load)(q);
                FASTBP_NAME(fastbp_store)(q, FASTBP_NAME(fastbp_madd)(g1, w01,
                    FASTBP_NAME(fastbp_madd)(g0, w00, p0)));
                if (K > 1) {
                    V p1 = first ? zero : FASTBP_NAME(fastbp_load)(q + L);
                    FASTBP_NAME(fastbp_store)(q + L, FASTBP_NAME(fastbp_madd)(g1, w11,
                        FASTBP_NAME(fastbp_madd)(g0, w10, p1)));
                }
                if (K > 2) {
                    V p2 = first ? zero : FASTBP_NAME(fastbp_load)(q + 2 * L);
                    FASTBP_NAME(fastbp_store)(q + 2 * L, FASTBP_NAME(fastbp_madd)(g1, w21,
                        FASTBP_NAME(fastbp_madd)(g0, w20, p2)));
                }
            }
        }
        if (db != NULL) {
            FASTBP_NAME(fastbp_store)(db + c, s0);
            FASTBP_NAME(fastbp_store)(db + c + L, s1);
        }
        FASTBP_NAME(fastbp_store)(dW + c, a00);
        FASTBP_NAME(fastbp_store)(dW + c + L, a01);
        if (K > 1) {
            FASTBP_NAME(fastbp_store)(dW + N + c, a10);
            FASTBP_NAME(fastbp_store)(dW + N + c + L, a11);
        }
        if (K > 2) {
            FASTBP_NAME(fastbp_store)(dW + 2 * N + c, a20);
            FASTBP_NAME(fastbp_store)(dW + 2 * N + c + L, a21);
        }
    }
    /* dX from its partial sums: their lanes, in a fixed order. */
    if (dX != NULL) {
        for (i = 0; i < rows; i++) {
            const T *q = px + i * K * L;
            if (!blocks) {
                for (j = 0; j < K; j++)
                    dX[i * K + j] = 0;
            } else if (K == 1) {
                FASTBP_NAME(fastbp_lane_sums)(FASTBP_NAME(fastbp_load)(q),
                                              FASTBP_NAME(fastbp_load)(q), &dX[i], &unused);
            } else {
                FASTBP_NAME(fastbp_lane_sums)(FASTBP_NAME(fastbp_load)(q),
                                              FASTBP_NAME(fastbp_load)(q + L),
                                              &dX[i * K], &dX[i * K + 1]);
                if (K > 2)
                    FASTBP_NAME(fastbp_lane_sums)(FASTBP_NAME(fastbp_load)(q + 2 * L),
                                                  FASTBP_NAME(fastbp_load)(q + 2 * L),
                                                  &dX[i * K + 2], &unused);
            }
        }
    }
    for (; c < N; c++) {  /* the last columns, one at a time, in the same order */
        for (i = 0; i < rows; i++) {
            T g = FASTBP_NAME(fastbp_grad1)(dY + i * N + c, out + i * N + c, relu);
            if (db != NULL)
                db[c] += g;
            for (j = 0; j < K; j++)
                dW[j * N + c] += X[i * K + j] * g;
            if (dX != NULL)
                for (j = 0; j < K; j++)
                    dX[i * K + j] += g * W[j * N + c];
        }
    }
}

/* out[i, :] := X[i, :]·W + b, then max(out, 0) (NaN kept) if relu: the forward pass of a
 * layer with K <= 3 inputs, one row at a time, each output written once. Each element is
 * ((x0·w0 + x1·w1) + x2·w2) + b, unfused, in every build: the same bits as the scalar
 * loop of _kernel_paths.pxi (_product_row), which gcc vectorizes with a versioned loop
 * whose per-row checks cost a third of the time on the spiral's rows of 64. */
static inline __attribute__((always_inline)) void FASTBP_NAME(fastbp_input_forward_k)(
        const T *X, const T *W, const T *b, T *out, ptrdiff_t rows, ptrdiff_t N,
        const int K, const int relu, const int bias)
{
    ptrdiff_t i, c;
    V zero = {0};
    for (i = 0; i < rows; i++) {
        const T *x = X + i * K;
        T *o = out + i * N;
        V x0 = FASTBP_NAME(fastbp_splat)(x[0]);
        V x1 = K > 1 ? FASTBP_NAME(fastbp_splat)(x[1]) : zero;
        V x2 = K > 2 ? FASTBP_NAME(fastbp_splat)(x[2]) : zero;
        for (c = 0; c + L <= N; c += L) {
            V v = x0 * FASTBP_NAME(fastbp_load)(W + c);
            if (K > 1)
                v = v + x1 * FASTBP_NAME(fastbp_load)(W + N + c);
            if (K > 2)
                v = v + x2 * FASTBP_NAME(fastbp_load)(W + 2 * N + c);
            if (bias)
                v = v + FASTBP_NAME(fastbp_load)(b + c);
            if (relu)
                v = (V)((VI)v & ~(VI)(v < zero));
            FASTBP_NAME(fastbp_store)(o + c, v);
        }
        for (; c < N; c++) {
            T v = x[0] * W[c];
            if (K > 1)
                v = v + x[1] * W[N + c];
            if (K > 2)
                v = v + x[2] * W[2 * N + c];
            if (bias)
                v = v + b[c];
            o[c] = relu && v < 0 ? 0 : v;
        }
    }
}

/* b may be NULL: out := X·W alone (never with relu), the product dX = dZ·Wᵀ of a layer with
 * 1-3 neurons, X then being dZ and W its weights transposed. */
static void FASTBP_NAME(fastbp_thin_input_forward)(
        const T *X, const T *W, const T *b, T *out, ptrdiff_t rows, ptrdiff_t N,
        ptrdiff_t k, int relu)
{
    if (b == NULL) {
        if (k == 1)
            FASTBP_NAME(fastbp_input_forward_k)(X, W, b, out, rows, N, 1, 0, 0);
        else if (k == 2)
            FASTBP_NAME(fastbp_input_forward_k)(X, W, b, out, rows, N, 2, 0, 0);
        else
            FASTBP_NAME(fastbp_input_forward_k)(X, W, b, out, rows, N, 3, 0, 0);
    } else if (relu) {
        if (k == 1)
            FASTBP_NAME(fastbp_input_forward_k)(X, W, b, out, rows, N, 1, 1, 1);
        else if (k == 2)
            FASTBP_NAME(fastbp_input_forward_k)(X, W, b, out, rows, N, 2, 1, 1);
        else
            FASTBP_NAME(fastbp_input_forward_k)(X, W, b, out, rows, N, 3, 1, 1);
    } else {
        if (k == 1)
            FASTBP_NAME(fastbp_input_forward_k)(X, W, b, out, rows, N, 1, 0, 1);
        else if (k == 2)
            FASTBP_NAME(fastbp_input_forward_k)(X, W, b, out, rows, N, 2, 0, 1);
        else
            FASTBP_NAME(fastbp_input_forward_k)(X, W, b, out, rows, N, 3, 0, 1);
    }
}

/* out := A·Bᵀ + bias, then max(out, 0) (NaN kept) if relu: the forward pass of a layer with
 * k <= 3 neurons, A its inputs (rows × n) and B its weights transposed (k × n). Each
 * output is one dot product over the inputs, in vector lanes as dX above. */
static void FASTBP_NAME(fastbp_thin_output_forward)(
        const T *A, const T *B, const T *bias, T *out, ptrdiff_t rows, ptrdiff_t n,
        ptrdiff_t k, int relu)
{
    if (relu) {
        if (k == 1)
            FASTBP_NAME(fastbp_rows_dot_k)(A, B, bias, out, rows, n, 1, 1);
        else if (k == 2)
            FASTBP_NAME(fastbp_rows_dot_k)(A, B, bias, out, rows, n, 2, 1);
        else
            FASTBP_NAME(fastbp_rows_dot_k)(A, B, bias, out, rows, n, 3, 1);
    } else {
        if (k == 1)
            FASTBP_NAME(fastbp_rows_dot_k)(A, B, bias, out, rows, n, 1, 0);
        else if (k == 2)
            FASTBP_NAME(fastbp_rows_dot_k)(A, B, bias, out, rows, n, 2, 0);
        else
            FASTBP_NAME(fastbp_rows_dot_k)(A, B, bias, out, rows, n, 3, 0);
    }
}

/* For rows of dvalues dY (rows × N), the layer's output (NULL: no ReLU) and inputs X
 * (rows × k, 1 <= k <= 3), and weights W (k × N):
 *     db += Σ_i g_i (unless db is NULL);  dW += Xᵀ·g;  dX := g·Wᵀ (unless dX is NULL),
 * where g is dY masked by output > 0 (or NaN). The caller zeroes db and dW, then calls this
 * on blocks of rows small enough for L1, in order. With dX, px (not aliasing the rest)
 * receives dX's partial sums: rows·k·FASTBP_LANES values if N >= 2·FASTBP_LANES, none
 * otherwise. */
static void FASTBP_NAME(fastbp_thin_backward_rows)(
        const T *dY, const T *out, const T *X, const T *W, T *dX, T *dW, T *db, T *px,
        ptrdiff_t rows, ptrdiff_t k, ptrdiff_t N)
{
    /* Each (k, relu) pair compiled on its own, with its sums in registers. */
    if (out != NULL) {
        if (k == 1)
            FASTBP_NAME(fastbp_thin_rows_k)(dY, out, X, W, dX, dW, db, px, rows, N, 1, 1);
        else if (k == 2)
            FASTBP_NAME(fastbp_thin_rows_k)(dY, out, X, W, dX, dW, db, px, rows, N, 2, 1);
        else
            FASTBP_NAME(fastbp_thin_rows_k)(dY, out, X, W, dX, dW, db, px, rows, N, 3, 1);
    } else {
        if (k == 1)
            FASTBP_NAME(fastbp_thin_rows_k)(dY, dY, X, W, dX, dW, db, px, rows, N, 1, 0);
        else if (k == 2)
            FASTBP_NAME(fastbp_thin_rows_k)(dY, dY, X, W, dX, dW, db, px, rows, N, 2, 0);
        else
            FASTBP_NAME(fastbp_thin_rows_k)(dY, dY, X, W, dX, dW, db, px, rows, N, 3, 0);
    }
}

#undef T
#undef V
#undef VI
#undef L
