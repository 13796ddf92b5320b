"""Optimizers with the book's API and formulas, each update one compiled in-place pass.

``pre_update_params()`` sets ``current_learning_rate = learning_rate / (1 + decay·iterations)``
(when ``decay`` is set), ``update_params(layer)`` updates the layer's ``weights`` and
``biases`` in place from its ``dweights`` and ``dbiases``, ``post_update_params()`` counts
the iteration. As in the book, the optimizer's state lives on the layer
(``weight_momentums``, ``weight_cache``, ``bias_momentums``, ``bias_cache``).
"""

import numpy as np

from . import _optimizers
from ._validation import kernel_sets

_KERNELS = kernel_sets(_optimizers, ("sgd", "sgd_momentum", "adagrad", "rmsprop", "adam"))

__all__ = ["SGD", "Adagrad", "RMSprop", "Adam",
           "Optimizer_SGD", "Optimizer_Adagrad", "Optimizer_RMSprop", "Optimizer_Adam"]


def _check_hyperparameter(value, name, *, low=0.0, high=None, low_open=False):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}") from None
    bad = not (value > low if low_open else value >= low) or (high is not None and value >= high)
    if bad or value != value:
        bound = f"> {low}" if low_open else f">= {low}"
        if high is not None:
            bound += f" and < {high}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


class _Optimizer:
    def __init__(self, learning_rate, decay):
        self.learning_rate = _check_hyperparameter(learning_rate, "learning_rate",
                                                   low_open=True)
        self.decay = _check_hyperparameter(decay, "decay")
        self.current_learning_rate = self.learning_rate
        self.iterations = 0

    def pre_update_params(self):
        if self.decay:
            self.current_learning_rate = self.learning_rate * (
                1. / (1. + self.decay * self.iterations))

    def post_update_params(self):
        self.iterations += 1

    def update_params(self, layer):
        weights, biases = layer._parameters()  # checked and C-contiguous in the layer dtype
        pairs = []
        # Both gradients are checked before either parameter changes.
        for params, grads, name in ((weights, layer.dweights, "dweights"),
                                    (biases, layer.dbiases, "dbiases")):
            if grads is None:
                raise RuntimeError(f"{type(layer).__name__}.{name} is None: call backward first")
            if not isinstance(grads, np.ndarray) or grads.shape != params.shape:
                raise ValueError(
                    f"{name} must be an array of the parameters' shape {params.shape}, got "
                    f"{getattr(grads, 'shape', type(grads).__name__)}"
                )
            if grads.dtype.kind not in "biuf":
                raise TypeError(f"{name} must hold real numbers, got dtype {grads.dtype}")
            # Any layout or real dtype is accepted, as the book's numpy code accepts it.
            pairs.append((params, np.ascontiguousarray(grads, dtype=params.dtype),
                          "weight" if name == "dweights" else "bias"))
        for params, grads, prefix in pairs:
            self._update(layer, params, grads, prefix)

    @staticmethod
    def _state(layer, name, params):
        """The state array ``name`` on the layer, created as zeros on first use."""
        state = getattr(layer, name, None)
        if (type(state) is not np.ndarray or state.shape != params.shape
                or state.dtype != params.dtype or not state.flags.c_contiguous
                or not state.flags.writeable):
            state = np.zeros_like(params)
            setattr(layer, name, state)
        return state


class SGD(_Optimizer):
    """Stochastic gradient descent, with optional momentum."""

    def __init__(self, learning_rate=1., decay=0., momentum=0.):
        super().__init__(learning_rate, decay)
        self.momentum = _check_hyperparameter(momentum, "momentum")

    def _update(self, layer, params, grads, prefix):
        if self.momentum:
            momentums = self._state(layer, prefix + "_momentums", params)
            _KERNELS[params.dtype].sgd_momentum(params, grads, momentums, self.current_learning_rate,
                                     self.momentum)
        else:
            _KERNELS[params.dtype].sgd(params, grads, self.current_learning_rate)


class Adagrad(_Optimizer):
    def __init__(self, learning_rate=1., decay=0., epsilon=1e-7):
        super().__init__(learning_rate, decay)
        self.epsilon = _check_hyperparameter(epsilon, "epsilon")

    def _update(self, layer, params, grads, prefix):
        cache = self._state(layer, prefix + "_cache", params)
        _KERNELS[params.dtype].adagrad(params, grads, cache, self.current_learning_rate, self.epsilon)


class RMSprop(_Optimizer):
    def __init__(self, learning_rate=0.001, decay=0., epsilon=1e-7, rho=0.9):
        super().__init__(learning_rate, decay)
        self.epsilon = _check_hyperparameter(epsilon, "epsilon")
        self.rho = _check_hyperparameter(rho, "rho", high=1.0)

    def _update(self, layer, params, grads, prefix):
        cache = self._state(layer, prefix + "_cache", params)
        _KERNELS[params.dtype].rmsprop(params, grads, cache, self.current_learning_rate, self.epsilon,
                            self.rho)


class Adam(_Optimizer):
    def __init__(self, learning_rate=0.001, decay=0., epsilon=1e-7, beta_1=0.9, beta_2=0.999):
        super().__init__(learning_rate, decay)
        self.epsilon = _check_hyperparameter(epsilon, "epsilon")
        self.beta_1 = _check_hyperparameter(beta_1, "beta_1", high=1.0)
        self.beta_2 = _check_hyperparameter(beta_2, "beta_2", high=1.0)

    def _update(self, layer, params, grads, prefix):
        momentums = self._state(layer, prefix + "_momentums", params)
        cache = self._state(layer, prefix + "_cache", params)
        _KERNELS[params.dtype].adam(params, grads, momentums, cache, self.current_learning_rate,
                         self.epsilon, self.beta_1, self.beta_2,
                         1 - self.beta_1 ** (self.iterations + 1),
                         1 - self.beta_2 ** (self.iterations + 1))


Optimizer_SGD = SGD
Optimizer_Adagrad = Adagrad
Optimizer_RMSprop = RMSprop
Optimizer_Adam = Adam
