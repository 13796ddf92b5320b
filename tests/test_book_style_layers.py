"""A layer written the book's way (plain numpy, fastbp.reference.Layer_Dense) trains inside
fastbp's Model beside fastbp's layers, updated by fastbp's optimizers, on the Python path:
the same parameters as the book's own loop (fastbp.reference) over 100 epochs, to 1e-10."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

import fastbp
from fastbp import reference as R
from fastbp.datasets import spiral_data

OPTIMIZERS = {
    "sgd": (lambda: fastbp.SGD(1.0, 1e-3, momentum=0.9),
            lambda: R.Optimizer_SGD(1.0, 1e-3, momentum=0.9)),
    "adagrad": (lambda: fastbp.Adagrad(1.0, 1e-4), lambda: R.Optimizer_Adagrad(1.0, 1e-4)),
    "rmsprop": (lambda: fastbp.RMSprop(0.02, 1e-5, rho=0.999),
                lambda: R.Optimizer_RMSprop(0.02, 1e-5, rho=0.999)),
    "adam": (lambda: fastbp.Adam(0.05, 5e-7), lambda: R.Optimizer_Adam(0.05, 5e-7)),
}
EPOCHS = 100


def book_loop(X, y, optimizer, book_first, l2):
    """The book's chapter-10 loop on fastbp.reference's classes, as the book writes it."""
    dense1 = R.Layer_Dense(2, 64, weight_regularizer_l2=l2 if book_first else 0, rng=1)
    dense2 = R.Layer_Dense(64, 3, weight_regularizer_l2=0 if book_first else l2, rng=2)
    relu, loss_activation = R.Activation_ReLU(), R.Activation_Softmax_Loss_CategoricalCrossentropy()
    for _ in range(EPOCHS):
        dense1.forward(X)
        relu.forward(dense1.output)
        dense2.forward(relu.output)
        loss = loss_activation.forward(dense2.output, y)
        loss_activation.backward(loss_activation.output, y)
        dense2.backward(loss_activation.dinputs)
        relu.backward(dense2.dinputs)
        dense1.backward(relu.dinputs)
        optimizer.pre_update_params()
        optimizer.update_params(dense1)
        optimizer.update_params(dense2)
        optimizer.post_update_params()
    return [(dense1.weights, dense1.biases), (dense2.weights, dense2.biases)], loss


@pytest.mark.parametrize("l2", [0.0, 5e-4], ids=["plain", "l2"])
@pytest.mark.parametrize("book_first", [True, False], ids=["book-layer-first", "book-layer-last"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_a_book_style_layer_trains_in_model(name, book_first, l2):
    X, y = spiral_data(100, 3, rng=0)
    book = R.Layer_Dense(2, 64, weight_regularizer_l2=l2, rng=1) if book_first else \
        R.Layer_Dense(64, 3, weight_regularizer_l2=l2, rng=2)
    ours = fastbp.Dense(64, 3, rng=2) if book_first else fastbp.Dense(2, 64, rng=1)
    model = fastbp.Model()
    for layer in ([book, fastbp.ReLU(), ours] if book_first else [ours, fastbp.ReLU(), book]):
        model.add(layer)
    model.set(loss=fastbp.SoftmaxCrossEntropy(), optimizer=OPTIMIZERS[name][0]())
    model.finalize()
    result = model.train(X, y, epochs=EPOCHS, print_every=0)

    want, want_loss = book_loop(X, y, OPTIMIZERS[name][1](), book_first, l2)
    for (w, b), (w_ref, b_ref) in zip(model.get_parameters(), want):
        # To 1e-10 of the parameters' scale: fastbp's kernels sum in another order than
        # np.dot, and 100 steps of Adam amplify the last bits.
        scale = max(np.abs(w_ref).max(), np.abs(b_ref).max(), 1.0)
        assert_allclose(w, w_ref, rtol=0, atol=1e-10 * scale)
        assert_allclose(b, b_ref, rtol=0, atol=1e-10 * scale)
    # The loss reported for the last epoch is that of its forward pass.
    assert result["data_loss"] == pytest.approx(want_loss, rel=1e-10)
    assert result["reg_loss"] > 0 if l2 else result["reg_loss"] == 0
    # The book's layer runs its own forward for predict, too.
    (w1, b1), (w2, b2) = want
    softmax = R.Activation_Softmax()
    softmax.forward(np.maximum(X @ w1 + b1, 0) @ w2 + b2)
    assert_allclose(model.predict(X), softmax.output, rtol=0, atol=1e-9)
