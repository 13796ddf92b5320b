# Part of fastbp/_kernels.pyx, which includes it after its cimports.
# The Python entry points of the kernels (memoryviews in, GIL released, one kernel, no checks),
# the capsule of pointer kernels for the modules built once, and the setter of the special
# paths for fastbp._testing.kernel_paths.

# --- Python entry points: memoryviews in, GIL released, one kernel. No checks here. ---------
# All arrays are 2-D and C-contiguous; biases and dbiases are (1, n_neurons).

def dense_forward(const floating[:, ::1] inputs, const floating[:, ::1] weights,
                  const floating[:, ::1] biases, floating[:, ::1] out, bint relu):
    """out := inputs·weights + biases, then max(out, 0) if relu."""
    with nogil:
        dense_forward_kernel(inputs, weights, biases, out, relu)


def relu_forward(const floating[:, ::1] inputs, floating[:, ::1] out):
    """out := max(inputs, 0)."""
    with nogil:
        relu_forward_kernel(inputs, out)


def relu_backward(const floating[:, ::1] dvalues, const floating[:, ::1] inputs,
                  floating[:, ::1] dinputs):
    """dinputs := dvalues where inputs > 0, else 0."""
    with nogil:
        relu_backward_kernel(dvalues, inputs, dinputs)


def dense_backward(const floating[:, ::1] dvalues, const floating[:, ::1] inputs,
                   const floating[:, ::1] weights, floating[:, ::1] dinputs,
                   floating[:, ::1] dweights, floating[:, ::1] dbiases):
    """dbiases := Σ dvalues; dweights := inputsᵀ·dvalues; dinputs := dvalues·weightsᵀ."""
    with nogil:
        if _thin_backward_path(dvalues.shape[0], inputs.shape[1], dvalues.shape[1],
                               floating is double):
            thin_backward_kernel(dvalues, inputs, weights, dvalues, False, dinputs, dweights,
                                 dbiases, True)
        else:
            column_sums_kernel(dvalues, dbiases)
            backward_products_kernel(dvalues, inputs, weights, dinputs, dweights)


def dense_relu_backward(const floating[:, ::1] dvalues, const floating[:, ::1] inputs,
                        const floating[:, ::1] weights, const floating[:, ::1] output,
                        floating[:, ::1] dz, floating[:, ::1] dinputs,
                        floating[:, ::1] dweights, floating[:, ::1] dbiases):
    """dz := dvalues masked by output > 0, dbiases := Σ dz (one pass); then the products.
    dz is scratch: with 1-3 inputs one blocked pass does it all and leaves dz as it was
    (thin_backward_kernel)."""
    with nogil:
        if _thin_backward_path(dvalues.shape[0], inputs.shape[1], dvalues.shape[1],
                               floating is double):
            thin_backward_kernel(dvalues, inputs, weights, output, True, dinputs, dweights,
                                 dbiases, True)
        else:
            relu_mask_column_sums_kernel(dvalues, output, dz, dbiases)
            backward_products_kernel(dz, inputs, weights, dinputs, dweights)


def regularization_grad(const floating[:, ::1] param, floating[:, ::1] grad,
                        double l1, double l2):
    """grad += l1·sign(param) + 2·l2·param."""
    with nogil:
        regularization_grad_kernel(param, grad, <floating> l1, <floating> l2)


cdef bint _thin_backward_path_any(Py_ssize_t n_samples, Py_ssize_t n_inputs,
                                  Py_ssize_t n_neurons, bint f64) noexcept nogil:
    return _thin_backward_path(n_samples, n_inputs, n_neurons, f64)


cdef bint _thin_dinputs_path_any(Py_ssize_t n_samples, Py_ssize_t n_inputs,
                                 Py_ssize_t n_neurons) noexcept nogil:
    return _thin_dinputs_path(n_samples, n_inputs, n_neurons)


cdef KernelTable _TABLE
_TABLE.dense_forward_d = dense_forward_ptr[double]
_TABLE.dense_forward_f = dense_forward_ptr[float]
_TABLE.relu_forward_d = relu_forward_ptr[double]
_TABLE.relu_forward_f = relu_forward_ptr[float]
_TABLE.relu_backward_d = relu_backward_ptr[double]
_TABLE.relu_backward_f = relu_backward_ptr[float]
_TABLE.dense_backward_d = dense_backward_ptr[double]
_TABLE.dense_backward_f = dense_backward_ptr[float]
_TABLE.dinputs_into_relu_d = dinputs_into_relu_ptr[double]
_TABLE.dinputs_into_relu_f = dinputs_into_relu_ptr[float]
_TABLE.regularization_grad_d = regularization_grad_ptr[double]
_TABLE.regularization_grad_f = regularization_grad_ptr[float]
_TABLE.thin_backward_path = _thin_backward_path_any
_TABLE.thin_dinputs_path = _thin_dinputs_path_any


def _kernel_table():
    """This build's KernelTable (see _kernel_table.pxd) in a capsule, for the modules built
    once that call it: the functional API's checked fast path (fastbp/_fastcheck.pyx) and
    the training step (fastbp/_train_step.pyx)."""
    return PyCapsule_New(<void *> &_TABLE, KERNEL_TABLE_NAME, NULL)


cdef extern from *:
    """
    #ifndef FASTBP_CYTHON_VERSION
    #define FASTBP_CYTHON_VERSION "unknown"
    #endif
    #if defined(__clang__)
    #define FASTBP_COMPILER "Clang " __clang_version__
    #elif defined(__GNUC__)
    #define FASTBP_COMPILER "GCC " __VERSION__
    #elif defined(_MSC_VER)
    #define FASTBP_COMPILER "MSVC"
    #else
    #define FASTBP_COMPILER "unknown compiler"
    #endif
    """
    const char *FASTBP_CYTHON_VERSION
    const char *FASTBP_COMPILER

# How this build was made (fastbp.show_config).
BUILD_INFO = {"cython": FASTBP_CYTHON_VERSION.decode(), "compiler": FASTBP_COMPILER.decode(),
              "checked": bool(FASTBP_CHECKED_BUILD), "thin kernels": bool(FASTBP_THIN_KERNELS)}

# The special paths by name, and those this build has (see _kernel_paths.pxi); read by
# fastbp._testing.kernel_paths, the one switch for tests and benchmarks.
PATH_BITS = {"thin_inputs": PATH_THIN_INPUTS, "thin_outputs": PATH_THIN_OUTPUTS,
             "thin_backward": PATH_THIN_BACKWARD}
PATHS_BUILT = PATHS_ALL if FASTBP_THIN_KERNELS else 0


def _get_paths():
    """The mask of the special paths taken now (fastbp._testing.active_paths)."""
    return PATHS


def _set_paths(int paths):
    """Take only the special paths in the mask ``paths`` (of PATH_BITS; those the build
    lacks stay off) and return the previous mask. For fastbp._testing.kernel_paths only:
    it is process-wide and not synchronized with running kernels."""
    global PATHS
    old = PATHS
    PATHS = paths & PATHS_BUILT
    return old
