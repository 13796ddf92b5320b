"""The kernel build chosen from the CPU (fastbp/_dispatch.py), read here independently.

Through show_config() and FASTBP_KERNELS in a new process; private only where a CPU without
x86-64-v3 must be pretended (fastbp._dispatch.select).
"""

import json
import os
import platform
import subprocess
import sys

import numpy as np
import pytest

import fastbp
from fastbp._testing import builds
from fastbp._testing import kernels as kernels_of

# What -march=x86-64-v3 assumes, by the names Linux gives the flags in /proc/cpuinfo (which
# it lists only where the kernel also saves the registers they need).
X86_64_V3 = {"avx", "avx2", "fma", "f16c", "bmi1", "bmi2", "movbe", "abm", "sse4_2", "popcnt"}
X86_64_V4 = X86_64_V3 | {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}


def cpuinfo_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


on_linux_x86 = pytest.mark.skipif(
    cpuinfo_flags() is None or platform.machine().lower() not in ("x86_64", "amd64"),
    reason="needs Linux on x86-64 (/proc/cpuinfo)")


def chosen(environment=None):
    """The kernels part of show_config() in a new process, with FASTBP_KERNELS set there."""
    env = {k: v for k, v in os.environ.items() if k != "FASTBP_KERNELS"}
    env.update(environment or {})
    run = subprocess.run([sys.executable, "-c", "import json, fastbp; print(json.dumps("
                          "fastbp.show_config(mode='dicts')['kernels']))"],
                         env=env, capture_output=True, text=True, cwd="/")
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@on_linux_x86
def test_the_cpu_features_agree_with_proc_cpuinfo():
    flags, cpu = cpuinfo_flags(), fastbp.show_config(mode="dicts")["cpu"]
    seen = set(cpu["features"])
    assert cpu["detection"]
    assert ("x86-64-v3" in seen) == X86_64_V3.issubset(flags)
    assert ("x86-64-v4" in seen) == X86_64_V4.issubset(flags)
    for name, flag in [("avx2", "avx2"), ("fma", "fma"), ("avx512f", "avx512f"),
                       ("bmi2", "bmi2"), ("sse4.2", "sse4_2")]:
        assert (name in seen) == (flag in flags), name


@on_linux_x86
@pytest.mark.skipif(bool(os.environ.get("FASTBP_KERNELS", "").strip()),
                    reason="FASTBP_KERNELS forces a build")
def test_the_build_chosen_is_the_best_this_cpu_runs():
    want = ("avx2" if X86_64_V3.issubset(cpuinfo_flags())
            and "avx2" in builds(runnable=False) else "baseline")
    assert fastbp.show_config(mode="dicts")["kernels"]["build"] == want


def test_fastbp_kernels_forces_a_build():
    baseline = chosen({"FASTBP_KERNELS": "baseline"})
    assert (baseline["build"], baseline["reason"]) == ("baseline", "FASTBP_KERNELS")
    if "avx2" in builds():
        avx2 = chosen({"FASTBP_KERNELS": " AVX2 "})
        assert (avx2["build"], avx2["reason"]) == ("avx2", "FASTBP_KERNELS")


def test_an_unknown_build_is_refused():
    with pytest.raises(AssertionError,
                       match="ImportError: FASTBP_KERNELS must be one of baseline, avx2, "
                             "got 'avx9'"):
        chosen({"FASTBP_KERNELS": "avx9"})


def test_a_build_the_cpu_cannot_run_is_refused_with_the_reason():
    # Private: a CPU without x86-64-v3 cannot be had here, so the features are passed in.
    from fastbp._dispatch import select

    if "avx2" in builds(runnable=False):
        with pytest.raises(ImportError, match="does not support x86-64-v3"):
            select("avx2", {})
    name, module, reason = select("", {})  # the baseline, whatever the CPU
    assert name == "baseline" and module is builds()["baseline"]


@pytest.mark.parametrize("shape", [(300, 2, 64), (300, 64, 3), (64, 200, 96)],
                         ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_each_build_gives_the_same_bits_run_to_run(shape, dtype):
    # Same inputs, same build: the same bits every time (BLAS with one thread or several:
    # OpenBLAS splits a product the same way each call).
    n, i, o = shape
    rng = np.random.default_rng(7)
    X, W = rng.standard_normal((n, i)).astype(dtype), rng.standard_normal((i, o)).astype(dtype)
    b, D = rng.standard_normal((1, o)).astype(dtype), rng.standard_normal((n, o)).astype(dtype)
    for module in builds().values():
        kernels = kernels_of(dtype, module)
        runs = []
        for _ in range(3):
            out = np.empty((n, o), dtype)
            kernels.dense_forward(X, W, b, out, True)
            grads = [np.empty((n, o), dtype), np.empty((n, i), dtype),
                     np.empty((i, o), dtype), np.empty((1, o), dtype)]
            kernels.dense_relu_backward(D, X, W, out, *grads)
            runs.append([out.tobytes()] + [g.tobytes() for g in grads[1:]])
        assert runs[0] == runs[1] == runs[2], module.__name__
