"""Training a whole network: softmax cross-entropy, the optimizers, Model, the spiral demo.

fastbp is compared with fastbp.reference, the book's plain-numpy code, which is the
specification: same inputs, same initial weights, same hand-set gradients. Tolerances are
per dtype (float64 ~1e-13/1e-14, float32 ~1e-5/1e-6). The loss gradient is also checked by
central finite differences, independently of either implementation.

Bad input must raise a ValueError/TypeError whose message names the offending thing, and
leave the model (weights, biases, optimizer iterations) as it was.
"""

import math
import pickle
import re

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import fastbp
from fastbp import reference as R
from fastbp import train as demo
from fastbp.datasets import spiral_data
from fastbp.losses import Loss

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
DTYPES = [pytest.param(F64, id="float64"), pytest.param(F32, id="float32")]
LOSS_RTOL = {F64: 1e-13, F32: 1e-5}
OPT_RTOL = {F64: 1e-14, F32: 1e-6}


@pytest.fixture(scope="module")
def spiral():
    """The demo's data set: 100 samples per class, 3 classes, seed 0."""
    return spiral_data(100, 3, rng=0)


def labels_as(kind, labels, n_classes):
    return labels if kind == "sparse" else np.eye(n_classes, dtype=np.int64)[labels]


# =========================================================================================
# 1. Softmax cross-entropy against the reference
# =========================================================================================

SHAPES = [
    pytest.param((1, 3), id="1-sample"),
    pytest.param((5, 1), id="1-class"),
    pytest.param((7, 4), id="7x4"),
    pytest.param((64, 10), id="64x10"),
    pytest.param((300, 3), id="300x3"),
]


@pytest.mark.parametrize("kind", ["sparse", "onehot"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_crossentropy_matches_reference(rng, dtype, shape, kind):
    n, c = shape
    z = (3 * rng.standard_normal(shape)).astype(dtype)
    y = labels_as(kind, rng.integers(0, c, n), c)
    rtol = LOSS_RTOL[dtype]

    fast = fastbp.SoftmaxCrossEntropy()
    ref = R.Activation_Softmax_Loss_CategoricalCrossentropy()
    loss = fast.forward(z, y)
    ref_loss = ref.forward(z.copy(), y)

    assert isinstance(loss, float)
    assert_allclose(loss, ref_loss, rtol=rtol)
    assert fast.output.shape == shape and fast.output.dtype == dtype
    assert_allclose(fast.output, ref.output, rtol=rtol, atol=0)
    assert_allclose(fast.output.sum(axis=1), 1.0, rtol=0, atol=10 * np.finfo(dtype).eps)

    fast.backward(fast.output, y)
    ref.backward(ref.output, y)
    assert fast.dinputs.shape == shape and fast.dinputs.dtype == dtype
    # p - 1 for p near 1 is exact (Sterbenz), so its error is absolute, of the size of eps/n.
    assert_allclose(fast.dinputs, ref.dinputs, rtol=rtol, atol=rtol / n)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_crossentropy_sparse_and_onehot_agree(rng, dtype):
    z = rng.standard_normal((20, 5)).astype(dtype)
    labels = rng.integers(0, 5, 20)
    a, b = fastbp.SoftmaxCrossEntropy(), fastbp.SoftmaxCrossEntropy()
    assert a.forward(z, labels) == b.forward(z, np.eye(5)[labels])
    assert_array_equal(a.output, b.output)
    a.backward(a.output, labels)
    b.backward(b.output, np.eye(5)[labels])
    assert_array_equal(a.dinputs, b.dinputs)


@pytest.mark.parametrize("kind", ["sparse", "onehot"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_crossentropy_large_logits_no_overflow(dtype, kind):
    z = np.array([[1000.0, 999.0, -1000.0],
                  [1000.0, 1000.0, 1000.0],
                  [-1000.0, 0.0, 1000.0],
                  [1000.0, 0.0, 0.0]], dtype=dtype)
    labels = np.array([0, 1, 2, 1])  # the last: p = exp(-1000) = 0, clipped to 1e-7
    y = labels_as(kind, labels, 3)
    fast = fastbp.SoftmaxCrossEntropy()
    ref = R.Activation_Softmax_Loss_CategoricalCrossentropy()
    with np.errstate(all="raise"):
        loss = fast.forward(z, y)
    ref_loss = ref.forward(z, y)
    assert np.all(np.isfinite(fast.output)) and math.isfinite(loss)
    e = 1 / (1 + math.exp(-1))
    expected_p = [[e, 1 - e, 0], [1 / 3] * 3, [0, 0, 1], [1, 0, 0]]
    assert_allclose(fast.output, expected_p, rtol=LOSS_RTOL[dtype], atol=0)
    expected_loss = (-math.log(e) - math.log(1 / 3) - math.log(1 - 1e-7)
                     - math.log(1e-7)) / 4
    assert_allclose(loss, expected_loss, rtol=LOSS_RTOL[dtype])
    assert_allclose(loss, ref_loss, rtol=LOSS_RTOL[dtype])
    fast.backward(fast.output, y)
    ref.backward(ref.output, y)
    assert np.all(np.isfinite(fast.dinputs))
    assert_allclose(fast.dinputs, ref.dinputs, rtol=LOSS_RTOL[dtype], atol=1e-7)


def test_softmax_crossentropy_one_class_is_clipped():
    z = np.array([[5.0], [-3.0]])
    fast = fastbp.SoftmaxCrossEntropy()
    loss = fast.forward(z, np.array([0, 0]))
    assert_array_equal(fast.output, [[1.0], [1.0]])
    assert_allclose(loss, -math.log(1 - 1e-7), rtol=1e-15)  # clipped to 1 - 1e-7, as the book
    fast.backward(fast.output, np.array([0, 0]))
    assert_array_equal(fast.dinputs, [[0.0], [0.0]])


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_class_matches_reference(rng, dtype):
    z = (2 * rng.standard_normal((9, 6))).astype(dtype)
    d = rng.standard_normal((9, 6)).astype(dtype)
    fast, ref = fastbp.Softmax(), R.Activation_Softmax()
    out = fast.forward(z)
    assert out is fast.output and out.dtype == dtype
    ref.forward(z)
    assert_allclose(out, ref.output, rtol=LOSS_RTOL[dtype], atol=0)
    assert_array_equal(fast.predictions(out), ref.predictions(ref.output))
    fast.backward(d)
    ref.backward(d)
    assert fast.dinputs.dtype == dtype
    # Each row is p·(d - Σp·d), with Σp = 1: its terms are bounded by max|d|.
    assert_allclose(fast.dinputs, ref.dinputs, rtol=0,
                    atol=10 * LOSS_RTOL[dtype] * np.abs(d).max())
    # Book alias.
    assert fastbp.Activation_Softmax is fastbp.Softmax


@pytest.mark.parametrize("kind", ["sparse", "onehot"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_categorical_crossentropy_matches_reference(rng, dtype, kind):
    n, c = 11, 4
    p = R.Activation_Softmax().forward(rng.standard_normal((n, c))).astype(dtype)
    p[0] = np.array([1.0, 0.0, 0.0, 0.0], dtype=dtype)  # exercises both clip bounds
    labels = rng.integers(0, c, n)
    labels[0] = 1
    y = labels_as(kind, labels, c)
    fast, ref = fastbp.CategoricalCrossentropy(), R.Loss_CategoricalCrossentropy()
    rtol = LOSS_RTOL[dtype]
    assert_allclose(fast.forward(p, y), ref.forward(p, y), rtol=rtol)
    assert_allclose(fast.calculate(p, y), ref.calculate(p, y), rtol=rtol)
    assert_allclose(fast.forward(p, y)[0], -math.log(1e-7), rtol=rtol)
    q = p[1:]
    fast.backward(q, y[1:])
    ref.backward(q, y[1:])
    assert fast.dinputs.shape == q.shape
    assert_allclose(fast.dinputs, ref.dinputs, rtol=rtol)
    assert fastbp.Loss_CategoricalCrossentropy is fastbp.CategoricalCrossentropy


def test_regularization_loss_matches_reference(rng):
    layer = fastbp.Dense(4, 5, weight_regularizer_l1=1e-3, weight_regularizer_l2=5e-4,
                         bias_regularizer_l1=2e-3, bias_regularizer_l2=1e-4, rng=rng)
    layer.set_parameters(layer.weights, rng.standard_normal((1, 5)))
    expected = R.Loss().regularization_loss(layer)
    assert expected > 0
    assert_allclose(Loss.regularization_loss(layer), expected, rtol=1e-13)
    assert_allclose(fastbp.SoftmaxCrossEntropy().regularization_loss(layer), expected,
                    rtol=1e-13)
    assert_allclose(fastbp.CategoricalCrossentropy().regularization_loss(layer), expected,
                    rtol=1e-13)
    # Each term alone.
    for name in ("weight_regularizer_l1", "weight_regularizer_l2", "bias_regularizer_l1",
                 "bias_regularizer_l2"):
        single = fastbp.Dense(4, 5, **{name: 0.25}, rng=rng)
        single.set_parameters(single.weights, rng.standard_normal((1, 5)))
        assert_allclose(Loss.regularization_loss(single),
                        R.Loss().regularization_loss(single), rtol=1e-13)
    assert Loss.regularization_loss(fastbp.Dense(4, 5, rng=rng)) == 0


# =========================================================================================
# 2. The loss gradient by central finite differences
# =========================================================================================

@pytest.mark.parametrize("kind", ["sparse", "onehot"])
@pytest.mark.parametrize("shape", [(1, 3), (6, 4), (10, 2)])
def test_loss_gradient_central_finite_difference(rng, shape, kind):
    n, c = shape
    z = rng.standard_normal(shape)  # probabilities well inside the clip bounds
    y = labels_as(kind, rng.integers(0, c, n), c)
    loss = fastbp.SoftmaxCrossEntropy()
    loss.forward(z, y)
    loss.backward(loss.output, y)
    analytic = loss.dinputs.copy()  # the buffers are reused by the next calls
    h = 1e-6
    numeric = np.empty_like(z)
    for i in range(n):
        for j in range(c):
            zp, zm = z.copy(), z.copy()
            zp[i, j] += h
            zm[i, j] -= h
            numeric[i, j] = (loss.forward(zp, y) - loss.forward(zm, y)) / (2 * h)
    assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


# =========================================================================================
# 3. Optimizers against the reference, step by step
# =========================================================================================

OPTIMIZER_CASES = [
    pytest.param("SGD", dict(learning_rate=0.5), id="sgd"),
    pytest.param("SGD", dict(learning_rate=0.5, decay=0.1), id="sgd-decay"),
    pytest.param("SGD", dict(learning_rate=0.5, decay=0.1, momentum=0.9), id="sgd-momentum"),
    pytest.param("Adagrad", dict(learning_rate=0.5, decay=0.1), id="adagrad-decay"),
    pytest.param("Adagrad", dict(), id="adagrad-default"),
    pytest.param("RMSprop", dict(learning_rate=0.02, decay=0.1, rho=0.95), id="rmsprop-decay"),
    pytest.param("RMSprop", dict(), id="rmsprop-default"),
    pytest.param("Adam", dict(learning_rate=0.05, decay=0.1), id="adam-decay"),
    pytest.param("Adam", dict(learning_rate=0.05, decay=5e-7, epsilon=1e-5, beta_1=0.8,
                              beta_2=0.99), id="adam-custom"),
]


def state_names(name, kwargs):
    if name == "SGD":
        return ["weight_momentums", "bias_momentums"] if kwargs.get("momentum") else []
    if name == "Adam":
        return ["weight_momentums", "bias_momentums", "weight_cache", "bias_cache"]
    return ["weight_cache", "bias_cache"]


@pytest.mark.parametrize("name, kwargs", OPTIMIZER_CASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_optimizer_steps_match_reference(rng, dtype, name, kwargs):
    fast_layer = fastbp.Dense(4, 5, dtype=dtype, rng=7)
    ref_layer = R.Layer_Dense(4, 5, dtype=dtype, rng=7)
    assert_array_equal(fast_layer.weights, ref_layer.weights)
    biases = (0.1 * rng.standard_normal((1, 5))).astype(dtype)
    fast_layer.biases[...] = biases
    ref_layer.biases = biases.copy()
    fast_opt = getattr(fastbp, name)(**kwargs)
    ref_opt = getattr(R, "Optimizer_" + name)(**kwargs)
    assert getattr(fastbp, "Optimizer_" + name) is type(fast_opt)
    rtol = OPT_RTOL[dtype]
    states = state_names(name, kwargs)

    for step in range(5):
        dw = rng.standard_normal((4, 5)).astype(dtype)
        db = rng.standard_normal((1, 5)).astype(dtype)
        fast_layer.dweights, fast_layer.dbiases = dw.copy(), db.copy()
        ref_layer.dweights, ref_layer.dbiases = dw.copy(), db.copy()
        for opt, layer in ((fast_opt, fast_layer), (ref_opt, ref_layer)):
            opt.pre_update_params()
            opt.update_params(layer)
            opt.post_update_params()
        assert fast_opt.iterations == ref_opt.iterations == step + 1
        assert fast_opt.current_learning_rate == pytest.approx(ref_opt.current_learning_rate,
                                                               rel=1e-15)
        assert_array_equal(fast_layer.dweights, dw)  # gradients are not written
        assert_array_equal(fast_layer.dbiases, db)
        assert fast_layer.weights.dtype == dtype and fast_layer.biases.dtype == dtype
        assert_allclose(fast_layer.weights, ref_layer.weights, rtol=rtol, atol=0,
                        err_msg=f"weights after step {step + 1}")
        assert_allclose(fast_layer.biases, ref_layer.biases, rtol=rtol, atol=0,
                        err_msg=f"biases after step {step + 1}")
        for state in states:
            fast_state = getattr(fast_layer, state)
            assert fast_state.dtype == dtype
            assert_allclose(fast_state, getattr(ref_layer, state), rtol=rtol, atol=0,
                            err_msg=f"{state} after step {step + 1}")
    if kwargs.get("decay"):
        expected_lr = fast_opt.learning_rate / (1 + fast_opt.decay * 4)
        assert fast_opt.current_learning_rate == pytest.approx(expected_lr, rel=1e-15)
    else:
        assert fast_opt.current_learning_rate == fast_opt.learning_rate
    if not states:
        assert not hasattr(fast_layer, "weight_momentums")


def test_optimizer_defaults_match_the_book():
    for name in ("SGD", "Adagrad", "RMSprop", "Adam"):
        fast, ref = getattr(fastbp, name)(), getattr(R, "Optimizer_" + name)()
        for attr in ("learning_rate", "current_learning_rate", "decay", "iterations",
                     "momentum", "epsilon", "rho", "beta_1", "beta_2"):
            if hasattr(ref, attr):
                assert getattr(fast, attr) == getattr(ref, attr), (name, attr)


@pytest.mark.parametrize("cls, kwargs, name", [
    (fastbp.SGD, dict(learning_rate=-1.0), "learning_rate"),
    (fastbp.SGD, dict(learning_rate=0.0), "learning_rate"),
    (fastbp.SGD, dict(learning_rate=float("nan")), "learning_rate"),
    (fastbp.SGD, dict(decay=-1e-3), "decay"),
    (fastbp.SGD, dict(momentum=-0.1), "momentum"),
    (fastbp.Adagrad, dict(learning_rate=-0.5), "learning_rate"),
    (fastbp.Adagrad, dict(epsilon=-1e-7), "epsilon"),
    (fastbp.RMSprop, dict(rho=1.0), "rho"),
    (fastbp.RMSprop, dict(rho=1.5), "rho"),
    (fastbp.RMSprop, dict(rho=-0.1), "rho"),
    (fastbp.RMSprop, dict(decay=-1.0), "decay"),
    (fastbp.Adam, dict(learning_rate=-0.001), "learning_rate"),
    (fastbp.Adam, dict(beta_1=1.0), "beta_1"),
    (fastbp.Adam, dict(beta_1=-0.1), "beta_1"),
    (fastbp.Adam, dict(beta_2=1.0), "beta_2"),
    (fastbp.Adam, dict(epsilon=float("nan")), "epsilon"),
], ids=lambda v: repr(v) if not isinstance(v, type) else v.__name__)
def test_bad_hyperparameters(cls, kwargs, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        cls(**kwargs)


@pytest.mark.parametrize("value", [None, "fast"], ids=["None", "str"])
def test_non_numeric_learning_rate_is_named(value):
    # BUG (minor): float(None) / float("fast") escape with "float() argument must be ..." /
    # "could not convert string to float", which do not say which argument was wrong.
    with pytest.raises((TypeError, ValueError), match="learning_rate"):
        fastbp.Adam(learning_rate=value)


@pytest.mark.parametrize("which", ["dweights", "dbiases"])
def test_optimizer_noncontiguous_gradients(rng, which):
    """Gradients set by hand (the book's readers do) need not be C-contiguous.

    Either they are used like the reference uses them, or they are refused with a message
    naming the gradients before anything changes. Today: a Fortran-ordered ``dweights``
    escapes Cython's "ndarray is not C-contiguous", and a strided ``dbiases`` is refused only
    after the weights were already updated (the layer is left half-stepped).
    """
    fast_layer, ref_layer = fastbp.Dense(4, 5, rng=3), R.Layer_Dense(4, 5, rng=3)
    dw = rng.standard_normal((4, 5))
    db = rng.standard_normal((1, 5))
    if which == "dweights":
        fast_dw, fast_db = np.asfortranarray(dw), db.copy()
    else:
        strided = np.zeros((1, 10))
        strided[:, ::2] = db
        fast_dw, fast_db = dw.copy(), strided[:, ::2]
    assert not (fast_dw.flags.c_contiguous and fast_db.flags.c_contiguous)
    fast_layer.dweights, fast_layer.dbiases = fast_dw, fast_db
    ref_layer.dweights, ref_layer.dbiases = dw.copy(), db.copy()
    w0, b0 = fast_layer.weights.copy(), fast_layer.biases.copy()
    opt, ref_opt = fastbp.Adam(learning_rate=0.05), R.Optimizer_Adam(learning_rate=0.05)
    try:
        opt.update_params(fast_layer)
    except (ValueError, TypeError) as exc:
        assert_array_equal(fast_layer.weights, w0,
                           err_msg=f"weights changed by a refused step ({exc})")
        assert_array_equal(fast_layer.biases, b0,
                           err_msg=f"biases changed by a refused step ({exc})")
        assert re.search(r"gradient|dweights|dbiases", str(exc)), \
            f"the error does not name the gradients: {exc}"
    else:
        ref_opt.update_params(ref_layer)
        assert_allclose(fast_layer.weights, ref_layer.weights, rtol=1e-14)
        assert_allclose(fast_layer.biases, ref_layer.biases, rtol=1e-14)


def test_optimizer_rejects_gradients_of_the_wrong_shape_or_dtype():
    layer = fastbp.Dense(4, 5, rng=0)
    w0 = layer.weights.copy()
    layer.dweights, layer.dbiases = np.ones((5, 4)), np.ones((1, 5))
    with pytest.raises(ValueError, match=r"dweights .*\(4, 5\).*\(5, 4\)"):
        fastbp.SGD().update_params(layer)
    layer.dweights = np.ones((4, 5), dtype=np.complex128)
    with pytest.raises(TypeError, match=r"dweights .*complex128"):
        fastbp.SGD().update_params(layer)
    assert_array_equal(layer.weights, w0)
    # Another real dtype is converted, as the book's numpy code would: float32 ones give
    # the same step as float64 ones.
    layer.dweights = np.ones((4, 5), dtype=np.float32)
    fastbp.SGD(learning_rate=0.5).update_params(layer)
    assert_array_equal(layer.weights, w0 - 0.5)
    with pytest.raises(RuntimeError, match="backward"):
        fastbp.SGD().update_params(fastbp.Dense(4, 5, rng=0))


# =========================================================================================
# 4. Model against reference.train_spiral, and the Model's features
# =========================================================================================

def spiral_model(seed=0, *, dtype=F64, optimizer=None, loss=None, softmax_layer=False,
                 sizes=(2, 64, 3), finalize=True):
    """Dense(2, 64) → ReLU → Dense(64, 3), drawing dense1 then dense2 from one generator, as
    reference.train_spiral does."""
    rng = np.random.default_rng(seed)
    model = fastbp.Model()
    model.add(fastbp.Dense(sizes[0], sizes[1], dtype=dtype, rng=rng))
    model.add(fastbp.ReLU())
    model.add(fastbp.Dense(sizes[1], sizes[2], dtype=dtype, rng=rng))
    if softmax_layer:
        model.add(fastbp.Softmax())
    model.set(loss=loss if loss is not None else fastbp.SoftmaxCrossEntropy(),
              optimizer=optimizer if optimizer is not None else fastbp.Adam(
                  learning_rate=0.05, decay=5e-7))
    if finalize:
        model.finalize()
    return model


def dense_layers(model):
    return [layer for layer in model.layers if hasattr(layer, "weights")]


def snapshot(model):
    return [(layer.weights.copy(), layer.biases.copy()) for layer in dense_layers(model)]


def assert_unchanged(model, before, iterations=0):
    for index, (layer, (w, b)) in enumerate(zip(dense_layers(model), before)):
        assert_array_equal(layer.weights, w, err_msg=f"weights of layer {index} changed")
        assert_array_equal(layer.biases, b, err_msg=f"biases of layer {index} changed")
    if model.optimizer is not None:
        assert model.optimizer.iterations == iterations


def manual_logits(model, X):
    """The network's logits, computed the book's way from the model's parameters."""
    (w1, b1), (w2, b2) = model.get_parameters()
    return np.maximum(0, X @ w1 + b1) @ w2 + b2


# Over thousands of epochs this training is chaotic: two float64 runs whose arithmetic
# differs only by rounding (a different order of a sum, BLAS vs loop kernels) agree to
# ~1e-14 for the first hundred epochs or so, then drift apart, and after 10,000 epochs their
# losses differ by O(1e-2) although both train equally well. So agreement is tested over 50
# epochs from the start, where 1e-16 rounding differences have not grown past ~1e-12, and
# along all 10,000 epochs of the demo in 100-epoch segments, each started from fastbp's state
# (test_demo_training_agrees_with_the_reference_along_10000_epochs).
MODEL_CASES = [pytest.param(name, id=name) for name in sorted(demo.OPTIMIZERS)] + [
    pytest.param("sgd-plain", id="sgd-plain"),
]


def optimizer_case(case):
    """(fastbp class, reference class, hyperparameters) of a MODEL_CASES entry."""
    if case == "sgd-plain":
        return fastbp.SGD, R.Optimizer_SGD, dict(learning_rate=1.0)
    return demo.OPTIMIZERS[case]


@pytest.mark.parametrize("case", MODEL_CASES)
def test_model_matches_reference_train_spiral(spiral, case):
    X, y = spiral
    fast_cls, ref_cls, params = optimizer_case(case)
    seed, epochs = 11, 50
    model = spiral_model(seed, optimizer=fast_cls(**params))
    result = model.train(X, y, epochs=epochs, print_every=0)
    ref_opt = ref_cls(**params)
    ref = R.train_spiral(X, y, optimizer=ref_opt, epochs=epochs,
                         rng=np.random.default_rng(seed))

    assert_allclose(result["loss"], ref["loss"], rtol=1e-10)
    assert result["accuracy"] == ref["accuracy"]
    assert model.optimizer.iterations == ref_opt.iterations == epochs
    assert model.optimizer.current_learning_rate == pytest.approx(
        ref_opt.current_learning_rate, rel=1e-15)
    for layer, ref_layer in zip(dense_layers(model), ref["layers"]):
        scale = np.abs(ref_layer.weights).max()
        assert_allclose(layer.weights, ref_layer.weights, rtol=0, atol=1e-10 * scale)
        assert_allclose(layer.biases, ref_layer.biases, rtol=0, atol=1e-10 * scale)


def test_model_same_initial_weights_as_reference(spiral):
    X, y = spiral
    model = spiral_model(5)
    ref = R.train_spiral(X, y, optimizer=R.Optimizer_SGD(learning_rate=1e-300), epochs=1,
                         rng=np.random.default_rng(5))
    for layer, ref_layer in zip(dense_layers(model), ref["layers"]):
        assert_array_equal(layer.weights, ref_layer.weights)


def test_train_returns_the_last_epoch_figures(spiral):
    X, y = spiral
    model = spiral_model(1)
    result = model.train(X, y, epochs=7, print_every=0)
    assert set(result) >= {"epoch", "loss", "data_loss", "reg_loss", "accuracy",
                           "learning_rate"}
    assert result["epoch"] == 7
    assert result["reg_loss"] == 0
    assert result["loss"] == result["data_loss"]
    assert math.isfinite(result["loss"]) and result["loss"] > 0
    assert 0 <= result["accuracy"] <= 1
    assert result["learning_rate"] == model.optimizer.current_learning_rate
    assert model.optimizer.iterations == 7


def test_train_with_regularization_reports_reg_loss(spiral):
    X, y = spiral
    rng = np.random.default_rng(2)
    model = fastbp.Model()
    model.add(fastbp.Dense(2, 64, weight_regularizer_l2=5e-4, bias_regularizer_l2=5e-4,
                           rng=rng))
    model.add(fastbp.ReLU())
    model.add(fastbp.Dense(64, 3, weight_regularizer_l1=1e-4, rng=rng))
    model.set(loss=fastbp.SoftmaxCrossEntropy(), optimizer=fastbp.Adam(learning_rate=0.02))
    model.finalize()
    result = model.train(X, y, epochs=5, print_every=0)
    # As the book's Model (calculate_accumulated): the penalty of the parameters at the end.
    expected = sum(R.Loss().regularization_loss(layer) for layer in dense_layers(model))
    assert result["reg_loss"] > 0
    assert_allclose(result["reg_loss"], expected, rtol=1e-13)
    assert_allclose(result["loss"], result["data_loss"] + result["reg_loss"], rtol=1e-15)


def test_print_every_output_format(spiral, capsys):
    X, y = spiral
    model = spiral_model(3)
    result = model.train(X, y, epochs=20, print_every=7)
    lines = capsys.readouterr().out.splitlines()
    pattern = re.compile(r"^epoch: (\d+), acc: (\d\.\d{3}), loss: (\d+\.\d{3}) "
                         r"\(data_loss: (\d+\.\d{3}), reg_loss: (\d+\.\d{3})\), lr: (\S+)$")
    matches = [pattern.match(line) for line in lines]
    assert all(matches), lines
    assert [int(m.group(1)) for m in matches] == [7, 14, 20]  # and always the last epoch
    last = matches[-1]
    assert last.group(2) == f"{result['accuracy']:.3f}"
    assert last.group(3) == f"{result['loss']:.3f}"
    assert last.group(5) == "0.000"
    assert float(last.group(6)) == model.optimizer.current_learning_rate

    spiral_model(3).train(X, y, epochs=3, print_every=0)
    assert capsys.readouterr().out == ""


def test_batch_size_training_lowers_the_loss(spiral):
    # spiral_data is sorted by class: shuffled first, as the book does before batch training
    # (batches of one class each only pull the network to and fro).
    keys = np.random.default_rng(0).permutation(300)
    X, y = spiral[0][keys], spiral[1][keys]
    model = spiral_model(4, optimizer=fastbp.Adam(learning_rate=0.05))
    before, _ = model.evaluate(X, y)
    result = model.train(X, y, epochs=10, batch_size=32, print_every=0)
    after, _ = model.evaluate(X, y)
    assert model.optimizer.iterations == 10 * math.ceil(300 / 32)
    assert after < before - 0.05
    assert result["loss"] < before
    assert math.isfinite(result["loss"])


def test_batch_size_covering_the_data_is_full_batch(spiral):
    X, y = spiral
    a, b = spiral_model(4), spiral_model(4)
    ra = a.train(X, y, epochs=5, print_every=0)
    rb = b.train(X, y, epochs=5, batch_size=300, print_every=0)
    rc_model = spiral_model(4)
    rc = rc_model.train(X, y, epochs=5, batch_size=1000, print_every=0)
    assert ra == rb == rc
    for pa, pb in zip(a.get_parameters(), b.get_parameters()):
        assert_array_equal(pa[0], pb[0])


def test_validation_data(spiral, capsys):
    X, y = spiral
    X_val, y_val = spiral_data(20, 3, rng=99)
    model = spiral_model(6)
    result = model.train(X, y, epochs=10, print_every=10, validation_data=(X_val, y_val))
    out = capsys.readouterr().out
    assert re.search(r"^validation, acc: \d\.\d{3}, loss: \d+\.\d{3}$", out, re.M), out
    loss, acc = model.evaluate(X_val, y_val)
    assert result["validation_loss"] == pytest.approx(loss, rel=1e-15)
    assert result["validation_accuracy"] == acc
    # One-hot validation labels too.
    result = model.train(X, y, epochs=1, print_every=0,
                         validation_data=(X_val, np.eye(3)[y_val]))
    assert math.isfinite(result["validation_loss"])


def test_evaluate_matches_the_book_computation(spiral):
    X, y = spiral
    model = spiral_model(8)
    model.train(X, y, epochs=15, print_every=0)
    before = snapshot(model)
    loss, acc = model.evaluate(X, y)
    ref = R.Activation_Softmax_Loss_CategoricalCrossentropy()
    ref_loss = ref.forward(manual_logits(model, X), y)
    assert_allclose(loss, ref_loss, rtol=1e-12)
    assert acc == np.mean(np.argmax(ref.output, axis=1) == y)
    loss_b, acc_b = model.evaluate(X, y, batch_size=64)
    assert_allclose(loss_b, loss, rtol=1e-13)
    assert acc_b == pytest.approx(acc, rel=1e-15)
    assert_unchanged(model, before, iterations=15)


def test_predict_probabilities(spiral):
    X, y = spiral
    model = spiral_model(9)
    model.train(X, y, epochs=15, print_every=0)
    p = model.predict(X)
    assert p.shape == (300, 3) and p.dtype == F64
    assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-14)
    assert np.all(p >= 0)
    assert_allclose(p, R.Activation_Softmax().forward(manual_logits(model, X)), rtol=1e-12)
    kept = p.copy()
    p2 = model.predict(X[:5])
    assert p2 is not p and p2.shape == (5, 3)
    assert_array_equal(p, kept)  # a new array each call, not a reused buffer
    assert_allclose(model.predict(X, batch_size=64), p, rtol=1e-14)
    assert model.predict(X[:1]).shape == (1, 3)


def test_finalize_fuses_dense_relu_sharing_the_weights(spiral):
    X, y = spiral
    model = spiral_model(10)
    dense1, relu, dense2 = model.layers
    graph = model.graph
    assert [type(layer) for layer in graph] == [fastbp.DenseReLU, fastbp.Dense]
    assert graph[0].weights is dense1.weights
    assert graph[0].biases is dense1.biases
    assert graph[1] is dense2
    w0 = dense1.weights.copy()
    model.train(X, y, epochs=3, print_every=0)
    assert graph[0].weights is dense1.weights  # updated in place, still shared
    assert not np.array_equal(dense1.weights, w0)
    assert_array_equal(model.get_parameters()[0][0], dense1.weights)


def test_graph_trainable_layers_and_output_loss_follow_finalize():
    model = spiral_model(11, finalize=False)
    assert model.graph is None and model.trainable_layers == () and model.output_loss is None
    model.finalize()
    dense1, relu, dense2 = model.layers
    assert model.trainable_layers == model.graph  # DenseReLU and Dense: both have weights
    assert model.trainable_layers[1] is dense2
    assert model.output_loss is model.loss
    model.add(fastbp.ReLU())  # changes the stack: finalize() again before it runs
    assert model.graph is None and model.trainable_layers == () and model.output_loss is None
    model.finalize()
    model.set(loss=fastbp.SoftmaxCrossEntropy(), optimizer=fastbp.SGD())
    assert model.graph is None and model.output_loss is None
    with pytest.raises(AttributeError):
        model.graph = ()


def test_a_dense_set_after_finalize_is_what_the_model_trains(spiral):
    # The fused DenseReLU and the Dense it was made from are kept in step: new weights, a
    # regularizer set on the Dense after finalize() count, as if set before it.
    X, y = spiral
    late = spiral_model(13)
    dense1 = late.layers[0]
    weights = np.random.default_rng(5).standard_normal((2, 64)) * 0.1
    dense1.weights = weights.copy()
    dense1.weight_regularizer_l2 = 5e-4
    early = spiral_model(13, finalize=False)
    early.layers[0].weights = weights.copy()
    early.layers[0].weight_regularizer_l2 = 5e-4
    early.finalize()
    assert_array_equal(late.predict(X), early.predict(X))
    assert late.train(X, y, epochs=20, print_every=0) == early.train(X, y, epochs=20,
                                                                      print_every=0)
    for (wa, ba), (wb, bb) in zip(late.get_parameters(), early.get_parameters()):
        assert_array_equal(wa, wb)
        assert_array_equal(ba, bb)
    # and the Dense holds what was trained, with the optimizer's state
    assert dense1.weights is late.graph[0].weights
    assert dense1.weight_momentums is late.graph[0].weight_momentums


def test_a_converted_copy_goes_back_to_the_dense(spiral):
    # Fortran-ordered weights: the fused layer trains a C-ordered copy; after train() the
    # Dense holds that copy, trained.
    X, y = spiral
    model = spiral_model(14, finalize=False)
    dense1 = model.layers[0]
    dense1.weights = np.asfortranarray(dense1.weights)
    model.finalize()
    before = dense1.weights.copy()
    model.train(X, y, epochs=5, print_every=0)
    assert dense1.weights is model.graph[0].weights and dense1.weights.flags.c_contiguous
    assert not np.array_equal(dense1.weights, before)
    assert_array_equal(model.get_parameters()[0][0], dense1.weights)


def test_fused_pairs_after_pickle_refinalize_and_from_an_old_pickle(spiral):
    import pickle
    X, y = spiral
    model = spiral_model(15)
    model.train(X, y, epochs=3, print_every=0)
    # Set on the fused layer after a pickle (its floats are new objects): kept, and the
    # Dense gets it.
    loaded = pickle.loads(pickle.dumps(model))
    loaded.graph[0].weight_regularizer_l2 = 1e-3
    loaded.predict(X[:2])
    assert loaded.layers[0].weight_regularizer_l2 == loaded.graph[0].weight_regularizer_l2 == 1e-3
    # finalize() again keeps what was set on the old fused layer.
    loaded.graph[0].bias_regularizer_l2 = 2e-3
    loaded.finalize()
    assert loaded.graph[0].bias_regularizer_l2 == 2e-3
    # A model pickled before the pairs were kept finds them again.
    state = model.__getstate__() if hasattr(model, "__getstate__") else model.__dict__
    state = {k: v for k, v in dict(state).items() if k != "_fused"}
    old = fastbp.Model.__new__(fastbp.Model)
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    old.layers[0].weights = np.zeros_like(old.layers[0].weights)
    p = old.predict(X[:5])  # zero weights: every row gets the same hidden layer, biases only
    assert_allclose(p, np.broadcast_to(p[0], p.shape), rtol=1e-15)
    assert old.graph[0].weights is old.layers[0].weights


def test_a_dense_used_twice_keeps_two_optimizer_states(spiral):
    X, y = spiral
    rng = np.random.default_rng(16)
    shared = fastbp.Dense(8, 8, rng=rng)
    model = fastbp.Model()
    for layer in (fastbp.Dense(2, 8, rng=rng), fastbp.ReLU(), shared, fastbp.ReLU(), shared,
                  fastbp.ReLU(), fastbp.Dense(8, 3, rng=rng)):
        model.add(layer)
    model.set(loss=fastbp.SoftmaxCrossEntropy(), optimizer=fastbp.Adam(0.01))
    model.finalize()
    model.train(X, y, epochs=3, print_every=0)
    assert model.graph[1].weight_momentums is not model.graph[2].weight_momentums


def test_a_regularizer_set_on_the_dense_during_training_counts_from_the_next_call(spiral):
    X, y = spiral
    model = spiral_model(17)

    def hook():  # as a print hook might, mid-training
        model.layers[0].weight_regularizer_l2 = 0.5
        model.predict(X[:2])

    model.optimizer.post_update_params = (lambda post=model.optimizer.post_update_params:
                                          (post(), hook()))
    first = model.train(X, y, epochs=3, print_every=0)
    assert first["reg_loss"] == 0.0  # this call trained without it
    assert model.graph[0].weight_regularizer_l2 == 0.5  # the next one with it
    assert model.train(X, y, epochs=1, print_every=0)["reg_loss"] > 0


def test_softmax_layer_with_categorical_crossentropy_is_fused(spiral):
    X, y = spiral
    fused = spiral_model(12, loss=fastbp.CategoricalCrossentropy(), softmax_layer=True)
    assert not any(type(layer) is fastbp.Softmax for layer in fused.graph)
    assert isinstance(fused.output_loss, fastbp.SoftmaxCrossEntropy)
    direct = spiral_model(12)
    ra = fused.train(X, y, epochs=20, print_every=0)
    rb = direct.train(X, y, epochs=20, print_every=0)
    assert ra == rb
    for (wa, ba), (wb, bb) in zip(fused.get_parameters(), direct.get_parameters()):
        assert_array_equal(wa, wb)
        assert_array_equal(ba, bb)
    assert_array_equal(fused.predict(X), direct.predict(X))


def test_onehot_labels_train_like_sparse(spiral):
    X, y = spiral
    a, b = spiral_model(13), spiral_model(13)
    ra = a.train(X, y, epochs=10, print_every=0)
    rb = b.train(X, np.eye(3)[y], epochs=10, print_every=0)
    assert ra == rb
    for (wa, _), (wb, _) in zip(a.get_parameters(), b.get_parameters()):
        assert_array_equal(wa, wb)


def test_float32_model_trains(spiral):
    X, y = spiral
    model = spiral_model(14, dtype=F32)
    before, _ = model.evaluate(X, y)
    result = model.train(X, y, epochs=30, print_every=0)
    assert all(layer.weights.dtype == F32 for layer in dense_layers(model))
    assert model.predict(X).dtype == F32
    assert math.isfinite(result["loss"]) and model.evaluate(X, y)[0] < before


def test_finalize_refuses_inconsistent_loss_and_softmax():
    with pytest.raises(ValueError, match="SoftmaxCrossEntropy includes the softmax"):
        spiral_model(loss=fastbp.SoftmaxCrossEntropy(), softmax_layer=True)
    with pytest.raises(ValueError, match="Softmax"):
        spiral_model(loss=fastbp.CategoricalCrossentropy())
    with pytest.raises(TypeError, match="loss"):
        fastbp.Model().set(loss=R.Loss_CategoricalCrossentropy())


# =========================================================================================
# 5. Bad input: a clear error, and nothing changed
# =========================================================================================

@pytest.fixture(scope="module")
def small_data():
    return spiral_data(10, 3, rng=1)  # X (30, 2), y (30,) uint8


def small_model(**kwargs):
    return spiral_model(20, sizes=(2, 8, 3), optimizer=fastbp.SGD(learning_rate=0.5), **kwargs)


def bad_labels(y):
    return {
        "class-3": (np.where(np.arange(len(y)) == 4, 3, y), ValueError,
                    r"\by\b labels must lie in \[0, 3\).*3"),
        "class-minus-1": (np.where(np.arange(len(y)) == 4, -1, y.astype(np.int64)), ValueError,
                          r"\by\b labels must lie in \[0, 3\).*-1"),
        "too-short": (y[:-1], ValueError, r"\by\b must have one label per sample \(30\)"),
        "too-long": (np.append(y, 0), ValueError, r"\by\b must have one label per sample"),
        "float": (y.astype(np.float64), TypeError, r"\by\b must hold integer.*float64"),
        "onehot-width-4": (np.eye(4)[y], ValueError, r"one-hot \by\b.*\(30, 3\).*\(30, 4\)"),
        "onehot-width-2": (np.eye(3)[y][:, :2], ValueError, r"one-hot \by\b.*\(30, 2\)"),
        "3-D": (np.eye(3)[y][:, :, None], ValueError, r"\by\b must be 1-D .* 2-D"),
        "None": (None, TypeError, r"\by\b"),
    }


BAD_LABELS = ["class-3", "class-minus-1", "too-short", "too-long", "float", "onehot-width-4",
              "onehot-width-2", "3-D", "None"]


@pytest.mark.parametrize("case", BAD_LABELS)
def test_train_bad_labels(small_data, case):
    X, y = small_data
    labels, exc, pattern = bad_labels(y)[case]
    model = small_model()
    before = snapshot(model)
    with pytest.raises(exc, match=pattern):
        model.train(X, labels, epochs=3, print_every=0)
    assert_unchanged(model, before)


@pytest.mark.parametrize("case", ["class-3", "too-short", "float", "onehot-width-4"])
def test_evaluate_bad_labels(small_data, case):
    X, y = small_data
    labels, exc, pattern = bad_labels(y)[case]
    with pytest.raises(exc, match=pattern):
        small_model().evaluate(X, labels)


@pytest.mark.parametrize("case, exc, pattern", [
    ("3-features", ValueError, r"\bX\b has 3 features.*takes 2 inputs"),
    ("1-D", ValueError, r"\bX\b must be 2-D"),
    ("3-D", ValueError, r"\bX\b must be 2-D"),
    ("complex", TypeError, r"\bX\b must hold real numbers"),
    ("None", TypeError, r"\bX\b"),
])
def test_train_bad_X(small_data, case, exc, pattern):
    X, y = small_data
    bad = {"3-features": np.hstack([X, X[:, :1]]), "1-D": X[:, 0], "3-D": X[:, :, None],
           "complex": X.astype(complex), "None": None}[case]
    for method in ("train", "evaluate", "predict"):
        model = small_model()
        before = snapshot(model)
        with pytest.raises(exc, match=pattern):
            if method == "train":
                model.train(bad, y, epochs=3, print_every=0)
            elif method == "evaluate":
                model.evaluate(bad, y)
            else:
                model.predict(bad)
        assert_unchanged(model, before)


@pytest.mark.parametrize("method", ["train", "evaluate", "predict"])
def test_before_finalize(small_data, method):
    X, y = small_data
    model = small_model(finalize=False)
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"finalize\(\)"):
        if method == "train":
            model.train(X, y, epochs=3, print_every=0)
        elif method == "evaluate":
            model.evaluate(X, y)
        else:
            model.predict(X)
    assert_unchanged(model, before)


def test_set_or_add_after_finalize_requires_finalize_again(small_data):
    X, y = small_data
    model = small_model()
    model.set(loss=fastbp.SoftmaxCrossEntropy(), optimizer=fastbp.SGD())
    with pytest.raises(ValueError, match=r"finalize\(\)"):
        model.train(X, y, print_every=0)


def test_finalize_with_no_layers_or_no_loss():
    model = fastbp.Model()
    model.set(loss=fastbp.SoftmaxCrossEntropy(), optimizer=fastbp.SGD())
    with pytest.raises(ValueError, match="no layers"):
        model.finalize()
    model = fastbp.Model()
    model.add(fastbp.Dense(2, 3))
    with pytest.raises(ValueError, match="loss"):
        model.finalize()


def test_train_without_optimizer(small_data):
    X, y = small_data
    model = fastbp.Model()
    model.add(fastbp.Dense(2, 3, rng=0))
    model.set(loss=fastbp.SoftmaxCrossEntropy())
    model.finalize()
    before = snapshot(model)
    with pytest.raises(ValueError, match="optimizer"):
        model.train(X, y, print_every=0)
    assert_unchanged(model, before)
    # Evaluating and predicting need no optimizer.
    assert math.isfinite(model.evaluate(X, y)[0])
    assert model.predict(X).shape == (30, 3)


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(epochs=-1), r"epochs must be an integer >= 0"),
    (dict(epochs=2.5), r"epochs"),
    (dict(batch_size=0), r"batch_size must be None or an integer >= 1"),
    (dict(batch_size=-4), r"batch_size"),
    (dict(batch_size=2.5), r"batch_size"),
])
def test_train_bad_epochs_or_batch_size(small_data, kwargs, pattern):
    X, y = small_data
    model = small_model()
    before = snapshot(model)
    with pytest.raises(ValueError, match=pattern):
        model.train(X, y, print_every=0, **kwargs)
    assert_unchanged(model, before)


def test_zero_epochs_changes_nothing(small_data):
    X, y = small_data
    model = small_model()
    before = snapshot(model)
    model.train(X, y, epochs=0, print_every=0)
    assert_unchanged(model, before)


@pytest.mark.parametrize("case", ["class-3", "class-minus-1", "too-short", "float",
                                  "onehot-width-4", "3-D"])
def test_bad_validation_labels_fail_before_training(small_data, case):
    X, y = small_data
    labels, exc, _ = bad_labels(y)[case]
    model = small_model()
    before = snapshot(model)
    with pytest.raises(exc, match=r"validation y"):
        model.train(X, y, epochs=5, print_every=0, validation_data=(X, labels))
    assert_unchanged(model, before)


def test_bad_validation_X_fails_before_training(small_data):
    X, y = small_data
    model = small_model()
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"validation X has 3 features"):
        model.train(X, y, epochs=5, print_every=0,
                    validation_data=(np.hstack([X, X[:, :1]]), y))
    assert_unchanged(model, before)


def test_validation_data_not_a_pair(small_data):
    # BUG (minor): validation_data=X gives "too many values to unpack (expected 2)", which
    # does not name validation_data (nothing is changed, though).
    X, y = small_data
    model = small_model()
    before = snapshot(model)
    with pytest.raises((ValueError, TypeError), match="validation_data"):
        model.train(X, y, epochs=5, print_every=0, validation_data=X)
    assert_unchanged(model, before)


# =========================================================================================
# 6. save_parameters / load_parameters: .npz, no pickle
# =========================================================================================

def test_save_load_round_trip(spiral, tmp_path):
    X, y = spiral
    model = spiral_model(30)
    model.train(X, y, epochs=10, print_every=0)
    path = tmp_path / "params.npz"
    model.save_parameters(path)
    with np.load(path, allow_pickle=False) as data:  # a plain .npz, readable without pickle
        assert sorted(data.files) == ["biases_0", "biases_1", "weights_0", "weights_1"]
        assert_array_equal(data["weights_1"], model.layers[2].weights)

    fresh = spiral_model(31)  # other weights, finalized: the fused layer must see the load
    fresh.load_parameters(path)
    for (wa, ba), (wb, bb) in zip(model.get_parameters(), fresh.get_parameters()):
        assert_array_equal(wa, wb)
        assert_array_equal(ba, bb)
    assert fresh.graph[0].weights is fresh.layers[0].weights
    assert_array_equal(fresh.predict(X), model.predict(X))
    assert fresh.evaluate(X, y) == model.evaluate(X, y)

    unfinalized = spiral_model(32, finalize=False)
    unfinalized.load_parameters(str(path))
    unfinalized.finalize()
    assert_array_equal(unfinalized.predict(X), model.predict(X))


def test_save_load_round_trip_with_the_books_file_name(spiral, tmp_path):
    # BUG: np.savez appends ".npz" to a name without it, so save_parameters("x.parms") writes
    # "x.parms.npz" and load_parameters("x.parms") then raises FileNotFoundError. The book
    # saves and loads 'fashion_mnist.parms' this way.
    model = spiral_model(33)
    path = tmp_path / "fashion_mnist.parms"
    model.save_parameters(path)
    fresh = spiral_model(34)
    fresh.load_parameters(path)
    for (wa, _), (wb, _) in zip(model.get_parameters(), fresh.get_parameters()):
        assert_array_equal(wa, wb)


@pytest.mark.parametrize("sizes, pattern", [
    ((2, 64, 4), r"layer 1 takes weights \(64, 3\) and biases \(1, 3\).*\(64, 4\)"),
    ((2, 32, 3), r"layer 0 takes weights \(2, 64\)"),
])
def test_load_file_of_other_layer_sizes(tmp_path, sizes, pattern):
    other = spiral_model(40, sizes=sizes)
    path = tmp_path / "other.npz"
    other.save_parameters(path)
    model = spiral_model(41)
    before = snapshot(model)
    with pytest.raises(ValueError, match=pattern):
        model.load_parameters(path)
    assert_unchanged(model, before)  # layer 0 fits in the first case, and is not written


def test_load_file_with_extra_or_missing_arrays(tmp_path):
    model = spiral_model(42)
    arrays = {f"{kind}_{i}": value for i, (w, b) in enumerate(model.get_parameters())
              for kind, value in (("weights", w), ("biases", b))}
    before = snapshot(model)

    extra = tmp_path / "extra.npz"
    np.savez(extra, **arrays, optimizer_state=np.zeros(3))
    with pytest.raises(ValueError, match=r"extra\.npz holds .*optimizer_state.*expected"):
        model.load_parameters(extra)
    assert_unchanged(model, before)

    missing = tmp_path / "missing.npz"
    np.savez(missing, **{k: v for k, v in arrays.items() if k != "biases_1"})
    with pytest.raises(ValueError, match=r"expected .*biases_1"):
        model.load_parameters(missing)
    assert_unchanged(model, before)

    three = tmp_path / "three.npz"
    np.savez(three, **arrays, weights_2=np.zeros((3, 3)), biases_2=np.zeros((1, 3)))
    with pytest.raises(ValueError, match="expected"):
        model.load_parameters(three)
    assert_unchanged(model, before)


def test_load_refuses_object_arrays(tmp_path):
    model = spiral_model(43)
    (w0, b0), (w1, b1) = model.get_parameters()
    path = tmp_path / "objects.npz"
    as_object = np.empty(1, dtype=object)
    as_object[0] = w0
    np.savez(path, weights_0=as_object, biases_0=b0, weights_1=w1, biases_1=b1)
    target = spiral_model(44)
    before = snapshot(target)
    with pytest.raises(ValueError, match="allow_pickle"):
        target.load_parameters(path)
    assert_unchanged(target, before)


def test_load_refuses_a_pickle_file(tmp_path):
    model = spiral_model(45)
    path = tmp_path / "model.parms"
    with open(path, "wb") as f:
        pickle.dump(model.get_parameters(), f)  # what the book's save_parameters writes
    target = spiral_model(46)
    before = snapshot(target)
    with pytest.raises(ValueError, match="pickle"):
        target.load_parameters(path)
    assert_unchanged(target, before)


def test_load_refuses_non_numeric_arrays(tmp_path):
    model = spiral_model(47)
    (w0, b0), (w1, b1) = model.get_parameters()
    path = tmp_path / "strings.npz"
    np.savez(path, weights_0=w0, biases_0=b0, weights_1=np.full((64, 3), "x"), biases_1=b1)
    before = snapshot(model)
    with pytest.raises((TypeError, ValueError), match="weights of layer 1"):
        model.load_parameters(path)
    assert_unchanged(model, before)


# =========================================================================================
# 7. The demo: python -m fastbp.train
# =========================================================================================

def table_rows(out):
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] in ("fastbp", "reference", "pytorch"):
            rows[parts[0]] = (float(parts[1]), float(parts[2]))
    return rows


def test_demo_compare(capsys):
    assert demo.main(["--epochs", "30", "--compare"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("chapter-10 network, spiral data 100x3, adam, 30 epochs, float64")
    assert re.search(r"^\s+loss\s+accuracy\s+time", out, re.M), out
    rows = table_rows(out)
    assert set(rows) == {"fastbp", "reference"}, out
    (fast_loss, fast_acc), (ref_loss, ref_acc) = rows["fastbp"], rows["reference"]
    assert math.isfinite(fast_loss) and math.isfinite(ref_loss)
    assert 0 < fast_loss < 1.2 and 0 <= fast_acc <= 1
    assert fast_loss == pytest.approx(ref_loss, abs=2e-6)  # printed with 6 decimals
    assert fast_acc == ref_acc


def test_demo_float32_sgd(capsys):
    assert demo.main(["--epochs", "30", "--dtype", "float32", "--optimizer", "sgd"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("chapter-10 network, spiral data 100x3, sgd, 30 epochs, float32")
    rows = table_rows(out)
    assert set(rows) == {"fastbp"}, out
    assert math.isfinite(rows["fastbp"][0]) and rows["fastbp"][0] > 0


def test_demo_float32_compare(capsys):
    assert demo.main(["--epochs", "30", "--dtype", "float32", "--optimizer", "sgd",
                      "--compare"]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert set(rows) == {"fastbp", "reference"}
    assert all(math.isfinite(loss) for loss, _ in rows.values())
    assert rows["fastbp"][0] == pytest.approx(rows["reference"][0], rel=1e-4)


def test_demo_uses_spiral_data_and_the_models_result(spiral):
    X, y = spiral
    result, seconds = demo.train_fastbp(X, y, optimizer="adam", epochs=10, dtype=F64, seed=0)
    ref, _ = demo.train_reference(X, y, optimizer="adam", epochs=10, dtype=F64, seed=0)
    assert seconds >= 0
    assert_allclose(result["loss"], ref["loss"], rtol=1e-12)
    assert result["accuracy"] == ref["accuracy"]


def test_demo_rejects_zero_epochs(capsys):
    with pytest.raises(SystemExit):
        demo.main(["--epochs", "0"])
    assert "--epochs must be >= 1" in capsys.readouterr().err


def test_demo_repeat_reports_medians_and_each_runs_ratio(capsys):
    assert demo.main(["--epochs", "20", "--compare", "--repeat", "3"]) == 0
    out = capsys.readouterr().out
    rows = table_rows(out)
    assert set(rows) == {"fastbp", "reference"}
    assert rows["fastbp"][0] == pytest.approx(rows["reference"][0], abs=2e-6)
    ratio_line = next(line for line in out.splitlines() if line.startswith("reference"))
    match = re.search(r"([\d.]+)× faster \(runs: ([\d.]+), ([\d.]+), ([\d.]+)\)", ratio_line)
    assert match, ratio_line
    median, *runs = (float(x) for x in match.groups())
    assert median == sorted(runs)[1]
    assert "medians of 3 interleaved runs" in out
    with pytest.raises(SystemExit):
        demo.main(["--repeat", "0"])
    assert "--repeat must be >= 1" in capsys.readouterr().err


def test_train_on_no_samples_is_refused():
    model = spiral_model(0)
    with pytest.raises(ValueError, match="no samples"):
        model.train(np.zeros((0, 2)), np.zeros(0, np.int64), epochs=1, print_every=0)


def test_set_parameters_on_read_only_weights_sets_nothing():
    model = spiral_model(0)
    before = model.get_parameters()
    layers = [layer for layer in model.layers if hasattr(layer, "weights")]
    layers[1].weights.flags.writeable = False
    new = [(w + 1, b + 1) for w, b in before]
    with pytest.raises(ValueError, match="cannot be written in place"):
        model.set_parameters(new)
    for (w, b), (w0, b0) in zip(model.get_parameters(), before):
        assert_array_equal(w, w0)
        assert_array_equal(b, b0)


def test_layers_with_instance_hooks_are_not_fused():
    rng = np.random.default_rng(0)
    model = fastbp.Model()
    dense = fastbp.Dense(2, 8, rng=rng)
    calls = []
    original = dense.forward

    def logged(inputs, training=False):
        calls.append(inputs.shape)
        return original(inputs, training)

    dense.forward = logged
    model.add(dense)
    model.add(fastbp.ReLU())
    model.add(fastbp.Dense(8, 3, rng=rng))
    model.set(loss=fastbp.SoftmaxCrossEntropy(), optimizer=fastbp.SGD())
    model.finalize()
    assert model.graph[0] is dense  # kept as it is, hook and all
    X, y = spiral_data(5, 3, rng=0)
    model.train(X, y, epochs=3, print_every=0)
    assert calls == [(15, 2)] * 3


# --- The demo's 10,000 epochs, segment by segment ------------------------------------------------

LAYER_STATE = ("weight_momentums", "bias_momentums", "weight_cache", "bias_cache")


@pytest.mark.slow
@pytest.mark.parametrize("case", MODEL_CASES)
def test_demo_training_agrees_with_the_reference_along_10000_epochs(spiral, case):
    # The chapter-10 run of `python -m fastbp.train`, float64, cut into 100 segments of 100
    # epochs. Each segment, the reference (its layers, optimizer state and counters copied
    # from fastbp's) trains the same 100 epochs: its loss must agree with fastbp's to 1e-6.
    # Training whole 10,000-epoch runs side by side cannot test this (the comment above):
    # rounding differences grow past 1e-6 within 500 epochs. Measured worst relative
    # differences per segment: 3.1e-10 (loss), 4.3e-12 (weights), both with Adam.
    X, y = spiral
    fast_cls, ref_cls, params = optimizer_case(case)
    model = spiral_model(0, optimizer=fast_cls(**params))
    # The layers that run (after finalize, the fused DenseReLU holds the optimizer state).
    dense = model.trainable_layers
    ref_opt = ref_cls(**params)
    for segment in range(100):
        ref_layers = []
        for layer in dense:
            ref_layer = R.Layer_Dense(*layer.weights.shape)
            ref_layer.weights, ref_layer.biases = layer.weights.copy(), layer.biases.copy()
            for name in LAYER_STATE:
                if hasattr(layer, name):
                    setattr(ref_layer, name, getattr(layer, name).copy())
            ref_layers.append(ref_layer)
        ref_opt.iterations = model.optimizer.iterations
        ref_opt.current_learning_rate = model.optimizer.current_learning_rate
        result = model.train(X, y, epochs=100, print_every=0)
        ref = R.train_spiral(X, y, optimizer=ref_opt, epochs=100, layers=ref_layers)
        where = f"epochs {100 * segment + 1}-{100 * segment + 100}"
        assert_allclose(result["loss"], ref["loss"], rtol=1e-6, err_msg=where)
        for layer, ref_layer in zip(dense, ref_layers):
            scale = np.abs(ref_layer.weights).max()
            assert_allclose(layer.weights, ref_layer.weights, rtol=0, atol=1e-7 * scale,
                            err_msg=where)
    assert model.optimizer.iterations == ref_opt.iterations == 10000
    assert model.optimizer.current_learning_rate == ref_opt.current_learning_rate
