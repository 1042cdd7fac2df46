import dataclasses
import threading
import time

import pytest

from kiosk.button import Debouncer, StartButton
from kiosk.config import Config

BUTTON_PIN = 17


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def make_button(factory, hold_s=0.3, debounce_ms=50, clock=time.monotonic):
    events = []
    held = threading.Event()
    # dataclasses.replace skips validation: holds shorter than a person would use keep the tests fast.
    cfg = dataclasses.replace(Config().button, hold_s=hold_s, debounce_ms=debounce_ms)

    def on_hold():
        events.append("hold")
        held.set()

    button = StartButton(cfg, lambda: events.append("press"), on_hold, pin_factory=factory, clock=clock)
    return button, events, held


def test_button_press_calls_handler(mock_factory):
    button, events, _ = make_button(mock_factory)
    pin = mock_factory.pin(BUTTON_PIN)
    pin.drive_low()
    pin.drive_high()
    assert events == ["press"]
    button.close()


def test_button_bounce_is_one_press(mock_factory):
    clock = FakeClock()
    button, events, _ = make_button(mock_factory, clock=clock)
    pin = mock_factory.pin(BUTTON_PIN)
    for _ in range(5):  # contact chatter: edges 2 ms apart
        pin.drive_low()
        clock.t += 0.002
        pin.drive_high()
        clock.t += 0.002
    assert events == ["press"]
    clock.t += 0.2
    pin.drive_low()
    pin.drive_high()
    assert events == ["press", "press"]
    button.close()


def test_button_hold_calls_hold_after_hold_time(mock_factory):
    button, events, held = make_button(mock_factory, hold_s=0.2)
    pin = mock_factory.pin(BUTTON_PIN)
    pin.drive_low()
    assert held.wait(2)
    pin.drive_high()
    assert events == ["press", "hold"]
    button.close()


def test_button_short_press_is_not_a_hold(mock_factory):
    button, events, held = make_button(mock_factory, hold_s=0.2)
    pin = mock_factory.pin(BUTTON_PIN)
    pin.drive_low()
    pin.drive_high()
    assert not held.wait(0.4)
    assert events == ["press"]
    button.close()


def test_button_bouncy_release_leaves_no_phantom_hold(mock_factory):
    clock = FakeClock()
    button, events, held = make_button(mock_factory, hold_s=0.2, clock=clock)
    pin = mock_factory.pin(BUTTON_PIN)
    pin.drive_low()
    clock.t += 0.1
    pin.drive_high()
    clock.t += 0.001
    pin.drive_low()  # bounce: ignored
    clock.t += 0.001
    pin.drive_high()
    assert not held.wait(0.4)
    assert events == ["press"]
    button.close()


def test_button_handler_error_is_logged_not_raised(mock_factory, caplog):
    cfg = Config().button

    def broken():
        raise RuntimeError("handler bug")

    button = StartButton(cfg, broken, lambda: None, pin_factory=mock_factory)
    mock_factory.pin(BUTTON_PIN).drive_low()
    assert "press handler failed" in caplog.text
    button.close()


@pytest.mark.parametrize("gaps_ms, accepted", [
    ([0, 10, 20, 30], [True, False, False, False]),
    ([0, 60, 120], [True, True, True]),
    ([0, 49, 100], [True, False, True]),
])
def test_button_debouncer_table(gaps_ms, accepted):
    clock = FakeClock()
    deb = Debouncer(0.05, clock)
    got = []
    start = clock.t
    for g in gaps_ms:
        clock.t = start + g / 1000
        got.append(deb.accept())
    assert got == accepted
