"""Plain-numpy reference, written the book's way (Neural Networks from Scratch, ch. 9-14).

Nothing here is optimized: this is the code a reader of the book has, kept as the book has
it. The tests compare fastbp against it and the benchmarks race it. Same constructor
arguments as ``fastbp.layers`` (``dtype``, ``rng``), so that both start from identical
weights for one seed.
"""

import numpy as np

__all__ = [
    "Layer_Dense",
    "Activation_ReLU",
    "Dense",
    "ReLU",
    "DenseReLU",
    "dense_forward",
    "relu_forward",
    "relu_backward",
    "dense_backward",
    "dense_relu_forward",
    "dense_relu_backward",
]


class Layer_Dense:
    def __init__(self, n_inputs, n_neurons, weight_regularizer_l1=0, weight_regularizer_l2=0,
                 bias_regularizer_l1=0, bias_regularizer_l2=0, *, dtype=np.float64, rng=None):
        rng = np.random.default_rng(rng)
        self.weights = (0.01 * rng.standard_normal((n_inputs, n_neurons))).astype(dtype)
        self.biases = np.zeros((1, n_neurons), dtype=dtype)
        self.weight_regularizer_l1 = weight_regularizer_l1
        self.weight_regularizer_l2 = weight_regularizer_l2
        self.bias_regularizer_l1 = bias_regularizer_l1
        self.bias_regularizer_l2 = bias_regularizer_l2

    def forward(self, inputs, training=False):
        self.inputs = inputs
        self.output = np.dot(inputs, self.weights) + self.biases
        return self.output

    def backward(self, dvalues):
        self.dweights = np.dot(self.inputs.T, dvalues)
        self.dbiases = np.sum(dvalues, axis=0, keepdims=True)

        if self.weight_regularizer_l1 > 0:
            dL1 = np.ones_like(self.weights)
            dL1[self.weights < 0] = -1
            self.dweights += self.weight_regularizer_l1 * dL1
        if self.weight_regularizer_l2 > 0:
            self.dweights += 2 * self.weight_regularizer_l2 * self.weights
        if self.bias_regularizer_l1 > 0:
            dL1 = np.ones_like(self.biases)
            dL1[self.biases < 0] = -1
            self.dbiases += self.bias_regularizer_l1 * dL1
        if self.bias_regularizer_l2 > 0:
            self.dbiases += 2 * self.bias_regularizer_l2 * self.biases

        self.dinputs = np.dot(dvalues, self.weights.T)


class Activation_ReLU:
    def forward(self, inputs, training=False):
        self.inputs = inputs
        self.output = np.maximum(0, inputs)
        return self.output

    def backward(self, dvalues):
        self.dinputs = dvalues.copy()
        self.dinputs[self.inputs <= 0] = 0


Dense = Layer_Dense
ReLU = Activation_ReLU


class DenseReLU:
    """The book's Layer_Dense followed by Activation_ReLU, with DenseReLU's attributes."""

    def __init__(self, *args, **kwargs):
        self.dense = Layer_Dense(*args, **kwargs)
        self.relu = Activation_ReLU()

    def __getattr__(self, name):
        # weights, biases, inputs, dweights, dbiases come from the dense layer.
        if name == "dense":
            raise AttributeError(name)
        return getattr(self.dense, name)

    def forward(self, inputs, training=False):
        self.dense.forward(inputs, training)
        self.output = self.relu.forward(self.dense.output, training)
        return self.output

    def backward(self, dvalues):
        self.relu.backward(dvalues)
        self.dense.backward(self.relu.dinputs)
        self.dinputs = self.dense.dinputs


# The same computations as functions, for tests that check fastbp.functional.

def dense_forward(inputs, weights, biases):
    return np.dot(inputs, weights) + biases


def relu_forward(inputs):
    return np.maximum(0, inputs)


def relu_backward(dvalues, inputs):
    dinputs = dvalues.copy()
    dinputs[inputs <= 0] = 0
    return dinputs


def dense_backward(dvalues, inputs, weights):
    dinputs = np.dot(dvalues, weights.T)
    dweights = np.dot(inputs.T, dvalues)
    dbiases = np.sum(dvalues, axis=0, keepdims=True)
    return dinputs, dweights, dbiases


def dense_relu_forward(inputs, weights, biases):
    return relu_forward(dense_forward(inputs, weights, biases))


def dense_relu_backward(dvalues, inputs, weights, biases):
    """Gradients through ReLU then Dense; recomputes the pre-activation from the inputs."""
    z = dense_forward(inputs, weights, biases)
    return dense_backward(relu_backward(dvalues, z), inputs, weights)
