# Hand-written stub for the compiled module fastbp/_kernels.pyx.
# Each entry point is a Cython fused function: call it with arrays that are all float32 or
# all float64, or index it with "float" / "double" for the specialization. Nothing is
# checked beyond what the memoryview types enforce: use fastbp.functional instead.

from typing import Any, Literal

import numpy as np
import numpy.typing as npt

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

BUILD_INFO: dict[str, str | bool]  # Cython, compiler, checked build, thin kernels
PATH_BITS: dict[str, int]  # the special paths by name (fastbp._testing.PATHS)
PATHS_BUILT: int  # the mask of those this build has
def _get_paths() -> int: ...  # the mask taken now
def _set_paths(paths: int) -> int: ...  # fastbp._testing.kernel_paths only; the old mask
def _kernel_table() -> Any: ...  # a capsule of pointer kernels (_fastcheck, _train_step)
