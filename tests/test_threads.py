"""Threads: the kernels release the GIL, and separate layers (or functional calls on separate
outputs) in several threads give exactly what they give one after another.

README, Threads: a layer object holds per-call state and is not shared across threads;
separate layers and the functional API can run in several threads at once.
"""

import sys
import threading
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import fastbp

N_THREADS = 4
STEPS = 1000

# (dtype, n_samples, n_inputs, hidden, n_outputs, seed): two networks whose products go
# through BLAS (more than 512 multiply-adds), two through the plain loops.
NETWORKS = [
    (np.float64, 64, 2, 32, 3, 11),
    (np.float32, 64, 2, 32, 3, 12),
    (np.float64, 8, 3, 4, 2, 13),
    (np.float32, 16, 5, 6, 4, 14),
]


def _bits(arrays):
    """Arrays as bytes with dtype and shape: equal means bit for bit equal."""
    return [(a.dtype.str, a.shape, a.tobytes()) for a in arrays]


def train(config, steps=STEPS, shared_data=None, barrier=None):
    """``steps`` of SGD on a DenseReLU + Dense network of its own; returns its final state."""
    dtype, m, k, h, n, seed = config
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, k)).astype(dtype)
    Y = rng.standard_normal((m, n)).astype(dtype)
    if shared_data is not None:
        X, Y = shared_data
    hidden = fastbp.DenseReLU(k, h, 0, 5e-4, dtype=dtype, rng=seed)
    out = fastbp.Dense(h, n, dtype=dtype, rng=seed + 1000)
    hidden.biases[...] = 0.01  # start with live units
    lr = dtype(0.05)
    if barrier is not None:
        barrier.wait()  # all threads start their loops together
    for _ in range(steps):
        hidden.forward(X)
        out.forward(hidden.output)
        dvalues = (out.output - Y) * dtype(2 / Y.size)  # mean squared error
        out.backward(dvalues)
        hidden.backward(out.dinputs)
        for layer in (hidden, out):
            layer.weights -= lr * layer.dweights
            layer.biases -= lr * layer.dbiases
    return _bits([hidden.weights, hidden.biases, out.weights, out.biases, out.output,
                  hidden.dinputs, hidden.dweights])


def run_in_threads(target, args_list):
    """Run target(*args, barrier=...) in one thread per args; re-raise the first error."""
    barrier = threading.Barrier(len(args_list))
    results = [None] * len(args_list)
    errors = []

    def run(i, args):
        try:
            results[i] = target(*args, barrier=barrier)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(args_list)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread did not finish"
    if errors:
        raise errors[0]
    return results


def test_four_threads_training_match_sequential():
    sequential = [train(config) for config in NETWORKS]
    for round_ in range(2):
        threaded = run_in_threads(train, [(config,) for config in NETWORKS])
        for config, seq, thr in zip(NETWORKS, sequential, threaded):
            assert thr == seq, f"round {round_}: network {config} differs from sequential"
    # and the networks really differ from one another (no accidental sharing)
    assert len({s[0][2] for s in sequential}) == len(NETWORKS)


def test_four_threads_sharing_read_only_data():
    # The same input array read by all four threads at once, each training its own layers.
    rng = np.random.default_rng(5)
    X = rng.standard_normal((64, 2))
    Y = rng.standard_normal((64, 3))
    X.flags.writeable = False
    Y.flags.writeable = False
    configs = [(np.float64, 64, 2, 32, 3, seed) for seed in (21, 22, 23, 24)]
    sequential = [train(c, shared_data=(X, Y)) for c in configs]
    threaded = run_in_threads(train, [(c, STEPS, (X, Y)) for c in configs])
    assert threaded == sequential


# --- the functional API from several threads --------------------------------------------------

def functional_work(seed, dtype, rounds=300, shared=None, barrier=None):
    """Every public function, with and without out= buffers, ``rounds`` times; each round's
    inputs depend on the last round's outputs, so a wrong result anywhere shows at the end."""
    rng = np.random.default_rng(seed)
    m, k, n = (40, 30, 20) if seed % 2 else (6, 5, 4)  # BLAS, or the loops
    X = rng.standard_normal((m, k)).astype(dtype)
    W = (0.2 * rng.standard_normal((k, n))).astype(dtype)
    b = (0.1 * rng.standard_normal(n)).astype(dtype)
    D = rng.standard_normal((m, n)).astype(dtype)
    if shared is not None:
        X, W, b, D = shared
    out = np.empty((m, n), dtype)
    relu_out = np.empty((m, n), dtype)
    grads = np.empty((m, k), dtype), np.empty((k, n), dtype), np.empty(n, dtype)
    acc = np.zeros(6, np.float64)
    if barrier is not None:
        barrier.wait()
    for _ in range(rounds):
        z = fastbp.dense_forward(X, W, b)
        fastbp.dense_relu_forward(X, W, b, out=out)
        fastbp.relu_forward(z, out=relu_out)
        dz = fastbp.relu_backward(D, z)
        dX, dW, db = fastbp.dense_backward(dz, X, W)
        fastbp.dense_relu_backward(D, X, W, out, dinputs=grads[0], dweights=grads[1],
                                   dbiases=grads[2])
        acc += [float(a.sum(dtype=np.float64)) for a in (z, out, relu_out, dX, dW, grads[1])]
        # feed back, scaled down, so the next round differs
        D = (D + dtype(0.001) * relu_out).astype(dtype)
    return _bits([z, out, relu_out, dz, dX, dW, db, *grads, acc])


def test_functional_api_in_four_threads():
    args = [(seed, dtype) for seed, dtype in ((1, np.float64), (2, np.float64),
                                                (3, np.float32), (4, np.float32))]
    sequential = [functional_work(*a) for a in args]
    threaded = run_in_threads(functional_work, args)
    for a, seq, thr in zip(args, sequential, threaded):
        assert thr == seq, f"functional work {a} differs from sequential"


def test_functional_api_on_shared_inputs():
    # Four threads read the same (read-only) inputs; each writes its own outputs.
    rng = np.random.default_rng(9)
    shared = (rng.standard_normal((40, 30)), 0.2 * rng.standard_normal((30, 20)),
              0.1 * rng.standard_normal(20), rng.standard_normal((40, 20)))
    for a in shared:
        a.flags.writeable = False
    before = [a.copy() for a in shared]
    sequential = functional_work(1, np.float64, shared=shared)
    threaded = run_in_threads(functional_work,
                              [(1, np.float64, 300, shared) for _ in range(N_THREADS)])
    assert all(t == sequential for t in threaded)
    for a, b in zip(shared, before):
        assert a.tobytes() == b.tobytes()


# --- the GIL is released -----------------------------------------------------------------------

def _big_calls():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 600))
    W = rng.standard_normal((600, 600))
    b = rng.standard_normal(600)
    out = np.empty((600, 600))
    big = rng.standard_normal(8_000_000)
    big_out = np.empty_like(big)
    D = rng.standard_normal((600, 600))
    grads = np.empty((600, 600)), np.empty((600, 600)), np.empty(600)
    return {
        "dense_forward": lambda: fastbp.dense_forward(X, W, b, out=out),
        "relu_forward": lambda: fastbp.relu_forward(big, out=big_out),
        "dense_relu_backward": lambda: fastbp.dense_relu_backward(
            D, X, W, out, dinputs=grads[0], dweights=grads[1], dbiases=grads[2]),
    }


def python_progress_during(call, switch_interval=0.25):
    """How many iterations of a Python loop the main thread ran while another thread was
    inside ``call()``: between the worker's clock readings just before and just after it.

    The switch interval is raised meanwhile, so that the interpreter does not hand the GIL
    over on its own (every 5 ms by default) but only when a thread releases it: while a
    call holds the GIL, the main thread cannot run at all."""
    inside = threading.Event()
    done = threading.Event()
    span = []

    def worker():
        inside.set()
        start = time.perf_counter()
        call()
        span[:] = [start, time.perf_counter()]
        done.set()

    stamps = []
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(switch_interval)
    try:
        t = threading.Thread(target=worker)
        t.start()
        inside.wait()
        while not done.is_set():
            stamps.append(time.perf_counter())
        t.join()
    finally:
        sys.setswitchinterval(old_interval)
    start, end = span
    return sum(start < s < end for s in stamps), end - start


def test_progress_measure_sees_a_call_that_holds_the_gil():
    # The measure itself: sorting a list of ints is C code that never releases the GIL. The
    # switch interval must outlast the call, or the interpreter takes the GIL from it (on a
    # slow or emulated CPU the sort takes longer than the default 0.25 s).
    numbers = [(i * 7919) % 1_000_003 for i in range(1_000_000)]
    start = time.perf_counter()
    sorted(numbers)
    alone = time.perf_counter() - start
    during, seconds = python_progress_during(lambda: sorted(numbers),
                                             switch_interval=max(0.25, 4 * alone))
    assert seconds > 0.05
    assert during < 100, f"{during} iterations ran while sorted() held the GIL"


@pytest.mark.parametrize("name", ["dense_forward", "relu_forward", "dense_relu_backward"])
def test_kernels_release_the_gil(name):
    """While one thread is inside a long kernel call, another runs Python code.

    If the call held the GIL, no iteration of the main thread's loop could fall within it;
    with the GIL released, thousands do."""
    call = _big_calls()[name]
    with threadpool_limits(1, user_api="blas"):
        call()  # warm up (BLAS buffers)
        during, seconds = python_progress_during(call)
    assert during >= 1000, (
        f"only {during} iterations of Python ran during {seconds * 1e3:.1f} ms of {name}")
