"""The functional API's checks for the common case, in C: "all fine" or "ask Python".

fastbp/functional.py checks its arguments in Python, which on small arrays costs several
times the arithmetic. Most calls pass plain arrays: exact ndarrays of one native float
dtype, C-contiguous and aligned, of matching shapes. These functions recognise exactly that
case and return the dtype; for anything else they return None, and the Python checks run
as before and raise their precise errors. A ``None`` is never an error by itself.
"""

cimport numpy as cnp

from fastbp._overlap import overlaps_any

cnp.import_array()

# BLAS indexes with 32-bit integers (fastbp/_validation.py, BLAS_MAX_DIM).
cdef Py_ssize_t BLAS_MAX_DIM = 2**31 - 1
cdef int PLAIN = cnp.NPY_ARRAY_C_CONTIGUOUS | cnp.NPY_ARRAY_ALIGNED


cdef inline bint _plain(object a, int type_num, int ndim) noexcept:
    # An exact ndarray (no subclass: masked arrays are refused by the Python checks) of the
    # given native float type and ndim, C-contiguous and aligned, every dimension BLAS-sized.
    cdef cnp.ndarray arr
    cdef int d
    if type(a) is not cnp.ndarray:
        return False
    arr = <cnp.ndarray> a
    if (cnp.PyArray_TYPE(arr) != type_num or cnp.PyArray_NDIM(arr) != ndim
            or (cnp.PyArray_FLAGS(arr) & PLAIN) != PLAIN
            or not cnp.PyArray_ISNOTSWAPPED(arr)):
        return False
    for d in range(ndim):
        if cnp.PyArray_DIMS(arr)[d] > BLAS_MAX_DIM:
            return False
    return True


cdef inline Py_ssize_t _dim(object a, int d) noexcept:
    return cnp.PyArray_DIMS(<cnp.ndarray> a)[d]


cdef inline int _float_type(object a) noexcept:
    if type(a) is not cnp.ndarray:
        return -1
    t = cnp.PyArray_TYPE(<cnp.ndarray> a)
    return t if t == cnp.NPY_DOUBLE or t == cnp.NPY_FLOAT else -1


cdef bint _free_output(object out, int type_num, Py_ssize_t rows, Py_ssize_t cols,
                       tuple inputs) except -1:
    # None, or a plain writeable (rows, cols) array sharing no memory with the inputs.
    if out is None:
        return True
    if (not _plain(out, type_num, 2) or _dim(out, 0) != rows or _dim(out, 1) != cols
            or not cnp.PyArray_ISWRITEABLE(<cnp.ndarray> out)):
        return False
    return not overlaps_any(out, inputs)


def dense_forward_dtype(inputs, weights, biases, out):
    """The dtype of plain (inputs, weights, (1, n) biases, out None or a free buffer)."""
    cdef int t = _float_type(inputs)
    if (t < 0 or not _plain(inputs, t, 2) or not _plain(weights, t, 2)
            or not _plain(biases, t, 2)
            or _dim(weights, 0) != _dim(inputs, 1)
            or _dim(biases, 0) != 1 or _dim(biases, 1) != _dim(weights, 1)
            or not _free_output(out, t, _dim(inputs, 0), _dim(weights, 1),
                                (inputs, weights, biases))):
        return None
    return inputs.dtype


def dense_backward_dtype(dvalues, inputs, weights, output):
    """The dtype of plain (dvalues, inputs, weights[, output]), shapes matching."""
    cdef int t = _float_type(inputs)
    if (t < 0 or not _plain(inputs, t, 2) or not _plain(weights, t, 2)
            or not _plain(dvalues, t, 2)
            or _dim(weights, 0) != _dim(inputs, 1)
            or _dim(dvalues, 0) != _dim(inputs, 0) or _dim(dvalues, 1) != _dim(weights, 1)):
        return None
    if output is not None and (not _plain(output, t, 2) or _dim(output, 0) != _dim(inputs, 0)
                               or _dim(output, 1) != _dim(weights, 1)):
        return None
    return inputs.dtype


def relu_forward_dtype(inputs, out):
    """The dtype of plain 2-D ``inputs``, ``out`` None or a free buffer of its shape."""
    cdef int t = _float_type(inputs)
    if (t < 0 or not _plain(inputs, t, 2)
            or not _free_output(out, t, _dim(inputs, 0), _dim(inputs, 1), (inputs,))):
        return None
    return inputs.dtype


def relu_backward_dtype(dvalues, inputs, out):
    """The dtype of plain 2-D ``dvalues`` and ``inputs`` of one shape, ``out`` None or a free
    buffer of that shape."""
    cdef int t = _float_type(inputs)
    if (t < 0 or not _plain(inputs, t, 2) or not _plain(dvalues, t, 2)
            or _dim(dvalues, 0) != _dim(inputs, 0) or _dim(dvalues, 1) != _dim(inputs, 1)
            or not _free_output(out, t, _dim(inputs, 0), _dim(inputs, 1),
                                (dvalues, inputs))):
        return None
    return inputs.dtype
