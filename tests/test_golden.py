"""Golden values from the seed notebook (one neuron, then a full layer), worked by hand.

Every expected number here comes from the notebook's arithmetic, not from fastbp.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import fastbp

DTYPES = [
    pytest.param(np.float64, 1e-12, id="float64"),
    pytest.param(np.float32, 1e-6, id="float32"),
]

# --- One neuron: x = [1, -2, 3], w = [-3, -1, 2], b = 1 -------------------------------------
X = [[1.0, -2.0, 3.0]]
W = [[-3.0], [-1.0], [2.0]]  # (n_inputs, n_neurons) = (3, 1)
B = [[1.0]]
DVALUES = [[1.0]]

Y = 6.0  # relu(1*-3 + -2*-1 + 3*2 + 1) = relu(6)
DINPUTS = [[-3.0, -1.0, 2.0]]  # d/dx = w
DWEIGHTS = [[1.0], [-2.0], [3.0]]  # d/dw = x
DBIASES = [[1.0]]
LR = 0.001
W_AFTER = [[-3.001], [-0.998], [1.997]]
B_AFTER = [[0.999]]
Y_AFTER = 5.985


def _arrays(dtype):
    return (np.array(X, dtype=dtype), np.array(W, dtype=dtype), np.array(B, dtype=dtype),
            np.array(DVALUES, dtype=dtype))


def _check_grads(dinputs, dweights, dbiases, dtype):
    for got, want, shape in ((dinputs, DINPUTS, (1, 3)), (dweights, DWEIGHTS, (3, 1)),
                             (dbiases, DBIASES, (1, 1))):
        assert got.dtype == dtype
        assert got.shape == shape
        # Products of small integers: exact in both dtypes.
        assert_array_equal(got, np.array(want))


def _check_step(w, b, dtype, rtol):
    assert_allclose(w, np.array(W_AFTER), rtol=rtol)
    assert_allclose(b, np.array(B_AFTER), rtol=rtol)
    assert w.dtype == dtype and b.dtype == dtype


@pytest.mark.parametrize("dtype, rtol", DTYPES)
def test_one_neuron_forward_functional(dtype, rtol):
    x, w, b, _ = _arrays(dtype)
    out = fastbp.dense_relu_forward(x, w, b)
    assert out.dtype == dtype and out.shape == (1, 1)
    assert_array_equal(out, [[Y]])
    z = fastbp.dense_forward(x, w, b)
    assert_array_equal(z, [[Y]])
    assert_array_equal(fastbp.relu_forward(z), [[Y]])
    # biases may also be given flat
    assert_array_equal(fastbp.dense_relu_forward(x, w, b.reshape(1)), [[Y]])


@pytest.mark.parametrize("dtype, rtol", DTYPES)
def test_one_neuron_relu_derivative_step(dtype, rtol):
    x, w, b, dvalues = _arrays(dtype)
    z = fastbp.dense_forward(x, w, b)
    # drelu_dsum = dvalue * (1 if z > 0 else 0) = 1, because z = 6 > 0
    drelu_dsum = fastbp.relu_backward(dvalues, z)
    assert_array_equal(drelu_dsum, [[1.0]])
    # and the same step with the sign of z flipped gives 0
    assert_array_equal(fastbp.relu_backward(dvalues, -z), [[0.0]])


@pytest.mark.parametrize("dtype, rtol", DTYPES)
def test_one_neuron_backward_and_step_functional(dtype, rtol):
    x, w, b, dvalues = _arrays(dtype)
    out = fastbp.dense_relu_forward(x, w, b)
    dinputs, dweights, dbiases = fastbp.dense_relu_backward(dvalues, x, w, out)
    _check_grads(dinputs, dweights, dbiases, dtype)

    # the unfused chain gives the same
    z = fastbp.dense_forward(x, w, b)
    _check_grads(*fastbp.dense_backward(fastbp.relu_backward(dvalues, z), x, w), dtype)

    w += -LR * dweights
    b += -LR * dbiases
    _check_step(w, b, dtype, rtol)
    out2 = fastbp.dense_relu_forward(x, w, b)
    assert_allclose(out2, [[Y_AFTER]], rtol=rtol)
    assert out2[0, 0] < Y  # the step decreased the output


@pytest.mark.parametrize("dtype, rtol", DTYPES)
@pytest.mark.parametrize("names", ["Dense/ReLU", "Layer_Dense/Activation_ReLU"])
def test_one_neuron_layers(dtype, rtol, names):
    dense_cls, relu_cls = ((fastbp.Dense, fastbp.ReLU) if names == "Dense/ReLU"
                           else (fastbp.Layer_Dense, fastbp.Activation_ReLU))
    dense = dense_cls(3, 1, dtype=dtype)
    relu = relu_cls()
    if names == "Dense/ReLU":
        dense.set_parameters(W, B)  # lists are converted to the layer's dtype
    else:  # the book's way: assign the attributes
        dense.weights = np.array(W, dtype=dtype)
        dense.biases = np.array(B, dtype=dtype)

    dense.forward(X)
    relu.forward(dense.output)
    assert relu.output.dtype == dtype
    assert_array_equal(dense.output, [[Y]])
    assert_array_equal(relu.output, [[Y]])

    relu.backward(DVALUES)
    assert_array_equal(relu.dinputs, [[1.0]])  # drelu_dsum
    dense.backward(relu.dinputs)
    _check_grads(dense.dinputs, dense.dweights, dense.dbiases, dtype)

    dense.weights += -LR * dense.dweights
    dense.biases += -LR * dense.dbiases
    _check_step(dense.weights, dense.biases, dtype, rtol)

    dense.forward(X)
    relu.forward(dense.output)
    assert_allclose(relu.output, [[Y_AFTER]], rtol=rtol)


@pytest.mark.parametrize("dtype, rtol", DTYPES)
def test_one_neuron_dense_relu_layer(dtype, rtol):
    layer = fastbp.DenseReLU(3, 1, dtype=dtype)
    layer.set_parameters(np.array(W, dtype=dtype), np.array(B, dtype=dtype))
    out = layer.forward(np.array(X, dtype=dtype))
    assert out is layer.output
    assert_array_equal(out, [[Y]])
    layer.backward(np.array(DVALUES, dtype=dtype))
    _check_grads(layer.dinputs, layer.dweights, layer.dbiases, dtype)

    layer.weights += -LR * layer.dweights
    layer.biases += -LR * layer.dbiases
    _check_step(layer.weights, layer.biases, dtype, rtol)
    assert_allclose(layer.forward(X), [[Y_AFTER]], rtol=rtol)


@pytest.mark.parametrize("dtype, rtol", DTYPES)
def test_one_neuron_dead_relu_blocks_gradient(dtype, rtol):
    # b = -7 makes z = -1 < 0: output 0 and every gradient 0 (drelu_dsum = 0).
    x, w, _, dvalues = _arrays(dtype)
    b = np.array([[-7.0]], dtype=dtype)
    out = fastbp.dense_relu_forward(x, w, b)
    assert_array_equal(out, [[0.0]])
    dinputs, dweights, dbiases = fastbp.dense_relu_backward(dvalues, x, w, out)
    assert_array_equal(dinputs, np.zeros((1, 3)))
    assert_array_equal(dweights, np.zeros((3, 1)))
    assert_array_equal(dbiases, np.zeros((1, 1)))


# --- Full layer: 3 neurons, 4 inputs --------------------------------------------------------
LAYER_WEIGHTS = [[0.2, 0.8, -0.5, 1], [0.5, -0.91, 0.26, -0.5], [-0.26, -0.27, 0.17, 0.87]]
LAYER_DVALUES = [[1.0, 1.0, 1.0]]
LAYER_DINPUTS = [[0.44, -0.38, -0.07, 1.37]]

LAYER_INPUTS = [
    pytest.param([[1.0, 2.0, 3.0, 2.5]], id="book-sample"),
    pytest.param([[0.0, 0.0, 0.0, 0.0]], id="zeros"),
    pytest.param([[-1.5, 0.25, 7.0, -3.0]], id="mixed"),
]


def _layer_tol(dtype):
    # -0.07 = 0.26 - 0.5 + 0.17 cancels: float32 needs a small absolute tolerance too.
    return dict(rtol=1e-12, atol=0) if dtype == np.float64 else dict(rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("inputs", LAYER_INPUTS)
def test_full_layer_dinputs_functional(dtype, inputs):
    weights = np.array(LAYER_WEIGHTS, dtype=dtype).T  # (4, 3), Fortran-ordered view
    assert weights.shape == (4, 3) and not weights.flags.c_contiguous
    x = np.array(inputs, dtype=dtype)
    dvalues = np.array(LAYER_DVALUES, dtype=dtype)
    dinputs, dweights, dbiases = fastbp.dense_backward(dvalues, x, weights)
    assert dinputs.shape == (1, 4) and dinputs.dtype == dtype
    assert_allclose(dinputs, LAYER_DINPUTS, **_layer_tol(dtype))
    # with dvalues all ones: dweights[i, j] = x[0, i], dbiases = [[1, 1, 1]]
    assert_array_equal(dweights, np.repeat(np.array(inputs).T, 3, axis=1))
    assert_array_equal(dbiases, [[1.0, 1.0, 1.0]])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("inputs", LAYER_INPUTS)
def test_full_layer_dinputs_dense_layer(dtype, inputs):
    layer = fastbp.Layer_Dense(4, 3, dtype=dtype)
    layer.weights = np.array(LAYER_WEIGHTS, dtype=dtype).T  # the book assigns the attribute
    layer.forward(inputs)
    layer.backward(LAYER_DVALUES)
    assert layer.dinputs.shape == (1, 4) and layer.dinputs.dtype == dtype
    assert_allclose(layer.dinputs, LAYER_DINPUTS, **_layer_tol(dtype))
    assert_array_equal(layer.dweights, np.repeat(np.array(inputs).T, 3, axis=1))
    assert_array_equal(layer.dbiases, [[1.0, 1.0, 1.0]])


def test_full_layer_weight_rows():
    # The notebook prints weights[i]: the 3 weights of input i, one per neuron.
    weights = np.array(LAYER_WEIGHTS).T
    layer = fastbp.Dense(4, 3)
    layer.weights = weights
    # One-hot inputs pick out row i of the weights (biases are zeros).
    out = layer.forward(np.eye(4))
    assert_array_equal(out, [[0.2, 0.5, -0.26], [0.8, -0.91, -0.27], [-0.5, 0.26, 0.17],
                             [1.0, -0.5, 0.87]])
