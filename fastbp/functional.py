"""The functional API: check, allocate, dispatch by dtype, call one compiled kernel.

Each function takes float32 or float64 arrays (all of one dtype; lists are converted but
never cast), returns the arrays it wrote, and never modifies its inputs. Outputs are new
arrays unless a buffer is passed with ``out=`` (or ``dinputs=``, ``dweights=``,
``dbiases=``): such a buffer must have exactly the output's shape and dtype, be
C-contiguous and writeable, and share no memory with any input or other output.

Shapes: ``inputs`` (n_samples, n_inputs), ``weights`` (n_inputs, n_neurons), ``biases``
(1, n_neurons) or (n_neurons,), ``dvalues`` and ``output`` (n_samples, n_neurons).
Gradients come back as ``dinputs`` (n_samples, n_inputs), ``dweights`` (n_inputs,
n_neurons) and ``dbiases`` (1, n_neurons).
"""

import numpy as np

from ._fastcheck import (
    dense_backward_plain,
    dense_forward_plain,
    relu_backward_plain,
    relu_forward_plain,
)
from ._validation import (
    KERNELS,
    as_2d,
    as_biases,
    as_float_array,
    check_blas_dims,
    check_ndim,
    check_out,
    common_dtype,
)

__all__ = [
    "dense_forward",
    "relu_forward",
    "relu_backward",
    "dense_backward",
    "dense_relu_forward",
    "dense_relu_backward",
]


def _check_dense_operands(inputs, weights):
    """Shapes of a layer's inputs and weights; returns (n_samples, n_inputs, n_neurons)."""
    check_ndim(inputs, "inputs", 2, "(n_samples, n_inputs)")
    check_ndim(weights, "weights", 2, "(n_inputs, n_neurons)")
    n_samples, n_inputs = inputs.shape
    if weights.shape[0] != n_inputs:
        raise ValueError(
            f"weights must have shape ({n_inputs}, n_neurons) to match inputs of shape "
            f"{inputs.shape}, got {weights.shape}"
        )
    check_blas_dims(inputs=inputs.shape, weights=weights.shape)
    return n_samples, n_inputs, weights.shape[1]


def _forward(inputs, weights, biases, out, relu):
    # Plain arrays, which every check below would pass, are run from fastbp/_fastcheck.pyx.
    result = dense_forward_plain(inputs, weights, biases, out, relu)
    if result is not None:
        return result
    inputs = as_float_array(inputs, "inputs")
    weights = as_float_array(weights, "weights")
    biases = as_float_array(biases, "biases")
    dtype = common_dtype(inputs=inputs, weights=weights, biases=biases)
    n_samples, _, n_neurons = _check_dense_operands(inputs, weights)
    flat_biases = as_biases(biases, n_neurons)
    out = check_out(
        out, "out", (n_samples, n_neurons), dtype,
        {"inputs": inputs, "weights": weights, "biases": biases},
    )
    KERNELS[dtype].dense_forward(
        np.ascontiguousarray(inputs), np.ascontiguousarray(weights), flat_biases, out, relu
    )
    return out


def dense_forward(inputs, weights, biases, *, out=None):
    """Dense layer forward pass: ``out = inputs @ weights + biases``.

    Returns ``out`` of shape (n_samples, n_neurons).
    """
    return _forward(inputs, weights, biases, out, False)


def dense_relu_forward(inputs, weights, biases, *, out=None):
    """Fused dense + ReLU forward pass: ``out = max(inputs @ weights + biases, 0)``.

    Bias and ReLU are applied in the pass that finishes the product; no temporary array.
    Pass the result as ``output`` to :func:`dense_relu_backward`.
    """
    return _forward(inputs, weights, biases, out, True)


def relu_forward(inputs, *, out=None):
    """ReLU forward pass: ``out = max(inputs, 0)``, elementwise, for any shape.

    NaN stays NaN, as with ``np.maximum(0, inputs)``.
    """
    result = relu_forward_plain(inputs, out)
    if result is not None:
        return result
    inputs = as_float_array(inputs, "inputs")
    out = check_out(out, "out", inputs.shape, inputs.dtype, {"inputs": inputs})
    KERNELS[inputs.dtype].relu_forward(as_2d(np.ascontiguousarray(inputs)), as_2d(out))
    return out


def relu_backward(dvalues, inputs, *, out=None):
    """ReLU backward pass: ``out = dvalues`` where ``inputs > 0``, else 0 (the book's mask).

    ``inputs`` is what the forward pass received. Where ``inputs`` is NaN the gradient
    passes, as with the book's ``dinputs[inputs <= 0] = 0``.
    """
    result = relu_backward_plain(dvalues, inputs, out)
    if result is not None:
        return result
    dvalues = as_float_array(dvalues, "dvalues")
    inputs = as_float_array(inputs, "inputs")
    dtype = common_dtype(dvalues=dvalues, inputs=inputs)
    if dvalues.shape != inputs.shape:
        raise ValueError(
            f"dvalues must have the shape of inputs {inputs.shape}, got {dvalues.shape}"
        )
    out = check_out(out, "out", inputs.shape, dtype, {"dvalues": dvalues, "inputs": inputs})
    KERNELS[dtype].relu_backward(
        as_2d(np.ascontiguousarray(dvalues)), as_2d(np.ascontiguousarray(inputs)), as_2d(out)
    )
    return out


def _backward(dvalues, inputs, weights, output, dinputs, dweights, dbiases):
    """Dense backward; with ``output`` given, through the ReLU first (fused kernel)."""
    dvalues = as_float_array(dvalues, "dvalues")
    inputs = as_float_array(inputs, "inputs")
    weights = as_float_array(weights, "weights")
    arrays = {"dvalues": dvalues, "inputs": inputs, "weights": weights}
    if output is not None:
        output = as_float_array(output, "output")
        arrays["output"] = output
    dtype = common_dtype(**arrays)
    n_samples, n_inputs, n_neurons = _check_dense_operands(inputs, weights)
    for name in ("dvalues", "output"):
        if name in arrays and arrays[name].shape != (n_samples, n_neurons):
            raise ValueError(
                f"{name} must have shape (n_samples, n_neurons) = {(n_samples, n_neurons)} "
                f"for inputs {inputs.shape} and weights {weights.shape}, "
                f"got {arrays[name].shape}"
            )
    dinputs = check_out(dinputs, "dinputs", (n_samples, n_inputs), dtype, arrays)
    arrays["dinputs"] = dinputs
    dweights = check_out(dweights, "dweights", (n_inputs, n_neurons), dtype, arrays)
    arrays["dweights"] = dweights
    dbiases = check_out(dbiases, "dbiases", (1, n_neurons), dtype, arrays, flat_ok=True)

    kernels = KERNELS[dtype]
    dvalues_c = np.ascontiguousarray(dvalues)
    inputs_c = np.ascontiguousarray(inputs)
    weights_c = np.ascontiguousarray(weights)
    if output is None:
        kernels.dense_backward(
            dvalues_c, inputs_c, weights_c, dinputs, dweights, dbiases.reshape(1, n_neurons)
        )
    else:
        dz = np.empty((n_samples, n_neurons), dtype=dtype)
        kernels.dense_relu_backward(
            dvalues_c, inputs_c, weights_c, np.ascontiguousarray(output), dz,
            dinputs, dweights, dbiases.reshape(1, n_neurons),
        )
    return dinputs, dweights, dbiases


def dense_backward(dvalues, inputs, weights, *, dinputs=None, dweights=None, dbiases=None):
    """Dense layer backward pass.

    ``dinputs = dvalues @ weights.T``, ``dweights = inputs.T @ dvalues``,
    ``dbiases = dvalues.sum(axis=0, keepdims=True)``. Returns ``(dinputs, dweights,
    dbiases)``; a ``dbiases`` buffer may be (1, n_neurons) or (n_neurons,).
    """
    # Plain arrays, with fresh outputs or free buffers, are run from fastbp/_fastcheck.pyx.
    result = dense_backward_plain(dvalues, inputs, weights, None, dinputs, dweights, dbiases)
    if result is not None:
        return result
    return _backward(dvalues, inputs, weights, None, dinputs, dweights, dbiases)


def dense_relu_backward(dvalues, inputs, weights, output, *, dinputs=None, dweights=None,
                        dbiases=None):
    """Fused dense + ReLU backward pass.

    ``dvalues`` is the gradient of the ReLU's output and ``output`` what
    :func:`dense_relu_forward` returned. The ReLU mask and the bias gradient are done in one
    pass, then both products. Returns ``(dinputs, dweights, dbiases)``.
    """
    if output is not None:
        result = dense_backward_plain(dvalues, inputs, weights, output, dinputs, dweights,
                                      dbiases)
        if result is not None:
            return result
    # None here would silently mean "no ReLU" inside _backward: refuse it first.
    output = as_float_array(output, "output")
    return _backward(dvalues, inputs, weights, output, dinputs, dweights, dbiases)
