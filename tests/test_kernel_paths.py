"""fastbp._testing.kernel_paths: the one switch that picks the kernels' special paths."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

import fastbp
from fastbp.datasets import spiral_data
from fastbp._testing import PATHS, active_paths, builds, built_paths, kernel_paths

BASELINE = builds()["baseline"]


def test_the_x86_64_v3_build_has_every_path_and_the_baseline_none():
    assert built_paths(BASELINE) == ()
    if fastbp.show_config(mode="dicts")["kernels"]["build"] == "avx2":
        assert built_paths() == PATHS


def test_default_is_every_built_path():
    assert active_paths() == built_paths()
    with kernel_paths("default"):
        assert active_paths() == built_paths()


def test_generic_turns_every_path_off_and_leaving_restores_them():
    before = active_paths()
    with kernel_paths("generic"):
        assert active_paths() == ()
        assert active_paths(BASELINE) == ()
    assert active_paths() == before


@pytest.mark.parametrize("path", PATHS)
def test_one_named_path(path):
    with kernel_paths(path):
        assert active_paths() == tuple(p for p in built_paths() if p == path)
        with kernel_paths("generic"):  # nests: the inner block restores the outer one
            assert active_paths() == ()
        assert active_paths() == tuple(p for p in built_paths() if p == path)


def test_restored_after_an_exception():
    before = active_paths()
    with pytest.raises(KeyError):
        with kernel_paths("generic"):
            raise KeyError("inside")
    assert active_paths() == before


@pytest.mark.parametrize("args,error,match", [
    ((), TypeError, "needs 'generic', 'default' or names"),
    (("thin",), ValueError, r"unknown kernel path\(s\) \['thin'\]"),
    (("generic", "thin_inputs"), ValueError, "'generic' or 'default' alone"),
])
def test_bad_names_are_refused_and_change_nothing(args, error, match):
    before = active_paths()
    with pytest.raises(error, match=match):
        with kernel_paths(*args):
            pass
    assert active_paths() == before


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_path_setting_trains_the_spiral_alike(dtype):
    # The paths differ only in rounding: the book's network, ten Adam steps, agrees on every
    # setting of the switch.
    X, y = spiral_data(100, 3, rng=0)
    X = X.astype(dtype)
    results = []
    for paths in [("default",), ("generic",)] + [(p,) for p in PATHS]:
        with kernel_paths(*paths):
            model = fastbp.Model()
            model.add(fastbp.Dense(2, 64, dtype=dtype, rng=1))
            model.add(fastbp.ReLU())
            model.add(fastbp.Dense(64, 3, dtype=dtype, rng=2))
            model.add(fastbp.Softmax())
            model.set(loss=fastbp.CategoricalCrossentropy(),
                      optimizer=fastbp.Adam(learning_rate=0.05))
            model.finalize()
            model.train(X, y, epochs=10, print_every=0)
            results.append([a for pair in model.get_parameters() for a in pair])
    tol = 1e-10 if dtype == np.float64 else 1e-4
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert_allclose(a, b, rtol=tol, atol=tol)
