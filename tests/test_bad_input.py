"""Bad input: the exception type, a message that names the argument (with shapes/dtypes),
and nothing written: the caller's arrays are unchanged and out buffers keep their sentinel.

Private: fastbp._fastcheck, the functional API's compiled fast check, held here to the rule
table case by case (at the end): it must decline every bad input.
"""

import re

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import fastbp
from fastbp import _fastcheck

SENTINEL = -1234.5

# Standard operands: inputs (2, 3), weights (3, 4), biases (1, 4), dvalues/output (2, 4).
N_SAMPLES, N_INPUTS, N_NEURONS = 2, 3, 4


def X(dtype=np.float64):
    return np.array([[1.0, -2.0, 3.0], [0.5, 0.0, -1.0]], dtype=dtype)


def W(dtype=np.float64):
    return np.arange(-6.0, 6.0).reshape(3, 4).astype(dtype) / 4


def B(dtype=np.float64):
    return np.array([[0.5, -0.5, 1.0, -1.0]], dtype=dtype)


def D(dtype=np.float64):
    return np.array([[1.0, 2.0, -1.0, 0.5], [-2.0, 1.0, 3.0, 0.0]], dtype=dtype)


def OUTPUT(dtype=np.float64):
    return np.maximum(X(np.float64) @ W(np.float64) + B(np.float64), 0).astype(dtype)


def buf(*shape, dtype=np.float64):
    return np.full(shape, SENTINEL, dtype=dtype)


def fortran(*shape, dtype=np.float64):
    out = np.asfortranarray(buf(*shape, dtype=dtype))
    assert not out.flags.c_contiguous
    return out


def strided(*shape, dtype=np.float64):
    big = buf(*(2 * s for s in shape), dtype=dtype)
    return big[tuple(slice(None, None, 2) for _ in shape)]


def read_only(*shape, dtype=np.float64):
    out = buf(*shape, dtype=dtype)
    out.flags.writeable = False
    return out


def overlapping_pair(shape_a, shape_b, offset):
    """Two C-contiguous arrays over one buffer, b starting ``offset`` elements after a."""
    base = buf(int(np.prod(shape_a)) + int(np.prod(shape_b)) + offset)
    a = base[: int(np.prod(shape_a))].reshape(shape_a)
    b = base[offset: offset + int(np.prod(shape_b))].reshape(shape_b)
    assert np.shares_memory(a, b) and a.flags.c_contiguous and b.flags.c_contiguous
    return a, b


def overlapping_inputs_out():
    # inputs (2, 4) with weights (4, 4): out (2, 4) starts in the middle of inputs
    inputs, out = overlapping_pair((2, 4), (2, 4), 4)
    inputs[...] = np.arange(8.0).reshape(2, 4)
    return fastbp.dense_forward, (inputs, np.eye(4), np.zeros(4)), dict(out=out)


def overlapping_biases_out():
    out, biases = overlapping_pair((2, 4), (1, 4), 4)
    biases[...] = 1.0
    return fastbp.dense_forward, (X(), W(), biases), dict(out=out)


def overlapping_dinputs_dweights():
    dinputs, dweights = overlapping_pair((2, 3), (3, 4), 4)
    return fastbp.dense_backward, (D(), X(), W()), dict(dinputs=dinputs, dweights=dweights)


def dbiases_view_of_dweights():
    dweights = buf(3, 4)
    return fastbp.dense_backward, (D(), X(), W()), dict(dweights=dweights,
                                                         dbiases=dweights[0])


def dbiases_view_of_dvalues():
    dvalues = D()
    return fastbp.dense_backward, (dvalues, X(), W()), dict(dbiases=dvalues[1])


def dinputs_view_of_output():
    output, dinputs = overlapping_pair((2, 4), (2, 3), 2)
    output[...] = OUTPUT()
    return fastbp.dense_relu_backward, (D(), X(), W(), output), dict(dinputs=dinputs)


def relu_out_is_inputs():
    x = X()
    return fastbp.relu_forward, (x,), dict(out=x)


def relu_backward_out_is_dvalues():
    d = D()
    return fastbp.relu_backward, (d, OUTPUT()), dict(out=d)


# (id, builder -> (func, args, kwargs), exception, regex on the message)
F = fastbp
CASES = [
    # --- wrong number of dimensions
    ("dense_forward inputs 1-D", lambda: (F.dense_forward, (X()[0], W(), B()), {}),
     ValueError, r"inputs must be 2-D \(n_samples, n_inputs\), got shape \(3,\)"),
    ("dense_relu_forward inputs 0-D",
     lambda: (F.dense_relu_forward, (np.array(1.0), W(), B()), {}),
     ValueError, r"inputs must be 2-D .*got shape \(\)"),
    ("dense_forward weights 3-D", lambda: (F.dense_forward, (X(), W()[..., None], B()), {}),
     ValueError, r"weights must be 2-D \(n_inputs, n_neurons\), got shape \(3, 4, 1\)"),
    ("dense_backward inputs 1-D", lambda: (F.dense_backward, (D(), X()[0], W()), {}),
     ValueError, r"inputs must be 2-D .*got shape \(3,\)"),
    ("dense_backward weights 3-D", lambda: (F.dense_backward, (D(), X(), W()[None]), {}),
     ValueError, r"weights must be 2-D .*got shape \(1, 3, 4\)"),
    ("dense_relu_backward weights 1-D",
     lambda: (F.dense_relu_backward, (D(), X(), W()[0], OUTPUT()), {}),
     ValueError, r"weights must be 2-D .*got shape \(4,\)"),
    ("dense_backward dvalues 1-D", lambda: (F.dense_backward, (D()[0], X(), W()), {}),
     ValueError, r"dvalues must have shape \(n_samples, n_neurons\) = \(2, 4\) .*got \(4,\)"),
    ("dense_relu_backward dvalues 1-D",
     lambda: (F.dense_relu_backward, (D().ravel(), X(), W(), OUTPUT()), {}),
     ValueError, r"dvalues must have shape .*\(2, 4\).*got \(8,\)"),
    ("dense_relu_backward output 1-D",
     lambda: (F.dense_relu_backward, (D(), X(), W(), OUTPUT().ravel()), {}),
     ValueError, r"output must have shape .*\(2, 4\).*got \(8,\)"),
    ("relu_backward dvalues 1-D", lambda: (F.relu_backward, (D()[0], D()), {}),
     ValueError, r"dvalues must have the shape of inputs \(2, 4\), got \(4,\)"),

    # --- mismatched shapes
    ("dense_forward weights rows", lambda: (F.dense_forward, (X(), np.ones((4, 4)), B()), {}),
     ValueError,
     r"weights must have shape \(3, n_neurons\) to match inputs of shape \(2, 3\), got \(4, 4\)"),
    ("dense_relu_forward weights rows",
     lambda: (F.dense_relu_forward, (X(), np.ones((2, 4)), B()), {}),
     ValueError, r"weights must have shape \(3, n_neurons\).*\(2, 3\).*got \(2, 4\)"),
    ("dense_backward weights rows", lambda: (F.dense_backward, (D(), X(), W().T), {}),
     ValueError, r"weights must have shape \(3, n_neurons\).*got \(4, 3\)"),
    ("dense_relu_backward weights rows",
     lambda: (F.dense_relu_backward, (D(), X(), np.ones((5, 4)), OUTPUT()), {}),
     ValueError, r"weights must have shape \(3, n_neurons\).*got \(5, 4\)"),
    ("biases too short", lambda: (F.dense_forward, (X(), W(), B()[:, :3]), {}),
     ValueError,
     r"biases must have shape \(1, 4\) or \(4,\) to match n_neurons = 4, got \(1, 3\)"),
    ("biases too long 1-D", lambda: (F.dense_relu_forward, (X(), W(), np.zeros(5)), {}),
     ValueError, r"biases must have shape \(1, 4\) or \(4,\).*got \(5,\)"),
    ("biases column", lambda: (F.dense_forward, (X(), W(), B().T), {}),
     ValueError, r"biases must have shape \(1, 4\) or \(4,\).*got \(4, 1\)"),
    ("biases per sample", lambda: (F.dense_forward, (X(), W(), np.zeros((2, 4))), {}),
     ValueError, r"biases must have shape \(1, 4\) or \(4,\).*got \(2, 4\)"),
    ("biases scalar", lambda: (F.dense_forward, (X(), W(), np.array(0.5)), {}),
     ValueError, r"biases must have shape \(1, 4\) or \(4,\).*got \(\)"),
    ("dense_backward dvalues columns", lambda: (F.dense_backward, (np.ones((2, 5)), X(), W()), {}),
     ValueError,
     r"dvalues must have shape \(n_samples, n_neurons\) = \(2, 4\) for inputs \(2, 3\) and "
     r"weights \(3, 4\), got \(2, 5\)"),
    ("dense_backward dvalues rows", lambda: (F.dense_backward, (np.ones((3, 4)), X(), W()), {}),
     ValueError, r"dvalues must have shape .*\(2, 4\).*got \(3, 4\)"),
    ("dense_relu_backward dvalues transposed",
     lambda: (F.dense_relu_backward, (D().T, X(), W(), OUTPUT()), {}),
     ValueError, r"dvalues must have shape .*\(2, 4\).*got \(4, 2\)"),
    ("dense_relu_backward output transposed",
     lambda: (F.dense_relu_backward, (D(), X(), W(), OUTPUT().T), {}),
     ValueError, r"output must have shape \(n_samples, n_neurons\) = \(2, 4\).*got \(4, 2\)"),
    ("relu_backward shapes differ", lambda: (F.relu_backward, (D(), D().T), {}),
     ValueError, r"dvalues must have the shape of inputs \(4, 2\), got \(2, 4\)"),
    ("relu_backward same size other shape",
     lambda: (F.relu_backward, (D().reshape(8), D()), {}),
     ValueError, r"dvalues must have the shape of inputs \(2, 4\), got \(8,\)"),

    # --- None and unconvertible values
    ("dense_forward inputs None", lambda: (F.dense_forward, (None, W(), B()), {}),
     TypeError, r"inputs must be an array of float32 or float64, got None"),
    ("dense_forward weights None", lambda: (F.dense_forward, (X(), None, B()), {}),
     TypeError, r"weights must be an array of float32 or float64, got None"),
    ("dense_relu_forward biases None", lambda: (F.dense_relu_forward, (X(), W(), None), {}),
     TypeError, r"biases must be an array of float32 or float64, got None"),
    ("relu_forward None", lambda: (F.relu_forward, (None,), {}),
     TypeError, r"inputs must be an array .*got None"),
    ("relu_backward inputs None", lambda: (F.relu_backward, (D(), None), {}),
     TypeError, r"inputs must be an array .*got None"),
    ("dense_backward dvalues None", lambda: (F.dense_backward, (None, X(), W()), {}),
     TypeError, r"dvalues must be an array .*got None"),
    ("dense_relu_backward output None",
     lambda: (F.dense_relu_backward, (D(), X(), W(), None), {}),
     TypeError, r"output must be an array of float32 or float64, got None"),
    ("dense_forward ragged inputs",
     lambda: (F.dense_forward, ([[1.0, 2.0, 3.0], [1.0, 2.0]], W(), B()), {}),
     ValueError, r"inputs could not be converted to an array"),
    ("relu_forward ragged", lambda: (F.relu_forward, ([[1.0], [1.0, 2.0]],), {}),
     ValueError, r"inputs could not be converted to an array"),
    ("dense_backward ragged weights",
     lambda: (F.dense_backward, (D(), X(), [[1.0] * 4, [1.0] * 4, [1.0] * 3]), {}),
     ValueError, r"weights could not be converted to an array"),
    ("relu_forward string", lambda: (F.relu_forward, ("abc",), {}),
     TypeError, r"inputs must have dtype float32 or float64, got <U3"),

    # --- float32 mixed with float64
    ("dense_forward mixed", lambda: (F.dense_forward, (X(np.float32), W(), B()), {}),
     TypeError, r"share one dtype.*inputs float32, weights float64, biases float64"),
    ("dense_relu_forward mixed biases",
     lambda: (F.dense_relu_forward, (X(np.float32), W(np.float32), B()), {}),
     TypeError, r"inputs float32, weights float32, biases float64"),
    ("relu_backward mixed", lambda: (F.relu_backward, (D(), D(np.float32)), {}),
     TypeError, r"dvalues float64, inputs float32"),
    ("dense_backward mixed", lambda: (F.dense_backward, (D(np.float32), X(), W()), {}),
     TypeError, r"dvalues float32, inputs float64, weights float64"),
    ("dense_relu_backward mixed output",
     lambda: (F.dense_relu_backward, (D(), X(), W(), OUTPUT(np.float32)), {}),
     TypeError, r"weights float64, output float32"),

    # --- out= buffers
    ("out wrong shape", lambda: (F.dense_forward, (X(), W(), B()), dict(out=buf(4, 2))),
     ValueError, r"out must have shape \(2, 4\), got \(4, 2\)"),
    ("out flat", lambda: (F.dense_relu_forward, (X(), W(), B()), dict(out=buf(8))),
     ValueError, r"out must have shape \(2, 4\), got \(8,\)"),
    ("relu out wrong shape", lambda: (F.relu_forward, (X(),), dict(out=buf(3, 2))),
     ValueError, r"out must have shape \(2, 3\), got \(3, 2\)"),
    ("relu_backward out wrong shape", lambda: (F.relu_backward, (D(), D()), dict(out=buf(8))),
     ValueError, r"out must have shape \(2, 4\), got \(8,\)"),
    ("out wrong dtype", lambda: (F.dense_forward, (X(), W(), B()),
                                 dict(out=buf(2, 4, dtype=np.float32))),
     TypeError, r"out must have dtype float64 to match the inputs, got float32"),
    ("out float64 for float32", lambda: (F.relu_forward, (X(np.float32),), dict(out=buf(2, 3))),
     TypeError, r"out must have dtype float32 to match the inputs, got float64"),
    ("out int", lambda: (F.relu_backward, (D(), D()), dict(out=buf(2, 4, dtype=np.int64))),
     TypeError, r"out must have dtype float64 .*got int64"),
    ("out Fortran", lambda: (F.dense_forward, (X(), W(), B()), dict(out=fortran(2, 4))),
     ValueError, r"out must be C-contiguous"),
    ("out strided", lambda: (F.relu_forward, (X(),), dict(out=strided(2, 3))),
     ValueError, r"out must be C-contiguous"),
    ("out read-only", lambda: (F.dense_relu_forward, (X(), W(), B()), dict(out=read_only(2, 4))),
     ValueError, r"out is read-only"),
    ("relu out read-only", lambda: (F.relu_backward, (D(), D()), dict(out=read_only(2, 4))),
     ValueError, r"out is read-only"),
    ("relu out is inputs", relu_out_is_inputs,
     ValueError, r"out shares memory with inputs"),
    ("relu_backward out is dvalues", relu_backward_out_is_dvalues,
     ValueError, r"out shares memory with dvalues"),
    ("dense_forward out view of inputs", overlapping_inputs_out,
     ValueError, r"out shares memory with inputs"),
    ("dense_forward out overlaps biases", overlapping_biases_out,
     ValueError, r"out shares memory with biases"),
    ("dense_forward out is weights",
     lambda: (lambda w: (F.dense_forward, (np.eye(3), w, np.zeros(3)), dict(out=w)))(np.eye(3)),
     ValueError, r"out shares memory with weights"),
    ("out list", lambda: (F.dense_forward, (X(), W(), B()), dict(out=[[0.0] * 4] * 2)),
     TypeError, r"out must be a numpy.ndarray or None, got list"),
    ("relu out tuple", lambda: (F.relu_forward, (X(),), dict(out=(1.0, 2.0))),
     TypeError, r"out must be a numpy.ndarray or None, got tuple"),

    # --- dinputs / dweights / dbiases buffers (the valid ones passed alongside stay unwritten)
    ("dinputs wrong shape", lambda: (F.dense_backward, (D(), X(), W()),
                                     dict(dinputs=buf(3, 2), dweights=buf(3, 4))),
     ValueError, r"dinputs must have shape \(2, 3\), got \(3, 2\)"),
    ("dweights wrong shape", lambda: (F.dense_backward, (D(), X(), W()),
                                      dict(dinputs=buf(2, 3), dweights=buf(4, 3))),
     ValueError, r"dweights must have shape \(3, 4\), got \(4, 3\)"),
    ("dbiases wrong shape", lambda: (F.dense_relu_backward, (D(), X(), W(), OUTPUT()),
                                     dict(dinputs=buf(2, 3), dweights=buf(3, 4),
                                          dbiases=buf(4, 1))),
     ValueError, r"dbiases must have shape \(1, 4\) or \(4,\), got \(4, 1\)"),
    ("dbiases too long", lambda: (F.dense_backward, (D(), X(), W()), dict(dbiases=buf(5))),
     ValueError, r"dbiases must have shape \(1, 4\) or \(4,\), got \(5,\)"),
    ("dinputs wrong dtype", lambda: (F.dense_backward, (D(), X(), W()),
                                     dict(dinputs=buf(2, 3, dtype=np.float32))),
     TypeError, r"dinputs must have dtype float64 to match the inputs, got float32"),
    ("dweights wrong dtype", lambda: (F.dense_relu_backward, (D(), X(), W(), OUTPUT()),
                                      dict(dinputs=buf(2, 3), dweights=buf(3, 4, dtype=np.int32))),
     TypeError, r"dweights must have dtype float64 .*got int32"),
    ("dbiases wrong dtype", lambda: (F.dense_backward, (D(np.float32), X(np.float32),
                                                        W(np.float32)),
                                     dict(dinputs=buf(2, 3, dtype=np.float32),
                                          dbiases=buf(1, 4))),
     TypeError, r"dbiases must have dtype float32 .*got float64"),
    ("dinputs Fortran", lambda: (F.dense_backward, (D(), X(), W()), dict(dinputs=fortran(2, 3))),
     ValueError, r"dinputs must be C-contiguous"),
    ("dweights strided", lambda: (F.dense_relu_backward, (D(), X(), W(), OUTPUT()),
                                  dict(dweights=strided(3, 4), dbiases=buf(4))),
     ValueError, r"dweights must be C-contiguous"),
    ("dbiases strided", lambda: (F.dense_backward, (D(), X(), W()),
                                 dict(dinputs=buf(2, 3), dbiases=buf(8)[::2])),
     ValueError, r"dbiases must be C-contiguous"),
    ("dinputs read-only", lambda: (F.dense_backward, (D(), X(), W()),
                                   dict(dinputs=read_only(2, 3), dweights=buf(3, 4))),
     ValueError, r"dinputs is read-only"),
    ("dweights read-only", lambda: (F.dense_relu_backward, (D(), X(), W(), OUTPUT()),
                                    dict(dinputs=buf(2, 3), dweights=read_only(3, 4))),
     ValueError, r"dweights is read-only"),
    ("dbiases read-only", lambda: (F.dense_backward, (D(), X(), W()),
                                   dict(dinputs=buf(2, 3), dweights=buf(3, 4),
                                        dbiases=read_only(1, 4))),
     ValueError, r"dbiases is read-only"),
    ("dinputs is inputs", lambda: (lambda x: (F.dense_backward, (D(), x, W()),
                                              dict(dinputs=x)))(X()),
     ValueError, r"dinputs shares memory with inputs"),
    ("dweights is weights", lambda: (lambda w: (F.dense_relu_backward, (D(), X(), w, OUTPUT()),
                                                dict(dinputs=buf(2, 3), dweights=w)))(W()),
     ValueError, r"dweights shares memory with weights"),
    ("dbiases view of dvalues", dbiases_view_of_dvalues,
     ValueError, r"dbiases shares memory with dvalues"),
    ("dweights overlaps dinputs", overlapping_dinputs_dweights,
     ValueError, r"dweights shares memory with dinputs"),
    ("dbiases view of dweights", dbiases_view_of_dweights,
     ValueError, r"dbiases shares memory with dweights"),
    ("dinputs overlaps output", dinputs_view_of_output,
     ValueError, r"dinputs shares memory with output"),
    ("dinputs list", lambda: (F.dense_backward, (D(), X(), W()), dict(dinputs=[[0.0] * 3] * 2)),
     TypeError, r"dinputs must be a numpy.ndarray or None, got list"),
    ("dweights list", lambda: (F.dense_relu_backward, (D(), X(), W(), OUTPUT()),
                               dict(dinputs=buf(2, 3), dweights=[[0.0] * 4] * 3)),
     TypeError, r"dweights must be a numpy.ndarray or None, got list"),
    ("dbiases float", lambda: (F.dense_backward, (D(), X(), W()), dict(dbiases=0.0)),
     TypeError, r"dbiases must be a numpy.ndarray or None, got float"),
]

BAD_DTYPES = [np.int64, np.int32, np.uint8, np.bool_, np.complex128, np.complex64, object,
              np.float16, np.longdouble]


def _bad_dtype_cases():
    cases = []
    for dt in BAD_DTYPES:
        name = np.dtype(dt).name

        def cast(a, dt=dt):
            # Negative floats cast to unsigned set the invalid flag on some CPUs (aarch64),
            # and numpy warns; only the dtype matters here.
            with np.errstate(invalid="ignore"):
                return a.astype(dt)

        cases += [
            (f"dense_forward inputs {name}",
             lambda cast=cast: (F.dense_forward, (cast(X()), W(), B()), {}), "inputs", name),
            (f"dense_relu_forward weights {name}",
             lambda cast=cast: (F.dense_relu_forward, (X(), cast(W()), B()), {}), "weights", name),
            (f"dense_forward biases {name}",
             lambda cast=cast: (F.dense_forward, (X(), W(), cast(B())), {}), "biases", name),
            (f"relu_forward {name}",
             lambda cast=cast: (F.relu_forward, (cast(X()),), {}), "inputs", name),
            (f"relu_backward dvalues {name}",
             lambda cast=cast: (F.relu_backward, (cast(D()), D()), {}), "dvalues", name),
            (f"dense_backward inputs {name}",
             lambda cast=cast: (F.dense_backward, (D(), cast(X()), W()), {}), "inputs", name),
            (f"dense_relu_backward output {name}",
             lambda cast=cast: (F.dense_relu_backward, (D(), X(), W(), cast(OUTPUT())), {}),
             "output", name),
        ]
    # lists of ints are converted to int64, never cast to float
    cases.append(("dense_forward int list",
                  lambda: (F.dense_forward, ([[1, 2, 3]], W(), B()), {}), "inputs", "int64"))
    cases.append(("relu_forward bool list",
                  lambda: (F.relu_forward, ([True, False],), {}), "inputs", "bool"))
    return [(cid, build, TypeError,
             rf"{arg} must have dtype float32 or float64, got {re.escape(dtname)}")
            for cid, build, arg, dtname in cases]


ALL_CASES = CASES + _bad_dtype_cases()


def _arrays_in(args, kwargs):
    found = []
    for value in list(args) + list(kwargs.values()):
        if isinstance(value, np.ndarray):
            found.append(value)
    return found


@pytest.mark.parametrize("case", ALL_CASES, ids=[c[0] for c in ALL_CASES])
def test_functional_bad_input(case):
    _, build, exc, match = case
    func, args, kwargs = build()
    arrays = _arrays_in(args, kwargs)
    before = [a.copy() for a in arrays]
    lists_before = [repr(v) for v in list(args) + list(kwargs.values())
                    if isinstance(v, (list, tuple))]
    with pytest.raises(exc, match=match):
        func(*args, **kwargs)
    # nothing was written: inputs as they were, out buffers still hold the sentinel
    for a, b in zip(arrays, before):
        assert_array_equal(a, b)
    assert lists_before == [repr(v) for v in list(args) + list(kwargs.values())
                            if isinstance(v, (list, tuple))]


def test_dense_relu_backward_output_none_is_not_dense_backward():
    # Passing None for ``output`` must not silently drop the ReLU: with every unit dead the
    # true gradients are all zero, while dense_backward's are not.
    x = np.array([[1.0, -2.0]])
    w = np.array([[1.0], [1.0]])
    d = np.array([[1.0]])
    out = fastbp.dense_relu_forward(x, w, np.zeros(1))
    assert_array_equal(out, [[0.0]])
    with pytest.raises(TypeError, match="output"):
        fastbp.dense_relu_backward(d, x, w, None)


# --- layers -----------------------------------------------------------------------------------

LAYER_CTOR_CASES = [
    ("Dense(0, 3)", lambda: fastbp.Dense(0, 3), ValueError,
     r"n_inputs must be between 1 and 2147483647 .*got 0"),
    ("Dense(3, 0)", lambda: fastbp.Dense(3, 0), ValueError,
     r"n_neurons must be between 1 and 2147483647 .*got 0"),
    ("DenseReLU(-1, 2)", lambda: fastbp.DenseReLU(-1, 2), ValueError,
     r"n_inputs must be between 1 and 2147483647 .*got -1"),
    ("Layer_Dense(0, 0)", lambda: fastbp.Layer_Dense(0, 0), ValueError,
     r"n_inputs must be between 1 and 2147483647 .*got 0"),
    ("dtype int64", lambda: fastbp.Dense(2, 3, dtype=np.int64), TypeError,
     r"dtype must be float32 or float64, got int64"),
    ("dtype float16", lambda: fastbp.DenseReLU(2, 3, dtype=np.float16), TypeError,
     r"dtype must be float32 or float64, got float16"),
    ("dtype complex", lambda: fastbp.Dense(2, 3, dtype=complex), TypeError,
     r"dtype must be float32 or float64, got complex128"),
    ("weight_regularizer_l1 < 0", lambda: fastbp.Dense(2, 3, weight_regularizer_l1=-5e-4),
     ValueError, r"weight_regularizer_l1 must be a number >= 0, got -0.0005"),
    ("weight_regularizer_l2 < 0", lambda: fastbp.Dense(2, 3, 0, -5e-4), ValueError,
     r"weight_regularizer_l2 must be a number >= 0, got -0.0005"),
    ("bias_regularizer_l1 < 0", lambda: fastbp.DenseReLU(2, 3, bias_regularizer_l1=-1),
     ValueError, r"bias_regularizer_l1 must be a number >= 0, got -1"),
    ("bias_regularizer_l2 < 0", lambda: fastbp.Dense(2, 3, 0, 0, 0, -5e-4), ValueError,
     r"bias_regularizer_l2 must be a number >= 0, got -0.0005"),
    ("regularizer NaN", lambda: fastbp.Dense(2, 3, weight_regularizer_l2=float("nan")),
     ValueError, r"weight_regularizer_l2 must be a number >= 0, got nan"),
]


@pytest.mark.parametrize("case", LAYER_CTOR_CASES, ids=[c[0] for c in LAYER_CTOR_CASES])
def test_layer_constructor_bad_input(case):
    _, make, exc, match = case
    with pytest.raises(exc, match=match):
        make()


def _trained(cls, dtype=np.float64):
    """A layer after one forward/backward, with copies of its state to compare against."""
    if cls is fastbp.ReLU:
        layer = cls()
        layer.forward(D(dtype))
        layer.backward(D(dtype))
    else:
        layer = cls(3, 4, 0.1, 0.1, 0.1, 0.1, dtype=dtype, rng=0)
        layer.forward(X(dtype))
        layer.backward(D(dtype))
    return layer


_STATE = ("inputs", "output", "dinputs", "dweights", "dbiases", "weights", "biases")


def _state(layer):
    return {k: (getattr(layer, k), getattr(layer, k).copy())
            for k in _STATE if getattr(layer, k, None) is not None}


def _assert_state_unchanged(layer, state):
    for k, (obj, copy) in state.items():
        assert getattr(layer, k) is obj, k
        assert_array_equal(obj, copy, err_msg=k)


DENSE_CLASSES = [fastbp.Dense, fastbp.DenseReLU]

LAYER_CALL_CASES = [
    # (id, classes, method, argument factory, exception, regex)
    ("forward wrong n_inputs", DENSE_CLASSES, "forward", lambda: np.ones((2, 4)), ValueError,
     r"inputs must have shape \(n_samples, 3\) for this layer's .*got \(2, 4\)"),
    ("forward 1-D", DENSE_CLASSES, "forward", lambda: np.ones(3), ValueError,
     r"inputs must have shape \(n_samples, 3\) .*got \(3,\)"),
    ("forward 3-D", DENSE_CLASSES, "forward", lambda: np.ones((2, 2, 3)), ValueError,
     r"inputs must have shape \(n_samples, 3\) .*got \(2, 2, 3\)"),
    ("forward complex", DENSE_CLASSES + [fastbp.ReLU], "forward",
     lambda: X().astype(complex), TypeError,
     r"inputs must hold real numbers, got dtype complex128"),
    ("forward strings", DENSE_CLASSES + [fastbp.ReLU], "forward",
     lambda: [["a", "b", "c"]], TypeError, r"inputs must hold real numbers, got dtype <U1"),
    ("forward None", DENSE_CLASSES + [fastbp.ReLU], "forward", lambda: None, TypeError,
     r"inputs must be array-like, got None"),
    ("forward ragged", DENSE_CLASSES + [fastbp.ReLU], "forward",
     lambda: [[1.0, 2.0, 3.0], [1.0]], ValueError, r"inputs could not be converted to an array"),
    ("backward wrong shape", DENSE_CLASSES, "backward", lambda: np.ones((2, 3)), ValueError,
     r"dvalues must have the shape of this layer's output \(2, 4\), got \(2, 3\)"),
    ("backward other batch", DENSE_CLASSES, "backward", lambda: np.ones((5, 4)), ValueError,
     r"dvalues must have the shape of this layer's output \(2, 4\), got \(5, 4\)"),
    ("relu backward wrong shape", [fastbp.ReLU], "backward", lambda: np.ones((4, 2)), ValueError,
     r"dvalues must have the shape of this layer's inputs \(2, 4\), got \(4, 2\)"),
    ("backward complex", DENSE_CLASSES + [fastbp.ReLU], "backward",
     lambda: D().astype(complex), TypeError, r"dvalues must hold real numbers, got dtype complex"),
    ("backward None", DENSE_CLASSES + [fastbp.ReLU], "backward", lambda: None, TypeError,
     r"dvalues must be array-like, got None"),
]


def _layer_call_params():
    params = []
    for cid, classes, method, arg, exc, match in LAYER_CALL_CASES:
        for cls in classes:
            params.append(pytest.param(cls, method, arg, exc, match,
                                       id=f"{cls.__name__}.{cid}"))
    return params


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cls, method, arg, exc, match", _layer_call_params())
def test_layer_call_bad_input(cls, method, arg, exc, match, dtype):
    layer = _trained(cls, dtype)
    state = _state(layer)
    value = arg()
    value_copy = value.copy() if isinstance(value, np.ndarray) else repr(value)
    with pytest.raises(exc, match=match):
        getattr(layer, method)(value)
    # the layer kept its arrays and their contents; the argument is untouched
    _assert_state_unchanged(layer, state)
    if isinstance(value, np.ndarray):
        assert_array_equal(value, value_copy)
    else:
        assert repr(value) == value_copy


@pytest.mark.parametrize("cls, name", [(fastbp.Dense, "Dense"), (fastbp.DenseReLU, "DenseReLU"),
                                       (fastbp.ReLU, "ReLU"), (fastbp.Layer_Dense, "Dense"),
                                       (fastbp.Activation_ReLU, "ReLU")])
def test_backward_before_forward(cls, name):
    layer = cls() if name == "ReLU" else cls(3, 4)
    dvalues = D()
    with pytest.raises(RuntimeError, match=rf"{name}\.backward called before forward"):
        layer.backward(dvalues)
    assert layer.dinputs is None
    assert_array_equal(dvalues, D())
    if name != "ReLU":
        assert layer.dweights is None and layer.dbiases is None


@pytest.mark.parametrize("cls", DENSE_CLASSES)
def test_failed_backward_after_failed_forward_keeps_the_good_state(cls):
    # A forward that raised must not leave the layer pointing at the rejected input.
    layer = _trained(cls)
    state = _state(layer)
    with pytest.raises(ValueError, match=r"inputs must have shape \(n_samples, 3\)"):
        layer.forward(np.ones((7, 5)))
    _assert_state_unchanged(layer, state)
    layer.backward(D())  # still the batch of the last good forward
    assert layer.dinputs.shape == (2, 3)


SET_PARAMETERS_CASES = [
    ("biases 1-D", lambda: (W(), B()[0]), ValueError,
     r"biases must have shape \(1, 4\) to match weights \(3, 4\), got \(4,\)"),
    ("biases too long", lambda: (W(), np.zeros((1, 5))), ValueError,
     r"biases must have shape \(1, 4\) .*got \(1, 5\)"),
    ("weights 1-D", lambda: (W()[0], B()), ValueError,
     r"weights must be 2-D \(n_inputs, n_neurons\), got shape \(4,\)"),
    ("weights complex", lambda: (W().astype(complex), B()), TypeError,
     r"weights must hold real numbers, got dtype complex128"),
    ("biases None", lambda: (W(), None), TypeError, r"biases must be array-like, got None"),
]


@pytest.mark.parametrize("case", SET_PARAMETERS_CASES, ids=[c[0] for c in SET_PARAMETERS_CASES])
@pytest.mark.parametrize("cls", DENSE_CLASSES)
def test_set_parameters_bad_input(cls, case):
    _, args, exc, match = case
    layer = cls(3, 4)
    weights, biases = layer.weights, layer.biases
    weights_copy, biases_copy = weights.copy(), biases.copy()
    with pytest.raises(exc, match=match):
        layer.set_parameters(*args())
    assert layer.weights is weights and layer.biases is biases
    assert_array_equal(weights, weights_copy)
    assert_array_equal(biases, biases_copy)


# Parameters assigned directly, the book's way (``layer.weights = ...``), are checked when used.
ASSIGNED_PARAMETER_CASES = [
    ("weights 1-D", dict(weights=np.ones(3)), ValueError,
     r"weights must be 2-D \(n_inputs, n_neurons\), got shape \(3,\)"),
    ("weights 3-D", dict(weights=np.ones((3, 4, 1))), ValueError,
     r"weights must be 2-D \(n_inputs, n_neurons\), got shape \(3, 4, 1\)"),
    ("weights complex", dict(weights=np.ones((3, 4), complex)), TypeError,
     r"weights must hold real numbers, got dtype complex128"),
    ("weights None", dict(weights=None), TypeError, r"weights must be array-like, got None"),
    ("biases too long", dict(biases=np.zeros((1, 5))), ValueError,
     r"biases must have shape \(1, 4\) to match weights \(3, 4\), got \(1, 5\)"),
    ("biases column", dict(biases=np.zeros((4, 1))), ValueError,
     r"biases must have shape \(1, 4\) to match weights \(3, 4\), got \(4, 1\)"),
    ("weights wider than biases", dict(weights=np.ones((3, 5))), ValueError,
     r"biases must have shape \(1, 5\) to match weights \(3, 5\), got \(1, 4\)"),
    ("weights for other inputs", dict(weights=np.ones((2, 4))), ValueError,
     r"inputs must have shape \(n_samples, 2\).*got \(2, 3\)"),
]


@pytest.mark.parametrize("case", ASSIGNED_PARAMETER_CASES,
                         ids=[c[0] for c in ASSIGNED_PARAMETER_CASES])
@pytest.mark.parametrize("cls", DENSE_CLASSES)
def test_assigned_parameters_bad(cls, case):
    _, attrs, exc, match = case
    layer = _trained(cls)
    output, output_copy = layer.output, layer.output.copy()
    inputs = layer.inputs
    for name, value in attrs.items():
        setattr(layer, name, value)
    with pytest.raises(exc, match=match):
        layer.forward(X())
    assert layer.output is output and layer.inputs is inputs
    assert_array_equal(output, output_copy)


@pytest.mark.parametrize("cls", DENSE_CLASSES)
def test_backward_after_weights_changed_shape(cls):
    layer = _trained(cls)
    grads = {k: (getattr(layer, k), getattr(layer, k).copy())
             for k in ("dinputs", "dweights", "dbiases")}
    layer.set_parameters(np.ones((3, 5)), np.zeros((1, 5)))
    with pytest.raises(ValueError, match=r"weights .*\(3, 5\).*\(3, 4\)"):
        layer.backward(D())
    for k, (obj, copy) in grads.items():
        assert getattr(layer, k) is obj
        assert_array_equal(obj, copy, err_msg=k)


@pytest.mark.parametrize("call", [
    lambda m: fastbp.relu_forward(m),
    lambda m: fastbp.dense_forward(m, np.ones((2, 2)), np.zeros(2)),
    lambda m: fastbp.Dense(2, 2).forward(m),
    lambda m: fastbp.ReLU().forward(m),
], ids=["relu_forward", "dense_forward", "Dense", "ReLU"])
def test_masked_arrays_are_refused_not_unmasked(call):
    masked = np.ma.masked_array(np.ones((2, 2)), mask=[[False, True], [False, False]])
    with pytest.raises(TypeError, match=r"inputs is a masked array"):
        call(masked)


# One set of input rules. The functional API's compiled fast check (fastbp/_fastcheck.pyx)
# recognises only the plain case (exact ndarrays of one native float dtype, C-contiguous,
# aligned, matching shapes, free outputs) and hands everything else to the Python rules
# above, which raise. Held to that here case by case: it declines every bad input of the
# table and writes nothing. (A private module: the rule table is what it is tested against.)
_FAST_CHECK = {
    F.dense_forward: lambda inputs, weights, biases, out=None:
        _fastcheck.dense_forward_plain(inputs, weights, biases, out, False),
    F.dense_relu_forward: lambda inputs, weights, biases, out=None:
        _fastcheck.dense_forward_plain(inputs, weights, biases, out, True),
    F.relu_forward: lambda inputs, out=None: _fastcheck.relu_forward_plain(inputs, out),
    F.relu_backward: lambda dvalues, inputs, out=None:
        _fastcheck.relu_backward_plain(dvalues, inputs, out),
    F.dense_backward: lambda dvalues, inputs, weights, dinputs=None, dweights=None,
    dbiases=None: _fastcheck.dense_backward_plain(dvalues, inputs, weights, None, dinputs,
                                                  dweights, dbiases),
    F.dense_relu_backward: lambda dvalues, inputs, weights, output, dinputs=None,
    dweights=None, dbiases=None: (
        None if output is None  # the public function refuses None before asking
        else _fastcheck.dense_backward_plain(dvalues, inputs, weights, output, dinputs,
                                             dweights, dbiases)),
}


@pytest.mark.parametrize("case", ALL_CASES, ids=[c[0] for c in ALL_CASES])
def test_the_fast_check_declines_every_bad_input(case):
    _, build, _, _ = case
    func, args, kwargs = build()
    arrays = _arrays_in(args, kwargs)
    before = [a.copy() for a in arrays]
    assert _FAST_CHECK[func](*args, **kwargs) is None
    for a, b in zip(arrays, before):
        assert_array_equal(a, b)


def test_the_rule_table_covers_every_fast_checked_function():
    assert {build()[0] for _, build, _, _ in ALL_CASES} == set(_FAST_CHECK)
    assert len(ALL_CASES) >= 95
