"""Build the Cython extensions of fastbp.

Compiler directives live here and nowhere else. ``FASTBP_DEBUG=1`` at build time turns
bounds, wraparound and initialization checks back on (a slow build for hunting memory bugs);
``FASTBP_NATIVE=1`` adds ``-march=native`` for a build that only has to run on this machine;
``FASTBP_NO_LIBMVEC=1`` builds the loss without glibc's vector math library.

The default build runs on any x86-64 (or other) machine. On x86-64, the kernels are also
built a second time as ``fastbp._kernels_avx2`` with ``-march=x86-64-v3``; fastbp picks that
one at import when the CPU has AVX2 and FMA (``FASTBP_KERNELS=baseline`` forces the other).
"""

import os
import platform

import Cython
import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup


def _flag(name):
    return os.environ.get(name, "0").strip().lower() not in ("", "0", "false", "no")


DEBUG = _flag("FASTBP_DEBUG")
NATIVE = _flag("FASTBP_NATIVE")

COMPILER_DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": not DEBUG,
    "embedsignature": True,
}

# No -ffast-math: it links crtfastmath, which turns on flush-to-zero for the whole process.
# No contraction of a*b + c into FMA either: both kernel builds then round alike.
# -fno-math-errno only drops errno from math functions (nothing reads it): it lets sqrt be
# inlined and vectorized in the optimizer loops, with the same IEEE results.
GCC_LIKE = os.name != "nt"
extra_compile_args = ["-O3", "-ffp-contract=off", "-fno-math-errno"] if GCC_LIKE else []
if DEBUG and GCC_LIKE:
    extra_compile_args = ["-O0", "-g"]
if NATIVE and GCC_LIKE:
    extra_compile_args.append("-march=native")

# _cpu, which detects the CPU's features, is built for the baseline like all but one.
variants = {name: [] for name in ("_blas", "_calllock", "_constants", "_cpu", "_kernels",
                                  "_overlap", "_snapshot", "_fastcheck", "_loss",
                                  "_optimizers", "_train_step")}
if GCC_LIKE and platform.machine().lower() in ("x86_64", "amd64") and not NATIVE:
    variants["_kernels_avx2"] = ["-march=x86-64-v3"]



def _glibc_with_libmvec():
    # libmvec ships with glibc from 2.22 on (CentOS 7's 2.17 has none).
    name, version = platform.libc_ver()
    try:
        return name == "glibc" and tuple(int(x) for x in version.split(".")[:2]) >= (2, 22)
    except ValueError:
        return False


# glibc's vector math library (libmvec) for the softmax's exp and the loss's log, where the
# C library is glibc 2.22 or newer on x86-64 (see _loss.pyx); elsewhere, or with
# FASTBP_NO_LIBMVEC=1, the loss calls the scalar functions.
LIBMVEC = (GCC_LIKE and not _flag("FASTBP_NO_LIBMVEC") and platform.system() == "Linux"
           and platform.machine().lower() in ("x86_64", "amd64") and _glibc_with_libmvec())
uses_libmvec = {"_loss"} if LIBMVEC else set()

extensions = [
    Extension(
        f"fastbp.{name}",
        [f"fastbp/{name}.pyx"],
        include_dirs=[numpy.get_include()],
        extra_compile_args=extra_compile_args + flags,
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
                       # for fastbp.show_config()
                       ("FASTBP_CYTHON_VERSION", f'"{Cython.__version__}"')]
        + ([("FASTBP_CHECKED_BUILD", "1")] if DEBUG else [])
        + ([("FASTBP_LIBMVEC", "1")] if name in uses_libmvec else []),
        libraries=["mvec"] if name in uses_libmvec else [],
    )
    for name, flags in variants.items()
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives=COMPILER_DIRECTIVES,
        # Always regenerate the C: a stale file from a debug build must not become a release.
        force=True,
    ),
)
