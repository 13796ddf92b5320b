"""BLAS for fastbp's kernels: matrix products over row-major (C-contiguous) arrays.

Design
------
* One function per BLAS routine fastbp uses, generic over ``cython.floating``: float32
  calls ``sgemm``, float64 ``dgemm``, chosen at compile time.
* The routines come from the OpenBLAS of the ``scipy-openblas32`` package (the build that
  numpy and scipy themselves ship, which picks its kernels for the CPU at run time), loaded
  when this module is imported: its path comes from the package, the two routines'
  addresses from the loaded library (``scipy_sgemm_``, ``scipy_dgemm_``: Fortran calling
  convention, 32-bit integers). Nothing is linked at build time, so a wheel carries no copy
  of the library and an editable install finds it as well.
* Arguments are row-major. BLAS is column-major, and a row-major matrix is the column-major
  storage of its transpose, so each call swaps its operands (see ``gemm``).
* ``noexcept nogil``, nothing checked: the callers (``_kernels.pyx``) pass shapes the Python
  layer has validated, each below 2**31 (BLAS indexes with 32-bit integers).
"""

import ctypes
import os

import scipy_openblas32

ctypedef void (*sgemm_t)(const char *transa, const char *transb, const int *m, const int *n,
                         const int *k, const float *alpha, const float *a, const int *lda,
                         const float *b, const int *ldb, const float *beta, float *c,
                         const int *ldc) noexcept nogil
ctypedef void (*dgemm_t)(const char *transa, const char *transb, const int *m, const int *n,
                         const int *k, const double *alpha, const double *a, const int *lda,
                         const double *b, const int *ldb, const double *beta, double *c,
                         const int *ldc) noexcept nogil

cdef sgemm_t _sgemm = NULL
cdef dgemm_t _dgemm = NULL

# The library's file (fastbp.show_config).
LIBRARY = os.path.join(scipy_openblas32.get_lib_dir(), scipy_openblas32.get_library(True))


def _load():
    global _sgemm, _dgemm
    library = ctypes.CDLL(LIBRARY)
    # The package's symbols carry the prefix "scipy_", so that they never clash with
    # another BLAS in the process (numpy's, a system one).
    _sgemm = <sgemm_t> <size_t> ctypes.cast(library.scipy_sgemm_, ctypes.c_void_p).value
    _dgemm = <dgemm_t> <size_t> ctypes.cast(library.scipy_dgemm_, ctypes.c_void_p).value
    return library


_LIBRARY = _load()  # kept: the library stays loaded while this module lives


cdef void gemm(bint trans_a, bint trans_b, int m, int n, int k,
               floating alpha, const floating *A, int lda,
               const floating *B, int ldb,
               floating beta, floating *C, int ldc) noexcept nogil:
    """C := alpha·op(A)·op(B) + beta·C, row-major; C is m×n, op(A) m×k, op(B) k×n."""
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    cdef Py_ssize_t i, j
    if m == 0 or n == 0:
        return
    if k == 0:
        # Empty sum. Reference BLAS would do this too, but some builds reject lda = 0.
        for i in range(m):
            for j in range(n):
                C[i * ldc + j] = 0 if beta == 0 else beta * C[i * ldc + j]
        return
    # BLAS is column-major, and a row-major matrix is the column-major storage of its
    # transpose: Cᵀ = op(B)ᵀ·op(A)ᵀ, so B goes first and m, n swap.
    if floating is float:
        _sgemm(&tb, &ta, &n, &m, &k, &alpha, B, &ldb, A, &lda, &beta, C, &ldc)
    else:
        _dgemm(&tb, &ta, &n, &m, &k, &alpha, B, &ldb, A, &lda, &beta, C, &ldc)
