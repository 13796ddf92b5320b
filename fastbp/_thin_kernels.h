/* Kernels for thin dense layers: 1-3 inputs (the spiral's 2→64) or 1-3 neurons (its 64→3).
 *
 * fastbp_thin_backward_rows: the backward pass of a layer with 1-3 inputs, in one pass.
 * fastbp_thin_input_forward: the forward pass of a layer with 1-3 inputs, each output
 * written once.
 * fastbp_thin_output_forward: the forward product of a layer with 1-3 neurons, as dot
 * products with the bias and ReLU applied as each output is made; its dW is the first
 * function's sums with the operands' roles swapped (_kernels.pyx, _thin_output_dweights).
 *
 * Design: for a thin layer the products of the backward pass are cheaper than moving its
 * output-sized arrays: the separate path (ReLU mask into dz, then OpenBLAS for dW and dX)
 * writes dz to L2 and reads it back twice. Here the rows are taken in blocks that stay in
 * L1; each block is read from L2 once, and dz is never stored:
 *   column blocks of two vectors: g = dvalues masked by output > 0 (or NaN), summed into
 *   db and, times each input, into the rows of dW, with the sums held in registers over
 *   the rows of the block; and, if dX is wanted, g times the block of each row of W added
 *   to one vector of partial sums per row and input (a scratch block in L1), whose lanes
 *   give dX[i, j] = g_i · W[j, :] after the last block. g is used while in registers, rather
 *   than stored for a second pass over the block, which would read it back from memory.
 * gcc does not vectorize these register-blocked sums from plain loops (from Cython they come
 * out scalar), so they are written with GCC/Clang vector extensions of 32 bytes, and
 * compiled where AVX2 takes such a vector whole (the x86-64-v3 build): for SSE2, which
 * splits each in two, they lose to OpenBLAS, and the baseline build goes without them.
 * With FMA the products and sums are fused, and the lane sums of dX use horizontal adds:
 * the thin paths agree with the generic ones to rounding, not bit for bit.
 *
 * Every element of db and dW is summed over the rows in order, with the same operations
 * whatever the blocking, so callers may split the rows into blocks of any size and get the
 * same bits (NetworkStep relies on it). Nothing is checked here (see _kernels.pyx).
 */
#ifndef FASTBP_THIN_KERNELS_H
#define FASTBP_THIN_KERNELS_H

#include <stddef.h>
#include <string.h>

#if (defined(__GNUC__) || defined(__clang__)) && defined(__AVX2__)
#define FASTBP_THIN_KERNELS 1

#if defined(__AVX__) || defined(__FMA__)
#include <immintrin.h>
#endif

typedef double fastbp_vd __attribute__((vector_size(32)));
typedef long long fastbp_vdi __attribute__((vector_size(32)));
typedef float fastbp_vf __attribute__((vector_size(32)));
typedef int fastbp_vfi __attribute__((vector_size(32)));

/* a·b + c: one rounding where the build has FMA (the x86-64-v3 build; the rest of the
 * kernels are compiled without contraction, see setup.py), two elsewhere. Only these
 * register-blocked sums use it: it halves their arithmetic, and they are no element-wise
 * result that must match the baseline build bit for bit (tests/test_kernel_variants.py). */
static inline fastbp_vd fastbp_madd_d(fastbp_vd a, fastbp_vd b, fastbp_vd c)
{
#if defined(__FMA__)
    return (fastbp_vd)_mm256_fmadd_pd((__m256d)a, (__m256d)b, (__m256d)c);
#else
    return a * b + c;
#endif
}

static inline fastbp_vf fastbp_madd_f(fastbp_vf a, fastbp_vf b, fastbp_vf c)
{
#if defined(__FMA__)
    return (fastbp_vf)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c);
#else
    return a * b + c;
#endif
}

/* The lane sums of a and of b, into ra and rb, in a fixed order (AVX: with horizontal
 * adds, three instructions for both; elsewhere a tree over the lanes). */
static inline void fastbp_lane_sums_d(fastbp_vd a, fastbp_vd b, double *ra, double *rb)
{
#if defined(__AVX__)
    __m256d t = _mm256_hadd_pd((__m256d)a, (__m256d)b);  /* a01 b01 a23 b23 */
    __m128d u = _mm_add_pd(_mm256_castpd256_pd128(t), _mm256_extractf128_pd(t, 1));
    *ra = _mm_cvtsd_f64(u);
    *rb = _mm_cvtsd_f64(_mm_unpackhi_pd(u, u));
#else
    *ra = (a[0] + a[1]) + (a[2] + a[3]);
    *rb = (b[0] + b[1]) + (b[2] + b[3]);
#endif
}

static inline void fastbp_lane_sums_f(fastbp_vf a, fastbp_vf b, float *ra, float *rb)
{
#if defined(__AVX__)
    __m256 t = _mm256_hadd_ps((__m256)a, (__m256)b);  /* a01 a23 b01 b23 | a45 a67 b45 b67 */
    t = _mm256_hadd_ps(t, t);                          /* a0-3 b0-3 a0-3 b0-3 | a4-7 b4-7 .. */
    __m128 u = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
    *ra = _mm_cvtss_f32(u);
    *rb = _mm_cvtss_f32(_mm_shuffle_ps(u, u, 1));
#else
    *ra = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    *rb = ((b[0] + b[1]) + (b[2] + b[3])) + ((b[4] + b[5]) + (b[6] + b[7]));
#endif
}

#define FASTBP_T double
#define FASTBP_V fastbp_vd
#define FASTBP_VI fastbp_vdi
#define FASTBP_LANES 4
#define FASTBP_NAME(name) name##_d
#include "_thin_kernels_body.h"
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
#include "_thin_kernels_body.h"
#undef FASTBP_T
#undef FASTBP_V
#undef FASTBP_VI
#undef FASTBP_LANES
#undef FASTBP_NAME

#else
/* No AVX2 or no vector extensions: every shape takes the generic path (_kernel_paths.pxi). */
#define FASTBP_THIN_KERNELS 0
static void fastbp_thin_backward_rows_d(const double *dY, const double *out, const double *X,
        const double *W, double *dX, double *dW, double *db, double *px, ptrdiff_t rows,
        ptrdiff_t k, ptrdiff_t N) {}
static void fastbp_thin_backward_rows_f(const float *dY, const float *out, const float *X,
        const float *W, float *dX, float *dW, float *db, float *px, ptrdiff_t rows,
        ptrdiff_t k, ptrdiff_t N) {}
static void fastbp_thin_output_forward_d(const double *A, const double *B, const double *bias,
        double *out, ptrdiff_t rows, ptrdiff_t n, ptrdiff_t k, int relu) {}
static void fastbp_thin_output_forward_f(const float *A, const float *B, const float *bias,
        float *out, ptrdiff_t rows, ptrdiff_t n, ptrdiff_t k, int relu) {}
static void fastbp_thin_input_forward_d(const double *X, const double *W, const double *b,
        double *out, ptrdiff_t rows, ptrdiff_t N, ptrdiff_t k, int relu) {}
static void fastbp_thin_input_forward_f(const float *X, const float *W, const float *b,
        float *out, ptrdiff_t rows, ptrdiff_t N, ptrdiff_t k, int relu) {}
#endif

#endif
