# Hand-written stub for the compiled module fastbp/_kernels_avx2.pyx: the same kernels as
# fastbp/_kernels.pyx, built for x86-64-v3, with the same signatures.
from ._kernels import *  # noqa: F403
from ._kernels import _kernel_table as _kernel_table
from ._kernels import _set_small_product as _set_small_product
from ._kernels import _set_thin_inputs as _set_thin_inputs
from ._kernels import _set_thin_forward_vectors as _set_thin_forward_vectors
from ._kernels import _set_thin_backward_inputs as _set_thin_backward_inputs
from ._kernels import _set_thin_outputs as _set_thin_outputs
