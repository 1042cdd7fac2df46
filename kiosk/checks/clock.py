"""Clock check: the countdown to the conference is only as right as the clock."""

from __future__ import annotations

from kiosk.checks.result import CheckResult
from kiosk.config import ClockConfig
from kiosk.errors import DeviceError
from kiosk.hardware.clock import ClockSource, ClockStatus


def analyse_clock(status: ClockStatus, cfg: ClockConfig) -> CheckResult:
    """Fail when the clock is not synchronised, warn when its error bound exceeds ``cfg.max_error_ms``."""
    metrics = {"synced": status.synced, "max_error_ms": status.max_error_ms}
    if not status.synced:
        return CheckResult.failed("Clock is not synchronised to network time: the countdown may be wrong. "
                                  "Check the network/NTP.", **metrics)
    if status.max_error_ms is not None and status.max_error_ms > cfg.max_error_ms:
        return CheckResult.warned(f"Clock may be off by up to {status.max_error_ms:.0f} ms "
                                  f"(limit {cfg.max_error_ms:.0f} ms): the countdown may be slightly wrong", **metrics)
    if status.max_error_ms is None:
        return CheckResult.passed("Clock synchronised to network time", **metrics)
    return CheckResult.passed(f"Clock synchronised to network time (within {status.max_error_ms:.0f} ms)", **metrics)


def check_clock(source: ClockSource, cfg: ClockConfig) -> CheckResult:
    """Read the clock's state and judge it; a clock that cannot be read fails."""
    try:
        status = source.read()
    except DeviceError as exc:
        return CheckResult.failed(str(exc), synced=False, max_error_ms=None)
    return analyse_clock(status, cfg)
