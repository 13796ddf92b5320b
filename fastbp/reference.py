"""Plain-numpy reference, written the book's way (Neural Networks from Scratch, ch. 9-19).

Nothing here is optimized: this is the code a reader of the book has, kept as the book has
it: the dense layer and ReLU (as classes and as functions), softmax, categorical
cross-entropy and their combination, the four optimizers, and the chapter-10 training loop
(``train_spiral``). The tests compare fastbp against it and the benchmarks race it. Same
constructor arguments as ``fastbp.layers`` (``dtype``, ``rng``), so that both start from
identical weights for one seed.
"""

import operator

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
    "Activation_Softmax",
    "Loss",
    "Loss_CategoricalCrossentropy",
    "Activation_Softmax_Loss_CategoricalCrossentropy",
    "Optimizer_SGD",
    "Optimizer_Adagrad",
    "Optimizer_RMSprop",
    "Optimizer_Adam",
    "Softmax",
    "CategoricalCrossentropy",
    "SoftmaxCrossEntropy",
    "SGD",
    "Adagrad",
    "RMSprop",
    "Adam",
    "train_spiral",
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


# Training a whole network (chapters 10-19): softmax, the categorical cross-entropy loss,
# the four optimizers and the chapter-10 training loop. The classes are the book's code as
# the book has it; only the training loop is a function (the book writes it at top level).

class Activation_Softmax:
    def forward(self, inputs, training=False):
        self.inputs = inputs
        exp_values = np.exp(inputs - np.max(inputs, axis=1, keepdims=True))
        probabilities = exp_values / np.sum(exp_values, axis=1, keepdims=True)
        self.output = probabilities
        return self.output

    def backward(self, dvalues):
        self.dinputs = np.empty_like(dvalues)
        for index, (single_output, single_dvalues) in enumerate(zip(self.output, dvalues)):
            single_output = single_output.reshape(-1, 1)
            jacobian_matrix = np.diagflat(single_output) - np.dot(single_output, single_output.T)
            self.dinputs[index] = np.dot(jacobian_matrix, single_dvalues)

    def predictions(self, outputs):
        return np.argmax(outputs, axis=1)


class Loss:
    def regularization_loss(self, layer):
        """The L1/L2 penalties of one layer (any object with the book's attributes)."""
        regularization_loss = 0
        if layer.weight_regularizer_l1 > 0:
            regularization_loss += layer.weight_regularizer_l1 * np.sum(np.abs(layer.weights))
        if layer.weight_regularizer_l2 > 0:
            regularization_loss += layer.weight_regularizer_l2 * \
                np.sum(layer.weights * layer.weights)
        if layer.bias_regularizer_l1 > 0:
            regularization_loss += layer.bias_regularizer_l1 * np.sum(np.abs(layer.biases))
        if layer.bias_regularizer_l2 > 0:
            regularization_loss += layer.bias_regularizer_l2 * \
                np.sum(layer.biases * layer.biases)
        return regularization_loss

    def calculate(self, output, y):
        sample_losses = self.forward(output, y)
        data_loss = np.mean(sample_losses)
        return data_loss


class Loss_CategoricalCrossentropy(Loss):
    def forward(self, y_pred, y_true):
        samples = len(y_pred)
        y_pred_clipped = np.clip(y_pred, 1e-7, 1 - 1e-7)
        if len(y_true.shape) == 1:
            correct_confidences = y_pred_clipped[range(samples), y_true]
        elif len(y_true.shape) == 2:
            correct_confidences = np.sum(y_pred_clipped * y_true, axis=1)
        else:
            raise ValueError(f"y_true must be 1-D (class indices) or 2-D (one-hot), "
                             f"got shape {y_true.shape}")
        negative_log_likelihoods = -np.log(correct_confidences)
        return negative_log_likelihoods

    def backward(self, dvalues, y_true):
        samples = len(dvalues)
        labels = len(dvalues[0])
        if len(y_true.shape) == 1:
            y_true = np.eye(labels)[y_true]
        self.dinputs = -y_true / dvalues
        self.dinputs = self.dinputs / samples


class Activation_Softmax_Loss_CategoricalCrossentropy:
    """Softmax and categorical cross-entropy together, for the faster backward step."""

    def __init__(self):
        self.activation = Activation_Softmax()
        self.loss = Loss_CategoricalCrossentropy()

    def forward(self, inputs, y_true):
        self.activation.forward(inputs)
        self.output = self.activation.output
        return self.loss.calculate(self.output, y_true)

    def backward(self, dvalues, y_true):
        samples = len(dvalues)
        if len(y_true.shape) == 2:
            y_true = np.argmax(y_true, axis=1)
        self.dinputs = dvalues.copy()
        self.dinputs[range(samples), y_true] -= 1
        self.dinputs = self.dinputs / samples


# Optimizers. Their state lives on the layer, as in the book (weight_momentums, bias_momentums,
# weight_cache, bias_cache), created at the first update.

class Optimizer_SGD:
    def __init__(self, learning_rate=1., decay=0., momentum=0.):
        self.learning_rate = learning_rate
        self.current_learning_rate = learning_rate
        self.decay = decay
        self.iterations = 0
        self.momentum = momentum

    def pre_update_params(self):
        if self.decay:
            self.current_learning_rate = self.learning_rate * \
                (1. / (1. + self.decay * self.iterations))

    def update_params(self, layer):
        if self.momentum:
            if not hasattr(layer, "weight_momentums"):
                layer.weight_momentums = np.zeros_like(layer.weights)
                layer.bias_momentums = np.zeros_like(layer.biases)
            weight_updates = self.momentum * layer.weight_momentums - \
                self.current_learning_rate * layer.dweights
            layer.weight_momentums = weight_updates
            bias_updates = self.momentum * layer.bias_momentums - \
                self.current_learning_rate * layer.dbiases
            layer.bias_momentums = bias_updates
        else:
            weight_updates = -self.current_learning_rate * layer.dweights
            bias_updates = -self.current_learning_rate * layer.dbiases
        layer.weights += weight_updates
        layer.biases += bias_updates

    def post_update_params(self):
        self.iterations += 1


class Optimizer_Adagrad:
    def __init__(self, learning_rate=1., decay=0., epsilon=1e-7):
        self.learning_rate = learning_rate
        self.current_learning_rate = learning_rate
        self.decay = decay
        self.iterations = 0
        self.epsilon = epsilon

    def pre_update_params(self):
        if self.decay:
            self.current_learning_rate = self.learning_rate * \
                (1. / (1. + self.decay * self.iterations))

    def update_params(self, layer):
        if not hasattr(layer, "weight_cache"):
            layer.weight_cache = np.zeros_like(layer.weights)
            layer.bias_cache = np.zeros_like(layer.biases)
        layer.weight_cache += layer.dweights**2
        layer.bias_cache += layer.dbiases**2
        layer.weights += -self.current_learning_rate * layer.dweights / \
            (np.sqrt(layer.weight_cache) + self.epsilon)
        layer.biases += -self.current_learning_rate * layer.dbiases / \
            (np.sqrt(layer.bias_cache) + self.epsilon)

    def post_update_params(self):
        self.iterations += 1


class Optimizer_RMSprop:
    def __init__(self, learning_rate=0.001, decay=0., epsilon=1e-7, rho=0.9):
        self.learning_rate = learning_rate
        self.current_learning_rate = learning_rate
        self.decay = decay
        self.iterations = 0
        self.epsilon = epsilon
        self.rho = rho

    def pre_update_params(self):
        if self.decay:
            self.current_learning_rate = self.learning_rate * \
                (1. / (1. + self.decay * self.iterations))

    def update_params(self, layer):
        if not hasattr(layer, "weight_cache"):
            layer.weight_cache = np.zeros_like(layer.weights)
            layer.bias_cache = np.zeros_like(layer.biases)
        layer.weight_cache = self.rho * layer.weight_cache + \
            (1 - self.rho) * layer.dweights**2
        layer.bias_cache = self.rho * layer.bias_cache + \
            (1 - self.rho) * layer.dbiases**2
        layer.weights += -self.current_learning_rate * layer.dweights / \
            (np.sqrt(layer.weight_cache) + self.epsilon)
        layer.biases += -self.current_learning_rate * layer.dbiases / \
            (np.sqrt(layer.bias_cache) + self.epsilon)

    def post_update_params(self):
        self.iterations += 1


class Optimizer_Adam:
    def __init__(self, learning_rate=0.001, decay=0., epsilon=1e-7, beta_1=0.9, beta_2=0.999):
        self.learning_rate = learning_rate
        self.current_learning_rate = learning_rate
        self.decay = decay
        self.iterations = 0
        self.epsilon = epsilon
        self.beta_1 = beta_1
        self.beta_2 = beta_2

    def pre_update_params(self):
        if self.decay:
            self.current_learning_rate = self.learning_rate * \
                (1. / (1. + self.decay * self.iterations))

    def update_params(self, layer):
        if not hasattr(layer, "weight_cache"):
            layer.weight_momentums = np.zeros_like(layer.weights)
            layer.weight_cache = np.zeros_like(layer.weights)
            layer.bias_momentums = np.zeros_like(layer.biases)
            layer.bias_cache = np.zeros_like(layer.biases)

        layer.weight_momentums = self.beta_1 * layer.weight_momentums + \
            (1 - self.beta_1) * layer.dweights
        layer.bias_momentums = self.beta_1 * layer.bias_momentums + \
            (1 - self.beta_1) * layer.dbiases
        weight_momentums_corrected = layer.weight_momentums / \
            (1 - self.beta_1 ** (self.iterations + 1))
        bias_momentums_corrected = layer.bias_momentums / \
            (1 - self.beta_1 ** (self.iterations + 1))
        layer.weight_cache = self.beta_2 * layer.weight_cache + \
            (1 - self.beta_2) * layer.dweights**2
        layer.bias_cache = self.beta_2 * layer.bias_cache + \
            (1 - self.beta_2) * layer.dbiases**2
        weight_cache_corrected = layer.weight_cache / \
            (1 - self.beta_2 ** (self.iterations + 1))
        bias_cache_corrected = layer.bias_cache / \
            (1 - self.beta_2 ** (self.iterations + 1))

        layer.weights += -self.current_learning_rate * weight_momentums_corrected / \
            (np.sqrt(weight_cache_corrected) + self.epsilon)
        layer.biases += -self.current_learning_rate * bias_momentums_corrected / \
            (np.sqrt(bias_cache_corrected) + self.epsilon)

    def post_update_params(self):
        self.iterations += 1


Softmax = Activation_Softmax
CategoricalCrossentropy = Loss_CategoricalCrossentropy
SoftmaxCrossEntropy = Activation_Softmax_Loss_CategoricalCrossentropy
SGD = Optimizer_SGD
Adagrad = Optimizer_Adagrad
RMSprop = Optimizer_RMSprop
Adam = Optimizer_Adam


def train_spiral(X, y, *, optimizer, epochs=10000, dtype=np.float64, rng=None, print_every=0,
                 layers=None):
    """The book's chapter-10 training loop: Dense(2, 64), ReLU, Dense(64, 3), softmax + CCE.

    Runs exactly ``epochs`` full-batch epochs (forward, backward, one optimizer step each).
    The layers draw their weights from one ``np.random.default_rng(rng)``, dense1 first, then
    dense2: fastbp builds its layers in the same order to start from the same weights.

    Returns ``{"loss", "accuracy", "layers": (dense1, dense2)}``; loss and accuracy are those
    of the last epoch's forward pass, i.e. before its update, as the book's loop prints them.
    ``print_every > 0`` prints the book's line every that many epochs (epoch 0 included).
    ``layers=(dense1, dense2)`` continues training those Layer_Dense objects (with any
    optimizer state on them) instead of drawing new ones; ``rng`` is then unused and
    ``dtype`` is that of their weights.
    """
    epochs = operator.index(epochs)
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    print_every = operator.index(print_every)

    if layers is not None:
        dtype = layers[0].weights.dtype
    rng = np.random.default_rng(rng)
    X = np.asarray(X, dtype=dtype)
    y = np.asarray(y)
    # The book turns one-hot labels into indices for the accuracy; the loss takes either.
    y_labels = np.argmax(y, axis=1) if len(y.shape) == 2 else y

    if layers is None:
        dense1 = Layer_Dense(2, 64, dtype=dtype, rng=rng)
        dense2 = Layer_Dense(64, 3, dtype=dtype, rng=rng)
    else:
        dense1, dense2 = layers
    activation1 = Activation_ReLU()
    loss_activation = Activation_Softmax_Loss_CategoricalCrossentropy()

    for epoch in range(epochs):
        dense1.forward(X)
        activation1.forward(dense1.output)
        dense2.forward(activation1.output)
        loss = loss_activation.forward(dense2.output, y)

        predictions = np.argmax(loss_activation.output, axis=1)
        accuracy = np.mean(predictions == y_labels)

        if print_every > 0 and not epoch % print_every:
            print(f"epoch: {epoch}, " +
                  f"acc: {accuracy:.3f}, " +
                  f"loss: {loss:.3f}, " +
                  f"lr: {optimizer.current_learning_rate}")

        loss_activation.backward(loss_activation.output, y)
        dense2.backward(loss_activation.dinputs)
        activation1.backward(dense2.dinputs)
        dense1.backward(activation1.dinputs)

        optimizer.pre_update_params()
        optimizer.update_params(dense1)
        optimizer.update_params(dense2)
        optimizer.post_update_params()

    return {"loss": float(loss), "accuracy": float(accuracy), "layers": (dense1, dense2)}
