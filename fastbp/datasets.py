"""Toy data sets from the book, for the training examples and tests.

``spiral_data`` is the spiral of *Neural Networks from Scratch in Python* (chapter 3 onwards),
generated as the book's companion package ``nnfs`` does (``nnfs.datasets.spiral_data``), with
one difference: the noise comes from a ``numpy.random.Generator`` (``rng``) rather than from
numpy's global random state, so no ``nnfs.init()``-style process-wide seeding is needed and
the same seed gives the same points anywhere. The numbers therefore differ from nnfs's for
the same seed; the shape of the data set is the same.
"""

import operator

import numpy as np

__all__ = ["spiral_data"]


def _count(value, name, upper=None):
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}") \
            from None
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    if upper is not None and value > upper:
        raise ValueError(f"{name} must be <= {upper}, got {value}")
    return value


def spiral_data(samples, classes, *, rng=None):
    """The book's spiral: ``classes`` interleaved arms of ``samples`` points each.

    From *Neural Networks from Scratch in Python* / ``nnfs.datasets.spiral_data`` (after
    CS231n's spiral). For class ``c`` the points are ``r * (sin 2.5t, cos 2.5t)`` with
    ``r = linspace(0, 1, samples)`` and ``t = linspace(4c, 4(c + 1), samples) + 0.2 * noise``,
    the noise standard normal from ``np.random.default_rng(rng)``.

    Returns ``X``, float64 of shape ``(samples * classes, 2)``, and ``y``, uint8 of shape
    ``(samples * classes,)``: the class index of each row, class 0's rows first.

    ``samples`` and ``classes`` must be integers >= 1 (``TypeError`` / ``ValueError``
    otherwise); ``classes`` at most 256, since the labels are uint8.
    """
    samples = _count(samples, "samples")
    classes = _count(classes, "classes", upper=256)
    rng = np.random.default_rng(rng)

    X = np.zeros((samples * classes, 2))
    y = np.zeros(samples * classes, dtype="uint8")
    for class_number in range(classes):
        ix = range(samples * class_number, samples * (class_number + 1))
        r = np.linspace(0.0, 1, samples)
        t = np.linspace(class_number * 4, (class_number + 1) * 4, samples) + \
            rng.standard_normal(samples) * 0.2
        X[ix] = np.c_[r * np.sin(t * 2.5), r * np.cos(t * 2.5)]
        y[ix] = class_number
    return X, y
