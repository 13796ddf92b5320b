"""The layers' fast path: arrays bound once, reused while they are the same and unchanged.

A Dense layer validates its arrays on the first call and binds them to its kernels
(fastbp._train_step.DenseStep); later calls with the same, unchanged arrays skip validation.
Each test changes something between calls — values, objects, shapes, dtypes, strides —
and checks that the layer sees it: the right answer (against the numpy reference) or the
same clear error as on a first call.

Private: fastbp._snapshot.ArraySnapshot (at the end), the record of bound arrays that decides
whether the checks may be skipped; its cases are simpler to reach directly than by layers.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastbp import Dense, DenseReLU
from fastbp import reference as R

# numpy 2.5 deprecates setting an array's .shape and .dtype in place; while a user can, the
# layers must notice.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Setting the (shape|dtype) on a NumPy array:DeprecationWarning")

DTYPES = [np.float64, np.float32]
RTOL = {np.float64: 1e-12, np.float32: 1e-5}


def reference_step(layer, X, dY):
    """The book's forward and backward for ``layer``'s current parameters."""
    dense = R.Layer_Dense(*layer.weights.shape)
    dense.weights, dense.biases = layer.weights.copy(), layer.biases.copy()
    dense.forward(X)
    if isinstance(layer, DenseReLU):
        relu = R.Activation_ReLU()
        relu.forward(dense.output)
        relu.backward(dY)
        dense.backward(relu.dinputs)
        return relu.output, dense
    dense.backward(dY)
    return dense.output, dense


def assert_step_matches(layer, X, dY, dtype):
    out = layer.forward(X).copy()
    layer.backward(dY)
    ref_out, ref = reference_step(layer, np.asarray(X, np.float64), np.asarray(dY, np.float64))
    tol = dict(rtol=RTOL[dtype], atol=RTOL[dtype])
    assert_allclose(out, ref_out, **tol)
    assert_allclose(layer.dinputs, ref.dinputs, **tol)
    assert_allclose(layer.dweights, ref.dweights, **tol)
    assert_allclose(layer.dbiases, ref.dbiases, **tol)


@pytest.fixture(params=[Dense, DenseReLU], ids=["Dense", "DenseReLU"])
def layer_cls(request):
    return request.param


@pytest.fixture(params=DTYPES, ids=["float64", "float32"])
def dtype(request):
    return request.param


def data(rng, dtype, n=30, k=3, m=17):
    return (rng.standard_normal((n, k)).astype(dtype),
            rng.standard_normal((n, m)).astype(dtype))


def test_values_changed_in_place_are_seen(rng, layer_cls, dtype):
    layer = layer_cls(3, 17, dtype=dtype, rng=1)
    X, dY = data(rng, dtype)
    assert_step_matches(layer, X, dY, dtype)
    for _ in range(3):  # same objects, new values: inputs, gradients and parameters
        X[...] = rng.standard_normal(X.shape)
        dY[...] = rng.standard_normal(dY.shape)
        layer.weights -= 0.1 * layer.dweights
        layer.biases += 0.5
        assert_step_matches(layer, X, dY, dtype)


def test_replaced_parameters_are_seen(rng, layer_cls, dtype):
    layer = layer_cls(3, 17, dtype=dtype, rng=1)
    X, dY = data(rng, dtype)
    assert_step_matches(layer, X, dY, dtype)
    layer.weights = rng.standard_normal((3, 17)).astype(dtype)
    layer.biases = rng.standard_normal((1, 17)).tolist()  # converted on the next call
    assert_step_matches(layer, X, dY, dtype)
    assert isinstance(layer.biases, np.ndarray) and layer.biases.dtype == dtype


def test_new_batch_sizes_and_objects(rng, layer_cls, dtype):
    layer = layer_cls(3, 17, dtype=dtype, rng=1)
    for n in (30, 30, 7, 0, 30):
        X, dY = data(rng, dtype, n=n)
        assert_step_matches(layer, X, dY, dtype)
        assert layer.output.shape == (n, 17)


def test_shape_changed_in_place_is_checked_again(rng, layer_cls, dtype):
    layer = layer_cls(3, 17, dtype=dtype, rng=1)
    X, dY = data(rng, dtype, n=30, k=3)
    layer.forward(X)
    X.shape = (45, 2)  # the same object and memory, another shape
    with pytest.raises(ValueError, match=r"inputs must have shape \(n_samples, 3\)"):
        layer.forward(X)
    X.shape = (30, 3)
    assert_step_matches(layer, X, dY, dtype)
    dY.shape = (17, 30)
    with pytest.raises(ValueError, match="dvalues must have the shape"):
        layer.backward(dY)


def test_weights_shape_changed_in_place_is_checked_again(rng, layer_cls, dtype):
    layer = layer_cls(4, 6, dtype=dtype, rng=1)
    X = rng.standard_normal((5, 4)).astype(dtype)
    layer.forward(X)
    layer.weights.shape = (6, 4)
    with pytest.raises(ValueError, match="biases must have shape"):
        layer.forward(X)


def test_dtype_changed_in_place_is_converted_again(rng, layer_cls):
    layer = layer_cls(3, 17, dtype=np.float64, rng=1)
    X, dY = data(rng, np.float64)
    layer.forward(X)
    X.dtype = np.int64  # the same bytes, now integers: converted like any int input
    out = layer.forward(X).copy()
    assert_array_equal(out, layer_cls(3, 17, dtype=np.float64, rng=1).forward(X.copy()))


def test_strides_changed_in_place_are_checked_again(rng, layer_cls):
    layer = layer_cls(3, 17, rng=1)
    X, dY = data(rng, np.float64)
    layer.forward(X)
    try:
        with warnings.catch_warnings():
            # numpy 2.4 deprecates setting strides (2.0 to 2.3 allow it silently)
            warnings.simplefilter("ignore", DeprecationWarning)
            X.strides = (8, 240)  # Fortran order, over the same memory
    except AttributeError:  # a numpy that no longer lets strides be set
        pytest.skip("strides cannot be set in place")
    out = layer.forward(X).copy()
    assert_allclose(out, layer_cls(3, 17, rng=1).forward(X.copy()), rtol=1e-15)


def test_reassigned_inputs_before_backward(rng, layer_cls, dtype):
    layer = layer_cls(3, 17, dtype=dtype, rng=1)
    X, dY = data(rng, dtype)
    out = layer.forward(X).copy()
    layer.backward(dY)
    X2 = rng.standard_normal(X.shape).astype(dtype)
    layer.inputs = X2  # the book's attribute: backward reads it (the mask stays forward's)
    layer.backward(dY)
    dz = np.where(out > 0, dY, 0) if layer_cls is DenseReLU else dY
    assert_allclose(layer.dweights, X2.astype(np.float64).T @ dz,
                    rtol=RTOL[dtype], atol=RTOL[dtype])
    layer.inputs = X2[:10]
    with pytest.raises(ValueError, match="inputs has 10 samples but output has 30"):
        layer.backward(dY)


def test_own_buffers_as_arguments(rng, dtype):
    # A layer fed its own output, twice: the second call must not write what it reads.
    layer = Dense(17, 17, dtype=dtype, rng=1)
    X = rng.standard_normal((30, 17)).astype(dtype)
    first = layer.forward(X)
    expected = first.copy() @ layer.weights + layer.biases
    second = layer.forward(first)
    assert_allclose(second, expected, rtol=RTOL[dtype], atol=RTOL[dtype])
    third = layer.forward(first)
    assert_allclose(third, expected, rtol=RTOL[dtype], atol=RTOL[dtype])
    # and its own gradient buffer as dvalues
    layer.backward(np.ones((30, 17), dtype))
    d = layer.dinputs
    expected = d.copy() @ layer.weights.T
    layer.backward(d)
    assert_allclose(layer.dinputs, expected, rtol=RTOL[dtype], atol=RTOL[dtype])
    layer.backward(d)
    assert_allclose(layer.dinputs, expected, rtol=RTOL[dtype], atol=RTOL[dtype])


def test_regularizers_changed_between_steps(rng, layer_cls):
    layer = layer_cls(3, 17, rng=1)
    X, dY = data(rng, np.float64)
    layer.forward(X)
    layer.backward(dY)
    plain = layer.dweights.copy()
    layer.weight_regularizer_l2 = 0.5
    layer.backward(dY)
    assert_allclose(layer.dweights, plain + 2 * 0.5 * layer.weights, rtol=1e-13)


# --- ArraySnapshot itself ----------------------------------------------------------------------

def test_snapshot_same_and_changed():
    from fastbp._snapshot import ArraySnapshot
    a, b, labels = np.zeros((4, 6)), np.ones((1, 6)), np.arange(4)
    snap = ArraySnapshot(a, b, labels)
    assert snap.same(a, b, labels)
    assert not snap.same(a, b)  # fewer arrays
    assert not snap.same(a.copy(), b, labels)  # another object, equal values
    assert not snap.same(b, a, labels)  # order matters
    a.shape = (6, 4)
    assert not snap.same(a, b, labels)
    a.shape = (4, 6)
    assert snap.same(a, b, labels)
    b.flags.writeable = False
    assert not snap.same(a, b, labels)
    b.flags.writeable = True
    labels.dtype = np.float64 if labels.dtype.itemsize == 8 else np.float32
    assert not snap.same(a, b, labels)


def test_snapshot_refuses_what_it_cannot_describe():
    from fastbp._snapshot import ArraySnapshot
    with pytest.raises(ValueError, match="1-D and 2-D"):
        ArraySnapshot(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="at most 8"):
        ArraySnapshot(*[np.zeros((1, 1))] * 9)
    with pytest.raises(TypeError):
        ArraySnapshot([[1.0]])


# --- Found in review: a binding made by backward, copies, the loss's labels ---------------------

def test_forward_never_writes_into_an_output_the_caller_set(rng):
    X = rng.standard_normal((4, 4))
    layer = Dense(4, 4, rng=1)
    layer.forward(X)
    mine = np.full((4, 4), 7.0)
    layer.output = mine  # backward reads it (the book's attribute)...
    layer.backward(np.ones((4, 4)))
    out = layer.forward(X)  # ...but forward writes into its own buffer
    assert out is not mine
    assert_array_equal(mine, 7.0)
    # the same with the weights as "output": forward must not write over what it reads
    layer2 = Dense(4, 4, rng=1)
    layer2.forward(X)
    weights = layer2.weights.copy()
    layer2.output = layer2.weights
    layer2.backward(np.ones((4, 4)))
    assert_array_equal(layer2.weights, weights)  # backward leaves parameters alone
    out = layer2.forward(X)
    assert_array_equal(layer2.weights, weights)
    assert_allclose(out, X @ weights + layer2.biases, rtol=1e-14)


def test_inputs_set_to_own_output_then_forward_on_it(rng):
    layer = Dense(8, 8, rng=0)
    X = rng.standard_normal((5, 8))
    layer.forward(X)
    layer.inputs = layer.output
    layer.backward(rng.standard_normal((5, 8)))
    fed = layer.output.copy()
    out = layer.forward(layer.output)
    assert_allclose(out, fed @ layer.weights + layer.biases, rtol=1e-14)


def test_shallow_copy_has_its_own_buffers(rng):
    import copy
    a = DenseReLU(3, 5, rng=0)
    X = rng.standard_normal((6, 3))
    a.forward(X)
    a.backward(np.ones((6, 5)))
    kept = a.output.copy()
    b = copy.copy(a)
    assert b.weights is a.weights  # shallow: the parameters are shared
    b.backward(np.ones((6, 5)))
    b.forward(2 * X)
    assert_array_equal(a.output, kept)
    assert not np.shares_memory(a.output, b.output)


def test_dtype_is_fixed_at_construction():
    layer = Dense(2, 3, dtype=np.float32)
    with pytest.raises(AttributeError):
        layer.dtype = np.float64


def test_labels_that_alias_the_loss_buffers(rng):
    from fastbp import SoftmaxCrossEntropy
    loss = SoftmaxCrossEntropy()
    zeros = np.zeros(4, np.int64)
    loss.forward(np.zeros((4, 1)), zeros)
    loss.backward(loss.output, zeros)
    # labels that are a view of the loss's own gradient buffer: all 0, so in range
    labels = loss.dinputs.view(np.int64).ravel()
    labels[...] = 0
    loss.backward(loss.output, labels)
    assert_array_equal(labels, 0)  # not overwritten by the gradient it indexes
    assert not np.shares_memory(loss.dinputs, labels)
    assert_allclose(loss.dinputs, (loss.output - 1) / 4)


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (1, 1), (7, 5), (300, 64), (11,)])
def test_empty_aligned(shape, dtype):
    from fastbp.layers import CACHE_LINE, empty_aligned

    a = empty_aligned(shape, dtype)
    assert a.shape == shape and a.dtype == dtype
    assert a.flags.c_contiguous and a.flags.writeable
    if a.size:
        assert a.ctypes.data % CACHE_LINE == 0
        a[...] = 1  # the whole array is writable memory of its own
        assert a.sum() == a.size


def test_layer_buffers_start_on_a_cache_line(rng, layer_cls, dtype):
    # A 32-byte vector store into an output 16 bytes past a cache line splits across two
    # lines every other time.
    from fastbp.layers import CACHE_LINE

    layer = layer_cls(3, 5, dtype=dtype, rng=0)
    X, dY = data(rng, dtype, n=9, k=3, m=5)
    assert_step_matches(layer, X, dY, dtype)
    for name in ("output", "dinputs", "dweights", "dbiases"):
        assert getattr(layer, name).ctypes.data % CACHE_LINE == 0, name
