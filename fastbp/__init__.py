"""fastbp: fast dense-layer backpropagation, with the API of *Neural Networks from Scratch*.

Functional API (float32/float64 arrays, optional ``out=`` buffers)::

    dense_forward, dense_relu_forward, relu_forward,
    dense_backward, dense_relu_backward, relu_backward

Layers, with the book's attributes (``weights``, ``biases``, ``output``, ``dinputs``,
``dweights``, ``dbiases``)::

    Dense (alias Layer_Dense), ReLU (alias Activation_ReLU), DenseReLU

``fastbp.reference`` holds the same computations in plain numpy, the book's way.
"""

from .functional import (
    dense_backward,
    dense_forward,
    dense_relu_backward,
    dense_relu_forward,
    relu_backward,
    relu_forward,
)
from .layers import Activation_ReLU, Dense, DenseReLU, Layer_Dense, ReLU

__version__ = "0.1.0"

__all__ = [
    "dense_forward",
    "dense_relu_forward",
    "relu_forward",
    "dense_backward",
    "dense_relu_backward",
    "relu_backward",
    "Dense",
    "DenseReLU",
    "ReLU",
    "Layer_Dense",
    "Activation_ReLU",
]
