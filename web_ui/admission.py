"""How many requests run the app's Python code at once.

The kiosk serves everything from one process, so one interpreter lock: two requests
never run Python at the same moment. A pool of 32 worker threads all computing at
once gains nothing in throughput and costs a great deal in the tail. Each thread
gives up the lock whenever it writes to a socket, commits to SQLite or waits for
another lock, and then queues behind every other runnable thread to get it back (each
may keep it up to 5 ms, the interpreter's switch interval), so a request that is
unlucky waits behind the others several times over. With a few *slots*, the rest of the requests
wait their turn in arrival order, blocked, and a request, once admitted, finishes
quickly. Measured in ``benchmarks/bench_web.py`` (see docs/performance.md).

The threads stay: the room display's long-poll holds one for up to 30 s. It gives
its slot back while it waits (:func:`waiting`), so any number of open displays never
hold up the chair; so do a PIN being checked (a deliberately slow hash) and a request
waiting for a tap that the disk is holding up. Taking a slot back, a request goes
before those that have not started.
"""

from __future__ import annotations

import threading
from collections import deque
from contextlib import contextmanager

#: Requests running the app at once: one runs Python while the others wait on the disk or the
#: network. Three measured best on two cores (two and four each had a p99 above 50 ms).
DEFAULT_SLOTS = 3

_held = threading.local()  # .slots: the Admission whose slot this thread holds, if any


class Admission:
    """WSGI middleware: at most ``slots`` requests inside ``app`` at once, admitted in arrival order."""

    def __init__(self, app, slots: int = DEFAULT_SLOTS):
        if slots < 1:
            raise ValueError("slots must be at least 1")
        self.app = app
        self._free = _FifoSlots(slots)

    def __call__(self, environ, start_response):
        self._free.acquire()
        _held.slots = self
        try:
            # Flask builds the whole body before it returns; waitress then writes it with the slot free.
            return self.app(environ, start_response)
        finally:
            _held.slots = None
            self._free.release()


class _FifoSlots:
    """A counting semaphore that hands a freed slot straight to the longest waiter.

    ``threading.Semaphore`` lets a newcomer take a slot before the waiter it woke, and
    a waiter that loses that race waits again at the back: under load some requests
    would wait many times longer than the rest, which is the tail this module is for.
    """

    def __init__(self, slots: int):
        self._free = slots
        self._waiters: deque[threading.Lock] = deque()
        self._mutex = threading.Lock()

    def acquire(self, first: bool = False) -> None:
        """Take a slot, waiting behind those who came before (``first``: in front of them)."""
        with self._mutex:
            if self._free and not self._waiters:
                self._free -= 1
                return
            turn = threading.Lock()
            turn.acquire()
            if first:
                self._waiters.appendleft(turn)
            else:
                self._waiters.append(turn)
        turn.acquire()  # released by release(), which has passed its slot to this thread

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().release()
            else:
                self._free += 1


@contextmanager
def waiting():
    """Inside a request, give the slot back while blocking for a long time (a long-poll's wait).

    Outside :class:`Admission` (the Flask test client, say) it does nothing.
    """
    admission = getattr(_held, "slots", None)
    if admission is None:
        yield
        return
    _held.slots = None
    admission._free.release()
    try:
        yield
    finally:
        admission._free.acquire(first=True)  # it was admitted once: it finishes before newcomers start
        _held.slots = admission
