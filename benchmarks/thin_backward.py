"""fastbp's thin-layer kernels switched off and on, round by round, in one process.

    python benchmarks/thin_backward.py [--rounds 21] [--epochs 2000]

fastbp/_thin_kernels.h computes a thin layer's db, dW and dX in one blocked pass; the
separate path masks into dz, sums, then calls OpenBLAS twice. This script switches between
the two (``_set_thin_backward_inputs``) round by round, the order flipping every round, and
prints the median times and the median of the paired ratios off / on (above 1, the thin
kernel wins) for:

* the spiral layer DenseReLU(2, 64) on 300 samples: its backward alone, and a whole
  forward + backward step (as ``python -m fastbp.bench`` times it);
* the chapter-10 training (fastbp.train's network and Adam), per epoch, where the layer
  above feeds its dX straight into the one pass (NetworkStep);
* and, switching the forward product and dW of 1-3-neuron layers instead
  (``_set_thin_outputs``), the layer DenseReLU(64, 3): its forward and its step.

Each row switches one of the two and leaves the other off (so the training row measures
the one-pass backward alone).

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

def _set_backward(on):
    return kernels_module._set_thin_backward_inputs(*((3, 3) if on else (0, 0)))


def _set_outputs(on):
    return kernels_module._set_thin_outputs(3 if on else 0)


def _paired(run, rounds, switch=_set_backward):
    """Median times of run() with switch(False) and switch(True), and of their ratios."""
    times = {False: [], True: []}
    backward, outputs = _set_backward(False), _set_outputs(False)
    try:
        for r in range(rounds):
            for on in ((False, True) if r % 2 == 0 else (True, False)):
                switch(on)
                times[on].append(run())
                switch(False)
    finally:
        kernels_module._set_thin_backward_inputs(*backward)
        kernels_module._set_thin_outputs(outputs)
    a, b = np.array(times[False]), np.array(times[True])
    return np.median(a), np.median(b), np.median(a / b)


def _layer_case(dtype, n_inputs=2, n_neurons=64):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, n_inputs)).astype(dtype)
    dvalues = rng.standard_normal((300, n_neurons)).astype(dtype)
    layer = fastbp.DenseReLU(n_inputs, n_neurons, dtype=dtype, rng=0)
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

    def forward(number=1000):
        start = time.perf_counter()
        for _ in range(number):
            layer.forward(X)
        return (time.perf_counter() - start) / number

    return backward, step, forward


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--epochs", type=int, default=2000)
    parser.add_argument("--training-rounds", type=int, default=9)
    args = parser.parse_args()
    print(f"kernels: {kernels_module.__name__}; ratio = off / on "
          f"(median of paired rounds)")
    print(f"{'case':<34} {'dtype':<8} {'off':>10} {'on':>10} {'ratio':>6}")
    with threadpool_limits(1):
        for dtype in (np.float64, np.float32):
            name = np.dtype(dtype).name
            backward, step, _ = _layer_case(dtype)
            _, step_out, forward_out = _layer_case(dtype, 64, 3)
            X, y = spiral_data(100, 3, rng=np.random.default_rng(0))

            def epoch():
                _, seconds = train_fastbp(X.astype(dtype), y, optimizer="adam",
                                          epochs=args.epochs, dtype=dtype, seed=0)
                return seconds / args.epochs

            for label, run, rounds, switch in (
                    ("DenseReLU(2, 64) backward, 300", backward, args.rounds, _set_backward),
                    ("DenseReLU(2, 64) step, 300", step, args.rounds, _set_backward),
                    ("DenseReLU(64, 3) forward, 300", forward_out, args.rounds, _set_outputs),
                    ("DenseReLU(64, 3) step, 300", step_out, args.rounds, _set_outputs),
                    ("chapter-10 training, per epoch", epoch, args.training_rounds,
                     _set_backward)):
                a, b, ratio = _paired(run, rounds, switch)
                print(f"{label:<34} {name:<8} {a * 1e6:8.2f}µs {b * 1e6:8.2f}µs "
                      f"{ratio:6.2f}", flush=True)


if __name__ == "__main__":
    main()
