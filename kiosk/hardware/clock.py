"""The system clock's NTP state: is the time the countdown shows right?

:class:`SystemClock` asks the kernel directly with adjtimex(2), which whichever NTP
daemon runs (systemd-timesyncd, chrony, ntpd) keeps up to date; it needs neither
systemd nor privileges. ``timedatectl`` is only a fallback for kernels without it.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from abc import ABC, abstractmethod
from dataclasses import dataclass

from kiosk.config import ClockConfig
from kiosk.errors import DeviceError
from kiosk.hardware.base import Device

#: timex.status bit set while the kernel clock is not synchronised.
STA_UNSYNC = 0x40


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Timex(ctypes.Structure):
    # glibc's struct timex; c_long follows the platform (64-bit Pi OS and 32-bit armhf alike).
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time", _Timeval),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_reserved", ctypes.c_int * 11),
    ]


@dataclass(frozen=True)
class ClockStatus:
    """The clock's state: synchronised or not, the kernel's bound on its error, and where this came from."""

    synced: bool
    max_error_ms: float | None
    source: str


class ClockSource(Device, ABC):
    """The clock backend contract: subclasses set ``backend`` and override :meth:`read`.

    ``close()`` is idempotent; clock sources are context managers.
    """

    @abstractmethod
    def read(self) -> ClockStatus:
        """The clock's current state. Raises DeviceError when it cannot be found out."""



def _adjtimex() -> ClockStatus:
    libc = ctypes.CDLL(None, use_errno=True)
    timex = _Timex()  # modes = 0: read only, no privileges needed
    if libc.adjtimex(ctypes.byref(timex)) == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ClockStatus(synced=not timex.status & STA_UNSYNC, max_error_ms=timex.maxerror / 1000.0,
                       source="adjtimex")


def _timedatectl() -> ClockStatus:
    exe = shutil.which("timedatectl")
    if exe is None:
        raise DeviceError("Cannot read the clock's NTP state: adjtimex failed and timedatectl is not installed")
    try:
        done = subprocess.run([exe, "show", "-p", "NTPSynchronized", "--value"], capture_output=True, text=True,
                              timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DeviceError(f"Cannot read the clock's NTP state: timedatectl failed ({exc})") from None
    value = done.stdout.strip()
    if done.returncode != 0 or value not in ("yes", "no"):
        lines = done.stderr.strip().splitlines()
        detail = lines[-1] if lines else f"exit code {done.returncode}"
        raise DeviceError(f"Cannot read the clock's NTP state: timedatectl failed ({detail})")
    return ClockStatus(synced=value == "yes", max_error_ms=None, source="timedatectl")


class SystemClock(ClockSource):
    """The kernel's NTP state via adjtimex(2), falling back to ``timedatectl``."""

    backend = "system"

    def read(self) -> ClockStatus:
        try:
            return _adjtimex()
        except (OSError, AttributeError):
            # AttributeError: a C library without adjtimex (not Linux).
            return _timedatectl()

    def describe(self) -> str:
        return "system clock (kernel NTP state)"


class SimulatedClock(ClockSource):
    """A clock whose state is set by hand: change ``synced`` and ``max_error_ms`` at will."""

    backend = "simulated"

    def __init__(self, synced: bool = True, max_error_ms: float | None = 20.0):
        self.synced = synced
        self.max_error_ms = max_error_ms

    def read(self) -> ClockStatus:
        return ClockStatus(synced=self.synced, max_error_ms=self.max_error_ms, source="simulated")

    def describe(self) -> str:
        return f"simulated clock ({'synchronised' if self.synced else 'not synchronised'})"


def open_clock(cfg: ClockConfig, backend: str) -> ClockSource:
    """The clock backend named by ``backend`` ("system" or "simulated")."""
    if backend == "system":
        return SystemClock()
    if backend == "simulated":
        return SimulatedClock()
    raise ValueError(f"unknown clock backend {backend!r}")
