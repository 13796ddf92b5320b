"""Which kernel build runs, chosen once at import from the CPU's features.

On x86-64 the kernels are built twice: ``fastbp._kernels`` (the baseline, any x86-64, and
the only build elsewhere) and ``fastbp._kernels_avx2`` (for the x86-64-v3 level: AVX2, FMA,
BMI1/2, F16C, LZCNT, MOVBE). fastbp runs the x86-64-v3 build where the CPU and the operating
system support that level, as ``fastbp._cpu`` reads them (the compiler's own run-time
detection), and the baseline elsewhere. ``FASTBP_KERNELS=baseline`` or ``avx2`` in the
environment forces one; asking for a build that is not installed or that the CPU cannot
run is an ImportError saying which.
"""

import importlib
import os

from . import _cpu

# Each build: its module and the x86-64 level it needs (None: any CPU).
BUILDS = {
    "baseline": ("fastbp._kernels", None),
    "avx2": ("fastbp._kernels_avx2", "x86-64-v3"),
}
PREFERENCE = ("avx2", "baseline")  # the first that is installed and runs here wins


def build(name):
    """The kernel module of the build ``name`` (of BUILDS), or None if it is not installed."""
    try:
        return importlib.import_module(BUILDS[name][0])
    except ImportError:
        return None


def select(wanted=None, features=None):
    """``(name, module, reason)`` of the build to run. ``wanted`` is FASTBP_KERNELS's value
    (default: read from the environment), ``features`` the CPU's (default: ``_cpu``)."""
    if wanted is None:
        wanted = os.environ.get("FASTBP_KERNELS", "")
    wanted = wanted.strip().lower()
    features = _cpu.features() if features is None else features
    if wanted and wanted not in BUILDS:
        raise ImportError(f"FASTBP_KERNELS must be one of {', '.join(BUILDS)}, got {wanted!r}")
    for name in ((wanted,) if wanted else PREFERENCE):
        module = build(name)
        level = BUILDS[name][1]
        runs = level is None or features.get(level, False)
        if module is not None and runs:
            if wanted:
                return name, module, "FASTBP_KERNELS"
            return name, module, (f"the CPU supports {level}" if level else
                                  "no optimized build that this CPU runs is installed")
        if wanted:
            missing = ("that build is not installed" if module is None
                       else f"this CPU (or its operating system) does not support {level}")
            raise ImportError(f"FASTBP_KERNELS={wanted}, but {missing}")
    raise ImportError("no kernel build of fastbp is installed")  # the baseline always is


CPU_FEATURES = _cpu.features()
KERNEL_VARIANT, kernels_module, REASON = select(features=CPU_FEATURES)


class NetworkStepSwitch:
    """Whether ``Model.train`` may replace its layer-by-layer step by the compiled whole
    step, and a list that, when set, gets whether each try built it. Set only by
    ``fastbp._testing.network_steps``."""

    def __init__(self):
        self.enabled = True
        self.record = None


NETWORK_STEP = NetworkStepSwitch()
