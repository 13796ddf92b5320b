"""The functional API's fast path (fastbp/_fastcheck.pyx): plain arrays are checked in C and
run through the chosen kernel build's pointer kernels, with no memoryviews.

It must give exactly what the memoryview kernels give, take only what the Python checks
would pass (else return None, so that those checks run and raise their errors), and write
nothing when it returns None.

Private: fastbp._fastcheck itself (and a kernel build's _kernel_table, which it is handed),
the compiled check under test; everything else goes through fastbp and fastbp._testing.
"""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import fastbp
from fastbp import _fastcheck
from fastbp._testing import builds, built_paths
from fastbp._testing import kernels as kernels_of

DTYPES = [np.float64, np.float32]
SHAPES = [(1, 1, 1), (300, 2, 64), (300, 64, 3), (7, 0, 5), (0, 4, 3), (5, 4, 0), (33, 70, 17),
          (40, 600, 9)]


def operands(shape, dtype, seed=0):
    n, i, o = shape
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, i)).astype(dtype), rng.standard_normal((i, o)).astype(dtype),
            rng.standard_normal((1, o)).astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("relu", [False, True])
def test_dense_forward_plain_is_the_memoryview_kernel(dtype, shape, relu):
    X, W, b = operands(shape, dtype)
    expected = np.empty((shape[0], shape[2]), dtype)
    kernels_of(dtype).dense_forward(X, W, b, expected, relu)
    got = _fastcheck.dense_forward_plain(X, W, b, None, relu)
    assert got.dtype == dtype and got.shape == expected.shape and got.flags.c_contiguous
    assert_array_equal(got, expected)
    out = np.full_like(expected, np.nan)
    assert _fastcheck.dense_forward_plain(X, W, b, out, relu) is out
    assert_array_equal(out, expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (300, 64), (0, 3), (4, 0), (17, 33)])
def test_relu_forward_plain_is_the_memoryview_kernel(dtype, shape):
    X = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    if X.size:
        X.flat[0] = np.nan
    expected = np.empty_like(X)
    kernels_of(dtype).relu_forward(X, expected)
    got = _fastcheck.relu_forward_plain(X, None)
    assert_array_equal(got, expected)
    out = np.empty_like(X)
    assert _fastcheck.relu_forward_plain(X, out) is out
    assert_array_equal(out, expected)


class Subclass(np.ndarray):
    pass


def not_plain_cases():
    X, W, b = operands((4, 3, 2), np.float64)
    read_only = np.zeros((4, 2))
    read_only.flags.writeable = False
    return {
        "float32 weights": (X, W.astype(np.float32), b, None),
        "int inputs": (X.astype(np.int64), W, b, None),
        "Fortran inputs": (np.asfortranarray(X), W, b, None),
        "strided weights": (X, np.zeros((3, 4))[:, ::2], b, None),
        "1-D biases": (X, W, b.ravel(), None),
        "weights shape": (X, W[:2], b, None),
        "biases shape": (X, W, np.zeros((1, 3)), None),
        "list inputs": (X.tolist(), W, b, None),
        "ndarray subclass": (X.view(Subclass), W, b, None),
        "out wrong shape": (X, W, b, np.zeros((4, 3))),
        "out wrong dtype": (X, W, b, np.zeros((4, 2), np.float32)),
        "out read-only": (X, W, b, read_only),
        "out is inputs' memory": (np.zeros((4, 2)), np.zeros((2, 2)), np.zeros((1, 2)), None),
        "out non-contiguous": (X, W, b, np.zeros((4, 4))[:, ::2]),
    }


@pytest.mark.parametrize("case", sorted(not_plain_cases()))
def test_dense_forward_plain_declines_anything_else(case):
    X, W, b, out = not_plain_cases()[case]
    if case == "out is inputs' memory":
        out = X  # writing the output over an input
    snapshot = None if out is None else out.copy()
    assert _fastcheck.dense_forward_plain(X, W, b, out, False) is None
    if out is not None:
        assert_array_equal(out, snapshot)  # nothing written


def test_relu_forward_plain_declines_anything_else():
    X = np.ones((3, 4))
    assert _fastcheck.relu_forward_plain(X.ravel(), None) is None  # 1-D: Python path
    assert _fastcheck.relu_forward_plain(X, X) is None  # in place onto the input
    assert _fastcheck.relu_forward_plain(X, np.zeros((4, 3))) is None
    assert _fastcheck.relu_forward_plain(X.astype(np.int32), None) is None


@pytest.mark.parametrize("build", ["baseline", "avx2"])
def test_either_builds_pointer_kernels(build):
    # _validation hands _fastcheck the build it chose; the other build's table works alike.
    module = builds().get(build)
    if module is None:
        pytest.skip(f"no {build} build that this CPU runs here")
    chosen = builds()[fastbp.show_config(mode="dicts")["kernels"]["build"]]
    X, W, b = operands((300, 2, 64), np.float64)
    expected = np.maximum(X @ W + b, 0)
    try:
        _fastcheck.use_kernels(module._kernel_table())
        got = fastbp.dense_relu_forward(X, W, b)
    finally:
        _fastcheck.use_kernels(chosen._kernel_table())
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15)


def test_use_kernels_takes_only_its_capsule():
    with pytest.raises(ValueError):
        _fastcheck.use_kernels(object())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("relu", [False, True])
def test_dense_backward_plain_is_the_memoryview_kernels(dtype, shape, relu):
    X, W, b = operands(shape, dtype)
    n, i, o = shape
    rng = np.random.default_rng(2)
    dY = rng.standard_normal((n, o)).astype(dtype)
    output = np.maximum(X @ W + b, 0).astype(dtype) if relu else None
    kernels = kernels_of(dtype)
    expected = (np.empty((n, i), dtype), np.empty((i, o), dtype), np.empty((1, o), dtype))
    if relu:
        kernels.dense_relu_backward(dY, X, W, output, np.empty((n, o), dtype), *expected)
    else:
        kernels.dense_backward(dY, X, W, *expected)
    before = dY.copy()
    got = _fastcheck.dense_backward_plain(dY, X, W, output)
    for g, e in zip(got, expected):
        assert g.dtype == dtype and g.shape == e.shape and g.flags.c_contiguous
        assert_array_equal(g, e)
    assert_array_equal(dY, before)  # the mask went to a scratch array, not into dvalues


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (300, 64), (0, 3), (4, 0)])
def test_relu_backward_plain_is_the_memoryview_kernel(dtype, shape):
    rng = np.random.default_rng(3)
    dY, X = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    if X.size:
        X.flat[0] = np.nan
    expected = np.empty_like(X)
    kernels_of(dtype).relu_backward(dY, X, expected)
    assert_array_equal(_fastcheck.relu_backward_plain(dY, X, None), expected)
    out = np.empty_like(X)
    assert _fastcheck.relu_backward_plain(dY, X, out) is out
    assert_array_equal(out, expected)


def test_backward_plain_declines_anything_else():
    X, W, b = operands((4, 3, 2), np.float64)
    dY, output = np.ones((4, 2)), np.ones((4, 2))
    declined = [
        (dY.astype(np.float32), X, W, output),
        (dY[:3], X, W, output),
        (dY, X, W, output[:, :1]),
        (dY, np.asfortranarray(X), W, None),
        (dY, X, W[:2], None),
        (dY.tolist(), X, W, None),
        (dY, X, W, output.astype(np.float32)),
    ]
    for args in declined:
        assert _fastcheck.dense_backward_plain(*args) is None
    assert _fastcheck.relu_backward_plain(dY, X[:, :2], None) is None
    assert _fastcheck.relu_backward_plain(dY, dY.copy(), dY) is None  # out over dvalues
    assert _fastcheck.relu_backward_plain(dY.ravel(), dY.ravel(), None) is None


def test_dense_relu_backward_without_output_is_refused():
    # None must not slip through the fast path as "no ReLU".
    X, W, b = operands((4, 3, 2), np.float64)
    with pytest.raises(TypeError, match="output"):
        fastbp.dense_relu_backward(np.ones((4, 2)), X, W, None)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("relu", [False, True])
def test_dense_backward_plain_writes_free_buffers_as_the_kernel_would(dtype, shape, relu):
    # Buffers given for all three gradients or some of them: the same values as the
    # memoryview kernel, written into the buffers, which are returned.
    n, i, o = shape
    X, W, _ = operands(shape, dtype)
    D = np.random.default_rng(2).standard_normal((n, o)).astype(dtype)
    out = np.maximum(np.random.default_rng(3).standard_normal((n, o)), 0).astype(dtype)
    expected = [np.empty((n, i), dtype), np.empty((i, o), dtype), np.empty((1, o), dtype)]
    k = kernels_of(dtype)
    if relu:
        k.dense_relu_backward(D, X, W, out, np.empty((n, o), dtype), *expected)
    else:
        k.dense_backward(D, X, W, *expected)
    for given in ([0, 1, 2], [0], [2]):
        buffers = [np.full_like(e, np.nan) if j in given else None
                   for j, e in enumerate(expected)]
        got = _fastcheck.dense_backward_plain(D, X, W, out if relu else None, *buffers)
        assert got is not None
        for j, (g, e) in enumerate(zip(got, expected)):
            if j in given:
                assert g is buffers[j]
            assert_array_equal(g, e)


def test_dense_backward_buffers_that_overlap_or_do_not_fit_take_the_checked_path():
    X, W, _ = operands((30, 4, 5), np.float64)
    D = np.ones((30, 5))
    both = np.empty(4 * 5 + 30 * 4)
    dinputs, dweights = both[:120].reshape(30, 4), both[110:130].reshape(4, 5)  # overlapping
    read_only = np.empty((1, 5))
    read_only.flags.writeable = False
    cases = [dict(dinputs=dinputs, dweights=dweights),           # two outputs share memory
             dict(dinputs=X),                                    # an output is an input
             dict(dbiases=read_only),                            # not writeable
             dict(dweights=np.empty((5, 4))),                    # wrong shape
             dict(dweights=np.empty((4, 5), np.float32))]        # wrong dtype
    for buffers in cases:
        assert _fastcheck.dense_backward_plain(D, X, W, None, buffers.get("dinputs"),
                                               buffers.get("dweights"),
                                               buffers.get("dbiases")) is None
        with pytest.raises((ValueError, TypeError)):
            fastbp.dense_backward(D, X, W, **buffers)
    # A flat (n_neurons,) dbiases is the checked path's to take: same values.
    flat = np.empty(5)
    fastbp.dense_backward(D, X, W, dbiases=flat)
    assert_array_equal(flat, D.sum(axis=0))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,thin", [((300, 2, 64), True), ((300, 64, 3), False)],
                         ids=["2-64-one-pass", "64-3-separate"])
def test_relu_backward_allocates_its_scratch_only_where_it_is_used(dtype, shape, thin):
    # The one-pass backward of a thin layer never stores the masked gradient: the fast path
    # then allocates no (n_samples, n_neurons) scratch for it; the separate path (also that
    # of a build without the thin paths) needs one.
    import tracemalloc

    n, i, o = shape
    X, W, _ = operands(shape, dtype)
    rng = np.random.default_rng(1)
    D = rng.standard_normal((n, o)).astype(dtype)
    out = np.maximum(rng.standard_normal((n, o)), 0).astype(dtype)
    buffers = dict(dinputs=np.empty((n, i), dtype), dweights=np.empty((i, o), dtype),
                   dbiases=np.empty((1, o), dtype))
    expected = fastbp.dense_relu_backward(D, X, W, out)  # fresh outputs, as a reference
    tracemalloc.start()
    try:
        got = fastbp.dense_relu_backward(D, X, W, out, **buffers)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    for a, b in zip(got, expected):
        assert_array_equal(a, b)
    dz_bytes = n * o * np.dtype(dtype).itemsize
    if thin and "thin_backward" in built_paths():
        assert peak < dz_bytes // 4, peak
    else:
        assert peak >= dz_bytes, peak
