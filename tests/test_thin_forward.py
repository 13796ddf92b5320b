"""The one-pass forward of layers with 1-3 inputs (fastbp_thin_input_forward, "thin_inputs").

Run on each kernel build that has it, against the generic path (BLAS and the bias/ReLU
epilogue) of the same build and the numpy reference, over widths that exercise whole
vectors and the last columns one at a time, and on NaN, ±inf and -0.0. Its elements are
plain sums in the inputs' order where BLAS may fuse or reorder, so the two paths agree to
rounding; the scalar copy of the same sums in the fused backward kernel (_product_row) is
held to it bit for bit by tests/test_network_step.py.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastbp import reference as R
from fastbp._testing import builds, built_paths, kernel_paths, kernels

MODULES = [m for m in builds().values() if "thin_inputs" in built_paths(m)]
pytestmark = pytest.mark.skipif(not MODULES, reason="no kernel build here has thin_inputs")

# 1-3: no whole float64 vector; 4, 8: whole vectors only; 5, 9, 17, 65: some left over.
WIDTHS = [1, 2, 3, 4, 5, 8, 9, 16, 17, 64, 65, 100]


@pytest.fixture(params=MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def module(request):
    return request.param


def _forward(module, X, W, b, relu, thin):
    with kernel_paths("thin_inputs" if thin else "generic"):
        out = np.full((X.shape[0], W.shape[1]), 7.0, dtype=X.dtype)
        kernels(X.dtype, module).dense_forward(X, W, b, out, relu)
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("n_neurons", WIDTHS)
@pytest.mark.parametrize("n_inputs", [1, 2, 3])
@pytest.mark.parametrize("relu", [True, False], ids=["relu", "plain"])
def test_thin_and_generic_forward_agree(module, dtype, n_inputs, n_neurons, relu):
    rng = np.random.default_rng(n_inputs * 1000 + n_neurons)
    X = rng.standard_normal((13, n_inputs)).astype(dtype)
    W = rng.standard_normal((n_inputs, n_neurons)).astype(dtype)
    b = rng.standard_normal((1, n_neurons)).astype(dtype)
    got = _forward(module, X, W, b, relu, True)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert_allclose(got, _forward(module, X, W, b, relu, False), rtol=tol, atol=tol)
    want = R.dense_forward(X.astype(np.float64), W.astype(np.float64), b.astype(np.float64))
    if relu:
        want = R.relu_forward(want)
    assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("relu", [True, False], ids=["relu", "plain"])
def test_special_values_agree(module, dtype, relu):
    # Sums of products of ±1, 0 and a tiny value are exact in either order: the paths may
    # differ only where C leaves a NaN's payload or a zero's sign to the operand order.
    specials = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1.0, -1.0, 1e-300], dtype=dtype)
    rng = np.random.default_rng(5)
    X = rng.choice(specials, size=(40, 2))
    W = rng.choice(specials, size=(2, 19))
    b = rng.choice(specials, size=(1, 19))
    got = _forward(module, X, W, b, relu, True)
    generic = _forward(module, X, W, b, relu, False)
    assert_array_equal(np.isnan(got), np.isnan(generic))
    assert_array_equal(got[~np.isnan(got)], generic[~np.isnan(generic)])
    if relu:  # NaN kept, never negative (-0.0 stays -0.0, as the book's np.maximum(0, x)
        # would not: both fastbp paths keep the scalar rule "0 if v < 0 else v")
        assert not (got < 0).any()
        assert np.isnan(got).any()


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("n_inputs", WIDTHS)
@pytest.mark.parametrize("n_neurons", [1, 2, 3])
def test_thin_and_generic_dinputs_agree(module, dtype, n_neurons, n_inputs):
    # dX = dZ·Wᵀ of a layer with 1-3 neurons is the same product without bias
    # (_product_rows). (With 1-3 inputs too, the layer takes the one-pass backward instead.)
    rng = np.random.default_rng(n_neurons * 1000 + n_inputs)
    X = rng.standard_normal((21, n_inputs)).astype(dtype)
    W = rng.standard_normal((n_inputs, n_neurons)).astype(dtype)
    D = rng.standard_normal((21, n_neurons)).astype(dtype)
    D[3, 0] = np.nan
    D[5] = -0.0
    results = []
    for paths in (("thin_inputs",), ("generic",)):
        with kernel_paths(*paths):
            out = [np.full(shape, 7.0, dtype=dtype)
                   for shape in ((21, n_inputs), (n_inputs, n_neurons), (1, n_neurons))]
            kernels(dtype, module).dense_backward(D, X, W, *out)
        results.append(out[0])
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert_array_equal(np.isnan(results[0]), np.isnan(results[1]))
    assert_allclose(results[0], results[1], rtol=tol, atol=tol)
    want = R.dense_backward(D.astype(np.float64), X.astype(np.float64), W.astype(np.float64))[0]
    ok = ~np.isnan(want)
    assert_allclose(results[0][ok], want[ok], rtol=tol, atol=tol)
    assert np.isnan(results[0][3]).all()
