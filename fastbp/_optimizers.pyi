# Hand-written stub for the compiled module fastbp/_optimizers.pyx: LayerUpdate over
# C-contiguous 2-D arrays, all float32 or all float64, updated in place. No checks: use
# fastbp.optimizers instead.
from typing import Any

from ._calllock import CallLock

# Optimizer codes for fastbp._train_step.NetworkStep.step.
SGD: int
SGD_MOMENTUM: int
ADAGRAD: int
RMSPROP: int
ADAM: int

class LayerUpdate:
    """A layer's parameters, gradients and state bound as memoryviews; one call updates
    weights and biases. No checks (fastbp.optimizers does). State 1: momentums or cache;
    state 2: Adam's cache. Each update holds ``lock`` (the layer's; a new one if None)."""
    lock: CallLock
    def __init__(self, float64: bool, weights: Any, dweights: Any, biases: Any, dbiases: Any,
                 weight_state_1: Any = ..., weight_state_2: Any = ...,
                 bias_state_1: Any = ..., bias_state_2: Any = ..., *,
                 lock: CallLock | None = ...) -> None: ...
    def sgd(self, learning_rate: float) -> None: ...
    def sgd_momentum(self, learning_rate: float, momentum: float) -> None: ...
    def adagrad(self, learning_rate: float, epsilon: float) -> None: ...
    def rmsprop(self, learning_rate: float, epsilon: float, rho: float) -> None: ...
    def adam(self, learning_rate: float, epsilon: float, beta_1: float, beta_2: float,
             correction_1: float, correction_2: float) -> None: ...
