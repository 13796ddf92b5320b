"""The one switch for tests and benchmarks: which of the kernels' special paths run.

Every shape has a generic path: BLAS for the products, plain loops for the rest. A thin
layer (1-3 inputs or 1-3 neurons) takes special paths in the builds that have them (the
x86-64-v3 build; the baseline build has none), each kept because it measured at least 10%
faster on a row of ``python -m fastbp.bench`` (docs/design.md, "Kernel paths"):

``"thin_inputs"``
    the forward pass of a layer with 1-3 inputs, and dX = dZ·Wᵀ of a layer with 1-3
    neurons, in one pass;
``"thin_outputs"``
    the forward product and dW of a layer with 1-3 neurons as dot products;
``"thin_backward"``
    the backward pass of a layer with 1-3 inputs in one blocked pass.

``kernel_paths("generic")`` turns them all off, ``kernel_paths("thin_backward")`` leaves
only that one on, ``kernel_paths("default")`` all of them.

``network_steps(False)`` makes ``Model.train`` run every step layer by layer, never as the
compiled whole step; ``network_steps()`` records each time train tries to build that step,
and whether it could.

Both switches are process-wide and not synchronized with running kernels or training: set
them while no other thread computes. ``builds()`` and ``kernels()`` name the kernel builds,
so that tests can run each of them and compare.
"""

import contextlib

import numpy as np

from . import _dispatch, _validation

__all__ = ["PATHS", "active_paths", "builds", "built_paths", "kernel_paths", "kernels",
           "network_steps"]

PATHS = ("thin_inputs", "thin_outputs", "thin_backward")


def builds(runnable=True):
    """The kernel builds installed, ``{name: module}``; with ``runnable``, only those this
    CPU runs. The baseline build is always there."""
    found = {}
    for name, (_, level) in _dispatch.BUILDS.items():
        module = _dispatch.build(name)
        if module is not None and (not runnable or level is None
                                   or _dispatch.CPU_FEATURES.get(level, False)):
            found[name] = module
    return found


def kernels(dtype, build=None):
    """The compiled entry points of ``build`` (a module of ``builds()``; default: the one
    fastbp chose at import) for ``dtype``, called with caller-allocated outputs and no
    checks: ``dense_forward(X, W, b, out, relu)``, ``relu_forward(X, out)``,
    ``relu_backward(dY, X, out)``, ``dense_backward(dY, X, W, dX, dW, db)``,
    ``dense_relu_backward(dY, X, W, output, dZ, dX, dW, db)``,
    ``regularization_grad(...)``."""
    dtype = np.dtype(dtype)
    if dtype not in _validation.FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    if build is None:
        return _validation.KERNELS[dtype]
    return _validation.kernel_sets(build)[dtype]


@contextlib.contextmanager
def network_steps(enabled=True):
    """Within the ``with`` block, ``Model.train`` may build its compiled whole step (the
    default) or, with ``enabled=False``, runs every step layer by layer. Yields a list that
    gets one entry each time train tries to build the compiled step: True if it was built,
    False if the model is not made of what that step runs (or ``enabled`` is False)."""
    switch = _dispatch.NETWORK_STEP
    old = (switch.enabled, switch.record)
    record = []
    switch.enabled, switch.record = bool(enabled), record
    try:
        yield record
    finally:
        switch.enabled, switch.record = old


@contextlib.contextmanager
def kernel_paths(*paths):
    """Within the ``with`` block, take only the named special paths: any of ``PATHS``, or
    ``"generic"`` (none) or ``"default"`` (all that the build has)."""
    if not paths:
        raise TypeError("kernel_paths() needs 'generic', 'default' or names from "
                        f"{PATHS}")
    if len(paths) == 1 and paths[0] in ("generic", "default"):
        names = PATHS if paths[0] == "default" else ()
    else:
        unknown = [p for p in paths if p not in PATHS]
        if unknown:
            raise ValueError(f"unknown kernel path(s) {unknown}: choose from {PATHS}, "
                             "or 'generic' or 'default' alone")
        names = paths
    installed = list(builds(runnable=False).values())
    olds = []
    try:
        for build in installed:
            mask = 0
            for name in names:
                mask |= build.PATH_BITS[name]
            olds.append(build._set_paths(mask))
        yield
    finally:
        for build, old in zip(installed, olds):
            build._set_paths(old)


def built_paths(build=None):
    """The names of the special paths that ``build`` (a kernel module; default: the one
    fastbp chose at import) has."""
    build = _validation.kernels_module if build is None else build
    return tuple(p for p in PATHS if build.PATHS_BUILT & build.PATH_BITS[p])


def active_paths(build=None):
    """The names of the special paths that ``build`` (default: the one fastbp chose at
    import) takes now: ``built_paths(build)`` unless narrowed by ``kernel_paths``."""
    build = _validation.kernels_module if build is None else build
    mask = build._get_paths()
    return tuple(p for p in PATHS if mask & build.PATH_BITS[p])
