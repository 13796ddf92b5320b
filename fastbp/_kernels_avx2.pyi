# Hand-written stub for the compiled module fastbp/_kernels_avx2.pyx: the same kernels as
# fastbp/_kernels.pyx, built for x86-64-v3, with the same signatures.
from ._kernels import *  # noqa: F403
from ._kernels import _kernel_table as _kernel_table
from ._kernels import BUILD_INFO as BUILD_INFO
from ._kernels import PATH_BITS as PATH_BITS
from ._kernels import PATHS_BUILT as PATHS_BUILT
from ._kernels import _get_paths as _get_paths
from ._kernels import _set_paths as _set_paths
