"""One object used from several threads at once: never a crash, never a wrong number.

The book's API keeps one call's results on the object (``output``, ``dinputs``, ...), so one
object cannot serve two threads' calls at the same moment; fastbp serializes them (docs/
threads.md). Each case runs in a child process, so that a crash fails the test instead of
ending the run, and works for a bounded time. Afterwards it checks the objects against the
same work done in one thread, bit for bit.
"""

import subprocess
import sys
import tempfile
import textwrap

import pytest

# Seconds each child spends in its threads; the timeout leaves room for start-up.
WORK_SECONDS = 1.5
TIMEOUT = 120

PRELUDE = f"""
import sys, threading, time
import numpy as np
import fastbp
from fastbp import reference

WORK_SECONDS = {WORK_SECONDS}
# Hand the GIL over often, so that calls interleave at many points.
sys.setswitchinterval(1e-5)

def bits(*arrays):
    return [(a.dtype.str, a.shape, a.tobytes()) for a in arrays]

def in_threads(n, work):
    # work(index, deadline) in n threads started together; re-raise the first error.
    barrier = threading.Barrier(n)
    errors, results = [], [None] * n
    def run(i):
        try:
            barrier.wait()
            results[i] = work(i, time.perf_counter() + WORK_SECONDS)
        except BaseException as e:
            errors.append(e)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    if errors:
        raise errors[0]
    return results
"""


def run_child(body):
    """Run PRELUDE + body in a fresh interpreter; fail on a crash or a non-zero exit."""
    code = PRELUDE + textwrap.dedent(body) + "\nprint('clean exit')\n"
    # From outside the checkout, so that "fastbp" is the installed package.
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=TIMEOUT, cwd=tempfile.gettempdir())
    assert proc.returncode == 0 and proc.stdout.endswith("clean exit\n"), (
        f"child exited with {proc.returncode}\nstdout:\n{proc.stdout[-2000:]}\n"
        f"stderr:\n{proc.stderr[-4000:]}"
    )
    return proc.stdout


def test_one_dense_relu_shared_by_four_threads():
    run_child("""
        layer = fastbp.DenseReLU(30, 20, rng=0)
        rng = np.random.default_rng(1)
        Xs = [rng.standard_normal((n, 30)) for n in range(1, 40)]
        weights, biases = layer.weights.copy(), layer.biases.copy()

        def work(i, deadline):
            r = np.random.default_rng(i)
            calls = 0
            while time.perf_counter() < deadline:
                X = Xs[r.integers(len(Xs))]
                out = layer.forward(X)
                # The returned array may already hold another thread's result, but it is
                # always some whole result: one of the batch sizes, never a torn array.
                assert out.ndim == 2 and out.shape[1] == 20, out.shape
                calls += 1
            return calls

        calls = in_threads(4, work)
        assert min(calls) > 0, calls
        # The layer is whole: its parameters untouched, and each batch size gives exactly
        # what a fresh layer with the same parameters gives.
        assert bits(layer.weights, layer.biases) == bits(weights, biases)
        fresh = fastbp.DenseReLU(30, 20, rng=0)
        for X in Xs:
            assert bits(layer.forward(X)) == bits(fresh.forward(X))
        print("forward calls per thread:", calls)
    """)


def test_dense_relu_loss_stepped_by_four_threads():
    run_child("""
        dense = fastbp.Dense(8, 5, rng=2)
        relu = fastbp.ReLU()
        loss = fastbp.SoftmaxCrossEntropy()
        rng = np.random.default_rng(3)
        data = [(rng.standard_normal((n, 8)), rng.integers(0, 5, n)) for n in (7, 16, 33, 64)]

        def step(X, y):
            dense.forward(X)
            relu.forward(dense.output)
            loss.forward(relu.output, y)
            loss.backward(loss.output, y)
            relu.backward(loss.dinputs)
            dense.backward(relu.dinputs)

        def work(i, deadline):
            r = np.random.default_rng(10 + i)
            steps = mismatches = 0
            while time.perf_counter() < deadline:
                try:
                    step(*data[r.integers(len(data))])
                    steps += 1
                except ValueError as e:
                    # Another thread's call came between two of ours: the next object
                    # refuses what no longer fits, with the shapes in the message.
                    assert "shape" in str(e) or "label" in str(e), e
                    mismatches += 1
            return steps, mismatches

        counts = in_threads(4, work)
        assert sum(s for s, _ in counts) > 0, counts
        # Afterwards each object computes exactly what fresh ones do.
        fresh = fastbp.Dense(8, 5, rng=2), fastbp.ReLU(), fastbp.SoftmaxCrossEntropy()
        for X, y in data:
            step(X, y)
            d, r, l = fresh
            d.forward(X); r.forward(d.output); lv = l.forward(r.output, y)
            l.backward(l.output, y); r.backward(l.dinputs); d.backward(r.dinputs)
            assert loss.forward(relu.output, y) == lv
            assert bits(dense.output, relu.output, loss.output, loss.dinputs, relu.dinputs,
                        dense.dinputs, dense.dweights, dense.dbiases) == bits(
                d.output, r.output, l.output, l.dinputs, r.dinputs, d.dinputs, d.dweights,
                d.dbiases)
        print("steps, mismatches per thread:", counts)
    """)


@pytest.mark.parametrize("optimizer", ["fastbp.SGD(0.01, momentum=0.9)",
                                       "fastbp.Adam(0.001)"])
def test_one_optimizer_updating_one_layer_from_two_threads(optimizer):
    run_child(f"""
        def made():
            layer = fastbp.Dense(40, 30, rng=4)
            layer.forward(np.random.default_rng(5).standard_normal((50, 40)))
            layer.backward(np.random.default_rng(6).standard_normal((50, 30)))
            return layer, {optimizer}

        layer, optimizer = made()

        def work(i, deadline):
            updates = 0
            while time.perf_counter() < deadline:
                optimizer.update_params(layer)
                updates += 1
            return updates

        counts = in_threads(2, work)
        # The same number of the same update, one after another, in one thread.
        seq_layer, seq_optimizer = made()
        for _ in range(sum(counts)):
            seq_optimizer.update_params(seq_layer)
        state = [name for name in ("weight_momentums", "weight_cache", "bias_momentums",
                                   "bias_cache") if hasattr(seq_layer, name)]
        assert bits(layer.weights, layer.biases, *(getattr(layer, n) for n in state)) == bits(
            seq_layer.weights, seq_layer.biases, *(getattr(seq_layer, n) for n in state))
        print("updates per thread:", counts)
    """)


def test_predict_and_evaluate_during_training():
    run_child("""
        from fastbp.datasets import spiral_data

        X, y = spiral_data(samples=100, classes=3, rng=0)
        X_part, y_part = X[::3], y[::3]

        def made():
            model = fastbp.Model()
            model.add(fastbp.Dense(2, 32, rng=7))
            model.add(fastbp.ReLU())
            model.add(fastbp.Dense(32, 3, rng=8))
            model.set(loss=fastbp.SoftmaxCrossEntropy(), optimizer=fastbp.Adam(0.02))
            model.finalize()
            return model

        model = made()
        done = threading.Event()
        seen = []

        def predicting():
            while not done.is_set():
                p = model.predict(X_part)
                assert p.shape == (len(X_part), 3), p.shape
                np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-12)
                loss, acc = model.evaluate(X_part, y_part)
                assert np.isfinite(loss) and 0 <= acc <= 1, (loss, acc)
                seen.append(loss)

        reader = threading.Thread(target=predicting)
        reader.start()
        try:
            result = model.train(X, y, epochs=3000, print_every=0)
        finally:
            done.set()
            reader.join()
        assert len(seen) > 0
        # Training was not disturbed: the same as training alone, bit for bit.
        alone = made()
        expected = alone.train(X, y, epochs=3000, print_every=0)
        assert result == expected, (result, expected)
        for (w, b), (w0, b0) in zip(model.get_parameters(), alone.get_parameters()):
            assert bits(w, b) == bits(w0, b0)
        # And predict gives the plain numpy forward pass of the parameters it has.
        (w1, b1), (w2, b2) = model.get_parameters()
        logits = np.maximum(X @ w1 + b1, 0) @ w2 + b2
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        np.testing.assert_allclose(model.predict(X), e / e.sum(axis=1, keepdims=True),
                                   rtol=1e-9)
        print("predictions during training:", len(seen))
    """)
