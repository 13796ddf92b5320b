"""The two builds of the kernels (baseline x86-64 and x86-64-v3) give the same answers.

fastbp imports one of them (fastbp._validation.kernels_module); the rest of the suite tests
that one through the public API. Here both are called directly on the same data. Both are
compiled without FMA contraction, so elementwise results and the small-product loops agree
bit for bit; BLAS products go through the same BLAS call in both. The one exception is the
one-pass backward of layers with 1-3 inputs and the forward product and dW of layers with 1-3
neurons (_thin_kernels.h), whose register-blocked sums use FMA where the build has it: the
two builds agree there to rounding.
"""

import importlib

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastbp import _validation

try:
    avx2 = importlib.import_module("fastbp._kernels_avx2")
except ImportError:
    avx2 = None

pytestmark = pytest.mark.skipif(
    avx2 is None or not _validation._cpu_has("AVX2", "FMA3"),
    reason="no x86-64-v3 build or CPU here",
)

SHAPES = [(0, 3, 4), (1, 1, 1), (5, 3, 7), (8, 8, 8), (300, 2, 64), (300, 64, 3), (33, 70, 17),
          (40, 3, 33), (20, 6, 70)]


@pytest.fixture(params=[0, 3], ids=["thin-blas", "thin-loops"])
def thin_inputs(request):
    """The same THIN_INPUTS in both builds (by default the baseline one loops only for one
    input, where SSE2 loops win; see _kernels.pyx), so that they take the same paths."""
    modules = (_validation._baseline_kernels, avx2)
    old = [m._set_thin_inputs(request.param) for m in modules]
    # The one-pass thin backward uses FMA in the x86-64-v3 build only: it is compared to a
    # tolerance below, and kept out of the bit-for-bit comparison.
    old_backward = [m._set_thin_backward_inputs(0, 0) for m in modules]
    old_outputs = [m._set_thin_outputs(0) for m in modules]  # the same, for 1-3 neurons
    try:
        yield request.param
    finally:
        for m, value, pair, outputs in zip(modules, old, old_backward, old_outputs):
            m._set_thin_inputs(value)
            m._set_thin_backward_inputs(*pair)
            m._set_thin_outputs(outputs)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_builds_agree(shape, dtype, thin_inputs):
    base = _validation.kernel_sets(_validation._baseline_kernels)[np.dtype(dtype)]
    fast = _validation.kernel_sets(avx2)[np.dtype(dtype)]
    n, i, o = shape
    rng = np.random.default_rng(sum(shape))
    X = rng.standard_normal((n, i)).astype(dtype)
    W = rng.standard_normal((i, o)).astype(dtype)
    b = rng.standard_normal((1, o)).astype(dtype)
    dY = rng.standard_normal((n, o)).astype(dtype)
    X[: n // 2, :1] = np.nan  # NaN must travel alike

    results = []
    for k in (base, fast):
        out = np.empty((n, o), dtype)
        k.dense_forward(X, W, b, out, True)
        relu_out, relu_grad = np.empty_like(dY), np.empty_like(dY)
        k.relu_forward(dY, relu_out)
        k.relu_backward(dY, out, relu_grad)
        grads = [np.empty((n, o), dtype), np.empty((n, i), dtype), np.empty((i, o), dtype),
                 np.empty((1, o), dtype)]
        k.dense_relu_backward(dY, X, W, out, *grads)
        reg = np.zeros((i, o), dtype)
        k.regularization_grad(W, reg, 1e-3, 2e-3)
        # grads[0] is dz, a scratch array the one-pass thin backward does not write.
        results.append([out, relu_out, relu_grad, *grads[1:], reg])
    for name, a, b_ in zip(["out", "relu", "relu_grad", "dX", "dW", "db", "reg"],
                           *results):
        assert_array_equal(a, b_, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1, 1), (5, 3, 7), (300, 2, 64), (40, 3, 33), (70, 1, 100),
                                   (300, 64, 3), (33, 70, 2), (20, 1000, 1)],
                         ids=lambda s: "x".join(map(str, s)))
def test_builds_agree_on_the_thin_paths_to_rounding(shape, dtype):
    modules = (_validation._baseline_kernels, avx2)
    old = [m._set_thin_backward_inputs(3, 3) for m in modules]
    old_outputs = [m._set_thin_outputs(3) for m in modules]
    try:
        n, i, o = shape
        rng = np.random.default_rng(sum(shape))
        X = rng.standard_normal((n, i)).astype(dtype)
        W = rng.standard_normal((i, o)).astype(dtype)
        dY = rng.standard_normal((n, o)).astype(dtype)
        out = np.maximum(rng.standard_normal((n, o)), 0).astype(dtype)
        results = []
        for m in modules:
            k = _validation.kernel_sets(m)[np.dtype(dtype)]
            relu = [np.empty((n, o), dtype), np.empty((n, i), dtype), np.empty((i, o), dtype),
                    np.empty((1, o), dtype)]
            k.dense_relu_backward(dY, X, W, out, *relu)
            plain = [np.empty((n, i), dtype), np.empty((i, o), dtype), np.empty((1, o), dtype)]
            k.dense_backward(dY, X, W, *plain)
            forward = np.empty((n, o), dtype)
            k.dense_forward(X, W, np.full((1, o), 0.5, dtype), forward, True)
            results.append(relu[1:] + plain + [forward])
    finally:
        for m, pair, outputs in zip(modules, old, old_outputs):
            m._set_thin_backward_inputs(*pair)
            m._set_thin_outputs(outputs)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    for a, b_ in zip(*results):
        scale = np.abs(a).max(initial=1.0)
        np.testing.assert_allclose(a, b_, rtol=rtol, atol=rtol * scale)
