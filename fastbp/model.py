"""``Model``: the book's chapter 18-22 model object, on fastbp's layers and kernels.

    model = Model()
    model.add(Dense(2, 64)); model.add(ReLU()); model.add(Dense(64, 3))
    model.set(loss=SoftmaxCrossEntropy(), optimizer=Adam(learning_rate=0.05, decay=5e-7))
    model.finalize()
    model.train(X, y, epochs=10000, print_every=100)

``finalize`` fuses each ``Dense`` followed by ``ReLU`` into one ``DenseReLU`` that shares the
Dense layer's parameter arrays, and a final ``Softmax`` followed by the categorical
cross-entropy loss into ``SoftmaxCrossEntropy``, as the book does. Bad data (wrong number of
features, labels of the wrong length or out of range, one-hot rows of the wrong width) is
refused before any parameter changes.

Threads: ``train`` (and the other calls that change the model) run one at a time. ``predict``
and ``evaluate`` may be called from other threads while ``train`` runs: they wait for the end
of the current training step (or compiled run of steps), compute from the parameters as they
are then, in arrays of their own, and leave the training's buffers alone.
"""

import collections
import operator

import numpy as np

from ._calllock import CallLock
from ._constants import CONSTANTS
from ._dispatch import NETWORK_STEP
from ._train_step import NetworkStep
from ._validation import as_layer_array, layer_dtype
from .layers import DenseReLU
from .losses import (
    CategoricalCrossentropy,
    Loss,
    Softmax,
    SoftmaxCrossEntropy,
    prepare_labels,
    regularizers,
)

# A NetworkStep (fastbp/_train_step.pyx) takes this many Dense/DenseReLU layers at most.
_MAX_NETWORK_LAYERS = CONSTANTS["MAX_NETWORK_LAYERS"]

__all__ = ["Model"]


def _no_step():
    return None


def _network_run(network, optimizer, steps, *, full_last=True):
    """``steps`` steps of ``network`` (NetworkStep.run), the last one full unless told
    otherwise (tests); returns the last one's loss.

    run itself sets the optimizer's iterations and current_learning_rate as the steps'
    pre_update_params/post_update_params would have, before it returns: a KeyboardInterrupt
    raised on its return then finds the counters in step with the weights."""
    code, params = optimizer.compiled_schedule()
    return network.run(steps, code, optimizer.learning_rate, optimizer.decay,
                       optimizer.current_learning_rate, optimizer.iterations, *params,
                       full_last=full_last, counters=optimizer)


# What a fused DenseReLU (finalize) shares with the Dense it was made from: the parameters,
# their regularizers and the optimizer's state. Model keeps the two in step (_sync_fused).
_SHARED = ("weights", "biases", "weight_regularizer_l1", "weight_regularizer_l2",
           "bias_regularizer_l1", "bias_regularizer_l2", "weight_momentums", "weight_cache",
           "bias_momentums", "bias_cache")


class _Missing:
    """An attribute that is not set; pickled and copied as the one object below."""

    def __reduce__(self):
        return "_MISSING"


_MISSING = _Missing()
_MISSINGS = (_MISSING,) * len(_SHARED)
_NUMBERS = (int, float, np.integer, np.floating)


def _same(a, b):
    """The same object, or equal numbers of one type (a pickle makes floats new objects)."""
    return a is b or (type(a) is type(b) and isinstance(a, _NUMBERS) and a == b)


def _put(layer, name, value):
    if value is _MISSING:
        layer.__dict__.pop(name, None)
    else:
        setattr(layer, name, value)

# Model.train runs at most this many compiled steps in one call: a KeyboardInterrupt is only
# seen between two calls, and each call ends with a full step (all arrays set).
_MAX_STEPS_PER_CALL = 100


class Model:
    def __init__(self):
        self.layers = []
        self.loss = None
        self.optimizer = None
        self._graph = None  # the layers as run, after finalize (fused)
        self._fused = []  # (dense, its fused DenseReLU, what _sync_fused last saw)
        self._trainable = []
        self._output_loss = None
        # _lock: one call that changes the model at a time (train, finalize, ...).
        # _step_lock: held by train for each step (or compiled run of steps), and by predict
        # and evaluate for each batch, which so see the parameters between two steps.
        self._lock = CallLock()
        self._step_lock = CallLock()

    def __setstate__(self, state):
        # A pickled CallLock loads as a new one; a pickle made before locks has none.
        self.__dict__.update(state)
        self.__dict__.setdefault("_lock", CallLock())
        self.__dict__.setdefault("_step_lock", CallLock())
        if "_fused" not in state:  # pickled before the pairs were kept
            self._fused = self._pairs(self.layers, self._graph or [])

    def add(self, layer):
        """Append a layer (Dense, ReLU, DenseReLU, Softmax, or any object with the book's
        forward/backward)."""
        with self._lock:
            self.layers.append(layer)
            self._graph = None

    def set(self, *, loss, optimizer=None):
        """Set the loss (SoftmaxCrossEntropy, or CategoricalCrossentropy after a Softmax
        layer) and the optimizer (SGD, Adagrad, RMSprop, Adam)."""
        if not isinstance(loss, Loss):
            raise TypeError(f"loss must be a fastbp loss, got {type(loss).__name__}")
        with self._lock:
            self.loss = loss
            self.optimizer = optimizer
            self._graph = None

    def finalize(self):
        """Check the stack and fuse Dense+ReLU and Softmax+cross-entropy."""
        with self._lock:
            self._finalize()

    def _finalize(self):
        if not self.layers:
            raise ValueError("the model has no layers: add some before finalize()")
        if self.loss is None:
            raise ValueError("set(loss=..., optimizer=...) before finalize()")
        with self._step_lock:
            self._sync_fused()  # what was set on the fused layers before, to the Dense layers
        graph = []
        layers = list(self.layers)
        i = 0
        while i < len(layers):
            layer = layers[i]
            fused = DenseReLU.fused(layer, layers[i + 1]) if i + 1 < len(layers) else None
            if fused is not None:
                graph.append(fused)
                i += 2
            else:
                graph.append(layer)
                i += 1
        output_loss = self.loss
        if isinstance(self.loss, CategoricalCrossentropy) and type(graph[-1]) is Softmax:
            graph.pop()
            output_loss = SoftmaxCrossEntropy()
        elif isinstance(self.loss, SoftmaxCrossEntropy) and type(graph[-1]) is Softmax:
            raise ValueError("SoftmaxCrossEntropy includes the softmax: remove the last "
                             "Softmax layer, or use CategoricalCrossentropy")
        if not isinstance(output_loss, SoftmaxCrossEntropy):
            raise ValueError("the model needs SoftmaxCrossEntropy, or a last Softmax layer with "
                             "CategoricalCrossentropy")
        self._graph = graph
        self._fused = self._pairs(layers, graph)
        self._output_loss = output_loss
        self._trainable = [layer for layer in graph if hasattr(layer, "weights")]

    _training = False  # True while train() runs: other calls then only push (_sync_fused)

    @staticmethod
    def _pairs(layers, graph):
        """(dense, fused, what was last seen) for each DenseReLU of ``graph`` that finalize
        made from a Dense of ``layers``; a Dense fused more than once is left out (its fused
        layers keep states of their own)."""
        pairs, i = [], 0
        for layer in graph:
            if i < len(layers) and layer is not layers[i] and type(layer) is DenseReLU:
                pairs.append((layers[i], layer))
                i += 2
            else:
                i += 1
        counts = collections.Counter(id(dense) for dense, _ in pairs)
        return [(dense, fused, list(map(dense.__dict__.get, _SHARED, _MISSINGS)))
                for dense, fused in pairs if counts[id(dense)] == 1]

    def _sync_fused(self, pull=True):
        """Keep each fused DenseReLU and the Dense it was made from in step; called with the
        step lock held, between two steps. What the fused layer replaced (a converted copy of
        an array, the optimizer's new state) goes to the Dense; with ``pull``, what was set on
        the Dense since the last call (new weights, a regularizer) goes to the fused layer.
        A training pulls at its start and end only: in between, its compiled step holds the
        fused layer's arrays and regularizers."""
        for dense, fused, seen in self._fused:
            on_dense = list(map(dense.__dict__.get, _SHARED, _MISSINGS))
            on_fused = list(map(fused.__dict__.get, _SHARED, _MISSINGS))
            if all(map(operator.is_, on_dense, on_fused)):
                seen[:] = on_dense
                continue
            for i, name in enumerate(_SHARED):
                d, f = on_dense[i], on_fused[i]
                if _same(d, f):
                    if d is not f:  # equal numbers as two objects (after a pickle)
                        _put(fused, name, d)
                    seen[i] = d
                elif not _same(d, seen[i]):  # set on the Dense since the last call
                    if pull:
                        _put(fused, name, d)
                        seen[i] = d
                else:  # replaced on the fused layer
                    _put(dense, name, f)
                    seen[i] = f

    # -- what finalize() made ------------------------------------------------------------

    @property
    def graph(self):
        """The layers as ``train`` runs them, after ``finalize()``: a Dense followed by a
        ReLU is one DenseReLU (sharing the Dense's arrays), and a last Softmax is left to
        ``output_loss``. None before ``finalize()``."""
        return None if self._graph is None else tuple(self._graph)

    @property
    def trainable_layers(self):
        """The layers of ``graph`` that have weights (the book's name), in order; empty
        before ``finalize()``."""
        return () if self._graph is None else tuple(self._trainable)

    @property
    def output_loss(self):
        """The loss as ``train`` computes it: ``SoftmaxCrossEntropy``, also when the model
        ends in a Softmax layer with ``CategoricalCrossentropy``. None before
        ``finalize()``."""
        return None if self._graph is None else self._output_loss

    # -- data checks, before anything changes ---------------------------------------------

    def _require_finalized(self):
        if self._graph is None:
            raise ValueError("call finalize() before training, evaluating or predicting")

    def _check_X(self, X, name="X"):
        dense = self._trainable[0] if self._trainable else None
        dtype = layer_dtype(dense) if dense is not None else None
        X = as_layer_array(X, name, dtype)
        if X.ndim != 2:
            raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}")
        first = self._graph[0]
        if hasattr(first, "weights") and X.shape[1] != first.weights.shape[0]:
            raise ValueError(
                f"{name} has {X.shape[1]} features, but the first layer takes "
                f"{first.weights.shape[0]} inputs"
            )
        return X

    def _n_classes(self):
        last = self._trainable[-1] if self._trainable else None
        return last.weights.shape[1] if last is not None else None

    def _check_y(self, y, X, name="y"):
        """(kind, y for the loss, class indices), checked against X and the last layer."""
        n_classes = self._n_classes()
        if n_classes is None:
            raise ValueError("the model has no Dense layer to take the number of classes from")
        like = np.empty((X.shape[0], n_classes), dtype=X.dtype)
        kind, y, labels = prepare_labels(y, like, name=name)
        # Private copies: the labels index arrays in the kernels, and are checked once per
        # call; no array of the caller's may change them under a running training.
        labels = labels.copy()
        return kind, (labels if kind == "sparse" else y.copy()), labels

    # -- passes ---------------------------------------------------------------------------

    def _network_step(self):
        """The last step's bound arrays as one compiled step (fastbp._train_step.NetworkStep), with
        the optimizer bindings it relies on; None when the model is not made of what that
        step runs.

        Between two steps of ``train`` on one batch no array changes but through the kernels,
        so the arrays a layer-by-layer step has just validated and bound stay valid: the
        compiled step replays that step, in the same order, with the GIL released once.
        """
        graph, loss_fn, optimizer = self._graph, self._output_loss, self.optimizer
        if (type(loss_fn) is not SoftmaxCrossEntropy or optimizer is None
                or not 1 <= len(graph) <= _MAX_NETWORK_LAYERS
                or len({id(layer) for layer in graph}) != len(graph)  # one layer used twice
                or getattr(optimizer, "compiled_schedule", _no_step)() is None):
            return None
        loss_step = loss_fn.compiled_step()
        steps = [getattr(layer, "compiled_step", _no_step)() for layer in graph]
        updates = [optimizer.compiled_update(layer) for layer in graph]
        if (loss_step is None or any(step is None for step in steps)
                or any(update is None for update in updates)
                # Layers of two dtypes pass converted copies between them, made once.
                or len({layer.dtype for layer in graph}) != 1):
            return None
        strengths = [regularizers(layer) for layer in graph]
        step = NetworkStep(steps, loss_step, updates, strengths)
        # With what must stay as it is for the step to be replayed (_network_still_valid).
        return step, updates

    def _network_still_valid(self, network, bindings):
        """Code run between epochs (a print hook calling predict(), a finalizer, another
        thread) may bind other arrays or make new optimizer bindings: then the compiled step
        is dropped and the next epoch runs layer by layer, checking everything again."""
        optimizer = self.optimizer
        if not network.valid() or optimizer.compiled_schedule() is None:
            return False
        return all(optimizer.compiled_update(layer) is update
                   for layer, update in zip(self._graph, bindings))

    def _forward(self, X, training):
        out = X
        for layer in self._graph:
            layer.forward(out, training)
            out = layer.output  # the book's forward returns nothing
        return out

    def _infer(self, X):
        """The network's output for ``X`` in arrays of this call, between two training steps.

        A layer with ``infer`` (fastbp's Dense, DenseReLU and ReLU) computes into new arrays:
        its buffers and bound arrays, which a training in another thread is using, stay as
        they are. Any other layer runs its own ``forward``, which is why the step lock is
        held throughout.
        """
        with self._step_lock:
            out = X
            for layer in self._graph:
                infer = getattr(layer, "infer", None)
                if infer is not None:
                    out = infer(out)
                else:
                    layer.forward(out, False)
                    out = layer.output
            return out

    def _backward(self, labels):
        loss = self._output_loss
        loss.backward_prepared(loss.output, labels)
        dvalues = loss.dinputs
        for layer in reversed(self._graph):
            layer.backward(dvalues)
            dvalues = layer.dinputs

    def _regularization_loss(self):
        return sum(Loss.regularization_loss(layer) for layer in self._trainable)

    @staticmethod
    def _accuracy(probabilities, labels):
        predictions = np.argmax(probabilities, axis=1)
        return float(np.mean(predictions == labels)) if len(labels) else float("nan")

    @staticmethod
    def _batches(n_samples, batch_size):
        if batch_size is None:
            return [slice(0, n_samples)]
        return [slice(start, start + batch_size) for start in range(0, n_samples, batch_size)]

    def _check_batch_size(self, batch_size):
        if batch_size is not None and (int(batch_size) != batch_size or batch_size < 1):
            raise ValueError(f"batch_size must be None or an integer >= 1, got {batch_size}")
        return None if batch_size is None else int(batch_size)

    # -- public ---------------------------------------------------------------------------

    def train(self, X, y, *, epochs=1, batch_size=None, print_every=1, validation_data=None):
        """Train; print ``epoch, acc, loss (data_loss, reg_loss), lr`` every ``print_every``
        epochs (0: silent). Returns the last epoch's figures as a dict."""
        with self._lock:
            self._training = True
            try:
                return self._train(X, y, epochs, batch_size, print_every, validation_data)
            finally:
                with self._step_lock:
                    self._training = False
                    self._sync_fused()  # the Dense layers see what training changed

    def _train(self, X, y, epochs, batch_size, print_every, validation_data):
        self._require_finalized()
        with self._step_lock:
            self._sync_fused()  # and the model sees what was set on them
        if self.optimizer is None:
            raise ValueError("set(optimizer=...) before train()")
        if int(epochs) != epochs or epochs < 0:
            raise ValueError(f"epochs must be an integer >= 0, got {epochs}")
        try:
            valid = int(print_every) == print_every and print_every >= 0
        except (TypeError, ValueError):
            valid = False
        if not valid:
            raise ValueError(f"print_every must be an integer >= 0 (0: silent), "
                             f"got {print_every!r}")
        print_every = int(print_every)
        batch_size = self._check_batch_size(batch_size)
        X = self._check_X(X)
        if X.shape[0] == 0:
            raise ValueError("X has no samples: there is nothing to train on")
        kind, y, labels = self._check_y(y, X)
        if validation_data is not None:
            try:
                X_val, y_val = validation_data
            except (TypeError, ValueError):
                raise ValueError("validation_data must be a pair (X_val, y_val)") from None
            X_val = self._check_X(X_val, "validation X")
            val = self._check_y(y_val, X_val, "validation y")
        # The batch views are made once: the same objects every epoch let each layer keep
        # its validated arrays bound (fastbp.layers, "fast path").
        batches = [(X[s], y[s], labels[s]) for s in self._batches(X.shape[0], batch_size)]
        loss_fn, optimizer = self._output_loss, self.optimizer
        regularized = any(any(regularizers(layer)) for layer in self._trainable)
        result = {}
        step_lock = self._step_lock
        network = None  # a compiled whole step, once the first step has bound every array
        network_bindings = None  # the optimizer's updates it was built with
        compile_next = len(batches) == 1  # after the next layer-by-layer epoch, compile it
        epochs = int(epochs)
        epoch = 0
        while epoch < epochs:
            epoch += 1
            data_loss_sum = 0.0
            correct = 0.0
            for Xb, yb, lb in batches:
                n = Xb.shape[0]
                step_lock.acquire()
                try:
                    compiled_loss = None
                    if network is not None and self._network_still_valid(network,
                                                                         network_bindings):
                        # One batch: the epochs up to the next one shown (or the last) run
                        # in one call, as nothing runs in Python between them. The steps
                        # before a call's last skip the dinputs no step reads
                        # (NetworkStep.run); its last is full, so that after train every
                        # array is set. The run holds the locks of all the network's
                        # objects, and checks under them that its bindings still hold.
                        last = epochs
                        if print_every:
                            last = min(last, -(-epoch // print_every) * print_every)
                        last = min(last, epoch + _MAX_STEPS_PER_CALL - 1)
                        compiled_loss = _network_run(network, optimizer, last - epoch + 1)
                        epoch = last
                    elif network is not None:
                        # e.g. SGD's momentum switched on, or a layer bound to other
                        # arrays: this epoch runs layer by layer, and the step is compiled
                        # again after.
                        network = None
                        compile_next = True
                    if compiled_loss is not None:
                        data_loss_sum += compiled_loss * n
                    else:
                        logits = self._forward(Xb, True)
                        data_loss_sum += loss_fn.forward_prepared(logits, kind, yb, lb) * n
                        self._backward(lb)
                        optimizer.pre_update_params()
                        for layer in self._trainable:
                            optimizer.update_params(layer)
                        optimizer.post_update_params()
                    report = print_every and (epoch % print_every == 0 or epoch == epochs)
                    if report or epoch == epochs:
                        # Accuracy costs an argmax a step; only computed when it is shown.
                        # The update does not touch the probabilities the forward pass left.
                        correct += self._accuracy(loss_fn.output, lb) * n
                finally:
                    step_lock.release()
            if compile_next and network is None and epoch < epochs:
                with step_lock:
                    switch = NETWORK_STEP
                    built = self._network_step() if switch.enabled else None
                    network, network_bindings = built or (None, None)
                    record = switch.record  # read once: another thread may reset it
                    if record is not None:
                        record.append(built is not None)
                compile_next = False  # None: not compilable; else compiled
            data_loss = data_loss_sum / X.shape[0]
            reg_loss = self._regularization_loss() if regularized else 0.0
            if report or epoch == epochs:
                result = {"epoch": epoch, "loss": data_loss + reg_loss, "data_loss": data_loss,
                          "reg_loss": reg_loss, "accuracy": correct / X.shape[0],
                          "learning_rate": optimizer.current_learning_rate}
            if report:
                print(f"epoch: {epoch}, acc: {result['accuracy']:.3f}, "
                      f"loss: {result['loss']:.3f} (data_loss: {data_loss:.3f}, "
                      f"reg_loss: {reg_loss:.3f}), lr: {optimizer.current_learning_rate}")
        if validation_data is not None:
            val_loss, val_acc = self._evaluate(X_val, *val, batch_size)
            if print_every:
                print(f"validation, acc: {val_acc:.3f}, loss: {val_loss:.3f}")
            result.update(validation_loss=val_loss, validation_accuracy=val_acc)
        return result

    def _evaluate(self, X, kind, y, labels, batch_size):
        loss_sum = correct = 0.0
        loss_fn = SoftmaxCrossEntropy()  # of this call: training's loss keeps its arrays
        for batch in self._batches(X.shape[0], batch_size):
            logits = self._infer(X[batch])
            n = logits.shape[0]
            loss_sum += loss_fn.forward_prepared(logits, kind, y[batch], labels[batch]) * n
            correct += self._accuracy(loss_fn.output, labels[batch]) * n
        n = X.shape[0]
        return (loss_sum / n, correct / n) if n else (float("nan"), float("nan"))

    def evaluate(self, X, y, *, batch_size=None):
        """Mean data loss and accuracy on ``(X, y)``, no training."""
        self._require_finalized()
        with self._step_lock:
            self._sync_fused(pull=not self._training)
        batch_size = self._check_batch_size(batch_size)
        X = self._check_X(X)
        return self._evaluate(X, *self._check_y(y, X), batch_size)

    def predict(self, X, *, batch_size=None):
        """Class probabilities for ``X`` (a new array)."""
        self._require_finalized()
        with self._step_lock:
            self._sync_fused(pull=not self._training)
        batch_size = self._check_batch_size(batch_size)
        X = self._check_X(X)
        softmax = Softmax()  # of this call: its output is no other call's
        outputs = [softmax.forward(self._infer(X[batch])).copy()
                   for batch in self._batches(X.shape[0], batch_size)]
        return np.concatenate(outputs) if outputs else np.empty((0, self._n_classes()))

    # -- parameters -----------------------------------------------------------------------

    def _parameter_layers(self):
        # After finalize(), the layers that run (kept in step with the Dense layers they were
        # made from by _sync_fused).
        layers = self._graph if self._graph is not None else self.layers
        return [layer for layer in layers if hasattr(layer, "weights")]

    def get_parameters(self):
        """[(weights, biases), ...] of the Dense layers, in order (copies)."""
        with self._step_lock:  # all of one moment, between two steps of a training
            self._sync_fused(pull=not self._training)
            return [(layer.weights.copy(), layer.biases.copy())
                    for layer in self._parameter_layers()]

    def set_parameters(self, parameters):
        """Set every Dense layer's (weights, biases); all checked before any is set."""
        with self._step_lock:
            self._sync_fused(pull=not self._training)
        layers = self._parameter_layers()
        parameters = list(parameters)
        if len(parameters) != len(layers):
            raise ValueError(f"expected parameters for {len(layers)} layers, "
                             f"got {len(parameters)}")
        converted = []
        for index, (layer, (weights, biases)) in enumerate(zip(layers, parameters)):
            for name in ("weights", "biases"):
                current = getattr(layer, name)
                if not (isinstance(current, np.ndarray) and current.flags.writeable):
                    raise ValueError(f"layer {index}'s {name} cannot be written in place "
                                     "(read-only or not an array): nothing was set")
            dtype = layer_dtype(layer)
            weights = as_layer_array(weights, f"weights of layer {index}", dtype)
            biases = as_layer_array(biases, f"biases of layer {index}", dtype)
            if weights.shape != layer.weights.shape or biases.shape != layer.biases.shape:
                raise ValueError(
                    f"layer {index} takes weights {layer.weights.shape} and biases "
                    f"{layer.biases.shape}, got {weights.shape} and {biases.shape}"
                )
            converted.append((weights, biases))
        with self._step_lock:  # between two steps of a training in another thread
            for layer, (weights, biases) in zip(layers, converted):
                # In place: fused layers made by finalize() share these arrays.
                layer.weights[...] = weights
                layer.biases[...] = biases

    def save_parameters(self, path):
        """Save the Dense layers' parameters to an .npz file (no pickle)."""
        arrays = {}
        for index, (weights, biases) in enumerate(self.get_parameters()):
            arrays[f"weights_{index}"] = weights
            arrays[f"biases_{index}"] = biases
        # Through a file object: np.savez given a name would append ".npz" to it.
        with open(path, "wb") as f:
            np.savez(f, **arrays)

    def load_parameters(self, path):
        """Load parameters saved by ``save_parameters``; pickles are refused, and a file of
        the wrong layout leaves the model unchanged."""
        with np.load(path, allow_pickle=False) as data:
            n = len(self._parameter_layers())
            expected = {f"{kind}_{i}" for i in range(n) for kind in ("weights", "biases")}
            if set(data.files) != expected:
                raise ValueError(
                    f"{path} holds {sorted(data.files)}, expected {sorted(expected)}"
                )
            parameters = [(data[f"weights_{i}"], data[f"biases_{i}"]) for i in range(n)]
        self.set_parameters(parameters)
