# Hand-written stub for the compiled module fastbp/_loss.pyx. Fused functions: arrays all
# float32 or all float64, C-contiguous, 2-D; labels are C long (np.dtype("long")). No checks:
# use fastbp.losses instead.
from typing import Any

softmax: Any  # (logits, probs) -> None
softmax_crossentropy_sparse: Any  # (logits, labels, probs) -> float (mean loss)
softmax_crossentropy_onehot: Any  # (logits, onehot, probs) -> float (mean loss)
softmax_crossentropy_backward: Any  # (dvalues, labels, dinputs) -> None

class SoftmaxCrossEntropyStep:
    """The loss's arrays bound as memoryviews; no checks (fastbp.losses does)."""
    def __init__(self, float64: bool) -> None: ...
    def bind_forward(self, logits: Any, labels: Any, onehot: Any | None, probs: Any) -> None: ...
    def bind_backward(self, dvalues: Any, labels: Any, dinputs: Any) -> None: ...
    def forward(self) -> float: ...
    def backward(self) -> None: ...
