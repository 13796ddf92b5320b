# Hand-written stub for the compiled module fastbp/_overlap.pyx.
import numpy as np

def may_overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """True if the memory extents of ``a`` and ``b`` intersect (False is certain)."""

def overlaps_any(a: np.ndarray, others: tuple[np.ndarray | None, ...]) -> bool:
    """True if ``a``'s memory extent intersects that of any of ``others``."""
