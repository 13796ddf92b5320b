"""Two threads, each running its own spiral-layer loop, against one thread doing both loops.

Two loops are measured: the book's layer-by-layer loop written against fastbp's layers
(``SpiralLoop``: six calls into fastbp a step, each releasing the GIL once) and the same
network trained by ``Model.train`` (``SpiralModel``: compiled runs of up to 100 epochs, the
GIL released once a run). The target is for the second; the first is reported, as an
expected failure, because a GIL hand-over can cost about as much as a small kernel call. Both are bounded by what the VM's second core
gives at the time, which the calibration printed first shows.

The book's spiral network: ``DenseReLU(2, 64)`` then ``Dense(64, 3)`` on 300 samples (three
spiral arms of 100 points). One step is the forward and backward pass through both layers and
a step of fastbp's SGD, the book's training loop without its loss (a fixed gradient stands in for
it: the loss is numpy code, not fastbp's). BLAS is limited to one thread (threadpoolctl), so
any speedup comes from the kernels running outside the GIL, one loop on each core.

Throughput ratio = (time of one thread running both loops one after the other) / (time of
two threads running one loop each, at once). Measured ``REPEAT`` times, alternating which
goes first; the median must reach ``MIN_RATIO`` = 1.6 on a machine with at least 2 cores.
Lives in benchmarks/, outside the default test run; prints its figures (``pytest -s``).
"""

import os
import statistics
import threading
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import fastbp

MIN_RATIO = 1.6
REPEAT = 7
STEPS = 1500  # per loop and repeat


def spiral_data(samples, classes, rng):
    """The book's spiral data set (nnfs.datasets.spiral_data), from a given generator."""
    X = np.zeros((samples * classes, 2))
    y = np.zeros(samples * classes, dtype=np.uint8)
    for c in range(classes):
        ix = range(samples * c, samples * (c + 1))
        r = np.linspace(0.0, 1, samples)
        t = np.linspace(c * 4, (c + 1) * 4, samples) + rng.standard_normal(samples) * 0.2
        X[ix] = np.c_[r * np.sin(t * 2.5), r * np.cos(t * 2.5)]
        y[ix] = c
    return X, y


class SpiralLoop:
    """One training loop on its own layers and data."""

    def __init__(self, seed):
        rng = np.random.default_rng(seed)
        self.X, y = spiral_data(100, 3, rng)
        # the gradient of the mean cross-entropy at a uniform prediction, as a fixed stand-in
        self.dvalues = (np.full((300, 3), 1 / 3) - np.eye(3)[y]) / 300
        self.dense1 = fastbp.DenseReLU(2, 64, rng=seed)
        self.dense2 = fastbp.Dense(64, 3, rng=seed + 1)
        self.optimizer = fastbp.SGD(learning_rate=0.1)

    def run(self, steps):
        dense1, dense2, X, dvalues = self.dense1, self.dense2, self.X, self.dvalues
        optimizer = self.optimizer
        for _ in range(steps):
            dense1.forward(X)
            dense2.forward(dense1.output)
            dense2.backward(dvalues)
            dense1.backward(dense2.dinputs)
            optimizer.pre_update_params()
            optimizer.update_params(dense1)
            optimizer.update_params(dense2)
            optimizer.post_update_params()


class SpiralModel:
    """The same network trained with Model.train: softmax cross-entropy and Adam, the
    book's chapter-10 demo. After the first epoch, Model.train runs up to 100 epochs a call
    in one compiled loop that releases the GIL once (fastbp._train_step.NetworkStep.run)."""

    def __init__(self, seed):
        rng = np.random.default_rng(seed)
        self.X, self.y = spiral_data(100, 3, rng)
        self.model = fastbp.Model()
        self.model.add(fastbp.Dense(2, 64, rng=rng))
        self.model.add(fastbp.ReLU())
        self.model.add(fastbp.Dense(64, 3, rng=rng))
        self.model.set(loss=fastbp.SoftmaxCrossEntropy(),
                       optimizer=fastbp.Adam(learning_rate=0.05, decay=5e-7))
        self.model.finalize()

    def run(self, steps):
        self.model.train(self.X, self.y, epochs=steps, print_every=0)


class LargeLayerLoop:
    """The calibration: a 256-sample DenseReLU(256, 256) step holds the GIL for a tiny share
    of its time, so two threads of it show what this machine's two cores give right now (a
    virtual machine's second core is sometimes busy elsewhere; then no loop can reach 2x)."""

    def __init__(self, seed):
        rng = np.random.default_rng(seed)
        self.X = rng.standard_normal((256, 256))
        self.dvalues = rng.standard_normal((256, 256))
        self.layer = fastbp.DenseReLU(256, 256, rng=seed)

    def run(self, steps):
        for _ in range(max(1, steps // 100)):
            self.layer.forward(self.X)
            self.layer.backward(self.dvalues)


LOOPS = {"layer-by-layer loop": SpiralLoop, "Model.train": SpiralModel,
         "calibration": LargeLayerLoop}


def one_thread(loops, steps):
    start = time.perf_counter()
    for loop in loops:
        loop.run(steps)
    return time.perf_counter() - start


def two_threads(loops, steps):
    barrier = threading.Barrier(len(loops) + 1)

    def run(loop):
        barrier.wait()
        loop.run(steps)

    threads = [threading.Thread(target=run, args=(loop,)) for loop in loops]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def measure(kind="layer-by-layer loop", repeat=REPEAT, steps=STEPS):
    """Ratios one-thread time / two-thread time, one per round."""
    loops = [LOOPS[kind](1), LOOPS[kind](2)]
    ratios, singles, doubles = [], [], []
    with threadpool_limits(1, user_api="blas"):
        one_thread(loops, steps // 10)  # warm up buffers and BLAS
        two_threads(loops, steps // 10)
        for r in range(repeat):
            if r % 2 == 0:
                t1 = one_thread(loops, steps)
                t2 = two_threads(loops, steps)
            else:
                t2 = two_threads(loops, steps)
                t1 = one_thread(loops, steps)
            singles.append(t1)
            doubles.append(t2)
            ratios.append(t1 / t2)
    return ratios, singles, doubles


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs at least 2 cores")
@pytest.mark.parametrize("kind", [kind for kind in LOOPS if kind != "calibration"])
def test_two_threads_throughput(kind):
    calibration = statistics.median(measure("calibration", repeat=3)[0])
    print(f"\ncalibration (two threads of 2.5 ms layer steps): {calibration:.2f}x")
    ratios, singles, doubles = measure(kind)
    ratio = statistics.median(ratios)
    step_us = statistics.median(singles) / (2 * STEPS) * 1e6
    print(f"spiral {kind}, BLAS 1 thread: one thread {step_us:.1f} µs/step; "
          f"two threads / one thread throughput: median {ratio:.2f}x "
          f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)})")
    if kind == "layer-by-layer loop" and ratio < MIN_RATIO:
        # Known and reported, not hidden: six GIL hand-overs a step (see the module doc).
        pytest.xfail(f"layer-by-layer loop: {ratio:.2f}x < {MIN_RATIO}x; each of its six "
                     "calls a step hands the GIL over (docs/threads.md)")
    assert ratio >= MIN_RATIO, (
        f"two threads reach {ratio:.2f}x the throughput of one (median of {len(ratios)}: "
        f"{', '.join(f'{r:.2f}' for r in ratios)}), expected at least {MIN_RATIO}x")


if __name__ == "__main__":
    for kind in LOOPS:
        ratios, singles, doubles = measure(kind)
        print(f"{kind}: median ratio {statistics.median(ratios):.2f}; rounds "
              f"{', '.join(f'{r:.2f}' for r in ratios)}")
