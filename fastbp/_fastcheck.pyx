"""The functional API's checks for the common case, in C: "all fine" or "ask Python".

fastbp/functional.py checks its arguments in Python, which on small arrays costs several
times the arithmetic. Most calls pass plain arrays: exact ndarrays of one native float
dtype, C-contiguous and aligned, of matching shapes. These functions recognise exactly that
case and run it; for anything else they return None, and the Python checks run
as before and raise their precise errors. A ``None`` is never an error by itself.

They run it with the pointer kernels of the build fastbp chose (``use_kernels``), without
the memoryviews a ``def`` kernel acquires: on tiny arrays, acquiring them would be most of
the call. In the checked build (FASTBP_DEBUG=1) each array's shape is asserted once more
before a pointer kernel runs.
"""

cimport numpy as cnp
from cpython.pycapsule cimport PyCapsule_GetPointer

from fastbp._constants cimport BLAS_MAX_DIM
from fastbp._kernel_table cimport FASTBP_CHECKED_BUILD, KERNEL_TABLE_NAME, KernelTable

from fastbp._overlap import overlaps_any

cnp.import_array()

cdef KernelTable *_KERNELS = NULL


def use_kernels(capsule):
    """Run the ``*_plain`` functions with the pointer kernels in ``capsule`` (a kernel
    build's ``_kernel_table()``); fastbp/_validation.py sets this at import."""
    global _KERNELS
    _KERNELS = <KernelTable *> PyCapsule_GetPointer(capsule, KERNEL_TABLE_NAME)

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


cdef inline void *_ptr(object a) noexcept:
    return cnp.PyArray_DATA(<cnp.ndarray> a)


cdef int _sized(object a, Py_ssize_t rows, Py_ssize_t cols) except -1:
    # The checked build's last word before a pointer kernel runs: the array holds exactly
    # the rows × cols values the kernel will index (memoryviews are not there to check it).
    if FASTBP_CHECKED_BUILD and not (cnp.PyArray_NDIM(<cnp.ndarray> a) == 2
                                     and _dim(a, 0) == rows and _dim(a, 1) == cols):
        raise AssertionError(f"checked build: _fastcheck passed an array of shape "
                             f"{a.shape} to a kernel that indexes ({rows}, {cols})")
    return 0


def dense_forward_plain(inputs, weights, biases, out, bint relu):
    """For plain (inputs, weights, (1, n) biases, out None or a free buffer): out :=
    inputs·weights + biases, then max(out, 0) if relu; returns out (a new array if None).
    Anything else: None, and nothing was done."""
    cdef int t = _float_type(inputs)
    cdef Py_ssize_t n_samples, n_inputs, n_neurons
    if (_KERNELS is NULL or t < 0 or not _plain(inputs, t, 2) or not _plain(weights, t, 2)
            or not _plain(biases, t, 2)
            or _dim(weights, 0) != _dim(inputs, 1)
            or _dim(biases, 0) != 1 or _dim(biases, 1) != _dim(weights, 1)
            or not _free_output(out, t, _dim(inputs, 0), _dim(weights, 1),
                                (inputs, weights, biases))):
        return None
    n_samples, n_inputs, n_neurons = _dim(inputs, 0), _dim(inputs, 1), _dim(weights, 1)
    if out is None:
        out = _empty(n_samples, n_neurons, t)
    _sized(weights, n_inputs, n_neurons)
    _sized(biases, 1, n_neurons)
    _sized(out, n_samples, n_neurons)
    cdef void *x = _ptr(inputs)
    cdef void *w = _ptr(weights)
    cdef void *b = _ptr(biases)
    cdef void *o = _ptr(out)
    if t == cnp.NPY_DOUBLE:
        with nogil:
            _KERNELS.dense_forward_d(<const double *> x, <const double *> w,
                                     <const double *> b, <double *> o,
                                     n_samples, n_inputs, n_neurons, relu)
    else:
        with nogil:
            _KERNELS.dense_forward_f(<const float *> x, <const float *> w,
                                     <const float *> b, <float *> o,
                                     n_samples, n_inputs, n_neurons, relu)
    return out


cdef inline object _empty(Py_ssize_t rows, Py_ssize_t cols, int type_num):
    cdef cnp.npy_intp dims[2]
    dims[0], dims[1] = rows, cols
    return cnp.PyArray_EMPTY(2, dims, type_num, 0)


def dense_backward_plain(dvalues, inputs, weights, output, dinputs=None, dweights=None,
                         dbiases=None):
    """For plain (dvalues, inputs, weights[, output]) of matching shapes: the dense backward
    pass (through the ReLU mask first if ``output`` is given) into the given buffers, each
    None (a new array) or free (plain, writeable, of its exact 2-D shape, sharing no memory
    with the inputs or the other buffers); returns (dinputs, dweights, dbiases). Anything
    else: None, and nothing was done."""
    cdef int t = _float_type(inputs)
    cdef Py_ssize_t n_samples, n_inputs, n_neurons
    if (_KERNELS is NULL or t < 0 or not _plain(inputs, t, 2) or not _plain(weights, t, 2)
            or not _plain(dvalues, t, 2)
            or _dim(weights, 0) != _dim(inputs, 1)
            or _dim(dvalues, 0) != _dim(inputs, 0) or _dim(dvalues, 1) != _dim(weights, 1)):
        return None
    if output is not None and (not _plain(output, t, 2) or _dim(output, 0) != _dim(inputs, 0)
                               or _dim(output, 1) != _dim(weights, 1)):
        return None
    n_samples, n_inputs, n_neurons = _dim(inputs, 0), _dim(inputs, 1), _dim(weights, 1)
    cdef tuple taken = (dvalues, inputs, weights) if output is None else (
        dvalues, inputs, weights, output)
    if not _free_output(dinputs, t, n_samples, n_inputs, taken):
        return None
    if dinputs is not None:
        taken += (dinputs,)
    if not _free_output(dweights, t, n_inputs, n_neurons, taken):
        return None
    if dweights is not None:
        taken += (dweights,)
    if not _free_output(dbiases, t, 1, n_neurons, taken):
        return None
    if dinputs is None:
        dinputs = _empty(n_samples, n_inputs, t)
    if dweights is None:
        dweights = _empty(n_inputs, n_neurons, t)
    if dbiases is None:
        dbiases = _empty(1, n_neurons, t)
    # The masked gradient: a scratch array (dvalues is the caller's and is not written),
    # unless the kernel takes the one-pass path of thin layers, which never stores it.
    dz = (_empty(n_samples, n_neurons, t) if output is not None and not _KERNELS.thin_backward_path(
        n_samples, n_inputs, n_neurons, t == cnp.NPY_DOUBLE) else None)
    _sized(dvalues, n_samples, n_neurons)
    _sized(weights, n_inputs, n_neurons)
    if output is not None:
        _sized(output, n_samples, n_neurons)
    _sized(dinputs, n_samples, n_inputs)
    _sized(dweights, n_inputs, n_neurons)
    _sized(dbiases, 1, n_neurons)
    cdef void *dy = _ptr(dvalues)
    cdef void *x = _ptr(inputs)
    cdef void *w = _ptr(weights)
    cdef void *o = _ptr(output) if output is not None else NULL
    cdef void *z = _ptr(dz) if dz is not None else NULL
    cdef void *dx = _ptr(dinputs)
    cdef void *dw = _ptr(dweights)
    cdef void *db = _ptr(dbiases)
    if t == cnp.NPY_DOUBLE:
        with nogil:
            _KERNELS.dense_backward_d(<const double *> dy, <const double *> x,
                                      <const double *> w, <const double *> o, <double *> z,
                                      <double *> dx, <double *> dw, <double *> db,
                                      n_samples, n_inputs, n_neurons, False)
    else:
        with nogil:
            _KERNELS.dense_backward_f(<const float *> dy, <const float *> x,
                                      <const float *> w, <const float *> o, <float *> z,
                                      <float *> dx, <float *> dw, <float *> db,
                                      n_samples, n_inputs, n_neurons, False)
    return dinputs, dweights, dbiases


def relu_forward_plain(inputs, out):
    """For plain 2-D ``inputs``, ``out`` None or a free buffer of its shape: out :=
    max(inputs, 0); returns out (a new array if None). Anything else: None, nothing done."""
    cdef int t = _float_type(inputs)
    cdef Py_ssize_t size
    if (_KERNELS is NULL or t < 0 or not _plain(inputs, t, 2)
            or not _free_output(out, t, _dim(inputs, 0), _dim(inputs, 1), (inputs,))):
        return None
    if out is None:
        out = _empty(_dim(inputs, 0), _dim(inputs, 1), t)
    _sized(out, _dim(inputs, 0), _dim(inputs, 1))
    size = _dim(inputs, 0) * _dim(inputs, 1)
    cdef void *x = _ptr(inputs)
    cdef void *o = _ptr(out)
    if t == cnp.NPY_DOUBLE:
        with nogil:
            _KERNELS.relu_forward_d(<const double *> x, <double *> o, size)
    else:
        with nogil:
            _KERNELS.relu_forward_f(<const float *> x, <float *> o, size)
    return out


def relu_backward_plain(dvalues, inputs, out):
    """For plain 2-D ``dvalues`` and ``inputs`` of one shape, ``out`` None or a free buffer
    of that shape: out := dvalues where inputs > 0 (or NaN), else 0; returns out (a new
    array if None). Anything else: None, and nothing was done."""
    cdef int t = _float_type(inputs)
    if (_KERNELS is NULL or t < 0 or not _plain(inputs, t, 2) or not _plain(dvalues, t, 2)
            or _dim(dvalues, 0) != _dim(inputs, 0) or _dim(dvalues, 1) != _dim(inputs, 1)
            or not _free_output(out, t, _dim(inputs, 0), _dim(inputs, 1),
                                (dvalues, inputs))):
        return None
    if out is None:
        out = _empty(_dim(inputs, 0), _dim(inputs, 1), t)
    _sized(dvalues, _dim(inputs, 0), _dim(inputs, 1))
    _sized(out, _dim(inputs, 0), _dim(inputs, 1))
    cdef Py_ssize_t size = _dim(inputs, 0) * _dim(inputs, 1)
    cdef void *dy = _ptr(dvalues)
    cdef void *x = _ptr(inputs)
    cdef void *o = _ptr(out)
    if t == cnp.NPY_DOUBLE:
        with nogil:
            _KERNELS.relu_backward_d(<const double *> dy, <const double *> x, <double *> o,
                                     size)
    else:
        with nogil:
            _KERNELS.relu_backward_f(<const float *> dy, <const float *> x, <float *> o, size)
    return out
