# Hand-written stub for the compiled module fastbp/_kernels_avx2.pyx: the same kernels as
# fastbp/_kernels.pyx, built for x86-64-v3, with the same signatures.
from ._kernels import *  # noqa: F403
