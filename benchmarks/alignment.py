"""Layer buffers on a cache line against buffers 16 bytes past one, round by round.

    python benchmarks/alignment.py [--rounds 21] [--epochs 2000]

fastbp's layers allocate their output, dinputs, dweights and dbiases arrays on a 64-byte
boundary (``fastbp.layers.empty_aligned``); numpy's own allocations are aligned to 16 bytes
only. This script builds the same layer twice, one with its buffers placed 16 bytes past a
cache line (what np.empty often returns), and times both in alternating rounds, the order
flipping every round. It prints the median times and the median of the paired ratios
offset / aligned (above 1, the aligned buffers win) for:

* the spiral layer DenseReLU(2, 64) on 300 samples: a forward + backward step, as
  ``python -m fastbp.bench`` times it;
* its second layer DenseReLU(64, 3), the same way;
* the chapter-10 training (fastbp.train's network and Adam), per epoch.

The inputs and dvalues come from numpy (16-byte aligned) in both. BLAS runs at one thread.
Both dtypes.
"""

import argparse
import contextlib
import functools
import time

import numpy as np
from threadpoolctl import threadpool_limits

import fastbp
import fastbp.layers
from fastbp.datasets import spiral_data
from fastbp.train import train_fastbp

OFFSET = 16


def empty_offset(shape, dtype):
    """np.empty(shape, dtype) whose data starts OFFSET bytes past a cache line."""
    dtype = np.dtype(dtype)
    nbytes = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
    raw = np.empty(nbytes + 2 * fastbp.layers.CACHE_LINE, dtype=np.uint8)
    start = (OFFSET - raw.ctypes.data) % fastbp.layers.CACHE_LINE
    return raw[start:start + nbytes].view(dtype).reshape(shape)


@contextlib.contextmanager
def offset_buffers():
    """Layers allocate their buffers with empty_offset inside this block."""
    aligned = fastbp.layers.empty_aligned
    fastbp.layers.empty_aligned = empty_offset
    try:
        yield
    finally:
        fastbp.layers.empty_aligned = aligned


def _layer_step(dtype, n_inputs, n_neurons, offset):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, n_inputs)).astype(dtype)
    dvalues = rng.standard_normal((300, n_neurons)).astype(dtype)
    layer = fastbp.DenseReLU(n_inputs, n_neurons, dtype=dtype, rng=0)
    with offset_buffers() if offset else contextlib.nullcontext():
        layer.forward(X)  # the buffers are allocated here, and reused from now on
        layer.backward(dvalues)
    misplaced = layer.output.ctypes.data % fastbp.layers.CACHE_LINE
    assert misplaced == (OFFSET if offset else 0), misplaced

    def step(number=1000):
        start = time.perf_counter()
        for _ in range(number):
            layer.forward(X)
            layer.backward(dvalues)
        return (time.perf_counter() - start) / number

    return step


def _epoch(X, y, dtype, epochs, offset):
    with offset_buffers() if offset else contextlib.nullcontext():
        _, seconds = train_fastbp(X, y, optimizer="adam", epochs=epochs, dtype=dtype, seed=0)
    return seconds / epochs


def _paired(runs, rounds):
    """Median times of runs[False] (offset) and runs[True] (aligned), and of their ratios."""
    times = {False: [], True: []}
    for r in range(rounds):
        for aligned in ((False, True) if r % 2 == 0 else (True, False)):
            times[aligned].append(runs[aligned]())
    a, b = np.array(times[False]), np.array(times[True])
    return np.median(a), np.median(b), np.median(a / b)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--epochs", type=int, default=2000)
    parser.add_argument("--training-rounds", type=int, default=9)
    args = parser.parse_args()
    print(f"ratio = {OFFSET} bytes past a cache line / on a cache line "
          f"(median of paired rounds)")
    print(f"{'case':<34} {'dtype':<8} {'offset':>10} {'aligned':>10} {'ratio':>6}")
    with threadpool_limits(1):
        for dtype in (np.float64, np.float32):
            name = np.dtype(dtype).name
            X, y = spiral_data(100, 3, rng=np.random.default_rng(0))

            for label, runs, rounds in (
                    ("DenseReLU(2, 64) step, 300",
                     {o: _layer_step(dtype, 2, 64, not o) for o in (False, True)},
                     args.rounds),
                    ("DenseReLU(64, 3) step, 300",
                     {o: _layer_step(dtype, 64, 3, not o) for o in (False, True)},
                     args.rounds),
                    ("chapter-10 training, per epoch",
                     {o: functools.partial(_epoch, X.astype(dtype), y, dtype, args.epochs,
                                           not o) for o in (False, True)},
                     args.training_rounds)):
                a, b, ratio = _paired(runs, rounds)
                print(f"{label:<34} {name:<8} {a * 1e6:8.2f}µs {b * 1e6:8.2f}µs "
                      f"{ratio:6.2f}", flush=True)


if __name__ == "__main__":
    main()
