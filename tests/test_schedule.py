"""Bookings from iCalendar files, the start time that matters now, and the countdown."""

import dataclasses
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from kiosk.config import ScheduleConfig
from kiosk.errors import ConfigError
from kiosk.schedule import (Booking, CountdownView, countdown, day_bounds, load_bookings, next_start,
                            parse_hhmm)

LONDON = ZoneInfo("Europe/London")
UTC = timezone.utc
CFG = ScheduleConfig()  # joining 3 min before, overrun after 90 min


def write_ics(tmp_path, *events):
    """A calendar file holding the given VEVENT bodies (property lines without BEGIN/END)."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//kiosk tests//EN"]
    for number, body in enumerate(events):
        lines += ["BEGIN:VEVENT", f"UID:event-{number}@test", "DTSTAMP:20250101T000000Z"]
        lines += [line.strip() for line in body.strip().splitlines()]
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    path = tmp_path / "room.ics"
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return path


def on(year, month, day, path):
    """The bookings of one London day."""
    return load_bookings(path, *day_bounds(datetime(year, month, day, 12, tzinfo=LONDON)), "Europe/London")


def starts(bookings):
    return [(b.start.hour, b.start.minute) for b in bookings]


def at(hour, minute=0, second=0, day=2):
    """A London time on Wednesday 2 April 2025 (BST)."""
    return datetime(2025, 4, day, hour, minute, second, tzinfo=LONDON)


# --- Loading bookings ----------------------------------------------------------------


def test_schedule_single_event(tmp_path):
    path = write_ics(tmp_path, """
        SUMMARY:ICPC Smith family
        DTSTART;TZID=Europe/London:20250402T140000
        DTEND;TZID=Europe/London:20250402T153000
    """)
    assert on(2025, 4, 2, path) == [Booking(at(14), at(15, 30), source="calendar")]
    assert on(2025, 4, 3, path) == []


def test_schedule_keeps_no_titles_or_attendees(tmp_path):
    path = write_ics(tmp_path, """
        SUMMARY:ICPC Smith family
        DESCRIPTION:Child: Jamie Smith
        ATTENDEE;CN=Pat Smith:mailto:pat@example.org
        DTSTART;TZID=Europe/London:20250402T140000
    """)
    [booking] = on(2025, 4, 2, path)
    assert [f.name for f in dataclasses.fields(booking)] == ["start", "end", "source"]
    assert "Smith" not in repr(booking)
    assert booking.end is None


@pytest.mark.parametrize("day, expected", [
    ((2025, 3, 3), [(10, 0)]),   # the first Monday
    ((2025, 3, 5), [(10, 0)]),   # a Wednesday of the series
    ((2025, 3, 4), []),          # Tuesday: not in BYDAY
    ((2025, 3, 12), [(10, 0)]),  # the fourth and last occurrence
    ((2025, 3, 17), []),         # after COUNT=4
])
def test_schedule_weekly_byday_count(tmp_path, day, expected):
    path = write_ics(tmp_path, """
        DTSTART;TZID=Europe/London:20250303T100000
        DTEND;TZID=Europe/London:20250303T113000
        RRULE:FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4
    """)
    assert starts(on(*day, path)) == expected


def test_schedule_weekly_until_is_inclusive(tmp_path):
    path = write_ics(tmp_path, """
        DTSTART;TZID=Europe/London:20250303T100000
        RRULE:FREQ=WEEKLY;UNTIL=20250317T100000Z
    """)
    assert starts(on(2025, 3, 17, path)) == [(10, 0)]
    assert starts(on(2025, 3, 24, path)) == []


def test_schedule_exdate_removes_today(tmp_path):
    path = write_ics(tmp_path, """
        DTSTART;TZID=Europe/London:20250303T100000
        RRULE:FREQ=WEEKLY
        EXDATE;TZID=Europe/London:20250317T100000
    """)
    assert starts(on(2025, 3, 17, path)) == []
    assert starts(on(2025, 3, 24, path)) == [(10, 0)]


def test_schedule_exdate_in_utc_matches_a_local_instance(tmp_path):
    # 09:00Z is 10:00 BST: the same instant written in another zone.
    path = write_ics(tmp_path, """
        DTSTART;TZID=Europe/London:20250407T100000
        RRULE:FREQ=WEEKLY
        EXDATE:20250414T090000Z
    """)
    assert starts(on(2025, 4, 14, path)) == []


def test_schedule_rdate_adds_an_occurrence(tmp_path):
    path = write_ics(tmp_path, """
        DTSTART;TZID=Europe/London:20250303T100000
        DURATION:PT1H
        RRULE:FREQ=WEEKLY;COUNT=2
        RDATE;TZID=Europe/London:20250402T143000
    """)
    assert on(2025, 4, 2, path) == [Booking(at(14, 30), at(15, 30), source="calendar")]


def test_schedule_recurrence_id_override_moves_todays_instance(tmp_path):
    series = """
        DTSTART;TZID=Europe/London:20250331T100000
        DTEND;TZID=Europe/London:20250331T110000
        RRULE:FREQ=DAILY;COUNT=5
    """
    override = """
        RECURRENCE-ID;TZID=Europe/London:20250402T100000
        DTSTART;TZID=Europe/London:20250402T143000
        DTEND;TZID=Europe/London:20250402T153000
    """
    path = write_ics(tmp_path, series, override)
    text = path.read_text().replace("UID:event-1@test", "UID:event-0@test")  # same series
    path.write_text(text)
    assert on(2025, 4, 2, path) == [Booking(at(14, 30), at(15, 30), source="calendar")]
    assert starts(on(2025, 4, 3, path)) == [(10, 0)]  # other days untouched


def test_schedule_recurrence_id_override_moved_into_another_day(tmp_path):
    # Thursday's instance moved to Wednesday afternoon: Wednesday has two, Thursday none.
    path = write_ics(tmp_path, """
        DTSTART;TZID=Europe/London:20250331T100000
        RRULE:FREQ=DAILY;COUNT=5
    """, """
        RECURRENCE-ID;TZID=Europe/London:20250403T100000
        DTSTART;TZID=Europe/London:20250402T160000
    """)
    path.write_text(path.read_text().replace("UID:event-1@test", "UID:event-0@test"))
    assert starts(on(2025, 4, 2, path)) == [(10, 0), (16, 0)]
    assert starts(on(2025, 4, 3, path)) == []


def test_schedule_cancelled_override_removes_instance(tmp_path):
    path = write_ics(tmp_path, """
        DTSTART;TZID=Europe/London:20250331T100000
        RRULE:FREQ=DAILY;COUNT=5
    """, """
        RECURRENCE-ID;TZID=Europe/London:20250402T100000
        DTSTART;TZID=Europe/London:20250402T100000
        STATUS:CANCELLED
    """)
    path.write_text(path.read_text().replace("UID:event-1@test", "UID:event-0@test"))
    assert starts(on(2025, 4, 2, path)) == []
    assert starts(on(2025, 4, 1, path)) == [(10, 0)]


def test_schedule_all_day_event_ignored(tmp_path):
    path = write_ics(tmp_path, """
        DTSTART;VALUE=DATE:20250402
        DTEND;VALUE=DATE:20250403
    """, """
        DTSTART;VALUE=DATE:20250331
        RRULE:FREQ=DAILY;COUNT=5
    """, """
        DTSTART;TZID=Europe/London:20250402T140000
    """)
    assert starts(on(2025, 4, 2, path)) == [(14, 0)]


def test_schedule_cancelled_event_ignored(tmp_path):
    path = write_ics(tmp_path, """
        DTSTART;TZID=Europe/London:20250402T100000
        STATUS:CANCELLED
    """, """
        DTSTART;TZID=Europe/London:20250331T090000
        RRULE:FREQ=DAILY
        STATUS:CANCELLED
    """, """
        DTSTART;TZID=Europe/London:20250402T140000
        STATUS:CONFIRMED
    """)
    assert starts(on(2025, 4, 2, path)) == [(14, 0)]


@pytest.mark.parametrize("first, day, utc_hour", [
    ("20250317", (2025, 3, 31), 8),   # GMT -> BST on Sunday 30 March: 09:00 local is 08:00 UTC
    ("20251013", (2025, 10, 27), 9),  # BST -> GMT on Sunday 26 October: 09:00 local is 09:00 UTC
])
def test_schedule_tzid_series_keeps_local_time_across_dst(tmp_path, first, day, utc_hour):
    path = write_ics(tmp_path, f"""
        DTSTART;TZID=Europe/London:{first}T090000
        DTEND;TZID=Europe/London:{first}T100000
        RRULE:FREQ=WEEKLY;BYDAY=MO
    """)
    [booking] = on(*day, path)
    assert (booking.start.hour, booking.start.minute) == (9, 0)
    assert booking.start.astimezone(UTC).hour == utc_hour
    assert booking.end - booking.start == timedelta(hours=1)


@pytest.mark.parametrize("first, day, local_hour", [
    ("20250317T090000Z", (2025, 3, 31), 10),  # a UTC series is an hour later in local summer time
    ("20251020T080000Z", (2025, 10, 27), 8),  # 09:00 BST before the change, 08:00 GMT after
])
def test_schedule_utc_series_moves_in_local_time_across_dst(tmp_path, first, day, local_hour):
    path = write_ics(tmp_path, f"""
        DTSTART:{first}
        RRULE:FREQ=WEEKLY;BYDAY=MO
    """)
    assert starts(on(*day, path)) == [(local_hour, 0)]


def test_schedule_windows_timezone_name_is_understood(tmp_path):
    # Exchange/Outlook write Windows zone names; icalendar maps them to IANA zones.
    path = write_ics(tmp_path, """
        DTSTART;TZID=GMT Standard Time:20250402T093000
    """)
    [booking] = on(2025, 4, 2, path)
    assert booking.start == at(9, 30)


def test_schedule_floating_time_is_room_local(tmp_path):
    path = write_ics(tmp_path, """
        DTSTART:20250402T093000
        DTEND:20250402T110000
    """)
    [booking] = on(2025, 4, 2, path)
    assert booking.start == at(9, 30)
    assert booking.start.utcoffset() == timedelta(hours=1)  # BST
    assert booking.end == at(11)


def test_schedule_bookings_are_sorted_and_in_room_time(tmp_path):
    path = write_ics(tmp_path, "DTSTART:20250402T150000Z", "DTSTART;TZID=Europe/London:20250402T093000")
    bookings = on(2025, 4, 2, path)
    assert starts(bookings) == [(9, 30), (16, 0)]
    assert all(b.start.tzinfo == LONDON for b in bookings)


def test_schedule_booking_running_into_the_day_is_included(tmp_path):
    path = write_ics(tmp_path, """
        DTSTART;TZID=Europe/London:20250401T230000
        DTEND;TZID=Europe/London:20250402T010000
    """)
    assert on(2025, 4, 2, path) == [Booking(at(23, day=1), at(1), source="calendar")]


@pytest.mark.parametrize("content, expected", [
    (None, "does not exist"),
    ("this is not a calendar\nSUMMARY:Smith family\n", "not a valid iCalendar file"),
    ("", "no complete BEGIN:VCALENDAR"),
    ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:Smith family\r\n", "no complete BEGIN:VCALENDAR"),
    ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:Smith family\r\nDTSTART:garbage\r\nEND:VEVENT\r\n"
     "END:VCALENDAR\r\n", "event 1 in the calendar: DTSTART is not a valid date or time"),
    ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:Smith family\r\nDTSTART:20250402T100000Z\r\n"
     "RRULE:FREQ=SOMETIMES\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", "event 1 in the calendar: RRULE"),
])
def test_schedule_bad_file_raises_config_error(tmp_path, content, expected):
    path = tmp_path / "room.ics"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=expected) as info:
        on(2025, 4, 2, path)
    assert str(path) in str(info.value)
    assert (info.value.section, info.value.key, info.value.path) == ("schedule", "ics", str(path))
    assert "Smith" not in str(info.value)  # booking text never reaches logs


def test_schedule_unknown_timezone_raises_config_error(tmp_path):
    path = write_ics(tmp_path, "DTSTART:20250402T100000Z")
    with pytest.raises(ConfigError, match="unknown time zone"):
        load_bookings(path, *day_bounds(at(12)), "Mars/Olympus")


def test_schedule_day_bounds_follow_the_clock_change():
    start, end = day_bounds(datetime(2025, 3, 30, 12, tzinfo=LONDON))
    assert (start.hour, end.hour, end.day) == (0, 0, 31)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=23)  # the short day


# --- The booking that matters now ----------------------------------------------------


def booking(start, end=None, source="calendar"):
    return Booking(start, end, source=source)


def test_schedule_next_start_is_the_next_booking_today():
    bookings = [booking(at(9), at(10)), booking(at(14), at(15)), booking(at(16))]
    assert next_start(bookings, at(11)) == bookings[1]
    assert next_start(bookings, at(15, 30)) == bookings[2]


def test_schedule_next_start_none_today_is_free():
    tomorrow = booking(at(9, day=3))
    assert next_start([booking(at(9), at(10)), tomorrow], at(11)) is None
    view = countdown(at(11), None, CFG)
    assert view.phase == "free"
    assert view.message == "No conference booked for the rest of today"


def test_schedule_next_start_prefers_the_booking_in_progress():
    current, later = booking(at(14), at(15)), booking(at(15, 30))
    assert next_start([later, current], at(14, 50)) == current
    assert next_start([later, current], at(14)) == current  # started exactly now
    assert next_start([later, current], at(15)) == later    # ended exactly now


def test_schedule_next_start_without_end_runs_until_the_day_ends():
    first, second = booking(at(10), source="chair"), booking(at(14), source="chair")
    assert next_start([first, second], at(13)) == first
    assert next_start([first, second], at(14, 1)) == second  # the most recent start wins
    assert next_start([booking(at(10, day=1))], at(9)) is None  # yesterday's does not linger


def test_schedule_booking_requires_aware_times_and_a_known_source():
    with pytest.raises(ValueError, match="timezone-aware"):
        Booking(datetime(2025, 4, 2, 9), source="chair")
    with pytest.raises(ValueError, match="source"):
        Booking(at(9), source="email")


# --- Typed start times ---------------------------------------------------------------


@pytest.mark.parametrize("text, hour, minute", [("14:00", 14, 0), ("09:05", 9, 5), ("9:05", 9, 5),
                                                ("00:00", 0, 0), (" 23:59 ", 23, 59)])
def test_schedule_parse_hhmm_good(text, hour, minute):
    result = parse_hhmm(text, at(8, 12, 30))
    assert result == at(hour, minute)
    assert result.tzinfo == LONDON


def test_schedule_parse_hhmm_keeps_local_time_after_the_clock_change():
    result = parse_hhmm("09:00", datetime(2025, 3, 31, 7, tzinfo=LONDON))
    assert result.astimezone(UTC).hour == 8


@pytest.mark.parametrize("text", ["", "14", "14:0", "24:00", "12:60", "1400", "14:00:00", "2pm", "ab:cd", "-1:00"])
def test_schedule_parse_hhmm_bad(text):
    with pytest.raises(ValueError, match="use HH:MM"):
        parse_hhmm(text, at(8))


# --- Countdown -----------------------------------------------------------------------


@pytest.mark.parametrize("now, phase, seconds", [
    (at(13, 0), "waiting", 3600),
    (at(13, 56, 59), "waiting", 181),   # T-3 min 1 s
    (at(13, 57), "joining", 180),       # exactly T-3 min
    (at(13, 59, 59), "joining", 1),
    (at(14), "started", 0),             # T0
    (at(15, 30), "started", -5400),     # exactly 90 min: not yet over
    (at(15, 30, 1), "overrun", -5401),
])
def test_schedule_countdown_thresholds(now, phase, seconds):
    view = countdown(now, at(14), CFG)
    assert isinstance(view, CountdownView)
    assert (view.phase, view.seconds_to_start) == (phase, seconds)
    assert view.elapsed_s == (None if seconds > 0 else -seconds)


def test_schedule_countdown_rounds_up_before_and_down_after_the_start():
    before = countdown(at(13, 59, 58) + timedelta(microseconds=1), at(14), CFG)
    assert (before.seconds_to_start, before.label) == (2, "00:02")
    after = countdown(at(14, 0, 1) + timedelta(microseconds=999_999), at(14), CFG)
    assert (after.seconds_to_start, after.elapsed_s, after.label) == (-1, 1, "+00:01")


@pytest.mark.parametrize("now, label", [
    (at(13, 47, 26), "12:34"),
    (at(13, 59, 59), "00:01"),
    (at(12, 57, 57), "1:02:03"),
    (at(4), "10:00:00"),
    (at(14), "+00:00"),
    (at(14, 5, 12), "+05:12"),
    (at(15, 2, 3), "+1:02:03"),
])
def test_schedule_countdown_label_formats(now, label):
    assert countdown(now, at(14), CFG).label == label


@pytest.mark.parametrize("now, message", [
    (at(13), "Conference starts at 14:00"),
    (at(13, 58), "Attendees should be joining now"),
    (at(14, 10), "Conference in progress"),
    (at(15, 42), "Running 12 minutes over the expected length"),
    (at(15, 31), "Running 1 minute over the expected length"),
    (at(15, 30, 30), "Running over the expected length"),
])
def test_schedule_countdown_messages(now, message):
    assert countdown(now, at(14), CFG).message == message


def test_schedule_countdown_message_names_another_day():
    view = countdown(at(16), at(9, day=3), CFG)
    assert view.message == "Conference starts at 09:00 on Thursday 3 April"


def test_schedule_countdown_message_is_in_room_time():
    view = countdown(at(12), datetime(2025, 4, 2, 13, tzinfo=UTC), CFG)
    assert view.message == "Conference starts at 14:00"


def test_schedule_countdown_overrun_uses_the_booking_end_when_known():
    view = countdown(at(15, 12), at(14), CFG, end_at=at(15))
    assert (view.phase, view.message) == ("overrun", "Running 12 minutes over the booked time")
    assert countdown(at(15), at(14), CFG, end_at=at(15)).phase == "started"
    # An end before the start is nonsense: fall back to overrun_min.
    assert countdown(at(15, 12), at(14), CFG, end_at=at(13)).phase == "started"


def test_schedule_countdown_follows_the_config():
    cfg = ScheduleConfig(joining_warning_min=10.0, overrun_min=30.0)
    assert countdown(at(13, 50), at(14), cfg).phase == "joining"
    assert countdown(at(13, 49, 59), at(14), cfg).phase == "waiting"
    assert countdown(at(14, 30, 1), at(14), cfg).phase == "overrun"


def test_schedule_countdown_needs_aware_times():
    with pytest.raises(ValueError, match="timezone-aware"):
        countdown(datetime(2025, 4, 2, 13), at(14), CFG)


def test_schedule_countdown_counts_real_time_across_the_clock_change():
    # 00:30 GMT to 09:00 BST on Sunday 30 March is 7 h 30 min, not the wall clock's 8 h 30 min.
    view = countdown(datetime(2025, 3, 30, 0, 30, tzinfo=LONDON), datetime(2025, 3, 30, 9, tzinfo=LONDON), CFG)
    assert (view.seconds_to_start, view.label) == (7 * 3600 + 1800, "7:30:00")
    # Started 00:30 GMT, now 03:00 BST: 1 h 30 min elapsed.
    view = countdown(datetime(2025, 3, 30, 3, tzinfo=LONDON), datetime(2025, 3, 30, 0, 30, tzinfo=LONDON), CFG)
    assert (view.elapsed_s, view.label) == (5400, "+1:30:00")


def test_schedule_floating_series_with_floating_until(tmp_path):
    path = write_ics(tmp_path, """
        DTSTART:20250324T090000
        RRULE:FREQ=WEEKLY;UNTIL=20250331T090000
    """)
    [booking] = on(2025, 3, 31, path)
    assert booking.start.astimezone(UTC).hour == 8  # 09:00 BST
    assert on(2025, 4, 7, path) == []
