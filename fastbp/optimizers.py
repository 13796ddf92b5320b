"""Optimizers with the book's API and formulas, each update one compiled in-place pass.

``pre_update_params()`` sets ``current_learning_rate = learning_rate / (1 + decay·iterations)``
(when ``decay`` is set), ``update_params(layer)`` updates the layer's ``weights`` and
``biases`` in place from its ``dweights`` and ``dbiases``, ``post_update_params()`` counts
the iteration. As in the book, the optimizer's state lives on the layer
(``weight_momentums``, ``weight_cache``, ``bias_momentums``, ``bias_cache``).
"""

import operator

import numpy as np

from . import _optimizers
from ._calllock import CallLock
from ._optimizers import LayerUpdate
from ._snapshot import ArraySnapshot
from ._validation import (
    as_layer_array,
    check_parameter_shapes,
    layer_dtype,
    overlaps,
    runs_own_methods,
)

__all__ = ["SGD", "Adagrad", "RMSprop", "Adam",
           "Optimizer_SGD", "Optimizer_Adagrad", "Optimizer_RMSprop", "Optimizer_Adam"]

_FLOAT64 = np.dtype(np.float64)


def _check_hyperparameter(value, name, *, low=0.0, high=None, low_open=False):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}") from None
    bad = not (value > low if low_open else value >= low) or (high is not None and value >= high)
    if bad or value != value:
        bound = f"> {low}" if low_open else f">= {low}"
        if high is not None:
            bound += f" and < {high}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


_NO_STATE = ()
_MOMENTUMS = ("momentums",)
_CACHE = ("cache",)
_MOMENTUMS_CACHE = ("momentums", "cache")
# The layer's arrays an update reads and writes, for each set of state arrays.
_LAYER_ARRAYS = {
    states: operator.attrgetter("weights", "biases", "dweights", "dbiases",
                                *(f"weight_{name}" for name in states),
                                *(f"bias_{name}" for name in states))
    for states in (_NO_STATE, _MOMENTUMS, _CACHE, _MOMENTUMS_CACHE)
}


def _layer_lock(layer):
    """The lock of a fastbp layer (its ``call_lock``); a new one for a layer of another kind
    (updates of such a layer from several threads are the caller's to order)."""
    lock = getattr(layer, "call_lock", None)
    return lock if type(lock) is CallLock else CallLock()


def _layer_parameters(layer):
    """The layer's ``weights`` and ``biases`` as C-contiguous arrays of one float dtype (the
    layer's ``dtype`` where it has one, else float32/64 as they are, else float64), checked;
    converted arrays are set back on the layer, which the update then changes in place."""
    weights = as_layer_array(layer.weights, "weights", layer_dtype(layer))
    biases = as_layer_array(layer.biases, "biases", weights.dtype)
    check_parameter_shapes(weights, biases)
    if weights is not layer.weights:
        layer.weights = weights
    if biases is not layer.biases:
        layer.biases = biases
    return weights, biases


class _Binding:
    """An optimizer's compiled update of one layer, with what it was made from: good while
    the optimizer, its set of state arrays and the layer's arrays stay the same. Kept on the
    layer, as the book keeps the optimizer's state there; a copy or pickle of the layer
    carries none (it loads as None)."""

    __slots__ = ("optimizer", "states", "snapshot", "update")

    def __init__(self, optimizer, states, snapshot, update):
        self.optimizer = optimizer
        self.states = states
        self.snapshot = snapshot
        self.update = update

    def __reduce__(self):
        return type(None), ()


class _Optimizer:
    # The state arrays the update uses, by suffix: "momentums" is weight_momentums and
    # bias_momentums on the layer, as in the book.
    _states = _NO_STATE

    def __init__(self, learning_rate, decay):
        self.learning_rate = _check_hyperparameter(learning_rate, "learning_rate",
                                                   low_open=True)
        self.decay = _check_hyperparameter(decay, "decay")
        self.current_learning_rate = self.learning_rate
        self.iterations = 0

    # pre_update_params and post_update_params change only the optimizer's own two numbers,
    # and take no lock: a lock taken around them, even a free one, lowered the throughput of
    # two threads each training its own network. update_params holds the layer's lock.

    def pre_update_params(self):
        if self.decay:
            self.current_learning_rate = self.learning_rate * (
                1. / (1. + self.decay * self.iterations))

    def post_update_params(self):
        self.iterations += 1

    def update_params(self, layer):
        """Update ``layer.weights`` and ``layer.biases`` in place, in one compiled call."""
        states = self._states
        # Fast path: the arrays this optimizer bound last time, all the same and unchanged
        # (_bound_update, written out: this runs once per layer and step).
        bound = getattr(layer, "_fastbp_update", None)
        if bound is not None and bound.optimizer is self and bound.states is states:
            try:
                arrays = _LAYER_ARRAYS[states](layer)
            except AttributeError:  # a state array deleted
                arrays = None
            if arrays is not None and bound.snapshot.same(*arrays):
                # The update holds the layer's lock while it runs: two threads' updates of
                # one layer apply one after the other.
                self._run(bound.update, states)
                return
        lock = _layer_lock(layer)
        with lock:
            self._run(self._bind(layer, states, lock), states)

    def _bound_update(self, layer, states):
        bound = getattr(layer, "_fastbp_update", None)
        if bound is None or bound.optimizer is not self or bound.states is not states:
            return None
        try:
            arrays = _LAYER_ARRAYS[states](layer)
        except AttributeError:  # a state array deleted
            return None
        return bound.update if bound.snapshot.same(*arrays) else None

    # -- the protocol with Model (docs/design.md, "Protocol") -----------------------------

    def compiled_update(self, layer):
        """The compiled update (LayerUpdate) that this optimizer's last ``update_params``
        bound to ``layer``'s arrays, while they and the optimizer's set of state arrays are
        unchanged; None otherwise. Model's compiled training step replays it.

        It stands for fastbp's own update methods: a subclass, or an optimizer whose
        ``pre_update_params``, ``update_params`` or ``post_update_params`` was replaced on
        the instance or the class, runs on the Python path (a subclass may define
        ``compiled_update`` and ``compiled_schedule`` itself)."""
        if not self._compiled():
            return None
        return self._bound_update(layer, self._states)

    def compiled_schedule(self):
        """``(code, hyperparameters)`` of this optimizer's update for NetworkStep.run, or None
        when that step cannot replay it bit for bit: its double arithmetic matches Python's
        only on a Python int ``iterations`` and float hyperparameters (a numpy float32
        ``learning_rate`` would make Python compute in float32)."""
        if not self._compiled():
            return None
        schedule = self._schedule()
        values = [self.learning_rate, self.decay, *schedule[1]]
        if type(self.iterations) is not int or any(type(v) is not float for v in values):
            return None
        return schedule

    def _compiled(self):
        stock = _STOCK_METHODS.get(type(self))
        return stock is not None and runs_own_methods(self, stock)

    def _bind(self, layer, states, lock):
        """Check the layer's gradients, make its state, bind them; remember the binding."""
        weights, biases = _layer_parameters(layer)
        grads = []
        converted = False
        # Both gradients are checked before either parameter changes.
        for params, grad, name in ((weights, layer.dweights, "dweights"),
                                   (biases, layer.dbiases, "dbiases")):
            if grad is None:
                raise RuntimeError(f"{type(layer).__name__}.{name} is None: call backward first")
            if not isinstance(grad, np.ndarray) or grad.shape != params.shape:
                raise ValueError(
                    f"{name} must be an array of the parameters' shape {params.shape}, got "
                    f"{getattr(grad, 'shape', type(grad).__name__)}"
                )
            if grad.dtype.kind not in "biuf":
                raise TypeError(f"{name} must hold real numbers, got dtype {grad.dtype}")
            # Any layout or real dtype is accepted, as the book's numpy code accepts it.
            # (An equal dtype passes: a deep copy's dtype object is not numpy's own, and
            # ascontiguousarray would copy for it.)
            checked = grad
            if grad.dtype != params.dtype or not grad.flags.c_contiguous:
                checked = np.ascontiguousarray(grad, dtype=params.dtype)
            converted = converted or checked is not grad
            grads.append(checked)
        weight_states = [self._state(layer, f"weight_{name}", weights) for name in states]
        bias_states = [self._state(layer, f"bias_{name}", biases) for name in states]
        # The update writes its state in place: a state array sharing memory with a
        # parameter, a gradient or another state (e.g. weight_momentums is weight_cache)
        # would be read after being written. The book rebinds its state every step, so
        # such arrays were never written there; here they get a copy of their own.
        for kind, states_of in (("weight", weight_states), ("bias", bias_states)):
            for i, state in enumerate(states_of):
                others = [weights, biases, *grads,
                          *(x for j, x in enumerate(weight_states)
                            if not (states_of is weight_states and j == i)),
                          *(x for j, x in enumerate(bias_states)
                            if not (states_of is bias_states and j == i))]
                if any(overlaps(state, other) for other in others):
                    states_of[i] = state.copy()
                    setattr(layer, f"{kind}_{states[i]}", states_of[i])
        padding = [None] * (2 - len(states))
        update = LayerUpdate(weights.dtype == _FLOAT64, weights, grads[0], biases, grads[1],
                             *(weight_states + padding), *(bias_states + padding), lock=lock)
        layer.__dict__.pop("_fastbp_update", None)
        if not converted:
            # Bound to the layer's own arrays: good for later calls while they are unchanged.
            # (Converted copies of the gradients are good for this call only.)
            snapshot = ArraySnapshot(*_LAYER_ARRAYS[states](layer))
            try:
                layer._fastbp_update = _Binding(self, states, snapshot, update)
            except AttributeError:  # a layer that takes no new attributes: no fast path
                pass
        return update

    @staticmethod
    def _state(layer, name, params):
        """The state array ``name`` on the layer, created as zeros on first use."""
        state = getattr(layer, name, None)
        if (type(state) is not np.ndarray or state.shape != params.shape
                or state.dtype != params.dtype or not state.flags.c_contiguous
                or not state.flags.writeable):
            state = np.zeros_like(params)
            setattr(layer, name, state)
        return state


class SGD(_Optimizer):
    """Stochastic gradient descent, with optional momentum."""

    def __init__(self, learning_rate=1., decay=0., momentum=0.):
        super().__init__(learning_rate, decay)
        self.momentum = _check_hyperparameter(momentum, "momentum")

    @property
    def _states(self):
        # Without momentum the book keeps no state; momentum may be set after construction.
        return _MOMENTUMS if self.momentum else _NO_STATE

    def _schedule(self):
        if self.momentum:
            return _optimizers.SGD_MOMENTUM, (self.momentum,)
        return _optimizers.SGD, ()

    def _run(self, update, states):
        # By the states bound, not by reading momentum again: it may have changed since.
        if states is _MOMENTUMS:
            update.sgd_momentum(self.current_learning_rate, self.momentum)
        else:
            update.sgd(self.current_learning_rate)


class Adagrad(_Optimizer):
    _states = _CACHE

    def __init__(self, learning_rate=1., decay=0., epsilon=1e-7):
        super().__init__(learning_rate, decay)
        self.epsilon = _check_hyperparameter(epsilon, "epsilon")

    def _schedule(self):
        return _optimizers.ADAGRAD, (self.epsilon,)

    def _run(self, update, states):
        update.adagrad(self.current_learning_rate, self.epsilon)


class RMSprop(_Optimizer):
    _states = _CACHE

    def __init__(self, learning_rate=0.001, decay=0., epsilon=1e-7, rho=0.9):
        super().__init__(learning_rate, decay)
        self.epsilon = _check_hyperparameter(epsilon, "epsilon")
        self.rho = _check_hyperparameter(rho, "rho", high=1.0)

    def _schedule(self):
        return _optimizers.RMSPROP, (self.epsilon, self.rho)

    def _run(self, update, states):
        update.rmsprop(self.current_learning_rate, self.epsilon, self.rho)


class Adam(_Optimizer):
    _states = _MOMENTUMS_CACHE

    def __init__(self, learning_rate=0.001, decay=0., epsilon=1e-7, beta_1=0.9, beta_2=0.999):
        super().__init__(learning_rate, decay)
        self.epsilon = _check_hyperparameter(epsilon, "epsilon")
        self.beta_1 = _check_hyperparameter(beta_1, "beta_1", high=1.0)
        self.beta_2 = _check_hyperparameter(beta_2, "beta_2", high=1.0)

    def _schedule(self):
        return _optimizers.ADAM, (self.epsilon, self.beta_1, self.beta_2)

    def _run(self, update, states):
        update.adam(self.current_learning_rate, self.epsilon, self.beta_1, self.beta_2,
                    1 - self.beta_1 ** (self.iterations + 1),
                    1 - self.beta_2 ** (self.iterations + 1))


# The methods that compiled_update and compiled_schedule stand for, as defined here.
_STOCK_METHODS = {cls: {name: getattr(cls, name) for name in
                        ("pre_update_params", "update_params", "post_update_params")}
                  for cls in (SGD, Adagrad, RMSprop, Adam)}

Optimizer_SGD = SGD
Optimizer_Adagrad = Adagrad
Optimizer_RMSprop = RMSprop
Optimizer_Adam = Adam
