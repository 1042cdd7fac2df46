"""The wall clock can step (NTP correcting a Pi without a real-time clock, someone setting the date); the kiosk's
timers must not.

- :class:`SteadyClock`: wall-clock seconds that follow the steady (monotonic) clock from when the kiosk
  started, so a step of the wall clock neither ends a chair's session early nor keeps it alive.
- :class:`ClockWatch`: a thread that notices steps of more than :data:`STEP_THRESHOLD_S` and announces each
  on the event bus (:class:`kiosk.events.ClockStepped`, sent to IT as ``clock_step``).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

log = logging.getLogger("kiosk.clock")

#: Steps smaller than this are NTP's ordinary slewing and jitter, not news.
STEP_THRESHOLD_S = 5.0


class SteadyClock:
    """Seconds since the epoch as the wall clock said when this was made, advanced by the steady clock since."""

    def __init__(self, wall: Callable[[], float] = time.time, steady: Callable[[], float] = time.monotonic):
        self._steady = steady
        self._base = wall() - steady()

    def __call__(self) -> float:
        return self._base + self._steady()


class ClockWatch:
    """Compares the wall clock with the steady clock every ``interval_s``; a jump of more than ``threshold_s``
    is logged, counted (:attr:`steps`) and published on ``bus`` as :class:`~kiosk.events.ClockStepped`."""

    def __init__(self, bus, *, threshold_s: float = STEP_THRESHOLD_S, interval_s: float = 1.0,
                 wall: Callable[[], float] = time.time, steady: Callable[[], float] = time.monotonic):
        self.bus, self.threshold_s, self.interval_s = bus, threshold_s, interval_s
        self._wall, self._steady = wall, steady
        self._offset = wall() - steady()
        #: Steps seen since the start.
        self.steps = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> float | None:
        """Look once; returns the step in seconds (negative: back) when there was one."""
        from kiosk.events import ClockStepped

        offset = self._wall() - self._steady()
        step = offset - self._offset
        self._offset = offset  # small changes too: NTP's slow slewing never adds up to a "step"
        if abs(step) <= self.threshold_s:
            return None
        self.steps += 1
        log.warning("The wall clock stepped %s by %.1f s: sessions and the record are not affected",
                    "back" if step < 0 else "forward", abs(step))
        self.bus.publish(ClockStepped(step_s=step))
        return step

    def start(self) -> "ClockWatch":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="clock-watch", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.poll()
            except Exception:  # a subscriber's failure must not end the watch
                log.exception("Watching the clock failed")
