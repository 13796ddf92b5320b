# Hand-written stub for the compiled module fastbp/_constants.pyx.

# BLAS_MAX_DIM (int), MAX_NETWORK_LAYERS (int) and CLIP (float), from fastbp/_constants.h.
CONSTANTS: dict[str, int | float]
