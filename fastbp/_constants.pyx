"""fastbp's shared constants (fastbp/_constants.h), for the Python modules.

One header defines them; the compiled modules cimport it (``_constants.pxd``) and Python
reads the same values here, so that a check in Python and the kernel behind it never
disagree.
"""

CONSTANTS = {
    "BLAS_MAX_DIM": BLAS_MAX_DIM,
    "MAX_NETWORK_LAYERS": MAX_NETWORK_LAYERS,
    "CLIP": CLIP,
}
