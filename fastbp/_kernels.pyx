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
  OpenBLAS that scipy ships, with the row-major operand swap), except on the special paths
  of thin layers (``_kernel_paths.pxi``).
* Bias and ReLU are applied in one pass over the product, while a row is hot in cache (the
  "epilogue"), not as separate numpy operations over the whole array.
* ReLU is ``x < 0 ? 0 : x``: a select, not a branch, and it keeps NaN as np.maximum(0, x) does.
  Its backward zeroes the gradient where the input is ``<= 0``, as the book's
  ``dinputs[inputs <= 0] = 0`` does, so a NaN input lets its gradient through.
* Thin layers, with 1-3 inputs (the spiral's 2→64) or 1-3 neurons (its 64→3), take
  register-blocked kernels written in C with GCC/Clang vector extensions
  (``_thin_kernels.h``), in the x86-64-v3 build only: a one-pass forward, a one-pass
  backward that never stores the masked gradient, and a dot-product forward and dW. gcc
  does not vectorize those sums from Cython loops. They fuse multiply and add (FMA), so
  there the two builds agree to rounding, not bit for bit; everything else is compiled
  without contraction.
* The memoryview kernels are thin wrappers over ``*_ptr`` kernels that take data pointers
  and shapes. The modules compiled once call those directly, through the capsule of
  ``_kernel_table()`` (``_kernel_table.pxd``): the functional API's fast path
  (fastbp/_fastcheck.pyx) and the training step (fastbp/_train_step.pyx), which thereby run
  the kernels of the build fastbp chose at import (baseline or x86-64-v3).
* The ``def`` functions (``_kernel_entry_points.pxi``) are the Python entry points: they
  take memoryviews, release the GIL and call one kernel.
* One extension module from several files, each one concern: the paths and shared helpers
  (``_kernel_paths.pxi``), the kernels (``_dense_kernels.pxi``), and the entry points with
  the kernel table (``_kernel_entry_points.pxi``). It cimports only the BLAS layer and the
  kernel table's types: the modules above call down into it, never the reverse.
"""

from cpython.pycapsule cimport PyCapsule_New
from cython cimport floating

from fastbp._blas cimport gemm
from fastbp._kernel_table cimport (
    DONE_ALL,
    DONE_MASK,
    FASTBP_CHECKED_BUILD,
    KERNEL_TABLE_NAME,
    KernelTable,
)

include "_kernel_paths.pxi"
include "_dense_kernels.pxi"
include "_kernel_entry_points.pxi"
