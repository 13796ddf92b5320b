# Binding an array to a compiled step (DenseStep, SoftmaxCrossEntropyStep, LayerUpdate): its
# data pointer, after the checks that every kernel relies on. Inline: compiled into each
# module that cimports it, run once per binding, never per step.

cimport numpy as cnp


cdef inline void *data_of(object array, str name, bint f64, Py_ssize_t rows, Py_ssize_t cols,
                          bint output) except? NULL:
    # The data of ``array`` if it is a C-contiguous, native-order 2-D ndarray of float64 (or
    # float32) and of shape (rows, cols), writeable if it is an output; NULL if it is empty
    # (no kernel reads it then). Else a TypeError or ValueError naming it. The caller keeps
    # the array alive for as long as it holds the pointer.
    cdef cnp.ndarray a
    if not isinstance(array, cnp.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(array).__name__}")
    a = <cnp.ndarray> array
    if (cnp.PyArray_TYPE(a) != (cnp.NPY_DOUBLE if f64 else cnp.NPY_FLOAT)
            or not cnp.PyArray_ISNOTSWAPPED(a)):
        raise TypeError(f"{name} must be {'float64' if f64 else 'float32'}, got {array.dtype}")
    if (cnp.PyArray_NDIM(a) != 2 or cnp.PyArray_DIMS(a)[0] != rows
            or cnp.PyArray_DIMS(a)[1] != cols):
        raise ValueError(f"{name} must have shape ({rows}, {cols}), got {array.shape}")
    if not cnp.PyArray_IS_C_CONTIGUOUS(a):
        raise ValueError(f"{name} must be C-contiguous")
    if output and not cnp.PyArray_ISWRITEABLE(a):
        raise ValueError(f"{name} must be writeable")
    return NULL if rows == 0 or cols == 0 else cnp.PyArray_DATA(a)
