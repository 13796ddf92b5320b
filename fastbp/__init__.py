"""fastbp: fast dense-layer backpropagation, with the API of *Neural Networks from Scratch*.

Functional API (float32/float64 arrays, optional ``out=`` buffers)::

    dense_forward, dense_relu_forward, relu_forward,
    dense_backward, dense_relu_backward, relu_backward

Layers, with the book's attributes (``weights``, ``biases``, ``output``, ``dinputs``,
``dweights``, ``dbiases``)::

    Dense (alias Layer_Dense), ReLU (alias Activation_ReLU), DenseReLU

Training (chapters 10-22): ``SoftmaxCrossEntropy`` (and ``Softmax``,
``CategoricalCrossentropy``), the optimizers ``SGD``, ``Adagrad``, ``RMSprop``, ``Adam``, and
``Model``; ``fastbp.datasets.spiral_data``; ``python -m fastbp.train`` for the chapter-10 demo.

``fastbp.reference`` holds the same computations in plain numpy, the book's way.
``show_config()`` prints what fastbp runs on: the kernel build and why, the CPU, the BLAS.
"""

from ._config import show_config
from .functional import (
    dense_backward,
    dense_forward,
    dense_relu_backward,
    dense_relu_forward,
    relu_backward,
    relu_forward,
)
from .layers import Activation_ReLU, Dense, DenseReLU, Layer_Dense, ReLU
from .losses import (
    Activation_Softmax,
    Activation_Softmax_Loss_CategoricalCrossentropy,
    CategoricalCrossentropy,
    Loss_CategoricalCrossentropy,
    Softmax,
    SoftmaxCrossEntropy,
)
from .model import Model
from .optimizers import (
    SGD,
    Adagrad,
    Adam,
    Optimizer_Adagrad,
    Optimizer_Adam,
    Optimizer_RMSprop,
    Optimizer_SGD,
    RMSprop,
)

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
    "Softmax",
    "CategoricalCrossentropy",
    "SoftmaxCrossEntropy",
    "Activation_Softmax",
    "Loss_CategoricalCrossentropy",
    "Activation_Softmax_Loss_CategoricalCrossentropy",
    "SGD",
    "Adagrad",
    "RMSprop",
    "Adam",
    "Optimizer_SGD",
    "Optimizer_Adagrad",
    "Optimizer_RMSprop",
    "Optimizer_Adam",
    "Model",
    "show_config",
]
