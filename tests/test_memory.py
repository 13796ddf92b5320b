"""Memory: many calls leave the process's memory flat, and a steady layer loop allocates no
new output arrays.

Each public function runs 100,000 times on small arrays (alternately with out= buffers and
with new outputs, and with a C-contiguous and a non-contiguous input, so that the copy path
runs too), and a small network 10,000 training steps. After a warm-up, memory is measured
before and after:

* tracemalloc: the memory allocated during the run that is still alive at its end (numpy
  reports its array data to tracemalloc too) must stay below TRACED_BOUND = 64 KiB. A leak of
  one byte per call would be 100,000 bytes;
* resident memory (/proc/self/statm, Linux) must grow by less than RSS_BOUND = 4 MiB: a leak
  outside Python's allocators (in the C code, BLAS buffers) of 42 bytes per call would show.

These bounds are sizes, not timings.
"""

import gc
import os
import tracemalloc

import numpy as np
import pytest

import fastbp

CALLS = 100_000
LAYER_STEPS = 10_000
WARMUP = 2_000
TRACED_BOUND = 64 * 1024
RSS_BOUND = 4 * 1024 * 1024


def rss_bytes():
    """Resident set size of this process, or None where /proc is missing."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def measure(step, n, warmup=WARMUP):
    """Run ``step(i)`` for i in range(n) after a warm-up; return (traced growth, RSS growth)."""
    for i in range(warmup):
        step(i)
    gc.collect()
    rss_before = rss_bytes()
    tracemalloc.start()
    try:
        traced_before = tracemalloc.get_traced_memory()[0]
        for i in range(n):
            step(i)
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0] - traced_before
        rss_after = rss_bytes()
    finally:
        tracemalloc.stop()
    rss = None if rss_before is None else rss_after - rss_before
    return traced, rss


def assert_flat(traced, rss, what):
    print(f"{what}: traced memory {traced:+d} B, RSS {rss if rss is None else f'{rss:+d} B'}")
    assert traced < TRACED_BOUND, (
        f"{what}: {traced} bytes allocated during the run are still alive "
        f"(bound {TRACED_BOUND})")
    if rss is not None:
        assert rss < RSS_BOUND, f"{what}: resident memory grew by {rss} bytes (bound {RSS_BOUND})"


def _operands(dtype=np.float64):
    rng = np.random.default_rng(0)
    m, k, n = 4, 3, 5
    X = rng.standard_normal((m, k)).astype(dtype)
    W = rng.standard_normal((k, n)).astype(dtype)
    b = rng.standard_normal(n).astype(dtype)
    D = rng.standard_normal((m, n)).astype(dtype)
    return dict(
        X=X, W=W, b=b, D=D, output=fastbp.dense_relu_forward(X, W, b),
        Xf=np.asfortranarray(X),  # a non-contiguous input: copied on every call
        out=np.empty((m, n), dtype), dX=np.empty((m, k), dtype), dW=np.empty((k, n), dtype),
        db=np.empty((1, n), dtype),
    )


def _function_steps():
    o = _operands()
    W, b, D, output, out = o["W"], o["b"], o["D"], o["output"], o["out"]
    grads = dict(dinputs=o["dX"], dweights=o["dW"], dbiases=o["db"])
    # the input that alternates between C order and Fortran order (copied on each call)
    X2 = (o["X"], o["Xf"])
    D2 = (D, np.asfortranarray(D))
    output2 = (output, np.asfortranarray(output))

    def outs(i, **buffers):  # even calls write into buffers, odd calls allocate outputs
        return buffers if i % 2 == 0 else {}

    def layout(i):
        return i // 2 % 2

    return {
        "dense_forward":
            lambda i: fastbp.dense_forward(X2[layout(i)], W, b, **outs(i, out=out)),
        "dense_relu_forward":
            lambda i: fastbp.dense_relu_forward(X2[layout(i)], W, b, **outs(i, out=out)),
        "relu_forward":
            lambda i: fastbp.relu_forward(D2[layout(i)], **outs(i, out=out)),
        "relu_backward":
            lambda i: fastbp.relu_backward(D, output2[layout(i)], **outs(i, out=out)),
        "dense_backward":
            lambda i: fastbp.dense_backward(D, X2[layout(i)], W, **outs(i, **grads)),
        "dense_relu_backward":
            lambda i: fastbp.dense_relu_backward(D2[layout(i)], X2[layout(i)], W, output,
                                                 **outs(i, **grads)),
    }


FUNCTIONS = ["dense_forward", "dense_relu_forward", "relu_forward", "relu_backward",
             "dense_backward", "dense_relu_backward"]


@pytest.mark.slow
@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_calls_leave_memory_flat(name):
    step = _function_steps()[name]
    traced, rss = measure(step, CALLS)
    assert_flat(traced, rss, f"{CALLS} calls of {name}")


def _network(dtype=np.float64):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((32, 2)).astype(dtype)
    Y = rng.standard_normal((32, 3)).astype(dtype)
    layers = [fastbp.DenseReLU(2, 16, 0, 5e-4, dtype=dtype, rng=1),
              fastbp.Dense(16, 8, dtype=dtype, rng=2), fastbp.ReLU(),
              fastbp.Dense(8, 3, 1e-4, 0, 1e-4, 0, dtype=dtype, rng=3)]
    return X, Y, layers


def train_step(X, Y, layers, lr=0.01):
    """One step of SGD through the layers, updating parameters in place."""
    inputs = X
    for layer in layers:
        inputs = layer.forward(inputs)
    dvalues = (inputs - Y) * (2 / Y.size)
    for layer in reversed(layers):
        layer.backward(dvalues)
        dvalues = layer.dinputs
    for layer in layers:
        if hasattr(layer, "weights"):
            layer.weights -= lr * layer.dweights
            layer.biases -= lr * layer.dbiases


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_layer_steps_leave_memory_flat(dtype):
    X, Y, layers = _network(dtype)
    Xf = np.asfortranarray(X)  # every other step: converted by the layer (a new array)
    traced, rss = measure(lambda i: train_step((X, Xf)[i % 2], Y, layers), LAYER_STEPS,
                          warmup=500)
    assert_flat(traced, rss, f"{LAYER_STEPS} layer steps, {np.dtype(dtype).name}")


# --- a steady loop reuses its arrays ------------------------------------------------------

_OUTPUTS = ("output", "dinputs", "dweights", "dbiases")


def _arrays_of(layer):
    return {name: getattr(layer, name) for name in _OUTPUTS if hasattr(layer, name)}


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_steady_loop_returns_the_same_arrays(dtype):
    X, Y, layers = _network(dtype)
    train_step(X, Y, layers)
    first = [_arrays_of(layer) for layer in layers]
    for step in range(200):
        train_step(X, Y, layers)
        for layer, arrays in zip(layers, first):
            for name, array in arrays.items():
                assert getattr(layer, name) is array, (
                    f"step {step}: {type(layer).__name__}.{name} is a new array")


@pytest.mark.parametrize("cls", [fastbp.Dense, fastbp.DenseReLU, fastbp.ReLU],
                         ids=["Dense", "DenseReLU", "ReLU"])
def test_steady_step_allocates_no_array(cls):
    """A forward+backward step on a steady batch allocates nothing as large as an output.

    Every output here is a 64x64 float64 array (32 KiB); the step's peak of traced memory
    above what was alive before it must stay below 8 KiB (Python's own small objects)."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((64, 64))
    D = rng.standard_normal((64, 64))
    layer = cls() if cls is fastbp.ReLU else cls(64, 64, 1e-3, 1e-3, 1e-3, 1e-3, rng=0)
    for _ in range(3):
        layer.forward(X)
        layer.backward(D)
    arrays = _arrays_of(layer)
    gc.collect()
    tracemalloc.start()
    try:
        for _ in range(10):
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            layer.forward(X)
            layer.backward(D)
            peak = tracemalloc.get_traced_memory()[1] - before
            assert peak < 8 * 1024, f"{cls.__name__}: a step allocated {peak} bytes at its peak"
    finally:
        tracemalloc.stop()
    for name, array in arrays.items():
        assert getattr(layer, name) is array, f"{cls.__name__}.{name} is a new array"
