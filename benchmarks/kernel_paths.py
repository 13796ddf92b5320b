"""What each special kernel path earns: the bench's rows with the path on and off.

    python benchmarks/kernel_paths.py [--rounds N]

For each special path of the kernel build in use (fastbp._testing.PATHS), times the rows of
``python -m fastbp.bench`` (one DenseReLU forward+backward step) and the chapter-10 network
of ``python -m fastbp.train`` (Model.train, Adam, per epoch) with every path on, and with
every path on but that one, interleaved in one process. Prints the median over the rounds of
the paired ratios off/on: above 1, the path is faster. A path stays in the kernels only if
it is at least 1.10 on some row (docs/design.md, "Kernel paths").
"""

import argparse
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

import fastbp
from fastbp.bench import format_machine, machine_info, size_label
from fastbp.datasets import spiral_data
from fastbp.train import train_fastbp
from fastbp._testing import built_paths, kernel_paths

SIZES = [(1, 1, 1), (300, 2, 64), (300, 64, 3), (32, 784, 128)]


def layer_step(size, dtype):
    n_samples, n_inputs, n_neurons = size
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_samples, n_inputs)).astype(dtype)
    dvalues = rng.standard_normal((n_samples, n_neurons)).astype(dtype)
    layer = fastbp.DenseReLU(n_inputs, n_neurons, dtype=dtype, rng=1)
    n = max(20, int(2e6 // (n_samples * n_inputs * n_neurons + 2000)))

    def run():
        start = time.perf_counter()
        for _ in range(n):
            layer.forward(X)
            layer.backward(dvalues)
        return (time.perf_counter() - start) / n
    return run


def train_epoch(dtype, epochs=300):
    # The fastbp row of python -m fastbp.train (Model.train, Adam), per epoch.
    X, y = spiral_data(100, 3, rng=0)

    def run():
        return train_fastbp(X, y, optimizer="adam", epochs=epochs, dtype=dtype, seed=0)[1] / epochs
    return run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args(argv)
    rows = {}
    for dtype in (np.float64, np.float32):
        name = np.dtype(dtype).name
        for size in SIZES:
            rows[f"bench {size_label(size)} {name}"] = layer_step(size, dtype)
        rows[f"train spiral adam {name}"] = train_epoch(dtype)
    with threadpool_limits(1, user_api="blas"):
        print(format_machine(machine_info()))
        paths = built_paths()
        if not paths:
            print("This kernel build has no special paths: every shape takes the generic one.")
            return
        print(f"{args.rounds} interleaved rounds; off/on: median of the paired ratios "
              "(>1: the path is faster)\n")
        print(f"{'row':32}" + "".join(f"{p + ' off/on':>22}" for p in paths))
        ratios = {row: {} for row in rows}
        for path in paths:
            times = {row: ([], []) for row in rows}
            others = [p for p in paths if p != path]
            for r in range(args.rounds):
                for on in ((True, False) if r % 2 == 0 else (False, True)):
                    with kernel_paths(*(("default",) if on else (others or ["generic"]))):
                        for row, run in rows.items():
                            times[row][0 if on else 1].append(run())
            for row, (on, off) in times.items():
                ratios[row][path] = statistics.median(b / a for a, b in zip(on, off))
        for row in rows:
            print(f"{row:32}" + "".join(f"{ratios[row][p]:>22.3f}" for p in paths))


if __name__ == "__main__":
    main()
