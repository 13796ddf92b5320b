"""The one-pass backward of a 1-3-input layer against the separate path, in one process.

    python benchmarks/thin_backward.py [--rounds 21] [--epochs 2000]

fastbp/_thin_kernels.h computes a thin layer's db, dW and dX in one blocked pass; the
separate path masks into dz, sums, then calls OpenBLAS twice. This script switches between
the two (``_set_thin_backward_inputs``) round by round, the order flipping every round, and
prints the median times and the median of the paired ratios separate / one-pass (above 1,
the one pass wins) for:

* the spiral layer DenseReLU(2, 64) on 300 samples: its backward alone, and a whole
  forward + backward step (as ``python -m fastbp.bench`` times it);
* the chapter-10 training (fastbp.train's network and Adam), per epoch, where the layer
  above feeds its dX straight into the one pass (NetworkStep).

BLAS runs at one thread. Both dtypes.
"""

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

import fastbp
from fastbp._validation import kernels_module
from fastbp.datasets import spiral_data
from fastbp.train import train_fastbp

PATHS = {"separate": (0, 0), "one-pass": (3, 3)}


def _paired(run, rounds):
    times = {name: [] for name in PATHS}
    old = kernels_module._set_thin_backward_inputs(0, 0)
    try:
        for r in range(rounds):
            for name in (list(PATHS) if r % 2 == 0 else list(PATHS)[::-1]):
                kernels_module._set_thin_backward_inputs(*PATHS[name])
                times[name].append(run())
    finally:
        kernels_module._set_thin_backward_inputs(*old)
    a, b = np.array(times["separate"]), np.array(times["one-pass"])
    return np.median(a), np.median(b), np.median(a / b)


def _layer_case(dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 2)).astype(dtype)
    dvalues = rng.standard_normal((300, 64)).astype(dtype)
    layer = fastbp.DenseReLU(2, 64, dtype=dtype, rng=0)
    layer.forward(X)
    layer.backward(dvalues)

    def backward(number=1000):
        start = time.perf_counter()
        for _ in range(number):
            layer.backward(dvalues)
        return (time.perf_counter() - start) / number

    def step(number=1000):
        start = time.perf_counter()
        for _ in range(number):
            layer.forward(X)
            layer.backward(dvalues)
        return (time.perf_counter() - start) / number

    return backward, step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--epochs", type=int, default=2000)
    parser.add_argument("--training-rounds", type=int, default=9)
    args = parser.parse_args()
    print(f"kernels: {kernels_module.__name__}; ratio = separate / one-pass "
          f"(median of paired rounds)")
    print(f"{'case':<34} {'dtype':<8} {'separate':>10} {'one-pass':>10} {'ratio':>6}")
    with threadpool_limits(1):
        for dtype in (np.float64, np.float32):
            name = np.dtype(dtype).name
            backward, step = _layer_case(dtype)
            X, y = spiral_data(100, 3, rng=np.random.default_rng(0))

            def epoch():
                _, seconds = train_fastbp(X.astype(dtype), y, optimizer="adam",
                                          epochs=args.epochs, dtype=dtype, seed=0)
                return seconds / args.epochs

            for label, run, rounds in (("DenseReLU(2, 64) backward, 300", backward,
                                        args.rounds),
                                       ("DenseReLU(2, 64) step, 300", step, args.rounds),
                                       ("chapter-10 training, per epoch", epoch,
                                        args.training_rounds)):
                a, b, ratio = _paired(run, rounds)
                print(f"{label:<34} {name:<8} {a * 1e6:8.2f}µs {b * 1e6:8.2f}µs "
                      f"{ratio:6.2f}", flush=True)


if __name__ == "__main__":
    main()
