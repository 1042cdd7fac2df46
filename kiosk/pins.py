"""Choosing gpiozero's pin factory: the real header on a Pi, mock pins elsewhere."""

from __future__ import annotations

import logging
import warnings

log = logging.getLogger("kiosk.pins")


def mock_factory():
    """gpiozero's own mock pins, with PWM so the RGB LED can pulse."""
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    return MockFactory(pin_class=MockPWMPin)


def choose_pin_factory(simulate: bool):
    """The pin factory to use, and whether it is simulated.

    Off a Pi gpiozero tries four factories, warning at each, then raises
    ``BadPinFactory``: we catch that and fall back to mock pins with one log line.
    """
    if simulate:
        return mock_factory(), True
    from gpiozero import Device
    from gpiozero.exc import BadPinFactory, PinFactoryFallback

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PinFactoryFallback)
            factory = Device.pin_factory or Device._default_pin_factory()
        return factory, False
    except BadPinFactory:
        log.info("No GPIO header found (not a Raspberry Pi?): using simulated pins")
        return mock_factory(), True
