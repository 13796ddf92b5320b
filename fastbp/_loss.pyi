# Hand-written stub for the compiled module fastbp/_loss.pyx. softmax is a fused function:
# arrays all float32 or all float64, C-contiguous, 2-D; labels are C long (np.dtype("long")).
# No checks: use fastbp.losses instead.
from typing import Any

from ._calllock import CallLock

softmax: Any  # (logits, probs) -> None

class SoftmaxCrossEntropyStep:
    """The loss's arrays bound as memoryviews; no checks (fastbp.losses does). Each method
    holds ``lock`` (the loss's; a new one if None) while it binds or runs."""
    lock: CallLock
    def __init__(self, float64: bool, lock: CallLock | None = ...) -> None: ...
    def bind_forward(self, logits: Any, labels: Any, onehot: Any | None, probs: Any) -> None: ...
    def bind_backward(self, dvalues: Any, labels: Any, dinputs: Any) -> None: ...
    def forward(self) -> float: ...
    def backward(self) -> None: ...
