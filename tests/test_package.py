"""The installed package's metadata: one version, the declared license shipped."""

from importlib.metadata import distribution

import fastbp


def test_version_is_written_in_one_place():
    # pyproject.toml reads it from fastbp/__init__.py: the metadata and the module agree.
    assert distribution("fastbp").version == fastbp.__version__


def test_license_is_declared_and_shipped():
    dist = distribution("fastbp")
    assert dist.metadata["License-Expression"] == "BSD-3-Clause"
    licenses = [f for f in dist.files if f.name == "LICENSE"]
    assert licenses, "LICENSE is not in the installed distribution"
    assert "BSD 3-Clause License" in licenses[0].read_text()


def test_import_loads_no_benchmark_dependency():
    # import fastbp needs numpy and its BLAS only: the benchmarks' libraries (and scipy,
    # which fastbp does not use) stay unloaded until something asks for them.
    import subprocess
    import sys
    code = ("import sys, fastbp; print(' '.join(sorted(m for m in ('scipy', 'threadpoolctl', "
            "'matplotlib', 'torch', 'jax', 'pytest') if m in sys.modules)))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd="/").stdout.split()
    assert loaded == []
