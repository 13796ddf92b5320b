"""Backward passes against central finite differences of a scalar loss.

Network: Dense(4, 5) -> ReLU -> Dense(5, 3) (or DenseReLU(4, 5) -> Dense(5, 3)), float64,
loss L = sum(output * G) for a fixed random G, plus the book's regularization loss when the
layers have regularizers. The data are drawn so that no pre-activation is within 1e-3 of 0
(and, with L1 on, no parameter within 1e-3 of 0): the loss is then smooth (piecewise linear
or quadratic) around every point probed, and the central difference is exact up to rounding.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose

import fastbp

H = 1e-6
RTOL, ATOL = 1e-5, 1e-7
N_SAMPLES, N_IN, N_HIDDEN, N_OUT = 6, 4, 5, 3
KINK_MARGIN = 1e-3

REGULARIZERS = {
    "none": {},
    "l1l2": dict(weight_regularizer_l1=5e-2, weight_regularizer_l2=1e-1,
                 bias_regularizer_l1=3e-2, bias_regularizer_l2=2e-1),
}


def make_problem(seed):
    """X, G and parameters with every pre-activation and parameter away from 0."""
    rng = np.random.default_rng(seed)
    for _ in range(10_000):
        X = rng.standard_normal((N_SAMPLES, N_IN))
        W1 = 0.7 * rng.standard_normal((N_IN, N_HIDDEN))
        b1 = 0.5 * rng.standard_normal((1, N_HIDDEN))
        W2 = 0.7 * rng.standard_normal((N_HIDDEN, N_OUT))
        b2 = 0.5 * rng.standard_normal((1, N_OUT))
        z1 = X @ W1 + b1
        params = (W1, b1, W2, b2)
        if (np.abs(z1).min() > KINK_MARGIN
                and min(np.abs(p).min() for p in params) > KINK_MARGIN
                and (z1 < 0).sum() >= 3 and (z1 > 0).sum() >= 3):  # both sides of the ReLU
            G = rng.standard_normal((N_SAMPLES, N_OUT))
            return X, G, params
    raise RuntimeError("could not draw a kink-free problem")


def build(kind, params, regs):
    W1, b1, W2, b2 = params
    if kind == "dense+relu":
        layers = [fastbp.Dense(N_IN, N_HIDDEN, **regs), fastbp.ReLU(),
                  fastbp.Dense(N_HIDDEN, N_OUT, **regs)]
    else:
        layers = [fastbp.DenseReLU(N_IN, N_HIDDEN, **regs), fastbp.Dense(N_HIDDEN, N_OUT, **regs)]
    layers[0].set_parameters(W1.copy(), b1.copy())
    layers[-1].set_parameters(W2.copy(), b2.copy())
    return layers


def dense_layers(layers):
    return [layer for layer in layers if hasattr(layer, "weights")]


def loss(layers, X, G, regs):
    a = X
    for layer in layers:
        a = layer.forward(a)
    value = float(np.sum(a * G))
    for layer in dense_layers(layers):  # the book's Loss.regularization_loss
        value += regs.get("weight_regularizer_l1", 0) * np.sum(np.abs(layer.weights))
        value += regs.get("weight_regularizer_l2", 0) * np.sum(layer.weights ** 2)
        value += regs.get("bias_regularizer_l1", 0) * np.sum(np.abs(layer.biases))
        value += regs.get("bias_regularizer_l2", 0) * np.sum(layer.biases ** 2)
    return value


def analytic_gradients(layers, X, G, regs):
    loss(layers, X, G, regs)
    d = G
    for layer in reversed(layers):
        layer.backward(d)
        d = layer.dinputs
    grads = {"dinputs": layers[0].dinputs.copy()}
    for i, layer in enumerate(dense_layers(layers)):
        grads[f"layer{i}.weights"] = layer.dweights.copy()
        grads[f"layer{i}.biases"] = layer.dbiases.copy()
    return grads


def numeric_gradient(f, p):
    """Central differences of f() with respect to each element of p (perturbed in place)."""
    grad = np.zeros_like(p)
    for idx in np.ndindex(p.shape):
        orig = p[idx]
        p[idx] = orig + H
        plus = f()
        p[idx] = orig - H
        minus = f()
        p[idx] = orig
        grad[idx] = (plus - minus) / (2 * H)
    return grad


def numeric_gradients(layers, X, G, regs):
    X = X.copy()
    grads = {"dinputs": numeric_gradient(lambda: loss(layers, X, G, regs), X)}
    for i, layer in enumerate(dense_layers(layers)):
        for name in ("weights", "biases"):
            grads[f"layer{i}.{name}"] = numeric_gradient(
                lambda: loss(layers, X, G, regs), getattr(layer, name))
    return grads


@pytest.mark.parametrize("regs", list(REGULARIZERS))
@pytest.mark.parametrize("kind", ["dense+relu", "denserelu"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_layer_gradients_match_finite_differences(kind, regs, seed):
    X, G, params = make_problem(seed)
    regs = REGULARIZERS[regs]
    layers = build(kind, params, regs)
    analytic = analytic_gradients(layers, X, G, regs)
    numeric = numeric_gradients(layers, X, G, regs)
    assert analytic.keys() == numeric.keys()
    for name in analytic:
        assert analytic[name].shape == numeric[name].shape, name
        assert_allclose(analytic[name], numeric[name], rtol=RTOL, atol=ATOL, err_msg=name)
    # the check is not vacuous: the gradients are not all (near) zero
    assert np.abs(analytic["layer0.weights"]).max() > 1e-2
    assert np.abs(analytic["dinputs"]).max() > 1e-2


def test_both_networks_give_the_same_gradients():
    X, G, params = make_problem(3)
    regs = REGULARIZERS["l1l2"]
    a = analytic_gradients(build("dense+relu", params, regs), X, G, regs)
    b = analytic_gradients(build("denserelu", params, regs), X, G, regs)
    for name in a:
        assert_allclose(a[name], b[name], rtol=1e-12, atol=1e-14, err_msg=name)


@pytest.mark.parametrize("fused", [False, True], ids=["unfused", "fused"])
def test_functional_gradients_match_finite_differences(fused):
    # One dense(+ReLU) layer through the functional API, L = sum(f(X, W, b) * G).
    X, _, (W, b, _, _) = make_problem(4)
    G = np.random.default_rng(4).standard_normal((N_SAMPLES, N_HIDDEN))

    def fwd():
        if fused:
            return fastbp.dense_relu_forward(X, W, b)
        return fastbp.relu_forward(fastbp.dense_forward(X, W, b))

    def f():
        return float(np.sum(fwd() * G))

    out = fwd()
    if fused:
        dinputs, dweights, dbiases = fastbp.dense_relu_backward(G, X, W, out)
    else:
        z = fastbp.dense_forward(X, W, b)
        dinputs, dweights, dbiases = fastbp.dense_backward(fastbp.relu_backward(G, z), X, W)
    for got, p, name in ((dinputs, X, "dinputs"), (dweights, W, "dweights"),
                         (dbiases, b, "dbiases")):
        assert_allclose(got, numeric_gradient(f, p), rtol=RTOL, atol=ATOL, err_msg=name)
