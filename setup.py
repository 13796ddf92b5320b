"""Build the Cython extensions of fastbp.

Compiler directives live here and nowhere else. ``FASTBP_DEBUG=1`` at build time turns
bounds, wraparound and initialization checks back on (a slow build for hunting memory bugs);
``FASTBP_NATIVE=1`` adds ``-march=native`` for a build that only has to run on this machine;
``FASTBP_NO_LIBMVEC=1`` builds the loss without glibc's vector math library.

The default build runs on any x86-64 (or other) machine. When the target is x86-64, the
kernels are also built a second time as ``fastbp._kernels_avx2`` for the x86-64-v3 level
(AVX2, FMA, ...); fastbp picks that one at import when the CPU runs it
(``FASTBP_KERNELS=baseline`` forces the other). The target is the platform the wheel is for,
not the machine that builds it: a cross build names it (``_PYTHON_HOST_PLATFORM``, which
sysconfig reads; on macOS ``ARCHFLAGS``), and a universal2 build on macOS compiles the
x86-64-v3 flags for its x86-64 half only.

The plan (which extensions, with which flags) is worked out first, from the environment
alone; the build itself runs when this file runs as a script, as pip and ``python -m build``
run it (tests/test_build_plan.py reads the plan without building).
"""

import os
import platform
import re
import sysconfig


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



def target_architectures():
    """The CPU architectures the extensions are compiled for (sysconfig's platform, which
    honours _PYTHON_HOST_PLATFORM in a cross build; ARCHFLAGS on macOS)."""
    plat = sysconfig.get_platform()
    archflags = os.environ.get("ARCHFLAGS", "")
    if plat.startswith("macosx-") and archflags.strip():
        return set(re.findall(r"-arch\s+(\S+)", archflags))
    arch = plat.rsplit("-", 1)[-1].lower()
    return {"universal2": {"x86_64", "arm64"}, "intel": {"x86_64", "i386"}}.get(arch, {arch})


TARGETS = target_architectures()
X86_64 = {"x86_64", "amd64"}
# The x86-64-v3 level (x86-64 psABI) as the instruction sets it adds, which GCC from 4.9 and
# clang accept; -march=x86-64-v3, the same set by one name, needs GCC 11 or clang 12.
X86_64_V3_FLAGS = ["-mcx16", "-msahf", "-mpopcnt", "-msse3", "-mssse3", "-msse4.1", "-msse4.2",
                   "-mavx", "-mavx2", "-mbmi", "-mbmi2", "-mf16c", "-mfma", "-mlzcnt", "-mmovbe",
                   "-mxsave"]
if len(TARGETS) > 1:
    # One clang call compiles every architecture of a macOS universal build:
    # -Xarch_x86_64 passes the flag that follows to the x86-64 half only.
    X86_64_V3_FLAGS = [f for flag in X86_64_V3_FLAGS for f in ("-Xarch_x86_64", flag)]

# _cpu, which detects the CPU's features, is built for the baseline like all but one.
variants = {name: [] for name in ("_blas", "_calllock", "_constants", "_cpu", "_kernels",
                                  "_overlap", "_snapshot", "_fastcheck", "_loss",
                                  "_optimizers", "_train_step")}
if GCC_LIKE and TARGETS & X86_64 and not NATIVE:
    variants["_kernels_avx2"] = X86_64_V3_FLAGS



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
LIBMVEC = (GCC_LIKE and not _flag("FASTBP_NO_LIBMVEC")
           and sysconfig.get_platform().startswith("linux-") and TARGETS <= X86_64
           and _glibc_with_libmvec())
uses_libmvec = {"_loss"} if LIBMVEC else set()


def main():
    import Cython
    import numpy
    from Cython.Build import cythonize
    from setuptools import Extension, setup

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
            # Always regenerate the C: a stale file from a debug build must not become a
            # release.
            force=True,
        ),
    )


if __name__ == "__main__":
    main()
