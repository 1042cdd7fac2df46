"""Reading a room's iCalendar data into bookings: times only, with limits on size and expansion.

:func:`parse_calendar` turns the bytes of an iCalendar file into the :class:`~kiosk.schedule.Booking`
objects overlapping a window, with recurrences expanded by ``recurring-ical-events`` (RRULE,
RDATE, EXDATE, RECURRENCE-ID overrides including ``RANGE=THISANDFUTURE``, ``X-WR-TIMEZONE``).
:func:`read_capped` reads a file refusing more than :data:`MAX_CALENDAR_BYTES`.

Only times are read: titles, descriptions, locations and attendees may name the family
(DOMAIN D15), so they are never read, and no message here quotes the file's text (reasons
name the event by its number and the property by its name).

Limits, so that no calendar can stall the kiosk (the watcher runs this on its own thread,
and these bound how long that thread is busy):

- a calendar larger than :data:`MAX_CALENDAR_BYTES` is refused as a whole;
- each recurring event's cost is estimated before it is expanded (the rule steps from its
  DTSTART to the end of the window, which is what the expansion iterates over): an event
  needing more than :data:`MAX_EVENT_STEPS` (e.g. ``FREQ=MINUTELY`` since 1990) is skipped,
  and once the calendar's events together need more than :data:`MAX_CALENDAR_STEPS`, the
  remaining recurring events are skipped;
- an event that cannot be read (a broken DTSTART, an invalid RRULE) is skipped;
- the kiosk reads with :func:`parse_isolated`: the parse runs in a child process at a lower
  priority, so the room's threads never wait for it (they share no interpreter lock with it),
  and one that takes longer than :data:`PARSE_TIMEOUT_S` is killed and refused.

Skipped events are counted with a reason; the others are used.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events
import x_wr_timezone

from kiosk.errors import ConfigError
from kiosk.schedule import Booking, zone

#: Larger calendars are refused (a room's published calendar is well under 1 MB).
MAX_CALENDAR_BYTES = 10 * 1024 * 1024
#: Rule steps one recurring event may take from its DTSTART to the end of the window.
MAX_EVENT_STEPS = 100_000
#: Rule steps all the calendar's recurring events may take together.
MAX_CALENDAR_STEPS = 500_000
#: Reasons kept for skipped events (the count is always complete).
MAX_REASONS = 10
#: A reading in its child process that takes longer is stopped and refused.
PARSE_TIMEOUT_S = 120.0

_PERIOD_S = {"SECONDLY": 1, "MINUTELY": 60, "HOURLY": 3600, "DAILY": 86400, "WEEKLY": 7 * 86400,
             "MONTHLY": 31 * 86400, "YEARLY": 366 * 86400}
_SUB_DAY_PARTS = ("BYSECOND", "BYMINUTE", "BYHOUR")  # multiply the occurrences of any rule


@dataclass(frozen=True)
class ParsedCalendar:
    """What one calendar gave for one window.

    ``events`` counts the VEVENTs read, ``skipped`` those left out as unreadable or too costly
    to expand, ``reasons`` says why for the first :data:`MAX_REASONS` of them (no event text).
    """

    bookings: tuple[Booking, ...]
    events: int
    skipped: int
    reasons: tuple[str, ...]


class CalendarError(ConfigError):
    """The calendar as a whole cannot be used (too large, not iCalendar, unreadable)."""

    def __init__(self, message, path=None):
        #: The message alone, without the file and key (for health reports).
        self.reason = message
        super().__init__(message, section="schedule", key="ics", path=path)


class _BadEvent(ValueError):
    """One event cannot be used; the message names the property, never its text."""


def read_capped(path: str | Path, limit: int = MAX_CALENDAR_BYTES) -> bytes:
    """The file's bytes, refusing a missing, unreadable or larger-than-``limit`` file with a CalendarError."""
    if not str(path):
        raise CalendarError("no calendar file is configured")
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)  # never more than the limit in memory
    except FileNotFoundError:
        raise CalendarError("the calendar file does not exist", str(path)) from None
    except IsADirectoryError:
        raise CalendarError("the calendar path is a directory, not a file", str(path)) from None
    except OSError as exc:
        raise CalendarError(f"cannot read the calendar file: {exc.strerror}", str(path)) from None
    if len(data) > limit:
        raise CalendarError(too_large(limit), str(path))
    return data


def too_large(limit: int = MAX_CALENDAR_BYTES) -> str:
    """The reason given for a calendar over ``limit`` bytes."""
    return f"the calendar is larger than {limit // (1024 * 1024)} MB: refused (the limit keeps the kiosk responsive)"


def _calendars(data: bytes, path: str | None) -> list[icalendar.Calendar]:
    try:
        components = icalendar.Calendar.from_ical(data, multiple=True)
    except (ValueError, IndexError, KeyError, TypeError):
        # icalendar's message quotes the offending line, which may hold a booking title.
        raise CalendarError("not a valid iCalendar file: a line could not be parsed", path) from None
    calendars = [c for c in components if c.name == "VCALENDAR"]
    if not calendars:
        raise CalendarError("not an iCalendar file: no complete BEGIN:VCALENDAR ... END:VCALENDAR found", path)
    try:  # Google's exports: UTC times meant in the zone X-WR-TIMEZONE names
        return [x_wr_timezone.to_standard(c) for c in calendars]
    except (ValueError, KeyError, TypeError):
        return calendars  # an unknown zone name: the times stay as written


def _value(event, name: str):
    """A date/time property's value, or None when absent; a _BadEvent when unreadable."""
    if name not in event:
        return None
    prop = event[name]
    if isinstance(prop, list):  # the property appears more than once: the first wins
        prop = prop[0]
    try:
        return prop.dt
    except (ValueError, AttributeError, TypeError):
        raise _BadEvent(f"{name} is not a valid date or time") from None


def _aware(dt: datetime, tz: ZoneInfo) -> datetime:
    # Floating times (and TZIDs icalendar cannot resolve) are the room's local time.
    return dt if dt.tzinfo is not None and dt.utcoffset() is not None else dt.replace(tzinfo=tz)


def _steps(event, tz: ZoneInfo, window_end: datetime) -> int:
    """Rule steps expanding ``event`` up to ``window_end`` takes (0 when it does not recur); checks its times."""
    start = _value(event, "DTSTART")
    if start is None:
        raise _BadEvent("has no DTSTART")
    for name in ("DTEND", "RECURRENCE-ID"):
        _value(event, name)
    if "DURATION" in event and not isinstance(_value(event, "DURATION"), timedelta):
        raise _BadEvent("DURATION is not a valid duration")
    try:
        event.exdates, event.rdates  # noqa: B018 - read to find broken values before the expansion does
    except (ValueError, TypeError):
        raise _BadEvent("EXDATE or RDATE is not a valid list of dates or times") from None
    rules = event.get("RRULE")
    if rules is None:
        return 0
    if not isinstance(start, datetime):
        start = datetime.combine(start, datetime.min.time())
    start = _aware(start, tz)
    total = 0
    for recur in rules if isinstance(rules, list) else [rules]:
        if not isinstance(recur, icalendar.vRecur):  # icalendar keeps an unparsable rule as vBroken
            raise _BadEvent("RRULE is not a valid recurrence rule")
        total += _rule_steps(recur, start, tz, window_end)
    return total


def _rule_steps(recur, start: datetime, tz: ZoneInfo, window_end: datetime) -> int:
    freq = str((recur.get("FREQ") or [""])[0]).upper()
    if freq not in _PERIOD_S:
        raise _BadEvent("RRULE has no valid FREQ")
    try:
        interval = max(1, int((recur.get("INTERVAL") or [1])[0]))
    except (TypeError, ValueError):
        raise _BadEvent("RRULE has an invalid INTERVAL") from None
    until = window_end
    if recur.get("UNTIL"):
        limit = recur["UNTIL"][0]
        if not isinstance(limit, datetime):
            limit = datetime.combine(limit, datetime.max.time())
        until = min(until, _aware(limit, tz), key=lambda d: d.astimezone(timezone.utc))
    span = max(0.0, (until.astimezone(timezone.utc) - start.astimezone(timezone.utc)).total_seconds())
    steps = span / (_PERIOD_S[freq] * interval) + 1
    for part in _SUB_DAY_PARTS:
        steps *= max(1, len(recur.get(part) or []))
    if freq in ("WEEKLY", "MONTHLY", "YEARLY"):
        steps *= max(1, len(recur.get("BYDAY") or []))
    if freq in ("MONTHLY", "YEARLY"):
        steps *= max(1, len(recur.get("BYMONTHDAY") or []))
    if recur.get("COUNT"):
        try:
            steps = min(steps, int(recur["COUNT"][0]) * 31)  # a filtered rule steps past non-matches
        except (TypeError, ValueError):
            raise _BadEvent("RRULE has an invalid COUNT") from None
    return int(steps)


def _screen(events, tz, window_end) -> tuple[list, list[str]]:
    """The events worth expanding, and a reason for each one left out."""
    kept, reasons, budget = [], [], MAX_CALENDAR_STEPS
    for number, (uid, event) in enumerate(events, 1):
        try:
            steps = _steps(event, tz, window_end)
        except _BadEvent as exc:
            reasons.append(f"event {number}: {exc}")
            continue
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            reasons.append(f"event {number} could not be read ({type(exc).__name__})")
            continue
        if steps > MAX_EVENT_STEPS:
            reasons.append(f"event {number}: repeats too often to expand (about {steps:,} occurrences since its "
                           f"start; the limit is {MAX_EVENT_STEPS:,})")
            continue
        if steps > budget:
            reasons.append(f"event {number}: the calendar's recurring events together exceed the expansion limit "
                           f"({MAX_CALENDAR_STEPS:,})")
            continue
        budget -= steps
        kept.append((uid, event))
    return kept, reasons


def _expand(timezones, events, lo: datetime, hi: datetime) -> list:
    calendar = icalendar.Calendar()
    for component in timezones:
        calendar.add_component(component)
    for _uid, event in events:
        calendar.add_component(event)
    return list(recurring_ical_events.of(calendar).between(lo, hi))


def _occurrences(timezones, events, lo, hi) -> tuple[list, list[str]]:
    """Every occurrence in [lo, hi); when the expansion fails, each series on its own to find the bad one."""
    try:
        return _expand(timezones, events, lo, hi), []
    except Exception:  # noqa: BLE001 - any failure is narrowed down below, series by series
        pass
    by_uid: dict[object, list] = {}
    numbers: dict[object, int] = {}
    for number, (uid, event) in enumerate(events, 1):
        by_uid.setdefault(uid, []).append((uid, event))
        numbers.setdefault(uid, number)
    found, reasons = [], []
    for uid, series in by_uid.items():
        try:
            found += _expand(timezones, series, lo, hi)
        except Exception as exc:  # noqa: BLE001 - only the type: the text could quote the event
            reasons.append(f"event {numbers[uid]}: its recurrence could not be expanded ({type(exc).__name__})")
    return found, reasons


def _booking(occurrence, tz: ZoneInfo) -> Booking | None:
    if str(occurrence.get("STATUS", "")).upper() == "CANCELLED":
        return None
    start = _value(occurrence, "DTSTART")
    if not isinstance(start, datetime):
        return None  # all-day: a room block with no start time to count down to
    start = _aware(start, tz)
    end = _value(occurrence, "DTEND")
    if isinstance(end, datetime):
        end = _aware(end, tz)
        # An end at or before the start is an instant or malformed: the end is unknown.
        if end.astimezone(timezone.utc) <= start.astimezone(timezone.utc):
            end = None
    else:
        end = None
    return Booking(start.astimezone(tz), end.astimezone(tz) if end else None, source="calendar")


def _overlaps(booking: Booking, lo: datetime, hi: datetime) -> bool:
    begin = booking.start.astimezone(timezone.utc)
    if booking.end is None:  # an instant counts only if it starts in the window
        return lo <= begin < hi
    return begin < hi and booking.end.astimezone(timezone.utc) > lo


def parse_calendar(data: bytes, window_start: datetime, window_end: datetime, tz: str,
                   path: str | None = None) -> ParsedCalendar:
    """The calendar's bookings overlapping [``window_start``, ``window_end``), sorted by start.

    All-day events and cancelled events or instances are left out. Floating times, and
    TZIDs that cannot be resolved, are read in ``tz``; bookings are returned in ``tz``.
    Raises :class:`CalendarError` only when the data as a whole is not usable (too large,
    not iCalendar); a bad or too costly event is skipped and counted instead.
    """
    if window_start.tzinfo is None or window_end.tzinfo is None:
        raise ValueError("the window must be timezone-aware")
    room_tz = zone(tz)
    if len(data) > MAX_CALENDAR_BYTES:
        raise CalendarError(too_large(), path)
    calendars = _calendars(data, path)
    timezones = [c for cal in calendars for c in cal.walk("VTIMEZONE")]
    events = [(str(e["UID"]) if "UID" in e else object(), e) for cal in calendars for e in cal.walk("VEVENT")]
    lo, hi = window_start.astimezone(timezone.utc), window_end.astimezone(timezone.utc)
    kept, reasons = _screen(events, room_tz, window_end)
    occurrences, failed = _occurrences(timezones, kept, window_start, window_end)
    reasons += failed
    bookings = set()
    for occurrence in occurrences:
        try:
            booking = _booking(occurrence, room_tz)
        except _BadEvent:
            continue  # screened above; an override's broken end leaves only that instance out
        if booking is not None and _overlaps(booking, lo, hi):
            bookings.add(booking)
    ordered = sorted(bookings, key=lambda b: (b.start.astimezone(timezone.utc),
                                              (b.end or b.start).astimezone(timezone.utc)))
    return ParsedCalendar(tuple(ordered), len(events), len(reasons), tuple(reasons[:MAX_REASONS]))


def load_bookings(path: str | Path, window_start: datetime, window_end: datetime, tz: str) -> ParsedCalendar:
    """:func:`parse_calendar` of a file, read with :func:`read_capped`."""
    return parse_calendar(read_capped(path), window_start, window_end, tz, path=str(path))


#: The components :func:`times_only` keeps: those the bookings are read from.
KEPT_COMPONENTS = frozenset({"VCALENDAR", "VEVENT", "VTIMEZONE", "STANDARD", "DAYLIGHT"})
_TIME = re.compile(rb"[0-9TZPHMSDW,/+-]*")
_RULE = re.compile(rb"[A-Za-z0-9=;,+-]*")
#: A content line's name and parameters, then its value (a quoted parameter value may hold a colon).
_CONTENT_LINE = re.compile(rb'((?:[^:"]|"[^"]*")*):(.*)', re.S)
#: The properties it keeps, with the shape a time or a rule must have to be kept as it is. Any other
#: value of theirs becomes ``invalid`` (its text could be anything: a title typed into the wrong field),
#: which the parser skips just as it skipped the original. Zone names and enumerations are kept as they are.
KEPT_PROPERTIES = {
    "BEGIN": None, "END": None, "VERSION": None, "CALSCALE": None, "METHOD": None, "X-WR-TIMEZONE": None,
    "TZID": None, "TZNAME": None, "TZOFFSETFROM": _TIME, "TZOFFSETTO": _TIME, "SEQUENCE": None,
    "STATUS": None, "TRANSP": None, "DTSTAMP": _TIME, "DTSTART": _TIME, "DTEND": _TIME, "DURATION": _TIME,
    "RDATE": _TIME, "EXDATE": _TIME, "RECURRENCE-ID": _TIME, "RRULE": _RULE, "EXRULE": _RULE,
    "UID": "hash",  # it only ties an event's changed instances to their series
}


def _unfold(physical: list[bytes]) -> bytes:
    """One content line from its physical lines: continuations lose their leading space, blank lines go."""
    return physical[0].rstrip(b"\r\n") + b"".join(x.rstrip(b"\r\n")[1:] for x in physical[1:] if x.strip())


def _logical_lines(data: bytes):
    """(the unfolded line, its physical lines) for each content line; blank lines go with the line before."""
    current: list[bytes] = []
    for line in data.removeprefix(b"\xef\xbb\xbf").splitlines(keepends=True):  # a BOM would hide BEGIN
        if current and (line[:1] in (b" ", b"\t") or not line.strip()):
            current.append(line)
            continue
        if current:
            yield _unfold(current), current
        current = [line]
    if current:
        yield _unfold(current), current


def _kept_line(line: bytes, physical: list[bytes]) -> bytes | None:
    """The line as kept (``physical`` itself, UID hashed, or a malformed time made ``invalid``), or None."""
    match = _CONTENT_LINE.fullmatch(line)
    if match is None:
        return None
    head, value = match.groups()
    name = head.split(b";", 1)[0].strip().upper().decode("ascii", "replace")
    if name not in KEPT_PROPERTIES:
        return None
    shape = KEPT_PROPERTIES[name]
    if shape == "hash":
        return head + b":" + hashlib.sha256(value).hexdigest().encode() + b"\r\n"
    if shape is None or shape.fullmatch(value.strip()):
        return b"".join(physical)
    return head + b":invalid\r\n"


def times_only(data: bytes) -> bytes:
    """``data`` without what the bookings are not read from: titles, descriptions, places, attendees,
    organisers, alarms and every other property or component not in :data:`KEPT_COMPONENTS` /
    :data:`KEPT_PROPERTIES`; a time or rule that does not look like one becomes ``invalid``. What is kept
    on disk (the last good calendar) then holds no meeting's name, and :func:`parse_calendar` reads the
    same bookings from it (tested on icalendar's and recurring-ical-events' own calendars).
    """
    out: list[bytes] = []
    skipping = 0  # depth inside a component that is left out
    for line, physical in _logical_lines(data):
        name, _, value = line.partition(b":")
        name = name.split(b";", 1)[0].strip().upper()
        if name == b"BEGIN" and (skipping or value.strip().upper().decode("ascii", "replace") not in KEPT_COMPONENTS):
            skipping += 1
        elif name == b"END" and skipping:
            skipping -= 1
        elif not skipping:
            kept = _kept_line(line, physical)
            if kept is not None:
                out.append(kept)
    return b"".join(out)


def window(now: datetime) -> tuple[datetime, datetime]:
    """The window the watcher reads: from midnight starting ``now``'s day to midnight ending the next day.

    Two days, so that the controller moves to the next day's bookings at midnight without
    waiting for a new reading (the watcher re-reads when the date changes).
    """
    today = now.date()
    return (datetime.combine(today, datetime.min.time(), tzinfo=now.tzinfo),
            datetime.combine(today + timedelta(days=2), datetime.min.time(), tzinfo=now.tzinfo))



# --- in a child process -----------------------------------------------------------------


def parse_isolated(data: bytes, window_start: datetime, window_end: datetime, tz: str,
                   timeout: float = PARSE_TIMEOUT_S) -> ParsedCalendar:
    """:func:`parse_calendar` in a child process (``python -m kiosk.calendar_ics``, at a lower priority).

    The kiosk's threads share one interpreter lock, so a parse on one of its threads would still
    slow the room's button and web server; in its own process it runs on another core and its
    memory goes back to the system when it ends. Raises :class:`CalendarError` as
    :func:`parse_calendar` does, and when the child takes longer than ``timeout`` seconds (it is
    killed) or fails (its output, which could quote the calendar, is never shown).
    """
    if len(data) > MAX_CALENDAR_BYTES:
        raise CalendarError(too_large())
    command = [sys.executable, "-m", "kiosk.calendar_ics", window_start.isoformat(), window_end.isoformat(), tz]
    try:
        done = subprocess.run(command, input=data, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise CalendarError(f"reading the calendar took longer than {timeout:g} s: refused") from None
    except OSError as exc:
        raise CalendarError(f"the calendar reader could not start ({exc.strerror})") from None
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        answer = None
    if done.returncode != 0 or not isinstance(answer, dict):
        raise CalendarError(f"the calendar reader failed (exit code {done.returncode})")
    if "error" in answer:
        raise CalendarError(answer["error"])
    room = zone(tz)
    bookings = tuple(Booking(datetime.fromisoformat(start).astimezone(room),
                             datetime.fromisoformat(end).astimezone(room) if end else None, source="calendar")
                     for start, end in answer["bookings"])
    return ParsedCalendar(bookings, answer["events"], answer["skipped"], tuple(answer["reasons"]))


def _main(argv: list[str]) -> int:
    """The child of :func:`parse_isolated`: calendar bytes on stdin, the window and zone as arguments, JSON out."""
    try:
        os.nice(10)  # the room's button and screen come first
    except OSError:
        pass
    start, end, tz = argv
    data = sys.stdin.buffer.read(MAX_CALENDAR_BYTES + 1)
    try:
        parsed = parse_calendar(data, datetime.fromisoformat(start), datetime.fromisoformat(end), tz)
    except CalendarError as exc:
        answer = {"error": exc.reason}
    else:
        answer = {"bookings": [[b.start.isoformat(), b.end.isoformat() if b.end else None] for b in parsed.bookings],
                  "events": parsed.events, "skipped": parsed.skipped, "reasons": list(parsed.reasons)}
    sys.stdout.write(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
