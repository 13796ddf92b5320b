"""pytest-benchmark suite: every kernel, fused and unfused, fastbp beside the reference.

On the thin sizes (300, 2→64 and 300, 64→3) a third entry, ``fastbp-no-thin``, runs fastbp
with its thin-layer kernels switched off (the separate mask pass, OpenBLAS and epilogue).

Run with ``pytest benchmarks/`` (outside the default test run: timings on a shared
machine are no pass/fail material). Each group is one kernel at one size and dtype, and
holds the book-style numpy reference and fastbp; compare within a group, in one run.
fastbp writes into reused ``out=`` buffers, as its layers do in a training loop; the
reference allocates, as the book does.
"""

import numpy as np
import pytest

import fastbp
from fastbp import reference
from fastbp.bench import DEFAULT_SIZES


class Case:
    def __init__(self, size, dtype):
        samples, inputs, neurons = size
        rng = np.random.default_rng(0)
        self.X = rng.standard_normal((samples, inputs)).astype(dtype)
        self.W = (0.1 * rng.standard_normal((inputs, neurons))).astype(dtype)
        self.b = (0.1 * rng.standard_normal((1, neurons))).astype(dtype)
        self.dY = rng.standard_normal((samples, neurons)).astype(dtype)
        self.out = fastbp.dense_relu_forward(self.X, self.W, self.b)
        self.buf = np.empty_like(self.out)
        self.dX = np.empty_like(self.X)
        self.dW = np.empty_like(self.W)
        self.db = np.empty_like(self.b)


# kernel -> (fastbp call, reference call)
KERNELS = {
    "dense_forward": (
        lambda c: fastbp.dense_forward(c.X, c.W, c.b, out=c.buf),
        lambda c: reference.dense_forward(c.X, c.W, c.b),
    ),
    "dense_relu_forward": (
        lambda c: fastbp.dense_relu_forward(c.X, c.W, c.b, out=c.buf),
        lambda c: reference.dense_relu_forward(c.X, c.W, c.b),
    ),
    "relu_forward": (
        lambda c: fastbp.relu_forward(c.dY, out=c.buf),
        lambda c: reference.relu_forward(c.dY),
    ),
    "relu_backward": (
        lambda c: fastbp.relu_backward(c.dY, c.out, out=c.buf),
        lambda c: reference.relu_backward(c.dY, c.out),
    ),
    "dense_backward": (
        lambda c: fastbp.dense_backward(c.dY, c.X, c.W, dinputs=c.dX, dweights=c.dW,
                                        dbiases=c.db),
        lambda c: reference.dense_backward(c.dY, c.X, c.W),
    ),
    "dense_relu_backward": (
        lambda c: fastbp.dense_relu_backward(c.dY, c.X, c.W, c.out, dinputs=c.dX,
                                             dweights=c.dW, dbiases=c.db),
        # The book's way: mask a copy of dvalues, then the dense backward pass.
        lambda c: reference.dense_backward(reference.relu_backward(c.dY, c.out), c.X, c.W),
    ),
}

SIZE_IDS = [f"{s}x{i}x{n}" for s, i, n in DEFAULT_SIZES]
DTYPES = [np.float64, np.float32]


@pytest.fixture
def thin_kernels(request):
    """"fastbp-no-thin": fastbp on the generic path only (fastbp._testing.kernel_paths), so
    that thin shapes take BLAS, the mask pass and the epilogue too."""
    from fastbp._testing import kernel_paths
    impl = request.node.callspec.params.get("impl")
    with kernel_paths("generic" if impl == "fastbp-no-thin" else "default"):
        yield


@pytest.mark.parametrize("impl", ["reference", "fastbp", "fastbp-no-thin"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("size", DEFAULT_SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("kernel", list(KERNELS))
def test_kernel(benchmark, thin_kernels, kernel, size, dtype, impl):
    if impl == "fastbp-no-thin" and min(size[1], size[2]) > 3:
        pytest.skip("no thin-layer kernel at this size")
    case = Case(size, dtype)
    fast, ref = KERNELS[kernel]
    benchmark.group = f"{kernel} {np.dtype(dtype).name} {size}"
    benchmark(ref if impl == "reference" else fast, case)


@pytest.mark.parametrize("impl", ["reference", "fastbp", "fastbp-no-thin"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("size", DEFAULT_SIZES, ids=SIZE_IDS)
def test_layer_step(benchmark, thin_kernels, size, dtype, impl):
    """One Dense+ReLU forward+backward step through the layers."""
    if impl == "fastbp-no-thin" and min(size[1], size[2]) > 3:
        pytest.skip("no thin-layer kernel at this size")
    case = Case(size, dtype)
    layer_type = reference.DenseReLU if impl == "reference" else fastbp.DenseReLU
    layer = layer_type(size[1], size[2], dtype=dtype, rng=0)

    def step():
        layer.forward(case.X)
        layer.backward(case.dY)

    benchmark.group = f"layer step {np.dtype(dtype).name} {size}"
    benchmark(step)


@pytest.mark.parametrize("impl", ["reference", "fastbp"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_spiral_training(benchmark, dtype, impl):
    """100 epochs of the book's chapter-10 network (Adam), the demo of fastbp.train: fastbp's
    Model.train (compiled runs of up to 100 epochs) against reference.train_spiral."""
    from fastbp.datasets import spiral_data

    X, y = spiral_data(100, 3, rng=0)
    X = X.astype(dtype)
    if impl == "fastbp":
        rng = np.random.default_rng(0)
        model = fastbp.Model()
        model.add(fastbp.Dense(2, 64, dtype=dtype, rng=rng))
        model.add(fastbp.ReLU())
        model.add(fastbp.Dense(64, 3, dtype=dtype, rng=rng))
        model.set(loss=fastbp.SoftmaxCrossEntropy(),
                  optimizer=fastbp.Adam(learning_rate=0.05, decay=5e-7))
        model.finalize()

        def run():
            model.train(X, y, epochs=100, print_every=0)
    else:
        def run():
            reference.train_spiral(X, y, optimizer=reference.Optimizer_Adam(
                learning_rate=0.05, decay=5e-7), epochs=100, dtype=dtype, rng=0)

    benchmark.group = f"spiral training, 100 epochs, {np.dtype(dtype).name}"
    benchmark(run)
