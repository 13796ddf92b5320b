"""Time spent outside the kernels: the functional API on 1×1 arrays, and a layer step.

    python benchmarks/overhead.py

* Functional calls on 1×1 float64 arrays, where the arithmetic is nothing: the time of a
  call is its overhead (checks, allocation, dispatch; the lambda around each call adds
  ~0.05 µs).
* A DenseReLU(2, 64) step on 300 samples (the book's spiral layer): the time of
  ``forward`` + ``backward`` minus that of the same layer's bound kernels called directly
  (``layer._step.forward()`` / ``.backward(...)``, arrays already bound), so the difference
  is what the layer adds in Python around its kernels.

Each figure is the median of 15 interleaved rounds of 2,000 calls; BLAS at one thread.
"""

import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

import fastbp


def per_call(fn, number=2000):
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number * 1e6


def main(rounds=15):
    one = np.ones((1, 1))
    out = np.empty((1, 1))
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 2))
    dY = rng.standard_normal((300, 64))
    layer = fastbp.DenseReLU(2, 64, rng=0)
    layer.forward(X)
    layer.backward(dY)
    step = layer._step

    def layer_step():
        layer.forward(X)
        layer.backward(dY)

    def kernel_step():
        step.forward()
        step.backward(0.0, 0.0, 0.0, 0.0)

    grads = [np.empty((1, 1)) for _ in range(3)]
    cases = {
        "dense_forward 1x1": lambda: fastbp.dense_forward(one, one, one),
        "dense_forward 1x1, out=": lambda: fastbp.dense_forward(one, one, one, out=out),
        "dense_relu_forward 1x1": lambda: fastbp.dense_relu_forward(one, one, one),
        "relu_forward 1x1": lambda: fastbp.relu_forward(one),
        "relu_backward 1x1": lambda: fastbp.relu_backward(one, one),
        "dense_backward 1x1": lambda: fastbp.dense_backward(one, one, one),
        "dense_relu_backward 1x1": lambda: fastbp.dense_relu_backward(one, one, one, one),
        "dense_relu_backward 1x1, buffers": lambda: fastbp.dense_relu_backward(
            one, one, one, one, dinputs=grads[0], dweights=grads[1], dbiases=grads[2]),
        "spiral layer step": layer_step,
        "its bound kernels": kernel_step,
    }
    times = {name: [] for name in cases}
    with threadpool_limits(1):
        for name, fn in cases.items():
            per_call(fn, 200)
        for _ in range(rounds):
            for name, fn in cases.items():
                times[name].append(per_call(fn))
    for name, values in times.items():
        print(f"{name:<26} {statistics.median(values):7.2f} µs")
    outside = statistics.median(a - b for a, b in zip(times["spiral layer step"],
                                                      times["its bound kernels"]))
    print(f"{'spiral step outside kernels':<26} {outside:7.2f} µs (median of paired rounds)")


if __name__ == "__main__":
    main()
