"""The clock check, the kernel's NTP state via adjtimex, and the timedatectl fallback."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from kiosk.checks.clock import analyse_clock, check_clock
from kiosk.checks.result import Status
from kiosk.config import ClockConfig
from kiosk.errors import DeviceError
from kiosk.hardware import clock as clock_mod
from kiosk.hardware.clock import ClockSource, ClockStatus, SimulatedClock, SystemClock, open_clock

UNSYNCED = "Clock is not synchronised to network time: the countdown may be wrong. Check the network/NTP."


@pytest.mark.parametrize("status, limit, expected, reason", [
    (ClockStatus(True, 12.4, "adjtimex"), 500.0, Status.PASS, "Clock synchronised to network time (within 12 ms)"),
    (ClockStatus(True, 500.0, "adjtimex"), 500.0, Status.PASS, "Clock synchronised to network time (within 500 ms)"),
    (ClockStatus(True, None, "timedatectl"), 500.0, Status.PASS, "Clock synchronised to network time"),
    (ClockStatus(True, 1200.0, "adjtimex"), 500.0, Status.WARN,
     "Clock may be off by up to 1200 ms (limit 500 ms): the countdown may be slightly wrong"),
    (ClockStatus(False, 16000.0, "adjtimex"), 500.0, Status.FAIL, UNSYNCED),
    (ClockStatus(False, None, "timedatectl"), 500.0, Status.FAIL, UNSYNCED),
])
def test_clock_analyse_table(status, limit, expected, reason):
    result = analyse_clock(status, ClockConfig(max_error_ms=limit))
    assert (result.status, result.reason) == (expected, reason)
    assert result.metrics == {"synced": status.synced, "max_error_ms": status.max_error_ms}


def test_clock_simulated_can_lose_sync():
    clock = SimulatedClock()
    assert check_clock(clock, ClockConfig()).status is Status.PASS
    clock.synced = False
    assert check_clock(clock, ClockConfig()).reason == UNSYNCED
    clock.synced, clock.max_error_ms = True, 2500.0
    assert check_clock(clock, ClockConfig()).status is Status.WARN


def test_clock_device_error_fails_with_reason():
    class Broken(ClockSource):
        backend = "broken"

        def read(self):
            raise DeviceError("Cannot read the clock's NTP state: nothing works")

    result = check_clock(Broken(), ClockConfig())
    assert (result.status, result.reason) == (Status.FAIL, "Cannot read the clock's NTP state: nothing works")


def test_clock_system_reads_the_kernel_state():
    status = SystemClock().read()
    assert isinstance(status, ClockStatus) and status.source == "adjtimex"
    assert isinstance(status.synced, bool)
    # The kernel caps maxerror at 16 s (NTP_PHASE_LIMIT) and marks the clock unsynchronised beyond it.
    assert 0.0 <= status.max_error_ms <= 16000.0
    assert check_clock(SystemClock(), ClockConfig()).status in set(Status)


def put_on_path(monkeypatch, tmp_path, name: str, body: str) -> None:
    """An executable ``name`` running the shell ``body``, alone on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    exe = bin_dir / name
    exe.write_text(f"#!/bin/sh\n{body}\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(bin_dir))


@pytest.fixture
def adjtimex_fails(monkeypatch):
    # The syscall is the lowest level: pretend the kernel refuses it.
    def refuse():
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))

    monkeypatch.setattr(clock_mod, "_adjtimex", refuse)


@pytest.mark.parametrize("answer, synced", [("yes", True), ("no", False)])
def test_clock_system_falls_back_to_timedatectl(monkeypatch, tmp_path, adjtimex_fails, answer, synced):
    put_on_path(monkeypatch, tmp_path, "timedatectl",
                f'[ "$*" = "show -p NTPSynchronized --value" ] || exit 3\necho {answer}')
    assert SystemClock().read() == ClockStatus(synced, None, "timedatectl")


def test_clock_system_timedatectl_failing_raises_device_error(monkeypatch, tmp_path, adjtimex_fails):
    put_on_path(monkeypatch, tmp_path, "timedatectl", 'echo "Failed to connect to bus: Host is down" >&2; exit 1')
    with pytest.raises(DeviceError, match=r"timedatectl failed \(Failed to connect to bus: Host is down\)"):
        SystemClock().read()


def test_clock_system_without_anything_fails_the_check(monkeypatch, tmp_path, adjtimex_fails):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    result = check_clock(SystemClock(), ClockConfig())
    assert result.status is Status.FAIL
    assert result.reason == "Cannot read the clock's NTP state: adjtimex failed and timedatectl is not installed"


def test_clock_open_backends():
    assert isinstance(open_clock(ClockConfig(), "system"), SystemClock)
    with open_clock(ClockConfig(), "simulated") as clock:
        assert clock.backend == "simulated" and clock.read().synced
    with pytest.raises(ValueError, match="unknown clock backend"):
        open_clock(ClockConfig(), "auto")
