# Hand-written stub for the compiled module fastbp/_kernels_avx2.pyx: the same kernels as
# fastbp/_kernels.pyx (see _kernels.pyi), built for x86-64-v3.
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
# (inputs, weights, biases (flat), out, relu: bool)
dense_forward: _FusedFunction
# out := max(inputs, 0). (inputs, out), flat.
relu_forward: _FusedFunction
# dinputs := dvalues where inputs > 0, else 0. (dvalues, inputs, dinputs), flat.
relu_backward: _FusedFunction
# dbiases := Σ dvalues; dweights := inputsᵀ·dvalues; dinputs := dvalues·weightsᵀ.
# (dvalues, inputs, weights, dinputs, dweights, dbiases (flat))
dense_backward: _FusedFunction
# dz := dvalues where output > 0; dbiases := Σ dz; then the products of dense_backward on dz.
# (dvalues, inputs, weights, output, dz, dinputs, dweights, dbiases (flat))
dense_relu_backward: _FusedFunction
# grad += l1·sign(param) + 2·l2·param. (param, grad, l1: float, l2: float), flat.
regularization_grad: _FusedFunction
