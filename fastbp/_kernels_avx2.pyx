# The kernels of _kernels.pyx, compiled a second time for x86-64-v3 (AVX2, FMA): setup.py
# gives this module the x86-64-v3 instruction sets, and fastbp/_dispatch.py imports it in
# place of _kernels when the CPU has those instructions: the elementwise passes (bias+ReLU, the
# backward mask, column sums) run 4-wide instead of 2-wide. One source, two builds:
# edit _kernels.pyx, never this file.
include "_kernels.pyx"
