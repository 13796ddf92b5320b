"""The lock that serializes the calls made on one fastbp object from several threads.

The book's API keeps a call's results on the object (``output``, ``dinputs``, ...), so one
layer, loss or optimizer cannot serve two threads at the same moment; each call holds its
object's lock instead (docs/threads.md). The steady-loop call of a layer runs one compiled
method (``DenseStep.forward``), and a lock taken by Python code around it would cost as
much as the call itself on small layers: so the compiled steps take this lock themselves,
in C, and Python takes it (``with lock:``) only around the slower calls that validate and
bind new arrays. Objects with no compiled step (ReLU, Softmax, Model) take it in Python
around each call.

Design
------
- Taken and given only with the GIL held, which makes ``owner`` and ``depth`` a lock by
  themselves: free, it is taken by two stores, with no call into the OS. The compiled steps
  release the GIL only after taking it.
- Re-entrant: the thread that holds it may take it again (a layer's Python code holds it
  while calling its compiled step, which takes it too).
- A thread that finds it held by another sleeps briefly without the GIL and looks again, so
  that the holder can finish. Waiting is for the rare case of one object shared by threads;
  the holder of a free lock pays nothing for it.
- Several locks are always taken in one order (NetworkStep: by address), so two threads
  never wait on each other.
- It relies on the GIL: a free-threaded CPython build would need an atomic lock here.
"""

from cpython.pythread cimport PyThread_get_thread_ident

from time import sleep

# How long a waiting thread sleeps before it looks again.
cdef double WAIT_SECONDS = 20e-6


cdef class CallLock:
    """A re-entrant lock taken by fastbp's compiled steps in C, and by Python with ``with``."""

    cdef int take(self) except -1:
        """Hold the lock (the GIL held); sleep without the GIL while another thread has it."""
        cdef unsigned long me = PyThread_get_thread_ident()
        if self.depth:
            if self.owner == me:
                self.depth += 1
                return 0
            while self.depth:
                sleep(WAIT_SECONDS)  # releases the GIL
        self.owner = me
        self.depth = 1
        return 0

    cdef void give(self) noexcept:
        """Let go of one hold (the GIL held; only by the thread that holds it)."""
        self.depth -= 1

    def acquire(self):
        self.take()
        return True

    def release(self):
        if not (self.depth and self.owner == PyThread_get_thread_ident()):
            raise RuntimeError("release of a CallLock this thread does not hold")
        self.give()

    def __enter__(self):
        self.take()
        return self

    def __exit__(self, *exc_info):
        self.give()
        return False

    def held(self):
        """True while some thread holds the lock."""
        return self.depth > 0

    def __reduce__(self):
        # A lock belongs to this process: a copy of its object gets a new one.
        return (CallLock, ())
