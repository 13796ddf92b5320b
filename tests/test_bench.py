"""python -m fastbp.bench on tiny sizes: what it computes and reports, not how fast."""

import json

import numpy as np
import pytest
from numpy.testing import assert_allclose

from fastbp import bench


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numpy_products_are_the_steps_three_products(dtype):
    X, dvalues, _, fast = bench._make_case((7, 3, 5), dtype)
    products = bench.NumpyProducts(fast, X, dvalues)
    products.forward(X)
    products.backward(dvalues)
    W = fast.weights
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    assert_allclose(products._out, X @ W, rtol=rtol)
    assert_allclose(products._dweights, X.T @ dvalues, rtol=rtol)
    assert_allclose(products._dinputs, dvalues @ W.T, rtol=rtol)


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
