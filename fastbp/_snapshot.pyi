# Hand-written stub for the compiled module fastbp/_snapshot.pyx.
import numpy as np

class ArraySnapshot:
    """Identity, data pointer, dtype, flags, shape and strides of up to 8 1-D/2-D arrays."""
    def __init__(self, *arrays: np.ndarray) -> None: ...
    def same(self, *arrays: object) -> bool:
        """True if ``arrays`` are the snapshot's objects, each unchanged in layout."""
