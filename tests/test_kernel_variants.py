"""The two builds of the kernels (baseline x86-64 and x86-64-v3) give the same answers.

fastbp imports one of them (fastbp.show_config() names it); the rest of the suite tests
that one through the public API. Here both are called directly on the same data. On the
generic path (fastbp._testing.kernel_paths("generic")) both are compiled without FMA
contraction and call the same BLAS, so they agree bit for bit. The x86-64-v3 build's
special paths for thin layers (_thin_kernels.h, which the baseline build has not) use FMA:
there the two builds agree to rounding.
"""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastbp._testing import PATHS, builds, built_paths, kernel_paths, kernels

BASELINE, avx2 = builds()["baseline"], builds().get("avx2")

pytestmark = pytest.mark.skipif(avx2 is None, reason="no x86-64-v3 build or CPU here")

SHAPES = [(0, 3, 4), (1, 1, 1), (5, 3, 7), (8, 8, 8), (300, 2, 64), (300, 64, 3), (33, 70, 17),
          (40, 3, 33), (20, 6, 70)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_builds_agree_on_the_generic_path(shape, dtype):
    base, fast = kernels(dtype, BASELINE), kernels(dtype, avx2)
    n, i, o = shape
    rng = np.random.default_rng(sum(shape))
    X = rng.standard_normal((n, i)).astype(dtype)
    W = rng.standard_normal((i, o)).astype(dtype)
    b = rng.standard_normal((1, o)).astype(dtype)
    dY = rng.standard_normal((n, o)).astype(dtype)
    X[: n // 2, :1] = np.nan  # NaN must travel alike

    results = []
    for k in (base, fast):
        with kernel_paths("generic"):
            results.append(_all_kernels(k, X, W, b, dY))
    for name, a, b_ in zip(["out", "relu", "relu_grad", "dX", "dW", "db", "reg"],
                           *results):
        assert_array_equal(a, b_, err_msg=name)


def _all_kernels(k, X, W, b, dY):
    (n, i), o, dtype = X.shape, W.shape[1], X.dtype
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
    return [out, relu_out, relu_grad, *grads[1:], reg]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1, 1), (5, 3, 7), (300, 2, 64), (40, 3, 33), (70, 1, 100),
                                   (300, 64, 3), (33, 70, 2), (20, 1000, 1)],
                         ids=lambda s: "x".join(map(str, s)))
def test_builds_agree_on_the_thin_paths_to_rounding(shape, dtype):
    # The x86-64-v3 build on its special paths, the baseline build on the generic path.
    modules = (BASELINE, avx2)
    assert built_paths(avx2) == PATHS and built_paths(BASELINE) == ()
    n, i, o = shape
    rng = np.random.default_rng(sum(shape))
    X = rng.standard_normal((n, i)).astype(dtype)
    W = rng.standard_normal((i, o)).astype(dtype)
    dY = rng.standard_normal((n, o)).astype(dtype)
    out = np.maximum(rng.standard_normal((n, o)), 0).astype(dtype)
    results = []
    for m in modules:
        k = kernels(dtype, m)
        relu = [np.empty((n, o), dtype), np.empty((n, i), dtype), np.empty((i, o), dtype),
                np.empty((1, o), dtype)]
        k.dense_relu_backward(dY, X, W, out, *relu)
        plain = [np.empty((n, i), dtype), np.empty((i, o), dtype), np.empty((1, o), dtype)]
        k.dense_backward(dY, X, W, *plain)
        forward = np.empty((n, o), dtype)
        k.dense_forward(X, W, np.full((1, o), 0.5, dtype), forward, True)
        results.append(relu[1:] + plain + [forward])
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    for a, b_ in zip(*results):
        scale = np.abs(a).max(initial=1.0)
        np.testing.assert_allclose(a, b_, rtol=rtol, atol=rtol * scale)
