"""Bookings read from iCalendar data: times only, recurrences, limits, bad events skipped."""

import dataclasses
import hashlib
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from kiosk.calendar_ics import CalendarError, load_bookings, parse_calendar, parse_isolated, times_only
from kiosk.errors import ConfigError
from kiosk.schedule import Booking, day_bounds

LONDON = ZoneInfo("Europe/London")
UTC = timezone.utc


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
    return list(load_bookings(path, *day_bounds(datetime(year, month, day, 12, tzinfo=LONDON)),
                              "Europe/London").bookings)


def starts(bookings):
    return [(b.start.hour, b.start.minute) for b in bookings]


def at(hour, minute=0, second=0, day=2):
    """A London time on Wednesday 2 April 2025 (BST)."""
    return datetime(2025, 4, day, hour, minute, second, tzinfo=LONDON)


# --- Loading bookings ----------------------------------------------------------------


def test_calendar_ics_single_event(tmp_path):
    path = write_ics(tmp_path, """
        SUMMARY:ICPC Smith family
        DTSTART;TZID=Europe/London:20250402T140000
        DTEND;TZID=Europe/London:20250402T153000
    """)
    assert on(2025, 4, 2, path) == [Booking(at(14), at(15, 30), source="calendar")]
    assert on(2025, 4, 3, path) == []


def test_calendar_ics_keeps_no_titles_or_attendees(tmp_path):
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
def test_calendar_ics_weekly_byday_count(tmp_path, day, expected):
    path = write_ics(tmp_path, """
        DTSTART;TZID=Europe/London:20250303T100000
        DTEND;TZID=Europe/London:20250303T113000
        RRULE:FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4
    """)
    assert starts(on(*day, path)) == expected


def test_calendar_ics_weekly_until_is_inclusive(tmp_path):
    path = write_ics(tmp_path, """
        DTSTART;TZID=Europe/London:20250303T100000
        RRULE:FREQ=WEEKLY;UNTIL=20250317T100000Z
    """)
    assert starts(on(2025, 3, 17, path)) == [(10, 0)]
    assert starts(on(2025, 3, 24, path)) == []


def test_calendar_ics_exdate_removes_today(tmp_path):
    path = write_ics(tmp_path, """
        DTSTART;TZID=Europe/London:20250303T100000
        RRULE:FREQ=WEEKLY
        EXDATE;TZID=Europe/London:20250317T100000
    """)
    assert starts(on(2025, 3, 17, path)) == []
    assert starts(on(2025, 3, 24, path)) == [(10, 0)]


def test_calendar_ics_exdate_in_utc_matches_a_local_instance(tmp_path):
    # 09:00Z is 10:00 BST: the same instant written in another zone.
    path = write_ics(tmp_path, """
        DTSTART;TZID=Europe/London:20250407T100000
        RRULE:FREQ=WEEKLY
        EXDATE:20250414T090000Z
    """)
    assert starts(on(2025, 4, 14, path)) == []


def test_calendar_ics_rdate_adds_an_occurrence(tmp_path):
    path = write_ics(tmp_path, """
        DTSTART;TZID=Europe/London:20250303T100000
        DURATION:PT1H
        RRULE:FREQ=WEEKLY;COUNT=2
        RDATE;TZID=Europe/London:20250402T143000
    """)
    assert on(2025, 4, 2, path) == [Booking(at(14, 30), at(15, 30), source="calendar")]


def test_calendar_ics_recurrence_id_override_moves_todays_instance(tmp_path):
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


def test_calendar_ics_recurrence_id_override_moved_into_another_day(tmp_path):
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


def test_calendar_ics_cancelled_override_removes_instance(tmp_path):
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


def test_calendar_ics_all_day_event_ignored(tmp_path):
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


def test_calendar_ics_cancelled_event_ignored(tmp_path):
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
def test_calendar_ics_tzid_series_keeps_local_time_across_dst(tmp_path, first, day, utc_hour):
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
def test_calendar_ics_utc_series_moves_in_local_time_across_dst(tmp_path, first, day, local_hour):
    path = write_ics(tmp_path, f"""
        DTSTART:{first}
        RRULE:FREQ=WEEKLY;BYDAY=MO
    """)
    assert starts(on(*day, path)) == [(local_hour, 0)]


def test_calendar_ics_windows_timezone_name_is_understood(tmp_path):
    # Exchange/Outlook write Windows zone names; icalendar maps them to IANA zones.
    path = write_ics(tmp_path, """
        DTSTART;TZID=GMT Standard Time:20250402T093000
    """)
    [booking] = on(2025, 4, 2, path)
    assert booking.start == at(9, 30)


def test_calendar_ics_floating_time_is_room_local(tmp_path):
    path = write_ics(tmp_path, """
        DTSTART:20250402T093000
        DTEND:20250402T110000
    """)
    [booking] = on(2025, 4, 2, path)
    assert booking.start == at(9, 30)
    assert booking.start.utcoffset() == timedelta(hours=1)  # BST
    assert booking.end == at(11)


def test_calendar_ics_bookings_are_sorted_and_in_room_time(tmp_path):
    path = write_ics(tmp_path, "DTSTART:20250402T150000Z", "DTSTART;TZID=Europe/London:20250402T093000")
    bookings = on(2025, 4, 2, path)
    assert starts(bookings) == [(9, 30), (16, 0)]
    assert all(b.start.tzinfo == LONDON for b in bookings)


def test_calendar_ics_booking_running_into_the_day_is_included(tmp_path):
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
])
def test_calendar_ics_bad_file_raises_config_error(tmp_path, content, expected):
    path = tmp_path / "room.ics"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=expected) as info:
        on(2025, 4, 2, path)
    assert str(path) in str(info.value)
    assert (info.value.section, info.value.key, info.value.path) == ("schedule", "ics", str(path))
    assert "Smith" not in str(info.value)  # booking text never reaches logs


@pytest.mark.parametrize("bad, reason", [
    ("DTSTART:garbage", "event 2: DTSTART is not a valid date or time"),
    ("DTSTART:20250402T100000Z\nRRULE:FREQ=SOMETIMES", "event 2: RRULE"),
    ("DTSTART:20250402T100000Z\nDTEND:2025-04-02 nonsense", "event 2: DTEND is not a valid date or time"),
    ("SUMMARY:no start at all", "event 2: has no DTSTART"),
])
def test_calendar_ics_bad_event_is_skipped_and_counted_not_the_day(tmp_path, bad, reason):
    path = write_ics(tmp_path, "DTSTART;TZID=Europe/London:20250402T100000",
                     "SUMMARY:Smith family\n" + bad,
                     "DTSTART;TZID=Europe/London:20250402T140000\nDTEND;TZID=Europe/London:20250402T150000")
    parsed = load_bookings(path, *day_bounds(at(12)), "Europe/London")
    assert starts(parsed.bookings) == [(10, 0), (14, 0)]  # the 14:00 booking is still there
    assert (parsed.events, parsed.skipped) == (3, 1)
    assert parsed.reasons[0].startswith(reason)
    assert "Smith" not in repr(parsed)


def test_calendar_ics_unknown_timezone_raises_config_error(tmp_path):
    path = write_ics(tmp_path, "DTSTART:20250402T100000Z")
    with pytest.raises(ConfigError, match="unknown time zone"):
        load_bookings(path, *day_bounds(at(12)), "Mars/Olympus")


def test_calendar_ics_floating_series_with_floating_until(tmp_path):
    path = write_ics(tmp_path, """
        DTSTART:20250324T090000
        RRULE:FREQ=WEEKLY;UNTIL=20250331T090000
    """)
    [booking] = on(2025, 3, 31, path)
    assert booking.start.astimezone(UTC).hour == 8  # 09:00 BST
    assert on(2025, 4, 7, path) == []


def test_calendar_ics_minutely_since_1990_is_skipped_at_once(tmp_path):
    path = write_ics(tmp_path, "DTSTART:19900101T000000Z\nDURATION:PT1M\nRRULE:FREQ=MINUTELY",
                     "DTSTART;TZID=Europe/London:20250402T140000")
    began = time.perf_counter()
    parsed = load_bookings(path, *day_bounds(at(12)), "Europe/London")
    took = time.perf_counter() - began
    assert starts(parsed.bookings) == [(14, 0)] and parsed.skipped == 1
    assert "repeats too often to expand" in parsed.reasons[0]
    assert took < 5  # generous: without the estimate this takes minutes


def test_calendar_ics_daily_since_1990_is_still_expanded(tmp_path):
    path = write_ics(tmp_path, "DTSTART;TZID=Europe/London:19900101T090000\nRRULE:FREQ=DAILY")
    assert starts(on(2025, 4, 2, path)) == [(9, 0)]


def test_calendar_ics_expansion_budget_cuts_the_rest_with_a_reason(tmp_path):
    # Each event steps about 80,000 hours to reach 2025: under the event limit, but 7 of them exceed the total.
    events = [f"DTSTART:20160101T{n:02d}0000Z\nRRULE:FREQ=HOURLY;INTERVAL=1" for n in range(7)]
    path = write_ics(tmp_path, *events)
    parsed = load_bookings(path, *day_bounds(at(12)), "Europe/London")
    assert parsed.skipped >= 1
    assert any("together exceed the expansion limit" in r for r in parsed.reasons)
    assert parsed.bookings  # the events within the budget are used


def test_calendar_ics_larger_than_the_limit_is_refused_without_reading_it_all(tmp_path):
    path = tmp_path / "huge.ics"
    with open(path, "wb") as f:  # 50 MB: a valid calendar of many events
        f.write(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
        event = (b"BEGIN:VEVENT\r\nUID:%d@x\r\nDTSTART:20250402T100000Z\r\nSUMMARY:Smith family\r\n"
                 b"END:VEVENT\r\n")
        block = b"".join(event % n for n in range(10_000))
        while f.tell() < 50 * 1024 * 1024:
            f.write(block)
        f.write(b"END:VCALENDAR\r\n")
    began = time.perf_counter()
    with pytest.raises(CalendarError, match="larger than 10 MB") as info:
        on(2025, 4, 2, path)
    assert time.perf_counter() - began < 2
    assert "Smith" not in str(info.value)
    with pytest.raises(CalendarError, match="larger than 10 MB"):
        parse_calendar(path.read_bytes(), *day_bounds(at(12)), "Europe/London")


def test_calendar_ics_this_and_future_override_moves_the_rest_of_the_series(tmp_path):
    path = tmp_path / "room.ics"
    path.write_text("\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0",
        "BEGIN:VEVENT", "UID:s@x", "DTSTART;TZID=Europe/London:20250331T100000", "RRULE:FREQ=DAILY;COUNT=10",
        "END:VEVENT",
        "BEGIN:VEVENT", "UID:s@x", "RECURRENCE-ID;RANGE=THISANDFUTURE;TZID=Europe/London:20250401T100000",
        "DTSTART;TZID=Europe/London:20250401T150000", "END:VEVENT",
        "END:VCALENDAR", ""]))
    assert starts(on(2025, 3, 31, path)) == [(10, 0)]
    assert starts(on(2025, 4, 2, path)) == [(15, 0)]


def test_calendar_ics_x_wr_timezone_is_the_calendars_zone(tmp_path):
    # Google exports UTC times with X-WR-TIMEZONE naming the calendar's zone: a weekly 09:00 New York
    # meeting stays at 09:00 New York time across New York's clock change.
    path = tmp_path / "room.ics"
    path.write_text("\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "X-WR-TIMEZONE:America/New_York",
        "BEGIN:VEVENT", "UID:w@x", "DTSTART:20250303T140000Z", "RRULE:FREQ=WEEKLY", "END:VEVENT",
        "END:VCALENDAR", ""]))
    [booking] = on(2025, 3, 17, path)  # after the US change (9 March), before the UK one
    assert booking.start.astimezone(ZoneInfo("America/New_York")).hour == 9


# --- real-world calendars: the packages' own test files ---------------------------------

def _shipped_calendars():
    import icalendar as ical_pkg
    import recurring_ical_events as rie_pkg

    roots = [Path(rie_pkg.__file__).parent / "test" / "calendars", Path(ical_pkg.__file__).parent / "tests" / "calendars"]
    return sorted(p for root in roots for p in root.glob("*.ics"))


def _first_timed_start(calendars):
    for cal in calendars:
        for event in cal.walk("VEVENT"):
            try:
                start = event["DTSTART"].dt
            except (KeyError, ValueError, AttributeError, TypeError):
                continue
            if isinstance(start, datetime):
                return start
    return None


def _reference(data: bytes, lo: datetime, hi: datetime, tz) -> set:
    """recurring-ical-events' own answer: timed, not cancelled occurrences overlapping [lo, hi)."""
    import icalendar
    import recurring_ical_events
    import x_wr_timezone

    found = set()
    for cal in icalendar.Calendar.from_ical(data, multiple=True):
        for occ in recurring_ical_events.of(x_wr_timezone.to_standard(cal)).between(lo, hi):
            start = occ["DTSTART"].dt
            if not isinstance(start, datetime) or str(occ.get("STATUS", "")).upper() == "CANCELLED":
                continue
            start = start if start.tzinfo else start.replace(tzinfo=tz)
            end = occ["DTEND"].dt if "DTEND" in occ else None
            end = (end if end.tzinfo else end.replace(tzinfo=tz)) if isinstance(end, datetime) else None
            if end is not None and end <= start:
                end = None
            if end is None and not lo <= start < hi or end is not None and not (start < hi and end > lo):
                continue
            found.add((start.astimezone(UTC), end.astimezone(UTC) if end else None))
    return found


def _compare_with_reference(path) -> str:
    """How one shipped calendar compares: "same" (our times are recurring-ical-events' own), or why it cannot be
    compared ("refused", "untimed", "reference fails", "skipped events"); a mismatch raises AssertionError."""
    import icalendar

    data = path.read_bytes()
    try:
        start = _first_timed_start(icalendar.Calendar.from_ical(data, multiple=True))
    except ValueError:
        start = None
    day = (start if start and start.tzinfo else (start or datetime(2025, 4, 2)).replace(tzinfo=LONDON)).astimezone(
        LONDON)
    lo, hi = day_bounds(day)[0], day_bounds(day)[0] + timedelta(days=2)
    try:  # whatever the file, our parser answers or refuses the whole with a reason: never another error
        parsed = parse_calendar(data, lo, hi, "Europe/London")
    except CalendarError:
        return "refused"
    if start is None:
        return "untimed"
    try:
        expected = _reference(data, lo, hi, LONDON)
    except Exception:  # the package itself cannot read it (some are deliberately broken)
        assert parsed.skipped, "recurring-ical-events fails on it: we must have skipped the culprit"
        return "reference fails"
    if parsed.skipped:
        return "skipped events"
    got = {(b.start.astimezone(UTC), b.end.astimezone(UTC) if b.end else None) for b in parsed.bookings}
    assert got == expected
    return "same"


@pytest.mark.filterwarnings("ignore::icalendar.error.GloballyUniqueTZIDGuessed")  # a TZID guessed: says so
def test_calendar_ics_shipped_calendars_give_recurring_ical_events_own_times():
    """Every test calendar shipped with icalendar and recurring-ical-events: where both can read its times, ours
    are the package's own; the rest are refused or skipped with a reason, never another error."""
    outcomes, mismatches = {}, []
    for path in _shipped_calendars():
        name = f"{path.parent.parent.name}/{path.name}"
        try:
            outcome = _compare_with_reference(path)
        except AssertionError as exc:
            mismatches.append(f"{name}: {exc}")
            continue
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert mismatches == []
    assert outcomes.get("same", 0) >= 100, outcomes  # the comparison really ran on most of them


def test_calendar_ics_isolated_parse_gives_the_same_bookings(tmp_path):
    path = write_ics(tmp_path, "SUMMARY:Smith family\nDTSTART;TZID=Europe/London:20250402T140000\n"
                               "DTEND;TZID=Europe/London:20250402T153000",
                     "DTSTART:2025040XT100000", "DTSTART;TZID=Europe/London:20250331T090000\nRRULE:FREQ=DAILY")
    window = day_bounds(at(12))
    assert parse_isolated(path.read_bytes(), *window, "Europe/London") == \
        parse_calendar(path.read_bytes(), *window, "Europe/London")


def test_calendar_ics_isolated_parse_refuses_whole_file_problems_and_never_quotes_it():
    with pytest.raises(CalendarError, match="not a valid iCalendar file") as info:
        parse_isolated(b"SUMMARY:Smith family\n", *day_bounds(at(12)), "Europe/London")
    assert "Smith" not in str(info.value)


def test_calendar_ics_isolated_parse_that_runs_too_long_is_killed(tmp_path):
    events = [f"DTSTART;TZID=Europe/London:20250402T{8 + n % 8:02d}0000" for n in range(5000)]
    data = write_ics(tmp_path, *events).read_bytes()
    began = time.perf_counter()
    with pytest.raises(CalendarError, match="took longer than 0.2 s: refused"):
        parse_isolated(data, *day_bounds(at(12)), "Europe/London", timeout=0.2)
    assert time.perf_counter() - began < 5


@pytest.mark.filterwarnings("ignore::icalendar.error.GloballyUniqueTZIDGuessed")
@pytest.mark.parametrize("path", _shipped_calendars(), ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_calendar_ics_times_only_gives_the_same_bookings(path):
    import icalendar

    data = path.read_bytes()
    try:  # two days from the calendar's first timed event, so that there is something to compare
        start = _first_timed_start(icalendar.Calendar.from_ical(data, multiple=True))
    except ValueError:
        start = None
    day = (start if start and start.tzinfo else (start or datetime(2025, 4, 2)).replace(tzinfo=LONDON)).astimezone(
        LONDON)
    window = (day_bounds(day)[0], day_bounds(day)[0] + timedelta(days=2))
    try:
        whole = parse_calendar(data, *window, "Europe/London")
    except CalendarError:
        return  # refused as a whole: nothing is kept
    kept = parse_calendar(times_only(data), *window, "Europe/London")
    assert (kept.bookings, kept.events, kept.skipped) == (whole.bookings, whole.events, whole.skipped)


def test_calendar_ics_times_only_drops_titles_people_places_and_alarms():
    data = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nX-WR-CALNAME:Suite 1\r\nBEGIN:VEVENT\r\nUID:1\r\nSUMMARY:ICPC Jayden\r\n"
            b"  Smith\r\nDTSTART;TZID=Europe/London:20250402T140000\r\nLOCATION:Oakfield Road\r\n"
            b"ATTENDEE;CN=Dr Patel:mailto:jane.smith@example.org\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\n"
            b"DESCRIPTION:Smith\r\nEND:VALARM\r\nDTEND:Jayden Smith\r\nRRULE:FREQ=DAILY;\r\n COUNT=3\r\nEND:VEVENT\r\n"
            b"END:VCALENDAR\r\n")
    kept = times_only(data)
    for text in (b"Smith", b"Jayden", b"Oakfield", b"Patel", b"Suite 1", b"VALARM"):
        assert text not in kept, text
    uid = hashlib.sha256(b"1").hexdigest().encode()  # a hash: it only ties changed instances to their series
    assert kept == (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:" + uid + b"\r\n"
                    b"DTSTART;TZID=Europe/London:20250402T140000\r\nDTEND:invalid\r\nRRULE:FREQ=DAILY;\r\n COUNT=3\r\n"
                    b"END:VEVENT\r\n"
                    b"END:VCALENDAR\r\n")
    assert parse_calendar(kept, *day_bounds(at(12)), "Europe/London") == \
        parse_calendar(data, *day_bounds(at(12)), "Europe/London")
