"""python -m fastbp.bench on tiny sizes: what it computes and reports, not how fast."""

import json

import numpy as np
import pytest
from numpy.testing import assert_allclose

from fastbp import bench


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numpy_products_are_the_steps_three_products(dtype):
    X, dvalues, _, fast = bench.make_case((7, 3, 5), dtype)
    products = bench.NumpyProducts(fast, X, dvalues)
    products.forward(X)
    products.backward(dvalues)
    W = fast.weights
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    assert_allclose(products.output, X @ W, rtol=rtol)
    assert_allclose(products.dweights, X.T @ dvalues, rtol=rtol)
    assert_allclose(products.dinputs, dvalues @ W.T, rtol=rtol)


def test_bench_reports_speedup_and_bound(tmp_path, capsys):
    path = tmp_path / "bench.json"
    status = bench.main(["--sizes", "9x3x5,4x1x2", "--repeat", "3", "--threads", "1",
                         "--keep-env", "--json", str(path)])
    assert status == 0
    table = capsys.readouterr().out
    assert "bound" in table and "9, 3→5" in table and "4, 1→2" in table
    results = json.loads(path.read_text())["results"]
    assert len(results) == 4  # two sizes, two dtypes
    for res in results:
        assert res["threads"] == 1
        assert res["speedup"] > 0 and res["blas_bound"] > 0
        assert res["speedup_p25"] <= res["speedup"] <= res["speedup_p75"]
        assert res["products_s"] > 0
        assert res["max_rel_error"] < (1e-10 if res["dtype"] == "float64" else 1e-4)


def test_plot_draws_speedup_and_bound(tmp_path):
    pytest.importorskip("matplotlib")
    results = [
        {"size": list(size), "dtype": dtype, "threads": 1, "speedup": speedup,
         "blas_bound": bound}
        for size, speedup, bound in (((300, 2, 64), 8.0, 7.9), ((32, 784, 128), 1.1, 1.15))
        for dtype in ("float64", "float32")
    ]
    path = tmp_path / "speedup.png"
    bench.plot(results, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_markdown_holds_the_command_machine_and_rows(tmp_path):
    json_path, md_path = tmp_path / "bench.json", tmp_path / "bench.md"
    argv = ["--sizes", "9x3x5", "--repeat", "3", "--threads", "1", "--dtype", "float64",
            "--keep-env", "--json", str(json_path), "--markdown", str(md_path)]
    assert bench.main(argv) == 0
    text = md_path.read_text()
    machine = json.loads(json_path.read_text())["machine"]
    (res,) = json.loads(json_path.read_text())["results"]
    assert text.startswith("`python -m fastbp.bench " + " ".join(argv) + "`")
    assert machine["date"] in text and machine["cpu"] in text
    assert all(lib["version"] in text for lib in machine["blas"])
    rows = [line for line in text.splitlines() if line.startswith("| 1 |")]
    assert rows == [f"| 1 | float64 | 9, 3→5 | {bench.format_time(res['reference_s']).strip()} "
                    f"| {bench.format_time(res['fastbp_s']).strip()} | {res['speedup']:.2f}× "
                    f"({res['speedup_p25']:.2f}-{res['speedup_p75']:.2f}) "
                    f"| {res['blas_bound']:.2f}× |"]


def test_train_markdown_holds_the_command_and_rows(tmp_path, capsys):
    from fastbp import train

    path = tmp_path / "train.md"
    argv = ["--epochs", "20", "--compare", "--markdown", str(path)]
    assert train.main(argv) == 0
    printed = capsys.readouterr().out
    text = path.read_text()
    assert text.startswith("`python -m fastbp.train " + " ".join(argv) + "`")
    for name in ("fastbp", "reference"):
        (row,) = [line for line in text.splitlines() if line.startswith(f"| {name} |")]
        loss = row.split("|")[2].strip()
        # the same loss as the printed table's
        (printed_row,) = [line for line in printed.splitlines() if line.startswith(name)]
        assert printed_row.split()[1] == loss


@pytest.mark.parametrize("command", ["fastbp.bench", "fastbp.train"])
def test_the_commands_name_their_extra_when_threadpoolctl_is_missing(command):
    import subprocess
    import sys
    code = ("import sys, runpy; sys.modules['threadpoolctl'] = None; "
            f"runpy.run_module({command!r}, run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd="/")
    assert done.returncode == 1
    assert f"python -m {command} needs threadpoolctl" in done.stderr
    assert "pip install 'fastbp[bench]'" in done.stderr
