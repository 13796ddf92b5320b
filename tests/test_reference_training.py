"""fastbp.reference's training pieces (softmax, cross-entropy, optimizers, the chapter-10
loop) and fastbp.datasets.spiral_data.

Expected numbers are worked out in the tests from the book's formulas (hand-checkable
scalars in 1x1 arrays), from the book's own examples (chapters 5 and 9), from finite
differences, or from direct formulas; never from the code under test.
"""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import fastbp
from fastbp import reference as R
from fastbp.datasets import spiral_data

EPS = 1e-7

# The book's chapter-5 example (and chapter 9's check of the combined backward step).
SOFTMAX_OUTPUTS = np.array([[0.7, 0.1, 0.2],
                            [0.1, 0.5, 0.4],
                            [0.02, 0.9, 0.08]])
CLASS_TARGETS = np.array([0, 1, 1])
ONE_HOT_TARGETS = np.array([[1, 0, 0],
                            [0, 1, 0],
                            [0, 1, 0]])


def direct_softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# --- softmax -------------------------------------------------------------------------------

def test_softmax_rows_sum_to_one_and_match_formula(rng):
    z = rng.standard_normal((7, 5)) * 3
    softmax = R.Activation_Softmax()
    out = softmax.forward(z)
    assert out is softmax.output
    assert softmax.inputs is z
    assert_allclose(out.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    # Unshifted formula (safe for these small logits).
    assert_allclose(out, np.exp(z) / np.exp(z).sum(axis=1, keepdims=True), rtol=1e-13)
    assert_array_equal(softmax.predictions(out), np.argmax(z, axis=1))


def test_softmax_known_values_and_large_logits():
    out = R.Softmax().forward(np.array([[0.0, math.log(3.0)], [1000.0, 1000.0]]))
    assert_allclose(out, [[0.25, 0.75], [0.5, 0.5]], rtol=1e-15)  # no overflow at 1000
    assert np.all(np.isfinite(out))


def test_softmax_backward_matches_closed_form(rng):
    z = rng.standard_normal((6, 4))
    d = rng.standard_normal((6, 4))
    softmax = R.Activation_Softmax()
    s = softmax.forward(z)
    softmax.backward(d)
    # Jacobian diag(s) - s s^T applied to d: s * (d - <s, d>).
    expected = s * (d - np.sum(s * d, axis=1, keepdims=True))
    assert_allclose(softmax.dinputs, expected, rtol=1e-12, atol=1e-15)


# --- categorical cross-entropy -------------------------------------------------------------

def test_cce_book_example():
    loss = R.Loss_CategoricalCrossentropy()
    expected = np.mean(-np.log([0.7, 0.5, 0.9]))
    assert expected == pytest.approx(0.38506088005216804, rel=1e-15)
    assert_allclose(loss.forward(SOFTMAX_OUTPUTS, CLASS_TARGETS), -np.log([0.7, 0.5, 0.9]))
    assert loss.calculate(SOFTMAX_OUTPUTS, CLASS_TARGETS) == pytest.approx(expected, rel=1e-15)
    assert loss.calculate(SOFTMAX_OUTPUTS, ONE_HOT_TARGETS) == pytest.approx(expected, rel=1e-15)


def test_cce_clips_predictions():
    loss = R.CategoricalCrossentropy()
    y_pred = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert_allclose(loss.forward(y_pred, np.array([0, 0])), [-math.log(EPS), -math.log(1 - EPS)])


def test_cce_sparse_and_one_hot_agree(rng):
    y_pred = direct_softmax(rng.standard_normal((5, 4)))
    sparse = np.array([3, 0, 1, 1, 2], dtype=np.uint8)
    one_hot = np.eye(4)[sparse]
    a, b = R.Loss_CategoricalCrossentropy(), R.Loss_CategoricalCrossentropy()
    assert a.calculate(y_pred, sparse) == b.calculate(y_pred, one_hot)
    a.backward(y_pred, sparse)
    b.backward(y_pred, one_hot)
    assert_array_equal(a.dinputs, b.dinputs)
    expected = np.zeros((5, 4))
    expected[range(5), sparse] = -1 / y_pred[range(5), sparse] / 5
    assert_allclose(a.dinputs, expected, rtol=1e-15)


def test_cce_rejects_labels_of_other_rank():
    with pytest.raises(ValueError, match="y_true"):
        R.Loss_CategoricalCrossentropy().forward(SOFTMAX_OUTPUTS, np.zeros((3, 3, 1)))


def test_regularization_loss_book_terms():
    layer = R.Layer_Dense(2, 2, weight_regularizer_l1=0.1, weight_regularizer_l2=0.01,
                          bias_regularizer_l1=0.2, bias_regularizer_l2=0.02)
    layer.weights = np.array([[1.0, -2.0], [0.5, 0.0]])
    layer.biases = np.array([[-1.0, 3.0]])
    expected = 0.1 * 3.5 + 0.01 * 5.25 + 0.2 * 4.0 + 0.02 * 10.0
    loss = R.Loss_CategoricalCrossentropy()
    assert loss.regularization_loss(layer) == pytest.approx(expected, rel=1e-15)
    # Only the terms with a regularizer > 0 count.
    assert R.Loss_CategoricalCrossentropy().regularization_loss(R.Layer_Dense(2, 2, rng=0)) == 0
    # It reads the attributes only, so it works on fastbp's layers too.
    fast = fastbp.Dense(2, 2, weight_regularizer_l1=0.1, weight_regularizer_l2=0.01,
                        bias_regularizer_l1=0.2, bias_regularizer_l2=0.02)
    fast.set_parameters(layer.weights, layer.biases)
    assert loss.regularization_loss(fast) == pytest.approx(expected, rel=1e-15)


# --- softmax + cross-entropy together ------------------------------------------------------

def test_combined_backward_book_chapter9_check():
    combined = R.Activation_Softmax_Loss_CategoricalCrossentropy()
    combined.backward(SOFTMAX_OUTPUTS, CLASS_TARGETS)

    activation = R.Activation_Softmax()
    activation.output = SOFTMAX_OUTPUTS
    loss = R.Loss_CategoricalCrossentropy()
    loss.backward(SOFTMAX_OUTPUTS, CLASS_TARGETS)
    activation.backward(loss.dinputs)

    assert_allclose(combined.dinputs, activation.dinputs, rtol=0, atol=1e-7)
    expected = (SOFTMAX_OUTPUTS - np.eye(3)[CLASS_TARGETS]) / 3
    assert_allclose(combined.dinputs, expected, rtol=1e-15, atol=1e-17)


def test_combined_forward_and_one_hot(rng):
    z = rng.standard_normal((6, 3))
    sparse = np.array([0, 2, 1, 1, 0, 2])
    a = R.SoftmaxCrossEntropy()
    b = R.SoftmaxCrossEntropy()
    loss_a = a.forward(z, sparse)
    loss_b = b.forward(z, np.eye(3)[sparse])
    assert_allclose(a.output, direct_softmax(z), rtol=1e-15)
    assert loss_a == pytest.approx(np.mean(-np.log(direct_softmax(z)[range(6), sparse])),
                                   rel=1e-14)
    assert loss_a == loss_b
    a.backward(a.output, sparse)
    b.backward(b.output, np.eye(3)[sparse])
    assert_array_equal(a.dinputs, b.dinputs)


def test_combined_backward_matches_chain_and_finite_differences(rng):
    n, k = 5, 4
    z = rng.standard_normal((n, k))
    y = rng.integers(0, k, n)
    combined = R.Activation_Softmax_Loss_CategoricalCrossentropy()
    combined.forward(z, y)
    combined.backward(combined.output, y)

    # Softmax backward after cross-entropy backward (the slow way).
    activation = R.Activation_Softmax()
    activation.forward(z)
    loss = R.Loss_CategoricalCrossentropy()
    loss.backward(activation.output, y)
    activation.backward(loss.dinputs)
    assert_allclose(combined.dinputs, activation.dinputs, rtol=0, atol=1e-7)

    # Central differences of the mean loss with respect to each logit.
    h = 1e-6
    numeric = np.empty_like(z)
    for i in range(n):
        for j in range(k):
            zp, zm = z.copy(), z.copy()
            zp[i, j] += h
            zm[i, j] -= h
            f = R.Activation_Softmax_Loss_CategoricalCrossentropy()
            numeric[i, j] = (f.forward(zp, y) - f.forward(zm, y)) / (2 * h)
    assert_allclose(combined.dinputs, numeric, rtol=1e-6, atol=1e-9)


# --- optimizers ----------------------------------------------------------------------------

class Scalar:
    """A 1x1 "layer": weight w, bias b, gradients set by hand."""

    def __init__(self, w, b):
        self.weights = np.array([[w]])
        self.biases = np.array([[b]])

    def step(self, optimizer, dw, db):
        self.dweights = np.array([[dw]])
        self.dbiases = np.array([[db]])
        optimizer.pre_update_params()
        optimizer.update_params(self)
        optimizer.post_update_params()
        return self.weights[0, 0], self.biases[0, 0]


# Two steps for every optimizer: gradients (2, 3) then (-1, 0.5), from w = 1, b = -1.
G1, G2 = (2.0, 3.0), (-1.0, 0.5)


def test_sgd_two_steps():
    layer, opt = Scalar(1.0, -1.0), R.Optimizer_SGD(learning_rate=0.5)
    assert (opt.learning_rate, opt.current_learning_rate, opt.iterations) == (0.5, 0.5, 0)
    assert layer.step(opt, *G1) == (1.0 - 0.5 * 2.0, -1.0 - 0.5 * 3.0)         # (0, -2.5)
    assert layer.step(opt, *G2) == (0.0 + 0.5 * 1.0, -2.5 - 0.5 * 0.5)         # (0.5, -2.75)
    assert opt.iterations == 2
    assert not hasattr(layer, "weight_momentums")  # no momentum, no state


def test_sgd_momentum_two_steps():
    layer, opt = Scalar(1.0, -1.0), R.SGD(learning_rate=0.5, momentum=0.9)
    # update = momentum * previous update - lr * grad; the first previous update is 0.
    w, b = layer.step(opt, *G1)
    assert (w, b) == pytest.approx((1.0 - 1.0, -1.0 - 1.5))                    # updates -1, -1.5
    assert_allclose(layer.weight_momentums, [[-1.0]])
    assert_allclose(layer.bias_momentums, [[-1.5]])
    w, b = layer.step(opt, *G2)
    assert (w, b) == pytest.approx((0.0 + (-0.9 + 0.5), -2.5 + (-1.35 - 0.25)))  # (-0.4, -4.1)
    assert_allclose(layer.weight_momentums, [[-0.4]])
    assert_allclose(layer.bias_momentums, [[-1.6]])


def test_adagrad_two_steps():
    layer, opt = Scalar(1.0, -1.0), R.Adagrad()  # lr 1
    assert (opt.learning_rate, opt.epsilon) == (1.0, 1e-7)
    w, b = layer.step(opt, *G1)
    # cache = 4 and 9
    w1, b1 = 1.0 - 2.0 / (2.0 + EPS), -1.0 - 3.0 / (3.0 + EPS)
    assert (w, b) == pytest.approx((w1, b1), rel=1e-14)
    w, b = layer.step(opt, *G2)
    # cache = 5 and 9.25
    assert (w, b) == pytest.approx((w1 + 1.0 / (math.sqrt(5.0) + EPS),
                                    b1 - 0.5 / (math.sqrt(9.25) + EPS)), rel=1e-14)
    assert_allclose(layer.weight_cache, [[5.0]])
    assert_allclose(layer.bias_cache, [[9.25]])


def test_rmsprop_two_steps():
    layer, opt = Scalar(1.0, -1.0), R.RMSprop()  # lr 0.001, rho 0.9
    assert (opt.learning_rate, opt.rho, opt.epsilon) == (0.001, 0.9, 1e-7)
    w, b = layer.step(opt, *G1)
    # cache = 0.1 * g^2 = 0.4 and 0.9
    w1 = 1.0 - 0.001 * 2.0 / (math.sqrt(0.4) + EPS)
    b1 = -1.0 - 0.001 * 3.0 / (math.sqrt(0.9) + EPS)
    assert (w, b) == pytest.approx((w1, b1), rel=1e-14)
    w, b = layer.step(opt, *G2)
    # cache = 0.9 * 0.4 + 0.1 * 1 = 0.46 and 0.9 * 0.9 + 0.1 * 0.25 = 0.835
    assert (w, b) == pytest.approx((w1 + 0.001 * 1.0 / (math.sqrt(0.46) + EPS),
                                    b1 - 0.001 * 0.5 / (math.sqrt(0.835) + EPS)), rel=1e-14)
    assert_allclose(layer.weight_cache, [[0.46]])
    assert_allclose(layer.bias_cache, [[0.835]])


def test_adam_two_steps():
    layer, opt = Scalar(1.0, -1.0), R.Adam()  # lr 0.001, betas 0.9 / 0.999
    assert (opt.learning_rate, opt.beta_1, opt.beta_2, opt.epsilon) == (0.001, 0.9, 0.999, 1e-7)
    w, b = layer.step(opt, *G1)
    # m = 0.1 g, v = 0.001 g^2; corrected by 1 - beta^1: m_hat = g, v_hat = g^2.
    w1 = 1.0 - 0.001 * 2.0 / (2.0 + EPS)
    b1 = -1.0 - 0.001 * 3.0 / (3.0 + EPS)
    assert (w, b) == pytest.approx((w1, b1), rel=1e-13)
    w, b = layer.step(opt, *G2)
    # weight: m = 0.9 * 0.2 + 0.1 * -1 = 0.08, v = 0.999 * 0.004 + 0.001 * 1 = 0.004996
    # bias:   m = 0.9 * 0.3 + 0.1 * 0.5 = 0.32, v = 0.999 * 0.009 + 0.001 * 0.25 = 0.009241
    # corrected by 1 - beta^2: 1 - 0.81 = 0.19 and 1 - 0.998001 = 0.001999
    w2 = w1 - 0.001 * (0.08 / 0.19) / (math.sqrt(0.004996 / 0.001999) + EPS)
    b2 = b1 - 0.001 * (0.32 / 0.19) / (math.sqrt(0.009241 / 0.001999) + EPS)
    assert (w, b) == pytest.approx((w2, b2), rel=1e-13)
    assert_allclose(layer.weight_momentums, [[0.08]], rtol=1e-14)
    assert_allclose(layer.weight_cache, [[0.004996]], rtol=1e-14)
    assert_allclose(layer.bias_momentums, [[0.32]], rtol=1e-14)
    assert_allclose(layer.bias_cache, [[0.009241]], rtol=1e-14)


@pytest.mark.parametrize("cls", [R.SGD, R.Adagrad, R.RMSprop, R.Adam])
def test_decay_schedule(cls):
    opt = cls(learning_rate=0.5, decay=0.1)
    rates = []
    layer = Scalar(0.0, 0.0)
    for _ in range(4):
        layer.step(opt, 1.0, 1.0)
        rates.append(opt.current_learning_rate)
    # lr / (1 + decay * iterations), iterations counted before this step's update.
    assert rates == pytest.approx([0.5, 0.5 / 1.1, 0.5 / 1.2, 0.5 / 1.3], rel=1e-15)
    assert opt.iterations == 4


@pytest.mark.parametrize("cls", [R.SGD, R.Adagrad, R.RMSprop, R.Adam])
def test_no_decay_keeps_learning_rate(cls):
    opt = cls(learning_rate=0.25)
    layer = Scalar(0.0, 0.0)
    for _ in range(3):
        layer.step(opt, 1.0, 1.0)
    assert opt.current_learning_rate == 0.25
    assert opt.iterations == 3


def test_sgd_decay_step_uses_decayed_rate():
    layer, opt = Scalar(1.0, 0.0), R.SGD(learning_rate=1.0, decay=1.0)
    layer.step(opt, 1.0, 0.0)                  # lr 1 / (1 + 0) = 1
    assert layer.weights[0, 0] == 0.0
    layer.step(opt, 1.0, 0.0)                  # lr 1 / (1 + 1) = 0.5
    assert layer.weights[0, 0] == -0.5


@pytest.mark.parametrize("cls", [R.SGD, R.Adagrad, R.RMSprop, R.Adam])
def test_optimizers_keep_float32(cls):
    layer = R.Layer_Dense(3, 2, dtype=np.float32, rng=0)
    layer.forward(np.ones((4, 3), dtype=np.float32))
    layer.backward(np.ones((4, 2), dtype=np.float32))
    opt = cls(learning_rate=0.1, decay=1e-3, **({"momentum": 0.5} if cls is R.SGD else {}))
    for _ in range(2):
        opt.pre_update_params()
        opt.update_params(layer)
        opt.post_update_params()
    assert layer.weights.dtype == np.float32 and layer.biases.dtype == np.float32


def test_aliases():
    assert R.Softmax is R.Activation_Softmax
    assert R.CategoricalCrossentropy is R.Loss_CategoricalCrossentropy
    assert R.SoftmaxCrossEntropy is R.Activation_Softmax_Loss_CategoricalCrossentropy
    assert (R.SGD, R.Adagrad, R.RMSprop, R.Adam) == (
        R.Optimizer_SGD, R.Optimizer_Adagrad, R.Optimizer_RMSprop, R.Optimizer_Adam)
    for name in R.__all__:
        assert hasattr(R, name), name


# --- spiral_data ---------------------------------------------------------------------------

def test_spiral_data_shapes_dtypes_classes():
    X, y = spiral_data(100, 3, rng=0)
    assert X.shape == (300, 2) and X.dtype == np.float64
    assert y.shape == (300,) and y.dtype == np.uint8
    assert_array_equal(y, np.repeat(np.arange(3), 100))
    assert_array_equal(np.bincount(y), [100, 100, 100])
    # Radius r = linspace(0, 1) along each arm; each arm starts at the origin.
    for c in range(3):
        assert_allclose(np.hypot(*X[y == c].T), np.linspace(0, 1, 100), rtol=1e-14, atol=1e-15)
    assert_array_equal(X[[0, 100, 200]], 0.0)


def test_spiral_data_follows_the_formula():
    X, y = spiral_data(5, 2, rng=42)
    noise = np.random.default_rng(42).standard_normal((2, 5))  # one draw per class, in order
    for c in range(2):
        r = np.linspace(0, 1, 5)
        t = np.linspace(4 * c, 4 * (c + 1), 5) + 0.2 * noise[c]
        assert_allclose(X[5 * c:5 * (c + 1)],
                        np.c_[r * np.sin(2.5 * t), r * np.cos(2.5 * t)], rtol=1e-15)


def test_spiral_data_reproducible():
    a = spiral_data(50, 4, rng=7)
    b = spiral_data(50, 4, rng=np.random.default_rng(7))
    c = spiral_data(50, 4, rng=8)
    assert_array_equal(a[0], b[0])
    assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    gen = np.random.default_rng(3)
    first, second = spiral_data(10, 2, rng=gen), spiral_data(10, 2, rng=gen)
    assert not np.array_equal(first[0], second[0])  # a Generator passed in is advanced


def test_spiral_data_edge_sizes():
    X, y = spiral_data(1, 1, rng=0)
    assert X.shape == (1, 2) and y.shape == (1,)
    X, y = spiral_data(2, 256, rng=0)
    assert X.shape == (512, 2) and y.max() == 255
    X, y = spiral_data(np.int64(3), np.uint8(2), rng=0)
    assert X.shape == (6, 2)


@pytest.mark.parametrize("samples, classes", [(0, 3), (-1, 3), (10, 0), (10, -2), (10, 257)])
def test_spiral_data_bad_values(samples, classes):
    with pytest.raises(ValueError, match="samples|classes"):
        spiral_data(samples, classes)


@pytest.mark.parametrize("samples, classes", [(1.5, 3), (10.0, 3), ("10", 3), (None, 3),
                                              (10, 3.0), (True, 3), (10, False)])
def test_spiral_data_bad_types(samples, classes):
    with pytest.raises(TypeError, match="samples|classes"):
        spiral_data(samples, classes)


# --- the chapter-10 training loop ----------------------------------------------------------

@pytest.fixture(scope="module")
def spiral():
    return spiral_data(100, 3, rng=0)


def test_train_spiral_adam_lowers_loss(spiral):
    X, y = spiral
    first = R.train_spiral(X, y, optimizer=R.Adam(learning_rate=0.05, decay=5e-7),
                           epochs=1, rng=0)
    assert first["loss"] == pytest.approx(math.log(3), abs=1e-3)  # tiny initial weights
    result = R.train_spiral(X, y, optimizer=R.Adam(learning_rate=0.05, decay=5e-7),
                            epochs=200, rng=0)
    assert isinstance(result["loss"], float) and isinstance(result["accuracy"], float)
    assert result["loss"] < 0.75          # 0.664 here, from log 3 = 1.0986
    assert result["accuracy"] > 0.6       # 0.71 here, from 1/3
    dense1, dense2 = result["layers"]
    assert dense1.weights.shape == (2, 64) and dense2.weights.shape == (64, 3)


def test_train_spiral_deterministic(spiral):
    X, y = spiral
    runs = [R.train_spiral(X, y, optimizer=R.Adam(learning_rate=0.05, decay=5e-7),
                           epochs=20, rng=np.random.default_rng(11)) for _ in range(2)]
    assert runs[0]["loss"] == runs[1]["loss"]
    assert runs[0]["accuracy"] == runs[1]["accuracy"]
    for a, b in zip(runs[0]["layers"], runs[1]["layers"]):
        assert_array_equal(a.weights, b.weights)
        assert_array_equal(a.biases, b.biases)


def test_train_spiral_initial_weights_contract(spiral):
    # SGD with learning rate 0 leaves the weights as drawn: dense1 first, then dense2, from
    # one Generator.
    X, y = spiral
    result = R.train_spiral(X, y, optimizer=R.SGD(learning_rate=0.0), epochs=1, rng=5)
    gen = np.random.default_rng(5)
    w1 = 0.01 * gen.standard_normal((2, 64))
    w2 = 0.01 * gen.standard_normal((64, 3))
    dense1, dense2 = result["layers"]
    assert_array_equal(dense1.weights, w1)
    assert_array_equal(dense2.weights, w2)
    assert_array_equal(dense1.biases, 0.0)


def test_train_spiral_loss_is_before_last_update(spiral):
    # The returned loss is the last forward pass's, taken before that epoch's update: after
    # one epoch it is the loss of the initial weights whatever the learning rate.
    X, y = spiral
    a = R.train_spiral(X, y, optimizer=R.SGD(learning_rate=0.0), epochs=1, rng=2)
    b = R.train_spiral(X, y, optimizer=R.SGD(learning_rate=1.0), epochs=1, rng=2)
    assert a["loss"] == b["loss"]
    assert not np.array_equal(a["layers"][1].weights, b["layers"][1].weights)


def test_train_spiral_float32_and_one_hot(spiral):
    X, y = spiral
    r32 = R.train_spiral(X, y, optimizer=R.Adam(learning_rate=0.05), epochs=30,
                         dtype=np.float32, rng=0)
    for layer in r32["layers"]:
        assert layer.weights.dtype == np.float32 and layer.biases.dtype == np.float32
    r64 = R.train_spiral(X, y, optimizer=R.Adam(learning_rate=0.05), epochs=30, rng=0)
    assert r32["loss"] == pytest.approx(r64["loss"], rel=1e-3)
    hot = R.train_spiral(X, np.eye(3)[y], optimizer=R.Adam(learning_rate=0.05), epochs=30, rng=0)
    assert hot["loss"] == r64["loss"] and hot["accuracy"] == r64["accuracy"]


def test_train_spiral_prints_like_the_book(spiral, capsys):
    X, y = spiral
    R.train_spiral(X, y, optimizer=R.SGD(decay=0.5), epochs=5, rng=0, print_every=2)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines] == ["epoch: 0", "epoch: 2", "epoch: 4"]
    # Printed before the epoch's update: the rate set by the previous pre_update_params.
    assert lines[0].startswith("epoch: 0, acc: ") and lines[0].endswith(", lr: 1.0")
    assert lines[1].endswith(f", lr: {1.0 / (1.0 + 0.5 * 1)}")
    assert " loss: " in lines[0]
    R.train_spiral(X, y, optimizer=R.SGD(), epochs=3, rng=0)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("epochs, exc", [(0, ValueError), (-1, ValueError), (2.0, TypeError)])
def test_train_spiral_bad_epochs(spiral, epochs, exc):
    X, y = spiral
    with pytest.raises(exc):
        R.train_spiral(X, y, optimizer=R.SGD(), epochs=epochs)
