"""Where the one-pass loop forward beats BLAS + epilogue, by number of inputs.

    python benchmarks/thin_forward.py [--rows 300] [--neurons 64] [--vectors]

For each number of inputs k, times ``dense_forward`` (with ReLU) on (rows, k) @ (k, neurons)
through the loops (THIN_INPUTS set high) and through BLAS (THIN_INPUTS 0, SMALL_PRODUCT 0),
alternating the two in 15 rounds, and prints the median of the paired ratios BLAS time /
loops time: above 1, the loops win. fastbp/_kernels.pyx sets THIN_INPUTS from this table.

With ``--vectors``, for 1-3 inputs, the loops are timed instead with the vector-lane
forward (fastbp_thin_input_forward, THIN_FORWARD_VECTORS) switched off and on, the order
flipping every round, and the ratio is off / on: above 1, the vector lanes win. The
whole steps of the spiral's two layers are timed the same way: DenseReLU(2, 64), whose
forward this is, and DenseReLU(64, 3), whose dX = dZ·Wᵀ is the same product without bias.

BLAS runs at one thread.
"""

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

import fastbp
from fastbp._validation import KERNELS, kernels_module


def _time(fn, number):
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def _forward_case(rng, rows, n_inputs, neurons, dtype):
    """The kernels of ``dtype`` and a (rows, n_inputs) @ (n_inputs, neurons) forward case."""
    X = rng.standard_normal((rows, n_inputs)).astype(dtype)
    W = rng.standard_normal((n_inputs, neurons)).astype(dtype)
    b = rng.standard_normal((1, neurons)).astype(dtype)
    return KERNELS[np.dtype(dtype)], X, W, b, np.empty((rows, neurons), dtype)


def _vectors_off_on(run, rounds, number):
    """Median of the paired ratios run() time with THIN_FORWARD_VECTORS off / on."""
    old = kernels_module._set_thin_forward_vectors(True)
    ratios = []
    try:
        for r in range(rounds):
            t = {}
            for on in ((False, True) if r % 2 == 0 else (True, False)):
                kernels_module._set_thin_forward_vectors(on)
                t[on] = _time(run, number)
            ratios.append(t[False] / t[True])
    finally:
        kernels_module._set_thin_forward_vectors(old)
    return float(np.median(ratios))


def vectors(args):
    rng = np.random.default_rng(0)
    print(f"kernels: {kernels_module.__name__}; ratio = loops (vectors off) / vectors on "
          f"(median of {args.rounds} paired rounds)")
    print(f"{'case':<28}  {'float64':>8}  {'float32':>8}")
    with threadpool_limits(1):
        for n_inputs in (1, 2, 3):
            row = [f"{f'dense_forward, {n_inputs} inputs':<28}"]
            for dtype in (np.float64, np.float32):
                k, X, W, b, out = _forward_case(rng, args.rows, n_inputs, args.neurons, dtype)
                ratio = _vectors_off_on(lambda: k.dense_forward(X, W, b, out, True),  # noqa: B023
                                        args.rounds, 1000)
                row.append(f"{ratio:>7.2f}x")
            print("  ".join(row), flush=True)
        # The spiral's two layers: the first's forward, the second's dX = dZ·Wᵀ.
        for n_inputs, n_neurons in ((2, args.neurons), (args.neurons, 3)):
            row = [f"{f'DenseReLU({n_inputs}, {n_neurons}) step':<28}"]
            for dtype in (np.float64, np.float32):
                X = rng.standard_normal((args.rows, n_inputs)).astype(dtype)
                D = rng.standard_normal((args.rows, n_neurons)).astype(dtype)
                layer = fastbp.DenseReLU(n_inputs, n_neurons, dtype=dtype, rng=0)

                def step():
                    layer.forward(X)  # noqa: B023
                    layer.backward(D)  # noqa: B023

                row.append(f"{_vectors_off_on(step, args.rounds, 1000):>7.2f}x")
            print("  ".join(row), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--neurons", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--vectors", action="store_true",
                        help="vector-lane forward off/on instead of BLAS/loops")
    args = parser.parse_args()
    if args.vectors:
        return vectors(args)
    rng = np.random.default_rng(0)
    print(f"kernels: {kernels_module.__name__}; ratio = BLAS time / loop time "
          f"(median of {args.rounds} paired rounds)")
    print(f"{'inputs':>6}  {'float64':>8}  {'float32':>8}")
    with threadpool_limits(1):
        for n_inputs in range(1, 9):
            row = [f"{n_inputs:>6}"]
            for dtype in (np.float64, np.float32):
                k, X, W, b, out = _forward_case(rng, args.rows, n_inputs, args.neurons, dtype)

                def forward():
                    k.dense_forward(X, W, b, out, True)

                old_thin = kernels_module._set_thin_inputs(0)
                old_small = kernels_module._set_small_product(0)
                try:
                    ratios = []
                    for _ in range(args.rounds):
                        kernels_module._set_thin_inputs(0)
                        t_blas = _time(forward, 300)
                        kernels_module._set_thin_inputs(2**62)
                        t_loop = _time(forward, 300)
                        ratios.append(t_blas / t_loop)
                finally:
                    kernels_module._set_thin_inputs(old_thin)
                    kernels_module._set_small_product(old_small)
                row.append(f"{np.median(ratios):>7.2f}x")
            print("  ".join(row))


if __name__ == "__main__":
    main()
