"""The start time that matters now, start times typed by staff, and the countdown."""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from kiosk.config import ScheduleConfig
from kiosk.schedule import (Booking, CountdownView, countdown, day_bounds, next_start,
                            parse_hhmm)

LONDON = ZoneInfo("Europe/London")
UTC = timezone.utc
CFG = ScheduleConfig()  # joining 3 min before, overrun after 90 min


def starts(bookings):
    return [(b.start.hour, b.start.minute) for b in bookings]


def at(hour, minute=0, second=0, day=2):
    """A London time on Wednesday 2 April 2025 (BST)."""
    return datetime(2025, 4, day, hour, minute, second, tzinfo=LONDON)


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
