"""Layers, losses and models survive copy.deepcopy and pickle, as the book's do (its Model
saves itself with copy.deepcopy and pickle), and a copy is independent of the original.

A layer holds compiled objects bound to its arrays (fastbp/layers.py, "fast path"); they are
not part of its state: a copy drops them and binds its own arrays on first use.
"""

import copy
import pickle

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import fastbp
from fastbp.datasets import spiral_data

COPIES = {
    "deepcopy": copy.deepcopy,
    "pickle": lambda obj: pickle.loads(pickle.dumps(obj)),
}


@pytest.fixture(params=list(COPIES), ids=list(COPIES))
def duplicate(request):
    return COPIES[request.param]


@pytest.mark.parametrize("cls", [fastbp.Dense, fastbp.DenseReLU])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_layer_copy_is_equal_and_independent(duplicate, cls, dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 3)).astype(dtype)
    dY = rng.standard_normal((20, 5)).astype(dtype)
    layer = cls(3, 5, weight_regularizer_l2=1e-3, dtype=dtype, rng=1)
    layer.forward(X)
    layer.backward(dY)
    fastbp.SGD(learning_rate=0.1, momentum=0.5).update_params(layer)

    clone = duplicate(layer)
    assert clone.dtype == layer.dtype
    assert_array_equal(clone.weights, layer.weights)
    assert_array_equal(clone.weight_momentums, layer.weight_momentums)
    out = clone.forward(X).copy()
    clone.backward(dY)
    assert_array_equal(out, layer.forward(X))
    layer.backward(dY)
    assert_array_equal(clone.dweights, layer.dweights)
    # independent: updating the clone leaves the original as it was
    before = layer.weights.copy()
    clone.weights += 1.0
    clone.forward(X)
    assert_array_equal(layer.weights, before)
    assert not np.shares_memory(clone.output, layer.output)


def test_relu_and_loss_copies(duplicate):
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((10, 3))
    y = rng.integers(0, 3, 10)
    loss = fastbp.SoftmaxCrossEntropy()
    value = loss.forward(logits, y)
    clone = duplicate(loss)
    assert clone.forward(logits, y) == value
    clone.backward(clone.output, y)
    loss.backward(loss.output, y)
    assert_array_equal(clone.dinputs, loss.dinputs)
    relu = fastbp.ReLU()
    relu.forward(logits)
    assert_array_equal(duplicate(relu).forward(logits), relu.output)


def test_trained_model_copy_continues_identically(duplicate):
    X, y = spiral_data(20, 3, rng=0)
    rng = np.random.default_rng(5)
    model = fastbp.Model()
    model.add(fastbp.Dense(2, 16, rng=rng))
    model.add(fastbp.ReLU())
    model.add(fastbp.Dense(16, 3, rng=rng))
    model.set(loss=fastbp.SoftmaxCrossEntropy(), optimizer=fastbp.Adam(learning_rate=0.05))
    model.finalize()
    model.train(X, y, epochs=20, print_every=0)
    clone = duplicate(model)
    a = model.train(X, y, epochs=20, print_every=0)
    b = clone.train(X, y, epochs=20, print_every=0)
    assert a == b
    for (wa, ba), (wb, bb) in zip(model.get_parameters(), clone.get_parameters()):
        assert_array_equal(wa, wb)
        assert_array_equal(ba, bb)


@pytest.mark.parametrize("cls", [fastbp.ReLU, fastbp.Softmax, fastbp.SoftmaxCrossEntropy])
def test_shallow_copies_have_their_own_buffers(cls):
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    a = cls()
    y = np.array([0, 1, 2, 0])
    call = (lambda obj, x: obj.forward(x, y)) if cls is fastbp.SoftmaxCrossEntropy else (
        lambda obj, x: obj.forward(x))
    call(a, x1)
    kept = a.output.copy()
    b = copy.copy(a)
    call(b, x2)
    assert_array_equal(a.output, kept)


def test_layer_pickled_before_dtype_was_read_only_loads():
    layer = fastbp.Dense(2, 3, dtype=np.float32, rng=0)
    state = layer.__getstate__()
    state["dtype"] = state.pop("_dtype")  # how the previous version stored it
    old = fastbp.Dense.__new__(fastbp.Dense)
    old.__setstate__(state)
    assert old.dtype == np.float32
    assert_array_equal(old.forward(np.ones((1, 2), np.float32)),
                       layer.forward(np.ones((1, 2), np.float32)))


def test_relu_and_model_pickled_before_locks_load():
    # Pickles made before objects had a lock hold no "_lock" in their state.
    X = np.array([[-1.0, 2.0]])
    relu = fastbp.ReLU()
    state = {k: v for k, v in relu.__dict__.items() if k != "_lock"}
    old = fastbp.ReLU.__new__(fastbp.ReLU)
    old.__setstate__(state)
    assert_array_equal(old.forward(X), [[0.0, 2.0]])

    model = fastbp.Model()
    model.add(fastbp.Dense(2, 3, rng=0))
    model.set(loss=fastbp.SoftmaxCrossEntropy(), optimizer=fastbp.SGD())
    model.finalize()
    state = {k: v for k, v in model.__dict__.items() if k not in ("_lock", "_step_lock")}
    old = fastbp.Model.__new__(fastbp.Model)
    old.__setstate__(state)
    assert_array_equal(old.predict(X), model.predict(X))
    old.train(X, [1], epochs=2, print_every=0)
