"""A table of bad calls across the API, each raising ValueError or TypeError naming the argument.

Each row: an id, a builder returning ``(callable, args, kwargs)``, the exception type, the
argument the message must name (as a word), and a regex the message must match. The table
covers wrong ndim, wrong or mismatched shapes, int/bool/complex/object/float16 dtypes, layer
constructor arguments of the wrong kind, mixed float32/float64, None, scalars, ragged lists,
out= buffers that are too small, non-contiguous, read-only, of the wrong dtype or kind
(masked) or overlapping an input, and dimensions beyond what BLAS can index (zero-stride
views of 2**31 rows: no memory behind them; and layers of 2**31 inputs or neurons, which must
be refused before their weights are allocated).

Every row runs twice:

* all rows once in a subprocess (``test_matrix_in_subprocess``), so that a crash in compiled
  code fails that test instead of killing the test run. The subprocess prints each row's id
  before running it: a row that crashed it is not run again in-process, it fails at once;
* each row in-process (``test_bad_call``), under an address-space limit of the current size
  plus 1 GiB (Linux), so that a check that comes too late (after copying a huge zero-stride
  view, say) fails with MemoryError instead of filling the machine's memory.

Run ``python tests/test_bad_input_matrix.py`` to run the table alone, outside pytest.
"""

import contextlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided

import fastbp


def _load_helpers():
    """tests/test_bad_input.py, for its standard operands and buffer makers."""
    name = "_fastbp_test_bad_input_helpers"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).with_name("test_bad_input.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_h = _load_helpers()
# inputs (2, 3), weights (3, 4), biases (1, 4), dvalues and output (2, 4)
X, W, B, D, OUTPUT = _h.X, _h.W, _h.B, _h.D, _h.OUTPUT
buf, fortran, strided, read_only = _h.buf, _h.fortran, _h.strided, _h.read_only
overlapping_pair = _h.overlapping_pair
F = fastbp
BIG = 2**31  # one more than BLAS's 32-bit ints can index
BLAS_LIMIT = r"must be at most 2147483647"


def huge(*shape, dtype=np.float64):
    """A zero-stride view of one element with ``shape``: any size, no memory."""
    return as_strided(np.ones(1, dtype=dtype), shape=shape, strides=(0,) * len(shape),
                      writeable=False)


def negative(*shape):
    full = buf(*shape)
    return full[::-1, ::-1]


def trained(cls, dtype=np.float64):
    """A layer after one forward pass, ready for backward."""
    if cls is F.ReLU:
        layer = cls()
        layer.forward(D(dtype))
    else:
        layer = cls(3, 4, dtype=dtype, rng=0)
        layer.forward(X(dtype))
    return layer


def same_buffer(func, shape_in, shape_out, offset, make_args, out_name="out"):
    """A call whose output buffer overlaps (starts ``offset`` elements into) one input."""
    def build():
        inp, out = overlapping_pair(shape_in, shape_out, offset)
        inp[...] = 1.0
        return func, make_args(inp), {out_name: out}
    return build


# (id, builder -> (callable, args, kwargs), exception, argument named, regex on the message)
ROWS = [
    # --- wrong number of dimensions
    ("dense_forward inputs 3-D", lambda: (F.dense_forward, (X()[None], W(), B()), {}),
     ValueError, "inputs", r"must be 2-D .*got shape \(1, 2, 3\)"),
    ("dense_relu_forward weights 1-D", lambda: (F.dense_relu_forward, (X(), W()[:, 0], B()), {}),
     ValueError, "weights", r"must be 2-D .*got shape \(3,\)"),
    ("dense_backward dvalues 3-D", lambda: (F.dense_backward, (D()[..., None], X(), W()), {}),
     ValueError, "dvalues", r"must have shape .*\(2, 4\).*got \(2, 4, 1\)"),
    ("dense_relu_backward output 3-D",
     lambda: (F.dense_relu_backward, (D(), X(), W(), OUTPUT()[None]), {}),
     ValueError, "output", r"must have shape .*\(2, 4\).*got \(1, 2, 4\)"),
    ("relu_backward inputs other ndim", lambda: (F.relu_backward, (D(), D()[..., None]), {}),
     ValueError, "dvalues", r"must have the shape of inputs \(2, 4, 1\), got \(2, 4\)"),
    ("Dense.forward inputs 1-D", lambda: (F.Dense(3, 4).forward, (X()[0],), {}),
     ValueError, "inputs", r"must have shape \(n_samples, 3\).*got \(3,\)"),
    ("DenseReLU.forward inputs 3-D", lambda: (F.DenseReLU(3, 4).forward, (X()[None],), {}),
     ValueError, "inputs", r"must have shape \(n_samples, 3\).*got \(1, 2, 3\)"),
    ("Dense.set_parameters weights 3-D",
     lambda: (F.Dense(3, 4).set_parameters, (W()[None], B()), {}),
     ValueError, "weights", r"must be 2-D .*got shape \(1, 3, 4\)"),

    # --- wrong or mismatched shapes
    ("dense_forward weights rows", lambda: (F.dense_forward, (X(), W()[:2], B()), {}),
     ValueError, "weights", r"must have shape \(3, n_neurons\).*got \(2, 4\)"),
    ("dense_relu_forward biases length",
     lambda: (F.dense_relu_forward, (X(), W(), np.zeros(3)), {}),
     ValueError, "biases", r"must have shape \(1, 4\) or \(4,\).*got \(3,\)"),
    ("dense_backward dvalues columns", lambda: (F.dense_backward, (D()[:, :3], X(), W()), {}),
     ValueError, "dvalues", r"must have shape .*\(2, 4\).*got \(2, 3\)"),
    ("dense_relu_backward output rows",
     lambda: (F.dense_relu_backward, (D(), X(), W(), OUTPUT()[:1]), {}),
     ValueError, "output", r"must have shape .*\(2, 4\).*got \(1, 4\)"),
    ("relu_backward shapes differ", lambda: (F.relu_backward, (D()[:1], D()), {}),
     ValueError, "dvalues", r"must have the shape of inputs \(2, 4\), got \(1, 4\)"),
    ("Dense.backward dvalues shape", lambda: (trained(F.Dense).backward, (D()[:, :3],), {}),
     ValueError, "dvalues", r"shape of this layer's output \(2, 4\), got \(2, 3\)"),
    ("ReLU.backward dvalues shape", lambda: (trained(F.ReLU).backward, (D().T,), {}),
     ValueError, "dvalues", r"shape of this layer's inputs \(2, 4\), got \(4, 2\)"),
    ("Dense.set_parameters biases shape",
     lambda: (F.DenseReLU(3, 4).set_parameters, (W(), np.zeros((1, 3))), {}),
     ValueError, "biases", r"must have shape \(1, 4\).*got \(1, 3\)"),

    # --- dtypes where floats are required
    ("dense_forward inputs int64", lambda: (F.dense_forward, (X().astype(np.int64), W(), B()), {}),
     TypeError, "inputs", r"must have dtype float32 or float64, got int64"),
    ("dense_relu_forward weights bool",
     lambda: (F.dense_relu_forward, (X(), W().astype(bool), B()), {}),
     TypeError, "weights", r"must have dtype float32 or float64, got bool"),
    ("dense_forward biases complex128",
     lambda: (F.dense_forward, (X(), W(), B().astype(np.complex128)), {}),
     TypeError, "biases", r"must have dtype float32 or float64, got complex128"),
    ("relu_forward object", lambda: (F.relu_forward, (X().astype(object),), {}),
     TypeError, "inputs", r"must have dtype float32 or float64, got object"),
    ("relu_backward dvalues float16", lambda: (F.relu_backward, (D(np.float16), D()), {}),
     TypeError, "dvalues", r"must have dtype float32 or float64, got float16"),
    ("dense_backward weights int32",
     lambda: (F.dense_backward, (D(), X(), W().astype(np.int32)), {}),
     TypeError, "weights", r"must have dtype float32 or float64, got int32"),
    ("dense_relu_backward dvalues complex64",
     lambda: (F.dense_relu_backward, (D().astype(np.complex64), X(), W(), OUTPUT()), {}),
     TypeError, "dvalues", r"must have dtype float32 or float64, got complex64"),
    ("dense_relu_backward output float16",
     lambda: (F.dense_relu_backward, (D(), X(), W(), OUTPUT(np.float16)), {}),
     TypeError, "output", r"must have dtype float32 or float64, got float16"),
    ("Dense.forward complex", lambda: (F.Dense(3, 4).forward, (X().astype(complex),), {}),
     TypeError, "inputs", r"must hold real numbers, got dtype complex128"),
    ("ReLU.forward object", lambda: (F.ReLU().forward, (D().astype(object),), {}),
     TypeError, "inputs", r"must hold real numbers, got dtype object"),
    ("DenseReLU.backward complex",
     lambda: (trained(F.DenseReLU).backward, (D().astype(np.complex64),), {}),
     TypeError, "dvalues", r"must hold real numbers, got dtype complex64"),
    ("Dense dtype float16", lambda: (F.Dense, (3, 4), dict(dtype=np.float16)),
     TypeError, "dtype", r"must be float32 or float64, got float16"),
    ("DenseReLU dtype int64", lambda: (F.DenseReLU, (3, 4), dict(dtype=np.int64)),
     TypeError, "dtype", r"must be float32 or float64, got int64"),

    # --- layer constructor arguments of the wrong kind
    ("Dense(3.0, 4)", lambda: (F.Dense, (3.0, 4), {}),
     TypeError, "n_inputs", r"n_inputs"),
    ("Dense(None, 4)", lambda: (F.Dense, (None, 4), {}),
     TypeError, "n_inputs", r"n_inputs"),
    ("DenseReLU(3, '4')", lambda: (F.DenseReLU, (3, "4"), {}),
     TypeError, "n_neurons", r"n_neurons"),
    ("Dense weight_regularizer_l2 string",
     lambda: (F.Dense, (3, 4), dict(weight_regularizer_l2="abc")),
     TypeError, "weight_regularizer_l2", r"weight_regularizer_l2"),
    ("DenseReLU bias_regularizer_l1 None",
     lambda: (F.DenseReLU, (3, 4), dict(bias_regularizer_l1=None)),
     TypeError, "bias_regularizer_l1", r"bias_regularizer_l1"),
    ("Dense dtype unknown", lambda: (F.Dense, (3, 4), dict(dtype="x")),
     TypeError, "dtype", r"dtype"),

    # --- float32 mixed with float64
    ("dense_forward inputs float32", lambda: (F.dense_forward, (X(np.float32), W(), B()), {}),
     TypeError, "inputs", r"share one dtype.*inputs float32, weights float64, biases float64"),
    ("dense_backward weights float32", lambda: (F.dense_backward, (D(), X(), W(np.float32)), {}),
     TypeError, "weights", r"dvalues float64, inputs float64, weights float32"),
    ("relu_backward inputs float32", lambda: (F.relu_backward, (D(), D(np.float32)), {}),
     TypeError, "inputs", r"dvalues float64, inputs float32"),
    ("dense_relu_backward output float32",
     lambda: (F.dense_relu_backward, (D(), X(), W(), OUTPUT(np.float32)), {}),
     TypeError, "output", r"weights float64, output float32"),

    # --- None
    ("dense_forward biases None", lambda: (F.dense_forward, (X(), W(), None), {}),
     TypeError, "biases", r"must be an array of float32 or float64, got None"),
    ("dense_backward weights None", lambda: (F.dense_backward, (D(), X(), None), {}),
     TypeError, "weights", r"got None"),
    ("relu_backward dvalues None", lambda: (F.relu_backward, (None, D()), {}),
     TypeError, "dvalues", r"got None"),
    ("dense_relu_backward output None",
     lambda: (F.dense_relu_backward, (D(), X(), W(), None), {}),
     TypeError, "output", r"got None"),
    ("Dense.forward None", lambda: (F.Dense(3, 4).forward, (None,), {}),
     TypeError, "inputs", r"must be array-like, got None"),
    ("ReLU.backward None", lambda: (trained(F.ReLU).backward, (None,), {}),
     TypeError, "dvalues", r"must be array-like, got None"),

    # --- scalars
    ("dense_forward inputs float", lambda: (F.dense_forward, (1.0, W(), B()), {}),
     ValueError, "inputs", r"must be 2-D .*got shape \(\)"),
    ("dense_relu_forward weights numpy scalar",
     lambda: (F.dense_relu_forward, (X(), np.float64(2.0), B()), {}),
     ValueError, "weights", r"must be 2-D .*got shape \(\)"),
    ("relu_forward int", lambda: (F.relu_forward, (3,), {}),
     TypeError, "inputs", r"must have dtype float32 or float64, got int64"),
    ("relu_backward dvalues scalar", lambda: (F.relu_backward, (1.0, D()), {}),
     ValueError, "dvalues", r"must have the shape of inputs \(2, 4\), got \(\)"),
    ("dense_backward dvalues scalar", lambda: (F.dense_backward, (0.5, X(), W()), {}),
     ValueError, "dvalues", r"must have shape .*\(2, 4\).*got \(\)"),
    ("Dense.forward scalar", lambda: (F.Dense(3, 4).forward, (1.5,), {}),
     ValueError, "inputs", r"must have shape \(n_samples, 3\).*got \(\)"),
    ("dense_forward out scalar", lambda: (F.dense_forward, (X(), W(), B()), dict(out=0.0)),
     TypeError, "out", r"must be a numpy.ndarray or None, got float"),

    # --- ragged lists
    ("dense_forward ragged inputs",
     lambda: (F.dense_forward, ([[1.0, 2.0, 3.0], [4.0]], W(), B()), {}),
     ValueError, "inputs", r"could not be converted to an array"),
    ("dense_relu_backward ragged dvalues",
     lambda: (F.dense_relu_backward, ([[1.0] * 4, [1.0] * 3], X(), W(), OUTPUT()), {}),
     ValueError, "dvalues", r"could not be converted to an array"),
    ("relu_backward ragged inputs",
     lambda: (F.relu_backward, (D(), [[1.0, 2.0], [3.0]]), {}),
     ValueError, "inputs", r"could not be converted to an array"),
    ("DenseReLU.forward ragged", lambda: (F.DenseReLU(3, 4).forward, ([[1.0] * 3, [1.0]],), {}),
     ValueError, "inputs", r"could not be converted to an array"),
    ("Dense.set_parameters ragged biases",
     lambda: (F.Dense(3, 4).set_parameters, (W(), [[0.0] * 4, [0.0]]), {}),
     ValueError, "biases", r"could not be converted to an array"),

    # --- out= buffers too small
    ("dense_forward out one row", lambda: (F.dense_forward, (X(), W(), B()), dict(out=buf(1, 4))),
     ValueError, "out", r"must have shape \(2, 4\), got \(1, 4\)"),
    ("relu_forward out too small", lambda: (F.relu_forward, (X(),), dict(out=buf(2, 2))),
     ValueError, "out", r"must have shape \(2, 3\), got \(2, 2\)"),
    ("relu_backward out empty", lambda: (F.relu_backward, (D(), D()), dict(out=buf(0, 4))),
     ValueError, "out", r"must have shape \(2, 4\), got \(0, 4\)"),
    ("dense_backward dinputs one row",
     lambda: (F.dense_backward, (D(), X(), W()), dict(dinputs=buf(1, 3))),
     ValueError, "dinputs", r"must have shape \(2, 3\), got \(1, 3\)"),
    ("dense_relu_backward dweights too small",
     lambda: (F.dense_relu_backward, (D(), X(), W(), OUTPUT()), dict(dweights=buf(2, 4))),
     ValueError, "dweights", r"must have shape \(3, 4\), got \(2, 4\)"),
    ("dense_backward dbiases too small",
     lambda: (F.dense_backward, (D(), X(), W()), dict(dbiases=buf(3))),
     ValueError, "dbiases", r"must have shape \(1, 4\) or \(4,\), got \(3,\)"),

    # --- out= buffers not C-contiguous
    ("dense_relu_forward out Fortran",
     lambda: (F.dense_relu_forward, (X(), W(), B()), dict(out=fortran(2, 4))),
     ValueError, "out", r"must be C-contiguous"),
    ("relu_backward out strided", lambda: (F.relu_backward, (D(), D()), dict(out=strided(2, 4))),
     ValueError, "out", r"must be C-contiguous"),
    ("dense_backward dweights negative strides",
     lambda: (F.dense_backward, (D(), X(), W()), dict(dweights=negative(3, 4))),
     ValueError, "dweights", r"must be C-contiguous"),
    ("dense_relu_backward dinputs transposed",
     lambda: (F.dense_relu_backward, (D(), X(), W(), OUTPUT()), dict(dinputs=buf(3, 2).T)),
     ValueError, "dinputs", r"must be C-contiguous"),

    # --- out= buffers read-only
    ("dense_forward out read-only",
     lambda: (F.dense_forward, (X(), W(), B()), dict(out=read_only(2, 4))),
     ValueError, "out", r"is read-only"),
    ("relu_forward out read-only", lambda: (F.relu_forward, (X(),), dict(out=read_only(2, 3))),
     ValueError, "out", r"is read-only"),
    ("dense_relu_backward dbiases read-only",
     lambda: (F.dense_relu_backward, (D(), X(), W(), OUTPUT()), dict(dbiases=read_only(4))),
     ValueError, "dbiases", r"is read-only"),

    # --- out= buffers of the wrong dtype
    ("dense_relu_forward out float32",
     lambda: (F.dense_relu_forward, (X(), W(), B()), dict(out=buf(2, 4, dtype=np.float32))),
     TypeError, "out", r"must have dtype float64 to match the inputs, got float32"),
    ("relu_forward out int64",
     lambda: (F.relu_forward, (X(),), dict(out=buf(2, 3, dtype=np.int64))),
     TypeError, "out", r"must have dtype float64 .*got int64"),
    ("dense_backward dinputs float16",
     lambda: (F.dense_backward, (D(), X(), W()), dict(dinputs=buf(2, 3, dtype=np.float16))),
     TypeError, "dinputs", r"must have dtype float64 .*got float16"),
    ("dense_relu_backward dbiases complex",
     lambda: (F.dense_relu_backward, (D(), X(), W(), OUTPUT()),
              dict(dbiases=buf(1, 4, dtype=np.complex128))),
     TypeError, "dbiases", r"must have dtype float64 .*got complex128"),
    ("relu_backward out float64 for float32",
     lambda: (F.relu_backward, (D(np.float32), D(np.float32)), dict(out=buf(2, 4))),
     TypeError, "out", r"must have dtype float32 .*got float64"),

    # --- out= buffers of the wrong kind (masked inputs are refused; a masked out= would keep
    # its mask over the results)
    ("dense_forward out masked array",
     lambda: (F.dense_forward, (X(), W(), B()), dict(out=np.ma.zeros((2, 4)))),
     TypeError, "out", r"masked"),
    ("relu_forward out masked array",
     lambda: (F.relu_forward, (X(),), dict(out=np.ma.zeros((2, 3)))),
     TypeError, "out", r"masked"),

    # --- out= buffers overlapping an input
    ("dense_relu_forward out overlaps inputs",
     same_buffer(F.dense_relu_forward, (2, 4), (2, 4), 3,
                 lambda inp: (inp, np.eye(4), np.zeros(4))),
     ValueError, "out", r"shares memory with inputs"),
    ("relu_forward out shifted view of inputs",
     same_buffer(F.relu_forward, (2, 4), (2, 4), 1, lambda inp: (inp,)),
     ValueError, "out", r"shares memory with inputs"),
    ("relu_backward out is inputs",
     lambda: (lambda z: (F.relu_backward, (D(), z), dict(out=z)))(OUTPUT()),
     ValueError, "out", r"shares memory with inputs"),
    ("dense_backward dweights is weights",
     lambda: (lambda w: (F.dense_backward, (D(), X(), w), dict(dweights=w)))(W()),
     ValueError, "dweights", r"shares memory with weights"),
    ("dense_relu_backward dinputs overlaps dvalues",
     same_buffer(F.dense_relu_backward, (2, 4), (2, 3), 2,
                 lambda d: (d, X(), W(), OUTPUT()), out_name="dinputs"),
     ValueError, "dinputs", r"shares memory with dvalues"),
    ("dense_relu_backward dweights overlaps output",
     same_buffer(F.dense_relu_backward, (2, 4), (3, 4), 5,
                 lambda o: (D(), X(), W(), o), out_name="dweights"),
     ValueError, "dweights", r"shares memory with output"),
    ("dense_backward dbiases inside dinputs",
     lambda: (lambda dx: (F.dense_backward, (D(np.float64), np.ones((2, 4)), np.eye(4)),
                          dict(dinputs=dx, dbiases=dx[1])))(buf(2, 4)),
     ValueError, "dbiases", r"shares memory with dinputs"),

    # --- dimensions beyond what BLAS can index (zero-stride views: no memory behind them)
    ("dense_forward inputs 2**31 rows",
     lambda: (F.dense_forward, (huge(BIG, 1), np.ones((1, 4)), np.zeros(4)), {}),
     ValueError, "inputs", BLAS_LIMIT),
    ("dense_relu_forward weights 2**31 columns",
     lambda: (F.dense_relu_forward, (np.ones((2, 1)), huge(1, BIG), huge(BIG)), {}),
     ValueError, "weights", BLAS_LIMIT),
    ("dense_forward inputs 2**31 columns",
     lambda: (F.dense_forward, (huge(2, BIG), huge(BIG, 3), np.zeros(3)), {}),
     ValueError, "inputs", BLAS_LIMIT),
    ("dense_backward 2**31 inputs",
     lambda: (F.dense_backward, (np.ones((2, 1)), huge(2, BIG), huge(BIG, 1)), {}),
     ValueError, "inputs", BLAS_LIMIT),
    ("dense_relu_backward 2**31 samples",
     lambda: (F.dense_relu_backward, (huge(BIG, 2), huge(BIG, 1), np.ones((1, 2)),
                                      huge(BIG, 2)), {}),
     ValueError, "inputs", BLAS_LIMIT),
    ("dense_forward float32 2**31 rows",
     lambda: (F.dense_forward, (huge(BIG, 2, dtype=np.float32), np.ones((2, 2), np.float32),
                                np.zeros(2, np.float32)), {}),
     ValueError, "inputs", BLAS_LIMIT),
    ("Dense.forward 2**31 samples", lambda: (F.Dense(1, 2).forward, (huge(BIG, 1),), {}),
     ValueError, "inputs", BLAS_LIMIT),
    ("DenseReLU.forward float32 layer, float64 2**31 samples",
     lambda: (F.DenseReLU(1, 2, dtype=np.float32).forward, (huge(BIG, 1),), {}),
     ValueError, "inputs", BLAS_LIMIT),
    ("Dense.set_parameters weights 2**31 rows",
     lambda: (F.Dense(1, 2).set_parameters, (huge(BIG, 2), np.zeros((1, 2))), {}),
     ValueError, "weights", BLAS_LIMIT),
    ("Dense(2**31, 1)", lambda: (F.Dense, (BIG, 1), {}),
     ValueError, "n_inputs", r"2147483647|2\*\*31"),
    ("DenseReLU(1, 2**31)", lambda: (F.DenseReLU, (1, BIG), {}),
     ValueError, "n_neurons", r"2147483647|2\*\*31"),
]

assert len(ROWS) >= 40
assert len({row[0] for row in ROWS}) == len(ROWS), "row ids must be unique"


# --- running one row ---------------------------------------------------------------------------

EXTRA_ADDRESS_SPACE = 2**30


@contextlib.contextmanager
def address_space_limit(extra=EXTRA_ADDRESS_SPACE):
    """Limit this process's address space to its current size + ``extra`` (Linux only):
    an allocation of gigabytes raises MemoryError instead of eating the machine's memory."""
    try:
        import resource
        limit_kind = resource.RLIMIT_AS
        with open("/proc/self/statm") as f:
            current = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (ImportError, AttributeError, OSError, ValueError):
        yield
        return
    soft, hard = resource.getrlimit(limit_kind)
    limit = current + extra
    for old in (soft, hard):
        if old != resource.RLIM_INFINITY:
            limit = min(limit, old)
    resource.setrlimit(limit_kind, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(limit_kind, (soft, hard))


def _arrays_in(values):
    return [v for v in values if isinstance(v, np.ndarray)]


def check_row(row):
    """Run one row; raise AssertionError saying what went wrong."""
    row_id, build, exc, arg, pattern = row
    func, args, kwargs = build()
    arrays = _arrays_in(list(args) + list(kwargs.values()))
    # zero-stride views stand for huge arrays: snapshot only what is really there
    before = [(a, a.copy()) for a in arrays if a.size <= 10**6]
    try:
        with address_space_limit():
            func(*args, **kwargs)
    except (TypeError, ValueError) as e:
        error = e
    except MemoryError as e:
        raise AssertionError(f"{row_id}: tried to allocate instead of raising "
                             f"{exc.__name__}: MemoryError: {e}") from None
    except Exception as e:
        raise AssertionError(f"{row_id}: expected {exc.__name__}, got "
                             f"{type(e).__name__}: {e}") from None
    else:
        raise AssertionError(f"{row_id}: no exception raised (expected {exc.__name__})")
    message = str(error)
    if not isinstance(error, exc):
        raise AssertionError(f"{row_id}: expected {exc.__name__}, got "
                             f"{type(error).__name__}: {message}")
    if not re.search(rf"\b{re.escape(arg)}\b", message):
        raise AssertionError(f"{row_id}: message does not name {arg!r}: {message!r}")
    if not re.search(pattern, message):
        raise AssertionError(f"{row_id}: message {message!r} does not match {pattern!r}")
    for a, copy in before:
        same = (np.array_equal(a, copy) if a.dtype.hasobject
                else a.tobytes() == copy.tobytes())
        if not same:
            raise AssertionError(f"{row_id}: an argument was modified")


def main():
    """Run every row, printing its id first (so a crash names the row); exit status 1 if any
    row failed."""
    failed = 0
    for row in ROWS:
        print(f"RUN {row[0]}", flush=True)
        try:
            check_row(row)
        except AssertionError as e:
            failed += 1
            print(f"FAIL {e}", flush=True)
        else:
            print(f"OK {row[0]}", flush=True)
    print(f"{len(ROWS) - failed} of {len(ROWS)} rows passed", flush=True)
    return 1 if failed else 0


# --- the tests ---------------------------------------------------------------------------------

_subprocess_result = {}


def run_matrix_in_subprocess(tmp_dir):
    """Run the whole table in a fresh interpreter (once per session); returns the result."""
    if "result" not in _subprocess_result:
        code = (
            "import importlib.util, sys\n"
            "spec = importlib.util.spec_from_file_location(\n"
            f"    'bad_input_matrix', {str(Path(__file__))!r})\n"
            "module = importlib.util.module_from_spec(spec)\n"
            "spec.loader.exec_module(module)\n"
            "sys.exit(module.main())\n"
        )
        # Run outside the checkout: "import fastbp" must find the installed package, not
        # the source folder (which has no compiled extension in a non-editable install).
        _subprocess_result["result"] = subprocess.run(
            [sys.executable, "-X", "faulthandler", "-c", code], cwd=tmp_dir,
            capture_output=True, text=True, timeout=600,
        )
    return _subprocess_result["result"]


def _crashed_row(result):
    """The id of the row the subprocess was running when it died, or None."""
    if result.returncode >= 0:
        return None
    started = [line[4:] for line in result.stdout.splitlines() if line.startswith("RUN ")]
    return started[-1] if started else "(before the first row)"


def test_matrix_in_subprocess(tmp_path_factory):
    result = run_matrix_in_subprocess(tmp_path_factory.mktemp("bad_input_matrix"))
    summary = "\n".join(line for line in result.stdout.splitlines()
                        if not line.startswith(("RUN ", "OK ")))
    if result.returncode < 0:
        pytest.fail(f"the subprocess was killed by signal {-result.returncode} while running "
                    f"row {_crashed_row(result)!r}\n{summary}\n{result.stderr[-3000:]}")
    assert result.returncode == 0, f"{summary}\n{result.stderr[-3000:]}"
    assert f"{len(ROWS)} of {len(ROWS)} rows passed" in result.stdout


@pytest.mark.parametrize("row", ROWS, ids=[row[0] for row in ROWS])
def test_bad_call(row, tmp_path_factory):
    result = run_matrix_in_subprocess(tmp_path_factory.mktemp("bad_input_matrix"))
    if _crashed_row(result) == row[0]:
        pytest.fail(f"this row killed the subprocess (signal {-result.returncode}); "
                    "not run in-process")
    check_row(row)


def test_matrix_covers_every_public_callable():
    names = {row[0].split(" ")[0].split(".")[0].split("(")[0] for row in ROWS}
    for public in ("dense_forward", "dense_relu_forward", "relu_forward", "relu_backward",
                   "dense_backward", "dense_relu_backward", "Dense", "DenseReLU", "ReLU"):
        assert public in names, public


if __name__ == "__main__":
    sys.exit(main())
