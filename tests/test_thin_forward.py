"""The vector-lane forward of layers with 1-3 inputs (fastbp_thin_input_forward).

It replaces the scalar loops (_dense_row in _kernels.pyx) for the THIN_INPUTS forward and
computes each element with the same operations, so the two must agree bit for bit: here
both are run on each kernel build, with THIN_FORWARD_VECTORS switched on and off, over
widths that exercise whole vectors and the last columns one at a time, and on NaN, ±inf
and -0.0. Both are checked against the numpy reference too.
"""

import importlib

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastbp import _validation
from fastbp import reference as R

MODULES = [_validation._baseline_kernels]
try:
    _avx2 = importlib.import_module("fastbp._kernels_avx2")
except ImportError:
    _avx2 = None
if _avx2 is not None and _validation._cpu_has("AVX2", "FMA3"):
    MODULES.append(_avx2)

# 1-3: no whole float64 vector; 4, 8: whole vectors only; 5, 9, 17, 65: some left over.
WIDTHS = [1, 2, 3, 4, 5, 8, 9, 16, 17, 64, 65, 100]
CTYPE = {np.float64: "double", np.float32: "float"}


@pytest.fixture(params=MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def module(request):
    m = request.param
    old = m._set_thin_inputs(3)  # the baseline build loops for one input only by default
    try:
        yield m
    finally:
        m._set_thin_inputs(old)


def _forward(module, X, W, b, relu, vectors):
    old = module._set_thin_forward_vectors(vectors)
    try:
        out = np.full((X.shape[0], W.shape[1]), 7.0, dtype=X.dtype)
        module.dense_forward[CTYPE[X.dtype.type]](X, W, b, out, relu)
    finally:
        module._set_thin_forward_vectors(old)
    return out


def assert_same_bits(a, b):
    """Equal bit for bit (so -0.0 is not 0.0), except that any NaN equals any NaN: which
    payload an operation on two NaNs returns depends on its operand order, which C leaves
    to the compiler."""
    nan = np.isnan(a)
    assert_array_equal(nan, np.isnan(b))
    as_int = np.int64 if a.dtype == np.float64 else np.int32
    assert_array_equal(a[~nan].view(as_int), b[~nan].view(as_int))


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("n_neurons", WIDTHS)
@pytest.mark.parametrize("n_inputs", [1, 2, 3])
@pytest.mark.parametrize("relu", [True, False], ids=["relu", "plain"])
def test_vectors_and_loops_agree_bit_for_bit(module, dtype, n_inputs, n_neurons, relu):
    rng = np.random.default_rng(n_inputs * 1000 + n_neurons)
    X = rng.standard_normal((13, n_inputs)).astype(dtype)
    W = rng.standard_normal((n_inputs, n_neurons)).astype(dtype)
    b = rng.standard_normal((1, n_neurons)).astype(dtype)
    got = _forward(module, X, W, b, relu, True)
    assert_same_bits(got, _forward(module, X, W, b, relu, False))
    want = R.dense_forward(X.astype(np.float64), W.astype(np.float64), b.astype(np.float64))
    if relu:
        want = R.relu_forward(want)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("relu", [True, False], ids=["relu", "plain"])
def test_special_values_agree_bit_for_bit(module, dtype, relu):
    specials = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1.0, -1.0, 1e-300], dtype=dtype)
    rng = np.random.default_rng(5)
    X = rng.choice(specials, size=(40, 2))
    W = rng.choice(specials, size=(2, 19))
    b = rng.choice(specials, size=(1, 19))
    got = _forward(module, X, W, b, relu, True)
    assert_same_bits(got, _forward(module, X, W, b, relu, False))
    if relu:  # NaN kept, never negative (-0.0 stays -0.0, as the book's np.maximum(0, x)
        # would not: both fastbp paths keep the scalar rule "0 if v < 0 else v")
        assert not (got < 0).any()
        assert np.isnan(got).any()


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("n_inputs", WIDTHS)
@pytest.mark.parametrize("n_neurons", [1, 2, 3])
def test_thin_dinputs_agree_bit_for_bit(module, dtype, n_neurons, n_inputs):
    # dX = dZ·Wᵀ of a layer with 1-3 neurons is the same product without bias
    # (_product_rows), in vector lanes when THIN_FORWARD_VECTORS is on. (With 1-3 inputs
    # too, the layer takes the one-pass backward instead, and both runs agree trivially.)
    rng = np.random.default_rng(n_neurons * 1000 + n_inputs)
    X = rng.standard_normal((21, n_inputs)).astype(dtype)
    W = rng.standard_normal((n_inputs, n_neurons)).astype(dtype)
    D = rng.standard_normal((21, n_neurons)).astype(dtype)
    D[3, 0] = np.nan
    D[5] = -0.0
    results = []
    old_small = module._set_small_product(0)  # not the small-product loops
    try:
        for vectors in (True, False):
            old = module._set_thin_forward_vectors(vectors)
            try:
                out = [np.full(shape, 7.0, dtype=dtype)
                       for shape in ((21, n_inputs), (n_inputs, n_neurons), (1, n_neurons))]
                module.dense_backward[CTYPE[dtype]](D, X, W, *out)
            finally:
                module._set_thin_forward_vectors(old)
            results.append(out[0])
    finally:
        module._set_small_product(old_small)
    assert_same_bits(*results)
    want = R.dense_backward(D.astype(np.float64), X.astype(np.float64), W.astype(np.float64))[0]
    ok = ~np.isnan(want)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert_allclose(results[0][ok], want[ok], rtol=tol, atol=tol)
    assert np.isnan(results[0][3]).all()
