"""Property-based tests (hypothesis): every public function and layer against fastbp.reference.

Hypothesis draws the shapes (each dimension 0-64; layers need n_inputs, n_neurons >= 1), the
dtype (float32, float64), the memory layout of every argument (C order, Fortran order, a
strided slice, negative strides, an unaligned buffer), read-only or not, and the values:
random data (normal at several magnitudes, or small multiples of 1/4), a random share of it
replaced by ±0, subnormals, the smallest normal, ±1, ±inf and NaN, and individual elements
overwritten by those or by any float hypothesis likes.

What each example checks:

* the result matches the reference. Elementwise functions (``relu_forward``,
  ``relu_backward``, the ``ReLU`` layer) must agree exactly, NaN where the reference has NaN
  (``assert_array_equal`` treats NaN as equal to NaN, and -0.0 as equal to 0.0). Products are
  compared where the order of summation cannot change the answer: finite values stay at most
  1e3 in magnitude, so no partial sum overflows, and then a sum containing NaN, inf - inf or
  inf · 0 is NaN and one containing only +inf (or only -inf) terms is that infinity, in any
  order. So NaN and ±inf positions must match exactly, and finite elements must lie within
  ``RTOL[dtype] · (|A| @ |B| + |b|)`` (the magnitude of the summed terms) plus one smallest
  subnormal per term (a product that underflows may round differently with and without FMA);
* no input array changes: after the call, the whole buffer behind every argument (including
  the gaps of a strided slice) holds the same bytes as before;
* a buffer passed as ``out=`` (or ``dinputs=``, ...) is what comes back.

Run length: the default run is a few hundred examples in all (well under 30 s). For a longer
run set ``FASTBP_HYPOTHESIS_PROFILE=long`` (25 times the examples of each test) or
``FASTBP_HYPOTHESIS_EXAMPLES=N`` (N examples for every test). Failures print the
``@reproduce_failure`` blob; nothing is written to a ``.hypothesis`` database.
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

import fastbp
from fastbp import reference as R

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
DTYPES = st.sampled_from([F32, F64])
RTOL = {F64: 1e-12, F32: 1e-5}
MAX_DIM = 64
MODERATE = 1e3  # finite values in products stay within ±MODERATE: no partial sum overflows

# --- how many examples -------------------------------------------------------------------------

_PROFILE = os.environ.get("FASTBP_HYPOTHESIS_PROFILE", "default").strip().lower() or "default"
_PROFILES = {"default": 1, "long": 25}
if _PROFILE not in _PROFILES:
    raise ValueError(
        f"FASTBP_HYPOTHESIS_PROFILE must be one of {sorted(_PROFILES)}, got {_PROFILE!r}"
    )
_EXAMPLES = os.environ.get("FASTBP_HYPOTHESIS_EXAMPLES", "").strip()


def examples(default):
    """Examples for one test: ``default`` (x25 for the long profile), or the env override."""
    if _EXAMPLES:
        return int(_EXAMPLES)
    return default * _PROFILES[_PROFILE]


def hsettings(default_examples):
    return settings(
        max_examples=examples(default_examples),
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.large_base_example],
    )


# --- values ----------------------------------------------------------------------------------

def special_values(dtype, nonfinite):
    fi = np.finfo(dtype)
    tiny_sub = float(fi.smallest_subnormal)
    big_sub = float(np.nextafter(fi.smallest_normal, dtype.type(0)))
    values = [0.0, -0.0, tiny_sub, -tiny_sub, big_sub, -big_sub, float(fi.smallest_normal),
              -float(fi.smallest_normal), 1.0, -1.0]
    if nonfinite:
        values += [np.inf, -np.inf, np.nan]
    return values


def elements(dtype, nonfinite, moderate):
    """One element: a special value, or any float of the dtype (within ±MODERATE)."""
    width = 32 if dtype == F32 else 64
    if moderate:
        floats = st.floats(-MODERATE, MODERATE, width=width)
    else:
        floats = st.floats(width=width, allow_nan=nonfinite, allow_infinity=nonfinite)
    return st.one_of(st.sampled_from(special_values(dtype, nonfinite)), floats)


def draw_values(data, shape, dtype, *, nonfinite, moderate, label):
    """An array of ``shape``: random data, some elements overwritten by special values."""
    kind = data.draw(st.sampled_from(["normal", "exact", "mixed", "mixed", "constant"]),
                     label=f"{label} kind")
    if kind == "constant":
        arr = np.full(shape, data.draw(elements(dtype, nonfinite, moderate)), dtype=dtype)
    else:
        rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label=f"{label} seed"))
        if kind == "exact":  # small multiples of 1/4: sums of products stay exact
            arr = np.asarray(rng.integers(-4, 5, size=shape) * 0.25, dtype=dtype)
        else:
            exponent = data.draw(st.integers(-3, 2) if moderate else st.integers(-30, 30),
                                 label=f"{label} magnitude 10**")
            arr = np.asarray(rng.standard_normal(shape) * 10.0**exponent, dtype=dtype)
        if kind == "mixed":  # a random share of the elements special values
            share = data.draw(st.sampled_from([0.05, 0.25, 0.5, 1.0]), label=f"{label} share")
            specials = np.array(special_values(dtype, nonfinite), dtype=dtype)
            where = rng.random(shape) < share
            arr[where] = rng.choice(specials, size=int(where.sum()))
    if arr.size:
        overlay = data.draw(
            st.lists(st.tuples(st.integers(0, arr.size - 1), elements(dtype, nonfinite, moderate)),
                     max_size=min(arr.size, 24)),
            label=f"{label} special elements (flat index, value)",
        )
        flat = arr.reshape(-1)
        for index, value in overlay:
            flat[index] = value
    return arr


# --- layouts ---------------------------------------------------------------------------------

LAYOUTS = ["C", "F", "sliced", "negative", "unaligned"]
GAP = np.nan  # what the gaps of a strided slice hold


def lay_out(values, layout, read_only):
    """``(view, owner)``: ``view`` holds ``values`` bit for bit in the given memory layout;
    ``owner`` is the whole buffer it lives in (gaps included), to check nothing wrote to it."""
    shape, dtype = values.shape, values.dtype
    if layout == "C":
        owner = view = np.array(values, order="C", copy=True)
    elif layout == "F":
        owner = view = np.array(values, order="F", copy=True)
    elif layout == "sliced":
        owner = np.full(tuple(2 * s + 1 for s in shape), GAP, dtype=dtype)
        view = owner[tuple(slice(1, None, 2) for _ in shape) + (Ellipsis,)]  # 0-d: a view
        view[...] = values
    elif layout == "negative":
        owner = np.full(shape, GAP, dtype=dtype)
        view = owner[tuple(slice(None, None, -1) for _ in shape) + (Ellipsis,)]
        view[...] = values
    elif layout == "unaligned":
        owner = np.zeros(values.nbytes + 1, dtype=np.uint8)
        view = owner[1:].view(dtype).reshape(shape)
        view[...] = values
    else:
        raise ValueError(layout)
    assert view.tobytes() == values.tobytes()
    if read_only:
        view.flags.writeable = False
    return view, owner


def draw_layout(data, values, label):
    layout = data.draw(st.sampled_from(LAYOUTS), label=f"{label} layout")
    read_only = data.draw(st.booleans(), label=f"{label} read-only")
    return lay_out(values, layout, read_only)


class Untouched:
    """Snapshots of the buffers behind a call's arguments; ``check()`` that none changed."""

    def __init__(self):
        self._saved = []

    def add(self, name, owner):
        self._saved.append((name, owner, owner.tobytes(order="A")))

    def arg(self, data, values, label):
        view, owner = draw_layout(data, values, label)
        self.add(label, owner)
        return view

    def check(self):
        for name, owner, before in self._saved:
            assert owner.tobytes(order="A") == before, f"{name} (or the buffer around it) changed"


# --- comparisons -----------------------------------------------------------------------------

def _finite_abs(a):
    a = np.abs(np.asarray(a, dtype=np.float64))
    return np.where(np.isfinite(a), a, 0.0)


def assert_sum_matches(got, ref, scale, n_terms, dtype, what, ieee=None):
    """Products and sums: NaN and ±inf exactly where the reference has them, finite elements
    within RTOL · scale (scale: the sum of |terms|) plus one smallest subnormal per term.

    ``ieee``: the same sums taken term by term (np.einsum, no BLAS), where 0·inf is NaN.
    numpy's np.dot can hand a product of one term to OpenBLAS's scal, which makes inf·0 a
    0; ``got`` may be NaN there, as IEEE arithmetic has it."""
    dtype = np.dtype(dtype)
    ref = np.asarray(ref)
    assert isinstance(got, np.ndarray), f"{what}: got {type(got)}"
    assert got.dtype == dtype, f"{what}: dtype {got.dtype}, expected {dtype}"
    assert got.shape == ref.shape, f"{what}: shape {got.shape}, expected {ref.shape}"
    if ieee is not None:
        ieee_nan = np.isnan(got) & np.isfinite(ref) & np.isnan(np.asarray(ieee).reshape(ref.shape))
        ref = np.where(ieee_nan, np.nan, ref).astype(ref.dtype)
    for kind, test in (("NaN", np.isnan), ("inf", np.isinf)):
        differ = test(got) != test(ref)
        if differ.any():
            i = tuple(int(j) for j in np.argwhere(differ)[0])
            raise AssertionError(f"{what}: {kind} at {differ.sum()} positions differs from the "
                                 f"reference; first at {i}: got {got[i]!r}, expected {ref[i]!r}")
    inf = np.isinf(ref)
    assert_array_equal(got[inf], ref[inf], err_msg=f"{what}: signs of infinities")
    finite = np.isfinite(ref)
    err = np.abs(got[finite].astype(np.float64) - ref[finite].astype(np.float64))
    tol = (RTOL[dtype] * np.broadcast_to(scale, ref.shape)[finite]
           + (n_terms + 1) * float(np.finfo(dtype).smallest_subnormal))
    bad = ~(err <= tol)
    if bad.any():
        k = int(np.argmax(np.where(bad, err - tol, -np.inf)))
        i = tuple(int(j) for j in np.argwhere(finite)[k])
        raise AssertionError(f"{what}: {bad.sum()} of {err.size} finite elements off; worst at "
                             f"{i}: got {got[i]!r}, expected {ref[i]!r}, tolerance {tol[k]:.3g}")


def assert_grads_match(got, ref, D, X, W, dtype, extra_scale=(0, 0, 0), dz=None):
    """dinputs = D @ W.T, dweights = X.T @ D, dbiases = sum(D); ``extra_scale`` adds the
    magnitude of regularization terms. ``dz``: the gradient the products are taken of (D
    masked by the ReLU), if given, for IEEE's NaN where the reference's BLAS gives 0
    (assert_sum_matches)."""
    assert isinstance(got, tuple) and len(got) == 3
    aD, aX, aW = _finite_abs(D), _finite_abs(X), _finite_abs(W)
    n_samples, n_neurons = aD.shape
    scales = (aD @ aW.T, aX.T @ aD, aD.sum(axis=0, keepdims=True))
    terms = (n_neurons, n_samples, n_samples)
    ieee = (None, None, None)
    if dz is not None:
        with np.errstate(all="ignore"):
            ieee = (np.einsum("ij,kj->ik", dz, W), np.einsum("ij,ik->jk", X, dz),
                    dz.sum(axis=0, keepdims=True))
    for g, r, s, n, extra, name, alt in zip(got, ref, scales, terms, extra_scale,
                                            ("dinputs", "dweights", "dbiases"), ieee):
        r = np.asarray(r)
        assert_sum_matches(g.reshape(r.shape), r, s + extra, n + 2, dtype, name, alt)


def forward_scale(X, W, b):
    return _finite_abs(X) @ _finite_abs(W) + _finite_abs(b).reshape(1, -1)


def reference(func, *args):
    with np.errstate(all="ignore"):  # inf · 0 and inf - inf are expected here
        return func(*args)


# --- the functional API ----------------------------------------------------------------------

def shapes(min_dims, max_dims):
    return st.lists(st.integers(0, MAX_DIM), min_size=min_dims, max_size=max_dims).map(tuple)


def maybe_out(data, shape, dtype, label="out"):
    """None, or a fresh C-contiguous buffer full of garbage."""
    if not data.draw(st.booleans(), label=f"pass {label}="):
        return None
    return np.full(shape, np.nan, dtype=dtype)


@hsettings(60)
@given(data=st.data())
def test_relu_forward(data):
    dtype = data.draw(DTYPES, label="dtype")
    shape = data.draw(shapes(0, 3), label="shape")
    x = draw_values(data, shape, dtype, nonfinite=True, moderate=False, label="inputs")
    untouched = Untouched()
    xv = untouched.arg(data, x, "inputs")
    out = maybe_out(data, shape, dtype)
    got = fastbp.relu_forward(xv, out=out)
    untouched.check()
    if out is not None:
        assert got is out
    assert got.dtype == dtype and got.shape == shape
    assert_array_equal(got, R.relu_forward(x))


@hsettings(50)
@given(data=st.data())
def test_relu_backward(data):
    dtype = data.draw(DTYPES, label="dtype")
    shape = data.draw(shapes(0, 3), label="shape")
    d = draw_values(data, shape, dtype, nonfinite=True, moderate=False, label="dvalues")
    x = draw_values(data, shape, dtype, nonfinite=True, moderate=False, label="inputs")
    untouched = Untouched()
    dv, xv = untouched.arg(data, d, "dvalues"), untouched.arg(data, x, "inputs")
    out = maybe_out(data, shape, dtype)
    got = fastbp.relu_backward(dv, xv, out=out)
    untouched.check()
    if out is not None:
        assert got is out
    assert got.dtype == dtype and got.shape == shape
    assert_array_equal(got, R.relu_backward(d, x))


def draw_dense_operands(data, *, min_inputs=0, min_neurons=0):
    dtype = data.draw(DTYPES, label="dtype")
    m = data.draw(st.integers(0, MAX_DIM), label="n_samples")
    k = data.draw(st.integers(min_inputs, MAX_DIM), label="n_inputs")
    n = data.draw(st.integers(min_neurons, MAX_DIM), label="n_neurons")
    nonfinite = data.draw(st.booleans(), label="with inf/NaN")

    def values(shape, label):
        return draw_values(data, shape, dtype, nonfinite=nonfinite, moderate=True, label=label)

    return dtype, (m, k, n), values


@pytest.mark.parametrize("relu", [False, True], ids=["dense_forward", "dense_relu_forward"])
@hsettings(40)
@given(data=st.data())
def test_dense_forward(relu, data):
    func, ref_func = ((fastbp.dense_relu_forward, R.dense_relu_forward) if relu
                      else (fastbp.dense_forward, R.dense_forward))
    dtype, (m, k, n), values = draw_dense_operands(data)
    X, W = values((m, k), "inputs"), values((k, n), "weights")
    b = values(data.draw(st.sampled_from([(1, n), (n,)]), label="biases shape"), "biases")
    untouched = Untouched()
    args = [untouched.arg(data, a, name) for a, name in ((X, "inputs"), (W, "weights"),
                                                         (b, "biases"))]
    out = maybe_out(data, (m, n), dtype)
    got = func(*args, out=out)
    untouched.check()
    if out is not None:
        assert got is out
    ref = reference(ref_func, X, W, b)
    assert_sum_matches(got, ref, forward_scale(X, W, b), k + 1, dtype, func.__name__)
    if relu:
        assert not (got < 0).any()


def draw_grad_buffers(data, shape, dtype):
    m, k, n = shape
    bufs = {}
    for name, s in (("dinputs", (m, k)), ("dweights", (k, n)),
                    ("dbiases", data.draw(st.sampled_from([(1, n), (n,)]), label="dbiases shape"))):
        buf = maybe_out(data, s, dtype, name)
        if buf is not None:
            bufs[name] = buf
    return bufs


def check_returned_buffers(got, bufs):
    for name, g in zip(("dinputs", "dweights", "dbiases"), got):
        if name in bufs:
            assert g is bufs[name], name
        elif name == "dbiases":
            assert g.shape == (1, g.size)


@hsettings(40)
@given(data=st.data())
def test_dense_backward(data):
    dtype, (m, k, n), values = draw_dense_operands(data)
    D, X, W = values((m, n), "dvalues"), values((m, k), "inputs"), values((k, n), "weights")
    untouched = Untouched()
    args = [untouched.arg(data, a, name) for a, name in ((D, "dvalues"), (X, "inputs"),
                                                         (W, "weights"))]
    bufs = draw_grad_buffers(data, (m, k, n), dtype)
    got = fastbp.dense_backward(*args, **bufs)
    untouched.check()
    check_returned_buffers(got, bufs)
    assert_grads_match(got, reference(R.dense_backward, D, X, W), D, X, W, dtype, dz=D)


@hsettings(40)
@given(data=st.data())
def test_dense_relu_backward(data):
    dtype, (m, k, n), values = draw_dense_operands(data)
    D, X, W = values((m, n), "dvalues"), values((m, k), "inputs"), values((k, n), "weights")
    b = values((1, n), "biases")
    # fastbp takes the forward output; the reference recomputes it from the biases. Give
    # fastbp the reference's output, so that both mask the same elements.
    output = reference(R.dense_relu_forward, X, W, b)
    untouched = Untouched()
    args = [untouched.arg(data, a, name) for a, name in ((D, "dvalues"), (X, "inputs"),
                                                         (W, "weights"), (output, "output"))]
    bufs = draw_grad_buffers(data, (m, k, n), dtype)
    got = fastbp.dense_relu_backward(*args, **bufs)
    untouched.check()
    check_returned_buffers(got, bufs)
    assert_grads_match(got, reference(R.dense_relu_backward, D, X, W, b), D, X, W, dtype,
                       dz=np.where(output <= 0, 0, D).astype(dtype))


# --- layers ------------------------------------------------------------------------------------

REGULARIZERS = st.tuples(*[st.sampled_from([0.0, 5e-4, 0.25])] * 4)


def _ref_dense(ref):
    """The reference Layer_Dense inside a reference layer (DenseReLU wraps one)."""
    return getattr(ref, "dense", ref)


def _regularization_scale(layer, regs):
    l1w, l2w, l1b, l2b = regs
    return (l1w + 2 * l2w * _finite_abs(layer.weights), l1b + 2 * l2b * _finite_abs(layer.biases))


@pytest.mark.parametrize("cls, ref_cls", [(fastbp.Dense, R.Layer_Dense),
                                          (fastbp.DenseReLU, R.DenseReLU)],
                         ids=["Dense", "DenseReLU"])
@hsettings(30)
@given(data=st.data())
def test_dense_layers(cls, ref_cls, data):
    dtype = data.draw(DTYPES, label="layer dtype")
    k = data.draw(st.integers(1, MAX_DIM), label="n_inputs")
    n = data.draw(st.integers(1, MAX_DIM), label="n_neurons")
    regs = data.draw(REGULARIZERS, label="regularizers")
    seed = data.draw(st.integers(0, 2**32 - 1), label="rng")
    nonfinite = data.draw(st.booleans(), label="with inf/NaN")
    layer = cls(k, n, *regs, dtype=dtype, rng=seed)
    ref = ref_cls(k, n, *regs, dtype=dtype, rng=seed)
    assert_array_equal(layer.weights, _ref_dense(ref).weights)
    assert_array_equal(layer.biases, _ref_dense(ref).biases)
    if data.draw(st.booleans(), label="set_parameters"):
        W = draw_values(data, (k, n), dtype, nonfinite=nonfinite, moderate=True, label="weights")
        b = draw_values(data, (1, n), dtype, nonfinite=nonfinite, moderate=True, label="biases")
        untouched = Untouched()
        layer.set_parameters(untouched.arg(data, W, "weights"), untouched.arg(data, b, "biases"))
        untouched.check()
    m = None
    for step in range(data.draw(st.integers(1, 3), label="steps")):
        # the reference starts each step from fastbp's parameters: errors do not accumulate
        _ref_dense(ref).weights = layer.weights.copy()
        _ref_dense(ref).biases = layer.biases.copy()
        m = data.draw(st.integers(0, MAX_DIM) if m is None else st.sampled_from([m, m + 1, 0]),
                      label=f"step {step} n_samples")
        in_dtype = data.draw(DTYPES, label=f"step {step} inputs dtype")
        X = draw_values(data, (m, k), in_dtype, nonfinite=nonfinite, moderate=True,
                        label=f"step {step} inputs")
        D = draw_values(data, (m, n), in_dtype, nonfinite=nonfinite, moderate=True,
                        label=f"step {step} dvalues")
        # the layer computes in its dtype; the reference is given the values converted
        Xc, Dc = X.astype(dtype), D.astype(dtype)
        untouched = Untouched()
        Xv = untouched.arg(data, X, f"step {step} inputs")
        Dv = untouched.arg(data, D, f"step {step} dvalues")

        out = layer.forward(Xv)
        untouched.check()
        assert out is layer.output
        W, b = layer.weights, layer.biases
        ref_out = reference(ref.forward, Xc)
        assert_sum_matches(out, ref_out, forward_scale(Xc, W, b), k + 1, dtype, "output")

        layer.backward(Dv)
        untouched.check()
        if cls is fastbp.DenseReLU:
            # The reference masks by its own pre-activation z; a z within rounding of 0 may
            # differ in sign from fastbp's, so mask the reference by fastbp's output (output <= 0
            # exactly where fastbp's z <= 0).
            ref.relu.inputs = out.copy()
        reference(ref.backward, Dc)
        got = (layer.dinputs, layer.dweights, layer.dbiases)
        want = (ref.dinputs, _ref_dense(ref).dweights, _ref_dense(ref).dbiases)
        reg_w, reg_b = _regularization_scale(layer, regs)
        assert_grads_match(got, want, Dc, Xc, W, dtype, extra_scale=(0, reg_w, reg_b),
                           dz=ref.relu.dinputs if cls is fastbp.DenseReLU else Dc)

        # a step of SGD: in place, the book's way, or as new arrays (parameters given
        # read-only to set_parameters are kept as they are, and cannot be updated in place)
        lr = data.draw(st.sampled_from([0.0, 1e-3, 0.5]), label=f"step {step} learning rate")
        in_place = data.draw(st.booleans(), label=f"step {step} update in place")
        with np.errstate(all="ignore"):
            if in_place and layer.weights.flags.writeable and layer.biases.flags.writeable:
                layer.weights += -lr * layer.dweights
                layer.biases += -lr * layer.dbiases
            else:
                layer.weights = layer.weights - lr * layer.dweights
                layer.biases = layer.biases - lr * layer.dbiases


@hsettings(30)
@given(data=st.data())
def test_relu_layer(data):
    layer, ref = fastbp.ReLU(), R.Activation_ReLU()
    shape = None
    for step in range(data.draw(st.integers(1, 3), label="steps")):
        dtype = data.draw(DTYPES, label=f"step {step} dtype")
        shape = data.draw(shapes(0, 3) if shape is None else st.sampled_from([shape, (2, 3)]),
                          label=f"step {step} shape")
        x = draw_values(data, shape, dtype, nonfinite=True, moderate=False, label="inputs")
        d_dtype = data.draw(DTYPES, label=f"step {step} dvalues dtype")
        d = draw_values(data, shape, d_dtype, nonfinite=True, moderate=False, label="dvalues")
        untouched = Untouched()
        xv, dv = untouched.arg(data, x, "inputs"), untouched.arg(data, d, "dvalues")
        out = layer.forward(xv)
        untouched.check()
        assert out is layer.output and out.dtype == dtype and out.shape == shape
        assert_array_equal(out, ref.forward(x))
        with np.errstate(over="ignore"):  # float64 dvalues beyond float32's range become inf
            layer.backward(dv)
            d_converted = d.astype(dtype)  # the layer converts dvalues to its inputs' dtype
        untouched.check()
        assert layer.dinputs.dtype == dtype and layer.dinputs.shape == shape
        ref.backward(d_converted)
        assert_array_equal(layer.dinputs, ref.dinputs)


# --- special values, spelled out --------------------------------------------------------------

DTYPE_PARAMS = [pytest.param(F64, id="float64"), pytest.param(F32, id="float32")]


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
def test_subnormals_are_not_flushed(dtype):
    fi = np.finfo(dtype)
    sub = np.array([fi.smallest_subnormal, np.nextafter(fi.smallest_normal, 0, dtype=dtype),
                    -fi.smallest_subnormal], dtype=dtype)
    assert sub[0] != 0 and sub[0] * dtype.type(1) != 0  # nothing set flush-to-zero in here
    # relu_forward keeps a positive subnormal exactly (and clamps the negative one)
    assert_array_equal(fastbp.relu_forward(sub), [sub[0], sub[1], 0])
    assert fastbp.relu_forward(sub)[0] == fi.smallest_subnormal
    assert_array_equal(fastbp.ReLU().forward(sub), [sub[0], sub[1], 0])
    # relu_backward: a subnormal input is > 0, and a subnormal gradient passes unchanged
    assert_array_equal(fastbp.relu_backward(sub, sub), [sub[0], sub[1], 0])
    # products: subnormal · 1 + 0, through the loops and through BLAS (32·32·32 > 512)
    for size in (2, 32):
        X = np.zeros((size, size), dtype)
        X[:, 0] = sub[0]
        W = np.eye(size, dtype=dtype)
        out = fastbp.dense_forward(X, W, np.zeros(size, dtype))
        assert_array_equal(out, X, err_msg=f"dense_forward {size}")
        out = fastbp.dense_relu_forward(X, W, np.zeros(size, dtype))
        assert_array_equal(out, X, err_msg=f"dense_relu_forward {size}")
        dinputs, dweights, dbiases = fastbp.dense_backward(X, W, W)
        assert_array_equal(dinputs, X)
        assert_array_equal(dbiases[0, 0], size * sub[0])  # a sum of subnormals, exact
        assert_array_equal(dweights, X)


def _determined_cases(dtype):
    """(name, X, W, b) with inf/NaN whose results do not depend on the order of summation."""
    inf, nan = np.inf, np.nan
    X = np.array([[1.0, 2.0, 0.5], [-1.0, 0.25, 3.0], [2.0, -2.0, 1.0]], dtype)
    W = np.array([[1.0, -1.0, 0.5, 0.0], [2.0, 0.5, -0.25, 1.0], [0.5, 1.0, 1.0, -3.0]], dtype)
    b = np.array([0.5, -0.5, 0.0, 1.0], dtype)
    cases = []

    def case(name, *changes):
        arrays = {"X": X.copy(), "W": W.copy(), "b": b.copy()}
        for key, index, value in changes:
            arrays[key][index] = value
        cases.append((name, arrays["X"], arrays["W"], arrays["b"]))

    case("NaN input: its row is NaN", ("X", (1, 2), nan))
    case("+inf input: inf·w, and inf·0 = NaN", ("X", (0, 0), inf))
    case("-inf weight", ("W", (1, 2), -inf))
    case("inf - inf in one sum", ("X", (2, 0), inf), ("W", (0, 0), -inf))
    case("+inf times +inf", ("X", (0, 1), inf), ("W", (1, 1), inf))
    case("inf bias", ("b", (1,), inf))
    case("NaN bias", ("b", (3,), nan))
    case("-inf bias: ReLU gives 0", ("b", (2,), -inf))
    case("NaN weight: its column is NaN", ("W", (2, 3), nan))
    return cases


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("tile", [1, 16], ids=["loops", "blas"])
def test_products_with_special_values(dtype, tile):
    """Hand-made inf/NaN cases where the result is determined, through the loops and BLAS
    (tiled 16x in every dimension, the same sums come out through BLAS)."""
    for name, X, W, b in _determined_cases(dtype):
        X, W, b = np.tile(X, (tile, tile)), np.tile(W, (tile, tile)), np.tile(b, tile)
        m, k = X.shape
        D = np.tile(np.array([[1.0, -2.0, 0.5, 0.0]], dtype), (m, tile))
        for func, ref_func in ((fastbp.dense_forward, R.dense_forward),
                               (fastbp.dense_relu_forward, R.dense_relu_forward)):
            assert_sum_matches(func(X, W, b), reference(ref_func, X, W, b),
                               forward_scale(X, W, b), k + 1, dtype, f"{name}: {func.__name__}")
        assert_grads_match(fastbp.dense_backward(D, X, W), reference(R.dense_backward, D, X, W),
                           D, X, W, dtype, dz=D)
        output = reference(R.dense_relu_forward, X, W, b)
        assert_grads_match(fastbp.dense_relu_backward(D, X, W, output),
                           reference(R.dense_relu_backward, D, X, W, b), D, X, W, dtype,
                           dz=np.where(output <= 0, 0, D).astype(dtype))
