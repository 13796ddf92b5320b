"""setup.py's plan: which extensions are built, with which flags, for the target platform
(not the machine that builds). Read from setup.py without building; skipped where there is
no setup.py (an installed package run from elsewhere)."""

import os
import platform
import runpy
import shutil
import subprocess
from pathlib import Path

import pytest

SETUP = Path(__file__).resolve().parents[1] / "setup.py"
pytestmark = [
    pytest.mark.skipif(not SETUP.exists(), reason="no setup.py here"),
    pytest.mark.skipif(os.name == "nt", reason="the x86-64-v3 build needs GCC or clang"),
]

V3 = ["-mcx16", "-msahf", "-mpopcnt", "-msse3", "-mssse3", "-msse4.1", "-msse4.2", "-mavx",
      "-mavx2", "-mbmi", "-mbmi2", "-mf16c", "-mfma", "-mlzcnt", "-mmovbe", "-mxsave"]


def plan(monkeypatch, platform, archflags=None, **env):
    monkeypatch.setenv("_PYTHON_HOST_PLATFORM", platform)  # as cross builds set it
    for name in ("ARCHFLAGS", "FASTBP_NATIVE", "FASTBP_NO_LIBMVEC", "FASTBP_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    if archflags is not None:
        monkeypatch.setenv("ARCHFLAGS", archflags)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETUP), run_name="fastbp_build_plan")


def test_x86_64_gets_the_second_kernel_build(monkeypatch):
    setup = plan(monkeypatch, "linux-x86_64")
    assert setup["TARGETS"] == {"x86_64"}
    assert setup["variants"]["_kernels_avx2"] == V3
    assert setup["variants"]["_kernels"] == []  # the baseline: no flags of its own


@pytest.mark.parametrize("platform", ["linux-aarch64", "macosx-11.0-arm64", "linux-ppc64le"])
def test_other_targets_get_the_baseline_only(monkeypatch, platform):
    setup = plan(monkeypatch, platform)
    assert "_kernels_avx2" not in setup["variants"]
    assert setup["uses_libmvec"] == set()  # libmvec is x86-64 glibc's
    assert "_kernels" in setup["variants"] and "_cpu" in setup["variants"]


def test_a_universal2_build_passes_the_flags_to_its_x86_64_half(monkeypatch):
    setup = plan(monkeypatch, "macosx-11.0-universal2")
    assert setup["TARGETS"] == {"x86_64", "arm64"}
    flags = setup["variants"]["_kernels_avx2"]
    assert flags[0::2] == ["-Xarch_x86_64"] * len(V3) and flags[1::2] == V3


@pytest.mark.parametrize("archflags,flags", [("-arch arm64", None), ("-arch x86_64", V3),
                                              ("-arch x86_64 -arch arm64",
                                               [f for v in V3 for f in ("-Xarch_x86_64", v)])])
def test_archflags_name_the_targets_on_macos(monkeypatch, archflags, flags):
    setup = plan(monkeypatch, "macosx-11.0-universal2", archflags=archflags)
    assert setup["variants"].get("_kernels_avx2") == flags


def _gcc_macros(*flags):
    run = subprocess.run(["gcc", *flags, "-dM", "-E", "-"], input="", capture_output=True,
                         text=True)
    return set(run.stdout.splitlines()) if run.returncode == 0 else None


@pytest.mark.skipif(shutil.which("gcc") is None
                    or platform.machine().lower() not in ("x86_64", "amd64"),
                    reason="needs gcc on x86-64")
def test_the_flags_are_the_x86_64_v3_level(monkeypatch):
    # Where gcc knows the level by name (GCC 11 and later), the flags setup.py names one by
    # one define the same instruction-set macros.
    by_name = _gcc_macros("-march=x86-64-v3")
    if by_name is None:
        pytest.skip("this gcc does not know -march=x86-64-v3")
    flags = plan(monkeypatch, "linux-x86_64")["variants"]["_kernels_avx2"]
    assert _gcc_macros(*flags) == by_name


def test_native_builds_one_kernel_build_for_this_machine(monkeypatch):
    setup = plan(monkeypatch, "linux-x86_64", FASTBP_NATIVE="1")
    assert "_kernels_avx2" not in setup["variants"]
    assert "-march=native" in setup["extra_compile_args"]


def test_libmvec_can_be_left_out(monkeypatch):
    assert plan(monkeypatch, "linux-x86_64", FASTBP_NO_LIBMVEC="1")["uses_libmvec"] == set()
