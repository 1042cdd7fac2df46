"""The start button: press, long hold, and our own debouncing.

gpiozero's mock pins ignore ``bounce_time``, and a real button's contacts chatter for a
few milliseconds, so debouncing is done here, where tests can reach it: an edge within
``debounce_ms`` of the previous accepted edge is contact bounce and is ignored.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

log = logging.getLogger("kiosk.button")


class Debouncer:
    """Tells contact bounce from real presses.

    Every edge is recorded with :meth:`edge`; :meth:`accept` says whether a press edge
    is real: it is bounce when it follows any edge by less than ``interval_s``.
    """

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic):
        self.interval_s = interval_s
        self._clock = clock
        self._last: float | None = None

    def edge(self) -> None:
        """Record an edge that needs no verdict (a release)."""
        self._last = self._clock()

    def accept(self) -> bool:
        """Record a press edge; True if it is real, False if it is bounce."""
        now = self._clock()
        real = self._last is None or now - self._last >= self.interval_s
        self._last = now
        return real


class StartButton:
    """Calls ``on_press`` for a debounced press and ``on_hold`` after a hold of ``hold_s``.

    The hold is timed here (one ``button-hold`` thread waits until ``hold_s`` after the
    latest real press, then asks the pin whether it is still down), so it behaves the same
    on mock pins and on the header, and bounce on release cannot leave a phantom hold
    behind. The pin's thread only calls ``on_press``: it starts no thread per press.
    """

    def __init__(self, cfg, on_press: Callable[[], None], on_hold: Callable[[], None], pin_factory=None,
                 clock: Callable[[], float] = time.monotonic):
        from gpiozero import Button

        self.hold_s = cfg.hold_s
        self._on_press, self._on_hold = on_press, on_hold
        self._debounce = Debouncer(cfg.debounce_ms / 1000.0, clock)
        self._presses = 0  # which press a hold timer belongs to
        self._latest = (0, 0.0)  # (press number, time.monotonic() of it), replaced whole by the pin's thread
        self._closed = threading.Event()
        self._pressed = threading.Event()  # wakes the hold timer
        self._button = Button(cfg.pin, pull_up=True, pin_factory=pin_factory)
        self._timer = threading.Thread(target=self._time_holds, name="button-hold", daemon=True)
        self._timer.start()
        self._button.when_pressed = self._pressed_edge
        self._button.when_released = self._debounce.edge

    def _pressed_edge(self):
        if not self._debounce.accept():
            return
        self._presses += 1
        self._latest = (self._presses, time.monotonic())
        try:
            self._on_press()
        except Exception:
            log.exception("Start button press handler failed")
        self._pressed.set()

    def _time_holds(self):
        while True:
            self._pressed.wait()
            self._pressed.clear()
            press, at = self._latest
            if self._closed.wait(max(0.0, at + self.hold_s - time.monotonic())):
                return
            if press == self._presses and self._button.is_pressed:
                try:
                    self._on_hold()
                except Exception:
                    log.exception("Start button hold handler failed")

    @property
    def is_pressed(self) -> bool:
        """True while the button is down."""
        return self._button.is_pressed

    def close(self) -> None:
        """Release the pin; safe to call twice."""
        self._closed.set()
        self._pressed.set()
        self._button.close()
