"""Do two arrays' memory extents intersect? The aliasing check behind every ``out=``.

``np.may_share_memory(a, b)`` answers the same question, but parses its arguments on every
call; a layer step asks it several times, so it is done here in C.
A ``True`` may be a false alarm for interleaved strided views; ``False`` is certain.
"""

cimport numpy as cnp

cnp.import_array()


cdef bint _extent(cnp.ndarray a, char **low, char **high) noexcept:
    # [low, high): the bytes a can touch. False when a is empty (it touches nothing).
    cdef int d
    cdef Py_ssize_t n, stride
    cdef char *lo = <char *> cnp.PyArray_DATA(a)
    cdef char *hi = lo + cnp.PyArray_ITEMSIZE(a)
    for d in range(cnp.PyArray_NDIM(a)):
        n = cnp.PyArray_DIMS(a)[d]
        stride = cnp.PyArray_STRIDES(a)[d]
        if n == 0:
            return False
        if stride > 0:
            hi += (n - 1) * stride
        else:
            lo += (n - 1) * stride
    low[0] = lo
    high[0] = hi
    return True


def may_overlap(cnp.ndarray a not None, cnp.ndarray b not None):
    """True if the memory extents of ``a`` and ``b`` intersect."""
    cdef char *a_lo
    cdef char *a_hi
    cdef char *b_lo
    cdef char *b_hi
    if not _extent(a, &a_lo, &a_hi) or not _extent(b, &b_lo, &b_hi):
        return False
    return a_lo < b_hi and b_lo < a_hi


def overlaps_any(cnp.ndarray a not None, tuple others):
    """True if ``a``'s extent intersects that of any array in ``others`` (None skipped)."""
    cdef char *a_lo
    cdef char *a_hi
    cdef char *b_lo
    cdef char *b_hi
    if not _extent(a, &a_lo, &a_hi):
        return False
    for b in others:
        if b is None:
            continue
        if _extent(<cnp.ndarray?> b, &b_lo, &b_hi) and a_lo < b_hi and b_lo < a_hi:
            return True
    return False
