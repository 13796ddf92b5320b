"""Are these still the arrays checked last time? A layer's fast path asks this every step.

A layer validates its arrays once and binds them to its kernels (``_train_step.DenseStep``).
On the next call it only needs to know that each argument is the same object with the same
data pointer, dtype, shape and strides: then every check made before still holds (an
ndarray's shape, strides and dtype can be reassigned in place, so identity alone is not
enough). Asked in Python, that would cost as much as a small step; here it is a few dozen
compares.
"""

cimport numpy as cnp

cnp.import_array()

cdef enum:
    MAX_ARRAYS = 8


cdef class ArraySnapshot:
    """Identity, data pointer, dtype, shape and strides of up to 8 arrays of 1 or 2 dimensions."""
    cdef tuple arrays
    cdef Py_ssize_t n
    cdef void *data[MAX_ARRAYS]
    cdef void *descr[MAX_ARRAYS]
    cdef Py_ssize_t dims[MAX_ARRAYS][2]
    cdef Py_ssize_t strides[MAX_ARRAYS][2]
    cdef int flags[MAX_ARRAYS]
    cdef int ndim[MAX_ARRAYS]

    def __init__(self, *arrays):
        cdef cnp.ndarray a
        cdef Py_ssize_t i
        cdef int nd
        if len(arrays) > MAX_ARRAYS:
            raise ValueError(f"at most {MAX_ARRAYS} arrays")
        for i in range(len(arrays)):
            a = <cnp.ndarray?> arrays[i]
            nd = cnp.PyArray_NDIM(a)
            if nd != 1 and nd != 2:
                raise ValueError("ArraySnapshot takes 1-D and 2-D arrays")
            self.ndim[i] = nd
            self.data[i] = cnp.PyArray_DATA(a)
            self.descr[i] = <void *> cnp.PyArray_DESCR(a)
            self.dims[i][0] = cnp.PyArray_DIMS(a)[0]
            self.dims[i][1] = cnp.PyArray_DIMS(a)[1] if nd == 2 else 0
            self.strides[i][0] = cnp.PyArray_STRIDES(a)[0]
            self.strides[i][1] = cnp.PyArray_STRIDES(a)[1] if nd == 2 else 0
            self.flags[i] = cnp.PyArray_FLAGS(a)
        self.arrays = arrays
        self.n = len(arrays)

    def same(self, *arrays):
        """True if ``arrays`` are the snapshot's objects, each unchanged in layout."""
        cdef Py_ssize_t i
        cdef cnp.ndarray a
        if len(arrays) != self.n:
            return False
        for i in range(self.n):
            if arrays[i] is not self.arrays[i]:
                return False
            a = <cnp.ndarray> arrays[i]
            if (cnp.PyArray_DATA(a) != self.data[i]
                    or <void *> cnp.PyArray_DESCR(a) != self.descr[i]
                    or cnp.PyArray_NDIM(a) != self.ndim[i]
                    or cnp.PyArray_FLAGS(a) != self.flags[i]
                    or cnp.PyArray_DIMS(a)[0] != self.dims[i][0]
                    or cnp.PyArray_STRIDES(a)[0] != self.strides[i][0]):
                return False
            if self.ndim[i] == 2 and (cnp.PyArray_DIMS(a)[1] != self.dims[i][1]
                                      or cnp.PyArray_STRIDES(a)[1] != self.strides[i][1]):
                return False
        return True
