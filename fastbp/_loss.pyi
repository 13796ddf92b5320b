# Hand-written stub for the compiled module fastbp/_loss.pyx. Fused functions: arrays all
# float32 or all float64, C-contiguous, 2-D; labels are C long (np.dtype("long")). No checks:
# use fastbp.losses instead.
from typing import Any

softmax: Any  # (logits, probs) -> None
softmax_crossentropy_sparse: Any  # (logits, labels, probs) -> float (mean loss)
softmax_crossentropy_onehot: Any  # (logits, onehot, probs) -> float (mean loss)
softmax_crossentropy_backward: Any  # (dvalues, labels, dinputs) -> None
