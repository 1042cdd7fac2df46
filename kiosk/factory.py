"""The composition root for hardware: turns configuration into opened backends.

``auto`` means the real backend on a Raspberry Pi and the simulated one elsewhere;
which was chosen is said once, in one log line.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass, field

from kiosk import platform
from kiosk.config import Config

log = logging.getLogger("kiosk.hardware")

#: The real backend that ``auto`` picks on a Pi, per device.
REAL_DEFAULTS = {"microphone": "alsa", "display": "drm", "clock": "system", "speaker": "alsa"}
DEVICES = ("camera", "microphone", "display", "clock", "speaker")


def _real_camera() -> str:
    # CSI cameras need picamera2 (apt: python3-picamera2); a USB camera works through OpenCV.
    return "picamera2" if importlib.util.find_spec("picamera2") else "opencv"


def resolve_backends(cfg: Config, simulate: bool = False, on_pi: bool | None = None) -> dict[str, str]:
    """The backend name each device will use. ``simulate`` forces every device to ``simulated``."""
    if on_pi is None:
        on_pi = platform.is_raspberry_pi()
    chosen = {}
    for device in DEVICES:
        configured = getattr(cfg, device).backend
        if simulate:
            chosen[device] = "simulated"
        elif configured != "auto":
            chosen[device] = configured
        elif on_pi:
            chosen[device] = _real_camera() if device == "camera" else REAL_DEFAULTS[device]
        else:
            chosen[device] = "simulated"
    return chosen


@dataclass
class Hardware:
    """The opened devices. ``backends`` names the backend of each."""

    camera: object
    microphone: object
    display: object
    clock: object
    speaker: object | None
    backends: dict[str, str] = field(default_factory=dict)

    @property
    def simulated(self) -> bool:
        """True when any device in use is simulated (the simulator page is then offered)."""
        in_use = [d for d, dev in self.devices().items() if dev is not None]
        return any(self.backends.get(d) == "simulated" for d in in_use)

    def devices(self) -> dict[str, object]:
        """Each device by name (the speaker is None when disabled)."""
        return {"camera": self.camera, "microphone": self.microphone, "display": self.display,
                "clock": self.clock, "speaker": self.speaker}

    def close(self) -> None:
        """Close every device; safe to call twice."""
        for dev in self.devices().values():
            close = getattr(dev, "close", None)
            if close:
                close()


def build_hardware(cfg: Config, simulate: bool = False, on_pi: bool | None = None) -> Hardware:
    """Open every device backend named by ``cfg`` (or all simulated ones).

    All or nothing: when one fails to open, those already open are closed and the error is raised.
    """
    from kiosk.hardware.camera import open_camera
    from kiosk.hardware.clock import open_clock
    from kiosk.hardware.display import open_display
    from kiosk.hardware.microphone import open_microphone
    from kiosk.hardware.speaker import open_speaker

    if on_pi is None:
        on_pi = platform.is_raspberry_pi()
    backends = resolve_backends(cfg, simulate, on_pi)
    in_use = [d for d in DEVICES if d != "speaker" or cfg.speaker.enabled]
    autos = [d for d in in_use if getattr(cfg, d).backend == "auto" or simulate]
    if simulate:
        log.info("Simulation mode: every device is simulated")
    elif autos:
        where = "on a Raspberry Pi" if on_pi else "not on a Raspberry Pi (no device tree model)"
        log.info("auto: %s, so %s", where, ", ".join(f"{d}={backends[d]}" for d in autos))
    opened = Hardware(None, None, None, None, None, backends)
    try:  # all or nothing: a device that fails to open closes those opened before it (like CompositeDevice)
        opened.camera = open_camera(cfg.camera, backends["camera"])
        opened.microphone = open_microphone(cfg.microphone, backends["microphone"])
        opened.display = open_display(cfg.display, backends["display"])
        opened.clock = open_clock(cfg.clock, backends["clock"])
        if cfg.speaker.enabled:
            opened.speaker = open_speaker(cfg.speaker, backends["speaker"], microphone=opened.microphone)
    except BaseException:
        opened.close()
        raise
    return opened
