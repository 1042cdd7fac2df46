"""The calendar watcher: reads on its own thread, keeps the last good calendar, reports health.

The room stays responsive whatever the calendar: the parse is asked for only by the watcher's
thread (a spy on the real parser records which thread) and runs in a child process, and
``/api/state`` and presses are timed while the watcher works through each hard case.
"""

import threading
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from calendar_server import CalendarServer
from kiosk import calendar_ics
from kiosk.calendar_watcher import CalendarWatcher
from kiosk.config import Config
from web import serve, start_room, stop_room
from waiting import wait_for
from web_ui import create_app

LONDON = ZoneInfo("Europe/London")


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def ics(*events: str, name: bytes = b"Smith family") -> bytes:
    """A calendar of events given as 'DTSTART...' property lines (\\n-separated), each titled ``name``."""
    lines = [b"BEGIN:VCALENDAR", b"VERSION:2.0", b"PRODID:-//kiosk tests//EN"]
    for number, body in enumerate(events):
        lines += [b"BEGIN:VEVENT", b"UID:%d@test" % number, b"SUMMARY:" + name]
        lines += [line.strip().encode() for line in body.strip().splitlines()]
        lines.append(b"END:VEVENT")
    lines.append(b"END:VCALENDAR")
    return b"\r\n".join(lines) + b"\r\n"


GOOD = ics("DTSTART;TZID=Europe/London:20261123T140000\nDTEND;TZID=Europe/London:20261123T150000")


class Deliveries:
    """What the watcher handed over (a list of (bookings, health))."""

    def __init__(self):
        self.calls = []

    def __call__(self, bookings, health):
        self.calls.append((list(bookings), dict(health)))

    @property
    def last(self):
        return self.calls[-1]


def watcher_for(tmp_path, ics_value, clock=None, **schedule):
    cfg = Config().replace("schedule", ics=ics_value, **schedule).replace("storage", state_dir=str(tmp_path / "state"))
    got = Deliveries()
    clock = clock or Clock(datetime(2026, 11, 23, 9, tzinfo=LONDON))
    return CalendarWatcher(cfg, got, now=clock), got, clock


def hours(bookings):
    return [(b.start.hour, b.start.minute) for b in bookings]


def test_calendar_watcher_file_delivers_todays_and_tomorrows_bookings(tmp_path):
    path = tmp_path / "room.ics"
    path.write_bytes(ics("DTSTART;TZID=Europe/London:20261123T140000", "DTSTART;TZID=Europe/London:20261124T100000"))
    watcher, got, _ = watcher_for(tmp_path, str(path))
    health = watcher.poll()
    bookings, delivered = got.last
    assert [(b.start.day, b.start.hour) for b in bookings] == [(23, 14), (24, 10)]
    assert delivered == health
    assert health["source"] == "file" and health["error"] is None and health["stale"] is False
    assert health["events_skipped"] == 0 and health["last_good_at"].startswith("2026-11-23T09:00")


def test_calendar_watcher_bad_new_calendar_keeps_the_last_good_one(tmp_path):
    path = tmp_path / "room.ics"
    path.write_bytes(GOOD)
    watcher, got, _ = watcher_for(tmp_path, str(path))
    watcher.poll()
    path.write_bytes(b"BEGIN:VCALENDAR\r\nSUMMARY:Smith family\r\n")  # half a file, as a sync tool may leave it
    watcher._next_fetch = 0
    health = watcher.poll()
    assert hours(got.last[0]) == [(14, 0)]
    assert health["stale"] is True and "no complete BEGIN:VCALENDAR" in health["error"]
    assert "Smith" not in str(got.calls)


def test_calendar_watcher_broken_dtstart_skips_one_event_and_counts_it(tmp_path, caplog):
    path = tmp_path / "room.ics"
    path.write_bytes(ics("DTSTART;TZID=Europe/London:20261123T100000", "DTSTART:2026112XT120000",
                         "DTSTART;TZID=Europe/London:20261123T140000"))
    watcher, got, _ = watcher_for(tmp_path, str(path))
    health = watcher.poll()
    assert hours(got.last[0]) == [(10, 0), (14, 0)]
    assert health["events_skipped"] == 1 and health["stale"] is False
    assert "event 2: DTSTART is not a valid date or time" in caplog.text
    assert "Smith" not in caplog.text and "2026112X" not in caplog.text


def test_calendar_watcher_url_with_etag_is_parsed_only_when_it_changes(tmp_path, monkeypatch):
    server = CalendarServer(GOOD)
    parses = []
    real = calendar_ics.parse_isolated
    monkeypatch.setattr(calendar_ics, "parse_isolated", lambda *a, **k: parses.append(1) or real(*a, **k))
    try:
        watcher, got, clock = watcher_for(tmp_path, server.url)
        watcher.poll()
        clock.now = clock.now.replace(minute=10)
        watcher._next_fetch = 0
        health = watcher.poll()
        assert len(parses) == 1  # the 304 cost no parse
        assert server.requests[-1]["if_none_match"] == server.etag
        assert health["last_good_at"].startswith("2026-11-23T09:10") and health["stale"] is False
        server.set_body(ics("DTSTART;TZID=Europe/London:20261123T160000"))
        watcher._next_fetch = 0
        watcher.poll()
        assert hours(got.last[0]) == [(16, 0)] and len(parses) == 2
    finally:
        server.close()


def test_calendar_watcher_unreachable_url_uses_the_kept_copy_after_a_restart(tmp_path):
    server = CalendarServer(GOOD)
    watcher, got, _ = watcher_for(tmp_path, server.url)
    watcher.poll()
    server.close()  # the calendar server goes away, and the kiosk restarts
    watcher, got, _ = watcher_for(tmp_path, server.url, ics_timeout_s=2)
    health = watcher.poll()
    assert hours(got.last[0]) == [(14, 0)]  # the last good calendar, from the state directory
    assert health["stale"] is True and "unreachable" in health["error"]
    assert health["last_good_at"].startswith("2026-11-23T09:00")


def test_calendar_watcher_unreachable_url_without_a_copy_reports_it(tmp_path, closed_port):
    watcher, got, _ = watcher_for(tmp_path, f"http://127.0.0.1:{closed_port}/room.ics", ics_timeout_s=2)
    health = watcher.poll()
    assert got.last[0] == [] and health["stale"] is True and health["last_good_at"] is None


def test_calendar_watcher_reads_the_new_day_after_midnight(tmp_path):
    path = tmp_path / "room.ics"
    path.write_bytes(ics("DTSTART;TZID=Europe/London:20261125T090000"))
    watcher, got, clock = watcher_for(tmp_path, str(path))
    watcher.poll()
    assert got.last[0] == []  # the day after tomorrow is outside the window
    clock.now = datetime(2026, 11, 24, 0, 0, 5, tzinfo=LONDON)
    watcher.poll()
    assert [(b.start.day, b.start.hour) for b in got.last[0]] == [(25, 9)]


# --- the room stays responsive --------------------------------------------------------


def _minutely(tmp_path):
    path = tmp_path / "room.ics"
    path.write_bytes(ics("DTSTART:19900101T000000Z\nDURATION:PT1M\nRRULE:FREQ=MINUTELY",
                         "DTSTART;TZID=Europe/London:20261123T140000"))
    return str(path), None


def _fifty_mb(tmp_path):
    path = tmp_path / "room.ics"
    with open(path, "wb") as f:
        block = GOOD.replace(b"END:VCALENDAR\r\n", b"") * 2000
        while f.tell() < 50 * 1024 * 1024:
            f.write(block)
    return str(path), None


def _heavy(tmp_path):
    # 4.5 MB of single events: parsed in full, seconds of work.
    path = tmp_path / "room.ics"
    event = ("DTSTART;TZID=Europe/London:20261123T{h:02d}0000\nDESCRIPTION:" + "x" * 200)
    events = [event.format(h=8 + n % 8) for n in range(10_000)]
    path.write_bytes(ics(*events))
    return str(path), None


def _broken_dtstart(tmp_path):
    path = tmp_path / "room.ics"
    path.write_bytes(ics("DTSTART:2026112XT120000", "DTSTART;TZID=Europe/London:20261123T140000"))
    return str(path), None


def _unreachable(tmp_path):
    server = CalendarServer(GOOD)
    url = server.url
    server.close()
    return url, None


def _etag(tmp_path):
    server = CalendarServer(GOOD)
    return server.url, server


@pytest.mark.parametrize("make", [_fifty_mb, _minutely, _heavy, _broken_dtstart, _unreachable, _etag],
                         ids=["50MB", "minutely-since-1990", "4MB-10000-events", "broken-dtstart",
                              "unreachable-url", "url-with-etag"])
def test_calendar_watcher_room_answers_and_presses_are_not_delayed_while_it_reads(tmp_path, monkeypatch, make):
    ics_value, server = make(tmp_path)
    threads = []
    real = calendar_ics.parse_isolated

    def spy(*args, **kwargs):  # the real parser (in its child process), noting which thread asks for it
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(calendar_ics, "parse_isolated", spy)
    from web import fast_config

    cfg = (fast_config().replace("schedule", ics=ics_value, ics_timeout_s=2)
           .replace("storage", state_dir=str(tmp_path / "state")))
    controller, factory = start_room(cfg)
    live, close = serve(create_app(controller, {"TESTING": True}))
    delivered = threading.Event()

    def deliver(bookings, health):
        controller.set_bookings(bookings, health)
        delivered.set()

    watcher = CalendarWatcher(cfg, deliver)
    try:
        watcher.start()
        state_s, press_s = [], []
        deadline = time.monotonic() + 60
        while not delivered.is_set() and time.monotonic() < deadline or len(state_s) < 5:
            began = time.perf_counter()
            live.get_json("/api/state")
            state_s.append(time.perf_counter() - began)
            began = time.perf_counter()
            controller.press()
            press_s.append(time.perf_counter() - began)
        assert delivered.is_set()
        assert set(threads) <= {"calendar-watcher"}  # never the room's loop, never a web request
        # Generous bounds on a shared machine: the old kiosk stalled for 40-100 s here.
        assert max(state_s) < 0.5, f"/api/state took up to {max(state_s) * 1000:.0f} ms"
        assert max(press_s) < 0.5, f"a press took up to {max(press_s) * 1000:.0f} ms"
        assert wait_for(lambda: controller.public_state()["calendar"] is not None)
        assert "Smith" not in str(controller.public_state())
    finally:
        watcher.stop()
        close()
        stop_room(controller, factory)
        if server is not None:
            server.close()


# --- privacy and the whole kiosk ------------------------------------------------------

NAMES = [b"Jayden Smith", b"Oakfield Road", b"jane.smith@example.org", b"Dr Patel"]


def test_calendar_watcher_no_calendar_text_reaches_state_metrics_logs_or_the_kept_copy(tmp_path, caplog):
    import logging

    from kiosk import metrics
    from kiosk.controller import RoomController
    from kiosk.factory import build_hardware

    caplog.set_level(logging.DEBUG)
    path = tmp_path / "room.ics"
    path.write_bytes(ics("DTSTART;TZID=Europe/London:20261123T140000\nDESCRIPTION:Jayden Smith\\, Oakfield Road\n"
                         "ATTENDEE;CN=Dr Patel:mailto:jane.smith@example.org\nLOCATION:Oakfield Road",
                         "DTSTART:Jayden Smith",  # the broken value itself is text that must not be quoted
                         "DTSTART:19900101T000000Z\nRRULE:FREQ=MINUTELY", name=b"ICPC Jayden Smith"))
    clock = Clock(datetime(2026, 11, 23, 9, tzinfo=LONDON))
    cfg = Config().replace("schedule", ics=str(path)).replace("storage", state_dir=str(tmp_path / "state"))
    controller = RoomController(cfg, build_hardware(cfg, simulate=True), now=clock)
    try:
        health = CalendarWatcher(cfg, controller.set_bookings, now=clock).poll()
        assert health["events_skipped"] == 2 and controller.start_at().hour == 14
        kept = [p.read_bytes() for p in (tmp_path / "state").rglob("*") if p.is_file()]
        assert kept, "the last good calendar is kept in the state directory"
        seen = [str(controller.public_state()).encode(), metrics.render(controller, None), caplog.text.encode(),
                str(health).encode(), *kept]
        for name in NAMES + [b"ICPC"]:
            assert not [s for s in seen if name in s], name
    finally:
        controller.stop()


def test_calendar_watcher_runs_in_kiosk_run_and_reports_health(tmp_path):
    from kiosk_process import KioskProcess

    now = datetime.now(LONDON)
    start = (now + timedelta(hours=1)).replace(second=0, microsecond=0)
    if start.date() != now.date():
        start = now.replace(hour=23, minute=59, second=0, microsecond=0)
    path = tmp_path / "room.ics"
    path.write_bytes(ics(f"DTSTART;TZID=Europe/London:{start:%Y%m%dT%H%M%S}"))
    kiosk = KioskProcess(tmp_path / "kiosk", pin=None, extra_toml=f'[schedule]\nics = "{path}"\n').start()
    try:
        http = kiosk.http()
        assert wait_for(lambda: http.get("/api/state").json()["calendar"] is not None, timeout=20), kiosk.log()
        state = http.get("/api/state").json()
        assert state["calendar"]["source"] == "file" and state["calendar"]["stale"] is False
        assert state["start_source"] == "calendar" and state["start_at"].startswith(f"{start:%Y-%m-%dT%H:%M}")
        metrics = http.get("/metrics").text
        assert 'kiosk_calendar_stale{room="suite-1",source="file"} 0.0' in metrics
        path.unlink()  # the file goes away: the room keeps the bookings and says they may be out of date
        assert wait_for(lambda: http.get("/api/state").json()["calendar"]["stale"], timeout=20)
        assert http.get("/api/state").json()["start_at"] == state["start_at"]
        assert "Smith" not in kiosk.log()
    finally:
        assert kiosk.stop() == 0
    assert "Traceback" not in kiosk.log()  # the watcher stopped with the kiosk, cleanly
