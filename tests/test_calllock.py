"""CallLock (fastbp/_calllock.pyx), the per-object lock the compiled steps take.

Private: the lock itself is tested here; what it protects is tested through the public API
in tests/test_shared_objects.py and tests/test_threads.py.
"""

import copy
import pickle
import threading

import pytest

from fastbp._calllock import CallLock


def test_reentrant_in_one_thread():
    lock = CallLock()
    assert not lock.held()
    with lock:
        with lock:  # a layer's Python code holds it while its compiled step takes it again
            assert lock.held()
        assert lock.held()
    assert not lock.held()


def test_release_by_a_thread_that_does_not_hold_it_is_refused():
    lock = CallLock()
    with pytest.raises(RuntimeError, match="does not hold"):
        lock.release()
    lock.acquire()
    outcome = []

    def release_from_another_thread():
        try:
            lock.release()
            outcome.append("released")
        except RuntimeError:
            outcome.append("refused")

    t = threading.Thread(target=release_from_another_thread)
    t.start()
    t.join()
    assert outcome == ["refused"]
    assert lock.held()  # still this thread's
    lock.release()
    assert not lock.held()


def test_another_thread_waits_until_it_is_released():
    lock = CallLock()
    order = []
    started = threading.Event()

    def other():
        started.set()
        with lock:
            order.append("other")

    with lock:
        t = threading.Thread(target=other)
        t.start()
        started.wait()
        t.join(timeout=0.2)  # it cannot get in while this thread holds the lock
        assert t.is_alive()
        order.append("holder")
    t.join(timeout=10)
    assert not t.is_alive()
    assert order == ["holder", "other"]


def test_a_copy_is_a_new_free_lock():
    lock = CallLock()
    with lock:
        for clone in (copy.copy(lock), copy.deepcopy(lock), pickle.loads(pickle.dumps(lock))):
            assert isinstance(clone, CallLock) and clone is not lock
            assert not clone.held()
