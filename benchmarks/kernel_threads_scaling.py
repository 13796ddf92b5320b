"""How two Python threads calling fastbp kernels scale, by the length of one call.

    python benchmarks/kernel_threads_scaling.py

Each thread loops over kernel calls on its own arrays (BLAS at one thread); the figure is
the time one thread needs for all the calls over the time two threads need for half each.
Long calls (the GIL released for ~1 ms) scale to ~2x on two cores; short calls do not,
because every call hands the GIL over twice. This is what limits two threads of the
spiral-layer loop (benchmarks/test_threads.py) on this machine.
"""

import threading
import time

import numpy as np
from threadpoolctl import threadpool_limits

from fastbp._validation import KERNELS

k = KERNELS[np.dtype(np.float64)]
rng = np.random.default_rng(0)


def arrays(n_samples, n_inputs, n_neurons):
    X = rng.standard_normal((n_samples, n_inputs))
    W = rng.standard_normal((n_inputs, n_neurons))
    b = rng.standard_normal((1, n_neurons))
    dY = rng.standard_normal((n_samples, n_neurons))
    out, dz = np.empty_like(dY), np.empty_like(dY)
    return X, W, b, dY, out, dz, np.empty_like(X), np.empty_like(W), np.empty_like(b)


def step(a, n):
    X, W, b, dY, out, dz, dX, dW, db = a
    for _ in range(n):
        k.dense_forward(X, W, b, out, True)
        k.dense_relu_backward(dY, X, W, out, dz, dX, dW, db)


def relu(a, n):
    out = a[4]
    for _ in range(n):
        k.relu_forward(out, out)


def run(work, args, n):
    threads = [threading.Thread(target=work, args=(a, n)) for a in args]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def main():
    cases = [
        ("relu_forward 16x64", relu, (16, 1, 64), 20000),
        ("spiral step kernels 300x2x64", step, (300, 2, 64), 4000),
        ("dense step kernels 256x256x256", step, (256, 256, 256), 100),
    ]
    with threadpool_limits(limits=1, user_api="blas"):
        for name, work, shape, n in cases:
            a1, a2 = arrays(*shape), arrays(*shape)
            run(work, [a1], n)  # warm-up
            one = run(work, [a1], 2 * n)
            two = run(work, [a1, a2], n)
            print(f"{name:32} {one / (2 * n) * 1e6:9.1f} µs a call   "
                  f"two threads: {one / two:4.2f}x")


if __name__ == "__main__":
    main()
