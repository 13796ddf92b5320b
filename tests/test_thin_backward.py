"""The one-pass backward of layers with 1-3 inputs (fastbp/_thin_kernels.h).

It is on by default in the builds that have it (fastbp._testing: "thin_backward"); here it
is switched on and off and both paths are checked against the numpy reference, on widths that
exercise its vector columns, its last columns one at a time, and its blocks of rows.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import fastbp
from fastbp import reference as R
from fastbp._testing import kernel_paths

# 1 and 5 neurons: no block of two vectors of columns in either dtype; 8: exactly one in
# float64, none in float32 (its vectors hold 8); 12, 15: one float64 block and columns left
# over, none in float32; 16, 64: whole blocks; 17, 100: some left over; 2048: one row a
# block (THIN_SCRATCH); 2049: past it, the separate path.
WIDTHS = [1, 5, 8, 12, 15, 16, 17, 64, 100, 2048, 2049]


@pytest.fixture(params=["thin", "separate"])
def path(request):
    with kernel_paths(*(("default",) if request.param == "thin"
                        else ("thin_inputs", "thin_outputs"))):
        yield request.param


def _case(n_samples, n_inputs, n_neurons, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_inputs)).astype(dtype)
    W = rng.standard_normal((n_inputs, n_neurons)).astype(dtype)
    b = rng.standard_normal((1, n_neurons)).astype(dtype)
    D = rng.standard_normal((n_samples, n_neurons)).astype(dtype)
    return X, W, b, D


def _tol(dtype):
    return dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("n_neurons", WIDTHS)
@pytest.mark.parametrize("n_inputs", [1, 2, 3])
def test_layer_backward_matches_the_reference(path, dtype, n_inputs, n_neurons):
    n_samples = 70 if n_neurons < 1000 else 9  # several blocks of rows, and a partial one
    X, W, b, D = _case(n_samples, n_inputs, n_neurons, dtype)
    for cls in (fastbp.DenseReLU, fastbp.Dense):
        layer = cls(n_inputs, n_neurons, dtype=dtype)
        layer.set_parameters(W, b)
        layer.forward(X)
        D_before = D.copy()
        layer.backward(D)
        assert_array_equal(D, D_before)  # the caller's dvalues are left alone
        # The book's mask, taken from the layer's own output (float32 rounding of z must
        # not move a value across 0 between the two).
        dz = D.astype(np.float64)
        if cls is fastbp.DenseReLU:
            dz = R.relu_backward(dz, layer.output)
        want = R.dense_backward(dz, X.astype(np.float64), W.astype(np.float64))
        scale = np.abs(D).max() * max(1, n_samples, n_neurons) ** 0.5
        for got, expected in zip((layer.dinputs, layer.dweights, layer.dbiases), want):
            assert got.dtype == dtype
            assert_allclose(got, expected, rtol=_tol(dtype)["rtol"],
                            atol=_tol(dtype)["atol"] * scale)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_functional_and_layer_agree_bit_for_bit(path, dtype):
    X, W, b, D = _case(300, 2, 64, dtype, seed=3)
    layer = fastbp.DenseReLU(2, 64, dtype=dtype)
    layer.set_parameters(W, b)
    out = layer.forward(X)
    layer.backward(D)
    got = fastbp.dense_relu_backward(D, X, W, out)
    for a, name in zip(got, ("dinputs", "dweights", "dbiases")):
        assert_array_equal(a, getattr(layer, name), err_msg=name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_nan_and_zero_outputs_mask_as_the_book_does(dtype):
    # output <= 0 masks (the book's dinputs[inputs <= 0] = 0); a NaN output lets its
    # gradient through; a NaN gradient under a masked output becomes 0.
    X, W, b, D = _case(40, 2, 19, dtype, seed=5)
    out = np.maximum(X @ W + b, 0).astype(dtype)
    out[0, :8] = np.nan
    out[1, :] = 0
    D[1, :] = np.nan
    got = fastbp.dense_relu_backward(D, X, W, out)
    dz = np.where(out <= 0, 0, D)  # NaN compares False: kept
    assert_allclose(got[2], dz.sum(axis=0, keepdims=True), rtol=1e-4)
    assert_allclose(got[1], X.T @ dz, rtol=1e-4, atol=1e-5)
    assert np.isfinite(got[0][1:]).all()


# The other thin side: layers with 1-3 neurons (the spiral's 64→3), whose forward product and
# dW run as dot products and register-blocked sums ("thin_outputs") instead of OpenBLAS.
# 5-100 inputs: vector columns and leftovers; 1024: the largest Wᵀ on the stack; 1025: BLAS.
INPUT_WIDTHS = [5, 16, 17, 64, 100, 1024, 1025]


@pytest.fixture(params=["thin", "blas"])
def output_path(request):
    with kernel_paths(*(("default",) if request.param == "thin"
                        else ("thin_inputs", "thin_backward"))):
        yield request.param


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("n_inputs", INPUT_WIDTHS)
@pytest.mark.parametrize("n_neurons", [1, 2, 3])
def test_thin_output_layer_matches_the_reference(output_path, dtype, n_neurons, n_inputs):
    n_samples = 70
    X, W, b, D = _case(n_samples, n_inputs, n_neurons, dtype, seed=n_inputs)
    X[3, :] = 0  # a row whose outputs are the biases alone
    for cls in (fastbp.DenseReLU, fastbp.Dense):
        layer = cls(n_inputs, n_neurons, dtype=dtype)
        layer.set_parameters(W, b)
        out = layer.forward(X)
        z = R.dense_forward(X.astype(np.float64), W.astype(np.float64), b.astype(np.float64))
        expected = R.relu_forward(z) if cls is fastbp.DenseReLU else z
        scale = np.abs(X).max() * np.abs(W).max() * n_inputs ** 0.5
        assert_allclose(out, expected, rtol=_tol(dtype)["rtol"],
                        atol=_tol(dtype)["atol"] * scale)
        layer.backward(D)
        dz = D.astype(np.float64)
        if cls is fastbp.DenseReLU:
            dz = R.relu_backward(dz, layer.output)
        want = R.dense_backward(dz, X.astype(np.float64), W.astype(np.float64))
        scale = np.abs(D).max() * np.abs(X).max() * n_samples ** 0.5
        for got, expected in zip((layer.dinputs, layer.dweights, layer.dbiases), want):
            assert_allclose(got, expected, rtol=_tol(dtype)["rtol"],
                            atol=_tol(dtype)["atol"] * scale)


def test_thin_output_forward_keeps_nan_and_clips_negatives():
    # 40×64 @ 64×2: large enough for the thin-output path (not the small-product loops).
    X = np.ones((40, 64))
    X[0, 5] = np.nan
    X[1, :] = -1.0
    W = np.ones((64, 2))
    b = np.zeros((1, 2))
    out = fastbp.dense_relu_forward(X, W, b)
    assert np.isnan(out[0]).all()  # np.maximum(0, nan) is nan, as in the book
    assert_array_equal(out[1], [0.0, 0.0])
    assert_array_equal(out[2:], 64.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_full_scratch_of_partial_sums(dtype):
    # float32, 16 neurons, 3 inputs: blocks of 128 rows (THIN_SCRATCH / 16), whose dX
    # partial sums fill the scratch exactly (128 rows × 3 inputs × 8 lanes = THIN_PARTIALS);
    # float64 takes blocks of 64 rows there. 300 samples: two whole blocks and a partial one.
    X, W, b, D = _case(300, 3, 16, dtype, seed=11)
    layer = fastbp.DenseReLU(3, 16, dtype=dtype)
    layer.set_parameters(W, b)
    layer.forward(X)
    layer.backward(D)
    dz = R.relu_backward(D.astype(np.float64), layer.output)
    want = R.dense_backward(dz, X.astype(np.float64), W.astype(np.float64))
    for got, expected in zip((layer.dinputs, layer.dweights, layer.dbiases), want):
        assert_allclose(got, expected, rtol=_tol(dtype)["rtol"],
                        atol=_tol(dtype)["atol"] * np.abs(D).max() * 300 ** 0.5)
