"""``fastbp.show_config()``: what fastbp runs on, for bug reports and benchmark tables."""

import importlib
import os
import platform
import sys

import numpy as np

from . import _blas as _blas_module
from . import _cpu, _dispatch, _testing

__all__ = ["show_config"]


def cpu_name():
    """The CPU's model name (Linux's /proc/cpuinfo), else what platform knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _blas():
    """The BLAS fastbp calls (the scipy-openblas32 package's), as threadpoolctl sees it
    loaded in this process, else as the package describes itself."""
    info = {"library": "openblas", "version": None, "kernels": None, "threads": None,
            "filepath": _blas_module.LIBRARY, "source": None}
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        for lib in threadpool_info():
            if lib.get("filepath") and os.path.samefile(lib["filepath"], info["filepath"]):
                info.update(library=lib.get("internal_api"), version=lib.get("version"),
                            kernels=lib.get("architecture"), threads=lib.get("num_threads"),
                            source="threadpoolctl")
                return info
    import scipy_openblas32

    info.update(version=scipy_openblas32.__version__,
                source="scipy-openblas32 (threadpoolctl not installed: kernels and threads "
                       "unknown)")
    return info


def _version(module):
    try:
        return importlib.import_module(module).__version__
    except ImportError:
        return None


def _config():
    kernels = _dispatch.kernels_module
    build = dict(kernels.BUILD_INFO)
    features = _dispatch.CPU_FEATURES
    return {
        "fastbp": {"version": sys.modules["fastbp"].__version__,
                   "path": os.path.dirname(os.path.abspath(__file__))},
        "kernels": {"build": _dispatch.KERNEL_VARIANT, "module": kernels.__name__,
                    "reason": _dispatch.REASON,
                    "special paths": list(_testing.active_paths())},
        "cpu": {"name": cpu_name(), "machine": platform.machine(),
                "detection": _cpu.DETECTION,
                "features": [name for name, seen in features.items() if seen]},
        "build": build,
        "blas": _blas(),
        "python": {"version": platform.python_version(),
                   "implementation": platform.python_implementation()},
        "numpy": np.__version__,
        "scipy": _version("scipy"),  # not a dependency: for bug reports only
    }


def show_config(mode="stdout"):
    """Print what fastbp runs on, as ``numpy.show_config()`` does: fastbp's version, the
    kernel build chosen and why (the CPU features seen), how it was built, the BLAS it calls
    (library, version, kernel family, threads), and the numpy, scipy and Python versions.

    ``mode="dicts"`` returns the same as a dict instead of printing it.
    """
    if mode not in ("stdout", "dicts"):
        raise ValueError(f"mode must be 'stdout' or 'dicts', got {mode!r}")
    config = _config()
    if mode == "dicts":
        return config
    kernels, cpu, build, blas = (config[k] for k in ("kernels", "cpu", "build", "blas"))
    lines = [
        f"fastbp {config['fastbp']['version']} ({config['fastbp']['path']})",
        f"kernels: {kernels['build']} ({kernels['module']}): {kernels['reason']}; "
        f"special paths: {', '.join(kernels['special paths']) or 'none'}",
        f"CPU: {cpu['name']} ({cpu['machine']}); features seen: "
        f"{' '.join(cpu['features']) or 'none'}",
        f"built with: Cython {build['cython']}, {build['compiler']}; "
        f"checked build: {'yes' if build['checked'] else 'no'}",
        f"BLAS: {blas['library']} {blas['version']}"
        + (f", {blas['kernels']} kernels, {blas['threads']} threads" if blas['kernels'] else "")
        + f" ({blas['source']})" + (f"\n      {blas['filepath']}" if blas['filepath'] else ""),
        f"numpy {config['numpy']}, scipy {config['scipy'] or 'not installed'}, "
        f"{config['python']['implementation']} {config['python']['version']}",
    ]
    print("\n".join(lines))
