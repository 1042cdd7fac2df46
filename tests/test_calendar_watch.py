"""The calendar read away from the room's loop: in a child process, on its own thread, when the file changes."""

import logging
import os
import subprocess
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

from kiosk.calendar_watch import CalendarWatcher, read_in_child, read_today
from waiting import wait_for

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=LONDON)


def calendar(*bookings: tuple[str, str, str]) -> str:
    """An ICS text with one event per (start, end, summary), times as HHMMSS on 2026-11-23 in London."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//kiosk tests//EN"]
    for n, (start, end, summary) in enumerate(bookings):
        lines += ["BEGIN:VEVENT", f"UID:{n}@test", "DTSTAMP:20261101T000000Z",
                  f"DTSTART;TZID=Europe/London:20261123T{start}", f"DTEND;TZID=Europe/London:20261123T{end}",
                  f"SUMMARY:{summary}", "END:VEVENT"]
    return "\r\n".join(lines + ["END:VCALENDAR"]) + "\r\n"


def test_calendar_watch_child_reads_the_same_bookings_as_in_process(tmp_path):
    path = tmp_path / "room.ics"
    path.write_text(calendar(("141500", "153000", "ICPC Family Smith"), ("090000", "093000", "RCPC Jones")))
    assert read_in_child(str(path), NOW, "Europe/London") == read_today(str(path), NOW, "Europe/London")
    assert [b.start.hour for b in read_in_child(str(path), NOW, "Europe/London")] == [9, 14]


def test_calendar_watch_child_passes_times_only(tmp_path):
    path = tmp_path / "room.ics"
    path.write_text(calendar(("141500", "153000", "ICPC Family Smith")))
    done = subprocess.run([sys.executable, "-m", "kiosk.calendar_watch", str(path), "Europe/London", NOW.isoformat()],
                          capture_output=True, text=True, check=True)
    assert "Smith" not in done.stdout and "ICPC" not in done.stdout
    assert "2026-11-23T14:15:00+00:00" in done.stdout


def test_calendar_watch_unusable_calendar_is_a_log_line_and_no_bookings(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="kiosk.calendar")
    path = tmp_path / "room.ics"
    path.write_text("this is not a calendar")
    assert read_in_child(str(path), NOW, "Europe/London") == []
    assert "Calendar not used" in caplog.text
    caplog.clear()
    assert read_in_child(str(tmp_path / "missing.ics"), NOW, "Europe/London") == []
    assert "Calendar not used" in caplog.text


def test_calendar_watch_delivers_when_the_file_changes(tmp_path):
    path = tmp_path / "room.ics"
    path.write_text(calendar(("141500", "153000", "first")))
    got = []
    watcher = CalendarWatcher(str(path), "Europe/London", lambda: NOW, got.append)
    assert [b.start.hour for b in watcher.read()] == [14]
    thread = watcher.start()
    try:
        assert thread.name == "room-calendar"
        part = tmp_path / "room.part"
        part.write_text(calendar(("160000", "170000", "moved")))
        os.utime(part, (path.stat().st_mtime + 5, path.stat().st_mtime + 5))  # a newer file, whatever the clock
        os.replace(part, path)
        assert wait_for(lambda: got, timeout=10)
        assert [b.start.hour for b in got[-1]] == [16]
    finally:
        watcher.stop()
        thread.join(5)
    assert not thread.is_alive()
