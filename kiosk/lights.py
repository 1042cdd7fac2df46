"""Status lights: an RGB LED (or red/amber/green LEDs) showing a pattern per room state.

Each pattern's first frame is set synchronously by :meth:`Lights.show`, so a button
press changes the light within a millisecond or two; blinking and pulsing continue on
one background thread that sleeps between steps (and not at all for solid colours).

=============  ======================================  =====================================
Pattern        RGB LED                                 Three LEDs (red, amber, green)
=============  ======================================  =====================================
off            off                                     all off
checking       amber pulsing (1.2 s period)            amber pulsing
ready          solid green                             green
not_ready      solid red                               red
countdown      green blinking (1 s on, 1 s off)        green blinking
joining        blue blinking (0.5 s on, 0.5 s off)     amber and green blinking
in_session     solid blue                              amber and green
session_fault  red/blue alternating (0.5 s)            red / amber and green alternating
ended          dim white                               all three dim
identify       white flashing (0.2 s)                  all three flashing
=============  ======================================  =====================================
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

log = logging.getLogger("kiosk.lights")

RED, GREEN, BLUE = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)
AMBER, WHITE, OFF = (1.0, 0.5, 0.0), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)
DIM_WHITE = (0.3, 0.3, 0.3)


@dataclass(frozen=True)
class Pattern:
    """A light pattern: ``steps`` of (colour, seconds), repeated; one step means solid."""

    name: str
    steps: tuple[tuple[tuple[float, float, float], float], ...]

    @property
    def colour(self):
        return self.steps[0][0]


def _pulse(colour, period=1.2, n=12):
    # A triangle wave: bright to dark and back, in n steps.
    half = n // 2
    levels = [i / half for i in range(half, 0, -1)] + [i / half for i in range(0, half)]
    return tuple((tuple(round(c * lv, 3) for c in colour), period / n) for lv in levels)


PATTERNS = {p.name: p for p in (
    Pattern("off", ((OFF, 0),)),
    Pattern("checking", _pulse(AMBER)),
    Pattern("ready", ((GREEN, 0),)),
    Pattern("not_ready", ((RED, 0),)),
    Pattern("countdown", ((GREEN, 1.0), (OFF, 1.0))),
    Pattern("joining", ((BLUE, 0.5), (OFF, 0.5))),
    Pattern("in_session", ((BLUE, 0),)),
    Pattern("session_fault", ((RED, 0.5), (BLUE, 0.5))),
    Pattern("ended", ((DIM_WHITE, 0),)),
    Pattern("identify", ((WHITE, 0.2), (OFF, 0.2))),
)}


def _three_led_levels(colour):
    """Map an RGB colour to (red, amber, green) LED levels."""
    r, g, b = colour
    if colour == OFF:
        return 0.0, 0.0, 0.0
    if b and r and g:  # white
        return r, g, b
    if b:  # blue has no LED of its own: amber and green together stand for it
        return 0.0, b, b
    if r and g:  # amber
        return 0.0, max(r, g), 0.0
    return r, 0.0, g


class Lights:
    """Drives the status light from the ``[lights]`` config; ``show(name)`` picks a pattern."""

    def __init__(self, cfg, pin_factory=None):
        from gpiozero import PWMLED, Buzzer, RGBLED

        self.kind = cfg.kind
        if cfg.kind == "rgb":
            self._led = RGBLED(cfg.red_pin, cfg.green_pin, cfg.blue_pin, active_high=cfg.active_high,
                               pin_factory=pin_factory)
            self._leds = None
        else:
            self._led = None
            self._leds = []
            try:  # close what was opened if a later pin fails, like gpiozero's CompositeDevice
                for pin in (cfg.red_pin, cfg.blue_pin, cfg.green_pin):
                    self._leds.append(PWMLED(pin, active_high=cfg.active_high, pin_factory=pin_factory))
            except Exception:
                for led in self._leds:
                    led.close()
                raise
        self.buzzer = Buzzer(cfg.buzzer_pin, pin_factory=pin_factory) if cfg.buzzer_pin else None
        self._pattern = PATTERNS["off"]
        self._colour = OFF
        self._changed = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._animate, name="lights", daemon=True)
        self._thread.start()

    @property
    def pattern(self) -> str:
        """The name of the pattern being shown."""
        return self._pattern.name

    @property
    def colour(self) -> tuple[float, float, float]:
        """The colour showing right now (as RGB, whatever the LED kind)."""
        return self._colour

    def show(self, name: str) -> None:
        """Switch to pattern ``name`` (see :data:`PATTERNS`); its first step is set at once."""
        pattern = PATTERNS[name]
        with self._changed:
            if self._closed or pattern is self._pattern:
                return
            self._pattern = pattern
            self._set(pattern.steps[0][0])
            self._changed.notify_all()

    def beep(self, count: int = 1) -> None:
        """Sound the buzzer ``count`` short times, if there is one."""
        if self.buzzer:
            self.buzzer.beep(on_time=0.1, off_time=0.1, n=count, background=True)

    def _set(self, colour):
        self._colour = colour
        if self._led is not None:
            self._led.value = colour
        else:
            for led, level in zip(self._leds, _three_led_levels(colour)):
                led.value = level

    def _animate(self):
        with self._changed:
            while not self._closed:
                pattern = self._pattern
                if len(pattern.steps) == 1:
                    self._changed.wait()  # solid: nothing to do until the pattern changes
                    continue
                for i, (colour, seconds) in enumerate(pattern.steps):
                    if i:  # step 0 was set by show() or at the end of the previous round
                        self._set(colour)
                    if self._changed.wait(seconds) and self._pattern is not pattern or self._closed:
                        break
                else:
                    if self._pattern is pattern:
                        self._set(pattern.steps[0][0])

    def close(self) -> None:
        """Turn the lights off and release the pins; safe to call twice."""
        with self._changed:
            if self._closed:
                return
            self._set(OFF)
            self._closed = True
            self._changed.notify_all()
        self._thread.join(timeout=2)
        for dev in ([self._led] if self._led else self._leds) + ([self.buzzer] if self.buzzer else []):
            dev.close()
