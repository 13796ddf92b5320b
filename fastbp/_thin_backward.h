/* The backward pass of a dense layer with 1-3 inputs (the spiral's 2→64), in one pass.
 *
 * Design: for a thin layer the products of the backward pass are cheaper than moving its
 * output-sized arrays: the separate path (ReLU mask into dz, then OpenBLAS for dW and dX)
 * writes dz to L2 and reads it back twice. Here the rows are taken in blocks that stay in
 * L1; each block is read from L2 once, and dz is never stored:
 *   1. column blocks of two vectors: g = dvalues masked by output > 0 (or NaN), summed into
 *      db and, times each input, into the rows of dW, with the sums held in registers over
 *      the rows of the block;
 *   2. then, if dX is wanted, each row's dX[i, j] = g_i · W[j, :], in vector lanes, from
 *      g kept in a scratch block by step 1.
 * gcc does not vectorize these register-blocked sums from plain loops (tried from Cython:
 * scalar code, 2-3x slower), so they are written with GCC/Clang vector extensions. They are
 * generic: SSE2 splits each 32-byte vector in two, AVX2 takes it whole.
 *
 * Every element of db and dW is summed over the rows in order, with the same mul-then-add
 * (the build turns FMA contraction off) whatever the blocking, so callers may split the rows
 * into blocks of any size and get the same bits. Nothing is checked here (see _kernels.pyx).
 */
#ifndef FASTBP_THIN_BACKWARD_H
#define FASTBP_THIN_BACKWARD_H

#include <stddef.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define FASTBP_THIN_BACKWARD 1

typedef double fastbp_vd __attribute__((vector_size(32)));
typedef long long fastbp_vdi __attribute__((vector_size(32)));
typedef float fastbp_vf __attribute__((vector_size(32)));
typedef int fastbp_vfi __attribute__((vector_size(32)));

#define FASTBP_T double
#define FASTBP_V fastbp_vd
#define FASTBP_VI fastbp_vdi
#define FASTBP_LANES 4
#define FASTBP_NAME(name) name##_d
#include "_thin_backward_body.h"
#undef FASTBP_T
#undef FASTBP_V
#undef FASTBP_VI
#undef FASTBP_LANES
#undef FASTBP_NAME

#define FASTBP_T float
#define FASTBP_V fastbp_vf
#define FASTBP_VI fastbp_vfi
#define FASTBP_LANES 8
#define FASTBP_NAME(name) name##_f
#include "_thin_backward_body.h"
#undef FASTBP_T
#undef FASTBP_V
#undef FASTBP_VI
#undef FASTBP_LANES
#undef FASTBP_NAME

#else
/* No vector extensions: the kernels take their separate path (see _kernels.pyx). */
#define FASTBP_THIN_BACKWARD 0
static void fastbp_thin_backward_rows_d(const double *dY, const double *out, const double *X,
        const double *W, double *dX, double *dW, double *db, double *gs, ptrdiff_t rows,
        ptrdiff_t k, ptrdiff_t N) {}
static void fastbp_thin_backward_rows_f(const float *dY, const float *out, const float *X,
        const float *W, float *dX, float *dW, float *db, float *gs, ptrdiff_t rows,
        ptrdiff_t k, ptrdiff_t N) {}
#endif

#endif
