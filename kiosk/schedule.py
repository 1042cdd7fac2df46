"""Room bookings and the countdown to the conference start.

A start time comes from the chair, from the command line (``kiosk run --start HH:MM``)
or from the room's iCalendar file. Only times are kept: booking titles, descriptions,
locations and attendees may name the family (DOMAIN D15), so they are never read, and
error messages never quote the file's text.

:func:`load_bookings` reads the calendar for one day (recurring events expanded with
``dateutil.rrule``), :func:`next_start` picks the booking that matters now,
:func:`parse_hhmm` reads a start time typed by staff, and :func:`countdown` turns a
start time and an injected ``now`` into what the room display shows. Nothing here
reads the clock.

Times are timezone-aware throughout. Recurrences are expanded in the event's own
timezone, so a weekly 09:00 Europe/London booking stays at 09:00 local time after the
clocks change, while a weekly 09:00 UTC booking moves to 10:00 local in summer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
from dateutil.rrule import rrule, rruleset, rrulestr

from kiosk.config import ScheduleConfig
from kiosk.errors import ConfigError

#: Where a start time came from.
SOURCES = ("chair", "command line", "calendar")
#: Countdown phases, in the order the room goes through them.
PHASES = ("free", "waiting", "joining", "started", "overrun")

FREE_MESSAGE = "No conference booked for the rest of today"

_SECOND = timedelta(seconds=1)
_MINUTE = timedelta(minutes=1)


def _is_aware(dt: datetime) -> bool:
    return dt.tzinfo is not None and dt.utcoffset() is not None


def _require_aware(dt: datetime, name: str) -> None:
    if not isinstance(dt, datetime) or not _is_aware(dt):
        raise ValueError(f"{name} must be a timezone-aware datetime, not {dt!r}")


def _utc(dt: datetime) -> datetime:
    # Python subtracts and compares two datetimes sharing one tzinfo by wall clock, which is
    # an hour out across a clock change: durations and order are worked out in UTC.
    return dt.astimezone(timezone.utc)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {name!r} (e.g. \"Europe/London\")",
                          section="schedule", key="timezone") from None


@dataclass(frozen=True)
class Booking:
    """A booked conference: when it starts and, when known, when it ends.

    Deliberately times only: no title or attendees, which may carry personal data.
    ``source`` is one of :data:`SOURCES`.
    """

    start: datetime
    end: datetime | None = None
    source: str = field(kw_only=True)

    def __post_init__(self):
        _require_aware(self.start, "Booking.start")
        if self.end is not None:
            _require_aware(self.end, "Booking.end")
        if self.source not in SOURCES:
            raise ValueError(f"Booking.source must be one of {', '.join(SOURCES)}, not {self.source!r}")


def day_bounds(now: datetime) -> tuple[datetime, datetime]:
    """Midnight starting and midnight ending ``now``'s day, in ``now``'s timezone.

    The day is 23 or 25 hours long when the clocks change: midnights are wall-clock times.
    """
    _require_aware(now, "now")
    today = now.date()
    return (datetime.combine(today, time(0), tzinfo=now.tzinfo),
            datetime.combine(today + timedelta(days=1), time(0), tzinfo=now.tzinfo))


# --- iCalendar -----------------------------------------------------------------------


class _BadEvent(ValueError):
    """One event cannot be used; the message names the property, never its text."""


def _read_calendars(path: str | Path) -> list[icalendar.Calendar]:
    def error(message):
        return ConfigError(message, section="schedule", key="ics", path=str(path))

    if not str(path):
        raise ConfigError("no calendar file is configured", section="schedule", key="ics")
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise error("the calendar file does not exist") from None
    except OSError as exc:
        raise error(f"cannot read the calendar file: {exc.strerror}") from None
    try:
        components = icalendar.Calendar.from_ical(data, multiple=True)
    except ValueError:
        # icalendar's message quotes the offending line, which may hold a booking title.
        raise error("not a valid iCalendar file: a line could not be parsed") from None
    calendars = [c for c in components if c.name == "VCALENDAR"]
    if not calendars:
        raise error("not an iCalendar file: no complete BEGIN:VCALENDAR ... END:VCALENDAR found")
    return calendars


def _value(event, name: str):
    """A date/time property's value, or None when absent."""
    if name not in event:
        return None
    prop = event[name]
    if isinstance(prop, list):  # the property appears more than once: the first wins
        prop = prop[0]
    try:
        return prop.dt
    except (ValueError, AttributeError):
        raise _BadEvent(f"{name} is not a valid date or time") from None


def _localise(dt: datetime, zone: ZoneInfo) -> datetime:
    # Floating times (and TZIDs icalendar cannot resolve) are the room's local time.
    return dt if _is_aware(dt) else dt.replace(tzinfo=zone)


def _duration(event, start: datetime, zone: ZoneInfo) -> timedelta | None:
    """How long each occurrence lasts, or None when the event does not say."""
    end = _value(event, "DTEND")
    if isinstance(end, datetime):
        length = _utc(_localise(end, zone)) - _utc(start)
    elif isinstance(end, date):
        return None  # a date end with a timed start is malformed: the end is unknown
    else:
        length = _value(event, "DURATION")
        if length is None:
            return None
        if not isinstance(length, timedelta):
            raise _BadEvent("DURATION is not a valid duration")
    return length if length >= timedelta(0) else None


def _plus(start: datetime, length: timedelta | None) -> datetime | None:
    """``start`` + ``length`` in elapsed time (exact across a clock change), or None."""
    return (_utc(start) + length).astimezone(start.tzinfo) if length is not None else None


def _rule(recur, start: datetime) -> rrule:
    """A dateutil rule from an RRULE, with UNTIL made comparable to ``start``."""
    if not isinstance(recur, icalendar.vRecur):  # icalendar keeps an unparsable rule as vBroken
        raise _BadEvent("RRULE is not a valid recurrence rule")
    parts = {key: value for key, value in recur.items() if key != "UNTIL"}
    try:
        rule = rrulestr(icalendar.vRecur(parts).to_ical().decode(), dtstart=start)
    except (ValueError, TypeError) as exc:
        # dateutil's message names only rule parts, never event text.
        raise _BadEvent(f"RRULE is not a valid recurrence rule ({exc})") from None
    if recur.get("UNTIL"):
        until = recur["UNTIL"][0]
        if not isinstance(until, datetime):
            until = datetime.combine(until, time.max)  # an UNTIL date includes that whole day
        if not _is_aware(until):
            until = until.replace(tzinfo=start.tzinfo)
        rule = rule.replace(until=until)
    return rule


def _exclusions(event, zone: ZoneInfo) -> tuple[set[datetime], set[date]]:
    """EXDATE instants (as UTC) and whole excluded dates."""
    instants, days = set(), set()
    try:
        exdates = event.exdates
    except ValueError:
        raise _BadEvent("EXDATE is not a valid list of dates or times") from None
    for value in exdates:
        if isinstance(value, datetime):
            instants.add(_utc(_localise(value, zone)))
        else:
            days.add(value)
    return instants, days


def _occurrences(event, zone, lo, hi, replaced: set[datetime]) -> list[tuple[datetime, datetime | None]]:
    """(start, end) of the event's occurrences that may overlap [lo, hi), before filtering."""
    start = _value(event, "DTSTART")
    if start is None:
        raise _BadEvent("has no DTSTART")
    if not isinstance(start, datetime):
        return []  # all-day: a room block with no start time to count down to
    start = _localise(start, zone)
    length = _duration(event, start, zone)

    if "RECURRENCE-ID" in event:
        # An overridden instance stands alone; its master's rule does not apply to it.
        return [(start, _plus(start, length))]

    try:
        recurs, rdates = event.rrules, event.rdates
    except ValueError:
        raise _BadEvent("RRULE or RDATE is not valid") from None
    if not recurs and not rdates:
        return [(start, _plus(start, length))]

    instants, days = _exclusions(event, zone)
    instants |= replaced

    def kept(dt):
        return _utc(dt) not in instants and dt.date() not in days

    found: dict[datetime, tuple[datetime, datetime | None]] = {}
    rules = rruleset()
    rules.rdate(start)  # DTSTART is always the first occurrence (RFC 5545 3.8.5.3)
    for recur in recurs:
        rules.rrule(_rule(recur, start))
    # Look back by the length so an occurrence that began before lo but runs into it is found.
    since = _utc(lo) - (length or timedelta(0))
    for begin in rules.between(since, hi, inc=True):
        if kept(begin):
            found[begin] = (begin, _plus(begin, length))
    for value, period_end in rdates:
        if not isinstance(value, datetime):
            continue  # an all-day RDATE: no start time
        begin = _localise(value, zone)
        if isinstance(period_end, timedelta):
            end = _plus(begin, period_end)
        elif isinstance(period_end, datetime):
            end = _localise(period_end, zone)
        else:
            end = _plus(begin, length)
        if kept(begin):
            found[begin] = (begin, end)
    return list(found.values())


def load_bookings(path: str | Path, day_start: datetime, day_end: datetime, tz: str) -> list[Booking]:
    """The calendar's bookings overlapping [``day_start``, ``day_end``), sorted by start.

    Recurring events are expanded (RRULE with COUNT/UNTIL/BYDAY etc., RDATE, EXDATE),
    and an instance overridden by a RECURRENCE-ID event replaces the generated one.
    All-day events (room blocks without a start time) and cancelled events or instances
    are left out. Floating times, and TZIDs that cannot be resolved, are read in ``tz``;
    the bookings' times are returned in ``tz``.

    Raises :class:`~kiosk.errors.ConfigError` when the file is missing, unreadable or not
    valid iCalendar, or when an event's times or recurrence cannot be read.
    """
    _require_aware(day_start, "day_start")
    _require_aware(day_end, "day_end")
    zone = _zone(tz)
    events = [event for calendar in _read_calendars(path) for event in calendar.walk("VEVENT")]

    # Instances that an override replaces, by UID, whatever day they were moved to.
    replaced: dict[str, set[datetime]] = {}
    for event in events:
        if "RECURRENCE-ID" in event and "UID" in event:
            try:
                rid = _value(event, "RECURRENCE-ID")
            except _BadEvent:
                continue  # reported when the event itself is read below
            if isinstance(rid, datetime):
                replaced.setdefault(str(event["UID"]), set()).add(_utc(_localise(rid, zone)))

    bookings = set()
    for number, event in enumerate(events, 1):
        if str(event.get("STATUS", "")).upper() == "CANCELLED":
            continue
        uid = str(event["UID"]) if "UID" in event else None
        try:
            found = _occurrences(event, zone, day_start, day_end, replaced.get(uid, set()))
        except _BadEvent as exc:
            raise ConfigError(f"event {number} in the calendar: {exc}", section="schedule", key="ics",
                              path=str(path)) from None
        except (ValueError, TypeError, KeyError) as exc:
            # Only the exception type: its text could quote the event.
            raise ConfigError(f"event {number} in the calendar could not be read ({type(exc).__name__})",
                              section="schedule", key="ics", path=str(path)) from None
        for start, end in found:
            begin, finish = _utc(start), _utc(end) if end is not None else None
            # An event without an end is an instant: it counts only if it starts in the day.
            if finish is None:
                overlaps = _utc(day_start) <= begin < _utc(day_end)
            else:
                overlaps = begin < _utc(day_end) and finish > _utc(day_start)
            if overlaps:
                bookings.add(Booking(start.astimezone(zone), end.astimezone(zone) if end else None,
                                     source="calendar"))
    return sorted(bookings, key=lambda b: (_utc(b.start), _utc(b.end or b.start)))


# --- Choosing the start time ---------------------------------------------------------


def next_start(bookings, now: datetime) -> Booking | None:
    """The booking that matters at ``now``, or None when the room is free for the rest of today.

    A booking in progress (started, not yet ended) wins over later ones; of several in
    progress, the one that started last. A booking with no end counts as in progress for
    the rest of the day it started. Otherwise the next booking starting later on ``now``'s
    day (in ``now``'s timezone); bookings on later days are not relevant.
    """
    _require_aware(now, "now")
    today = now.date()

    def local_day(dt):
        return dt.astimezone(now.tzinfo).date()

    instant = _utc(now)
    running = [b for b in bookings if _utc(b.start) <= instant
               and (instant < _utc(b.end) if b.end is not None else local_day(b.start) == today)]
    if running:
        return max(running, key=lambda b: _utc(b.start))
    upcoming = [b for b in bookings if _utc(b.start) > instant and local_day(b.start) == today]
    return min(upcoming, key=lambda b: _utc(b.start), default=None)


_HHMM = re.compile(r"(\d{1,2}):(\d{2})")


def parse_hhmm(text: str, now: datetime) -> datetime:
    """``HH:MM`` (24-hour) on ``now``'s day, in ``now``'s timezone.

    A time already past today is returned as it is: the countdown then shows the
    conference as started. Raises ValueError for anything that is not a valid time.
    """
    _require_aware(now, "now")
    match = _HHMM.fullmatch(text.strip()) if isinstance(text, str) else None
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError(f"{text!r} is not a start time: use HH:MM, 24-hour, e.g. 14:00")
    # combine() keeps the wall-clock time, so 09:00 stays 09:00 whatever the UTC offset.
    return datetime.combine(now.date(), time(int(match[1]), int(match[2])), tzinfo=now.tzinfo)


# --- Countdown -----------------------------------------------------------------------


@dataclass(frozen=True)
class CountdownView:
    """What the room display shows at one moment.

    ``phase`` is one of :data:`PHASES`; ``seconds_to_start`` is negative after the start
    and None when free; ``elapsed_s`` is set from the start on; ``label`` is the big text
    (empty when free); ``message`` is one calm plain line.
    """

    phase: str
    seconds_to_start: int | None
    elapsed_s: int | None
    label: str
    message: str


def _clock_text(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _minutes(n: int) -> str:
    return "1 minute" if n == 1 else f"{n} minutes"


def countdown(now: datetime, start_at: datetime | None, cfg: ScheduleConfig,
              end_at: datetime | None = None) -> CountdownView:
    """The display's view of the countdown at ``now`` (injected, never read from the clock).

    Phases: ``free`` without a start time; ``waiting`` until ``cfg.joining_warning_min``
    before the start; ``joining`` from then (exactly at the boundary included) until the
    start, when attendees should be joining (DOMAIN D6); ``started`` from the start;
    ``overrun`` after ``end_at`` when the booking's end is known (and after the start),
    else after ``cfg.overrun_min`` minutes.

    Before the start the label counts down whole seconds rounded up (so ``00:00`` appears
    exactly at the start), as MM:SS or H:MM:SS; afterwards it shows the elapsed time
    rounded down, as +MM:SS or +H:MM:SS.
    """
    _require_aware(now, "now")
    if start_at is None:
        return CountdownView("free", None, None, "", FREE_MESSAGE)
    _require_aware(start_at, "start_at")
    if end_at is not None:
        _require_aware(end_at, "end_at")
    zone = _zone(cfg.timezone)

    now, start_at = _utc(now), _utc(start_at)
    end_at = _utc(end_at) if end_at is not None else None
    ahead = start_at - now
    if ahead > timedelta(0):
        to_start = -(-ahead // _SECOND)  # ceiling division, exact on microseconds
        if ahead <= timedelta(minutes=cfg.joining_warning_min):
            return CountdownView("joining", to_start, None, _clock_text(to_start), "Attendees should be joining now")
        local = start_at.astimezone(zone)
        when = f"{local:%H:%M}"
        if local.date() != now.astimezone(zone).date():
            when += f" on {local:%A} {local.day} {local:%B}"
        return CountdownView("waiting", to_start, None, _clock_text(to_start), f"Conference starts at {when}")

    elapsed = (now - start_at) // _SECOND
    label = "+" + _clock_text(elapsed)
    booked = end_at is not None and end_at > start_at
    limit = end_at if booked else start_at + timedelta(minutes=cfg.overrun_min)
    if now <= limit:
        return CountdownView("started", -elapsed, elapsed, label, "Conference in progress")
    over = (now - limit) // _MINUTE
    against = "the booked time" if booked else "the expected length"
    message = f"Running {_minutes(over)} over {against}" if over else f"Running over {against}"
    return CountdownView("overrun", -elapsed, elapsed, label, message)
