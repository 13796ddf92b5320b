# Hand-written stub for the compiled module fastbp/_train_step.pyx.

from typing import Any

import numpy as np
import numpy.typing as npt

from ._calllock import CallLock

_Array = npt.NDArray[np.float32 | np.float64]

def use_kernels(capsule: Any) -> None: ...  # the kernel build new DenseSteps run

class DenseStep:
    """A Dense (+ReLU) layer's arrays, bound once (dtype, layout and shapes checked then).
    Each method holds ``lock`` (the layer's; a new one if None) while it binds or runs;
    ``kernels`` is a kernel build's ``_kernel_table()`` (None: the one of use_kernels)."""
    lock: CallLock
    generation: int
    def __init__(self, float64: bool, relu: bool, lock: CallLock | None = ...,
                 kernels: Any = ...) -> None: ...
    def bind_forward(self, inputs: _Array, weights: _Array, biases: _Array,
                     out: _Array) -> None: ...
    def bind_backward(self, dvalues: _Array, dz: _Array | None, dinputs: _Array,
                      dweights: _Array, dbiases: _Array) -> None: ...
    def forward(self) -> None: ...
    def backward(self, weight_l1: float, weight_l2: float, bias_l1: float,
                 bias_l2: float) -> None: ...

class NetworkStep:
    """Forward, softmax cross-entropy, backward and update of 1-4 bound layers, in one call
    with the GIL released once; no checks (fastbp.model builds it from bound steps)."""
    def __init__(self, layers: list[DenseStep], loss: Any, updates: list[Any],
                 regularizers: list[tuple[float, float, float, float]]) -> None: ...
    def run(self, steps: int, optimizer: int, learning_rate: float, decay: float,
            current_learning_rate: float, iterations: int, p1: float = ..., p2: float = ...,
            p3: float = ..., *, full_last: bool = ..., counters: Any = ...) -> float: ...
