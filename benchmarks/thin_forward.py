"""Where the one-pass loop forward beats BLAS + epilogue, by number of inputs.

    python benchmarks/thin_forward.py [--rows 300] [--neurons 64]

For each number of inputs k, times ``dense_forward`` (with ReLU) on (rows, k) @ (k, neurons)
through the loops (THIN_INPUTS set high) and through BLAS (THIN_INPUTS 0, SMALL_PRODUCT 0),
alternating the two in 15 rounds, and prints the median of the paired ratios BLAS time /
loops time: above 1, the loops win. fastbp/_kernels.pyx sets THIN_INPUTS from this table.
BLAS runs at one thread.
"""

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from fastbp._validation import KERNELS, kernels_module


def _time(fn, number):
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--neurons", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"kernels: {kernels_module.__name__}; ratio = BLAS time / loop time "
          f"(median of {args.rounds} paired rounds)")
    print(f"{'inputs':>6}  {'float64':>8}  {'float32':>8}")
    with threadpool_limits(1):
        for n_inputs in range(1, 9):
            row = [f"{n_inputs:>6}"]
            for dtype in (np.float64, np.float32):
                k = KERNELS[np.dtype(dtype)]
                X = rng.standard_normal((args.rows, n_inputs)).astype(dtype)
                W = rng.standard_normal((n_inputs, args.neurons)).astype(dtype)
                b = rng.standard_normal((1, args.neurons)).astype(dtype)
                out = np.empty((args.rows, args.neurons), dtype)

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
