# fastbp's shared constants (fastbp/_constants.h), for the compiled modules to cimport.

cdef extern from "_constants.h":
    enum:
        MAX_NETWORK_LAYERS "FASTBP_MAX_NETWORK_LAYERS"
    const Py_ssize_t BLAS_MAX_DIM "FASTBP_BLAS_MAX_DIM"
    const double CLIP "FASTBP_CLIP"
