"""BLAS for fastbp's kernels: matrix products over row-major (C-contiguous) arrays.

Design
------
* One function per BLAS routine fastbp uses, generic over ``cython.floating``: float32
  calls ``sgemm``, float64 ``dgemm``, chosen at compile time.
* The routines come from ``scipy.linalg.cython_blas``, the OpenBLAS that scipy ships, which
  picks its kernels for the CPU at run time. fastbp links no BLAS of its own.
* Arguments are row-major. BLAS is column-major, and a row-major matrix is the column-major
  storage of its transpose, so each call swaps its operands (see ``gemm``).
* ``noexcept nogil``, nothing checked: the callers (``_kernels.pyx``) pass shapes the Python
  layer has validated, each below 2**31 (BLAS indexes with 32-bit integers).
"""

from scipy.linalg.cython_blas cimport dgemm, sgemm


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
    # (The casts drop const: scipy's declarations lack it.)
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float *> B, &ldb,
              <float *> A, &lda, &beta, C, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double *> B, &ldb,
              <double *> A, &lda, &beta, C, &ldc)
