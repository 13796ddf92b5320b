# The lock that serializes the calls made on one fastbp object. See _calllock.pyx.

cdef class CallLock:
    cdef unsigned long owner  # the holding thread's ident, while depth > 0
    cdef Py_ssize_t depth     # how many times the owner holds it (re-entered calls); 0: free

    cdef int take(self) except -1
    cdef void give(self) noexcept
