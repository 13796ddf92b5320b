# Hand-written stub for the compiled module fastbp/_kernels.pyx.
# Each entry point is a Cython fused function: call it with arrays that are all float32 or
# all float64, or index it with "float" / "double" for the specialization. Nothing is
# checked beyond what the memoryview types enforce: use fastbp.functional instead.

from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ._calllock import CallLock

_Float = np.float32 | np.float64
_Array = npt.NDArray[_Float]

class _FusedFunction:
    def __call__(self, *args: Any) -> None: ...
    def __getitem__(self, ctype: Literal["float", "double"]) -> Any: ...

# out := inputs·weights + biases, then max(out, 0) if relu.
# (inputs, weights, biases (1, n), out, relu: bool), all 2-D
dense_forward: _FusedFunction
# out := max(inputs, 0). (inputs, out), 2-D.
relu_forward: _FusedFunction
# dinputs := dvalues where inputs > 0, else 0. (dvalues, inputs, dinputs), 2-D.
relu_backward: _FusedFunction
# dbiases := Σ dvalues; dweights := inputsᵀ·dvalues; dinputs := dvalues·weightsᵀ.
# (dvalues, inputs, weights, dinputs, dweights, dbiases (1, n))
dense_backward: _FusedFunction
# dz := dvalues where output > 0; dbiases := Σ dz; then the products of dense_backward on dz.
# (dvalues, inputs, weights, output, dz, dinputs, dweights, dbiases (1, n))
dense_relu_backward: _FusedFunction
# grad += l1·sign(param) + 2·l2·param. (param, grad, l1: float, l2: float), 2-D.
regularization_grad: _FusedFunction

def _set_small_product(n: int) -> int: ...  # loops/BLAS switch; returns the old value
def _set_thin_inputs(n: int) -> int: ...  # one-pass forward up to n inputs; returns the old
def _set_thin_forward_vectors(on: bool) -> bool: ...  # vector lanes for that forward; old
def _set_thin_backward_inputs(n_float64: int, n_float32: int) -> tuple[int, int]: ...  # old pair
def _set_thin_outputs(n: int) -> int: ...  # dot-product forward and dW up to n neurons; old
def _functional_kernels() -> Any: ...  # a capsule of pointer kernels, for fastbp._fastcheck

class DenseStep:
    """A Dense (+ReLU) layer's arrays bound as memoryviews; no checks (fastbp.layers does).
    Each method holds ``lock`` (the layer's; a new one if None) while it binds or runs."""
    lock: CallLock
    def __init__(self, float64: bool, relu: bool, lock: CallLock | None = ...) -> None: ...
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
