"""Checks that stand between user input and the compiled kernels.

The kernels in ``_kernels.pyx`` are compiled without bounds checks and trust every shape
they are given. Everything they rely on is established here, in Python, before any of them
runs: each error is a ``TypeError`` (wrong kind or dtype) or ``ValueError`` (wrong shape,
layout or aliasing) whose message names the argument and shows what was expected and got.
"""

import numpy as np

from . import _dispatch, _fastcheck, _train_step
from ._constants import CONSTANTS
from ._overlap import may_overlap, overlaps_any

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_FLOAT64 = np.dtype(np.float64)

# BLAS indexes with 32-bit ints.
BLAS_MAX_DIM = CONSTANTS["BLAS_MAX_DIM"]

# The kernels' specializations, looked up once: calling ``fused_def[type]`` skips Cython's
# per-call dtype dispatch, which on tiny arrays costs more than the kernel.
_KERNEL_NAMES = (
    "dense_forward",
    "relu_forward",
    "relu_backward",
    "dense_backward",
    "dense_relu_backward",
    "regularization_grad",
)


# The kernel build that runs (fastbp/_dispatch.py) and the baseline one (tests compare them).
kernels_module = _dispatch.kernels_module
KERNEL_VARIANT = _dispatch.KERNEL_VARIANT
_baseline_kernels = _dispatch.build("baseline")
# The modules compiled once call the chosen build's kernels: the functional API's fast path
# (fastbp/_fastcheck.pyx) and the training step (fastbp/_train_step.pyx).
_fastcheck.use_kernels(kernels_module._kernel_table())
_train_step.use_kernels(kernels_module._kernel_table())


class _KernelSet:
    """A module's fused entry points, specialized for one dtype (attribute access)."""

    def __init__(self, module, ctype, names):
        for name in names:
            setattr(self, name, getattr(module, name)[ctype])


def kernel_sets(module, names=_KERNEL_NAMES):
    """Per-dtype specializations of a compiled module's fused entry points."""
    return {
        np.dtype(np.float32): _KernelSet(module, "float", names),
        np.dtype(np.float64): _KernelSet(module, "double", names),
    }


KERNELS = kernel_sets(kernels_module)


def asarray_named(value, name, expected="array-like"):
    """``np.asarray(value)``; None, masked arrays and ragged lists reported by ``name``."""
    if value is None:
        raise TypeError(f"{name} must be {expected}, got None")
    if isinstance(value, np.ma.MaskedArray):
        # The kernels would read the data under the mask: refuse rather than ignore it.
        raise TypeError(f"{name} is a masked array; pass np.ma.filled({name}, value)")
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} could not be converted to an array: {exc}") from None


# Kinds np.asarray may convert to a float dtype without losing information silently:
# bool, signed and unsigned integers, floats. Complex would drop its imaginary part.
CONVERTIBLE_KINDS = "biuf"


def as_layer_array(value, name, dtype):
    """``value`` as a C-contiguous array of ``dtype`` (None: keep float32/64, else float64)."""
    if (type(value) is np.ndarray and value.dtype is dtype  # the steady-loop case, cheaply
            and value.flags.c_contiguous):
        return value
    arr = asarray_named(value, name)
    if arr.dtype.kind not in CONVERTIBLE_KINDS:
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if any(d > BLAS_MAX_DIM for d in arr.shape):
        # Checked before the copy below, which could be of a huge zero-stride view.
        raise ValueError(
            f"{name} has shape {arr.shape}: each dimension must be at most {BLAS_MAX_DIM} "
            "(BLAS indexes with 32-bit integers)"
        )
    if dtype is None:
        dtype = arr.dtype if arr.dtype in FLOAT_DTYPES else _FLOAT64
    return np.asarray(arr, dtype=dtype, order="C")  # (ascontiguousarray would make 0-d 1-D)


def layer_dtype(layer):
    """The dtype a trainable layer computes in: its ``dtype`` (fastbp's layers), else that of
    its weights where they are float32/float64 (a layer written the book's way), else None."""
    dtype = getattr(layer, "dtype", None)
    if dtype is None:
        dtype = getattr(layer.weights, "dtype", None)
    return dtype if dtype in FLOAT_DTYPES else None


def runs_own_methods(obj, stock):
    """Whether ``obj`` runs the methods ``stock`` ({name: function}) as its module defined
    them: not replaced on the instance or on its class. A compiled step stands for exactly
    those methods (docs/design.md, "Protocol")."""
    return not any(name in vars(obj) for name in stock) and all(
        getattr(type(obj), name) is method for name, method in stock.items())


def check_parameter_shapes(weights, biases):
    if weights.ndim != 2:
        raise ValueError(f"weights must be 2-D (n_inputs, n_neurons), got shape {weights.shape}")
    if biases.shape != (1, weights.shape[1]):
        raise ValueError(
            f"biases must have shape (1, {weights.shape[1]}) to match weights "
            f"{weights.shape}, got {biases.shape}"
        )


def as_float_array(value, name):
    """``value`` as an ndarray of float32 or float64, or a TypeError/ValueError naming it.

    Lists are converted (and must then come out as floats); nothing is cast.
    """
    arr = value
    if type(value) is not np.ndarray:
        arr = asarray_named(value, name, "an array of float32 or float64")
    if arr.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{name} must have dtype float32 or float64, got {arr.dtype}; "
            f"convert it with np.asarray({name}, dtype=np.float64) (or float32)"
        )
    return arr


def as_2d(arr):
    """The elementwise kernels take 2-D arrays; any C-contiguous array is one row of them."""
    return arr if arr.ndim == 2 else arr.reshape(1, -1)


def check_ndim(arr, name, ndim, what):
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D {what}, got shape {arr.shape}")


def common_dtype(**arrays):
    """The one float dtype shared by all ``arrays``; mixing float32 and float64 is an error."""
    dtypes = {name: arr.dtype for name, arr in arrays.items()}
    first = next(iter(dtypes.values()))
    if any(dt != first for dt in dtypes.values()):
        listed = ", ".join(f"{name} {dt}" for name, dt in dtypes.items())
        raise TypeError(
            f"all arrays must share one dtype (float32 or float64), got {listed}; "
            "fastbp never casts silently: convert them to one dtype first"
        )
    return first


def check_blas_dims(**shapes):
    for name, shape in shapes.items():
        if any(d > BLAS_MAX_DIM for d in shape):
            raise ValueError(
                f"{name} has shape {shape}: each dimension must be at most {BLAS_MAX_DIM} "
                "(BLAS indexes with 32-bit integers)"
            )


def as_biases(biases, n_neurons, name="biases"):
    """Biases of shape (1, n_neurons) or (n_neurons,) as a C-contiguous (1, n_neurons)."""
    if biases.shape not in ((1, n_neurons), (n_neurons,)):
        raise ValueError(
            f"{name} must have shape (1, {n_neurons}) or ({n_neurons},) to match "
            f"n_neurons = {n_neurons}, got {biases.shape}"
        )
    return np.ascontiguousarray(biases).reshape(1, n_neurons)


def overlaps(a, b):
    """Whether arrays ``a`` and ``b`` share memory (exactly, or True when too hard to tell)."""
    if not may_overlap(a, b):
        return False
    try:
        return np.shares_memory(a, b, max_work=100_000)
    except np.exceptions.TooHardError:
        return True


def check_out(out, name, shape, dtype, inputs, *, flat_ok=False):
    """Allocate an output, or check a caller's ``out=`` buffer.

    A buffer must be an ndarray of exactly ``dtype`` and ``shape`` (for ``flat_ok``, also
    the flattened shape), C-contiguous, writeable, and share no memory with any of
    ``inputs`` (a dict name -> array).
    """
    if out is None:
        return np.empty(shape, dtype=dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray or None, got {type(out).__name__}")
    if isinstance(out, np.ma.MaskedArray):
        raise TypeError(f"{name} is a masked array: its mask would hide what was written")
    if out.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype} to match the inputs, got {out.dtype}")
    shapes = (shape, (int(np.prod(shape)),)) if flat_ok else (shape,)
    if out.shape not in shapes:
        expected = " or ".join(str(s) for s in shapes)
        raise ValueError(f"{name} must have shape {expected}, got {out.shape}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (use np.empty({shape}, dtype=...))")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only; pass a writeable array")
    # One C call for the common case (no overlap at all); names only when one is found.
    if overlaps_any(out, tuple(inputs.values())):
        for other_name, other in inputs.items():
            if other is not None and overlaps(out, other):
                raise ValueError(
                    f"{name} shares memory with {other_name}; outputs may not overlap any "
                    "input or other output"
                )
    return out
