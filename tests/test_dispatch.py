"""fastbp/_dispatch.py: the kernel build chosen from the CPU, read here independently."""

import os
import platform

import numpy as np
import pytest

from fastbp import _cpu, _dispatch, _validation

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


@on_linux_x86
def test_the_cpu_features_agree_with_proc_cpuinfo():
    flags, seen = cpuinfo_flags(), _cpu.features()
    assert _cpu.DETECTION
    assert seen["x86-64-v3"] == X86_64_V3.issubset(flags)
    assert seen["x86-64-v4"] == X86_64_V4.issubset(flags)
    for name, flag in [("avx2", "avx2"), ("fma", "fma"), ("avx512f", "avx512f"),
                       ("bmi2", "bmi2"), ("sse4.2", "sse4_2")]:
        assert seen[name] == (flag in flags), name


@on_linux_x86
@pytest.mark.skipif(bool(os.environ.get("FASTBP_KERNELS", "").strip()),
                    reason="FASTBP_KERNELS forces a build")
def test_the_build_chosen_is_the_best_this_cpu_runs():
    flags = cpuinfo_flags()
    want = ("avx2" if X86_64_V3.issubset(flags) and _dispatch.build("avx2") is not None
            else "baseline")
    assert _dispatch.KERNEL_VARIANT == want
    assert _dispatch.kernels_module is _dispatch.build(want)


def test_fastbp_kernels_forces_a_build():
    name, module, reason = _dispatch.select("baseline")
    assert (name, module, reason) == ("baseline", _dispatch.build("baseline"), "FASTBP_KERNELS")
    if _dispatch.build("avx2") is not None and _cpu.features()["x86-64-v3"]:
        assert _dispatch.select(" AVX2 ")[:2] == ("avx2", _dispatch.build("avx2"))


def test_a_build_the_cpu_cannot_run_is_refused_with_the_reason():
    no_v3 = dict.fromkeys(_cpu.FEATURES, False)
    if _dispatch.build("avx2") is not None:
        with pytest.raises(ImportError, match="does not support x86-64-v3"):
            _dispatch.select("avx2", no_v3)
    name, module, reason = _dispatch.select("", no_v3)  # the baseline, whatever the CPU
    assert name == "baseline" and module is _dispatch.build("baseline")


def test_an_unknown_build_is_refused():
    with pytest.raises(ImportError, match="FASTBP_KERNELS must be one of baseline, avx2, "
                                          "got 'avx9'"):
        _dispatch.select("avx9")



def _runnable_builds():
    return [m for name, m in ((n, _dispatch.build(n)) for n in _dispatch.BUILDS)
            if m is not None and (_dispatch.BUILDS[name][1] is None
                                  or _cpu.features()[_dispatch.BUILDS[name][1]])]


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
    for module in _runnable_builds():
        kernels = _validation.kernel_sets(module)[np.dtype(dtype)]
        runs = []
        for _ in range(3):
            out = np.empty((n, o), dtype)
            kernels.dense_forward(X, W, b, out, True)
            grads = [np.empty((n, o), dtype), np.empty((n, i), dtype),
                     np.empty((i, o), dtype), np.empty((1, o), dtype)]
            kernels.dense_relu_backward(D, X, W, out, *grads)
            runs.append([out.tobytes()] + [g.tobytes() for g in grads[1:]])
        assert runs[0] == runs[1] == runs[2], module.__name__
