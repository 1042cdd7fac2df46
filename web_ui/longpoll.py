"""Long-polls: a request that waits for a revision after the one its client has (``?since=N``).

The room display waits on the controller's revision, the chair's page on its conference's. Each waiting
long-poll holds one of the web server's worker threads, so they are capped per client address and in all
(``LONG_POLL_PER_ADDRESS``, ``LONG_POLL_TOTAL``): beyond the cap one answers at once with what is current,
and its client simply asks again. While it waits it gives its admission slot back
(:func:`web_ui.admission.waiting`), so open pages never hold up a tap.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from contextlib import contextmanager
from typing import Callable

from flask import current_app, request

from web_ui import admission

#: How often a waiting long-poll looks up to see whether the server is stopping.
WAIT_SLICE_S = 0.5


class LongPolls:
    """How many long-polls wait at once, per client address and in all."""

    def __init__(self, per_address: int, total: int):
        self.per_address, self.total = per_address, total
        self._held: Counter[str] = Counter()
        self._lock = threading.Lock()

    @contextmanager
    def slot(self, address: str):
        """Yields True when this long-poll may wait, False when it must answer at once."""
        with self._lock:
            allowed = self._held[address] < self.per_address and sum(self._held.values()) < self.total
            if allowed:
                self._held[address] += 1
        try:
            yield allowed
        finally:
            if allowed:
                with self._lock:
                    self._held[address] -= 1
                    if self._held[address] <= 0:
                        del self._held[address]


def _long_polls() -> LongPolls:
    polls = current_app.extensions.get("kiosk.long_polls")
    if polls is None:  # created on first use, from the app's config
        cfg = current_app.config
        polls = current_app.extensions.setdefault(
            "kiosk.long_polls", LongPolls(int(cfg["LONG_POLL_PER_ADDRESS"]), int(cfg["LONG_POLL_TOTAL"])))
    return polls


def timeout(asked: float | None) -> float:
    """How long a long-poll waits: ``asked`` (``?timeout=``), or ``LONG_POLL_DEFAULT_S``; never more than
    ``LONG_POLL_MAX_S``."""
    cfg = current_app.config
    return min(float(cfg["LONG_POLL_DEFAULT_S"]) if asked is None else asked, float(cfg["LONG_POLL_MAX_S"]))


def wait_for_revision(wait: Callable[[int, float], int], since: int, timeout: float) -> None:
    """Inside a request: wait until ``wait(since, seconds)`` returns a revision after ``since``, ``timeout``
    seconds pass or the server stops; at once when this client address (or everyone) already holds the
    most long-polls allowed. Waits in slices, so that a server stopping is not held up."""
    stopping = current_app.extensions["kiosk_stopping"]
    with _long_polls().slot(request.remote_addr or "unknown") as allowed:
        if not allowed:
            return
        deadline = time.monotonic() + timeout
        while not stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            slice_s = min(remaining, WAIT_SLICE_S)
            began = time.monotonic()
            with admission.waiting():
                changed = wait(since, slice_s) > since
            if changed or time.monotonic() - began < slice_s / 2:
                return  # changed, or woken with no change: the source is stopping; do not spin
