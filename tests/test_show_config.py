"""fastbp.show_config(): what fastbp runs on, printed or as a dict."""

import platform

import numpy as np
import pytest

import fastbp
from fastbp._testing import builds


def test_the_dict_has_every_part():
    config = fastbp.show_config(mode="dicts")
    assert set(config) == {"fastbp", "kernels", "cpu", "build", "blas", "python", "numpy",
                           "scipy"}
    assert config["fastbp"]["version"] == fastbp.__version__
    assert config["kernels"]["module"] == builds()[config["kernels"]["build"]].__name__
    assert config["kernels"]["reason"] in ("FASTBP_KERNELS", "the CPU supports x86-64-v3",
                                           "no optimized build that this CPU runs is installed")
    assert set(config["kernels"]["special paths"]) <= {"thin_inputs", "thin_outputs",
                                                       "thin_backward"}
    assert set(config["build"]) == {"cython", "compiler", "checked", "thin kernels"}
    assert config["build"]["cython"][0] == "3"
    assert set(config["blas"]) == {"library", "version", "kernels", "threads", "filepath",
                                   "source"}
    assert config["numpy"] == np.__version__
    assert config["python"]["version"] == platform.python_version()
    features = set(config["cpu"]["features"])
    if "x86-64-v3" in features:
        assert {"avx2", "fma", "bmi2"} <= features


def test_the_blas_is_the_one_loaded():
    pytest.importorskip("threadpoolctl")
    blas = fastbp.show_config(mode="dicts")["blas"]
    assert blas["source"] == "threadpoolctl"
    assert "scipy_openblas32" in blas["filepath"] and blas["threads"] >= 1
    assert blas["library"] == "openblas" and blas["version"]


def test_the_x86_64_v3_build_says_why():
    config = fastbp.show_config(mode="dicts")
    if config["kernels"]["build"] == "avx2" and config["kernels"]["reason"] != "FASTBP_KERNELS":
        assert config["kernels"]["reason"] == "the CPU supports x86-64-v3"
        assert "x86-64-v3" in config["cpu"]["features"]
        assert config["build"]["thin kernels"]


def test_printed(capsys):
    assert fastbp.show_config() is None
    out = capsys.readouterr().out
    config = fastbp.show_config(mode="dicts")
    assert out.startswith(f"fastbp {fastbp.__version__}")
    assert f"kernels: {config['kernels']['build']}" in out
    assert f"numpy {np.__version__}, scipy " in out
    assert "BLAS: " in out and "built with: Cython 3" in out


def test_bad_mode():
    with pytest.raises(ValueError, match="mode must be 'stdout' or 'dicts', got 'yaml'"):
        fastbp.show_config(mode="yaml")


def test_without_threadpoolctl_the_blas_describes_itself(monkeypatch):
    import sys

    import scipy_openblas32
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # import raises ImportError
    blas = fastbp.show_config(mode="dicts")["blas"]
    assert blas["library"] == "openblas" and blas["version"] == scipy_openblas32.__version__
    assert blas["threads"] is None and "threadpoolctl not installed" in blas["source"]
