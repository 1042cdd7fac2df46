"""The room's calendar: what a reload costs, and what it does to presses and /api/state (target: nothing).

Run: .venv/bin/python benchmarks/bench_calendar.py

- Reload of a calendar of 3,000 bookings (a year of a busy room: 12 a day, 250 days, 1.8 MB with descriptions):
  parsed and expanded for today and tomorrow by ``kiosk.calendar_ics.parse_isolated`` in a child process (what
  the watcher does), beside the same parse in-process (the baseline) in the same run.
- Button press -> light change, and ``GET /api/state`` over HTTP, while the watcher reloads that calendar over
  and over (the file touched before each poll), beside the same figures with the watcher idle (the baseline).
  Target: no change (ratio ~1; the figures are noisy on a shared 2-core machine).
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kiosk.config import Config  # noqa: E402

LONDON = ZoneInfo("Europe/London")
BOOKINGS = 3000


def _stats(values_ms):
    a = np.asarray(values_ms, dtype=float)
    return float(np.median(a)), float(np.percentile(a, 99))


def make_calendar(path: Path, today: datetime) -> None:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//bench//EN"]
    day = today.date() - timedelta(days=120)
    n = 0
    while n < BOOKINGS:
        if day.weekday() < 5:
            for slot in range(12):
                hour, minute = 8 + slot * 50 // 60, slot * 50 % 60
                start = datetime(day.year, day.month, day.day, hour, minute)
                lines += ["BEGIN:VEVENT", f"UID:{n}@bench", "DTSTAMP:20260101T000000Z",
                          f"DTSTART;TZID=Europe/London:{start:%Y%m%dT%H%M%S}",
                          f"DTEND;TZID=Europe/London:{start + timedelta(minutes=45):%Y%m%dT%H%M%S}",
                          "SUMMARY:Initial child protection conference", "DESCRIPTION:" + "Agenda and papers. " * 20,
                          "END:VEVENT"]
                n += 1
                if n == BOOKINGS:
                    break
        day += timedelta(days=1)
    lines.append("END:VCALENDAR")
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")


def bench_reload(path: Path, repeats: int = 5) -> list[dict]:
    from kiosk import calendar_ics

    now = datetime.now(LONDON)
    data = path.read_bytes()
    window = calendar_ics.window(now)
    calendar_ics.parse_calendar(data, *window, "Europe/London")  # warm-up
    isolated, inline = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        parsed = calendar_ics.parse_isolated(data, *window, "Europe/London")
        isolated.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        calendar_ics.parse_calendar(data, *window, "Europe/London")
        inline.append((time.perf_counter() - t0) * 1000)
    assert parsed.events == BOOKINGS and parsed.skipped == 0
    median, p99 = _stats(isolated)
    b = _stats(inline)[0]
    return [{"name": f"calendar reload, {BOOKINGS:,} bookings ({len(data) / 1e6:.1f} MB), in its child process",
             "median_ms": median, "p99_ms": p99, "baseline": "the same parse in-process", "baseline_median_ms": b,
             "ratio": median / b, "target": "off the room's thread and process"}]


def _press_and_state(controller, factory, url, repeats: int):
    button = factory.pin(17)
    leds = [factory.pin(n) for n in (22, 27, 24)]
    presses, states = [], []
    for _ in range(repeats):
        before = tuple(p.state for p in leds)
        t0 = time.monotonic()
        button.drive_low()  # the pin's thread posts the press to the room's loop and returns
        changed = []
        while not changed and time.monotonic() - t0 < 5:
            time.sleep(0.0005)
            # When the light changed: gpiozero's mock pin notes the time of its last change.
            changed = [p._last_change for p, was in zip(leds, before) if p.state != was]  # noqa: SLF001
        assert changed, "the light did not change"
        presses.append((max(changed) - t0) * 1000)
        button.drive_high()
        t0 = time.perf_counter()
        with urllib.request.urlopen(url, timeout=10) as answer:
            answer.read()
        states.append((time.perf_counter() - t0) * 1000)
        deadline = time.monotonic() + 5
        while controller.machine.state.value == "checking" and time.monotonic() < deadline:
            time.sleep(0.002)
    return presses, states


def bench_during_reload(path: Path, state_dir: Path, repeats: int = 150) -> list[dict]:
    from kiosk.calendar_watcher import CalendarWatcher
    from kiosk.controller import RoomController
    from kiosk.factory import build_hardware
    from kiosk.lights import Lights
    from kiosk.pins import mock_factory
    from web_ui import create_app
    from web_ui.server import WebServer

    cfg = (Config().replace("checks", interval_s=0).replace("camera", frames=2, frame_interval_s=0.0)
           .replace("schedule", ended_s=3600, ics=str(path)).replace("button", debounce_ms=0)
           .replace("microphone", capture_s=0.1).replace("storage", state_dir=str(state_dir)))
    factory = mock_factory()
    controller = RoomController(cfg, build_hardware(cfg, simulate=True),
                                lights=Lights(cfg.lights, pin_factory=factory), pin_factory=factory)
    controller.start(initial_check=False)
    server = WebServer(create_app(controller), "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{server.port}/api/state"
    watcher = CalendarWatcher(cfg, controller.set_bookings)
    watcher.poll()
    stop, reloads = threading.Event(), [0]

    def reload_for_ever():
        stamp = time.time_ns()
        while not stop.is_set():
            stamp += 1_000_000
            os.utime(path, ns=(stamp, stamp))  # a "changed" file: read and parsed again
            watcher._next_fetch = 0
            watcher.poll()
            reloads[0] += 1

    try:
        idle_press, idle_state = _press_and_state(controller, factory, url, repeats)
        thread = threading.Thread(target=reload_for_ever, name="calendar-watcher", daemon=True)
        thread.start()
        busy_press, busy_state = _press_and_state(controller, factory, url, repeats)
        stop.set()
        thread.join(30)
    finally:
        server.close()
        controller.stop()
        factory.close()
    rows = []
    for name, busy, idle in (("button press -> light change", busy_press, idle_press),
                             ("GET /api/state", busy_state, idle_state)):
        median, p99 = _stats(busy)
        b_median, b_p99 = _stats(idle)
        rows.append({"name": f"{name} while the calendar reloads ({reloads[0]} reloads)", "median_ms": median,
                     "p99_ms": p99, "baseline": f"watcher idle (p99 {b_p99:.2f} ms)", "baseline_median_ms": b_median,
                     "ratio": median / b_median if b_median else None, "target": "no change"})
    return rows


def run() -> list[dict]:
    """Every figure of this script (see the module docstring)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "room.ics"
        make_calendar(path, datetime.now(LONDON))
        return bench_reload(path) + bench_during_reload(path, Path(tmp) / "state")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    from report import print_table

    print_table(run())
