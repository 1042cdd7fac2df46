"""Building the hardware from the configuration: all devices or none."""

import dataclasses

import pytest

from kiosk.config import Config
from kiosk.errors import ConfigError
from kiosk.factory import build_hardware, resolve_backends


def with_backend(cfg: Config, device: str, backend: str) -> Config:
    """``cfg`` with a backend name the config file would refuse (dataclasses.replace skips validation),
    so that opening that device fails after the devices before it were opened."""
    return dataclasses.replace(cfg, **{device: dataclasses.replace(getattr(cfg, device), backend=backend)})


def opened_displays(monkeypatch):
    """Every simulated display the factory opens, kept to look at afterwards (the real objects)."""
    from kiosk.hardware import display

    opened = []
    real = display.SimulatedDisplay

    class Recorded(real):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            opened.append(self)

    monkeypatch.setattr(display, "SimulatedDisplay", Recorded)
    return opened


def test_factory_builds_every_device(cfg):
    hardware = build_hardware(cfg.replace("speaker", enabled=True), simulate=True)
    try:
        assert all(dev is not None for dev in hardware.devices().values())
        assert set(hardware.backends.values()) == {"simulated"}
    finally:
        hardware.close()


@pytest.mark.parametrize("device, error", [("clock", ValueError), ("speaker", ConfigError)])
def test_factory_failure_closes_the_devices_opened_before(cfg, monkeypatch, device, error):
    opened = opened_displays(monkeypatch)
    cfg = with_backend(cfg.replace("speaker", enabled=True).replace("display", backend="simulated")
                       .replace("camera", backend="simulated").replace("microphone", backend="simulated")
                       .replace("clock", backend="simulated"), device, "no-such-backend")
    assert resolve_backends(cfg, on_pi=False)[device] == "no-such-backend"
    with pytest.raises(error, match="no-such-backend"):
        build_hardware(cfg, on_pi=False)
    # The display (opened third, before the clock and the speaker) was closed: its sysfs tree is gone.
    assert len(opened) == 1
    assert not opened[0].root.exists()


def test_factory_failure_of_the_first_device_opens_nothing_else(cfg, monkeypatch):
    opened = opened_displays(monkeypatch)
    cfg = with_backend(cfg, "camera", "no-such-backend")
    with pytest.raises(ValueError, match="no-such-backend"):
        build_hardware(cfg, on_pi=False)
    assert opened == []
