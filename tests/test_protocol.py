"""The protocol between layers, optimizers and Model (docs/design.md, "Protocol"), through
its public names: Dense.compiled_step, DenseReLU.fused, Dense.call_lock, and the optimizers'
compiled_update and compiled_schedule. Any object with the book's attributes is a layer that
fastbp's optimizers update."""

import copy
import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import fastbp
from fastbp import reference as R

OPTIMIZERS = {
    "sgd": (lambda: fastbp.SGD(0.5, 1e-3), lambda: R.Optimizer_SGD(0.5, 1e-3)),
    "momentum": (lambda: fastbp.SGD(0.5, 1e-3, momentum=0.9),
                 lambda: R.Optimizer_SGD(0.5, 1e-3, momentum=0.9)),
    "adagrad": (lambda: fastbp.Adagrad(0.5, 1e-4), lambda: R.Optimizer_Adagrad(0.5, 1e-4)),
    "rmsprop": (lambda: fastbp.RMSprop(0.02, 1e-5, rho=0.999),
                lambda: R.Optimizer_RMSprop(0.02, 1e-5, rho=0.999)),
    "adam": (lambda: fastbp.Adam(0.05, 5e-7), lambda: R.Optimizer_Adam(0.05, 5e-7)),
}


def stepped(layer_cls=fastbp.Dense, **kwargs):
    rng = np.random.default_rng(0)
    layer = layer_cls(3, 4, rng=1, **kwargs)
    X = rng.standard_normal((5, 3))
    layer.forward(X)
    layer.backward(rng.standard_normal((5, 4)))
    return layer


class BookLayer:
    """A dense layer written the book's way: plain numpy, no fastbp."""

    def __init__(self, weights, biases):
        self.weights, self.biases = weights.copy(), biases.copy()

    def forward(self, inputs, training=False):
        self.inputs = inputs
        self.output = np.dot(inputs, self.weights) + self.biases

    def backward(self, dvalues):
        self.dweights = np.dot(self.inputs.T, dvalues)
        self.dbiases = np.sum(dvalues, axis=0, keepdims=True)
        self.dinputs = np.dot(dvalues, self.weights.T)


def test_compiled_step_after_forward_and_backward():
    layer = fastbp.Dense(3, 4, rng=1)
    assert layer.compiled_step() is None  # nothing bound yet
    layer.forward(np.ones((5, 3)))
    assert layer.compiled_step() is None  # no backward yet
    layer.backward(np.ones((5, 4)))
    step = layer.compiled_step()
    assert step is not None and layer.compiled_step() is step


def test_no_compiled_step_for_a_subclass_or_a_replaced_method(monkeypatch):
    class Logged(fastbp.Dense):
        def forward(self, inputs, training=False):
            return super().forward(inputs, training)

    assert stepped(Logged).compiled_step() is None
    layer = stepped()
    layer.forward = lambda inputs, training=False: None
    assert layer.compiled_step() is None
    monkeypatch.setattr(fastbp.Dense, "backward", lambda self, dvalues: None)
    assert stepped().compiled_step() is None  # run before the patch: the step is bound


def test_fused_shares_the_parameters_and_lock():
    dense, relu = fastbp.Dense(3, 4, rng=1), fastbp.ReLU()
    fused = fastbp.DenseReLU.fused(dense, relu)
    assert fused.weights is dense.weights and fused.biases is dense.biases
    assert fused.call_lock is dense.call_lock
    X = np.random.default_rng(2).standard_normal((6, 3))
    assert_allclose(fused.forward(X), np.maximum(X @ dense.weights + dense.biases, 0),
                    rtol=1e-12, atol=1e-15)
    assert dense.output is None  # buffers of its own


def test_fused_refuses_what_it_would_change():
    dense, relu = fastbp.Dense(3, 4), fastbp.ReLU()
    relu.backward = lambda dvalues: None
    assert fastbp.DenseReLU.fused(dense, relu) is None
    assert fastbp.DenseReLU.fused(fastbp.DenseReLU(3, 4), fastbp.ReLU()) is None
    assert fastbp.DenseReLU.fused(dense, fastbp.Softmax()) is None


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_compiled_update_is_the_last_binding_while_the_arrays_hold(name):
    optimizer = OPTIMIZERS[name][0]()
    layer = stepped()
    assert optimizer.compiled_update(layer) is None  # never updated
    optimizer.pre_update_params()
    optimizer.update_params(layer)
    optimizer.post_update_params()
    update = optimizer.compiled_update(layer)
    assert update is not None and optimizer.compiled_update(layer) is update
    assert OPTIMIZERS[name][0]().compiled_update(layer) is None  # another optimizer's
    layer.weights = layer.weights.copy()
    assert optimizer.compiled_update(layer) is None


def test_compiled_schedule():
    # (code, hyperparameters): the code names the update rule to the compiled step.
    adam_code, adam_params = fastbp.Adam(0.05).compiled_schedule()
    assert adam_params == (1e-7, 0.9, 0.999)
    sgd = fastbp.SGD(1.0)
    sgd_code, sgd_params = sgd.compiled_schedule()
    assert sgd_params == ()
    sgd.momentum = 0.5
    momentum_code, momentum_params = sgd.compiled_schedule()
    assert momentum_params == (0.5,)
    assert len({adam_code, sgd_code, momentum_code}) == 3
    sgd.learning_rate = np.float32(0.5)  # Python would compute in float32: not replayable
    assert sgd.compiled_schedule() is None

    class Warmup(fastbp.Adam):
        def pre_update_params(self):
            super().pre_update_params()
            self.current_learning_rate *= 0.5

    assert Warmup().compiled_schedule() is None


@pytest.mark.parametrize("clone", [copy.deepcopy, copy.copy,
                                   lambda layer: pickle.loads(pickle.dumps(layer))])
def test_a_copy_carries_no_binding(clone):
    optimizer = fastbp.Adam(0.05)
    layer = stepped()
    optimizer.update_params(layer)
    other = clone(layer)
    if clone is not copy.copy:  # a shallow copy shares the arrays, and so the binding's
        assert optimizer.compiled_update(other) is None
    optimizer.update_params(other)  # binds (or reuses) and updates
    assert optimizer.compiled_update(other) is not None


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_fastbp_optimizers_update_a_book_style_layer(name, dtype):
    # The book's own layer class, updated by fastbp's optimizer and by the book's optimizer
    # (fastbp.reference): the same parameters over 20 steps.
    rng = np.random.default_rng(3)
    weights = (0.1 * rng.standard_normal((3, 4))).astype(dtype)
    biases = np.zeros((1, 4), dtype)
    ours, theirs = BookLayer(weights, biases), BookLayer(weights, biases)
    fast, ref = OPTIMIZERS[name][0](), OPTIMIZERS[name][1]()
    X = rng.standard_normal((8, 3)).astype(dtype)
    D = rng.standard_normal((8, 4)).astype(dtype)
    for _ in range(20):
        for layer, optimizer in ((ours, fast), (theirs, ref)):
            layer.forward(X)
            layer.backward(D * layer.output)
            optimizer.pre_update_params()
            optimizer.update_params(layer)
            optimizer.post_update_params()
    tol = 1e-10 if dtype == np.float64 else 1e-4
    assert ours.weights.dtype == dtype
    assert_allclose(ours.weights, theirs.weights, rtol=tol, atol=tol)
    assert_allclose(ours.biases, theirs.biases, rtol=tol, atol=tol)


def test_a_book_style_layer_with_a_list_of_weights_gets_arrays():
    layer = BookLayer(np.ones((2, 2)), np.zeros((1, 2)))
    layer.weights = [[1.0, 2.0], [3.0, 4.0]]
    layer.dweights, layer.dbiases = np.ones((2, 2)), np.ones((1, 2))
    fastbp.SGD(0.5).update_params(layer)
    assert_array_equal(layer.weights, [[0.5, 1.5], [2.5, 3.5]])
    assert_array_equal(layer.biases, [[-0.5, -0.5]])


def test_loss_compiled_step_and_prepared_calls():
    from fastbp.losses import prepare_labels
    rng = np.random.default_rng(4)
    logits = rng.standard_normal((6, 3))
    y = np.array([0, 1, 2, 2, 1, 0])
    loss, plain = fastbp.SoftmaxCrossEntropy(), fastbp.SoftmaxCrossEntropy()
    assert loss.compiled_step() is None
    value = loss.forward_prepared(logits, *prepare_labels(y, logits))
    assert loss.compiled_step() is None  # no backward yet
    loss.backward_prepared(loss.output, prepare_labels(y, logits)[2])
    assert loss.compiled_step() is not None
    assert value == plain.forward(logits, y)
    plain.backward(plain.output, y)
    assert_array_equal(loss.dinputs, plain.dinputs)

    class Smoothed(fastbp.SoftmaxCrossEntropy):
        pass

    sub = Smoothed()
    sub.forward(logits, y)
    sub.backward(sub.output, y)
    assert sub.compiled_step() is None
    plain.backward = lambda dvalues, y_true: None
    assert plain.compiled_step() is None


@pytest.mark.parametrize("layer", [fastbp.Dense(3, 4, rng=1), fastbp.DenseReLU(3, 4, rng=1),
                                   fastbp.ReLU()], ids=["Dense", "DenseReLU", "ReLU"])
def test_infer_leaves_the_layer_alone(layer):
    X = np.random.default_rng(5).standard_normal((6, 3))
    if isinstance(layer, fastbp.ReLU):
        X = X @ np.ones((3, 4))
    before = layer.forward(X).copy()
    kept = layer.output
    got = layer.infer(2 * X)
    assert layer.output is kept and got is not kept
    assert_array_equal(layer.output, before)
    assert_allclose(got, layer.forward(2 * X), rtol=1e-15)
