"""Softmax and categorical cross-entropy with the book's API, on compiled kernels.

``SoftmaxCrossEntropy`` is the book's Activation_Softmax_Loss_CategoricalCrossentropy:
``forward(inputs, y_true)`` returns the mean loss and keeps ``output`` (the probabilities);
``backward(dvalues, y_true)`` sets ``dinputs = (dvalues - one_hot(y_true)) / n_samples``
(``dvalues`` is normally ``output``). ``Softmax`` and ``CategoricalCrossentropy`` are the
separate pieces, for networks that need them apart. Labels are sparse (one integer class per
sample) or one-hot rows. Outputs are buffers reused from call to call, as in fastbp.layers.
"""

import numpy as np

from . import _loss
from ._calllock import CallLock
from ._constants import CONSTANTS
from ._snapshot import ArraySnapshot
from ._validation import as_layer_array, asarray_named, kernel_sets, runs_own_methods
from .layers import Activation, Buffers

_KERNELS = kernel_sets(_loss, ("softmax",))

__all__ = [
    "Loss",
    "Softmax",
    "CategoricalCrossentropy",
    "SoftmaxCrossEntropy",
    "Activation_Softmax",
    "Loss_CategoricalCrossentropy",
    "Activation_Softmax_Loss_CategoricalCrossentropy",
    "regularizers",
]

_LONG = np.dtype(np.long)
_CLIP = CONSTANTS["CLIP"]


def check_labels(y_true, n_samples, n_classes, name="y_true"):
    """Sparse labels as a C-long array, or one-hot rows as they are: ('sparse'|'onehot', y).

    Raises ValueError/TypeError for the wrong length, non-integer classes, classes out of
    range, or one-hot rows of the wrong width.
    """
    y = asarray_named(y_true, name, "an array of class labels")
    if y.ndim == 1:
        if y.dtype.kind not in "iu":
            raise TypeError(f"{name} must hold integer class labels, got dtype {y.dtype}")
        if y.shape[0] != n_samples:
            raise ValueError(
                f"{name} must have one label per sample ({n_samples}), got shape {y.shape}"
            )
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(
                f"{name} labels must lie in [0, {n_classes}) for {n_classes} classes, "
                f"got values from {y.min()} to {y.max()}"
            )
        return "sparse", np.ascontiguousarray(y, dtype=_LONG)
    if y.ndim == 2:
        if y.shape != (n_samples, n_classes):
            raise ValueError(
                f"one-hot {name} must have shape (n_samples, n_classes) = "
                f"{(n_samples, n_classes)}, got {y.shape}"
            )
        if y.dtype.kind not in "biuf":
            raise TypeError(f"one-hot {name} must be numeric, got dtype {y.dtype}")
        return "onehot", y
    raise ValueError(
        f"{name} must be 1-D class labels or 2-D one-hot rows, got shape {y.shape}"
    )


_REGULARIZERS = ("weight_regularizer_l1", "weight_regularizer_l2",
                 "bias_regularizer_l1", "bias_regularizer_l2")


def regularizers(layer):
    """The book's four regularization strengths of a layer (weights L1, L2, biases L1, L2),
    0 where it has none (a layer written the book's way before chapter 14)."""
    return tuple(getattr(layer, name, 0) for name in _REGULARIZERS)


class Loss:
    """Base of the losses: ``calculate`` and the book's ``regularization_loss``."""

    def calculate(self, output, y):
        """Mean loss over the samples."""
        return float(np.mean(self.forward(output, y)))

    @staticmethod
    def regularization_loss(layer):
        """The book's L1/L2 penalty of one layer: λ·Σ|w| and λ·Σw², weights and biases."""
        total = 0.0
        weight_l1, weight_l2, bias_l1, bias_l2 = regularizers(layer)
        for params, l1, l2 in ((layer.weights, weight_l1, weight_l2),
                               (layer.biases, bias_l1, bias_l2)):
            if l1 > 0:
                total += l1 * float(np.sum(np.abs(params)))
            if l2 > 0:
                total += l2 * float(np.sum(params * params))
        return total


class Softmax(Activation):
    """Softmax activation over each row (row max subtracted first)."""

    def forward(self, inputs, training=False):
        inputs = _as_softmax_input(inputs)
        with self._lock:
            out = self._buffers.get("output", inputs.shape, inputs.dtype, (inputs,))
            _KERNELS[inputs.dtype].softmax(inputs, out)
            self.inputs, self.output = inputs, out
            return out

    def backward(self, dvalues):
        """dinputs = J·dvalues per row, J = diag(p) - p·pᵀ: p·(dvalues - Σ p·dvalues)."""
        with self._lock:
            if self.output is None:
                raise RuntimeError("Softmax.backward called before forward")
            p = self.output
            dvalues = as_layer_array(dvalues, "dvalues", p.dtype)
            if dvalues.shape != p.shape:
                raise ValueError(
                    f"dvalues must have the shape of the output {p.shape}, got {dvalues.shape}"
                )
            self.dinputs = p * (dvalues - np.sum(p * dvalues, axis=1, keepdims=True))

    @staticmethod
    def predictions(outputs):
        return np.argmax(outputs, axis=1)


def _as_softmax_input(inputs):
    if not (type(inputs) is np.ndarray and inputs.dtype in (np.float32, np.float64)):
        inputs = as_layer_array(inputs, "inputs", None)
    inputs = as_layer_array(inputs, "inputs", inputs.dtype)
    if inputs.ndim != 2:
        raise ValueError(f"inputs must be 2-D (n_samples, n_classes), got shape {inputs.shape}")
    return inputs


class CategoricalCrossentropy(Loss):
    """Categorical cross-entropy of predicted probabilities, clipped to [1e-7, 1 - 1e-7]."""

    def forward(self, y_pred, y_true):
        """Per-sample losses."""
        y_pred = _as_softmax_input(y_pred)
        kind, y = check_labels(y_true, *y_pred.shape)
        clipped = np.clip(y_pred, _CLIP, 1 - _CLIP)
        if kind == "sparse":
            confidences = clipped[np.arange(len(y)), y]
        else:
            confidences = np.sum(clipped * y, axis=1)
        return -np.log(confidences)

    def backward(self, dvalues, y_true):
        dvalues = _as_softmax_input(dvalues)
        samples, labels = dvalues.shape
        kind, y = check_labels(y_true, samples, labels)
        if kind == "sparse":
            y = np.eye(labels, dtype=dvalues.dtype)[y]
        self.dinputs = -y / dvalues / samples


class SoftmaxCrossEntropy(Loss):
    """Softmax + categorical cross-entropy in one kernel, the book's combined class."""

    def __init__(self):
        self.output = self.dinputs = None
        self._buffers = Buffers()
        self._lock = CallLock()  # serializes the calls of several threads
        # The fast path, as in fastbp.layers: arrays bound once, reused while unchanged.
        self._step = None
        self._forward_bound = self._backward_bound = None

    def __getstate__(self):
        # The bound kernels belong to this process: dropped by pickling and deepcopy.
        state = self.__dict__.copy()
        for name in ("_step", "_step_dtype", "_forward_bound", "_backward_bound", "_buffers",
                     "_lock"):
            state.pop(name, None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._buffers = Buffers()
        self._lock = CallLock()
        self._step = None
        self._forward_bound = self._backward_bound = None

    def __copy__(self):
        new = type(self).__new__(type(self))
        new.__setstate__(self.__getstate__())
        return new

    def forward(self, inputs, y_true):
        """Set ``output`` (probabilities) and return the mean loss."""
        inputs = _as_softmax_input(inputs)
        return self.forward_prepared(inputs, *prepare_labels(y_true, inputs))

    def backward(self, dvalues, y_true):
        """Set ``dinputs = (dvalues - one_hot(y_true)) / n_samples``."""
        dvalues = _as_softmax_input(dvalues)
        self.backward_prepared(dvalues, prepare_labels(y_true, dvalues)[2])

    # -- the protocol with Model (docs/design.md, "Protocol") ------------------------------
    # Model checks its data once (prepare_labels), then calls these every step.

    def forward_prepared(self, inputs, kind, y, labels):
        """``forward`` for a C-contiguous float32/float64 ``inputs`` (n_samples, n_classes)
        and ``(kind, y, labels)`` from ``prepare_labels(y_true, inputs)``: no checks."""
        bound = self._forward_bound
        if bound is not None and bound.same(inputs, y, labels, self.output):
            # The step holds the loss's lock while it runs (as in fastbp.layers.Dense).
            return self._step.forward()
        with self._lock:
            # Never write where the labels are: they index the probabilities.
            out = self._buffers.get("output", inputs.shape, inputs.dtype, (inputs, y, labels))
            step = self._step_for(inputs.dtype)
            self._forward_bound = None
            step.bind_forward(inputs, labels, None if kind == "sparse" else y, out)
            loss = step.forward()
            self.output = out
            self._forward_bound = ArraySnapshot(inputs, y, labels, out)
            return loss

    def backward_prepared(self, dvalues, labels):
        """``backward`` for a checked ``dvalues`` and the ``labels`` of ``prepare_labels``."""
        bound = self._backward_bound
        if bound is not None and bound.same(dvalues, labels, self.dinputs):
            self._step.backward()
            return
        with self._lock:
            out = self._buffers.get("dinputs", dvalues.shape, dvalues.dtype, (dvalues, labels))
            step = self._step_for(dvalues.dtype)
            self._backward_bound = None
            step.bind_backward(dvalues, labels, out)
            step.backward()
            self.dinputs = out
            self._backward_bound = ArraySnapshot(dvalues, labels, out)

    def compiled_step(self):
        """The compiled step (SoftmaxCrossEntropyStep) bound by the last forward and
        backward, which Model's compiled training step replays; None when either call left
        nothing bound, for a subclass, or where a forward or backward method was replaced on
        the instance or the class."""
        stock = _STOCK_METHODS.get(type(self))
        if (stock is None or self._forward_bound is None or self._backward_bound is None
                or not runs_own_methods(self, stock)):
            return None
        return self._step

    def _step_for(self, dtype):
        """The bound kernels for ``dtype``; new (and nothing bound) if the dtype changed."""
        step = self._step
        if step is None or self._step_dtype is not dtype:
            step = self._step = _loss.SoftmaxCrossEntropyStep(dtype == np.float64,
                                                              self._lock)
            self._step_dtype = dtype
            self._forward_bound = self._backward_bound = None
        return step


def prepare_labels(y_true, like, name="y_true"):
    """Check labels against ``like`` (n_samples, n_classes); return (kind, y, labels).

    ``y`` is what the loss reads (one-hot rows as ``like``'s dtype, C-contiguous; or the
    sparse labels), ``labels`` the class indices as C longs (argmax of one-hot rows).
    """
    kind, y = check_labels(y_true, *like.shape, name=name)
    if kind == "sparse":
        return kind, y, y
    y = np.ascontiguousarray(y, dtype=like.dtype)
    return kind, y, np.ascontiguousarray(np.argmax(y, axis=1), dtype=_LONG)


# The methods that SoftmaxCrossEntropy.compiled_step stands for, as defined here.
_STOCK_METHODS = {SoftmaxCrossEntropy: {
    name: getattr(SoftmaxCrossEntropy, name)
    for name in ("forward", "backward", "forward_prepared", "backward_prepared")}}

Activation_Softmax = Softmax
Loss_CategoricalCrossentropy = CategoricalCrossentropy
Activation_Softmax_Loss_CategoricalCrossentropy = SoftmaxCrossEntropy
