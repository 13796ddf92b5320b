"""Model.train's compiled whole step (fastbp._train_step.NetworkStep) against the layer-by-layer
step it replaces after the first epoch.

Both run the same kernels on the same arrays in the same order, so every parameter, gradient
and reported figure must be bit for bit the same. The layer-by-layer run is forced by
fastbp._testing.network_steps(False).

Private names, each because the public API cannot reach what is tested: the compiled step
itself (Model._network_step builds it, fastbp.model._network_run runs it, fastbp._train_step
holds it) for its partial steps and its refusals; fastbp._optimizers.LayerUpdate for the
refusals of a bound update.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import fastbp
from fastbp._testing import PATHS, built_paths, kernel_paths, network_steps
from fastbp.datasets import spiral_data

OPTIMIZERS = {
    "sgd": lambda: fastbp.SGD(learning_rate=0.5, decay=1e-3),
    "sgd-momentum": lambda: fastbp.SGD(learning_rate=0.5, decay=1e-3, momentum=0.9),
    "adagrad": lambda: fastbp.Adagrad(learning_rate=0.5, decay=1e-4),
    "rmsprop": lambda: fastbp.RMSprop(learning_rate=0.02, decay=1e-5, rho=0.95),
    "adam": lambda: fastbp.Adam(learning_rate=0.05, decay=5e-7),
}


def build(optimizer, dtype, sizes, regularize):
    rng = np.random.default_rng(7)
    model = fastbp.Model()
    reg = dict(weight_regularizer_l1=1e-4, weight_regularizer_l2=5e-4,
               bias_regularizer_l1=1e-4, bias_regularizer_l2=5e-4) if regularize else {}
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        model.add(fastbp.Dense(n_in, n_out, dtype=dtype, rng=rng, **reg))
        if i < len(sizes) - 2:
            model.add(fastbp.ReLU())
    model.set(loss=fastbp.SoftmaxCrossEntropy(), optimizer=OPTIMIZERS[optimizer]())
    model.finalize()
    return model


def train_both(optimizer, dtype=np.float64, sizes=(2, 16, 3), regularize=False,
               labels="sparse", epochs=30, batch_size=None, print_every=0, samples=20):
    X, y = spiral_data(samples, 3, rng=3)
    X = X.astype(dtype)
    if labels == "onehot":
        y = np.eye(3)[y]
    results = []
    calls = []
    for compiled in (True, False):
        with network_steps(compiled) as record:
            model = build(optimizer, dtype, sizes, regularize)
            result = model.train(X, y, epochs=epochs, print_every=print_every,
                                 batch_size=batch_size)
        if compiled:
            calls = record
        else:  # the second run tried as often as the first, and never built the step
            assert record == [False] * len(calls)
        results.append((model, result))
    return results, calls


def assert_same(results):
    (fast, fast_result), (slow, slow_result) = results
    assert fast_result == slow_result
    for a, b in zip(fast.graph, slow.graph):
        for name in ("weights", "biases", "dweights", "dbiases", "dinputs", "output"):
            assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert fast.optimizer.iterations == slow.optimizer.iterations
    assert fast.optimizer.current_learning_rate == slow.optimizer.current_learning_rate


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_compiled_step_is_the_layer_by_layer_step(optimizer, dtype):
    results, calls = train_both(optimizer, dtype)
    assert calls and calls[0]  # the compiled step really ran
    assert_same(results)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("sizes", [(2, 3, 3, 3), (2, 3, 64, 3), (2, 3, 3, 3, 3), (2, 64, 3),
                                   (2, 17, 3), (2, 12, 3), (2, 100, 3)],
                         ids=lambda s: "-".join(map(str, s)))
def test_thin_layers_fed_by_thin_layers(sizes, dtype):
    # Layers with 1-3 inputs take the one-pass backward, which never writes a ReLU layer's
    # dz; in partial steps a 1-3-neuron layer above feeds them its dX directly. Two guards
    # in NetworkStep._backward_layer keep that right: a thin ReLU layer does not feed its
    # (unwritten) mask to the layer below, and a fed layer that is not the first still
    # writes its dinputs. 300 samples: every one of these products is past the small-
    # product loops, so the thin paths really run (with 60, some are not). 17, 12 and 100
    # wide: the one-pass backward's columns left over after its vector blocks.
    results, calls = train_both("adam", dtype, sizes=sizes, samples=100,
                                epochs=12)
    assert calls[0]
    assert_same(results)


@pytest.mark.parametrize("sizes", [(2, 3), (2, 8, 3), (2, 8, 8, 3), (2, 8, 8, 8, 3)],
                         ids=["1-layer", "2-layers", "3-layers", "4-layers"])
def test_layer_counts(sizes):
    results, calls = train_both("adam", sizes=sizes)
    assert calls[0]
    assert_same(results)


def test_five_layers_run_layer_by_layer():
    results, calls = train_both("adam", sizes=(2, 4, 4, 4, 4, 3))
    assert calls == [False]
    assert_same(results)


def test_regularizers_and_onehot_labels():
    results, calls = train_both("rmsprop", regularize=True, labels="onehot")
    assert calls[0]
    assert_same(results)


def test_batches_run_layer_by_layer():
    results, calls = train_both("sgd", batch_size=16)
    assert calls == []  # several batches: never compiled
    assert_same(results)


def test_model_state_after_compiled_training_matches_a_layer_step():
    # After compiled epochs, a layer-by-layer epoch continues from the same state.
    (fast, _), (slow, _) = train_both("adam", epochs=10)[0]
    X, y = spiral_data(20, 3, rng=3)
    fast.train(X, y, epochs=1, print_every=0)
    slow.train(X, y, epochs=1, print_every=0)
    for a, b in zip(fast.graph, slow.graph):
        assert_array_equal(a.weights, b.weights)


# --- Found in review ----------------------------------------------------------------------------

def compiled_and_layer_by_layer(monkeypatch, run):
    """``run(patch)`` with the compiled step allowed, then with it disabled: both results."""
    results, records = [], []
    for compiled in (True, False):
        with monkeypatch.context() as patch, network_steps(compiled) as record:
            results.append(run(patch))
        records.append(record)
    # The second run tried to build the step as often as the first, and never could.
    assert records[1] == [False] * len(records[0])
    return results


def test_network_steps_switch_restores_and_nests():
    X, y = spiral_data(20, 3, rng=3)
    with network_steps() as outer:
        build("adam", np.float64, (2, 8, 3), False).train(X, y, epochs=3, print_every=0)
        with pytest.raises(ZeroDivisionError):
            with network_steps(False):
                1 / 0
        # Back on, recording into outer again, after the exception.
        build("adam", np.float64, (2, 8, 3), False).train(X, y, epochs=3, print_every=0)
        with network_steps(False) as inner:
            build("adam", np.float64, (2, 8, 3), False).train(X, y, epochs=3, print_every=0)
        build("adam", np.float64, (2, 8, 3), False).train(X, y, epochs=3, print_every=0)
    assert outer == [True, True, True] and inner == [False]


def test_one_layer_used_twice(monkeypatch):
    X, y = spiral_data(10, 3, rng=0)

    def run(patch):
        layer = fastbp.Dense(3, 3, rng=0)
        layer.weights *= 100
        model = fastbp.Model()
        model.add(fastbp.Dense(2, 3, rng=1))
        model.add(layer)
        model.add(layer)
        model.set(loss=fastbp.SoftmaxCrossEntropy(), optimizer=fastbp.SGD(0.5))
        model.finalize()
        return model.train(X, y, epochs=5, print_every=0), layer.weights.copy()

    (fast, fast_weights), (slow, slow_weights) = compiled_and_layer_by_layer(monkeypatch, run)
    assert fast == slow
    assert_array_equal(fast_weights, slow_weights)


def test_momentum_switched_on_by_a_hook(monkeypatch):
    # A warm-up that turns momentum on after the first step, from pre_update_params.
    X, y = spiral_data(20, 3, rng=3)

    def run(patch):
        model = build("sgd", np.float64, (2, 8, 3), False)
        opt = model.optimizer
        base = opt.pre_update_params

        def warmup():
            base()
            if opt.iterations >= 1:
                opt.momentum = 0.9

        opt.pre_update_params = warmup
        return model.train(X, y, epochs=4, print_every=0)

    fast, slow = compiled_and_layer_by_layer(monkeypatch, run)
    assert fast == slow


def test_momentum_changed_between_calls_to_update_params():
    layer = fastbp.Dense(3, 4, rng=0)
    layer.forward(np.ones((5, 3)))
    layer.backward(np.ones((5, 4)))
    opt = fastbp.SGD(learning_rate=0.1)
    opt.update_params(layer)  # bound without momentum arrays
    opt.momentum = 0.9
    before = layer.weights.copy()
    opt.update_params(layer)  # must bind again, with them
    assert_array_equal(layer.weights, before - 0.1 * layer.dweights)
    assert_array_equal(layer.weight_momentums, -0.1 * layer.dweights)


def test_bound_updates_refuse_what_they_lack():
    from fastbp import _optimizers
    w, dw = np.zeros((2, 3)), np.ones((2, 3))
    b, db = np.zeros((1, 3)), np.ones((1, 3))
    update = _optimizers.LayerUpdate(True, w, dw, b, db)
    with pytest.raises(RuntimeError, match="needs 2 state arrays"):
        update.adam(0.1, 1e-7, 0.9, 0.999, 0.1, 0.001)
    with pytest.raises(RuntimeError, match="needs 1 state arrays"):
        update.sgd_momentum(0.1, 0.9)
    with pytest.raises(ValueError, match="weight/bias pairs"):
        _optimizers.LayerUpdate(True, w, dw, b, db, np.zeros((2, 3)))
    update.sgd(0.5)
    assert_array_equal(w, -0.5)


def test_network_step_refuses_missing_or_repeated_parts():
    from fastbp._train_step import DenseStep, NetworkStep
    step = DenseStep(True, False)
    with pytest.raises(ValueError):
        NetworkStep([step], None, [None], [(0, 0, 0, 0)])
    with pytest.raises(ValueError):
        NetworkStep([step, step], None, [None, None], [(0, 0, 0, 0)] * 2)


# --- Found in the second review ------------------------------------------------------------------

def test_code_run_between_epochs_rebinding_a_layer(monkeypatch):
    # A progress hook that calls predict() on another batch size rebinds the layers: the
    # compiled step must notice and go back to the layer-by-layer step, giving its results.
    import sys
    X, y = spiral_data(20, 3, rng=0)

    def run(patch):
        model = build("adam", np.float64, (2, 16, 3), False)

        class Logger:
            def write(self, text):
                model.predict(X[:1])
                return len(text)

            def flush(self):
                pass

        patch.setattr(sys, "stdout", Logger())
        result = model.train(X, y, epochs=6, print_every=1)
        return result, [layer.weights.copy() for layer in model.graph]

    (fast, fast_weights), (slow, slow_weights) = compiled_and_layer_by_layer(monkeypatch, run)
    assert fast == slow
    for a, b in zip(fast_weights, slow_weights):
        assert_array_equal(a, b)


def test_network_step_refuses_to_run_on_changed_bindings():
    X, y = spiral_data(10, 3, rng=0)
    model = build("adam", np.float64, (2, 8, 3), False)
    model.train(X, y, epochs=1, print_every=0)
    network, _ = model._network_step()
    assert network.valid()
    model.predict(X[:2])  # on arrays of its own: the bindings stay
    assert network.valid()
    model.graph[0].forward(X[:2])  # binds the first layer to 2 samples
    assert not network.valid()
    with pytest.raises(RuntimeError, match="bound to other arrays"):
        network.run(1, 0, 0.1, 0.0, 0.1, 0)


def test_state_arrays_sharing_memory_are_separated():
    from fastbp import reference as R
    rng = np.random.default_rng(0)
    X, dY = rng.standard_normal((5, 3)), rng.standard_normal((5, 4))
    weights = []
    for layer_cls, opt_cls in ((fastbp.Dense, fastbp.Adam), (R.Layer_Dense, R.Optimizer_Adam)):
        layer = layer_cls(3, 4, rng=0) if layer_cls is fastbp.Dense else layer_cls(3, 4)
        if layer_cls is not fastbp.Dense:
            layer.weights = fastbp.Dense(3, 4, rng=0).weights.copy()
        layer.forward(X)
        layer.backward(dY)
        zeros, zeros_b = np.zeros_like(layer.weights), np.zeros_like(layer.biases)
        layer.weight_momentums = layer.weight_cache = zeros  # one array for both states
        layer.bias_momentums = layer.bias_cache = zeros_b
        opt = opt_cls(learning_rate=0.1)
        opt.pre_update_params()
        opt.update_params(layer)
        weights.append(layer.weights.copy())
    assert_allclose(weights[0], weights[1], rtol=1e-14, atol=1e-16)


# --- Partial steps: what no later step reads is skipped ------------------------------------------
# NetworkStep.run(..., full_last=False) runs only partial steps.

def compiled_pair(optimizer, dtype, sizes, regularize, relu=True):
    """Two identical models after one layer-by-layer epoch, and the compiled step of each."""
    X, y = spiral_data(20, 3, rng=3)
    X = X.astype(dtype)
    models = []
    for _ in range(2):
        if relu:
            model = build(optimizer, dtype, sizes, regularize)
        else:  # Dense layers straight after one another: no ReLU mask to fuse into
            rng = np.random.default_rng(7)
            model = fastbp.Model()
            for n_in, n_out in zip(sizes, sizes[1:]):
                model.add(fastbp.Dense(n_in, n_out, dtype=dtype, rng=rng))
            model.set(loss=fastbp.SoftmaxCrossEntropy(), optimizer=OPTIMIZERS[optimizer]())
            model.finalize()
        model.train(X, y, epochs=1, print_every=0)
        models.append(model)
    return [(model, model._network_step()[0]) for model in models]


@pytest.fixture(params=[("default",), ("thin_outputs", "thin_backward"),
                        ("thin_inputs", "thin_outputs"), ("generic",)],
                ids=["default-paths", "thin-inputs-off", "thin-backward-off", "generic"])
def thin_setting(request):
    with kernel_paths(*request.param):
        yield request.param


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("sizes,regularize", [((2, 16, 3), False), ((2, 16, 3), True),
                                              ((2, 40, 24, 3), False), ((2, 3), False)],
                         ids=["2-layers", "regularized", "3-layers", "1-layer"])
def test_partial_steps_give_the_full_steps_parameters(thin_setting, dtype, sizes, regularize):
    # full=False skips the first layer's dinputs and writes a thin layer's dX straight into
    # the ReLU mask below: parameters, gradients and outputs stay bit for bit those of full
    # steps. The skipped arrays are poisoned with NaN to show which were not written.
    from fastbp.model import _network_run
    (full_model, full_net), (part_model, part_net) = compiled_pair("adam", dtype, sizes,
                                                                  regularize)
    for layer in part_model.graph:
        layer.dinputs.fill(np.nan)
    for _ in range(5):
        _network_run(full_net, full_model.optimizer, 1)
    _network_run(part_net, part_model.optimizer, 5, full_last=False)
    for index, (a, b) in enumerate(zip(full_model.graph, part_model.graph)):
        for name in ("weights", "biases", "dweights", "dbiases", "output"):
            assert_array_equal(getattr(a, name), getattr(b, name), err_msg=f"{index} {name}")
    skipped = [bool(np.isnan(layer.dinputs).all()) for layer in part_model.graph]
    assert skipped[0]  # the first layer's dinputs: nothing reads them
    on = set(PATHS) if thin_setting == ("default",) else set(thin_setting)
    thin_dinputs = "thin_inputs" in on & set(built_paths())
    for index in range(1, len(sizes) - 1):
        thin = thin_dinputs and sizes[index + 1] <= 3
        assert skipped[index] == thin, index  # fused into the mask of the layer below
        if not thin:
            assert_array_equal(part_model.graph[index].dinputs,
                               full_model.graph[index].dinputs)


def test_partial_steps_without_a_relu_below_write_dinputs():
    from fastbp.model import _network_run
    (full_model, full_net), (part_model, part_net) = compiled_pair(
        "sgd", np.float64, (2, 16, 3), False, relu=False)
    _network_run(full_net, full_model.optimizer, 1)
    _network_run(part_net, part_model.optimizer, 1, full_last=False)
    assert_array_equal(part_model.graph[1].dinputs, full_model.graph[1].dinputs)
    assert_array_equal(part_model.graph[0].weights, full_model.graph[0].weights)


def test_train_leaves_every_array_set():
    # Model.train runs its last step full: dinputs of every layer are those of the
    # layer-by-layer step (assert_same compares them), also after a single compiled epoch.
    for epochs in (2, 3):
        results, calls = train_both("adam", epochs=epochs)
        assert calls[0]
        assert_same(results)


@pytest.mark.parametrize("print_every,epochs", [(7, 30), (1, 5), (0, 250), (100, 250)])
def test_compiled_runs_between_reports(capsys, print_every, epochs):
    # Model.train runs the epochs between two reports in one NetworkStep.run call (at most
    # _MAX_STEPS_PER_CALL): reports, counters and parameters are those of single steps.
    results, calls = train_both("adam", epochs=epochs, print_every=print_every)
    assert calls[0]
    assert_same(results)
    lines = capsys.readouterr().out.splitlines()
    half = len(lines) // 2
    assert lines[:half] == lines[half:]
    expected = epochs // print_every + (epochs % print_every != 0) if print_every else 0
    assert half == expected


# --- Found in the third review ----------------------------------------------------------------

def spiral_run(patch, *, epochs=30, print_every=0, prepare=None, dtypes=(None, None)):
    """The 2→16→3 Adam model trained on 60 samples; ``prepare(model)`` first."""
    X, y = spiral_data(20, 3, rng=3)
    model = fastbp.Model()
    model.add(fastbp.Dense(2, 16, dtype=dtypes[0] or np.float64, rng=1))
    model.add(fastbp.ReLU())
    model.add(fastbp.Dense(16, 3, dtype=dtypes[1] or np.float64, rng=2))
    model.set(loss=fastbp.SoftmaxCrossEntropy(),
              optimizer=fastbp.Adam(learning_rate=0.05, decay=1e-3))
    model.finalize()
    if prepare is not None:
        prepare(model)
    result = model.train(X, y, epochs=epochs, print_every=print_every)
    return result, model


def assert_same_models(fast, slow):
    (fast_result, fast_model), (slow_result, slow_model) = fast, slow
    assert fast_result == slow_result
    for a, b in zip(fast_model.graph, slow_model.graph):
        for name in ("weights", "biases", "dweights", "dbiases", "dinputs", "output"):
            assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert fast_model.optimizer.iterations == slow_model.optimizer.iterations


@pytest.mark.parametrize("name,value", [("learning_rate", np.float32(0.05)),
                                        ("beta_1", np.float32(0.9)),
                                        ("decay", np.float32(1e-3))])
def test_numpy_float32_hyperparameters(monkeypatch, name, value):
    # Python computes the schedule in float32 then (numpy's promotion rules); the compiled
    # run computes in double: such an optimizer trains layer by layer.
    def prepare(model):
        setattr(model.optimizer, name, value)

    fast, slow = compiled_and_layer_by_layer(
        monkeypatch, lambda patch: spiral_run(patch, prepare=prepare))
    assert_same_models(fast, slow)


def test_optimizer_method_replaced_on_the_class(monkeypatch):
    # A warm-up schedule patched onto the class (not the instance) is user code too.
    stock = fastbp.Adam.pre_update_params

    def warmup(self):
        stock(self)
        self.current_learning_rate *= min(1.0, (self.iterations + 1) / 10)

    def run(patch):
        patch.setattr(fastbp.Adam, "pre_update_params", warmup)
        return spiral_run(patch)

    fast, slow = compiled_and_layer_by_layer(monkeypatch, run)
    assert_same_models(fast, slow)


def test_layers_of_two_dtypes(monkeypatch):
    fast, slow = compiled_and_layer_by_layer(
        monkeypatch, lambda patch: spiral_run(patch, dtypes=(np.float32, np.float64)))
    assert_same_models(fast, slow)


def test_an_exception_from_a_report_leaves_every_array_set(monkeypatch):
    import io
    import sys

    class Broken(io.StringIO):
        def write(self, text):
            raise BrokenPipeError

    def run(patch):
        models = []
        patch.setattr(sys, "stdout", Broken())
        with pytest.raises(BrokenPipeError):
            spiral_run(patch, epochs=50, print_every=10, prepare=models.append)
        return None, models[0]  # the model as the interrupted train() left it

    fast, slow = compiled_and_layer_by_layer(monkeypatch, run)
    assert_same_models(fast, slow)


def test_run_sets_the_counters_before_it_returns():
    X, y = spiral_data(20, 3, rng=3)
    model = build("adam", np.float64, (2, 16, 3), False)
    model.train(X, y, epochs=1, print_every=0)
    network, _ = model._network_step()
    counters = type("Counters", (), {})()
    opt = model.optimizer
    network.run(7, 4, opt.learning_rate, opt.decay, opt.current_learning_rate,
                opt.iterations, opt.epsilon, opt.beta_1, opt.beta_2, counters=counters)
    assert counters.iterations == 8
    assert counters.current_learning_rate == opt.learning_rate * (1. / (1. + opt.decay * 7))


@pytest.mark.parametrize("print_every", [-1, 2.5, "10", None])
def test_print_every_is_checked_before_training(print_every):
    X, y = spiral_data(20, 3, rng=3)
    model = build("adam", np.float64, (2, 16, 3), False)
    before = [layer.weights.copy() for layer in model.graph]
    with pytest.raises(ValueError, match="print_every must be an integer >= 0"):
        model.train(X, y, epochs=5, print_every=print_every)
    for layer, weights in zip(model.graph, before):
        assert_array_equal(layer.weights, weights)
    assert model.optimizer.iterations == 0


def test_print_every_a_whole_float(monkeypatch, capsys):
    fast, slow = compiled_and_layer_by_layer(
        monkeypatch, lambda patch: spiral_run(patch, print_every=10.0))
    assert_same_models(fast, slow)
    assert len(capsys.readouterr().out.splitlines()) == 6
