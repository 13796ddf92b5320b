"""Build the Cython extensions of fastbp.

Compiler directives live here and nowhere else. ``FASTBP_DEBUG=1`` at build time turns
bounds, wraparound and initialization checks back on (a slow build for hunting memory bugs);
``FASTBP_NATIVE=1`` adds ``-march=native`` for a build that only has to run on this machine.
The default build runs on any x86-64 (or other) machine.
"""

import os

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
extra_compile_args = ["-O3"] if os.name != "nt" else []
if DEBUG:
    extra_compile_args = ["-O0", "-g"] if os.name != "nt" else []
if NATIVE:
    extra_compile_args.append("-march=native")

extensions = [
    Extension(
        f"fastbp.{name}",
        [f"fastbp/{name}.pyx"],
        include_dirs=[numpy.get_include()],
        extra_compile_args=extra_compile_args,
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
    for name in ("_kernels", "_overlap")
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives=COMPILER_DIRECTIVES,
        # Always regenerate the C: a stale file from a debug build must not become a release.
        force=True,
    ),
)
