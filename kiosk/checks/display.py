"""Display check: is a screen plugged in, switched on and identifying itself?"""

from __future__ import annotations

import re
from typing import Callable

from kiosk.checks.result import CheckResult
from kiosk.config import DisplayConfig
from kiosk.errors import DeviceError
from kiosk.hardware.display import Connector, Display

_MODE = re.compile(r"(\d+)x(\d+)")


def _with_note(reason: str, note: str | None) -> str:
    if not note:
        return reason
    return f"{reason}{' ' if reason.endswith(('.', '?')) else '. '}{note}"


def _metrics(physical: list[Connector], chosen: Connector | None) -> dict:
    mode = _MODE.match(chosen.preferred_mode or "") if chosen else None
    return {
        "connectors": len(physical),
        "connected": sum(c.connected for c in physical),
        "mode_width": int(mode.group(1)) if mode else None,
        "mode_height": int(mode.group(2)) if mode else None,
        "edid_bytes": len(chosen.edid) if chosen else 0,
    }


def analyse_connectors(connectors: list[Connector], cfg: DisplayConfig, note: str | None = None) -> CheckResult:
    """Judge the connectors: fail without a connected screen; without EDID fail (``require_edid``) or warn.

    ``cfg.connector`` names the one to check; empty means any. ``note`` (from a CEC
    wake) is appended to the reason.
    """
    # Writeback connectors are the GPU writing into memory, never a screen.
    physical = [c for c in connectors if not c.name.startswith("Writeback")]
    connected, problem = _connected(physical, cfg)
    if problem:
        return CheckResult.failed(_with_note(problem, note), **_metrics(physical, None))
    # With several screens, judge one that identifies itself.
    chosen = next((c for c in connected if c.edid), connected[0])
    verdict, reason = _judge_screen(chosen, cfg)
    return verdict(_with_note(reason, note), **_metrics(physical, chosen))


def _connected(physical: list[Connector], cfg: DisplayConfig) -> tuple[list[Connector], str | None]:
    """The connected connectors among those to check, or (``[]``, why there is none)."""
    if not physical:
        return [], "No display output found: the display driver lists no connectors"
    candidates = physical
    if cfg.connector:
        candidates = [c for c in physical if c.name == cfg.connector]
        if not candidates:
            present = ", ".join(c.name for c in physical)
            return [], (f"Display connector {cfg.connector} not found (this device has {present}): "
                        "check [display] connector")
    connected = [c for c in candidates if c.connected]
    if not connected:
        names = " or ".join(c.name for c in candidates)
        return [], f"Screen not detected on {names}: is it switched on and the HDMI cable plugged in?"
    return connected, None


def _judge_screen(chosen: Connector, cfg: DisplayConfig) -> tuple[Callable[..., CheckResult], str]:
    """How a connected screen identifies itself: (CheckResult.passed, warned or failed, the reason)."""
    if not chosen.edid:
        if cfg.require_edid:
            # With the output forced on (video=...D on the kernel command line) the connector
            # reads "connected" with no screen at all: a missing EDID is then the only sign.
            return CheckResult.failed, (f"No screen answering on {chosen.name} (no EDID): is the screen plugged in "
                                        "and switched on? Check the HDMI cable")
        return CheckResult.warned, "Screen connected but not identifying itself (no EDID): check the HDMI cable"
    info = chosen.edid_info()
    if info is None:
        return CheckResult.warned, "Screen connected but its identification (EDID) is unreadable: check the HDMI cable"
    details = [d for d in (info["name"], chosen.preferred_mode) if d]
    return CheckResult.passed, f"Screen connected on {chosen.name}" + (f" ({', '.join(details)})" if details else "")


def check_display(display: Display, cfg: DisplayConfig) -> CheckResult:
    """Wake the screen over CEC if configured, then judge the connectors. Never raises for device errors."""
    note = display.wake() if cfg.cec_wake else None
    try:
        connectors = display.connectors()
    except DeviceError as exc:
        return CheckResult.failed(_with_note(str(exc), note), **_metrics([], None))
    return analyse_connectors(connectors, cfg, note)
