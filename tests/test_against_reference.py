"""fastbp against fastbp.reference (the book's plain-numpy code).

Random data is compared with a tolerance per dtype relative to the magnitude of the terms
summed (``|A| @ |B|`` elementwise). Integer-valued data ("exact" data: small multiples of
powers of two) makes every sum exact in both dtypes whatever the order of additions, so it is
compared for equality, on the build's special paths and on the generic path alike.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import fastbp
from fastbp._testing import kernel_paths
from fastbp import reference as R

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
DTYPES = [pytest.param(F64, id="float64"), pytest.param(F32, id="float32")]
RTOL = {F64: 1e-12, F32: 1e-5}

# (n_samples, n_inputs, n_neurons)
TINY_SHAPES = [
    (0, 0, 0), (0, 1, 1), (1, 0, 1), (1, 1, 0), (0, 3, 4), (3, 0, 4), (3, 4, 0),
    (1, 1, 1), (1, 5, 1), (5, 1, 5), (1, 1, 7), (7, 1, 1), (2, 3, 4), (7, 5, 3), (8, 8, 8),
]
MID_SHAPES = [
    (16, 16, 16), (16, 16, 17), (300, 2, 64), (300, 64, 3), (40, 40, 40), (64, 32, 32), (1, 5000, 1),
    (70, 0, 70), (0, 70, 70), (70, 70, 0),
]
LARGE_SHAPES = [
    (64, 32, 33), (32, 784, 128), (100, 300, 50), (257, 129, 65),
    (300, 0, 300), (0, 300, 300), (300, 300, 0), (1, 70000, 1), (70000, 1, 1), (1, 1, 70000),
]

SHAPES = [pytest.param(s, id="%dx%dx%d" % s) for s in TINY_SHAPES + MID_SHAPES + LARGE_SHAPES]


def test_shapes_cover_every_kernel_path():
    # Guard on the shapes above: thin layers (1-3 inputs: the thin-input forward and
    # backward; 1-3 neurons: the thin-output forward, dW and dX) and wide ones (BLAS only),
    # each with rows, as fastbp._testing describes the paths.
    shapes = [s for s in TINY_SHAPES + MID_SHAPES + LARGE_SHAPES if min(s) > 0]
    assert sum(s[1] <= 3 for s in shapes) >= 4
    assert sum(s[2] <= 3 and s[1] > 3 for s in shapes) >= 3
    assert sum(min(s[1:]) > 3 for s in shapes) >= 4


RELU_SHAPES = [(), (0,), (1,), (7,), (3, 4), (0, 5), (5, 0), (1, 1), (2, 3, 4), (2, 0, 3),
               (70001,), (300, 300)]


# --- helpers --------------------------------------------------------------------------------

def normal(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def exact(rng, shape, dtype, step=0.5, lim=4):
    """Integer multiples of ``step`` in [-lim·step, lim·step]: sums of products stay exact."""
    return np.asarray(rng.integers(-lim, lim + 1, size=shape) * step, dtype=dtype)


def dense_data(rng, shape, dtype, kind="normal"):
    m, k, n = shape
    if kind == "normal":
        return (normal(rng, (m, k), dtype), normal(rng, (k, n), dtype),
                normal(rng, (1, n), dtype), normal(rng, (m, n), dtype))
    return (exact(rng, (m, k), dtype, 0.5), exact(rng, (k, n), dtype, 0.25),
            exact(rng, (1, n), dtype, 0.125, 8), exact(rng, (m, n), dtype, 0.5))


def assert_close_to(got, ref, scale, dtype, what=""):
    """|got - ref| <= RTOL[dtype] · scale, elementwise (scale bounds the summed terms)."""
    dtype = np.dtype(dtype)
    ref = np.asarray(ref)
    assert isinstance(got, np.ndarray), f"{what}: got {type(got)}"
    assert got.dtype == dtype, f"{what}: dtype {got.dtype}, expected {dtype}"
    assert got.shape == ref.shape, f"{what}: shape {got.shape}, expected {ref.shape}"
    err = np.abs(got.astype(np.float64) - ref.astype(np.float64))
    tol = RTOL[dtype] * np.broadcast_to(np.asarray(scale, dtype=np.float64), ref.shape)
    bad = ~(err <= tol)
    if bad.any():
        i = np.unravel_index(np.argmax(np.where(bad, err - tol, -np.inf)), ref.shape)
        raise AssertionError(
            f"{what}: {bad.sum()} of {bad.size} elements off; worst at {i}: got {got[i]!r}, "
            f"expected {ref[i]!r}, tolerance {tol[i]:.3g}"
        )


def forward_scale(X, W, b):
    X, W, b = (np.abs(np.asarray(a, dtype=np.float64)) for a in (X, W, b))
    return X @ W + b.reshape(1, -1)


def backward_scales(D, X, W):
    D, X, W = (np.abs(np.asarray(a, dtype=np.float64)) for a in (D, X, W))
    return D @ W.T, X.T @ D, D.sum(axis=0, keepdims=True)


def assert_grads_close(got, ref, D, X, W, dtype):
    assert isinstance(got, tuple) and len(got) == 3
    for g, r, s, name in zip(got, ref, backward_scales(D, X, W),
                             ("dinputs", "dweights", "dbiases")):
        assert_close_to(g, r, s, dtype, name)


def assert_grads_equal(got, ref, dtype):
    for g, r, name in zip(got, ref, ("dinputs", "dweights", "dbiases")):
        assert g.dtype == dtype, name
        assert g.shape == r.shape, name
        assert_array_equal(g, r, err_msg=name)


# --- functional API vs reference, random data ------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_dense_forward(rng, shape, dtype):
    X, W, b, _ = dense_data(rng, shape, dtype)
    ref = R.dense_forward(X, W, b)
    scale = forward_scale(X, W, b)
    assert_close_to(fastbp.dense_forward(X, W, b), ref, scale, dtype, "2-D biases")
    assert_close_to(fastbp.dense_forward(X, W, b.reshape(-1)), ref, scale, dtype, "1-D biases")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_dense_relu_forward(rng, shape, dtype):
    X, W, b, _ = dense_data(rng, shape, dtype)
    ref = R.dense_relu_forward(X, W, b)
    out = fastbp.dense_relu_forward(X, W, b)
    assert_close_to(out, ref, forward_scale(X, W, b), dtype)
    assert (out >= 0).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_dense_backward(rng, shape, dtype):
    X, W, _, D = dense_data(rng, shape, dtype)
    got = fastbp.dense_backward(D, X, W)
    assert_grads_close(got, R.dense_backward(D, X, W), D, X, W, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_dense_relu_backward(rng, shape, dtype):
    X, W, b, D = dense_data(rng, shape, dtype)
    # The reference recomputes z from the biases; fastbp takes the forward output. Give fastbp
    # the reference's output, so that both use the same ReLU mask whatever the rounding.
    output = R.dense_relu_forward(X, W, b)
    got = fastbp.dense_relu_backward(D, X, W, output)
    assert_grads_close(got, R.dense_relu_backward(D, X, W, b), D, X, W, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", RELU_SHAPES, ids=str)
def test_relu_forward_and_backward(rng, shape, dtype):
    x = normal(rng, shape, dtype)
    if x.size:
        x.reshape(-1)[:: 7] = 0.0  # exact zeros: the boundary of the mask
    d = normal(rng, shape, dtype)
    out = fastbp.relu_forward(x)
    assert out.dtype == dtype and out.shape == x.shape
    assert_array_equal(out, R.relu_forward(x))
    dx = fastbp.relu_backward(d, x)
    assert dx.dtype == dtype and dx.shape == x.shape
    assert_array_equal(dx, R.relu_backward(d, x))


# --- functional API vs reference, exact data ---------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_all_functions_exact(rng, shape, dtype):
    X, W, b, D = dense_data(rng, shape, dtype, "exact")
    z = fastbp.dense_forward(X, W, b)
    assert_array_equal(z, R.dense_forward(X, W, b))
    out = fastbp.dense_relu_forward(X, W, b)
    assert_array_equal(out, R.dense_relu_forward(X, W, b))
    assert_array_equal(fastbp.relu_forward(z), R.relu_forward(z))
    assert_array_equal(fastbp.relu_backward(D, z), R.relu_backward(D, z))
    assert_grads_equal(fastbp.dense_backward(D, X, W), R.dense_backward(D, X, W), dtype)
    # fastbp's own forward output drives the mask; exact data has many z == 0 exactly.
    assert_grads_equal(fastbp.dense_relu_backward(D, X, W, out),
                       R.dense_relu_backward(D, X, W, b), dtype)


@pytest.fixture(params=["default", "generic"])
def forced_path(request):
    """Every kernel on the build's paths, or every one on the generic path (BLAS products
    and plain loops), for one test."""
    with kernel_paths(request.param):
        yield request.param


FORCED_SHAPES = [pytest.param(s, id="%dx%dx%d" % s) for s in
                 [(1, 1, 1), (7, 5, 3), (0, 3, 4), (3, 0, 4), (3, 4, 0), (16, 16, 17),
                  (70, 0, 70), (0, 70, 70), (70, 70, 0), (64, 32, 33), (100, 300, 50),
                  (1, 5000, 1), (5000, 1, 3),
                  # thin-input forward and backward (1-3 inputs), and wider neighbours
                  (300, 2, 64), (50, 3, 33), (20, 1, 70), (40, 4, 17), (30, 9, 20),
                  (25, 8, 5),
                  # thin outputs and dinputs (1-3 neurons; W transposed on the stack up to
                  # 1024 inputs)
                  (300, 64, 3), (50, 20, 1), (40, 1024, 2), (10, 1025, 2)]]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", FORCED_SHAPES)
def test_both_kernel_paths(rng, forced_path, shape, dtype):
    # exact data: equal to the reference whichever way the products are computed
    X, W, b, D = dense_data(rng, shape, dtype, "exact")
    m, k, n = shape
    out = np.full((m, n), np.nan, dtype)
    fastbp.dense_forward(X, W, b, out=out)
    assert_array_equal(out, R.dense_forward(X, W, b))
    fastbp.dense_relu_forward(X, W, b, out=out)
    assert_array_equal(out, R.dense_relu_forward(X, W, b))
    grads = (np.full((m, k), np.nan, dtype), np.full((k, n), np.nan, dtype),
             np.full((1, n), np.nan, dtype))
    fastbp.dense_backward(D, X, W, dinputs=grads[0], dweights=grads[1], dbiases=grads[2])
    assert_grads_equal(grads, R.dense_backward(D, X, W), dtype)
    for g in grads:
        g[...] = np.nan
    fastbp.dense_relu_backward(D, X, W, out, dinputs=grads[0], dweights=grads[1],
                               dbiases=grads[2])
    assert_grads_equal(grads, R.dense_relu_backward(D, X, W, b), dtype)
    # and the layers, which call the kernels directly
    if k and n:
        layer, ref = fastbp.DenseReLU(k, n, 0.5, 0.25, dtype=dtype), R.DenseReLU(
            k, n, 0.5, 0.25, dtype=dtype)
        ref.dense.weights, ref.dense.biases = W.copy(), b.copy()
        layer.set_parameters(W, b)
        assert_array_equal(layer.forward(X), ref.forward(X))
        layer.backward(D)
        ref.backward(D)
        assert_grads_equal((layer.dinputs, layer.dweights, layer.dbiases),
                           (ref.dinputs, ref.dweights, ref.dbiases), dtype)
    # random data: within tolerance
    X, W, b, D = dense_data(rng, shape, dtype)
    assert_close_to(fastbp.dense_forward(X, W, b), R.dense_forward(X, W, b),
                    forward_scale(X, W, b), dtype, "dense_forward")
    assert_grads_close(fastbp.dense_backward(D, X, W), R.dense_backward(D, X, W), D, X, W,
                       dtype)


def test_exact_data_hits_the_relu_boundary(rng):
    # Guard on the test data above: z == 0 must occur, or the mask boundary goes untested.
    X, W, b, _ = dense_data(rng, (16, 16, 16), F64, "exact")
    assert (R.dense_forward(X, W, b) == 0).sum() > 0


def test_functional_accepts_lists():
    X = [[1.0, -2.0], [0.5, 4.0]]
    W = [[1.0, 0.0, -1.0], [2.0, 1.0, 0.5]]
    b = [0.25, -8.0, 1.0]
    D = [[1.0, 2.0, 3.0], [-1.0, 0.0, 1.0]]
    Xa, Wa, ba, Da = (np.array(a) for a in (X, W, b, D))
    assert_array_equal(fastbp.dense_forward(X, W, b), R.dense_forward(Xa, Wa, ba))
    out = fastbp.dense_relu_forward(X, W, [b])
    assert_array_equal(out, R.dense_relu_forward(Xa, Wa, ba))
    assert_array_equal(fastbp.relu_forward(X), R.relu_forward(Xa))
    assert_array_equal(fastbp.relu_backward(X, X), R.relu_backward(Xa, Xa))
    assert_grads_equal(fastbp.dense_backward(D, X, W), R.dense_backward(Da, Xa, Wa), F64)
    assert_grads_equal(fastbp.dense_relu_backward(D, X, W, out.tolist()),
                       R.dense_relu_backward(Da, Xa, Wa, ba), F64)


# --- non-contiguous, read-only, unmodified inputs ---------------------------------------------

def _variant(a, kind):
    """An array equal to ``a`` with another memory layout."""
    a = np.asarray(a)
    if kind == "C":
        return np.ascontiguousarray(a)
    if kind == "F":
        return np.asfortranarray(a)
    if kind == "step":
        big = np.full(tuple(3 * s + 1 for s in a.shape), np.nan, dtype=a.dtype)
        view = big[tuple(slice(1, None, 3) for _ in a.shape)]
        view[...] = a
        return view
    if kind == "transpose":
        return np.ascontiguousarray(a.T).T
    if kind == "negative":
        flip = tuple(slice(None, None, -1) for _ in a.shape)
        return np.ascontiguousarray(a[flip])[flip]
    raise ValueError(kind)


LAYOUTS = ["F", "step", "transpose", "negative"]
FUNCTIONS = {
    # name: (function, reference, names of its array arguments)
    "dense_forward": (fastbp.dense_forward, R.dense_forward, ("X", "W", "b")),
    "dense_relu_forward": (fastbp.dense_relu_forward, R.dense_relu_forward, ("X", "W", "b")),
    "relu_forward": (fastbp.relu_forward, R.relu_forward, ("X",)),
    "relu_backward": (fastbp.relu_backward, R.relu_backward, ("D", "Z")),
    "dense_backward": (fastbp.dense_backward, R.dense_backward, ("D", "X", "W")),
    "dense_relu_backward": (fastbp.dense_relu_backward, None, ("D", "X", "W", "out")),
}


def _exact_operands(rng, shape, dtype):
    X, W, b, D = dense_data(rng, shape, dtype, "exact")
    Z = R.dense_forward(X, W, b)
    return dict(X=X, W=W, b=b, D=D, Z=Z, out=R.relu_forward(Z))


def _reference_result(name, ops):
    if name == "dense_relu_backward":
        return R.dense_relu_backward(ops["D"], ops["X"], ops["W"], ops["b"])
    _, ref, argnames = FUNCTIONS[name]
    return ref(*(ops[a] for a in argnames))


def _assert_same_result(got, ref, dtype, what):
    if isinstance(ref, tuple):
        assert isinstance(got, tuple) and len(got) == 3, what
        for g, r, part in zip(got, ref, ("dinputs", "dweights", "dbiases")):
            assert g.dtype == dtype, f"{what} {part}"
            assert_array_equal(g, r, err_msg=f"{what} {part}")
    else:
        assert got.dtype == dtype, what
        assert_array_equal(got, ref, err_msg=what)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 7, 3), (64, 40, 33)], ids=["small", "blas"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_non_contiguous_inputs(rng, name, layout, shape, dtype):
    ops = _exact_operands(rng, shape, dtype)
    ref = _reference_result(name, ops)
    func, _, argnames = FUNCTIONS[name]
    # each argument alone in the layout, then all of them at once
    for which in [(a,) for a in argnames] + [argnames]:
        args = []
        for a in argnames:
            value = ops[a]
            if a in which:
                value = _variant(value, layout)
                if value.ndim == 2 and min(value.shape) > 1:
                    assert not value.flags.c_contiguous
            args.append(value)
        _assert_same_result(func(*args), ref, dtype, f"{name} with {which} {layout}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["step", "negative"])
def test_non_contiguous_biases(rng, layout, dtype):
    X, W, b, _ = dense_data(rng, (6, 5, 4), dtype, "exact")
    for biases in (_variant(b.reshape(-1), layout), _variant(b, layout)):
        assert not biases.flags.c_contiguous
        assert_array_equal(fastbp.dense_forward(X, W, biases), R.dense_forward(X, W, b))
        assert_array_equal(fastbp.dense_relu_forward(X, W, biases),
                           R.dense_relu_forward(X, W, b))


@pytest.mark.parametrize("dtype", DTYPES)
def test_broadcast_inputs(rng, dtype):
    # zero strides: every sample the same row
    X, W, b, D = dense_data(rng, (1, 6, 4), dtype, "exact")
    Xb = np.broadcast_to(X, (9, 6))
    Db = np.broadcast_to(D, (9, 4))
    Xc, Dc = np.ascontiguousarray(Xb), np.ascontiguousarray(Db)
    assert_array_equal(fastbp.dense_forward(Xb, W, b), R.dense_forward(Xc, W, b))
    out = fastbp.dense_relu_forward(Xb, W, np.broadcast_to(b, (1, 4)))
    assert_array_equal(out, R.dense_relu_forward(Xc, W, b))
    assert_array_equal(fastbp.relu_forward(Xb), R.relu_forward(Xc))
    assert_array_equal(fastbp.relu_backward(Xb, Xb), R.relu_backward(Xc, Xc))
    assert_grads_equal(fastbp.dense_backward(Db, Xb, W), R.dense_backward(Dc, Xc, W), dtype)
    assert_grads_equal(fastbp.dense_relu_backward(Db, Xb, W, out),
                       R.dense_relu_backward(Dc, Xc, W, b), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["F", "step", "transpose", "negative"])
def test_relu_non_contiguous_nd(rng, layout, dtype):
    x = exact(rng, (3, 4, 5), dtype)
    d = exact(rng, (3, 4, 5), dtype)
    xv, dv = _variant(x, layout), _variant(d, layout)
    assert not xv.flags.c_contiguous
    assert_array_equal(fastbp.relu_forward(xv), R.relu_forward(x))
    for args in ((dv, x), (d, xv), (dv, xv)):
        assert_array_equal(fastbp.relu_backward(*args), R.relu_backward(d, x))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 7, 3), (64, 40, 33)], ids=["small", "blas"])
def test_read_only_inputs(rng, shape, dtype):
    ops = _exact_operands(rng, shape, dtype)
    for a in ops.values():
        a.flags.writeable = False
    for name, (func, _, argnames) in FUNCTIONS.items():
        _assert_same_result(func(*(ops[a] for a in argnames)), _reference_result(name, ops),
                            dtype, name)
    # read-only non-contiguous too
    Xt = _variant(ops["X"], "transpose")
    Xt.flags.writeable = False
    assert_array_equal(fastbp.dense_forward(Xt, ops["W"], ops["b"]),
                       R.dense_forward(ops["X"], ops["W"], ops["b"]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 7, 3), (64, 40, 33)], ids=["small", "blas"])
@pytest.mark.parametrize("with_out", [False, True], ids=["new", "out"])
def test_inputs_not_modified(rng, shape, dtype, with_out):
    X, W, b, D = dense_data(rng, shape, dtype)
    b[0, ::2] = -5.0  # dead neurons, so the ReLU mask has zeros to write somewhere
    Z = R.dense_forward(X, W, b)
    out = R.relu_forward(Z)
    args = dict(X=X, W=W, b=b, D=D, Z=Z, out=out)
    before = {k: v.copy() for k, v in args.items()}
    m, k, n = shape

    def o(*s):
        return dict(out=np.empty(s, dtype)) if with_out else {}

    def g():
        if not with_out:
            return {}
        return dict(dinputs=np.empty((m, k), dtype), dweights=np.empty((k, n), dtype),
                    dbiases=np.empty((n,), dtype))

    fastbp.dense_forward(X, W, b, **o(m, n))
    fastbp.dense_relu_forward(X, W, b, **o(m, n))
    fastbp.relu_forward(Z, **o(m, n))
    fastbp.relu_backward(D, Z, **o(m, n))
    fastbp.dense_backward(D, X, W, **g())
    fastbp.dense_relu_backward(D, X, W, out, **g())
    for key, value in args.items():
        assert_array_equal(value, before[key], err_msg=key)


# --- zero samples and other empty dimensions --------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(0, 3, 4), (0, 300, 300), (0, 1, 1)], ids=str)
def test_zero_samples(rng, shape, dtype):
    _, k, n = shape
    X = np.empty((0, k), dtype)
    W = normal(rng, (k, n), dtype)
    b = normal(rng, (1, n), dtype)
    D = np.empty((0, n), dtype)
    for f in (fastbp.dense_forward, fastbp.dense_relu_forward):
        out = f(X, W, b)
        assert out.shape == (0, n) and out.dtype == dtype
        # into a buffer too
        buf = np.empty((0, n), dtype)
        assert f(X, W, b, out=buf) is buf
    for grads in (fastbp.dense_backward(D, X, W),
                  fastbp.dense_relu_backward(D, X, W, np.empty((0, n), dtype))):
        dinputs, dweights, dbiases = grads
        assert dinputs.shape == (0, k) and dinputs.dtype == dtype
        assert_array_equal(dweights, np.zeros((k, n)))
        assert dweights.dtype == dtype
        assert_array_equal(dbiases, np.zeros((1, n)))
        assert dbiases.dtype == dtype
    # buffers full of garbage are overwritten with zeros
    for f, extra in ((fastbp.dense_backward, ()),
                     (fastbp.dense_relu_backward, (np.empty((0, n), dtype),))):
        dw = np.full((k, n), np.nan, dtype)
        db = np.full((n,), np.nan, dtype)
        di = np.empty((0, k), dtype)
        res = f(D, X, W, *extra, dinputs=di, dweights=dw, dbiases=db)
        assert res[0] is di and res[1] is dw and res[2] is db
        assert_array_equal(dw, np.zeros((k, n)))
        assert_array_equal(db, np.zeros(n))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 0, 4), (300, 0, 300), (3, 4, 0), (300, 300, 0)],
                         ids=str)
def test_empty_inner_or_outer_dimension_writes_every_element(rng, shape, dtype):
    # n_inputs = 0: output = biases; n_neurons = 0: dinputs = 0. Buffers start as NaN.
    m, k, n = shape
    X, W, b, D = dense_data(rng, shape, dtype)
    out = np.full((m, n), np.nan, dtype)
    fastbp.dense_forward(X, W, b, out=out)
    assert_array_equal(out, R.dense_forward(X, W, b))
    fastbp.dense_relu_forward(X, W, b, out=out)
    assert_array_equal(out, R.dense_relu_forward(X, W, b))
    di = np.full((m, k), np.nan, dtype)
    dw = np.full((k, n), np.nan, dtype)
    db = np.full((1, n), np.nan, dtype)
    fastbp.dense_backward(D, X, W, dinputs=di, dweights=dw, dbiases=db)
    assert_grads_equal((di, dw, db), R.dense_backward(D, X, W), dtype)
    di[...] = np.nan
    db[...] = np.nan
    fastbp.dense_relu_backward(D, X, W, R.relu_forward(R.dense_forward(X, W, b)),
                               dinputs=di, dweights=dw, dbiases=db)
    assert_grads_equal((di, dw, db), R.dense_relu_backward(D, X, W, b), dtype)


# --- NaN, inf, -0.0 -------------------------------------------------------------------------

SPECIAL = [np.nan, np.inf, -np.inf, -0.0, 0.0, 1.5, -1.5, 1e-30, -1e-30]


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_special_values(dtype):
    x = np.array(SPECIAL, dtype=dtype)
    assert_array_equal(fastbp.relu_forward(x), R.relu_forward(x))
    assert np.isnan(fastbp.relu_forward(x)[0])
    # every (dvalue, input) pair
    d, z = (a.astype(dtype) for a in np.meshgrid(SPECIAL, SPECIAL))
    got = fastbp.relu_backward(d, z)
    ref = R.relu_backward(d, z)
    assert_array_equal(got, ref)
    assert_allclose(got, ref, rtol=0, atol=0, equal_nan=True)
    # NaN input lets the gradient through, like the book's dinputs[inputs <= 0] = 0
    assert_array_equal(fastbp.relu_backward(np.array([3.0], dtype), np.array([np.nan], dtype)),
                       [3.0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_relu_special_values(dtype):
    # one input, one neuron, weight 1: z = x + 0 takes each special value
    x = np.array(SPECIAL, dtype=dtype).reshape(-1, 1)
    w = np.ones((1, 1), dtype)
    b = np.zeros((1, 1), dtype)
    out = fastbp.dense_relu_forward(x, w, b)
    assert_array_equal(out, R.dense_relu_forward(x, w, b))
    assert_array_equal(fastbp.dense_forward(x, w, b), R.dense_forward(x, w, b))
    for dv in (np.ones_like(x), np.array(SPECIAL[::-1], dtype).reshape(-1, 1)):
        got = fastbp.dense_relu_backward(dv, x, w, out)
        with np.errstate(invalid="ignore"):
            ref = R.dense_relu_backward(dv, x, w, b)
        for g, r in zip(got, ref):
            assert_array_equal(g, r)
        # and one sample at a time: no sum over samples in dweights
        for i in range(len(x)):
            got = fastbp.dense_relu_backward(dv[i:i + 1], x[i:i + 1], w, out[i:i + 1])
            with np.errstate(invalid="ignore"):
                ref = R.dense_relu_backward(dv[i:i + 1], x[i:i + 1], w, b)
            for g, r in zip(got, ref):
                assert_array_equal(g, r)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 7, 3), (64, 40, 33)], ids=["small", "blas"])
def test_nan_inf_propagate_through_products(rng, shape, dtype):
    m, k, n = shape
    X, W, b, D = (np.abs(a) + 0.5 for a in dense_data(rng, shape, dtype))  # all > 0
    X[1, 2] = np.nan  # row 1 of the output is NaN
    W[3, 1] = np.inf  # column 1 of the output is +inf (all inputs > 0), except row 1
    for f, rf in ((fastbp.dense_forward, R.dense_forward),
                  (fastbp.dense_relu_forward, R.dense_relu_forward)):
        got, ref = f(X, W, b), rf(X, W, b)
        assert_array_equal(np.isnan(got), np.isnan(ref))
        assert_array_equal(np.isposinf(got), np.isposinf(ref))
        assert np.isnan(got[1]).all() and np.isposinf(np.delete(got[:, 1], 1)).all()
        finite = np.isfinite(ref)
        assert_close_to(got[finite], ref[finite], forward_scale(X, W, b)[finite], dtype)
    D[2, 0] = np.nan
    W = np.ones_like(W)
    got = fastbp.dense_backward(D, X, W)
    with np.errstate(invalid="ignore"):
        ref = R.dense_backward(D, X, W)
    for g, r in zip(got, ref):
        assert_array_equal(np.isnan(g), np.isnan(r))
        assert_array_equal(np.isinf(g), np.isinf(r))
    assert np.isnan(got[0][2]).all()  # dinputs row 2
    assert np.isnan(got[1][:, 0]).all()  # dweights column 0
    assert np.isnan(got[2][0, 0]) and not np.isnan(got[2][0, 1:]).any()


# --- out= buffers -----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 7, 3), (64, 40, 33), (1, 1, 1)], ids=str)
def test_out_buffers(rng, shape, dtype):
    m, k, n = shape
    X, W, b, D = dense_data(rng, shape, dtype, "exact")
    for f, rf in ((fastbp.dense_forward, R.dense_forward),
                  (fastbp.dense_relu_forward, R.dense_relu_forward)):
        buf = np.full((m, n), np.nan, dtype)
        res = f(X, W, b, out=buf)
        assert res is buf
        assert_array_equal(buf, rf(X, W, b))
    Z = R.dense_forward(X, W, b)
    buf = np.full((m, n), np.nan, dtype)
    assert fastbp.relu_forward(Z, out=buf) is buf
    assert_array_equal(buf, R.relu_forward(Z))
    buf = np.full((m, n), np.nan, dtype)
    assert fastbp.relu_backward(D, Z, out=buf) is buf
    assert_array_equal(buf, R.relu_backward(D, Z))

    out = R.relu_forward(Z)
    for dbiases_shape in ((1, n), (n,)):
        for f, extra, ref in ((fastbp.dense_backward, (), R.dense_backward(D, X, W)),
                              (fastbp.dense_relu_backward, (out,),
                               R.dense_relu_backward(D, X, W, b))):
            di = np.full((m, k), np.nan, dtype)
            dw = np.full((k, n), np.nan, dtype)
            db = np.full(dbiases_shape, np.nan, dtype)
            res = f(D, X, W, *extra, dinputs=di, dweights=dw, dbiases=db)
            assert res[0] is di and res[1] is dw and res[2] is db
            assert db.shape == dbiases_shape
            assert_array_equal(di, ref[0])
            assert_array_equal(dw, ref[1])
            assert_array_equal(db, ref[2].reshape(dbiases_shape))
            # only some buffers given: the others are allocated
            res = f(D, X, W, *extra, dweights=dw)
            assert res[1] is dw and res[0] is not di and res[2] is not db
            assert_grads_equal(res, ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_out_buffers_with_relaxed_strides(dtype):
    # numpy calls a (1, n) view with a big row stride C-contiguous: it must be written.
    X = np.array([[1.0, -2.0, 3.0]], dtype)
    W = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype)
    b = np.array([0.5, -0.5], dtype)
    out = np.full((4, 2), np.nan, dtype)[::4]
    assert out.flags.c_contiguous and out.strides[0] != 2 * out.itemsize
    assert fastbp.dense_forward(X, W, b, out=out) is out
    assert_array_equal(out, R.dense_forward(X, W, b))
    assert fastbp.relu_forward(X[:, :2], out=out) is out
    assert_array_equal(out, [[1.0, 0.0]])
    db = np.full((3, 2), np.nan, dtype)[::3]
    res = fastbp.dense_backward(np.ones((1, 2), dtype), X, W, dbiases=db)
    assert res[2] is db
    assert_array_equal(db, [[1.0, 1.0]])


def _relaxed(shape, dtype):
    """A C-contiguous NaN buffer of ``shape`` whose size-1 axes have unusual strides."""
    big = np.full(tuple(3 if s == 1 else s for s in shape), np.nan, dtype)
    view = big[tuple(slice(None, None, 3) if s == 1 else slice(None) for s in shape)]
    assert view.shape == shape and view.flags.c_contiguous
    return view


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind, shape", [
    pytest.param(kind, shape, id=f"{kind}-{shape}")
    for shape in [(2, 3, 4), (0, 2), (), (1, 1, 1, 1), (1, 3, 4), (1,)]
    for kind in ["plain", "relaxed-strides"]
    if kind == "plain" or 1 in shape
])
def test_relu_out_buffers_nd(rng, shape, dtype, kind):
    x = exact(rng, shape, dtype)
    d = exact(rng, shape, dtype)

    def new_buf():
        return np.full(shape, np.nan, dtype) if kind == "plain" else _relaxed(shape, dtype)

    buf = new_buf()
    assert fastbp.relu_forward(x, out=buf) is buf
    assert_array_equal(buf, R.relu_forward(x))
    buf = new_buf()
    assert fastbp.relu_backward(d, x, out=buf) is buf
    assert_array_equal(buf, R.relu_backward(d, x))


@pytest.mark.parametrize("dtype", DTYPES)
def test_new_outputs_are_fresh_arrays(rng, dtype):
    X, W, b, D = dense_data(rng, (4, 3, 2), dtype)
    Z = fastbp.dense_forward(X, W, b)
    results = [Z, fastbp.dense_relu_forward(X, W, b), fastbp.relu_forward(Z),
               fastbp.relu_backward(D, Z), *fastbp.dense_backward(D, X, W),
               *fastbp.dense_relu_backward(D, X, W, np.maximum(Z, 0))]
    for i, r in enumerate(results):
        assert r.flags.c_contiguous and r.flags.writeable and r.flags.owndata
        for a in (X, W, b, D):
            assert not np.shares_memory(r, a)
        for other in results[i + 1:]:
            assert not np.shares_memory(r, other)
    # a second call does not return the first call's array
    assert fastbp.dense_forward(X, W, b) is not fastbp.dense_forward(X, W, b)


# --- layers vs reference layers ---------------------------------------------------------------

REGULARIZERS = {
    "none": {},
    "l1l2-5e-4": dict(weight_regularizer_l1=5e-4, weight_regularizer_l2=5e-4,
                      bias_regularizer_l1=5e-4, bias_regularizer_l2=5e-4),
    "l1l2-strong": dict(weight_regularizer_l1=0.05, weight_regularizer_l2=0.1,
                        bias_regularizer_l1=0.02, bias_regularizer_l2=0.3),
    "weight-l1": dict(weight_regularizer_l1=0.01),
    "bias-l2": dict(bias_regularizer_l2=0.2),
}
# (n_inputs, hidden, n_outputs, batch sizes per step)
NETWORKS = {
    "small": (4, 5, 3, [8, 8, 5, 8, 8]),
    "blas": (64, 128, 10, [64, 64, 17, 64]),
}
LAYER_TOL = {F64: 1e-10, F32: 2e-5}


def assert_layer_close(got, ref, dtype, what):
    ref = np.asarray(ref)
    assert isinstance(got, np.ndarray), what
    assert got.dtype == dtype, f"{what}: dtype {got.dtype}"
    tol = LAYER_TOL[dtype]
    assert_allclose(got, ref, rtol=tol, atol=tol * max(np.abs(ref).max(initial=0), 1e-3),
                    err_msg=what)


def _network(kind, names, n_in, hidden, n_out, regs, dtype):
    """The same network twice: fastbp's layers and the reference's, same initial weights."""
    if names == "book":
        FDense, FReLU = fastbp.Layer_Dense, fastbp.Activation_ReLU
        RDense, RReLU = R.Layer_Dense, R.Activation_ReLU
    else:
        FDense, FReLU, RDense, RReLU = fastbp.Dense, fastbp.ReLU, R.Dense, R.ReLU
    if kind == "dense+relu":
        fb_layers = [FDense(n_in, hidden, **regs, dtype=dtype, rng=11), FReLU(),
                     FDense(hidden, n_out, **regs, dtype=dtype, rng=12)]
        ref_layers = [RDense(n_in, hidden, **regs, dtype=dtype, rng=11), RReLU(),
                      RDense(hidden, n_out, **regs, dtype=dtype, rng=12)]
    else:
        fb_layers = [fastbp.DenseReLU(n_in, hidden, **regs, dtype=dtype, rng=11),
                     FDense(hidden, n_out, **regs, dtype=dtype, rng=12)]
        ref_layers = [R.DenseReLU(n_in, hidden, **regs, dtype=dtype, rng=11),
                      RDense(hidden, n_out, **regs, dtype=dtype, rng=12)]
    return fb_layers, ref_layers


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("regs", list(REGULARIZERS))
@pytest.mark.parametrize("net", list(NETWORKS))
@pytest.mark.parametrize("kind, names", [("dense+relu", "short"), ("dense+relu", "book"),
                                         ("denserelu", "short")])
def test_layers_training_steps(rng, kind, names, net, regs, dtype):
    n_in, hidden, n_out, batches = NETWORKS[net]
    fb_layers, ref_layers = _network(kind, names, n_in, hidden, n_out, REGULARIZERS[regs],
                                     dtype)
    params = [(f, r) for f, r in zip(fb_layers, ref_layers) if hasattr(r, "weights")]
    for f, r in params:
        assert f.weights.dtype == dtype and f.biases.dtype == dtype
        assert_array_equal(f.weights, r.weights)  # same seed, same initial weights
        assert_array_equal(f.biases, r.biases)
    lr = 0.2
    for step, batch in enumerate(batches):
        X = normal(rng, (batch, n_in), dtype)
        T = normal(rng, (batch, n_out), dtype)
        fx, rx = X, X
        for i, (f, r) in enumerate(zip(fb_layers, ref_layers)):
            fo = f.forward(fx)
            ro = r.forward(rx)
            assert fo is f.output
            assert_layer_close(fo, ro, dtype, f"step {step} layer {i} output")
            fx, rx = f.output, r.output
        # mean squared error gradient, each from its own network's output
        fd = (2 * (fx - T) / batch).astype(dtype)
        rd = (2 * (rx - T) / batch).astype(dtype)
        for i in reversed(range(len(fb_layers))):
            f, r = fb_layers[i], ref_layers[i]
            f.backward(fd)
            r.backward(rd)
            assert_layer_close(f.dinputs, r.dinputs, dtype, f"step {step} layer {i} dinputs")
            if hasattr(r, "weights"):
                assert_layer_close(f.dweights, r.dweights, dtype,
                                   f"step {step} layer {i} dweights")
                assert_layer_close(f.dbiases, r.dbiases, dtype,
                                   f"step {step} layer {i} dbiases")
                assert f.dbiases.shape == (1, r.weights.shape[1])
            fd, rd = f.dinputs, r.dinputs
        for f, r in params:  # the book's plain SGD step
            f.weights += -lr * f.dweights
            f.biases += -lr * f.dbiases
            r.weights += -lr * r.dweights
            r.biases += -lr * r.dbiases
            assert_layer_close(f.weights, r.weights, dtype, f"step {step} weights")
            assert_layer_close(f.biases, r.biases, dtype, f"step {step} biases")
    # the biases moved off zero, so the bias L1 term saw signs other than sign(0)
    assert all((f.biases != 0).any() for f, _ in params)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cls", [fastbp.Dense, fastbp.DenseReLU])
def test_regularization_terms_exact(rng, cls, dtype):
    # dvalues = 0: the gradients are the regularization terms alone, the book's formulas:
    # L1 adds l1·sign(p) with sign(0) = +1, L2 adds 2·l2·p.
    l1w, l2w, l1b, l2b = 0.5, 0.25, 0.125, 2.0
    layer = cls(3, 4, l1w, l2w, l1b, l2b, dtype=dtype)
    W = exact(rng, (3, 4), dtype, 0.25)
    W[0, :2] = 0.0
    bias = np.array([[0.0, -1.5, 2.0, -0.25]], dtype)
    layer.set_parameters(W, bias)
    layer.forward(exact(rng, (5, 3), dtype))
    layer.backward(np.zeros((5, 4), dtype))

    def sign(p):
        return np.where(p < 0, -1.0, 1.0)

    assert_array_equal(layer.dweights, l1w * sign(W) + 2 * l2w * W)
    assert_array_equal(layer.dbiases, l1b * sign(bias) + 2 * l2b * bias)
    assert_array_equal(layer.dinputs, np.zeros((5, 3)))
    assert layer.dweights.dtype == dtype and layer.dbiases.dtype == dtype


@pytest.mark.parametrize("regs", [dict(weight_regularizer_l1=0.5), dict(weight_regularizer_l2=0.5),
                                  dict(bias_regularizer_l1=0.5), dict(bias_regularizer_l2=0.5)],
                         ids=["wl1", "wl2", "bl1", "bl2"])
def test_each_regularizer_matches_reference(rng, regs):
    f = fastbp.Dense(3, 4, **regs, rng=5)
    r = R.Dense(3, 4, **regs, rng=5)
    b = np.array([[0.0, -1.0, 0.5, 2.0]])
    f.biases = b.copy()
    r.biases = b.copy()
    X = normal(rng, (6, 3), F64)
    D = normal(rng, (6, 4), F64)
    f.forward(X)
    r.forward(X)
    f.backward(D)
    r.backward(D)
    assert_allclose(f.dweights, r.dweights, rtol=1e-12, atol=1e-15)
    assert_allclose(f.dbiases, r.dbiases, rtol=1e-12, atol=1e-15)
    assert_allclose(f.dinputs, r.dinputs, rtol=1e-12, atol=1e-15)
    # and the term is really there, as the book's formula gives it
    plain = fastbp.Dense(3, 4, rng=5)
    plain.biases = b.copy()
    plain.forward(X)
    plain.backward(D)

    def term(p, l1, l2):
        return l1 * np.where(p < 0, -1.0, 1.0) + 2 * l2 * p

    wterm = term(f.weights, regs.get("weight_regularizer_l1", 0),
                 regs.get("weight_regularizer_l2", 0))
    bterm = term(b, regs.get("bias_regularizer_l1", 0), regs.get("bias_regularizer_l2", 0))
    assert np.abs(wterm).max() + np.abs(bterm).max() > 0
    assert_allclose(f.dweights - plain.dweights, wterm, rtol=1e-9, atol=1e-14)
    assert_allclose(f.dbiases - plain.dbiases, bterm, rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("dtype", DTYPES)
def test_layers_with_weights_assigned_non_contiguous(rng, dtype):
    # the book assigns weights directly; a transposed array is Fortran-ordered
    f = fastbp.Dense(5, 3, weight_regularizer_l1=0.1, weight_regularizer_l2=0.1, dtype=dtype)
    r = R.Dense(5, 3, weight_regularizer_l1=0.1, weight_regularizer_l2=0.1, dtype=dtype)
    W = normal(rng, (3, 5), dtype).T
    f.weights = W
    r.weights = W.copy()
    X = normal(rng, (4, 5), dtype)
    D = normal(rng, (4, 3), dtype)
    assert_layer_close(f.forward(X), r.forward(X), dtype, "output")
    f.backward(D)
    r.backward(D)
    for name in ("dinputs", "dweights", "dbiases"):
        assert_layer_close(getattr(f, name), getattr(r, name), dtype, name)


# --- layer dtype policy, lists, buffers -------------------------------------------------------

@pytest.mark.parametrize("cls", [fastbp.Dense, fastbp.DenseReLU])
def test_layer_dtype_float32_converts_everything(rng, cls):
    layer = cls(3, 2, dtype=np.float32, rng=0)
    ref = (R.DenseReLU if cls is fastbp.DenseReLU else R.Dense)(3, 2, dtype=np.float32, rng=0)
    assert layer.weights.dtype == F32 and layer.biases.dtype == F32
    for X in (normal(rng, (4, 3), F64), [[1, 2, -3], [0, 4, 5]], np.arange(6).reshape(2, 3),
              np.array([[True, False, True]])):
        out = layer.forward(X)
        assert out.dtype == F32
        X32 = np.asarray(X).astype(np.float32)
        assert_layer_close(out, ref.forward(X32), F32, "output")
        D = normal(rng, out.shape, F64)  # float64 dvalues are converted too
        layer.backward(D)
        ref.backward(D.astype(np.float32))
        for name in ("dinputs", "dweights", "dbiases"):
            assert getattr(layer, name).dtype == F32, name
            assert_layer_close(getattr(layer, name), getattr(ref, name), F32, name)


@pytest.mark.parametrize("cls", [fastbp.Dense, fastbp.DenseReLU, fastbp.Layer_Dense])
def test_layer_default_float64_converts_ints_and_float32(cls):
    layer = cls(2, 2)
    assert layer.weights.dtype == F64 and layer.biases.dtype == F64
    layer.set_parameters([[1, -1], [2, 3]], [[1, -20]])
    assert layer.weights.dtype == F64 and layer.biases.dtype == F64
    want = np.maximum([[1 + 2 * 3 + 1, -1 + 9 - 20]], 0) if cls is fastbp.DenseReLU else \
        np.array([[1 + 2 * 3 + 1, -1 + 9 - 20]])
    for X in ([[1, 3]], np.array([[1, 3]], np.int32), np.array([[1, 3]], np.float32),
              np.array([[1, 3]], np.uint8)):
        out = layer.forward(X)
        assert out.dtype == F64
        assert_array_equal(out, want)
    layer.backward([[1, 1]])
    assert layer.dinputs.dtype == F64
    mask = [[1, 0]] if cls is fastbp.DenseReLU else [[1, 1]]
    assert_array_equal(layer.dbiases, mask)
    assert_array_equal(layer.dweights, np.array([[1], [3]]) * mask)


def test_relu_layer_dtype_policy():
    relu = fastbp.ReLU()
    x32 = np.array([[-1.0, 2.0]], np.float32)
    assert relu.forward(x32).dtype == F32
    relu.backward(np.array([[5.0, 7.0]]))  # float64 dvalues follow the float32 input
    assert relu.dinputs.dtype == F32
    assert_array_equal(relu.dinputs, [[0.0, 7.0]])
    for x in (np.array([[-1.0, 2.0]]), [[-1, 2]], np.array([[-1, 2]], np.int8),
              np.array([[False, True]]), np.array([[-1.0, 2.0]], np.float16)):
        out = relu.forward(x)
        assert out.dtype == F64, x
        assert_array_equal(out, np.maximum(np.asarray(x, dtype=np.float64), 0))
        relu.backward([[3, 4]])
        assert relu.dinputs.dtype == F64
        assert_array_equal(relu.dinputs, [[0.0, 4.0]])
    assert fastbp.Activation_ReLU is fastbp.ReLU and fastbp.Layer_Dense is fastbp.Dense


def test_layers_accept_lists():
    X = [[1.0, -2.0, 3.0], [0.5, 0.25, -1.0]]
    D = [[1.0, -1.0], [2.0, 0.5]]
    f = fastbp.Dense(3, 2, rng=3)
    r = R.Dense(3, 2, rng=3)
    assert_allclose(f.forward(X), r.forward(np.array(X)), rtol=1e-14)
    f.backward(D)
    r.backward(np.array(D))
    for name in ("dinputs", "dweights", "dbiases"):
        assert_allclose(getattr(f, name), getattr(r, name), rtol=1e-14, atol=1e-16)
    relu = fastbp.ReLU()
    assert_array_equal(relu.forward(X), np.maximum(np.array(X), 0))
    relu.backward(X)
    assert_array_equal(relu.dinputs, [[1.0, 0.0, 3.0], [0.5, 0.25, 0.0]])
    dr = fastbp.DenseReLU(3, 2, rng=3)
    rr = R.DenseReLU(3, 2, rng=3)
    assert_allclose(dr.forward(X), rr.forward(np.array(X)), rtol=1e-14)
    dr.backward(D)
    rr.backward(np.array(D))
    for name in ("dinputs", "dweights", "dbiases"):
        assert_allclose(getattr(dr, name), getattr(rr, name), rtol=1e-14, atol=1e-16)


def _set_exact_params(rng, layer, ref, dtype):
    """Give a fastbp layer and a reference layer the same exactly-representable parameters."""
    W = exact(rng, (layer.n_inputs, layer.n_neurons), dtype, 0.25)
    b = exact(rng, (1, layer.n_neurons), dtype, 0.125, 8)
    layer.set_parameters(W, b)
    target = getattr(ref, "dense", ref)  # reference.DenseReLU keeps its parameters there
    target.weights, target.biases = W.copy(), b.copy()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cls", [fastbp.Dense, fastbp.DenseReLU])
def test_dense_buffer_reuse(rng, cls, dtype):
    layer = cls(6, 4, dtype=dtype)
    ref = (R.DenseReLU if cls is fastbp.DenseReLU else R.Dense)(6, 4, dtype=dtype)
    _set_exact_params(rng, layer, ref, dtype)
    X1, X2, X3 = (exact(rng, (n, 6), dtype) for n in (5, 5, 3))
    D1, D2, D3 = (exact(rng, (n, 4), dtype) for n in (5, 5, 3))

    out1 = layer.forward(X1)
    assert_array_equal(out1, ref.forward(X1))
    layer.backward(D1)
    ref.backward(D1)
    grads1 = (layer.dinputs, layer.dweights, layer.dbiases)
    assert_grads_equal(grads1, (ref.dinputs, ref.dweights, ref.dbiases), dtype)

    out2 = layer.forward(X2)  # same shape: written into the same array
    assert out2 is out1
    assert_array_equal(out2, ref.forward(X2))
    layer.backward(D2)
    ref.backward(D2)
    grads2 = (layer.dinputs, layer.dweights, layer.dbiases)
    assert all(a is b for a, b in zip(grads1, grads2))
    assert_grads_equal(grads2, (ref.dinputs, ref.dweights, ref.dbiases), dtype)

    out3 = layer.forward(X3)  # another batch size: a new array
    assert out3 is not out1 and out3.shape == (3, 4)
    assert_array_equal(out3, ref.forward(X3))
    layer.backward(D3)
    ref.backward(D3)
    assert layer.dinputs is not grads1[0] and layer.dinputs.shape == (3, 6)
    assert_grads_equal((layer.dinputs, layer.dweights, layer.dbiases),
                       (ref.dinputs, ref.dweights, ref.dbiases), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_buffer_reuse(rng, dtype):
    relu = fastbp.ReLU()
    x1, x2, x3 = exact(rng, (4, 3), dtype), exact(rng, (4, 3), dtype), exact(rng, (2, 3), dtype)
    d1, d2, d3 = exact(rng, (4, 3), dtype), exact(rng, (4, 3), dtype), exact(rng, (2, 3), dtype)
    out1 = relu.forward(x1)
    relu.backward(d1)
    di1 = relu.dinputs
    assert_array_equal(di1, R.relu_backward(d1, x1))
    out2 = relu.forward(x2)
    assert out2 is out1
    assert_array_equal(out2, R.relu_forward(x2))
    relu.backward(d2)
    assert relu.dinputs is di1
    assert_array_equal(relu.dinputs, R.relu_backward(d2, x2))
    out3 = relu.forward(x3)
    assert out3 is not out1
    assert_array_equal(out3, R.relu_forward(x3))
    relu.backward(d3)
    assert relu.dinputs is not di1
    assert_array_equal(relu.dinputs, R.relu_backward(d3, x3))
    # a float32 <-> float64 switch with the same shape needs a new array too
    other = F32 if dtype == F64 else F64
    out4 = relu.forward(x3.astype(other))
    assert out4 is not out3 and out4.dtype == other


@pytest.mark.parametrize("dtype", DTYPES)
def test_layers_fed_their_own_buffers(rng, dtype):
    # A layer given its own output (or gradient) must not write over what it is reading.
    relu = fastbp.ReLU()
    x = exact(rng, (4, 3), dtype)
    y = relu.forward(x)
    y_copy = y.copy()
    z = relu.forward(y)
    assert_array_equal(z, R.relu_forward(y_copy))
    assert_array_equal(y, y_copy)  # the input array was not overwritten
    relu.backward(y)
    g = relu.dinputs
    relu.backward(g)
    assert_array_equal(relu.dinputs, R.relu_backward(R.relu_backward(y_copy, y_copy), y_copy))
    # its own gradient as the next input: backward must not write over the inputs it masks by
    g = relu.dinputs
    g_copy = g.copy()
    relu.forward(g)
    d1, d2 = exact(rng, (4, 3), dtype), exact(rng, (4, 3), dtype)
    relu.backward(d1)
    assert_array_equal(relu.dinputs, R.relu_backward(d1, g_copy))
    assert_array_equal(relu.inputs, g_copy)
    relu.backward(d2)
    assert_array_equal(relu.dinputs, R.relu_backward(d2, g_copy))

    for cls, rcls in ((fastbp.Dense, R.Dense), (fastbp.DenseReLU, R.DenseReLU)):
        layer = cls(3, 3, dtype=dtype)
        ref = rcls(3, 3, dtype=dtype)
        _set_exact_params(rng, layer, ref, dtype)
        x = exact(rng, (4, 3), dtype)
        o1 = layer.forward(x)
        r1 = ref.forward(x).copy()
        o2 = layer.forward(o1)  # its own output as input
        assert_array_equal(o1, r1)
        assert_array_equal(o2, ref.forward(r1))
        d = exact(rng, (4, 3), dtype)
        layer.backward(d)
        ref.backward(d)
        assert_grads_equal((layer.dinputs, layer.dweights, layer.dbiases),
                           (ref.dinputs, ref.dweights, ref.dbiases), dtype)
        di = layer.dinputs
        di_copy = di.copy()
        layer.backward(di)  # its own gradient as dvalues
        ref.backward(di_copy)
        assert_array_equal(di, di_copy)
        assert_grads_equal((layer.dinputs, layer.dweights, layer.dbiases),
                           (ref.dinputs, ref.dweights, ref.dbiases), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_layers_zero_samples(rng, dtype):
    regs = dict(weight_regularizer_l2=0.5, bias_regularizer_l1=0.25)
    for cls, rcls in ((fastbp.Dense, R.Dense), (fastbp.DenseReLU, R.DenseReLU)):
        layer = cls(3, 2, **regs, dtype=dtype, rng=4)
        ref = rcls(3, 2, **regs, dtype=dtype, rng=4)
        X = np.empty((0, 3), dtype)
        out = layer.forward(X)
        assert out.shape == (0, 2) and out.dtype == dtype
        layer.backward(np.empty((0, 2), dtype))
        ref.forward(X)
        ref.backward(np.empty((0, 2), dtype))
        assert layer.dinputs.shape == (0, 3)
        # no samples: only the regularization terms remain
        assert_array_equal(layer.dweights, ref.dweights)
        assert_array_equal(layer.dbiases, ref.dbiases)
        assert_array_equal(layer.dweights, 2 * 0.5 * layer.weights)
        assert_array_equal(layer.dbiases, np.full((1, 2), 0.25))
    relu = fastbp.ReLU()
    assert relu.forward(np.empty((0, 4), dtype)).shape == (0, 4)
    relu.backward(np.empty((0, 4), dtype))
    assert relu.dinputs.shape == (0, 4)


@pytest.mark.parametrize("dtype", DTYPES)
def test_layers_do_not_modify_their_arguments(rng, dtype):
    X = normal(rng, (6, 4), dtype)
    D = normal(rng, (6, 3), dtype)
    for layer in (fastbp.Dense(4, 3, 0.1, 0.1, 0.1, 0.1, dtype=dtype),
                  fastbp.DenseReLU(4, 3, 0.1, 0.1, dtype=dtype)):
        Xc, Dc = X.copy(), D.copy()
        layer.forward(X)
        layer.backward(D)
        assert_array_equal(X, Xc)
        assert_array_equal(D, Dc)
    relu = fastbp.ReLU()
    Xc = X.copy()
    relu.forward(X)
    relu.backward(X)  # the book's backward copies dvalues before masking
    assert_array_equal(X, Xc)


def test_layers_read_only_arguments(rng):
    X = normal(rng, (5, 4), F64)
    D = normal(rng, (5, 3), F64)
    X.flags.writeable = False
    D.flags.writeable = False
    for cls, rcls in ((fastbp.Dense, R.Dense), (fastbp.DenseReLU, R.DenseReLU)):
        layer, ref = cls(4, 3, 0.1, 0.1, rng=8), rcls(4, 3, 0.1, 0.1, rng=8)
        assert_allclose(layer.forward(X), ref.forward(X), rtol=1e-12, atol=1e-15)
        layer.backward(D)
        ref.backward(D)
        for name in ("dinputs", "dweights", "dbiases"):
            assert_allclose(getattr(layer, name), getattr(ref, name), rtol=1e-12, atol=1e-15)
    relu = fastbp.ReLU()
    assert_array_equal(relu.forward(X), R.relu_forward(X))
    relu.backward(X)
    assert_array_equal(relu.dinputs, R.relu_backward(X, X))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cls", [fastbp.Dense, fastbp.DenseReLU])
def test_layer_parameters_assigned_as_other_types(rng, cls, dtype):
    # The book assigns weights and biases directly (nnfs makes them float32): a layer
    # computes in its own dtype whatever it was given.
    other = F32 if dtype == F64 else F64
    W = exact(rng, (4, 3), dtype, 0.25)
    b = exact(rng, (1, 3), dtype, 0.125, 8)
    X = exact(rng, (5, 4), dtype)
    D = exact(rng, (5, 3), dtype)
    ref = (R.DenseReLU if cls is fastbp.DenseReLU else R.Dense)(4, 3, 0.5, 0.25, dtype=dtype)
    ref_target = getattr(ref, "dense", ref)
    ref_target.weights, ref_target.biases = W.copy(), b.copy()
    ref.forward(X)
    ref.backward(D)
    for weights, biases in ((W.astype(other), b.astype(other)),  # the other float dtype
                            (W.tolist(), b.tolist()),  # lists
                            (np.asfortranarray(W), b[:, ::-1][:, ::-1]),  # layouts
                            ((W * 4).astype(np.int64) / 4, b)):
        layer = cls(4, 3, 0.5, 0.25, dtype=dtype)
        layer.weights, layer.biases = weights, biases
        out = layer.forward(X)
        assert out.dtype == dtype
        assert_array_equal(out, ref.output)
        layer.backward(D)
        assert_grads_equal((layer.dinputs, layer.dweights, layer.dbiases),
                           (ref.dinputs, ref.dweights, ref.dbiases), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", RELU_SHAPES, ids=str)
def test_relu_layer_any_shape(rng, shape, dtype):
    # Activation_ReLU works elementwise on any shape, as the book's does: the output and the
    # gradient have the shape of the input.
    x = exact(rng, shape, dtype)
    d = exact(rng, shape, dtype)
    relu, ref = fastbp.ReLU(), R.ReLU()
    out = relu.forward(x)
    ref_out = np.asarray(ref.forward(x))
    assert out.shape == x.shape and out.dtype == dtype
    assert_array_equal(out, ref_out)
    relu.backward(d)
    ref.backward(d)
    assert relu.dinputs.shape == x.shape and relu.dinputs.dtype == dtype
    assert_array_equal(relu.dinputs, ref.dinputs)


def test_relu_layer_python_scalar():
    # The book's Activation_ReLU gives np.maximum(0, x): a scalar stays 0-d, as it does in
    # fastbp.relu_forward; the layer must not turn it into shape (1,).
    relu = fastbp.ReLU()
    for value, want in ((-3.0, 0.0), (2.5, 2.5), (np.float32(-1.0), 0.0)):
        out = relu.forward(value)
        assert np.shape(out) == ()
        assert_array_equal(out, want)
